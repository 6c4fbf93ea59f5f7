//! chrono's `Local::now()`.
use workflow_rt::prelude::*;

#[workflow]
async fn clock_chrono_local_now(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let hour = chrono::Local::now().hour();
    if hour < 9 {
        ctx.sleep(std::time::Duration::from_secs(3600)).await;
    }
    Ok(order_id)
}

fn main() {}
