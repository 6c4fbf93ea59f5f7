//! `OsRng` reads the operating system's entropy.
use workflow_rt::prelude::*;

#[workflow]
async fn random_os_rng(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let token = rand::rngs::OsRng.next_u64();
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id ^ token)
}

fn main() {}
