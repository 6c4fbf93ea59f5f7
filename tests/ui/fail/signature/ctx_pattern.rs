use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[workflow]
async fn anonymous(_: WorkflowCtx, sku: String) -> Result<u64, WorkflowError> {
    Ok(sku.len() as u64)
}
fn main() {}
