//! The runtime's metrics and spans ([`crate::metrics`] says what each one means).
//!
//! Kept cheap for a process that installs no recorder and no subscriber: the keys of the
//! metrics recorded at every step or attempt are built once, when a workflow or an activity is
//! registered (a key built at the call would allocate its labels and hash them every time),
//! so recording one costs a look at which recorder is installed; a span is created only if a
//! subscriber wants it (`Span::none()` otherwise), and its fields that take work to find (the
//! names of the states) are looked up only then.

use std::time::{Duration, Instant};

use ::metrics::{Key, Label, Level, Metadata, SharedString};
use tracing::field::Empty;
use tracing::{Instrument, Span};

use super::registry::{ErasedState, ErasedWorkflow};
use crate::activity::{ActivityError, ActivityErrorKind};
use crate::metrics as names;
use crate::store::{ActivityTask, WorkflowStatus};

static METADATA: Metadata<'static> =
    Metadata::new("workflow_rt", Level::INFO, Some(module_path!()));

fn count(key: &Key) {
    ::metrics::with_recorder(|r| r.register_counter(key, &METADATA).increment(1));
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn observe(key: &Key, value: f64) {
    ::metrics::with_recorder(|r| r.register_histogram(key, &METADATA).record(value));
}

/// Counts one at `counter` and records `value` in `histogram`, with one look at the recorder.
fn count_and_observe(counter: &Key, histogram: &Key, value: f64) {
    ::metrics::with_recorder(|r| {
        r.register_counter(counter, &METADATA).increment(1);
        r.register_histogram(histogram, &METADATA).record(value);
    });
}

fn set(key: &Key, value: f64) {
    ::metrics::with_recorder(|r| r.register_gauge(key, &METADATA).set(value));
}

/// A key with labels whose values are not known before the call (rare events only).
fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
    let labels: Vec<Label> = labels
        .iter()
        .map(|(k, v)| Label::new(*k, v.to_string()))
        .collect();
    Key::from_parts(name, labels)
}

/// How a step ended: the `outcome` label of [`names::STEPS_TOTAL`] and of the step span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StepEnd {
    Suspended,
    Completed,
    Failed,
    Parked,
    Conflict,
    DeadLetter,
    Error,
    Continued,
}

// `ALL` lists the ends in their declared order: an end's label is `ALL[end as usize]`'s.
const _: () = {
    let mut i = 0;
    while i < StepEnd::ALL.len() {
        assert!(StepEnd::ALL[i] as usize == i);
        i += 1;
    }
};

impl StepEnd {
    const ALL: [StepEnd; 8] = [
        StepEnd::Suspended,
        StepEnd::Completed,
        StepEnd::Failed,
        StepEnd::Parked,
        StepEnd::Conflict,
        StepEnd::DeadLetter,
        StepEnd::Error,
        StepEnd::Continued,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StepEnd::Suspended => "suspended",
            StepEnd::Completed => "completed",
            StepEnd::Failed => "failed",
            StepEnd::Parked => "parked",
            StepEnd::Conflict => "conflict",
            StepEnd::DeadLetter => "dead_letter",
            StepEnd::Error => "error",
            StepEnd::Continued => "continued",
        }
    }
}

/// How an activity attempt ended: the `outcome` label of [`names::ACTIVITY_ATTEMPTS_TOTAL`]
/// and of the attempt span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttemptEnd {
    Ok,
    Retry,
    Failed,
    TimedOut,
    Lost,
}

impl AttemptEnd {
    const ALL: [AttemptEnd; 5] = [
        AttemptEnd::Ok,
        AttemptEnd::Retry,
        AttemptEnd::Failed,
        AttemptEnd::TimedOut,
        AttemptEnd::Lost,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AttemptEnd::Ok => "ok",
            AttemptEnd::Retry => "retry",
            AttemptEnd::Failed => "failed",
            AttemptEnd::TimedOut => "timed_out",
            AttemptEnd::Lost => "lost",
        }
    }

    /// The outcome of a call's final error.
    pub(crate) fn of_final(e: &ActivityError) -> Self {
        match e.kind {
            ActivityErrorKind::StartToCloseTimeout
            | ActivityErrorKind::ScheduleToCloseTimeout
            | ActivityErrorKind::HeartbeatTimeout => AttemptEnd::TimedOut,
            ActivityErrorKind::Lost => AttemptEnd::Lost,
            _ => AttemptEnd::Failed,
        }
    }
}

/// The keys of one workflow's per-step metrics.
pub(crate) struct WorkflowKeys {
    steps: [Key; StepEnd::ALL.len()],
    step_duration: Key,
    timers_fired: Key,
    timer_lateness: Key,
    /// [`names::RUNS_FINISHED_TOTAL`] by status, as [`FINISHED`] orders them: built once, not
    /// at every run's end.
    finished: [Key; FINISHED.len()],
    workflow: &'static str,
}

impl WorkflowKeys {
    pub(crate) fn new(workflow: &'static str) -> Self {
        let by_workflow = |name: &'static str| {
            Key::from_parts(
                name,
                vec![Label::from_static_parts(names::LABEL_WORKFLOW, workflow)],
            )
        };
        WorkflowKeys {
            steps: StepEnd::ALL.map(|end| {
                Key::from_parts(
                    names::STEPS_TOTAL,
                    vec![
                        Label::from_static_parts(names::LABEL_WORKFLOW, workflow),
                        Label::from_static_parts(names::LABEL_OUTCOME, end.as_str()),
                    ],
                )
            }),
            step_duration: by_workflow(names::STEP_DURATION_SECONDS),
            timers_fired: by_workflow(names::TIMERS_FIRED_TOTAL),
            timer_lateness: by_workflow(names::TIMER_LATENESS_SECONDS),
            finished: FINISHED.map(|status| {
                Key::from_parts(
                    names::RUNS_FINISHED_TOTAL,
                    vec![
                        Label::from_static_parts(names::LABEL_WORKFLOW, workflow),
                        Label::from_static_parts(names::LABEL_STATUS, status),
                    ],
                )
            }),
            workflow,
        }
    }

    /// Run `id` of this workflow ended with `status`, at step `step`: logged and counted.
    pub(crate) fn run_finished(&self, id: &str, status: WorkflowStatus, step: Option<u64>) {
        count(&self.finished[log_finished(self.workflow, id, status, step)]);
    }

    /// A timer due at `due_ms` woke a step that committed at `now_ms`.
    pub(crate) fn timer_fired(&self, due_ms: u64, now_ms: u64) {
        count_and_observe(
            &self.timers_fired,
            &self.timer_lateness,
            Duration::from_millis(now_ms.saturating_sub(due_ms)).as_secs_f64(),
        );
    }
}

/// The keys of one activity's per-attempt metrics.
pub(crate) struct ActivityKeys {
    attempts: [Key; AttemptEnd::ALL.len()],
    duration: Key,
    leases_lost: Key,
}

impl ActivityKeys {
    pub(crate) fn new(activity: impl Into<SharedString>) -> Self {
        let activity: SharedString = activity.into();
        let label = || Label::new(names::LABEL_ACTIVITY, activity.clone());
        ActivityKeys {
            attempts: AttemptEnd::ALL.map(|end| {
                Key::from_parts(
                    names::ACTIVITY_ATTEMPTS_TOTAL,
                    vec![
                        label(),
                        Label::from_static_parts(names::LABEL_OUTCOME, end.as_str()),
                    ],
                )
            }),
            duration: Key::from_parts(names::ACTIVITY_ATTEMPT_DURATION_SECONDS, vec![label()]),
            leases_lost: Key::from_parts(names::ACTIVITY_LEASES_LOST_TOTAL, vec![label()]),
        }
    }

    /// An attempt of this worker lost its lease before its result or retry was stored.
    pub(crate) fn lease_lost(&self) {
        count(&self.leases_lost);
    }
}

/// The keys of a runtime's gauges (labelled with its worker id).
pub(crate) struct RuntimeKeys {
    backlog: Key,
    step_queue: Key,
}

impl RuntimeKeys {
    pub(crate) fn new(worker: &str) -> Self {
        let by_worker = |name| {
            Key::from_parts(
                name,
                vec![Label::new(names::LABEL_WORKER, worker.to_string())],
            )
        };
        RuntimeKeys {
            backlog: by_worker(names::ACTIVITY_BACKLOG),
            step_queue: by_worker(names::STEP_QUEUE_DEPTH),
        }
    }

    pub(crate) fn backlog(&self, n: usize) {
        set(&self.backlog, n as f64);
    }

    pub(crate) fn step_queue(&self, n: usize) {
        set(&self.step_queue, n as f64);
    }
}

/// A commit of `size` writes in one transaction of store `store`.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn store_batch(store: &'static str, size: usize) {
    static SQLITE: [Label; 1] = [Label::from_static_parts(names::LABEL_STORE, "sqlite")];
    static POSTGRES: [Label; 1] = [Label::from_static_parts(names::LABEL_STORE, "postgres")];
    static SQLITE_KEY: Key = Key::from_static_parts(names::STORE_COMMIT_BATCH_SIZE, &SQLITE);
    static POSTGRES_KEY: Key = Key::from_static_parts(names::STORE_COMMIT_BATCH_SIZE, &POSTGRES);
    match store {
        "sqlite" => observe(&SQLITE_KEY, size as f64),
        "postgres" => observe(&POSTGRES_KEY, size as f64),
        other => observe(
            &key(
                names::STORE_COMMIT_BATCH_SIZE,
                &[(names::LABEL_STORE, other)],
            ),
            size as f64,
        ),
    }
}

/// A run was created.
pub(crate) fn run_started(workflow: &'static str, id: &str) {
    tracing::info!(workflow, workflow_id = id, "run started");
    count(&key(
        names::RUNS_STARTED_TOTAL,
        &[(names::LABEL_WORKFLOW, workflow)],
    ));
}

/// A run ended with `status` (completed or failed by its last step, or cancelled).
pub(crate) fn run_finished(workflow: &str, id: &str, status: WorkflowStatus, step: Option<u64>) {
    let status = FINISHED[log_finished(workflow, id, status, step)];
    count(&key(
        names::RUNS_FINISHED_TOTAL,
        &[
            (names::LABEL_WORKFLOW, workflow),
            (names::LABEL_STATUS, status),
        ],
    ));
}

/// The `status` labels of [`names::RUNS_FINISHED_TOTAL`].
const FINISHED: [&str; 3] = [
    WorkflowStatus::Completed.as_str(),
    WorkflowStatus::Failed.as_str(),
    WorkflowStatus::Cancelled.as_str(),
];

/// Logs the end of a run; its label's place in [`FINISHED`].
fn log_finished(workflow: &str, id: &str, status: WorkflowStatus, step: Option<u64>) -> usize {
    match status {
        WorkflowStatus::Completed => {
            tracing::info!(workflow, workflow_id = id, step, "run completed");
            0
        }
        WorkflowStatus::Failed => {
            tracing::info!(workflow, workflow_id = id, step, "run failed");
            1
        }
        _ => {
            tracing::info!(workflow, workflow_id = id, "run cancelled");
            2
        }
    }
}

/// A run was parked.
pub(crate) fn run_parked(workflow: &str, id: &str, reason: &str) {
    tracing::warn!(workflow, workflow_id = id, reason, "run parked");
    count(&key(
        names::RUNS_PARKED_TOTAL,
        &[(names::LABEL_WORKFLOW, workflow)],
    ));
}

/// A parked run was put back to work.
pub(crate) fn run_unparked(workflow: &str, id: &str) {
    tracing::info!(workflow, workflow_id = id, "run unparked");
    count(&key(
        names::RUNS_UNPARKED_TOTAL,
        &[(names::LABEL_WORKFLOW, workflow)],
    ));
}

/// A run was moved to a newer version.
pub(crate) fn run_migrated(workflow: &str, id: &str, detail: &str) {
    tracing::info!(workflow, workflow_id = id, detail, "run migrated");
    count(&key(
        names::RUNS_MIGRATED_TOTAL,
        &[(names::LABEL_WORKFLOW, workflow)],
    ));
}

/// The span of one step, and when it began.
pub(crate) struct StepTrace {
    pub(crate) span: Span,
    began: Instant,
}

impl StepTrace {
    /// Opens the span of step `step` of run `id`, from `state`, which began at `began`.
    pub(crate) fn begin(
        workflow: &dyn ErasedWorkflow,
        id: &str,
        step: u64,
        state: &ErasedState,
        woken_by: &str,
        began: Instant,
    ) -> Self {
        let span = tracing::debug_span!(
            names::STEP_SPAN,
            workflow = workflow.name(),
            workflow_id = id,
            step,
            from = Empty,
            to = Empty,
            woken_by,
            outcome = Empty,
            duration_us = Empty,
        );
        if !span.is_disabled()
            && let Some(name) = workflow.state_name(state)
        {
            // `to` too, until the step says otherwise (a step that parks stays where it was).
            span.record("from", name).record("to", name);
        }
        StepTrace { span, began }
    }

    /// Runs `work` (the step's store calls) in the step's span; as it is when no subscriber
    /// wants the span.
    pub(crate) async fn within<F: Future>(&self, work: F) -> F::Output {
        if self.span.is_disabled() {
            work.await
        } else {
            work.instrument(self.span.clone()).await
        }
    }

    /// The step stopped in `state` (not yet committed).
    pub(crate) fn stopped_in(&self, workflow: &dyn ErasedWorkflow, state: &ErasedState) {
        if !self.span.is_disabled()
            && let Some(name) = workflow.state_name(state)
        {
            self.span.record("to", name);
        }
    }

    /// Closes the step with how it ended; returns when.
    pub(crate) fn end(self, keys: &WorkflowKeys, end: StepEnd) -> Instant {
        let ended = Instant::now();
        let took = ended.saturating_duration_since(self.began);
        count_and_observe(
            &keys.steps[end as usize],
            &keys.step_duration,
            took.as_secs_f64(),
        );
        if !self.span.is_disabled() {
            let outcome = end.as_str();
            let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
            self.span.record("outcome", outcome);
            self.span.record("duration_us", micros);
            tracing::debug!(parent: &self.span, outcome, "step");
        }
        ended
    }
}

/// The span of one activity attempt, and when it began.
pub(crate) struct AttemptTrace {
    pub(crate) span: Span,
    began: Instant,
}

impl AttemptTrace {
    /// Opens the span of an attempt of `task`, which began at `began`.
    pub(crate) fn begin(task: &ActivityTask, began: Instant) -> Self {
        let span = tracing::debug_span!(
            names::ATTEMPT_SPAN,
            activity = task.name.as_str(),
            workflow_id = task.workflow_id.as_str(),
            seq = task.seq,
            attempt = task.attempt,
            outcome = Empty,
            error_kind = Empty,
            error = Empty,
            duration_us = Empty,
        );
        AttemptTrace { span, began }
    }

    /// Closes the attempt with how it ended (and its error, if it failed); returns when.
    pub(crate) fn end(
        self,
        keys: &ActivityKeys,
        end: AttemptEnd,
        error: Option<&ActivityError>,
    ) -> Instant {
        let ended = Instant::now();
        let took = ended.saturating_duration_since(self.began);
        count_and_observe(
            &keys.attempts[end as usize],
            &keys.duration,
            took.as_secs_f64(),
        );
        if !self.span.is_disabled() {
            let outcome = end.as_str();
            let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
            self.span.record("outcome", outcome);
            self.span.record("duration_us", micros);
            if let Some(e) = error {
                self.span
                    .record("error_kind", tracing::field::debug(&e.kind))
                    .record("error", tracing::field::display(e));
            }
            tracing::debug!(parent: &self.span, outcome, "attempt");
        }
        ended
    }
}

/// What a look at schedule `name` did with its fire times.
pub(crate) fn schedule_fired(
    name: &str,
    started: usize,
    skipped: u64,
    buffered: bool,
    missed: u64,
) {
    let add = |outcome: &str, n: u64| {
        if n > 0 {
            let key = key(
                names::SCHEDULE_FIRE_TIMES_TOTAL,
                &[
                    (names::LABEL_SCHEDULE, name),
                    (names::LABEL_OUTCOME, outcome),
                ],
            );
            ::metrics::with_recorder(|r| r.register_counter(&key, &METADATA).increment(n));
        }
    };
    add("started", started as u64);
    add("skipped", skipped);
    add("buffered", u64::from(buffered));
    add("missed", missed);
    if missed > 0 {
        tracing::warn!(schedule = name, missed, "schedule missed fire times");
    }
}
