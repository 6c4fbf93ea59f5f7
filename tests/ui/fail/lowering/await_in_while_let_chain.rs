use workflow_rt::prelude::*;

#[activity]
async fn next(_ctx: ActivityCtx, n: u64) -> Result<Option<u64>, ActivityError> {
    Ok(n.checked_sub(1))
}

#[workflow]
async fn countdown(ctx: WorkflowCtx, n: u64) -> Result<u64, WorkflowError> {
    let mut left: u64 = n;
    while left > 0 && let Some(k) = ctx.activity(next, left).await? {
        left = k;
    }
    Ok(left)
}
fn main() {}
