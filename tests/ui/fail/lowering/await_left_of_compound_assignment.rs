use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[workflow]
async fn slots(ctx: WorkflowCtx, sku: String) -> Result<Vec<u64>, WorkflowError> {
    let mut v: Vec<u64> = vec![0; 8];
    v[ctx.activity(price, sku.clone()).await? as usize % 8] += 1;
    Ok(v)
}
fn main() {}
