use workflow_rt::prelude::*;

#[activity]
async fn double(_ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    Ok(x * 2)
}

#[workflow]
async fn count(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    let ids: Vec<_> = (0..x).collect();
    let d = ctx.activity(double, x).await?;
    Ok(d + ids.len() as u64)
}

fn main() {}
