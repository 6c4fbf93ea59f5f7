use workflow_rt::prelude::*;

const APPROVE: Signal<bool> = Signal::new("approve");

#[workflow]
async fn approval(ctx: WorkflowCtx, order: u64) -> (u64, String) {
    let ok: String = ctx.signal(APPROVE).await;
    (order, ok)
}

fn main() {}
