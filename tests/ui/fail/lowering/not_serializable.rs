use std::time::Duration;
use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

struct Receipt {
    total: u64,
}

#[workflow]
async fn keep(ctx: WorkflowCtx, sku: String) -> Result<u64, WorkflowError> {
    let r: Receipt = Receipt { total: 1 };
    ctx.sleep(Duration::from_secs(1)).await;
    Ok(r.total + ctx.activity(price, sku).await?)
}
fn main() {}
