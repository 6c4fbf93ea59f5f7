//! Typed signals: a `Signal<T>` const names a signal and its payload type on both sides, the
//! workflow's `ctx.signal(SIG)` and the sender's `rt.signal(id, SIG, payload)`; it is the same
//! signal as its name written as a string.

mod support;

use std::time::Duration;

use support::{both_modes, builder, eventually, memory, within};
use workflow_rt::Signal;
use workflow_rt::machine::Pending;
use workflow_rt::prelude::*;
use workflow_rt::testing::TestRun;

const APPROVE: Signal<bool> = Signal::new("approve");
const NOTE: Signal<String> = Signal::new("note");

mod signals {
    use workflow_rt::Signal;

    pub const AMOUNT: Signal<u64> = Signal::new("amount");
}

/// Every typed value is saved across a later await without an annotation.
#[workflow]
async fn typed(ctx: WorkflowCtx, order: u64) -> (u64, bool, Option<String>, u64, bool) {
    let ok = ctx.signal(APPROVE).await;
    let note = ctx.signal(NOTE).timeout(Duration::from_secs(3600)).await;
    let amount = ctx.signal(signals::AMOUNT).await;
    let done = ctx.signal::<bool>("done").await;
    (order, ok, note, amount, done)
}

fn waiting_for(p: &Option<Pending>) -> Option<String> {
    match p {
        Some(Pending::Signal { name, .. }) => Some(name.clone()),
        Some(Pending::Select(ops)) => ops.iter().find_map(|op| match op {
            Pending::Signal { name, .. } => Some(name.clone()),
            _ => None,
        }),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_signal_is_sent_and_received_typed() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store, clock)
            .workflow(typed)
            .build()
            .await
            .expect("build");
        let run = rt.start(typed, "t", 42).await.expect("start");
        rt.signal("t", APPROVE, true).await.expect("signal");
        for name in ["note", "amount"] {
            eventually(&format!("waiting for {name}"), || async {
                waiting_for(&rt.state("t").await.expect("state").waiting_for).as_deref()
                    == Some(name)
            })
            .await;
            // `ok` is saved across the await: encoded (its type is the compiler's, from `APPROVE`).
            let state = rt.state("t").await.expect("state").state.expect("a state");
            let variant = state.as_object().and_then(|o| o.values().next());
            assert!(
                variant.and_then(|v| v.get("ok")).is_some(),
                "the typed value is saved: {state}"
            );
            match name {
                "note" => run.signal(NOTE, "ship it".to_string()).await,
                _ => rt.signal("t", signals::AMOUNT, 999).await,
            }
            .expect("signal");
        }
        // The string form names the same signals.
        rt.signal("t", "done", true).await.expect("signal");
        let out = within("result", run.result()).await.expect("result");
        assert_eq!(out, (42, true, Some("ship it".to_string()), 999, true));
        rt.shutdown().await;
        out
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_and_string_forms_are_one_signal() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store, clock)
            .workflow(typed)
            .build()
            .await
            .expect("build");
        let run = rt.start(typed, "s", 1).await.expect("start");
        // Sent by name to a typed wait, and typed to a wait... all before the workflow waits.
        rt.signal("s", "approve", false).await.expect("signal");
        rt.signal("s", NOTE.name(), "n".to_string())
            .await
            .expect("signal");
        rt.signal("s", signals::AMOUNT, 3).await.expect("signal");
        rt.signal("s", "done", false).await.expect("signal");
        let out = within("result", run.result()).await.expect("result");
        assert_eq!(out, (1, false, Some("n".to_string()), 3, false));
        rt.shutdown().await;
        out
    })
    .await;
}

#[test]
fn test_run_sends_typed_signals() {
    let hour = Duration::from_secs(3600);
    let run = TestRun::new(typed, "a", 7)
        .signal(APPROVE, true)
        .signal_after(hour / 2, NOTE, "late".to_string())
        .on_signal_wait(signals::AMOUNT, |w| Some(10 + w.index as u64))
        .signal("done", true)
        .run()
        .expect("run");
    assert_eq!(run.output, (7, true, Some("late".to_string()), 10, true));
    assert_eq!(run.elapsed(), hour / 2);

    // A note later than its timeout is not received.
    let run = TestRun::new(typed, "b", 7)
        .signal(APPROVE, false)
        .signal_after(2 * hour, NOTE, "too late".to_string())
        .signal(signals::AMOUNT, 1)
        .signal("done", true)
        .run()
        .expect("run");
    assert_eq!(run.output, (7, false, None, 1, true));
    assert_eq!(run.unconsumed_signals, vec!["note".to_string()]);
}

#[test]
fn typed_waits_name_their_states_after_the_const() {
    let d = <typed as Workflow>::description();
    let names: Vec<&str> = d.states.iter().map(|s| s.name).collect();
    assert!(names.contains(&"Await1SignalApprove"), "{names:?}");
    assert!(names.contains(&"Await2SignalNote"), "{names:?}");
    assert!(names.contains(&"Await3SignalAmount"), "{names:?}");
    assert!(names.contains(&"Await4SignalDone"), "{names:?}");
    let s = &d.states[names
        .iter()
        .position(|n| *n == "Await1SignalApprove")
        .unwrap()];
    assert_eq!(s.awaits.as_ref().map(|a| a.kind), Some("signal"));
    assert_eq!(
        s.awaits.as_ref().map(|a| a.operation),
        Some("ctx.signal(APPROVE)")
    );
    assert!(s.vars.iter().any(|(n, _)| *n == "order"), "{:?}", s.vars);
}

#[test]
fn signal_is_a_const_copy_value() {
    const fn name_of<T>(s: Signal<T>) -> &'static str {
        s.name()
    }
    const N: &str = name_of(APPROVE);
    let copy = APPROVE;
    assert_eq!(
        (N, copy.name(), APPROVE.name()),
        ("approve", "approve", "approve")
    );
    assert_eq!(copy, APPROVE);
    assert_eq!(format!("{APPROVE:?}"), "Signal<bool>(\"approve\")");
}
