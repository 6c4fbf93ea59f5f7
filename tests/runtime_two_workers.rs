//! Two runtimes on one SQLite file advance the same workflows at once: every workflow
//! completes once, no step is applied twice, no activity runs twice.

mod support;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use support::{Mode, both_modes, within};
use workflow_rt::prelude::*;
use workflow_rt::store::{HistoryKind, Store};
use workflow_rt::{SqliteStore, Synchronous, WorkflowStatus};

static RUNS: Mutex<Option<HashMap<String, u32>>> = Mutex::new(None);

#[activity]
async fn effect(ctx: ActivityCtx, input: (u64, u64)) -> Result<u64, ActivityError> {
    *RUNS
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .entry(ctx.idempotency_key())
        .or_default() += 1;
    // Not done at the first poll: the result comes back through the worker's task.
    tokio::task::yield_now().await;
    Ok(input.0 * 100 + input.1)
}

const CALLS: u64 = 5;

#[workflow]
async fn shared(ctx: WorkflowCtx, n: u64) -> u64 {
    let mut total: u64 = 0;
    let mut i: u64 = 0;
    while i < CALLS {
        total += ctx.activity(effect, (n, i)).await.unwrap_or(1_000_000);
        ctx.sleep(Duration::from_millis(1)).await;
        i += 1;
    }
    let bonus: u64 = ctx.signal::<u64>("bonus").await;
    total + bonus
}

async fn runtime(mode: Mode, path: &std::path::Path, worker: &str) -> Runtime {
    let store = SqliteStore::builder(path)
        .synchronous(Synchronous::Normal)
        .open()
        .expect("open");
    mode.apply(Runtime::builder())
        .store(store)
        .workflow(shared)
        .activity(effect)
        .worker_id(worker)
        .poll_interval(Duration::from_millis(2))
        .build()
        .await
        .expect("build")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runtimes_on_one_file_never_apply_a_step_twice() {
    both_modes(async |mode| {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("shared.db");
        let a = runtime(mode, &path, "a").await;
        let b = runtime(mode, &path, "b").await;
        const N: u64 = 50;
        let id = |n: u64| mode.id(&format!("w{n}"));
        for n in 0..N {
            let (starter, other) = if n % 2 == 0 { (&a, &b) } else { (&b, &a) };
            starter.start(shared, id(n), n).await.expect("start");
            // The signal goes through the other runtime: both see every workflow.
            other.signal(&id(n), "bonus", n).await.expect("signal");
        }
        let mut outputs = Vec::new();
        for n in 0..N {
            let rt = if n % 3 == 0 { &a } else { &b };
            let out = within("result", rt.handle(shared, id(n)).result())
                .await
                .expect("result");
            let expected: u64 = (0..CALLS).map(|i| n * 100 + i).sum::<u64>() + n;
            assert_eq!(out, expected, "w{n}");
            outputs.push(out);
        }
        let store = SqliteStore::open(&path).expect("open");
        let mut versions = Vec::new();
        for n in 0..N {
            let id = id(n);
            let rec = store.load_workflow(&id).await.expect("load");
            assert_eq!(rec.status, WorkflowStatus::Completed);
            // First step, one per call, one per timer, one for the signal.
            let steps = 1 + 2 * CALLS + 1;
            assert_eq!(rec.version, steps, "{id}: one commit per step");
            let history = store.history(&id).await.expect("history");
            let applied = history
                .iter()
                .filter(|e| matches!(e.kind, HistoryKind::Step | HistoryKind::Completed))
                .count();
            assert_eq!(applied as u64, steps, "{id}: no step applied twice");
            versions.push(rec.version);
        }
        let runs: Vec<(String, u32)> = RUNS
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|(key, _)| (0..N).any(|n| key.starts_with(&format!("{}:", id(n)))))
            .collect();
        assert_eq!(runs.len() as u64, N * CALLS);
        let twice: Vec<_> = runs.iter().filter(|(_, c)| *c != 1).collect();
        assert!(twice.is_empty(), "activities run twice: {twice:?}");
        a.shutdown().await;
        b.shutdown().await;
        (outputs, versions)
    })
    .await;
}
