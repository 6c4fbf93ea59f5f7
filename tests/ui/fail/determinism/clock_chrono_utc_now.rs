//! chrono's `Utc::now()`.
use workflow_rt::prelude::*;

#[workflow]
async fn clock_chrono_utc_now(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let today = chrono::Utc::now().date_naive();
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id + today.to_string().len() as u64)
}

fn main() {}
