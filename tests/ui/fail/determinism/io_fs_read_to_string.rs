//! reading a file in the body.
use workflow_rt::prelude::*;

#[workflow]
async fn io_fs_read_to_string(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let limit = std::fs::read_to_string("limit.txt").unwrap_or_default();
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id + limit.len() as u64)
}

fn main() {}
