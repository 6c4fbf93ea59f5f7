//! a `use ... as` inside the body is followed: `Clock::now()` is `SystemTime::now()`.
use workflow_rt::prelude::*;

#[workflow]
async fn clock_use_alias_in_body(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    use std::time::SystemTime as Clock;
    let started = Clock::now();
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id + u64::from(started < Clock::UNIX_EPOCH))
}

fn main() {}
