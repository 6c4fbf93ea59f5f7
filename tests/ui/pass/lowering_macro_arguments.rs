// Awaits inside the arguments of macros whose arguments are expressions are lowered like the
// arguments of a call, left to right.
use workflow_rt::prelude::*;
use workflow_rt::testing::TestRun;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[workflow]
async fn show(ctx: WorkflowCtx, sku: String) -> Result<Vec<u64>, WorkflowError> {
    println!("{} costs {}", sku, ctx.activity(price, sku.clone()).await?);
    assert!(ctx.activity(price, sku.clone()).await? < 1000, "too expensive");
    Ok(vec![ctx.activity(price, sku.clone()).await?, ctx.activity(price, sku).await?])
}

fn main() {
    for snapshots in [false, true] {
        let run = TestRun::new(show, "show-1", "abc".to_string())
            .with_activity(price)
            .snapshot_every_await(snapshots)
            .run()
            .unwrap();
        assert_eq!(run.output, Ok(vec![3, 3]));
    }
}
