//! The state machine under a workflow, for code that works below the [`Runtime`](crate::Runtime).
//!
//! A workflow written with `#[workflow]` never needs this module: its context ([`WorkflowCtx`])
//! and the operations it awaits hide all of it. It is for:
//!
//! - **store authors**: a [`Store`](crate::Store) keeps each suspended workflow as a
//!   [`Snapshot`] envelope and the encoded [`Pending`] tree it waits on;
//! - **tool authors**: inspecting what a workflow waits for
//!   ([`WorkflowState::waiting_for`](crate::WorkflowState::waiting_for)), decoding and
//!   re-encoding snapshots (migrations, compatibility tests), stepping a workflow by hand with
//!   [`resume`] (benchmarks, tests of the generated code);
//! - **hand-written [`Workflow`] impls**: [`Workflow::resume`] receives a [`Resolution`] and
//!   returns a [`Step`]; the durable operations of [`WorkflowCtx`] turn into commands and back
//!   through [`Durable`].
//!
//! One step of a workflow, as the runtime runs it:
//!
//! 1. decode the [`Snapshot`]: the state enum and the context's [`CtxState`];
//! 2. [`resume`] the state with what resolved the [`Pending`] tree it waits on (a
//!    [`Resolution`]; none for the first step);
//! 3. store the [`Step`]'s outcome: the new state and context in a new snapshot with the new
//!    [`Pending`] tree, or the output.
//!
//! ```
//! use std::time::Duration;
//! use workflow_rt::machine::{CtxState, Pending, Resolution, Step, resume};
//! use workflow_rt::prelude::*;
//!
//! #[workflow]
//! async fn nap(ctx: WorkflowCtx, secs: u64) -> u64 {
//!     ctx.sleep(Duration::from_secs(secs)).await;
//!     secs
//! }
//!
//! let mut state = <nap as Workflow>::start(5);
//! let mut ctx = CtxState::new(0, 0, 0);
//! let Step::Suspended(Pending::Timer { fire_at, .. }) = resume::<nap>("n", &mut ctx, &mut state, None)
//! else {
//!     panic!("the workflow sleeps first");
//! };
//! assert_eq!(fire_at, 5_000);
//! assert_eq!(ctx.seq(), 1); // one command issued
//! let step = resume::<nap>("n", &mut ctx, &mut state, Some(Resolution::Timer));
//! assert!(matches!(step, Step::Completed(5)));
//! ```

pub use crate::context::CtxState;
pub use crate::durable::{Durable, MAX_WAIT_DEPTH, Pending, Resolution};
pub use crate::signal::type_tag;
pub use crate::snapshot::{Snapshot, SnapshotError};
pub use crate::workflow::Step;

use crate::context::WorkflowCtx;
use crate::workflow::Workflow;

/// Runs one step of workflow `W` by hand: from `state` to its next durable await (or its end),
/// as the runtime does, with a context for the workflow `workflow_id` in the persisted state
/// `ctx`.
///
/// `wake` is what resolved the await `state` is suspended at (`None` for the first step; see
/// [`Pending::try_resolve`]). On return, `state` and `ctx` hold what a snapshot of this step
/// keeps: the state enum and the context (its clock reading unchanged; its random generator
/// and command sequence advanced by what the step drew and issued).
///
/// For tools and tests that drive a workflow without a runtime; tests of a workflow's logic are
/// better served by [`testing::TestRun`](crate::testing::TestRun), which answers its waits.
/// A step that calls [`WorkflowCtx::continue_as_new`](crate::WorkflowCtx::continue_as_new)
/// returns as any other here: starting the run over is the runtime's (and `TestRun`'s).
pub fn resume<W: Workflow>(
    workflow_id: &str,
    ctx: &mut CtxState,
    state: &mut W::State,
    wake: Option<Resolution>,
) -> Step<W::Output> {
    let cx = WorkflowCtx::new(workflow_id, ctx.clone());
    let step = W::resume(state, &cx, wake);
    *ctx = cx.state();
    step
}
