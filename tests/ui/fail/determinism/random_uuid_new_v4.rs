//! `Uuid::new_v4()` for an idempotency key.
use workflow_rt::prelude::*;

#[workflow]
async fn random_uuid_new_v4(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let key = uuid::Uuid::new_v4().to_string();
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id + key.len() as u64)
}

fn main() {}
