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

/// Turns `async fn name(ctx: ActivityCtx, input: I) -> Result<O, E>` into an activity.
#[proc_macro_attribute]
pub fn activity(args: TokenStream, item: TokenStream) -> TokenStream {
    activity::expand(args.into(), item.into()).into()
}

/// Turns `async fn name(ctx: WorkflowCtx, inputs..) -> Output` into a durable workflow.
#[proc_macro_attribute]
pub fn workflow(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::workflow(args.into(), item.into()).into()
}

#[cfg(test)]
mod snapshots_test;
