use workflow_rt::prelude::*;

#[workflow]
async fn poll_forever(ctx: WorkflowCtx, x: u64) -> u64 {
    for t in (0u64..).step_by(30) {
        ctx.sleep(std::time::Duration::from_secs(1)).await;
        if t >= x {
            return t;
        }
    }
    0
}

fn main() {}
