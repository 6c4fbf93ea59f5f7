//! A client of a store: it looks at runs and acts on them, and never runs workflow or activity
//! code (it leases no task, fires no timer and steps no workflow).

use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::Serialize;

use super::engine::Inner;
use super::registry::{
    ErasedActivity, ErasedWorkflow, RegisteredActivity, RegisteredWorkflow, Registry, no_panic,
};
use super::shown::Activities;
use super::telemetry;
use super::{Limits, PendingCommand, RuntimeError, WorkflowState, too_large};
use crate::activity::Activity;
use crate::clock::{Clock, SystemClock};
use crate::context::{CtxState, WorkflowCtx};
use crate::durable::Pending;
use crate::machine::Snapshot;
use crate::promise::CompleteError;
use crate::signal::IntoSignal;
use crate::store::{
    ActivityTask, Delivery, EventKind, HistoryEntry, HistoryKind, NewSignal, NewWorkflow,
    ParentLink, RunPage, RunQuery, StepCommit, StepOutcome, Store, StoreError, WorkflowStatus,
};
use crate::workflow::{Description, Workflow};

/// Looks at and acts on the runs in a store, from any process, without being a worker: it
/// never leases an activity task, fires a timer or steps a workflow, so an operator's tool or a
/// web handler can use it next to the workers.
///
/// `Client::new(store)` needs no registration: listing, history, signals (typed), cancelling,
/// unparking and purging work on any run. Registering a workflow (`.workflow(checkout)`) only
/// lets [`Client::state`] show that workflow's state and output as JSON, and
/// [`Client::describe`] return its state machine. [`crate::Runtime::client`] gives a client
/// that shares its runtime's store and registrations and wakes the runtime at once after a
/// signal or an unpark.
///
/// ```
/// use workflow_rt::prelude::*;
/// use workflow_rt::{Client, MemoryStore, RunQuery, WorkflowStatus};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = std::sync::Arc::new(MemoryStore::new());
/// let client = Client::new(store.clone());
/// let page = client
///     .list(RunQuery { status: Some(WorkflowStatus::Running), ..RunQuery::default() })
///     .await?;
/// assert!(page.runs.is_empty() && page.next.is_none());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) workflows: Arc<Registry>,
    activities: Arc<Activities>,
    pub(super) limits: Limits,
    /// The grace period of the cancellations this client asks for.
    cancel_grace: Duration,
    /// The runtime this client was taken from: told of what the client changed, so that it
    /// acts at once rather than at its next poll.
    local: Option<Weak<Inner>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("workflows", &self.workflows.names())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of `store` (an `Arc` of a store shared with runtimes, or a store of its own).
    pub fn new(store: impl Store) -> Client {
        Client {
            store: Arc::new(store),
            clock: Arc::new(SystemClock),
            workflows: Arc::new(Registry::default()),
            activities: Arc::default(),
            limits: Limits::default(),
            cancel_grace: super::builder::DEFAULT_CANCEL_GRACE,
            local: None,
        }
    }

    pub(super) fn of_runtime(inner: &Arc<Inner>) -> Client {
        Client {
            local: Some(Arc::downgrade(inner)),
            ..Self::beside(inner)
        }
    }

    /// A client of `inner`'s store, clock and registry that does not tell `inner` what it
    /// changed (for code that holds the runtime without its `Arc`, and tells it itself).
    pub(super) fn beside(inner: &Inner) -> Client {
        Client {
            store: inner.store.clone(),
            clock: inner.clock.clone(),
            workflows: inner.workflows.clone(),
            activities: inner.activities.clone(),
            limits: inner.config.limits,
            cancel_grace: Duration::from_millis(inner.config.cancel_grace_ms),
            local: None,
        }
    }

    /// Registers workflow `W`, so that [`Client::state`] shows the state and output of its
    /// runs as JSON and [`Client::describe`] returns its description. Registering the same
    /// name and version twice keeps the first.
    pub fn workflow<W: Workflow>(mut self, _workflow: W) -> Self {
        let _ = W::layout();
        Arc::make_mut(&mut self.workflows)
            .add(Arc::new(RegisteredWorkflow::<W>::new()) as Arc<dyn ErasedWorkflow>);
        self
    }

    /// Registers activity `A`, so that [`Client::state`] shows the inputs of its pending calls
    /// as JSON. (A client never runs an activity.)
    pub fn activity<A: Activity>(mut self, activity: A) -> Self {
        Arc::make_mut(&mut self.activities).insert(
            A::NAME.to_string(),
            Arc::new(RegisteredActivity::new(activity)) as Arc<dyn ErasedActivity>,
        );
        self
    }

    /// The clock that timestamps what the client writes (history entries, signals): the
    /// system clock by default.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The limits a signal's payload is checked against (the defaults of [`Limits`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How long a run this client asks to cancel may go on before it is stopped outright
    /// (default 5 minutes; see [`Client::cancel`]).
    pub fn cancel_grace(mut self, grace: Duration) -> Self {
        self.cancel_grace = grace;
        self
    }

    pub(super) fn runtime(&self) -> Option<Arc<Inner>> {
        self.local.as_ref().and_then(Weak::upgrade)
    }

    /// Starts workflow `W` under `id` with `input`, as [`crate::Runtime::start`] does, for a
    /// worker of `W` on the same store to run (a client runs no workflow code). Starting an
    /// id already taken is decided by [`IdReuse::Never`]: see [`Client::start_with`].
    pub async fn start<W: Workflow>(
        &self,
        workflow: W,
        id: impl Into<String>,
        input: W::Input,
    ) -> Result<(), RuntimeError> {
        self.start_with(workflow, id, input, StartOptions::new())
            .await
    }

    /// Starts workflow `W` under `id` with `options`: an [`IdReuse`] deciding what happens
    /// when the id is taken by a finished run, or [`StartOptions`] (the reuse policy and an
    /// execution timeout). A run under `id` that has not finished is never replaced: a start
    /// of the same workflow with the same input is taken as a retry of the start that made
    /// it and succeeds without starting anything; any other start is
    /// [`RuntimeError::IdInUse`].
    pub async fn start_with<W: Workflow>(
        &self,
        _workflow: W,
        id: impl Into<String>,
        input: W::Input,
        options: impl Into<StartOptions>,
    ) -> Result<(), RuntimeError> {
        let (id, options) = (id.into(), options.into());
        if self
            .create::<W>(id.clone(), input, options)
            .await?
            .is_some()
        {
            self.wake_new::<W>(&id, options);
        }
        Ok(())
    }

    /// Wakes the runtime this client belongs to, if it runs `W`, for new run `id`: it takes
    /// the run at once, rather than at its next look for ready runs; and its timer loop, for
    /// the end of the run's timeout.
    fn wake_new<W: Workflow>(&self, id: &str, options: StartOptions) {
        let Some(rt) = self.runtime() else { return };
        if rt.workflows.knows(W::NAME) {
            rt.wake(id, Vec::new());
        }
        if options.has_timeout() {
            rt.timer_wakeup.notify_one();
        }
    }

    /// Stops run `id` if it has not taken its first step, with `reason` (`timed_out`: the
    /// end of its execution timeout): whether it did.
    pub(super) async fn stop_unstarted(
        &self,
        id: &str,
        reason: &str,
        timed_out: bool,
    ) -> Result<bool, RuntimeError> {
        self.terminate_with(id, reason, Stop::IfNotStarted, None, timed_out)
            .await
    }

    /// Starts workflow `W` under `id` with signal `signal` in its inbox, or sends the signal
    /// to the run there (Temporal's "signal-with-start"): what an entity workflow (one run
    /// per account, cart or device, fed by signals) is fed by, where the sender does not know
    /// whether its run exists yet.
    ///
    /// - No run under `id`: a run of `W` is started with `input`, and with the signal stored
    ///   with it, in one store operation: it is never started without it. Its code receives
    ///   the signal at its first wait for it, before any sent later.
    /// - A run of `W` that has not finished (running, or parked: it keeps the signal for when
    ///   it is unparked) takes the signal, as [`Client::signal`] sends it; `input` is not
    ///   used, nor compared with the run's.
    /// - A run of another workflow that has not finished: [`RuntimeError::WrongWorkflow`],
    ///   and nothing is sent.
    /// - A run that has finished, of any workflow: [`RuntimeError::Finished`], as Temporal
    ///   refuses it under its "reject duplicate" policy. [`Client::signal_with_start_with`]
    ///   lets an [`IdReuse`] replace it by a new run instead (Temporal's default is to start
    ///   a new run; here the old run is then purged, history and all, so it is not the
    ///   default).
    ///
    /// Calls racing on one id start one run between them, and each call's signal is stored
    /// once. A call retried after an error that left its outcome unknown (a store that
    /// failed after the write) may deliver its signal twice, as a retried [`Client::signal`]
    /// does. The payload's limits and the id's are those of [`Client::signal`] and
    /// [`Client::start`]. The workflow of the run found is checked before the signal is
    /// sent, in a store operation of its own: a run of another workflow that replaced it in
    /// between (the first finished, and was purged by a start that reused its id) would
    /// take the signal.
    ///
    /// ```
    /// # use workflow_rt::prelude::*;
    /// # use workflow_rt::SignalWithStart;
    /// /// One run per cart: adds items until checkout, then returns the total.
    /// #[workflow]
    /// async fn cart(ctx: WorkflowCtx, _owner: String) -> u64 {
    ///     let mut total = 0;
    ///     loop {
    ///         let (what, price): (String, u64) = ctx.signal("add").await;
    ///         if what == "checkout" {
    ///             return total;
    ///         }
    ///         total += price;
    ///     }
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let rt = Runtime::builder(MemoryStore::new()).workflow(cart).build().await?;
    /// let client = rt.client();
    /// let add = |what: &str, price: u64| (what.to_string(), price);
    /// let first = client
    ///     .signal_with_start(cart, "cart-ana", "ana".into(), "add", add("book", 12))
    ///     .await?;
    /// assert_eq!(first, SignalWithStart::Started);
    /// let next = client
    ///     .signal_with_start(cart, "cart-ana", "ana".into(), "add", add("pen", 3))
    ///     .await?;
    /// assert_eq!(next, SignalWithStart::Signalled);
    /// client.signal("cart-ana", "add", add("checkout", 0)).await?;
    /// assert_eq!(client.result(cart, "cart-ana").await?, 15);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn signal_with_start<W: Workflow, T: Serialize>(
        &self,
        workflow: W,
        id: impl Into<String>,
        input: W::Input,
        signal: impl IntoSignal<T>,
        payload: T,
    ) -> Result<SignalWithStart, RuntimeError> {
        self.signal_with_start_with(workflow, id, input, signal, payload, StartOptions::new())
            .await
    }

    /// [`Client::signal_with_start`] with `options` ([`StartOptions`], or an [`IdReuse`]
    /// alone) for the run it may start. Their [`IdReuse`] decides what happens when `id` is
    /// taken by a finished run: one that it lets go is replaced by a new run of `W`, started
    /// with `input` and the signal; any other is [`RuntimeError::Finished`].
    pub async fn signal_with_start_with<W: Workflow, T: Serialize>(
        &self,
        _workflow: W,
        id: impl Into<String>,
        input: W::Input,
        signal: impl IntoSignal<T>,
        payload: T,
        options: impl Into<StartOptions>,
    ) -> Result<SignalWithStart, RuntimeError> {
        let signal = self.encode_signal(signal.signal_name(), &payload)?;
        let (id, options) = (id.into(), options.into());
        match self
            .create_signalled::<W>(id.clone(), input, signal, options)
            .await?
        {
            Some(_) => {
                self.wake_new::<W>(&id, options);
                Ok(SignalWithStart::Started)
            }
            None => Ok(SignalWithStart::Signalled),
        }
    }

    /// Stores a new run of `W`; returns its first state and version when this call created it
    /// (`None` when an identical run was there already).
    pub(super) async fn create<W: Workflow>(
        &self,
        id: String,
        input: W::Input,
        options: StartOptions,
    ) -> Result<Option<Created<W>>, RuntimeError> {
        let first = self.prepare::<W>(id, input, options)?;
        match self.insert(W::NAME, &first.new, options.reuse).await? {
            Inserted::Created(version) => Ok(Some(first.created(version))),
            Inserted::Taken(existing) => {
                if existing.name != W::NAME || existing.input != first.new.input {
                    return Err(RuntimeError::IdInUse {
                        id: first.new.id,
                        name: existing.name,
                    });
                }
                Ok(None)
            }
        }
    }

    /// [`Client::signal_with_start_with`]: returns the new run's first state and version when
    /// this call created it, `None` when it sent the signal to the run there.
    pub(super) async fn create_signalled<W: Workflow>(
        &self,
        id: String,
        input: W::Input,
        signal: NewSignal,
        options: StartOptions,
    ) -> Result<Option<Created<W>>, RuntimeError> {
        let reuse = options.reuse;
        let mut first = self.prepare::<W>(id, input, options)?;
        first.new.signals.push(signal);
        let id = first.new.id.clone();
        // A few times at most: the run found may finish, or be purged, before the signal
        // reaches it; the create is then tried again.
        for _ in 0..4 {
            let existing = match self.insert(W::NAME, &first.new, reuse).await? {
                Inserted::Created(version) => return Ok(Some(first.created(version))),
                Inserted::Taken(existing) => existing,
            };
            if existing.status.is_finished() {
                return Err(RuntimeError::Finished {
                    id,
                    status: existing.status,
                });
            }
            if existing.name != W::NAME {
                return Err(RuntimeError::WrongWorkflow {
                    id,
                    expected: W::NAME.to_string(),
                    found: existing.name,
                });
            }
            match self.deliver(&id, &first.new.signals[0]).await {
                Ok(()) => return Ok(None),
                Err(RuntimeError::Finished { .. } | RuntimeError::UnknownWorkflow(_)) => {}
                Err(e) => return Err(e),
            }
        }
        // Each time, the run found had ended or gone before the signal reached it.
        Err(RuntimeError::Store(StoreError::Conflict {
            workflow_id: id,
            expected: 0,
        }))
    }

    /// A new run of `W` under `id`, ready to be stored: its checks passed, its input and
    /// first state encoded, the end of its timeout a timer.
    fn prepare<W: Workflow>(
        &self,
        id: String,
        input: W::Input,
        options: StartOptions,
    ) -> Result<First<W>, RuntimeError> {
        super::error::checked_name("workflow id", &id)?;
        if let Some(newest) = self.workflows.newest(W::NAME)
            && newest > W::VERSION
        {
            return Err(RuntimeError::NotNewest {
                name: W::NAME.to_string(),
                version: W::VERSION,
                newest,
            });
        }
        let encoded = no_panic("encoding the input", || {
            postcard::to_stdvec(&input).map_err(|e| e.to_string())
        })
        .map_err(|reason| RuntimeError::Encode {
            what: format!("the input of {}", W::NAME),
            reason,
        })?;
        too_large(
            || format!("the input of {}", W::NAME),
            encoded.len(),
            self.limits.max_input_bytes,
        )?;
        let now = self.clock.now_ms();
        let ctx = WorkflowCtx::initial_state(&id, now);
        let state = W::start(input);
        let snapshot = crate::step::encode::<W>(&state, 0, &ctx)
            .map_err(|e| e.to_string())
            .map_err(|reason| RuntimeError::Encode {
                what: format!("the first state of {}", W::NAME),
                reason,
            })?;
        too_large(
            || format!("the first snapshot of {}", W::NAME),
            snapshot.len(),
            self.limits.max_snapshot_bytes,
        )?;
        let bytes = snapshot.len();
        Ok(First {
            new: NewWorkflow {
                id,
                name: W::NAME.to_string(),
                input: encoded,
                snapshot,
                now_ms: now,
                history: HistoryEntry::new(
                    now,
                    HistoryKind::Started,
                    match options.timeout {
                        Some(t) => format!(
                            "started {}, to be stopped if it runs past {} ms",
                            W::NAME,
                            t.as_millis()
                        ),
                        None => format!("started {}", W::NAME),
                    },
                ),
                parent: None,
                parent_version: None,
                signals: Vec::new(),
                timers: super::compose::timeout_timers(
                    now,
                    options
                        .timeout
                        .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
                ),
            },
            state,
            ctx,
            bytes,
        })
    }

    /// Stores run `new` of `workflow`; a finished run under its id that `reuse` lets go is
    /// purged first.
    async fn insert(
        &self,
        workflow: &'static str,
        new: &NewWorkflow,
        reuse: IdReuse,
    ) -> Result<Inserted, RuntimeError> {
        let id = &new.id;
        // A few times at most: a finished run that `reuse` lets go is purged, and the id tried
        // again; a run that replaced it meanwhile is looked at in its turn.
        let mut taken_by = new.name.clone();
        for _ in 0..3 {
            match self.store.create_workflow(new.clone()).await {
                Ok(version) => {
                    telemetry::run_started(workflow, id);
                    return Ok(Inserted::Created(version));
                }
                Err(StoreError::AlreadyExists(existing)) => {
                    if reuse.allows(existing.status) {
                        taken_by.clone_from(&existing.name);
                        // The run seen, and no other: another start may have replaced it
                        // meanwhile by a run that `reuse` would not let go (completed, under
                        // `AfterFailure`), or that finished after this look.
                        match self.store.purge_version(id, existing.version).await {
                            Ok(()) => {
                                if let Some(rt) = self.runtime() {
                                    rt.forget(id);
                                }
                                continue;
                            }
                            // Gone already (another start replaced it, or a purge), or replaced
                            // since by another run: that one decides, as if it had been there
                            // first.
                            Err(
                                StoreError::NotFound(_)
                                | StoreError::Conflict { .. }
                                | StoreError::NotFinished { .. },
                            ) => continue,
                            Err(e) => return Err(RuntimeError::from_store(id, e)),
                        }
                    }
                    return Ok(Inserted::Taken(existing));
                }
                Err(e) => return Err(RuntimeError::Store(e)),
            }
        }
        Err(RuntimeError::IdInUse {
            id: id.clone(),
            name: taken_by,
        })
    }

    /// A page of runs matching `query`, by id, with the cursor of the next page.
    pub async fn list(&self, query: RunQuery) -> Result<RunPage, RuntimeError> {
        Ok(self.store.list_runs(query).await?)
    }

    /// How many runs there are in each status.
    pub async fn counts(&self) -> Result<Vec<(WorkflowStatus, u64)>, RuntimeError> {
        Ok(self.store.count_runs().await?)
    }

    /// Where run `id` stands: status, step, what it waits for, and, for a registered
    /// workflow, its state and output as JSON.
    pub async fn state(&self, id: &str) -> Result<WorkflowState, RuntimeError> {
        let rec = self.record(id).await?;
        let snapshot = Snapshot::decode(&rec.snapshot);
        let step = snapshot.as_ref().map(|s| s.step).unwrap_or(0);
        let workflow_version = snapshot.as_ref().map(|s| s.version).ok();
        let registered = match &snapshot {
            Ok(s) => self.workflows.version(&rec.name, s.version),
            Err(_) => None,
        };
        let shown = match (registered, &snapshot) {
            (_, Err(e)) => Err(e.to_string()),
            (None, Ok(s)) => Err(format!(
                "workflow {:?} version {} is not registered with this runtime",
                rec.name, s.version
            )),
            (Some(w), Ok(s)) => s
                .check_layout(w.name(), w.layout())
                .map_err(|e| e.to_string())
                .and_then(|()| w.state_json(s)),
        };
        let (state, state_error) = match shown {
            Ok(v) => (Some(v), None),
            Err(e) => (None, Some(e)),
        };
        let output = match (registered, &rec.output) {
            (Some(w), Some(bytes)) => w.output_json(bytes).ok(),
            _ => None,
        };
        let waiting_for: Option<Pending> = match (rec.status, &rec.pending) {
            (WorkflowStatus::Running | WorkflowStatus::Parked, Some(b)) => {
                postcard::from_bytes(b).ok()
            }
            _ => None,
        };
        let current_state = match (registered, &snapshot) {
            (Some(w), Ok(s)) => postcard::take_from_bytes::<u32>(&s.state)
                .ok()
                .and_then(|(i, _)| w.description().states.get(i as usize))
                .map(|d| d.name.to_string()),
            _ => None,
        };
        let commands = match &waiting_for {
            Some(p) => {
                let tasks = if p
                    .leaves()
                    .iter()
                    .any(|l| matches!(l, Pending::Activity { .. }))
                {
                    self.store.load_tasks(id).await.unwrap_or_default()
                } else {
                    Vec::new()
                };
                let mut commands = self.commands(p, &tasks);
                // A parked child is waited for (see `ChildError::Parked`): said here, so that
                // an operator sees why the parent waits.
                for c in &mut commands {
                    if let PendingCommand::Child {
                        id: child_id,
                        seq,
                        parked,
                        ..
                    } = c
                        && let Ok(child) = self.store.load_workflow(child_id).await
                        && child.status == WorkflowStatus::Parked
                        && child
                            .parent
                            .as_ref()
                            .is_some_and(|p| p.id == id && p.seq == *seq)
                    {
                        *parked = Some(child.park_reason.unwrap_or_default());
                    }
                }
                commands
            }
            None => Vec::new(),
        };
        let timeout_at_ms = match rec.status.is_finished() {
            true => None,
            false => self
                .store
                .load_timers(id)
                .await
                .unwrap_or_default()
                .iter()
                .find(|t| t.seq == super::compose::TIMEOUT_SEQ)
                .map(|t| t.fire_at_ms),
        };
        let published = match &snapshot {
            Ok(s) => super::published::as_json(s.ctx.published()),
            Err(_) => Default::default(),
        };
        Ok(WorkflowState {
            published,
            id: rec.id,
            name: rec.name,
            workflow_version,
            status: rec.status,
            version: rec.version,
            step,
            state,
            state_error,
            waiting_for,
            current_state,
            commands,
            output,
            park_reason: rec.park_reason,
            created_at_ms: rec.created_at_ms,
            updated_at_ms: rec.updated_at_ms,
            timeout_at_ms,
        })
    }

    fn commands(&self, pending: &Pending, tasks: &[ActivityTask]) -> Vec<PendingCommand> {
        pending
            .leaves()
            .into_iter()
            .filter_map(|leaf| match leaf {
                Pending::Activity { seq, name, .. } if name == crate::promise::PROMISE_ACTIVITY => {
                    Some(PendingCommand::Promise { seq: *seq })
                }
                Pending::Activity {
                    seq, name, input, ..
                } => {
                    let task = tasks.iter().find(|t| t.seq == *seq);
                    Some(PendingCommand::Activity {
                        seq: *seq,
                        name: name.clone(),
                        input: self
                            .activities
                            .get(name)
                            .and_then(|a| a.input_json(input).ok()),
                        input_bytes: input.len(),
                        attempt: task.map_or(0, |t| t.attempt),
                        lease_owner: task.and_then(|t| t.lease_owner.clone()),
                        not_before_ms: task.map(|t| t.visible_at_ms),
                    })
                }
                Pending::Timer { seq, fire_at } => Some(PendingCommand::Timer {
                    seq: *seq,
                    fire_at_ms: *fire_at,
                }),
                Pending::Signal { seq, name } => Some(PendingCommand::Signal {
                    seq: *seq,
                    name: name.clone(),
                }),
                Pending::Child {
                    seq,
                    name,
                    id,
                    close,
                    ..
                } => Some(PendingCommand::Child {
                    seq: *seq,
                    name: name.clone(),
                    id: id.clone(),
                    close: *close,
                    parked: None,
                }),
                Pending::Join(_) | Pending::Select(_) => None,
            })
            .collect()
    }

    /// What happened to run `id`, oldest first.
    pub async fn history(&self, id: &str) -> Result<Vec<HistoryEntry>, RuntimeError> {
        self.store
            .history(id)
            .await
            .map_err(|e| RuntimeError::from_store(id, e))
    }

    /// The newest `limit` entries of what happened to run `id`, oldest first, and how many
    /// entries there are in all ([`Store::history_tail`](crate::store::Store::history_tail)).
    pub async fn history_tail(
        &self,
        id: &str,
        limit: usize,
    ) -> Result<(Vec<HistoryEntry>, u64), RuntimeError> {
        self.store
            .history_tail(id, limit)
            .await
            .map_err(|e| RuntimeError::from_store(id, e))
    }

    /// The state machine of run `id`'s workflow, at the version the run is on: `None` when
    /// that workflow is not registered with this client.
    pub async fn describe(&self, id: &str) -> Result<Option<&'static Description>, RuntimeError> {
        let rec = self.record(id).await?;
        let version = match Snapshot::decode(&rec.snapshot) {
            Ok(s) => s.version,
            Err(_) => return Ok(None),
        };
        Ok(self
            .workflows
            .version(&rec.name, version)
            .map(|w| w.description()))
    }

    /// Waits for run `id` of workflow `W` to finish and returns its output, as
    /// [`crate::Handle::result`] does, from any process: a web tier that starts runs for
    /// workers elsewhere waits for their results with it. A parked or cancelled run is an
    /// error at once (a parked one will not finish without a person), and so is a run of
    /// another workflow ([`RuntimeError::WrongWorkflow`]) or an unknown id.
    ///
    /// The client of a runtime is woken by that runtime's steps; a client on its own looks
    /// at the store, every 10 ms at first and then less often, up to once a second: a run
    /// that ends after a long wait is seen within a second of its end.
    ///
    /// ```
    /// # use workflow_rt::prelude::*;
    /// # use workflow_rt::Client;
    /// #[workflow]
    /// async fn double(_ctx: WorkflowCtx, x: u64) -> u64 {
    ///     x * 2
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = std::sync::Arc::new(MemoryStore::new());
    /// // A worker, here in the same process; usually another.
    /// let worker = Runtime::builder(store.clone()).workflow(double).build().await?;
    /// let client = Client::new(store).workflow(double);
    /// client.start(double, "d-1", 21).await?;
    /// assert_eq!(client.result(double, "d-1").await?, 42);
    /// worker.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn result<W: Workflow>(
        &self,
        _workflow: W,
        id: &str,
    ) -> Result<W::Output, RuntimeError> {
        self.result_of::<W>(id, false).await
    }

    /// [`Client::result`], for a run of `W`. With `handle` (for [`crate::Handle::result`]),
    /// a runtime of this client that has shut down ends the wait ([`RuntimeError::ShutDown`]);
    /// without, the wait goes on by looking at the store, where other workers may end it.
    pub(super) async fn result_of<W: Workflow>(
        &self,
        id: &str,
        handle: bool,
    ) -> Result<W::Output, RuntimeError> {
        let mut pause = Duration::from_millis(10);
        let mut failures = 0u32;
        loop {
            let local = self.runtime().filter(|rt| handle || !rt.is_shut_down());
            let watching = local.as_ref().map(|rt| Watching {
                watcher: rt.watcher(id),
                rt,
                id,
            });
            let notified = watching.as_ref().map(|w| w.watcher.notified());
            tokio::pin!(notified);
            if let Some(n) = notified.as_mut().as_pin_mut() {
                n.enable();
            }
            let done = match self.store.load_workflow(id).await {
                // A failure of the store (a connection lost): looked at again, as a long wait
                // from another process should.
                Err(StoreError::Backend(e)) => {
                    failures = failures.saturating_add(1);
                    if failures == 10 {
                        tracing::warn!(workflow_id = %id, error = %e, "cannot look at the run, ten times in a row; waiting for its result goes on");
                    } else {
                        tracing::debug!(workflow_id = %id, error = %e, "cannot look at the run; looking again");
                    }
                    None
                }
                Err(e) => Some(Err(RuntimeError::from_store(id, e))),
                Ok(r) if r.name != W::NAME => Some(Err(RuntimeError::WrongWorkflow {
                    id: id.to_string(),
                    expected: W::NAME.to_string(),
                    found: r.name,
                })),
                Ok(r) => ended::<W>(id, r),
            };
            if let Some(out) = done {
                return out;
            }
            match (&local, notified.as_mut().as_pin_mut()) {
                (Some(rt), Some(n)) => {
                    if rt.is_shut_down() {
                        return Err(RuntimeError::ShutDown);
                    }
                    // Woken when a step of this runtime finishes it; the poll sees other
                    // runtimes'.
                    let poll = rt.config.poll_interval;
                    tokio::select! {
                        () = n => {}
                        () = tokio::time::sleep(poll) => {}
                    }
                }
                _ => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    /// Sends signal `signal` to run `id`, as [`crate::Runtime::signal`] does: stored at once,
    /// delivered in order to the next wait for it. A run that does not exist or has finished
    /// is an error, and so is a payload over [`Limits::max_signal_bytes`].
    pub async fn signal<T: Serialize>(
        &self,
        id: &str,
        signal: impl IntoSignal<T>,
        payload: T,
    ) -> Result<(), RuntimeError> {
        let signal = self.encode_signal(signal.signal_name(), &payload)?;
        self.deliver(id, &signal).await
    }

    /// Signal `name` with `payload`, encoded and checked (its name, its size).
    pub(super) fn encode_signal<T: Serialize>(
        &self,
        name: &str,
        payload: &T,
    ) -> Result<NewSignal, RuntimeError> {
        let bytes = no_panic("encoding the payload", || {
            postcard::to_stdvec(payload).map_err(|e| e.to_string())
        })
        .map_err(|reason| RuntimeError::Encode {
            what: format!("signal {name:?}"),
            reason,
        })?;
        self.checked_signal(name, bytes, crate::signal::type_tag::<T>())
    }

    /// Sends signal `name` to run `id` with a JSON payload, for callers that do not have the
    /// payload's Rust type (an operator's command, a web form, another language). The wait for
    /// it decodes the JSON into the type it expects; a payload that does not fit that type is
    /// dead-lettered ([`HistoryKind::DeadLetter`]) and the run goes on waiting, as a payload of
    /// the wrong type sent with [`Client::signal`] is. Otherwise as [`Client::signal`].
    ///
    /// ```
    /// # use workflow_rt::prelude::*;
    /// # #[derive(Debug, Clone, Serialize, Deserialize)]
    /// # struct Approval { by: String, amount: u64 }
    /// #[workflow]
    /// async fn approve(ctx: WorkflowCtx, input: ()) -> String {
    ///     let a: Approval = ctx.signal("approve").await;
    ///     format!("{} approved {}", a.by, a.amount)
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let rt = Runtime::builder(MemoryStore::new()).workflow(approve).build().await?;
    /// rt.start(approve, "a-1", ()).await?;
    /// let json = serde_json::json!({ "by": "ana", "amount": 300 });
    /// rt.client().signal_json("a-1", "approve", &json).await?;
    /// let out = rt.handle(approve, "a-1").result().await?;
    /// assert_eq!(out, "ana approved 300");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn signal_json(
        &self,
        id: &str,
        name: &str,
        payload: &serde_json::Value,
    ) -> Result<(), RuntimeError> {
        let signal = self.encode_signal_json(name, payload)?;
        self.deliver(id, &signal).await
    }

    /// Signal `name` with a JSON `payload`, encoded and checked (its name, its size).
    pub(super) fn encode_signal_json(
        &self,
        name: &str,
        payload: &serde_json::Value,
    ) -> Result<NewSignal, RuntimeError> {
        let bytes = serde_json::to_vec(payload).map_err(|e| RuntimeError::Encode {
            what: format!("signal {name:?}"),
            reason: e.to_string(),
        })?;
        self.checked_signal(name, bytes, crate::signal::JSON_TAG)
    }

    /// An encoded signal, its name and size checked.
    fn checked_signal(
        &self,
        name: &str,
        bytes: Vec<u8>,
        type_tag: u64,
    ) -> Result<NewSignal, RuntimeError> {
        super::error::checked_name("signal name", name)?;
        too_large(
            || format!("the payload of signal {name:?}"),
            bytes.len(),
            self.limits.max_signal_bytes,
        )?;
        Ok(NewSignal {
            name: name.to_string(),
            payload: bytes,
            type_tag: Some(type_tag),
        })
    }

    /// Stores an encoded signal and wakes the runtime the client belongs to, if any.
    pub(super) async fn deliver(&self, id: &str, signal: &NewSignal) -> Result<(), RuntimeError> {
        let now = self.clock.now_ms();
        self.store
            .append_signal(
                id,
                &signal.name,
                signal.payload.clone(),
                signal.type_tag,
                now,
            )
            .await
            .map_err(|e| RuntimeError::from_store(id, e))?;
        if let Some(rt) = self.runtime() {
            rt.wake(id, Vec::new());
        }
        Ok(())
    }

    /// Completes the wait on completion token `token` ([`crate::WorkflowCtx::promise`]) with
    /// `value`: the run waiting on it takes the value at its next step. A token completes
    /// once; an unknown or used token, or a value of another type than the wait's, is
    /// [`RuntimeError::Complete`] and nothing changes.
    pub async fn complete<T: Serialize>(&self, token: &str, value: T) -> Result<(), RuntimeError> {
        let bytes = no_panic("encoding the value", || {
            postcard::to_stdvec(&value).map_err(|e| e.to_string())
        })
        .map_err(|e| RuntimeError::Complete(CompleteError::BadValue(e)))?;
        self.complete_bytes(token, crate::signal::type_tag::<T>(), bytes)
            .await
    }

    /// [`Client::complete`] with the value as JSON, for callers without the value's type (a
    /// webhook handler): it is decoded into the type the wait expects when the run takes it,
    /// and one that does not fit ends the wait with [`crate::PromiseError::BadValue`].
    pub async fn complete_json(
        &self,
        token: &str,
        value: &serde_json::Value,
    ) -> Result<(), RuntimeError> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| RuntimeError::Complete(CompleteError::BadValue(e.to_string())))?;
        self.complete_bytes(token, crate::signal::JSON_TAG, bytes)
            .await
    }

    async fn complete_bytes(
        &self,
        token: &str,
        type_tag: u64,
        bytes: Vec<u8>,
    ) -> Result<(), RuntimeError> {
        let parts = crate::promise::parse_token(token).ok_or(CompleteError::Malformed)?;
        if bytes.len() > self.limits.max_signal_bytes {
            return Err(CompleteError::BadValue(format!(
                "it is {} bytes, over the limit of {} (see Limits::max_signal_bytes)",
                bytes.len(),
                self.limits.max_signal_bytes
            ))
            .into());
        }
        let tasks = match self.store.load_tasks(parts.workflow_id).await {
            Ok(tasks) => tasks,
            Err(StoreError::NotFound(_)) => return Err(CompleteError::Unknown.into()),
            Err(e) => return Err(RuntimeError::from_store(parts.workflow_id, e)),
        };
        let Some(task) = tasks.iter().find(|t| {
            t.seq == parts.seq
                && t.name == crate::promise::PROMISE_ACTIVITY
                && t.lease_owner
                    .as_deref()
                    .is_some_and(|s| crate::promise::same_secret(s, parts.secret))
        }) else {
            return Err(CompleteError::Unknown.into());
        };
        let now = self.clock.now_ms();
        // Its wait gave up already (its timeout is due): the value would come after it.
        let rec = self
            .store
            .load_workflow(parts.workflow_id)
            .await
            .map_err(|e| RuntimeError::from_store(parts.workflow_id, e))?;
        let pending = rec
            .pending
            .as_deref()
            .and_then(|b| postcard::from_bytes::<crate::machine::Pending>(b).ok());
        if pending.is_some_and(|p| crate::promise::timed_out(&p, parts.seq, now)) {
            return Err(CompleteError::Unknown.into());
        }
        let expected = crate::promise::task_input(&task.input).map(|(tag, _)| tag);
        if type_tag != crate::signal::JSON_TAG && expected != Some(type_tag) {
            return Err(CompleteError::WrongType.into());
        }
        let result = postcard::to_stdvec(&crate::promise::Completed { type_tag, bytes })
            .map_err(|e| CompleteError::BadValue(e.to_string()))?;
        let done = crate::store::CompleteActivity {
            workflow_id: parts.workflow_id.to_string(),
            attempt: crate::store::TaskAttempt {
                seq: parts.seq,
                scheduled_version: task.scheduled_version,
                attempt: task.attempt,
                owner: parts.secret.to_string(),
            },
            result: Ok(result),
            at_ms: now,
        };
        let taken = self
            .store
            .complete_activity(done)
            .await
            .map_err(|e| RuntimeError::from_store(parts.workflow_id, e))?;
        if !taken {
            // Completed or dropped since it was read.
            return Err(CompleteError::Unknown.into());
        }
        if let Some(rt) = self.runtime() {
            rt.wake(parts.workflow_id, Vec::new());
        }
        Ok(())
    }

    /// Asks run `id` to cancel, with the client's grace period ([`Client::cancel_grace`]):
    /// the run's code is told at its next step. The await it is suspended at is interrupted
    /// (an activity call returns an error of kind
    /// [`Cancelled`](crate::ActivityErrorKind::Cancelled), and the attempt running it sees
    /// [`ActivityCtx::is_cancelled`](crate::ActivityCtx::is_cancelled); a timer ends now; a
    /// child call passes the request on to the child, unless its
    /// [`ParentClose`](crate::ParentClose) policy is `Abandon`), [`WorkflowCtx::is_cancelled`](crate::WorkflowCtx::is_cancelled)
    /// turns true, and the code may await compensating activities before it returns. A run
    /// that returns an error after the request ends as cancelled (its result is then
    /// [`RuntimeError::Cancelled`]); one that returns its output anyway ends as completed. A
    /// run still going when the grace period is over is stopped outright, as by
    /// [`Client::terminate`]. A second request changes nothing; a parked run (whose code
    /// cannot run) is terminated at once, and so is a run that has not taken its first step
    /// (its code has done nothing to undo: it is not run, and none of its calls start); a
    /// finished run is [`RuntimeError::Finished`], and nothing changes.
    pub async fn cancel(&self, id: &str) -> Result<(), RuntimeError> {
        self.cancel_with(id, "cancel requested", self.cancel_grace)
            .await
    }

    /// [`Client::cancel`], with the reason the history records and a grace period of its own
    /// (`Duration::ZERO` stops the run outright, as [`Client::terminate`]).
    pub async fn cancel_with(
        &self,
        id: &str,
        reason: &str,
        grace: Duration,
    ) -> Result<(), RuntimeError> {
        let rec = self.unfinished(id).await?;
        let grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
        if rec.status == WorkflowStatus::Parked || grace_ms == 0 {
            return self
                .terminate_with(id, reason, Stop::Any, None, false)
                .await
                .map(drop);
        }
        // A run that has not taken its first step has done nothing to undo: it ends cancelled
        // without running its code. (Told at its first step, it would run that step and start
        // the calls it makes before it took the request.) Started meanwhile: it is told.
        if not_started(&rec)
            && rec.status == WorkflowStatus::Running
            && self
                .terminate_with(
                    id,
                    &format!("cancelled before its first step: {reason}"),
                    Stop::IfNotStarted,
                    None,
                    false,
                )
                .await?
        {
            return Ok(());
        }
        let now = self.clock.now_ms();
        let entry = HistoryEntry::new(
            now,
            HistoryKind::CancelRequested,
            format!("cancel requested: {reason} (grace period {grace_ms} ms)"),
        );
        let kind = EventKind::CancelRequested {
            reason: reason.to_string(),
            grace_ms,
        };
        match self.store.append_event(id, kind, now, entry).await {
            Ok(_) => {}
            // Parked or finished meanwhile: a parked run cannot take it (its code does not run).
            Err(StoreError::Finished {
                workflow_id,
                status,
            }) => {
                return Err(RuntimeError::Finished {
                    id: workflow_id,
                    status,
                });
            }
            Err(e) => return Err(RuntimeError::from_store(id, e)),
        }
        // Parked between the look above and the request (its code cannot run to take it): it
        // is terminated, as a run parked before is.
        if self
            .store
            .load_workflow(id)
            .await
            .is_ok_and(|r| r.status == WorkflowStatus::Parked)
        {
            return match self
                .terminate_with(id, reason, Stop::Any, None, false)
                .await
            {
                Err(RuntimeError::Finished { .. }) => Ok(()),
                other => other.map(drop),
            };
        }
        if let Some(rt) = self.runtime() {
            rt.wake(id, Vec::new());
        }
        Ok(())
    }

    /// Stops run `id` outright: its code is not told, its activity attempts in flight are
    /// abandoned, its timers dropped, and its result becomes [`RuntimeError::Cancelled`]. Its
    /// parent, if it is a child run, is told it was cancelled; its child runs get what their
    /// [`ParentClose`](crate::ParentClose) policies say. A finished run is
    /// [`RuntimeError::Finished`], and nothing changes.
    pub async fn terminate(&self, id: &str) -> Result<(), RuntimeError> {
        self.terminate_with(id, "terminated", Stop::Any, None, false)
            .await
            .map(drop)
    }

    /// Run `id` as stored ([`RuntimeError::UnknownWorkflow`] if there is none).
    pub(super) async fn record(
        &self,
        id: &str,
    ) -> Result<crate::store::WorkflowRecord, RuntimeError> {
        self.store
            .load_workflow(id)
            .await
            .map_err(|e| RuntimeError::from_store(id, e))
    }

    /// Run `id` as stored, if it has not finished ([`RuntimeError::Finished`] if it has).
    async fn unfinished(&self, id: &str) -> Result<crate::store::WorkflowRecord, RuntimeError> {
        let rec = self.record(id).await?;
        if rec.status.is_finished() {
            return Err(RuntimeError::Finished {
                id: id.to_string(),
                status: rec.status,
            });
        }
        Ok(rec)
    }

    /// Terminates those of the runs `told` (children just sent a [`ParentClose`] request by
    /// a committed step, `(id, reason)`) that are parked, or have not taken their first step.
    /// A parked run's code cannot run to take the request, which would wait in its inbox
    /// until someone unparks it; a run that has not started would run its first step, and
    /// start its first calls, before it took the request. As [`Client::cancel`] does with
    /// such runs. Failures are logged: the request is stored, and the run takes it at its
    /// next step.
    ///
    /// [`ParentClose`]: crate::ParentClose
    pub(super) async fn terminate_parked(&self, told: &[super::compose::Told]) {
        for t in told {
            let (id, reason) = (&t.id, &t.reason);
            // A parent's close reaches its own child alone (the store dropped the request to
            // another run under the id: see `Delivery::child_call`), checked at each try.
            let link = t.child_of.as_ref();
            let stopped = match self
                .terminate_with(id, reason, Stop::IfParked, link, t.timed_out)
                .await
            {
                Ok(false) => {
                    self.terminate_with(
                        id,
                        &format!("cancelled before its first step: {reason}"),
                        Stop::IfNotStarted,
                        link,
                        t.timed_out,
                    )
                    .await
                }
                other => other,
            };
            match stopped {
                Ok(_) | Err(RuntimeError::Finished { .. }) => {}
                Err(e) => tracing::warn!(
                    workflow_id = %id,
                    error = %e,
                    "a child its parent closed could not be terminated (parked or not started)"
                ),
            }
        }
    }

    /// Stops run `id` outright (see [`Client::terminate`]) if `stop` says so, and, with
    /// `child_of`, only if it is that call's child; whether it did. `timed_out`: the stop is
    /// the end of the run's execution timeout (its parent is told so).
    async fn terminate_with(
        &self,
        id: &str,
        reason: &str,
        stop: Stop,
        child_of: Option<&ParentLink>,
        timed_out: bool,
    ) -> Result<bool, RuntimeError> {
        for _ in 0..64 {
            let rec = self.unfinished(id).await?;
            if child_of.is_some_and(|link| rec.parent.as_ref() != Some(link)) {
                // Another run under the id (the child ended, was purged, and the id taken).
                return Ok(false);
            }
            if stop == Stop::IfParked && rec.status != WorkflowStatus::Parked {
                // Unparked meanwhile: its code takes the request it was sent.
                return Ok(false);
            }
            if stop == Stop::IfNotStarted
                && (!not_started(&rec) || rec.status != WorkflowStatus::Running)
            {
                // It took its first step meanwhile: its code takes the request.
                return Ok(false);
            }
            let pending: Option<Pending> = rec
                .pending
                .as_deref()
                .and_then(|b| postcard::from_bytes(b).ok());
            let now = self.clock.now_ms();
            // (A parked child's parent waits for it. One parked by an earlier version of the
            // runtime was told then, and waits no more: this answer is then dropped at its
            // next step, as any answer to a call it no longer waits on.)
            let mut deliver: Vec<Delivery> = super::compose::tell_parent(
                rec.parent.as_ref(),
                id,
                Err(super::compose::stopped_answer(id, timed_out)),
            )
            .into_iter()
            .collect();
            let children = super::compose::child_leaves(pending.as_ref());
            deliver.extend(super::compose::close_children(
                children
                    .iter()
                    .map(|(seq, child, close)| (*seq, *child, *close)),
                &format!("its parent {id} was stopped: {reason}"),
                u64::try_from(self.cancel_grace.as_millis()).unwrap_or(u64::MAX),
            ));
            let commit = StepCommit {
                children: Vec::new(),
                workflow_id: id.to_string(),
                run_key: rec.run_key,
                expected_version: rec.version,
                now_ms: now,
                outcome: StepOutcome::Cancelled,
                consumed_events: Vec::new(),
                completed_tasks: Vec::new(),
                cancelled: Vec::new(),
                fired_timers: Vec::new(),
                seen_events_upto: 0,
                keep_ready: false,
                history: vec![HistoryEntry::new(now, HistoryKind::Terminated, reason)],
                deliver,
            };
            let told = super::compose::told_to_close(id, &commit.deliver);
            match self.store.commit_step(commit).await {
                Ok(_) => {
                    telemetry::run_finished(&rec.name, id, WorkflowStatus::Cancelled, None);
                    if let Some(rt) = self.runtime() {
                        rt.forget(id);
                        rt.notify_watchers(id);
                        rt.abort_attempts(id, None);
                    }
                    if !told.is_empty() {
                        Box::pin(self.terminate_parked(&told)).await;
                    }
                    return Ok(true);
                }
                Err(StoreError::Conflict { .. }) => {
                    tokio::time::sleep(Duration::from_millis(1)).await
                }
                Err(e) => return Err(RuntimeError::from_store(id, e)),
            }
        }
        Err(RuntimeError::Store(StoreError::Conflict {
            workflow_id: id.to_string(),
            expected: 0,
        }))
    }

    /// Puts parked run `id` back to work once the cause is fixed; a run that is not parked is
    /// [`RuntimeError::NotParked`].
    pub async fn unpark(&self, id: &str) -> Result<(), RuntimeError> {
        let workflow = self
            .change_status(id, |status| match status {
                WorkflowStatus::Parked => Ok((
                    StepOutcome::Unparked,
                    HistoryKind::Unparked,
                    "unparked".to_string(),
                )),
                status => Err(RuntimeError::NotParked {
                    id: id.to_string(),
                    status,
                }),
            })
            .await?;
        telemetry::run_unparked(&workflow, id);
        if let Some(rt) = self.runtime() {
            rt.wake(id, Vec::new());
        }
        Ok(())
    }

    /// Deletes finished run `id` and everything of it (its row, signals, tasks, timers and
    /// history); its id can then be used again. A running or parked run is
    /// [`RuntimeError::NotFinished`], and nothing changes.
    pub async fn purge(&self, id: &str) -> Result<(), RuntimeError> {
        self.store
            .purge(id)
            .await
            .map_err(|e| RuntimeError::from_store(id, e))?;
        if let Some(rt) = self.runtime() {
            rt.forget(id);
        }
        Ok(())
    }

    /// Purges up to `limit` runs that finished more than `age` ago (retention); returns their
    /// ids.
    pub async fn purge_finished(
        &self,
        age: Duration,
        limit: usize,
    ) -> Result<Vec<String>, RuntimeError> {
        let age_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
        let before = self.clock.now_ms().saturating_sub(age_ms);
        let ids = self.store.purge_finished(before, limit).await?;
        if let Some(rt) = self.runtime() {
            for id in &ids {
                rt.forget(id);
            }
        }
        Ok(ids)
    }

    /// Commits a status change decided by `decide` from the current status, retrying on
    /// conflicts with running steps; returns the run's workflow name.
    async fn change_status(
        &self,
        id: &str,
        decide: impl Fn(WorkflowStatus) -> Result<(StepOutcome, HistoryKind, String), RuntimeError>,
    ) -> Result<String, RuntimeError> {
        for _ in 0..64 {
            let rec = self.record(id).await?;
            let (outcome, kind, detail) = decide(rec.status)?;
            let now = self.clock.now_ms();
            let commit = StepCommit {
                children: Vec::new(),
                workflow_id: id.to_string(),
                run_key: rec.run_key,
                expected_version: rec.version,
                now_ms: now,
                outcome,
                consumed_events: Vec::new(),
                completed_tasks: Vec::new(),
                cancelled: Vec::new(),
                fired_timers: Vec::new(),
                seen_events_upto: 0,
                keep_ready: false,
                history: vec![HistoryEntry::new(now, kind, detail)],
                deliver: Vec::new(),
            };
            match self.store.commit_step(commit).await {
                Ok(_) => {
                    if let Some(rt) = self.runtime() {
                        rt.forget(id);
                        rt.notify_watchers(id);
                    }
                    return Ok(rec.name);
                }
                Err(StoreError::Conflict { .. }) => {
                    tokio::time::sleep(Duration::from_millis(1)).await
                }
                Err(e) => return Err(RuntimeError::from_store(id, e)),
            }
        }
        Err(RuntimeError::Store(StoreError::Conflict {
            workflow_id: id.to_string(),
            expected: 0,
        }))
    }
}

/// How a run is started ([`Client::start_with`], [`crate::Runtime::start_with`], and the
/// `signal_with_start_with` of both): what a start does when its id is taken by a finished
/// run, and how long the run may run. An [`IdReuse`] converts into the options with that
/// policy and nothing else.
///
/// ```
/// # use std::time::Duration;
/// # use workflow_rt::{IdReuse, StartOptions};
/// let options = StartOptions::new()
///     .reuse(IdReuse::AfterFailure)
///     .timeout(Duration::from_secs(24 * 3600));
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StartOptions {
    reuse: IdReuse,
    timeout: Option<Duration>,
}

impl StartOptions {
    /// The defaults: [`IdReuse::Never`], no timeout.
    pub fn new() -> Self {
        StartOptions::default()
    }

    /// What a start does when its id is taken by a finished run (see [`IdReuse`]).
    pub fn reuse(mut self, reuse: IdReuse) -> Self {
        self.reuse = reuse;
        self
    }

    /// The run's execution timeout, counted from its start: once it has run this long
    /// without ending, it is stopped outright, as [`Client::terminate`] stops it, parked or
    /// not: no more of its code runs, its activity attempts are abandoned, its children are
    /// closed by their [`crate::ParentClose`] policies, and it ends `Cancelled`, its history
    /// saying that its timeout ran out (Temporal's workflow execution timeout; DBOS's
    /// workflow timeout, which also runs no more of the code). A run that should undo
    /// something when it takes too long races its work against a timer in its own code
    /// (`ctx.select((work, ctx.sleep(limit)))`) and compensates when the timer wins.
    ///
    /// The end is a timer in the store, so it comes after a restart, whichever worker holds
    /// the run; it is measured on the clock of the process that starts the run. At least
    /// [`MIN_TIMEOUT`], a second. A run that times out before any worker has taken it ends
    /// without running its code. A start taken
    /// as a retry of the one that made the run (the same workflow and input) changes nothing,
    /// the timeout included.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout.max(MIN_TIMEOUT));
        self
    }
}

impl StartOptions {
    /// Whether a run started with these options has a timeout.
    pub(super) fn has_timeout(&self) -> bool {
        self.timeout.is_some()
    }
}

impl From<IdReuse> for StartOptions {
    fn from(reuse: IdReuse) -> Self {
        StartOptions::new().reuse(reuse)
    }
}

/// The shortest execution timeout ([`StartOptions::timeout`], [`crate::ChildCall::timeout`],
/// [`crate::schedule::NewSchedule::run_timeout`]): a shorter one is taken as this. (A worker
/// that takes a run it did not start looks whether the run's timeout ran out before its first
/// step only when the run is at least this old.)
pub const MIN_TIMEOUT: Duration = Duration::from_secs(1);

/// What [`Client::signal_with_start`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalWithStart {
    /// No run was there to take the signal: this call started one, with the signal.
    Started,
    /// A run was there and took the signal.
    Signalled,
}

/// A new run of `W`, prepared by [`Client::prepare`]: what is stored, and its first state.
pub(super) struct First<W: Workflow> {
    new: NewWorkflow,
    state: W::State,
    ctx: CtxState,
    bytes: usize,
}

/// A run of `W` stored, at `version`: its first state, its context, its version and the size
/// of its first snapshot, for the runtime to step it from.
pub(super) type Created<W> = (<W as Workflow>::State, CtxState, u64, usize);

impl<W: Workflow> First<W> {
    fn created(self, version: u64) -> Created<W> {
        (self.state, self.ctx, version, self.bytes)
    }
}

/// What [`Client::insert`] did.
enum Inserted {
    /// Stored the run, at this version.
    Created(u64),
    /// Found the id taken by this run, which the start's [`IdReuse`] does not let go.
    Taken(Box<crate::store::WorkflowRecord>),
}

/// What a start does when its id is taken by a run that has finished: a run that has not
/// finished is never replaced. (Temporal's "workflow id reuse policy"; there is no `run id`
/// here, so a replaced run is purged, history and all.) The new run's versions never repeat
/// the old run's (see [`Store::create_workflow`](crate::store::Store::create_workflow)): a
/// worker elsewhere that still holds a state of the old run cannot commit it over the new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdReuse {
    /// An id names one run for good (the default): starting it again with the same workflow
    /// and input is a harmless retry that returns the run there; anything else is
    /// [`RuntimeError::IdInUse`]. Purge the run ([`Client::purge`]) to use its id again.
    #[default]
    Never,
    /// A run that finished in any way (completed, failed or cancelled) is purged and a new run
    /// started under its id.
    AfterFinished,
    /// Only a run that failed or was cancelled is replaced; a completed one keeps its id, as
    /// with [`IdReuse::Never`] (Temporal's "allow duplicate failed only").
    AfterFailure,
}

impl IdReuse {
    fn allows(self, status: WorkflowStatus) -> bool {
        match self {
            IdReuse::Never => false,
            IdReuse::AfterFinished => status.is_finished(),
            IdReuse::AfterFailure => {
                matches!(status, WorkflowStatus::Failed | WorkflowStatus::Cancelled)
            }
        }
    }
}

/// A runtime's watch for the end of a run, given up when dropped (a wait given up by its
/// caller too: a `timeout` around [`Client::result`]).
pub(super) struct Watching<'a> {
    pub(super) rt: &'a Arc<Inner>,
    pub(super) id: &'a str,
    pub(super) watcher: Arc<tokio::sync::Notify>,
}

impl Drop for Watching<'_> {
    fn drop(&mut self) {
        self.rt.unwatch(self.id, &self.watcher);
    }
}

/// The outcome of run `id` of `W` as stored in `rec`, if it has ended or parked: its output,
/// or the error that says how it ended.
fn ended<W: Workflow>(
    id: &str,
    rec: crate::store::WorkflowRecord,
) -> Option<Result<W::Output, RuntimeError>> {
    let output = |bytes: Option<&Vec<u8>>| match bytes {
        Some(bytes) => no_panic("decoding the output", || {
            postcard::from_bytes::<W::Output>(bytes).map_err(|e| e.to_string())
        })
        .map_err(|reason| RuntimeError::Decode {
            what: format!("the output of {} {id:?}", W::NAME),
            reason,
        }),
        None => Err(RuntimeError::Decode {
            what: format!("the output of {} {id:?}", W::NAME),
            reason: "no output stored".into(),
        }),
    };
    match rec.status {
        WorkflowStatus::Running => None,
        WorkflowStatus::Completed | WorkflowStatus::Failed => Some(output(rec.output.as_ref())),
        WorkflowStatus::Parked => Some(Err(RuntimeError::Parked {
            id: id.to_string(),
            reason: rec.park_reason.unwrap_or_default(),
        })),
        WorkflowStatus::Cancelled => Some(Err(RuntimeError::Cancelled { id: id.to_string() })),
    }
}

/// Which runs [`Client::terminate_with`] stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// The run, whatever its status (unless it has finished).
    Any,
    /// The run only while it is parked (checked at each try): one unparked meanwhile takes
    /// the request it was sent.
    IfParked,
    /// The run only while it has not taken its first step (checked at each try).
    IfNotStarted,
}

/// Whether run `rec` has not taken its first step: it waits on nothing yet, and its snapshot
/// is of step 0. (A run that continued as new waits on nothing until its next step either, but
/// its steps go on counting: it has run, and a cancel request is its code's to take.) A
/// snapshot that does not decode counts as of step 0.
fn not_started(rec: &crate::store::WorkflowRecord) -> bool {
    rec.pending.is_none() && Snapshot::decode(&rec.snapshot).map_or(true, |s| s.step == 0)
}
