//! Signals: buffered durably before a wait, delivered in order, never lost, never twice; a
//! signal raced against a timer on the virtual clock.

mod support;

use std::time::Duration;

use support::{T0, both_modes, builder, eventually, memory, within};
use workflow_rt::machine::Pending;
use workflow_rt::prelude::*;
use workflow_rt::store::{EventKind, Store};
use workflow_rt::{Clock, RuntimeError, WorkflowStatus};

#[activity]
async fn warm_up(_ctx: ActivityCtx, _n: u64) -> Result<u64, ActivityError> {
    Ok(1)
}

#[workflow]
async fn collect(ctx: WorkflowCtx, n: u64) -> Vec<u64> {
    ctx.activity(warm_up, n).await.unwrap_or(0);
    let mut got: Vec<u64> = Vec::new();
    while (got.len() as u64) < n {
        let v = ctx.signal::<u64>("add").await;
        got.push(v);
    }
    let _stop: bool = ctx.signal::<bool>("stop").await;
    got
}

#[workflow]
async fn approval(ctx: WorkflowCtx, order: u64) -> (u64, Option<bool>, u64) {
    let started = ctx.now();
    let answer = ctx
        .signal::<bool>("approve")
        .timeout(Duration::from_secs(7 * 24 * 3600))
        .await;
    let waited = ctx
        .now()
        .duration_since(started)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    (order, answer, waited)
}

/// A signal waited for a minute, joined with a two-minute sleep; then the same signal again,
/// for a second.
#[workflow]
async fn joined_timeout(ctx: WorkflowCtx, _x: u64) -> (Option<bool>, Option<bool>) {
    let (answer, ()) = ctx
        .join((
            ctx.signal::<bool>("approve")
                .timeout(Duration::from_secs(60)),
            ctx.sleep(Duration::from_secs(120)),
        ))
        .await;
    let next = ctx
        .signal::<bool>("approve")
        .timeout(Duration::from_secs(1))
        .await;
    (answer, next)
}

#[workflow]
async fn either(ctx: WorkflowCtx, _x: u64) -> String {
    let first: String = match ctx
        .select((ctx.signal::<String>("left"), ctx.signal::<String>("right")))
        .await
    {
        Select2::First(s) => format!("left {s}"),
        Select2::Second(s) => format!("right {s}"),
    };
    let next: String = ctx.signal::<String>("left").await;
    format!("{first}, then left {next}")
}

/// A signal joined with a day's sleep, raced against the same signal alone; then the signal
/// once more.
#[workflow]
async fn go_twice(ctx: WorkflowCtx, _x: u64) -> (String, String) {
    let first: String = match ctx
        .select((
            ctx.join((
                ctx.signal::<String>("go"),
                ctx.sleep(Duration::from_secs(24 * 3600)),
            )),
            ctx.signal::<String>("go"),
        ))
        .await
    {
        Select2::First((s, ())) => format!("joined {s}"),
        Select2::Second(s) => format!("alone {s}"),
    };
    let next: String = ctx.signal::<String>("go").await;
    (first, next)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_of_one_name_are_received_in_order_when_a_branch_that_took_one_loses() {
    // The first "go" goes to the join's wait, which cannot finish before the day is out; the
    // second completes the other branch. The workflow receives the first there and the second
    // at its next wait, in the order they were sent.
    let expected = ("alone g1".to_string(), "g2".to_string());
    let driven = workflow_rt::testing::TestRun::new(go_twice, "g", 0)
        .signal("go", "g1".to_string())
        .signal("go", "g2".to_string())
        .run()
        .expect("test run");
    assert_eq!(driven.output, expected, "the test driver");
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock)
            .workflow(go_twice)
            .build()
            .await
            .expect("build");
        let run = rt.start(go_twice, "g", 0).await.expect("start");
        for g in ["g1", "g2"] {
            rt.signal("g", "go", g.to_string()).await.expect("signal");
        }
        let out = within("result", run.result()).await.expect("result");
        assert_eq!(out, expected, "the runtime");
        rt.shutdown().await;
        out
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_sent_early_are_buffered_and_delivered_in_order_once() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock)
            .workflow(collect)
            .activity(warm_up)
            .build()
            .await
            .expect("build");
        let run = rt.start(collect, "c", 3).await.expect("start");
        for v in [10u64, 20, 30, 40, 50] {
            rt.signal("c", "add", v).await.expect("signal");
        }
        // Three taken, in order; the other two stay buffered while it waits for "stop".
        eventually("three signals taken", || async {
            rt.state("c")
                .await
                .expect("state")
                .waiting_for
                .is_some_and(|p| matches!(p, Pending::Signal { ref name, .. } if name == "stop"))
        })
        .await;
        let left: Vec<Vec<u8>> = store
            .load_inbox("c")
            .await
            .expect("inbox")
            .into_iter()
            .filter_map(|e| match e.kind {
                EventKind::Signal { name, payload, .. } if name == "add" => Some(payload),
                _ => None,
            })
            .collect();
        assert_eq!(
            left,
            vec![postcard_u64(40), postcard_u64(50)],
            "the rest stay buffered, in order"
        );
        rt.signal("c", "stop", true).await.expect("signal");
        let out = within("result", run.result()).await.expect("result");
        assert_eq!(out, vec![10, 20, 30]);
        assert!(
            store.load_inbox("c").await.expect("inbox").is_empty(),
            "a finished workflow's leftovers are dropped"
        );
        match rt.signal("c", "add", 1u64).await {
            Err(RuntimeError::Finished {
                id,
                status: WorkflowStatus::Completed,
            }) => assert_eq!(id, "c"),
            other => panic!("a finished workflow takes no signal, got {other:?}"),
        }
        assert!(matches!(
            rt.signal("nobody", "add", 1u64).await,
            Err(RuntimeError::UnknownWorkflow(_))
        ));
        let version = store.load_workflow("c").await.expect("load").version;
        rt.shutdown().await;
        (left, out, version)
    })
    .await;
}

fn postcard_u64(v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut v = v;
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_beats_its_timeout() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(approval)
            .build()
            .await
            .expect("build");
        let run = rt.start(approval, "yes", 42).await.expect("start");
        eventually("the timeout timer", || async {
            store.load_timers("yes").await.expect("timers").len() == 1
        })
        .await;
        clock.advance(Duration::from_secs(2 * 24 * 3600));
        rt.signal("yes", "approve", true).await.expect("signal");
        let (order, answer, waited) = within("result", run.result()).await.expect("result");
        assert_eq!(
            (order, answer, waited),
            (42, Some(true), 2 * 24 * 3600),
            "ctx.now() is the signal's arrival"
        );
        assert!(
            store.load_timers("yes").await.expect("timers").is_empty(),
            "the losing timer is cancelled"
        );
        rt.shutdown().await;
        (order, answer, waited)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_beats_a_late_signal() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(approval)
            .build()
            .await
            .expect("build");
        let run = rt.start(approval, "late", 7).await.expect("start");
        eventually("the timeout timer", || async {
            store.load_timers("late").await.expect("timers").len() == 1
        })
        .await;
        clock.advance(Duration::from_secs(7 * 24 * 3600 - 1));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            store.load_workflow("late").await.expect("load").status,
            WorkflowStatus::Running,
            "not a second early"
        );
        clock.advance(Duration::from_secs(1));
        let (_, answer, waited) = within("result", run.result()).await.expect("result");
        assert_eq!((answer, waited), (None, 7 * 24 * 3600));
        assert!(
            clock.now_ms() == T0 + 7 * 24 * 3600 * 1000,
            "seven days took no real time"
        );
        assert!(matches!(
            rt.signal("late", "approve", true).await,
            Err(RuntimeError::Finished { .. })
        ));
        rt.shutdown().await;
        (answer, waited)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_that_fired_while_no_runtime_ran_beats_a_signal_sent_after_it() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(approval)
            .build()
            .await
            .expect("build");
        rt.start(approval, "down", 7).await.expect("start");
        eventually("the timeout timer", || async {
            store.load_timers("down").await.expect("timers").len() == 1
        })
        .await;
        rt.shutdown().await;
        // The week passes with no runtime up; a client answers a day late.
        clock.advance(Duration::from_secs(8 * 24 * 3600));
        workflow_rt::Client::new(store.clone())
            .clock(clock.clone())
            .signal("down", "approve", true)
            .await
            .expect("signal");
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(approval)
            .build()
            .await
            .expect("build");
        let (_, answer, waited) = within("result", rt.handle(approval, "down").result())
            .await
            .expect("result");
        assert_eq!(
            (answer, waited),
            (None, 7 * 24 * 3600),
            "the timeout came first"
        );
        rt.shutdown().await;
        (answer, waited)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_inside_a_join_is_decided_when_it_fires() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(joined_timeout)
            .build()
            .await
            .expect("build");
        let run = rt.start(joined_timeout, "j", 0).await.expect("start");
        eventually("both timers", || async {
            store.load_timers("j").await.expect("timers").len() == 2
        })
        .await;
        clock.advance(Duration::from_secs(60));
        eventually("the first timer fired", || async {
            store.load_timers("j").await.expect("timers").len() == 1
        })
        .await;
        // At 90 s, after the signal's wait timed out: it is for the next wait.
        clock.advance(Duration::from_secs(30));
        rt.signal("j", "approve", true).await.expect("signal");
        tokio::time::sleep(Duration::from_millis(20)).await;
        clock.advance(Duration::from_secs(30));
        let out = within("result", run.result()).await.expect("result");
        assert_eq!(out, (None, Some(true)));
        rt.shutdown().await;
        out
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_select_of_two_signals_takes_the_first_and_keeps_the_other() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock)
            .workflow(either)
            .build()
            .await
            .expect("build");
        rt.start(either, "e1", 0).await.expect("start");
        rt.signal("e1", "right", "r1".to_string())
            .await
            .expect("signal");
        rt.signal("e1", "left", "l1".to_string())
            .await
            .expect("signal");
        let out = within("e1", rt.handle(either, "e1").result())
            .await
            .expect("result");
        assert_eq!(out, "right r1, then left l1");
        // Two lefts and a right: the first left wins the select, the second goes to the next
        // wait, the right is never taken.
        let run = rt.start(either, "e2", 0).await.expect("start");
        rt.signal("e2", "left", "l1".to_string())
            .await
            .expect("signal");
        rt.signal("e2", "left", "l2".to_string())
            .await
            .expect("signal");
        let _ = rt.signal("e2", "right", "r1".to_string()).await;
        let second = within("e2", run.result()).await.expect("result");
        assert_eq!(second, "left l1, then left l2");
        rt.shutdown().await;
        (out, second)
    })
    .await;
}

/// Waits for one `go`, and ends.
#[workflow]
async fn takes_one_go(ctx: WorkflowCtx, _x: u64) -> u64 {
    ctx.signal::<u64>("go").await
}

/// A signal the run never waited for before it ended is in its history (it was dropped with
/// the run's inbox, without a trace), and the one it took is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_a_run_never_waited_for_are_in_its_history() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let id = mode.id("one-go");
        // All sent before a worker runs it (sent after its end, they would be refused).
        let client = workflow_rt::Client::new(store.clone()).workflow(takes_one_go);
        client.start(takes_one_go, &id, 0).await.expect("start");
        client.signal(&id, "go", 7u64).await.expect("go");
        client.signal(&id, "go", 8u64).await.expect("second go");
        client.signal(&id, "stop", true).await.expect("stop");
        let rt = builder(mode, store.clone(), clock)
            .workflow(takes_one_go)
            .build()
            .await
            .expect("build");
        let out = within("result", rt.handle(takes_one_go, &id).result()).await;
        assert_eq!(out, Ok(7));
        let letters: Vec<String> = store
            .history(&id)
            .await
            .expect("history")
            .into_iter()
            .filter(|e| e.kind == workflow_rt::store::HistoryKind::DeadLetter)
            .map(|e| e.detail)
            .collect();
        rt.shutdown().await;
        assert_eq!(
            letters,
            vec![
                "signal \"go\" (1 bytes) was never received: the run ended before its code waited for it",
                "signal \"stop\" (1 bytes) was never received: the run ended before its code waited for it",
            ]
        );
        letters
    })
    .await;
}
