// `name` sets the stored name; `version` the version of the code; `crate` names the runtime
// crate when it is renamed.
use workflow_rt::prelude::*;
use workflow_rt::testing::TestRun;

#[activity(name = "price-v2")]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[workflow(name = "quote", version = 2, crate = "::workflow_rt")]
async fn quote(ctx: WorkflowCtx, sku: String) -> Result<u64, WorkflowError> {
    Ok(ctx.activity(price, sku).await?)
}

fn main() {
    assert_eq!(<quote as Workflow>::NAME, "quote");
    assert_eq!(<quote as Workflow>::VERSION, 2);
    assert_eq!(quote::description().version, 2);
    assert_eq!(
        quote::description().states[1].awaits.unwrap().waits_for,
        workflow_rt::CommandDesc::Activity("price-v2")
    );
    assert_eq!(<price as Activity>::NAME, "price-v2");
    for snapshots in [false, true] {
        let run = TestRun::new(quote, "q-1", "abcd".to_string())
            .with_activity(price)
            .snapshot_every_await(snapshots)
            .run()
            .unwrap();
        assert_eq!(run.output, Ok(4));
    }
}
