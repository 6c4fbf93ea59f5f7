use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::Runtime;
use super::engine::{Config, Inner};
use super::error::RuntimeError;
use super::registry::{
    ErasedActivity, ErasedWorkflow, RegisteredActivity, RegisteredWorkflow, Registry,
};
use crate::activity::Activity;
use crate::clock::{Clock, SystemClock};
use crate::store::{Release, Store};
use crate::versions::{ErasedMigration, Migration, TypedMigration};
use crate::workflow::Workflow;

/// Size limits on the bytes a [`Runtime`] stores: a workflow's input, a signal's payload, a
/// snapshot. Set with [`Builder::limits`]; [`Limits::default`] is [`Limits::DEFAULT`].
///
/// Every stored value is kept whole in a row and read whole at every load, so one huge value
/// slows every step of its workflow (and, on a shared store, the others'); a limit turns a
/// mistake (a file's contents passed as a signal, a list that grows at every loop) into an
/// error at the point where it is made:
///
/// - an input over `max_input_bytes`, or a first snapshot (which holds the input) over
///   `max_snapshot_bytes`: [`Runtime::start`] fails with [`RuntimeError::TooLarge`], and no run
///   is stored;
/// - a signal payload over `max_signal_bytes`: [`Runtime::signal`] fails with
///   [`RuntimeError::TooLarge`], and nothing is stored;
/// - a step whose new snapshot is over `max_snapshot_bytes`: the step is not committed (nothing
///   it consumed is consumed, nothing is lost) and the workflow is parked with the reason;
///   raise the limit and [`Runtime::unpark`] it.
///
/// ```
/// use workflow_rt::{Limits, MemoryStore, Runtime};
///
/// let builder = Runtime::builder(MemoryStore::new()).limits(Limits {
///     max_signal_bytes: 64 * 1024,
///     ..Limits::default()
/// });
/// # drop(builder);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest encoded input [`Runtime::start`] accepts (default 2 MiB).
    pub max_input_bytes: usize,
    /// The largest encoded signal payload [`Runtime::signal`] accepts (default 2 MiB).
    pub max_signal_bytes: usize,
    /// The largest snapshot (envelope, context and state) a step may commit (default 16 MiB).
    pub max_snapshot_bytes: usize,
}

impl Limits {
    /// The defaults. Inputs and signals: 2 MiB, Temporal's limit on one payload (its server's
    /// `limit.blobSize.error`, 2 MiB by default; it warns from 512 KiB). Snapshots: 16 MiB.
    /// A snapshot holds what a Temporal workflow rebuilds from its history, which Temporal
    /// caps at 50 MiB (`limit.historySize.error`), but it is written whole at every step, not
    /// appended to: 16 MiB is room for several inputs and signals kept in the state, and a
    /// bound on what one step writes.
    pub const DEFAULT: Limits = Limits {
        max_input_bytes: 2 * 1024 * 1024,
        max_signal_bytes: 2 * 1024 * 1024,
        max_snapshot_bytes: 16 * 1024 * 1024,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// The default grace period of a cancellation ([`Builder::cancel_grace`]).
pub(crate) const DEFAULT_CANCEL_GRACE: Duration = Duration::from_secs(300);

/// Configures and starts a [`Runtime`]: `Runtime::builder(store).workflow(..)...build()`.
///
/// ```
/// use std::time::Duration;
/// use workflow_rt::prelude::*;
/// use workflow_rt::RuntimeError;
///
/// #[activity]
/// async fn ship(_ctx: ActivityCtx, order: u64) -> Result<u64, ActivityError> {
///     Ok(order)
/// }
///
/// #[workflow]
/// async fn fulfil(ctx: WorkflowCtx, order: u64) -> Result<u64, WorkflowError> {
///     Ok(ctx.activity(ship, order).await?)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let rt = Runtime::builder(SqliteStore::open(dir.path().join("workflows.db"))?)
///     .workflow(fulfil)
///     .activity(ship)
///     .worker_id("worker-a") // names this worker's leases
///     .max_concurrent_activities(64)
///     .lease_duration(Duration::from_secs(10)) // a dead worker's calls run again after this
///     .build()
///     .await?;
/// rt.shutdown().await;
///
/// // A workflow registered without an activity it calls is refused at build time.
/// let err = Runtime::builder(MemoryStore::new()).workflow(fulfil).build().await.unwrap_err();
/// assert!(matches!(err, RuntimeError::MissingActivity { ref activity, .. } if activity == "ship"));
/// # Ok(())
/// # }
/// ```
pub struct Builder {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    workflows: Vec<Arc<dyn ErasedWorkflow>>,
    migrations: Vec<Arc<dyn ErasedMigration>>,
    activities: Vec<(String, Arc<dyn ErasedActivity>)>,
    worker_id: Option<String>,
    max_concurrent_activities: usize,
    max_concurrent_steps: usize,
    lease: Duration,
    drain_timeout: Duration,
    cancel_grace: Duration,
    poll_interval: Duration,
    cache_capacity: usize,
    cache_bytes: usize,
    restore_every_step: bool,
    allow_missing_activities: bool,
    seed: Option<u64>,
    limits: Limits,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field(
                "workflows",
                &self.workflows.iter().map(|w| w.name()).collect::<Vec<_>>(),
            )
            .field(
                "activities",
                &self.activities.iter().map(|a| &a.0).collect::<Vec<_>>(),
            )
            .field("worker_id", &self.worker_id)
            .finish_non_exhaustive()
    }
}

/// Pages of running runs (of [`crate::store::RunQuery::MAX_LIMIT`]) checked for code that
/// can step them before [`Builder::build`] returns.
const STRANDED_PAGES_AT_START: usize = 10;

impl Builder {
    /// A builder of a runtime on `store`, with the defaults.
    pub(super) fn new(store: Arc<dyn Store>) -> Self {
        Builder {
            store,
            clock: Arc::new(SystemClock),
            // The workflow that runs sagas' compensations, which any workflow may start.
            workflows: vec![Arc::new(RegisteredWorkflow::<
                crate::saga::CompensateWorkflow,
            >::new())],
            migrations: Vec::new(),
            activities: Vec::new(),
            worker_id: None,
            max_concurrent_activities: 1000,
            max_concurrent_steps: 512,
            lease: Duration::from_secs(4),
            drain_timeout: Duration::from_secs(30),
            cancel_grace: DEFAULT_CANCEL_GRACE,
            poll_interval: Duration::from_millis(250),
            cache_capacity: 10_000,
            cache_bytes: 64 << 20,
            restore_every_step: false,
            allow_missing_activities: false,
            seed: None,
            limits: Limits::DEFAULT,
        }
    }

    /// Registers a workflow, so that this runtime can start and run it.
    ///
    /// Every activity the workflow calls ([`Workflow::ACTIVITIES`]) must be registered too
    /// (with [`Builder::activity`], before or after): [`Builder::build`] fails with
    /// [`RuntimeError::MissingActivity`] otherwise, unless [`Builder::allow_missing_activities`].
    pub fn workflow<W: Workflow>(mut self, _workflow: W) -> Self {
        // The layout is traced once, here rather than at the first step.
        let _ = W::layout();
        self.workflows
            .push(Arc::new(RegisteredWorkflow::<W>::new()));
        self
    }

    /// Registers a migration of workflow runs from version `from` to version `to` of one
    /// workflow (`to`'s version must be higher): `migrate` maps each state of the old version's
    /// state enum to a state of the new one, or says to leave the run on the old code, or
    /// refuses (see [`Migration`]).
    ///
    /// A run whose version has a migration is migrated when it is next loaded, before its next
    /// step: the new snapshot, version and fingerprint are committed at once, with a history
    /// entry naming both versions and the states, so a migration is applied once even if the
    /// process dies right after. The new state must wait on the commands the run waits on (the
    /// same activities, timers and signals, as [`crate::AwaitDesc::waits_for`] says), else the
    /// run is parked with [`crate::MigrationError::CommandsDiffer`]. Migrations chain: with
    /// `v1 -> v2` and `v2 -> v3` registered, a v1 run moves to v3 in one commit. The old
    /// version's code need not be registered, only compiled in (its state enum is the input).
    ///
    /// ```
    /// use workflow_rt::prelude::*;
    /// use workflow_rt::{MemoryStore, Migration};
    ///
    /// #[workflow(name = "greet")]
    /// async fn greet_v1(ctx: WorkflowCtx, name: String) -> String {
    ///     let title: String = ctx.signal("title").await;
    ///     format!("Hello, {title} {name}")
    /// }
    ///
    /// #[workflow(name = "greet", version = 2)]
    /// async fn greet(ctx: WorkflowCtx, name: String) -> String {
    ///     let polite = name.len() > 3;
    ///     let title: String = ctx.signal("title").await;
    ///     if polite { format!("Good day, {title} {name}") } else { format!("Hi, {title} {name}") }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let rt = Runtime::builder(MemoryStore::new())
    ///     .workflow(greet)
    ///     .migrate(greet_v1, greet, |old| match old {
    ///         GreetV1State::Start { name } => Migration::To(GreetState::Start { name }),
    ///         GreetV1State::Await1SignalTitle { name } => Migration::To(
    ///             GreetState::Await1SignalTitle { polite: name.len() > 3, name },
    ///         ),
    ///         other => Migration::Refuse(format!("{other:?}")),
    ///     })
    ///     .build()
    ///     .await?;
    /// # rt.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn migrate<A, B, F>(mut self, _from: A, _to: B, migrate: F) -> Self
    where
        A: Workflow,
        B: Workflow,
        F: Fn(A::State) -> Migration<B::State> + Send + Sync + 'static,
    {
        self.migrations
            .push(Arc::new(TypedMigration::<A, B, F>::new(migrate)));
        self
    }

    /// Registers an activity, so that this runtime runs its calls.
    pub fn activity<A: Activity>(mut self, activity: A) -> Self {
        self.activities.push((
            A::NAME.to_string(),
            Arc::new(RegisteredActivity::new(activity)),
        ));
        self
    }

    /// Lets [`Builder::build`] accept a workflow that calls an activity this runtime does not
    /// register (by default it fails with [`RuntimeError::MissingActivity`]).
    ///
    /// For a runtime that shares its store with others that run the activity (a runtime of
    /// workflows next to workers of activities): the activity's tasks wait in the store for a
    /// runtime that registers it. With no such runtime, a workflow that calls the activity
    /// waits forever.
    pub fn allow_missing_activities(mut self) -> Self {
        self.allow_missing_activities = true;
        self
    }

    /// The clock (default: the system clock). Tests use a [`crate::VirtualClock`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// This worker's name in activity leases (default: made from the process id and the time).
    ///
    /// A runtime that starts with the name of a previous one (the same process, restarted)
    /// takes back at once the tasks that one held, instead of waiting for their leases to
    /// expire; since that one did not release them, it stopped without a shutdown, and the
    /// attempts it ran count as lost ([`crate::store::Release::Restart`]). Never give two live
    /// runtimes the same name.
    pub fn worker_id(mut self, id: impl Into<String>) -> Self {
        self.worker_id = Some(id.into());
        self
    }

    /// How many activity attempts run at once (default 1000); the others wait their turn.
    pub fn max_concurrent_activities(mut self, n: usize) -> Self {
        self.max_concurrent_activities = n.max(1);
        self
    }

    /// How many workflows are stepped at once (default 512). Each has a driver task that
    /// loads it, runs its steps and commits them; a workflow woken while every driver is busy
    /// waits its turn in a queue (an id, not a task, and no store read until its turn), and a
    /// workflow that keeps stepping gives its driver up every 64 steps while others wait. So
    /// a burst of wakes (many timers due at once, a restart with many ready workflows) reads
    /// the store at most this many at a time, and holds at most this many decoded states
    /// beyond the cache. Higher lets more steps share a group commit.
    pub fn max_concurrent_steps(mut self, n: usize) -> Self {
        self.max_concurrent_steps = n.max(1);
        self
    }

    /// How long a lease on an activity task lasts without renewal (default 4 s): the time
    /// after which a task whose worker died (killed, or cut off from the store) is run again
    /// by another. Renewed every third of it while the attempt runs (one store write per
    /// worker, whatever the number of attempts), so a long attempt keeps its lease.
    pub fn lease_duration(mut self, d: Duration) -> Self {
        self.lease = d.max(Duration::from_millis(30));
        self
    }

    /// How long [`Runtime::run_until`](super::Runtime::run_until) lets the activity attempts
    /// running at shutdown finish before it stops them (default 30 s; their calls then run
    /// again elsewhere, and the stopped attempts do not count against their retry policies).
    pub fn drain_timeout(mut self, d: Duration) -> Self {
        self.drain_timeout = d;
        self
    }

    /// How long a run asked to cancel may go on (to compensate) before it is stopped outright
    /// (default 5 minutes), for the cancellations this runtime asks for: by
    /// [`Runtime::cancel`](super::Runtime::cancel) and its client, and of child runs whose
    /// parent stopped waiting for them ([`ParentClose::RequestCancel`](crate::ParentClose)).
    /// A child passed on its parent's own cancel request gets that request's grace period.
    pub fn cancel_grace(mut self, d: Duration) -> Self {
        self.cancel_grace = d;
        self
    }

    /// How often (in real time) to look at the store for what other runtimes did: ready
    /// workflows, leasable tasks, timers (default 250 ms).
    pub fn poll_interval(mut self, d: Duration) -> Self {
        self.poll_interval = d.max(Duration::from_millis(1));
        self
    }

    /// How many decoded workflow states to keep in memory between the wakes of their
    /// workflows (default 10 000). With 0 a workflow that is woken is loaded from the store,
    /// but a run of steps that follow one another at once (activities that finish at their
    /// first poll, signals already buffered) still goes on from the state in memory: see
    /// [`Builder::restore_every_step`] for a runtime that never does.
    pub fn cache_capacity(mut self, n: usize) -> Self {
        self.cache_capacity = n;
        self
    }

    /// How many bytes of decoded workflow states to keep in memory between wakes, at most
    /// (default 64 MiB), beside the count [`Builder::cache_capacity`] bounds: past either
    /// bound the least recently used states go first. A state counts as the bytes of its
    /// snapshot and wait as last stored, plus about 512 bytes of bookkeeping; a state larger
    /// than the whole bound is not kept (its workflow is loaded from the store at its next
    /// wake). So ten thousand runs that each carry megabytes of state do not hold gigabytes.
    pub fn cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// A test mode: every step starts from the store, as it would after a crash. The
    /// workflow's row is loaded, its snapshot decoded (envelope, fingerprint, state enum,
    /// context) and its wait decoded; nothing of its state or context is kept in memory from
    /// one step to the next, not even between steps that follow one another at once, and no
    /// state is cached (the cache capacity is ignored). Default `false`.
    ///
    /// A workflow must give the same result in this mode as in the default one; the project's
    /// own tests run every workflow both ways. It costs a load and a decode per step, so it is
    /// not meant for production.
    pub fn restore_every_step(mut self, on: bool) -> Self {
        self.restore_every_step = on;
        self
    }

    /// The size limits on inputs, signal payloads and snapshots (default [`Limits::DEFAULT`]:
    /// 2 MiB, 2 MiB, 16 MiB); see [`Limits`] for what happens to a value over its limit.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Seeds the random generator used for retry jitter (default: from the time).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Starts the runtime's loops on the current tokio runtime.
    ///
    /// Fails, before anything starts, with two workflows or two activities of one name
    /// ([`RuntimeError::DuplicateName`]), and with a workflow that calls an activity not
    /// registered ([`RuntimeError::MissingActivity`], the first in the order of registration;
    /// see [`Builder::allow_missing_activities`]).
    pub async fn build(self) -> Result<Runtime, RuntimeError> {
        let store = self.store;
        let mut workflows = Registry::default();
        for w in &self.workflows {
            if !workflows.add(w.clone()) {
                return Err(RuntimeError::DuplicateName {
                    kind: "workflow",
                    name: format!("{} v{}", w.name(), w.version()),
                });
            }
        }
        for m in &self.migrations {
            let ((from, _), (to, _)) = (m.from(), m.to());
            if m.workflow() != m.to_workflow() || to <= from {
                return Err(RuntimeError::BadMigration {
                    workflow: m.workflow().to_string(),
                    from,
                    to,
                    reason: if m.workflow() != m.to_workflow() {
                        format!("it migrates to another workflow, {:?}", m.to_workflow())
                    } else {
                        "it must migrate to a higher version".to_string()
                    },
                });
            }
            if !workflows.add_migration(m.clone()) {
                return Err(RuntimeError::BadMigration {
                    workflow: m.workflow().to_string(),
                    from,
                    to,
                    reason: format!("another migration from v{from} is registered"),
                });
            }
        }
        // Each migration leads to code registered here, itself or through the migrations after
        // it: a run moved to a version with no code would be taken for one written by newer
        // code on another worker (left a while, then parked, saying so).
        for m in &self.migrations {
            let ((from, _), (to, to_fingerprint)) = (m.from(), m.to());
            let (mut version, mut fingerprint) = (to, to_fingerprint);
            while workflows.code(m.workflow(), version, fingerprint).is_none() {
                match workflows.migration(m.workflow(), version) {
                    Some(next) if next.accepts_from(fingerprint) => {
                        (version, fingerprint) = next.to();
                    }
                    _ => {
                        return Err(RuntimeError::BadMigration {
                            workflow: m.workflow().to_string(),
                            from,
                            to,
                            reason: format!(
                                "no code registered here runs v{to} with this layout, nor a \
                                 version it migrates on to: register v{to}'s workflow"
                            ),
                        });
                    }
                }
            }
        }
        let mut activities: HashMap<String, Arc<dyn ErasedActivity>> = HashMap::new();
        for (name, a) in self.activities {
            if activities.insert(name.clone(), a).is_some() {
                return Err(RuntimeError::DuplicateName {
                    kind: "activity",
                    name,
                });
            }
        }
        if !self.allow_missing_activities {
            for w in &self.workflows {
                if let Some(missing) = w
                    .activities()
                    .iter()
                    .find(|a| !activities.contains_key(**a))
                {
                    return Err(RuntimeError::MissingActivity {
                        workflow: w.name().to_string(),
                        activity: missing.to_string(),
                    });
                }
            }
        }
        let now = self.clock.now_ms();
        let explicit_id = self.worker_id.is_some();
        let worker_id = self
            .worker_id
            .unwrap_or_else(|| format!("worker-{}-{now:x}", std::process::id()));
        let seed = self
            .seed
            .unwrap_or_else(|| now ^ (u64::from(std::process::id()) << 32) ^ 0x5851_f42d_4c95_7f2d);
        let config = Config {
            worker_id,
            lease_ms: u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX / 2),
            poll_interval: self.poll_interval,
            max_concurrent_activities: self.max_concurrent_activities,
            max_concurrent_steps: self.max_concurrent_steps,
            cache_capacity: self.cache_capacity,
            cache_bytes: self.cache_bytes,
            restore_every_step: self.restore_every_step,
            limits: self.limits,
            drain_timeout: self.drain_timeout,
            cancel_grace_ms: u64::try_from(self.cancel_grace.as_millis()).unwrap_or(u64::MAX),
        };
        let inner = Arc::new(Inner::new(
            store, self.clock, workflows, activities, config, seed,
        ));
        crate::metrics::describe();
        if explicit_id {
            // A process that ran under this id before stopped without releasing them (it
            // would have at a graceful shutdown): its attempts were lost.
            let now = inner.clock.now_ms();
            inner
                .store
                .release_leases(&inner.config.worker_id, Release::Restart, now)
                .await?;
        }
        // Runs that no registered code can step, and no registered migration can move, are
        // parked now, with the reason, rather than when their next event comes.
        // The first pages before the runtime is handed out (every run, for a store of up to
        // ten thousand waiting runs); the rest in the background, a page every 100 ms (ten
        // thousand runs a second; a page a second while steps wait for a driver), so that a
        // store of a million sleeping runs neither holds the start nor takes a core from the
        // steps (a run met by a step before the walk reaches it is parked by that step).
        let (parked, rest) = inner
            .park_stranded(None, STRANDED_PAGES_AT_START, Duration::ZERO)
            .await?;
        if parked > 0 {
            tracing::warn!(
                parked,
                "parked runs whose version no registered code can step"
            );
        }
        if let Some(after) = rest {
            let inner = inner.clone();
            tokio::spawn(async move {
                let pause = Duration::from_millis(100);
                match inner.park_stranded(Some(after), usize::MAX, pause).await {
                    Ok((0, _)) => {}
                    Ok((parked, _)) => tracing::warn!(
                        parked,
                        "parked runs whose version no registered code can step"
                    ),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot look for runs no registered code can step")
                    }
                }
            });
        }
        {
            // Parked runs whose cancel's grace period ended while no runtime could act on it.
            let inner = inner.clone();
            tokio::spawn(async move {
                if let Err(e) = inner.sweep_parked_cancels().await {
                    tracing::warn!(error = %e, "cannot look at parked runs for cancels that came");
                }
            });
        }
        tokio::spawn(inner.clone().timer_loop());
        tokio::spawn(inner.clone().task_loop());
        tokio::spawn(inner.clone().lease_loop());
        tokio::spawn(inner.clone().ready_loop());
        tokio::spawn(inner.clone().schedule_loop());
        if let Some(hints) = inner.store.wakeups() {
            tokio::spawn(inner.clone().wakeup_loop(hints));
        }
        Ok(Runtime::from_inner(inner))
    }
}
