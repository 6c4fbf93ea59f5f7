use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[workflow]
async fn early(ctx: WorkflowCtx, sku: String) -> Result<u64, WorkflowError> {
    return Ok(sku.len() as u64);
    ctx.activity(price, sku).await
        .map_err(WorkflowError::from)
}
fn main() {}
