//! `std::env::var` differs between workers.
use workflow_rt::prelude::*;

#[workflow]
async fn io_env_var(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let region = std::env::var("REGION").unwrap_or_default();
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id + region.len() as u64)
}

fn main() {}
