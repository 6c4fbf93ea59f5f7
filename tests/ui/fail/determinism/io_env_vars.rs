//! `std::env::vars` differs between workers.
use workflow_rt::prelude::*;

#[workflow]
async fn io_env_vars(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let count = std::env::vars().count() as u64;
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id + count)
}

fn main() {}
