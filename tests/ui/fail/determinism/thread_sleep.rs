//! `std::thread::sleep` instead of a durable timer.
use workflow_rt::prelude::*;

#[workflow]
async fn thread_sleep(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    std::thread::sleep(std::time::Duration::from_secs(5));
    Ok(order_id)
}

fn main() {}
