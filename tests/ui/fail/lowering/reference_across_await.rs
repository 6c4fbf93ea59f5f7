use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[workflow]
async fn borrow(ctx: WorkflowCtx, sku: String) -> Result<u64, WorkflowError> {
    let name = &sku;
    let p = ctx.activity(price, sku.clone()).await?;
    Ok(p + name.len() as u64)
}
fn main() {}
