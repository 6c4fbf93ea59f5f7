//! an `async` closure in the body.
use workflow_rt::prelude::*;

#[workflow]
async fn async_closure(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let bump = async |n: u64| n + 1;
    drop(bump);
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id)
}

fn main() {}
