//! `#[nondeterministic]` needs a reason.
use workflow_rt::prelude::*;

#[workflow]
async fn escape_hatch_without_reason(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    #[nondeterministic]
    let started = std::time::SystemTime::now();
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id + u64::from(started < std::time::SystemTime::UNIX_EPOCH))
}

fn main() {}
