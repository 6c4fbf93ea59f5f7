//! The runtime: runs workflows on a [`Store`], with their activities, timers and signals.
//!
//! ```no_run
//! # use workflow_rt::prelude::*;
//! # use workflow_rt::{Runtime, SqliteStore};
//! # #[activity] async fn charge(_ctx: ActivityCtx, cents: u64) -> Result<String, ActivityError> { Ok(format!("pay-{cents}")) }
//! # #[workflow] async fn checkout(ctx: WorkflowCtx, cents: u64) -> Result<String, WorkflowError> {
//! #     let p = ctx.activity(charge, cents).await?; Ok(p)
//! # }
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let rt = Runtime::builder(SqliteStore::open("workflows.db")?)
//!     .workflow(checkout)
//!     .activity(charge)
//!     .build()
//!     .await?;
//! let run = rt.start(checkout, "order-42", 999).await?; // the id makes it idempotent
//! println!("{:?}", run.result().await?);
//! rt.shutdown().await;
//! # Ok(()) }
//! ```

pub(crate) use advance::describe_into;

mod activities;
mod advance;
mod builder;
mod cache;
mod client;
mod compose;
mod drivers;
mod engine;
mod error;
mod handle;
mod loops;
mod parking;
pub(crate) mod published;
mod registry;
mod resolve;
mod schedules;
mod shown;
pub(crate) mod telemetry;
mod upgrade;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

#[cfg(feature = "testing")]
pub(crate) use builder::DEFAULT_CANCEL_GRACE;
pub use builder::{Builder, Limits};
pub use client::{Client, IdReuse, MIN_TIMEOUT, SignalWithStart, StartOptions};
pub(crate) use error::shortened;
pub use error::{MAX_ID_BYTES, RuntimeError, check_name};
pub use handle::Handle;
pub(crate) use resolve::deadline_of;
pub use schedules::{MAX_BACKFILL, NewSchedule, ScheduleInfo, ScheduleUpdate, Triggered};

use crate::durable::Pending;
use crate::signal::IntoSignal;
use crate::store::{HistoryEntry, LeaseRenewal, Release, Store, WorkflowStatus, WorkflowSummary};
use crate::workflow::Workflow;
use engine::Inner;

/// Runs workflows: start them, signal them, query them, cancel them.
///
/// Cheap to clone (all clones are one runtime). The runtime stops when [`Runtime::shutdown`]
/// is called or when the last clone and [`Handle`] are dropped. Every runtime is also a worker:
/// it steps the workflows it has registered and runs the activities it has registered, with
/// any other runtime on the same store.
///
/// ```
/// use workflow_rt::prelude::*;
/// use workflow_rt::{MemoryStore, WorkflowStatus};
///
/// #[activity]
/// async fn charge(_ctx: ActivityCtx, cents: u64) -> Result<String, ActivityError> {
///     Ok(format!("receipt-{cents}"))
/// }
///
/// #[workflow]
/// async fn checkout(ctx: WorkflowCtx, cents: u64) -> Result<String, WorkflowError> {
///     let confirmed: bool = ctx.signal("confirm").await;
///     if !confirmed {
///         return Err(WorkflowError::msg("not confirmed"));
///     }
///     Ok(ctx.activity(charge, cents).await?)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let rt = Runtime::builder(MemoryStore::new())
///     .workflow(checkout)
///     .activity(charge)
///     .build()
///     .await?;
/// // Starting is idempotent: the same id and input give the same run.
/// let run = rt.start(checkout, "order-42", 999).await?;
/// rt.signal("order-42", "confirm", true).await?;
/// assert_eq!(run.result().await??, "receipt-999");
/// let state = rt.state("order-42").await?;
/// assert_eq!(state.status, WorkflowStatus::Completed);
/// let history = rt.history("order-42").await?;
/// assert!(history.len() >= 3, "started, steps, completed");
/// rt.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
    _owner: Arc<Owner>,
}

/// Stops the runtime's loops when the last user-facing clone goes (the loops themselves hold
/// the shared state, so its own drop would never come).
struct Owner(Arc<Inner>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.begin_shutdown();
        self.0.abort_all_attempts();
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("worker_id", &self.inner.config.worker_id)
            .finish_non_exhaustive()
    }
}

/// A run that no registered code can step: see [`Runtime::stranded`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrandedRun {
    /// The run.
    pub run: WorkflowSummary,
    /// Why no code can step it, and what to do.
    pub reason: String,
}

/// A workflow as [`Runtime::state`] shows it: the snapshot is the query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkflowState {
    /// The workflow's id.
    pub id: String,
    /// Its registered name.
    pub name: String,
    /// The version of the workflow's code the run is on ([`Workflow::VERSION`]); `None` if its
    /// snapshot does not decode.
    pub workflow_version: Option<u32>,
    /// Where it stands.
    pub status: WorkflowStatus,
    /// Bumped by every step.
    pub version: u64,
    /// How many steps have run.
    pub step: u64,
    /// The state enum, as JSON (`None` if it cannot be shown: see `state_error`).
    pub state: Option<serde_json::Value>,
    /// Why `state` is missing: the workflow is not registered here, or its snapshot does not
    /// decode with this code.
    pub state_error: Option<String>,
    /// What it waits for (while running).
    pub waiting_for: Option<Pending>,
    /// The name of the state it is in (a state of its workflow's [`Description`]:
    /// `Start`, an await's state, `Returned`); `None` when its workflow is not registered
    /// here or its snapshot does not decode.
    ///
    /// [`Description`]: crate::Description
    pub current_state: Option<String>,
    /// The commands it waits on (while running or parked), one per activity call, timer and
    /// signal wait, with activity inputs as JSON where the activity is registered here.
    pub commands: Vec<PendingCommand>,
    /// The output as JSON, once finished.
    pub output: Option<serde_json::Value>,
    /// Why it is parked.
    pub park_reason: Option<String>,
    /// When it was created, in milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// When it last changed, in milliseconds since the Unix epoch.
    pub updated_at_ms: u64,
    /// When its execution timeout ends ([`StartOptions::timeout`]), in milliseconds since the
    /// Unix epoch, while it has not finished; `None` for a run without one.
    pub timeout_at_ms: Option<u64>,
    /// The values the run has published ([`crate::WorkflowCtx::publish`]), by key, as JSON
    /// (empty if it published none, or its snapshot does not decode).
    pub published: std::collections::BTreeMap<String, serde_json::Value>,
}

/// What [`Runtime::drain`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Attempts that were running when the drain began and finished within its timeout.
    pub finished: usize,
    /// Attempts still running at the timeout: stopped, to run again elsewhere.
    pub stopped: usize,
    /// Activity leases released: those of the leased tasks that had not started (at the
    /// drain's start) and of the stopped attempts (at its end).
    pub released: u64,
}

/// Completes when the process is asked to stop: Ctrl-C (SIGINT), or SIGTERM on Unix (what
/// `docker stop`, Kubernetes and systemd send). For [`Runtime::run_until`].
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; waiting for Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A command a run waits on, as [`Client::state`] lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PendingCommand {
    /// An activity call.
    Activity {
        /// The call's sequence number in its run.
        seq: u64,
        /// The activity's name.
        name: String,
        /// The input as JSON; `None` when the activity is not registered here (or the bytes
        /// do not decode as its input).
        input: Option<serde_json::Value>,
        /// The size of the encoded input, in bytes.
        input_bytes: usize,
        /// Attempts started so far (0: not yet started; its result may also be waiting to be
        /// applied).
        attempt: u32,
        /// The worker running the current attempt.
        lease_owner: Option<String>,
        /// Not started again before this time (backoff), in milliseconds since the Unix epoch.
        not_before_ms: Option<u64>,
    },
    /// A durable timer.
    Timer {
        /// The timer's sequence number in its run.
        seq: u64,
        /// When it fires, in milliseconds since the Unix epoch.
        fire_at_ms: u64,
    },
    /// A wait for a signal.
    Signal {
        /// The wait's sequence number in its run.
        seq: u64,
        /// The signal's name.
        name: String,
    },
    /// A wait for a value sent with a completion token ([`crate::WorkflowCtx::promise`]).
    Promise {
        /// The wait's sequence number in its run.
        seq: u64,
    },
    /// A wait for a child run's end.
    Child {
        /// The call's sequence number in its run.
        seq: u64,
        /// The child's workflow.
        name: String,
        /// The child run's id.
        id: String,
        /// What happens to the child if this run stops waiting for it.
        close: crate::ParentClose,
        /// The child's park reason, if it is parked: this run waits for it until it is
        /// unparked and ends, or is stopped.
        parked: Option<String>,
    },
}

impl Runtime {
    /// A builder of a runtime on `store`, where workflows are kept: a
    /// [`SqliteStore`](crate::SqliteStore), a [`MemoryStore`](crate::MemoryStore), or an `Arc`
    /// of a store shared with other runtimes. Then `.workflow(..)` and `.activity(..)` for each
    /// workflow and activity this runtime runs.
    pub fn builder(store: impl Store) -> Builder {
        Builder::new(Arc::new(store))
    }

    fn from_inner(inner: Arc<Inner>) -> Self {
        Runtime {
            _owner: Arc::new(Owner(inner.clone())),
            inner,
        }
    }

    fn check_running(&self) -> Result<(), RuntimeError> {
        if self.inner.is_shut_down() {
            Err(RuntimeError::ShutDown)
        } else {
            Ok(())
        }
    }

    /// This runtime's worker id (see [`Builder::worker_id`]).
    pub fn worker_id(&self) -> &str {
        &self.inner.config.worker_id
    }

    /// Starts workflow `W` under `id`, or returns the run already under `id` if it is a run of
    /// `W` with the same input (so a retried start is harmless). Another input, or another
    /// workflow, under that id is [`RuntimeError::IdInUse`]. New runs start on the newest
    /// registered version of a workflow: starting an older one (kept registered for its runs)
    /// is [`RuntimeError::NotNewest`]. An input, or a first snapshot, larger than the runtime's
    /// [`Limits`] is [`RuntimeError::TooLarge`], and no run is stored.
    pub async fn start<W: Workflow>(
        &self,
        workflow: W,
        id: impl Into<String>,
        input: W::Input,
    ) -> Result<Handle<W>, RuntimeError> {
        self.start_with(workflow, id, input, StartOptions::new())
            .await
    }

    /// [`Runtime::start`] with `options`: an [`IdReuse`] deciding what happens when `id` is
    /// taken by a finished run, or [`StartOptions`] (that, and an execution timeout). See
    /// [`Client::start_with`].
    pub async fn start_with<W: Workflow>(
        &self,
        _workflow: W,
        id: impl Into<String>,
        input: W::Input,
        options: impl Into<StartOptions>,
    ) -> Result<Handle<W>, RuntimeError> {
        let id = id.into();
        let registered = self.registered::<W>()?;
        let options = options.into();
        if let Some(created) = self
            .client()
            .create::<W>(id.clone(), input, options)
            .await?
        {
            self.started::<W>(&id, registered, created, options);
        }
        Ok(Handle::new(self.clone(), id))
    }

    /// Starts workflow `W` under `id` with signal `signal` in its inbox, or sends the signal
    /// to the run of `W` there, as [`Client::signal_with_start`] does (which also says which
    /// it did). Returns a handle on the run either way.
    pub async fn signal_with_start<W: Workflow, T: Serialize>(
        &self,
        workflow: W,
        id: impl Into<String>,
        input: W::Input,
        signal: impl IntoSignal<T>,
        payload: T,
    ) -> Result<Handle<W>, RuntimeError> {
        self.signal_with_start_with(workflow, id, input, signal, payload, StartOptions::new())
            .await
    }

    /// [`Runtime::signal_with_start`] with `options` for the run it may start ([`StartOptions`],
    /// or an [`IdReuse`] alone): see [`Client::signal_with_start_with`].
    pub async fn signal_with_start_with<W: Workflow, T: Serialize>(
        &self,
        _workflow: W,
        id: impl Into<String>,
        input: W::Input,
        signal: impl IntoSignal<T>,
        payload: T,
        options: impl Into<StartOptions>,
    ) -> Result<Handle<W>, RuntimeError> {
        let id = id.into();
        let registered = self.registered::<W>()?;
        let client = self.client();
        let signal = client.encode_signal(signal.signal_name(), &payload)?;
        let options = options.into();
        if let Some(created) = client
            .create_signalled::<W>(id.clone(), input, signal, options)
            .await?
        {
            self.started::<W>(&id, registered, created, options);
        }
        Ok(Handle::new(self.clone(), id))
    }

    /// Steps new run `id` of `W` from its first state, and has the timer loop look for the
    /// end of its timeout.
    fn started<W: Workflow>(
        &self,
        id: &str,
        registered: Arc<dyn registry::ErasedWorkflow>,
        (state, ctx, version, bytes): client::Created<W>,
        options: StartOptions,
    ) {
        self.inner
            .prime(id, registered, Box::new(state), ctx, version, bytes);
        self.inner.wake(id, Vec::new());
        if options.has_timeout() {
            self.inner.timer_wakeup.notify_one();
        }
    }

    /// `W`'s registration, for a start of it: this runtime runs (it has not shut down), has
    /// `W` registered, and no newer version of it.
    fn registered<W: Workflow>(&self) -> Result<Arc<dyn registry::ErasedWorkflow>, RuntimeError> {
        self.check_running()?;
        let Some(registered) = self.inner.workflows.version(W::NAME, W::VERSION).cloned() else {
            return Err(RuntimeError::NotRegistered {
                name: W::NAME.to_string(),
            });
        };
        let newest = self.inner.workflows.newest(W::NAME).unwrap_or(W::VERSION);
        if newest > W::VERSION {
            return Err(RuntimeError::NotNewest {
                name: W::NAME.to_string(),
                version: W::VERSION,
                newest,
            });
        }
        Ok(registered)
    }

    /// A handle on the run of `W` under `id` (started earlier, maybe by another process).
    pub fn handle<W: Workflow>(&self, _workflow: W, id: impl Into<String>) -> Handle<W> {
        Handle::new(self.clone(), id.into())
    }

    /// Sends signal `signal` to workflow `id`. It is stored at once and delivered, in order with
    /// the other signals of that name, to the next `ctx.signal(..)` wait for it. A workflow that
    /// does not exist or has finished is an error, and so is a payload larger than
    /// [`Limits::max_signal_bytes`] ([`RuntimeError::TooLarge`]; nothing is stored).
    ///
    /// `signal` is a typed [`Signal<T>`](crate::Signal), whose payload must be a `T`
    /// (`rt.signal("order-42", APPROVE, true)`), or a name given as a string, for any payload
    /// (`rt.signal("order-42", "approve", true)`).
    pub async fn signal<T: Serialize>(
        &self,
        id: &str,
        signal: impl IntoSignal<T>,
        payload: T,
    ) -> Result<(), RuntimeError> {
        self.check_running()?;
        self.client().signal(id, signal, payload).await
    }

    /// Sends signal `name` to workflow `id` with a JSON payload, decoded into the type its
    /// wait expects: see [`Client::signal_json`].
    pub async fn signal_json(
        &self,
        id: &str,
        name: &str,
        payload: &serde_json::Value,
    ) -> Result<(), RuntimeError> {
        self.check_running()?;
        self.client().signal_json(id, name, payload).await
    }

    /// Where workflow `id` stands, with its current state as JSON.
    pub async fn state(&self, id: &str) -> Result<WorkflowState, RuntimeError> {
        self.client().state(id).await
    }

    /// The value run `id` last published under `key` ([`crate::WorkflowCtx::publish`]), as
    /// [`Client::published`] reads it.
    pub async fn published<T: serde::de::DeserializeOwned>(
        &self,
        id: &str,
        key: &str,
    ) -> Result<Option<T>, RuntimeError> {
        self.client().published(id, key).await
    }

    /// Every value run `id` has published, by key, as JSON ([`Client::published_values`]).
    pub async fn published_values(
        &self,
        id: &str,
    ) -> Result<std::collections::BTreeMap<String, serde_json::Value>, RuntimeError> {
        self.client().published_values(id).await
    }

    /// Sends an update to run `id` and waits for its reply ([`Client::update`]).
    pub async fn update<T: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        id: &str,
        signal: impl crate::IntoSignal<crate::Update<T>>,
        payload: T,
        timeout: Duration,
    ) -> Result<R, crate::UpdateError> {
        self.client().update(id, signal, payload, timeout).await
    }

    /// [`Runtime::update`] with the update's id given ([`Client::update_with_id`]).
    pub async fn update_with_id<T: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        id: &str,
        signal: impl crate::IntoSignal<crate::Update<T>>,
        update_id: &str,
        payload: T,
        timeout: Duration,
    ) -> Result<R, crate::UpdateError> {
        self.client()
            .update_with_id(id, signal, update_id, payload, timeout)
            .await
    }

    /// Waits, at most `timeout`, for run `id` to publish a value under `key`
    /// ([`Client::wait_published`]).
    pub async fn wait_published<T: serde::de::DeserializeOwned>(
        &self,
        id: &str,
        key: &str,
        timeout: Duration,
    ) -> Result<Option<T>, RuntimeError> {
        self.client().wait_published(id, key, timeout).await
    }

    /// A client sharing this runtime's store and registrations, which never runs workflow or
    /// activity code ([`Client`]); what it changes (a signal, an unpark) wakes this runtime at
    /// once.
    pub fn client(&self) -> Client {
        Client::of_runtime(&self.inner)
    }

    /// The workflows with this status (all of them for `None`), by id.
    pub async fn list(
        &self,
        status: Option<WorkflowStatus>,
    ) -> Result<Vec<WorkflowSummary>, RuntimeError> {
        Ok(self.inner.store.list_workflows(status).await?)
    }

    /// The runs of this runtime's workflows that no registered code can step and no registered
    /// migration can move: each with the reason, which names the version and fingerprint it
    /// was written by and the two fixes. The runtime parks the running ones when it starts
    /// ([`Builder::build`]); after a deploy that brings the code or a migration back,
    /// [`Runtime::unpark`] resumes them with nothing lost. A run at a version newer than this
    /// runtime's is listed too, but left to the workers that have its code (a rolling deploy):
    /// this runtime parks it only once it has met it, without a break, for a minute (what
    /// arrived for it unseen by any such worker: a deploy rolled back).
    pub async fn stranded(&self) -> Result<Vec<StrandedRun>, RuntimeError> {
        Ok(self
            .inner
            .stranded()
            .await?
            .into_iter()
            .map(|(run, reason)| StrandedRun { run, reason })
            .collect())
    }

    /// What happened to workflow `id`, oldest first.
    pub async fn history(&self, id: &str) -> Result<Vec<HistoryEntry>, RuntimeError> {
        self.client().history(id).await
    }

    /// Asks workflow `id` to cancel: its code is told, may compensate, and has the grace
    /// period of [`Builder::cancel_grace`] to end (see [`Client::cancel`]).
    pub async fn cancel(&self, id: &str) -> Result<(), RuntimeError> {
        self.check_running()?;
        self.client().cancel(id).await
    }

    /// Stops workflow `id` outright: its code is not told, its activities in flight are
    /// abandoned and its timers dropped, and its result becomes [`RuntimeError::Cancelled`]
    /// (see [`Client::terminate`]).
    pub async fn terminate(&self, id: &str) -> Result<(), RuntimeError> {
        self.check_running()?;
        self.client().terminate(id).await
    }

    /// Puts a parked workflow back to work, after the cause is fixed (for instance, the code
    /// that wrote its snapshot is deployed again). If its next step still cannot run, it is
    /// parked again.
    pub async fn unpark(&self, id: &str) -> Result<(), RuntimeError> {
        self.check_running()?;
        self.client().unpark(id).await
    }

    /// Runs this runtime's workers until `shutdown` completes (e.g. [`shutdown_signal`]: Ctrl-C
    /// or SIGTERM), then drains them gracefully ([`Runtime::drain`], within
    /// [`Builder::drain_timeout`]), and returns what the drain did. The runtime works from
    /// [`Runtime::builder`]'s `build()` on; this only waits, so a process's `main` ends with:
    ///
    /// ```no_run
    /// # use workflow_rt::prelude::*;
    /// # async fn f(rt: Runtime) {
    /// let drained = rt.run_until(workflow_rt::shutdown_signal()).await;
    /// eprintln!("stopped: {drained:?}");
    /// # }
    /// ```
    pub async fn run_until(&self, shutdown: impl Future<Output = ()>) -> Drained {
        shutdown.await;
        self.drain(self.inner.config.drain_timeout).await
    }

    /// Stops gracefully: leases no more activity tasks (the leased ones not started yet do not
    /// start; their leases are released at once, as not counting, so that another worker runs
    /// them now), lets the attempts that are running finish for up to `timeout` (their results
    /// are recorded, and their workflows stepped as usual for up to two seconds more), then
    /// shuts down
    /// ([`Runtime::shutdown`]): the attempts still running are stopped and their leases
    /// released, so another worker runs those calls at once; a stopped attempt does not count
    /// against its call's retry policy.
    pub async fn drain(&self, timeout: Duration) -> Drained {
        // (A timeout too long for the clock, `Duration::MAX` say, waits as long as it takes.)
        let deadline = tokio::time::Instant::now().checked_add(timeout);
        let (running, backlog) = self.inner.begin_drain();
        // Within the timeout: a store slow to answer (a pool whose connections busy steps
        // hold) leaves the leases held, released with the others at the end.
        let release = self.inner.release_backlog(backlog);
        let given_back = match deadline {
            Some(d) => tokio::time::timeout_at(d, release).await.unwrap_or(0),
            None => release.await,
        };
        let mut left = running;
        while left > 0 && deadline.is_none_or(|d| tokio::time::Instant::now() < d) {
            tokio::time::sleep(Duration::from_millis(5)).await;
            left = self.inner.running_attempts();
        }
        // Let the steps the finished attempts woke commit (two seconds at most: a busy runtime
        // has other runs to step; the results of those not stepped by then are stored when it
        // stops).
        for _ in 0..1000 {
            if !self.inner.busy() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let released = self.stop().await;
        Drained {
            finished: running.saturating_sub(left),
            stopped: left,
            released: released + given_back,
        }
    }

    /// Stops the runtime: its loops end, activity attempts in flight are abandoned (their
    /// leases released, so another runtime takes them at once, from the heartbeat details each
    /// gave last) and steps in flight finish.
    /// Workflows stay in the store, to be continued by the next runtime on it.
    pub async fn shutdown(&self) {
        self.stop().await;
    }

    /// [`Runtime::shutdown`]; returns how many leases it released.
    async fn stop(&self) -> u64 {
        self.inner.begin_shutdown();
        // The heartbeat details the attempts gave since the lease loop's last renewal (which
        // is what stores them): stored before the leases go, for the attempts that take over.
        let beats: Vec<LeaseRenewal> = self
            .inner
            .held_leases()
            .into_iter()
            .filter(|l| l.heartbeat_details.is_some())
            .collect();
        self.inner.abort_all_attempts();
        // The drivers storing the results they hold (a stopping runtime steps nothing), and
        // attempts that ended as they were aborted handing theirs over.
        for _ in 0..1000 {
            if !self.inner.busy() && self.inner.running_attempts() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if !beats.is_empty() {
            let inner = &self.inner;
            let until = inner.clock.now_ms().saturating_add(inner.config.lease_ms);
            if let Err(e) = inner
                .store
                .renew_leases(&inner.config.worker_id, beats, until)
                .await
            {
                tracing::warn!(error = %e, "cannot store the attempts' last heartbeats at shutdown");
            }
        }
        match self
            .inner
            .store
            .release_leases(
                &self.inner.config.worker_id,
                Release::Shutdown,
                self.inner.clock.now_ms(),
            )
            .await
        {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "cannot release activity leases at shutdown");
                0
            }
        }
    }
}

#[cfg(test)]
mod tests;

/// [`RuntimeError::TooLarge`] if `size` is over `limit`.
fn too_large(what: impl FnOnce() -> String, size: usize, limit: usize) -> Result<(), RuntimeError> {
    if size > limit {
        return Err(RuntimeError::TooLarge {
            what: what(),
            size,
            limit,
        });
    }
    Ok(())
}
