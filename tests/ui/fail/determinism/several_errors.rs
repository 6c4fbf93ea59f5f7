//! several violations in one workflow are all reported in one compile.
use workflow_rt::prelude::*;

#[workflow]
async fn several_errors(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let started = std::time::SystemTime::now();
    let jitter: u64 = rand::random();
    let region = std::env::var("REGION").unwrap_or_default();
    let mut seen = std::collections::HashMap::new();
    seen.insert(region, jitter);
    std::thread::sleep(std::time::Duration::from_millis(jitter));
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id + seen.len() as u64 + u64::from(started < std::time::SystemTime::UNIX_EPOCH))
}

fn main() {}
