// Awaits inside the arguments of macros whose arguments are expressions are lowered like the
// arguments of a call, left to right.
use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[workflow]
async fn show(ctx: WorkflowCtx, sku: String) -> Result<Vec<u64>, WorkflowError> {
    println!("{} costs {}", sku, ctx.activity(price, sku.clone()).await?);
    assert!(ctx.activity(price, sku.clone()).await? < 1000, "too expensive");
    Ok(vec![ctx.activity(price, sku.clone()).await?, ctx.activity(price, sku).await?])
}

fn main() {}
