use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[workflow]
async fn no_ctx() -> Result<u64, WorkflowError> {
    Ok(0)
}
fn main() {}
