use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[workflow]
async fn by_ref(ctx: WorkflowCtx, sku: &str) -> Result<u64, WorkflowError> {
    let _ = ctx;
    Ok(sku.len() as u64)
}
fn main() {}
