//! The context's plumbing (the clock reading the runtime sets before a step, the state it saves
//! after it) is the runtime's: workflow code cannot call it.
use workflow_rt::prelude::*;

#[workflow]
async fn time_travel(ctx: WorkflowCtx, x: u64) -> u64 {
    ctx.set_now_ms(0);
    x
}

fn main() {}
