//! the wall clock inside `format!`.
use workflow_rt::prelude::*;

#[workflow]
async fn inside_format(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let note = format!("order {order_id} at {:?}", std::time::SystemTime::now());
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(note.len() as u64)
}

fn main() {}
