//! the wall clock inside `vec![..; n]`.
use workflow_rt::prelude::*;

#[workflow]
async fn inside_vec_macro(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let stamps = vec![std::time::Instant::now(); 3];
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id + stamps.len() as u64)
}

fn main() {}
