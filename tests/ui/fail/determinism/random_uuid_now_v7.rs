//! `Uuid::now_v7()` is the clock and randomness.
use workflow_rt::prelude::*;

#[workflow]
async fn random_uuid_now_v7(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let id = uuid::Uuid::now_v7();
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id + id.as_u128() as u64)
}

fn main() {}
