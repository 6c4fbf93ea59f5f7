use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[workflow]
async fn wrong(ctx: String, sku: String) -> Result<u64, WorkflowError> {
    Ok(ctx.len() as u64 + sku.len() as u64)
}
fn main() {}
