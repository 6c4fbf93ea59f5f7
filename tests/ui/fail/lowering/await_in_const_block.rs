use workflow_rt::prelude::*;

#[workflow]
async fn konst(ctx: WorkflowCtx, n: u64) -> Result<u64, WorkflowError> {
    let k: u64 = n + const { ctx.sleep(std::time::Duration::from_secs(1)).await; 1u64 };
    Ok(k)
}
fn main() {}
