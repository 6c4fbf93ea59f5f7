use std::time::Duration;
use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[workflow]
async fn shadow(ctx: WorkflowCtx, sku: String) -> Result<u64, WorkflowError> {
    let n: u64 = 1;
    let total: u64 = {
        let n: u64 = 2;
        ctx.sleep(Duration::from_secs(1)).await;
        n
    };
    Ok(n + total + ctx.activity(price, sku).await?)
}
fn main() {}
