//! `Instant::now()` to time a step.
use workflow_rt::prelude::*;

#[workflow]
async fn clock_instant_now(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let t0 = std::time::Instant::now();
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id + t0.elapsed().as_secs())
}

fn main() {}
