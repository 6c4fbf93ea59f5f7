use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[workflow]
async fn lazy(ctx: WorkflowCtx, sku: String) -> Result<u64, WorkflowError> {
    let get = || ctx.activity(price, sku.clone()).await;
    Ok(get()?)
}
fn main() {}
