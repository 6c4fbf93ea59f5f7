//! `tokio::time::timeout` around a durable operation.
use workflow_rt::prelude::*;

#[workflow]
async fn tokio_timeout(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let waited = tokio::time::timeout(std::time::Duration::from_secs(10), ctx.sleep(std::time::Duration::from_secs(1)));
    drop(waited);
    Ok(order_id)
}

fn main() {}
