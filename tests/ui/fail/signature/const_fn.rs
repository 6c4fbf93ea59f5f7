use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[workflow]
const async fn constant(ctx: WorkflowCtx, sku: String) -> Result<u64, WorkflowError> {
    Ok(ctx.activity(price, sku).await?)
}
fn main() {}
