use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[workflow]
fn sync_flow(ctx: WorkflowCtx, sku: String) -> Result<u64, WorkflowError> {
    let _ = (ctx, sku);
    Ok(0)
}
fn main() {}
