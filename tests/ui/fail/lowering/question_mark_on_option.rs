use workflow_rt::prelude::*;

#[activity]
async fn double(_ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    Ok(x * 2)
}

#[workflow]
async fn first_doubled(ctx: WorkflowCtx, items: Vec<u64>) -> Result<u64, WorkflowError> {
    let first: u64 = *items.first()?;
    let d = ctx.activity(double, first).await?;
    Ok(d)
}

fn main() {}
