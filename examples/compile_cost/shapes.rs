//! The workflow bodies that `examples/compile_cost.rs` builds and whose expansion the macro
//! crate's `compile_cost_test` counts (it includes this file by path): plain `std` only.
//!
//! Every body is written for `ctx` (a `WorkflowCtx`, or the plain twin's context) and an input
//! `x: u64`, returns `Result<u64, _>`, and awaits `ctx.activity(step, _)` exactly `n` times in
//! the text (a loop's body counts once).

#![allow(dead_code)]

use std::fmt::Write;

/// The shapes, in the order the table shows them.
pub const SHAPES: [&str; 4] = ["straight", "kept", "if", "loop"];

/// The body (braces included) of shape `shape` with `n` awaits, or `None` for an unknown shape.
///
/// - `straight`: `n` statements `ctx.activity(step, i).await?;`.
/// - `kept`: each result in its own variable, all summed at the end: at the `k`-th await the
///   `k - 1` earlier results are live.
/// - `if`: each await in `if acc % k == 0 { acc = ...await?; }`, `acc` changing between them.
/// - `loop`: a loop bounded by a counter, whose body holds the `n` awaits.
pub fn body(shape: &str, n: usize) -> Option<String> {
    let mut b = String::from("{\n");
    match shape {
        "straight" => {
            for i in 0..n {
                writeln!(b, "    ctx.activity(step, {i}).await?;").unwrap();
            }
            b.push_str("    Ok(x)\n");
        }
        "kept" => {
            for i in 0..n {
                writeln!(b, "    let v{i}: u64 = ctx.activity(step, x + {i}).await?;").unwrap();
            }
            let sum: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
            let sum = if n == 0 {
                "0".to_string()
            } else {
                sum.join(" + ")
            };
            writeln!(b, "    Ok({sum})").unwrap();
        }
        "if" => {
            b.push_str("    let mut acc: u64 = x;\n");
            for i in 0..n {
                let k = 2 + i % 4;
                writeln!(b, "    if acc % {k} == 0 {{").unwrap();
                writeln!(b, "        acc = ctx.activity(step, acc + {i}).await?;").unwrap();
                b.push_str("    }\n    acc += 1;\n");
            }
            b.push_str("    Ok(acc)\n");
        }
        "loop" => {
            b.push_str("    let mut acc: u64 = x;\n    let mut round: u64 = 0;\n    loop {\n");
            b.push_str(
                "        if round == 3 {\n            break;\n        }\n        round += 1;\n",
            );
            for i in 0..n {
                writeln!(b, "        acc = ctx.activity(step, acc + {i}).await?;").unwrap();
            }
            b.push_str("    }\n    Ok(acc)\n");
        }
        _ => return None,
    }
    b.push('}');
    Some(b)
}

/// The workflow `wf` with shape `shape` and `n` awaits: the item under `#[workflow]`.
pub fn workflow_fn(shape: &str, n: usize) -> Option<String> {
    Some(format!(
        "pub async fn wf(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {}\n",
        body(shape, n)?
    ))
}

/// A crate's `lib.rs` with activity `step` and the workflow `wf` of shape `shape`.
pub fn workflow_crate(shape: &str, n: usize) -> Option<String> {
    Some(format!(
        "//! `{shape}`, {n} awaits, as a `#[workflow]`.

use workflow_rt::prelude::*;

#[activity]
pub async fn step(_ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {{
    Ok(x % 7 + 1)
}}

#[workflow]
{}",
        workflow_fn(shape, n)?
    ))
}

/// A crate's `lib.rs` with the same body as a plain `async fn` over a context whose `activity`
/// is ready at once (as `tests/lowering_random.rs`' `twin!`), polled once by `run` so that its
/// state machine is compiled in the crate as the workflow's is.
pub fn plain_crate(shape: &str, n: usize) -> Option<String> {
    Some(format!(
        "//! `{shape}`, {n} awaits, as a plain `async fn`.
#![allow(unused_mut, unused_variables, unused_assignments, unreachable_code)]

use std::future::{{Future, Ready, ready}};
use std::pin::pin;
use std::task::{{Context, Poll, Waker}};

use workflow_rt::{{ActivityError, WorkflowError}};

#[allow(non_camel_case_types)]
#[derive(Clone, Copy)]
pub struct step;

pub struct Plain;

impl Plain {{
    pub fn activity(&self, _activity: step, x: u64) -> Ready<Result<u64, ActivityError>> {{
        ready(Ok(x % 7 + 1))
    }}
}}

pub async fn wf(ctx: Plain, x: u64) -> Result<u64, WorkflowError> {}

pub fn run(x: u64) -> Result<u64, WorkflowError> {{
    match pin!(wf(Plain, x)).as_mut().poll(&mut Context::from_waker(Waker::noop())) {{
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!(\"the plain context never waits\"),
    }}
}}
",
        body(shape, n)?
    ))
}
