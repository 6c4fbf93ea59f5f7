//! `SystemTime::now()` in a workflow body.
use workflow_rt::prelude::*;

#[workflow]
async fn clock_system_time_now(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let started = std::time::SystemTime::now();
    ctx.sleep(std::time::Duration::from_secs(60)).await;
    Ok(started.elapsed().map(|d| d.as_secs()).unwrap_or(order_id))
}

fn main() {}
