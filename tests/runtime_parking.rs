//! A workflow whose next step cannot run is parked with the reason, visible in `state` and
//! `list`: never resumed silently, never retried in a loop. Unparking after the fix goes on.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{Mode, both_modes, builder, eventually, memory, within};
use workflow_rt::prelude::*;
use workflow_rt::store::{HistoryEntry, HistoryKind, StepCommit, StepOutcome, Store};
use workflow_rt::{MemoryStore, RuntimeError, SqliteStore, VirtualClock, WorkflowStatus};

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

/// A cancel whose look at the run came just before it parked: the request is stored, then
/// seen to have come to a parked run (whose code cannot take it), which is terminated, as a
/// run parked before the request is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_that_meets_a_run_parking_terminates_it() {
    both_modes(async |mode| {
        let (memory, clock) = memory();
        let store = support::recording::RecordingStore::new(memory.clone());
        let rt = builder(mode, Arc::new(store.clone()), clock)
            .workflow(fragile)
            .build()
            .await
            .expect("build");
        rt.start(fragile, "f", 0).await.expect("start");
        rt.signal("f", "n", 13u64).await.expect("signal");
        eventually("parked", || parked(&*memory, "f")).await;
        store.read_as_running_once("f");
        rt.client().cancel("f").await.expect("cancel");
        let rec = memory.load_workflow("f").await.expect("load");
        assert_eq!(
            rec.status,
            WorkflowStatus::Cancelled,
            "{:?}",
            rec.park_reason
        );
        rt.shutdown().await;
        rec.status
    })
    .await;
}

/// A cancel whose looks at the run all came before it parked (stored after the step read the
/// inbox): the runtime looks for it after the park, and terminates the run, since a parked
/// run's code cannot take it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_stored_while_a_run_parks_terminates_it() {
    both_modes(async |mode| {
        let (memory, clock) = memory();
        let store = support::recording::RecordingStore::new(memory.clone());
        let rt = builder(mode, Arc::new(store.clone()), clock)
            .workflow(fragile)
            .build()
            .await
            .expect("build");
        rt.start(fragile, "g", 0).await.expect("start");
        store.cancel_before_park("g");
        rt.signal("g", "n", 13u64).await.expect("signal");
        eventually("stopped", || async {
            memory
                .load_workflow("g")
                .await
                .is_ok_and(|r| r.status.is_finished())
        })
        .await;
        let rec = memory.load_workflow("g").await.expect("load");
        assert_eq!(rec.status, WorkflowStatus::Cancelled);
        rt.shutdown().await;
        rec.status
    })
    .await;
}

/// Sleeps an hour; when told it is cancelled, its clean-up panics.
#[workflow]
async fn fails_its_clean_up(ctx: WorkflowCtx, _x: u64) -> u64 {
    ctx.sleep(Duration::from_secs(3600)).await;
    if ctx.is_cancelled() {
        panic!("the clean-up failed");
    }
    0
}

/// A runtime with run `id` of `fails_its_clean_up` started, cancelled with a minute's grace,
/// and parked by its failed clean-up.
async fn parked_while_cancelling(
    mode: Mode,
    memory: &Arc<MemoryStore>,
    clock: &VirtualClock,
    id: &str,
) -> Runtime {
    let rt = builder(mode, memory.clone(), clock.clone())
        .workflow(fails_its_clean_up)
        .build()
        .await
        .expect("build");
    rt.start(fails_its_clean_up, id, 0).await.expect("start");
    eventually("asleep", || async {
        memory.load_timers(id).await.is_ok_and(|t| t.len() == 1)
    })
    .await;
    rt.client()
        .cancel_with(id, "enough", Duration::from_secs(60))
        .await
        .expect("cancel");
    eventually("parked", || parked(&**memory, id)).await;
    rt
}

/// A run that parks in the grace period of a cancel it took (its clean-up failed) stays parked
/// until the grace period ends (an operator may unpark it to finish), then is stopped: the end
/// of the grace period fired into a parked run's inbox, where nothing took it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_parks_while_cancelling_is_stopped_when_its_grace_ends() {
    both_modes(async |mode| {
        let (memory, clock) = memory();
        let rt = parked_while_cancelling(mode, &memory, &clock, "c").await;
        clock.advance(Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(
            memory.load_workflow("c").await.expect("load").status,
            WorkflowStatus::Parked,
            "within its grace period"
        );
        clock.advance(Duration::from_secs(31));
        eventually("stopped", || async {
            memory
                .load_workflow("c")
                .await
                .is_ok_and(|r| r.status.is_finished())
        })
        .await;
        let rec = memory.load_workflow("c").await.expect("load");
        assert_eq!(rec.status, WorkflowStatus::Cancelled);
        rt.shutdown().await;
        rec.status
    })
    .await;
}

/// The end of the grace period fired into a parked run's inbox while no runtime acted on it
/// (the process stopped between the firing and the wake): the next runtime to start stops the
/// run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grace_that_ended_while_no_runtime_acted_stops_the_parked_run() {
    both_modes(async |mode| {
        let (memory, clock) = memory();
        let rt = parked_while_cancelling(mode, &memory, &clock, "d").await;
        rt.shutdown().await;
        // The grace's timer fired, and no runtime woke the run.
        clock.advance(Duration::from_secs(61));
        let woken = memory
            .fire_timers(workflow_rt::Clock::now_ms(&clock), 100)
            .await
            .expect("fire");
        assert_eq!(woken, vec!["d".to_string()]);
        assert!(parked(&*memory, "d").await);
        let rt = builder(mode, memory.clone(), clock.clone())
            .workflow(fails_its_clean_up)
            .build()
            .await
            .expect("build");
        eventually("stopped", || async {
            memory
                .load_workflow("d")
                .await
                .is_ok_and(|r| r.status.is_finished())
        })
        .await;
        let rec = memory.load_workflow("d").await.expect("load");
        assert_eq!(rec.status, WorkflowStatus::Cancelled);
        rt.shutdown().await;
        rec.status
    })
    .await;
}

async fn parked(store: &dyn Store, id: &str) -> bool {
    store.load_workflow(id).await.expect("load").status == WorkflowStatus::Parked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_from_other_code_is_parked_until_that_code_comes_back() {
    both_modes(async |mode| {
        assert_ne!(
            <greeter_v1 as Workflow>::fingerprint(),
            <greeter_v2 as Workflow>::fingerprint()
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
        eventually("parked", || parked(&*store, "g")).await;
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

/// Damages the snapshot of workflow `id` behind the runtime's back (the runtime's cached copy
/// is then stale: its next commit conflicts and it reloads).
async fn damage_snapshot(store: &dyn Store, id: &str) {
    let rec = store.load_workflow(id).await.expect("load");
    let mut damaged = rec.snapshot.clone();
    damaged.truncate(damaged.len() - 1);
    store
        .commit_step(StepCommit {
            children: Vec::new(),
            workflow_id: id.into(),
            run_key: None,
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
            fired_timers: Vec::new(),
            seen_events_upto: 0,
            keep_ready: false,
            history: vec![HistoryEntry::new(0, HistoryKind::Step, "damage")],
            deliver: Vec::new(),
        })
        .await
        .expect("damage");
}

/// How many times workflow `id` was parked.
async fn parks(store: &dyn Store, id: &str) -> usize {
    store
        .history(id)
        .await
        .expect("history")
        .iter()
        .filter(|e| e.kind == HistoryKind::Parked)
        .count()
}

/// A snapshot that does not decode parks its workflow once, with the reason, in `state` and
/// `list(Parked)`; it is not retried in a loop (its version stays put over many poll
/// intervals, a new signal included), and the signal that woke it is kept.
async fn parks_a_snapshot_that_does_not_decode(
    mode: Mode,
    store: Arc<dyn Store>,
) -> impl PartialEq + std::fmt::Debug {
    let clock = VirtualClock::new(support::T0);
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
    damage_snapshot(&*store, "bad").await;
    rt.signal("bad", "greeting", "Hi".to_string())
        .await
        .expect("signal");
    eventually("parked", || parked(&*store, "bad")).await;
    let s = rt.state("bad").await.expect("state");
    let reason = s.park_reason.clone().expect("reason");
    assert!(reason.contains("does not decode"), "{reason}");
    assert_eq!(s.status, WorkflowStatus::Parked);
    let listed = rt.list(Some(WorkflowStatus::Parked)).await.expect("list");
    assert_eq!(
        listed
            .iter()
            .map(|w| (w.id.as_str(), w.park_reason.as_deref()))
            .collect::<Vec<_>>(),
        vec![("bad", Some(reason.as_str()))]
    );
    assert!(
        rt.list(Some(WorkflowStatus::Running))
            .await
            .expect("list")
            .is_empty()
    );

    // Parked once, and left alone: over 20 poll intervals, and after another signal (which
    // marks it ready in the store), its version does not move.
    let version = store.load_workflow("bad").await.expect("load").version;
    tokio::time::sleep(Duration::from_millis(100)).await;
    rt.signal("bad", "greeting", "Hello".to_string())
        .await
        .expect("signal");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after = store.load_workflow("bad").await.expect("load");
    assert_eq!(
        (after.version, after.status),
        (version, WorkflowStatus::Parked),
        "not retried"
    );
    assert_eq!(parks(&*store, "bad").await, 1, "parked exactly once");
    let inbox = store.load_inbox("bad").await.expect("inbox");
    assert_eq!(inbox.len(), 2, "the signals are kept, not consumed");
    rt.shutdown().await;
    (
        reason,
        version,
        inbox.into_iter().map(|e| e.kind).collect::<Vec<_>>(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_that_does_not_decode_is_parked() {
    both_modes(async |mode| {
        let (store, _) = memory();
        parks_a_snapshot_that_does_not_decode(mode, store).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_that_does_not_decode_is_parked_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    both_modes(async |mode| {
        let store = SqliteStore::open(dir.path().join(format!("{mode:?}.db"))).expect("open");
        parks_a_snapshot_that_does_not_decode(mode, Arc::new(store)).await
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
        eventually("parked", || parked(&*store, "p")).await;
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

/// Waits for signals of three types, through a plain wait, a join and a select.
#[workflow]
async fn strict(ctx: WorkflowCtx, _x: u64) -> (u64, String, Option<bool>) {
    let n: u64 = ctx.signal::<u64>("n").await;
    let (a, b): (u64, String) = ctx
        .join((ctx.signal::<u64>("a"), ctx.signal::<String>("b")))
        .await;
    let ok: Option<bool> = ctx
        .signal::<bool>("ok")
        .timeout(Duration::from_secs(60))
        .await;
    (n + a, b, ok)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Regression: a signal whose payload did not decode as the type waited for parked the
/// workflow with the signal still in its inbox, so `unpark` parked it again: wedged for good.
/// Now the bad signal is dead-lettered (taken out of the inbox into the history, payload and
/// all) and the workflow waits on for one it can read. In the join, the good "a" comes before
/// the bad "b": blaming the first signal would throw "a" away and wait forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_of_the_wrong_type_is_dead_lettered_and_the_workflow_waits_on() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock)
            .workflow(strict)
            .build()
            .await
            .expect("build");
        let run = rt.start(strict, "typed", 0).await.expect("start");
        let dead_letters = async || {
            store
                .history("typed")
                .await
                .expect("history")
                .into_iter()
                .filter(|e| e.kind == HistoryKind::DeadLetter)
                .collect::<Vec<_>>()
        };
        // A u128 too large for the u64 the workflow waits for, while it waits.
        rt.signal("typed", "n", u128::MAX).await.expect("signal");
        eventually("the bad signal dead-lettered", || async {
            dead_letters().await.len() == 1
        })
        .await;
        let s = rt.state("typed").await.expect("state");
        assert_eq!(s.status, WorkflowStatus::Running, "not parked: {s:?}");
        assert!(store.load_inbox("typed").await.expect("inbox").is_empty());
        let entry = &dead_letters().await[0];
        assert!(entry.detail.contains("signal \"n\""), "{}", entry.detail);
        assert!(entry.detail.contains("u64"), "{}", entry.detail);
        let bad = postcard::to_stdvec(&u128::MAX).expect("encode");
        assert!(entry.detail.contains(&hex(&bad)), "{}", entry.detail);

        // The good ones, buffered with more bad ones among them.
        rt.signal("typed", "n", 2u64).await.expect("signal");
        rt.signal("typed", "a", 3u64).await.expect("signal");
        rt.signal("typed", "b", vec![0xffu8; 3])
            .await
            .expect("signal"); // not UTF-8
        rt.signal("typed", "b", "hi".to_string())
            .await
            .expect("signal");
        rt.signal("typed", "ok", 7u8).await.expect("signal"); // not a bool
        rt.signal("typed", "ok", true).await.expect("signal");
        let out = within("result", run.result()).await.expect("result");
        assert_eq!(out, (5, "hi".to_string(), Some(true)));

        let history = store.history("typed").await.expect("history");
        assert!(!history.iter().any(|e| e.kind == HistoryKind::Parked));
        let dead: Vec<String> = history
            .iter()
            .filter(|e| e.kind == HistoryKind::DeadLetter)
            .map(|e| e.detail.clone())
            .collect();
        assert_eq!(dead.len(), 3, "{dead:#?}");
        assert!(
            dead[1].contains("signal \"b\"") && dead[1].contains("ffffff"),
            "{}",
            dead[1]
        );
        assert!(
            dead[2].contains("signal \"ok\"") && dead[2].contains("bool"),
            "{}",
            dead[2]
        );
        rt.shutdown().await;
        (out, dead)
    })
    .await;
}
