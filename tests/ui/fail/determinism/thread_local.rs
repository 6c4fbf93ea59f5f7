//! `thread_local!` storage in the body.
use workflow_rt::prelude::*;

#[workflow]
async fn thread_local(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    thread_local! {
        static LAST: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }
    LAST.with(|l| l.set(order_id));
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id)
}

fn main() {}
