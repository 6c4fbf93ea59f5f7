use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[workflow(retries = 3)]
async fn versioned(ctx: WorkflowCtx, sku: String) -> Result<u64, WorkflowError> {
    Ok(ctx.activity(price, sku).await?)
}
fn main() {}
