//! The runtime's background loops: one each, whatever the number of workflows.
//!
//! - timers: sleeps until the earliest timer in the store is due, fires what is due;
//! - tasks: leases activity tasks that are due (retries after their backoff, tasks whose
//!   worker died, tasks no worker had taken);
//! - leases: renews the leases of the attempts this worker runs, with their heartbeats;
//! - ready: picks up workflows that another runtime (or a crash) left with unseen events;
//! - schedules: sleeps until the next fire time of a schedule of a workflow registered here,
//!   fires what is due (see [`super::schedules`]).
//!
//! Each also wakes every `poll_interval` of real time, to see what other runtimes on the same
//! store did; sooner when the store sends a hint that another process changed something
//! ([`crate::store::Wakeup`]: the wakeups loop pokes the loop concerned).

use std::sync::Arc;
use std::time::Duration;

use super::engine::Inner;
use crate::durable::{Pending, Resolution};
use crate::store::{DueTimer, LeaseRequest, TimerKey, Wakeup};

const BATCH: usize = 512;

/// Woken workflows waiting for a driver past which the timer loop reads no more due timers
/// until drivers have caught up: what is due stays in the store, not in memory.
const QUEUE_CAP: usize = 4 * BATCH;

impl Inner {
    /// Waits for `deadline_ms` on the runtime's clock, a poke, the poll interval or shutdown.
    /// Returns false at shutdown.
    async fn pause(
        &self,
        deadline_ms: Option<u64>,
        poke: &tokio::sync::Notify,
        poll: Duration,
    ) -> bool {
        let mut shutdown = self.shutdown_signal.subscribe();
        if *shutdown.borrow_and_update() {
            return false;
        }
        let due = match deadline_ms {
            Some(t) => self.clock.sleep_until(t),
            None => Box::pin(std::future::pending()),
        };
        tokio::select! {
            biased;
            () = due => {}
            () = poke.notified() => {}
            () = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => return false,
        }
        !self.is_shut_down()
    }

    pub(crate) async fn timer_loop(self: Arc<Self>) {
        // Where the next read of due timers starts (`None`: from the first).
        let mut after: Option<TimerKey> = None;
        loop {
            // Drivers first: a million timers due at once wait in the store, not in the queue.
            while self.queued() >= QUEUE_CAP {
                if self.is_shut_down() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let now = self.clock.now_ms();
            let Some(read) = self.store.due_timers(now, after.clone(), BATCH) else {
                return self.fire_loop().await;
            };
            let mut full = false;
            match read.await {
                Ok(due) => {
                    full = due.len() >= BATCH;
                    if let Some(last) = due.last() {
                        after = Some(last.key());
                    }
                    self.take_due(due).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the due timers");
                    after = None;
                }
            }
            if full {
                if self.is_shut_down() {
                    return;
                }
                tokio::task::yield_now().await;
                continue;
            }
            // Every timer due is in hand: sleep until the next one after them.
            let next = match self.store.due_timers(u64::MAX, after.clone(), 1) {
                Some(read) => match read.await {
                    Ok(due) => due.first().map(|t| t.fire_at_ms),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the next timer");
                        None
                    }
                },
                None => None,
            };
            let next = next.filter(|&t| t > now);
            if !self
                .pause(next, &self.timer_wakeup, self.config.poll_interval)
                .await
            {
                return;
            }
            // Woken before that timer was due: by a step that stored timers (due already,
            // perhaps, and before `after`), a step that failed, or the poll (another
            // runtime's timers): read from the first again. (Timers handed to drivers and
            // not let go are left alone.)
            if next.is_none_or(|t| self.clock.now_ms() < t) {
                after = None;
            }
        }
    }

    /// Hands due timers to the drivers of their workflows, when the timer alone ends the
    /// wait (a step then takes it). Any other is fired the old way, as an event, and its
    /// workflow woken to look at its inbox: a timer of a workflow that is not running or not
    /// of this runtime's, the end of a cancel's grace period or of the run's timeout (which the
    /// cancel step reads from
    /// the inbox), and one of several a wait joins (the step that ends the wait takes the
    /// others from the inbox).
    async fn take_due(self: &Arc<Self>, due: Vec<DueTimer>) {
        let mut as_events: Vec<(String, Vec<u64>)> = Vec::new();
        for t in due {
            match t.workflow {
                Some(rec)
                    if !super::compose::run_timer(t.seq)
                        && self.workflows.knows(&rec.name)
                        && ends_the_wait(rec.pending.as_deref(), t.seq) =>
                {
                    self.wake_due(t.workflow_id, t.seq, t.fire_at_ms, rec);
                }
                _ => match as_events.iter_mut().find(|(id, _)| *id == t.workflow_id) {
                    Some((_, seqs)) => seqs.push(t.seq),
                    None => as_events.push((t.workflow_id, vec![t.seq])),
                },
            }
        }
        // At once, not one after the other: the writer takes them in one transaction.
        for (id, seqs) in as_events {
            let inner = self.clone();
            tokio::spawn(async move {
                match inner.store.fire_timers_of(&id, &seqs).await {
                    Ok(0) => {}
                    Ok(_) => inner.wake(&id, Vec::new()),
                    Err(e) => {
                        tracing::warn!(workflow_id = %id, error = %e, "cannot fire a timer");
                    }
                }
            });
        }
    }

    /// The timer loop of a store that fires timers as events ([`crate::store::Store::fire_timers`]).
    async fn fire_loop(self: Arc<Self>) {
        loop {
            let now = self.clock.now_ms();
            let mut next = None;
            let mut fired = false;
            match self.store.fire_timers(now, BATCH).await {
                Ok(woken) => {
                    // Nothing fired although a timer is due (its workflow is not running, say):
                    // not a reason to spin.
                    fired = !woken.is_empty();
                    for id in woken {
                        self.wake(&id, Vec::new());
                    }
                    match self.store.next_timer_due().await {
                        Ok(n) => next = n,
                        Err(e) => tracing::warn!(error = %e, "cannot read the next timer"),
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot fire timers"),
            }
            // Timers still due after a batch that fired (a batch of timers may wake far fewer
            // workflows than it holds timers, so the count of workflows woken says nothing):
            // fire the next batch at once, letting the drivers run in between.
            if fired && next.is_some_and(|t| t <= now) {
                if self.is_shut_down() {
                    return;
                }
                tokio::task::yield_now().await;
                continue;
            }
            // A due time in the past after a failure: wait for the poll instead of spinning.
            let next = next.filter(|&t| t > now);
            if !self
                .pause(next, &self.timer_wakeup, self.config.poll_interval)
                .await
            {
                return;
            }
        }
    }

    pub(crate) async fn task_loop(self: Arc<Self>) {
        if self.activity_names.is_empty() {
            return;
        }
        loop {
            let now = self.clock.now_ms();
            let free = self.free_slots();
            let mut leased = 0;
            if free > 0 {
                let request = LeaseRequest {
                    owner: self.config.worker_id.clone(),
                    names: self.activity_names.clone(),
                    now_ms: now,
                    lease_until_ms: now.saturating_add(self.config.lease_ms),
                    limit: free.min(BATCH),
                };
                match self.store.lease_tasks(request).await {
                    Ok(tasks) => {
                        leased = tasks.len();
                        self.start_tasks(tasks, None, |task, fresh, _| {
                            self.wake(&task.workflow_id, vec![fresh])
                        })
                        .await;
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot lease activity tasks"),
                }
            }
            if leased > 0 && leased == free.min(BATCH) {
                continue;
            }
            let next = match self.store.next_task_due(&self.activity_names).await {
                Ok(n) => n.filter(|&t| t > now),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the next task");
                    None
                }
            };
            if !self
                .pause(next, &self.task_wakeup, self.config.poll_interval)
                .await
            {
                return;
            }
        }
    }

    pub(crate) async fn lease_loop(self: Arc<Self>) {
        let every = Duration::from_millis((self.config.lease_ms / 3).max(10));
        let never = tokio::sync::Notify::new();
        loop {
            // Also on the runtime's clock: a virtual clock moved far ahead must not let the
            // leases of running attempts lapse before they are renewed.
            let due = self.clock.now_ms().saturating_add(self.config.lease_ms / 3);
            if !self.pause(Some(due), &never, every).await {
                return;
            }
            let held = self.held_leases();
            if held.is_empty() {
                continue;
            }
            let until = self.clock.now_ms().saturating_add(self.config.lease_ms);
            match self
                .store
                .renew_leases(&self.config.worker_id, held, until)
                .await
            {
                // Their calls were cancelled or answered, or another worker took them over:
                // the attempts are told that their results go nowhere.
                Ok(lost) => {
                    for (id, seq) in lost {
                        self.tell_cancelled(&id, &[seq]);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot renew activity leases"),
            }
        }
    }

    pub(crate) async fn ready_loop(self: Arc<Self>) {
        if self.workflow_names.is_empty() {
            return;
        }
        loop {
            match self
                .store
                .ready_workflows(&self.workflow_names, BATCH)
                .await
            {
                Ok(ready) => {
                    for id in ready {
                        self.wake(&id, Vec::new());
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot list ready workflows"),
            }
            if !self
                .pause(None, &self.ready_wakeup, self.config.poll_interval)
                .await
            {
                return;
            }
        }
    }

    pub(crate) async fn schedule_loop(self: Arc<Self>) {
        if self.workflow_names.is_empty() {
            return;
        }
        loop {
            let now = self.clock.now_ms();
            match self
                .store
                .due_schedules(&self.workflow_names, now, BATCH)
                .await
            {
                Ok(due) => {
                    for schedule in due {
                        if self.is_shut_down() {
                            return;
                        }
                        self.fire_schedule(schedule).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot list due schedules"),
            }
            // A due time in the past (a look that started its limit of runs, a failure): the
            // poll brings the next look.
            let next = match self.store.next_schedule_due(&self.workflow_names).await {
                Ok(n) => n.filter(|&t| t > now),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the next schedule due");
                    None
                }
            };
            if !self
                .pause(next, &self.schedule_wakeup, self.config.poll_interval)
                .await
            {
                return;
            }
        }
    }

    /// Forwards the store's hints to the loops they concern.
    pub(crate) async fn wakeup_loop(
        self: Arc<Self>,
        mut hints: tokio::sync::broadcast::Receiver<Wakeup>,
    ) {
        use tokio::sync::broadcast::error::RecvError;
        let mut shutdown = self.shutdown_signal.subscribe();
        if *shutdown.borrow_and_update() {
            return;
        }
        loop {
            tokio::select! {
                hint = hints.recv() => match hint {
                    Ok(Wakeup::Workflows) => self.ready_wakeup.notify_one(),
                    Ok(Wakeup::Tasks) => self.task_wakeup.notify_one(),
                    Ok(Wakeup::Timers) => self.timer_wakeup.notify_one(),
                    // Some hints were dropped: whatever they said, look everywhere.
                    Err(RecvError::Lagged(_)) => {
                        self.ready_wakeup.notify_one();
                        self.task_wakeup.notify_one();
                        self.timer_wakeup.notify_one();
                    }
                    Err(RecvError::Closed) => return,
                },
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// Whether timer `seq` firing alone resolves the stored wait `pending` (`false` when it does
/// not decode: the step that loads it parks the run).
fn ends_the_wait(pending: Option<&[u8]>, seq: u64) -> bool {
    let Some(Ok(pending)) = pending.map(postcard::from_bytes::<Pending>) else {
        return false;
    };
    pending
        .try_resolve(&mut |leaf| match leaf {
            Pending::Timer { seq: s, .. } if *s == seq => Some(Resolution::Timer),
            _ => None,
        })
        .is_some()
}
