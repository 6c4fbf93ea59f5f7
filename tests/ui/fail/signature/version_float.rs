use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[workflow(version = 1.5)]
async fn checkout(ctx: WorkflowCtx, sku: String) -> Result<u64, WorkflowError> {
    Ok(ctx.activity(price, sku).await?)
}

fn main() {
    // The workflow is still defined: no error cascades from its uses.
    let _ = <checkout as Workflow>::VERSION;
}
