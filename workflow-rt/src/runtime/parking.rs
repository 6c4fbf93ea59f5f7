//! Parking a workflow whose step cannot run, and dead-lettering a signal whose payload does
//! not decode.

use super::engine::Inner;
use crate::step::StepFailure;
use crate::store::{
    Event, EventKind, HistoryEntry, HistoryKind, StepCommit, StepOutcome, StoreError,
    WorkflowStatus,
};

/// What became of a signal that does not decode (see [`Inner::dead_letter`]).
pub(super) enum Rejection {
    /// Taken out of the inbox into the history; the workflow waits on.
    DeadLettered,
    /// The workflow changed since this view of it: look again.
    Stale,
    /// No one signal is to blame: park the workflow.
    NoCulprit,
}

impl Inner {
    /// Parks a workflow whose next step cannot run; its snapshot stays the last good one.
    pub(super) async fn park(
        &self,
        workflow: &str,
        id: &str,
        version: u64,
        reason: String,
    ) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        // The parent of a child run is not told: it waits for the child, which a fix and an
        // unpark bring back (see `ChildError::Parked`).
        let commit = StepCommit {
            children: Vec::new(),
            deliver: Vec::new(),
            workflow_id: id.to_string(),
            run_key: None,
            expected_version: version,
            now_ms: now,
            history: vec![HistoryEntry::new(now, HistoryKind::Parked, reason.clone())],
            outcome: StepOutcome::Parked {
                reason: reason.clone(),
            },
            consumed_events: Vec::new(),
            completed_tasks: Vec::new(),
            cancelled: Vec::new(),
            fired_timers: Vec::new(),
            seen_events_upto: 0,
            keep_ready: false,
        };
        match self.store.commit_step(commit).await {
            Ok(_) => self.parked(workflow, id, &reason).await,
            // Changed meanwhile: whoever changed it goes on, and the next load looks again.
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
        self.forget(id);
        self.notify_watchers(id);
        Ok(())
    }

    /// What follows a committed park of run `id`: a cancel request that came while the run
    /// was parking (stored after the step read the inbox, and its sender looked before the
    /// park) cannot be taken by a parked run's code, so the run is terminated, as
    /// [`crate::Client::cancel`] does with a run it finds parked. The sender looks after it
    /// stores the request, and this looks after the park: one of the two sees the other.
    pub(super) async fn parked(&self, workflow: &str, id: &str, reason: &str) {
        super::telemetry::run_parked(workflow, id, reason);
        self.stop_if_cancel_came(id).await;
    }

    /// Terminates parked run `id` if its inbox holds a cancel request, or the end of the
    /// grace period of a cancel it took before it parked (the end of the grace period stops a
    /// run, parked or not; its timer fires into the inbox, and the run is woken, which looks
    /// here: [`Self::decode_record`]). A run unparked meanwhile is left to take them.
    pub(super) async fn stop_if_cancel_came(&self, id: &str) {
        let grace = super::compose::GRACE_SEQ;
        let why = match self.store.load_inbox(id).await {
            Ok(inbox) => inbox.into_iter().find_map(|e| match e.kind {
                EventKind::CancelRequested { reason, .. } => Some((reason, false)),
                EventKind::TimerFired { seq } if seq == grace => Some((
                    "its grace period after a cancel request ran out".to_string(),
                    false,
                )),
                EventKind::TimerFired { seq } if seq == super::compose::TIMEOUT_SEQ => {
                    Some((super::compose::TIMED_OUT.to_string(), true))
                }
                _ => None,
            }),
            Err(e) => {
                tracing::debug!(workflow_id = %id, error = %e, "cannot look for a cancel request of a parked run");
                None
            }
        };
        if let Some((why, timed_out)) = why {
            super::Client::beside(self)
                .terminate_parked(&[super::compose::Told {
                    id: id.to_string(),
                    reason: why,
                    timed_out,
                    child_of: None,
                }])
                .await;
            self.forget(id);
            self.notify_watchers(id);
        }
    }

    /// Looks at every parked run, once, for a cancel that came for it (see
    /// [`Self::stop_if_cancel_came`]): its end of a grace period is fired into its inbox and
    /// the run woken in memory, so a process that stopped in between left it parked past its
    /// grace. Parked runs are few: a page of them at a time, in the background at start.
    pub(super) async fn sweep_parked_cancels(&self) -> Result<usize, StoreError> {
        let mut after = None;
        let mut looked = 0;
        loop {
            if self.is_shut_down() {
                return Ok(looked);
            }
            let mut query = crate::store::RunQuery::new()
                .status(crate::WorkflowStatus::Parked)
                .limit(crate::store::RunQuery::MAX_LIMIT);
            if let Some(a) = after.take() {
                query = query.after(a);
            }
            let page = self.store.list_runs(query).await?;
            for run in &page.runs {
                self.stop_if_cancel_came(&run.id).await;
                looked += 1;
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(looked),
            }
        }
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
    pub(super) async fn dead_letter(
        &self,
        id: &str,
        version: u64,
        event_id: u64,
        failure: &StepFailure,
        inbox: &[Event],
    ) -> Result<Rejection, StoreError> {
        let Some(Event {
            at_ms,
            kind:
                EventKind::Signal {
                    name,
                    payload,
                    type_tag,
                },
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
        let shown = match std::str::from_utf8(payload) {
            Ok(json) if *type_tag == Some(crate::signal::JSON_TAG) => {
                let mut s = String::from("(JSON): ");
                super::shown::push_text(&mut s, json);
                s
            }
            _ => hex_preview(payload),
        };
        let detail = format!(
            "signal {name:?} sent at {at_ms} dead-lettered: {reason}; the workflow waits on; payload {shown}"
        );
        tracing::warn!(workflow_id = %id, signal = %name, %reason, "dead-lettered a signal");
        let commit = StepCommit {
            children: Vec::new(),
            workflow_id: id.to_string(),
            run_key: None,
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
            fired_timers: Vec::new(),
            seen_events_upto: 0,
            // Another signal may be buffered behind it.
            keep_ready: true,
            history: vec![HistoryEntry::new(now, HistoryKind::DeadLetter, detail)],
            deliver: Vec::new(),
        };
        match self.store.commit_step(commit).await {
            Ok(_) => Ok(Rejection::DeadLettered),
            Err(StoreError::Conflict { .. } | StoreError::NotFound(_)) => Ok(Rejection::Stale),
            Err(e) => Err(e),
        }
    }
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
