use std::time::Duration;
use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[workflow]
async fn borrow(ctx: WorkflowCtx, skus: Vec<String>) -> Result<u64, WorkflowError> {
    let first: &String = &skus[0];
    ctx.sleep(Duration::from_secs(1)).await;
    Ok(first.len() as u64)
}
fn main() {}
