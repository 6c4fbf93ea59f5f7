//! Deterministic simulation of the runtime: one seed decides everything, and the same seed
//! replays the same run.
//!
//! A run is one thread and a tokio current-thread runtime with paused time (tokio's own sleeps,
//! the runtime's polls and the store's injected delays advance in virtual steps, in the same
//! order every time), the runtime's [`VirtualClock`] moved by the simulation, and one
//! SplitMix64 generator seeded from the seed, which draws:
//!
//! - the workflows (a small corpus: sequential activities, a join of activities, a select of a
//!   signal against a timer, a loop that waits for signals in order, a call that heartbeats and
//!   is retried), their inputs and signals, and whether `restore_every_step` is on;
//! - the events, one at a time: start a workflow, send a signal, move the clock, let time pass,
//!   crash (drop the runtime, or drop the whole tokio runtime with every task of it mid-flight,
//!   and build a new one on the same store, under the same worker id or a new one);
//! - the store's faults ([`FaultyStore`], seeded from the seed): calls failing before or after
//!   they take effect, delayed, stale loads, dropped wake-ups;
//! - what each activity attempt does: succeed, succeed slowly, fail before or after its effect,
//!   hang until its start-to-close timeout, or (the heartbeating one) stop beating. An attempt's
//!   fate is a function of the seed, the call's idempotency key and the attempt number, so it
//!   does not depend on the order attempts happen to run in; from the fifth attempt on, calls
//!   succeed.
//!
//! After every event the invariants are checked against the store without faults: no workflow
//! parked or failed, versions never go back, every commit is one step, nothing (a signal, an
//! activity result, a timer) consumed twice, no more signals consumed than were sent, every
//! idempotency key used by one call only. At the end every workflow must have completed with
//! the output of the same workflow run without faults ([`TestRun`], in both modes), every
//! call's effect applied once under its own key, and every signal delivered once and in order.
//!
//! The run records a trace (each decision, each outcome, and after each event what the store
//! holds); two runs of one seed must give the same trace.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use workflow_rt::prelude::*;
use workflow_rt::store::{
    ActivityTask, CompleteActivity, Event, EventKind, HistoryEntry, HistoryKind, LeaseRenewal,
    LeaseRequest, NewWorkflow, Release, RetryActivity, RunPage, RunQuery, ScheduleRecord,
    StepCommit, Store, StoreError, StoreFuture, TimerRow, WorkflowRecord, WorkflowSummary,
};
use workflow_rt::testing::{Faults, FaultyStore, TestRun};
use workflow_rt::{Clock, MemoryStore, Runtime, RuntimeError, VirtualClock, WorkflowStatus};

/// Where the virtual clock starts: 2024-01-01T00:00:00Z.
pub const T0: u64 = 1_704_067_200_000;
/// What a workflow records for a call that failed for good (never, if the runtime is right:
/// every call is retried until it succeeds).
const FAILED: u64 = u64::MAX;
/// The timer a `sim_select` races its signal against.
const SELECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The signals a `sim_loop` waits for, one after the other.
const LOOP_SIGNALS: u64 = 3;
/// The heartbeats of a `sim_beating` call, over all its attempts.
const BEATS: u32 = 6;
/// From this attempt on, every activity attempt succeeds.
const SURE_ATTEMPT: u32 = 5;

// ---------------------------------------------------------------------------------------------
// Random numbers

/// SplitMix64's output function.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The simulation's generator: SplitMix64.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// In `[0, n)`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// In `[lo, hi]`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// FNV-1a, for hashing traces and keys the same way on every run and platform.
pub fn fnv(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

// ---------------------------------------------------------------------------------------------
// What the activities share with the simulation (one simulation per thread)

#[derive(Default)]
struct Shared {
    seed: u64,
    /// Effects by idempotency key: the input of the call that applied it. An activity applies
    /// its effect only if its key has none yet, the pattern the key exists for.
    effects: BTreeMap<String, u64>,
    /// Attempts run, by idempotency key.
    attempts: BTreeMap<String, u32>,
    violations: Vec<String>,
    /// The store calls of the runtime since the last event, as [`Traced`] saw them.
    calls: Vec<String>,
}

thread_local! {
    static SHARED: RefCell<Shared> = RefCell::default();
}

fn shared<T>(f: impl FnOnce(&mut Shared) -> T) -> T {
    SHARED.with(|s| f(&mut s.borrow_mut()))
}

/// The value a call with `input` returns: the same on every attempt.
pub fn value(input: u64) -> u64 {
    input.wrapping_mul(31).wrapping_add(7)
}

fn apply_effect(key: &str, input: u64) {
    shared(|s| match s.effects.get(key) {
        Some(&other) if other != input => s.violations.push(format!(
            "idempotency key {key} used by two calls (inputs {other} and {input})"
        )),
        Some(_) => {}
        None => {
            s.effects.insert(key.to_string(), input);
        }
    });
}

/// What one attempt does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Succeed,
    /// Succeeds after this many ms of tokio time.
    Slow(u64),
    /// Fails (retryably) before applying its effect.
    FailBefore,
    /// Applies its effect, then fails (retryably): the next attempt must find the effect.
    FailAfter,
    /// Never returns: its start-to-close timeout (or its heartbeat timeout) ends it.
    Hang,
}

/// The fate of attempt `attempt` of the call keyed `key`: a function of the seed, the key and
/// the attempt, so the same whatever order attempts run in. (Returns the draw too, for
/// choices within the attempt.)
fn fate(key: &str, attempt: u32) -> (Fate, u64) {
    let seed = shared(|s| {
        *s.attempts.entry(key.to_string()).or_default() += 1;
        s.seed
    });
    let r = mix(seed ^ fnv(key.as_bytes()) ^ u64::from(attempt).wrapping_mul(0x9e37_79b9));
    if attempt >= SURE_ATTEMPT {
        return (Fate::Succeed, r);
    }
    let f = match r % 100 {
        0..40 => Fate::Succeed,
        40..60 => Fate::Slow(1 + (r >> 8) % 40),
        60..72 => Fate::FailBefore,
        72..86 => Fate::FailAfter,
        _ => Fate::Hang,
    };
    (f, r)
}

/// An activity with an effect, applied once per idempotency key, whose attempts succeed, fail
/// or hang as [`fate`] says.
#[activity]
pub async fn sim_work(ctx: ActivityCtx, input: u64) -> Result<u64, ActivityError> {
    let key = ctx.idempotency_key();
    match fate(&key, ctx.attempt()).0 {
        Fate::Succeed => {}
        Fate::Slow(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        Fate::FailBefore => return Err(ActivityError::retryable("simulated: before the effect")),
        Fate::FailAfter => {
            apply_effect(&key, input);
            return Err(ActivityError::retryable("simulated: after the effect"));
        }
        Fate::Hang => std::future::pending::<()>().await,
    }
    apply_effect(&key, input);
    Ok(value(input))
}

/// A long call that heartbeats its progress: an attempt goes on from the last beat of the one
/// before. A failing attempt fails at one of its beats; a hanging one stops beating (its
/// heartbeat timeout ends it); and one whose beats are far apart on the runtime's clock (the
/// simulation moved it) times out too.
#[activity]
pub async fn sim_beating(ctx: ActivityCtx, input: u64) -> Result<u64, ActivityError> {
    let key = ctx.idempotency_key();
    let (fate, r) = fate(&key, ctx.attempt());
    let stop_at = ((r >> 16) % u64::from(BEATS)) as u32;
    let mut done: u32 = ctx.heartbeat_details().unwrap_or(0);
    while done < BEATS {
        if done == stop_at {
            match fate {
                Fate::FailBefore | Fate::FailAfter => {
                    return Err(ActivityError::retryable("simulated: failed mid-way"));
                }
                Fate::Hang => std::future::pending::<()>().await,
                Fate::Succeed | Fate::Slow(_) => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
        done += 1;
        ctx.heartbeat(&done);
    }
    apply_effect(&key, input);
    Ok(value(input))
}

fn policy() -> RetryPolicy {
    RetryPolicy::exponential(Duration::from_millis(200)).max_interval(Duration::from_secs(1))
}

/// Three calls, one after the other.
#[workflow]
pub async fn sim_seq(ctx: WorkflowCtx, n: u64) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    let mut i: u64 = 0;
    while i < 3 {
        let v = ctx
            .activity(sim_work, n * 10 + i)
            .retry(policy())
            .start_to_close(Duration::from_secs(5))
            .await;
        out.push(v.unwrap_or(FAILED));
        i += 1;
    }
    out
}

/// Three calls at once, then a timer.
#[workflow]
pub async fn sim_join(ctx: WorkflowCtx, n: u64) -> Vec<u64> {
    let (a, b, c) = ctx
        .join((
            ctx.activity(sim_work, n * 10)
                .retry(policy())
                .start_to_close(Duration::from_secs(5)),
            ctx.activity(sim_work, n * 10 + 1)
                .retry(policy())
                .start_to_close(Duration::from_secs(5)),
            ctx.activity(sim_work, n * 10 + 2)
                .retry(policy())
                .start_to_close(Duration::from_secs(5)),
        ))
        .await;
    ctx.sleep(Duration::from_millis(500)).await;
    vec![
        a.unwrap_or(FAILED),
        b.unwrap_or(FAILED),
        c.unwrap_or(FAILED),
    ]
}

/// A signal against a timer, then a call.
#[workflow]
pub async fn sim_select(ctx: WorkflowCtx, n: u64) -> (Option<u64>, u64) {
    let got = match ctx
        .select((ctx.signal::<u64>("go"), ctx.sleep(SELECT_TIMEOUT)))
        .await
    {
        Select2::First(v) => Some(v),
        Select2::Second(()) => None,
    };
    let after = ctx
        .activity(sim_work, n)
        .retry(policy())
        .start_to_close(Duration::from_secs(5))
        .await;
    (got, after.unwrap_or(FAILED))
}

/// Signals, in order, each followed by a call on its value.
#[workflow]
pub async fn sim_loop(ctx: WorkflowCtx, _n: u64) -> Vec<u64> {
    let mut got: Vec<u64> = Vec::new();
    let mut i: u64 = 0;
    while i < LOOP_SIGNALS {
        let v = ctx.signal::<u64>("add").await;
        got.push(v);
        let r = ctx
            .activity(sim_work, v)
            .retry(policy())
            .start_to_close(Duration::from_secs(5))
            .await;
        got.push(r.unwrap_or(FAILED));
        i += 1;
    }
    got
}

/// A heartbeating call with retries, then a timer.
#[workflow]
pub async fn sim_retry(ctx: WorkflowCtx, n: u64) -> u64 {
    let v = ctx
        .activity(sim_beating, n)
        .retry(policy())
        .start_to_close(Duration::from_secs(20))
        .heartbeat_timeout(Duration::from_secs(2))
        .await;
    ctx.sleep(Duration::from_secs(1)).await;
    v.unwrap_or(FAILED)
}

// ---------------------------------------------------------------------------------------------
// The runtime's store calls, in the trace

/// Passes every call to the faulty store, and records it (what, on what, and how it ended) in
/// the trace: the runtime's own decisions, not only the simulation's.
struct Traced(Arc<FaultyStore<MemoryStore>>);

fn record<'a, T: Send + 'a>(
    call: String,
    fut: StoreFuture<'a, T>,
    show: impl Fn(&T) -> String + Send + 'a,
) -> StoreFuture<'a, T> {
    Box::pin(async move {
        let r = fut.await;
        let line = match &r {
            Ok(v) => format!("{call}={}", show(v)),
            Err(e) if e.to_string().contains("injected fault") => format!("{call}=fault"),
            Err(e) => format!("{call}=err({e})"),
        };
        shared(|s| s.calls.push(line));
        r
    })
}

fn unit<T>(_: &T) -> String {
    "ok".into()
}

impl Store for Traced {
    fn create_workflow(&self, w: NewWorkflow) -> StoreFuture<'_, u64> {
        record(format!("create({})", w.id), self.0.create_workflow(w), unit)
    }
    fn load_workflow<'a>(&'a self, id: &'a str) -> StoreFuture<'a, WorkflowRecord> {
        record(format!("load({id})"), self.0.load_workflow(id), |r| {
            format!("v{}", r.version)
        })
    }
    fn load_inbox<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<Event>> {
        record(format!("inbox({id})"), self.0.load_inbox(id), |v| {
            v.len().to_string()
        })
    }
    fn load_tasks<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<ActivityTask>> {
        record(format!("tasks({id})"), self.0.load_tasks(id), |v| {
            v.len().to_string()
        })
    }
    fn load_timers<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<TimerRow>> {
        record(format!("timers({id})"), self.0.load_timers(id), |v| {
            v.len().to_string()
        })
    }
    fn commit_step(&self, step: StepCommit) -> StoreFuture<'_, u64> {
        let call = format!("commit({}@{})", step.workflow_id, step.expected_version);
        record(call, self.0.commit_step(step), |v| v.to_string())
    }
    fn commit_steps(
        &self,
        steps: Vec<StepCommit>,
    ) -> StoreFuture<'_, Vec<Result<u64, StoreError>>> {
        let ids: Vec<String> = steps
            .iter()
            .map(|s| format!("{}@{}", s.workflow_id, s.expected_version))
            .collect();
        record(
            format!("commits({})", ids.join(",")),
            self.0.commit_steps(steps),
            |v| {
                v.iter()
                    .map(|r| match r {
                        Ok(v) => v.to_string(),
                        Err(_) => "x".into(),
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            },
        )
    }
    fn append_event<'a>(
        &'a self,
        id: &'a str,
        kind: EventKind,
        at_ms: u64,
        entry: HistoryEntry,
    ) -> StoreFuture<'a, u64> {
        record(
            format!("event({id},{kind:?})"),
            self.0.append_event(id, kind, at_ms, entry),
            |v| v.to_string(),
        )
    }
    fn append_signal<'a>(
        &'a self,
        id: &'a str,
        name: &'a str,
        payload: Vec<u8>,
        type_tag: Option<u64>,
        at_ms: u64,
    ) -> StoreFuture<'a, u64> {
        record(
            format!("signal({id},{name})"),
            self.0.append_signal(id, name, payload, type_tag, at_ms),
            |v| v.to_string(),
        )
    }
    fn complete_activity(&self, done: CompleteActivity) -> StoreFuture<'_, bool> {
        let call = format!(
            "complete({}#{}.{})",
            done.workflow_id, done.attempt.seq, done.attempt.attempt
        );
        record(call, self.0.complete_activity(done), |v| v.to_string())
    }
    fn retry_activity(&self, retry: RetryActivity) -> StoreFuture<'_, bool> {
        let call = format!(
            "retry({}#{}.{})",
            retry.workflow_id, retry.seq, retry.attempt
        );
        record(call, self.0.retry_activity(retry), |v| v.to_string())
    }
    fn lease_tasks(&self, request: LeaseRequest) -> StoreFuture<'_, Vec<ActivityTask>> {
        record("lease".into(), self.0.lease_tasks(request), |v| {
            v.iter()
                .map(|t| format!("{}#{}.{}", t.workflow_id, t.seq, t.attempt))
                .collect::<Vec<_>>()
                .join(",")
        })
    }
    fn renew_leases<'a>(
        &'a self,
        owner: &'a str,
        tasks: Vec<LeaseRenewal>,
        lease_until_ms: u64,
    ) -> StoreFuture<'a, Vec<(String, u64)>> {
        let mut keys: Vec<String> = tasks
            .iter()
            .map(|t| format!("{}#{}", t.workflow_id, t.seq))
            .collect();
        keys.sort();
        record(
            format!("renew({})", keys.join(",")),
            self.0.renew_leases(owner, tasks, lease_until_ms),
            |lost| format!("{lost:?}"),
        )
    }
    fn release_leases<'a>(
        &'a self,
        owner: &'a str,
        why: Release,
        now_ms: u64,
    ) -> StoreFuture<'a, u64> {
        record(
            format!("release({owner})"),
            self.0.release_leases(owner, why, now_ms),
            |v| v.to_string(),
        )
    }
    fn release_tasks<'a>(
        &'a self,
        owner: &'a str,
        tasks: Vec<LeaseRenewal>,
        why: Release,
        now_ms: u64,
    ) -> StoreFuture<'a, u64> {
        let which: Vec<String> = tasks
            .iter()
            .map(|t| format!("{}#{}", t.workflow_id, t.seq))
            .collect();
        record(
            format!("release_tasks({owner},{})", which.join(",")),
            self.0.release_tasks(owner, tasks, why, now_ms),
            |v| v.to_string(),
        )
    }
    fn next_task_due<'a>(&'a self, names: &'a [String]) -> StoreFuture<'a, Option<u64>> {
        record("next_task".into(), self.0.next_task_due(names), |v| {
            format!("{v:?}")
        })
    }
    fn fire_timers(&self, now_ms: u64, limit: usize) -> StoreFuture<'_, Vec<String>> {
        record("fire".into(), self.0.fire_timers(now_ms, limit), |v| {
            v.join(",")
        })
    }
    fn next_timer_due(&self) -> StoreFuture<'_, Option<u64>> {
        record("next_timer".into(), self.0.next_timer_due(), |v| {
            format!("{v:?}")
        })
    }
    fn ready_workflows<'a>(
        &'a self,
        names: &'a [String],
        limit: usize,
    ) -> StoreFuture<'a, Vec<String>> {
        record("ready".into(), self.0.ready_workflows(names, limit), |v| {
            v.join(",")
        })
    }
    fn clear_ready<'a>(
        &'a self,
        id: &'a str,
        version: u64,
        seen_events_upto: u64,
    ) -> StoreFuture<'a, bool> {
        record(
            format!("clear({id}@{version})"),
            self.0.clear_ready(id, version, seen_events_upto),
            |v| v.to_string(),
        )
    }
    fn list_workflows(
        &self,
        status: Option<WorkflowStatus>,
    ) -> StoreFuture<'_, Vec<WorkflowSummary>> {
        record(
            format!("list({status:?})"),
            self.0.list_workflows(status),
            |v| v.len().to_string(),
        )
    }
    fn list_runs(&self, query: RunQuery) -> StoreFuture<'_, RunPage> {
        record(format!("runs({query:?})"), self.0.list_runs(query), |p| {
            p.runs.len().to_string()
        })
    }
    fn count_runs(&self) -> StoreFuture<'_, Vec<(WorkflowStatus, u64)>> {
        record("count".into(), self.0.count_runs(), |v| format!("{v:?}"))
    }
    fn purge<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        record(format!("purge({id})"), self.0.purge(id), unit)
    }
    fn purge_version<'a>(&'a self, id: &'a str, version: u64) -> StoreFuture<'a, ()> {
        record(
            format!("purge_version({id},{version})"),
            self.0.purge_version(id, version),
            unit,
        )
    }
    fn purge_finished(
        &self,
        finished_before_ms: u64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<String>> {
        record(
            format!("purge_finished({finished_before_ms},{limit})"),
            self.0.purge_finished(finished_before_ms, limit),
            |v| v.join(","),
        )
    }
    fn history<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<HistoryEntry>> {
        record(format!("history({id})"), self.0.history(id), |v| {
            v.len().to_string()
        })
    }
    fn wakeups(&self) -> Option<tokio::sync::broadcast::Receiver<workflow_rt::store::Wakeup>> {
        self.0.wakeups()
    }
    // Schedules are not part of the simulation: passed on, not traced.
    fn create_schedule(&self, schedule: ScheduleRecord) -> StoreFuture<'_, ()> {
        self.0.create_schedule(schedule)
    }
    fn load_schedule<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ScheduleRecord> {
        self.0.load_schedule(name)
    }
    fn list_schedules(&self) -> StoreFuture<'_, Vec<ScheduleRecord>> {
        self.0.list_schedules()
    }
    fn update_schedule(&self, schedule: ScheduleRecord) -> StoreFuture<'_, u64> {
        self.0.update_schedule(schedule)
    }
    fn delete_schedule<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ()> {
        self.0.delete_schedule(name)
    }
    fn due_schedules<'a>(
        &'a self,
        workflows: &'a [String],
        now_ms: u64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<ScheduleRecord>> {
        self.0.due_schedules(workflows, now_ms, limit)
    }
    fn next_schedule_due<'a>(&'a self, workflows: &'a [String]) -> StoreFuture<'a, Option<u64>> {
        self.0.next_schedule_due(workflows)
    }
}

// ---------------------------------------------------------------------------------------------
// The plan

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Seq,
    Join,
    /// `signal`: the signal is sent before the timer can fire (and wins), else never.
    Select {
        signal: bool,
    },
    Loop,
    Retry,
}

#[derive(Debug)]
struct Wf {
    id: String,
    kind: Kind,
    n: u64,
    /// Its run is in the store.
    started: bool,
    /// When its run was created, on the clock.
    created_at: u64,
    signal_name: &'static str,
    /// The signals to send it, in order.
    signals: Vec<u64>,
    /// How many of them the store has.
    sent: usize,
    /// The version the last check saw.
    version: u64,
    /// Its output, once completed, as the last check saw it.
    output: Option<Vec<u8>>,
}

/// What a finished simulation reports.
#[derive(Debug, Clone)]
pub struct Report {
    pub seed: u64,
    pub restore_every_step: bool,
    pub workflows: usize,
    pub events: usize,
    pub crashes: usize,
    /// Store faults injected (failures before or after, stale loads).
    pub faults: u64,
    /// Activity attempts run.
    pub attempts: u64,
    /// The trace, one line per decision or outcome.
    pub trace: Vec<String>,
}

impl Report {
    /// A hash of the trace: equal for two runs of one seed.
    pub fn trace_hash(&self) -> u64 {
        let mut h = 0u64;
        for line in &self.trace {
            h = mix(h ^ fnv(line.as_bytes()));
        }
        h
    }
}

/// How a simulation failed: the message names the seed; `trace` is the run up to the failure.
#[derive(Debug, Clone)]
pub struct Failure {
    pub seed: u64,
    pub message: String,
    pub trace: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tail = self.trace.len().saturating_sub(40);
        writeln!(f, "simulation seed {} failed: {}", self.seed, self.message)?;
        writeln!(f, "last events of its trace:")?;
        for line in &self.trace[tail..] {
            writeln!(f, "  {line}")?;
        }
        write!(
            f,
            "replay it: WORKFLOW_SIM_SEED={} cargo test --test simulation -- --nocapture",
            self.seed
        )
    }
}

/// Runs the simulation of `seed` to its end, on the calling thread.
pub fn run_seed(seed: u64) -> Result<Report, Failure> {
    let mut sim = Sim::new(seed);
    let result = sim.run();
    let report = Report {
        seed,
        restore_every_step: sim.restored,
        workflows: sim.wfs.len(),
        events: sim.events,
        crashes: sim.crashes,
        faults: sim.store.injected(),
        attempts: shared(|s| s.attempts.values().map(|&a| u64::from(a)).sum()),
        trace: std::mem::take(&mut sim.trace),
    };
    shared(|s| *s = Shared::default());
    match result {
        Ok(()) => Ok(report),
        Err(message) => Err(Failure {
            seed,
            message,
            trace: report.trace,
        }),
    }
}

/// What ended an incarnation of the runtime.
enum End {
    /// The tokio runtime is to be dropped with everything on it, and a new one built.
    HardCrash,
    /// Every workflow finished.
    Done,
}

struct Sim {
    seed: u64,
    rng: Rng,
    restored: bool,
    store: Arc<FaultyStore<MemoryStore>>,
    clock: VirtualClock,
    wfs: Vec<Wf>,
    /// The worker id's number: a crash keeps it or takes the next.
    worker: u64,
    events: usize,
    max_events: usize,
    crashes: usize,
    /// Second workers that joined.
    extras: u64,
    trace: Vec<String>,
}

impl Sim {
    fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let restored = rng.chance(50);
        let faults = match rng.below(10) {
            0..2 => Faults {
                fail_before: 0.0,
                fail_after: 0.0,
                delay: 0.0,
                stale: 0.0,
                ..Faults::default()
            },
            2..7 => Faults::default(),
            _ => Faults {
                fail_before: 0.1,
                fail_after: 0.1,
                delay: 0.2,
                stale: 0.1,
                ..Faults::default()
            },
        };
        let store = Arc::new(FaultyStore::new(
            MemoryStore::new(),
            mix(seed ^ 0x5eed_fa17),
            faults,
        ));
        let count = rng.range(3, 7);
        let mut wfs = Vec::new();
        for i in 0..count {
            let kind = match rng.below(5) {
                0 => Kind::Seq,
                1 => Kind::Join,
                2 => Kind::Select {
                    signal: rng.chance(60),
                },
                3 => Kind::Loop,
                _ => Kind::Retry,
            };
            let n = rng.range(1, 999);
            let (signal_name, signals) = match kind {
                Kind::Select { signal: true } => ("go", vec![n * 1000 + 1]),
                Kind::Loop => ("add", (0..LOOP_SIGNALS).map(|k| n * 100 + k).collect()),
                _ => ("", Vec::new()),
            };
            wfs.push(Wf {
                id: format!("sim{seed}-{i}"),
                kind,
                n,
                started: false,
                created_at: 0,
                signal_name,
                signals,
                sent: 0,
                version: 0,
                output: None,
            });
        }
        let max_events = rng.range(30, 120) as usize;
        shared(|s| {
            *s = Shared {
                seed,
                ..Shared::default()
            }
        });
        let mut sim = Sim {
            seed,
            rng,
            restored,
            store,
            clock: VirtualClock::new(T0),
            wfs,
            worker: 0,
            events: 0,
            max_events,
            crashes: 0,
            extras: 0,
            trace: Vec::new(),
        };
        let plan: Vec<String> = sim
            .wfs
            .iter()
            .map(|w| format!("{}={:?}({})", w.id, w.kind, w.n))
            .collect();
        sim.log(format!(
            "plan: restore_every_step={restored} faults={faults:?} events={max_events} workflows: {}",
            plan.join(" ")
        ));
        sim
    }

    fn log(&mut self, line: String) {
        self.trace.push(line);
    }

    fn run(&mut self) -> Result<(), String> {
        loop {
            let tokio_rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .map_err(|e| format!("tokio runtime: {e}"))?;
            let end = tokio_rt.block_on(self.incarnation())?;
            // Everything on it goes: drivers mid-step, attempts mid-call, delayed store calls.
            drop(tokio_rt);
            match end {
                End::HardCrash => continue,
                End::Done => break,
            }
        }
        self.final_checks()
    }

    fn worker_id(&self) -> String {
        format!("sim{}-worker{}", self.seed, self.worker)
    }

    /// Builds a runtime on the store, again until no injected fault stops it.
    async fn build(&mut self) -> Result<Runtime, String> {
        self.build_as(self.worker_id()).await
    }

    /// Builds a runtime named `worker` on the store.
    async fn build_as(&mut self, worker: String) -> Result<Runtime, String> {
        for _ in 0..200 {
            let built = Runtime::builder(Traced(self.store.clone()))
                .clock(self.clock.clone())
                .workflow(sim_seq)
                .workflow(sim_join)
                .workflow(sim_select)
                .workflow(sim_loop)
                .workflow(sim_retry)
                .activity(sim_work)
                .activity(sim_beating)
                .worker_id(worker.clone())
                .seed(mix(self.seed ^ 0x0001_0000))
                .poll_interval(Duration::from_millis(10))
                .lease_duration(Duration::from_secs(3))
                .restore_every_step(self.restored)
                .build()
                .await;
            match built {
                Ok(rt) => {
                    let line = format!("built runtime {worker}");
                    self.log(line);
                    return Ok(rt);
                }
                Err(RuntimeError::Store(e)) if e.to_string().contains("injected fault") => {
                    self.log(format!("build failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err(e) => return Err(format!("build: {e}")),
            }
        }
        Err("the runtime could not be built 200 times in a row".into())
    }

    /// One incarnation of the runtime (one tokio runtime): events until a hard crash or the
    /// end.
    async fn incarnation(&mut self) -> Result<End, String> {
        let mut rt = self.build().await?;
        // A second worker on the same store, at times: it steps workflows and runs
        // activities alongside the first (and is dropped without shutdown when it leaves).
        let mut extra: Option<Runtime> = None;
        self.check().await?;
        while self.events < self.max_events {
            self.events += 1;
            let e = self.events;
            match self.rng.below(100) {
                0..15 => self.start_one(&rt).await?,
                15..35 => self.signal_one(&rt).await?,
                35..57 => {
                    let by = match self.rng.below(10) {
                        0..6 => self.rng.range(1, 300),
                        6..9 => self.rng.range(300, 2500),
                        _ => self.rng.range(2500, 8000),
                    };
                    self.advance(&rt, by).await?;
                }
                57..93 => {
                    let ms = self.rng.range(1, 50);
                    self.log(format!("e{e}: run {ms} ms"));
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                93..95 => match extra.take() {
                    Some(x) => {
                        self.log(format!("e{e}: worker {} leaves", x.worker_id()));
                        drop(x);
                    }
                    None => {
                        self.extras += 1;
                        self.log(format!("e{e}: a second worker joins"));
                        let name = format!("sim{}-extra{}", self.seed, self.extras);
                        extra = Some(self.build_as(name).await?);
                    }
                },
                _ => {
                    self.crashes += 1;
                    let hard = self.rng.chance(50);
                    if self.rng.chance(50) {
                        self.worker += 1;
                    }
                    self.log(format!(
                        "e{e}: crash ({}), next worker {}",
                        if hard {
                            "tokio runtime dropped"
                        } else {
                            "runtime dropped"
                        },
                        self.worker_id()
                    ));
                    drop(rt);
                    if hard {
                        return Ok(End::HardCrash);
                    }
                    rt = self.build().await?;
                }
            }
            // A moment for the runtime to react, then the invariants.
            let ms = self.rng.range(0, 5);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            self.check().await?;
        }
        self.finish(&rt).await?;
        drop(extra);
        drop(rt);
        Ok(End::Done)
    }

    /// The end: everything started, every signal sent, the clock moved in small steps (less
    /// than a heartbeat timeout) until every workflow has finished.
    async fn finish(&mut self, rt: &Runtime) -> Result<(), String> {
        self.log("finish".into());
        for round in 0..800 {
            for i in 0..self.wfs.len() {
                if !self.wfs[i].started {
                    self.start(rt, i).await?;
                } else if self.wfs[i].sent < self.wfs[i].signals.len() {
                    self.signal(rt, i).await?;
                }
            }
            let done = self.wfs.iter().all(|w| w.output.is_some());
            if done {
                self.log(format!("all finished after {round} rounds"));
                return Ok(());
            }
            self.advance(rt, 400).await?;
            tokio::time::sleep(Duration::from_millis(10)).await;
            self.check().await?;
        }
        let mut stuck = Vec::new();
        for w in &self.wfs {
            if w.output.is_none() {
                let rec = self.store.inner().load_workflow(&w.id).await;
                let tasks = self.store.inner().load_tasks(&w.id).await;
                let timers = self.store.inner().load_timers(&w.id).await;
                let inbox = self.store.inner().load_inbox(&w.id).await;
                stuck.push(format!(
                    "{} ({:?}): {:?}\n tasks {:?}\n timers {:?}\n inbox {:?}",
                    w.id,
                    w.kind,
                    rec.map(|r| (r.status, r.version, r.ready)),
                    tasks,
                    timers,
                    inbox
                ));
            }
        }
        Err(format!(
            "workflows never finished (320 s of clock later):\n{}",
            stuck.join("\n")
        ))
    }

    /// Moves the clock by `ms`, but never past the deadline of a select whose signal must win
    /// and is not sent yet.
    async fn advance(&mut self, rt: &Runtime, ms: u64) -> Result<(), String> {
        let now = self.clock.now_ms();
        let cap = self
            .wfs
            .iter()
            .filter(|w| w.started && matches!(w.kind, Kind::Select { signal: true }) && w.sent == 0)
            .map(|w| w.created_at + SELECT_TIMEOUT.as_millis() as u64 - 1)
            .min();
        let by = match cap {
            Some(cap) => ms.min(cap.saturating_sub(now)),
            None => ms,
        };
        if by == 0 {
            // Send the signal that holds the clock back instead.
            let i = self
                .wfs
                .iter()
                .position(|w| {
                    w.started && matches!(w.kind, Kind::Select { signal: true }) && w.sent == 0
                })
                .expect("a capping select");
            return self.signal(rt, i).await;
        }
        self.clock.advance(Duration::from_millis(by));
        let line = format!(
            "e{}: clock +{by} ms -> {}",
            self.events,
            self.clock.now_ms() - T0
        );
        self.log(line);
        Ok(())
    }

    async fn start_one(&mut self, rt: &Runtime) -> Result<(), String> {
        let waiting: Vec<usize> = (0..self.wfs.len())
            .filter(|&i| !self.wfs[i].started)
            .collect();
        if waiting.is_empty() {
            self.log(format!("e{}: nothing to start", self.events));
            return Ok(());
        }
        let i = waiting[self.rng.below(waiting.len() as u64) as usize];
        self.start(rt, i).await
    }

    /// Starts workflow `i` (a fault may fail the call after the run was created: the store
    /// without faults says whether it was).
    async fn start(&mut self, rt: &Runtime, i: usize) -> Result<(), String> {
        let (id, n) = (self.wfs[i].id.clone(), self.wfs[i].n);
        let r = match self.wfs[i].kind {
            Kind::Seq => rt.start(sim_seq, &id, n).await.map(drop),
            Kind::Join => rt.start(sim_join, &id, n).await.map(drop),
            Kind::Select { .. } => rt.start(sim_select, &id, n).await.map(drop),
            Kind::Loop => rt.start(sim_loop, &id, n).await.map(drop),
            Kind::Retry => rt.start(sim_retry, &id, n).await.map(drop),
        };
        let stored = self.store.inner().load_workflow(&id).await.ok();
        match (&r, &stored) {
            (Err(RuntimeError::Store(e)), _) if e.to_string().contains("injected fault") => {}
            (Err(e), _) => return Err(format!("start {id}: {e}")),
            (Ok(()), None) => return Err(format!("start {id} succeeded, but no run is stored")),
            (Ok(()), Some(_)) => {}
        }
        if let Some(rec) = stored {
            self.wfs[i].started = true;
            self.wfs[i].created_at = rec.created_at_ms;
        }
        let line = format!(
            "e{}: start {id} -> {} (stored: {})",
            self.events,
            outcome(&r),
            self.wfs[i].started
        );
        self.log(line);
        Ok(())
    }

    async fn signal_one(&mut self, rt: &Runtime) -> Result<(), String> {
        let waiting: Vec<usize> = (0..self.wfs.len())
            .filter(|&i| self.wfs[i].started && self.wfs[i].sent < self.wfs[i].signals.len())
            .collect();
        if waiting.is_empty() {
            self.log(format!("e{}: no signal to send", self.events));
            return Ok(());
        }
        let i = waiting[self.rng.below(waiting.len() as u64) as usize];
        self.signal(rt, i).await
    }

    /// How many signals the store holds for `id` (one history entry each).
    async fn signals_stored(&self, id: &str) -> Result<usize, String> {
        let h = self
            .store
            .inner()
            .history(id)
            .await
            .map_err(|e| format!("history of {id}: {e}"))?;
        Ok(h.iter().filter(|e| e.kind == HistoryKind::Signal).count())
    }

    /// Sends workflow `i` its next signal (a fault may fail the call after the signal was
    /// stored: the store without faults says whether it was).
    async fn signal(&mut self, rt: &Runtime, i: usize) -> Result<(), String> {
        let w = &self.wfs[i];
        let (id, name, payload, before) = (w.id.clone(), w.signal_name, w.signals[w.sent], w.sent);
        let r = rt.signal(&id, name, payload).await;
        let stored = self.signals_stored(&id).await?;
        match &r {
            Err(RuntimeError::Store(e)) if e.to_string().contains("injected fault") => {}
            Err(e) => return Err(format!("signal {id}: {e}")),
            Ok(()) if stored != before + 1 => {
                return Err(format!(
                    "signal {id} {name}={payload} succeeded, but the store has {stored} signals, not {}",
                    before + 1
                ));
            }
            Ok(()) => {}
        }
        if stored > before + 1 || stored < before {
            return Err(format!(
                "{id}: {stored} signals stored after the {}th was sent",
                before + 1
            ));
        }
        self.wfs[i].sent = stored;
        let line = format!(
            "e{}: signal {id} {name}={payload} -> {} (stored: {})",
            self.events,
            outcome(&r),
            stored > before
        );
        self.log(line);
        Ok(())
    }

    /// The invariants, on the store without faults; then what it holds goes to the trace.
    async fn check(&mut self) -> Result<(), String> {
        let violations = shared(|s| std::mem::take(&mut s.violations));
        if !violations.is_empty() {
            return Err(violations.join("; "));
        }
        let mut seen = Vec::new();
        for i in 0..self.wfs.len() {
            if !self.wfs[i].started {
                continue;
            }
            let id = self.wfs[i].id.clone();
            let inner = self.store.inner();
            let rec: WorkflowRecord = inner
                .load_workflow(&id)
                .await
                .map_err(|e| format!("{id} was started, but cannot be loaded: {e}"))?;
            let w = &mut self.wfs[i];
            match rec.status {
                WorkflowStatus::Running | WorkflowStatus::Completed => {}
                other => {
                    return Err(format!(
                        "{id} is {other:?} ({:?})",
                        rec.park_reason.as_deref().unwrap_or("")
                    ));
                }
            }
            if rec.version < w.version {
                return Err(format!(
                    "{id}: version went back from {} to {}",
                    w.version, rec.version
                ));
            }
            if let Some(out) = &w.output
                && (rec.status != WorkflowStatus::Completed || rec.output.as_ref() != Some(out))
            {
                return Err(format!("{id} completed, then changed: {:?}", rec.status));
            }
            let history = inner
                .history(&id)
                .await
                .map_err(|e| format!("history of {id}: {e}"))?;
            let steps: Vec<&str> = history
                .iter()
                .filter(|e| matches!(e.kind, HistoryKind::Step | HistoryKind::Completed))
                .map(|e| e.detail.split(" -> ").next().unwrap_or(""))
                .collect();
            if steps.len() as u64 != rec.version {
                return Err(format!(
                    "{id}: {} steps in the history at version {}",
                    steps.len(),
                    rec.version
                ));
            }
            let mut woken = BTreeSet::new();
            let mut signals = 0;
            for wake in steps.iter().flat_map(|s| s.split(", ")) {
                if wake.is_empty() || wake == "start" {
                    continue;
                }
                if !woken.insert(wake) {
                    return Err(format!("{id}: {wake:?} consumed twice ({steps:?})"));
                }
                if wake.starts_with("signal ") {
                    signals += 1;
                }
            }
            if signals > w.sent {
                return Err(format!("{id}: {signals} signals consumed, {} sent", w.sent));
            }
            w.version = rec.version;
            if rec.status == WorkflowStatus::Completed {
                w.output = rec.output.clone();
            }
            seen.push(format!("{}:{:?}/{}", i, rec.status, rec.version));
        }
        let (effects, attempts) = shared(|s| {
            (
                s.effects.len(),
                s.attempts.values().map(|&a| u64::from(a)).sum::<u64>(),
            )
        });
        let calls = shared(|s| std::mem::take(&mut s.calls));
        if !calls.is_empty() {
            self.log(format!("  calls: {}", calls.join(" ")));
        }
        let line = format!(
            "  now {} | {} | effects {effects} attempts {attempts} faults {}",
            self.clock.now_ms() - T0,
            seen.join(" "),
            self.store.injected()
        );
        self.log(line);
        Ok(())
    }

    /// Every workflow's output against a run without faults (in both modes), and every call's
    /// effect applied once, under its own key.
    fn final_checks(&mut self) -> Result<(), String> {
        let mut expected_keys = BTreeSet::new();
        for w in &self.wfs {
            let out = w
                .output
                .as_deref()
                .ok_or_else(|| format!("{} did not finish", w.id))?;
            let (got, want, keys) = match w.kind {
                Kind::Seq => compare(sim_seq, w, out)?,
                Kind::Join => compare(sim_join, w, out)?,
                Kind::Select { .. } => compare(sim_select, w, out)?,
                Kind::Loop => compare(sim_loop, w, out)?,
                Kind::Retry => compare(sim_retry, w, out)?,
            };
            if got != want {
                return Err(format!(
                    "{} ({:?}) ended with {got}, a run without faults with {want}",
                    w.id, w.kind
                ));
            }
            self.trace.push(format!("{}: {got}", w.id));
            expected_keys.extend(keys);
        }
        let applied: BTreeSet<String> = shared(|s| s.effects.keys().cloned().collect());
        if applied != expected_keys {
            return Err(format!(
                "effects applied under keys {:?}, calls made under {:?}",
                applied.difference(&expected_keys).collect::<Vec<_>>(),
                expected_keys.difference(&applied).collect::<Vec<_>>()
            ));
        }
        Ok(())
    }
}

fn outcome(r: &Result<(), RuntimeError>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(e) => format!("error ({e})"),
    }
}

/// Decodes the output of `w`'s run, and runs `w` without faults with [`TestRun`] (its signals
/// sent up front, every call answered at once), in both modes: the two outputs as text, and
/// the idempotency keys of the calls made.
fn compare<W>(workflow: W, w: &Wf, out: &[u8]) -> Result<(String, String, Vec<String>), String>
where
    W: Workflow<Input = u64> + Copy,
    W::Output: std::fmt::Debug + PartialEq,
{
    let got: W::Output = postcard::from_bytes(out).map_err(|e| format!("{}: output: {e}", w.id))?;
    let mut outputs = Vec::new();
    let mut keys = Vec::new();
    for restore in [false, true] {
        let mut run = TestRun::new(workflow, &w.id, w.n)
            .on_activity(sim_work, |x| Ok(value(x)))
            .on_activity(sim_beating, |x| Ok(value(x)))
            .snapshot_every_await(restore);
        for &s in &w.signals {
            run = run.signal(w.signal_name, s);
        }
        let done = run
            .run()
            .map_err(|e| format!("{}: the run without faults: {e}", w.id))?;
        keys = done
            .activity_calls
            .iter()
            .map(|c| format!("{}:{}", w.id, c.seq))
            .collect();
        outputs.push(done.output);
    }
    if outputs[0] != outputs[1] {
        return Err(format!(
            "{}: the run without faults differs when restored at every await: {:?} / {:?}",
            w.id, outputs[0], outputs[1]
        ));
    }
    Ok((format!("{got:?}"), format!("{:?}", outputs[0]), keys))
}
