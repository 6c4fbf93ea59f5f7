use workflow_rt::prelude::*;

#[activity]
async fn find(_ctx: ActivityCtx, sku: String) -> Result<Option<u64>, ActivityError> {
    Ok(Some(sku.len() as u64))
}

#[workflow]
async fn lookup(ctx: WorkflowCtx, sku: String) -> Result<u64, WorkflowError> {
    let found: bool = matches!(sku.len(), 0) || (let Some(_) = ctx.activity(find, sku.clone()).await?);
    Ok(u64::from(found))
}
fn main() {}
