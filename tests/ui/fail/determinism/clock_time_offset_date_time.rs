//! the `time` crate's `OffsetDateTime::now_utc()`.
use workflow_rt::prelude::*;

#[workflow]
async fn clock_time_offset_date_time(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let now = time::OffsetDateTime::now_utc();
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id + now.unix_timestamp() as u64)
}

fn main() {}
