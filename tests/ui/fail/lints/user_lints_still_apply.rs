// The user's own lints hold inside a workflow's body, as in a plain `async fn`: an unused
// variable, a needless `mut` and a needless `return` are reported at the user's code, before and
// after awaits, in branches and in loops.
#![deny(unused_variables, unused_mut)]

use std::time::Duration;

use workflow_rt::prelude::*;

#[activity]
async fn double(_ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    Ok(x * 2)
}

#[workflow]
async fn sloppy(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    let unused_before = x + 1;
    let mut needless = 3;
    let a = ctx.activity(double, x + needless).await?;
    if a > 2 {
        let unused_in_branch = a;
        ctx.sleep(Duration::from_secs(1)).await;
    }
    let mut n: u64 = 0;
    while n < 2 {
        n += ctx.activity(double, n).await?;
        let unused_in_loop = n;
    }
    Ok(a + n)
}

fn main() {}
