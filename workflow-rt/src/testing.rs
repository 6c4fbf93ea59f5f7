//! An in-process driver for workflows: no store, no threads, a virtual clock.
//!
//! [`TestRun`] runs one workflow from its input to its output in the calling thread. It answers
//! activity calls from closures ([`TestRun::on_activity`]) or by running the real activity
//! ([`TestRun::with_activity`]), delivers signals queued up front ([`TestRun::signal`]), at a
//! virtual time ([`TestRun::signal_after`]) or when the workflow waits for them
//! ([`TestRun::on_signal_wait`]), and fires timers on a virtual clock, so a workflow
//! that waits seven days finishes in microseconds. With
//! [`TestRun::snapshot_every_await`] it also does what a crash does: at every durable await it
//! encodes the state and the context with postcard, drops both, and restores them from the bytes.
//!
//! Behind the feature `testing`, which a crate enables for its tests only:
//! `workflow-rt = { version = "0.1", features = ["testing"] }` under `[dev-dependencies]`.
//!
//! ```
//! use std::time::Duration;
//! use workflow_rt::prelude::*;
//! use workflow_rt::testing::TestRun;
//!
//! #[activity]
//! async fn charge(_ctx: ActivityCtx, cents: u64) -> Result<String, ActivityError> {
//!     Ok(format!("pay-{cents}"))
//! }
//!
//! #[workflow]
//! async fn checkout(ctx: WorkflowCtx, cents: u64) -> Result<String, WorkflowError> {
//!     let payment = ctx.activity(charge, cents).await?;
//!     let approved: Option<bool> =
//!         ctx.signal::<bool>("approve").timeout(Duration::from_secs(7 * 24 * 3600)).await;
//!     if approved != Some(true) {
//!         return Err(WorkflowError::msg("not approved"));
//!     }
//!     Ok(payment)
//! }
//!
//! // The real activity, a signal sent two days after the start.
//! let run = TestRun::new(checkout, "order-1", 999)
//!     .with_activity(charge)
//!     .signal_after(Duration::from_secs(2 * 24 * 3600), "approve", true)
//!     .snapshot_every_await(true)
//!     .run()?;
//! assert_eq!(run.output, Ok("pay-999".to_string()));
//! assert_eq!(run.elapsed(), Duration::from_secs(2 * 24 * 3600));
//!
//! // A closure in place of the activity, and no approval: the timeout wins after 7 days.
//! let run = TestRun::new(checkout, "order-2", 5)
//!     .on_activity(charge, |cents| Ok(format!("fake-{cents}")))
//!     .run()?;
//! assert_eq!(run.output, Err(WorkflowError::msg("not approved")));
//! assert_eq!(run.elapsed(), Duration::from_secs(7 * 24 * 3600));
//! # Ok::<(), workflow_rt::testing::TestError>(())
//! ```
//!
//! # How a run proceeds
//!
//! Each step sets the context's clock to the time of the event that woke it and calls
//! [`Workflow::resume`]. When the workflow suspends on a [`Pending`] tree, every activity in the
//! tree starts at once, at the current virtual time, in the tree's order (which is source order):
//! its answer is computed then, and it completes after its latency (zero unless
//! [`TestRun::activity_latency`] says otherwise). The driver then moves the clock from event to
//! event (activity completions, timer fire times, signal arrivals), feeding each to the tree, until
//! [`Pending::try_resolve`] (the runtime's own resolver) resolves the whole tree; the next step
//! runs at the time of that last event. Events at the same virtual time are taken in the order of
//! [`TieBreak`] (source order by default), so which branch of a `select` wins a tie is
//! deterministic and can be changed. Once a branch of a `select` has won, the leaves of its other
//! branches are cancelled: their results are never delivered and a signal they waited for stays
//! buffered for a later wait.
//!
//! # Retries
//!
//! The driver answers each activity call once, with what the closure (or the real activity)
//! returned: an `Err` is the call's final error as the workflow sees it (with
//! [`ActivityError::attempts`] set to 1), whatever retry policy the call carries. Retrying is the
//! runtime's job; to test how a workflow reacts to an activity that failed after all its attempts,
//! return that error from the closure.
//!
//! # Ending
//!
//! A run ends when the workflow completes ([`TestOutcome`]) or with a [`TestError`]: the driver
//! never hangs on a workflow that waits for a signal nobody will send
//! ([`TestError::Stuck`] says what it waits for), and stops a workflow that never ends after
//! [`TestRun::max_steps`] steps. The only thing it cannot bound is user code that loops forever
//! between two awaits, or a real activity whose future never completes.
//!
//! # Schedules
//!
//! [`ScheduleSim`] runs a schedule ([`crate::schedule`]) over virtual time and lists the runs it
//! starts (their ids and fire times) and the fire times it skips or misses, with the runtime's
//! own decisions: test a cron expression in its zone, an overlap policy, a catch-up window.

mod faults;
mod schedules;
mod upgrades;

pub use faults::{Faults, FaultyStore};
pub use schedules::{ScheduleSim, ScheduleTicks, ScheduledRun};

pub use upgrades::{
    LAYOUTS_ENV, LayoutError, MigratedRun, UpgradeError, check_layouts, check_migration,
    record_layouts,
};

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::__private::Fallible;
use crate::activity::{
    Activity, ActivityCtx, ActivityError, ActivityErrorKind, ActivityOptions, BoxFuture,
};
use crate::child::ChildError;
use crate::codec::{self, panic_message};
use crate::context::{CtxState, WorkflowCtx};
use crate::durable::{Pending, Resolution};
use crate::error::ResumeError;
use crate::signal::IntoSignal;
use crate::step::{self, Outcome, StepFailure, Stepped};
use crate::workflow::Workflow;

/// Where the virtual clock of a [`TestRun`] starts unless [`TestRun::start_at`] says otherwise:
/// 2024-01-01T00:00:00Z, in milliseconds since the Unix epoch.
pub const DEFAULT_START_MS: u64 = 1_704_067_200_000;

/// The default of [`TestRun::max_steps`].
pub const DEFAULT_MAX_STEPS: u32 = 100_000;

/// How the driver orders events that happen at the same virtual time, such as two activities of a
/// `join` or `select` that complete together, or a signal that arrives exactly when a timer fires.
///
/// Whatever the choice, a run is deterministic: the same configuration gives the same run.
///
/// ```
/// use workflow_rt::testing::TieBreak;
/// assert_eq!(TieBreak::default(), TieBreak::SourceOrder);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TieBreak {
    /// The leaf written first wins (the order of [`Pending::leaves`]).
    #[default]
    SourceOrder,
    /// The leaf written last wins.
    ReverseSourceOrder,
    /// A pseudo-random order drawn from the seed and each leaf's sequence number: different seeds
    /// explore different interleavings, the same seed always gives the same one.
    Shuffled(u64),
}

impl TieBreak {
    fn key(self, position: usize, seq: u64) -> u64 {
        match self {
            TieBreak::SourceOrder => position as u64,
            TieBreak::ReverseSourceOrder => u64::MAX - position as u64,
            TieBreak::Shuffled(seed) => splitmix(seed ^ splitmix(seq)),
        }
    }
}

fn splitmix(x: u64) -> u64 {
    codec::splitmix64(x.wrapping_add(codec::SPLITMIX_GAMMA))
}

/// What the driver knows of an activity call when it starts: handed to the functions of
/// [`TestRun::inject_failure`] and [`TestRun::activity_latency`].
#[derive(Debug, Clone, Copy)]
pub struct ActivityCallInfo<'a> {
    /// The activity's [`Activity::NAME`].
    pub name: &'a str,
    /// The call's sequence number in its workflow (its idempotency key is `"{id}:{seq}"`).
    pub seq: u64,
    /// How many activity calls the run started before this one.
    pub index: usize,
    /// The virtual time at which the call starts.
    pub started_at: SystemTime,
    /// The call's encoded input.
    pub input: &'a [u8],
    /// The options the workflow gave the call.
    pub options: &'a ActivityOptions,
}

impl ActivityCallInfo<'_> {
    /// Whether this is a call of `activity`.
    ///
    /// ```
    /// # use workflow_rt::prelude::*;
    /// # use workflow_rt::testing::ActivityCallInfo;
    /// #[activity]
    /// async fn charge(_ctx: ActivityCtx, cents: u64) -> Result<u64, ActivityError> { Ok(cents) }
    ///
    /// let options = Default::default();
    /// let info = ActivityCallInfo {
    ///     name: "charge", seq: 0, index: 0, started_at: std::time::UNIX_EPOCH, input: &[5], options: &options,
    /// };
    /// assert!(info.is(charge));
    /// assert_eq!(info.input_as(charge), Some(5));
    /// ```
    pub fn is<A: Activity>(&self, _activity: A) -> bool {
        self.name == A::NAME
    }

    /// The input decoded as `activity`'s input, or `None` if this is not a call of `activity` or
    /// the input does not decode.
    pub fn input_as<A: Activity>(&self, activity: A) -> Option<A::Input> {
        if !self.is(activity) {
            return None;
        }
        postcard::from_bytes(self.input).ok()
    }
}

/// What the driver knows of a wait for a signal when it starts: handed to the functions of
/// [`TestRun::on_signal_wait`].
#[derive(Debug, Clone, Copy)]
pub struct SignalWaitInfo<'a> {
    /// The signal's name.
    pub name: &'a str,
    /// The wait's sequence number in its workflow.
    pub seq: u64,
    /// How many waits for this signal the workflow started before this one.
    pub index: usize,
    /// The virtual time at which the wait starts.
    pub at: SystemTime,
}

/// One activity call the workflow made during a run, in the order the calls started.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityCallRecord {
    /// The activity's [`Activity::NAME`].
    pub name: String,
    /// The call's sequence number.
    pub seq: u64,
    /// The encoded input.
    pub input: Vec<u8>,
    /// The encoded `Ok` value, or the error, the call produced.
    pub result: Result<Vec<u8>, ActivityError>,
    /// When the call started, on the virtual clock.
    pub started_at: SystemTime,
    /// When the call completed (start plus latency), on the virtual clock.
    pub completed_at: SystemTime,
    /// Whether the result reached the workflow: `false` for a call in a `select` branch that lost.
    pub delivered: bool,
}

impl ActivityCallRecord {
    /// Whether this is a call of `activity`.
    pub fn is<A: Activity>(&self, _activity: A) -> bool {
        self.name == A::NAME
    }

    /// The input decoded as `activity`'s input.
    ///
    /// # Errors
    /// [`TestError::Decode`] if this is a call of another activity or the bytes do not decode.
    pub fn input<A: Activity>(&self, activity: A) -> Result<A::Input, TestError> {
        self.check(activity)?;
        postcard::from_bytes(&self.input).map_err(|e| TestError::Decode {
            what: format!("the input of call {} of `{}`", self.seq, self.name),
            reason: e.to_string(),
        })
    }

    /// The result decoded as `activity`'s result.
    ///
    /// # Errors
    /// [`TestError::Decode`] if this is a call of another activity or the bytes do not decode.
    pub fn output<A: Activity>(
        &self,
        activity: A,
    ) -> Result<Result<<A::Output as Fallible>::Ok, ActivityError>, TestError> {
        self.check(activity)?;
        match &self.result {
            Ok(bytes) => postcard::from_bytes(bytes)
                .map(Ok)
                .map_err(|e| TestError::Decode {
                    what: format!("the result of call {} of `{}`", self.seq, self.name),
                    reason: e.to_string(),
                }),
            Err(e) => Ok(Err(e.clone())),
        }
    }

    fn check<A: Activity>(&self, _activity: A) -> Result<(), TestError> {
        if self.name == A::NAME {
            Ok(())
        } else {
            Err(TestError::Decode {
                what: format!("call {} of `{}`", self.seq, self.name),
                reason: format!("it is a call of `{}`, not of `{}`", self.name, A::NAME),
            })
        }
    }
}

/// The state of a workflow at one of its awaits, as the bytes a store would hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// How many steps had run: 0 for the state before the first step, then the step that
    /// suspended at this await.
    pub step: u32,
    /// The virtual time of that step.
    pub at: SystemTime,
    /// The workflow's state, encoded with postcard.
    pub state: Vec<u8>,
    /// The context's persisted part ([`CtxState`]), encoded with postcard.
    pub ctx: Vec<u8>,
    /// The whole snapshot as a store holds it: the envelope (see
    /// [`crate::machine::Snapshot`]) naming the workflow, its fingerprint and the step, around
    /// the context and the state.
    pub envelope: Vec<u8>,
}

impl Snapshot {
    /// Decodes the snapshot as a state of `W` and its context state, checked as the runtime
    /// checks a stored snapshot: the envelope must name `W` and carry its fingerprint, and the
    /// state must take every byte.
    ///
    /// # Errors
    /// [`TestError::Decode`] if the bytes are not a snapshot of `W`.
    pub fn decode<W: Workflow>(&self, _workflow: W) -> Result<(W::State, CtxState), TestError> {
        let (meta, state) =
            crate::step::restore::<W>(&self.envelope).map_err(|e| TestError::Decode {
                what: format!("snapshot {} as a state of `{}`", self.step, W::NAME),
                reason: e.to_string(),
            })?;
        Ok((state, meta.ctx))
    }
}

/// A signal delivered to the workflow during a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveredSignal {
    /// The signal's name.
    pub name: String,
    /// The sequence number of the wait that received it.
    pub seq: u64,
    /// When it was sent (queued up front: the start of the run).
    pub sent_at: SystemTime,
    /// When the workflow received it.
    pub delivered_at: SystemTime,
}

/// How a [`TestRun`] went: the workflow's output and everything it did on the way.
#[derive(Debug, Clone)]
pub struct TestOutcome<O> {
    /// The workflow's output.
    pub output: O,
    /// The command tree of every await the workflow suspended at, in order.
    pub commands: Vec<Pending>,
    /// What resolved each of those trees, in the same order.
    pub resolutions: Vec<Resolution>,
    /// How many times [`Workflow::resume`] ran (one more than the number of awaits).
    pub steps: u32,
    /// Every activity call, in the order they started.
    pub activity_calls: Vec<ActivityCallRecord>,
    /// Every signal the workflow received, in order.
    pub signals: Vec<DeliveredSignal>,
    /// Names of the signals sent that the workflow never received, in the order sent.
    pub unconsumed_signals: Vec<String>,
    /// The snapshot before the first step and at every await, if
    /// [`TestRun::record_snapshots`] asked for them.
    pub snapshots: Vec<Snapshot>,
    /// The virtual time at which the run started.
    pub started_at: SystemTime,
    /// The virtual time of the last step.
    pub finished_at: SystemTime,
    /// When the run was asked to cancel ([`TestRun::cancel_after`]), if it was before it
    /// ended.
    pub cancel_requested_at: Option<SystemTime>,
    /// The values the run published ([`WorkflowCtx::publish`]) as it ended, by key.
    pub published: std::collections::BTreeMap<String, serde_json::Value>,
    /// How many times the run started over ([`WorkflowCtx::continue_as_new`]); `output` is
    /// the last run's.
    pub continued_as_new: u32,
}

impl<O> TestOutcome<O> {
    /// The run's reply to update `update_id` ([`WorkflowCtx::reply`]; send the update as a
    /// signal: `.signal(name, Update::new(update_id, payload))`), decoded as `R`; `None` if it
    /// made none or dropped it (a run keeps its last
    /// [`MAX_REPLIES`](crate::update::MAX_REPLIES)).
    ///
    /// # Panics
    /// If the reply does not decode as `R` (the test asks for the wrong type).
    pub fn reply<R: serde::de::DeserializeOwned>(&self, update_id: &str) -> Option<R> {
        let json = self
            .published
            .get(&crate::update::reply_key(update_id))?
            .clone();
        match serde_json::from_value::<crate::update::Reply<R>>(json) {
            Ok(r) => Some(r.reply),
            Err(e) => panic!(
                "the reply to update {update_id:?} does not decode as {}: {e}",
                std::any::type_name::<R>()
            ),
        }
    }

    /// The virtual time the run took.
    pub fn elapsed(&self) -> Duration {
        self.finished_at
            .duration_since(self.started_at)
            .unwrap_or_default()
    }

    /// The calls of `activity`, in the order they started.
    pub fn calls_of<A: Activity>(&self, activity: A) -> Vec<&ActivityCallRecord> {
        self.activity_calls
            .iter()
            .filter(|c| c.is(activity))
            .collect()
    }

    /// The inputs of the calls of `activity`, in the order they started.
    ///
    /// # Errors
    /// [`TestError::Decode`] if an input does not decode.
    pub fn inputs_of<A: Activity>(&self, activity: A) -> Result<Vec<A::Input>, TestError> {
        self.calls_of(activity)
            .into_iter()
            .map(|c| c.input(activity))
            .collect()
    }

    /// The names of the activities called, in the order they started.
    pub fn activity_names(&self) -> Vec<&str> {
        self.activity_calls
            .iter()
            .map(|c| c.name.as_str())
            .collect()
    }
}

/// Why a [`TestRun`] did not produce an output.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TestError {
    /// The workflow waits for something nothing will ever provide: signals nobody sends, and no
    /// timer, activity or scheduled signal left that could wake it. Send the signal with
    /// [`TestRun::signal`] or [`TestRun::signal_after`], or give the wait a timeout.
    #[error("workflow `{id}` waits forever after step {step}: it waits for {}, and no timer, activity or scheduled signal can wake it", waiting_for.join(", "))]
    Stuck {
        /// The workflow's id.
        id: String,
        /// The step that suspended.
        step: u32,
        /// What it waits for, e.g. ``signal `approve` (seq 3)``.
        waiting_for: Vec<String>,
        /// The whole command tree it is suspended on.
        pending: Box<Pending>,
        /// The virtual time at which nothing was left to happen.
        at: SystemTime,
    },
    /// The workflow called an activity the run has no answer for.
    #[error(
        "workflow called activity `{name}` (seq {seq}), which this run cannot answer: add `.on_activity({name}, |input| ..)` or `.with_activity({name})`"
    )]
    NoActivityHandler {
        /// The activity's name.
        name: String,
        /// The call's sequence number.
        seq: u64,
    },
    /// The run was asked to cancel ([`TestRun::cancel_after`]) and was still going when its
    /// grace period ran out: a runtime would stop it outright.
    #[error(
        "workflow `{id}` was stopped outright after step {step}: its grace period after the cancel request ran out at {at:?}"
    )]
    Terminated {
        /// The workflow's id.
        id: String,
        /// The step it was suspended after.
        step: u32,
        /// The virtual time at which the grace period ran out.
        at: SystemTime,
    },
    /// The run's execution timeout ([`TestRun::timeout`]) ran out before it ended: a
    /// runtime would stop it outright.
    #[error(
        "workflow `{id}` was stopped outright after step {step}: its execution timeout ran out at {at:?}"
    )]
    TimedOut {
        /// The workflow's id.
        id: String,
        /// The step it was suspended after.
        step: u32,
        /// The virtual time at which the timeout ran out.
        at: SystemTime,
    },
    /// The workflow started a child workflow the run has no answer for.
    #[error(
        "workflow started child workflow `{name}` (seq {seq}), which this run cannot answer: add `.with_workflow({name})` or `.on_child({name}, |input| ..)`"
    )]
    NoChildHandler {
        /// The child workflow's name.
        name: String,
        /// The call's sequence number.
        seq: u64,
    },
    /// A child run did not produce an output (it ran in the same test, with
    /// [`TestRun::with_workflow`]), or its input or output did not convert.
    #[error("child workflow `{name}` (run {id}): {reason}")]
    ChildRun {
        /// The child workflow's name.
        name: String,
        /// The child run's id.
        id: String,
        /// What went wrong.
        reason: String,
    },
    /// An activity call could not be answered: its input did not decode as the registered
    /// activity's input (two activities with the same name?) or its result did not encode.
    #[error("activity `{name}` (seq {seq}): {reason}")]
    ActivityCall {
        /// The activity's name.
        name: String,
        /// The call's sequence number.
        seq: u64,
        /// What went wrong.
        reason: String,
    },
    /// A signal's payload could not be encoded when it was queued.
    #[error("cannot encode the payload of signal `{name}`: {reason}")]
    SignalPayload {
        /// The signal's name.
        name: String,
        /// The encoder's message.
        reason: String,
    },
    /// [`Workflow::resume`] returned [`Step::Failed`](crate::machine::Step::Failed): a runtime would park the workflow.
    #[error("step {step} of workflow `{id}` failed: {error}")]
    Resume {
        /// The workflow's id.
        id: String,
        /// The step that failed (from 1).
        step: u32,
        /// The reason the workflow gave.
        #[source]
        error: ResumeError,
    },
    /// [`Workflow::resume`] panicked instead of returning.
    #[error("step {step} of workflow `{id}` panicked: {message}")]
    Panicked {
        /// The workflow's id.
        id: String,
        /// The step that panicked (from 1).
        step: u32,
        /// The panic's message.
        message: String,
    },
    /// In [`TestRun::snapshot_every_await`] mode, the state or context did not survive the round
    /// trip through postcard: it did not encode, did not decode, or decoded to something that
    /// encodes to different bytes.
    #[error("the snapshot after step {step} of workflow `{id}` does not round-trip: {reason}")]
    Snapshot {
        /// The workflow's id.
        id: String,
        /// The step after which the snapshot was taken (0: the start state).
        step: u32,
        /// What failed.
        reason: String,
    },
    /// The workflow ran [`TestRun::max_steps`] steps without finishing (an endless loop of
    /// awaits?). Raise the limit if it is meant to run that long.
    #[error("workflow `{id}` did not finish within {max_steps} steps")]
    StepLimit {
        /// The workflow's id.
        id: String,
        /// The limit.
        max_steps: u32,
    },
    /// The snapshot of a step is larger than [`TestRun::max_snapshot_bytes`] (by default the
    /// runtime's [`Limits::max_snapshot_bytes`](crate::Limits::max_snapshot_bytes)): a runtime
    /// would not commit the step and would park the workflow.
    #[error(
        "the snapshot after step {step} of workflow `{id}` is {size} bytes, over the limit of {limit}"
    )]
    SnapshotTooLarge {
        /// The workflow's id.
        id: String,
        /// The step whose snapshot it is.
        step: u32,
        /// The snapshot's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The workflow called [`WorkflowCtx::continue_as_new`] and cannot go on as asked: it
    /// awaited after the call rather than returned, or named another workflow or version than
    /// the one under test (which a runtime with that code registered runs).
    #[error("step {step} of workflow `{id}` cannot continue as new: {reason}")]
    Continue {
        /// The workflow's id.
        id: String,
        /// The step that called it.
        step: u32,
        /// Why.
        reason: String,
    },
    /// A value recorded by the run did not decode as the type asked for.
    #[error("cannot decode {what}: {reason}")]
    Decode {
        /// What was decoded.
        what: String,
        /// The decoder's message.
        reason: String,
    },
}

/// How an activity handler answers one call.
enum Answer {
    Ready(Result<Vec<u8>, ActivityError>),
    Later(BoxFuture<'static, Result<Result<Vec<u8>, ActivityError>, String>>),
}

/// Answers the calls of one activity: from the call's context and encoded input, its answer, or
/// why it cannot give one.
type Handler = Box<dyn FnMut(ActivityCtx, &[u8]) -> Result<Answer, String>>;

type CallFn<T> = Box<dyn FnMut(&ActivityCallInfo<'_>) -> T>;

/// Answers the calls of one child workflow: from the child's id, its encoded input, the time
/// of the call and the call's execution timeout in milliseconds, the child's encoded output
/// (or why there is none) and how long it took, or why no answer can be given.
type ChildHandler = Box<
    dyn FnMut(&str, &[u8], u64, Option<u64>) -> Result<(Result<Vec<u8>, ChildError>, u64), String>,
>;

/// Answers a wait for a signal: the encoded payload to send, if any, or why it did not encode.
/// Answers a signal wait: the payload's bytes and its type tag, or nothing.
type SignalFn = Box<dyn FnMut(&SignalWaitInfo<'_>) -> Result<Option<(Vec<u8>, u64)>, String>>;

/// A signal sent to the run and not yet received.
struct QueuedSignal {
    /// The order in which it was sent, to break ties between signals sent at the same time.
    order: usize,
    name: String,
    at_ms: u64,
    payload: Vec<u8>,
    /// The tag of the payload's type ([`crate::machine::type_tag`]).
    type_tag: u64,
}

/// Everything a [`TestRun`] is configured with but its input: the part that does not depend on
/// the workflow's types.
struct Config {
    id: String,
    handlers: HashMap<String, Handler>,
    children: HashMap<String, ChildHandler>,
    signals: Vec<QueuedSignal>,
    responders: HashMap<String, SignalFn>,
    setup_error: Option<TestError>,
    start_ms: u64,
    snapshot_every_await: bool,
    record_snapshots: bool,
    tie_break: TieBreak,
    latency: Option<CallFn<Duration>>,
    failures: Option<CallFn<Option<ActivityError>>>,
    max_steps: u32,
    max_snapshot_bytes: usize,
    /// When the run is asked to cancel, and the grace period it then has.
    cancel: Option<(u64, u64)>,
    /// When the run's execution timeout ends ([`TestRun::timeout`]).
    timeout_at: Option<u64>,
    /// How long after a promise wait starts it is completed, with the value's type tag and
    /// bytes.
    promise_answer: Option<(u64, u64, Vec<u8>)>,
}

impl Config {
    fn new(id: String, start_ms: u64) -> Self {
        Config {
            id,
            handlers: HashMap::new(),
            children: HashMap::new(),
            signals: Vec::new(),
            responders: HashMap::new(),
            setup_error: None,
            start_ms,
            snapshot_every_await: false,
            record_snapshots: false,
            tie_break: TieBreak::default(),
            latency: None,
            failures: None,
            max_steps: DEFAULT_MAX_STEPS,
            max_snapshot_bytes: crate::Limits::DEFAULT.max_snapshot_bytes,
            cancel: None,
            timeout_at: None,
            promise_answer: None,
        }
    }
}

/// A workflow run in-process, configured with a builder, started with [`TestRun::run`].
///
/// See the [module documentation](self) for how a run proceeds.
#[must_use = "a TestRun does nothing until `.run()`"]
pub struct TestRun<W: Workflow> {
    origin: Origin<W>,
    config: Config,
}

/// Where a [`TestRun`] begins.
enum Origin<W: Workflow> {
    /// [`Workflow::start`] on this input ([`TestRun::new`]).
    Input(W::Input),
    /// A stored snapshot and the tree it is suspended on ([`TestRun::resume_from`]).
    Snapshot(Box<(crate::machine::Snapshot, Option<Pending>)>),
}

impl<W: Workflow> fmt::Debug for TestRun<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        let mut handlers: Vec<&String> = c.handlers.keys().collect();
        handlers.sort();
        f.debug_struct("TestRun")
            .field("workflow", &W::NAME)
            .field("id", &c.id)
            .field("activities", &handlers)
            .field(
                "signals",
                &c.signals
                    .iter()
                    .map(|s| (&s.name, s.at_ms))
                    .collect::<Vec<_>>(),
            )
            .field("start_ms", &c.start_ms)
            .field("snapshot_every_await", &c.snapshot_every_await)
            .field("record_snapshots", &c.record_snapshots)
            .field("tie_break", &c.tie_break)
            .field("max_steps", &c.max_steps)
            .finish_non_exhaustive()
    }
}

impl<W: Workflow> TestRun<W> {
    /// A run of `workflow` with id `id` on `input`, answering no activity and sending no signal
    /// yet.
    ///
    /// ```
    /// # use workflow_rt::prelude::*;
    /// # use workflow_rt::testing::TestRun;
    /// #[workflow]
    /// async fn double(ctx: WorkflowCtx, n: u64) -> u64 {
    ///     n * 2
    /// }
    ///
    /// let run = TestRun::new(double, "d-1", 21).run()?;
    /// assert_eq!((run.output, run.steps), (42, 1));
    /// # Ok::<(), workflow_rt::testing::TestError>(())
    /// ```
    pub fn new(workflow: W, id: impl Into<String>, input: W::Input) -> Self {
        let _ = workflow;
        TestRun {
            origin: Origin::Input(input),
            config: Config::new(id.into(), DEFAULT_START_MS),
        }
    }

    /// A run of `workflow` with id `id` that continues from a snapshot as the runtime stores it,
    /// instead of starting from an input: `snapshot` is the envelope (see
    /// [`crate::machine::Snapshot`]) and `pending` the command tree the workflow was suspended on
    /// when it was written (`None` for the start state, written before the first step).
    ///
    /// The run refuses a snapshot of another workflow or with another fingerprint, as the runtime
    /// does, and one whose state does not decode: all three are a [`TestError::Decode`]. Otherwise
    /// it waits for `pending` with this run's answers (activities, signals, timers), hands the
    /// resolution to the decoded state, and goes on as any run. The virtual clock starts at the
    /// snapshot's clock reading, so [`TestRun::signal_after`] counts from there; step numbers go
    /// on from the snapshot's step, so [`TestOutcome::steps`] and [`TestRun::max_steps`] count
    /// the steps before it too. The outcome's commands, calls and signals are those after it.
    ///
    /// Meant for tests that old snapshots still resume under new code.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use workflow_rt::prelude::*;
    /// # use workflow_rt::testing::TestRun;
    /// #[workflow]
    /// async fn nap(ctx: WorkflowCtx, secs: u64) -> u64 {
    ///     ctx.sleep(Duration::from_secs(secs)).await;
    ///     secs
    /// }
    ///
    /// let run = TestRun::new(nap, "n", 5).record_snapshots(true).run()?;
    /// // What a store would hold at the sleep: the envelope and the tree it waits on.
    /// let (state, ctx) = run.snapshots[1].decode(nap)?;
    /// let bytes = workflow_rt::machine::Snapshot::encode("nap", <nap as Workflow>::fingerprint(), 1, ctx, &state).unwrap();
    /// let snapshot = workflow_rt::machine::Snapshot::decode(&bytes).unwrap();
    /// let resumed = TestRun::resume_from(nap, "n", snapshot, Some(run.commands[0].clone())).run()?;
    /// assert_eq!((resumed.output, resumed.steps), (5, 2));
    /// assert_eq!(resumed.finished_at, run.finished_at);
    /// # Ok::<(), workflow_rt::testing::TestError>(())
    /// ```
    pub fn resume_from(
        workflow: W,
        id: impl Into<String>,
        snapshot: crate::machine::Snapshot,
        pending: Option<Pending>,
    ) -> Self {
        let _ = workflow;
        let config = Config::new(id.into(), snapshot.ctx.now_ms);
        TestRun {
            origin: Origin::Snapshot(Box::new((snapshot, pending))),
            config,
        }
    }

    /// Answers every call of `activity` with `answer(input)`. The closure's type is checked
    /// against the activity's: it takes the activity's input and returns its `Ok` type or an
    /// [`ActivityError`] (the call's final error; see the module docs on retries). It may keep
    /// state (count calls, fail the first time). A panic in it becomes an error of kind
    /// [`ActivityErrorKind::Panicked`]. Replaces any earlier answer for `activity`.
    ///
    /// ```
    /// # use workflow_rt::prelude::*;
    /// # use workflow_rt::testing::TestRun;
    /// #[activity]
    /// async fn reserve(_ctx: ActivityCtx, sku: String) -> Result<u32, ActivityError> { Ok(1) }
    ///
    /// #[workflow]
    /// async fn stock(ctx: WorkflowCtx, sku: String) -> Result<u32, WorkflowError> {
    ///     let n = ctx.activity(reserve, sku).await?;
    ///     Ok(n)
    /// }
    ///
    /// let mut calls = 0;
    /// let run = TestRun::new(stock, "s", "apple".into())
    ///     .on_activity(reserve, move |sku| {
    ///         calls += 1;
    ///         if sku == "apple" { Ok(40 + calls) } else { Err(ActivityError::non_retryable("unknown sku")) }
    ///     })
    ///     .run()?;
    /// assert_eq!(run.output, Ok(41));
    /// # Ok::<(), workflow_rt::testing::TestError>(())
    /// ```
    pub fn on_activity<A, F>(self, activity: A, mut answer: F) -> Self
    where
        A: Activity,
        F: FnMut(A::Input) -> Result<<A::Output as Fallible>::Ok, ActivityError> + 'static,
    {
        self.on_activity_with_ctx(activity, move |_ctx, input| answer(input))
    }

    /// Like [`TestRun::on_activity`], with the call's [`ActivityCtx`] too (its sequence number,
    /// idempotency key, and attempt, always 1).
    ///
    /// ```
    /// # use workflow_rt::prelude::*;
    /// # use workflow_rt::testing::TestRun;
    /// #[activity]
    /// async fn charge(_ctx: ActivityCtx, cents: u64) -> Result<String, ActivityError> { Ok(String::new()) }
    ///
    /// #[workflow]
    /// async fn pay(ctx: WorkflowCtx, cents: u64) -> Result<String, WorkflowError> {
    ///     let receipt = ctx.activity(charge, cents).await?;
    ///     Ok(receipt)
    /// }
    ///
    /// let run = TestRun::new(pay, "order-7", 100)
    ///     .on_activity_with_ctx(charge, |ctx, cents| Ok(format!("{} {cents}", ctx.idempotency_key())))
    ///     .run()?;
    /// assert_eq!(run.output, Ok("order-7:0 100".to_string()));
    /// # Ok::<(), workflow_rt::testing::TestError>(())
    /// ```
    pub fn on_activity_with_ctx<A, F>(mut self, _activity: A, mut answer: F) -> Self
    where
        A: Activity,
        F: FnMut(&ActivityCtx, A::Input) -> Result<<A::Output as Fallible>::Ok, ActivityError>
            + 'static,
    {
        let handler = move |ctx: ActivityCtx, bytes: &[u8]| -> Result<Answer, String> {
            let input: A::Input = decode_input::<A>(bytes)?;
            match catch_unwind(AssertUnwindSafe(|| answer(&ctx, input))) {
                Ok(Ok(value)) => encode_output(&value).map(|b| Answer::Ready(Ok(b))),
                Ok(Err(e)) => Ok(Answer::Ready(Err(e))),
                Err(panic) => Ok(Answer::Ready(Err(panicked(&*panic)))),
            }
        };
        self.config
            .handlers
            .insert(A::NAME.to_string(), Box::new(handler));
        self
    }

    /// Answers every call of `activity` by running the activity itself ([`Activity::run`]) with
    /// an [`ActivityCtx`] for the call. A panic in its body becomes an error of kind
    /// [`ActivityErrorKind::Panicked`], as in the runtime. [`TestRun::run`] polls the body in the
    /// calling thread; a body that needs a tokio runtime (timers, sockets) must be run with
    /// [`TestRun::run_async`] from inside one.
    ///
    /// ```
    /// # use workflow_rt::prelude::*;
    /// # use workflow_rt::testing::TestRun;
    /// #[activity]
    /// async fn greet(_ctx: ActivityCtx, name: String) -> Result<String, ActivityError> {
    ///     Ok(format!("hello {name}"))
    /// }
    ///
    /// #[workflow]
    /// async fn hello(ctx: WorkflowCtx, name: String) -> Result<String, WorkflowError> {
    ///     let text = ctx.activity(greet, name).await?;
    ///     Ok(text)
    /// }
    ///
    /// let run = TestRun::new(hello, "h", "ada".into()).with_activity(greet).run()?;
    /// assert_eq!(run.output, Ok("hello ada".to_string()));
    /// # Ok::<(), workflow_rt::testing::TestError>(())
    /// ```
    pub fn with_activity<A: Activity>(mut self, activity: A) -> Self {
        let handler = move |ctx: ActivityCtx, bytes: &[u8]| -> Result<Answer, String> {
            let input: A::Input = decode_input::<A>(bytes)?;
            let body = match catch_unwind(AssertUnwindSafe(|| activity.run(ctx, input))) {
                Ok(body) => body,
                Err(panic) => return Ok(Answer::Ready(Err(panicked(&*panic)))),
            };
            Ok(Answer::Later(Box::pin(async move {
                match catch_unwind_future(body).await {
                    Ok(out) => match out.into_result() {
                        Ok(value) => encode_output(&value).map(Ok),
                        Err(e) => Ok(Err(e.into())),
                    },
                    Err(message) => Ok(Err(ActivityError::new(
                        ActivityErrorKind::Panicked,
                        message,
                    ))),
                }
            })))
        };
        self.config
            .handlers
            .insert(A::NAME.to_string(), Box::new(handler));
        self
    }

    /// Completes every promise the workflow waits on ([`WorkflowCtx::promise_wait`]) with
    /// `value`, `delay` after the wait starts, as
    /// [`Client::complete`](crate::Client::complete) would. Without it, a promise wait never
    /// completes (a timeout on it then fires). A value of another type than the wait's ends
    /// the run with [`TestError::ActivityCall`].
    pub fn complete_promises_after<T: Serialize>(mut self, delay: Duration, value: T) -> Self {
        match postcard::to_stdvec(&value) {
            Ok(bytes) => {
                self.config.promise_answer =
                    Some((millis(delay), crate::signal::type_tag::<T>(), bytes));
            }
            Err(e) => {
                self.config.setup_error = Some(TestError::ActivityCall {
                    name: crate::promise::PROMISE_ACTIVITY.to_string(),
                    seq: 0,
                    reason: format!("the promise's value does not encode: {e}"),
                });
            }
        }
        self
    }

    /// Asks the run to cancel `delay` after its start, on the virtual clock, as
    /// [`Client::cancel`](crate::Client::cancel) would, with the runtime's default grace
    /// period (5 minutes): the await in progress then is interrupted (activity calls answer
    /// an error of kind [`Cancelled`](ActivityErrorKind::Cancelled), timers, including
    /// [`WorkflowCtx::cancellation`] waits, end now, child calls answer
    /// [`ChildError::Cancelled`], or [`ChildError::Abandoned`] for a child left to go on),
    /// [`WorkflowCtx::is_cancelled`] turns true, and the code goes on. A run still going
    /// when the grace period ends is [`TestError::Terminated`].
    ///
    /// A child call answers at once here, where a runtime passes the request on to the child
    /// (under [`ParentClose::Terminate`](crate::ParentClose) and `RequestCancel`) and waits
    /// for its end: a child that takes the request and compensates ends cancelled, which is
    /// this answer, but one that returns its output anyway gives the parent that output. A
    /// test of the child's own handling of the request runs the child with `cancel_after`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use workflow_rt::prelude::*;
    /// # use workflow_rt::testing::TestRun;
    /// #[activity]
    /// async fn refund(_ctx: ActivityCtx, cents: u64) -> Result<(), ActivityError> { Ok(()) }
    ///
    /// #[workflow]
    /// async fn hold(ctx: WorkflowCtx, cents: u64) -> Result<u64, WorkflowError> {
    ///     ctx.sleep(Duration::from_secs(86_400)).await;
    ///     if ctx.is_cancelled() {
    ///         ctx.activity(refund, cents).await?;
    ///         return Err(WorkflowError::msg("cancelled, refunded"));
    ///     }
    ///     Ok(cents)
    /// }
    ///
    /// let run = TestRun::new(hold, "h", 500)
    ///     .with_activity(refund)
    ///     .cancel_after(Duration::from_secs(60))
    ///     .run()?;
    /// assert_eq!(run.elapsed(), Duration::from_secs(60), "the timer ended early");
    /// assert_eq!(run.activity_names(), vec!["refund"]);
    /// assert_eq!(run.output.unwrap_err().message, "cancelled, refunded");
    /// # Ok::<(), workflow_rt::testing::TestError>(())
    /// ```
    pub fn cancel_after(self, delay: Duration) -> Self {
        self.cancel_after_with_grace(delay, crate::runtime::DEFAULT_CANCEL_GRACE)
    }

    /// [`TestRun::cancel_after`] with a grace period of its own.
    pub fn cancel_after_with_grace(mut self, delay: Duration, grace: Duration) -> Self {
        let at = self.config.start_ms.saturating_add(millis(delay));
        self.config.cancel = Some((at, millis(grace)));
        self
    }

    /// Gives the run an execution timeout, as [`StartOptions::timeout`] does: past `limit`
    /// of virtual time from its start, a run that has not ended is stopped outright (through
    /// a chain of [`WorkflowCtx::continue_as_new`] too), which ends the test with
    /// [`TestError::TimedOut`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use workflow_rt::prelude::*;
    /// # use workflow_rt::testing::{TestError, TestRun};
    /// #[workflow]
    /// async fn approval(ctx: WorkflowCtx, _id: u32) -> bool {
    ///     ctx.signal::<bool>("approve").await
    /// }
    ///
    /// let day = Duration::from_secs(86_400);
    /// let late = TestRun::new(approval, "a", 1)
    ///     .timeout(day)
    ///     .signal_after(2 * day, "approve", true)
    ///     .run();
    /// assert!(matches!(late, Err(TestError::TimedOut { .. })));
    /// let in_time = TestRun::new(approval, "a", 1)
    ///     .timeout(day)
    ///     .signal_after(day / 2, "approve", true)
    ///     .run()?;
    /// assert!(in_time.output);
    /// # Ok::<(), TestError>(())
    /// ```
    ///
    /// [`StartOptions::timeout`]: crate::StartOptions::timeout
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.config.timeout_at = Some(self.config.start_ms.saturating_add(millis(limit)));
        self
    }

    /// Runs the calls of child workflow `W` in the same test: each child run is a
    /// [`TestRun`] of its own, started at the time of the call, on the virtual clock, with
    /// what `configure` adds to it (its activities, signals...); the parent receives the
    /// child's output when the child ends, as much later as the child took. A call with an
    /// execution timeout ([`crate::ChildCall::timeout`]) runs its child under it (or under
    /// the one `configure` gives, if that ends first): past it the call is answered
    /// [`ChildError::TimedOut`] at the time it ran out. (A run resumed from a snapshot
    /// ([`TestRun::resume_from`]) knows the timeouts of the calls its own steps make, not
    /// of those in the wait it resumes at.)
    ///
    /// ```
    /// # use workflow_rt::prelude::*;
    /// # use workflow_rt::testing::TestRun;
    /// # use std::time::Duration;
    /// #[activity]
    /// async fn pack(_ctx: ActivityCtx, item: String) -> Result<String, ActivityError> {
    ///     Ok(format!("box of {item}"))
    /// }
    ///
    /// #[workflow]
    /// async fn ship(ctx: WorkflowCtx, item: String) -> Result<String, WorkflowError> {
    ///     let parcel = ctx.activity(pack, item).await?;
    ///     ctx.sleep(Duration::from_secs(3600)).await;
    ///     Ok(parcel)
    /// }
    ///
    /// #[workflow]
    /// async fn order(ctx: WorkflowCtx, item: String) -> Result<String, WorkflowError> {
    ///     let shipped = ctx.child(ship, item).await??;
    ///     Ok(shipped)
    /// }
    ///
    /// let run = TestRun::new(order, "o-1", "tea".into())
    ///     .with_workflow_configured(ship, |child| child.with_activity(pack))
    ///     .run()?;
    /// assert_eq!(run.output, Ok("box of tea".to_string()));
    /// assert_eq!(run.elapsed(), Duration::from_secs(3600));
    /// # Ok::<(), workflow_rt::testing::TestError>(())
    /// ```
    pub fn with_workflow_configured<C, F>(mut self, workflow: C, mut configure: F) -> Self
    where
        C: Workflow,
        F: FnMut(TestRun<C>) -> TestRun<C> + 'static,
    {
        let handler = move |id: &str, bytes: &[u8], now_ms: u64, timeout_ms: Option<u64>| {
            let fail = |reason: String| format!("run {id}: {reason}");
            let input: C::Input = codec::decode_exact(bytes)
                .map_err(|e| fail(format!("its input does not decode: {e}")))?;
            let mut run = configure(TestRun::new(workflow, id, input).start_at(to_time(now_ms)));
            // The call's execution timeout ([`crate::ChildCall::timeout`]) bounds the child
            // as the runtime's timer does, from the call (the earlier of it and one
            // `configure` gave): past it, the call is answered that it timed out.
            if let Some(limit) = timeout_ms {
                let end = now_ms.saturating_add(limit);
                let kept = run.config.timeout_at.map_or(end, |t| t.min(end));
                run.config.timeout_at = Some(kept);
            }
            let out = match block_on(run.run_async()) {
                Err(TestError::TimedOut { at, .. }) => {
                    let id = id.to_string();
                    let took = millis(at.duration_since(to_time(now_ms)).unwrap_or_default());
                    return Ok((Err(ChildError::TimedOut { id }), took));
                }
                other => other.map_err(|e| fail(e.to_string()))?,
            };
            let elapsed = millis(out.elapsed());
            let bytes = encode_output(&out.output).map_err(fail)?;
            Ok((Ok(bytes), elapsed))
        };
        self.config
            .children
            .insert(C::NAME.to_string(), Box::new(handler));
        self
    }

    /// [`TestRun::with_workflow_configured`] with nothing added: for children that call no
    /// activity and wait for no signal.
    pub fn with_workflow<C: Workflow>(self, workflow: C) -> Self {
        self.with_workflow_configured(workflow, |run| run)
    }

    /// Answers the calls of child workflow `C` with `answer`, at once: from the child's
    /// input, its output or a [`ChildError`] (for tests of how the parent handles a child
    /// that was cancelled, timed out or could not start; a call's execution timeout has no
    /// effect on an answer given at once).
    ///
    /// ```
    /// # use workflow_rt::prelude::*;
    /// # use workflow_rt::testing::TestRun;
    /// #[workflow]
    /// async fn ship(_ctx: WorkflowCtx, item: String) -> Result<String, WorkflowError> {
    ///     Ok(item)
    /// }
    ///
    /// #[workflow]
    /// async fn order(ctx: WorkflowCtx, item: String) -> String {
    ///     match ctx.child(ship, item).await {
    ///         Ok(Ok(parcel)) => parcel,
    ///         Ok(Err(e)) => format!("failed: {e}"),
    ///         Err(e) => format!("no output: {e}"),
    ///     }
    /// }
    ///
    /// let run = TestRun::new(order, "o-1", "tea".into())
    ///     .on_child(ship, |item| Err(ChildError::Cancelled { id: format!("{item}-run") }))
    ///     .run()?;
    /// assert_eq!(run.output, "no output: child run \"tea-run\" was cancelled");
    /// # Ok::<(), workflow_rt::testing::TestError>(())
    /// ```
    pub fn on_child<C, F>(mut self, _workflow: C, mut answer: F) -> Self
    where
        C: Workflow,
        F: FnMut(C::Input) -> Result<C::Output, ChildError> + 'static,
    {
        let handler = move |_id: &str, bytes: &[u8], _now_ms: u64, _timeout_ms: Option<u64>| {
            let input: C::Input = codec::decode_exact(bytes)
                .map_err(|e| format!("its input does not decode: {e}"))?;
            let out = match answer(input) {
                Ok(output) => Ok(encode_output(&output)?),
                Err(e) => Err(e),
            };
            Ok((out, 0))
        };
        self.config
            .children
            .insert(C::NAME.to_string(), Box::new(handler));
        self
    }

    /// Sends signal `name` with `payload` before the run starts: the workflow receives it at its
    /// first wait for `name` (signals are buffered, as in the runtime). Signals of one name are
    /// received in the order they were sent. The signal is a typed [`Signal<T>`](crate::Signal),
    /// whose payload must be a `T`, or a name given as a string.
    ///
    /// ```
    /// # use workflow_rt::prelude::*;
    /// # use workflow_rt::testing::TestRun;
    /// #[workflow]
    /// async fn collect(ctx: WorkflowCtx, n: u32) -> Vec<String> {
    ///     let mut words: Vec<String> = Vec::new();
    ///     for _ in 0..n {
    ///         let w = ctx.signal::<String>("word").await;
    ///         words.push(w);
    ///     }
    ///     words
    /// }
    ///
    /// let run = TestRun::new(collect, "c", 2).signal("word", "a").signal("word", "b").run()?;
    /// assert_eq!(run.output, vec!["a".to_string(), "b".to_string()]);
    /// # Ok::<(), workflow_rt::testing::TestError>(())
    /// ```
    pub fn signal<T: Serialize>(self, signal: impl IntoSignal<T>, payload: T) -> Self {
        self.signal_after(Duration::ZERO, signal, payload)
    }

    /// Sends signal `name` with `payload` at `delay` after the start of the run, on the virtual
    /// clock. A workflow that waits for it with a shorter timeout times out first; one that waits
    /// without a timeout sees the clock jump to the signal's arrival.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use workflow_rt::prelude::*;
    /// # use workflow_rt::testing::TestRun;
    /// #[workflow]
    /// async fn approval(ctx: WorkflowCtx, hours: u64) -> Option<bool> {
    ///     let answer: Option<bool> = ctx.signal::<bool>("approve").timeout(Duration::from_secs(hours * 3600)).await;
    ///     answer
    /// }
    ///
    /// let day = Duration::from_secs(24 * 3600);
    /// let run = TestRun::new(approval, "a", 48).signal_after(day, "approve", true).run()?;
    /// assert_eq!((run.output, run.elapsed()), (Some(true), day));
    /// let run = TestRun::new(approval, "b", 12).signal_after(day, "approve", true).run()?;
    /// assert_eq!((run.output, run.elapsed()), (None, day / 2));
    /// assert_eq!(run.unconsumed_signals, vec!["approve".to_string()]);
    /// # Ok::<(), workflow_rt::testing::TestError>(())
    /// ```
    pub fn signal_after<T: Serialize>(
        mut self,
        delay: Duration,
        signal: impl IntoSignal<T>,
        payload: T,
    ) -> Self {
        let name = signal.into_signal_name();
        let c = &mut self.config;
        match postcard::to_stdvec(&payload) {
            Ok(payload) => {
                let at_ms = c.start_ms.saturating_add(millis(delay));
                c.signals.push(QueuedSignal {
                    order: c.signals.len(),
                    name,
                    at_ms,
                    payload,
                    type_tag: crate::signal::type_tag::<T>(),
                });
            }
            Err(e) => {
                c.setup_error.get_or_insert(TestError::SignalPayload {
                    name,
                    reason: e.to_string(),
                });
            }
        }
        self
    }

    /// Answers waits for signal `name` as they happen: when the workflow starts waiting for `name`
    /// and no signal of that name has arrived, `answer` is called, and the payload it returns (if
    /// any) is sent at that moment. Use it for a signal that depends on the workflow having
    /// asked, or on how many times it asked ([`SignalWaitInfo::index`]). Signals sent with
    /// [`TestRun::signal`] that have already arrived are received first. Replaces any earlier
    /// answer for `name`; a panic in `answer` is the test's own and is not caught. `name` is a
    /// typed [`Signal<T>`](crate::Signal) (then `answer` must return a `T`) or a string.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use workflow_rt::prelude::*;
    /// # use workflow_rt::testing::TestRun;
    /// #[workflow]
    /// async fn ask_thrice(ctx: WorkflowCtx, _x: ()) -> u32 {
    ///     let mut asked: u32 = 0;
    ///     loop {
    ///         asked += 1;
    ///         let ok: Option<bool> = ctx.signal::<bool>("ok").timeout(Duration::from_secs(60)).await;
    ///         if ok == Some(true) || asked == 3 {
    ///             break asked;
    ///         }
    ///     }
    /// }
    ///
    /// // No answer the first time (the wait times out), "no" the second, "yes" the third.
    /// let run = TestRun::new(ask_thrice, "a", ())
    ///     .on_signal_wait("ok", |wait| (wait.index > 0).then_some(wait.index == 2))
    ///     .run()?;
    /// assert_eq!(run.output, 3);
    /// assert_eq!(run.elapsed(), Duration::from_secs(60));
    /// # Ok::<(), workflow_rt::testing::TestError>(())
    /// ```
    pub fn on_signal_wait<T: Serialize>(
        mut self,
        signal: impl IntoSignal<T>,
        mut answer: impl FnMut(&SignalWaitInfo<'_>) -> Option<T> + 'static,
    ) -> Self {
        let respond = move |wait: &SignalWaitInfo<'_>| match answer(wait) {
            Some(payload) => postcard::to_stdvec(&payload)
                .map(|bytes| Some((bytes, crate::signal::type_tag::<T>())))
                .map_err(|e| e.to_string()),
            None => Ok(None),
        };
        self.config
            .responders
            .insert(signal.into_signal_name(), Box::new(respond));
        self
    }

    /// Starts the virtual clock at `time` instead of [`DEFAULT_START_MS`]. Signals sent with
    /// [`TestRun::signal_after`] keep their delay from the start, whichever call comes first.
    ///
    /// ```
    /// # use workflow_rt::prelude::*;
    /// # use workflow_rt::testing::TestRun;
    /// # use std::time::{Duration, UNIX_EPOCH};
    /// #[workflow]
    /// async fn clock(ctx: WorkflowCtx, _x: ()) -> std::time::SystemTime {
    ///     ctx.now()
    /// }
    ///
    /// let t = UNIX_EPOCH + Duration::from_secs(1_000_000);
    /// let run = TestRun::new(clock, "c", ()).start_at(t).run()?;
    /// assert_eq!(run.output, t);
    /// # Ok::<(), workflow_rt::testing::TestError>(())
    /// ```
    pub fn start_at(mut self, time: SystemTime) -> Self {
        let c = &mut self.config;
        let start = millis(time.duration_since(UNIX_EPOCH).unwrap_or_default());
        for s in &mut c.signals {
            s.at_ms = start.saturating_add(s.at_ms.saturating_sub(c.start_ms));
        }
        if let Some((at, _)) = &mut c.cancel {
            *at = start.saturating_add(at.saturating_sub(c.start_ms));
        }
        if let Some(at) = &mut c.timeout_at {
            *at = start.saturating_add(at.saturating_sub(c.start_ms));
        }
        c.start_ms = start;
        self
    }

    /// At every await (and before the first step), encodes the state and the context's
    /// [`CtxState`] with postcard, drops both, and restores them from the bytes, as a runtime
    /// that crashed and restarted would; the [`Resolution`] handed to the next step makes the
    /// same round trip. A state that does not round-trip (does not encode, does not decode, or
    /// decodes to a value that encodes to other bytes) ends the run with [`TestError::Snapshot`].
    ///
    /// A run in this mode must give the same output and commands as the same run without it:
    /// that is the differential test of a workflow.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use workflow_rt::prelude::*;
    /// # use workflow_rt::testing::TestRun;
    /// #[workflow]
    /// async fn countdown(ctx: WorkflowCtx, from: u32) -> Vec<u32> {
    ///     let mut seen: Vec<u32> = Vec::new();
    ///     let mut n: u32 = from;
    ///     while n > 0 {
    ///         ctx.sleep(Duration::from_secs(1)).await;
    ///         seen.push(n);
    ///         n -= 1;
    ///     }
    ///     seen
    /// }
    ///
    /// let straight = TestRun::new(countdown, "c", 3).run()?;
    /// let restored = TestRun::new(countdown, "c", 3).snapshot_every_await(true).run()?;
    /// assert_eq!(straight.output, vec![3, 2, 1]);
    /// assert_eq!((straight.output, straight.commands), (restored.output, restored.commands));
    /// # Ok::<(), workflow_rt::testing::TestError>(())
    /// ```
    pub fn snapshot_every_await(mut self, on: bool) -> Self {
        self.config.snapshot_every_await = on;
        self
    }

    /// Keeps the encoded state and context before the first step and at every await, in
    /// [`TestOutcome::snapshots`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use workflow_rt::prelude::*;
    /// # use workflow_rt::testing::TestRun;
    /// #[workflow]
    /// async fn nap(ctx: WorkflowCtx, secs: u64) -> u64 {
    ///     ctx.sleep(Duration::from_secs(secs)).await;
    ///     secs
    /// }
    ///
    /// let run = TestRun::new(nap, "n", 5).record_snapshots(true).run()?;
    /// assert_eq!(run.snapshots.len(), 2); // the start state, then the sleep
    /// let (_state, ctx) = run.snapshots[1].decode(nap)?;
    /// assert_eq!(ctx.seq(), 1); // one command issued so far
    /// # Ok::<(), workflow_rt::testing::TestError>(())
    /// ```
    pub fn record_snapshots(mut self, on: bool) -> Self {
        self.config.record_snapshots = on;
        self
    }

    /// How events at the same virtual time are ordered (default [`TieBreak::SourceOrder`]).
    ///
    /// ```
    /// # use workflow_rt::prelude::*;
    /// # use workflow_rt::testing::{TestRun, TieBreak};
    /// #[activity]
    /// async fn quote(_ctx: ActivityCtx, vendor: u32) -> Result<u32, ActivityError> { Ok(vendor) }
    ///
    /// #[workflow]
    /// async fn fastest(ctx: WorkflowCtx, _x: ()) -> Result<u32, WorkflowError> {
    ///     let won: u32 = match ctx.select((ctx.activity(quote, 1), ctx.activity(quote, 2))).await {
    ///         Select2::First(q) => q?,
    ///         Select2::Second(q) => q?,
    ///     };
    ///     Ok(won)
    /// }
    ///
    /// let first = TestRun::new(fastest, "f", ()).with_activity(quote).run()?;
    /// assert_eq!(first.output, Ok(1));
    /// let last = TestRun::new(fastest, "f", ()).with_activity(quote).tie_break(TieBreak::ReverseSourceOrder).run()?;
    /// assert_eq!(last.output, Ok(2));
    /// # Ok::<(), workflow_rt::testing::TestError>(())
    /// ```
    pub fn tie_break(mut self, order: TieBreak) -> Self {
        self.config.tie_break = order;
        self
    }

    /// How long each activity call takes on the virtual clock (default: no time at all). The
    /// function sees each call as it starts; use it to decide races between activities, timers
    /// and signals.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use workflow_rt::prelude::*;
    /// # use workflow_rt::testing::TestRun;
    /// #[activity]
    /// async fn render(_ctx: ActivityCtx, page: u32) -> Result<u32, ActivityError> { Ok(page) }
    ///
    /// #[workflow]
    /// async fn report(ctx: WorkflowCtx, _x: ()) -> Result<Option<u32>, WorkflowError> {
    ///     match ctx.select((ctx.activity(render, 1), ctx.sleep(Duration::from_secs(10)))).await {
    ///         Select2::First(page) => Ok(Some(page?)),
    ///         Select2::Second(()) => Ok(None),
    ///     }
    /// }
    ///
    /// let slow = TestRun::new(report, "r", ())
    ///     .with_activity(render)
    ///     .activity_latency(|_call| Duration::from_secs(60))
    ///     .run()?;
    /// assert_eq!(slow.output, Ok(None));
    /// assert!(!slow.activity_calls[0].delivered);
    /// # Ok::<(), workflow_rt::testing::TestError>(())
    /// ```
    pub fn activity_latency(
        mut self,
        latency: impl FnMut(&ActivityCallInfo<'_>) -> Duration + 'static,
    ) -> Self {
        self.config.latency = Some(Box::new(latency));
        self
    }

    /// Fails chosen activity calls whatever their handler would say: when `failure` returns
    /// `Some(error)` for a call, the call's result is that error and its handler is not called.
    /// Meant for property tests that inject failures into any workflow.
    ///
    /// ```
    /// # use workflow_rt::prelude::*;
    /// # use workflow_rt::testing::TestRun;
    /// #[activity]
    /// async fn measure(_ctx: ActivityCtx, n: u32) -> Result<u32, ActivityError> { Ok(n) }
    ///
    /// #[workflow]
    /// async fn three(ctx: WorkflowCtx, _x: ()) -> Result<u32, WorkflowError> {
    ///     let mut sum: u32 = 0;
    ///     for i in 0..3u32 {
    ///         sum += ctx.activity(measure, i).await?;
    ///     }
    ///     Ok(sum)
    /// }
    ///
    /// let run = TestRun::new(three, "t", ())
    ///     .with_activity(measure)
    ///     .inject_failure(|call| (call.index == 2).then(|| ActivityError::retryable("boom")))
    ///     .run()?;
    /// let error = run.output.unwrap_err();
    /// assert_eq!(error.activity.map(|a| a.message), Some("boom".to_string()));
    /// # Ok::<(), workflow_rt::testing::TestError>(())
    /// ```
    pub fn inject_failure(
        mut self,
        failure: impl FnMut(&ActivityCallInfo<'_>) -> Option<ActivityError> + 'static,
    ) -> Self {
        self.config.failures = Some(Box::new(failure));
        self
    }

    /// Ends the run with [`TestError::StepLimit`] after `steps` steps (default
    /// [`DEFAULT_MAX_STEPS`]), so a workflow that loops forever over awaits cannot hang a test.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use workflow_rt::prelude::*;
    /// # use workflow_rt::testing::{TestError, TestRun};
    /// #[workflow]
    /// async fn heartbeat(ctx: WorkflowCtx, _x: ()) -> () {
    ///     loop {
    ///         ctx.sleep(Duration::from_secs(60)).await;
    ///     }
    /// }
    ///
    /// let err = TestRun::new(heartbeat, "h", ()).max_steps(50).run().unwrap_err();
    /// assert!(matches!(err, TestError::StepLimit { max_steps: 50, .. }));
    /// ```
    pub fn max_steps(mut self, steps: u32) -> Self {
        self.config.max_steps = steps;
        self
    }

    /// The largest snapshot a step may leave (default: the runtime's,
    /// [`Limits::DEFAULT`](crate::Limits::DEFAULT)); a larger one ends the run with
    /// [`TestError::SnapshotTooLarge`], as a runtime with this limit would park the workflow.
    /// Give it the limit of the runtime the workflow will run on.
    ///
    /// ```
    /// # use workflow_rt::prelude::*;
    /// # use workflow_rt::testing::{TestError, TestRun};
    /// #[workflow]
    /// async fn hoard(ctx: WorkflowCtx, n: u64) -> usize {
    ///     let mut kept: Vec<String> = Vec::new();
    ///     for _ in 0..n {
    ///         kept.push(ctx.signal::<String>("line").await);
    ///     }
    ///     kept.len()
    /// }
    ///
    /// let err = TestRun::new(hoard, "h", 3)
    ///     .signal("line", "x".repeat(600))
    ///     .signal("line", "y".repeat(600))
    ///     .signal("line", "z".repeat(600))
    ///     .max_snapshot_bytes(1024)
    ///     .run()
    ///     .unwrap_err();
    /// assert!(matches!(err, TestError::SnapshotTooLarge { step: 3, limit: 1024, .. }), "{err}");
    /// ```
    pub fn max_snapshot_bytes(mut self, bytes: usize) -> Self {
        self.config.max_snapshot_bytes = bytes;
        self
    }

    /// Runs the workflow to its end in the calling thread.
    ///
    /// Real activities ([`TestRun::with_activity`]) are polled in this thread; see
    /// [`TestRun::run_async`] for activities that need an async runtime.
    ///
    /// # Errors
    /// A [`TestError`] when the workflow does not complete: it waits forever, calls an activity
    /// the run cannot answer, fails or panics in a step, does not survive a snapshot, or runs
    /// past [`TestRun::max_steps`].
    ///
    /// ```
    /// # use workflow_rt::prelude::*;
    /// # use workflow_rt::testing::{TestError, TestRun};
    /// #[workflow]
    /// async fn wait_forever(ctx: WorkflowCtx, _x: ()) -> bool {
    ///     ctx.signal::<bool>("go").await
    /// }
    ///
    /// let err = TestRun::new(wait_forever, "w", ()).run().unwrap_err();
    /// let TestError::Stuck { waiting_for, .. } = err else { panic!("{err}") };
    /// assert_eq!(waiting_for, vec!["signal `go` (seq 0)".to_string()]);
    /// ```
    pub fn run(self) -> Result<TestOutcome<W::Output>, TestError> {
        block_on(self.run_async())
    }

    /// Runs the workflow to its end, awaiting real activities in the caller's async runtime
    /// (for activities that use tokio timers or I/O: call it from `#[tokio::test]`).
    ///
    /// # Errors
    /// As [`TestRun::run`].
    pub async fn run_async(self) -> Result<TestOutcome<W::Output>, TestError> {
        let TestRun { origin, mut config } = self;
        if let Some(e) = config.setup_error.take() {
            return Err(e);
        }
        let mut buffered = std::mem::take(&mut config.signals);
        // Stable: signals sent at the same time keep the order in which they were sent.
        buffered.sort_by_key(|s| s.at_ms);
        let mut driver = Driver {
            now_ms: config.start_ms,
            config,
            next_order: buffered.len(),
            buffered,
            waits: HashMap::new(),
            calls: Vec::new(),
            delivered: Vec::new(),
            cancelled_at: None,
            child_calls: Vec::new(),
        };
        let started_at = to_time(driver.now_ms);
        let id = driver.config.id.clone();
        // The state, its context, the steps already run, and the tree the state waits on.
        let (start, cx, mut step, mut waiting_on) = match origin {
            Origin::Input(input) => {
                let cx = WorkflowCtx::initial_state(&id, driver.now_ms);
                (W::start(input), cx, 0, None)
            }
            Origin::Snapshot(resumed) => {
                let (snapshot, pending) = *resumed;
                let refused = |reason: String| TestError::Decode {
                    what: format!("snapshot {} as a state of `{}`", snapshot.step, W::NAME),
                    reason,
                };
                snapshot
                    .check_layout(W::NAME, W::layout())
                    .map_err(|e| refused(e.to_string()))?;
                if snapshot.version != W::VERSION {
                    return Err(refused(format!(
                        "it was written by version {} of the workflow, this code is version {}",
                        snapshot.version,
                        W::VERSION
                    )));
                }
                let state =
                    step::decode_state::<W>(&snapshot).map_err(|e| refused(e.to_string()))?;
                let step = u32::try_from(snapshot.step)
                    .map_err(|_| refused("its step number is out of range".into()))?;
                (state, snapshot.ctx, step, pending)
            }
        };
        let mut state = Some(start);
        let mut ctx = Some(WorkflowCtx::new(id, cx));
        let mut commands = Vec::new();
        let mut resolutions = Vec::new();
        let mut snapshots = Vec::new();
        let mut wake: Option<Resolution> = None;
        let mut continued = 0u32;
        if let (Some(st), Some(cx)) = (&state, &ctx) {
            let envelope = step::encode::<W>(st, u64::from(step), &cx.state_ref())
                .map_err(|e| driver.snapshot_error(step, e.to_string()))?;
            driver.checkpoint::<W>(step, &envelope, &mut state, &mut ctx, &mut snapshots)?;
        }
        loop {
            if let Some(pending) = waiting_on.take() {
                let mut resolution = driver.wait(step, &pending).await?;
                if driver.config.snapshot_every_await {
                    resolution = driver.round_trip(step, &resolution)?;
                }
                commands.push(pending);
                resolutions.push(resolution.clone());
                wake = Some(resolution);
            }
            if step >= driver.config.max_steps {
                return Err(TestError::StepLimit {
                    id: driver.config.id.clone(),
                    max_steps: driver.config.max_steps,
                });
            }
            step += 1;
            let (Some(st), Some(cx)) = (state.as_mut(), ctx.as_ref()) else {
                return Err(driver.snapshot_error(step, "no state to resume".into()));
            };
            if let Some(at) = driver.cancelled_at {
                cx.cancel_requested(at);
            }
            let woken_by = wake.take();
            let limit = driver.config.max_snapshot_bytes;
            match step::run::<W>(st, cx, woken_by, driver.now_ms, u64::from(step), limit) {
                Err(StepFailure::Panicked { message, .. }) => {
                    return Err(TestError::Panicked {
                        id: driver.config.id.clone(),
                        step,
                        message,
                    });
                }
                Err(StepFailure::Resume { error, .. }) => {
                    return Err(TestError::Resume {
                        id: driver.config.id.clone(),
                        step,
                        error,
                    });
                }
                Err(StepFailure::Unsaved { reason, .. }) => {
                    return Err(driver.snapshot_error(step, reason));
                }
                Err(StepFailure::TooLarge { size, limit, .. }) => {
                    return Err(TestError::SnapshotTooLarge {
                        id: driver.config.id.clone(),
                        step,
                        size,
                        limit,
                    });
                }
                Err(e @ StepFailure::ContinuedThenAwaited { .. }) => {
                    return Err(TestError::Continue {
                        id: driver.config.id.clone(),
                        step,
                        reason: e.to_string(),
                    });
                }
                Ok(Stepped {
                    outcome:
                        Outcome::Continued {
                            workflow,
                            version,
                            input,
                        },
                    ..
                }) => {
                    let refused = |reason: String| TestError::Continue {
                        id: driver.config.id.clone(),
                        step,
                        reason,
                    };
                    if (workflow, version) != (W::NAME, W::VERSION) {
                        return Err(refused(format!(
                            "it names {workflow} v{version}, and this test runs {} v{}",
                            W::NAME,
                            W::VERSION
                        )));
                    }
                    let input: W::Input = crate::codec::decode_exact(&input)
                        .map_err(|e| refused(format!("its input does not decode: {e}")))?;
                    // The run starts over, its context going on (see `continue_as_new`).
                    let mut next = cx.state();
                    next.now_ms = driver.now_ms;
                    let next_state = W::start(input);
                    // The chain's steps go on counting, as the runtime counts them.
                    let envelope = step::encode::<W>(&next_state, u64::from(step), &next)
                        .map_err(|e| driver.snapshot_error(step, e.to_string()))?;
                    state = Some(next_state);
                    ctx = Some(WorkflowCtx::new(driver.config.id.clone(), next));
                    continued = continued.saturating_add(1);
                    driver.checkpoint::<W>(
                        step,
                        &envelope,
                        &mut state,
                        &mut ctx,
                        &mut snapshots,
                    )?;
                    waiting_on = None;
                }
                Ok(Stepped {
                    outcome: Outcome::Completed { output, .. },
                    ..
                }) => {
                    let mut unconsumed = driver.buffered;
                    unconsumed.sort_by_key(|s| s.order);
                    let published = ctx
                        .as_ref()
                        .map(|cx| crate::runtime::published::as_json(cx.state_ref().published()))
                        .unwrap_or_default();
                    return Ok(TestOutcome {
                        continued_as_new: continued,
                        published,
                        output,
                        commands,
                        resolutions,
                        steps: step,
                        activity_calls: driver.calls,
                        signals: driver.delivered,
                        unconsumed_signals: unconsumed.into_iter().map(|s| s.name).collect(),
                        snapshots,
                        started_at,
                        finished_at: to_time(driver.now_ms),
                        cancel_requested_at: driver.cancelled_at.map(to_time),
                    });
                }
                Ok(Stepped {
                    outcome: Outcome::Suspended(pending),
                    snapshot,
                }) => {
                    // Before the checkpoint, which may rebuild the context from the snapshot.
                    driver.child_calls = cx.take_child_calls();
                    driver.checkpoint::<W>(
                        step,
                        &snapshot,
                        &mut state,
                        &mut ctx,
                        &mut snapshots,
                    )?;
                    waiting_on = Some(pending);
                }
            }
        }
    }
}

/// The mutable side of one run.
struct Driver {
    config: Config,
    /// The virtual clock, in milliseconds since the Unix epoch.
    now_ms: u64,
    /// Signals sent and not yet received, by time sent.
    buffered: Vec<QueuedSignal>,
    /// The order of the next signal sent during the run.
    next_order: usize,
    /// How many waits for each signal name the workflow has started.
    waits: HashMap<String, usize>,
    calls: Vec<ActivityCallRecord>,
    delivered: Vec<DeliveredSignal>,
    /// When the run was asked to cancel, once it was.
    cancelled_at: Option<u64>,
    /// The child calls of the last step, with what their waits do not record (their
    /// execution timeouts).
    child_calls: Vec<crate::context::ChildNote>,
}

/// A leaf of the tree being waited on, with what the driver knows of it.
struct Leaf<'p> {
    node: &'p Pending,
    position: usize,
    /// For an activity: its index in `Driver::calls`, and when it completes.
    call: Option<(usize, u64)>,
    /// For a child call: its answer, and when it comes.
    child: Option<(Result<Vec<u8>, ChildError>, u64)>,
    result: Option<Resolution>,
    /// For a signal: the signal it took from the buffer (put back if its branch loses).
    taken: Option<QueuedSignal>,
    /// Under a `select` that another branch has won: it will never complete.
    cancelled: bool,
    /// Its result is part of the tree's resolution.
    delivered: bool,
}

/// The leaves of one tree, found by the address of their node.
struct Leaves<'p> {
    leaves: Vec<Leaf<'p>>,
    by_node: HashMap<usize, usize>,
}

impl<'p> Leaves<'p> {
    fn new(pending: &'p Pending) -> Self {
        let leaves: Vec<Leaf<'p>> = pending
            .leaves()
            .into_iter()
            .enumerate()
            .map(|(position, node)| Leaf {
                node,
                position,
                call: None,
                child: None,
                result: None,
                taken: None,
                cancelled: false,
                delivered: false,
            })
            .collect();
        let by_node = leaves
            .iter()
            .enumerate()
            .map(|(i, l)| (address(l.node), i))
            .collect();
        Leaves { leaves, by_node }
    }

    fn get(&self, node: &Pending) -> Option<&Leaf<'p>> {
        self.by_node.get(&address(node)).map(|&i| &self.leaves[i])
    }

    fn get_mut(&mut self, node: &Pending) -> Option<&mut Leaf<'p>> {
        self.by_node
            .get(&address(node))
            .map(|&i| &mut self.leaves[i])
    }

    /// The tree's resolution from its leaves' results so far, with the runtime's resolver.
    fn resolve(&self, node: &Pending) -> Option<Resolution> {
        node.try_resolve(&mut |leaf: &Pending| self.get(leaf).and_then(|l| l.result.clone()))
    }

    /// Marks the leaves below every resolved `select` that have not completed as cancelled.
    fn cancel_losers(&mut self, node: &Pending) {
        match node {
            Pending::Join(children) => children.iter().for_each(|c| self.cancel_losers(c)),
            Pending::Select(children) => {
                if self.resolve(node).is_some() {
                    for leaf in node.leaves() {
                        if let Some(l) = self.get_mut(leaf) {
                            l.cancelled |= l.result.is_none();
                        }
                    }
                } else {
                    children.iter().for_each(|c| self.cancel_losers(c));
                }
            }
            _ => {}
        }
    }

    /// Gives the leaves `resolution` uses the oldest signals of their name the leaves took, as
    /// the runtime does ([`oldest_signals_to_used`](crate::durable::oldest_signals_to_used)),
    /// and resolves the tree again (the same leaves are filled, so the same way).
    fn oldest_signals_first(&mut self, pending: &Pending, resolution: Resolution) -> Resolution {
        self.mark_delivered(pending, &resolution);
        let held: Vec<usize> = (0..self.leaves.len())
            .filter(|&i| self.leaves[i].taken.is_some())
            .collect();
        let keys: Vec<(&str, bool, (u64, usize))> = held
            .iter()
            .filter_map(|&i| {
                let leaf = &self.leaves[i];
                let s = leaf.taken.as_ref()?;
                Some((s.name.as_str(), leaf.delivered, (s.at_ms, s.order)))
            })
            .collect();
        let Some(from) = crate::durable::oldest_signals_to_used(&keys) else {
            return resolution;
        };
        let mut moved: Vec<_> = held
            .iter()
            .map(|&i| {
                let leaf = &mut self.leaves[i];
                Some((leaf.taken.take(), leaf.result.take()))
            })
            .collect();
        for (n, &i) in held.iter().enumerate() {
            if let Some((taken, result)) = moved[from[n]].take() {
                self.leaves[i].taken = taken;
                self.leaves[i].result = result;
            }
        }
        self.resolve(pending).unwrap_or(resolution)
    }

    /// Marks the leaves whose result is part of `resolution` as delivered.
    fn mark_delivered(&mut self, node: &Pending, resolution: &Resolution) {
        match (node, resolution) {
            (Pending::Join(children), Resolution::Join(rs)) => {
                children
                    .iter()
                    .zip(rs)
                    .for_each(|(c, r)| self.mark_delivered(c, r));
            }
            (Pending::Select(children), Resolution::Select(i, r)) => {
                if let Some(c) = children.get(*i as usize) {
                    self.mark_delivered(c, r);
                }
            }
            (leaf, _) => {
                if let Some(l) = self.get_mut(leaf) {
                    l.delivered = true;
                }
            }
        }
    }
}

fn address(node: &Pending) -> usize {
    std::ptr::from_ref(node) as usize
}

impl Driver {
    fn snapshot_error(&self, step: u32, reason: String) -> TestError {
        TestError::Snapshot {
            id: self.config.id.clone(),
            step,
            reason,
        }
    }

    /// Records the snapshot `envelope` of step `step` if asked, and in snapshot mode replaces
    /// the state and context by what the envelope restores to, checked as the runtime checks
    /// it ([`step::restore`]: workflow name, fingerprint, no byte left over) and required to
    /// encode back to the same bytes.
    fn checkpoint<W: Workflow>(
        &self,
        step: u32,
        envelope: &[u8],
        state: &mut Option<W::State>,
        ctx: &mut Option<WorkflowCtx>,
        snapshots: &mut Vec<Snapshot>,
    ) -> Result<(), TestError> {
        if !self.config.snapshot_every_await && !self.config.record_snapshots {
            return Ok(());
        }
        let fail = |reason: String| self.snapshot_error(step, reason);
        let (meta, restored) = crate::step::restore::<W>(envelope)
            .map_err(|e| fail(format!("the snapshot does not restore: {e}")))?;
        if self.config.snapshot_every_await {
            // Drop everything in memory, as a crash would, before restoring from the bytes.
            *state = None;
            *ctx = None;
            let again = step::encode::<W>(&restored, meta.step, &meta.ctx)
                .map_err(|e| fail(format!("the decoded state does not encode: {e}")))?;
            if again != envelope {
                return Err(fail(format!(
                    "the state decodes to {restored:?}, which encodes to other bytes"
                )));
            }
            *state = Some(restored);
            *ctx = Some(WorkflowCtx::new(self.config.id.clone(), meta.ctx.clone()));
        }
        if self.config.record_snapshots {
            let ctx_bytes = postcard::to_stdvec(&meta.ctx)
                .map_err(|e| fail(format!("the context does not encode: {e}")))?;
            snapshots.push(Snapshot {
                step,
                at: to_time(self.now_ms),
                state: meta.state,
                ctx: ctx_bytes,
                envelope: envelope.to_vec(),
            });
        }
        Ok(())
    }

    fn round_trip(&self, step: u32, resolution: &Resolution) -> Result<Resolution, TestError> {
        let bytes = postcard::to_stdvec(resolution).map_err(|e| {
            self.snapshot_error(step, format!("the resolution does not encode: {e}"))
        })?;
        postcard::from_bytes(&bytes)
            .map_err(|e| self.snapshot_error(step, format!("the resolution does not decode: {e}")))
    }

    /// Starts the activities of `pending`, then plays events in virtual-time order until the
    /// tree resolves.
    async fn wait(&mut self, step: u32, pending: &Pending) -> Result<Resolution, TestError> {
        let mut leaves = Leaves::new(pending);
        for leaf in &mut leaves.leaves {
            if let Pending::Activity {
                seq,
                name,
                input,
                options,
            } = leaf.node
            {
                leaf.call = Some(self.start_activity(*seq, name, input, options).await?);
            }
            if let Pending::Child {
                seq,
                name,
                id,
                input,
                ..
            } = leaf.node
            {
                leaf.child = Some(self.start_child(*seq, name, id, input).await?);
            }
        }
        self.answer_signal_waits(&leaves)?;
        loop {
            if let Some(resolution) = leaves.resolve(pending) {
                let resolution = leaves.oldest_signals_first(pending, resolution);
                self.finish_wait(pending, &resolution, leaves);
                return Ok(resolution);
            }
            leaves.cancel_losers(pending);
            // The next event: the earliest, ties broken by the configured order.
            let mut next: Option<(u64, u64, usize, Option<usize>)> = None;
            for (i, leaf) in leaves.leaves.iter().enumerate() {
                if leaf.result.is_some() || leaf.cancelled {
                    continue;
                }
                let Some((at, signal)) = self.ready_at(leaf) else {
                    continue;
                };
                let tie = self
                    .config
                    .tie_break
                    .key(leaf.position, leaf.node.seq().unwrap_or(0));
                let candidate = (at.max(self.now_ms), tie, i, signal);
                if next.is_none_or(|n| (candidate.0, candidate.1, candidate.2) < (n.0, n.1, n.2)) {
                    next = Some(candidate);
                }
            }
            // A cancel request, if it comes first, interrupts what the tree waits on; the end
            // of its grace period, if nothing comes before, stops the run.
            if let (None, Some((at, _))) = (self.cancelled_at, self.config.cancel) {
                let at = at.max(self.now_ms);
                if next.is_none_or(|n| at <= n.0) {
                    self.now_ms = at;
                    self.cancelled_at = Some(at);
                    interrupt(&mut leaves);
                    continue;
                }
            }
            // The end of the run's timeout stops it outright, unless something comes before
            // (or the end of a grace period, which stops it first).
            if let Some(end) = self.config.timeout_at {
                let end = end.max(self.now_ms);
                let grace_end = match (self.cancelled_at, self.config.cancel) {
                    (Some(since), Some((_, grace))) => Some(since.saturating_add(grace)),
                    _ => None,
                };
                if next.is_none_or(|n| end < n.0) && grace_end.is_none_or(|g| end <= g) {
                    self.now_ms = end;
                    return Err(TestError::TimedOut {
                        id: self.config.id.clone(),
                        step,
                        at: to_time(end),
                    });
                }
            }
            if let (Some(since), Some((_, grace))) = (self.cancelled_at, self.config.cancel) {
                let at = since.saturating_add(grace).max(self.now_ms);
                if next.is_none_or(|n| at < n.0) {
                    return Err(TestError::Terminated {
                        id: self.config.id.clone(),
                        step,
                        at: to_time(at),
                    });
                }
            }
            let Some((at, _, i, signal)) = next else {
                let waiting_for = leaves
                    .leaves
                    .iter()
                    .filter(|l| l.result.is_none() && !l.cancelled)
                    .map(|l| describe(l.node))
                    .collect();
                return Err(TestError::Stuck {
                    id: self.config.id.clone(),
                    step,
                    waiting_for,
                    pending: Box::new(pending.clone()),
                    at: to_time(self.now_ms),
                });
            };
            self.now_ms = at;
            let leaf = &mut leaves.leaves[i];
            leaf.result = Some(match (leaf.node, leaf.call, signal) {
                (Pending::Activity { .. }, Some((call, _)), _) => {
                    Resolution::Activity(self.calls[call].result.clone())
                }
                (Pending::Child { .. }, ..) => match &leaf.child {
                    Some((answer, _)) => Resolution::Child(answer.clone()),
                    None => Resolution::Timer,
                },
                (Pending::Signal { .. }, _, Some(b)) => {
                    let taken = self.buffered.remove(b);
                    let resolution = Resolution::Signal {
                        event: taken.order as u64,
                        payload: taken.payload.clone(),
                        type_tag: Some(taken.type_tag),
                    };
                    leaf.taken = Some(taken);
                    resolution
                }
                _ => Resolution::Timer,
            });
        }
    }

    /// Records what the resolved tree delivered, and puts back the signals taken by branches
    /// that lost.
    fn finish_wait(&mut self, pending: &Pending, resolution: &Resolution, mut leaves: Leaves<'_>) {
        leaves.mark_delivered(pending, resolution);
        for leaf in leaves.leaves {
            if let (Some((call, _)), true) = (leaf.call, leaf.delivered) {
                self.calls[call].delivered = true;
            }
            if let Some(signal) = leaf.taken {
                if leaf.delivered {
                    self.delivered.push(DeliveredSignal {
                        name: signal.name,
                        seq: leaf.node.seq().unwrap_or(0),
                        sent_at: to_time(signal.at_ms),
                        delivered_at: to_time(self.now_ms),
                    });
                } else {
                    let at = self
                        .buffered
                        .partition_point(|s| (s.at_ms, s.order) < (signal.at_ms, signal.order));
                    self.buffered.insert(at, signal);
                }
            }
        }
    }

    /// Asks [`TestRun::on_signal_wait`] for a signal for each wait of `leaves` that no arrived
    /// signal will satisfy, and sends what it answers now.
    fn answer_signal_waits(&mut self, leaves: &Leaves<'_>) -> Result<(), TestError> {
        let mut arrived: HashMap<&str, usize> = HashMap::new();
        for leaf in &leaves.leaves {
            let Pending::Signal { seq, name } = leaf.node else {
                continue;
            };
            let count = self.waits.entry(name.clone()).or_default();
            let index = *count;
            *count += 1;
            let now = self.now_ms;
            let available = arrived.entry(name).or_insert_with(|| {
                self.buffered
                    .iter()
                    .filter(|s| s.name == *name && s.at_ms <= now)
                    .count()
            });
            if *available > 0 {
                *available -= 1;
                continue;
            }
            let Some(respond) = self.config.responders.get_mut(name) else {
                continue;
            };
            let wait = SignalWaitInfo {
                name,
                seq: *seq,
                index,
                at: to_time(now),
            };
            let answer = respond(&wait).map_err(|reason| TestError::SignalPayload {
                name: name.clone(),
                reason,
            })?;
            if let Some((payload, type_tag)) = answer {
                let signal = QueuedSignal {
                    order: self.next_order,
                    name: name.clone(),
                    at_ms: now,
                    payload,
                    type_tag,
                };
                self.next_order += 1;
                let at = self
                    .buffered
                    .partition_point(|s| (s.at_ms, s.order) < (signal.at_ms, signal.order));
                self.buffered.insert(at, signal);
            }
        }
        Ok(())
    }

    /// The answer to child call `seq` (`name` run `id` with `input`), and when it comes.
    async fn start_child(
        &mut self,
        seq: u64,
        name: &str,
        id: &str,
        input: &[u8],
    ) -> Result<(Result<Vec<u8>, ChildError>, u64), TestError> {
        if name == crate::saga::COMPENSATE_WORKFLOW && !self.config.children.contains_key(name) {
            return self.compensate(id, input).await;
        }
        let Some(handler) = self.config.children.get_mut(name) else {
            return Err(TestError::NoChildHandler {
                name: name.to_string(),
                seq,
            });
        };
        let timeout_ms = self
            .child_calls
            .iter()
            .find(|n| n.seq == seq)
            .and_then(|n| n.timeout_ms);
        let (answer, took) =
            handler(id, input, self.now_ms, timeout_ms).map_err(|reason| TestError::ChildRun {
                name: name.to_string(),
                id: id.to_string(),
                reason,
            })?;
        Ok((answer, self.now_ms.saturating_add(took)))
    }

    /// A promise wait: answered by [`TestRun::complete_promises_after`], or never (its
    /// completion time is then `u64::MAX`, which [`Driver::ready_at`] reads as never).
    fn start_promise(&mut self, seq: u64, input: &[u8]) -> Result<(usize, u64), TestError> {
        let call_error = |reason: String| TestError::ActivityCall {
            name: crate::promise::PROMISE_ACTIVITY.to_string(),
            seq,
            reason,
        };
        let (result, completes_ms) = match &self.config.promise_answer {
            Some((delay, tag, bytes)) => {
                let expected = crate::promise::task_input(input).map(|(t, _)| t);
                if expected != Some(*tag) {
                    return Err(call_error(
                        "the value given to complete_promises_after is not of the type the wait expects"
                            .to_string(),
                    ));
                }
                let completed = crate::promise::Completed {
                    type_tag: *tag,
                    bytes: bytes.clone(),
                };
                let encoded = encode_output(&completed).map_err(call_error)?;
                (Ok(encoded), self.now_ms.saturating_add(*delay))
            }
            None => (
                Err(ActivityError::new(
                    ActivityErrorKind::Cancelled,
                    "never completed",
                )),
                u64::MAX,
            ),
        };
        self.calls.push(ActivityCallRecord {
            name: crate::promise::PROMISE_ACTIVITY.to_string(),
            seq,
            input: input.to_vec(),
            result,
            started_at: to_time(self.now_ms),
            completed_at: to_time(completes_ms.min(i64::MAX as u64)),
            delivered: false,
        });
        Ok((self.calls.len() - 1, completes_ms))
    }

    /// Runs a saga's compensations ([`crate::Saga::compensate`]) with the run's activity
    /// answers, one after the other, as the runtime's compensation run does: the report, and
    /// when the last one ends.
    async fn compensate(
        &mut self,
        id: &str,
        input: &[u8],
    ) -> Result<(Result<Vec<u8>, ChildError>, u64), TestError> {
        let steps: Vec<crate::saga::Compensation> =
            codec::decode_exact(input).map_err(|reason| TestError::ChildRun {
                name: crate::saga::COMPENSATE_WORKFLOW.to_string(),
                id: id.to_string(),
                reason,
            })?;
        let started = self.now_ms;
        let mut report = crate::SagaReport::default();
        for (seq, c) in steps.into_iter().enumerate() {
            let error = match &c.input {
                Ok(bytes) => {
                    let (call, done) = self
                        .start_activity(seq as u64, &c.activity, bytes, &c.options)
                        .await?;
                    self.calls[call].delivered = true;
                    self.now_ms = self.now_ms.max(done);
                    self.calls[call].result.clone().err()
                }
                Err(reason) => Some(ActivityError::new(
                    ActivityErrorKind::BadCall,
                    format!("its input did not encode: {reason}"),
                )),
            };
            report.compensations.push(crate::Compensated {
                activity: c.activity,
                error,
            });
        }
        let ended = std::mem::replace(&mut self.now_ms, started);
        let bytes = encode_output(&report).map_err(|reason| TestError::ChildRun {
            name: crate::saga::COMPENSATE_WORKFLOW.to_string(),
            id: id.to_string(),
            reason,
        })?;
        Ok((Ok(bytes), ended))
    }

    async fn start_activity(
        &mut self,
        seq: u64,
        name: &str,
        input: &[u8],
        options: &ActivityOptions,
    ) -> Result<(usize, u64), TestError> {
        let info = ActivityCallInfo {
            name,
            seq,
            index: self.calls.len(),
            started_at: to_time(self.now_ms),
            input,
            options,
        };
        if name == crate::promise::PROMISE_ACTIVITY {
            return self.start_promise(seq, input);
        }
        let injected = self.config.failures.as_mut().and_then(|f| f(&info));
        let latency = self
            .config
            .latency
            .as_mut()
            .map_or(Duration::ZERO, |f| f(&info));
        let result = match injected {
            Some(error) => Err(error),
            None => {
                let Some(handler) = self.config.handlers.get_mut(name) else {
                    return Err(TestError::NoActivityHandler {
                        name: name.to_string(),
                        seq,
                    });
                };
                let ctx = ActivityCtx::new(
                    self.config.id.clone(),
                    seq,
                    1,
                    None,
                    None,
                    Default::default(),
                );
                let call_error = |reason: String| TestError::ActivityCall {
                    name: name.to_string(),
                    seq,
                    reason,
                };
                match handler(ctx, input).map_err(call_error)? {
                    Answer::Ready(r) => r,
                    Answer::Later(body) => body.await.map_err(call_error)?,
                }
            }
        };
        // The workflow sees the call's final error: one attempt was made.
        let result = result.map_err(|mut e| {
            e.attempts = e.attempts.max(1);
            e
        });
        let completes_ms = self.now_ms.saturating_add(millis(latency));
        self.calls.push(ActivityCallRecord {
            name: name.to_string(),
            seq,
            input: input.to_vec(),
            result,
            started_at: to_time(self.now_ms),
            completed_at: to_time(completes_ms),
            delivered: false,
        });
        Ok((self.calls.len() - 1, completes_ms))
    }

    /// When `leaf` can complete, if ever, given what has happened so far; for a signal, also
    /// which buffered signal it would receive.
    fn ready_at(&self, leaf: &Leaf<'_>) -> Option<(u64, Option<usize>)> {
        match leaf.node {
            Pending::Activity { .. } => leaf
                .call
                .filter(|(_, at)| *at != u64::MAX)
                .map(|(_, at)| (at, None)),
            Pending::Timer { fire_at, .. } => Some((*fire_at, None)),
            Pending::Signal { name, .. } => {
                let i = self.buffered.iter().position(|s| s.name == *name)?;
                Some((self.buffered[i].at_ms, Some(i)))
            }
            Pending::Child { .. } => leaf.child.as_ref().map(|(_, at)| (*at, None)),
            Pending::Join(_) | Pending::Select(_) => None,
        }
    }
}

/// What a cancel request does to the leaves a tree still waits on: activity calls answer
/// `Cancelled`, timers fire, child calls answer that the child was cancelled (or abandoned);
/// signal waits go on.
fn interrupt(leaves: &mut Leaves<'_>) {
    for leaf in &mut leaves.leaves {
        if leaf.result.is_some() || leaf.cancelled {
            continue;
        }
        leaf.result = match leaf.node {
            Pending::Activity { name, .. } => Some(Resolution::Activity(Err(ActivityError::new(
                ActivityErrorKind::Cancelled,
                format!("the run was cancelled while it waited for activity {name}"),
            )))),
            Pending::Timer { .. } => Some(Resolution::Timer),
            // A saga's compensations go on.
            Pending::Child { name, .. } if name == crate::saga::COMPENSATE_WORKFLOW => None,
            Pending::Child { id, close, .. } => Some(Resolution::Child(Err(
                if *close == crate::ParentClose::Abandon {
                    ChildError::Abandoned { id: id.clone() }
                } else {
                    ChildError::Cancelled { id: id.clone() }
                },
            ))),
            Pending::Signal { .. } | Pending::Join(_) | Pending::Select(_) => None,
        };
    }
}

fn describe(node: &Pending) -> String {
    match node {
        Pending::Signal { seq, name } => format!("signal `{name}` (seq {seq})"),
        Pending::Activity { seq, name, .. } => format!("activity `{name}` (seq {seq})"),
        Pending::Timer { seq, fire_at } => format!("timer (seq {seq}) firing at {fire_at} ms"),
        Pending::Child { seq, name, id, .. } => format!("child `{name}` {id} (seq {seq})"),
        Pending::Select(v) if v.is_empty() => "an empty select, which never resolves".into(),
        other => other.kind().into(),
    }
}

fn decode_input<A: Activity>(bytes: &[u8]) -> Result<A::Input, String> {
    postcard::from_bytes(bytes).map_err(|e| {
        format!(
            "its input does not decode as the input of `{}`: {e}",
            A::NAME
        )
    })
}

fn encode_output<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    postcard::to_stdvec(value).map_err(|e| format!("its result does not encode: {e}"))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn to_time(ms: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .unwrap_or(UNIX_EPOCH)
}

fn panicked(panic: &(dyn std::any::Any + Send)) -> ActivityError {
    ActivityError::new(ActivityErrorKind::Panicked, panic_message(panic))
}

/// Polls `body` to its end, turning a panic inside it into its message.
async fn catch_unwind_future<T>(mut body: BoxFuture<'static, T>) -> Result<T, String> {
    std::future::poll_fn(move |cx| {
        match catch_unwind(AssertUnwindSafe(|| body.as_mut().poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic_message(&*panic))),
        }
    })
    .await
}

/// Runs a future to its end in this thread, parking while it is pending.
fn block_on<F: Future>(future: F) -> F::Output {
    struct ThreadWaker(std::thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park(),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The driver against a hand-written [`Workflow`]: a small interpreter whose input is a
    //! script of durable operations, so each test states the shape it needs in one line.

    use super::*;
    use crate::durable::Durable;
    use crate::workflow::Step;
    use crate::{Select2, WorkflowError};
    use serde::{Deserialize, Serialize};

    /// An activity that returns its input plus one.
    #[derive(Clone, Copy, Debug)]
    struct Echo;
    impl Activity for Echo {
        const NAME: &'static str = "echo";
        type Input = u64;
        type Output = Result<u64, ActivityError>;
        fn run(self, _ctx: ActivityCtx, input: u64) -> BoxFuture<'static, Self::Output> {
            Box::pin(async move {
                if input == 13 {
                    Err(ActivityError::non_retryable("unlucky"))
                } else {
                    Ok(input + 1)
                }
            })
        }
    }

    /// An activity whose body panics.
    #[derive(Clone, Copy, Debug)]
    struct Explode;
    impl Activity for Explode {
        const NAME: &'static str = "explode";
        type Input = ();
        type Output = Result<(), ActivityError>;
        fn run(self, _ctx: ActivityCtx, _input: ()) -> BoxFuture<'static, Self::Output> {
            Box::pin(async move { panic!("kaboom") })
        }
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    enum Op {
        /// `ctx.activity(Echo, n).await`
        Echo(u64),
        /// `ctx.activity(Explode, ()).await`
        Explode,
        /// `ctx.sleep(ms).await`
        Sleep(u64),
        /// `ctx.signal::<String>(name).await`
        Signal(String),
        /// `ctx.signal::<String>(name).timeout(ms).await`
        SignalTimeout(String, u64),
        /// `ctx.join(vec![ctx.activity(Echo, n), ..]).await`
        JoinEcho(Vec<u64>),
        /// `ctx.select((ctx.activity(Echo, n), ctx.sleep(ms))).await`
        EchoOrSleep(u64, u64),
        /// `ctx.select((ctx.signal(a), ctx.signal(b))).await`
        EitherSignal(String, String),
        /// `ctx.select((ctx.join((ctx.signal(a), ctx.signal(b))), ctx.sleep(ms))).await`
        BothSignalsOrSleep(String, String, u64),
        /// `ctx.select(vec![]).await`: never resolves
        EmptySelect,
        /// `ctx.now()`, `ctx.random::<u64>()`, `ctx.uuid()`
        Clock,
        Panic,
    }

    #[derive(Debug, Serialize, Deserialize)]
    enum ScriptState {
        Running {
            ops: Vec<Op>,
            pc: usize,
            log: Vec<String>,
        },
        Returned,
    }

    #[derive(Clone, Copy, Debug)]
    struct Script;

    fn echo(ctx: &WorkflowCtx, n: u64) -> crate::ActivityCall<Echo> {
        ctx.activity(Echo, n)
    }

    fn show<T: fmt::Debug>(r: Result<T, ActivityError>) -> String {
        match r {
            Ok(v) => format!("{v:?}"),
            Err(e) => format!("error {:?} {} x{}", e.kind, e.message, e.attempts),
        }
    }

    impl Script {
        /// Schedules the operation `op`, or runs it if it is not durable (`None`).
        fn schedule(
            op: &Op,
            ctx: &WorkflowCtx,
            log: &mut Vec<String>,
        ) -> Result<Option<Pending>, ResumeError> {
            let ms = Duration::from_millis;
            Ok(Some(match op {
                Op::Echo(n) => echo(ctx, *n).schedule(ctx)?,
                Op::Explode => ctx.activity(Explode, ()).schedule(ctx)?,
                Op::Sleep(t) => ctx.sleep(ms(*t)).schedule(ctx)?,
                Op::Signal(name) => ctx.signal::<String>(name.clone()).schedule(ctx)?,
                Op::SignalTimeout(name, t) => ctx
                    .signal::<String>(name.clone())
                    .timeout(ms(*t))
                    .schedule(ctx)?,
                Op::JoinEcho(ns) => ctx
                    .join(ns.iter().map(|n| echo(ctx, *n)).collect::<Vec<_>>())
                    .schedule(ctx)?,
                Op::EchoOrSleep(n, t) => ctx
                    .select((echo(ctx, *n), ctx.sleep(ms(*t))))
                    .schedule(ctx)?,
                Op::EitherSignal(a, b) => ctx
                    .select((
                        ctx.signal::<String>(a.clone()),
                        ctx.signal::<String>(b.clone()),
                    ))
                    .schedule(ctx)?,
                Op::BothSignalsOrSleep(a, b, t) => ctx
                    .select((
                        ctx.join((
                            ctx.signal::<String>(a.clone()),
                            ctx.signal::<String>(b.clone()),
                        )),
                        ctx.sleep(ms(*t)),
                    ))
                    .schedule(ctx)?,
                Op::EmptySelect => ctx.select(Vec::<crate::Sleep>::new()).schedule(ctx)?,
                Op::Clock => {
                    let now = ctx
                        .now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_millis();
                    log.push(format!(
                        "now {now} random {} uuid {}",
                        ctx.random::<u64>(),
                        ctx.uuid()
                    ));
                    return Ok(None);
                }
                Op::Panic => panic!("the script says so"),
            }))
        }

        /// Decodes what woke operation `op`, as a line of the log.
        fn resolved(op: &Op, r: Resolution) -> Result<String, ResumeError> {
            type Call = crate::ActivityCall<Echo>;
            Ok(match op {
                Op::Echo(_) => show(Call::resolve(r)?),
                Op::Explode => show(crate::ActivityCall::<Explode>::resolve(r)?),
                Op::Sleep(_) => format!("{:?}", crate::Sleep::resolve(r)?),
                Op::Signal(_) => crate::SignalWait::<String>::resolve(r)?,
                Op::SignalTimeout(..) => {
                    format!("{:?}", crate::SignalTimeout::<String>::resolve(r)?)
                }
                Op::JoinEcho(_) => {
                    let all = crate::Join::<Vec<Call>>::resolve(r)?;
                    all.into_iter().map(show).collect::<Vec<_>>().join(",")
                }
                Op::EchoOrSleep(..) => match crate::Select::<(Call, crate::Sleep)>::resolve(r)? {
                    Select2::First(v) => format!("echo {}", show(v)),
                    Select2::Second(()) => "slept".into(),
                },
                Op::EitherSignal(..) => {
                    format!("{:?}", crate::Select::<(crate::SignalWait<String>, crate::SignalWait<String>)>::resolve(r)?)
                }
                Op::BothSignalsOrSleep(..) => format!(
                    "{:?}",
                    crate::Select::<(
                        crate::Join<(crate::SignalWait<String>, crate::SignalWait<String>)>,
                        crate::Sleep
                    )>::resolve(r)?
                ),
                Op::EmptySelect | Op::Clock | Op::Panic => {
                    return Err(ResumeError::UnexpectedWake {
                        state: format!("{op:?}"),
                        got: r.kind().into(),
                    });
                }
            })
        }
    }

    impl Workflow for Script {
        const NAME: &'static str = "script";
        type Input = Vec<Op>;
        type Output = Result<Vec<String>, WorkflowError>;
        type State = ScriptState;

        fn start(ops: Vec<Op>) -> ScriptState {
            ScriptState::Running {
                ops,
                pc: 0,
                log: Vec::new(),
            }
        }

        fn resume(
            state: &mut ScriptState,
            ctx: &WorkflowCtx,
            wake: Option<Resolution>,
        ) -> Step<Self::Output> {
            let ScriptState::Running { ops, pc, log } = state else {
                return Step::Failed(ResumeError::NotResumable("Returned".into()));
            };
            if let Some(r) = wake {
                let Some(op) = ops.get(*pc) else {
                    return Step::Failed(ResumeError::UnexpectedWake {
                        state: "past the end".into(),
                        got: r.kind().into(),
                    });
                };
                match Self::resolved(op, r) {
                    Ok(line) => log.push(line),
                    Err(e) => return Step::Failed(e),
                }
                *pc += 1;
            }
            while let Some(op) = ops.get(*pc) {
                match Self::schedule(op, ctx, log) {
                    Ok(Some(pending)) => return Step::Suspended(pending),
                    Ok(None) => *pc += 1,
                    Err(e) => return Step::Failed(e),
                }
            }
            let out = std::mem::take(log);
            *state = ScriptState::Returned;
            Step::Completed(Ok(out))
        }

        fn layout() -> &'static crate::Layout {
            static LAYOUT: crate::Layout = crate::Layout::fixed(1);
            &LAYOUT
        }

        fn description() -> &'static crate::Description {
            static D: crate::Description = crate::Description {
                workflow: "script",
                version: 1,
                states: &[],
                transitions: &[],
                layout: <Script as Workflow>::layout,
            };
            &D
        }

        fn is_failure(output: &Self::Output) -> bool {
            output.is_err()
        }
    }

    fn sig(name: &str) -> Op {
        Op::Signal(name.into())
    }

    fn script(ops: Vec<Op>) -> TestRun<Script> {
        TestRun::new(Script, "wf-1", ops)
    }

    /// Runs `run` straight and with snapshots at every await, checks both agree, returns one.
    fn both(make: impl Fn() -> TestRun<Script>) -> TestOutcome<Result<Vec<String>, WorkflowError>> {
        let straight = make().record_snapshots(true).run().expect("straight run");
        let restored = make()
            .snapshot_every_await(true)
            .record_snapshots(true)
            .run()
            .expect("restored run");
        assert_eq!(straight.output, restored.output);
        assert_eq!(straight.commands, restored.commands);
        assert_eq!(straight.resolutions, restored.resolutions);
        assert_eq!(straight.snapshots, restored.snapshots);
        assert_eq!(straight.finished_at, restored.finished_at);
        straight
    }

    fn log(outcome: &TestOutcome<Result<Vec<String>, WorkflowError>>) -> Vec<&str> {
        outcome
            .output
            .as_ref()
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    #[test]
    fn closures_and_real_activities_answer_calls() {
        let run = both(|| script(vec![Op::Echo(1), Op::Echo(13)]).with_activity(Echo));
        assert_eq!(log(&run), ["2", "error NonRetryable unlucky x1"]);
        assert_eq!(run.steps, 3);
        assert_eq!(run.commands.len(), 2);
        assert_eq!(run.activity_names(), ["echo", "echo"]);
        assert_eq!(run.inputs_of(Echo).unwrap(), vec![1, 13]);
        assert_eq!(run.activity_calls[0].output(Echo).unwrap(), Ok(2));

        let run =
            both(|| script(vec![Op::Echo(1), Op::Echo(13)]).on_activity(Echo, |n| Ok(n * 10)));
        assert_eq!(log(&run), ["10", "130"]);
    }

    #[test]
    fn closures_see_the_call_context_and_keep_state() {
        let mut seen = 0;
        let run = script(vec![Op::Echo(5), Op::Echo(5)])
            .on_activity_with_ctx(Echo, move |ctx, n| {
                seen += 1;
                assert_eq!((ctx.workflow_id(), ctx.attempt()), ("wf-1", 1));
                Ok(n + ctx.seq() * 100 + seen)
            })
            .run()
            .unwrap();
        assert_eq!(log(&run), ["6", "107"]);
    }

    #[test]
    fn panics_in_activities_become_errors() {
        let run = both(|| script(vec![Op::Explode]).with_activity(Explode));
        assert_eq!(log(&run), ["error Panicked kaboom x1"]);
        let run = script(vec![Op::Echo(1)])
            .on_activity(Echo, |_| panic!("closure"))
            .run()
            .unwrap();
        assert_eq!(log(&run), ["error Panicked closure x1"]);
    }

    #[test]
    fn a_call_without_an_answer_is_a_typed_error() {
        let err = script(vec![Op::Sleep(5), Op::Echo(1)]).run().unwrap_err();
        assert_eq!(
            err,
            TestError::NoActivityHandler {
                name: "echo".into(),
                seq: 1
            }
        );
        assert!(err.to_string().contains(".on_activity(echo"), "{err}");
    }

    #[test]
    fn the_clock_jumps_to_the_next_timer() {
        let week = 7 * 24 * 3600 * 1000;
        let start = std::time::Instant::now();
        let run = both(|| {
            script(vec![
                Op::Clock,
                Op::Sleep(week),
                Op::Clock,
                Op::Sleep(1),
                Op::Clock,
            ])
        });
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(run.elapsed(), Duration::from_millis(week + 1));
        let lines = log(&run);
        assert!(
            lines[0].starts_with(&format!("now {DEFAULT_START_MS} ")),
            "{lines:?}"
        );
        assert!(
            lines[2].starts_with(&format!("now {} ", DEFAULT_START_MS + week)),
            "{lines:?}"
        );
        assert!(
            lines[4].starts_with(&format!("now {} ", DEFAULT_START_MS + week + 1)),
            "{lines:?}"
        );
        // The random generator and uuids advance from snapshot to snapshot.
        assert_ne!(
            lines[0].split(" random ").nth(1),
            lines[2].split(" random ").nth(1)
        );
        assert_eq!(
            run.commands[0],
            Pending::Timer {
                seq: 0,
                fire_at: DEFAULT_START_MS + week
            }
        );
    }

    #[test]
    fn start_at_moves_the_clock_and_the_scheduled_signals() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1000);
        let run = script(vec![sig("go"), Op::Clock])
            .signal_after(Duration::from_secs(5), "go", "now")
            .start_at(t0)
            .run()
            .unwrap();
        assert_eq!(run.started_at, t0);
        assert_eq!(run.elapsed(), Duration::from_secs(5));
        assert!(log(&run)[1].starts_with("now 1005000 "));
    }

    #[test]
    fn signals_sent_up_front_are_buffered_in_order() {
        let run = both(|| {
            script(vec![sig("a"), sig("b"), sig("a")])
                .signal("a", "a1")
                .signal("b", "b1")
                .signal("a", "a2")
        });
        assert_eq!(log(&run), ["a1", "b1", "a2"]);
        assert_eq!(run.elapsed(), Duration::ZERO);
        assert_eq!(
            run.signals.iter().map(|s| s.seq).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert!(run.unconsumed_signals.is_empty());
    }

    #[test]
    fn signals_sent_later_arrive_on_the_virtual_clock() {
        let hour = Duration::from_secs(3600);
        let run = both(|| {
            script(vec![
                Op::SignalTimeout("ok".into(), 3_600_000),
                Op::SignalTimeout("ok".into(), 3_600_000),
            ])
            .signal_after(hour * 3 / 2, "ok", "late")
        });
        // The first wait times out after an hour; the signal arrives during the second.
        assert_eq!(log(&run), ["None", "Some(\"late\")"]);
        assert_eq!(run.elapsed(), hour * 3 / 2);
        assert_eq!(run.signals[0].delivered_at, run.finished_at);
    }

    #[test]
    fn signal_waits_can_be_answered_as_they_happen() {
        let run = both(|| {
            script(vec![sig("a"), Op::Sleep(10), sig("a"), sig("a")])
                .signal("a", "queued")
                .on_signal_wait("a", |wait| {
                    Some(format!("answer {} to seq {}", wait.index, wait.seq))
                })
        });
        // The queued signal is received first; the later waits are answered when they start.
        assert_eq!(
            log(&run),
            ["queued", "()", "answer 1 to seq 2", "answer 2 to seq 3"]
        );
        assert_eq!(run.signals[1].sent_at, run.signals[1].delivered_at);

        // A signal scheduled for later does not keep the wait from being answered now.
        let run = both(|| {
            script(vec![Op::SignalTimeout("a".into(), 100)])
                .signal_after(Duration::from_millis(50), "a", "later")
                .on_signal_wait("a", |_| Some("now"))
        });
        assert_eq!(log(&run), ["Some(\"now\")"]);
        assert_eq!(run.unconsumed_signals, ["a"]);

        // Two waits for the same name in one tree ask twice; no answer leaves the wait stuck.
        let run = both(|| {
            script(vec![Op::BothSignalsOrSleep("a".into(), "a".into(), 10)])
                .on_signal_wait("a", |w| Some(w.index.to_string()))
        });
        assert_eq!(log(&run), ["First((\"0\", \"1\"))"]);
        let err = script(vec![sig("a")])
            .on_signal_wait("a", |_| None::<String>)
            .run()
            .unwrap_err();
        assert!(matches!(err, TestError::Stuck { .. }), "{err:?}");
    }

    #[test]
    fn unreceived_signals_are_reported() {
        let run = script(vec![sig("a")])
            .signal("a", "x")
            .signal("zzz", 1u8)
            .signal("a", "y")
            .run()
            .unwrap();
        assert_eq!(run.unconsumed_signals, ["zzz", "a"]);
    }

    #[test]
    fn a_wait_nobody_can_end_is_a_typed_error() {
        let err = script(vec![Op::Echo(1), sig("approve")])
            .with_activity(Echo)
            .signal("other", 1u8)
            .run()
            .unwrap_err();
        let TestError::Stuck {
            id,
            step,
            waiting_for,
            pending,
            at,
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(
            (id.as_str(), *step, waiting_for.as_slice()),
            ("wf-1", 2, &["signal `approve` (seq 1)".to_string()][..])
        );
        assert_eq!(
            **pending,
            Pending::Signal {
                seq: 1,
                name: "approve".into()
            }
        );
        assert_eq!(*at, UNIX_EPOCH + Duration::from_millis(DEFAULT_START_MS));
        assert!(
            err.to_string()
                .contains("waits for signal `approve` (seq 1)"),
            "{err}"
        );

        // Timers first run out, then the wait is stuck.
        let err = script(vec![
            Op::BothSignalsOrSleep("a".into(), "b".into(), 10),
            sig("b"),
        ])
        .signal("a", "1")
        .run()
        .unwrap_err();
        let TestError::Stuck {
            waiting_for, at, ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(waiting_for, &["signal `b` (seq 3)".to_string()]);
        assert_eq!(
            *at,
            UNIX_EPOCH + Duration::from_millis(DEFAULT_START_MS + 10)
        );

        let err = script(vec![Op::EmptySelect]).run().unwrap_err();
        let TestError::Stuck { waiting_for, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(waiting_for.is_empty());
    }

    #[test]
    fn join_results_come_in_order_whatever_the_completion_order() {
        for tie in [
            TieBreak::SourceOrder,
            TieBreak::ReverseSourceOrder,
            TieBreak::Shuffled(7),
        ] {
            let run = both(|| {
                script(vec![Op::JoinEcho(vec![3, 13, 1])])
                    .with_activity(Echo)
                    .tie_break(tie)
                    .activity_latency(|call| {
                        Duration::from_secs(10 - call.input_as(Echo).unwrap_or(0) % 10)
                    })
            });
            assert_eq!(log(&run), ["4,error NonRetryable unlucky x1,2"]);
            assert_eq!(run.elapsed(), Duration::from_secs(9));
            assert!(run.activity_calls.iter().all(|c| c.delivered));
        }
    }

    #[test]
    fn an_empty_join_resolves_at_once() {
        let run = both(|| script(vec![Op::JoinEcho(vec![])]));
        assert_eq!(log(&run), [""]);
        assert_eq!(run.resolutions, [Resolution::Join(vec![])]);
    }

    #[test]
    fn select_is_won_by_the_earliest_event() {
        let fast = both(|| {
            script(vec![Op::EchoOrSleep(1, 1000)])
                .with_activity(Echo)
                .activity_latency(|_| Duration::from_millis(999))
        });
        assert_eq!(log(&fast), ["echo 2"]);
        assert!(fast.activity_calls[0].delivered);
        let slow = both(|| {
            script(vec![Op::EchoOrSleep(1, 1000)])
                .with_activity(Echo)
                .activity_latency(|_| Duration::from_millis(1001))
        });
        assert_eq!(log(&slow), ["slept"]);
        assert!(!slow.activity_calls[0].delivered);
        assert_eq!(slow.elapsed(), Duration::from_millis(1000));
    }

    #[test]
    fn ties_follow_the_tie_break() {
        let tie = |t: TieBreak| {
            both(|| {
                script(vec![Op::EchoOrSleep(1, 1000)])
                    .with_activity(Echo)
                    .activity_latency(|_| Duration::from_millis(1000))
                    .tie_break(t)
            })
        };
        assert_eq!(log(&tie(TieBreak::SourceOrder)), ["echo 2"]);
        assert_eq!(log(&tie(TieBreak::ReverseSourceOrder)), ["slept"]);
        // Shuffled: some seed picks each branch, and a seed always picks the same one.
        let picks: Vec<String> = (0..16)
            .map(|s| log(&tie(TieBreak::Shuffled(s)))[0].to_string())
            .collect();
        assert!(
            picks.iter().any(|p| p == "slept") && picks.iter().any(|p| p == "echo 2"),
            "{picks:?}"
        );
        assert_eq!(
            log(&tie(TieBreak::Shuffled(3))),
            log(&tie(TieBreak::Shuffled(3)))
        );

        // Two buffered signals: the select takes one, the other stays buffered for later.
        let run = both(|| {
            script(vec![
                Op::EitherSignal("a".into(), "b".into()),
                sig("a"),
                sig("b"),
            ])
            .signal("b", "B")
            .signal("a", "A")
            .signal("a", "A2")
        });
        assert_eq!(log(&run), ["First(\"A\")", "A2", "B"]);
    }

    #[test]
    fn a_lost_branch_gives_its_signals_back() {
        let run = both(|| {
            script(vec![
                Op::BothSignalsOrSleep("a".into(), "b".into(), 10),
                sig("a"),
            ])
            .signal("a", "first")
            .signal_after(Duration::from_millis(20), "b", "too late")
        });
        // `a` was taken by the join, which lost to the timer: the next wait receives it.
        assert_eq!(log(&run), ["Second(())", "first"]);
        assert_eq!(run.unconsumed_signals, ["b"]);
        assert_eq!(run.signals.len(), 1);
        assert_eq!(run.signals[0].seq, 3);

        let run = both(|| {
            script(vec![Op::BothSignalsOrSleep("a".into(), "b".into(), 10)])
                .signal("b", "B")
                .signal_after(Duration::from_millis(10), "a", "A")
        });
        // Both signals are there when the timer fires: the join is written first and wins the tie.
        assert_eq!(log(&run), ["First((\"A\", \"B\"))"]);
    }

    #[test]
    fn a_snapshot_holds_the_state_and_the_context() {
        let run = script(vec![Op::Echo(1), Op::Sleep(5)])
            .with_activity(Echo)
            .record_snapshots(true)
            .run()
            .unwrap();
        assert_eq!(
            run.snapshots.iter().map(|s| s.step).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        let (state, ctx) = run.snapshots[2].decode(Script).unwrap();
        let ScriptState::Running { pc, log, .. } = state else {
            panic!("{state:?}")
        };
        assert_eq!((pc, log), (1, vec!["2".to_string()]));
        assert_eq!(ctx.seq, 2);
        assert!(run.snapshots[1].decode(Script).is_ok());
        let garbage = Snapshot {
            step: 9,
            at: UNIX_EPOCH,
            state: vec![7, 7, 7],
            ctx: vec![],
            envelope: vec![7, 7, 7],
        };
        assert!(matches!(
            garbage.decode(Script),
            Err(TestError::Decode { .. })
        ));
        // A snapshot of another workflow (or other code) is refused, as a store's would be.
        let mut other = run.snapshots[2].clone();
        other.envelope = crate::machine::Snapshot::encode("lossy", 2, 2, ctx, &7u8).unwrap();
        let err = other.decode(Script).unwrap_err();
        assert!(err.to_string().contains("lossy"), "{err}");
    }

    #[test]
    fn a_run_resumes_from_a_stored_snapshot_of_its_own_code_only() {
        let make = || script(vec![Op::Echo(1), Op::Sleep(5), Op::Echo(3)]).with_activity(Echo);
        let full = make().record_snapshots(true).run().unwrap();
        let (state, ctx) = full.snapshots[2].decode(Script).unwrap();
        let stored = |name: &str, fingerprint: u64| {
            let bytes =
                crate::machine::Snapshot::encode(name, fingerprint, 2, &ctx, &state).unwrap();
            crate::machine::Snapshot::decode(&bytes).unwrap()
        };
        let resume = |snapshot| {
            TestRun::resume_from(Script, "wf-1", snapshot, Some(full.commands[1].clone()))
                .with_activity(Echo)
                .snapshot_every_await(true)
                .record_snapshots(true)
                .run()
        };
        let run = resume(stored("script", 1)).unwrap();
        assert_eq!(run.output, full.output);
        assert_eq!((run.steps, run.finished_at), (full.steps, full.finished_at));
        assert_eq!(run.commands, full.commands[1..]);
        assert_eq!(run.snapshots, full.snapshots[2..]);
        for refused in [stored("script", 2), stored("other", 1)] {
            let err = resume(refused).unwrap_err();
            assert!(matches!(err, TestError::Decode { .. }), "{err:?}");
        }
    }

    #[test]
    fn failures_can_be_injected_into_any_call() {
        let run = both(|| {
            script(vec![Op::Echo(1), Op::Echo(2), Op::Echo(3)])
                .with_activity(Echo)
                .inject_failure(|call| {
                    (call.index == 1).then(|| ActivityError::retryable(format!("seq {}", call.seq)))
                })
        });
        assert_eq!(log(&run), ["2", "error Failed seq 1 x1", "4"]);
    }

    #[test]
    fn a_failed_or_panicking_step_is_a_typed_error() {
        let err = script(vec![Op::Echo(1), Op::Panic])
            .with_activity(Echo)
            .run()
            .unwrap_err();
        assert_eq!(
            err,
            TestError::Panicked {
                id: "wf-1".into(),
                step: 2,
                message: "the script says so".into()
            }
        );
        // A signal whose payload is not the type the workflow waits for.
        let err = script(vec![sig("n")])
            .signal("n", 300u64)
            .snapshot_every_await(true)
            .run()
            .unwrap_err();
        assert!(
            matches!(
                err,
                TestError::Resume {
                    step: 2,
                    error: ResumeError::SignalPayload { event: 0, .. },
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn endless_workflows_stop_at_the_step_limit() {
        let err = script(vec![Op::Sleep(1); 100])
            .max_steps(10)
            .run()
            .unwrap_err();
        assert_eq!(
            err,
            TestError::StepLimit {
                id: "wf-1".into(),
                max_steps: 10
            }
        );
        assert!(script(vec![Op::Sleep(1); 9]).max_steps(10).run().is_ok());
    }

    #[test]
    fn a_payload_that_does_not_encode_is_reported() {
        struct Unencodable;
        impl Serialize for Unencodable {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("no"))
            }
        }
        let err = script(vec![]).signal("x", Unencodable).run().unwrap_err();
        assert!(
            matches!(&err, TestError::SignalPayload { name, .. } if name == "x"),
            "{err:?}"
        );
    }

    #[test]
    fn a_state_that_does_not_round_trip_is_caught() {
        /// A workflow whose state loses information when decoded.
        #[derive(Clone, Copy)]
        struct Lossy;
        #[derive(Debug)]
        struct LossyState(u8);
        impl Serialize for LossyState {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_u8(self.0)
            }
        }
        impl<'de> Deserialize<'de> for LossyState {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                u8::deserialize(d).map(|v| LossyState(v / 2))
            }
        }
        impl Workflow for Lossy {
            const NAME: &'static str = "lossy";
            type Input = ();
            type Output = u8;
            type State = LossyState;
            fn start(_: ()) -> LossyState {
                LossyState(3)
            }
            fn resume(
                state: &mut LossyState,
                _ctx: &WorkflowCtx,
                _wake: Option<Resolution>,
            ) -> Step<u8> {
                Step::Completed(state.0)
            }
            fn layout() -> &'static crate::Layout {
                static LAYOUT: crate::Layout = crate::Layout::fixed(2);
                &LAYOUT
            }

            fn description() -> &'static crate::Description {
                static D: crate::Description = crate::Description {
                    workflow: "lossy",
                    version: 1,
                    states: &[],
                    transitions: &[],
                    layout: <Lossy as Workflow>::layout,
                };
                &D
            }
            fn is_failure(_: &u8) -> bool {
                false
            }
        }
        assert_eq!(TestRun::new(Lossy, "l", ()).run().unwrap().output, 3);
        let err = TestRun::new(Lossy, "l", ())
            .snapshot_every_await(true)
            .run()
            .unwrap_err();
        assert!(
            matches!(&err, TestError::Snapshot { step: 0, reason, .. } if reason.contains("LossyState(1)")),
            "{err:?}"
        );
    }

    #[test]
    fn run_async_awaits_activities_in_the_callers_runtime() {
        #[derive(Clone, Copy, Debug)]
        struct Nap;
        impl Activity for Nap {
            const NAME: &'static str = "echo";
            type Input = u64;
            type Output = Result<u64, ActivityError>;
            fn run(self, _ctx: ActivityCtx, input: u64) -> BoxFuture<'static, Self::Output> {
                Box::pin(async move {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    Ok(input)
                })
            }
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let run = rt
            .block_on(script(vec![Op::Echo(4)]).with_activity(Nap).run_async())
            .unwrap();
        assert_eq!(log(&run), ["4"]);
    }
}
