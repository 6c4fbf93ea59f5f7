//! a bare `random()` is taken to be `rand::random` (imported at the top of the file).
use workflow_rt::prelude::*;

#[workflow]
async fn random_bare_random(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let coupon: u32 = random();
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id + u64::from(coupon))
}

fn main() {}
