//! `getrandom::fill`.
use workflow_rt::prelude::*;

#[workflow]
async fn random_getrandom(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let mut salt = [0u8; 8];
    getrandom::fill(&mut salt).map_err(|e| WorkflowError::msg(e.to_string()))?;
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id ^ u64::from_le_bytes(salt))
}

fn main() {}
