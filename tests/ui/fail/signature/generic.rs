use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[workflow]
async fn generic<T: Clone>(ctx: WorkflowCtx, item: T) -> Result<u64, WorkflowError> {
    let _ = (ctx, item);
    Ok(0)
}
fn main() {}
