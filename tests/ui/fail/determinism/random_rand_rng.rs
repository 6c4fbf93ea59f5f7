//! `rand::rng()` (rand 0.9).
use workflow_rt::prelude::*;

#[workflow]
async fn random_rand_rng(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let pick = rand::rng().random_range(0..3u64);
    ctx.sleep(std::time::Duration::from_secs(pick)).await;
    Ok(order_id)
}

fn main() {}
