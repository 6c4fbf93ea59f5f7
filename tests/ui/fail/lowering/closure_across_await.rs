use workflow_rt::prelude::*;

#[activity]
async fn double(_ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    Ok(x * 2)
}

#[workflow]
async fn show(ctx: WorkflowCtx, x: u64) -> Result<String, WorkflowError> {
    let fmt = |v: u64| format!("<{v}>");
    let d = ctx.activity(double, x).await?;
    Ok(fmt(d))
}

fn main() {}
