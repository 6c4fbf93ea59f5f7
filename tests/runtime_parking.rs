//! A workflow whose next step cannot run is parked with the reason, visible in `state` and
//! `list`: never resumed silently, never retried in a loop. Unparking after the fix goes on.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{both_modes, builder, eventually, memory, within};
use workflow_rt::prelude::*;
use workflow_rt::store::{HistoryEntry, HistoryKind, StepCommit, StepOutcome, Store};
use workflow_rt::{MemoryStore, RuntimeError, VirtualClock, WorkflowStatus};

/// Version 1: waits for a signal, then answers.
#[workflow(name = "greeter")]
async fn greeter_v1(ctx: WorkflowCtx, name: String) -> String {
    let greeting: String = ctx.signal::<String>("greeting").await;
    format!("{greeting}, {name}")
}

/// Version 2 of the same workflow: another state layout, so another fingerprint.
#[workflow(name = "greeter")]
async fn greeter_v2(ctx: WorkflowCtx, name: String) -> String {
    let times: u32 = 2;
    let greeting: String = ctx.signal::<String>("greeting").await;
    format!("{}, {name}", greeting.repeat(times as usize))
}

#[workflow]
async fn fragile(ctx: WorkflowCtx, _x: u64) -> u64 {
    let n: u64 = ctx.signal::<u64>("n").await;
    if n == 13 {
        panic!("unlucky {n}");
    }
    let m: u64 = ctx.signal::<u64>("n").await;
    n + m
}

async fn parked(store: &MemoryStore, id: &str) -> bool {
    store.load_workflow(id).await.expect("load").status == WorkflowStatus::Parked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_from_other_code_is_parked_until_that_code_comes_back() {
    both_modes(async |mode| {
        assert_ne!(
            <greeter_v1 as Workflow>::FINGERPRINT,
            <greeter_v2 as Workflow>::FINGERPRINT
        );
        let (store, clock): (Arc<MemoryStore>, VirtualClock) = memory();
        let v1 = builder(mode, store.clone(), clock.clone())
            .workflow(greeter_v1)
            .build()
            .await
            .expect("build");
        v1.start(greeter_v1, "g", "Ada".to_string())
            .await
            .expect("start");
        eventually("suspended", || async {
            store.load_workflow("g").await.expect("load").version == 1
        })
        .await;
        v1.shutdown().await;

        // A deploy of version 2: the stored state is version 1's.
        let v2 = builder(mode, store.clone(), clock.clone())
            .workflow(greeter_v2)
            .build()
            .await
            .expect("build");
        v2.signal("g", "greeting", "Hello".to_string())
            .await
            .expect("signal");
        eventually("parked", || parked(&store, "g")).await;
        let s = v2.state("g").await.expect("state");
        let reason = s.park_reason.clone().expect("a reason");
        assert!(reason.contains("fingerprint"), "{reason}");
        assert_eq!(s.state, None);
        assert!(s.state_error.expect("why no state").contains("fingerprint"));
        let listed = v2.list(Some(WorkflowStatus::Parked)).await.expect("list");
        assert_eq!(listed[0].park_reason.as_deref(), Some(reason.as_str()));
        match v2.handle(greeter_v2, "g").result().await {
            Err(RuntimeError::Parked { id, reason: r }) => {
                assert_eq!((id.as_str(), r), ("g", reason.clone()))
            }
            other => panic!("a parked workflow's result is an error, got {other:?}"),
        }
        // Not retried in a loop: one park, and nothing after it.
        let version = store.load_workflow("g").await.expect("load").version;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            store.load_workflow("g").await.expect("load").version,
            version
        );
        let parks = store
            .history("g")
            .await
            .expect("history")
            .iter()
            .filter(|e| e.kind == HistoryKind::Parked)
            .count();
        assert_eq!(parks, 1);
        v2.shutdown().await;

        // Version 1 again: unpark, and it finishes with the buffered signal.
        let v1 = builder(mode, store.clone(), clock)
            .workflow(greeter_v1)
            .build()
            .await
            .expect("build");
        v1.unpark("g").await.expect("unpark");
        let out = within("result", v1.handle(greeter_v1, "g").result())
            .await
            .expect("result");
        assert_eq!(out, "Hello, Ada");
        assert!(matches!(
            v1.unpark("g").await,
            Err(RuntimeError::NotParked { .. })
        ));
        v1.shutdown().await;
        (reason, out)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_that_does_not_decode_is_parked() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock)
            .workflow(greeter_v1)
            .build()
            .await
            .expect("build");
        rt.start(greeter_v1, "bad", "Bob".to_string())
            .await
            .expect("start");
        eventually("suspended", || async {
            store.load_workflow("bad").await.expect("load").version == 1
        })
        .await;
        // Damage the stored snapshot behind the runtime's back (the runtime's cached copy is now
        // stale: its next commit conflicts and it reloads).
        let rec = store.load_workflow("bad").await.expect("load");
        let mut damaged = rec.snapshot.clone();
        let last = damaged.len() - 1;
        damaged.truncate(last);
        store
            .commit_step(StepCommit {
                workflow_id: "bad".into(),
                expected_version: rec.version,
                now_ms: 0,
                outcome: StepOutcome::Suspended {
                    snapshot: damaged,
                    pending: rec.pending.clone().expect("pending"),
                    tasks: vec![],
                    timers: vec![],
                },
                consumed_events: vec![],
                completed_tasks: vec![],
                cancelled: vec![],
                seen_events_upto: 0,
                keep_ready: false,
                history: vec![HistoryEntry::new(0, HistoryKind::Step, "damage")],
            })
            .await
            .expect("damage");
        rt.signal("bad", "greeting", "Hi".to_string())
            .await
            .expect("signal");
        eventually("parked", || parked(&store, "bad")).await;
        let s = rt.state("bad").await.expect("state");
        let reason = s.park_reason.expect("reason");
        assert!(reason.contains("does not decode"), "{reason}");
        let inbox = store.load_inbox("bad").await.expect("inbox");
        assert_eq!(inbox.len(), 1, "the signal is kept, not consumed");
        rt.shutdown().await;
        (
            reason,
            inbox.into_iter().map(|e| e.kind).collect::<Vec<_>>(),
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_step_is_parked_and_keeps_its_last_snapshot() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock)
            .workflow(fragile)
            .build()
            .await
            .expect("build");
        rt.start(fragile, "p", 0).await.expect("start");
        eventually("suspended", || async {
            store.load_workflow("p").await.expect("load").version == 1
        })
        .await;
        let before = store.load_workflow("p").await.expect("load");
        rt.signal("p", "n", 13u64).await.expect("signal");
        eventually("parked", || parked(&store, "p")).await;
        let after = store.load_workflow("p").await.expect("load");
        let reason = after.park_reason.expect("reason");
        assert!(reason.contains("panicked: unlucky 13"), "{reason}");
        assert_eq!(
            (after.snapshot, after.pending),
            (before.snapshot, before.pending),
            "the last good snapshot stays"
        );
        let state = rt.state("p").await.expect("state").state;
        assert!(state.is_some(), "and it still shows");
        rt.shutdown().await;
        (reason, state)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_of_the_wrong_type_parks_the_workflow() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock)
            .workflow(fragile)
            .build()
            .await
            .expect("build");
        rt.start(fragile, "typed", 0).await.expect("start");
        // A u128 too large for the u64 the workflow waits for.
        rt.signal("typed", "n", u128::MAX).await.expect("signal");
        eventually("parked", || parked(&store, "typed")).await;
        let reason = store
            .load_workflow("typed")
            .await
            .expect("load")
            .park_reason
            .expect("reason");
        assert!(reason.contains("decode"), "{reason}");
        rt.shutdown().await;
        reason
    })
    .await;
}
