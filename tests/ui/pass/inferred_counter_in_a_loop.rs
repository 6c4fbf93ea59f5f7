use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[workflow]
async fn count_up(ctx: WorkflowCtx, sku: String) -> Result<u64, WorkflowError> {
    let mut count = 0;
    loop {
        count += ctx.activity(price, sku.clone()).await?;
        if count > 10 {
            break;
        }
    }
    Ok(count)
}
fn main() {}
