//! A run's execution timeout (`StartOptions::timeout`): past it, the run is stopped outright,
//! wherever it waits, parked or not, after a restart too; a run that ends before it is not
//! touched.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{PerWorkflow, both_modes, builder, eventually, memory, within};
use workflow_rt::prelude::*;
use workflow_rt::store::{HistoryKind, Store};
use workflow_rt::{
    IdReuse, RuntimeError, SignalWithStart, SqliteStore, StartOptions, VirtualClock, WorkflowStatus,
};

const HOUR: Duration = Duration::from_secs(3600);

/// The calls of `effect`, per workflow.
static EFFECTS: PerWorkflow<u64> = PerWorkflow::new();

#[activity]
async fn effect(ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    EFFECTS.push(ctx.workflow_id(), x);
    Ok(x)
}

/// A call, a day's sleep, a call.
#[workflow]
async fn slow(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    ctx.activity(effect, x).await?;
    ctx.sleep(24 * HOUR).await;
    Ok(ctx.activity(effect, x + 1).await?)
}

/// Waits for a number; 13 makes its step panic (the run parks).
#[workflow]
async fn touchy(ctx: WorkflowCtx, _x: u64) -> u64 {
    let n: u64 = ctx.signal::<u64>("n").await;
    if n == 13 {
        panic!("unlucky {n}");
    }
    n
}

/// The last entry of run `id`'s history but for the signals it never received (recorded
/// after the step that ends it).
async fn last_entry(store: &dyn Store, id: &str) -> (HistoryKind, String) {
    let last = store
        .history(id)
        .await
        .expect("history")
        .into_iter()
        .rfind(|h| h.kind != HistoryKind::DeadLetter)
        .expect("an entry");
    (last.kind, last.detail)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_past_its_timeout_is_stopped_where_it_waits() {
    both_modes(async |mode| {
        let id = &mode.id("slow");
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(slow)
            .activity(effect)
            .build()
            .await
            .expect("build");
        let run = rt
            .start_with(slow, id, 1, StartOptions::new().timeout(HOUR))
            .await
            .expect("start");
        assert_eq!(
            rt.state(id).await.expect("state").timeout_at_ms,
            Some(support::T0 + 3_600_000),
            "the state says when it times out"
        );
        let first = store.history(id).await.expect("history").remove(0);
        assert!(
            first.detail.contains("past 3600000 ms"),
            "the start says when it stops: {}",
            first.detail
        );
        eventually("asleep", || async {
            store.load_timers(id).await.is_ok_and(|t| t.len() == 2)
        })
        .await;
        clock.advance(HOUR / 2);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(
            store.load_workflow(id).await.expect("load").status,
            WorkflowStatus::Running,
            "within its timeout"
        );
        clock.advance(HOUR);
        let out = within("result", run.result()).await;
        assert!(
            matches!(&out, Err(RuntimeError::Cancelled { .. })),
            "{out:?}"
        );
        let (kind, detail) = last_entry(&*store, id).await;
        assert_eq!(kind, HistoryKind::Terminated);
        assert!(detail.contains("execution timeout"), "{detail}");
        assert!(
            store.load_timers(id).await.expect("timers").is_empty(),
            "its timers went with it"
        );
        assert_eq!(rt.state(id).await.expect("state").timeout_at_ms, None);
        rt.shutdown().await;
        assert_eq!(EFFECTS.of(id), vec![1], "no more of its code ran");
        (EFFECTS.of(id), kind)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_ends_in_time_is_not_touched() {
    both_modes(async |mode| {
        let id = &mode.id("quick");
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(slow)
            .activity(effect)
            .build()
            .await
            .expect("build");
        let run = rt
            .start_with(slow, id, 10, StartOptions::new().timeout(48 * HOUR))
            .await
            .expect("start");
        eventually("asleep", || async {
            store.load_timers(id).await.is_ok_and(|t| t.len() == 2)
        })
        .await;
        clock.advance(25 * HOUR);
        let out = within("result", run.result()).await.expect("result");
        assert_eq!(out, Ok(11));
        assert!(
            store.load_timers(id).await.expect("timers").is_empty(),
            "the end of its timeout went with the run"
        );
        clock.advance(48 * HOUR);
        tokio::time::sleep(Duration::from_millis(30)).await;
        let rec = store.load_workflow(id).await.expect("load");
        assert_eq!(rec.status, WorkflowStatus::Completed);
        assert_eq!(last_entry(&*store, id).await.0, HistoryKind::Completed);
        rt.shutdown().await;
        out
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_run_past_its_timeout_is_stopped() {
    both_modes(async |mode| {
        let id = &mode.id("touchy");
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(touchy)
            .build()
            .await
            .expect("build");
        rt.start_with(touchy, id, 0, StartOptions::new().timeout(HOUR))
            .await
            .expect("start");
        rt.signal(id, "n", 13u64).await.expect("signal");
        eventually("parked", || async {
            store
                .load_workflow(id)
                .await
                .is_ok_and(|r| r.status == WorkflowStatus::Parked)
        })
        .await;
        clock.advance(2 * HOUR);
        eventually("stopped", || async {
            store
                .load_workflow(id)
                .await
                .is_ok_and(|r| r.status.is_finished())
        })
        .await;
        let rec = store.load_workflow(id).await.expect("load");
        assert_eq!(rec.status, WorkflowStatus::Cancelled);
        let (kind, detail) = last_entry(&*store, id).await;
        assert_eq!(kind, HistoryKind::Terminated);
        assert!(detail.contains("execution timeout"), "{detail}");
        rt.shutdown().await;
        rec.status
    })
    .await;
}

/// A run whose timeout ran out before any worker took it (started by a client while none
/// ran) ends without running its code, as a run cancelled before its first step does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_times_out_before_its_first_step_runs_no_code() {
    both_modes(async |mode| {
        let id = &mode.id("never-ran");
        let (store, clock) = memory();
        let client = workflow_rt::Client::new(store.clone())
            .clock(clock.clone())
            .workflow(slow);
        client
            .start_with(slow, id, 5, StartOptions::new().timeout(HOUR))
            .await
            .expect("start");
        clock.advance(2 * HOUR);
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(slow)
            .activity(effect)
            .build()
            .await
            .expect("build");
        let out = within("result", rt.handle(slow, id).result()).await;
        assert!(
            matches!(&out, Err(RuntimeError::Cancelled { .. })),
            "{out:?}"
        );
        let (kind, detail) = last_entry(&*store, id).await;
        assert_eq!(kind, HistoryKind::Terminated);
        assert!(
            detail.contains("before its first step") && detail.contains("execution timeout"),
            "{detail}"
        );
        rt.shutdown().await;
        assert!(EFFECTS.of(id).is_empty(), "none of its calls started");
        (EFFECTS.of(id), kind)
    })
    .await;
}

/// The timeout is a timer in the store: a run started by one process is stopped by another,
/// started later on the same file, and one started by signal-with-start has it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeout_outlives_the_process_that_set_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("wf.db");
    let clock = VirtualClock::new(support::T0);
    let open = || -> Arc<dyn Store> { Arc::new(SqliteStore::open(&db).expect("open")) };
    let client = workflow_rt::Client::new(open())
        .clock(clock.clone())
        .workflow(touchy);
    client
        .start_with(
            touchy,
            "by-start",
            0,
            StartOptions::new()
                .timeout(HOUR)
                .reuse(IdReuse::AfterFinished),
        )
        .await
        .expect("start");
    let did = client
        .signal_with_start_with(
            touchy,
            "by-signal",
            0,
            "other",
            1u64,
            StartOptions::new().timeout(HOUR),
        )
        .await
        .expect("signal-with-start");
    assert_eq!(did, SignalWithStart::Started);
    drop(client);
    let store = open();
    let rt = builder(support::Mode::Cached, store.clone(), clock.clone())
        .workflow(touchy)
        .build()
        .await
        .expect("build");
    for id in ["by-start", "by-signal"] {
        eventually("waiting", || async {
            store
                .load_workflow(id)
                .await
                .is_ok_and(|r| r.pending.is_some())
        })
        .await;
    }
    clock.advance(2 * HOUR);
    for id in ["by-start", "by-signal"] {
        let out = within("result", rt.handle(touchy, id).result()).await;
        assert!(
            matches!(&out, Err(RuntimeError::Cancelled { .. })),
            "{id}: {out:?}"
        );
        let (kind, detail) = last_entry(&*store, id).await;
        assert_eq!(kind, HistoryKind::Terminated, "{id}");
        assert!(detail.contains("execution timeout"), "{id}: {detail}");
    }
    rt.shutdown().await;
}

/// `TestRun::timeout` stops a run where the runtime does: `slow` past an hour, after its first
/// call, and a run that ends in time is not touched.
#[test]
fn a_test_run_times_out_as_the_runtime_does() {
    use workflow_rt::testing::{TestError, TestRun};
    let out = TestRun::new(slow, "test-slow", 1)
        .with_activity(effect)
        .timeout(HOUR)
        .run();
    assert!(
        matches!(&out, Err(TestError::TimedOut { step: 2, .. })),
        "stopped asleep, after its second step: {out:?}"
    );
    assert_eq!(EFFECTS.of("test-slow"), vec![1], "no more of its code ran");
    let out = TestRun::new(slow, "test-quick", 10)
        .with_activity(effect)
        .timeout(48 * HOUR)
        .run()
        .expect("in time");
    assert_eq!(out.output, Ok(11));
}
