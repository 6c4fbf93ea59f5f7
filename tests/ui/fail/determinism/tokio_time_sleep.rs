//! `tokio::time::sleep` is an in-memory timer.
use workflow_rt::prelude::*;

#[workflow]
async fn tokio_time_sleep(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let pause = tokio::time::sleep(std::time::Duration::from_secs(3600));
    drop(pause);
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id)
}

fn main() {}
