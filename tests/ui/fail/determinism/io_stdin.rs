//! reading standard input.
use workflow_rt::prelude::*;

#[workflow]
async fn io_stdin(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id + line.len() as u64)
}

fn main() {}
