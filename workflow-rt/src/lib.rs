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
//! - [`metrics`], what the runtime reports through `tracing` and the `metrics` facade;
//! - [`testing`], an in-process driver for unit tests.

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Docs built without some feature (`cargo doc -p workflow-rt` has neither `testing` nor
// `conformance`) name the modules it gates without linking them; docs.rs builds all features.
#![cfg_attr(
    not(all(
        feature = "sqlite",
        feature = "postgres",
        feature = "testing",
        feature = "conformance"
    )),
    allow(rustdoc::broken_intra_doc_links)
)]

mod activity;
mod child;
mod context;
mod durable;
mod error;
mod layout;
mod workflow;

mod clock;
mod codec;
mod promise;
mod runtime;
mod saga;
mod signal;
mod snapshot;
mod state_serde;
mod step;
mod versions;

pub mod machine;
pub mod metrics;
pub mod schedule;
pub mod store;
pub mod update;

#[cfg(any(test, feature = "testing"))]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

#[doc(hidden)]
pub mod __private;

pub use activity::{
    Activity, ActivityCtx, ActivityError, ActivityErrorKind, ActivityOptions, ActivityResult,
    RetryPolicy,
};
pub use child::{ChildCall, ChildError, ParentClose};
pub use clock::{Clock, SystemClock, VirtualClock};
pub use context::{
    ActivityCall, Cancellation, FromRandom, Join, JoinAll, MAX_PUBLISHED_BYTES, MAX_PUBLISHED_KEY,
    PublishError, Select, Select2, Select3, Select4, SelectAll, SignalTimeout, SignalWait, Sleep,
    WorkflowCtx,
};
pub use error::{Failure, ResumeError, WorkflowError};
pub use layout::Layout;
pub use promise::{
    CompleteError, PROMISE_ACTIVITY, PromiseError, PromiseTimeout, PromiseToken, PromiseWait,
};
pub use runtime::{
    Builder, Client, Drained, Handle, IdReuse, Limits, MAX_ID_BYTES, MIN_TIMEOUT, PendingCommand,
    Runtime, RuntimeError, SignalWithStart, StartOptions, StrandedRun, WorkflowState, check_name,
    shutdown_signal,
};
pub use saga::{COMPENSATE_WORKFLOW, Compensate, Compensated, Compensation, Saga, SagaReport};
pub use signal::{IntoSignal, Signal};
pub use store::{MemoryStore, RunPage, RunQuery, Store, StoreError, WorkflowStatus};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use store::{PostgresError, PostgresStore, PostgresTls};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use store::{SqliteStore, Synchronous};
pub use update::{Update, UpdateError};
pub use versions::{Migration, MigrationError};
pub use workflow::{AwaitDesc, CommandDesc, Description, StateDesc, Workflow};
/// # Example
///
/// ```
/// use std::time::Duration;
/// use workflow_rt::prelude::*;
///
/// #[activity]
/// async fn send_email(_ctx: ActivityCtx, to: String) -> Result<u64, ActivityError> {
///     Ok(to.len() as u64)
/// }
///
/// #[workflow(name = "onboarding")]
/// async fn onboard(ctx: WorkflowCtx, user: String) -> Result<u64, WorkflowError> {
///     let first = ctx.activity(send_email, user.clone()).await?;
///     ctx.sleep(Duration::from_secs(3 * 24 * 3600)).await;
///     let second = ctx.activity(send_email, user).await?;
///     Ok(first + second)
/// }
///
/// // `onboard` is now a value implementing `Workflow`, with a state enum per await.
/// assert_eq!(<onboard as Workflow>::NAME, "onboarding");
/// assert_eq!(<onboard as Workflow>::ACTIVITIES, ["send_email"]);
/// let out = workflow_rt::testing::TestRun::new(onboard, "u-1", "ada@example.com".into())
///     .with_activity(send_email)
///     .run()
///     .expect("run");
/// assert_eq!(out.output, Ok(30));
/// ```
pub use workflow_macros::workflow;

/// # Example
///
/// ```
/// use workflow_rt::prelude::*;
///
/// /// Looks a price up; a renamed activity keeps its stored name when the function is renamed.
/// #[activity(name = "price-lookup")]
/// async fn price(ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
///     ctx.heartbeat(&"looking up"); // progress, for long attempts
///     Ok(if sku == "apple" { 40 } else { 100 })
/// }
///
/// assert_eq!(<price as Activity>::NAME, "price-lookup");
/// ```
pub use workflow_macros::activity;

/// The `Ok` type of activity `A`'s output: what `ctx.activity(a, x).await?` gives.
pub type ActivityOk<A> = <<A as Activity>::Output as ActivityResult>::Ok;

/// serde's `Serialize` trait and derive, also in the [`prelude`]: every workflow's and
/// activity's input and output, and every variable a workflow saves, implements it and
/// `Deserialize`.
///
/// The derive can be named through this re-export (`workflow_rt::Serialize`, or `Serialize` from
/// the prelude), but the code it generates refers to the crate `serde`, not to this re-export.
/// So a crate that derives `Serialize` or `Deserialize` on its own types does one of two things:
///
/// - it depends on serde itself, with the derive feature, as the README's example does:
///   `serde = { version = "1", features = ["derive"] }` in its `Cargo.toml`;
/// - or it has no serde dependency, and every type that derives them says where serde is, with
///   `#[serde(crate = "workflow_rt::serde")]`:
///
/// ```
/// use std::time::Duration;
/// use workflow_rt::prelude::*; // WorkflowCtx, #[workflow], ...
/// use workflow_rt::testing::TestRun;
/// use workflow_rt::{Deserialize, Serialize}; // in the prelude too
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// #[serde(crate = "workflow_rt::serde")]
/// pub struct Order {
///     pub id: u64,
///     pub cents: u64,
/// }
///
/// #[workflow]
/// async fn invoice(ctx: WorkflowCtx, orders: Vec<Order>) -> u64 {
///     ctx.sleep(Duration::from_secs(60)).await; // `orders` is saved in the state meanwhile
///     orders.iter().map(|order| order.cents).sum()
/// }
///
/// let orders = vec![Order { id: 1, cents: 250 }, Order { id: 2, cents: 99 }];
/// let run = TestRun::new(invoice, "invoice-1", orders).snapshot_every_await(true).run().unwrap();
/// assert_eq!(run.output, 349);
/// ```
///
/// With neither, the derive does not compile: "can't find crate for `serde`". The code that
/// `#[workflow]` and `#[activity]` generate needs no serde dependency.
pub use serde::Serialize;

/// serde's `Deserialize` trait and derive, also in the [`prelude`]. Deriving it on your own types
/// needs what deriving `Serialize` needs (see [`Serialize`](trait@Serialize)):
/// `serde = { version = "1", features = ["derive"] }` among your crate's dependencies, or
/// `#[serde(crate = "workflow_rt::serde")]` on each such type.
pub use serde::Deserialize;

/// serde itself: the path that `#[serde(crate = "workflow_rt::serde")]` gives to the derives of
/// [`Serialize`](trait@Serialize) and [`Deserialize`](trait@Deserialize) in a crate with no
/// serde dependency of its own.
pub use serde;

/// Everything a workflow or activity file needs: `use workflow_rt::prelude::*;`.
///
/// Its `Serialize` and `Deserialize` are serde's traits and derives, re-exported. Deriving them on
/// your own types needs `serde = { version = "1", features = ["derive"] }` among your crate's
/// dependencies, or `#[serde(crate = "workflow_rt::serde")]` on each such type (see
/// [`Serialize`](trait@crate::Serialize)).
pub mod prelude {
    #[cfg(feature = "sqlite")]
    pub use crate::SqliteStore;
    pub use crate::{
        Activity, ActivityCtx, ActivityError, ActivityErrorKind, ChildError, Deserialize,
        ParentClose, RetryPolicy, Saga, Select2, Select3, Select4, Serialize, Signal, Update,
        Workflow, WorkflowCtx, WorkflowError, activity, workflow,
    };
    pub use crate::{MemoryStore, Runtime};
}
