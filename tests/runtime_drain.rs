//! A graceful stop: `drain` leases nothing more, lets running attempts finish within its
//! timeout (their results are recorded and their workflows stepped), stops the rest (their
//! calls run again elsewhere, and the stopped attempt does not count), and `run_until` does
//! that when its shutdown future completes.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use support::{Mode, both_modes, builder, eventually, memory, within};
use workflow_rt::prelude::*;
use workflow_rt::store::{HistoryKind, Store};
use workflow_rt::{ActivityCall, Clock, Drained, PendingCommand};

#[activity]
async fn slow(_ctx: ActivityCtx, n: u64) -> Result<u64, ActivityError> {
    tokio::time::sleep(Duration::from_millis(150)).await;
    Ok(n + 1)
}

#[activity]
async fn quick(_ctx: ActivityCtx, n: u64) -> Result<u64, ActivityError> {
    Ok(n * 10)
}

static HANG_CALLS: AtomicU32 = AtomicU32::new(0);

/// Hangs on its first attempt in a process, returns at once on the next.
#[activity]
async fn hang(ctx: ActivityCtx, n: u64) -> Result<(u64, u32), ActivityError> {
    if HANG_CALLS.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    Ok((n, ctx.attempt()))
}

#[workflow]
async fn two_calls(ctx: WorkflowCtx, n: u64) -> Result<u64, WorkflowError> {
    let a = ctx.activity(slow, n).await?;
    let b = ctx.activity(quick, a).await?;
    Ok(b)
}

#[workflow]
async fn hung(ctx: WorkflowCtx, n: u64) -> Result<(u64, u32), WorkflowError> {
    Ok(ctx.activity(hang, n).await?)
}

fn running(state: &workflow_rt::WorkflowState) -> bool {
    state.commands.iter().any(|c| {
        matches!(
            c,
            PendingCommand::Activity {
                lease_owner: Some(_),
                ..
            }
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_lets_running_attempts_finish_and_leases_no_more() {
    both_modes(async |mode: Mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(two_calls)
            .activity(slow)
            .activity(quick)
            .build()
            .await
            .expect("build");
        rt.start(two_calls, "d-1", 1).await.expect("start");
        let client = rt.client();
        eventually("slow runs", || async {
            running(&client.state("d-1").await.expect("state"))
        })
        .await;
        let drained = within("drains", rt.drain(Duration::from_secs(10))).await;
        assert_eq!(
            drained,
            Drained {
                finished: 1,
                stopped: 0,
                released: 0
            }
        );
        // The finished attempt's result was applied; the next call waits, not leased.
        let s = client.state("d-1").await.expect("state");
        match &s.commands[..] {
            [
                PendingCommand::Activity {
                    name,
                    attempt,
                    lease_owner,
                    ..
                },
            ] => {
                assert_eq!((name.as_str(), *attempt), ("quick", 0));
                assert!(lease_owner.is_none());
            }
            other => panic!("one call of quick waits: {other:?}"),
        }
        let history = rt.history("d-1").await.expect("history");
        assert!(
            history
                .iter()
                .any(|e| e.detail.contains("slow#0 returned 2")),
            "{history:?}"
        );
        // The next runtime goes on.
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(two_calls)
            .activity(slow)
            .activity(quick)
            .build()
            .await
            .expect("build");
        let out = within("completes", rt.handle(two_calls, "d-1").result()).await;
        assert_eq!(out.expect("result"), Ok(20));
        rt.shutdown().await;
        drained
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_stops_what_outlasts_its_timeout() {
    both_modes(async |mode: Mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(hung)
            .activity(hang)
            .build()
            .await
            .expect("build");
        rt.start(hung, "h-1", 7).await.expect("start");
        let client = rt.client();
        eventually("hang runs", || async {
            running(&client.state("h-1").await.expect("state"))
        })
        .await;
        let drained = within("drains", rt.drain(Duration::from_millis(50))).await;
        assert_eq!(
            drained,
            Drained {
                finished: 0,
                stopped: 1,
                released: 1
            }
        );
        let history = client.history("h-1").await.expect("history");
        let lost = history
            .iter()
            .find(|e| e.kind == HistoryKind::AttemptLost)
            .expect("the stopped attempt is in the history");
        assert!(lost.detail.contains("does not count"), "{}", lost.detail);
        // Another worker runs the call at once (no lease to wait out); the stopped attempt
        // did not count.
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(hung)
            .activity(hang)
            .build()
            .await
            .expect("build");
        let out = within("completes", rt.handle(hung, "h-1").result()).await;
        assert_eq!(out.expect("result"), Ok((7, 1)));
        rt.shutdown().await;
        drained
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_until_drains_when_its_future_completes() {
    both_modes(async |mode: Mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(two_calls)
            .activity(slow)
            .activity(quick)
            .drain_timeout(Duration::from_secs(10))
            .build()
            .await
            .expect("build");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let worker = tokio::spawn({
            let rt = rt.clone();
            async move {
                rt.run_until(async {
                    let _ = stopped.await;
                })
                .await
            }
        });
        rt.start(two_calls, "u-1", 4).await.expect("start");
        let out = within("completes", rt.handle(two_calls, "u-1").result()).await;
        assert_eq!(out.expect("result"), Ok(50));
        assert!(!worker.is_finished(), "runs until told to stop");
        stop.send(()).expect("send");
        let drained = within("stops", worker).await.expect("joined");
        assert_eq!(drained.stopped, 0);
        assert!(
            rt.start(two_calls, "u-2", 1).await.is_err(),
            "a drained runtime is shut down"
        );
        drained
    })
    .await;
}

static HELD_UP: AtomicU32 = AtomicU32::new(0);
static HELD_GATE: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Waits for the gate, then returns its input.
#[activity]
async fn held_up(_ctx: ActivityCtx, n: u64) -> Result<u64, ActivityError> {
    HELD_UP.fetch_add(1, Ordering::SeqCst);
    HELD_GATE.notified().await;
    Ok(n)
}

/// Two calls of `held_up` at once.
#[workflow]
async fn pair(ctx: WorkflowCtx, n: u64) -> Vec<u64> {
    let calls: Vec<ActivityCall<held_up>> = (0..2).map(|i| ctx.activity(held_up, n + i)).collect();
    let results = ctx.join(calls).await;
    results.into_iter().map(|r| r.unwrap_or(0)).collect()
}

/// The tests that hold calls at `HELD_GATE` take turns: a notice meant for one test's call
/// must not free another's.
static HELD_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A runtime ("worker", one slot) on `store` running run `id` of `pair`: one call runs, held
/// at the gate, the other waits leased for the slot. Returns the runtime and `HELD_UP` before.
async fn one_running_one_waiting(
    mode: Mode,
    store: std::sync::Arc<dyn Store>,
    clock: workflow_rt::VirtualClock,
    id: &str,
) -> (Runtime, u32) {
    let rt = builder(mode, store.clone(), clock)
        .workflow(pair)
        .activity(held_up)
        .max_concurrent_activities(1)
        .lease_duration(Duration::from_secs(3))
        .worker_id("worker")
        .build()
        .await
        .expect("build");
    let before = HELD_UP.load(Ordering::SeqCst);
    rt.start(pair, id, 10).await.expect("start");
    eventually("one call runs, the other waits leased", || async {
        HELD_UP.load(Ordering::SeqCst) == before + 1
            && store.load_tasks(id).await.is_ok_and(|t| {
                t.len() == 2 && t.iter().all(|t| t.lease_owner.as_deref() == Some("worker"))
            })
    })
    .await;
    (rt, before)
}

/// A call leased to this worker and waiting for a slot when a drain begins does not start,
/// and its lease is released as the drain begins, as not counting: another worker runs it
/// while the drain waits for the running attempt (held until the drain's end, it waited as
/// long; let lapse, another worker took it over as a lost attempt).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_releases_the_leases_of_calls_waiting_for_a_slot() {
    let _turn = HELD_TURN.lock().await;
    both_modes(async |mode: Mode| {
        let (store, clock) = memory();
        let id = &mode.id("backlog");
        let (rt, before) = one_running_one_waiting(mode, store.clone(), clock.clone(), id).await;
        let drain = tokio::spawn({
            let rt = rt.clone();
            async move { rt.drain(Duration::from_secs(3600)).await }
        });
        let leases = || async {
            let mut t = store.load_tasks(id).await.expect("tasks");
            t.sort_by_key(|t| t.lease_owner.is_some());
            t.iter()
                .map(|t| (t.attempt, t.lease_owner.clone()))
                .collect::<Vec<_>>()
        };
        eventually(
            "the waiting call's lease is released as the drain begins",
            || async { leases().await == vec![(0, None), (1, Some("worker".to_string()))] },
        )
        .await;
        // The running attempt's lease is renewed past the first (the lease loop runs on the
        // runtime's clock); the released one is not taken again.
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            clock.advance(Duration::from_secs(1));
        }
        eventually("the running attempt's lease renewed past now", || async {
            let now = clock.now_ms();
            store.load_tasks(id).await.is_ok_and(|t| {
                t.iter()
                    .any(|t| t.lease_owner.is_some() && t.lease_until_ms.is_some_and(|u| u > now))
            })
        })
        .await;
        assert_eq!(leases().await[0], (0, None), "left for another worker");
        assert_eq!(
            HELD_UP.load(Ordering::SeqCst),
            before + 1,
            "the waiting call did not start"
        );
        // Another worker runs it while the drain waits, as its first attempt.
        let other = builder(mode, store.clone(), clock.clone())
            .workflow(pair)
            .activity(held_up)
            .worker_id("other")
            .build()
            .await
            .expect("build");
        eventually("another worker runs the released call", || async {
            HELD_UP.load(Ordering::SeqCst) == before + 2
        })
        .await;
        let mut both = leases().await;
        both.sort();
        assert_eq!(
            both,
            vec![
                (1, Some("other".to_string())),
                (1, Some("worker".to_string()))
            ]
        );
        assert!(!drain.is_finished(), "the drain waits for its own attempt");
        // Both attempts have counted themselves; one may not wait at the gate yet, and a
        // second notice is kept for it.
        HELD_GATE.notify_one();
        HELD_GATE.notify_one();
        let drained = within("drains", drain).await.expect("joined");
        assert_eq!(
            (drained.finished, drained.stopped, drained.released),
            (1, 0, 1)
        );
        let out = within("the run completes", other.handle(pair, id).result()).await;
        assert_eq!(out.expect("result"), vec![10, 11]);
        other.shutdown().await;
        drained
    })
    .await;
}

/// A drain whose release of the waiting call's lease fails keeps that lease, renewed, and
/// releases it with the others at its end, as not counting: the call is neither lost nor
/// counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_whose_release_fails_keeps_the_lease_to_its_end() {
    let _turn = HELD_TURN.lock().await;
    both_modes(async |mode: Mode| {
        let (memory, clock) = memory();
        let store = support::recording::RecordingStore::new(memory.clone());
        let id = &mode.id("refused");
        let (rt, before) =
            one_running_one_waiting(mode, std::sync::Arc::new(store.clone()), clock.clone(), id)
                .await;
        store.fail_releases_of_chosen_leases();
        let drain = tokio::spawn({
            let rt = rt.clone();
            async move { rt.drain(Duration::from_secs(3600)).await }
        });
        // Past the first lease: both renewed (the lease loop runs on the runtime's clock).
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            clock.advance(Duration::from_secs(1));
        }
        eventually("both leases renewed past now", || async {
            let now = clock.now_ms();
            memory.load_tasks(id).await.is_ok_and(|t| {
                t.len() == 2 && t.iter().all(|t| t.lease_until_ms.is_some_and(|u| u > now))
            })
        })
        .await;
        assert!(store.calls().contains(&"release_tasks"), "tried");
        assert_eq!(HELD_UP.load(Ordering::SeqCst), before + 1, "not started");
        HELD_GATE.notify_one();
        let drained = within("drains", drain).await.expect("joined");
        assert_eq!(
            (drained.finished, drained.stopped, drained.released),
            (1, 0, 1),
            "released at the end"
        );
        let tasks = memory.load_tasks(id).await.expect("tasks");
        assert_eq!(
            tasks
                .iter()
                .map(|t| (t.attempt, t.lease_owner.clone()))
                .collect::<Vec<_>>(),
            vec![(0, None)],
            "not counting"
        );
        drained
    })
    .await;
}

/// A drain with no end to speak of (`Duration::MAX`) waits for the running attempts; it
/// panicked, adding the timeout to the clock's now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_without_end_waits_for_the_running_attempts() {
    both_modes(async |mode: Mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(two_calls)
            .activity(slow)
            .activity(quick)
            .build()
            .await
            .expect("build");
        let id = &mode.id("no-end");
        rt.start(two_calls, id, 1).await.expect("start");
        let client = rt.client();
        eventually("slow runs", || async {
            running(&client.state(id).await.expect("state"))
        })
        .await;
        let drained = within("drains", rt.drain(Duration::MAX)).await;
        assert_eq!((drained.finished, drained.stopped), (1, 0));
        drained
    })
    .await;
}
