use workflow_rt::prelude::*;

#[activity]
async fn find(_ctx: ActivityCtx, sku: String) -> Result<Option<u64>, ActivityError> {
    Ok(Some(sku.len() as u64))
}

#[workflow]
async fn lookup(ctx: WorkflowCtx, sku: String) -> Result<u64, WorkflowError> {
    if !sku.is_empty() && let Some(n) = ctx.activity(find, sku.clone()).await? {
        return Ok(n);
    }
    Ok(0)
}
fn main() {}
