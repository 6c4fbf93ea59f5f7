//! a helper function defined inside the body is checked too.
use workflow_rt::prelude::*;

#[workflow]
async fn inside_nested_fn(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    fn started_at() -> std::time::SystemTime {
        std::time::SystemTime::now()
    }
    let _t = started_at();
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id)
}

fn main() {}
