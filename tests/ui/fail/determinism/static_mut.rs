//! a `static mut` counter in the body.
use workflow_rt::prelude::*;

#[workflow]
async fn static_mut(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    static mut SEEN: u64 = 0;
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id)
}

fn main() {}
