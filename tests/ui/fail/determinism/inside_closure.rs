//! a random draw inside a closure.
use workflow_rt::prelude::*;

#[workflow]
async fn inside_closure(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let codes: Vec<u32> = (0..3).map(|_| rand::random::<u32>()).collect();
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id + codes.len() as u64)
}

fn main() {}
