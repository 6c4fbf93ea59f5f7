//! Terminating a workflow: it stops where it is, its activity attempts are abandoned, its
//! timers dropped, and its result says so. (Cancelling, which the workflow's code is told
//! of, is in `runtime_compose.rs`.)

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use support::{PerWorkflow, both_modes, builder, eventually, memory, within};
use workflow_rt::prelude::*;
use workflow_rt::store::{HistoryKind, Store};
use workflow_rt::{Client, RuntimeError, WorkflowStatus};

static DROPPED: AtomicU32 = AtomicU32::new(0);

struct CountDrop;
impl Drop for CountDrop {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

#[activity]
async fn forever(_ctx: ActivityCtx, _x: u64) -> Result<u64, ActivityError> {
    let _guard = CountDrop;
    std::future::pending::<()>().await;
    Ok(0)
}

#[workflow]
async fn stuck_on_call(ctx: WorkflowCtx, x: u64) -> u64 {
    ctx.activity(forever, x).await.unwrap_or(0)
}

#[workflow]
async fn stuck_on_timer(ctx: WorkflowCtx, x: u64) -> u64 {
    ctx.sleep(Duration::from_secs(3600)).await;
    x
}

/// The calls of `effect`, per workflow.
static EFFECTS: PerWorkflow<u64> = PerWorkflow::new();

#[activity]
async fn effect(ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    EFFECTS.push(ctx.workflow_id(), x);
    Ok(x)
}

#[workflow]
async fn effectful(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    Ok(ctx.activity(effect, x).await?)
}

/// A run cancelled before it takes its first step ends cancelled without running its code:
/// none of its calls start (its first step ran, and started its first call, before the
/// request was taken).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cancelled_before_its_first_step_ends_without_running() {
    both_modes(async |mode| {
        let id = &mode.id("never-started");
        let (store, clock) = memory();
        let client = Client::new(store.clone()).workflow(effectful);
        client.start(effectful, id, 5).await.expect("start");
        client.cancel(id).await.expect("cancel");
        let rt = builder(mode, store.clone(), clock)
            .workflow(effectful)
            .activity(effect)
            .build()
            .await
            .expect("build");
        let out = within("result", rt.handle(effectful, id).result()).await;
        assert!(
            matches!(&out, Err(RuntimeError::Cancelled { .. })),
            "{out:?}"
        );
        assert!(EFFECTS.of(id).is_empty(), "no call started");
        let last = store
            .history(id)
            .await
            .expect("history")
            .pop()
            .expect("entry");
        assert_eq!(last.kind, HistoryKind::Terminated);
        assert!(
            last.detail.contains("before its first step"),
            "{}",
            last.detail
        );
        rt.shutdown().await;
        EFFECTS.of(id)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_abandons_a_running_call() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock)
            .workflow(stuck_on_call)
            .activity(forever)
            .build()
            .await
            .expect("build");
        let dropped = DROPPED.load(Ordering::SeqCst);
        let run = rt.start(stuck_on_call, "c", 1).await.expect("start");
        eventually("the call runs", || async {
            store
                .load_tasks("c")
                .await
                .expect("tasks")
                .first()
                .is_some_and(|t| t.lease_owner.is_some())
        })
        .await;
        rt.terminate("c").await.expect("terminate");
        let out = within("result", run.result()).await;
        assert!(matches!(&out, Err(RuntimeError::Cancelled { id }) if id == "c"));
        eventually("the attempt is dropped", || async {
            DROPPED.load(Ordering::SeqCst) == dropped + 1
        })
        .await;
        assert!(store.load_tasks("c").await.expect("tasks").is_empty());
        let rec = store.load_workflow("c").await.expect("load");
        assert_eq!(rec.status, WorkflowStatus::Cancelled);
        let history: Vec<HistoryKind> = store
            .history("c")
            .await
            .expect("history")
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(history.last(), Some(&HistoryKind::Terminated));
        assert!(matches!(
            rt.cancel("c").await,
            Err(RuntimeError::Finished {
                status: WorkflowStatus::Cancelled,
                ..
            })
        ));
        assert!(matches!(
            rt.signal("c", "x", 1u8).await,
            Err(RuntimeError::Finished { .. })
        ));
        assert!(matches!(
            rt.cancel("nope").await,
            Err(RuntimeError::UnknownWorkflow(_))
        ));
        rt.shutdown().await;
        (out, rec.version, history)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_drops_timers() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(stuck_on_timer)
            .build()
            .await
            .expect("build");
        let run = rt.start(stuck_on_timer, "t", 1).await.expect("start");
        eventually("the timer", || async {
            store.load_timers("t").await.expect("timers").len() == 1
        })
        .await;
        run.terminate().await.expect("terminate");
        assert!(store.load_timers("t").await.expect("timers").is_empty());
        clock.advance(Duration::from_secs(7200));
        tokio::time::sleep(Duration::from_millis(20)).await;
        let rec = store.load_workflow("t").await.expect("load");
        assert_eq!(rec.status, WorkflowStatus::Cancelled, "it never runs again");
        let out = run.result().await;
        assert!(matches!(out, Err(RuntimeError::Cancelled { .. })));
        rt.shutdown().await;
        (out, rec.version)
    })
    .await;
}
