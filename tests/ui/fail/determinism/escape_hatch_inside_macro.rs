//! `#[nondeterministic]` inside a macro's arguments reaches the macro, not the statement.

use workflow_rt::prelude::*;

#[workflow]
async fn escape_hatch_inside_macro(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    println!("resumed at {:?}", #[nondeterministic(reason = "logging")] std::time::SystemTime::now());
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id)
}

fn main() {}
