//! `tokio::spawn` of a background task.
use workflow_rt::prelude::*;

async fn audit(order_id: u64) -> u64 {
    order_id
}

#[workflow]
async fn tokio_spawn(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let _audit = tokio::spawn(audit(order_id));
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id)
}

fn main() {}
