use workflow_rt::prelude::*;
use workflow_rt::testing::TestRun;

const APPROVE: Signal<bool> = Signal::new("approve");

#[workflow]
async fn approval(ctx: WorkflowCtx, order: u64) -> (u64, bool) {
    let ok = ctx.signal(APPROVE).await;
    (order, ok)
}

async fn send(rt: Runtime) -> Result<(), workflow_rt::RuntimeError> {
    rt.signal("order-42", APPROVE, "yes").await
}

fn main() {
    let _ = TestRun::new(approval, "a", 1).signal(APPROVE, 1u8);
    let _ = send;
}
