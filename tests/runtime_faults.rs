//! The runtime on a store that misbehaves: `testing::FaultyStore` fails calls before they reach
//! the store, fails writes after they took effect (the caller cannot know they happened),
//! delays calls and drops wake-up hints, all from a seed. Forty workflows with activities, a
//! join, timers and signals must each end with the output of a run without faults: every
//! result and every signal consumed once and in order, none lost, none parked.
//!
//! `cargo test --test runtime_faults` runs a few seeds; `WORKFLOW_FAULT_SEEDS=500` runs that
//! many, and `WORKFLOW_FAULT_SEED=n` replays seed `n` (a failure prints its seed).

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{Mode, within_secs};
use workflow_rt::prelude::*;
use workflow_rt::store::{HistoryKind, Store};
use workflow_rt::testing::{Faults, FaultyStore};
use workflow_rt::{MemoryStore, RuntimeError, WorkflowStatus};

const WORKFLOWS: u64 = 40;
const ROUNDS: u64 = 3;

/// Effects by idempotency key: applied once, whatever the number of attempts (each attempt is
/// counted too).
static EFFECTS: Mutex<Option<HashMap<String, (u64, u32)>>> = Mutex::new(None);

#[activity]
async fn effect(ctx: ActivityCtx, input: (u64, u64)) -> Result<u64, ActivityError> {
    let key = ctx.idempotency_key();
    let value = {
        let mut g = EFFECTS.lock().unwrap_or_else(|e| e.into_inner());
        let e = g
            .get_or_insert_with(HashMap::new)
            .entry(key)
            .or_insert((input.0 * 1000 + input.1, 0));
        e.1 += 1;
        e.0
    };
    tokio::time::sleep(Duration::from_millis(1)).await;
    Ok(value)
}

#[workflow]
async fn faulted(ctx: WorkflowCtx, n: u64) -> (Vec<u64>, Vec<u64>) {
    let mut results: Vec<u64> = Vec::new();
    let mut got: Vec<u64> = Vec::new();
    let mut round: u64 = 0;
    while round < ROUNDS {
        let v = ctx.signal::<u64>("add").await;
        got.push(v);
        let (a, b) = ctx
            .join((
                ctx.activity(effect, (n, round * 10)),
                ctx.activity(effect, (n, round * 10 + 1)),
            ))
            .await;
        results.push(a.unwrap_or(0));
        results.push(b.unwrap_or(0));
        ctx.sleep(Duration::from_millis(3)).await;
        round += 1;
    }
    (results, got)
}

fn expected(n: u64) -> (Vec<u64>, Vec<u64>) {
    let results = (0..ROUNDS)
        .flat_map(|r| [n * 1000 + r * 10, n * 1000 + r * 10 + 1])
        .collect();
    let got = (0..ROUNDS).map(|r| n * 100 + r).collect();
    (results, got)
}

/// Repeats a client call that a fault may fail: `done` says (from the store without faults)
/// whether an earlier try took effect after all.
async fn until_done<F, Fut, T>(what: &str, mut call: F, done: impl AsyncFn() -> bool)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RuntimeError>>,
{
    for _ in 0..1000 {
        if call().await.is_ok() || done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("{what}: failed 1000 times");
}

async fn run_seed(seed: u64, mode: Mode) {
    let store = Arc::new(FaultyStore::new(
        MemoryStore::new(),
        seed,
        Faults::default(),
    ));
    // Building reads and writes the store too (leases taken back, stranded runs looked for):
    // a fault there is a typed error, and the caller builds again.
    let mut tries = 0;
    let rt = loop {
        let built = mode
            .apply(Runtime::builder(store.clone()))
            .workflow(faulted)
            .activity(effect)
            .worker_id(format!("faults-{seed}-{mode:?}"))
            .poll_interval(Duration::from_millis(5))
            .lease_duration(Duration::from_millis(200))
            .build()
            .await;
        match built {
            Ok(rt) => break rt,
            Err(RuntimeError::Store(e)) if tries < 100 => {
                tries += 1;
                assert!(e.to_string().contains("injected fault"), "seed {seed}: {e}");
            }
            Err(e) => panic!("seed {seed}: build: {e}"),
        }
    };
    let id = |n: u64| format!("f-{seed}-{mode:?}-{n}");
    for n in 0..WORKFLOWS {
        until_done(
            "start",
            || rt.start(faulted, id(n), n),
            async || store.inner().load_workflow(&id(n)).await.is_ok(),
        )
        .await;
    }
    for round in 0..ROUNDS {
        for n in 0..WORKFLOWS {
            let wid = id(n);
            let signals_stored = async || {
                store.inner().history(&id(n)).await.is_ok_and(|h| {
                    h.iter().filter(|e| e.kind == HistoryKind::Signal).count() as u64 > round
                })
            };
            until_done(
                "signal",
                || rt.signal(&wid, "add", n * 100 + round),
                signals_stored,
            )
            .await;
        }
    }
    for n in 0..WORKFLOWS {
        let rec = within_secs(60, "a workflow under faults", async {
            loop {
                match store.inner().load_workflow(&id(n)).await {
                    Ok(r) if r.status != WorkflowStatus::Running => break r,
                    _ => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
        })
        .await;
        assert_eq!(
            rec.status,
            WorkflowStatus::Completed,
            "seed {seed} {mode:?}: {} ended {:?} ({:?})",
            id(n),
            rec.status,
            rec.park_reason
        );
        let out: (Vec<u64>, Vec<u64>) =
            postcard::from_bytes(&rec.output.expect("output")).expect("decode");
        assert_eq!(out, expected(n), "seed {seed} {mode:?}: {}", id(n));
    }
    assert!(store.injected() > 0, "seed {seed}: no fault was injected");
    rt.shutdown().await;
}

#[activity]
async fn once(_ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    Ok(x + 1)
}

/// One call that may not be attempted twice.
#[workflow]
async fn calls_once(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    Ok(ctx.activity(once, x).retry(RetryPolicy::none()).await?)
}

/// A commit that took effect but was answered with an error: the call it leased to this
/// worker is stored, and it runs at once, its first attempt, rather than lapsing into a lost
/// attempt (with no retries, the call's end) once its lease ran out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_leased_by_a_commit_answered_with_an_error_still_runs() {
    support::both_modes(async |mode| {
        let (memory, clock) = support::memory();
        let store = support::recording::RecordingStore::new(memory.clone());
        let rt = support::builder(mode, Arc::new(store.clone()), clock)
            .workflow(calls_once)
            .activity(once)
            .build()
            .await
            .expect("build");
        store.fail_commits_after_effect(1);
        let run = rt.start(calls_once, "c", 41).await.expect("start");
        let out = within_secs(10, "the result", run.result())
            .await
            .expect("result");
        assert_eq!(out.as_ref().ok(), Some(&42), "{out:?}");
        let history = memory.history("c").await.expect("history");
        assert!(
            !history.iter().any(|e| e.kind == HistoryKind::AttemptLost),
            "{history:?}"
        );
        rt.shutdown().await;
        out.map_err(|e| e.message)
    })
    .await;
}

static GATE: tokio::sync::Notify = tokio::sync::Notify::const_new();
static GATED_RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

#[activity]
async fn gated_once(_ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    GATED_RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    GATE.notified().await;
    Ok(x + 1)
}

/// One call that may not be attempted twice, whose attempt ends after its first poll.
#[workflow]
async fn calls_gated(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    Ok(ctx
        .activity(gated_once, x)
        .retry(RetryPolicy::none())
        .await?)
}

/// An attempt's result that comes while the store cannot be read (the load of its run fails
/// once) is stored, and the run steps on with it: it was dropped with the error, and the call
/// was answered only once its lease lapsed (as a lost attempt; with no retries, the call's
/// end), never here, where the clock does not move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_that_comes_while_the_store_cannot_be_read_is_kept() {
    support::both_modes(async |mode| {
        let (memory, clock) = support::memory();
        let store = support::recording::RecordingStore::new(memory.clone());
        let rt = support::builder(mode, Arc::new(store.clone()), clock)
            .workflow(calls_gated)
            .activity(gated_once)
            .cache_capacity(0)
            .poll_interval(Duration::from_millis(20))
            .build()
            .await
            .expect("build");
        let before = GATED_RUNS.load(std::sync::atomic::Ordering::SeqCst);
        let run = rt.start(calls_gated, "g", 41).await.expect("start");
        within_secs(10, "the attempt runs", async {
            while GATED_RUNS.load(std::sync::atomic::Ordering::SeqCst) == before {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await;
        store.fail_next_load("g");
        GATE.notify_one();
        within_secs(10, "the run's load fails", async {
            while store.load_failure_armed() {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await;
        let out = within_secs(10, "the result", run.result())
            .await
            .expect("result");
        assert_eq!(out.as_ref().ok(), Some(&42), "{out:?}");
        assert_eq!(
            GATED_RUNS.load(std::sync::atomic::Ordering::SeqCst),
            before + 1,
            "one attempt"
        );
        rt.shutdown().await;
        out.map_err(|e| e.message)
    })
    .await;
}

static PAIR_GATE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static PAIR_RUNS: Mutex<Vec<u64>> = Mutex::new(Vec::new());

#[activity]
async fn gated_pair(_ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    PAIR_RUNS.lock().unwrap().push(x);
    while !PAIR_GATE.load(std::sync::atomic::Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(x + 1)
}

/// One call that may not be attempted twice.
#[workflow]
async fn calls_pair(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    Ok(ctx
        .activity(gated_pair, x)
        .retry(RetryPolicy::none())
        .await?)
}

/// A result waiting for a driver when the runtime stops (every driver busy: here the one, its
/// commit slow) is stored, and the next runtime takes it: the attempt does not run again. (The
/// queue was dropped at shutdown, the lease released as not counting, and the call run again.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_queued_for_a_driver_at_shutdown_is_kept() {
    let (memory, clock) = support::memory();
    let slow = support::recording::RecordingStore::new(memory.clone())
        .with_commit_delay(Duration::from_millis(300));
    let rt = support::builder(Mode::Cached, Arc::new(slow), clock.clone())
        .workflow(calls_pair)
        .activity(gated_pair)
        .max_concurrent_steps(1)
        .build()
        .await
        .expect("build");
    rt.start(calls_pair, "p1", 10).await.expect("start");
    rt.start(calls_pair, "p2", 20).await.expect("start");
    within_secs(10, "both attempts run", async {
        while PAIR_RUNS.lock().unwrap().len() < 2 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    PAIR_GATE.store(true, std::sync::atomic::Ordering::SeqCst);
    // One result is being committed (slowly) by the one driver; the other waits for it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    rt.shutdown().await;
    let rt = support::builder(Mode::Cached, memory.clone(), clock)
        .workflow(calls_pair)
        .activity(gated_pair)
        .build()
        .await
        .expect("build");
    for (id, want) in [("p1", 11), ("p2", 21)] {
        let out = within_secs(10, "the result", rt.handle(calls_pair, id).result())
            .await
            .expect("result");
        assert_eq!(out.as_ref().ok(), Some(&want), "{id}: {out:?}");
    }
    let mut ran = PAIR_RUNS.lock().unwrap().clone();
    ran.sort_unstable();
    assert_eq!(ran, vec![10, 20], "each attempt once");
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workflow_ends_right_whatever_the_store_does() {
    let seeds: Vec<u64> = match (
        std::env::var("WORKFLOW_FAULT_SEED"),
        std::env::var("WORKFLOW_FAULT_SEEDS"),
    ) {
        (Ok(one), _) => vec![one.parse().expect("WORKFLOW_FAULT_SEED is a number")],
        (_, Ok(n)) => (1..=n.parse::<u64>().expect("WORKFLOW_FAULT_SEEDS is a number")).collect(),
        _ => vec![1, 2, 3],
    };
    for seed in seeds {
        eprintln!("fault seed {seed} (replay: WORKFLOW_FAULT_SEED={seed})");
        run_seed(seed, Mode::Cached).await;
        run_seed(seed, Mode::Restored).await;
    }
}
