//! Continue-as-new (`WorkflowCtx::continue_as_new`): a run starts over under its id with a new
//! input, its history starting over with it, its signals, timeout, published values, parent
//! and cancel request kept; onto a newer version of its workflow too; refused (the run parked)
//! when the code awaits after the call.

mod support;

use std::time::Duration;

use support::{both_modes, builder, eventually, memory, within};
use workflow_rt::prelude::*;
use workflow_rt::store::{HistoryKind, Store};
use workflow_rt::{RuntimeError, StartOptions, WorkflowStatus};

const HOUR: Duration = Duration::from_secs(3600);

/// Sums the numbers sent to it; every three, starts over with the sum so far. A zero ends it.
#[workflow]
async fn tally(ctx: WorkflowCtx, total: u64) -> u64 {
    let mut total = total;
    for _ in 0..3 {
        let n: u64 = ctx.signal("add").await;
        if n == 0 {
            return total;
        }
        total += n;
    }
    ctx.publish("total", &total).expect("publish");
    ctx.continue_as_new(tally, total);
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_starts_over_with_its_signals_and_a_history_that_starts_over_too() {
    both_modes(async |mode| {
        let id = &mode.id("tally");
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(tally)
            .build()
            .await
            .expect("build");
        let run = rt.start(tally, id, 0).await.expect("start");
        // Sent at once, before the run takes any: those that arrive while it starts over wait
        // for the new run in their order.
        for n in 1..=10u64 {
            rt.signal(id, "add", n).await.expect("signal");
        }
        eventually("three runs on", || async {
            rt.published::<u64>(id, "total")
                .await
                .is_ok_and(|t| t == Some(45))
        })
        .await;
        let history = store.history(id).await.expect("history");
        assert_eq!(
            history[0].kind,
            HistoryKind::Continued,
            "the history starts at the last start-over: {history:?}"
        );
        assert!(history[0].detail.contains("continued as new: tally v1"));
        assert!(
            history.len() < 10,
            "the entries of the runs before are gone: {history:?}"
        );
        rt.signal(id, "add", 0u64).await.expect("signal");
        let out = within("result", run.result()).await.expect("result");
        assert_eq!(out, 55, "every signal counted once");
        let state = rt.state(id).await.expect("state");
        assert_eq!(state.status, WorkflowStatus::Completed);
        rt.shutdown().await;
        (out, state.step, state.published)
    })
    .await;
}

/// Waits an hour per round, continuing as new each round, until its input says stop.
#[workflow]
async fn rounds(ctx: WorkflowCtx, left: u32) -> u32 {
    if left == 0 {
        return 0;
    }
    ctx.sleep(HOUR).await;
    ctx.continue_as_new(rounds, left - 1);
    left
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_execution_timeout_bounds_the_whole_chain() {
    both_modes(async |mode| {
        let id = &mode.id("rounds");
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(rounds)
            .build()
            .await
            .expect("build");
        let run = rt
            .start_with(
                rounds,
                id,
                100,
                StartOptions::new().timeout(3 * HOUR + HOUR / 2),
            )
            .await
            .expect("start");
        for round in 1..=3 {
            eventually("asleep", || async {
                store.load_timers(id).await.is_ok_and(|t| t.len() == 2)
            })
            .await;
            clock.advance(HOUR);
            eventually("started over", || async {
                store
                    .history(id)
                    .await
                    .is_ok_and(|h| h.first().is_some_and(|e| e.kind == HistoryKind::Continued))
                    && store
                        .load_workflow(id)
                        .await
                        .is_ok_and(|r| r.input != rounds_input(101 - round))
            })
            .await;
        }
        eventually("asleep again", || async {
            store.load_timers(id).await.is_ok_and(|t| t.len() == 2)
        })
        .await;
        clock.advance(HOUR);
        let out = within("result", run.result()).await;
        assert!(
            matches!(&out, Err(RuntimeError::Cancelled { .. })),
            "stopped by the timeout given at the start: {out:?}"
        );
        rt.shutdown().await;
        matches!(out, Err(RuntimeError::Cancelled { .. }))
    })
    .await;
}

/// The encoding of `rounds`' input `n`.
fn rounds_input(n: u32) -> Vec<u8> {
    postcard::to_stdvec(&n).expect("encode")
}

/// Continues as new, then awaits: not allowed.
#[workflow]
async fn wavering(ctx: WorkflowCtx, n: u32) -> u32 {
    ctx.continue_as_new(wavering, n + 1);
    ctx.sleep(Duration::from_secs(1)).await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_followed_by_an_await_parks_the_run() {
    both_modes(async |mode| {
        let id = &mode.id("w");
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock)
            .workflow(wavering)
            .build()
            .await
            .expect("build");
        rt.start(wavering, id, 1).await.expect("start");
        eventually("parked", || async {
            store
                .load_workflow(id)
                .await
                .is_ok_and(|r| r.status == WorkflowStatus::Parked)
        })
        .await;
        let reason = store
            .load_workflow(id)
            .await
            .expect("load")
            .park_reason
            .expect("reason");
        assert!(
            reason.contains("called continue_as_new and then awaited"),
            "{reason}"
        );
        rt.shutdown().await;
        reason
    })
    .await;
}

/// Version 1 counts signals, and moves its runs to version 2 by continuing as new.
#[workflow(name = "meter")]
async fn meter_v1(ctx: WorkflowCtx, count: u64) -> String {
    let _: bool = ctx.signal("tick").await;
    ctx.continue_as_new(meter, count + 1);
    String::new()
}

/// Version 2 says which version ended it.
#[workflow(name = "meter", version = 2)]
async fn meter(ctx: WorkflowCtx, count: u64) -> String {
    let _: bool = ctx.signal("tick").await;
    format!("v2 after {} ticks", count + 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_moves_to_a_newer_version_by_continuing_as_new() {
    both_modes(async |mode| {
        let id = &mode.id("meter");
        let (store, clock) = memory();
        // A run of version 1, started before version 2 was deployed.
        let old = builder(mode, store.clone(), clock.clone())
            .workflow(meter_v1)
            .build()
            .await
            .expect("build v1");
        old.start(meter_v1, id, 0).await.expect("start");
        eventually("waiting", || async {
            old.state(id).await.is_ok_and(|s| s.step == 1)
        })
        .await;
        old.shutdown().await;
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(meter_v1)
            .workflow(meter)
            .build()
            .await
            .expect("build");
        rt.signal(id, "tick", true).await.expect("tick");
        rt.signal(id, "tick", true).await.expect("tick");
        let out = within("result", rt.client().result(meter, id))
            .await
            .expect("result");
        assert_eq!(out, "v2 after 2 ticks");
        assert_eq!(rt.state(id).await.expect("state").workflow_version, Some(2));
        rt.shutdown().await;
        out
    })
    .await;
}

/// A child that continues as new twice before it ends.
#[workflow]
async fn stages(ctx: WorkflowCtx, stage: u32) -> u32 {
    ctx.sleep(Duration::from_secs(1)).await;
    if stage < 3 {
        ctx.continue_as_new(stages, stage + 1);
    }
    stage * 10
}

#[workflow]
async fn parent(ctx: WorkflowCtx, _x: u32) -> Result<u32, WorkflowError> {
    Ok(ctx.child(stages, 1).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_gets_the_output_of_its_childs_last_run() {
    both_modes(async |mode| {
        let id = &mode.id("parent");
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(parent)
            .workflow(stages)
            .build()
            .await
            .expect("build");
        let run = rt.start(parent, id, 0).await.expect("start");
        let ticker = tokio::spawn({
            let clock = clock.clone();
            async move {
                loop {
                    clock.advance(Duration::from_secs(1));
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        });
        let out = within("result", run.result()).await.expect("result");
        ticker.abort();
        assert_eq!(out, Ok(30));
        rt.shutdown().await;
        format!("{out:?}")
    })
    .await;
}

/// A run that has continued as new waits on nothing until its next step, as a run not yet
/// started does; but it has run, and a cancel request is its code's to take (a run before
/// its first step is stopped at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_continued_is_asked_to_cancel_not_stopped() {
    use workflow_rt::store::{EventKind, StepOutcome};
    let (store, clock) = memory();
    let rt = builder(support::Mode::Cached, store.clone(), clock.clone())
        .workflow(tally)
        .build()
        .await
        .expect("build");
    rt.start(tally, "c", 0).await.expect("start");
    eventually("waiting", || async {
        rt.state("c").await.is_ok_and(|s| s.step == 1)
    })
    .await;
    rt.shutdown().await;
    // Where a worker leaves a run it continued, before its next step: no wait, a snapshot
    // past step 0.
    let rec = store.load_workflow("c").await.expect("load");
    store
        .commit_step(support::bare_commit(
            &rec,
            StepOutcome::Continued {
                input: rec.input.clone(),
                snapshot: rec.snapshot.clone(),
            },
        ))
        .await
        .expect("continue");
    let client = workflow_rt::Client::new(store.clone());
    client.cancel("c").await.expect("cancel");
    let rec = store.load_workflow("c").await.expect("load");
    assert_eq!(rec.status, WorkflowStatus::Running, "{:?}", rec.park_reason);
    assert!(
        store
            .load_inbox("c")
            .await
            .expect("inbox")
            .iter()
            .any(|e| matches!(e.kind, EventKind::CancelRequested { .. })),
        "the request waits for the run's code"
    );
    // A run that has not run at all is stopped at once, as before.
    client.start(tally, "d", 0).await.expect("start");
    client.cancel("d").await.expect("cancel");
    assert_eq!(
        store.load_workflow("d").await.expect("load").status,
        WorkflowStatus::Cancelled
    );
}

/// What `effect` was called with, per run.
static EFFECTS: support::PerWorkflow<u64> = support::PerWorkflow::new();

#[activity]
async fn effect(ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    EFFECTS.push(ctx.workflow_id(), x);
    Ok(x)
}

/// A side effect first.
#[workflow]
async fn effectful(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    Ok(ctx.activity(effect, x).await?)
}

/// A run that continued as new and whose execution timeout ran out before its next step is
/// stopped without running its code (it waits on nothing, yet it is stopped as any run is).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_continued_past_its_timeout_is_stopped_before_its_code_runs() {
    use workflow_rt::Workflow;
    use workflow_rt::machine::{CtxState, Snapshot};
    use workflow_rt::store::{EventKind, HistoryEntry, StepOutcome};
    both_modes(async |mode| {
        let id = &mode.id("t");
        let (store, clock) = memory();
        // Started by a client, and continued as new (by a worker now gone) to a first state
        // of step 3; then the end of its timeout fired.
        let client = workflow_rt::Client::new(store.clone());
        client.start(effectful, id, 7).await.expect("start");
        let rec = store.load_workflow(id).await.expect("load");
        let first = Snapshot::encode(
            <effectful as Workflow>::NAME,
            <effectful as Workflow>::fingerprint(),
            3,
            CtxState::new(support::T0, 1, 5),
            &<effectful as Workflow>::start(8),
        )
        .expect("encode");
        store
            .commit_step(support::bare_commit(
                &rec,
                StepOutcome::Continued {
                    input: postcard::to_stdvec(&8u64).expect("input"),
                    snapshot: first,
                },
            ))
            .await
            .expect("continue");
        store
            .append_event(
                id,
                EventKind::TimerFired {
                    seq: workflow_rt::store::CONTINUED_TIMERS[0],
                },
                support::T0,
                HistoryEntry::new(support::T0, HistoryKind::Step, "the timeout ran out"),
            )
            .await
            .expect("fired");
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(effectful)
            .activity(effect)
            .build()
            .await
            .expect("build");
        eventually("stopped", || async {
            store
                .load_workflow(id)
                .await
                .is_ok_and(|r| r.status.is_finished() || r.status == WorkflowStatus::Parked)
        })
        .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let rec = store.load_workflow(id).await.expect("load");
        assert_eq!(
            rec.status,
            WorkflowStatus::Cancelled,
            "{:?}",
            rec.park_reason
        );
        assert_eq!(EFFECTS.of(id), Vec::<u64>::new(), "its code did not run");
        rt.shutdown().await;
        rec.status
    })
    .await;
}

/// The chain goes on across a restart, on the stores that outlive a process: SQLite, and
/// PostgreSQL (each with its own run of `tally`, from a second process's connection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_goes_on_across_a_restart_on_sqlite_and_postgres() {
    use std::sync::Arc;
    use workflow_rt::{PostgresStore, SqliteStore};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("chain.db");
    let server = support::postgres::server("continue_as_new_chain");
    let schema = support::postgres::fresh_schema("continue_chain");
    let open = async |postgres: bool| -> Arc<dyn Store> {
        match (postgres, &server) {
            (true, Some(s)) => Arc::new(
                PostgresStore::builder(s.url().as_str())
                    .schema(&schema)
                    .connect()
                    .await
                    .expect("connect"),
            ) as Arc<dyn Store>,
            _ => Arc::new(SqliteStore::open(&path).expect("open")) as Arc<dyn Store>,
        }
    };
    let backends: &[bool] = if server.is_some() {
        &[false, true]
    } else {
        &[false]
    };
    for &postgres in backends {
        let clock = workflow_rt::VirtualClock::new(support::T0);
        let first = builder(support::Mode::Cached, open(postgres).await, clock.clone())
            .workflow(tally)
            .build()
            .await
            .expect("build");
        first.start(tally, "chain", 0).await.expect("start");
        for n in 1..=4u64 {
            first.signal("chain", "add", n).await.expect("signal");
        }
        eventually("continued once", || async {
            first
                .published::<u64>("chain", "total")
                .await
                .is_ok_and(|t| t == Some(6))
        })
        .await;
        first.shutdown().await;
        drop(first);
        // Another process, restored from the store at every step.
        let store = open(postgres).await;
        let second = builder(support::Mode::Restored, store.clone(), clock.clone())
            .workflow(tally)
            .build()
            .await
            .expect("build again");
        second.signal("chain", "add", 5u64).await.expect("signal");
        second.signal("chain", "add", 0u64).await.expect("signal");
        let out = within("result", second.client().result(tally, "chain"))
            .await
            .expect("result");
        assert_eq!(out, 15, "postgres: {postgres}");
        let history = store.history("chain").await.expect("history");
        assert_eq!(history[0].kind, HistoryKind::Continued, "{history:?}");
        assert!(
            !history.iter().any(|h| h.kind == HistoryKind::Started),
            "the first run's entries are gone: {history:?}"
        );
        second.shutdown().await;
    }
}
