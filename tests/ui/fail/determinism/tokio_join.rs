//! `tokio::join!` of two durable operations.
use workflow_rt::prelude::*;

#[workflow]
async fn tokio_join(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let ((), ()) = tokio::join!(
        ctx.sleep(std::time::Duration::from_secs(1)),
        ctx.sleep(std::time::Duration::from_secs(2)),
    );
    Ok(order_id)
}

fn main() {}
