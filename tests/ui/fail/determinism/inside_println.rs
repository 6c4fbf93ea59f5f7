//! randomness inside `println!`.
use workflow_rt::prelude::*;

#[workflow]
async fn inside_println(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    println!("order {order_id}, lucky number {}", rand::random::<u8>());
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id)
}

fn main() {}
