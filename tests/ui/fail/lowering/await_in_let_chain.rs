use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[workflow]
async fn chain(ctx: WorkflowCtx, sku: Option<String>) -> Result<u64, WorkflowError> {
    if let Some(s) = sku.clone() && let Ok(p) = ctx.activity(price, s).await {
        return Ok(p);
    }
    Ok(0)
}
fn main() {}
