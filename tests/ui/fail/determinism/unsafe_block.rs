//! an `unsafe` block in the body.
use workflow_rt::prelude::*;

#[workflow]
async fn unsafe_block(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let bytes = order_id.to_le_bytes();
    let copy: u64 = unsafe { std::mem::transmute(bytes) };
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(copy)
}

fn main() {}
