use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[workflow]
async fn show(ctx: WorkflowCtx, sku: String) -> Result<(), WorkflowError> {
    println!("{}", ctx.activity(price, sku).await?);
    Ok(())
}
fn main() {}
