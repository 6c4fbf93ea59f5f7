//! tokio's `Instant::now()` is a wall clock too.
use workflow_rt::prelude::*;

#[workflow]
async fn clock_tokio_instant_now(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id + u64::from(deadline > tokio::time::Instant::now()))
}

fn main() {}
