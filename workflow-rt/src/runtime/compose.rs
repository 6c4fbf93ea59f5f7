//! Composition in the step loop: starting child runs, telling a parent that its child ended,
//! and cancelling (a request the code is told of, then a grace period, then a hard stop).

use std::sync::Arc;

use super::cache::Cached;
use super::engine::Inner;
use super::resolve::Fresh;
use crate::activity::{ActivityError, ActivityErrorKind};
use crate::child::{ChildError, ParentClose};
use crate::context::{ChildNote, CtxState, WorkflowCtx};
use crate::durable::Pending;
use crate::store::{
    Delivery, Event, EventKind, HistoryEntry, HistoryKind, NewWorkflow, ParentLink, StepCommit,
    StepOutcome, StoreError, TimerRow, WorkflowStatus,
};

/// The sequence number of the timer that ends a cancelled run's grace period: past any a
/// workflow's code can allocate, and the greatest a SQL store keeps.
pub(crate) const GRACE_SEQ: u64 = i64::MAX as u64;

/// The sequence number of the timer that ends a run's execution timeout
/// ([`crate::StartOptions::timeout`]), set when the run is created: the one below
/// [`GRACE_SEQ`].
pub(crate) const TIMEOUT_SEQ: u64 = GRACE_SEQ - 1;

/// Whether timer `seq` is one of the run's own (the end of a cancel's grace period, of its
/// execution timeout) rather than one its code waits on: such a timer fires as an event,
/// which the cancel step reads from the inbox.
pub(crate) fn run_timer(seq: u64) -> bool {
    seq == GRACE_SEQ || seq == TIMEOUT_SEQ
}

/// The timers a run created at `now_ms` holds from its creation: the end of its execution
/// timeout of `timeout_ms`, if it has one (a start's, a child call's, a schedule's runs').
pub(crate) fn timeout_timers(now_ms: u64, timeout_ms: Option<u64>) -> Vec<TimerRow> {
    timeout_ms
        .map(|t| TimerRow {
            seq: TIMEOUT_SEQ,
            fire_at_ms: now_ms.saturating_add(t).min(i64::MAX as u64),
        })
        .into_iter()
        .collect()
}

/// The reason of the cancel request that the end of a run's execution timeout makes.
pub(crate) const TIMED_OUT: &str = "its execution timeout ran out";

/// The event that tells the parent of a run how the run ended (`None`: it has no parent).
pub(crate) fn tell_parent(
    parent: Option<&ParentLink>,
    id: &str,
    result: Result<Vec<u8>, ChildError>,
) -> Option<Delivery> {
    let _ = id;
    parent.map(|p| {
        Delivery::new(
            p.id.clone(),
            EventKind::ChildFinished { seq: p.seq, result },
        )
    })
}

/// What the child runs that `pending` waits for are sent when their parent stops waiting
/// (because it was stopped outright, or a `select` decided for another branch), by their
/// [`ParentClose`] policies: a cancel request with `grace_ms`, or a stop at
/// once (a parked child, which cannot take a request, is then terminated:
/// [`super::Client::terminate_parked`]).
///
/// `children` are `(call, child id, policy)`: each request goes only to the child of that
/// call (see [`Delivery::child_call`]), not to another run that holds the id.
pub(crate) fn close_children<'a>(
    children: impl IntoIterator<Item = (u64, &'a str, ParentClose)>,
    reason: &str,
    grace_ms: u64,
) -> Vec<Delivery> {
    children
        .into_iter()
        .filter_map(|(seq, id, close)| {
            let grace_ms = match close {
                ParentClose::Terminate => 0,
                ParentClose::RequestCancel => grace_ms.max(1),
                ParentClose::Abandon => return None,
            };
            Some(Delivery {
                to: id.to_string(),
                kind: EventKind::CancelRequested {
                    reason: reason.to_string(),
                    grace_ms,
                },
                child_call: Some(seq),
            })
        })
        .collect()
}

/// The runs that run `from`'s `deliver` sends a cancel request to (the children a step
/// closes by their policies), with the request's reason and the link a child of that call
/// has: those parked are then terminated ([`super::Client::terminate_parked`]).
pub(crate) fn told_to_close(from: &str, deliver: &[Delivery]) -> Vec<Told> {
    deliver
        .iter()
        .filter_map(|d| match &d.kind {
            EventKind::CancelRequested { reason, .. } => Some(Told {
                id: d.to.clone(),
                reason: reason.clone(),
                timed_out: false,
                child_of: d.child_call.map(|seq| ParentLink {
                    id: from.to_string(),
                    seq,
                }),
            }),
            _ => None,
        })
        .collect()
}

/// A run sent a cancel request, to be terminated if it is parked (see [`told_to_close`]).
pub(crate) struct Told {
    /// The run.
    pub id: String,
    /// The request's reason.
    pub reason: String,
    /// Whether the stop is the end of the run's execution timeout (its parent is answered
    /// [`ChildError::TimedOut`] rather than [`ChildError::Cancelled`]).
    pub timed_out: bool,
    /// The link the run must have (a parent's close of a child): another run under the id is
    /// left alone.
    pub child_of: Option<ParentLink>,
}

/// What the parent of run `id`, stopped outright, is answered: that its execution timeout ran
/// out (`timed_out`), or that it was cancelled.
pub(crate) fn stopped_answer(id: &str, timed_out: bool) -> ChildError {
    let id = id.to_string();
    if timed_out {
        ChildError::TimedOut { id }
    } else {
        ChildError::Cancelled { id }
    }
}

/// The child calls of a wait: `(seq, child id, policy)`.
pub(crate) fn child_leaves(pending: Option<&Pending>) -> Vec<(u64, &str, ParentClose)> {
    pending
        .map(|p| {
            p.leaves()
                .into_iter()
                .filter_map(|l| match l {
                    Pending::Child { seq, id, close, .. } => Some((*seq, id.as_str(), *close)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What the step loop does with the cancel requests in a run's inbox.
pub(super) struct CancelStep {
    pub commit: StepCommit,
    /// The context the run goes on with (`None` when it is stopped).
    pub ctx: Option<CtxState>,
}

impl Inner {
    /// Puts in the step's `commit` the child runs that the new wait `pending` of run `id`
    /// calls and its old wait did not: the commit creates them ([`StepCommit::children`]),
    /// so a step whose commit fails starts none. A call that cannot start (its workflow is
    /// not registered here, its id is taken, its input is too large) is answered with its
    /// [`ChildError`] in the step's own commit, and starts nothing. A child that exists
    /// already as this call's child (awaited again after a wait on something else) is left
    /// as it is. A child starts on the version its call named (`versions`, by call; the
    /// newest registered for a call not in it).
    pub(super) async fn start_children(
        self: &Arc<Self>,
        id: &str,
        old: Option<&Pending>,
        pending: &Pending,
        calls: &[ChildNote],
        commit: &mut StepCommit,
    ) -> Result<(), StoreError> {
        let old_seqs: Vec<u64> = old
            .map(|p| p.leaves().iter().filter_map(|l| l.seq()).collect())
            .unwrap_or_default();
        for leaf in pending.leaves() {
            let Pending::Child {
                seq,
                name,
                id: child,
                input,
                ..
            } = leaf
            else {
                continue;
            };
            if old_seqs.contains(seq) {
                continue;
            }
            let refuse = |commit: &mut StepCommit, e: ChildError| {
                commit.deliver.push(Delivery::new(
                    id,
                    EventKind::ChildFinished {
                        seq: *seq,
                        result: Err(e),
                    },
                ))
            };
            let note = calls.iter().find(|n| n.seq == *seq);
            let named = note.map(|n| n.version);
            if let Some(v) = named
                && self.workflows.knows(name)
                && self.workflows.version(name, v).is_none()
            {
                refuse(
                    commit,
                    ChildError::NotStarted {
                        id: child.clone(),
                        reason: format!(
                            "the call names version {v} of workflow {name:?}, which is not \
                             registered with this runtime"
                        ),
                    },
                );
                continue;
            }
            let Some(code) = named
                .or_else(|| self.workflows.newest(name))
                .and_then(|v| self.workflows.version(name, v))
                .cloned()
            else {
                refuse(
                    commit,
                    ChildError::NotRegistered {
                        name: name.clone(),
                        id: child.clone(),
                    },
                );
                continue;
            };
            let limits = self.config.limits;
            let now = self.clock.now_ms();
            // An id the call gave is held to the rule of every id; one derived from the parent's
            // (`<parent>/<workflow>-<seq>`, a saga's compensations) may be longer, up to
            // `MAX_DERIVED_ID_BYTES`, so that a run whose id is near the limit has children.
            let refused = super::error::check_id(child, self.derived(id, name, *seq, child));
            let first = if let Err(reason) = refused {
                Err(format!("its id is refused: {reason}"))
            } else if input.len() > limits.max_input_bytes {
                Err(format!(
                    "its input is {} bytes, over the limit of {}",
                    input.len(),
                    limits.max_input_bytes
                ))
            } else {
                code.first_run(child, input, now).and_then(|first| {
                    if first.0.len() > limits.max_snapshot_bytes {
                        Err(format!(
                            "its first snapshot is {} bytes, over the limit of {}",
                            first.0.len(),
                            limits.max_snapshot_bytes
                        ))
                    } else {
                        Ok(first)
                    }
                })
            };
            let snapshot = match first {
                Ok((snapshot, ..)) => snapshot,
                Err(reason) => {
                    refuse(
                        commit,
                        ChildError::NotStarted {
                            id: child.clone(),
                            reason,
                        },
                    );
                    continue;
                }
            };
            let link = ParentLink {
                id: id.to_string(),
                seq: *seq,
            };
            // The id's run, if there is one: a look before the commit, for the answers the
            // commit cannot give (the commit refuses a taken id all the same).
            match self.store.load_workflow(child).await {
                Err(StoreError::NotFound(_)) => {}
                // Unreadable: the commit finds the id taken.
                Err(StoreError::Corrupt(_)) => {}
                Err(e) => return Err(e),
                // This call's own child: left as it is.
                Ok(existing) if existing.parent.as_ref() == Some(&link) => continue,
                Ok(existing)
                    if existing.parent.is_none()
                        && existing.status.is_finished()
                        && self.derived(id, name, *seq, child) =>
                {
                    // A finished run under an id this runtime derived, which no run is the
                    // parent of: the child of an earlier run under this run's id, whose purge
                    // cleared the link (a run started again under its id). Its id is free
                    // again, as Temporal lets a closed id be used again: without this, the
                    // new run's calls (and its saga's compensations) at the same numbers
                    // would all be refused. (Purged before the commit: should the commit fail,
                    // and the step run again not call it, the finished run's record is gone
                    // all the same.) That run and no other: a run created under the id since
                    // (a start from outside) stays, and the commit finds the id taken.
                    match self.store.purge_version(child, existing.version).await {
                        Ok(()) | Err(StoreError::NotFound(_) | StoreError::Conflict { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(_) => {
                    refuse(commit, ChildError::IdInUse { id: child.clone() });
                    continue;
                }
            }
            // Its execution timeout, a timer of its own from its creation, as a start's.
            let timeout_ms = note.and_then(|n| n.timeout_ms);
            let timers = timeout_timers(now, timeout_ms);
            // Created by the step's commit, so only if it commits (see `StepCommit::children`).
            commit.children.push(NewWorkflow {
                id: child.clone(),
                name: name.clone(),
                input: input.clone(),
                snapshot,
                now_ms: now,
                history: HistoryEntry::new(
                    now,
                    HistoryKind::Started,
                    match timeout_ms {
                        Some(t) => format!(
                            "started {name} as child #{seq} of {id}, to be stopped if it runs \
                             past {t} ms"
                        ),
                        None => format!("started {name} as child #{seq} of {id}"),
                    },
                ),
                parent: Some(link),
                parent_version: None,
                signals: Vec::new(),
                timers,
            });
        }
        Ok(())
    }

    /// Whether `child` is the id this runtime derives for call `seq` of run `id` calling
    /// workflow `name` (a call that named no id, or a saga's compensation).
    fn derived(&self, id: &str, name: &str, seq: u64, child: &str) -> bool {
        let short = match name {
            crate::saga::COMPENSATE_WORKFLOW => "compensate",
            other => other,
        };
        child == crate::child::derived_id(id, short, seq)
    }

    /// The commit that takes the cancel requests in `inbox` (and the end of a grace period,
    /// and of the run's timeout), if there are any: a stop whatever the run waits on; the
    /// others once it waits on something (it has taken its first step):
    ///
    /// - the first request tells the code: the context records it
    ///   ([`WorkflowCtx::is_cancelled`]), the await in progress is interrupted (an activity
    ///   call is answered with an error of kind `Cancelled`, a timer fires now, a child call
    ///   passes the request on to its child unless its policy is [`ParentClose::Abandon`]),
    ///   and a timer starts the grace period;
    /// - a request with no grace period, or the end of the grace period, stops the run
    ///   outright, as [`crate::Client::terminate`];
    /// - a later request with a grace period changes nothing but the history.
    pub(super) fn cancel_step(
        &self,
        id: &str,
        c: &Cached,
        inbox: &[Event],
        fresh: &[Fresh],
    ) -> Option<CancelStep> {
        // A run that waits on nothing (before its first step, or just after it continued as
        // new) is stopped as any other; a request to cancel waits for its next wait.
        let pending = c.pending.as_ref();
        // The end of the run's timeout is a request with no grace period: a stop.
        let requests: Vec<(&Event, &str, u64)> = inbox
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::CancelRequested { reason, grace_ms } => {
                    Some((e, reason.as_str(), *grace_ms))
                }
                EventKind::TimerFired { seq } if *seq == TIMEOUT_SEQ => Some((e, TIMED_OUT, 0)),
                _ => None,
            })
            .collect();
        let is_timeout =
            |e: &Event| matches!(e.kind, EventKind::TimerFired { seq } if seq == TIMEOUT_SEQ);
        let grace_over = inbox
            .iter()
            .find(|e| matches!(e.kind, EventKind::TimerFired { seq } if seq == GRACE_SEQ));
        if requests.is_empty() && grace_over.is_none() {
            return None;
        }
        let now = self.clock.now_ms();
        let ctx = c.ctx.state();
        let mut commit = StepCommit {
            children: Vec::new(),
            workflow_id: id.to_string(),
            run_key: c.run_key,
            expected_version: c.version,
            now_ms: now,
            outcome: StepOutcome::Cancelled,
            consumed_events: requests.iter().map(|(e, ..)| e.id).collect(),
            completed_tasks: Vec::new(),
            cancelled: Vec::new(),
            fired_timers: Vec::new(),
            seen_events_upto: c.seen_upto,
            keep_ready: true,
            history: Vec::new(),
            deliver: Vec::new(),
        };
        // The first stop in the inbox: the end of the grace period, a request with no grace
        // period, or the end of the run's timeout (which its parent is told of as such).
        let first_request = requests.iter().find(|(.., grace)| *grace == 0);
        let stop = match (grace_over, first_request) {
            (Some(g), Some((e, ..))) if e.id < g.id => first_request,
            (Some(_), _) => None,
            (None, r) => r,
        }
        .map(|(e, reason, _)| (format!("terminated: {reason}"), is_timeout(e)))
        .or_else(|| {
            grace_over.map(|_| {
                (
                    "its grace period after a cancel request ran out".to_string(),
                    false,
                )
            })
        });
        if let Some((why, timed_out)) = stop {
            commit.history = vec![HistoryEntry::new(now, HistoryKind::Terminated, why.clone())];
            commit.deliver = self.stop_deliveries(id, c.parent.as_ref(), pending, &why, timed_out);
            return Some(CancelStep { commit, ctx: None });
        }
        let pending = pending?;
        let snapshot = |ctx: &CtxState| c.workflow.encode_state(&c.state, c.step, ctx).ok();
        let pending_bytes = postcard::to_stdvec(pending).ok()?;
        if ctx.cancelled_at.is_some() {
            let reasons: Vec<&str> = requests.iter().map(|(_, r, _)| *r).collect();
            commit.history = vec![HistoryEntry::new(
                now,
                HistoryKind::CancelRequested,
                format!(
                    "cancel requested again ({}): the run is cancelling already",
                    reasons.join("; ")
                ),
            )];
            commit.outcome = StepOutcome::Suspended {
                snapshot: snapshot(&ctx)?,
                pending: pending_bytes,
                tasks: Vec::new(),
                timers: Vec::new(),
            };
            return Some(CancelStep {
                commit,
                ctx: Some(ctx),
            });
        }
        let (first, reason, grace_ms) = requests[0];
        let cancelled_ctx = ctx.clone().with_cancel_requested(first.at_ms);
        // The leaves already answered (by an event in the inbox or a result in hand) keep
        // their answers.
        let answered = |seq: u64| {
            fresh.iter().any(|f| f.seq == seq)
                || inbox.iter().any(|e| match &e.kind {
                    EventKind::ActivityCompleted { seq: s, .. }
                    | EventKind::TimerFired { seq: s }
                    | EventKind::ChildFinished { seq: s, .. } => *s == seq,
                    _ => false,
                })
        };
        let mut interrupted = Vec::new();
        for leaf in pending.leaves() {
            let Some(seq) = leaf.seq() else { continue };
            if answered(seq) {
                continue;
            }
            let mine = |kind| Delivery::new(id, kind);
            match leaf {
                Pending::Activity { name, .. } => {
                    commit.cancelled.push(seq);
                    commit.deliver.push(mine(EventKind::ActivityCompleted {
                        seq,
                        result: Err(ActivityError::new(
                            ActivityErrorKind::Cancelled,
                            format!("the run was cancelled while it waited for activity {name}"),
                        )),
                    }));
                    interrupted.push(format!("activity {name}#{seq}"));
                }
                Pending::Timer { .. } => {
                    commit.cancelled.push(seq);
                    commit.deliver.push(mine(EventKind::TimerFired { seq }));
                    interrupted.push(format!("timer#{seq}"));
                }
                // A saga's compensations go on: undoing is what a cancelled run does.
                Pending::Child { name, .. } if name == crate::saga::COMPENSATE_WORKFLOW => {}
                Pending::Child {
                    name,
                    id: child,
                    close,
                    ..
                } => {
                    let why = format!("its parent {id} was cancelled: {reason}");
                    if *close == ParentClose::Abandon {
                        commit.deliver.push(mine(EventKind::ChildFinished {
                            seq,
                            result: Err(ChildError::Abandoned { id: child.clone() }),
                        }));
                    } else {
                        // The request is passed on under `Terminate` too, as Temporal passes a
                        // cancelled parent's request on to its children: the child's code is
                        // told and may compensate, and the parent waits for its end. The
                        // policy applies when the parent stops waiting (it ends, is stopped
                        // outright, or its grace period runs out).
                        commit.deliver.extend(close_children(
                            [(seq, child.as_str(), ParentClose::RequestCancel)],
                            &why,
                            grace_ms,
                        ));
                    }
                    interrupted.push(format!("child {name}#{seq} ({child}, {close:?})"));
                }
                Pending::Signal { .. } | Pending::Join(_) | Pending::Select(_) => {}
            }
        }
        commit.history = vec![HistoryEntry::new(
            now,
            HistoryKind::CancelRequested,
            format!(
                "cancel requested: {reason}; interrupted: {}; stopped outright in {} ms unless it ends",
                if interrupted.is_empty() {
                    "nothing".to_string()
                } else {
                    interrupted.join(", ")
                },
                grace_ms
            ),
        )];
        commit.outcome = StepOutcome::Suspended {
            snapshot: snapshot(&cancelled_ctx)?,
            pending: pending_bytes,
            tasks: Vec::new(),
            timers: vec![TimerRow {
                seq: GRACE_SEQ,
                fire_at_ms: now.saturating_add(grace_ms),
            }],
        };
        Some(CancelStep {
            commit,
            ctx: Some(cancelled_ctx),
        })
    }

    /// What a run stopped outright sends: its parent is told it was cancelled, its children
    /// are sent what their policies say.
    pub(crate) fn stop_deliveries(
        &self,
        id: &str,
        parent: Option<&ParentLink>,
        pending: Option<&Pending>,
        why: &str,
        timed_out: bool,
    ) -> Vec<Delivery> {
        let mut out: Vec<Delivery> = tell_parent(parent, id, Err(stopped_answer(id, timed_out)))
            .into_iter()
            .collect();
        let children = child_leaves(pending);
        out.extend(close_children(
            children
                .iter()
                .map(|(seq, child, close)| (*seq, *child, *close)),
            &format!("its parent {id} was stopped: {why}"),
            self.config.cancel_grace_ms,
        ));
        out
    }

    /// What a run that ends with `status` tells its parent: its output, or that it was
    /// cancelled.
    pub(super) fn ended_deliveries(
        &self,
        id: &str,
        parent: Option<&ParentLink>,
        status: WorkflowStatus,
        output: &[u8],
    ) -> Option<Delivery> {
        let result = match status {
            WorkflowStatus::Cancelled => Err(ChildError::Cancelled { id: id.to_string() }),
            _ => Ok(output.to_vec()),
        };
        tell_parent(parent, id, result)
    }

    /// Makes `ctx` the context of the cached run `c` after a cancel step committed.
    pub(super) fn cancelled(c: &mut Cached, id: &str, ctx: CtxState) {
        c.ctx = WorkflowCtx::new(id, ctx);
    }
}

// What a run that continues as new keeps of its timers is these two.
const _: () = assert!(
    crate::store::CONTINUED_TIMERS[0] == TIMEOUT_SEQ
        && crate::store::CONTINUED_TIMERS[1] == GRACE_SEQ
);
