use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[workflow]
async fn pair(ctx: WorkflowCtx, (a, b): (u64, u64)) -> Result<u64, WorkflowError> {
    let _ = ctx;
    Ok(a + b)
}
fn main() {}
