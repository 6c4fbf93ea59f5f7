use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

async fn fetch() -> u64 {
    42
}

#[workflow]
async fn plain(ctx: WorkflowCtx, sku: String) -> Result<u64, WorkflowError> {
    let a = fetch().await;
    let b = ctx.activity(price, sku).await?;
    Ok(a + b)
}
fn main() {}
