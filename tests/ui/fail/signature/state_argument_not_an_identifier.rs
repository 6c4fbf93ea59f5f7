use workflow_rt::prelude::*;

#[workflow(state = "Checkout State")]
async fn checkout(ctx: WorkflowCtx, x: u64) -> u64 {
    x
}

fn main() {}
