//! `rand::thread_rng()` (rand 0.8).
use workflow_rt::prelude::*;

#[workflow]
async fn random_thread_rng(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let mut rng = rand::thread_rng();
    let pick = rng.gen_range(0..3u64);
    ctx.sleep(std::time::Duration::from_secs(pick)).await;
    Ok(order_id)
}

fn main() {}
