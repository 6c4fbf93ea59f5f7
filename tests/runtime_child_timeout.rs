//! A child run's execution timeout (`ChildCall::timeout`): past it the child is stopped
//! outright, wherever it waits, parked or not, its own children closed by their policies, and
//! its parent's call is answered `ChildError::TimedOut`; a child that ends in time answers its
//! output. `TestRun` gives the same answers.

mod support;

use std::time::Duration;

use support::{PerWorkflow, both_modes, builder, eventually, memory, within};
use workflow_rt::WorkflowStatus;
use workflow_rt::prelude::*;
use workflow_rt::store::{HistoryKind, Store};
use workflow_rt::testing::TestRun;

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

/// One call.
#[workflow]
async fn quick(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    Ok(ctx.activity(effect, x).await?)
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

/// Sleeps (a cancel request ends the sleep), then ignores the request and waits for a signal
/// it never gets: a run that a cancel's grace period or its timeout must stop.
#[workflow]
async fn stubborn(ctx: WorkflowCtx, _x: u64) -> u64 {
    ctx.sleep(10 * HOUR).await;
    ctx.signal::<u64>("never").await
}

/// Calls `slow` as its own child (`<id>-grandchild`), closed by the default policy.
#[workflow]
async fn middle(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    let id = format!("{}-grandchild", ctx.workflow_id());
    match ctx.child(slow, x).id(id).await {
        Ok(out) => out,
        Err(e) => Err(WorkflowError::msg(e)),
    }
}

/// Which child `parent` calls.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
enum Kind {
    Middle,
    Quick,
    Touchy,
    Stubborn,
}

/// Calls a child (`<id>-child`) with an hour's timeout; what its call answered.
#[workflow]
async fn parent(ctx: WorkflowCtx, call: (Kind, u64)) -> String {
    let (kind, x) = call;
    let id = format!("{}-child", ctx.workflow_id());
    let answer = match kind {
        Kind::Middle => ctx.child(middle, x).id(id).timeout(HOUR).await,
        Kind::Quick => ctx.child(quick, x).id(id).timeout(HOUR).await,
        Kind::Touchy => {
            let out = ctx.child(touchy, x).id(id).timeout(HOUR).await;
            out.map(Ok)
        }
        Kind::Stubborn => {
            let out = ctx.child(stubborn, x).id(id).timeout(HOUR).await;
            out.map(Ok)
        }
    };
    match answer {
        Ok(Ok(v)) => format!("ok {v}"),
        Ok(Err(e)) => format!("failed: {e}"),
        Err(ChildError::TimedOut { .. }) => "timed out".to_string(),
        Err(e) => format!("no output: {e}"),
    }
}

/// The last entry of run `id`'s history but for the signals it never received.
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

fn runtime(
    mode: support::Mode,
    store: std::sync::Arc<workflow_rt::MemoryStore>,
    clock: workflow_rt::VirtualClock,
) -> workflow_rt::Builder {
    builder(mode, store, clock)
        .workflow(parent)
        .workflow(middle)
        .workflow(slow)
        .workflow(quick)
        .workflow(touchy)
        .workflow(stubborn)
        .activity(effect)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_past_its_timeout_is_stopped_and_its_parent_told() {
    both_modes(async |mode| {
        let id = &mode.id("late");
        let (child, grandchild) = (format!("{id}-child"), format!("{id}-child-grandchild"));
        let (store, clock) = memory();
        let rt = runtime(mode, store.clone(), clock.clone())
            .build()
            .await
            .expect("build");
        let run = rt
            .start(parent, id, (Kind::Middle, 1))
            .await
            .expect("start");
        eventually("the grandchild asleep", || async {
            store
                .load_timers(&grandchild)
                .await
                .is_ok_and(|t| !t.is_empty())
        })
        .await;
        let first = store.history(&child).await.expect("history").remove(0);
        assert!(
            first.detail.contains("past 3600000 ms"),
            "the child's start says when it stops: {}",
            first.detail
        );
        assert_eq!(
            rt.state(&child).await.expect("state").timeout_at_ms,
            Some(support::T0 + 3_600_000),
            "the child's state says when it times out"
        );
        clock.advance(HOUR / 2);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(
            store.load_workflow(&child).await.expect("load").status,
            WorkflowStatus::Running,
            "within its timeout"
        );
        clock.advance(HOUR);
        let out = within("result", run.result()).await.expect("output");
        assert_eq!(out, "timed out");
        let rec = store.load_workflow(&child).await.expect("child");
        assert_eq!(rec.status, WorkflowStatus::Cancelled);
        let (kind, detail) = last_entry(&*store, &child).await;
        assert_eq!(kind, HistoryKind::Terminated);
        assert!(detail.contains("execution timeout"), "{detail}");
        eventually("the grandchild closed", || async {
            store
                .load_workflow(&grandchild)
                .await
                .is_ok_and(|r| r.status == WorkflowStatus::Cancelled)
        })
        .await;
        rt.shutdown().await;
        assert_eq!(EFFECTS.of(&grandchild), vec![1], "no more of its code ran");
        (out, EFFECTS.of(&grandchild), kind)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_that_ends_in_time_answers_its_output() {
    both_modes(async |mode| {
        let id = &mode.id("in-time");
        let child = format!("{id}-child");
        let (store, clock) = memory();
        let rt = runtime(mode, store.clone(), clock.clone())
            .build()
            .await
            .expect("build");
        let out = within(
            "result",
            rt.start(parent, id, (Kind::Quick, 7))
                .await
                .expect("start")
                .result(),
        )
        .await
        .expect("output");
        assert_eq!(out, "ok 7");
        let rec = store.load_workflow(&child).await.expect("child");
        assert_eq!(rec.status, WorkflowStatus::Completed);
        assert!(
            store.load_timers(&child).await.expect("timers").is_empty(),
            "its timeout went with its end"
        );
        rt.shutdown().await;
        (out, EFFECTS.of(&child))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_child_past_its_timeout_is_stopped_and_its_parent_told() {
    both_modes(async |mode| {
        let id = &mode.id("parked");
        let child = format!("{id}-child");
        let (store, clock) = memory();
        let rt = runtime(mode, store.clone(), clock.clone())
            .build()
            .await
            .expect("build");
        let run = rt
            .start(parent, id, (Kind::Touchy, 0))
            .await
            .expect("start");
        eventually("the child waiting", || async {
            store
                .load_workflow(&child)
                .await
                .is_ok_and(|r| r.pending.is_some())
        })
        .await;
        rt.signal(&child, "n", 13u64).await.expect("signal");
        eventually("parked", || async {
            store
                .load_workflow(&child)
                .await
                .is_ok_and(|r| r.status == WorkflowStatus::Parked)
        })
        .await;
        clock.advance(2 * HOUR);
        let out = within("result", run.result()).await.expect("output");
        assert_eq!(out, "timed out");
        let (kind, detail) = last_entry(&*store, &child).await;
        assert_eq!(kind, HistoryKind::Terminated);
        assert!(detail.contains("execution timeout"), "{detail}");
        rt.shutdown().await;
        out
    })
    .await;
}

/// `TestRun` answers a child call with a timeout as the runtime does: `timed out` past it, at
/// the virtual time the timeout ends, and the output of a child that ends in time.
#[test]
fn a_test_run_answers_a_child_past_its_timeout_as_the_runtime_does() {
    for every_await in [false, true] {
        let late = TestRun::new(parent, "t-late", (Kind::Middle, 1))
            .snapshot_every_await(every_await)
            .with_workflow_configured(middle, |run| {
                run.with_workflow_configured(slow, |run| run.on_activity(effect, Ok))
            })
            .run()
            .expect("run");
        assert_eq!(late.output, "timed out");
        assert_eq!(
            late.elapsed(),
            HOUR,
            "answered when the child's timeout ran out"
        );
        let in_time = TestRun::new(parent, "t-quick", (Kind::Quick, 7))
            .snapshot_every_await(every_await)
            .with_workflow_configured(quick, |run| run.on_activity(effect, Ok))
            .run()
            .expect("run");
        assert_eq!(in_time.output, "ok 7");
    }
}

/// A child with a timeout that is stopped for another reason (terminated from outside) is
/// answered `Cancelled`, not `TimedOut`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_terminated_within_its_timeout_is_answered_cancelled() {
    both_modes(async |mode| {
        let id = &mode.id("terminated");
        let child = format!("{id}-child");
        let (store, clock) = memory();
        let rt = runtime(mode, store.clone(), clock.clone())
            .build()
            .await
            .expect("build");
        let run = rt
            .start(parent, id, (Kind::Middle, 1))
            .await
            .expect("start");
        eventually("the child waiting", || async {
            store
                .load_workflow(&child)
                .await
                .is_ok_and(|r| r.pending.is_some())
        })
        .await;
        rt.client().terminate(&child).await.expect("terminate");
        let out = within("result", run.result()).await.expect("output");
        assert!(
            out.starts_with("no output: ") && out.ends_with("was cancelled"),
            "{out}"
        );
        rt.shutdown().await;
        out.replace(id.as_str(), "ID")
    })
    .await;
}

/// A child asked to cancel with a grace period longer than its timeout, which ignores the
/// request: when no worker ran while both ended, the first of them stops it (its timeout), as
/// it would have with a worker running, and its parent is told it timed out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_of_a_grace_period_and_a_timeout_stops_a_child() {
    both_modes(async |mode| {
        let id = &mode.id("both");
        let child = format!("{id}-child");
        let (store, clock) = memory();
        let rt = runtime(mode, store.clone(), clock.clone())
            .build()
            .await
            .expect("build");
        rt.start(parent, id, (Kind::Stubborn, 0))
            .await
            .expect("start");
        let asleep = |client: workflow_rt::Client, signal: bool| {
            let child = child.clone();
            async move {
                client.state(&child).await.is_ok_and(|s| {
                    s.commands.iter().any(|c| {
                        matches!(
                            (c, signal),
                            (workflow_rt::PendingCommand::Signal { .. }, true)
                                | (workflow_rt::PendingCommand::Timer { .. }, false)
                        )
                    })
                })
            }
        };
        eventually("the child asleep", || asleep(rt.client(), false)).await;
        rt.client()
            .cancel_with(&child, "asked to stop", 2 * HOUR)
            .await
            .expect("cancel");
        eventually("the child ignoring the request", || {
            asleep(rt.client(), true)
        })
        .await;
        rt.shutdown().await;
        // No worker while the timeout (at 1 h) and the grace period (at 2 h) both end.
        clock.advance(3 * HOUR);
        let rt = runtime(mode, store.clone(), clock.clone())
            .build()
            .await
            .expect("build");
        let out = within("result", rt.handle(parent, id).result())
            .await
            .expect("output");
        assert_eq!(out, "timed out");
        let (kind, detail) = last_entry(&*store, &child).await;
        assert_eq!(kind, HistoryKind::Terminated);
        assert!(detail.contains("execution timeout"), "{detail}");
        rt.shutdown().await;
        out
    })
    .await;
}
