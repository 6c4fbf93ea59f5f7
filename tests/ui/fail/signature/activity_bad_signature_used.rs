//! An activity the macro rejects is still a unit struct implementing `Activity` with the written
//! input and output, so the workflow and the code using it report nothing more: only the
//! activities' own errors below, not "`ship` is not an `Activity`" at each use. A type that
//! names a generic parameter, or a missing output, has a stand-in (`()`,
//! `Result<(), ActivityError>`).
use workflow_rt::prelude::*;

#[activity]
fn ship(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[activity]
async fn pack<T: Send>(_ctx: ActivityCtx, item: T) {
    drop(item);
}

#[workflow]
async fn order(ctx: WorkflowCtx, sku: String) -> Result<u64, WorkflowError> {
    let n = ctx.activity(ship, sku).await?;
    ctx.activity(pack, ()).await?;
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(n)
}

fn main() {
    let _run = workflow_rt::testing::TestRun::new(order, "id", String::from("sku"));
    let _name: &str = <ship as Activity>::NAME;
    let _builder = Runtime::builder(MemoryStore::new())
        .activity(ship)
        .workflow(order);
}
