//! What the runtime reports: the spans of its steps and activity attempts (with the states a
//! step went from and to, and how it ended), the events of a run's life, and its metrics (names,
//! labels, values), captured by a tracing layer and a metrics recorder installed for this test
//! binary.
//!
//! The subscriber and the recorder are global, so the tests take turns ([`SERIAL`]) and look
//! only at what their own runs reported (by run id, or by workflow name for the metrics).

mod support;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::{CompositeKey, MetricKind as UtilKind};
use support::{Mode, both_modes, builder, eventually, memory, within};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use workflow_rt::machine::Pending;
use workflow_rt::metrics::{self as names, ALL, MetricKind};
use workflow_rt::prelude::*;
use workflow_rt::store::{HistoryKind, Store};
use workflow_rt::{Clock, SqliteStore, WorkflowStatus};

// ---------------------------------------------------------------------------------------------
// What is captured.

/// A span's or an event's fields, as text (strings without quotes).
#[derive(Debug, Clone, Default, PartialEq)]
struct Fields(BTreeMap<String, String>);

impl Fields {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

/// A span, once closed.
#[derive(Debug, Clone)]
struct SpanRecord {
    name: &'static str,
    fields: Fields,
}

#[derive(Debug, Clone)]
struct EventRecord {
    level: Level,
    message: String,
    fields: Fields,
    /// The span the event happened in.
    span: Option<&'static str>,
}

#[derive(Default)]
struct Captured {
    spans: Vec<SpanRecord>,
    events: Vec<EventRecord>,
}

/// Records every span (with its fields as last recorded) when it closes, and every event.
struct Capture(Arc<Mutex<Captured>>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<Fields>()
        {
            values.record(fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let message = fields.0.remove("message").unwrap_or_default();
        let span = ctx.event_span(event).map(|s| s.name());
        self.0.lock().unwrap().events.push(EventRecord {
            level: *event.metadata().level(),
            message,
            fields,
            span,
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            let fields = span
                .extensions()
                .get::<Fields>()
                .cloned()
                .unwrap_or_default();
            self.0.lock().unwrap().spans.push(SpanRecord {
                name: span.name(),
                fields,
            });
        }
    }
}

struct Observed {
    captured: Arc<Mutex<Captured>>,
    metrics: Snapshotter,
}

/// Installs the capturing subscriber and recorder for this process, once.
fn observed() -> &'static Observed {
    static OBSERVED: OnceLock<Observed> = OnceLock::new();
    OBSERVED.get_or_init(|| {
        let captured = Arc::new(Mutex::new(Captured::default()));
        let subscriber = tracing_subscriber::registry().with(Capture(captured.clone()));
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        let recorder = DebuggingRecorder::new();
        let metrics = recorder.snapshotter();
        metrics::set_global_recorder(recorder).expect("the only recorder");
        Observed { captured, metrics }
    })
}

/// The tests take turns: the recorder's snapshots take what was recorded since the last one.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A metric as recorded: its value (counter, gauge) or its samples (histogram).
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Counter(u64),
    Gauge(f64),
    Histogram(Vec<f64>),
}

/// A metric's name and labels, as `name{key=value,...}` with the labels sorted.
fn series(key: &CompositeKey) -> String {
    let mut labels: Vec<String> = key
        .key()
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    labels.sort();
    format!("{}{{{}}}", key.key().name(), labels.join(","))
}

/// What was recorded since the last call, by series; checks on the way that every series is
/// one of `workflow_rt::metrics::ALL`, of its kind, with its labels, described with its help.
fn take_metrics() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (key, unit, help, value) in observed().metrics.snapshot().into_vec() {
        let name = key.key().name();
        let info = ALL
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("{name} is recorded but not listed in metrics::ALL"));
        let kind = match key.kind() {
            UtilKind::Counter => MetricKind::Counter,
            UtilKind::Gauge => MetricKind::Gauge,
            UtilKind::Histogram => MetricKind::Histogram,
        };
        assert_eq!(kind, info.kind, "{name}");
        let mut labels: Vec<&str> = key.key().labels().map(|l| l.key()).collect();
        labels.sort();
        let mut listed = info.labels.to_vec();
        listed.sort();
        assert_eq!(labels, listed, "the labels of {name}");
        assert_eq!(
            help.as_deref(),
            Some(info.help),
            "{name} is described (Builder::build calls metrics::describe)"
        );
        assert_eq!(unit, info.unit, "the unit of {name}");
        let value = match value {
            DebugValue::Counter(n) => Value::Counter(n),
            DebugValue::Gauge(g) => Value::Gauge(g.into_inner()),
            DebugValue::Histogram(h) => Value::Histogram(h.into_iter().map(|v| v.0).collect()),
        };
        out.insert(series(&key), value);
    }
    out
}

/// The counters and histogram sample counts of `workflow` (and of `activity`), with the
/// samples of `exact` histograms whole: what a run reports that does not depend on timing.
fn summary(
    metrics: &BTreeMap<String, Value>,
    workflow: &str,
    activity: Option<&str>,
    exact: &[&str],
) -> BTreeMap<String, String> {
    let ours = |s: &str| {
        s.contains(&format!("workflow={workflow}"))
            || activity.is_some_and(|a| s.contains(&format!("activity={a}")))
    };
    metrics
        .iter()
        .filter(|(s, _)| ours(s))
        .filter_map(|(s, v)| {
            let shown = match v {
                Value::Counter(0) => return None,
                Value::Counter(n) => n.to_string(),
                Value::Histogram(h) if exact.iter().any(|e| s.starts_with(e)) => format!("{h:?}"),
                Value::Histogram(h) => format!("{} samples", h.len()),
                Value::Gauge(_) => return None,
            };
            Some((s.clone(), shown))
        })
        .collect()
}

fn spans(name: &str, id: &str) -> Vec<Fields> {
    observed()
        .captured
        .lock()
        .unwrap()
        .spans
        .iter()
        .filter(|s| s.name == name && s.fields.get("workflow_id") == Some(id))
        .map(|s| s.fields.clone())
        .collect()
}

fn events(id: &str) -> Vec<EventRecord> {
    observed()
        .captured
        .lock()
        .unwrap()
        .events
        .iter()
        .filter(|e| e.fields.get("workflow_id") == Some(id))
        .cloned()
        .collect()
}

/// The run-life events of run `id` (level and message), in order.
fn life(id: &str) -> Vec<(Level, String)> {
    events(id)
        .into_iter()
        .filter(|e| e.message.starts_with("run "))
        .map(|e| (e.level, e.message))
        .collect()
}

/// Each step span of run `id` as (step, from, to, woken_by, outcome), by step number then in
/// the order they closed.
fn steps(id: &str) -> Vec<(u64, String, String, String, String)> {
    let mut out: Vec<_> = spans(names::STEP_SPAN, id)
        .into_iter()
        .map(|f| {
            let field = |n: &str| f.get(n).unwrap_or("<missing>").to_string();
            assert!(
                f.get("duration_us")
                    .is_some_and(|d| d.parse::<u64>().is_ok()),
                "a step span has its duration: {f:?}"
            );
            assert!(f.get("workflow").is_some(), "{f:?}");
            (
                f.get("step").and_then(|s| s.parse().ok()).expect("step"),
                field("from"),
                field("to"),
                field("woken_by"),
                field("outcome"),
            )
        })
        .collect();
    out.sort_by_key(|s| s.0);
    out
}

/// The state names of workflow `W`'s machine.
fn states<W: Workflow>() -> Vec<&'static str> {
    W::description().states.iter().map(|s| s.name).collect()
}

// ---------------------------------------------------------------------------------------------
// A run with an activity that fails once, a timer and a signal.

#[activity]
async fn flaky_double(ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    tracing::info!(attempt = ctx.attempt(), "flaky_double runs");
    if ctx.attempt() == 1 {
        return Err(ActivityError::retryable("the first attempt fails"));
    }
    Ok(x * 2)
}

#[workflow]
async fn observed_run(ctx: WorkflowCtx, x: u64) -> u64 {
    let doubled: u64 = ctx
        .activity(flaky_double, x)
        .retry(RetryPolicy::fixed(Duration::from_secs(2)).max_attempts(3))
        .await
        .unwrap_or(0);
    ctx.sleep(Duration::from_secs(60)).await;
    let extra: u64 = ctx.signal::<u64>("extra").await;
    doubled + extra
}

/// How long after its due time the test lets the timer fire.
const LATE_MS: u64 = 1_500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_reports_its_steps_attempts_timer_and_life() {
    observed();
    let _turn = SERIAL.lock().await;
    both_modes(async |mode| {
        let id = &mode.id("observed-1");
        take_metrics();
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(observed_run)
            .activity(flaky_double)
            .build()
            .await
            .expect("build");
        let handle = rt.start(observed_run, id, 20).await.expect("start");

        // The first attempt failed and its retry waits for its backoff: let it come.
        eventually("the retry is scheduled", || async {
            let tasks = store.load_tasks(id).await.expect("tasks");
            tasks
                .first()
                .is_some_and(|t| t.attempt == 1 && t.lease_owner.is_none())
        })
        .await;
        let retry_at = store.load_tasks(id).await.expect("tasks")[0].visible_at_ms;
        clock.set_ms(retry_at);

        // The timer: let it fire LATE_MS after its due time.
        let timer = || async {
            match rt.state(id).await.expect("state").waiting_for {
                Some(Pending::Timer { fire_at, .. }) => Some(fire_at),
                _ => None,
            }
        };
        eventually("the run sleeps", || async { timer().await.is_some() }).await;
        let due = timer().await.expect("a timer");
        assert_eq!(due, retry_at + 60_000);
        clock.set_ms(due + LATE_MS);
        eventually("the run waits for the signal", || async {
            matches!(
                rt.state(id).await.expect("state").waiting_for,
                Some(Pending::Signal { .. })
            )
        })
        .await;
        rt.signal(id, "extra", 2u64).await.expect("signal");
        let out = within("the result", handle.result()).await.expect("result");
        assert_eq!(out, 42);
        assert_eq!(clock.now_ms(), due + LATE_MS);
        rt.shutdown().await;

        // The step spans: from and to by the names of the state machine, and how each ended.
        let s = states::<observed_run>();
        assert_eq!((s[0], s[s.len() - 2]), ("Start", "Returned"));
        let steps = steps(id);
        let owned = |v: [&str; 5]| {
            (
                v[0].parse::<u64>().unwrap(),
                v[1].to_string(),
                v[2].to_string(),
                v[3].to_string(),
                v[4].to_string(),
            )
        };
        assert_eq!(
            steps,
            vec![
                owned(["1", s[0], s[1], "start", "suspended"]),
                owned(["2", s[1], s[2], "activity flaky_double#0 ok", "suspended"]),
                owned(["3", s[2], s[3], "timer#1", "suspended"]),
                owned(["4", s[3], "Returned", "signal extra#2", "completed"]),
            ],
            "the step spans of {id}"
        );
        assert!(s[1].contains("Await") && s[2] != s[1] && s[3] != s[2], "{s:?}");

        // The attempt spans: the first failed and was retried, the second succeeded.
        let attempts: Vec<_> = spans(names::ATTEMPT_SPAN, id)
            .into_iter()
            .map(|f| {
                assert_eq!(f.get("activity"), Some("flaky_double"));
                assert_eq!(f.get("seq"), Some("0"));
                assert!(f.get("duration_us").is_some(), "{f:?}");
                (
                    f.get("attempt").unwrap_or("?").to_string(),
                    f.get("outcome").unwrap_or("?").to_string(),
                    f.get("error_kind").map(str::to_string),
                    f.get("error").is_some_and(|e| e.contains("the first attempt fails")),
                )
            })
            .collect();
        assert_eq!(
            attempts,
            vec![
                ("1".into(), "retry".into(), Some("Failed".into()), true),
                ("2".into(), "ok".into(), None, false),
            ]
        );

        // The activity's body ran inside its attempt span.
        let inside: Vec<Option<&str>> = observed()
            .captured
            .lock()
            .unwrap()
            .events
            .iter()
            .filter(|e| e.message == "flaky_double runs")
            .map(|e| e.span)
            .collect();
        assert!(
            inside.len() >= 2 && inside.iter().all(|s| *s == Some(names::ATTEMPT_SPAN)),
            "{inside:?}"
        );

        assert_eq!(
            life(id),
            vec![
                (Level::INFO, "run started".to_string()),
                (Level::INFO, "run completed".to_string()),
            ]
        );
        let completed = events(id)
            .into_iter()
            .find(|e| e.message == "run completed")
            .expect("completed");
        assert_eq!(completed.fields.get("workflow"), Some("observed_run"));
        assert_eq!(completed.fields.get("step"), Some("4"));

        // The metrics: every step, attempt and timer counted, by label.
        let metrics = take_metrics();
        let steps_seconds = &metrics[&format!("{}{{workflow=observed_run}}", names::STEP_DURATION_SECONDS)];
        assert!(
            matches!(steps_seconds, Value::Histogram(h) if h.len() == 4 && h.iter().all(|s| *s >= 0.0)),
            "{steps_seconds:?}"
        );
        let summary = summary(
            &metrics,
            "observed_run",
            Some("flaky_double"),
            &[names::TIMER_LATENESS_SECONDS],
        );
        let expected: BTreeMap<String, String> = [
            ("workflow_activity_attempt_duration_seconds{activity=flaky_double}", "2 samples"),
            ("workflow_activity_attempts_total{activity=flaky_double,outcome=ok}", "1"),
            ("workflow_activity_attempts_total{activity=flaky_double,outcome=retry}", "1"),
            ("workflow_runs_finished_total{status=completed,workflow=observed_run}", "1"),
            ("workflow_runs_started_total{workflow=observed_run}", "1"),
            ("workflow_step_duration_seconds{workflow=observed_run}", "4 samples"),
            ("workflow_steps_total{outcome=completed,workflow=observed_run}", "1"),
            ("workflow_steps_total{outcome=suspended,workflow=observed_run}", "3"),
            ("workflow_timer_lateness_seconds{workflow=observed_run}", "[1.5]"),
            ("workflow_timers_fired_total{workflow=observed_run}", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(summary, expected);
        (out, steps, attempts, summary)
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// A run that parks, is unparked, parks again and is cancelled.

#[workflow]
async fn touchy(ctx: WorkflowCtx, _x: u64) -> u64 {
    let n: u64 = ctx.signal::<u64>("n").await;
    if n == 13 {
        panic!("unlucky {n}");
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_run_reports_why_and_its_unpark() {
    observed();
    let _turn = SERIAL.lock().await;
    both_modes(async |mode| {
        let id = &mode.id("touchy-1");
        take_metrics();
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock)
            .workflow(touchy)
            .build()
            .await
            .expect("build");
        rt.start(touchy, id, 0).await.expect("start");
        rt.signal(id, "n", 13u64).await.expect("signal");
        // Parked in the store, and said so (the event follows the commit).
        let parks = |want: usize| {
            let store = store.clone();
            async move {
                let parks = store
                    .history(id)
                    .await
                    .expect("history")
                    .iter()
                    .filter(|e| e.kind == HistoryKind::Parked)
                    .count();
                let said = life(id).iter().filter(|(_, m)| m == "run parked").count();
                parks == want
                    && said == want
                    && store.load_workflow(id).await.expect("load").status == WorkflowStatus::Parked
            }
        };
        eventually("parked", || parks(1)).await;
        rt.unpark(id).await.expect("unpark");
        eventually("parked again", || parks(2)).await;
        rt.cancel(id).await.expect("cancel");
        rt.shutdown().await;

        let s = states::<touchy>();
        let panicked = |outcome: &str| owned_step(2, s[1], s[1], "signal n#0", outcome);
        let steps = steps(id);
        assert_eq!(
            steps,
            vec![
                owned_step(1, s[0], s[1], "start", "suspended"),
                panicked("parked"),
                panicked("parked"),
            ],
            "a step that parks stays in its state"
        );

        let life = life(id);
        assert_eq!(
            life,
            vec![
                (Level::INFO, "run started".to_string()),
                (Level::WARN, "run parked".to_string()),
                (Level::INFO, "run unparked".to_string()),
                (Level::WARN, "run parked".to_string()),
                (Level::INFO, "run cancelled".to_string()),
            ]
        );
        let reason = events(id)
            .into_iter()
            .find(|e| e.message == "run parked")
            .and_then(|e| e.fields.get("reason").map(str::to_string))
            .expect("a reason");
        assert!(reason.contains("panicked: unlucky 13"), "{reason}");

        let metrics = take_metrics();
        let summary = summary(&metrics, "touchy", None, &[]);
        let expected: BTreeMap<String, String> = [
            (
                "workflow_runs_finished_total{status=cancelled,workflow=touchy}",
                "1",
            ),
            ("workflow_runs_parked_total{workflow=touchy}", "2"),
            ("workflow_runs_started_total{workflow=touchy}", "1"),
            ("workflow_runs_unparked_total{workflow=touchy}", "1"),
            (
                "workflow_step_duration_seconds{workflow=touchy}",
                "3 samples",
            ),
            ("workflow_steps_total{outcome=parked,workflow=touchy}", "2"),
            (
                "workflow_steps_total{outcome=suspended,workflow=touchy}",
                "1",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(summary, expected);
        (steps, life, summary)
    })
    .await;
}

fn owned_step(
    step: u64,
    from: &str,
    to: &str,
    woken_by: &str,
    outcome: &str,
) -> (u64, String, String, String, String) {
    (
        step,
        from.to_string(),
        to.to_string(),
        woken_by.to_string(),
        outcome.to_string(),
    )
}

// ---------------------------------------------------------------------------------------------
// The SQLite store's commit batches.

#[workflow]
async fn two_signals(ctx: WorkflowCtx, _x: u64) -> u64 {
    let a: u64 = ctx.signal::<u64>("a").await;
    let b: u64 = ctx.signal::<u64>("b").await;
    a + b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_store_reports_its_commit_batches() {
    observed();
    let _turn = SERIAL.lock().await;
    both_modes(async |mode: Mode| {
        let id = &mode.id("batches-1");
        take_metrics();
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(dir.path().join("w.db")).expect("open"));
        let (_, clock) = memory();
        let rt = builder(mode, store.clone(), clock)
            .workflow(two_signals)
            .build()
            .await
            .expect("build");
        let handle = rt.start(two_signals, id, 0).await.expect("start");
        rt.signal(id, "a", 1u64).await.expect("signal");
        rt.signal(id, "b", 2u64).await.expect("signal");
        let out = within("the result", handle.result()).await.expect("result");
        rt.shutdown().await;
        let metrics = take_metrics();
        let batches = match metrics.get("workflow_store_commit_batch_size{store=sqlite}") {
            Some(Value::Histogram(h)) => h.clone(),
            other => panic!("no batch sizes: {other:?}"),
        };
        // At least: the create, two signals, three steps, each one write.
        let writes: f64 = batches.iter().sum();
        assert!(
            writes >= 6.0 && batches.iter().all(|b| *b >= 1.0 && b.fract() == 0.0),
            "{batches:?}"
        );
        let counted = summary(&metrics, "two_signals", None, &[]);
        assert_eq!(
            counted.get("workflow_steps_total{outcome=suspended,workflow=two_signals}"),
            Some(&"2".to_string())
        );
        (out, counted)
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// The gauge of leased tasks waiting for a slot.

/// Held closed until the test lets the attempts through.
static GATE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(0);

#[activity]
async fn gated(_ctx: ActivityCtx, n: u64) -> Result<u64, ActivityError> {
    GATE.acquire().await.expect("open").forget();
    Ok(n)
}

#[workflow]
async fn two_gated(ctx: WorkflowCtx, n: u64) -> u64 {
    let (a, b) = ctx
        .join((ctx.activity(gated, n), ctx.activity(gated, n + 1)))
        .await;
    a.unwrap_or(0) + b.unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_out_of_activity_slots_reports_its_backlog() {
    observed();
    let _turn = SERIAL.lock().await;
    both_modes(async |mode| {
        let id = &mode.id("gated-1");
        let worker = format!("gated-{mode:?}");
        let backlog = format!("{}{{worker={worker}}}", names::ACTIVITY_BACKLOG);
        take_metrics();
        let (store, clock) = memory();
        let rt = builder(mode, store, clock)
            .worker_id(&worker)
            .max_concurrent_activities(1)
            .workflow(two_gated)
            .activity(gated)
            .build()
            .await
            .expect("build");
        let handle = rt.start(two_gated, id, 20).await.expect("start");
        // The first call holds the only slot (waiting at the gate); the second waits for it.
        eventually("one task in the backlog", || async {
            take_metrics().get(&backlog) == Some(&Value::Gauge(1.0))
        })
        .await;
        GATE.add_permits(2);
        let out = within("the result", handle.result()).await.expect("result");
        rt.shutdown().await;
        assert_eq!(
            take_metrics().get(&backlog),
            Some(&Value::Gauge(0.0)),
            "the backlog is empty again"
        );
        let attempts = spans(names::ATTEMPT_SPAN, id);
        assert_eq!(attempts.len(), 2, "{attempts:?}");
        assert!(attempts.iter().all(|a| a.get("outcome") == Some("ok")));
        out
    })
    .await;
}

/// The README lists every metric of `metrics::ALL`.
#[test]
fn the_readme_lists_every_metric() {
    let readme = include_str!("../README.md");
    for m in ALL {
        assert!(
            readme.contains(&format!("`{}`", m.name)),
            "the README's metrics table misses {}",
            m.name
        );
    }
}
