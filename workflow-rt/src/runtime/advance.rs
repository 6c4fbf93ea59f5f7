//! The step loop of one workflow: resolve its wait against what arrived, run one step
//! ([`crate::step::run`]), commit it with a compare-and-set on the version, start the
//! activities the step asked for, and go on while the new wait can be resolved at once (an
//! activity that finished at its first poll, a signal already buffered).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tracing::Instrument;

use super::cache::Cached;
use super::engine::Inner;
use super::parking::Rejection;
use super::resolve::{Fresh, Resolved, has_signal, resolve_with, wants_due_deadlines};
use super::telemetry::{self, StepEnd, StepTrace};
use super::upgrade::NotReady;
use crate::activity::ActivityOptions;
use crate::context::WorkflowCtx;
use crate::durable::Pending;
use crate::step::{Outcome, StepFailure};
use crate::store::{
    ActivityTask, CompleteActivity, Event, EventKind, HistoryEntry, HistoryKind, StepCommit,
    StepOutcome, StoreError, TimerRow, WorkflowRecord, WorkflowStatus,
};

/// How a step ended, once committed. (Made once per step and consumed at once: its size
/// does not matter.)
#[allow(clippy::large_enum_variant)]
enum After {
    Suspended {
        pending: Pending,
        tasks: Vec<ActivityTask>,
        timers: bool,
        step: u64,
        /// The bytes of the snapshot and the wait the commit stores ([`Cached::bytes`]).
        bytes: usize,
    },
    Stopped,
    /// The run started over ([`StepOutcome::Continued`]): its next step is the first of its
    /// new state, loaded from the store.
    Continued,
    /// The payload of signal `event` does not decode as the type its wait expects (see
    /// [`Inner::dead_letter`]); the commit that comes with it parks the workflow, for when the
    /// event cannot be dead-lettered.
    BadSignal {
        event: u64,
        failure: StepFailure,
    },
}

/// What a step that ran leads to, before it is committed.
enum Next {
    /// A new wait: the snapshot, the wait, and the wait encoded.
    Wait(Vec<u8>, Pending, Vec<u8>),
    /// The run's end: the snapshot, the encoded output, and whether it is a failure.
    End(Vec<u8>, Vec<u8>, bool),
    /// The run starts over ([`crate::WorkflowCtx::continue_as_new`]): its first snapshot as
    /// `workflow` at `version` with `input`.
    Over {
        snapshot: Vec<u8>,
        workflow: &'static str,
        version: u32,
        input: Vec<u8>,
    },
}

impl Inner {
    /// Steps workflow `id` as far as what has arrived allows; `true` if it stopped to give
    /// its driver to queued workflows (see [`Drivers`]). The results in `fresh` that no step
    /// took when it fails (a store that cannot be read, say) are stored as events: a worker's
    /// result is never dropped with the error (its attempt would run again once its lease
    /// lapsed, and count as lost).
    pub(super) async fn advance(
        self: &Arc<Self>,
        id: &str,
        cached: &mut Option<Box<Cached>>,
        mut fresh: Vec<Fresh>,
        dirty: bool,
    ) -> Result<bool, StoreError> {
        let advanced = self.advance_from(id, cached, &mut fresh, dirty).await;
        if advanced.is_err() && !fresh.is_empty() {
            self.keep_fresh(id, fresh).await;
        }
        advanced
    }

    /// [`Self::advance`], leaving in `fresh` what it did not take or store when it fails.
    async fn advance_from(
        self: &Arc<Self>,
        id: &str,
        cached: &mut Option<Box<Cached>>,
        fresh: &mut Vec<Fresh>,
        mut dirty: bool,
    ) -> Result<bool, StoreError> {
        // The inbox as loaded in this call, minus what steps consumed since.
        let mut inbox: Option<Vec<Event>> = None;
        let mut inbox_unused = false;
        // The last commit left the workflow ready (see `StepCommit::keep_ready`).
        let mut left_ready = false;
        let mut kept_fresh = false;
        let mut conflicts = 0u32;
        let mut stale_views = 0u32;
        let mut steps = 0u64;
        let mut arrivals_seen = self.arrivals.load(Ordering::Acquire);
        // When an activity that the last step started ended at once (its result is in `fresh`):
        // the start of the step it wakes (a clock read saved).
        let mut chained: Option<Instant> = None;
        loop {
            if self.is_shut_down() {
                // Attempts' results in hand are stored, for the next worker's step (a timer
                // handed over is still stored: the next worker's scan finds it).
                fresh.retain(|f| !f.timer);
                if !fresh.is_empty() {
                    self.keep_fresh(id, std::mem::take(fresh)).await;
                }
                return Ok(false);
            }
            // A step's time counts from here: loading what it needs, resolving its wake,
            // running it, committing.
            let began = chained.take().unwrap_or_else(Instant::now);
            let mut c = match cached.take() {
                Some(c) => c,
                None => match self.load(id).await? {
                    Some(c) => {
                        inbox = None;
                        dirty = true;
                        c
                    }
                    None => {
                        self.keep_fresh(id, std::mem::take(fresh)).await;
                        return Ok(false);
                    }
                },
            };

            // What wakes this step? (A run that continued as new waits on nothing, yet its
            // inbox may hold what stops it: a cancel with no grace, its timeout's end.)
            let need_inbox = match c.pending.as_ref() {
                Some(p) => dirty || has_signal(p),
                None => dirty && c.step > 0,
            } && inbox.is_none();
            if need_inbox {
                let Some(loaded) = self.load_inbox(id, &mut c, fresh).await? else {
                    return Ok(false);
                };
                inbox = Some(loaded);
                inbox_unused = true;
                dirty = false;
            }
            // (No await on the common path: every step goes through here.)
            let now = self.clock.now_ms();
            let mut deadlines: Option<Vec<(u64, u64)>> = match c.pending.as_ref() {
                Some(p) if wants_due_deadlines(p, fresh, inbox.as_deref().unwrap_or(&[]), now) => {
                    Some(self.due_deadlines(id).await)
                }
                _ => None,
            };
            let mut resolved = c.pending.as_ref().and_then(|p| {
                resolve_with(
                    p,
                    fresh,
                    inbox.as_deref().unwrap_or(&[]),
                    self.owner(),
                    now,
                    deadlines.as_deref().unwrap_or(&[]),
                )
            });
            if resolved.is_none() && c.pending.is_some() && inbox.is_none() {
                let Some(loaded) = self.load_inbox(id, &mut c, fresh).await? else {
                    return Ok(false);
                };
                inbox = Some(loaded);
                inbox_unused = true;
                let now = self.clock.now_ms();
                if deadlines.is_none()
                    && c.pending.as_ref().is_some_and(|p| {
                        wants_due_deadlines(p, fresh, inbox.as_deref().unwrap_or(&[]), now)
                    })
                {
                    deadlines = Some(self.due_deadlines(id).await);
                }
                resolved = c.pending.as_ref().and_then(|p| {
                    resolve_with(
                        p,
                        fresh,
                        inbox.as_deref().unwrap_or(&[]),
                        self.owner(),
                        now,
                        deadlines.as_deref().unwrap_or(&[]),
                    )
                });
            }
            // A cancel request (or the end of its grace period) comes before anything else.
            if let Some(ib) = inbox.as_deref()
                && let Some(cancel) = self.cancel_step(id, &c, ib, fresh)
            {
                let cancelled = cancel.commit.cancelled.clone();
                let told = super::compose::told_to_close(id, &cancel.commit.deliver);
                match self.store.commit_step(cancel.commit).await {
                    Ok(version) => {
                        if !told.is_empty() {
                            self.terminate_parked(&told).await;
                        }
                        let Some(ctx) = cancel.ctx else {
                            c.workflow
                                .keys()
                                .run_finished(id, WorkflowStatus::Cancelled, None);
                            self.abort_attempts(id, None);
                            self.notify_watchers(id);
                            return Ok(false);
                        };
                        c.version = version;
                        Self::cancelled(&mut c, id, ctx);
                        // The attempts of interrupted calls are told (their results are
                        // answered already); the grace timer is new.
                        self.tell_cancelled(id, &cancelled);
                        self.timer_wakeup.notify_one();
                        fresh.retain(|f| !cancelled.contains(&f.seq));
                        inbox = None;
                        dirty = true;
                        self.keep(cached, c);
                        continue;
                    }
                    Err(StoreError::Conflict { .. } | StoreError::NotFound(_)) => {
                        // Changed meanwhile: look again from the store.
                        conflicts += 1;
                        if conflicts > 16 {
                            return Err(StoreError::Conflict {
                                workflow_id: id.to_string(),
                                expected: c.version,
                            });
                        }
                        inbox = None;
                        dirty = true;
                        continue;
                    }
                    Err(e) => {
                        return Err(e);
                    }
                }
            }
            if resolved.is_none() && c.pending.is_some() {
                if !fresh.is_empty() && !kept_fresh {
                    // Part of a join: store the results and look once more, in case what
                    // completes the wait arrived meanwhile.
                    self.keep_fresh(id, std::mem::take(fresh)).await;
                    kept_fresh = true;
                    inbox = None;
                    dirty = true;
                    self.keep(cached, c);
                    continue;
                }
                self.keep_fresh(id, std::mem::take(fresh)).await;
                if (inbox_unused || left_ready)
                    && !self.store.clear_ready(id, c.version, c.seen_upto).await?
                {
                    // The workflow moved on since this view of it: look again from the store,
                    // once. If it moved on again, another worker is stepping it, and each of
                    // its commits keeps the ready flag right: looking again and again would
                    // only contend with it for the workflow's row.
                    stale_views += 1;
                    if stale_views > 1 {
                        return Ok(false);
                    }
                    inbox = None;
                    dirty = true;
                    continue;
                }
                self.keep(cached, c);
                return Ok(false);
            }

            if let (Some(p), Some(r)) = (c.pending.as_ref(), resolved.as_mut())
                && !r.deadline_ended.is_empty()
            {
                self.count_deadline_attempts(id, p, r).await;
            }
            let trace = StepTrace::begin(
                &*c.workflow,
                id,
                c.step.saturating_add(1),
                &c.state,
                resolved.as_ref().map_or("start", |r| r.woken_by.as_str()),
                began,
            );
            let timers = resolved
                .as_mut()
                .map(|r| std::mem::take(&mut r.timers))
                .unwrap_or_default();
            let (mut after, mut commit) = {
                // The workflow's code runs in the step's span.
                let _in = trace.span.enter();
                self.step(id, &mut c, resolved, inbox.as_deref())
            };
            let child_calls = c.ctx.take_child_calls();
            let published = c.ctx.take_published_now();
            let (end, finished) = match &commit.outcome {
                StepOutcome::Suspended { .. } => (StepEnd::Suspended, None),
                StepOutcome::Continued { .. } => (StepEnd::Continued, None),
                StepOutcome::Finished { status, .. } => (
                    if *status == WorkflowStatus::Failed {
                        StepEnd::Failed
                    } else {
                        StepEnd::Completed
                    },
                    Some(*status),
                ),
                _ => (StepEnd::Parked, None),
            };
            if end != StepEnd::Parked {
                trace.stopped_in(&*c.workflow, &c.state);
            }
            if let After::BadSignal { event, failure } = &after {
                let inbox_now = inbox.as_deref().unwrap_or(&[]);
                let version = c.version;
                let rejected = trace
                    .within(self.dead_letter(id, version, *event, failure, inbox_now))
                    .await;
                match rejected {
                    Err(e) => {
                        trace.end(c.workflow.keys(), StepEnd::Error);
                        return Err(e);
                    }
                    Ok(Rejection::NoCulprit) => after = After::Stopped,
                    Ok(rejection) => {
                        trace.end(
                            c.workflow.keys(),
                            if matches!(rejection, Rejection::Stale) {
                                StepEnd::Conflict
                            } else {
                                StepEnd::DeadLetter
                            },
                        );
                        // The state in memory ran a step that did not happen: drop it, and
                        // look again from the store (fresh results are kept for the next
                        // step).
                        if matches!(rejection, Rejection::Stale) {
                            conflicts += 1;
                            if conflicts > 16 {
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
            // Child runs the new wait calls go into the step's commit, which creates them
            // (by their deterministic ids; an id taken already is refused there).
            if let After::Suspended { pending, .. } = &after
                && pending
                    .leaves()
                    .iter()
                    .any(|l| matches!(l, Pending::Child { .. }))
                && let Err(e) = self
                    .start_children(id, c.pending.as_ref(), pending, &child_calls, &mut commit)
                    .await
            {
                trace.end(c.workflow.keys(), StepEnd::Error);
                return Err(e);
            }
            let consumed = commit.consumed_events.clone();
            let cancelled = commit.cancelled.clone();
            let park_reason = match &commit.outcome {
                StepOutcome::Parked { reason } => Some(reason.clone()),
                _ => None,
            };
            let keep_ready = commit.keep_ready;
            let committed_at = commit.now_ms;
            let told = super::compose::told_to_close(id, &commit.deliver);
            let children: Vec<(String, String)> = commit
                .children
                .iter()
                .map(|c| (c.name.clone(), c.id.clone()))
                .collect();
            // A child's execution timeout is a timer the timer loop does not know of yet.
            let child_timers = commit.children.iter().any(|c| !c.timers.is_empty());
            // In the step's span when a subscriber wants it (a wrapper less when not).
            let committed = if trace.span.is_disabled() {
                self.store.commit_step(commit).await
            } else {
                let span = trace.span.clone();
                self.store.commit_step(commit).instrument(span).await
            };
            match committed {
                Ok(version) => {
                    if !told.is_empty() {
                        self.terminate_parked(&told).await;
                    }
                    if child_timers {
                        self.timer_wakeup.notify_one();
                    }
                    // The child runs the step started (created by its commit).
                    for (name, child) in &children {
                        if let Some(code) = self
                            .workflows
                            .newest(name)
                            .and_then(|v| self.workflows.version(name, v))
                        {
                            telemetry::run_started(code.name(), child);
                        }
                        self.wake(child, Vec::new());
                    }
                    let keys = c.workflow.keys();
                    let ended = trace.end(keys, end);
                    for due in timers {
                        keys.timer_fired(due, committed_at);
                    }
                    if let Some(status) = finished {
                        keys.run_finished(id, status, Some(c.step.saturating_add(1)));
                    }
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
                            bytes,
                        } => {
                            // Every result was either consumed or is for a command the wait
                            // no longer has.
                            fresh.clear();
                            c.version = version;
                            c.step = step;
                            c.pending = Some(pending);
                            c.bytes = bytes;
                            if timers {
                                self.timer_wakeup.notify_one();
                            }
                            if published {
                                // Readers waiting for a value (`Client::wait_published`).
                                self.notify_watchers(id);
                            }
                            self.start_tasks(tasks, Some(ended), |_, f, at| {
                                fresh.push(f);
                                chained = Some(at);
                            })
                            .await;
                        }
                        After::Continued => {
                            // Its calls went with the run before (their tasks are gone); the
                            // new run is stepped from the store, from its first state.
                            if published {
                                self.notify_watchers(id);
                            }
                            self.abort_attempts(id, None);
                            fresh.clear();
                            self.wake(id, Vec::new());
                            return Ok(false);
                        }
                        After::Stopped | After::BadSignal { .. } => {
                            if let Some(reason) = &park_reason {
                                self.parked(c.workflow.name(), id, reason).await;
                            }
                            self.abort_attempts(id, None);
                            self.notify_watchers(id);
                            if park_reason.is_some() {
                                self.keep_fresh(id, std::mem::take(fresh)).await;
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
                            self.hand_back(id, std::mem::take(fresh));
                            return Ok(true);
                        }
                        tokio::task::yield_now().await;
                        chained = None;
                        continue;
                    }
                    self.keep(cached, c);
                }
                Err(e @ (StoreError::Conflict { .. } | StoreError::LeaseLost { .. })) => {
                    trace.end(c.workflow.keys(), StepEnd::Conflict);
                    // Another worker advanced it, or took over a call whose result this step
                    // consumed (that result is refused: the other worker's attempt answers
                    // the call): start over from the store (the in-memory state ran the step
                    // and is stale).
                    if let StoreError::LeaseLost { seq, attempt, .. } = e {
                        tracing::info!(workflow_id = %id, seq, attempt, "an activity attempt lost its lease; its result is dropped");
                        fresh.retain(|f| (f.seq, f.attempt) != (seq, attempt));
                        self.lease_lost(c.pending.as_ref(), seq);
                    }
                    conflicts += 1;
                    inbox = None;
                    if conflicts > 16 {
                        return Err(StoreError::Conflict {
                            workflow_id: id.to_string(),
                            expected: c.version,
                        });
                    }
                }
                Err(StoreError::NotFound(_)) => {
                    trace.end(c.workflow.keys(), StepEnd::Conflict);
                    return Ok(false);
                }
                Err(e) => {
                    trace.end(c.workflow.keys(), StepEnd::Error);
                    // A commit that failed may still have taken effect (a connection lost after
                    // the commit): the calls it leased to this worker are then stored, and
                    // nothing else starts them before their leases lapse (each then counted
                    // as a lost attempt). Started if they are there (their results, with the
                    // others in hand, are stored by `advance`).
                    if let After::Suspended { tasks, .. } = after {
                        let ran = self.start_if_committed(id, tasks).await;
                        fresh.extend(ran);
                    }
                    return Err(e);
                }
            }
        }
    }

    /// Gives the calls that `resolved` ends by their schedule-to-close deadline's timer the
    /// number of attempts started on them, from their tasks (the attempt running at the
    /// deadline, or lost to a crash, included), as the attempt path counts those of a call it
    /// ends. The count stays 0 if the tasks cannot be read.
    async fn count_deadline_attempts(&self, id: &str, pending: &Pending, resolved: &mut Resolved) {
        let tasks = match self.store.load_tasks(id).await {
            Ok(tasks) => tasks,
            Err(e) => {
                tracing::debug!(workflow_id = %id, error = %e, "cannot read the run's tasks to count attempts");
                return;
            }
        };
        let calls = std::mem::take(&mut resolved.deadline_ended);
        super::resolve::errors_of_calls(
            pending,
            &mut resolved.resolution,
            &calls,
            &mut |seq, e| {
                if let Some(t) = tasks.iter().find(|t| t.seq == seq) {
                    e.attempts = t.attempt;
                }
            },
        );
    }

    /// The stored deadline timers of run `id`'s calls that are due, as `(timer seq, fire
    /// time)`, for a wait that needs them ([`wants_due_deadlines`]); none if they cannot be
    /// read (the timer loop fires them then).
    async fn due_deadlines(&self, id: &str) -> Vec<(u64, u64)> {
        let now = self.clock.now_ms();
        match self.store.load_timers(id).await {
            Ok(timers) => timers
                .into_iter()
                .filter(|t| super::deadline_of(t.seq).is_some() && t.fire_at_ms <= now)
                .map(|t| (t.seq, t.fire_at_ms))
                .collect(),
            Err(e) => {
                tracing::debug!(workflow_id = %id, error = %e, "cannot read the run's deadline timers");
                Vec::new()
            }
        }
    }

    /// Terminates the parked runs among those a committed step sent a cancel request to
    /// (children it stopped waiting for): see [`super::Client::terminate_parked`].
    async fn terminate_parked(self: &Arc<Self>, told: &[super::compose::Told]) {
        super::Client::of_runtime(self).terminate_parked(told).await;
    }

    /// Starts the calls of `tasks` leased to this worker by a commit whose outcome is not
    /// known, if they are stored as leased by it: the commit took effect (no other commit
    /// leases calls of this run's version to this worker). Returns the results of the
    /// attempts that ended at once.
    async fn start_if_committed(
        self: &Arc<Self>,
        id: &str,
        tasks: Vec<ActivityTask>,
    ) -> Vec<Fresh> {
        let own =
            |t: &ActivityTask| t.lease_owner.as_deref() == Some(self.config.worker_id.as_str());
        if !tasks.iter().any(own) {
            return Vec::new();
        }
        let Ok(stored) = self.store.load_tasks(id).await else {
            return Vec::new();
        };
        let committed: Vec<ActivityTask> = tasks
            .into_iter()
            .filter(|t| {
                own(t)
                    && stored.iter().any(|s| {
                        (s.seq, s.scheduled_version, s.attempt)
                            == (t.seq, t.scheduled_version, t.attempt)
                            && s.lease_owner == t.lease_owner
                    })
            })
            .collect();
        let mut ran = Vec::new();
        self.start_tasks(committed, None, |_, f, _| ran.push(f))
            .await;
        ran
    }

    /// Counts a lost lease of call `seq` of a wait, by the activity's name.
    fn lease_lost(&self, pending: Option<&Pending>, seq: u64) {
        let name = pending.and_then(|p| {
            p.leaves().into_iter().find_map(|l| match l {
                Pending::Activity { seq: s, name, .. } if *s == seq => Some(name.as_str()),
                _ => None,
            })
        });
        if let Some(activity) = name.and_then(|n| self.activities.get(n)) {
            activity.keys().lease_lost();
        }
    }

    /// Stores fresh results that no step consumed as events, so that nothing a worker
    /// produced is lost (a result for a task that no longer exists is dropped by the store).
    pub(super) async fn keep_fresh(&self, id: &str, fresh: Vec<Fresh>) {
        let (timers, fresh): (Vec<Fresh>, Vec<Fresh>) = fresh.into_iter().partition(|f| f.timer);
        if !timers.is_empty() {
            // Timers read due that no step took: fired the old way, into the inbox.
            let seqs: Vec<u64> = timers.iter().map(|f| f.seq).collect();
            if let Err(e) = self.store.fire_timers_of(id, &seqs).await {
                tracing::warn!(workflow_id = %id, error = %e, "cannot fire a due timer; it fires at the next look");
                self.timer_wakeup.notify_one();
            }
        }
        for f in fresh {
            let done = CompleteActivity {
                workflow_id: id.to_string(),
                attempt: f.fence(self.owner()),
                result: f.result,
                at_ms: f.at_ms,
            };
            if let Err(e) = self.store.complete_activity(done).await {
                tracing::warn!(workflow_id = %id, seq = f.seq, error = %e, "cannot store an activity result; it will run again");
            }
        }
    }

    /// Whether run `rec`, which has not taken its first step, has been stopped here because
    /// the end of its timeout came first (no worker took it in time): it ends without running
    /// its code, as a run cancelled before its first step does. The end is looked for (its
    /// timer due, or fired into the inbox) only for a run older than the shortest timeout
    /// ([`super::client::MIN_TIMEOUT`]): a run taken as soon as it is made, the usual case,
    /// costs no read.
    async fn timed_out_unstarted(&self, rec: &WorkflowRecord) -> Result<bool, StoreError> {
        /// What was read, nothing when the rows do not read back.
        fn readable<T>(read: Result<Vec<T>, StoreError>) -> Result<Vec<T>, StoreError> {
            match read {
                Err(StoreError::Corrupt(_)) => Ok(Vec::new()),
                read => read,
            }
        }
        let now = self.clock.now_ms();
        let shortest = super::client::MIN_TIMEOUT.as_millis() as u64;
        if now.saturating_sub(rec.created_at_ms) < shortest {
            return Ok(false);
        }
        let id = rec.id.as_str();
        let timeout = super::compose::TIMEOUT_SEQ;
        // Rows that do not read back are left to the step, which parks the run over them as
        // before; a failure of the store is the step's, looked at again.
        let due = readable(self.store.load_timers(id).await)?
            .iter()
            .any(|t| t.seq == timeout && t.fire_at_ms <= now);
        let timed_out = due
            || readable(self.store.load_inbox(id).await)?
                .iter()
                .any(|e| matches!(e.kind, EventKind::TimerFired { seq } if seq == timeout));
        if !timed_out {
            return Ok(false);
        }
        let reason = format!(
            "terminated before its first step: {}",
            super::compose::TIMED_OUT
        );
        match super::Client::beside(self)
            .stop_unstarted(id, &reason, true)
            .await
        {
            Ok(stopped) => {
                if stopped {
                    self.forget(id);
                    self.notify_watchers(id);
                }
                Ok(stopped)
            }
            Err(super::RuntimeError::Store(e)) => Err(e),
            // Gone or finished meanwhile: nothing to step.
            Err(_) => Ok(true),
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
        self.decode_record(id, rec).await
    }

    /// A running workflow of this runtime's, decoded from its record as stored (see
    /// [`Self::load`]).
    pub(super) async fn decode_record(
        &self,
        id: &str,
        rec: WorkflowRecord,
    ) -> Result<Option<Box<Cached>>, StoreError> {
        if rec.status != WorkflowStatus::Running {
            if rec.status == WorkflowStatus::Parked {
                // Woken while parked: by the end of a cancel's grace period, perhaps.
                self.stop_if_cancel_came(id).await;
            }
            return Ok(None);
        }
        if !self.workflows.knows(&rec.name) {
            // Another runtime on this store may know it.
            return Ok(None);
        }
        let pending = match &rec.pending {
            Some(b) => match postcard::from_bytes::<Pending>(b) {
                Ok(p) => Some(p),
                Err(e) => {
                    let reason = format!("the stored wait does not decode: {e}");
                    self.park(&rec.name, id, rec.version, reason).await?;
                    return Ok(None);
                }
            },
            None => None,
        };
        if pending.is_none() && self.timed_out_unstarted(&rec).await? {
            return Ok(None);
        }
        let ready = match self.prepare(&rec.name, &rec.snapshot, pending.as_ref()) {
            Ok(ready) => ready,
            // Written by newer code on another worker (a rolling deploy): theirs to step, for
            // a while; parked if none does (the deploy was rolled back).
            Err(NotReady::Newer(_)) if self.leave_to_newer_code(id, rec.version) => {
                tracing::debug!(workflow_id = %id, "left to a runtime with newer code");
                return Ok(None);
            }
            Err(NotReady::Newer(reason) | NotReady::NoCode(reason)) => {
                self.park(&rec.name, id, rec.version, reason).await?;
                return Ok(None);
            }
        };
        let mut version = rec.version;
        let mut migrated = None;
        if let Some((envelope, detail)) = ready.migrated {
            let now = self.clock.now_ms();
            let entry = HistoryEntry::new(now, HistoryKind::Migrated, detail);
            match &rec.pending {
                // Before its first step the run waits on nothing: the migrated snapshot is
                // written by the commit of that step, with this entry.
                None => {
                    telemetry::run_migrated(&rec.name, id, &entry.detail);
                    migrated = Some(entry);
                }
                Some(pending_bytes) => {
                    let commit = StepCommit {
                        children: Vec::new(),
                        workflow_id: id.to_string(),
                        run_key: rec.run_key,
                        expected_version: rec.version,
                        now_ms: now,
                        outcome: StepOutcome::Suspended {
                            snapshot: envelope,
                            pending: pending_bytes.clone(),
                            tasks: Vec::new(),
                            timers: Vec::new(),
                        },
                        consumed_events: Vec::new(),
                        completed_tasks: Vec::new(),
                        cancelled: Vec::new(),
                        fired_timers: Vec::new(),
                        seen_events_upto: 0,
                        // What it waits on may have arrived already.
                        keep_ready: true,
                        history: vec![entry.clone()],
                        deliver: Vec::new(),
                    };
                    match self.store.commit_step(commit).await {
                        Ok(v) => {
                            telemetry::run_migrated(&rec.name, id, &entry.detail);
                            version = v;
                        }
                        // Changed meanwhile: whoever changed it goes on from the store.
                        Err(StoreError::Conflict { .. } | StoreError::NotFound(_)) => {
                            return Ok(None);
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        let bytes = rec
            .snapshot
            .len()
            .saturating_add(rec.pending.as_ref().map_or(0, Vec::len));
        Ok(Some(Box::new(Cached {
            workflow: ready.workflow,
            bytes,
            version,
            step: ready.snapshot.step,
            ctx: WorkflowCtx::new(id, ready.snapshot.ctx),
            state: ready.state,
            pending,
            seen_upto: 0,
            migrated,
            parent: rec.parent,
            run_key: rec.run_key,
        })))
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
                    c.workflow.name(),
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
        let (wake, woke_at, woken_by, mut consumed, completed, cancelled, dropped, fired) =
            match resolved {
                Some(r) => (
                    Some(r.resolution),
                    r.woke_at,
                    r.woken_by,
                    r.consumed_events,
                    r.completed_tasks,
                    r.cancelled,
                    r.dropped_children,
                    r.fired_timers,
                ),
                None => (
                    None,
                    0,
                    "start".to_string(),
                    Vec::new(),
                    Vec::new(),
                    Vec::new(),
                    Vec::new(),
                    Vec::new(),
                ),
            };
        // Results for commands the wait no longer has (a duplicate delivery, a cancelled
        // branch) are dropped with this step. Not those of commands at sequence numbers not
        // allocated yet, which this step may be about to issue.
        let next_seq = c.ctx.seq();
        if let (Some(p), Some(inbox)) = (&c.pending, inbox) {
            let leaves = p.leaves();
            for e in inbox {
                // An activity call's result stays: it can only be one the wait will take
                // (each call's task gives one result, and a dropped call's goes with its task),
                // such as a promise's value sent before the run awaits it.
                let seq = match e.kind {
                    // A call's deadline timer counts as the call's.
                    EventKind::TimerFired { seq } => {
                        super::resolve::deadline_of(seq).unwrap_or(seq)
                    }
                    EventKind::ChildFinished { seq, .. } => seq,
                    EventKind::ActivityCompleted { .. }
                    | EventKind::Signal { .. }
                    | EventKind::CancelRequested { .. } => continue,
                };
                if seq < next_seq
                    && !leaves.iter().any(|l| l.seq() == Some(seq))
                    && !consumed.contains(&e.id)
                {
                    consumed.push(e.id);
                }
            }
        }
        // What the results were, for the history (before the step takes them).
        let mut shown = String::new();
        if let (Some(p), Some(r)) = (&c.pending, &wake) {
            shown.reserve(64);
            super::shown::results(&mut shown, &self.activities, p, r);
        }
        // Saturating: only a damaged snapshot holds a step count anywhere near the limit.
        let step = c.step.saturating_add(1);
        let max_snapshot = self.config.limits.max_snapshot_bytes;
        let stepped = c
            .workflow
            .step(&mut c.state, &c.ctx, wake, woke_at, step, max_snapshot);
        let promises = c.ctx.take_promises();
        let now = self.clock.now_ms();
        let mut commit = StepCommit {
            children: Vec::new(),
            workflow_id: id.to_string(),
            run_key: c.run_key,
            expected_version: c.version,
            now_ms: now,
            outcome: StepOutcome::Cancelled,
            consumed_events: consumed,
            completed_tasks: completed,
            cancelled,
            fired_timers: fired,
            seen_events_upto: c.seen_upto,
            keep_ready: false,
            history: Vec::new(),
            // The children of the branches a `select` dropped get what their policies say.
            // (The reason is written only when there are some: this is every step's path.)
            deliver: if dropped.is_empty() {
                Vec::new()
            } else {
                super::compose::close_children(
                    dropped
                        .iter()
                        .map(|(seq, child, close)| (*seq, child.as_str(), *close)),
                    &format!("its parent {id} stopped waiting for it"),
                    self.config.cancel_grace_ms,
                )
            },
        };
        let stepped = stepped.and_then(|s| match s.outcome {
            Outcome::Suspended(pending) => {
                match postcard::to_extend(&pending, Vec::with_capacity(32)) {
                    Ok(bytes) => Ok(Next::Wait(s.snapshot, pending, bytes)),
                    Err(e) => Err(StepFailure::Unsaved {
                        step,
                        reason: format!("its wait does not encode: {e}"),
                    }),
                }
            }
            Outcome::Completed { output, failed } => Ok(Next::End(s.snapshot, output, failed)),
            Outcome::Continued {
                workflow,
                version,
                input,
            } => {
                let snapshot = self.continued(c, workflow, version, &input, now, step)?;
                Ok(Next::Over {
                    snapshot,
                    workflow,
                    version,
                    input,
                })
            }
        });
        let after = match stepped {
            Ok(Next::Wait(snapshot, pending, pending_bytes)) => {
                // The run's version once this step is committed: each call's, across runs.
                let version = commit.expected_version.saturating_add(1);
                let (mut tasks, timers) = self.commands(id, &pending, now, version);
                tasks.extend(
                    promises
                        .into_iter()
                        .map(|p| crate::promise::task(id, p, now, version)),
                );
                commit.history = vec![HistoryEntry::new(now, HistoryKind::Step, {
                    // Sized once for what follows (the wait's description and the inputs'
                    // JSON are short), not grown in steps.
                    let mut detail = String::with_capacity(woken_by.len() + shown.len() + 96);
                    detail.push_str(&woken_by);
                    detail.push_str(" -> ");
                    describe_into(&mut detail, &pending);
                    detail.push_str(&shown);
                    super::shown::inputs(&mut detail, &self.activities, &pending);
                    detail
                })];
                let has_timers = !timers.is_empty();
                let bytes = snapshot.len().saturating_add(pending_bytes.len());
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
                    bytes,
                }
            }
            Ok(Next::Over {
                snapshot,
                workflow,
                version,
                input,
            }) => {
                let bytes = input.len();
                commit.history = vec![HistoryEntry::new(now, HistoryKind::Continued, {
                    let mut detail = String::with_capacity(woken_by.len() + shown.len() + 96);
                    detail.push_str(&woken_by);
                    detail.push_str(" -> ");
                    detail.push_str(&format!(
                        "continued as new: {workflow} v{version} with an input of {bytes} bytes \
                         (the history before is dropped)"
                    ));
                    detail.push_str(&shown);
                    detail
                })];
                commit.outcome = StepOutcome::Continued { input, snapshot };
                After::Continued
            }
            Ok(Next::End(snapshot, output, failed)) => {
                // A run that fails after it was asked to cancel ends as cancelled (its code
                // gave up, as asked); one that returns its output anyway has completed.
                let (status, kind) = if failed && c.ctx.is_cancelled() {
                    (WorkflowStatus::Cancelled, HistoryKind::Cancelled)
                } else if failed {
                    (WorkflowStatus::Failed, HistoryKind::Failed)
                } else {
                    (WorkflowStatus::Completed, HistoryKind::Completed)
                };
                commit.deliver.extend(self.ended_deliveries(
                    id,
                    c.parent.as_ref(),
                    status,
                    &output,
                ));
                commit.history = vec![HistoryEntry::new(now, kind, {
                    let status = status.as_str();
                    let mut detail =
                        String::with_capacity(woken_by.len() + 4 + status.len() + shown.len());
                    detail.push_str(&woken_by);
                    detail.push_str(" -> ");
                    detail.push_str(status);
                    detail.push_str(&shown);
                    detail
                })];
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
                commit.fired_timers.clear();
                commit.cancelled.clear();
                let reason = failure.to_string();
                // A parent waits for its parked child (see `ChildError::Parked`).
                commit.deliver.clear();
                commit.history = vec![HistoryEntry::new(now, HistoryKind::Parked, reason.clone())];
                commit.outcome = StepOutcome::Parked { reason };
                match failure.bad_signal() {
                    Some(event) => After::BadSignal { event, failure },
                    None => After::Stopped,
                }
            }
        };
        // (A run that starts over drops its history: the entry with it.)
        if let Some(entry) = c.migrated.take()
            && !matches!(
                commit.outcome,
                StepOutcome::Parked { .. } | StepOutcome::Continued { .. }
            )
        {
            commit.history.insert(0, entry);
        }
        (after, commit)
    }

    /// The first snapshot of run `c` continuing as new as `workflow` at `version` with the
    /// encoded `input` at `now` (see [`crate::WorkflowCtx::continue_as_new`]): its context goes
    /// on from the run's. A refusal is the step's failure, which parks the run.
    fn continued(
        &self,
        c: &Cached,
        workflow: &str,
        version: u32,
        input: &[u8],
        now: u64,
        step: u64,
    ) -> Result<Vec<u8>, StepFailure> {
        let refused = |reason: String| StepFailure::Unsaved {
            step,
            reason: format!("it cannot continue as new: {reason}"),
        };
        if workflow != c.workflow.name() {
            return Err(refused(format!(
                "continue_as_new names workflow {workflow:?}, and a run goes on as its own \
                 workflow, {:?}",
                c.workflow.name()
            )));
        }
        let limits = self.config.limits;
        if input.len() > limits.max_input_bytes {
            return Err(refused(format!(
                "its new input is {} bytes, over the limit of {} (Limits::max_input_bytes)",
                input.len(),
                limits.max_input_bytes
            )));
        }
        let Some(code) = self.workflows.version(workflow, version) else {
            return Err(refused(format!(
                "{workflow} v{version} is not registered with this runtime"
            )));
        };
        let mut ctx = c.ctx.state();
        ctx.now_ms = now;
        let snapshot = code.continued(input, &ctx, step).map_err(refused)?;
        if snapshot.len() > limits.max_snapshot_bytes {
            return Err(StepFailure::TooLarge {
                step,
                size: snapshot.len(),
                limit: limits.max_snapshot_bytes,
            });
        }
        Ok(snapshot)
    }

    /// The activity tasks and timers a new wait asks for. Tasks of activities this runtime can
    /// run are leased to it at once (it starts them right after the commit); the others wait
    /// for a worker that knows them.
    /// `version`: the run's version once the step is committed (each task's
    /// [`ActivityTask::scheduled_version`]).
    fn commands(
        &self,
        id: &str,
        pending: &Pending,
        now: u64,
        version: u64,
    ) -> (Vec<ActivityTask>, Vec<TimerRow>) {
        let leaves = pending.leaves();
        // At most one task per leaf: sized once (a task is some 200 bytes), not grown.
        let mut tasks = Vec::with_capacity(leaves.len());
        let mut timers = Vec::new();
        for leaf in leaves {
            match leaf {
                // A promise: its task was stored by the step that made its token.
                Pending::Activity { name, .. } if name == crate::promise::PROMISE_ACTIVITY => {}
                Pending::Activity {
                    seq,
                    name,
                    input,
                    options,
                } => {
                    // Leased by this worker in the step's own commit, unless it is draining
                    // or stopping.
                    let mine = self.activities.contains_key(name)
                        && !self.is_draining()
                        && !self.is_shut_down();
                    let deadline_ms = deadline(options, now);
                    tasks.push(ActivityTask {
                        workflow_id: id.to_string(),
                        seq: *seq,
                        scheduled_version: version,
                        name: name.clone(),
                        input: input.clone(),
                        options: options.clone(),
                        attempt: u32::from(mine),
                        scheduled_at_ms: now,
                        visible_at_ms: now,
                        lease_owner: mine.then(|| self.config.worker_id.clone()),
                        lease_until_ms: mine.then(|| now.saturating_add(self.config.lease_ms)),
                        heartbeat_details: None,
                        deadline_ms,
                    });
                    // The deadline's own timer: it ends the call whether or not a worker that
                    // has the activity runs it (see `resolve::deadline_timer`); a second after
                    // the deadline, so that an attempt running then ends it first, with its
                    // count of attempts.
                    if let Some(at) = deadline_ms {
                        timers.push(TimerRow {
                            seq: super::resolve::deadline_timer(*seq),
                            fire_at_ms: at.saturating_add(DEADLINE_BACKSTOP_MS),
                        });
                    }
                }
                Pending::Timer { seq, fire_at } => timers.push(TimerRow {
                    seq: *seq,
                    fire_at_ms: *fire_at,
                }),
                Pending::Signal { .. }
                | Pending::Child { .. }
                | Pending::Join(_)
                | Pending::Select(_) => {}
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

/// How long after a call's schedule-to-close deadline its timer fires (see
/// [`Inner::commands`]).
const DEADLINE_BACKSTOP_MS: u64 = 1_000;

fn deadline(options: &ActivityOptions, now: u64) -> Option<u64> {
    options
        .schedule_to_close
        .map(|d| now.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
}

/// A short rendering of a wait, for the history.
pub(crate) fn describe_into(out: &mut String, p: &Pending) {
    use std::fmt::Write as _;
    let _ = match p {
        Pending::Activity { seq, name, .. } => {
            out.push_str("activity ");
            out.push_str(name);
            out.push('#');
            super::shown::push_u64(out, *seq);
            Ok(())
        }
        Pending::Timer { seq, fire_at } => write!(out, "timer#{seq} at {fire_at}"),
        Pending::Signal { seq, name } => write!(out, "signal {name}#{seq}"),
        Pending::Child { seq, name, id, .. } => write!(out, "child {name}#{seq} ({id})"),
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
