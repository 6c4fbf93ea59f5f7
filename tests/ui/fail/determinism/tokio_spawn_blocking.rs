//! `tokio::task::spawn_blocking`.
use workflow_rt::prelude::*;

#[workflow]
async fn tokio_spawn_blocking(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let _crunch = tokio::task::spawn_blocking(move || order_id.pow(2));
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id)
}

fn main() {}
