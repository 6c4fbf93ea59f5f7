use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[workflow]
async fn guard(ctx: WorkflowCtx, sku: String) -> Result<u64, WorkflowError> {
    match sku.len() {
        n if ctx.activity(price, sku.clone()).await? > 3 => Ok(n as u64),
        _ => Ok(0),
    }
}
fn main() {}
