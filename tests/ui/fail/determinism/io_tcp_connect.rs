//! a TCP connection from the body.
use workflow_rt::prelude::*;

#[workflow]
async fn io_tcp_connect(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let reachable = std::net::TcpStream::connect("10.0.0.1:80").is_ok();
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id + u64::from(reachable))
}

fn main() {}
