//! `ctx.now().elapsed()` subtracts the workflow's time from the wall clock.
use workflow_rt::prelude::*;

#[workflow]
async fn clock_elapsed_on_ctx_now(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let placed = ctx.now();
    ctx.sleep(std::time::Duration::from_secs(60)).await;
    let waited = placed.elapsed().unwrap_or_default();
    let since = ctx.now().elapsed().unwrap_or_default();
    Ok(order_id + waited.as_secs() + since.as_secs())
}

fn main() {}
