//! Two runtimes on one SQLite file (and on one PostgreSQL database) advance the same workflows at once: every workflow
//! completes once, no step is applied twice, no activity runs twice; and both do share the
//! work (each store records the commits its runtime made, so a test where one runtime did
//! everything would fail).

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::recording::RecordingStore;
use support::{Mode, both_modes, within};
use workflow_rt::prelude::*;
use workflow_rt::store::{HistoryKind, Store};
use workflow_rt::{PostgresStore, SqliteStore, Synchronous, WorkflowStatus};

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

/// A runtime on `store`, and the record of the commits it made.
async fn runtime(mode: Mode, store: Arc<dyn Store>, worker: &str) -> (Runtime, RecordingStore) {
    let recording = RecordingStore::new(store);
    let rt = mode
        .apply(Runtime::builder(recording.clone()))
        .workflow(shared)
        .activity(effect)
        .worker_id(worker)
        .poll_interval(Duration::from_millis(2))
        .build()
        .await
        .expect("build");
    (rt, recording)
}

fn sqlite(path: &std::path::Path) -> Arc<dyn Store> {
    Arc::new(
        SqliteStore::builder(path)
            .synchronous(Synchronous::Normal)
            .open()
            .expect("open"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runtimes_on_one_file_never_apply_a_step_twice() {
    both_modes(async |mode| {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("shared.db");
        two_runtimes("sqlite-", mode, sqlite(&path), sqlite(&path), sqlite(&path)).await
    })
    .await;
}

/// The same on PostgreSQL: two stores (two pools) on one schema, as two processes would have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runtimes_on_one_postgres_database_never_apply_a_step_twice() {
    let Some(server) =
        support::postgres::server("two_runtimes_on_one_postgres_database_never_apply_a_step_twice")
    else {
        return;
    };
    both_modes(async |mode| {
        let schema = support::postgres::fresh_schema("two_runtimes");
        let url = server.url();
        two_runtimes(
            "postgres-",
            mode,
            postgres(&url, &schema).await,
            postgres(&url, &schema).await,
            postgres(&url, &schema).await,
        )
        .await
    })
    .await;
}

async fn postgres(url: &str, schema: &str) -> Arc<dyn Store> {
    let store = PostgresStore::builder(url)
        .schema(schema)
        .connect()
        .await
        .expect("connect");
    Arc::new(store)
}

/// Runtimes `a` and `b` on stores `a_store` and `b_store`, which share their data; `check` is
/// a third handle on it, to read the outcome.
///
/// Whether both runtimes take part is up to the scheduler: on a loaded machine one of them
/// can end up doing nearly all the work (seen once in about ten runs with the whole suite
/// running beside it), and such a round proves nothing about two at once. So a round in which
/// either runtime stepped fewer than five steps of workflows the other started is run again,
/// with new ids, up to three rounds; every round checks everything else.
async fn two_runtimes(
    prefix: &str,
    mode: Mode,
    a_store: Arc<dyn Store>,
    b_store: Arc<dyn Store>,
    store: Arc<dyn Store>,
) -> (Vec<u64>, Vec<u64>) {
    let mut unshared = Vec::new();
    for round in 0..3 {
        let (outcome, by_other) = one_round(
            &format!("{prefix}r{round}-"),
            mode,
            a_store.clone(),
            b_store.clone(),
            store.clone(),
        )
        .await;
        if by_other[0] >= 5 && by_other[1] >= 5 {
            return outcome;
        }
        unshared.push(by_other);
    }
    panic!(
        "in three rounds, each runtime stepped workflows the other started (a, b): {unshared:?}"
    );
}

/// One round of [`two_runtimes`]: its outcome, and how many steps of workflows the other
/// runtime started each runtime committed.
async fn one_round(
    prefix: &str,
    mode: Mode,
    a_store: Arc<dyn Store>,
    b_store: Arc<dyn Store>,
    store: Arc<dyn Store>,
) -> ((Vec<u64>, Vec<u64>), [u64; 2]) {
    {
        let (a, a_log) = runtime(mode, a_store, "a").await;
        let (b, b_log) = runtime(mode, b_store, "b").await;
        const N: u64 = 50;
        // The activity counts its runs in a static: each test has ids of its own.
        let id = |n: u64| mode.id(&format!("{prefix}w{n}"));
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

        // Who committed what: every step of every workflow exactly once, by one runtime or
        // the other, and each runtime stepped workflows the other had started.
        // A runtime records a commit when the store's answer reaches it, which can be just
        // after another runtime has already seen the workflow complete: wait (bounded) until
        // both logs hold every step before reading them.
        let all = N * (1 + 2 * CALLS + 1);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while ((a_log.committed().len() + b_log.committed().len()) as u64) < all
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (a_steps, b_steps) = (a_log.committed(), b_log.committed());
        let mut by_other = [0u64; 2];
        for n in 0..N {
            let id = id(n);
            let mut versions: Vec<(u64, usize)> = Vec::new();
            for (who, log) in [&a_steps, &b_steps].into_iter().enumerate() {
                for c in log.iter().filter(|c| c.workflow_id == id) {
                    assert!(c.step, "{id}: only steps were committed, got {c:?}");
                    versions.push((c.from_version, who));
                }
            }
            versions.sort();
            let steps = 1 + 2 * CALLS + 1;
            assert_eq!(
                versions.iter().map(|v| v.0).collect::<Vec<_>>(),
                (0..steps).collect::<Vec<_>>(),
                "{id}: each version advanced once, by one runtime"
            );
            let starter = (n % 2) as usize;
            let other = 1 - starter;
            by_other[other] += versions.iter().filter(|v| v.1 == other).count() as u64;
        }
        let conflicts = a_log.conflicts().len() + b_log.conflicts().len();
        eprintln!(
            "{mode:?}: a committed {} steps ({} of b's workflows), b {} ({} of a's); {conflicts} conflicts",
            a_steps.len(),
            by_other[0],
            b_steps.len(),
            by_other[1]
        );
        // A conflict is a commit refused because the other runtime had advanced that version
        // first: and it was advanced by exactly that one commit (each version once, above).
        for (log, other_steps) in [(&a_log, &b_steps), (&b_log, &a_steps)] {
            for (id, version) in log.conflicts() {
                assert!(
                    other_steps
                        .iter()
                        .any(|c| c.workflow_id == id && c.from_version == version),
                    "{id}: version {version} conflicted, yet the other runtime did not advance it"
                );
            }
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
        ((outputs, versions), by_other)
    }
}
