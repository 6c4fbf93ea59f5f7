//! `rand::random()`.
use workflow_rt::prelude::*;

#[workflow]
async fn random_rand_random(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let jitter = rand::random::<u64>() % 1000;
    ctx.sleep(std::time::Duration::from_millis(jitter)).await;
    Ok(order_id)
}

fn main() {}
