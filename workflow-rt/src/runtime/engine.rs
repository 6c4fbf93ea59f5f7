//! The shared state of a runtime and the step loop.
//!
//! A workflow is advanced by at most one *driver* task of a runtime at a time. [`Inner::wake`]
//! starts one, or hands what arrived (activity results from this runtime's workers, or "look at
//! the store") to the one already running. A driver loads the workflow (or takes it from the
//! cache of decoded states), resolves its wait against what arrived, runs one step, commits it
//! with a compare-and-set on the version, starts the activities the step asked for, and goes on
//! while the new wait can be resolved at once (an activity that finished at its first poll, a
//! signal already buffered). Nothing is held per sleeping workflow: a workflow that waits costs
//! rows in the store and, at most, a cache entry.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use super::registry::{ErasedActivity, ErasedState, ErasedWorkflow};
use super::resolve::{Fresh, Resolved, has_signal, resolve};
use crate::activity::ActivityOptions;
use crate::clock::Clock;
use crate::codec;
use crate::context::{CtxState, WorkflowCtx};
use crate::durable::Pending;
use crate::step::{Outcome, StepFailure};
use crate::store::{
    ActivityTask, Event, EventKind, HistoryEntry, HistoryKind, StepCommit, StepOutcome, Store,
    StoreError, TimerRow, WorkflowStatus,
};

pub(crate) struct Config {
    pub worker_id: String,
    pub lease_ms: u64,
    pub poll_interval: Duration,
    pub max_concurrent_activities: usize,
    pub max_concurrent_steps: usize,
    pub cache_capacity: usize,
    /// Drop the decoded state after every step: the next one loads it from the store.
    pub restore_every_step: bool,
}

pub(crate) struct Inner {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub workflows: HashMap<&'static str, Arc<dyn ErasedWorkflow>>,
    pub activities: HashMap<String, Arc<dyn ErasedActivity>>,
    /// The names in `activities`: the tasks this worker may lease.
    pub activity_names: Vec<String>,
    /// The names in `workflows`: the ones this runtime steps.
    pub workflow_names: Vec<String>,
    pub config: Config,
    drivers: Mutex<Drivers>,
    /// Bumped whenever something is handed to a busy driver: a driver that sees it unchanged
    /// knows, without a lock, that nothing arrived for it.
    arrivals: AtomicU64,
    cache: Mutex<HashMap<String, Box<Cached>>>,
    watchers: Mutex<HashMap<String, Arc<Notify>>>,
    pub attempts: Mutex<Attempts>,
    /// Poked when a task may have become leasable (a retry was scheduled, a permit freed).
    pub task_wakeup: Notify,
    /// Poked when a step created a timer.
    pub timer_wakeup: Notify,
    shut_down: AtomicBool,
    pub shutdown_signal: tokio::sync::watch::Sender<bool>,
    rng: Mutex<u64>,
}

/// The workflows being stepped, and the ones woken while every driver was busy.
///
/// A woken workflow gets a driver task, up to `max_concurrent_steps` of them; past that it
/// waits in `queue` (an id and a slot: a burst of wakes, a million timers due at once, costs a
/// queue, not a million tasks loading from the store at once). A driver that is done with its
/// workflow takes the next one in the queue, and one whose workflow keeps stepping (instant
/// activities) goes to the back of the queue every 64 steps if others wait, so that none
/// starves.
#[derive(Default)]
struct Drivers {
    /// One per workflow driven or queued: what arrived for it meanwhile.
    slots: HashMap<String, Slot>,
    /// Woken workflows waiting for a driver, oldest first (each has a slot).
    queue: VecDeque<String>,
    /// Driver tasks alive.
    running: usize,
}

/// What arrived for a workflow while its driver was busy (or before it had one).
#[derive(Default)]
struct Slot {
    fresh: Vec<Fresh>,
    /// The store has something new for it (an event): reload its inbox.
    dirty: bool,
}

/// A running workflow as its last step left it, decoded.
pub(crate) struct Cached {
    workflow: Arc<dyn ErasedWorkflow>,
    version: u64,
    step: u64,
    /// The workflow's context, as the last step left it (kept, not rebuilt, between steps).
    ctx: WorkflowCtx,
    state: ErasedState,
    pending: Option<Pending>,
    seen_upto: u64,
}

/// The activity attempts this worker holds leases for.
#[derive(Default)]
pub(crate) struct Attempts {
    /// Attempts running now (bounded by `max_concurrent_activities`).
    pub running: usize,
    /// Leased tasks waiting for a free slot.
    pub backlog: VecDeque<ActivityTask>,
    /// Every leased task, running or waiting: their leases are renewed.
    pub held: HashMap<(String, u64), Held>,
}

pub(crate) struct Held {
    pub abort: Option<tokio::task::AbortHandle>,
    pub beat: Option<Arc<super::activities::Beat>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here leaves its data consistent, so a poisoned lock is usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Frees a driver's slot if the driver ends anywhere but at its end (a panic, or its task
/// dropped), so that the next wake of its workflow starts a new driver instead of handing what
/// arrived to one that is gone. (The runtime catches the panics of the user code it calls;
/// this is for the ones it does not foresee.)
struct SlotGuard<'a> {
    inner: &'a Inner,
    id: &'a str,
    /// The driver freed its slot itself.
    released: bool,
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        if !self.released {
            tracing::warn!(workflow = %self.id, "a step driver stopped half-way; the workflow is loaded again at its next wake");
            lock(&self.inner.drivers).slots.remove(self.id);
            self.inner.forget(self.id);
        }
    }
}

/// Gives a driver task's place back if the task ends anywhere but at its end, and starts
/// another for the queue, so that queued workflows never wait for a driver that is gone.
struct DriverGuard<'a> {
    inner: &'a Arc<Inner>,
    /// The driver ended normally (and gave its place back itself).
    done: bool,
}

impl Drop for DriverGuard<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let next = {
            let mut d = lock(&self.inner.drivers);
            d.running = d.running.saturating_sub(1);
            let next = self.inner.next_queued(&mut d);
            if next.is_some() {
                d.running += 1;
            }
            next
        };
        let Some((id, fresh, dirty)) = next else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn(self.inner.clone().driver(id, fresh, dirty));
            }
            Err(_) => {
                // No tokio runtime left to run it on: the runtime is going away.
                let mut d = lock(&self.inner.drivers);
                d.running = d.running.saturating_sub(1);
                d.slots.remove(&id);
            }
        }
    }
}

/// How a step ended, once committed. (Made once per step and consumed at once: its size
/// does not matter.)
#[allow(clippy::large_enum_variant)]
enum After {
    Suspended {
        pending: Pending,
        tasks: Vec<ActivityTask>,
        timers: bool,
        step: u64,
    },
    Stopped,
    /// The payload of signal `event` does not decode as the type its wait expects (see
    /// [`Inner::dead_letter`]); the commit that comes with it parks the workflow, for when the
    /// event cannot be dead-lettered.
    BadSignal {
        event: u64,
        failure: StepFailure,
    },
}

/// What became of a signal that does not decode (see [`Inner::dead_letter`]).
enum Rejection {
    /// Taken out of the inbox into the history; the workflow waits on.
    DeadLettered,
    /// The workflow changed since this view of it: look again.
    Stale,
    /// No one signal is to blame: park the workflow.
    NoCulprit,
}

impl Inner {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        workflows: HashMap<&'static str, Arc<dyn ErasedWorkflow>>,
        activities: HashMap<String, Arc<dyn ErasedActivity>>,
        config: Config,
        seed: u64,
    ) -> Self {
        let mut activity_names: Vec<String> = activities.keys().cloned().collect();
        activity_names.sort();
        let mut workflow_names: Vec<String> = workflows.keys().map(|n| n.to_string()).collect();
        workflow_names.sort();
        Inner {
            store,
            clock,
            workflows,
            activities,
            activity_names,
            workflow_names,
            config,
            drivers: Mutex::default(),
            arrivals: AtomicU64::new(0),
            cache: Mutex::default(),
            watchers: Mutex::default(),
            attempts: Mutex::default(),
            task_wakeup: Notify::new(),
            timer_wakeup: Notify::new(),
            shut_down: AtomicBool::new(false),
            shutdown_signal: tokio::sync::watch::Sender::new(false),
            rng: Mutex::new(seed),
        }
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.shut_down.load(Ordering::Acquire)
    }

    pub(crate) fn begin_shutdown(&self) {
        self.shut_down.store(true, Ordering::Release);
        self.shutdown_signal.send_replace(true);
    }

    /// Whether a driver is advancing workflows right now.
    pub(crate) fn busy(&self) -> bool {
        lock(&self.drivers).running > 0
    }

    /// A uniform draw in `[0, 1)` (SplitMix64), for retry jitter.
    pub(crate) fn random_unit(&self) -> f64 {
        let mut s = lock(&self.rng);
        *s = s.wrapping_add(codec::SPLITMIX_GAMMA);
        (codec::splitmix64(*s) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Something arrived for workflow `id`: fresh activity results, or (none) an event in the
    /// store. Starts a driver unless one has the workflow already (it then picks this up) or
    /// every driver is busy (the workflow then waits its turn in the queue).
    pub(crate) fn wake(self: &Arc<Self>, id: &str, fresh: Vec<Fresh>) {
        if self.is_shut_down() {
            return;
        }
        let dirty = fresh.is_empty();
        {
            let mut d = lock(&self.drivers);
            if let Some(slot) = d.slots.get_mut(id) {
                slot.fresh.extend(fresh);
                slot.dirty |= dirty;
                self.arrivals.fetch_add(1, Ordering::AcqRel);
                return;
            }
            if d.running >= self.config.max_concurrent_steps {
                d.slots.insert(id.to_string(), Slot { fresh, dirty });
                d.queue.push_back(id.to_string());
                return;
            }
            d.running += 1;
            d.slots.insert(id.to_string(), Slot::default());
        }
        tokio::spawn(self.clone().driver(id.to_string(), fresh, dirty));
    }

    /// The next queued workflow that still has its slot, with what arrived for it.
    fn next_queued(&self, d: &mut Drivers) -> Option<(String, Vec<Fresh>, bool)> {
        if self.is_shut_down() {
            let queued: Vec<String> = d.queue.drain(..).collect();
            for id in queued {
                d.slots.remove(&id);
            }
            return None;
        }
        while let Some(id) = d.queue.pop_front() {
            if let Some(slot) = d.slots.get_mut(&id) {
                let fresh = std::mem::take(&mut slot.fresh);
                let dirty = std::mem::take(&mut slot.dirty);
                return Some((id, fresh, dirty));
            }
        }
        None
    }

    /// Whether workflows wait for a driver.
    fn others_queued(&self) -> bool {
        !lock(&self.drivers).queue.is_empty()
    }

    /// A driver task: steps workflow `id`, then the queued ones, until the queue is empty.
    async fn driver(self: Arc<Self>, mut id: String, mut fresh: Vec<Fresh>, mut dirty: bool) {
        let mut guard = DriverGuard {
            inner: &self,
            done: false,
        };
        loop {
            let yielded = self.drive(&id, fresh, dirty).await;
            let next = {
                let mut d = lock(&self.drivers);
                if yielded {
                    // Its slot stays, with what it had in hand: to the back of the queue.
                    d.queue.push_back(id.clone());
                }
                let next = self.next_queued(&mut d);
                if next.is_none() {
                    d.running = d.running.saturating_sub(1);
                }
                next
            };
            match next {
                Some((next_id, next_fresh, next_dirty)) => {
                    (id, fresh, dirty) = (next_id, next_fresh, next_dirty);
                    if yielded {
                        tokio::task::yield_now().await;
                    }
                }
                None => {
                    guard.done = true;
                    return;
                }
            }
        }
    }

    /// Remembers the decoded state of a workflow that was just started, so that its first step
    /// needs no load.
    pub(crate) fn prime(
        &self,
        id: &str,
        workflow: Arc<dyn ErasedWorkflow>,
        state: ErasedState,
        ctx: CtxState,
    ) {
        let cached = Box::new(Cached {
            workflow,
            version: 0,
            step: 0,
            ctx: WorkflowCtx::new(id, ctx),
            state,
            pending: None,
            seen_upto: 0,
        });
        self.cache_put(id.to_string(), cached);
    }

    /// Steps workflow `id` until nothing more has arrived for it (its slot is then freed), or
    /// until it gives its driver up to queued workflows (`true`: its slot stays, holding what
    /// it had in hand).
    async fn drive(self: &Arc<Self>, id: &str, mut fresh: Vec<Fresh>, mut dirty: bool) -> bool {
        let mut slot = SlotGuard {
            inner: self,
            id,
            released: false,
        };
        let mut cached = lock(&self.cache).remove(id);
        loop {
            let yielded = match self
                .advance(id, &mut cached, std::mem::take(&mut fresh), dirty)
                .await
            {
                Ok(yielded) => yielded,
                Err(e) => {
                    tracing::warn!(workflow = %id, error = %e, "step failed; the workflow will be retried");
                    cached = None;
                    false
                }
            };
            let mut d = lock(&self.drivers);
            let Some(arrived) = d.slots.get_mut(id) else {
                slot.released = true;
                return false;
            };
            if yielded && !self.is_shut_down() {
                slot.released = true;
                drop(d);
                if let Some(c) = cached.take() {
                    self.cache_put(id.to_string(), c);
                }
                return true;
            }
            if (arrived.fresh.is_empty() && !arrived.dirty) || self.is_shut_down() {
                d.slots.remove(id);
                slot.released = true;
                drop(d);
                if let Some(c) = cached.take() {
                    self.cache_put(id.to_string(), c);
                }
                return false;
            }
            fresh = std::mem::take(&mut arrived.fresh);
            dirty = std::mem::take(&mut arrived.dirty);
        }
    }

    fn cache_put(&self, id: String, c: Box<Cached>) {
        if self.config.cache_capacity == 0 || self.config.restore_every_step {
            return;
        }
        let mut cache = lock(&self.cache);
        if cache.len() >= self.config.cache_capacity
            && !cache.contains_key(&id)
            && let Some(evict) = cache.keys().next().cloned()
        {
            cache.remove(&evict);
        }
        cache.insert(id, c);
    }

    /// Keeps the decoded state for this driver's next step, unless every step is to start from
    /// the store ([`crate::Builder::restore_every_step`]).
    fn keep(&self, cached: &mut Option<Box<Cached>>, c: Box<Cached>) {
        if !self.config.restore_every_step {
            *cached = Some(c);
        }
    }

    pub(crate) fn forget(&self, id: &str) {
        lock(&self.cache).remove(id);
    }

    /// Takes what arrived for `id` while its driver was stepping.
    fn take_arrivals(&self, id: &str) -> (Vec<Fresh>, bool) {
        match lock(&self.drivers).slots.get_mut(id) {
            Some(s) => (std::mem::take(&mut s.fresh), std::mem::take(&mut s.dirty)),
            None => (Vec::new(), false),
        }
    }

    pub(crate) fn watcher(&self, id: &str) -> Arc<Notify> {
        lock(&self.watchers)
            .entry(id.to_string())
            .or_default()
            .clone()
    }

    pub(crate) fn unwatch(&self, id: &str, watcher: &Arc<Notify>) {
        let mut w = lock(&self.watchers);
        // The map's reference and the caller's: nobody else waits.
        if Arc::strong_count(watcher) <= 2 {
            w.remove(id);
        }
    }

    pub(crate) fn notify_watchers(&self, id: &str) {
        if let Some(n) = lock(&self.watchers).remove(id) {
            n.notify_waiters();
        }
    }

    /// Stores fresh results that no step consumed as events, so that nothing a worker
    /// produced is lost (a result for a task that no longer exists is dropped by the store).
    async fn keep_fresh(&self, id: &str, fresh: Vec<Fresh>) {
        for f in fresh {
            if let Err(e) = self
                .store
                .complete_activity(id, f.seq, f.result, f.at_ms)
                .await
            {
                tracing::warn!(workflow = %id, seq = f.seq, error = %e, "cannot store an activity result; it will run again");
            }
        }
    }

    /// Loads a running workflow of this runtime's (`None`: not running, gone, parked just now,
    /// or of a workflow this runtime does not know).
    async fn load(&self, id: &str) -> Result<Option<Box<Cached>>, StoreError> {
        let rec = match self.store.load_workflow(id).await {
            Ok(r) => r,
            Err(StoreError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        if rec.status != WorkflowStatus::Running {
            return Ok(None);
        }
        let Some(workflow) = self.workflows.get(rec.name.as_str()).cloned() else {
            // Another runtime on this store may know it.
            return Ok(None);
        };
        let decoded = workflow.restore(&rec.snapshot).map_err(|e| e.to_string());
        let pending = match &rec.pending {
            Some(b) => postcard::from_bytes::<Pending>(b)
                .map(Some)
                .map_err(|e| format!("the stored wait does not decode: {e}")),
            None => Ok(None),
        };
        match (decoded, pending) {
            (Ok((snapshot, state)), Ok(pending)) => Ok(Some(Box::new(Cached {
                workflow,
                version: rec.version,
                step: snapshot.step,
                ctx: WorkflowCtx::new(id, snapshot.ctx),
                state,
                pending,
                seen_upto: 0,
            }))),
            (Err(reason), _) | (_, Err(reason)) => {
                self.park(id, rec.version, reason).await?;
                Ok(None)
            }
        }
    }

    /// Parks a workflow whose next step cannot run; its snapshot stays the last good one.
    async fn park(&self, id: &str, version: u64, reason: String) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        tracing::warn!(workflow = %id, %reason, "parking workflow");
        let commit = StepCommit {
            workflow_id: id.to_string(),
            expected_version: version,
            now_ms: now,
            history: vec![HistoryEntry::new(now, HistoryKind::Parked, reason.clone())],
            outcome: StepOutcome::Parked { reason },
            consumed_events: Vec::new(),
            completed_tasks: Vec::new(),
            cancelled: Vec::new(),
            seen_events_upto: 0,
            keep_ready: false,
        };
        match self.store.commit_step(commit).await {
            // Changed meanwhile: whoever changed it goes on, and the next load looks again.
            Ok(_) | Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
        self.forget(id);
        self.notify_watchers(id);
        Ok(())
    }

    /// Takes a signal whose payload does not decode as the type its wait expects out of the
    /// inbox, into the history, and lets the workflow wait on.
    ///
    /// Why not park, as for other undecodable data: the bad bytes are the sender's, not the
    /// workflow's, and they sit in the inbox, so an `unpark` would meet them again and park
    /// again, for good. Why not drop the signal: nothing sent is ever lost silently. So it is
    /// dead-lettered, as a Temporal SDK drops (and logs) a signal it cannot decode, but
    /// durably: one commit removes that event and appends a [`HistoryKind::DeadLetter`] entry
    /// holding its name, time, the decode error and the payload (in hex), visible in
    /// `Runtime::history`; snapshot, wait and version-checked state stay as they were. A
    /// later signal of the right type then completes the wait.
    ///
    /// The event to blame travels with the failure: each signal in a wake carries the id of
    /// its event ([`Resolution::Signal`]), and the await that cannot decode it reports that
    /// id ([`crate::ResumeError::SignalPayload`]).
    async fn dead_letter(
        &self,
        id: &str,
        version: u64,
        event_id: u64,
        failure: &StepFailure,
        inbox: &[Event],
    ) -> Result<Rejection, StoreError> {
        let Some(Event {
            at_ms,
            kind: EventKind::Signal { name, payload },
            ..
        }) = inbox.iter().find(|e| e.id == event_id)
        else {
            return Ok(Rejection::NoCulprit);
        };
        let rec = match self.store.load_workflow(id).await {
            Ok(rec) => rec,
            Err(StoreError::NotFound(_)) => return Ok(Rejection::Stale),
            Err(e) => return Err(e),
        };
        if rec.version != version || rec.status != WorkflowStatus::Running {
            return Ok(Rejection::Stale);
        }
        let Some(pending) = rec.pending else {
            return Ok(Rejection::NoCulprit);
        };
        let reason = failure.to_string();
        let now = self.clock.now_ms();
        let detail = format!(
            "signal {name:?} sent at {at_ms} dead-lettered: {reason}; the workflow waits on; payload {}",
            hex_preview(payload)
        );
        tracing::warn!(workflow = %id, signal = %name, %reason, "dead-lettered a signal");
        let commit = StepCommit {
            workflow_id: id.to_string(),
            expected_version: version,
            now_ms: now,
            outcome: StepOutcome::Suspended {
                snapshot: rec.snapshot,
                pending,
                tasks: Vec::new(),
                timers: Vec::new(),
            },
            consumed_events: vec![event_id],
            completed_tasks: Vec::new(),
            cancelled: Vec::new(),
            seen_events_upto: 0,
            // Another signal may be buffered behind it.
            keep_ready: true,
            history: vec![HistoryEntry::new(now, HistoryKind::DeadLetter, detail)],
        };
        match self.store.commit_step(commit).await {
            Ok(_) => Ok(Rejection::DeadLettered),
            Err(StoreError::Conflict { .. } | StoreError::NotFound(_)) => Ok(Rejection::Stale),
            Err(e) => Err(e),
        }
    }

    /// Leaves what a driver had in hand for `id` in its slot, to be taken up when the
    /// workflow's turn comes again.
    fn hand_back(&self, id: &str, fresh: Vec<Fresh>) {
        if let Some(slot) = lock(&self.drivers).slots.get_mut(id) {
            slot.fresh.extend(fresh);
            slot.dirty = true;
        }
    }

    /// Steps workflow `id` as far as what has arrived allows; `true` if it stopped to give
    /// its driver to queued workflows (see [`Drivers`]).
    async fn advance(
        self: &Arc<Self>,
        id: &str,
        cached: &mut Option<Box<Cached>>,
        mut fresh: Vec<Fresh>,
        mut dirty: bool,
    ) -> Result<bool, StoreError> {
        // The inbox as loaded in this call, minus what steps consumed since.
        let mut inbox: Option<Vec<Event>> = None;
        let mut inbox_unused = false;
        // The last commit left the workflow ready (see `StepCommit::keep_ready`).
        let mut left_ready = false;
        let mut kept_fresh = false;
        let mut conflicts = 0u32;
        let mut steps = 0u64;
        let mut arrivals_seen = self.arrivals.load(Ordering::Acquire);
        loop {
            if self.is_shut_down() {
                return Ok(false);
            }
            let mut c = match cached.take() {
                Some(c) => c,
                None => match self.load(id).await? {
                    Some(c) => {
                        inbox = None;
                        dirty = true;
                        c
                    }
                    None => {
                        self.keep_fresh(id, fresh).await;
                        return Ok(false);
                    }
                },
            };

            // What wakes this step?
            let need_inbox =
                c.pending.as_ref().is_some_and(|p| dirty || has_signal(p)) && inbox.is_none();
            if need_inbox {
                let Some(loaded) = self.load_inbox(id, &mut c, &mut fresh).await? else {
                    return Ok(false);
                };
                inbox = Some(loaded);
                inbox_unused = true;
                dirty = false;
            }
            let mut resolved = c
                .pending
                .as_ref()
                .and_then(|p| resolve(p, &fresh, inbox.as_deref().unwrap_or(&[])));
            if resolved.is_none() && c.pending.is_some() && inbox.is_none() {
                let Some(loaded) = self.load_inbox(id, &mut c, &mut fresh).await? else {
                    return Ok(false);
                };
                inbox = Some(loaded);
                inbox_unused = true;
                resolved = c
                    .pending
                    .as_ref()
                    .and_then(|p| resolve(p, &fresh, inbox.as_deref().unwrap_or(&[])));
            }
            if resolved.is_none() && c.pending.is_some() {
                if !fresh.is_empty() && !kept_fresh {
                    // Part of a join: store the results and look once more, in case what
                    // completes the wait arrived meanwhile.
                    self.keep_fresh(id, std::mem::take(&mut fresh)).await;
                    kept_fresh = true;
                    inbox = None;
                    dirty = true;
                    self.keep(cached, c);
                    continue;
                }
                self.keep_fresh(id, std::mem::take(&mut fresh)).await;
                if (inbox_unused || left_ready)
                    && !self.store.clear_ready(id, c.version, c.seen_upto).await?
                {
                    // The workflow moved on since this view of it: look again from the store.
                    inbox = None;
                    dirty = true;
                    continue;
                }
                self.keep(cached, c);
                return Ok(false);
            }

            let (mut after, commit) = self.step(id, &mut c, resolved, inbox.as_deref());
            if let After::BadSignal { event, failure } = &after {
                let inbox_now = inbox.as_deref().unwrap_or(&[]);
                let version = c.version;
                match self
                    .dead_letter(id, version, *event, failure, inbox_now)
                    .await?
                {
                    Rejection::NoCulprit => after = After::Stopped,
                    rejection => {
                        // The state in memory ran a step that did not happen: drop it, and
                        // look again from the store (fresh results are kept for the next
                        // step).
                        if matches!(rejection, Rejection::Stale) {
                            conflicts += 1;
                            if conflicts > 16 {
                                self.keep_fresh(id, fresh).await;
                                return Err(StoreError::Conflict {
                                    workflow_id: id.to_string(),
                                    expected: version,
                                });
                            }
                        }
                        inbox = None;
                        dirty = true;
                        continue;
                    }
                }
            }
            let consumed = commit.consumed_events.clone();
            let cancelled = commit.cancelled.clone();
            let park_reason = match &commit.outcome {
                StepOutcome::Parked { reason } => Some(reason.clone()),
                _ => None,
            };
            let keep_ready = commit.keep_ready;
            match self.store.commit_step(commit).await {
                Ok(version) => {
                    conflicts = 0;
                    kept_fresh = false;
                    inbox_unused = false;
                    left_ready = keep_ready;
                    steps += 1;
                    if let Some(ib) = inbox.as_mut() {
                        ib.retain(|e| !consumed.contains(&e.id));
                    }
                    if !cancelled.is_empty() {
                        self.abort_attempts(id, Some(&cancelled));
                    }
                    match after {
                        After::Suspended {
                            pending,
                            tasks,
                            timers,
                            step,
                        } => {
                            // Every result was either consumed or is for a command the wait
                            // no longer has.
                            fresh.clear();
                            c.version = version;
                            c.step = step;
                            c.pending = Some(pending);
                            if timers {
                                self.timer_wakeup.notify_one();
                            }
                            self.start_tasks(tasks, |_, f| fresh.push(f)).await;
                        }
                        After::Stopped | After::BadSignal { .. } => {
                            if let Some(reason) = &park_reason {
                                tracing::warn!(workflow = %id, %reason, "parked workflow");
                            }
                            self.abort_attempts(id, None);
                            self.notify_watchers(id);
                            if park_reason.is_some() {
                                self.keep_fresh(id, std::mem::take(&mut fresh)).await;
                            }
                            return Ok(false);
                        }
                    }
                    let arrived = self.arrivals.load(Ordering::Acquire);
                    if arrived != arrivals_seen {
                        arrivals_seen = arrived;
                        let (more, poked) = self.take_arrivals(id);
                        fresh.extend(more);
                        if poked {
                            inbox = None;
                            dirty = true;
                        }
                    }
                    if steps.is_multiple_of(64) {
                        // A workflow of instant activities never waits: let others run (and
                        // have this driver, if workflows wait for one).
                        self.keep(cached, c);
                        if self.others_queued() {
                            self.hand_back(id, fresh);
                            return Ok(true);
                        }
                        tokio::task::yield_now().await;
                        continue;
                    }
                    self.keep(cached, c);
                }
                Err(StoreError::Conflict { .. }) => {
                    // Another worker advanced it: start over from the store (the in-memory
                    // state ran the step and is stale).
                    conflicts += 1;
                    inbox = None;
                    if conflicts > 16 {
                        self.keep_fresh(id, fresh).await;
                        return Err(StoreError::Conflict {
                            workflow_id: id.to_string(),
                            expected: c.version,
                        });
                    }
                }
                Err(StoreError::NotFound(_)) => return Ok(false),
                Err(e) => {
                    self.keep_fresh(id, fresh).await;
                    return Err(e);
                }
            }
        }
    }

    /// The workflow's inbox; `None` if an event in it does not decode, in which case the
    /// workflow is parked with the reason (retrying cannot help: the same bytes come back).
    async fn load_inbox(
        &self,
        id: &str,
        c: &mut Cached,
        fresh: &mut Vec<Fresh>,
    ) -> Result<Option<Vec<Event>>, StoreError> {
        let inbox = match self.store.load_inbox(id).await {
            Ok(inbox) => inbox,
            Err(StoreError::Corrupt(reason)) => {
                self.keep_fresh(id, std::mem::take(fresh)).await;
                self.park(
                    id,
                    c.version,
                    format!("its inbox does not decode: {reason}"),
                )
                .await?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if let Some(last) = inbox.last() {
            c.seen_upto = c.seen_upto.max(last.id);
        }
        Ok(Some(inbox))
    }

    /// Runs one step of `c` in memory ([`crate::step::run`]) and builds its commit.
    fn step(
        &self,
        id: &str,
        c: &mut Cached,
        resolved: Option<Resolved>,
        inbox: Option<&[Event]>,
    ) -> (After, StepCommit) {
        let (wake, woke_at, woken_by, mut consumed, completed, cancelled) = match resolved {
            Some(r) => (
                Some(r.resolution),
                r.woke_at,
                r.woken_by,
                r.consumed_events,
                r.completed_tasks,
                r.cancelled,
            ),
            None => (
                None,
                0,
                "start".to_string(),
                Vec::new(),
                Vec::new(),
                Vec::new(),
            ),
        };
        // Results for commands the wait no longer has (a duplicate delivery, a cancelled
        // branch) are dropped with this step.
        if let (Some(p), Some(inbox)) = (&c.pending, inbox) {
            let leaves = p.leaves();
            for e in inbox {
                let seq = match e.kind {
                    EventKind::ActivityCompleted { seq, .. } | EventKind::TimerFired { seq } => seq,
                    EventKind::Signal { .. } => continue,
                };
                if !leaves.iter().any(|l| l.seq() == Some(seq)) && !consumed.contains(&e.id) {
                    consumed.push(e.id);
                }
            }
        }
        // Saturating: only a damaged snapshot holds a step count anywhere near the limit.
        let step = c.step.saturating_add(1);
        let stepped = c.workflow.step(&mut c.state, &c.ctx, wake, woke_at, step);
        let now = self.clock.now_ms();
        let mut commit = StepCommit {
            workflow_id: id.to_string(),
            expected_version: c.version,
            now_ms: now,
            outcome: StepOutcome::Cancelled,
            consumed_events: consumed,
            completed_tasks: completed,
            cancelled,
            seen_events_upto: c.seen_upto,
            keep_ready: false,
            history: Vec::new(),
        };
        let stepped = stepped.and_then(|s| match s.outcome {
            Outcome::Suspended(pending) => match postcard::to_extend(&pending, Vec::new()) {
                Ok(bytes) => Ok((s.snapshot, Ok((pending, bytes)))),
                Err(e) => Err(StepFailure::Unsaved {
                    step,
                    reason: format!("its wait does not encode: {e}"),
                }),
            },
            Outcome::Completed { output, failed } => Ok((s.snapshot, Err((output, failed)))),
        });
        let after = match stepped {
            Ok((snapshot, Ok((pending, pending_bytes)))) => {
                let (tasks, timers) = self.commands(id, &pending, now);
                commit.history = vec![HistoryEntry::new(now, HistoryKind::Step, {
                    let mut detail = woken_by;
                    detail.push_str(" -> ");
                    describe_into(&mut detail, &pending);
                    detail
                })];
                let has_timers = !timers.is_empty();
                commit.keep_ready = may_resolve_at_once(&pending, inbox, &commit.consumed_events);
                commit.outcome = StepOutcome::Suspended {
                    snapshot,
                    pending: pending_bytes,
                    tasks: tasks.clone(),
                    timers,
                };
                After::Suspended {
                    pending,
                    tasks,
                    timers: has_timers,
                    step,
                }
            }
            Ok((snapshot, Err((output, failed)))) => {
                let (status, kind) = if failed {
                    (WorkflowStatus::Failed, HistoryKind::Failed)
                } else {
                    (WorkflowStatus::Completed, HistoryKind::Completed)
                };
                commit.history = vec![HistoryEntry::new(
                    now,
                    kind,
                    format!("{woken_by} -> {status}"),
                )];
                commit.outcome = StepOutcome::Finished {
                    status,
                    snapshot,
                    output,
                };
                After::Stopped
            }
            Err(failure) => {
                // The step did not happen: nothing is consumed, the snapshot stays. (If one
                // signal is to blame, the dead letter replaces this commit.)
                commit.consumed_events.clear();
                commit.completed_tasks.clear();
                commit.cancelled.clear();
                let reason = failure.to_string();
                commit.history = vec![HistoryEntry::new(now, HistoryKind::Parked, reason.clone())];
                commit.outcome = StepOutcome::Parked { reason };
                match failure.bad_signal() {
                    Some(event) => After::BadSignal { event, failure },
                    None => After::Stopped,
                }
            }
        };
        (after, commit)
    }

    /// The activity tasks and timers a new wait asks for. Tasks of activities this runtime can
    /// run are leased to it at once (it starts them right after the commit); the others wait
    /// for a worker that knows them.
    fn commands(
        &self,
        id: &str,
        pending: &Pending,
        now: u64,
    ) -> (Vec<ActivityTask>, Vec<TimerRow>) {
        let mut tasks = Vec::new();
        let mut timers = Vec::new();
        for leaf in pending.leaves() {
            match leaf {
                Pending::Activity {
                    seq,
                    name,
                    input,
                    options,
                } => {
                    let mine = self.activities.contains_key(name);
                    tasks.push(ActivityTask {
                        workflow_id: id.to_string(),
                        seq: *seq,
                        name: name.clone(),
                        input: input.clone(),
                        options: options.clone(),
                        attempt: u32::from(mine),
                        scheduled_at_ms: now,
                        visible_at_ms: now,
                        lease_owner: mine.then(|| self.config.worker_id.clone()),
                        lease_until_ms: mine.then(|| now.saturating_add(self.config.lease_ms)),
                        heartbeat_details: None,
                        deadline_ms: deadline(options, now),
                    });
                }
                Pending::Timer { seq, fire_at } => timers.push(TimerRow {
                    seq: *seq,
                    fire_at_ms: *fire_at,
                }),
                Pending::Signal { .. } | Pending::Join(_) | Pending::Select(_) => {}
            }
        }
        (tasks, timers)
    }
}

/// Whether a buffered signal may resolve `pending` (when the inbox is not known: yes if it
/// waits for a signal at all).
fn may_resolve_at_once(pending: &Pending, inbox: Option<&[Event]>, consumed: &[u64]) -> bool {
    if !has_signal(pending) {
        return false;
    }
    let Some(inbox) = inbox else { return true };
    let names: Vec<&str> = pending
        .leaves()
        .into_iter()
        .filter_map(|l| match l {
            Pending::Signal { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    inbox.iter().any(|e| {
        matches!(&e.kind, EventKind::Signal { name, .. } if names.contains(&name.as_str()))
            && !consumed.contains(&e.id)
    })
}

fn deadline(options: &ActivityOptions, now: u64) -> Option<u64> {
    options
        .schedule_to_close
        .map(|d| now.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
}

/// `payload` in hex for the history: whole up to 256 bytes, else its start and its length.
fn hex_preview(payload: &[u8]) -> String {
    use std::fmt::Write as _;
    const SHOWN: usize = 256;
    let mut out = format!("({} bytes): ", payload.len());
    for b in payload.iter().take(SHOWN) {
        let _ = write!(out, "{b:02x}");
    }
    if payload.len() > SHOWN {
        out.push_str("...");
    }
    out
}

/// A short rendering of a wait, for the history.
pub(crate) fn describe_into(out: &mut String, p: &Pending) {
    use std::fmt::Write as _;
    let _ = match p {
        Pending::Activity { seq, name, .. } => write!(out, "activity {name}#{seq}"),
        Pending::Timer { seq, fire_at } => write!(out, "timer#{seq} at {fire_at}"),
        Pending::Signal { seq, name } => write!(out, "signal {name}#{seq}"),
        Pending::Join(v) | Pending::Select(v) => {
            out.push_str(if matches!(p, Pending::Join(_)) {
                "join("
            } else {
                "select("
            });
            for (i, c) in v.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                describe_into(out, c);
            }
            out.push(')');
            Ok(())
        }
    };
}
