//! `use rand::random as draw;` inside the body, then `draw()`.
use workflow_rt::prelude::*;

#[workflow]
async fn random_use_alias_in_body(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    use rand::random as draw;
    let n: u64 = draw();
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id + n)
}

fn main() {}
