//! A store that injects faults into another, from a seed: for testing that the runtime loses
//! nothing and applies nothing twice when its store misbehaves as a real backend can.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::codec;
use crate::store::{
    ActivityTask, CompleteActivity, DueTimer, Event, EventKind, HistoryEntry, LeaseRenewal,
    LeaseRequest, NewWorkflow, Release, RetryActivity, RunPage, RunQuery, ScheduleRecord,
    StepCommit, Store, StoreError, StoreFuture, TimerKey, TimerRow, Wakeup, WorkflowRecord,
    WorkflowStatus, WorkflowSummary,
};

/// How often [`FaultyStore`] misbehaves, as probabilities per call (0 to 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// The call fails before it reaches the inner store: nothing happened.
    pub fail_before: f64,
    /// A call that writes reaches the inner store and takes effect, then the caller is told it
    /// failed (a connection lost after the commit): the caller cannot know it happened.
    pub fail_after: f64,
    /// The call waits up to `max_delay` first.
    pub delay: f64,
    /// The longest injected delay.
    pub max_delay: Duration,
    /// A load of a workflow returns what an earlier load returned (a read from a replica or a
    /// cache that lags): the caller acts on a stale version, which the version check of its
    /// next commit must catch.
    pub stale: f64,
    /// Hints of other processes' changes ([`Store::wakeups`]) are not passed on.
    pub drop_wakeups: bool,
    /// A renewal of leases ([`Store::renew_leases`]) fails before it reaches the store, on
    /// top of `fail_before` (a connection for renewals that stalls while the attempts run
    /// on): the leases lapse, and the tasks are leased again, perhaps by the same worker.
    pub lost_renewals: f64,
}

impl Default for Faults {
    /// 5% of calls fail before, 5% of writes fail after taking effect, 10% are delayed up to
    /// 5 ms, 5% of workflow loads are stale, and wake-up hints are dropped; no more renewals
    /// of leases fail than other calls.
    fn default() -> Self {
        Faults {
            fail_before: 0.05,
            fail_after: 0.05,
            delay: 0.10,
            max_delay: Duration::from_millis(5),
            stale: 0.05,
            drop_wakeups: true,
            lost_renewals: 0.0,
        }
    }
}

/// A [`Store`] wrapper that, from a seed, fails calls before or after the inner call took
/// effect, delays them, and drops wake-up hints. The same seed gives the same sequence of
/// decisions (the order in which concurrent calls draw them depends on scheduling).
///
/// ```
/// use workflow_rt::MemoryStore;
/// use workflow_rt::testing::{Faults, FaultyStore};
///
/// let store = FaultyStore::new(MemoryStore::new(), 42, Faults::default());
/// assert_eq!(store.seed(), 42);
/// ```
#[derive(Debug)]
pub struct FaultyStore<S> {
    inner: S,
    seed: u64,
    faults: Faults,
    rng: Mutex<u64>,
    injected: AtomicU64,
    /// The record each workflow's last load returned, for stale reads.
    last_read: Mutex<std::collections::HashMap<String, WorkflowRecord>>,
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    None,
    Before,
    After,
}

impl<S: Store> FaultyStore<S> {
    /// `inner`, misbehaving as `faults` says, with decisions drawn from `seed`.
    pub fn new(inner: S, seed: u64, faults: Faults) -> Self {
        FaultyStore {
            inner,
            seed,
            faults,
            rng: Mutex::new(seed),
            injected: AtomicU64::new(0),
            last_read: Mutex::default(),
        }
    }

    /// The seed the decisions are drawn from (print it with a failure: the same seed reruns
    /// the same faults).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// How many faults (failures, before or after) were injected so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    /// The store without faults, for checking what happened.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Forgets the loads of purged workflows: a stale read returns an older state of the same
    /// run, never one of a run that was purged (whose id a new run may have taken since).
    fn forget_reads<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        let mut last = self.last_read.lock().unwrap_or_else(|e| e.into_inner());
        for id in ids {
            last.remove(id);
        }
    }

    fn unit(&self) -> f64 {
        let mut s = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        *s = s.wrapping_add(codec::SPLITMIX_GAMMA);
        (codec::splitmix64(*s) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Draws what happens to one call (`writes`: it changes the store).
    fn draw(&self, writes: bool) -> (Fault, Option<Duration>) {
        let delay = (self.unit() < self.faults.delay).then(|| {
            let ms = self.faults.max_delay.as_secs_f64() * self.unit();
            Duration::from_secs_f64(ms)
        });
        let r = self.unit();
        let fault = if r < self.faults.fail_before {
            Fault::Before
        } else if writes && r < self.faults.fail_before + self.faults.fail_after {
            Fault::After
        } else {
            Fault::None
        };
        if !matches!(fault, Fault::None) {
            self.injected.fetch_add(1, Ordering::Relaxed);
        }
        (fault, delay)
    }

    /// Runs `call` (made only when it is to reach the inner store: a store may do its work
    /// when the call is made rather than when it is awaited, as [`crate::MemoryStore`] does)
    /// with the fault and the delay drawn for it.
    fn run<'a, T: Send + 'a>(
        &'a self,
        what: &'static str,
        writes: bool,
        call: impl FnOnce() -> StoreFuture<'a, T> + Send + 'a,
    ) -> StoreFuture<'a, T> {
        let (fault, delay) = self.draw(writes);
        Box::pin(async move {
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            match fault {
                Fault::None => call().await,
                Fault::Before => Err(StoreError::backend(format!(
                    "injected fault: {what} failed before it reached the store"
                ))),
                Fault::After => {
                    call().await?;
                    Err(StoreError::backend(format!(
                        "injected fault: {what} took effect, then its answer was lost"
                    )))
                }
            }
        })
    }
}

impl<S: Store> Store for FaultyStore<S> {
    fn create_workflow(&self, workflow: NewWorkflow) -> StoreFuture<'_, u64> {
        self.run("create_workflow", true, move || {
            self.inner.create_workflow(workflow)
        })
    }
    fn load_workflow<'a>(&'a self, id: &'a str) -> StoreFuture<'a, WorkflowRecord> {
        let stale = self.unit() < self.faults.stale;
        let call = self.run("load_workflow", false, move || self.inner.load_workflow(id));
        Box::pin(async move {
            let fresh = call.await?;
            let mut last = self.last_read.lock().unwrap_or_else(|e| e.into_inner());
            let old = last.insert(id.to_string(), fresh.clone());
            match old {
                Some(old) if stale && old.version < fresh.version => {
                    self.injected.fetch_add(1, Ordering::Relaxed);
                    Ok(old)
                }
                _ => Ok(fresh),
            }
        })
    }
    fn load_inbox<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<Event>> {
        self.run("load_inbox", false, move || self.inner.load_inbox(id))
    }
    fn load_tasks<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<ActivityTask>> {
        self.run("load_tasks", false, move || self.inner.load_tasks(id))
    }
    fn load_timers<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<TimerRow>> {
        self.run("load_timers", false, move || self.inner.load_timers(id))
    }
    fn commit_step(&self, step: StepCommit) -> StoreFuture<'_, u64> {
        self.run("commit_step", true, move || self.inner.commit_step(step))
    }
    fn commit_steps(
        &self,
        steps: Vec<StepCommit>,
    ) -> StoreFuture<'_, Vec<Result<u64, StoreError>>> {
        self.run("commit_steps", true, move || self.inner.commit_steps(steps))
    }
    fn append_signal<'a>(
        &'a self,
        id: &'a str,
        name: &'a str,
        payload: Vec<u8>,
        type_tag: Option<u64>,
        at_ms: u64,
    ) -> StoreFuture<'a, u64> {
        self.run("append_signal", true, move || {
            self.inner.append_signal(id, name, payload, type_tag, at_ms)
        })
    }
    fn append_event<'a>(
        &'a self,
        id: &'a str,
        kind: EventKind,
        at_ms: u64,
        entry: HistoryEntry,
    ) -> StoreFuture<'a, u64> {
        self.run("append_event", true, move || {
            self.inner.append_event(id, kind, at_ms, entry)
        })
    }
    fn complete_activity(&self, done: CompleteActivity) -> StoreFuture<'_, bool> {
        self.run("complete_activity", true, move || {
            self.inner.complete_activity(done)
        })
    }
    fn retry_activity(&self, retry: RetryActivity) -> StoreFuture<'_, bool> {
        self.run("retry_activity", true, move || {
            self.inner.retry_activity(retry)
        })
    }
    fn lease_tasks(&self, request: LeaseRequest) -> StoreFuture<'_, Vec<ActivityTask>> {
        self.run("lease_tasks", true, move || self.inner.lease_tasks(request))
    }
    fn renew_leases<'a>(
        &'a self,
        owner: &'a str,
        tasks: Vec<LeaseRenewal>,
        lease_until_ms: u64,
    ) -> StoreFuture<'a, Vec<(String, u64)>> {
        // Drawn only when asked for: the other calls' draws stay those of the same seed.
        if self.faults.lost_renewals > 0.0 && self.unit() < self.faults.lost_renewals {
            self.injected.fetch_add(1, Ordering::Relaxed);
            return Box::pin(std::future::ready(Err(StoreError::backend(
                "injected fault: renew_leases failed before it reached the store",
            ))));
        }
        self.run("renew_leases", true, move || {
            self.inner.renew_leases(owner, tasks, lease_until_ms)
        })
    }
    fn release_leases<'a>(
        &'a self,
        owner: &'a str,
        why: Release,
        now_ms: u64,
    ) -> StoreFuture<'a, u64> {
        self.run("release_leases", true, move || {
            self.inner.release_leases(owner, why, now_ms)
        })
    }
    fn release_tasks<'a>(
        &'a self,
        owner: &'a str,
        tasks: Vec<LeaseRenewal>,
        why: Release,
        now_ms: u64,
    ) -> StoreFuture<'a, u64> {
        self.run("release_tasks", true, move || {
            self.inner.release_tasks(owner, tasks, why, now_ms)
        })
    }
    fn next_task_due<'a>(&'a self, names: &'a [String]) -> StoreFuture<'a, Option<u64>> {
        self.run("next_task_due", false, move || {
            self.inner.next_task_due(names)
        })
    }
    fn fire_timers(&self, now_ms: u64, limit: usize) -> StoreFuture<'_, Vec<String>> {
        self.run("fire_timers", true, move || {
            self.inner.fire_timers(now_ms, limit)
        })
    }
    fn next_timer_due(&self) -> StoreFuture<'_, Option<u64>> {
        self.run("next_timer_due", false, move || self.inner.next_timer_due())
    }
    fn due_timers(
        &self,
        now_ms: u64,
        after: Option<TimerKey>,
        limit: usize,
    ) -> Option<StoreFuture<'_, Vec<DueTimer>>> {
        // A read: started at once (the inner store may not start it lazily), its answer
        // dropped when the fault says so.
        let read = self.inner.due_timers(now_ms, after, limit)?;
        Some(self.run("due_timers", false, move || read))
    }
    fn fire_timers_of<'a>(&'a self, id: &'a str, seqs: &'a [u64]) -> StoreFuture<'a, usize> {
        self.run("fire_timers_of", true, move || {
            self.inner.fire_timers_of(id, seqs)
        })
    }
    fn ready_workflows<'a>(
        &'a self,
        names: &'a [String],
        limit: usize,
    ) -> StoreFuture<'a, Vec<String>> {
        self.run("ready_workflows", false, move || {
            self.inner.ready_workflows(names, limit)
        })
    }
    fn clear_ready<'a>(
        &'a self,
        id: &'a str,
        version: u64,
        seen_events_upto: u64,
    ) -> StoreFuture<'a, bool> {
        self.run("clear_ready", true, move || {
            self.inner.clear_ready(id, version, seen_events_upto)
        })
    }
    fn list_workflows(
        &self,
        status: Option<WorkflowStatus>,
    ) -> StoreFuture<'_, Vec<WorkflowSummary>> {
        self.run("list_workflows", false, move || {
            self.inner.list_workflows(status)
        })
    }
    fn list_runs(&self, query: RunQuery) -> StoreFuture<'_, RunPage> {
        self.run("list_runs", false, move || self.inner.list_runs(query))
    }
    fn load_workflows<'a>(&'a self, ids: &'a [String]) -> StoreFuture<'a, Vec<WorkflowRecord>> {
        self.run("load_workflows", false, move || {
            self.inner.load_workflows(ids)
        })
    }
    fn count_runs(&self) -> StoreFuture<'_, Vec<(WorkflowStatus, u64)>> {
        self.run("count_runs", false, move || self.inner.count_runs())
    }
    fn purge<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        self.run("purge", true, move || {
            Box::pin(async move {
                self.inner.purge(id).await?;
                self.forget_reads([id]);
                Ok(())
            })
        })
    }
    fn purge_version<'a>(&'a self, id: &'a str, version: u64) -> StoreFuture<'a, ()> {
        self.run("purge_version", true, move || {
            Box::pin(async move {
                self.inner.purge_version(id, version).await?;
                self.forget_reads([id]);
                Ok(())
            })
        })
    }
    fn purge_finished(
        &self,
        finished_before_ms: u64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<String>> {
        self.run("purge_finished", true, move || {
            Box::pin(async move {
                let ids = self.inner.purge_finished(finished_before_ms, limit).await?;
                self.forget_reads(ids.iter().map(String::as_str));
                Ok(ids)
            })
        })
    }
    fn history<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<HistoryEntry>> {
        self.run("history", false, move || self.inner.history(id))
    }
    fn wakeups(&self) -> Option<tokio::sync::broadcast::Receiver<Wakeup>> {
        if self.faults.drop_wakeups {
            None
        } else {
            self.inner.wakeups()
        }
    }
    fn create_schedule(&self, schedule: ScheduleRecord) -> StoreFuture<'_, ()> {
        self.run("create_schedule", true, move || {
            self.inner.create_schedule(schedule)
        })
    }
    fn load_schedule<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ScheduleRecord> {
        self.run("load_schedule", false, move || {
            self.inner.load_schedule(name)
        })
    }
    fn list_schedules(&self) -> StoreFuture<'_, Vec<ScheduleRecord>> {
        self.run("list_schedules", false, move || self.inner.list_schedules())
    }
    fn update_schedule(&self, schedule: ScheduleRecord) -> StoreFuture<'_, u64> {
        self.run("update_schedule", true, move || {
            self.inner.update_schedule(schedule)
        })
    }
    fn delete_schedule<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ()> {
        self.run("delete_schedule", true, move || {
            self.inner.delete_schedule(name)
        })
    }
    fn due_schedules<'a>(
        &'a self,
        workflows: &'a [String],
        now_ms: u64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<ScheduleRecord>> {
        self.run("due_schedules", false, move || {
            self.inner.due_schedules(workflows, now_ms, limit)
        })
    }
    fn next_schedule_due<'a>(&'a self, workflows: &'a [String]) -> StoreFuture<'a, Option<u64>> {
        self.run("next_schedule_due", false, move || {
            self.inner.next_schedule_due(workflows)
        })
    }
}
