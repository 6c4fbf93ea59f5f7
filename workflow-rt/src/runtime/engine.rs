//! The shared state of a runtime: what it was built with, and the parts each concern owns.
//!
//! Each concern has its module: [`super::drivers`] (which task steps which workflow, and the
//! queue of woken workflows), [`super::advance`] (the step loop: resolve, step, commit),
//! [`super::cache`] (decoded states between steps), [`super::parking`] (parking and dead
//! letters), [`super::activities`] (the activity worker) and [`super::loops`] (the pollers).
//! A step itself is computed by [`crate::step`], which the test driver shares.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use super::activities::Attempts;
use super::cache::StateCache;
use super::drivers::Drivers;
use super::registry::{ErasedActivity, Registry};
use super::telemetry::RuntimeKeys;
use crate::clock::Clock;
use crate::codec;
use crate::store::{ActivityTask, Store};

pub(crate) struct Config {
    pub worker_id: String,
    pub lease_ms: u64,
    pub poll_interval: Duration,
    pub max_concurrent_activities: usize,
    pub max_concurrent_steps: usize,
    pub cache_capacity: usize,
    /// See [`crate::Builder::cache_bytes`].
    pub cache_bytes: usize,
    /// Drop the decoded state after every step: the next one loads it from the store.
    pub restore_every_step: bool,
    pub limits: super::builder::Limits,
    /// How long [`super::Runtime::run_until`] lets running attempts finish.
    pub drain_timeout: Duration,
    /// The grace period of the cancellations this runtime asks for, in milliseconds.
    pub cancel_grace_ms: u64,
}

pub(crate) struct Inner {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub workflows: Arc<Registry>,
    pub activities: Arc<super::shown::Activities>,
    /// The names in `activities`: the tasks this worker may lease.
    pub activity_names: Vec<String>,
    /// The names in `workflows`: the ones this runtime steps.
    pub workflow_names: Vec<String>,
    pub config: Config,
    /// The keys of this runtime's gauges.
    pub(super) gauges: RuntimeKeys,
    pub(super) drivers: Mutex<Drivers>,
    /// Bumped whenever something is handed to a busy driver: a driver that sees it unchanged
    /// knows, without a lock, that nothing arrived for it.
    pub(super) arrivals: AtomicU64,
    pub(super) cache: StateCache,
    watchers: Mutex<foldhash::HashMap<String, Arc<Notify>>>,
    pub attempts: Mutex<Attempts>,
    /// Poked when a task may have become leasable (a retry was scheduled, a permit freed).
    pub task_wakeup: Notify,
    /// Poked when a step created a timer.
    pub timer_wakeup: Notify,
    /// Poked when the store says another process made a workflow ready.
    pub ready_wakeup: Notify,
    /// Poked when a schedule was created or resumed.
    pub schedule_wakeup: Notify,
    shut_down: AtomicBool,
    /// Set by a drain: no more tasks are leased.
    draining: AtomicBool,
    pub shutdown_signal: tokio::sync::watch::Sender<bool>,
    rng: Mutex<u64>,
    /// Runs at a version of their workflow newer than this runtime's (written by newer code
    /// on another worker, in a rolling deploy): the run's version (its commit count) when this
    /// runtime first met it at that version, when, and when it met it last, on its clock. Left
    /// to the workers that have that code, and parked once this runtime has met it, without a
    /// break, for [`NEWER_CODE_GRACE_MS`] (see [`Inner::leave_to_newer_code`]).
    pub(super) newer: Mutex<foldhash::HashMap<String, (u64, u64, u64)>>,
}

/// How long a run at a version newer than this runtime's is left to the workers that have
/// its code before this runtime parks it (no such worker runs: a deploy rolled back).
pub(crate) const NEWER_CODE_GRACE_MS: u64 = 60_000;

/// The most runs [`Inner::newer`] remembers: past it, those met longest ago are forgotten
/// (met again, their grace starts over).
const NEWER_REMEMBERED: usize = 100_000;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here leaves its data consistent, so a poisoned lock is usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    /// This worker's id: the owner of the leases it takes.
    pub(crate) fn owner(&self) -> &str {
        &self.config.worker_id
    }

    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        workflows: Registry,
        activities: HashMap<String, Arc<dyn ErasedActivity>>,
        config: Config,
        seed: u64,
    ) -> Self {
        let mut activity_names: Vec<String> = activities.keys().cloned().collect();
        activity_names.sort();
        let workflow_names = workflows.names();
        let cache = StateCache::new(
            if config.restore_every_step {
                0
            } else {
                config.cache_capacity
            },
            config.cache_bytes,
        );
        Inner {
            store,
            clock,
            workflows: Arc::new(workflows),
            activities: Arc::new(activities),
            activity_names,
            workflow_names,
            gauges: RuntimeKeys::new(&config.worker_id),
            config,
            drivers: Mutex::default(),
            arrivals: AtomicU64::new(0),
            cache,
            watchers: Mutex::default(),
            attempts: Mutex::default(),
            task_wakeup: Notify::new(),
            timer_wakeup: Notify::new(),
            ready_wakeup: Notify::new(),
            schedule_wakeup: Notify::new(),
            shut_down: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            shutdown_signal: tokio::sync::watch::Sender::new(false),
            rng: Mutex::new(seed),
            newer: Mutex::default(),
        }
    }

    /// Whether run `id`, at a version of its workflow newer than this runtime's and at row
    /// version `version`, is still left to the workers that have that code: true until this
    /// runtime has met it at that row version (no worker stepped it), without a break, for
    /// [`NEWER_CODE_GRACE_MS`] on its clock; false then (it is forgotten, for the caller to
    /// park).
    ///
    /// Without a break: a run no worker takes stays ready, and this runtime meets it at every
    /// look for ready runs (each poll interval); one that a worker with the code looks at is
    /// met here only when something arrives through this runtime (a result of its activity, a
    /// signal through its client), the newer worker clearing what arrived without a commit
    /// when the run's wait is not complete (a join, a signal it does not wait for yet). Met
    /// again after a break longer than eight poll intervals (five seconds at least: a busy
    /// runtime's looks come late), its grace starts over: counted
    /// from the first meeting alone, a run that newer code kept stepping without committing
    /// was parked at its second meeting a minute or more after the first.
    pub(crate) fn leave_to_newer_code(&self, id: &str, version: u64) -> bool {
        let now = self.clock.now_ms();
        let poll = u64::try_from(self.config.poll_interval.as_millis()).unwrap_or(u64::MAX);
        let break_ms = poll.saturating_mul(8).max(5_000);
        let mut met = lock(&self.newer);
        if met.len() >= NEWER_REMEMBERED && !met.contains_key(id) {
            // Those not met for two graces were stepped elsewhere, most likely (met again,
            // their grace starts over).
            let cut = now.saturating_sub(2 * NEWER_CODE_GRACE_MS);
            met.retain(|_, &mut (_, _, last)| last > cut);
            if met.len() >= NEWER_REMEMBERED {
                met.clear();
            }
        }
        let seen = met.entry(id.to_string()).or_insert((version, now, now));
        if seen.0 != version || now.saturating_sub(seen.2) > break_ms {
            // Stepped (by a worker with the code) since, or met after a break: its grace
            // starts over.
            *seen = (version, now, now);
        }
        seen.2 = now;
        if now.saturating_sub(seen.1) < NEWER_CODE_GRACE_MS {
            return true;
        }
        met.remove(id);
        false
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.shut_down.load(Ordering::Acquire)
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Starts a drain: no activity task is leased, and no attempt starts, from now on.
    /// Returns how many attempts run, and the tasks that waited for a slot, still leased
    /// (see [`Inner::release_backlog`]; a task leased from now on is released as it comes,
    /// see [`Inner::start_tasks`]).
    pub(crate) fn begin_drain(&self) -> (usize, Vec<ActivityTask>) {
        self.draining.store(true, Ordering::Release);
        let mut a = lock(&self.attempts);
        let backlog = a.backlog.drain(..).collect();
        self.gauges.backlog(0);
        (a.running, backlog)
    }

    pub(crate) fn running_attempts(&self) -> usize {
        lock(&self.attempts).running
    }

    pub(crate) fn begin_shutdown(&self) {
        self.shut_down.store(true, Ordering::Release);
        self.shutdown_signal.send_replace(true);
    }

    /// A uniform draw in `[0, 1)` (SplitMix64), for retry jitter.
    pub(crate) fn random_unit(&self) -> f64 {
        let mut s = lock(&self.rng);
        *s = s.wrapping_add(codec::SPLITMIX_GAMMA);
        (codec::splitmix64(*s) >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn watcher(&self, id: &str) -> Arc<Notify> {
        lock(&self.watchers)
            .entry(id.to_string())
            .or_default()
            .clone()
    }

    pub(crate) fn unwatch(&self, id: &str, watcher: &Arc<Notify>) {
        let mut w = lock(&self.watchers);
        // The map's reference and the caller's: nobody else waits. (One the map no longer
        // holds, taken by `notify_watchers`, leaves alone a newer watch under the id.)
        if Arc::strong_count(watcher) <= 2 && w.get(id).is_some_and(|m| Arc::ptr_eq(m, watcher)) {
            w.remove(id);
        }
    }

    pub(crate) fn notify_watchers(&self, id: &str) {
        if let Some(n) = lock(&self.watchers).remove(id) {
            n.notify_waiters();
        }
    }
}
