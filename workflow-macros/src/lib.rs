//! The `#[workflow]` and `#[activity]` attributes of `workflow-rt`. Use them through
//! `workflow_rt::prelude`; this crate's private interface with `workflow-rt` is not a public API.

use proc_macro::TokenStream;

mod activity;
mod ast;
mod attr;
mod check;
mod codegen;
mod ctxt;
mod describe;
mod expand;
mod lower;
mod visit;

/// Turns `async fn name(ctx: ActivityCtx, input: I) -> Result<O, E>` into an activity.
#[proc_macro_attribute]
pub fn activity(args: TokenStream, item: TokenStream) -> TokenStream {
    activity::expand(args.into(), item.into()).into()
}

/// Turns `async fn name(ctx: WorkflowCtx, inputs..) -> Output` into a durable workflow.
///
/// The function becomes a unit struct `name` implementing `workflow_rt::Workflow`, and a public
/// state enum `NameState` (also `<name as Workflow>::State`) with a `Start` variant holding the
/// inputs, one variant per durable await holding exactly the variables live after it, `Returned`
/// and `Poisoned`. Only durable operations of the context can be awaited (`ctx.activity(..)`,
/// `ctx.sleep(..)`, `ctx.signal::<T>(..)` or `ctx.signal(SIG)`, `ctx.join(..)`,
/// `ctx.select(..)`), anywhere in the body.
/// A variable that lives across an await must have a type the macro can read (a parameter, an
/// annotation, a durable await, and the other cases listed in the README); the compile error
/// names the variable and what to write when it cannot.
///
/// Arguments: `name = "..."` (the stored name; default: the function's name),
/// `version = N` (which version of the workflow this code is, an integer literal from 1 to
/// `u32::MAX`; default 1: `Workflow::VERSION`, shown in the description and part of the
/// fingerprint), `state = "..."` (the state enum's name, when `NameState` is already a type of
/// yours) and `crate = "..."` (the path of `workflow_rt` if you renamed it).
///
#[doc = include_str!("check/determinism.md")]
#[proc_macro_attribute]
pub fn workflow(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::workflow(args.into(), item.into()).into()
}

#[cfg(test)]
mod compile_cost_test;
#[cfg(test)]
mod snapshots_test;
