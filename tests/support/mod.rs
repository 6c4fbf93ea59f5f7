//! Helpers shared by the runtime's integration tests.
#![allow(dead_code)]

pub mod postgres;
pub mod recording;

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use workflow_rt::store::Store;
use workflow_rt::{MemoryStore, Runtime, VirtualClock};

/// 2024-01-01T00:00:00Z, where the tests' virtual clocks start.
pub const T0: u64 = 1_704_067_200_000;

/// Polls `check` every millisecond until it holds; panics with `what` after 10 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Bounds a future by 10 s of real time.
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(10), f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

/// Bounds a future by `secs` s of real time.
pub async fn within_secs<T>(secs: u64, what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {secs} s: {what}"),
    }
}

/// A memory store and a virtual clock, shared with the test.
pub fn memory() -> (Arc<MemoryStore>, VirtualClock) {
    (Arc::new(MemoryStore::new()), VirtualClock::new(T0))
}

/// How a runtime keeps a workflow between its steps. Every workflow of the runtime's tests runs
/// both ways, and both must give the same outcome: a drop of everything in memory and a
/// restore from the snapshot at every await (what a crash does) changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The default: the decoded state stays in memory between steps.
    Cached,
    /// `Builder::restore_every_step(true)`: every step loads and decodes the stored snapshot.
    Restored,
}

impl Mode {
    /// Sets the mode on a builder.
    pub fn apply(self, b: workflow_rt::Builder) -> workflow_rt::Builder {
        b.restore_every_step(self == Mode::Restored)
    }

    /// `id`, distinct per mode: for ids that key something outliving one run (a static that
    /// records activity calls, an effects table).
    pub fn id(self, id: &str) -> String {
        match self {
            Mode::Cached => id.to_string(),
            Mode::Restored => format!("{id}~restored"),
        }
    }
}

/// Runs `body` once per mode, cached first, and checks that both runs give the same outcome
/// (what `body` returns: outputs, states, histories...).
pub async fn both_modes<T: PartialEq + Debug>(mut body: impl AsyncFnMut(Mode) -> T) {
    let cached = body(Mode::Cached).await;
    let restored = body(Mode::Restored).await;
    assert_eq!(
        cached, restored,
        "the run restored at every step differs from the cached run"
    );
}

/// A builder in `mode` on `store` and `clock` that polls often (tests want answers in
/// milliseconds).
pub fn builder(mode: Mode, store: Arc<dyn Store>, clock: VirtualClock) -> workflow_rt::Builder {
    mode.apply(
        Runtime::builder(store)
            .clock(clock)
            .poll_interval(Duration::from_millis(5))
            .seed(7),
    )
}

/// What a test's activities record per workflow (the attempts they saw, say), in a static:
/// `static SEEN: PerWorkflow<u32> = PerWorkflow::new();`.
pub struct PerWorkflow<T>(std::sync::Mutex<Option<std::collections::HashMap<String, Vec<T>>>>);

impl<T: Clone> PerWorkflow<T> {
    pub const fn new() -> Self {
        PerWorkflow(std::sync::Mutex::new(None))
    }

    /// Adds `value` to what workflow `id` recorded.
    pub fn push(&self, id: &str, value: T) {
        self.0
            .lock()
            .unwrap()
            .get_or_insert_with(std::collections::HashMap::new)
            .entry(id.to_string())
            .or_default()
            .push(value);
    }

    /// What workflow `id` recorded, in order.
    pub fn of(&self, id: &str) -> Vec<T> {
        self.0
            .lock()
            .unwrap()
            .as_ref()
            .and_then(|m| m.get(id).cloned())
            .unwrap_or_default()
    }
}

/// A commit of `outcome` to run `rec` at its version and with nothing else in it: for tests
/// that put a run where a worker would leave it.
pub fn bare_commit(
    rec: &workflow_rt::store::WorkflowRecord,
    outcome: workflow_rt::store::StepOutcome,
) -> workflow_rt::store::StepCommit {
    workflow_rt::store::StepCommit {
        workflow_id: rec.id.clone(),
        run_key: rec.run_key,
        expected_version: rec.version,
        now_ms: T0,
        outcome,
        consumed_events: Vec::new(),
        completed_tasks: Vec::new(),
        cancelled: Vec::new(),
        fired_timers: Vec::new(),
        seen_events_upto: 0,
        keep_ready: false,
        history: Vec::new(),
        deliver: Vec::new(),
        children: Vec::new(),
    }
}
