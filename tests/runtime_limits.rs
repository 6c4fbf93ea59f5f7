//! The runtime's limits: `max_concurrent_activities` bounds the activity bodies running at
//! once, `max_concurrent_steps` the workflows stepped at once; all the work still gets done,
//! and a workflow that keeps stepping does not starve the others of a driver.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::recording::RecordingStore;
use support::{Mode, T0, both_modes, memory, within};
use workflow_rt::prelude::*;
use workflow_rt::store::Store;
use workflow_rt::{MemoryStore, VirtualClock, WorkflowStatus};

static RUNNING: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static ATTEMPTS: AtomicUsize = AtomicUsize::new(0);

/// Runs for a few milliseconds (so that calls overlap), counting the bodies running at once.
/// Every fifth call fails its first attempt: its retry comes back through the task loop, which
/// must respect the limit too.
#[activity]
async fn slow(ctx: ActivityCtx, i: u64) -> Result<u64, ActivityError> {
    let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    PEAK.fetch_max(now, Ordering::SeqCst);
    ATTEMPTS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(3)).await;
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    if i.is_multiple_of(5) && ctx.attempt() == 1 {
        return Err(ActivityError::retryable("once more"));
    }
    Ok(i * 2)
}

static GATE_OPEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static GATE_RUNNING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static CHARGED: AtomicUsize = AtomicUsize::new(0);

/// Holds its slot until the gate opens.
#[activity]
async fn gate(_ctx: ActivityCtx, _x: u64) -> Result<u64, ActivityError> {
    GATE_RUNNING.store(true, Ordering::SeqCst);
    while !GATE_OPEN.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(0)
}

/// An effect that must not happen once its call was cancelled.
#[activity]
async fn charge(_ctx: ActivityCtx, amount: u64) -> Result<u64, ActivityError> {
    CHARGED.fetch_add(1, Ordering::SeqCst);
    Ok(amount)
}

#[workflow]
async fn holds_the_slot(ctx: WorkflowCtx, x: u64) -> u64 {
    ctx.activity(gate, x).await.unwrap_or(1)
}

/// Cancelled while its charge waits for a slot, it winds down for a minute.
#[workflow]
async fn pays(ctx: WorkflowCtx, amount: u64) -> Result<u64, WorkflowError> {
    match ctx.activity(charge, amount).await {
        Ok(n) => Ok(n),
        Err(e) if e.kind == ActivityErrorKind::Cancelled => {
            ctx.sleep(Duration::from_secs(60)).await;
            Err(WorkflowError::msg("cancelled before paying"))
        }
        Err(e) => Err(e.into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cancelled_while_it_waits_for_a_slot_never_runs() {
    both_modes(async |mode| {
        GATE_OPEN.store(false, Ordering::SeqCst);
        GATE_RUNNING.store(false, Ordering::SeqCst);
        CHARGED.store(0, Ordering::SeqCst);
        let (store, clock) = memory();
        let rt = support::builder(mode, store.clone(), clock.clone())
            .workflow(holds_the_slot)
            .workflow(pays)
            .activity(gate)
            .activity(charge)
            .max_concurrent_activities(1)
            .build()
            .await
            .expect("build");
        let held = rt.start(holds_the_slot, "held", 0).await.expect("start");
        support::eventually("the gate holds the slot", || async {
            GATE_RUNNING.load(Ordering::SeqCst)
        })
        .await;
        let run = rt.start(pays, "pay", 5).await.expect("start");
        support::eventually("the charge is leased, waiting for the slot", || async {
            store
                .load_tasks("pay")
                .await
                .expect("tasks")
                .first()
                .is_some_and(|t| t.lease_owner.is_some())
        })
        .await;
        rt.cancel("pay").await.expect("cancel");
        support::eventually("the call is answered as cancelled", || async {
            store.load_tasks("pay").await.expect("tasks").is_empty()
                && store
                    .load_timers("pay")
                    .await
                    .expect("timers")
                    .iter()
                    .any(|t| t.fire_at_ms == support::T0 + 60_000)
        })
        .await;
        GATE_OPEN.store(true, Ordering::SeqCst);
        assert_eq!(within("held", held.result()).await.expect("result"), 0);
        // The slot is free and the queue was looked at: nothing ran for the cancelled call.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            CHARGED.load(Ordering::SeqCst),
            0,
            "charged after the cancel"
        );
        clock.advance(Duration::from_secs(60));
        let out = within("pay", run.result()).await;
        assert!(out.is_err(), "{out:?}");
        rt.shutdown().await;
        CHARGED.load(Ordering::SeqCst)
    })
    .await;
}

/// Four calls at once.
#[workflow]
async fn fan_out(ctx: WorkflowCtx, n: u64) -> u64 {
    let again = RetryPolicy::fixed(Duration::ZERO).max_attempts(3);
    let (a, b, c, d) = ctx
        .join((
            ctx.activity(slow, 4 * n).retry(again.clone()),
            ctx.activity(slow, 4 * n + 1).retry(again.clone()),
            ctx.activity(slow, 4 * n + 2).retry(again.clone()),
            ctx.activity(slow, 4 * n + 3).retry(again),
        ))
        .await;
    a.unwrap_or(0) + b.unwrap_or(0) + c.unwrap_or(0) + d.unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_more_activity_bodies_at_once_than_the_limit() {
    const LIMIT: usize = 3;
    const WORKFLOWS: u64 = 10;
    both_modes(async |mode| {
        PEAK.store(0, Ordering::SeqCst);
        ATTEMPTS.store(0, Ordering::SeqCst);
        let (store, clock) = memory();
        let rt = support::builder(mode, store, clock)
            .workflow(fan_out)
            .activity(slow)
            .max_concurrent_activities(LIMIT)
            .build()
            .await
            .expect("build");
        let mut runs = Vec::new();
        for n in 0..WORKFLOWS {
            runs.push(rt.start(fan_out, format!("f{n}"), n).await.expect("start"));
        }
        let mut outputs = Vec::new();
        for run in runs {
            outputs.push(within("fan out", run.result()).await.expect("result"));
        }
        let expected: Vec<u64> = (0..WORKFLOWS)
            .map(|n| (4 * n..4 * n + 4).map(|i| i * 2).sum())
            .collect();
        assert_eq!(outputs, expected, "all the work done");
        let calls = (WORKFLOWS * 4) as usize;
        assert_eq!(
            ATTEMPTS.load(Ordering::SeqCst),
            calls + calls / 5,
            "every call once, and the retries"
        );
        // 40 calls of 3 ms wanted to run at once: the limit was reached, never passed.
        assert_eq!(
            PEAK.load(Ordering::SeqCst),
            LIMIT,
            "activity bodies at once"
        );
        assert_eq!(RUNNING.load(Ordering::SeqCst), 0);
        rt.shutdown().await;
        outputs
    })
    .await;
}

#[workflow]
async fn ticker(ctx: WorkflowCtx, n: u64) -> u64 {
    let mut i: u64 = 0;
    while i < 3 {
        ctx.sleep(Duration::from_secs(1)).await;
        i += 1;
    }
    n + i
}

/// Why steps need a limit too: every woken workflow gets a driver that loads it from the
/// store and commits its steps. 40 workflows whose timers fire at once would have 40 loads
/// and commits in flight; with `max_concurrent_steps(4)` at most 4 are, the others wait their
/// turn in a queue, and all of them finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_more_workflows_stepped_at_once_than_the_limit() {
    const LIMIT: usize = 4;
    const WORKFLOWS: u64 = 40;
    both_modes(async |mode| {
        let clock = VirtualClock::new(T0);
        // Each commit takes 2 ms: without the limit, the wakes of a timer tick overlap.
        let store = RecordingStore::new(Arc::new(MemoryStore::new()))
            .with_commit_delay(Duration::from_millis(2));
        let rt = support::builder(mode, Arc::new(store.clone()), clock.clone())
            .workflow(ticker)
            .max_concurrent_steps(LIMIT)
            .build()
            .await
            .expect("build");
        let mut runs = Vec::new();
        for n in 0..WORKFLOWS {
            runs.push(rt.start(ticker, format!("t{n}"), n).await.expect("start"));
        }
        let outputs = within("tickers", async {
            let mut outputs = Vec::new();
            let mut runs = runs.into_iter();
            let mut current = runs.next();
            while let Some(run) = current.take() {
                // Move time on until this one is done: every tick fires 40 timers at once.
                match tokio::time::timeout(Duration::from_millis(20), run.result()).await {
                    Ok(out) => {
                        outputs.push(out.expect("result"));
                        current = runs.next();
                    }
                    Err(_) => {
                        clock.advance(Duration::from_secs(1));
                        current = Some(run);
                    }
                }
            }
            outputs
        })
        .await;
        assert_eq!(
            outputs,
            (0..WORKFLOWS).map(|n| n + 3).collect::<Vec<_>>(),
            "all the work done"
        );
        let steps = store.committed().len() as u64;
        assert_eq!(steps, WORKFLOWS * 4, "the first step and one per timer");
        let peak = store.peak_commits_in_flight();
        assert!(
            (2..=LIMIT).contains(&peak),
            "commits in flight at once: {peak} (the limit is {LIMIT}, and they did overlap)"
        );
        rt.shutdown().await;
        outputs
    })
    .await;
}

#[activity]
async fn instant(_ctx: ActivityCtx, i: u64) -> Result<u64, ActivityError> {
    Ok(i)
}

/// Many steps in a row, none of which waits: its activities finish at their first poll.
#[workflow]
async fn long_chain(ctx: WorkflowCtx, n: u64) -> u64 {
    let mut acc: u64 = 0;
    let mut i: u64 = 0;
    while i < n {
        acc += ctx.activity(instant, i).await.unwrap_or(0);
        i += 1;
    }
    acc
}

#[workflow]
async fn short(ctx: WorkflowCtx, n: u64) -> u64 {
    let go: u64 = ctx.signal::<u64>("go").await;
    n + go
}

/// With one driver, a workflow that keeps stepping gives it up every 64 steps while another
/// waits: the short workflow woken after the long one started finishes long before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_that_keeps_stepping_does_not_starve_the_others() {
    const LONG: u64 = 5_000;
    both_modes(async |mode: Mode| {
        let (store, clock) = memory();
        let rt = support::builder(mode, store.clone(), clock)
            .workflow(long_chain)
            .workflow(short)
            .activity(instant)
            .max_concurrent_steps(1)
            .build()
            .await
            .expect("build");
        let quick = rt.start(short, "short", 1).await.expect("start");
        support::eventually("short waits for its signal", || async {
            store.load_workflow("short").await.expect("load").version == 1
        })
        .await;
        let long = rt.start(long_chain, "long", LONG).await.expect("start");
        rt.signal("short", "go", 2u64).await.expect("signal");
        let out = within("short", quick.result()).await.expect("result");
        let long_then = store.load_workflow("long").await.expect("load");
        assert_eq!(
            long_then.status,
            WorkflowStatus::Running,
            "the short one finished while the long one still ran (it had {} of {LONG} steps)",
            long_then.version
        );
        let long_out = within("long", long.result()).await.expect("result");
        assert_eq!(long_out, (0..LONG).sum::<u64>());
        rt.shutdown().await;
        (out, long_out)
    })
    .await;
}
