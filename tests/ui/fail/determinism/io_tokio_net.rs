//! `tokio::net` is the network too.
use workflow_rt::prelude::*;

#[workflow]
async fn io_tokio_net(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let _listener = tokio::net::TcpListener::bind("0.0.0.0:8080");
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id)
}

fn main() {}
