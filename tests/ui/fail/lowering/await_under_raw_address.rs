use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[workflow]
async fn raw(ctx: WorkflowCtx, sku: String) -> Result<u64, WorkflowError> {
    let p: *const u64 = &raw const *&ctx.activity(price, sku).await?;
    Ok(p as usize as u64)
}
fn main() {}
