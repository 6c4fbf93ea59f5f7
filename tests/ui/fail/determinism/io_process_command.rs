//! running a process from the body.
use workflow_rt::prelude::*;

#[workflow]
async fn io_process_command(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let out = std::process::Command::new("hostname").output();
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id + u64::from(out.is_ok()))
}

fn main() {}
