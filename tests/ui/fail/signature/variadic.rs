use workflow_rt::prelude::*;

#[workflow]
async fn variadic(ctx: WorkflowCtx, n: u64, _: ...) -> Result<u64, WorkflowError> {
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(n)
}
fn main() {}
