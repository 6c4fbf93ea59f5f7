//! What the runtime reports about itself: metrics through the
//! [`metrics`](https://docs.rs/metrics) facade, spans and events through
//! [`tracing`](https://docs.rs/tracing).
//!
//! Both are facades: nothing is recorded, and next to nothing is spent, until the application
//! installs a metrics recorder (`metrics-exporter-prometheus`, `metrics-util`, ...) or a
//! tracing subscriber (`tracing-subscriber`, an OpenTelemetry layer, ...). A span's fields are
//! formatted only by a subscriber that wants them; a metric's keys are built once per workflow
//! and activity, at registration, not at every step.
//!
//! # Metrics
//!
//! Every name starts with `workflow_`, counters end in `_total` and durations are in seconds
//! (`_seconds`), as Prometheus names them. [`ALL`] lists them in code (name, kind, labels,
//! meaning); [`describe`] hands their descriptions and units to the installed recorder (which
//! [`Builder::build`](crate::Builder::build) also does).
//!
//! | name | kind | labels | what it counts |
//! | --- | --- | --- | --- |
//! | `workflow_steps_total` | counter | `workflow`, `outcome` | steps, by how they ended: `suspended` (committed, the run waits at its next await), `completed` and `failed` (committed, the run finished with that status), `parked` (the step could not run; the run is parked), `conflict` (the commit was refused: another worker or a client changed the run first; the step is run again from the store), `dead_letter` (a signal's payload did not decode: it was dead-lettered and the run waits on), `error` (the store failed; the step is retried), `continued` (committed, the run started over: `WorkflowCtx::continue_as_new`) |
//! | `workflow_step_duration_seconds` | histogram | `workflow` | time of one step: loading what it needs (the run, when its state is not cached, and its inbox), resolving what woke it, running the workflow's code, committing |
//! | `workflow_runs_started_total` | counter | `workflow` | runs created by [`Runtime::start`](crate::Runtime::start) or [`Client::start`](crate::Client::start) (a start that finds the run already there is not counted) |
//! | `workflow_runs_finished_total` | counter | `workflow`, `status` | runs that ended, by status: `completed`, `failed` (by the step that returned), `cancelled` (by [`Client::cancel`](crate::Client::cancel)) |
//! | `workflow_runs_parked_total` | counter | `workflow` | runs parked: a step that panicked or cannot be saved, a snapshot or an inbox that does not decode, a run no registered code can step |
//! | `workflow_runs_unparked_total` | counter | `workflow` | runs put back to work by [`Client::unpark`](crate::Client::unpark) |
//! | `workflow_runs_migrated_total` | counter | `workflow` | runs moved to a newer version of their workflow by a registered migration |
//! | `workflow_timers_fired_total` | counter | `workflow` | timers whose firing woke a committed step (a timer that lost a `select` is not counted) |
//! | `workflow_timer_lateness_seconds` | histogram | `workflow` | for each timer counted above, how long after its due time the step it woke ran (on the runtime's clock) |
//! | `workflow_activity_attempts_total` | counter | `activity`, `outcome` | activity attempts that ended, by outcome: `ok`, `retry` (failed, another attempt is scheduled), `failed` (failed for good: not retryable, attempts used up, a bad call), `timed_out` (a timeout ended the call for good), `lost` (the last allowed attempt was lost by its worker). Failures are the attempts whose outcome is not `ok`; retries are `outcome="retry"` |
//! | `workflow_activity_attempt_duration_seconds` | histogram | `activity` | time of one attempt, from its start to its result |
//! | `workflow_activity_leases_lost_total` | counter | `activity` | attempts of this worker whose lease expired before their result or their retry was stored: the result is dropped and another attempt answers the call |
//! | `workflow_activity_backlog` | gauge | `worker` | activity tasks leased by this runtime and waiting for a free slot ([`Builder::max_concurrent_activities`](crate::Builder::max_concurrent_activities)) |
//! | `workflow_step_queue_depth` | gauge | `worker` | woken workflows waiting for a free step driver ([`Builder::max_concurrent_steps`](crate::Builder::max_concurrent_steps)) |
//! | `workflow_schedule_fire_times_total` | counter | `schedule`, `outcome` | fire times of a schedule ([`crate::schedule`]), by what became of them: `started` (its run was started), `skipped` (the overlap policy skipped it), `buffered` (kept by `Overlap::BufferOne` until the last run ends; counted again as `started` when it starts), `missed` (older than the catch-up window when a worker came to it) |
//! | `workflow_store_commit_batch_size` | histogram | `store` | writes committed together in one transaction by the SQLite store's writer (`store="sqlite"`) or one batch of steps by the PostgreSQL store (`store="postgres"`) |
//!
//! `worker` is the runtime's [`worker_id`](crate::Builder::worker_id): a process that runs
//! several runtimes has one series per runtime. There is no gauge of parked runs (the runtime
//! does not know the store-wide count without a query): [`Client::counts`](crate::Client::counts)
//! gives the count of each status, for a gauge of your own.
//!
//! # Spans and events
//!
//! Levels are the ones users of Temporal or DBOS expect: a run's life at `INFO`, what needs a
//! person at `WARN`, the per-step and per-attempt detail at `DEBUG` (a busy worker makes
//! thousands of steps a second). The target is the module path (`workflow_rt::runtime::...`),
//! so `RUST_LOG=workflow_rt=debug` shows everything.
//!
//! Span [`STEP_SPAN`] (`workflow.step`, `DEBUG`): one per step of a run, around running the
//! workflow's code and committing the step; the workflow's own code runs inside it, so its
//! events nest there.
//! Fields:
//!
//! - `workflow`: the workflow's name; `workflow_id`: the run's id; `step`: the step's number
//!   (1 for the first);
//! - `from`: the state the step started in, `to`: the state it stopped in, by the names of the
//!   generated state machine ([`Description::states`](crate::Description::states): `Start`,
//!   one per await such as `Await1Charge`, `Returned`); a step that parks stays in `from`;
//! - `woken_by`: what woke it, as the history says (`activity charge#0 ok`, `timer#1`,
//!   `signal approve#2`, `start`);
//! - `outcome`: as the `outcome` label of `workflow_steps_total`; `duration_us`: the step's
//!   time in microseconds, as `workflow_step_duration_seconds` measures it.
//!
//! A `DEBUG` event `step` closes each one, with its outcome.
//!
//! Span [`ATTEMPT_SPAN`] (`activity.attempt`, `DEBUG`): one per activity attempt; the
//! activity's body runs inside it. Fields: `activity`, `workflow_id`, `seq` (the call's number
//! in its run), `attempt` (1 for the first), `outcome` (as the `outcome` label of
//! `workflow_activity_attempts_total`), `error_kind` and `error` (when it failed),
//! `duration_us`. A `DEBUG` event `attempt` closes each one. An attempt stopped before it
//! ended (its run cancelled, a `select` it lost, the worker shut down or drained) closes its
//! span with no outcome, and is not counted in `workflow_activity_attempts_total`.
//!
//! Events of a run's life, each with `workflow` and `workflow_id`:
//!
//! | level | message | when, and its other fields |
//! | --- | --- | --- |
//! | `INFO` | `run started` | a run was created |
//! | `INFO` | `run completed` / `run failed` | a run returned (`step`) |
//! | `INFO` | `run cancelled` | a run was cancelled |
//! | `WARN` | `run parked` | a run was parked (`reason`): someone must fix the cause and unpark it |
//! | `INFO` | `run unparked` | a parked run was put back to work |
//! | `INFO` | `run migrated` | a run was moved to a newer version (`detail`) |
//!
//! A schedule's run starts with `schedule started a run` (`INFO`: `schedule`, `workflow_id`,
//! `fire_time`); fire times older than the catch-up window are reported by `schedule missed
//! fire times` (`WARN`: `schedule`, `missed`, the count).
//!
//! Everything else the runtime logs is at `WARN` (a store call that failed and will be
//! retried, a lease that could not be renewed) or `DEBUG`.

use std::fmt;

/// Span of one step of a run: see [the module docs](self#spans-and-events).
pub const STEP_SPAN: &str = "workflow.step";
/// Span of one activity attempt: see [the module docs](self#spans-and-events).
pub const ATTEMPT_SPAN: &str = "activity.attempt";

/// Counter of steps, by `workflow` and `outcome`.
pub const STEPS_TOTAL: &str = "workflow_steps_total";
/// Histogram of the duration of a step, in seconds, by `workflow`.
pub const STEP_DURATION_SECONDS: &str = "workflow_step_duration_seconds";
/// Counter of runs created, by `workflow`.
pub const RUNS_STARTED_TOTAL: &str = "workflow_runs_started_total";
/// Counter of runs that ended, by `workflow` and `status`.
pub const RUNS_FINISHED_TOTAL: &str = "workflow_runs_finished_total";
/// Counter of runs parked, by `workflow`.
pub const RUNS_PARKED_TOTAL: &str = "workflow_runs_parked_total";
/// Counter of runs unparked, by `workflow`.
pub const RUNS_UNPARKED_TOTAL: &str = "workflow_runs_unparked_total";
/// Counter of runs migrated to a newer version, by `workflow`.
pub const RUNS_MIGRATED_TOTAL: &str = "workflow_runs_migrated_total";
/// Counter of timers that woke a committed step, by `workflow`.
pub const TIMERS_FIRED_TOTAL: &str = "workflow_timers_fired_total";
/// Histogram of how late a timer woke its step, in seconds, by `workflow`.
pub const TIMER_LATENESS_SECONDS: &str = "workflow_timer_lateness_seconds";
/// Counter of activity attempts that ended, by `activity` and `outcome`.
pub const ACTIVITY_ATTEMPTS_TOTAL: &str = "workflow_activity_attempts_total";
/// Histogram of the duration of an activity attempt, in seconds, by `activity`.
pub const ACTIVITY_ATTEMPT_DURATION_SECONDS: &str = "workflow_activity_attempt_duration_seconds";
/// Counter of attempts whose lease expired before their result was stored, by `activity`.
pub const ACTIVITY_LEASES_LOST_TOTAL: &str = "workflow_activity_leases_lost_total";
/// Gauge of the leased activity tasks waiting for a slot, by `worker`.
pub const ACTIVITY_BACKLOG: &str = "workflow_activity_backlog";
/// Gauge of the woken workflows waiting for a step driver, by `worker`.
pub const STEP_QUEUE_DEPTH: &str = "workflow_step_queue_depth";
/// Counter of the fire times of schedules, by `schedule` and `outcome`.
pub const SCHEDULE_FIRE_TIMES_TOTAL: &str = "workflow_schedule_fire_times_total";
/// Histogram of the number of writes committed in one transaction, by `store`.
pub const STORE_COMMIT_BATCH_SIZE: &str = "workflow_store_commit_batch_size";

/// The label naming the workflow (its [`Workflow::NAME`](crate::Workflow::NAME)).
pub const LABEL_WORKFLOW: &str = "workflow";
/// The label naming the activity (its [`Activity::NAME`](crate::Activity::NAME)).
pub const LABEL_ACTIVITY: &str = "activity";
/// The label saying how a step or an attempt ended.
pub const LABEL_OUTCOME: &str = "outcome";
/// The label saying how a run ended: `completed`, `failed`, `cancelled`.
pub const LABEL_STATUS: &str = "status";
/// The label naming the runtime ([`Builder::worker_id`](crate::Builder::worker_id)).
pub const LABEL_WORKER: &str = "worker";
/// The label naming the store: `sqlite`, `postgres`.
pub const LABEL_STORE: &str = "store";
/// The label naming a schedule.
pub const LABEL_SCHEDULE: &str = "schedule";

/// What kind of metric a [`MetricInfo`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Only goes up (`_total`).
    Counter,
    /// Goes up and down; the last value set counts.
    Gauge,
    /// A distribution of recorded values.
    Histogram,
}

impl fmt::Display for MetricKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        })
    }
}

/// One metric the runtime records: see [`ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricInfo {
    /// Its name, e.g. [`STEPS_TOTAL`].
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// The labels every series of it has.
    pub labels: &'static [&'static str],
    /// `Some(Unit::Seconds)` for durations; `None` for counts.
    pub unit: Option<::metrics::Unit>,
    /// What it measures, in one sentence (the Prometheus `# HELP` line).
    pub help: &'static str,
}

const fn metric(
    name: &'static str,
    kind: MetricKind,
    labels: &'static [&'static str],
    unit: Option<::metrics::Unit>,
    help: &'static str,
) -> MetricInfo {
    MetricInfo {
        name,
        kind,
        labels,
        unit,
        help,
    }
}

use MetricKind::{Counter, Gauge, Histogram};
const SECONDS: Option<::metrics::Unit> = Some(::metrics::Unit::Seconds);

/// Every metric the runtime and its stores record, with its labels and meaning (the table of
/// [the module docs](self#metrics)).
pub const ALL: &[MetricInfo] = &[
    metric(
        STEPS_TOTAL,
        Counter,
        &[LABEL_WORKFLOW, LABEL_OUTCOME],
        None,
        "Workflow steps, by how they ended \
         (suspended, completed, failed, parked, conflict, dead_letter, error).",
    ),
    metric(
        STEP_DURATION_SECONDS,
        Histogram,
        &[LABEL_WORKFLOW],
        SECONDS,
        "Time of one step: loading the run and its inbox when needed, resolving its wake, \
         the workflow's code and the commit.",
    ),
    metric(
        RUNS_STARTED_TOTAL,
        Counter,
        &[LABEL_WORKFLOW],
        None,
        "Runs created.",
    ),
    metric(
        RUNS_FINISHED_TOTAL,
        Counter,
        &[LABEL_WORKFLOW, LABEL_STATUS],
        None,
        "Runs that ended, by status (completed, failed, cancelled).",
    ),
    metric(
        RUNS_PARKED_TOTAL,
        Counter,
        &[LABEL_WORKFLOW],
        None,
        "Runs parked: their next step cannot run until someone fixes the cause and unparks them.",
    ),
    metric(
        RUNS_UNPARKED_TOTAL,
        Counter,
        &[LABEL_WORKFLOW],
        None,
        "Parked runs put back to work.",
    ),
    metric(
        RUNS_MIGRATED_TOTAL,
        Counter,
        &[LABEL_WORKFLOW],
        None,
        "Runs moved to a newer version of their workflow by a migration.",
    ),
    metric(
        TIMERS_FIRED_TOTAL,
        Counter,
        &[LABEL_WORKFLOW],
        None,
        "Timers whose firing woke a committed step.",
    ),
    metric(
        TIMER_LATENESS_SECONDS,
        Histogram,
        &[LABEL_WORKFLOW],
        SECONDS,
        "How long after its due time a timer's step ran.",
    ),
    metric(
        ACTIVITY_ATTEMPTS_TOTAL,
        Counter,
        &[LABEL_ACTIVITY, LABEL_OUTCOME],
        None,
        "Activity attempts that ended, by outcome (ok, retry, failed, timed_out, lost).",
    ),
    metric(
        ACTIVITY_ATTEMPT_DURATION_SECONDS,
        Histogram,
        &[LABEL_ACTIVITY],
        SECONDS,
        "Time of one activity attempt.",
    ),
    metric(
        ACTIVITY_LEASES_LOST_TOTAL,
        Counter,
        &[LABEL_ACTIVITY],
        None,
        "Attempts whose lease expired before their result or retry was stored.",
    ),
    metric(
        ACTIVITY_BACKLOG,
        Gauge,
        &[LABEL_WORKER],
        None,
        "Leased activity tasks waiting for a free slot.",
    ),
    metric(
        STEP_QUEUE_DEPTH,
        Gauge,
        &[LABEL_WORKER],
        None,
        "Woken workflows waiting for a free step driver.",
    ),
    metric(
        SCHEDULE_FIRE_TIMES_TOTAL,
        Counter,
        &[LABEL_SCHEDULE, LABEL_OUTCOME],
        None,
        "Fire times of schedules, by what became of them (started, skipped, buffered, missed).",
    ),
    metric(
        STORE_COMMIT_BATCH_SIZE,
        Histogram,
        &[LABEL_STORE],
        None,
        "Writes committed together in one store transaction.",
    ),
];

/// Hands the description and unit of every metric in [`ALL`] to the installed recorder (a
/// Prometheus exporter shows them as `# HELP` and `# UNIT`).
/// [`Builder::build`](crate::Builder::build) calls it; call it yourself if you install the
/// recorder after building the runtime. Without a recorder it does nothing.
pub fn describe() {
    ::metrics::with_recorder(|recorder| {
        for m in ALL {
            let name = ::metrics::KeyName::from_const_str(m.name);
            let help = ::metrics::SharedString::const_str(m.help);
            match m.kind {
                Counter => recorder.describe_counter(name, m.unit, help),
                Gauge => recorder.describe_gauge(name, m.unit, help),
                Histogram => recorder.describe_histogram(name, m.unit, help),
            }
        }
    });
}
