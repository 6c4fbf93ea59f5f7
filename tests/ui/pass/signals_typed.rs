//! Typed signals in a workflow: untyped `let`s saved across later awaits, an annotated one, a
//! path to a const in a module, the string form next to them.
use std::time::Duration;
use workflow_rt::prelude::*;

const APPROVE: Signal<bool> = Signal::new("approve");

mod signals {
    use workflow_rt::Signal;
    pub const NOTE: Signal<String> = Signal::new("note");
}

#[workflow]
async fn approval(ctx: WorkflowCtx, order: u64) -> (u64, bool, bool, Option<String>, u8) {
    let ok = ctx.signal(APPROVE).await;
    let again: bool = ctx.signal(APPROVE).await;
    let note = ctx.signal(signals::NOTE).timeout(Duration::from_secs(60)).await;
    let n = ctx.signal::<u8>("n").await;
    ctx.sleep(Duration::from_secs(1)).await;
    (order, ok, again, note, n)
}

fn main() {}
