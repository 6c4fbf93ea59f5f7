//! `use std::time::SystemTime;` at the top of the file does not hide the call.
use std::time::{Duration, SystemTime};

use workflow_rt::prelude::*;

#[workflow]
async fn clock_use_at_file_top(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let started = SystemTime::now();
    ctx.sleep(Duration::from_secs(60)).await;
    Ok(started.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(order_id))
}

fn main() {}
