use workflow_rt::prelude::*;

#[activity]
async fn double(_ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    Ok(x * 2)
}

#[workflow]
async fn doubled(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    // The activity's own `Result<u64, ActivityError>` is not the workflow's output: `Ok(..?)`.
    ctx.activity(double, x).await
}

fn main() {}
