// The README is the crate's front page, so rustdoc renders it and `cargo test` compiles (and,
// unless a block says `no_run`, runs) every Rust block in it. `README.md` here is a symlink to
// the repository's README, which `cargo package` stores as a plain file.
#![doc = include_str!("../README.md")]
//!
//! ## The pieces
//!
//! Durable workflows as serializable state machines: no server, no replay. `#[workflow]`
//! rewrites a plain `async fn` into an explicit state machine whose state enum is serialized
//! (serde + postcard) after every durable `.await` and committed to a [`Store`]. After a crash
//! the workflow continues from its last snapshot; nothing is replayed.
//!
//! - [`Workflow`] and [`Activity`], implemented by `#[workflow]` and `#[activity]`;
//! - [`WorkflowCtx`], the only way a workflow reaches the outside world (activities, timers,
//!   signals, time, randomness);
//! - [`Signal`], a signal's name typed with its payload, shared by the workflow and its senders;
//! - [`Runtime`], which runs workflows on a [`Store`];
//! - [`testing`], an in-process driver for unit tests.

mod activity;
mod context;
mod durable;
mod error;
mod workflow;

mod clock;
mod runtime;
mod signal;
mod snapshot;
mod state_serde;

pub mod store;

pub mod testing;

#[doc(hidden)]
pub mod __private;

pub use activity::{
    Activity, ActivityCtx, ActivityError, ActivityErrorKind, ActivityOptions, RetryPolicy,
};
pub use clock::{Clock, SystemClock, VirtualClock};
pub use context::{
    ActivityCall, CtxState, FromRandom, Join, JoinAll, Select, Select2, Select3, Select4,
    SelectAll, SignalTimeout, SignalWait, Sleep, WorkflowCtx,
};
pub use durable::{Durable, Pending, Resolution};
pub use error::{ResumeError, WorkflowError};
pub use runtime::{Builder, Handle, Runtime, RuntimeError, WorkflowState};
pub use signal::{IntoSignal, Signal};
pub use snapshot::{Snapshot, SnapshotError};
pub use store::{MemoryStore, SqliteStore, Store, StoreError, Synchronous, WorkflowStatus};
pub use workflow::{AwaitDesc, Description, StateDesc, Step, Workflow};
pub use workflow_macros::{activity, workflow};

/// The `Ok` type of activity `A`'s output: what `ctx.activity(a, x).await?` gives.
pub type ActivityOk<A> = <<A as Activity>::Output as __private::Fallible>::Ok;

/// Re-exported so that user types can derive `Serialize`/`Deserialize` without a direct serde
/// dependency.
pub use serde::{self, Deserialize, Serialize};

/// Everything a workflow or activity file needs: `use workflow_rt::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Activity, ActivityCtx, ActivityError, ActivityErrorKind, Deserialize, RetryPolicy, Select2,
        Select3, Select4, Serialize, Signal, Workflow, WorkflowCtx, WorkflowError, activity,
        workflow,
    };
    pub use crate::{MemoryStore, Runtime, SqliteStore};
}
