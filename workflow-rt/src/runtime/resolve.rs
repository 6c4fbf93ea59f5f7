//! Resolving a workflow's wait against what has arrived: stored events and results a local
//! worker has just produced.

use std::fmt::Write as _;

use crate::activity::ActivityError;
use crate::child::ParentClose;
use crate::durable::{Pending, Resolution, oldest_signals_to_used};
use crate::store::{Event, EventKind, TaskAttempt};

/// An activity's final result, straight from a worker of this runtime, or a due timer read
/// with its workflow ([`crate::store::Store::due_timers`]): not stored as an event, but
/// consumed by the step that it wakes (which deletes the task, or the timer, in the same
/// commit).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fresh {
    pub seq: u64,
    /// Its call's [`crate::store::ActivityTask::scheduled_version`] (which run's call it
    /// is): part of the fence.
    pub scheduled_version: u64,
    /// The attempt that produced it (run by this worker): the fence on the result.
    pub attempt: u32,
    pub at_ms: u64,
    pub result: Result<Vec<u8>, ActivityError>,
    /// A timer's firing (at `at_ms`, its fire time), not an activity's result.
    pub timer: bool,
}

impl Fresh {
    /// Timer `seq` of a workflow, due at `fire_at_ms`, fired.
    pub(crate) fn timer(seq: u64, fire_at_ms: u64) -> Self {
        Fresh {
            seq,
            scheduled_version: 0,
            attempt: 0,
            at_ms: fire_at_ms,
            result: Ok(Vec::new()),
            timer: true,
        }
    }

    /// The fence on this result, as committed with the step that consumes it.
    pub(crate) fn fence(&self, owner: &str) -> TaskAttempt {
        TaskAttempt {
            seq: self.seq,
            scheduled_version: self.scheduled_version,
            attempt: self.attempt,
            owner: owner.to_string(),
        }
    }
}

/// A resolved wait and what the step that takes it must commit.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resolved {
    pub resolution: Resolution,
    /// Inbox events used.
    pub consumed_events: Vec<u64>,
    /// Fresh results used: their tasks are deleted (if still at those attempts).
    pub completed_tasks: Vec<TaskAttempt>,
    /// Timers read due and used: deleted with the step.
    pub fired_timers: Vec<u64>,
    /// Activity, timer and child leaves of branches that lost a `Select`.
    pub cancelled: Vec<u64>,
    /// The child runs the wait stops waiting for while they have not ended (those of branches
    /// that lost a `Select`, and those that parked), with their parent-close policies.
    pub dropped_children: Vec<(u64, String, ParentClose)>,
    /// The time of the latest event used: the step's `ctx.now()`.
    pub woke_at: u64,
    /// What woke the step, for the history.
    pub woken_by: String,
    /// The due times of the timers whose firing the step takes, for the metrics.
    pub timers: Vec<u64>,
    /// The calls the resolution ends by their schedule-to-close deadline's timer: their
    /// errors count no attempt yet (the step counts them from the calls' tasks).
    pub deadline_ended: Vec<u64>,
}

#[derive(Clone, Copy)]
enum Source {
    Event(usize),
    Fresh(usize),
    /// Timer leaf `k` (of [`Pending::leaves`]), due and not fired yet: deleted with the step
    /// that takes it, as a fired one.
    Overdue(usize),
    /// Deadline timer `i` (of the due deadlines given), not fired yet: taken as fired.
    DueDeadline(usize),
}

/// The bit that marks the timer of a call's schedule-to-close deadline: the call's sequence
/// number with it set (sequence numbers are counted from 0 in a run; the cancel's grace timer,
/// [`super::compose::GRACE_SEQ`], and the end of the run's timeout are apart). A run's timers are stored by sequence number, so
/// the deadline's fires in the store whether or not a worker that has the activity leases the
/// call.
const DEADLINE_BIT: u64 = 1 << 62;

/// The sequence number of the timer of call `seq`'s schedule-to-close deadline.
pub(crate) fn deadline_timer(seq: u64) -> u64 {
    seq | DEADLINE_BIT
}

/// The call whose deadline timer `timer` is, if it is one.
pub(crate) fn deadline_of(timer: u64) -> Option<u64> {
    (timer & DEADLINE_BIT != 0 && !super::compose::run_timer(timer))
        .then_some(timer & !DEADLINE_BIT)
}

/// The deadline timer of activity leaf `leaf`, if its call has a schedule-to-close deadline.
fn deadline_timer_of(leaf: &Pending) -> Option<u64> {
    match leaf {
        Pending::Activity { seq, options, .. } if options.schedule_to_close.is_some() => {
            Some(deadline_timer(*seq))
        }
        _ => None,
    }
}

/// Whether resolving `pending` needs the stored timers of its calls' deadlines: it waits on
/// a call with a schedule-to-close deadline and on something else, which could arrive after
/// the deadline was due and before its timer fired (no runtime up at the time, or the timer
/// loop behind). A call waited on alone ends only by its result or its deadline's firing.
/// Only when something may be decided before such a deadline: anything arrived but the call's
/// own result or deadline's firing, when it is the only such call (an arrival for one call
/// could come after another's deadline), or a timer leaf due at `now_ms` (taken as fired).
pub(crate) fn wants_due_deadlines(
    pending: &Pending,
    fresh: &[Fresh],
    inbox: &[Event],
    now_ms: u64,
) -> bool {
    if !matches!(pending, Pending::Join(_) | Pending::Select(_)) {
        return false;
    }
    let leaves = pending.leaves();
    let mut bounded = leaves.iter().filter_map(|l| match l {
        Pending::Activity { seq, .. } if deadline_timer_of(l).is_some() => Some(*seq),
        _ => None,
    });
    let Some(only) = bounded.next() else {
        return false;
    };
    if bounded.next().is_some() {
        return !fresh.is_empty() || !inbox.is_empty() || has_due_timer(&leaves, now_ms);
    }
    fresh.iter().any(|f| f.timer || f.seq != only)
        || inbox.iter().any(|e| match e.kind {
            EventKind::ActivityCompleted { seq, .. } => seq != only,
            EventKind::TimerFired { seq } => deadline_of(seq) != Some(only),
            _ => true,
        })
        || has_due_timer(&leaves, now_ms)
}

/// Whether a timer leaf of `leaves` is due at `now_ms`.
fn has_due_timer(leaves: &[&Pending], now_ms: u64) -> bool {
    leaves
        .iter()
        .any(|l| matches!(l, Pending::Timer { fire_at, .. } if *fire_at <= now_ms))
}

/// What a call gets when its schedule-to-close deadline passes before it ends.
fn deadline_passed() -> ActivityError {
    ActivityError::new(
        crate::activity::ActivityErrorKind::ScheduleToCloseTimeout,
        "the call reached its schedule-to-close deadline before it ended",
    )
}

/// Visits the errors `resolution` gives the calls `calls` of `pending` (those their deadline's
/// timer ended, [`Resolved::deadline_ended`]), with each call's sequence number.
pub(crate) fn errors_of_calls(
    pending: &Pending,
    resolution: &mut Resolution,
    calls: &[u64],
    visit: &mut dyn FnMut(u64, &mut ActivityError),
) {
    match (pending, resolution) {
        (Pending::Activity { seq, .. }, Resolution::Activity(Err(e))) if calls.contains(seq) => {
            visit(*seq, e)
        }
        (Pending::Join(ps), Resolution::Join(rs)) => {
            for (p, r) in ps.iter().zip(rs.iter_mut()) {
                errors_of_calls(p, r, calls, visit);
            }
        }
        (Pending::Select(ps), Resolution::Select(i, r)) => {
            if let Some(p) = ps.get(*i as usize) {
                errors_of_calls(p, r, calls, visit);
            }
        }
        _ => {}
    }
}

/// Whether the wait includes a signal (which may already be buffered).
pub(crate) fn has_signal(p: &Pending) -> bool {
    match p {
        Pending::Signal { .. } => true,
        Pending::Join(v) | Pending::Select(v) => v.iter().any(has_signal),
        _ => false,
    }
}

/// Resolves `pending` the way events would have resolved it one by one, in the order they
/// arrived (stored events by id, then fresh results, a timer at its due time: before anything
/// that came after it, whenever it was fired, and even if it was not fired yet once it is due
/// at `now_ms`): each event goes to its leaf (a signal to the first waiting leaf of its name,
/// in tree order), and after each one the tree is checked with [`Pending::try_resolve`], the
/// resolver the test driver uses too. The first event that completes the tree decides it: so
/// of a signal and a timer, the one that came first wins. A signal taken by a leaf of a losing
/// branch is not consumed; it stays buffered. What the workflow receives of one name is the
/// oldest of that name: a later signal that completed a branch is swapped for an older one a
/// losing branch held ([`oldest_signals_first`]), which then stays buffered in its place.
#[cfg(test)]
pub(crate) fn resolve(
    pending: &Pending,
    fresh: &[Fresh],
    inbox: &[Event],
    owner: &str,
    now_ms: u64,
) -> Option<Resolved> {
    resolve_with(pending, fresh, inbox, owner, now_ms, &[])
}

/// [`resolve`], with the stored timers of the wait's calls' deadlines that are due at `now_ms`
/// (`(timer seq, fire time)`; see [`wants_due_deadlines`]): one not fired yet is taken as
/// fired, at its due time, as a due timer leaf is.
pub(crate) fn resolve_with(
    pending: &Pending,
    fresh: &[Fresh],
    inbox: &[Event],
    owner: &str,
    now_ms: u64,
    deadlines: &[(u64, u64)],
) -> Option<Resolved> {
    // The common case, one call whose result a worker just produced: no bookkeeping. (The
    // result is copied, not taken: if the step's commit conflicts, it is needed again.)
    if let Pending::Activity { seq, name, .. } = pending
        && let Some(f) = fresh.iter().find(|f| f.seq == *seq && !f.timer)
        && !inbox
            .iter()
            .any(|e| matches!(e.kind, EventKind::ActivityCompleted { seq: s, .. } if s == *seq))
    {
        let mut woken_by = String::with_capacity(64);
        let _ = write!(
            woken_by,
            "activity {name}#{seq} {}",
            if f.result.is_ok() { "ok" } else { "failed" }
        );
        return Some(Resolved {
            resolution: Resolution::Activity(f.result.clone()),
            consumed_events: Vec::new(),
            completed_tasks: vec![f.fence(owner)],
            fired_timers: Vec::new(),
            // Its deadline's timer, if it has one, goes with it.
            cancelled: deadline_timer_of(pending).into_iter().collect(),
            dropped_children: Vec::new(),
            woke_at: f.at_ms,
            woken_by,
            timers: Vec::new(),
            deadline_ended: Vec::new(),
        });
    }
    let leaves = pending.leaves();
    let index_of = |node: &Pending| leaves.iter().position(|l| std::ptr::eq(*l, node));
    let mut filled: Vec<Option<(Resolution, Source)>> = vec![None; leaves.len()];
    // Leaves below a `select` that another branch has won: they never complete, and what
    // comes for one is left where it is (a signal stays in the inbox), whatever its place.
    let mut closed = vec![false; leaves.len()];
    // A wait complete with nothing come (a join of no calls, a select with such a branch):
    // resolved now, as the test driver resolves it. Nothing else could: no arrival answers it.
    if let Some(resolution) = pending.try_resolve(&mut |_| None) {
        let mut out = account(
            pending, resolution, &leaves, &filled, fresh, inbox, owner, deadlines,
        );
        out.woken_by.push_str("a wait complete at once");
        return Some(out);
    }
    let open_leaf = |filled: &[Option<(Resolution, Source)>],
                     closed: &[bool],
                     want: &dyn Fn(&Pending) -> bool| {
        leaves
            .iter()
            .enumerate()
            .position(|(k, l)| filled[k].is_none() && !closed[k] && want(l))
    };
    let arrivals = in_time_order(&leaves, fresh, inbox, now_ms, deadlines);
    for src in arrivals {
        let slot = match src {
            Source::Event(i) => match &inbox[i].kind {
                EventKind::ActivityCompleted { seq, result } => open_leaf(
                    &filled,
                    &closed,
                    &|l| matches!(l, Pending::Activity { seq: s, .. } if s == seq),
                )
                .map(|k| (k, Resolution::Activity(result.clone()))),
                EventKind::TimerFired { seq } => match deadline_of(*seq) {
                    // A call's schedule-to-close deadline: the call ends with its timeout.
                    Some(call) => open_leaf(
                        &filled,
                        &closed,
                        &|l| matches!(l, Pending::Activity { seq: s, .. } if *s == call),
                    )
                    .map(|k| (k, Resolution::Activity(Err(deadline_passed())))),
                    None => open_leaf(
                        &filled,
                        &closed,
                        &|l| matches!(l, Pending::Timer { seq: s, .. } if s == seq),
                    )
                    .map(|k| (k, Resolution::Timer)),
                },
                EventKind::ChildFinished { seq, result } => open_leaf(
                    &filled,
                    &closed,
                    &|l| matches!(l, Pending::Child { seq: s, .. } if s == seq),
                )
                .map(|k| (k, Resolution::Child(result.clone()))),
                // Not an answer to a leaf: the step loop takes it before it resolves anything.
                EventKind::CancelRequested { .. } => None,
                EventKind::Signal {
                    name,
                    payload,
                    type_tag,
                } => open_leaf(
                    &filled,
                    &closed,
                    &|l| matches!(l, Pending::Signal { name: n, .. } if n == name),
                )
                .map(|k| {
                    (
                        k,
                        Resolution::Signal {
                            event: inbox[i].id,
                            payload: payload.clone(),
                            type_tag: *type_tag,
                        },
                    )
                }),
            },
            Source::Fresh(i) if fresh[i].timer => {
                let seq = fresh[i].seq;
                open_leaf(
                    &filled,
                    &closed,
                    &|l| matches!(l, Pending::Timer { seq: s, .. } if *s == seq),
                )
                .map(|k| (k, Resolution::Timer))
            }
            Source::Fresh(i) => {
                let seq = fresh[i].seq;
                open_leaf(
                    &filled,
                    &closed,
                    &|l| matches!(l, Pending::Activity { seq: s, .. } if *s == seq),
                )
                .map(|k| (k, Resolution::Activity(fresh[i].result.clone())))
            }
            Source::Overdue(k) => {
                (filled[k].is_none() && !closed[k]).then_some((k, Resolution::Timer))
            }
            Source::DueDeadline(i) => {
                let call = deadline_of(deadlines[i].0);
                open_leaf(
                    &filled,
                    &closed,
                    &|l| matches!(l, Pending::Activity { seq: s, .. } if Some(*s) == call),
                )
                .map(|k| (k, Resolution::Activity(Err(deadline_passed()))))
            }
        };
        let Some((k, r)) = slot else { continue };
        filled[k] = Some((r, src));
        let resolution = pending.try_resolve(&mut |leaf| {
            index_of(leaf).and_then(|k| filled[k].as_ref().map(|(r, _)| r.clone()))
        });
        if let Some(resolution) = resolution {
            let (resolution, woke_at) =
                match oldest_signals_first(pending, &resolution, &leaves, &mut filled, inbox) {
                    Some(again) => again,
                    None => (resolution, 0),
                };
            let mut out = account(
                pending, resolution, &leaves, &filled, fresh, inbox, owner, deadlines,
            );
            out.woke_at = out.woke_at.max(woke_at);
            return Some(out);
        }
        close_lost(pending, &|leaf| index_of(leaf), &filled, &mut closed);
    }
    None
}

/// Gives the leaves `resolution` uses the oldest signals of their name that the wait's leaves
/// took ([`oldest_signals_to_used`]), and resolves the tree again: the same leaves are filled,
/// so it resolves the same way. `None` when nothing moves. The time returned is the latest
/// arrival among the signals the used leaves held before: the wait was complete only then
/// (the workflow's clock reads it).
fn oldest_signals_first(
    pending: &Pending,
    resolution: &Resolution,
    leaves: &[&Pending],
    filled: &mut [Option<(Resolution, Source)>],
    inbox: &[Event],
) -> Option<(Resolution, u64)> {
    let held: Vec<(usize, &str, usize)> = leaves
        .iter()
        .enumerate()
        .filter_map(|(k, leaf)| match (leaf, &filled[k]) {
            (Pending::Signal { name, .. }, Some((_, Source::Event(i)))) => {
                Some((k, name.as_str(), *i))
            }
            _ => None,
        })
        .collect();
    if held.len() < 2 {
        return None;
    }
    let mut used = Vec::new();
    collect_used(pending, resolution, &mut used);
    let is_used = |k: usize| used.iter().any(|u| std::ptr::eq(*u, leaves[k]));
    let keys: Vec<(&str, bool, u64)> = held
        .iter()
        .map(|&(k, name, i)| (name, is_used(k), inbox[i].id))
        .collect();
    let from = oldest_signals_to_used(&keys)?;
    let complete_at = held
        .iter()
        .filter(|&&(k, ..)| is_used(k))
        .map(|&(_, _, i)| inbox[i].at_ms)
        .max()
        .unwrap_or(0);
    let mut swapped = filled.to_vec();
    for (n, &(k, ..)) in held.iter().enumerate() {
        swapped[k] = filled[held[from[n]].0].clone();
    }
    let again = pending.try_resolve(&mut |leaf| {
        let k = leaves.iter().position(|l| std::ptr::eq(*l, leaf))?;
        swapped[k].as_ref().map(|(r, _)| r.clone())
    })?;
    filled.clone_from_slice(&swapped);
    Some((again, complete_at))
}

/// The order in which what arrived is taken: stored events by id, then fresh results, each
/// timer (fired, as a stored event or a fresh one, or due at `now_ms` and not fired yet) at its
/// due time, before the first of those that came after it. A timer fires late when its
/// runtime was down or behind, and a signal sent meanwhile came after it all the same.
fn in_time_order(
    leaves: &[&Pending],
    fresh: &[Fresh],
    inbox: &[Event],
    now_ms: u64,
    deadlines: &[(u64, u64)],
) -> Vec<Source> {
    // The wait on one thing woken by one thing (a timer's firing, most often).
    if leaves.len() == 1 && inbox.len() + fresh.len() == 1 {
        return vec![match inbox.is_empty() {
            true => Source::Fresh(0),
            false => Source::Event(0),
        }];
    }
    let due = |seq: u64| {
        leaves.iter().find_map(|l| match l {
            Pending::Timer { seq: s, fire_at } if *s == seq => Some(*fire_at),
            _ => None,
        })
    };
    let mut timers: Vec<(u64, Source)> = Vec::new();
    let mut rest: Vec<(u64, Source)> = Vec::new();
    // A call's deadline timer is no leaf: its due time is the one its firing carries (a timer
    // fires as of its due time; a deadline's always comes as a stored event).
    let deadline = |seq: u64, at: u64| deadline_of(seq).map(|_| at);
    for (i, e) in inbox.iter().enumerate() {
        let timer = match e.kind {
            EventKind::TimerFired { seq } => due(seq).or_else(|| deadline(seq, e.at_ms)),
            _ => None,
        };
        match timer {
            Some(at) => timers.push((at, Source::Event(i))),
            None => rest.push((e.at_ms, Source::Event(i))),
        }
    }
    for (i, f) in fresh.iter().enumerate() {
        match due(f.seq).filter(|_| f.timer) {
            Some(at) => timers.push((at, Source::Fresh(i))),
            None => rest.push((f.at_ms, Source::Fresh(i))),
        }
    }
    if timers.is_empty()
        && deadlines.is_empty()
        && !leaves.iter().any(|l| matches!(l, Pending::Timer { .. }))
    {
        return rest.into_iter().map(|(_, s)| s).collect();
    }
    let arrived = |seq: u64| {
        inbox
            .iter()
            .any(|e| matches!(e.kind, EventKind::TimerFired { seq: s } if s == seq))
            || fresh.iter().any(|f| f.timer && f.seq == seq)
    };
    for (k, l) in leaves.iter().enumerate() {
        if let Pending::Timer { seq, fire_at } = l
            && *fire_at <= now_ms
            && !arrived(*seq)
        {
            timers.push((*fire_at, Source::Overdue(k)));
        }
    }
    // A call's result that is here came before its deadline's timer was due (an attempt
    // running at the deadline ends itself, a second before the timer): the deadline does not
    // beat it.
    let answered = |call: u64| {
        inbox
            .iter()
            .any(|e| matches!(e.kind, EventKind::ActivityCompleted { seq, .. } if seq == call))
            || fresh.iter().any(|f| !f.timer && f.seq == call)
    };
    for (i, &(seq, fire_at)) in deadlines.iter().enumerate() {
        if fire_at <= now_ms && !arrived(seq) && deadline_of(seq).is_some_and(|c| !answered(c)) {
            timers.push((fire_at, Source::DueDeadline(i)));
        }
    }
    timers.sort_by_key(|&(at, _)| at);
    let mut order = Vec::with_capacity(timers.len() + rest.len());
    let mut timers = timers.into_iter().peekable();
    for (at, src) in rest {
        while let Some((_, t)) = timers.next_if(|&(due, _)| due <= at) {
            order.push(t);
        }
        order.push(src);
    }
    order.extend(timers.map(|(_, t)| t));
    order
}

/// Whether `node` is complete once the leaves `filled` answers for have come.
fn complete(node: &Pending, filled: &dyn Fn(&Pending) -> bool) -> bool {
    match node {
        Pending::Join(children) => children.iter().all(|c| complete(c, filled)),
        Pending::Select(children) => children.iter().any(|c| complete(c, filled)),
        leaf => filled(leaf),
    }
}

/// Closes the open leaves below every `select` of `node` that a branch has won, as the test
/// driver cancels them ([`crate::testing`]): a `select` inside a `join` is decided by the
/// branch that completed first, not by the lowest branch complete when the `join` is.
fn close_lost(
    node: &Pending,
    index_of: &dyn Fn(&Pending) -> Option<usize>,
    filled: &[Option<(Resolution, Source)>],
    closed: &mut [bool],
) {
    match node {
        Pending::Join(children) => children
            .iter()
            .for_each(|c| close_lost(c, index_of, filled, closed)),
        Pending::Select(children) => {
            let is_filled = |leaf: &Pending| index_of(leaf).is_some_and(|k| filled[k].is_some());
            if complete(node, &is_filled) {
                for leaf in node.leaves() {
                    if let Some(k) = index_of(leaf).filter(|&k| filled[k].is_none()) {
                        closed[k] = true;
                    }
                }
            } else {
                children
                    .iter()
                    .for_each(|c| close_lost(c, index_of, filled, closed));
            }
        }
        _ => {}
    }
}

/// What the step that takes `resolution` consumes and cancels.
#[allow(clippy::too_many_arguments)]
fn account(
    pending: &Pending,
    resolution: Resolution,
    leaves: &[&Pending],
    filled: &[Option<(Resolution, Source)>],
    fresh: &[Fresh],
    inbox: &[Event],
    owner: &str,
    deadlines: &[(u64, u64)],
) -> Resolved {
    let mut used = Vec::new();
    collect_used(pending, &resolution, &mut used);
    let mut out = Resolved {
        resolution,
        consumed_events: Vec::new(),
        completed_tasks: Vec::new(),
        fired_timers: Vec::new(),
        cancelled: Vec::new(),
        dropped_children: Vec::new(),
        woke_at: 0,
        woken_by: String::new(),
        timers: Vec::new(),
        deadline_ended: Vec::new(),
    };
    for (k, leaf) in leaves.iter().enumerate() {
        let is_used = used.iter().any(|u| std::ptr::eq(*u, *leaf));
        if !is_used {
            // A child the wait stops waiting for that has not ended (no answer yet, or
            // parked) gets its policy.
            if let Pending::Child { seq, id, close, .. } = leaf
                && matches!(
                    &filled[k],
                    None | Some((Resolution::Child(Err(crate::ChildError::Parked { .. })), _))
                )
            {
                out.dropped_children.push((*seq, id.clone(), *close));
            }
            if matches!(
                leaf,
                Pending::Activity { .. } | Pending::Timer { .. } | Pending::Child { .. }
            ) && let Some(seq) = leaf.seq()
            {
                out.cancelled.push(seq);
            }
            out.cancelled.extend(deadline_timer_of(leaf));
            continue;
        }
        let Some((answer, src)) = &filled[k] else {
            continue;
        };
        // A child that parked: the parent stops waiting for it, and it gets what the call's
        // policy says, as the child of a branch a `select` dropped does.
        if let (
            Pending::Child { seq, id, close, .. },
            Resolution::Child(Err(crate::ChildError::Parked { .. })),
        ) = (leaf, answer)
        {
            out.dropped_children.push((*seq, id.clone(), *close));
        }
        if let Some(timer) = deadline_timer_of(leaf) {
            match *src {
                // Ended by its deadline: the call is dropped (its task deleted, a running
                // attempt told), as a cancelled one is.
                Source::Event(i) if matches!(inbox[i].kind, EventKind::TimerFired { .. }) => {
                    out.cancelled.extend(leaf.seq());
                    out.deadline_ended.extend(leaf.seq());
                }
                // Its deadline's timer, due and not fired, goes with it.
                Source::DueDeadline(_) => {
                    out.cancelled.extend(leaf.seq());
                    out.deadline_ended.extend(leaf.seq());
                    out.cancelled.push(timer);
                }
                _ => out.cancelled.push(timer),
            }
        }
        let (at, ok) = match *src {
            Source::Event(i) => {
                out.consumed_events.push(inbox[i].id);
                (
                    inbox[i].at_ms,
                    match inbox[i].kind {
                        EventKind::ActivityCompleted { result: Err(_), .. }
                        | EventKind::ChildFinished { result: Err(_), .. } => false,
                        // A call's deadline: it failed.
                        EventKind::TimerFired { .. } => !matches!(leaf, Pending::Activity { .. }),
                        _ => true,
                    },
                )
            }
            Source::Fresh(i) => {
                if fresh[i].timer {
                    out.fired_timers.push(fresh[i].seq);
                } else {
                    out.completed_tasks.push(fresh[i].fence(owner));
                }
                (fresh[i].at_ms, fresh[i].result.is_ok())
            }
            Source::Overdue(_) => match leaf {
                Pending::Timer { seq, fire_at } => {
                    out.fired_timers.push(*seq);
                    (*fire_at, true)
                }
                _ => (0, true),
            },
            Source::DueDeadline(i) => (deadlines[i].1, false),
        };
        out.woke_at = out.woke_at.max(at);
        if !out.woken_by.is_empty() {
            out.woken_by.push_str(", ");
        }
        let seq = leaf.seq().unwrap_or(0);
        // Written in place (every step's path): no string of its own per wake.
        let w = &mut out.woken_by;
        let _ = match leaf {
            Pending::Activity { name, .. } => {
                write!(
                    w,
                    "activity {name}#{seq} {}",
                    if ok { "ok" } else { "failed" }
                )
            }
            Pending::Timer { fire_at, .. } => {
                out.timers.push(*fire_at);
                write!(w, "timer#{seq}")
            }
            Pending::Signal { name, .. } => write!(w, "signal {name}#{seq}"),
            Pending::Child { name, id, .. } => write!(
                w,
                "child {name}#{seq} ({id}) {}",
                if ok { "ended" } else { "failed" }
            ),
            Pending::Join(_) | Pending::Select(_) => Ok(()),
        };
    }
    out
}

fn collect_used<'a>(p: &'a Pending, r: &Resolution, out: &mut Vec<&'a Pending>) {
    match (p, r) {
        (Pending::Join(ps), Resolution::Join(rs)) => {
            for (p, r) in ps.iter().zip(rs) {
                collect_used(p, r, out);
            }
        }
        (Pending::Select(ps), Resolution::Select(i, r)) => {
            if let Some(p) = ps.get(*i as usize) {
                collect_used(p, r, out);
            }
        }
        (leaf, _) => out.push(leaf),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::ActivityOptions;

    fn act(seq: u64) -> Pending {
        Pending::Activity {
            seq,
            name: "a".into(),
            input: vec![],
            options: ActivityOptions::default(),
        }
    }
    fn sig(seq: u64, name: &str) -> Pending {
        Pending::Signal {
            seq,
            name: name.into(),
        }
    }
    fn signal(id: u64, name: &str, payload: u8) -> Event {
        Event {
            id,
            at_ms: id * 10,
            kind: EventKind::Signal {
                name: name.into(),
                payload: vec![payload],
                type_tag: None,
            },
        }
    }

    #[test]
    fn each_signal_in_the_resolution_names_its_event() {
        // Leaves: act 0 (lost select branch), sig "go" 1, timer 2, sig "go" 3.
        let p = Pending::Join(vec![
            Pending::Select(vec![act(0), sig(1, "go")]),
            Pending::Timer { seq: 2, fire_at: 5 },
            sig(3, "go"),
        ]);
        let inbox = vec![
            signal(4, "go", 1),
            Event {
                id: 5,
                at_ms: 5,
                kind: EventKind::TimerFired { seq: 2 },
            },
            signal(6, "go", 2),
        ];
        let r = resolve(&p, &[], &inbox, "w", 0).expect("resolved");
        assert_eq!(
            r.resolution,
            Resolution::Join(vec![
                Resolution::Select(
                    1,
                    Box::new(Resolution::Signal {
                        event: 4,
                        payload: vec![1],
                        type_tag: None,
                    })
                ),
                Resolution::Timer,
                Resolution::Signal {
                    event: 6,
                    payload: vec![2],
                    type_tag: None,
                },
            ])
        );
        assert_eq!(r.consumed_events, vec![4, 5, 6]);
        assert_eq!(r.cancelled, vec![0]);
    }

    #[test]
    fn a_join_needs_every_leaf() {
        let p = Pending::Join(vec![act(0), act(1)]);
        let fresh = vec![Fresh {
            seq: 1,
            scheduled_version: 0,
            attempt: 1,
            at_ms: 5,
            result: Ok(vec![1]),
            timer: false,
        }];
        assert!(resolve(&p, &fresh, &[], "w", 0).is_none());
        let inbox = vec![Event {
            id: 3,
            at_ms: 9,
            kind: EventKind::ActivityCompleted {
                seq: 0,
                result: Ok(vec![0]),
            },
        }];
        let r = resolve(&p, &fresh, &inbox, "w", 0).expect("resolved");
        assert_eq!(
            r.resolution,
            Resolution::Join(vec![
                Resolution::Activity(Ok(vec![0])),
                Resolution::Activity(Ok(vec![1]))
            ])
        );
        assert_eq!(
            (r.consumed_events, r.completed_tasks, r.woke_at),
            (vec![3], vec![fresh[0].fence("w")], 9)
        );
        assert!(r.cancelled.is_empty());
    }

    #[test]
    fn a_select_cancels_the_losers_but_never_takes_their_signals() {
        let p = Pending::Select(vec![
            sig(0, "go"),
            Pending::Timer {
                seq: 1,
                fire_at: 100,
            },
            act(2),
        ]);
        let inbox = vec![Event {
            id: 1,
            at_ms: 100,
            kind: EventKind::TimerFired { seq: 1 },
        }];
        let r = resolve(&p, &[], &inbox, "w", 0).expect("resolved");
        assert_eq!(
            r.resolution,
            Resolution::Select(1, Box::new(Resolution::Timer))
        );
        assert_eq!((r.consumed_events, r.cancelled), (vec![1], vec![2]));
    }

    #[test]
    fn signals_go_in_order_and_a_losing_branch_puts_its_signal_back() {
        let inbox = vec![
            signal(1, "go", 10),
            signal(2, "stop", 20),
            signal(3, "go", 30),
        ];
        let p = Pending::Join(vec![sig(0, "go"), sig(1, "go")]);
        let r = resolve(&p, &[], &inbox, "w", 0).expect("resolved");
        assert_eq!(
            r.resolution,
            Resolution::Join(vec![
                Resolution::Signal {
                    event: 1,
                    payload: vec![10],
                    type_tag: None,
                },
                Resolution::Signal {
                    event: 3,
                    payload: vec![30],
                    type_tag: None,
                }
            ])
        );
        assert_eq!((r.consumed_events, r.woke_at), (vec![1, 3], 30));
        assert!(
            resolve(
                &Pending::Join(vec![sig(0, "stop"), sig(1, "stop")]),
                &[],
                &inbox,
                "w",
                0
            )
            .is_none()
        );
        // Branch 0 takes the first "go" but cannot finish (its activity is still running); the
        // second "go" completes branch 1, which receives the first: what the workflow receives
        // of one name comes in the order sent, and the second stays buffered. The wait was
        // complete when the second came.
        let p = Pending::Select(vec![
            Pending::Join(vec![sig(0, "go"), act(1)]),
            sig(2, "go"),
        ]);
        let r = resolve(&p, &[], &inbox, "w", 0).expect("resolved");
        assert_eq!(
            r.resolution,
            Resolution::Select(
                1,
                Box::new(Resolution::Signal {
                    event: 1,
                    payload: vec![10],
                    type_tag: None,
                })
            )
        );
        assert_eq!(
            (r.consumed_events, r.cancelled, r.woke_at),
            (vec![1], vec![1], 30)
        );
    }

    /// A call with a schedule-to-close deadline (its timer due at 300 in the tests) raced
    /// against signal "go".
    fn deadline_or_signal() -> Pending {
        let options = ActivityOptions {
            schedule_to_close: Some(std::time::Duration::from_millis(200)),
            ..ActivityOptions::default()
        };
        Pending::Select(vec![
            Pending::Activity {
                seq: 0,
                name: "a".into(),
                input: vec![],
                options,
            },
            sig(1, "go"),
        ])
    }

    /// Signal "go" (event 1), sent at 500.
    fn go_at_500() -> Event {
        Event {
            id: 1,
            at_ms: 500,
            kind: EventKind::Signal {
                name: "go".into(),
                payload: vec![1],
                type_tag: None,
            },
        }
    }

    /// Whether `deadline_or_signal` was decided by the call's deadline.
    fn deadline_won(r: &Resolution) -> bool {
        matches!(r, Resolution::Select(0, b) if matches!(&**b, Resolution::Activity(Err(e))
            if e.kind == crate::activity::ActivityErrorKind::ScheduleToCloseTimeout))
    }

    #[test]
    fn a_deadline_fired_late_comes_at_its_due_time() {
        // A call with a schedule-to-close deadline raced against a signal: the deadline was
        // due at 300 and fired late (no runtime up), after the signal sent at 500.
        let p = deadline_or_signal();
        let inbox = vec![
            go_at_500(),
            Event {
                id: 2,
                at_ms: 300,
                kind: EventKind::TimerFired {
                    seq: deadline_timer(0),
                },
            },
        ];
        let r = resolve(&p, &[], &inbox, "w", 0).expect("resolved");
        assert!(deadline_won(&r.resolution), "{:?}", r.resolution);
        assert_eq!(r.consumed_events, vec![2]);
    }

    #[test]
    fn a_deadline_due_and_not_fired_comes_at_its_due_time() {
        // The same race, the deadline's timer due at 300 and not fired yet when the run is
        // stepped at 600 for the signal sent at 500.
        let p = deadline_or_signal();
        assert!(
            !wants_due_deadlines(&p, &[], &[], 600),
            "nothing else has come"
        );
        let inbox = vec![go_at_500()];
        assert!(wants_due_deadlines(&p, &[], &inbox, 600));
        let deadlines = [(deadline_timer(0), 300)];
        let r = resolve_with(&p, &[], &inbox, "w", 600, &deadlines).expect("resolved");
        assert!(deadline_won(&r.resolution), "{:?}", r.resolution);
        // The signal stays; the call and its deadline's timer go.
        assert!(r.consumed_events.is_empty());
        assert_eq!(r.cancelled, vec![0, deadline_timer(0)]);
        assert_eq!(r.woke_at, 300);
        // Without the stored deadlines (the code before), the signal won.
        let r = resolve(&p, &[], &inbox, "w", 600).expect("resolved");
        assert!(matches!(r.resolution, Resolution::Select(1, _)));
        // Not due yet at 250: the signal wins.
        let r = resolve_with(&p, &[], &inbox, "w", 250, &deadlines).expect("resolved");
        assert!(matches!(r.resolution, Resolution::Select(1, _)));
        // A call waited on alone needs none.
        assert!(!wants_due_deadlines(
            &p.leaves()[0].clone(),
            &[],
            &inbox,
            600
        ));
        // The call's own result, here, is not beaten by its deadline (it came before the
        // deadline's timer was due), and needs no look at the deadlines.
        let result = Event {
            id: 2,
            at_ms: 650,
            kind: EventKind::ActivityCompleted {
                seq: 0,
                result: Ok(vec![7]),
            },
        };
        assert!(!wants_due_deadlines(
            &p,
            &[],
            std::slice::from_ref(&result),
            700
        ));
        // Two calls with deadlines: one's result may come after the other's deadline.
        let mut other = p.leaves()[0].clone();
        if let Pending::Activity { seq, .. } = &mut other {
            *seq = 5;
        }
        let two = Pending::Select(vec![p.leaves()[0].clone(), other]);
        assert!(wants_due_deadlines(
            &two,
            &[],
            std::slice::from_ref(&result),
            700
        ));
        // A timer leaf due: it is taken as fired, so the deadlines are looked at.
        let with_timer = Pending::Select(vec![
            p.leaves()[0].clone(),
            Pending::Timer {
                seq: 3,
                fire_at: 400,
            },
        ]);
        assert!(!wants_due_deadlines(&with_timer, &[], &[], 399));
        assert!(wants_due_deadlines(&with_timer, &[], &[], 400));
        let both = vec![inbox[0].clone(), result];
        let r = resolve_with(&p, &[], &both, "w", 700, &deadlines).expect("resolved");
        assert!(
            !matches!(&r.resolution, Resolution::Select(0, b) if matches!(&**b, Resolution::Activity(Err(_)))),
            "{:?}",
            r.resolution
        );
    }

    #[test]
    fn the_used_leaves_of_a_name_take_its_oldest_signals() {
        // (name, used, age): "a" used at 1 and 3, held 5, 1, 9, 2 among "a" and "b".
        let held = [
            ("a", false, 5),
            ("a", true, 9),
            ("b", true, 1),
            ("a", true, 2),
        ];
        // The used "a" leaves take the two oldest "a" (2 then 5), the unused one the rest.
        assert_eq!(
            crate::durable::oldest_signals_to_used(&held),
            Some(vec![1, 3, 2, 0])
        );
        let in_order = [
            ("a", true, 1),
            ("b", false, 0),
            ("a", true, 4),
            ("a", false, 7),
        ];
        assert_eq!(crate::durable::oldest_signals_to_used(&in_order), None);
    }

    #[test]
    fn what_arrived_first_wins_a_select() {
        let timer_first = vec![
            Event {
                id: 1,
                at_ms: 100,
                kind: EventKind::TimerFired { seq: 1 },
            },
            signal(20, "go", 7),
        ];
        let p = Pending::Select(vec![
            sig(0, "go"),
            Pending::Timer {
                seq: 1,
                fire_at: 100,
            },
        ]);
        let r = resolve(&p, &[], &timer_first, "w", 0).expect("resolved");
        assert_eq!(
            r.resolution,
            Resolution::Select(1, Box::new(Resolution::Timer))
        );
        assert_eq!(r.consumed_events, vec![1], "the signal stays buffered");
        let signal_first = vec![
            signal(1, "go", 7),
            Event {
                id: 2,
                at_ms: 100,
                kind: EventKind::TimerFired { seq: 1 },
            },
        ];
        let r = resolve(&p, &[], &signal_first, "w", 0).expect("resolved");
        assert_eq!(
            r.resolution,
            Resolution::Select(
                0,
                Box::new(Resolution::Signal {
                    event: 1,
                    payload: vec![7],
                    type_tag: None,
                })
            )
        );
        assert_eq!((r.consumed_events, r.cancelled), (vec![1], vec![1]));
    }

    #[test]
    fn a_timer_comes_at_its_due_time_whenever_it_was_fired() {
        let p = Pending::Select(vec![
            sig(0, "go"),
            Pending::Timer {
                seq: 1,
                fire_at: 100,
            },
        ]);
        // The signal (at 200) stored before the timer's firing (the runtime was down at 100).
        let fired_late = vec![
            signal(20, "go", 7),
            Event {
                id: 21,
                at_ms: 300,
                kind: EventKind::TimerFired { seq: 1 },
            },
        ];
        let r = resolve(&p, &[], &fired_late, "w", 300).expect("resolved");
        assert_eq!(
            r.resolution,
            Resolution::Select(1, Box::new(Resolution::Timer))
        );
        assert_eq!(r.consumed_events, vec![21], "the signal stays buffered");
        // A fresh firing, handed by the timer loop, likewise.
        let fresh = [Fresh::timer(1, 100)];
        let r = resolve(&p, &fresh, &fired_late[..1], "w", 300).expect("resolved");
        assert_eq!(
            (r.resolution, r.fired_timers, r.consumed_events),
            (
                Resolution::Select(1, Box::new(Resolution::Timer)),
                vec![1],
                vec![]
            )
        );
        // Not fired yet, but due: it came first all the same, and the step deletes it.
        let r = resolve(&p, &[], &fired_late[..1], "w", 250).expect("resolved");
        assert_eq!(
            (r.resolution, r.fired_timers, r.woke_at),
            (
                Resolution::Select(1, Box::new(Resolution::Timer)),
                vec![1],
                100
            )
        );
        // Not due yet at the runtime's clock: the signal wins.
        let r = resolve(&p, &[], &fired_late[..1], "w", 99).expect("resolved");
        assert!(matches!(r.resolution, Resolution::Select(0, _)));
        assert_eq!(r.cancelled, vec![1]);
    }

    #[test]
    fn a_call_ends_at_its_deadline_and_its_deadline_timer_goes_with_its_result() {
        let options = ActivityOptions {
            schedule_to_close: Some(std::time::Duration::from_secs(10)),
            ..ActivityOptions::default()
        };
        let call = Pending::Activity {
            seq: 3,
            name: "a".into(),
            input: vec![],
            options,
        };
        let deadline = Event {
            id: 7,
            at_ms: 10_000,
            kind: EventKind::TimerFired {
                seq: deadline_timer(3),
            },
        };
        let r =
            resolve(&call, &[], std::slice::from_ref(&deadline), "w", 10_000).expect("resolved");
        let Resolution::Activity(Err(e)) = &r.resolution else {
            panic!("{:?}", r.resolution)
        };
        assert_eq!(
            e.kind,
            crate::activity::ActivityErrorKind::ScheduleToCloseTimeout
        );
        assert_eq!((r.consumed_events, r.cancelled), (vec![7], vec![3]));
        assert_eq!(r.woken_by, "activity a#3 failed");
        // A result first: the deadline's timer is deleted with the step.
        let fresh = [Fresh {
            seq: 3,
            scheduled_version: 1,
            attempt: 1,
            at_ms: 5,
            result: Ok(vec![1]),
            timer: false,
        }];
        let r = resolve(&call, &fresh, &[], "w", 5).expect("resolved");
        assert_eq!(r.cancelled, vec![deadline_timer(3)]);
        // A call without a deadline has no timer to delete.
        let r = resolve(&act(3), &fresh, &[], "w", 5).expect("resolved");
        assert!(r.cancelled.is_empty());
        // In a select that another branch wins: the call and its deadline's timer go.
        let p = Pending::Select(vec![call.clone(), sig(4, "go")]);
        let r = resolve(&p, &[], &[signal(5, "go", 1)], "w", 50).expect("resolved");
        assert_eq!(r.cancelled, vec![3, deadline_timer(3)]);
        assert_eq!(deadline_of(super::super::compose::GRACE_SEQ), None);
        assert_eq!(deadline_of(super::super::compose::TIMEOUT_SEQ), None);
    }

    #[test]
    fn a_select_inside_a_join_is_won_by_the_branch_that_came_first() {
        // join(select(signal "go", timer at 60), timer at 120): the first timer fires, then
        // "go" comes, then the second timer.
        let p = Pending::Join(vec![
            Pending::Select(vec![
                sig(0, "go"),
                Pending::Timer {
                    seq: 1,
                    fire_at: 60,
                },
            ]),
            Pending::Timer {
                seq: 2,
                fire_at: 120,
            },
        ]);
        let inbox = vec![
            Event {
                id: 1,
                at_ms: 60,
                kind: EventKind::TimerFired { seq: 1 },
            },
            signal(9, "go", 7),
            Event {
                id: 10,
                at_ms: 120,
                kind: EventKind::TimerFired { seq: 2 },
            },
        ];
        let r = resolve(&p, &[], &inbox, "w", 120).expect("resolved");
        assert_eq!(
            r.resolution,
            Resolution::Join(vec![
                Resolution::Select(1, Box::new(Resolution::Timer)),
                Resolution::Timer
            ])
        );
        assert_eq!(r.consumed_events, vec![1, 10], "the signal stays buffered");
        assert_eq!(
            r.cancelled,
            Vec::<u64>::new(),
            "the signal leaf cancels nothing"
        );
    }
}
