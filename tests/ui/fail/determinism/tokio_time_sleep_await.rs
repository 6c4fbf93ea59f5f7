//! `tokio::time::sleep(..).await`: the in-memory timer, and the await of something that is not a
//! durable operation.

use workflow_rt::prelude::*;

#[workflow]
async fn tokio_time_sleep_await(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id)
}

fn main() {}
