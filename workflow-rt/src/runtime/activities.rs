//! Running activity attempts: limits, timeouts, heartbeats, retries.
//!
//! A task is run by the worker holding its lease. An attempt is first polled once in place:
//! an activity that finishes at once (a cache hit, a trivial call) costs no task switch, and
//! its result goes straight to the step that waits for it. Otherwise it runs on its own tokio
//! task, raced against its start-to-close and schedule-to-close deadlines and its heartbeat
//! timeout. A failed attempt is retried per the call's [`crate::RetryPolicy`] (the task goes
//! back to the store, visible again after the backoff); the final result wakes the workflow.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use tracing::Instrument;

use super::engine::{Inner, lock};
use super::resolve::Fresh;
use super::telemetry::{ActivityKeys, AttemptEnd, AttemptTrace};
use crate::activity::{ActivityCtx, ActivityError, ActivityErrorKind, BoxFuture};
use crate::codec::panic_message;
use crate::store::{ActivityTask, HistoryEntry, HistoryKind, LeaseRenewal, Release, RetryActivity};

/// An attempt's heartbeats: the last details and when they came.
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
    pub beat: Option<Arc<Beat>>,
    /// The attempt number of the task's latest lease, when this worker leased it again while
    /// its attempt ran (the lease had lapsed: renewals that failed, a clock jump). The attempt
    /// that runs carries on as that one: the store takes results of the latest attempt only.
    pub relet: Option<u32>,
    /// The call's [`ActivityTask::scheduled_version`]: which run's call the lease is on (a
    /// run purged and created again under its id makes calls of the same numbers).
    pub version: u64,
    /// The call was cancelled (or its lease lost) before its attempt began: the attempt does
    /// not start, or, if it is starting, begins told (see [`Inner::tell_cancelled`]).
    pub cancelled: bool,
}

pub(crate) struct Beat {
    details: Mutex<Option<Vec<u8>>>,
    last_ms: AtomicU64,
    /// Set when the call is cancelled while the attempt runs: the attempt sees it through
    /// [`ActivityCtx::is_cancelled`].
    cancelled: Arc<AtomicBool>,
}

impl Beat {
    fn new(now_ms: u64) -> Self {
        Beat {
            details: Mutex::new(None),
            last_ms: AtomicU64::new(now_ms),
            cancelled: Arc::new(AtomicBool::new(false)),
        }
    }

    fn record(&self, details: Vec<u8>, now_ms: u64) {
        *lock(&self.details) = Some(details);
        self.last_ms.fetch_max(now_ms, Ordering::AcqRel);
    }

    fn last_ms(&self) -> u64 {
        self.last_ms.load(Ordering::Acquire)
    }

    pub(crate) fn details(&self) -> Option<Vec<u8>> {
        lock(&self.details).clone()
    }
}

/// Catches a panic of the activity body, as an error of kind `Panicked`.
struct CatchUnwind(BoxFuture<'static, Result<Vec<u8>, ActivityError>>);

impl Future for CatchUnwind {
    type Output = Result<Vec<u8>, ActivityError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = &mut self.0;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(p) => p,
            Err(panic) => Poll::Ready(Err(ActivityError::new(
                ActivityErrorKind::Panicked,
                format!("the activity panicked: {}", panic_message(&*panic)),
            ))),
        }
    }
}

/// Gives the permit of a running attempt back (and starts the next waiting task) when the
/// attempt ends, however it ends (an aborted attempt included).
struct Permit {
    inner: Arc<Inner>,
    key: Option<(String, u64)>,
    /// The call's scheduled version.
    version: u64,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(key) = &self.key {
            forget(&mut lock(&self.inner.attempts).held, key, self.version);
        }
        self.inner.release_permit();
    }
}

/// Takes the lease on call `key` out of `held` if it is on the call of `version` (and not on
/// another run's call of the same number, leased since): what it held.
fn forget(
    held: &mut HashMap<(String, u64), Held>,
    key: &(String, u64),
    version: u64,
) -> Option<Held> {
    if held.get(key).is_some_and(|h| h.version == version) {
        held.remove(key)
    } else {
        None
    }
}

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Inner {
    /// Starts attempts of tasks leased to this worker. Calls that end right away (at their
    /// first poll) are handed to `done` with their result and the time they ended; the others
    /// wake their workflow when they end. `since`: the time just read by the caller, taken as
    /// the start of the first attempt (a clock read saved).
    pub(crate) async fn start_tasks(
        self: &Arc<Self>,
        tasks: Vec<ActivityTask>,
        mut since: Option<Instant>,
        mut done: impl FnMut(&ActivityTask, Fresh, Instant),
    ) {
        // Leased as a drain began (by a step or a look for tasks that saw none): given back.
        let mut give_back = Vec::new();
        for task in tasks {
            if task.lease_owner.as_deref() != Some(self.config.worker_id.as_str()) {
                continue;
            }
            if self.is_shut_down() {
                // Leased by a step that committed as the runtime stopped (after it aborted
                // its attempts): not started; the lease is released with the others.
                break;
            }
            {
                let mut a = lock(&self.attempts);
                let key = (task.workflow_id.clone(), task.seq);
                // Read under the lock that `begin_drain` takes after it sets it: a task
                // queued here before is in the backlog it takes, one that comes after is seen.
                if self.is_draining() {
                    // Leased again while it runs (see below): it goes on.
                    if let Some(held) = a.held.get_mut(&key)
                        && held.version == task.scheduled_version
                        && held.beat.is_some()
                    {
                        held.relet = Some(task.attempt);
                    } else {
                        give_back.push(task);
                    }
                    continue;
                }
                if !a.held.is_empty()
                    && let Some(held) = a.held.get_mut(&key)
                {
                    if held.version == task.scheduled_version {
                        // Its lease lapsed while this worker still runs it (renewals that
                        // failed, a clock jump), and this worker leased it again: no second
                        // attempt; the one that runs goes on under the new attempt number, so
                        // that its result is taken. (A task waiting for a slot is not leased
                        // again: the task loop leases nothing while any waits.)
                        held.relet = Some(task.attempt);
                        continue;
                    }
                    // Another run's call of the same number: the run this worker ran the call
                    // for was purged and its id taken again. Its attempt stops (its result
                    // would go nowhere: the fences name the run's call), and this one starts.
                    if let Some(old) = a.held.remove(&key)
                        && let Some(abort) = old.abort
                    {
                        abort.abort();
                    }
                    if !a.backlog.is_empty() {
                        a.backlog
                            .retain(|t| (t.workflow_id.as_str(), t.seq) != (key.0.as_str(), key.1));
                        self.gauges.backlog(a.backlog.len());
                    }
                }
                if a.running >= self.config.max_concurrent_activities {
                    a.held.insert(
                        key,
                        Held {
                            abort: None,
                            beat: None,
                            relet: None,
                            version: task.scheduled_version,
                            cancelled: false,
                        },
                    );
                    a.backlog.push_back(task);
                    self.gauges.backlog(a.backlog.len());
                    continue;
                }
                a.running += 1;
            }
            if let Some((fresh, ended)) = self.begin_attempt(&task, since.take()).await {
                done(&task, fresh, ended);
            }
        }
        self.release_backlog(give_back).await;
    }

    /// Frees a running slot: the next waiting task takes it, if any.
    fn release_permit(self: &Arc<Self>) {
        let (next, was_full) = {
            let mut a = lock(&self.attempts);
            let was_full = a.running >= self.config.max_concurrent_activities;
            match a.backlog.pop_front() {
                Some(t) => {
                    self.gauges.backlog(a.backlog.len());
                    (Some(t), was_full)
                }
                None => {
                    a.running = a.running.saturating_sub(1);
                    (None, was_full)
                }
            }
        };
        match next {
            Some(task) => match tokio::runtime::Handle::try_current() {
                Ok(h) if !self.is_shut_down() => {
                    let inner = self.clone();
                    h.spawn(async move {
                        if let Some((fresh, _)) = inner.begin_queued(&task).await {
                            inner.wake(&task.workflow_id, vec![fresh]);
                        }
                    });
                }
                _ => {
                    let mut a = lock(&self.attempts);
                    a.running = a.running.saturating_sub(1);
                    let version = task.scheduled_version;
                    forget(&mut a.held, &(task.workflow_id, task.seq), version);
                }
            },
            // The task loop skips leasing while every slot is taken: tell it one is free.
            None if was_full => self.task_wakeup.notify_one(),
            None => {}
        }
    }

    /// Forgets a task this worker held a lease on (the lease itself ends with the task).
    fn unhold(&self, task: &ActivityTask) {
        let mut a = lock(&self.attempts);
        if !a.held.is_empty() {
            forget(
                &mut a.held,
                &(task.workflow_id.clone(), task.seq),
                task.scheduled_version,
            );
        }
    }

    /// Runs one attempt of `task`, taken from the queue of those waiting for a slot (with its
    /// slot): unless its call was dropped meanwhile, by a cancel, a lost lease or the end of
    /// its run (which forget the tasks they drop: see [`Inner::abort_attempts`]).
    async fn begin_queued(self: &Arc<Self>, task: &ActivityTask) -> Option<(Fresh, Instant)> {
        self.begin(task, None, true).await
    }

    /// Runs one attempt, holding a running slot.
    async fn begin_attempt(
        self: &Arc<Self>,
        task: &ActivityTask,
        since: Option<Instant>,
    ) -> Option<(Fresh, Instant)> {
        self.begin(task, since, false).await
    }

    /// [`Inner::begin_attempt`], of a task taken from the queue when `queued`.
    async fn begin(
        self: &Arc<Self>,
        task: &ActivityTask,
        since: Option<Instant>,
        queued: bool,
    ) -> Option<(Fresh, Instant)> {
        // Cancelled, or its lease lost, while it waited for a slot: it never starts (its call
        // was answered already, or is another worker's now).
        if self.dropped_before_start(task, queued) {
            self.unhold(task);
            self.release_permit();
            return None;
        }
        let trace = AttemptTrace::begin(task, since.unwrap_or_else(Instant::now));
        let now = self.clock.now_ms();
        let registered = self.activities.get(task.name.as_str());
        let max = task.options.retry.maximum_attempts;
        let refused = if max > 0 && task.attempt > max {
            // Counted at lease time: the last allowed attempt started and was never answered
            // (the history says how each was lost).
            let mut e = ActivityError::new(
                ActivityErrorKind::Lost,
                format!(
                    "attempt {} was lost (its worker stopped or its lease expired), and it was the last allowed",
                    task.attempt - 1
                ),
            );
            e.attempts = task.attempt - 1;
            Some(e)
        } else if task.deadline_ms.is_some_and(|d| now >= d) {
            Some(ActivityError::new(
                ActivityErrorKind::ScheduleToCloseTimeout,
                "the call reached its schedule-to-close deadline before this attempt could start",
            ))
        } else if registered.is_none() {
            Some(ActivityError::new(
                ActivityErrorKind::BadCall,
                format!(
                    "no activity named {:?} is registered with this runtime",
                    task.name
                ),
            ))
        } else {
            None
        };
        let activity = match (refused, registered) {
            (None, Some(a)) => a,
            (refused, _) => {
                let mut e = refused.unwrap_or_else(|| {
                    ActivityError::new(ActivityErrorKind::BadCall, "unknown activity")
                });
                // The attempts made before this one, which did not run.
                e.attempts = task.attempt.saturating_sub(1);
                self.unhold(task);
                self.release_permit();
                let unregistered;
                let keys = match registered {
                    Some(a) => a.keys(),
                    None => {
                        unregistered = ActivityKeys::new(task.name.clone());
                        &unregistered
                    }
                };
                return self
                    .finish_attempt(task, Err(e), true, None, now, trace, keys)
                    .await;
            }
        };
        let beat = Arc::new(Beat::new(now));
        let sink = {
            let beat = beat.clone();
            let clock = self.clock.clone();
            Arc::new(move |details: Vec<u8>| beat.record(details, clock.now_ms()))
                as Arc<dyn Fn(Vec<u8>) + Send + Sync>
        };
        let ctx = ActivityCtx::new(
            task.workflow_id.clone(),
            task.seq,
            task.attempt,
            task.heartbeat_details.clone(),
            Some(sink),
            beat.cancelled.clone(),
        );
        // Decoding the input runs the user's `Deserialize` now, outside the body's guard.
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _in = trace.span.enter();
            activity.run(ctx, &task.input)
        }));
        let mut body = match run {
            Ok(body) => CatchUnwind(body),
            Err(panic) => {
                let e = ActivityError::new(
                    ActivityErrorKind::BadCall,
                    format!(
                        "the input of {} panicked while decoding: {}",
                        task.name,
                        panic_message(&*panic)
                    ),
                );
                self.unhold(task);
                self.release_permit();
                return self
                    .finish_attempt(task, Err(e), false, None, now, trace, activity.keys())
                    .await;
            }
        };

        // One poll in place: most calls that can finish at once do.
        let first = {
            let _in = trace.span.enter();
            Pin::new(&mut body).poll(&mut Context::from_waker(Waker::noop()))
        };
        if let Poll::Ready(r) = first {
            self.unhold(task);
            self.release_permit();
            return self
                .finish_attempt(task, r, false, beat.details(), now, trace, activity.keys())
                .await;
        }

        let key = (task.workflow_id.clone(), task.seq);
        {
            let mut a = lock(&self.attempts);
            // Cancelled while it was starting (after the look above): told as a running
            // attempt would have been.
            if a.held
                .get(&key)
                .is_some_and(|h| h.cancelled && h.version == task.scheduled_version)
            {
                beat.cancelled.store(true, Ordering::Release);
            }
            a.held.insert(
                key.clone(),
                Held {
                    abort: None,
                    beat: Some(beat.clone()),
                    relet: None,
                    version: task.scheduled_version,
                    cancelled: false,
                },
            );
        }
        let inner = self.clone();
        let mut permit = Permit {
            inner: self.clone(),
            key: Some(key.clone()),
            version: task.scheduled_version,
        };
        let version = task.scheduled_version;
        let task = task.clone();
        let activity = activity.clone();
        let span = trace.span.clone();
        let handle = tokio::spawn(
            async move {
                let r = inner.supervise(&task, body, &beat, now).await;
                let relet = forget(
                    &mut lock(&inner.attempts).held,
                    &(task.workflow_id.clone(), task.seq),
                    task.scheduled_version,
                )
                .and_then(|h| h.relet);
                // Forgotten here: the permit, let go later, must not forget the lease of an
                // attempt that leased the call again meanwhile (a retry due at once).
                permit.key = None;
                let mut task = task;
                if let Some(n) = relet {
                    task.attempt = n;
                }
                let now = inner.clock.now_ms();
                let done = inner
                    .finish_attempt(&task, r, false, beat.details(), now, trace, activity.keys())
                    .await;
                if let Some((fresh, _)) = done {
                    inner.wake(&task.workflow_id, vec![fresh]);
                }
                // The slot is let go once the result is with a driver: a drain waits for
                // running attempts, then for busy drivers, and saw neither in between.
                drop(permit);
            }
            .instrument(span),
        );
        if let Some(h) = lock(&self.attempts).held.get_mut(&key)
            && h.version == version
        {
            h.abort = Some(handle.abort_handle());
        }
        // Stopping since it began (after the look in `start_tasks`): the runtime's abort of
        // every attempt may have come before the handle was there to abort.
        if self.is_shut_down() {
            handle.abort();
        }
        None
    }

    /// Races an attempt against its deadlines and its heartbeat timeout.
    async fn supervise(
        &self,
        task: &ActivityTask,
        mut body: CatchUnwind,
        beat: &Beat,
        started: u64,
    ) -> Result<Vec<u8>, ActivityError> {
        let o = &task.options;
        let attempt_deadline = o.start_to_close.map(|d| {
            (
                started.saturating_add(ms(d)),
                ActivityErrorKind::StartToCloseTimeout,
            )
        });
        let call_deadline = task
            .deadline_ms
            .map(|d| (d, ActivityErrorKind::ScheduleToCloseTimeout));
        let deadline = attempt_deadline
            .into_iter()
            .chain(call_deadline)
            .min_by_key(|(d, _)| *d);
        let heartbeat = o.heartbeat_timeout.map(ms);
        loop {
            let heartbeat_due = heartbeat.map(|h| beat.last_ms().saturating_add(h));
            let wake_at = deadline
                .map(|(d, _)| d)
                .into_iter()
                .chain(heartbeat_due)
                .min();
            let sleep = match wake_at {
                Some(t) => self.clock.sleep_until(t),
                None => Box::pin(std::future::pending()),
            };
            tokio::select! {
                biased;
                r = &mut body => return r,
                () = sleep => {
                    let now = self.clock.now_ms();
                    if let Some((d, kind)) = deadline && now >= d {
                        let what = match kind {
                            ActivityErrorKind::StartToCloseTimeout => "start-to-close",
                            _ => "schedule-to-close",
                        };
                        return Err(ActivityError::new(kind, format!("attempt {} hit its {what} timeout", task.attempt)));
                    }
                    if let Some(h) = heartbeat && now >= beat.last_ms().saturating_add(h) {
                        return Err(ActivityError::new(
                            ActivityErrorKind::HeartbeatTimeout,
                            format!("attempt {} sent no heartbeat for {h} ms", task.attempt),
                        ));
                    }
                }
            }
        }
    }

    /// Decides what a finished attempt means: a final result for the workflow (with the time
    /// the attempt ended), or a retry. `counted`: an error that is final, with its attempts
    /// counted (an attempt refused before it started).
    #[allow(clippy::too_many_arguments)]
    async fn finish_attempt(
        &self,
        task: &ActivityTask,
        result: Result<Vec<u8>, ActivityError>,
        counted: bool,
        heartbeat_details: Option<Vec<u8>>,
        now: u64,
        trace: AttemptTrace,
        keys: &ActivityKeys,
    ) -> Option<(Fresh, Instant)> {
        let (final_result, ended) = match result {
            Ok(v) => {
                let ended = trace.end(keys, AttemptEnd::Ok, None);
                (Ok(v), ended)
            }
            Err(e) if counted => {
                let ended = trace.end(keys, AttemptEnd::of_final(&e), Some(&e));
                (Err(e), ended)
            }
            Err(mut e) => {
                let policy = &task.options.retry;
                if policy.should_retry(&e, task.attempt) {
                    let delay = policy.delay(task.attempt, self.random_unit());
                    let visible_at = now.saturating_add(ms(delay));
                    if task.deadline_ms.is_some_and(|d| visible_at >= d) {
                        e = ActivityError::new(
                            ActivityErrorKind::ScheduleToCloseTimeout,
                            format!(
                                "no time left for another attempt before the schedule-to-close deadline; last error: {e}"
                            ),
                        );
                    } else {
                        let retry = RetryActivity {
                            workflow_id: task.workflow_id.clone(),
                            seq: task.seq,
                            scheduled_version: task.scheduled_version,
                            attempt: task.attempt,
                            owner: self.config.worker_id.clone(),
                            visible_at_ms: visible_at,
                            heartbeat_details,
                            history: HistoryEntry::new(
                                now,
                                HistoryKind::Retry,
                                format!(
                                    "activity {}#{} attempt {} failed: {e}; next attempt in {delay:?}",
                                    task.name, task.seq, task.attempt
                                ),
                            ),
                        };
                        trace.end(keys, AttemptEnd::Retry, Some(&e));
                        match self.store.retry_activity(retry).await {
                            Ok(kept) => {
                                if !kept {
                                    // No longer this worker's attempt: its lease expired.
                                    keys.lease_lost();
                                }
                                self.task_wakeup.notify_one();
                            }
                            Err(err) => {
                                tracing::warn!(workflow_id = %task.workflow_id, seq = task.seq, error = %err, "cannot schedule a retry; the lease will expire and the task run again")
                            }
                        }
                        return None;
                    }
                }
                e.attempts = task.attempt;
                let ended = trace.end(keys, AttemptEnd::of_final(&e), Some(&e));
                (Err(e), ended)
            }
        };
        let fresh = Fresh {
            seq: task.seq,
            scheduled_version: task.scheduled_version,
            attempt: task.attempt,
            at_ms: now,
            result: final_result,
            timer: false,
        };
        Some((fresh, ended))
    }

    /// Stops this worker's attempts for a workflow (`seqs`: only those calls), e.g. the losers
    /// of a `select` or every call of a cancelled workflow.
    pub(crate) fn abort_attempts(&self, id: &str, seqs: Option<&[u64]>) {
        let mut a = lock(&self.attempts);
        let hit = |k: &(String, u64)| k.0 == id && seqs.is_none_or(|s| s.contains(&k.1));
        let keys: Vec<(String, u64)> = a.held.keys().filter(|k| hit(k)).cloned().collect();
        for k in keys {
            if let Some(h) = a.held.remove(&k)
                && let Some(abort) = h.abort
            {
                abort.abort();
            }
        }
        if !a.backlog.is_empty() {
            a.backlog.retain(|t| !hit(&(t.workflow_id.clone(), t.seq)));
            self.gauges.backlog(a.backlog.len());
        }
    }

    /// Tells the running attempts of calls `seqs` of workflow `id` that their calls were
    /// cancelled ([`ActivityCtx::is_cancelled`]); they run on until they end (their results
    /// go nowhere) or their workflow does.
    pub(crate) fn tell_cancelled(&self, id: &str, seqs: &[u64]) {
        let mut guard = lock(&self.attempts);
        let a = &mut *guard;
        for seq in seqs {
            let key = (id.to_string(), *seq);
            let Some(h) = a.held.get_mut(&key) else {
                continue;
            };
            if let Some(beat) = &h.beat {
                beat.cancelled.store(true, Ordering::Release);
                continue;
            }
            // Not started: one waiting for a slot leaves the queue; one taken from it and
            // not begun yet is marked, and does not begin.
            let queued = a
                .backlog
                .iter()
                .position(|t| t.workflow_id == id && t.seq == *seq);
            match queued {
                Some(i) => {
                    a.backlog.remove(i);
                    a.held.remove(&key);
                    self.gauges.backlog(a.backlog.len());
                }
                None => h.cancelled = true,
            }
        }
    }

    /// Whether `task`'s call was cancelled, or its lease lost, before its attempt began
    /// ([`Inner::tell_cancelled`]); for one taken from the queue (`queued`), also whether its
    /// call was dropped with its run or a select's losing branch ([`Inner::abort_attempts`],
    /// which forgets the tasks it drops).
    fn dropped_before_start(&self, task: &ActivityTask, queued: bool) -> bool {
        let a = lock(&self.attempts);
        match a.held.get(&(task.workflow_id.clone(), task.seq)) {
            Some(h) if h.version == task.scheduled_version && h.beat.is_none() => h.cancelled,
            _ => queued,
        }
    }

    /// Stops every attempt (at shutdown).
    pub(crate) fn abort_all_attempts(&self) {
        let mut a = lock(&self.attempts);
        for (_, h) in a.held.drain() {
            if let Some(abort) = h.abort {
                abort.abort();
            }
        }
        a.backlog.clear();
        self.gauges.backlog(0);
    }

    /// The leases to renew, with the latest heartbeat details.
    pub(crate) fn held_leases(&self) -> Vec<LeaseRenewal> {
        let mut held: Vec<LeaseRenewal> = lock(&self.attempts)
            .held
            .iter()
            .map(|((workflow_id, seq), h)| LeaseRenewal {
                workflow_id: workflow_id.clone(),
                seq: *seq,
                scheduled_version: h.version,
                heartbeat_details: h.beat.as_ref().and_then(|b| b.details()),
            })
            .collect();
        // In a fixed order, whatever the map's: the same run renews (and learns of lost
        // leases) in the same order, which a simulation replaying a seed relies on.
        held.sort_by(|a, b| (&a.workflow_id, a.seq).cmp(&(&b.workflow_id, b.seq)));
        held
    }

    /// Gives back the leases of `backlog`: tasks a drain took from the queue of those waiting
    /// for a slot (see [`Inner::begin_drain`]), or leased to this worker once it began (see
    /// [`Inner::start_tasks`]). At once, not counting (they never started), so that another
    /// worker runs them now rather than when the drain ends. A lease released is no longer
    /// renewed; one the store could not release stays held, renewed, and goes with the others
    /// when the runtime stops. Returns how many leases it released.
    pub(crate) async fn release_backlog(&self, backlog: Vec<ActivityTask>) -> u64 {
        if backlog.is_empty() {
            return 0;
        }
        let tasks = backlog
            .iter()
            .map(|t| LeaseRenewal {
                workflow_id: t.workflow_id.clone(),
                seq: t.seq,
                scheduled_version: t.scheduled_version,
                heartbeat_details: None,
            })
            .collect();
        let released = self
            .store
            .release_tasks(
                &self.config.worker_id,
                tasks,
                Release::Shutdown,
                self.clock.now_ms(),
            )
            .await;
        match released {
            Ok(n) => {
                let mut a = lock(&self.attempts);
                for t in &backlog {
                    forget(
                        &mut a.held,
                        &(t.workflow_id.clone(), t.seq),
                        t.scheduled_version,
                    );
                }
                n
            }
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    calls = backlog.len(),
                    "cannot release the leases of calls waiting for a slot as the drain begins; released when it ends"
                );
                0
            }
        }
    }

    /// How many more attempts may start now.
    pub(crate) fn free_slots(&self) -> usize {
        if self.is_draining() || self.is_shut_down() {
            return 0;
        }
        let a = lock(&self.attempts);
        if a.backlog.is_empty() {
            self.config
                .max_concurrent_activities
                .saturating_sub(a.running)
        } else {
            0
        }
    }
}
