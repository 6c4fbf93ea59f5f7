//! `std::thread::spawn` for background work.
use workflow_rt::prelude::*;

#[workflow]
async fn thread_spawn(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let handle = std::thread::spawn(move || order_id * 2);
    let doubled = handle.join().unwrap_or(0);
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(doubled)
}

fn main() {}
