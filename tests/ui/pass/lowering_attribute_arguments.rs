// `name` sets the stored name; `crate` names the runtime crate when it is renamed.
use workflow_rt::prelude::*;

#[activity(name = "price-v2")]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[workflow(name = "quote-v2", crate = "::workflow_rt")]
async fn quote(ctx: WorkflowCtx, sku: String) -> Result<u64, WorkflowError> {
    Ok(ctx.activity(price, sku).await?)
}

fn main() {
    assert_eq!(<quote as Workflow>::NAME, "quote-v2");
    assert_eq!(<price as Activity>::NAME, "price-v2");
}
