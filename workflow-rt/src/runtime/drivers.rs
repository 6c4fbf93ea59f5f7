//! Which task steps which workflow.
//!
//! A workflow is advanced by at most one *driver* task of a runtime at a time. [`Inner::wake`]
//! starts one, or hands what arrived (activity results from this runtime's workers, or "look at
//! the store") to the one already running. A driver steps its workflow ([`Inner::advance`]) as
//! far as what arrived allows, then takes the next woken workflow from the queue. Nothing is
//! held per sleeping workflow: a workflow that waits costs rows in the store and, at most, a
//! cache entry.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use foldhash::HashMap;

use super::engine::{Inner, lock};
use super::resolve::Fresh;
use crate::store::WorkflowRecord;

/// The workflows being stepped, and the ones woken while every driver was busy.
///
/// A woken workflow gets a driver task, up to `max_concurrent_steps` of them; past that it
/// waits in `queue` (an id and a slot: a burst of wakes, a million timers due at once, costs a
/// queue, not a million tasks loading from the store at once). A driver that is done with its
/// workflow takes the next one in the queue, and one whose workflow keeps stepping (instant
/// activities) goes to the back of the queue every 64 steps if others wait, so that none
/// starves.
#[derive(Default)]
pub(super) struct Drivers {
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
    /// Timers read due and handed to this workflow, until its driver lets it go: a scan of
    /// the due timers that finds them again (they stay stored until a step takes them)
    /// leaves them alone.
    timers: Vec<u64>,
    /// The workflow as read with a due timer, for a driver that has no state of it.
    loaded: Option<WorkflowRecord>,
}

/// What a driver starts with: a workflow, what arrived for it, and perhaps its record.
type Turn = (String, Vec<Fresh>, bool, Option<WorkflowRecord>);

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
            tracing::warn!(workflow_id = %self.id, "a step driver stopped half-way; the workflow is loaded again at its next wake");
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
        let Some((id, fresh, dirty, loaded)) = next else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn(self.inner.clone().driver(id, fresh, dirty, loaded));
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

impl Inner {
    /// Something arrived for workflow `id`: fresh activity results, or (none) an event in the
    /// store. Starts a driver unless one has the workflow already (it then picks this up) or
    /// every driver is busy (the workflow then waits its turn in the queue).
    pub(crate) fn wake(self: &Arc<Self>, id: &str, fresh: Vec<Fresh>) {
        let dirty = fresh.is_empty();
        self.admit(
            id,
            Slot {
                fresh,
                dirty,
                ..Slot::default()
            },
            |slot| {
                slot.dirty |= dirty;
                true
            },
        );
    }

    /// A timer read due ([`crate::store::Store::due_timers`]) for a running workflow of this
    /// runtime's: wakes it with the timer fired, handing its record to a new driver (no load).
    /// A timer handed over already, and not let go since, is left alone.
    pub(crate) fn wake_due(
        self: &Arc<Self>,
        id: String,
        seq: u64,
        at_ms: u64,
        rec: WorkflowRecord,
    ) {
        let slot = Slot {
            fresh: vec![Fresh::timer(seq, at_ms)],
            timers: vec![seq],
            loaded: Some(rec),
            ..Slot::default()
        };
        self.admit(&id, slot, |held| {
            if held.timers.contains(&seq) {
                return false;
            }
            held.timers.push(seq);
            true
        });
    }

    /// Hands workflow `id`, with what `arrived` holds (fresh results, the dirty flag, a timer
    /// in flight, its record), to a driver. When a driver has the workflow already, `merge`
    /// decides whether what arrived is new to it (its fresh results then join the slot's);
    /// otherwise the workflow waits in the queue, with its slot, while every driver is busy,
    /// or a new driver starts with it.
    fn admit(self: &Arc<Self>, id: &str, mut arrived: Slot, merge: impl FnOnce(&mut Slot) -> bool) {
        // Stopping: only attempts' results go on, to be stored by the step loop, which steps
        // nothing more (their attempts ended; dropped, they would run again elsewhere). A timer
        // stays stored, for the next worker.
        if self.is_shut_down() {
            arrived.fresh.retain(|f| !f.timer);
            if arrived.fresh.is_empty() {
                return;
            }
            arrived.loaded = None;
        }
        let fresh = std::mem::take(&mut arrived.fresh);
        let (loaded, dirty) = {
            let mut d = lock(&self.drivers);
            if let Some(slot) = d.slots.get_mut(id) {
                if merge(slot) {
                    slot.fresh.extend(fresh);
                    self.arrivals.fetch_add(1, Ordering::AcqRel);
                }
                return;
            }
            if d.running >= self.config.max_concurrent_steps {
                arrived.fresh = fresh;
                d.slots.insert(id.to_string(), arrived);
                d.queue.push_back(id.to_string());
                self.gauges.step_queue(d.queue.len());
                return;
            }
            d.running += 1;
            let loaded = arrived.loaded.take();
            let dirty = std::mem::take(&mut arrived.dirty);
            d.slots.insert(id.to_string(), arrived);
            (loaded, dirty)
        };
        tokio::spawn(self.clone().driver(id.to_string(), fresh, dirty, loaded));
    }

    /// Workflows woken and waiting for a driver.
    pub(crate) fn queued(&self) -> usize {
        lock(&self.drivers).queue.len()
    }

    /// The next queued workflow that still has its slot, with what arrived for it. (When the
    /// runtime stops, those holding attempts' results still get their turn, with those alone:
    /// the step loop steps nothing then, but stores them. The others leave the queue.)
    fn next_queued(&self, d: &mut Drivers) -> Option<Turn> {
        if d.queue.is_empty() {
            return None;
        }
        let stopping = self.is_shut_down();
        let mut next = None;
        while let Some(id) = d.queue.pop_front() {
            if stopping {
                let Some(slot) = d.slots.get_mut(&id) else {
                    continue;
                };
                slot.fresh.retain(|f| !f.timer);
                if slot.fresh.is_empty() {
                    d.slots.remove(&id);
                    continue;
                }
                let fresh = std::mem::take(&mut slot.fresh);
                next = Some((id, fresh, false, None));
                break;
            }
            if let Some(slot) = d.slots.get_mut(&id) {
                let fresh = std::mem::take(&mut slot.fresh);
                let dirty = std::mem::take(&mut slot.dirty);
                let loaded = slot.loaded.take();
                next = Some((id, fresh, dirty, loaded));
                break;
            }
        }
        self.gauges.step_queue(d.queue.len());
        next
    }

    /// Whether workflows wait for a driver.
    pub(super) fn others_queued(&self) -> bool {
        !lock(&self.drivers).queue.is_empty()
    }

    /// A driver task: steps workflow `id`, then the queued ones, until the queue is empty.
    async fn driver(
        self: Arc<Self>,
        mut id: String,
        mut fresh: Vec<Fresh>,
        mut dirty: bool,
        mut loaded: Option<WorkflowRecord>,
    ) {
        let mut guard = DriverGuard {
            inner: &self,
            done: false,
        };
        loop {
            let yielded = self.drive(&id, fresh, dirty, loaded).await;
            let next = {
                let mut d = lock(&self.drivers);
                if yielded {
                    // Its slot stays, with what it had in hand: to the back of the queue.
                    d.queue.push_back(id.clone());
                    self.gauges.step_queue(d.queue.len());
                }
                let next = self.next_queued(&mut d);
                if next.is_none() {
                    d.running = d.running.saturating_sub(1);
                }
                next
            };
            match next {
                Some(turn) => {
                    (id, fresh, dirty, loaded) = turn;
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

    /// Steps workflow `id` until nothing more has arrived for it (its slot is then freed), or
    /// until it gives its driver up to queued workflows (`true`: its slot stays, holding what
    /// it had in hand).
    async fn drive(
        self: &Arc<Self>,
        id: &str,
        mut fresh: Vec<Fresh>,
        mut dirty: bool,
        loaded: Option<WorkflowRecord>,
    ) -> bool {
        let mut slot = SlotGuard {
            inner: self,
            id,
            released: false,
        };
        let mut cached = self.cache.take(id);
        if cached.is_none()
            && !self.is_shut_down()
            && let Some(rec) = loaded
        {
            // Read with a due timer: no load. (If it moved on since, its commit conflicts
            // and the step starts over from the store.)
            match self.decode_record(id, rec).await {
                Ok(c) => cached = c,
                Err(e) => {
                    tracing::warn!(workflow_id = %id, error = %e, "cannot take a workflow as read with its timer; it is loaded again")
                }
            }
        }
        loop {
            let yielded = match self
                .advance(id, &mut cached, std::mem::take(&mut fresh), dirty)
                .await
            {
                Ok(yielded) => yielded,
                Err(e) => {
                    tracing::warn!(workflow_id = %id, error = %e, "step failed; the workflow will be retried");
                    cached = None;
                    // A timer it was handed is still stored: the next scan finds it again.
                    self.timer_wakeup.notify_one();
                    false
                }
            };
            // What next, decided under the lock (not held across an await).
            enum Then {
                Gone,
                Yielded,
                Done(Vec<Fresh>),
                Again,
            }
            let then = {
                let mut d = lock(&self.drivers);
                match d.slots.get_mut(id) {
                    None => Then::Gone,
                    Some(_) if yielded && !self.is_shut_down() => Then::Yielded,
                    Some(arrived)
                        if (arrived.fresh.is_empty() && !arrived.dirty) || self.is_shut_down() =>
                    {
                        // Results that came while it stepped, when the runtime stops: stored
                        // below.
                        let left = std::mem::take(&mut arrived.fresh);
                        d.slots.remove(id);
                        Then::Done(left)
                    }
                    Some(arrived) => {
                        fresh = std::mem::take(&mut arrived.fresh);
                        dirty = std::mem::take(&mut arrived.dirty);
                        Then::Again
                    }
                }
            };
            match then {
                Then::Gone => {
                    slot.released = true;
                    return false;
                }
                Then::Yielded => {
                    slot.released = true;
                    self.leave_state(id, cached.take());
                    return true;
                }
                Then::Done(left) => {
                    slot.released = true;
                    self.leave_state(id, cached.take());
                    if !left.is_empty() {
                        self.keep_fresh(id, left).await;
                    }
                    return false;
                }
                Then::Again => {}
            }
        }
    }

    /// Puts what a driver holds of `id` in the cache when it stops driving it; with nothing in
    /// hand (its state was dropped as stale), drops what the cache holds of `id` too: that was
    /// put there while this driver worked (the state of a new run, primed by `start`), and is
    /// not newer than what the driver knew.
    fn leave_state(&self, id: &str, cached: Option<Box<super::cache::Cached>>) {
        match cached {
            Some(c) => self.cache.put(id.to_string(), c),
            None => self.cache.forget(id),
        }
    }

    /// Leaves what a driver had in hand for `id` in its slot, to be taken up when the
    /// workflow's turn comes again.
    pub(super) fn hand_back(&self, id: &str, fresh: Vec<Fresh>) {
        if let Some(slot) = lock(&self.drivers).slots.get_mut(id) {
            slot.fresh.extend(fresh);
            slot.dirty = true;
        }
    }

    /// Takes what arrived for `id` while its driver was stepping.
    pub(super) fn take_arrivals(&self, id: &str) -> (Vec<Fresh>, bool) {
        match lock(&self.drivers).slots.get_mut(id) {
            Some(s) => (std::mem::take(&mut s.fresh), std::mem::take(&mut s.dirty)),
            None => (Vec::new(), false),
        }
    }

    /// Whether a driver is advancing workflows right now, or woken workflows wait for one.
    pub(crate) fn busy(&self) -> bool {
        let d = lock(&self.drivers);
        d.running > 0 || !d.queue.is_empty()
    }
}
