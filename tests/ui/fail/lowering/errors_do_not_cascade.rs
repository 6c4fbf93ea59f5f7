//! A workflow the macro rejects is still a type implementing `Workflow` with the written input
//! and output, so the code using it reports nothing more: only the macro's own error below.
use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[workflow]
async fn quote(ctx: WorkflowCtx, sku: String) -> Result<u64, WorkflowError> {
    let n = match sku.len() {
        k if k > ctx.activity(price, sku.clone()).await? as usize => 1,
        _ => 0,
    };
    Ok(n)
}

fn main() {
    let _run = workflow_rt::testing::TestRun::new(quote, "id", String::from("sku"));
    let _name: &str = <quote as Workflow>::NAME;
    let _output: Option<Result<u64, WorkflowError>> = None::<<quote as Workflow>::Output>;
    let _builder = Runtime::builder(MemoryStore::new()).workflow(quote);
}
