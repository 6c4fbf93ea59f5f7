//! an escape hatch covers its own statement, not the next one.
use workflow_rt::prelude::*;

#[workflow]
async fn escape_hatch_covers_one_statement(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    #[nondeterministic(reason = "only printed, never decides anything")]
    println!("started at {:?}", std::time::SystemTime::now());
    let started = std::time::SystemTime::now();
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id + u64::from(started < std::time::SystemTime::UNIX_EPOCH))
}

fn main() {}
