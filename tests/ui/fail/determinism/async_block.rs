//! an `async` block in the body.
use workflow_rt::prelude::*;

#[workflow]
async fn async_block(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let later = async move { order_id + 1 };
    drop(later);
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id)
}

fn main() {}
