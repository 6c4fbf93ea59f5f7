//! `futures::future::join_all` of timers.
use workflow_rt::prelude::*;

#[workflow]
async fn futures_join_all(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let waits: Vec<_> = (1..4).map(|s| ctx.sleep(std::time::Duration::from_secs(s))).collect();
    let _all = futures::future::join_all(waits);
    Ok(order_id)
}

fn main() {}
