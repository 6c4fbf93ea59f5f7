//! `tokio::fs` is the file system too.
use workflow_rt::prelude::*;

#[workflow]
async fn io_tokio_fs(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let _write = tokio::fs::write("last_order.txt", order_id.to_string());
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id)
}

fn main() {}
