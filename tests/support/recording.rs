//! A [`Store`] that passes every call to another and records what a runtime did through it:
//! which steps it committed, the conflicts it met, and how many commits it had in flight at
//! once (with an optional delay on each commit, to make overlaps visible).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use workflow_rt::store::{
    ActivityTask, CompleteActivity, Event, EventKind, HistoryEntry, LeaseRenewal, LeaseRequest,
    NewWorkflow, Release, RetryActivity, RunPage, RunQuery, ScheduleRecord, StepCommit,
    StepOutcome, Store, StoreError, StoreFuture, TimerRow, WorkflowRecord, WorkflowStatus,
    WorkflowSummary,
};

/// A commit that went through: the workflow, the version it started from, and whether it was
/// a step of the workflow's code (not a park, cancel or unpark).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub workflow_id: String,
    pub from_version: u64,
    pub step: bool,
}

#[derive(Default)]
struct Log {
    calls: Vec<&'static str>,
    committed: Vec<Committed>,
    conflicts: Vec<(String, u64)>,
}

/// See the module docs. Cheap to clone: clones share the log.
#[derive(Clone)]
pub struct RecordingStore {
    inner: Arc<dyn Store>,
    commit_delay: Option<Duration>,
    log: Arc<Mutex<Log>>,
    in_flight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    blind: Arc<AtomicBool>,
    after_write: Option<AfterWrite>,
    fail_after: Arc<AtomicUsize>,
    fail_releases: Arc<AtomicBool>,
    seen_running: Arc<Mutex<Option<String>>>,
    stop_before_child_call: Arc<Mutex<Option<String>>>,
    cancel_before_park: Arc<Mutex<Option<String>>>,
    fail_load: Arc<Mutex<Option<String>>>,
    replace_before_purge: Arc<Mutex<Option<Replacement>>>,
    stale_starting: Arc<Mutex<Option<StaleStarting>>>,
    before_step_of: Arc<Mutex<Option<(String, BeforeStep)>>>,
}

/// What runs, once, before the commit of a run's step (see [`RecordingStore::before_step_of`]).
pub type BeforeStep =
    Box<dyn FnOnce() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// A run created in place of another before its purge, and how it ends at once, if it does.
type Replacement = (NewWorkflow, Option<StepOutcome>);

/// A schedule's name and the fire times its next listing shows still to start.
type StaleStarting = (String, Vec<u64>);

/// Called after a write took effect: the method's name and what it wrote (a run's id, the
/// fire times a schedule's change is starting).
type AfterWrite = Arc<dyn Fn(&str, &str) + Send + Sync>;

impl RecordingStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        RecordingStore {
            inner,
            commit_delay: None,
            log: Arc::default(),
            in_flight: Arc::default(),
            peak: Arc::default(),
            blind: Arc::default(),
            after_write: None,
            fail_after: Arc::default(),
            fail_releases: Arc::default(),
            seen_running: Arc::default(),
            stop_before_child_call: Arc::default(),
            cancel_before_park: Arc::default(),
            fail_load: Arc::default(),
            replace_before_purge: Arc::default(),
            stale_starting: Arc::default(),
            before_step_of: Arc::default(),
        }
    }

    /// The next commit of a step of run `id` (its code's: not a cancel, park or unpark) is
    /// preceded by `hook`, awaited: what happens while the step runs (a cancel of the run, or
    /// of its parent, before its first step is stored).
    pub fn before_step_of(&self, id: &str, hook: BeforeStep) {
        *self.before_step_of.lock().unwrap() = Some((id.to_string(), hook));
    }

    /// Whether the hook [`Self::before_step_of`] armed has not run yet.
    pub fn before_step_armed(&self) -> bool {
        self.before_step_of.lock().unwrap().is_some()
    }

    /// The next load of run `id` reads it as running, whatever its status (a look taken just
    /// before the run parked).
    pub fn read_as_running_once(&self, id: &str) {
        *self.seen_running.lock().unwrap() = Some(id.to_string());
    }

    /// The next load of run `id` fails with a backend error (a read the store could not do
    /// just then).
    pub fn fail_next_load(&self, id: &str) {
        *self.fail_load.lock().unwrap() = Some(id.to_string());
    }

    /// The next purge of `run`'s id is preceded by another start under the id (through the
    /// store under this one): the run there is purged and `run` created in its place.
    pub fn replace_before_purge(&self, run: NewWorkflow) {
        *self.replace_before_purge.lock().unwrap() = Some((run, None));
    }

    /// As [`Self::replace_before_purge`], and `run` then ends with `outcome` (a finished
    /// run: another start's, which completed or failed in the window).
    pub fn replace_before_purge_and_end(&self, run: NewWorkflow, outcome: StepOutcome) {
        *self.replace_before_purge.lock().unwrap() = Some((run, Some(outcome)));
    }

    /// The replacement armed for a purge of `id`, taken.
    fn replacement(&self, id: &str) -> Option<Replacement> {
        let mut once = self.replace_before_purge.lock().unwrap();
        match once.as_ref().is_some_and(|(r, _)| r.id == id) {
            true => once.take(),
            false => None,
        }
    }

    /// Makes the replacement [`Self::replacement`] gave.
    async fn replace(&self, (run, end): Replacement) -> Result<(), StoreError> {
        let id = run.id.clone();
        let now = run.now_ms;
        self.inner.purge(&id).await?;
        let version = self.inner.create_workflow(run).await?;
        if let Some(outcome) = end {
            let rec = self.inner.load_workflow(&id).await?;
            self.inner
                .commit_step(StepCommit {
                    children: Vec::new(),
                    workflow_id: id,
                    run_key: rec.run_key,
                    expected_version: version,
                    now_ms: now,
                    outcome,
                    consumed_events: Vec::new(),
                    completed_tasks: Vec::new(),
                    cancelled: Vec::new(),
                    fired_timers: Vec::new(),
                    seen_events_upto: 0,
                    keep_ready: false,
                    history: vec![HistoryEntry::new(
                        now,
                        workflow_rt::store::HistoryKind::Completed,
                        "ended",
                    )],
                    deliver: Vec::new(),
                })
                .await?;
        }
        Ok(())
    }

    /// The next listing of due schedules shows schedule `name` with `fire_times` still to
    /// start (a row read before another worker started them and cleared them).
    pub fn stale_starting(&self, name: &str, fire_times: Vec<u64>) {
        *self.stale_starting.lock().unwrap() = Some((name.to_string(), fire_times));
    }

    /// Whether the failure [`Self::fail_next_load`] armed has not happened yet.
    pub fn load_failure_armed(&self) -> bool {
        self.fail_load.lock().unwrap().is_some()
    }

    /// The next commit of a step of run `id` whose new wait calls a child workflow is preceded
    /// by a terminate of the run (through the store under this one), as a terminate that
    /// comes while the step runs: the step's commit then conflicts.
    pub fn terminate_before_child_call(&self, id: &str) {
        *self.stop_before_child_call.lock().unwrap() = Some(id.to_string());
    }

    /// The next commit that parks run `id` is preceded by a cancel of the run (through the
    /// store under this one): a cancel whose looks at the run all came before it parked.
    pub fn cancel_before_park(&self, id: &str) {
        *self.cancel_before_park.lock().unwrap() = Some(id.to_string());
    }

    /// From now on, releases of chosen leases (`release_tasks`) fail with a backend error,
    /// and release nothing.
    pub fn fail_releases_of_chosen_leases(&self) {
        self.fail_releases.store(true, Ordering::SeqCst);
    }

    /// The next `n` commits of steps take effect, then are answered with a backend error (a
    /// connection lost after the commit): the runtime cannot know they happened.
    pub fn fail_commits_after_effect(&self, n: usize) {
        self.fail_after.store(n, Ordering::SeqCst);
    }

    /// `hook` is called after each `create_workflow` and `update_schedule` that took effect,
    /// with the method's name and the run's id, or the fire times the schedule is starting
    /// (comma-separated): a test kills its process there, half-way through a schedule's firing.
    pub fn after_write(mut self, hook: impl Fn(&str, &str) + Send + Sync + 'static) -> Self {
        self.after_write = Some(Arc::new(hook));
        self
    }

    /// While on, `ready_workflows` finds none: a runtime on this store finds no workflow to
    /// step by looking (as a worker that nothing tells of what another process did), and
    /// keeps what it holds in memory as it is.
    pub fn blind(&self, on: bool) {
        self.blind.store(on, Ordering::SeqCst);
    }

    /// Every commit waits this long (in real time) before it is passed on.
    pub fn with_commit_delay(mut self, d: Duration) -> Self {
        self.commit_delay = Some(d);
        self
    }

    /// The commits that went through, in the order they did.
    pub fn committed(&self) -> Vec<Committed> {
        self.log.lock().unwrap().committed.clone()
    }

    /// The commits refused for a stale version: (workflow, version they started from).
    pub fn conflicts(&self) -> Vec<(String, u64)> {
        self.log.lock().unwrap().conflicts.clone()
    }

    /// The names of the store's methods called through this store, in the order they were.
    pub fn calls(&self) -> Vec<&'static str> {
        self.log.lock().unwrap().calls.clone()
    }

    fn called(&self, name: &'static str) {
        self.log.lock().unwrap().calls.push(name);
    }

    /// The most commits that were in flight at once.
    pub fn peak_commits_in_flight(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    fn record(&self, step: &StepCommit, result: &Result<u64, StoreError>) {
        let mut log = self.log.lock().unwrap();
        match result {
            Ok(_) => log.committed.push(Committed {
                workflow_id: step.workflow_id.clone(),
                from_version: step.expected_version,
                step: matches!(
                    step.outcome,
                    StepOutcome::Suspended { .. } | StepOutcome::Finished { .. }
                ),
            }),
            Err(StoreError::Conflict { .. }) => log
                .conflicts
                .push((step.workflow_id.clone(), step.expected_version)),
            Err(_) => {}
        }
    }

    async fn enter(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        if let Some(d) = self.commit_delay {
            tokio::time::sleep(d).await;
        }
        InFlight(&self.in_flight)
    }
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Store for RecordingStore {
    fn create_workflow(&self, workflow: NewWorkflow) -> StoreFuture<'_, u64> {
        self.called("create_workflow");
        let id = workflow.id.clone();
        let call = self.inner.create_workflow(workflow);
        let hook = self.after_write.clone();
        Box::pin(async move {
            let r = call.await;
            if let (Ok(_), Some(hook)) = (&r, hook) {
                hook("create_workflow", &id);
            }
            r
        })
    }
    fn load_workflow<'a>(&'a self, id: &'a str) -> StoreFuture<'a, WorkflowRecord> {
        self.called("load_workflow");
        {
            let mut once = self.fail_load.lock().unwrap();
            if once.as_deref() == Some(id) {
                once.take();
                return Box::pin(async { Err(StoreError::backend("the read failed (injected)")) });
            }
        }
        let stale = {
            let mut once = self.seen_running.lock().unwrap();
            match once.as_deref() == Some(id) {
                true => once.take().is_some(),
                false => false,
            }
        };
        let load = self.inner.load_workflow(id);
        Box::pin(async move {
            let mut rec = load.await?;
            if stale {
                rec.status = WorkflowStatus::Running;
            }
            Ok(rec)
        })
    }
    fn load_inbox<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<Event>> {
        self.called("load_inbox");
        self.inner.load_inbox(id)
    }
    fn load_tasks<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<ActivityTask>> {
        self.called("load_tasks");
        self.inner.load_tasks(id)
    }
    fn load_timers<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<TimerRow>> {
        self.called("load_timers");
        self.inner.load_timers(id)
    }
    fn commit_step(&self, step: StepCommit) -> StoreFuture<'_, u64> {
        self.called("commit_step");
        Box::pin(async move {
            let _in_flight = self.enter().await;
            let calls_child = match &step.outcome {
                StepOutcome::Suspended { pending, .. } => {
                    postcard::from_bytes::<workflow_rt::machine::Pending>(pending).is_ok_and(|p| {
                        p.leaves()
                            .iter()
                            .any(|l| matches!(l, workflow_rt::machine::Pending::Child { .. }))
                    })
                }
                _ => false,
            };
            let stop = {
                let mut target = self.stop_before_child_call.lock().unwrap();
                match target.as_deref() {
                    Some(id) if calls_child && id == step.workflow_id => target.take(),
                    _ => None,
                }
            };
            if let Some(id) = stop {
                workflow_rt::Client::new(self.inner.clone())
                    .terminate(&id)
                    .await
                    .expect("terminate before the commit");
            }
            let cancel = {
                let mut target = self.cancel_before_park.lock().unwrap();
                match target.as_deref() {
                    Some(id)
                        if id == step.workflow_id
                            && matches!(step.outcome, StepOutcome::Parked { .. }) =>
                    {
                        target.take()
                    }
                    _ => None,
                }
            };
            if let Some(id) = cancel {
                workflow_rt::Client::new(self.inner.clone())
                    .cancel(&id)
                    .await
                    .expect("cancel before the park");
            }
            let before = {
                let mut armed = self.before_step_of.lock().unwrap();
                match armed.as_ref() {
                    Some((id, _))
                        if *id == step.workflow_id
                            && matches!(
                                step.outcome,
                                StepOutcome::Suspended { .. } | StepOutcome::Finished { .. }
                            ) =>
                    {
                        armed.take().map(|(_, hook)| hook)
                    }
                    _ => None,
                }
            };
            if let Some(hook) = before {
                hook().await;
            }
            let result = self.inner.commit_step(step.clone()).await;
            self.record(&step, &result);
            if result.is_ok()
                && self
                    .fail_after
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
            {
                return Err(StoreError::backend(
                    "the connection was lost after the commit",
                ));
            }
            result
        })
    }
    fn commit_steps(
        &self,
        steps: Vec<StepCommit>,
    ) -> StoreFuture<'_, Vec<Result<u64, StoreError>>> {
        self.called("commit_steps");
        Box::pin(async move {
            let _in_flight = self.enter().await;
            let results = self.inner.commit_steps(steps.clone()).await?;
            for (step, result) in steps.iter().zip(&results) {
                self.record(step, result);
            }
            Ok(results)
        })
    }
    fn append_signal<'a>(
        &'a self,
        id: &'a str,
        name: &'a str,
        payload: Vec<u8>,
        type_tag: Option<u64>,
        at_ms: u64,
    ) -> StoreFuture<'a, u64> {
        self.called("append_signal");
        self.inner.append_signal(id, name, payload, type_tag, at_ms)
    }
    fn append_event<'a>(
        &'a self,
        id: &'a str,
        kind: EventKind,
        at_ms: u64,
        entry: HistoryEntry,
    ) -> StoreFuture<'a, u64> {
        self.called("append_event");
        self.inner.append_event(id, kind, at_ms, entry)
    }
    fn complete_activity(&self, done: CompleteActivity) -> StoreFuture<'_, bool> {
        self.called("complete_activity");
        self.inner.complete_activity(done)
    }
    fn retry_activity(&self, retry: RetryActivity) -> StoreFuture<'_, bool> {
        self.called("retry_activity");
        self.inner.retry_activity(retry)
    }
    fn lease_tasks(&self, request: LeaseRequest) -> StoreFuture<'_, Vec<ActivityTask>> {
        self.called("lease_tasks");
        self.inner.lease_tasks(request)
    }
    fn renew_leases<'a>(
        &'a self,
        owner: &'a str,
        tasks: Vec<LeaseRenewal>,
        lease_until_ms: u64,
    ) -> StoreFuture<'a, Vec<(String, u64)>> {
        self.called("renew_leases");
        self.inner.renew_leases(owner, tasks, lease_until_ms)
    }
    fn release_leases<'a>(
        &'a self,
        owner: &'a str,
        why: Release,
        now_ms: u64,
    ) -> StoreFuture<'a, u64> {
        self.called("release_leases");
        self.inner.release_leases(owner, why, now_ms)
    }
    fn release_tasks<'a>(
        &'a self,
        owner: &'a str,
        tasks: Vec<LeaseRenewal>,
        why: Release,
        now_ms: u64,
    ) -> StoreFuture<'a, u64> {
        self.called("release_tasks");
        if self.fail_releases.load(Ordering::SeqCst) {
            return Box::pin(std::future::ready(Err(StoreError::backend(
                "the release was refused",
            ))));
        }
        self.inner.release_tasks(owner, tasks, why, now_ms)
    }
    fn next_task_due<'a>(&'a self, names: &'a [String]) -> StoreFuture<'a, Option<u64>> {
        self.called("next_task_due");
        self.inner.next_task_due(names)
    }
    fn fire_timers(&self, now_ms: u64, limit: usize) -> StoreFuture<'_, Vec<String>> {
        self.called("fire_timers");
        self.inner.fire_timers(now_ms, limit)
    }
    fn next_timer_due(&self) -> StoreFuture<'_, Option<u64>> {
        self.called("next_timer_due");
        self.inner.next_timer_due()
    }
    fn ready_workflows<'a>(
        &'a self,
        names: &'a [String],
        limit: usize,
    ) -> StoreFuture<'a, Vec<String>> {
        self.called("ready_workflows");
        if self.blind.load(Ordering::SeqCst) {
            return Box::pin(std::future::ready(Ok(Vec::new())));
        }
        self.inner.ready_workflows(names, limit)
    }
    fn clear_ready<'a>(
        &'a self,
        id: &'a str,
        version: u64,
        seen_events_upto: u64,
    ) -> StoreFuture<'a, bool> {
        self.called("clear_ready");
        self.inner.clear_ready(id, version, seen_events_upto)
    }
    fn list_workflows(
        &self,
        status: Option<WorkflowStatus>,
    ) -> StoreFuture<'_, Vec<WorkflowSummary>> {
        self.called("list_workflows");
        self.inner.list_workflows(status)
    }
    fn list_runs(&self, query: RunQuery) -> StoreFuture<'_, RunPage> {
        self.called("list_runs");
        self.inner.list_runs(query)
    }
    fn count_runs(&self) -> StoreFuture<'_, Vec<(WorkflowStatus, u64)>> {
        self.called("count_runs");
        self.inner.count_runs()
    }
    fn purge<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        self.called("purge");
        let replace = self.replacement(id);
        Box::pin(async move {
            if let Some(r) = replace {
                self.replace(r).await?;
            }
            self.inner.purge(id).await
        })
    }
    fn purge_version<'a>(&'a self, id: &'a str, version: u64) -> StoreFuture<'a, ()> {
        self.called("purge_version");
        let replace = self.replacement(id);
        Box::pin(async move {
            if let Some(r) = replace {
                self.replace(r).await?;
            }
            self.inner.purge_version(id, version).await
        })
    }
    fn purge_finished(
        &self,
        finished_before_ms: u64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<String>> {
        self.called("purge_finished");
        self.inner.purge_finished(finished_before_ms, limit)
    }
    fn history<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<HistoryEntry>> {
        self.called("history");
        self.inner.history(id)
    }
    fn wakeups(&self) -> Option<tokio::sync::broadcast::Receiver<workflow_rt::store::Wakeup>> {
        self.called("wakeups");
        self.inner.wakeups()
    }
    fn create_schedule(&self, schedule: ScheduleRecord) -> StoreFuture<'_, ()> {
        self.called("create_schedule");
        self.inner.create_schedule(schedule)
    }
    fn load_schedule<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ScheduleRecord> {
        self.called("load_schedule");
        self.inner.load_schedule(name)
    }
    fn list_schedules(&self) -> StoreFuture<'_, Vec<ScheduleRecord>> {
        self.called("list_schedules");
        self.inner.list_schedules()
    }
    fn update_schedule(&self, schedule: ScheduleRecord) -> StoreFuture<'_, u64> {
        self.called("update_schedule");
        let starting: Vec<String> = schedule.starting.iter().map(u64::to_string).collect();
        let call = self.inner.update_schedule(schedule);
        let hook = self.after_write.clone();
        Box::pin(async move {
            let r = call.await;
            if let (Ok(_), Some(hook)) = (&r, hook) {
                hook("update_schedule", &starting.join(","));
            }
            r
        })
    }
    fn delete_schedule<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ()> {
        self.called("delete_schedule");
        self.inner.delete_schedule(name)
    }
    fn due_schedules<'a>(
        &'a self,
        workflows: &'a [String],
        now_ms: u64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<ScheduleRecord>> {
        self.called("due_schedules");
        let listed = self.inner.due_schedules(workflows, now_ms, limit);
        Box::pin(async move {
            let mut rows = listed.await?;
            let stale = self.stale_starting.lock().unwrap().take();
            if let Some((name, fire_times)) = stale {
                match rows.iter_mut().find(|r| r.name == name) {
                    Some(row) => row.starting = fire_times,
                    None => *self.stale_starting.lock().unwrap() = Some((name, fire_times)),
                }
            }
            Ok(rows)
        })
    }
    fn next_schedule_due<'a>(&'a self, workflows: &'a [String]) -> StoreFuture<'a, Option<u64>> {
        self.called("next_schedule_due");
        self.inner.next_schedule_due(workflows)
    }
}
