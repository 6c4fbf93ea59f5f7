//! Starting, finishing, querying: the runtime's everyday surface.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{Mode, both_modes, builder, memory, within};
use workflow_rt::machine::Pending;
use workflow_rt::prelude::*;
use workflow_rt::store::{HistoryKind, Store};
use workflow_rt::{ActivityCall, RuntimeError, WorkflowStatus};

#[activity]
async fn add(_ctx: ActivityCtx, input: (u64, u64)) -> Result<u64, ActivityError> {
    Ok(input.0 + input.1)
}

static BARRIER: std::sync::LazyLock<tokio::sync::Barrier> =
    std::sync::LazyLock::new(|| tokio::sync::Barrier::new(4));

/// Finishes only once four calls run at the same time.
#[activity]
async fn meet(_ctx: ActivityCtx, i: u64) -> Result<u64, ActivityError> {
    BARRIER.wait().await;
    Ok(i * 10)
}

#[workflow]
async fn sum_to(ctx: WorkflowCtx, n: u64) -> u64 {
    let mut total: u64 = 0;
    let mut i: u64 = 0;
    while i < n {
        total = ctx.activity(add, (total, i)).await.unwrap_or(0);
        i += 1;
    }
    total
}

#[workflow]
async fn fan_out(ctx: WorkflowCtx, n: u64) -> Vec<u64> {
    let calls: Vec<ActivityCall<meet>> = (0..n).map(|i| ctx.activity(meet, i)).collect();
    let results = ctx.join(calls).await;
    results.into_iter().map(|r| r.unwrap_or(0)).collect()
}

/// Joins `n` calls (none when `n` is 0), then races a join of none against an hour's sleep,
/// then joins none again: a wait complete with nothing resolves at once.
#[workflow]
async fn join_of_none(ctx: WorkflowCtx, n: u64) -> (Vec<u64>, u64, usize) {
    let calls: Vec<ActivityCall<add>> = (0..n).map(|i| ctx.activity(add, (i, 1))).collect();
    let results: Vec<u64> = ctx
        .join(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap_or(0))
        .collect();
    let none: Vec<ActivityCall<add>> = Vec::new();
    let raced = match ctx
        .select((ctx.join(none), ctx.sleep(Duration::from_secs(3600))))
        .await
    {
        Select2::First(joined) => joined.len() as u64,
        Select2::Second(()) => 99,
    };
    let again: Vec<ActivityCall<add>> = Vec::new();
    let last = ctx.join(again).await.len();
    (results, raced, last)
}

#[workflow]
async fn fails(ctx: WorkflowCtx, n: u64) -> Result<u64, WorkflowError> {
    let v = ctx.activity(add, (n, 1)).await?;
    Err(WorkflowError::msg(format!("gave up at {v}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_runs_to_its_output() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock)
            .workflow(sum_to)
            .activity(add)
            .build()
            .await
            .expect("build");
        let run = rt.start(sum_to, "sum-100", 100).await.expect("start");
        let out = within("result", run.result()).await.expect("result");
        assert_eq!(out, 4950);
        let rec = store.load_workflow("sum-100").await.expect("load");
        assert_eq!(
            (rec.status, rec.version),
            (WorkflowStatus::Completed, 101),
            "one commit per step"
        );
        let h = rt.history("sum-100").await.expect("history");
        assert_eq!(h.first().map(|e| e.kind), Some(HistoryKind::Started));
        assert_eq!(
            h.iter().filter(|e| e.kind == HistoryKind::Step).count(),
            100
        );
        assert_eq!(h.last().map(|e| e.kind), Some(HistoryKind::Completed));
        let state = rt.state("sum-100").await.expect("state");
        assert_eq!(state.status, WorkflowStatus::Completed);
        assert_eq!(state.step, 101);
        assert_eq!(state.output, Some(serde_json::json!(4950)));
        rt.shutdown().await;
        (
            out,
            rec.version,
            h.into_iter()
                .map(|e| (e.kind, e.detail))
                .collect::<Vec<_>>(),
            state.state,
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_runs_its_activities_at_once() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store, clock)
            .workflow(fan_out)
            .activity(meet)
            .build()
            .await
            .expect("build");
        let run = rt.start(fan_out, "fan", 4).await.expect("start");
        // Each call waits until all four run: a runtime that ran them one by one would hang.
        let out = within("join", run.result()).await.expect("result");
        assert_eq!(out, vec![0, 10, 20, 30]);
        rt.shutdown().await;
        out
    })
    .await;
}

/// A join of no calls is complete when the code awaits it, alone or as a `select`'s branch:
/// the run goes on at once (it waited for ever, for nothing could wake it; a select waited for
/// its other branch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_of_no_calls_is_complete_at_once() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock)
            .workflow(join_of_none)
            .activity(add)
            .build()
            .await
            .expect("build");
        let mut outs = Vec::new();
        for (id, n) in [("none", 0), ("two", 2)] {
            let run = rt.start(join_of_none, id, n).await.expect("start");
            outs.push(within("the joins", run.result()).await.expect("result"));
        }
        assert_eq!(outs, [(vec![], 0, 0), (vec![1, 2], 0, 0)]);
        rt.shutdown().await;
        outs
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_is_idempotent_on_the_id() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock)
            .workflow(sum_to)
            .workflow(fails)
            .activity(add)
            .build()
            .await
            .expect("build");
        let a = rt.start(sum_to, "order-1", 10).await.expect("start");
        let b = rt
            .start(sum_to, "order-1", 10)
            .await
            .expect("the same start again");
        let a = within("a", a.result()).await.expect("a");
        let b = within("b", b.result()).await.expect("b");
        assert_eq!((a, b), (45, 45));
        let c = rt
            .start(sum_to, "order-1", 10)
            .await
            .expect("and after it finished");
        let c = c.result().await.expect("c");
        assert_eq!(c, 45);
        assert_eq!(
            store.list_workflows(None).await.expect("list").len(),
            1,
            "one run"
        );
        match rt.start(sum_to, "order-1", 11).await {
            Err(RuntimeError::IdInUse { id, name }) => {
                assert_eq!((id.as_str(), name.as_str()), ("order-1", "sum_to"))
            }
            other => panic!("another input under a taken id must be refused, got {other:?}"),
        }
        assert!(matches!(
            rt.start(fails, "order-1", 10).await,
            Err(RuntimeError::IdInUse { .. })
        ));
        rt.shutdown().await;
        (a, b, c)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_err_output_is_a_failed_workflow() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store, clock)
            .workflow(fails)
            .workflow(sum_to)
            .activity(add)
            .build()
            .await
            .expect("build");
        let run = rt.start(fails, "f", 41).await.expect("start");
        let out = within("result", run.result()).await.expect("result");
        assert_eq!(out, Err(WorkflowError::msg("gave up at 42")));
        rt.start(sum_to, "s", 3)
            .await
            .expect("start")
            .result()
            .await
            .expect("result");
        let failed = rt.list(Some(WorkflowStatus::Failed)).await.expect("list");
        assert_eq!(
            failed.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
            vec!["f"]
        );
        let all = rt.list(None).await.expect("list");
        let statuses: Vec<(String, WorkflowStatus)> =
            all.into_iter().map(|w| (w.id, w.status)).collect();
        assert_eq!(
            statuses,
            vec![
                ("f".to_string(), WorkflowStatus::Failed),
                ("s".to_string(), WorkflowStatus::Completed)
            ]
        );
        rt.shutdown().await;
        (out, statuses)
    })
    .await;
}

#[activity]
async fn slow(_ctx: ActivityCtx, _i: u64) -> Result<u64, ActivityError> {
    std::future::pending::<()>().await;
    Ok(0)
}

#[workflow]
async fn stuck(ctx: WorkflowCtx, n: u64) -> u64 {
    let first: u64 = ctx.activity(add, (n, n)).await.unwrap_or(0);
    let second: u64 = ctx.activity(slow, first).await.unwrap_or(0);
    first + second
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_is_the_query() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store, clock)
            .workflow(stuck)
            .activity(add)
            .activity(slow)
            .build()
            .await
            .expect("build");
        rt.start(stuck, "q", 21).await.expect("start");
        support::eventually("the second call", || async {
            rt.state("q").await.map(|s| s.step == 2).unwrap_or(false)
        })
        .await;
        let s = rt.state("q").await.expect("state");
        assert_eq!(
            (s.status, s.name.as_str()),
            (WorkflowStatus::Running, "stuck")
        );
        let json = s.state.clone().expect("state as JSON").to_string();
        assert!(
            json.contains("42"),
            "the live local `first` is in the state: {json}"
        );
        match &s.waiting_for {
            Some(Pending::Activity { name, seq: 1, .. }) => assert_eq!(name, "slow"),
            other => panic!("it waits for the second call, got {other:?}"),
        }
        assert!(matches!(
            rt.state("nope").await,
            Err(RuntimeError::UnknownWorkflow(_))
        ));
        let unregistered = builder(
            mode,
            Arc::new(workflow_rt::MemoryStore::new()),
            support::memory().1,
        )
        .build()
        .await
        .expect("build");
        assert!(matches!(
            unregistered.start(stuck, "x", 1).await,
            Err(RuntimeError::NotRegistered { .. })
        ));
        rt.shutdown().await;
        (s.state, s.waiting_for, s.step, s.version)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn building_needs_distinct_names() {
    let (store, clock) = memory();
    let twice = builder(Mode::Cached, store, clock)
        .activity(add)
        .activity(add)
        .build()
        .await;
    assert!(matches!(
        twice,
        Err(RuntimeError::DuplicateName {
            kind: "activity",
            ..
        })
    ));
    let _ = Duration::ZERO;
}

static GATE: tokio::sync::Notify = tokio::sync::Notify::const_new();

#[activity]
async fn gated(_ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    GATE.notified().await;
    Ok(x + 1)
}

#[workflow]
async fn behind_gate(ctx: WorkflowCtx, x: u64) -> u64 {
    ctx.activity(gated, x).await.unwrap_or(0)
}

/// Regression: a result that arrives while this runtime's view of the workflow is stale
/// (another worker committed meanwhile) used to be lost with the conflicting commit, and the
/// call ran again only once its lease expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_survives_a_conflicting_commit() {
    use workflow_rt::store::{HistoryEntry, StepCommit, StepOutcome};
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock)
            .workflow(behind_gate)
            .activity(gated)
            .lease_duration(Duration::from_secs(3600))
            .build()
            .await
            .expect("build");
        let run = rt.start(behind_gate, "g", 41).await.expect("start");
        support::eventually("the call runs", || async {
            store
                .load_tasks("g")
                .await
                .expect("tasks")
                .first()
                .is_some_and(|t| t.lease_owner.is_some())
        })
        .await;
        // Another worker's commit: same state, new version.
        let rec = store.load_workflow("g").await.expect("load");
        store
            .commit_step(StepCommit {
                children: Vec::new(),
                workflow_id: "g".into(),
                run_key: None,
                expected_version: rec.version,
                now_ms: 0,
                outcome: StepOutcome::Suspended {
                    snapshot: rec.snapshot,
                    pending: rec.pending.expect("pending"),
                    tasks: vec![],
                    timers: vec![],
                },
                consumed_events: vec![],
                completed_tasks: vec![],
                cancelled: vec![],
                fired_timers: Vec::new(),
                seen_events_upto: 0,
                keep_ready: false,
                history: vec![HistoryEntry::new(0, HistoryKind::Step, "elsewhere")],
                deliver: Vec::new(),
            })
            .await
            .expect("commit");
        GATE.notify_one();
        let out = within("result", run.result()).await.expect("result");
        assert_eq!(out, 42);
        rt.shutdown().await;
        out
    })
    .await;
}
