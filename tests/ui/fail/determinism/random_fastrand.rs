//! `fastrand`.
use workflow_rt::prelude::*;

#[workflow]
async fn random_fastrand(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let delay = fastrand::u64(1..10);
    ctx.sleep(std::time::Duration::from_secs(delay)).await;
    Ok(order_id)
}

fn main() {}
