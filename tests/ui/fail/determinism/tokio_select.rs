//! `tokio::select!` between a signal and a timer.
use workflow_rt::prelude::*;

#[workflow]
async fn tokio_select(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let approved = tokio::select! {
        ok = ctx.signal::<bool>("approve") => ok,
        _ = ctx.sleep(std::time::Duration::from_secs(60)) => false,
    };
    Ok(order_id + u64::from(approved))
}

fn main() {}
