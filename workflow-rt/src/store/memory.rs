//! [`MemoryStore`]: everything in one process's memory, behind one lock. For tests and
//! benchmarks; nothing survives the process.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use super::{
    ActivityTask, CompleteActivity, DueTimer, Event, EventKind, HistoryEntry, LeaseRenewal,
    LeaseRequest, NewWorkflow, Release, RetryActivity, RunPage, RunQuery, ScheduleRecord,
    StepCommit, StepOutcome, Store, StoreError, StoreFuture, TaskAttempt, TimerKey, TimerRow,
    WorkflowRecord, WorkflowStatus, WorkflowSummary, lost_attempt_entry, received_signal_entry,
    released_attempt_entry,
};

/// A [`Store`] in memory: fast, shared by the runtimes of one process (wrap it in an `Arc`),
/// gone when the process ends.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    /// The schedules, by name (a lock of their own: no operation touches both).
    schedules: Mutex<BTreeMap<String, ScheduleRecord>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("workflows", &self.lock().entries.len())
            .finish()
    }
}

impl MemoryStore {
    /// `Store::purge`, of the run at `version` only when given (`Store::purge_version`).
    fn purge_run(&self, id: &str, version: Option<u64>) -> StoreFuture<'_, ()> {
        let mut g = self.lock();
        let gone = match g.purge(id, version) {
            Ok(gone) => gone,
            Err(e) => return ready(Err(e)),
        };
        g.unlink_children(&[id.to_string()]);
        // There is none already (the run under the id took it away when it was created), but
        // should there be, the later of the two stands.
        let kept = g.tombstones.entry(id.to_string()).or_insert(gone);
        kept.version = kept.version.max(gone.version);
        kept.finished_at_ms = kept.finished_at_ms.max(gone.finished_at_ms);
        ready(Ok(()))
    }

    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while the lock was held cannot leave a half-applied operation behind (every
        // operation validates before it mutates), so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn schedules(&self) -> MutexGuard<'_, BTreeMap<String, ScheduleRecord>> {
        // As `lock`: every operation on the map is one insert, replace or remove.
        self.schedules.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Workflows are numbered by their position in `entries`, and the indexes hold numbers rather
/// than ids. A purge moves the last entry into the purged one's place (see [`Inner::purge`]),
/// renumbering it in every index.
#[derive(Default)]
struct Inner {
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
    /// Activity tasks by the time they can next be leased: `(due, workflow, seq)`.
    due: BTreeSet<(u64, usize, u64)>,
    /// Timers by fire time: `(fire_at, workflow, seq)`.
    timers: BTreeSet<(u64, usize, u64)>,
    /// Running workflows with unseen events.
    ready: BTreeSet<usize>,
    next_event: u64,
    /// The runs [`Store::purge`] deleted, by id, until their id is used again or
    /// [`Store::purge_finished`] drops them (see [`Store::create_workflow`]).
    tombstones: HashMap<String, Tombstone>,
    /// The least version a new run starts at: past every run [`Store::purge_finished`] purged
    /// and every tombstone it dropped.
    version_floor: u64,
}

/// What a run purged by id leaves: its last version, and when it finished.
#[derive(Debug, Clone, Copy)]
struct Tombstone {
    version: u64,
    finished_at_ms: u64,
}

struct Entry {
    record: WorkflowRecord,
    inbox: BTreeMap<u64, Event>,
    tasks: BTreeMap<u64, ActivityTask>,
    timers: BTreeMap<u64, u64>,
    history: Vec<HistoryEntry>,
}

fn due_of(t: &ActivityTask) -> u64 {
    match (&t.lease_owner, t.lease_until_ms) {
        (Some(_), Some(until)) => until,
        (Some(_), None) => 0,
        (None, _) => t.visible_at_ms,
    }
}

/// Whether `t` is still the call `a` ran (of the same run), at the attempt `a` ran, under
/// `a`'s owner: the fence on results.
fn holds(t: &ActivityTask, a: &TaskAttempt) -> bool {
    t.scheduled_version == a.scheduled_version
        && t.attempt == a.attempt
        && t.lease_owner.as_deref() == Some(a.owner.as_str())
}

fn event_seq(e: &Event) -> Option<u64> {
    match &e.kind {
        EventKind::ActivityCompleted { seq, .. }
        | EventKind::TimerFired { seq }
        | EventKind::ChildFinished { seq, .. } => Some(*seq),
        EventKind::Signal { .. } | EventKind::CancelRequested { .. } => None,
    }
}

fn ready<T: Send + 'static>(value: Result<T, StoreError>) -> StoreFuture<'static, T> {
    Box::pin(std::future::ready(value))
}

impl Inner {
    fn find(&self, id: &str) -> Result<usize, StoreError> {
        self.index
            .get(id)
            .copied()
            .ok_or_else(|| StoreError::NotFound(id.to_string()))
    }

    fn sync_ready(&mut self, w: usize) {
        let r = &self.entries[w].record;
        if r.ready && r.status == WorkflowStatus::Running {
            self.ready.insert(w);
        } else {
            self.ready.remove(&w);
        }
    }

    fn push_event(&mut self, w: usize, at_ms: u64, kind: EventKind) -> u64 {
        self.next_event += 1;
        let id = self.next_event;
        let e = &mut self.entries[w];
        e.inbox.insert(id, Event { id, at_ms, kind });
        e.record.ready = true;
        self.sync_ready(w);
        id
    }

    /// Appends an event from outside, with its history entry, to a run that is not finished.
    fn append(
        &mut self,
        id: &str,
        kind: EventKind,
        at_ms: u64,
        entry: HistoryEntry,
    ) -> Result<u64, StoreError> {
        let w = self.find(id)?;
        let status = self.entries[w].record.status;
        if status.is_finished() {
            return Err(StoreError::Finished {
                workflow_id: id.to_string(),
                status,
            });
        }
        let event = self.push_event(w, at_ms, kind);
        self.entries[w].history.push(entry);
        Ok(event)
    }

    fn insert_task(&mut self, w: usize, task: ActivityTask) {
        self.due.insert((due_of(&task), w, task.seq));
        if let Some(old) = self.entries[w].tasks.insert(task.seq, task) {
            self.due.remove(&(due_of(&old), w, old.seq));
        }
    }

    fn remove_task(&mut self, w: usize, seq: u64) -> Option<ActivityTask> {
        let t = self.entries[w].tasks.remove(&seq)?;
        self.due.remove(&(due_of(&t), w, seq));
        Some(t)
    }

    /// Releases `owner`'s leases on the tasks `held` (run, seq), each told in its run's
    /// history (see `Store::release_leases`); returns how many.
    fn release(&mut self, held: &[(usize, u64)], owner: &str, why: Release, now_ms: u64) -> u64 {
        for &(w, seq) in held {
            let mut entry = None;
            self.update_task(w, seq, |t| {
                entry = Some(released_attempt_entry(
                    now_ms, &t.name, t.seq, t.attempt, owner, why,
                ));
                if why == Release::Shutdown {
                    t.attempt = t.attempt.saturating_sub(1);
                }
                t.lease_owner = None;
                t.lease_until_ms = None;
                true
            });
            self.entries[w].history.extend(entry);
        }
        held.len() as u64
    }

    /// Applies `f` to a task, keeping the due index right.
    fn update_task(
        &mut self,
        w: usize,
        seq: u64,
        f: impl FnOnce(&mut ActivityTask) -> bool,
    ) -> bool {
        let Some(t) = self.entries[w].tasks.get_mut(&seq) else {
            return false;
        };
        let before = due_of(t);
        if !f(t) {
            return false;
        }
        let after = due_of(t);
        if before != after {
            self.due.remove(&(before, w, seq));
            self.due.insert((after, w, seq));
        }
        true
    }

    fn remove_timer(&mut self, w: usize, seq: u64) {
        if let Some(at) = self.entries[w].timers.remove(&seq) {
            self.timers.remove(&(at, w, seq));
        }
    }

    /// Drops the tasks, timers and events of run `w`; returns the signals among the events
    /// (name, payload size): sent, and never received (see [`super::unreceived_signal_entry`]).
    fn drop_leftovers(&mut self, w: usize) -> Vec<(String, usize)> {
        let seqs: Vec<u64> = self.entries[w].tasks.keys().copied().collect();
        for s in seqs {
            self.remove_task(w, s);
        }
        let seqs: Vec<u64> = self.entries[w].timers.keys().copied().collect();
        for s in seqs {
            self.remove_timer(w, s);
        }
        std::mem::take(&mut self.entries[w].inbox)
            .into_values()
            .filter_map(|e| match e.kind {
                EventKind::Signal { name, payload, .. } => Some((name, payload.len())),
                _ => None,
            })
            .collect()
    }

    /// Deletes a finished workflow and all of it (refusing one that is not finished, which it
    /// leaves as it was); returns its last version and when it finished. The last entry takes
    /// its place: its number changes in the indexes. With `version`, only the run at that
    /// version (see `Store::purge_version`).
    fn purge(&mut self, id: &str, version: Option<u64>) -> Result<Tombstone, StoreError> {
        let w = self.find(id)?;
        if let Some(expected) = version
            && self.entries[w].record.version != expected
        {
            return Err(StoreError::Conflict {
                workflow_id: id.to_string(),
                expected,
            });
        }
        let status = self.entries[w].record.status;
        if !status.is_finished() {
            return Err(StoreError::NotFinished {
                workflow_id: id.to_string(),
                status,
            });
        }
        let gone = Tombstone {
            version: self.entries[w].record.version,
            finished_at_ms: self.entries[w].record.updated_at_ms,
        };
        self.drop_leftovers(w);
        self.ready.remove(&w);
        self.index.remove(id);
        let last = self.entries.len() - 1;
        if w != last {
            // The last entry moves to `w`: its tasks, timers and ready mark are renumbered.
            let moved = &self.entries[last];
            let tasks: Vec<(u64, u64)> = moved.tasks.values().map(|t| (due_of(t), t.seq)).collect();
            let timers: Vec<(u64, u64)> = moved.timers.iter().map(|(&s, &at)| (at, s)).collect();
            for (due, seq) in tasks {
                self.due.remove(&(due, last, seq));
                self.due.insert((due, w, seq));
            }
            for (at, seq) in timers {
                self.timers.remove(&(at, last, seq));
                self.timers.insert((at, w, seq));
            }
            if self.ready.remove(&last) {
                self.ready.insert(w);
            }
            self.index.insert(moved.record.id.clone(), w);
        }
        self.entries.swap_remove(w);
        Ok(gone)
    }

    /// The children of the runs `parents` (purged) lose their links to them (see
    /// `Store::purge`): one pass over the runs, however many were purged.
    fn unlink_children(&mut self, parents: &[String]) {
        let parents: std::collections::HashSet<&str> = parents.iter().map(String::as_str).collect();
        for e in &mut self.entries {
            if e.record
                .parent
                .as_ref()
                .is_some_and(|p| parents.contains(p.id.as_str()))
            {
                e.record.parent = None;
            }
        }
    }

    /// Raises the version floor past `version`.
    fn raise_floor(&mut self, version: u64) {
        self.version_floor = self.version_floor.max(version.saturating_add(1));
    }

    /// The version a new run under `id` starts at, taking the id's tombstone away.
    fn first_version(&mut self, id: &str) -> u64 {
        let past_tombstone = self
            .tombstones
            .remove(id)
            .map_or(0, |t| t.version.saturating_add(1));
        past_tombstone.max(self.version_floor)
    }

    fn summary(r: &WorkflowRecord) -> WorkflowSummary {
        WorkflowSummary {
            id: r.id.clone(),
            name: r.name.clone(),
            status: r.status,
            park_reason: r.park_reason.clone(),
            created_at_ms: r.created_at_ms,
            updated_at_ms: r.updated_at_ms,
        }
    }

    /// Creates run `wf` (see [`Store::create_workflow`]; its parent's version is not looked
    /// at here).
    fn insert_run(&mut self, wf: NewWorkflow) -> Result<u64, StoreError> {
        if let Some(&w) = self.index.get(&wf.id) {
            return Err(StoreError::AlreadyExists(Box::new(
                self.entries[w].record.clone(),
            )));
        }
        let version = self.first_version(&wf.id);
        let w = self.entries.len();
        self.index.insert(wf.id.clone(), w);
        self.entries.push(Entry {
            record: WorkflowRecord {
                id: wf.id,
                name: wf.name,
                status: WorkflowStatus::Running,
                input: wf.input,
                snapshot: wf.snapshot,
                version,
                pending: None,
                output: None,
                park_reason: None,
                created_at_ms: wf.now_ms,
                updated_at_ms: wf.now_ms,
                ready: true,
                parent: wf.parent,
                run_key: None,
            },
            inbox: BTreeMap::new(),
            tasks: BTreeMap::new(),
            timers: BTreeMap::new(),
            history: vec![wf.history],
        });
        for t in &wf.timers {
            self.remove_timer(w, t.seq);
            self.entries[w].timers.insert(t.seq, t.fire_at_ms);
            self.timers.insert((t.fire_at_ms, w, t.seq));
        }
        for signal in &wf.signals {
            self.push_event(w, wf.now_ms, signal.event());
            self.entries[w].history.push(received_signal_entry(
                wf.now_ms,
                &signal.name,
                signal.payload.len(),
            ));
        }
        self.sync_ready(w);
        Ok(version)
    }

    fn commit(&mut self, step: StepCommit) -> Result<u64, StoreError> {
        let w = self.find(&step.workflow_id)?;
        if self.entries[w].record.version != step.expected_version {
            return Err(StoreError::Conflict {
                workflow_id: step.workflow_id,
                expected: step.expected_version,
            });
        }
        let tasks = &self.entries[w].tasks;
        if let Some(lost) = step
            .completed_tasks
            .iter()
            .find(|a| !tasks.get(&a.seq).is_some_and(|t| holds(t, a)))
        {
            return Err(StoreError::LeaseLost {
                workflow_id: step.workflow_id,
                seq: lost.seq,
                attempt: lost.attempt,
            });
        }
        for id in &step.consumed_events {
            self.entries[w].inbox.remove(id);
        }
        for a in &step.completed_tasks {
            self.remove_task(w, a.seq);
        }
        for &seq in &step.fired_timers {
            self.remove_timer(w, seq);
        }
        for &seq in &step.cancelled {
            self.remove_task(w, seq);
            self.remove_timer(w, seq);
            self.entries[w]
                .inbox
                .retain(|_, e| event_seq(e) != Some(seq));
        }
        let mut unparked = false;
        let mut continued = false;
        let mut unreceived = Vec::new();
        let suspended = matches!(step.outcome, StepOutcome::Suspended { .. });
        match step.outcome {
            StepOutcome::Suspended {
                snapshot,
                pending,
                tasks,
                timers,
            } => {
                let r = &mut self.entries[w].record;
                r.snapshot = snapshot;
                r.pending = Some(pending);
                for mut t in tasks {
                    // The step's workflow's, whatever the task's own id says.
                    if t.workflow_id != self.entries[w].record.id {
                        t.workflow_id.clone_from(&self.entries[w].record.id);
                    }
                    self.insert_task(w, t);
                }
                for t in timers {
                    self.remove_timer(w, t.seq);
                    self.entries[w].timers.insert(t.seq, t.fire_at_ms);
                    self.timers.insert((t.fire_at_ms, w, t.seq));
                }
            }
            StepOutcome::Finished {
                status,
                snapshot,
                output,
            } => {
                unreceived = self.drop_leftovers(w);
                let r = &mut self.entries[w].record;
                r.status = status;
                r.snapshot = snapshot;
                r.output = Some(output);
                r.pending = None;
            }
            StepOutcome::Parked { reason } => {
                let r = &mut self.entries[w].record;
                r.status = WorkflowStatus::Parked;
                r.park_reason = Some(reason);
            }
            StepOutcome::Unparked => {
                let r = &mut self.entries[w].record;
                r.status = WorkflowStatus::Running;
                r.park_reason = None;
                unparked = true;
            }
            StepOutcome::Cancelled => {
                unreceived = self.drop_leftovers(w);
                let r = &mut self.entries[w].record;
                r.status = WorkflowStatus::Cancelled;
                r.pending = None;
                r.park_reason = None;
            }
            StepOutcome::Continued { input, snapshot } => {
                let seqs: Vec<u64> = self.entries[w].tasks.keys().copied().collect();
                for s in seqs {
                    self.remove_task(w, s);
                }
                let seqs: Vec<u64> = self.entries[w]
                    .timers
                    .keys()
                    .copied()
                    .filter(|s| !super::CONTINUED_TIMERS.contains(s))
                    .collect();
                for s in seqs {
                    self.remove_timer(w, s);
                }
                let e = &mut self.entries[w];
                e.inbox.retain(|_, ev| match ev.kind {
                    EventKind::Signal { .. } | EventKind::CancelRequested { .. } => true,
                    EventKind::TimerFired { seq } => super::CONTINUED_TIMERS.contains(&seq),
                    _ => false,
                });
                e.history.clear();
                let r = &mut e.record;
                r.input = input;
                r.snapshot = snapshot;
                r.pending = None;
                continued = true;
            }
        }
        let e = &mut self.entries[w];
        let newer = e
            .inbox
            .keys()
            .next_back()
            .is_some_and(|&id| id > step.seen_events_upto);
        e.record.ready = unparked || continued || newer || (step.keep_ready && suspended);
        e.record.version += 1;
        e.record.updated_at_ms = step.now_ms;
        e.history.extend(step.history);
        e.history.extend(
            unreceived
                .iter()
                .map(|(name, bytes)| super::unreceived_signal_entry(step.now_ms, name, *bytes)),
        );
        let version = e.record.version;
        self.sync_ready(w);
        if suspended {
            for child in step.children {
                let seq = child.parent.as_ref().map_or(0, |p| p.seq);
                let link = child.parent.clone();
                if let Err(StoreError::AlreadyExists(existing)) = self.insert_run(child)
                    && existing.parent != link
                {
                    let id = existing.id;
                    self.push_event(
                        w,
                        step.now_ms,
                        EventKind::ChildFinished {
                            seq,
                            result: Err(crate::ChildError::IdInUse { id }),
                        },
                    );
                }
            }
        }
        for d in step.deliver {
            // A child's end for another run goes to its parent only (see
            // `StepCommit::deliver`).
            if let Some(seq) = d.child_end_elsewhere(&step.workflow_id)
                && self.entries[w]
                    .record
                    .parent
                    .as_ref()
                    .is_none_or(|p| p.id != d.to || p.seq != seq)
            {
                continue;
            }
            if let Ok(to) = self.find(&d.to)
                && !self.entries[to].record.status.is_finished()
                && d.reaches(&step.workflow_id, self.entries[to].record.parent.as_ref())
            {
                self.push_event(to, step.now_ms, d.kind);
            }
        }
        Ok(version)
    }
}

impl Store for MemoryStore {
    fn create_workflow(&self, wf: NewWorkflow) -> StoreFuture<'_, u64> {
        let mut g = self.lock();
        // A child only while its parent is at the version its step was computed from (see
        // `NewWorkflow::parent_version`).
        if let (Some(parent), Some(expected)) = (&wf.parent, wf.parent_version)
            && g.index
                .get(&parent.id)
                .is_none_or(|&p| g.entries[p].record.version != expected)
        {
            return ready(Err(StoreError::Conflict {
                workflow_id: parent.id.clone(),
                expected,
            }));
        }
        ready(g.insert_run(wf))
    }

    fn load_workflow<'a>(&'a self, id: &'a str) -> StoreFuture<'a, WorkflowRecord> {
        let g = self.lock();
        ready(g.find(id).map(|w| g.entries[w].record.clone()))
    }

    fn load_inbox<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<Event>> {
        let g = self.lock();
        ready(
            g.find(id)
                .map(|w| g.entries[w].inbox.values().cloned().collect()),
        )
    }

    fn load_tasks<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<ActivityTask>> {
        let g = self.lock();
        ready(
            g.find(id)
                .map(|w| g.entries[w].tasks.values().cloned().collect()),
        )
    }

    fn load_timers<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<TimerRow>> {
        let g = self.lock();
        ready(g.find(id).map(|w| {
            g.entries[w]
                .timers
                .iter()
                .map(|(&seq, &fire_at_ms)| TimerRow { seq, fire_at_ms })
                .collect()
        }))
    }

    fn commit_step(&self, step: StepCommit) -> StoreFuture<'_, u64> {
        ready(self.lock().commit(step))
    }

    fn commit_steps(
        &self,
        steps: Vec<StepCommit>,
    ) -> StoreFuture<'_, Vec<Result<u64, StoreError>>> {
        let mut g = self.lock();
        ready(Ok(steps.into_iter().map(|s| g.commit(s)).collect()))
    }

    fn append_signal<'a>(
        &'a self,
        id: &'a str,
        name: &'a str,
        payload: Vec<u8>,
        type_tag: Option<u64>,
        at_ms: u64,
    ) -> StoreFuture<'a, u64> {
        let entry = received_signal_entry(at_ms, name, payload.len());
        let kind = EventKind::Signal {
            name: name.to_string(),
            payload,
            type_tag,
        };
        ready(self.lock().append(id, kind, at_ms, entry))
    }

    fn append_event<'a>(
        &'a self,
        id: &'a str,
        kind: EventKind,
        at_ms: u64,
        entry: HistoryEntry,
    ) -> StoreFuture<'a, u64> {
        ready(self.lock().append(id, kind, at_ms, entry))
    }

    fn complete_activity(&self, done: CompleteActivity) -> StoreFuture<'_, bool> {
        let mut g = self.lock();
        let w = match g.find(&done.workflow_id) {
            Ok(w) => w,
            Err(e) => return ready(Err(e)),
        };
        let seq = done.attempt.seq;
        if !g.entries[w]
            .tasks
            .get(&seq)
            .is_some_and(|t| holds(t, &done.attempt))
        {
            return ready(Ok(false));
        }
        g.remove_task(w, seq);
        g.push_event(
            w,
            done.at_ms,
            EventKind::ActivityCompleted {
                seq,
                result: done.result,
            },
        );
        ready(Ok(true))
    }

    fn retry_activity(&self, retry: RetryActivity) -> StoreFuture<'_, bool> {
        let mut g = self.lock();
        let w = match g.find(&retry.workflow_id) {
            Ok(w) => w,
            Err(e) => return ready(Err(e)),
        };
        let RetryActivity {
            seq,
            scheduled_version,
            attempt,
            owner,
            visible_at_ms,
            heartbeat_details,
            history,
            ..
        } = retry;
        let done = g.update_task(w, seq, |t| {
            if t.scheduled_version != scheduled_version
                || t.attempt != attempt
                || t.lease_owner.as_deref() != Some(owner.as_str())
            {
                return false;
            }
            t.lease_owner = None;
            t.lease_until_ms = None;
            t.visible_at_ms = visible_at_ms;
            if heartbeat_details.is_some() {
                t.heartbeat_details = heartbeat_details;
            }
            true
        });
        if done {
            g.entries[w].history.push(history);
        }
        ready(Ok(done))
    }

    fn lease_tasks(&self, req: LeaseRequest) -> StoreFuture<'_, Vec<ActivityTask>> {
        let mut g = self.lock();
        let mut picked = Vec::new();
        for &(due, w, seq) in g.due.iter() {
            if due > req.now_ms || picked.len() >= req.limit {
                break;
            }
            let Some(t) = g.entries[w].tasks.get(&seq) else {
                continue;
            };
            if req.names.contains(&t.name) {
                picked.push((w, seq));
            }
        }
        let mut out = Vec::with_capacity(picked.len());
        for (w, seq) in picked {
            if let Some(t) = g.entries[w].tasks.get(&seq)
                && t.lease_owner.is_some()
            {
                let entry = lost_attempt_entry(req.now_ms, t, &req.owner);
                g.entries[w].history.push(entry);
            }
            g.update_task(w, seq, |t| {
                t.attempt = t.attempt.saturating_add(1);
                t.lease_owner = Some(req.owner.clone());
                t.lease_until_ms = Some(req.lease_until_ms);
                true
            });
            out.extend(g.entries[w].tasks.get(&seq).cloned());
        }
        ready(Ok(out))
    }

    fn renew_leases<'a>(
        &'a self,
        owner: &'a str,
        tasks: Vec<LeaseRenewal>,
        lease_until_ms: u64,
    ) -> StoreFuture<'a, Vec<(String, u64)>> {
        let mut g = self.lock();
        let mut lost = Vec::new();
        for r in tasks {
            let Some(&w) = g.index.get(&r.workflow_id) else {
                lost.push((r.workflow_id, r.seq));
                continue;
            };
            let renewed = g.update_task(w, r.seq, |t| {
                if t.scheduled_version != r.scheduled_version
                    || t.lease_owner.as_deref() != Some(owner)
                {
                    return false;
                }
                t.lease_until_ms = Some(lease_until_ms);
                if r.heartbeat_details.is_some() {
                    t.heartbeat_details = r.heartbeat_details;
                }
                true
            });
            if !renewed {
                lost.push((r.workflow_id, r.seq));
            }
        }
        ready(Ok(lost))
    }

    fn release_leases<'a>(
        &'a self,
        owner: &'a str,
        why: Release,
        now_ms: u64,
    ) -> StoreFuture<'a, u64> {
        let mut g = self.lock();
        let held: Vec<(usize, u64)> = g
            .entries
            .iter()
            .enumerate()
            .flat_map(|(w, e)| {
                e.tasks
                    .values()
                    .filter(|t| t.lease_owner.as_deref() == Some(owner))
                    .map(move |t| (w, t.seq))
            })
            .collect();
        ready(Ok(g.release(&held, owner, why, now_ms)))
    }

    fn release_tasks<'a>(
        &'a self,
        owner: &'a str,
        tasks: Vec<LeaseRenewal>,
        why: Release,
        now_ms: u64,
    ) -> StoreFuture<'a, u64> {
        let mut g = self.lock();
        let mut held: Vec<(usize, u64)> = tasks
            .iter()
            .filter_map(|r| {
                let w = *g.index.get(&r.workflow_id)?;
                let t = g.entries[w].tasks.get(&r.seq)?;
                (t.lease_owner.as_deref() == Some(owner)
                    && t.scheduled_version == r.scheduled_version)
                    .then_some((w, r.seq))
            })
            .collect();
        // A call named twice is released once, as by the SQL stores' statements.
        held.sort_unstable();
        held.dedup();
        ready(Ok(g.release(&held, owner, why, now_ms)))
    }

    fn next_task_due<'a>(&'a self, names: &'a [String]) -> StoreFuture<'a, Option<u64>> {
        let g = self.lock();
        let next = g.due.iter().find(|(_, w, seq)| {
            g.entries[*w]
                .tasks
                .get(seq)
                .is_some_and(|t| names.contains(&t.name))
        });
        ready(Ok(next.map(|(due, _, _)| *due)))
    }

    fn fire_timers(&self, now_ms: u64, limit: usize) -> StoreFuture<'_, Vec<String>> {
        let mut g = self.lock();
        let due: Vec<(u64, usize, u64)> = g
            .timers
            .iter()
            .take_while(|(at, _, _)| *at <= now_ms)
            .take(limit)
            .copied()
            .collect();
        let mut woken = Vec::new();
        // Each run once, in the order of its first timer (by its slot: no search of the list).
        let mut seen = foldhash::HashSet::default();
        for (at, w, seq) in due {
            g.timers.remove(&(at, w, seq));
            g.entries[w].timers.remove(&seq);
            g.push_event(w, at, EventKind::TimerFired { seq });
            if seen.insert(w) {
                woken.push(g.entries[w].record.id.clone());
            }
        }
        ready(Ok(woken))
    }

    fn due_timers(
        &self,
        now_ms: u64,
        after: Option<TimerKey>,
        limit: usize,
    ) -> Option<StoreFuture<'_, Vec<DueTimer>>> {
        let g = self.lock();
        let mut due: Vec<(TimerKey, usize)> = g
            .timers
            .iter()
            .take_while(|(at, _, _)| *at <= now_ms)
            .map(|&(at, w, seq)| {
                let key = TimerKey {
                    fire_at_ms: at,
                    run_key: None,
                    workflow_id: g.entries[w].record.id.clone(),
                    seq,
                };
                (key, w)
            })
            .filter(|(k, _)| after.as_ref().is_none_or(|a| k > a))
            .collect();
        due.sort();
        due.truncate(limit);
        let out = due
            .into_iter()
            .map(|(k, w)| {
                let record = &g.entries[w].record;
                DueTimer {
                    workflow_id: k.workflow_id,
                    run_key: None,
                    seq: k.seq,
                    fire_at_ms: k.fire_at_ms,
                    workflow: (record.status == WorkflowStatus::Running).then(|| record.clone()),
                }
            })
            .collect();
        Some(ready(Ok(out)))
    }

    fn fire_timers_of<'a>(&'a self, id: &'a str, seqs: &'a [u64]) -> StoreFuture<'a, usize> {
        let mut g = self.lock();
        let w = match g.find(id) {
            Ok(w) => w,
            Err(e) => return ready(Err(e)),
        };
        let mut fired = 0;
        for &seq in seqs {
            if let Some(at) = g.entries[w].timers.get(&seq).copied() {
                g.remove_timer(w, seq);
                g.push_event(w, at, EventKind::TimerFired { seq });
                fired += 1;
            }
        }
        ready(Ok(fired))
    }

    fn next_timer_due(&self) -> StoreFuture<'_, Option<u64>> {
        ready(Ok(self.lock().timers.iter().next().map(|(at, _, _)| *at)))
    }

    fn ready_workflows<'a>(
        &'a self,
        names: &'a [String],
        limit: usize,
    ) -> StoreFuture<'a, Vec<String>> {
        let g = self.lock();
        let out = g
            .ready
            .iter()
            .map(|&w| &g.entries[w].record)
            .filter(|r| names.contains(&r.name))
            .take(limit)
            .map(|r| r.id.clone())
            .collect();
        ready(Ok(out))
    }

    fn clear_ready<'a>(
        &'a self,
        id: &'a str,
        version: u64,
        seen_events_upto: u64,
    ) -> StoreFuture<'a, bool> {
        let mut g = self.lock();
        let w = match g.find(id) {
            Ok(w) => w,
            Err(e) => return ready(Err(e)),
        };
        let e = &mut g.entries[w];
        if e.record.version != version {
            return ready(Ok(false));
        }
        if e.inbox
            .keys()
            .next_back()
            .is_none_or(|&id| id <= seen_events_upto)
        {
            e.record.ready = false;
        }
        g.sync_ready(w);
        ready(Ok(true))
    }

    fn list_workflows(
        &self,
        status: Option<WorkflowStatus>,
    ) -> StoreFuture<'_, Vec<WorkflowSummary>> {
        let g = self.lock();
        let mut out: Vec<WorkflowSummary> = g
            .entries
            .iter()
            .map(|e| &e.record)
            .filter(|r| status.is_none_or(|s| s == r.status))
            .map(Inner::summary)
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        ready(Ok(out))
    }

    fn list_runs(&self, query: RunQuery) -> StoreFuture<'_, RunPage> {
        let g = self.lock();
        let size = query.page_size();
        let mut runs: Vec<WorkflowSummary> = g
            .entries
            .iter()
            .map(|e| &e.record)
            .filter(|r| query.admits(&r.id, &r.name, r.status, r.created_at_ms, r.updated_at_ms))
            .map(Inner::summary)
            .collect();
        runs.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        let next = (runs.len() > size).then(|| {
            runs.truncate(size);
            runs.last().map(|r| r.id.clone())
        });
        ready(Ok(RunPage {
            runs,
            next: next.flatten(),
        }))
    }

    fn count_runs(&self) -> StoreFuture<'_, Vec<(WorkflowStatus, u64)>> {
        let g = self.lock();
        let mut counts = WorkflowStatus::ALL.map(|s| (s, 0u64));
        for e in &g.entries {
            if let Some(c) = counts.iter_mut().find(|(s, _)| *s == e.record.status) {
                c.1 += 1;
            }
        }
        ready(Ok(counts.to_vec()))
    }

    fn purge<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        self.purge_run(id, None)
    }

    fn purge_version<'a>(&'a self, id: &'a str, version: u64) -> StoreFuture<'a, ()> {
        self.purge_run(id, Some(version))
    }

    fn purge_finished(
        &self,
        finished_before_ms: u64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<String>> {
        let mut g = self.lock();
        let mut old: Vec<(u64, String)> = g
            .entries
            .iter()
            .map(|e| &e.record)
            .filter(|r| r.status.is_finished() && r.updated_at_ms < finished_before_ms)
            .map(|r| (r.updated_at_ms, r.id.clone()))
            .collect();
        old.sort_unstable();
        old.truncate(limit);
        let mut ids: Vec<String> = old.into_iter().map(|(_, id)| id).collect();
        for id in &ids {
            // Finished, as just checked under the same lock: cannot fail.
            match g.purge(id, None) {
                Ok(gone) => g.raise_floor(gone.version),
                Err(e) => return ready(Err(e)),
            }
        }
        g.unlink_children(&ids);
        // The tombstones of runs that finished before the cutoff, oldest first, up to the
        // limit, go into the floor.
        let mut expired: Vec<(u64, String)> = g
            .tombstones
            .iter()
            .filter(|(_, t)| t.finished_at_ms < finished_before_ms)
            .map(|(id, t)| (t.finished_at_ms, id.clone()))
            .collect();
        expired.sort_unstable();
        expired.truncate(limit);
        for (_, id) in expired {
            if let Some(t) = g.tombstones.remove(&id) {
                g.raise_floor(t.version);
            }
        }
        ids.sort_unstable();
        ready(Ok(ids))
    }

    fn history<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<HistoryEntry>> {
        let g = self.lock();
        ready(g.find(id).map(|w| g.entries[w].history.clone()))
    }
    fn create_schedule(&self, schedule: ScheduleRecord) -> StoreFuture<'_, ()> {
        let mut g = self.schedules();
        if g.contains_key(&schedule.name) {
            return ready(Err(StoreError::ScheduleExists(schedule.name)));
        }
        g.insert(schedule.name.clone(), schedule);
        ready(Ok(()))
    }

    fn load_schedule<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ScheduleRecord> {
        let found = self.schedules().get(name).cloned();
        ready(found.ok_or_else(|| StoreError::ScheduleNotFound(name.to_string())))
    }

    fn list_schedules(&self) -> StoreFuture<'_, Vec<ScheduleRecord>> {
        ready(Ok(self.schedules().values().cloned().collect()))
    }

    fn update_schedule(&self, mut schedule: ScheduleRecord) -> StoreFuture<'_, u64> {
        let mut g = self.schedules();
        let Some(current) = g.get_mut(&schedule.name) else {
            return ready(Err(StoreError::ScheduleNotFound(schedule.name)));
        };
        if current.version != schedule.version {
            return ready(Err(StoreError::ScheduleConflict {
                name: schedule.name,
                expected: schedule.version,
            }));
        }
        schedule.version += 1;
        let version = schedule.version;
        *current = schedule;
        ready(Ok(version))
    }

    fn delete_schedule<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ()> {
        let gone = self.schedules().remove(name);
        ready(
            gone.map(drop)
                .ok_or_else(|| StoreError::ScheduleNotFound(name.to_string())),
        )
    }

    fn due_schedules<'a>(
        &'a self,
        workflows: &'a [String],
        now_ms: u64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<ScheduleRecord>> {
        let mut due: Vec<ScheduleRecord> = self
            .schedules()
            .values()
            .filter(|s| workflows.contains(&s.workflow))
            .filter(|s| {
                !s.starting.is_empty()
                    || (!s.paused
                        && (s.next_fire_ms.is_some_and(|t| t <= now_ms) || s.buffered_ms.is_some()))
            })
            .cloned()
            .collect();
        due.sort_by_key(|s| (s.next_fire_ms.unwrap_or(u64::MAX), s.name.clone()));
        due.truncate(limit);
        ready(Ok(due))
    }

    fn next_schedule_due<'a>(&'a self, workflows: &'a [String]) -> StoreFuture<'a, Option<u64>> {
        let next = self
            .schedules()
            .values()
            .filter(|s| !s.paused && workflows.contains(&s.workflow))
            .filter_map(|s| s.next_fire_ms)
            .min();
        ready(Ok(next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::HistoryKind;

    /// Creates run `id` and completes it at `at_ms`; returns its last version.
    async fn finished_run(s: &MemoryStore, id: &str, at_ms: u64) -> u64 {
        let version = s
            .create_workflow(NewWorkflow {
                id: id.into(),
                name: "wf".into(),
                input: vec![],
                snapshot: vec![],
                now_ms: at_ms,
                history: HistoryEntry::new(at_ms, HistoryKind::Started, "started"),
                parent: None,
                parent_version: None,
                signals: Vec::new(),
                timers: Vec::new(),
            })
            .await
            .expect("create");
        s.commit_step(StepCommit {
            children: Vec::new(),
            workflow_id: id.into(),
            run_key: None,
            expected_version: version,
            now_ms: at_ms,
            outcome: StepOutcome::Cancelled,
            consumed_events: vec![],
            completed_tasks: vec![],
            cancelled: vec![],
            fired_timers: Vec::new(),
            seen_events_upto: 0,
            keep_ready: false,
            history: vec![],
            deliver: Vec::new(),
        })
        .await
        .expect("cancel")
    }

    /// Tombstones do not pile up: `purge_finished` drops those of runs that finished before
    /// its cutoff, oldest first and up to its limit, into the version floor.
    #[tokio::test]
    async fn tombstones_go_with_the_retention_into_the_floor() {
        let s = MemoryStore::new();
        let mut last = Vec::new();
        for (i, id) in ["a", "b", "c"].into_iter().enumerate() {
            last.push(finished_run(&s, id, 100 * (i as u64 + 1)).await);
            s.purge(id).await.expect("purge");
        }
        let state = |s: &MemoryStore| {
            let g = s.lock();
            let mut ids: Vec<String> = g.tombstones.keys().cloned().collect();
            ids.sort();
            (ids, g.version_floor)
        };
        assert_eq!(state(&s), (vec!["a".into(), "b".into(), "c".into()], 0));
        s.purge_finished(250, 0).await.expect("purge finished");
        assert_eq!(state(&s).0.len(), 3, "a limit of 0 drops nothing");
        s.purge_finished(250, 1).await.expect("purge finished");
        assert_eq!(state(&s), (vec!["b".into(), "c".into()], last[0] + 1));
        s.purge_finished(250, 10).await.expect("purge finished");
        assert_eq!(state(&s), (vec!["c".into()], last[0].max(last[1]) + 1));
        // A new run takes its id's tombstone away; a run purged by age leaves none.
        let c = finished_run(&s, "c", 400).await;
        assert!(c > last[2]);
        assert!(state(&s).0.is_empty());
        assert_eq!(
            s.purge_finished(500, 10).await.expect("purge finished"),
            ["c"]
        );
        assert_eq!(state(&s), (vec![], c + 1));
    }
}
