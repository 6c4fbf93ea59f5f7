//! `.elapsed()` on a reading of the workflow's clock subtracts it from the wall clock.

use workflow_rt::prelude::*;

#[workflow]
async fn clock_elapsed_on_a_reading(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let placed = ctx.now();
    ctx.sleep(std::time::Duration::from_secs(60)).await;
    let waited = placed.elapsed().map(|d| d.as_secs()).unwrap_or(0);
    Ok(order_id + waited)
}

fn main() {}
