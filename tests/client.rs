//! A client looks at and acts on runs without being a worker. Through a recording store it is
//! seen to never lease a task, fire a timer, look for ready workflows or commit a step of
//! workflow code, while list, state, history, describe, signal, cancel, unpark and purge all
//! work on runs that a worker runtime on the same store is running.

mod support;

use std::time::Duration;

use support::recording::RecordingStore;
use support::{Mode, both_modes, builder, eventually, memory, within};
use workflow_rt::prelude::*;
use workflow_rt::store::{HistoryKind, Store};
use workflow_rt::{Client, IdReuse, PendingCommand, RunQuery, RuntimeError, WorkflowStatus};

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64 * 100)
}

#[workflow]
async fn order(ctx: WorkflowCtx, sku: String) -> Result<u64, WorkflowError> {
    let cents = ctx.activity(price, sku).await?;
    let approved: bool = ctx.signal::<bool>("approve").await;
    Ok(if approved { cents } else { 0 })
}

#[workflow]
async fn fragile(ctx: WorkflowCtx, _x: u64) -> u64 {
    let n: u64 = ctx.signal::<u64>("n").await;
    if n == 13 {
        panic!("unlucky {n}");
    }
    n
}

#[workflow]
async fn tenfold(ctx: WorkflowCtx, n: u64) -> u64 {
    let _go: bool = ctx.signal::<bool>("go").await;
    n * 10
}

/// The store calls only a worker makes.
const WORKER_CALLS: &[&str] = &[
    "create_workflow",
    "commit_steps",
    "complete_activity",
    "retry_activity",
    "lease_tasks",
    "renew_leases",
    "release_leases",
    "release_tasks",
    "next_task_due",
    "fire_timers",
    "next_timer_due",
    "ready_workflows",
    "clear_ready",
    "due_schedules",
    "next_schedule_due",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_acts_on_runs_and_never_works_them() {
    both_modes(acts_on_runs).await;
}

async fn acts_on_runs(mode: Mode) {
    let (store, clock) = memory();
    let rt = builder(mode, store.clone(), clock.clone())
        .workflow(order)
        .workflow(fragile)
        .activity(price)
        .build()
        .await
        .expect("build");
    let recording = RecordingStore::new(store.clone());
    let client = Client::new(recording.clone())
        .clock(clock.clone())
        .workflow(order);

    for (id, sku) in [("o-1", "ab"), ("o-2", "abc"), ("o-3", "abcd")] {
        rt.start(order, id, sku.to_string()).await.expect("start");
    }
    rt.start(fragile, "f-1", 0).await.expect("start");
    eventually("the orders wait for their approval", || async {
        let mut waiting = 0;
        for id in ["o-1", "o-2", "o-3"] {
            if client.state(id).await.expect("state").step == 2 {
                waiting += 1;
            }
        }
        waiting == 3
    })
    .await;

    // list: filters and pages.
    let all = client.list(RunQuery::default()).await.expect("list");
    let ids: Vec<&str> = all.runs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["f-1", "o-1", "o-2", "o-3"]);
    assert_eq!(all.next, None);
    let orders = RunQuery {
        name: Some("order".into()),
        limit: 2,
        ..RunQuery::default()
    };
    let first = client.list(orders.clone()).await.expect("page 1");
    assert_eq!(first.runs.len(), 2);
    let second = client
        .list(RunQuery {
            after: first.next.clone(),
            ..orders
        })
        .await
        .expect("page 2");
    let paged: Vec<String> = first
        .runs
        .iter()
        .chain(&second.runs)
        .map(|r| r.id.clone())
        .collect();
    assert_eq!(paged, ["o-1", "o-2", "o-3"]);
    assert_eq!(second.next, None);
    let prefixed = client
        .list(RunQuery {
            id_prefix: Some("f-".into()),
            ..RunQuery::default()
        })
        .await
        .expect("by prefix");
    assert_eq!(prefixed.runs.len(), 1);

    // state: typed for a registered workflow, the rest for any.
    let s = client.state("o-1").await.expect("state");
    assert_eq!(s.status, WorkflowStatus::Running);
    let json = s.state.expect("the state as JSON").to_string();
    assert!(json.contains("200"), "the saved price is shown: {json}");
    let s = client
        .state("f-1")
        .await
        .expect("state of an unregistered workflow");
    assert_eq!((s.status, s.state), (WorkflowStatus::Running, None));
    assert!(s.state_error.expect("why").contains("not registered"));
    assert!(matches!(
        client.state("nope").await,
        Err(RuntimeError::UnknownWorkflow(_))
    ));

    // describe.
    let d = client.describe("o-1").await.expect("describe");
    assert_eq!(d.map(|d| d.workflow), Some("order"));
    assert!(client.describe("f-1").await.expect("describe").is_none());

    // signal: the worker runs the rest.
    client.signal("o-1", "approve", true).await.expect("signal");
    let out = within("o-1 completes", rt.handle(order, "o-1").result()).await;
    assert_eq!(out.expect("result"), Ok(200));

    // terminate.
    client.terminate("o-2").await.expect("terminate");
    assert!(matches!(
        within("o-2 ends", rt.handle(order, "o-2").result()).await,
        Err(RuntimeError::Cancelled { .. })
    ));
    assert!(matches!(
        client.cancel("o-2").await,
        Err(RuntimeError::Finished { .. })
    ));
    assert!(matches!(
        client.terminate("o-2").await,
        Err(RuntimeError::Finished { .. })
    ));

    // unpark: the run parks on its panic, is unparked, and parks again.
    client.signal("f-1", "n", 13u64).await.expect("signal");
    eventually("f-1 parks", || async {
        client.state("f-1").await.expect("state").status == WorkflowStatus::Parked
    })
    .await;
    client.unpark("f-1").await.expect("unpark");
    let h = client.history("f-1").await.expect("history");
    assert!(h.iter().any(|e| e.kind == HistoryKind::Unparked), "{h:?}");
    assert!(matches!(
        client.unpark("o-1").await,
        Err(RuntimeError::NotParked { .. })
    ));

    // purge: only finished runs, and all of them.
    assert!(matches!(
        client.purge("o-3").await,
        Err(RuntimeError::NotFinished {
            status: WorkflowStatus::Running,
            ..
        })
    ));
    assert_eq!(
        client.state("o-3").await.expect("untouched").status,
        WorkflowStatus::Running
    );
    client.purge("o-1").await.expect("purge");
    assert!(matches!(
        client.state("o-1").await,
        Err(RuntimeError::UnknownWorkflow(_))
    ));
    assert!(store.history("o-1").await.unwrap_or_default().is_empty());
    let counts = client.counts().await.expect("counts");
    assert!(
        counts.contains(&(WorkflowStatus::Cancelled, 1)),
        "{counts:?}"
    );
    // Retention: runs finished more than an hour ago.
    clock.advance(Duration::from_secs(2 * 3600));
    let purged = client
        .purge_finished(Duration::from_secs(3600), 10)
        .await
        .expect("purge by age");
    assert_eq!(purged, ["o-2"]);

    rt.shutdown().await;
    let calls = recording.calls();
    for call in WORKER_CALLS {
        assert!(!calls.contains(call), "the client called {call}: {calls:?}");
    }
    assert!(
        recording.committed().iter().all(|c| !c.step),
        "the client committed only cancels and unparks: {:?}",
        recording.committed()
    );
    assert!(calls.contains(&"purge") && calls.contains(&"list_runs"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_of_a_runtime_wakes_it_at_once() {
    let (store, clock) = memory();
    // A poll interval far longer than the test: only the wake can make the signal count.
    let rt = workflow_rt::Runtime::builder(store.clone())
        .clock(clock)
        .poll_interval(Duration::from_secs(3600))
        .workflow(order)
        .activity(price)
        .build()
        .await
        .expect("build");
    let client = rt.client();
    rt.start(order, "o", "abc".to_string())
        .await
        .expect("start");
    eventually("waiting", || async {
        client.state("o").await.expect("state").step == 2
    })
    .await;
    client.signal("o", "approve", true).await.expect("signal");
    let out = within("completes", rt.handle(order, "o").result()).await;
    assert_eq!(out.expect("result"), Ok(300));
    rt.shutdown().await;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Parcel {
    to: String,
    grams: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Approval {
    by: String,
    amount: u64,
}

static SHIP_FAILS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

#[activity]
async fn ship(_ctx: ActivityCtx, p: Parcel) -> Result<String, ActivityError> {
    if p.grams > 1000 {
        SHIP_FAILS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        return Err(ActivityError::non_retryable("too heavy").with_type("Weight"));
    }
    Ok(format!("label for {}", p.to))
}

#[workflow]
async fn delivery(ctx: WorkflowCtx, p: Parcel) -> Result<String, WorkflowError> {
    let approval: Approval = ctx.signal("approve").await;
    let label = ctx.activity(ship, p.clone()).await?;
    let heavy = ctx.activity(ship, Parcel { grams: 5000, ..p }).await;
    Ok(format!(
        "{label} ({} approved {}; heavy: {})",
        approval.by,
        approval.amount,
        heavy.is_err()
    ))
}

/// JSON at the edges: a signal sent as JSON is decoded into the type its wait expects (one
/// that does not fit is dead-lettered and the run goes on waiting); activity inputs, outputs
/// and errors show as JSON in the history and in the state's pending commands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_as_json_and_activities_shown_as_json() {
    both_modes(json_at_the_edges).await;
}

async fn json_at_the_edges(mode: Mode) -> (String, Vec<String>) {
    let (store, clock) = memory();
    // The activity waits for a worker that registers it: the client sees the call pending.
    let rt = builder(mode, store.clone(), clock.clone())
        .workflow(delivery)
        .allow_missing_activities()
        .build()
        .await
        .expect("build");
    let client = Client::new(store.clone())
        .clock(clock.clone())
        .workflow(delivery)
        .activity(ship);
    let input = Parcel {
        to: "Ana".into(),
        grams: 800,
    };
    rt.start(delivery, "p-1", input).await.expect("start");
    eventually("waits for the approval", || async {
        client.state("p-1").await.expect("state").step == 1
    })
    .await;
    let s = client.state("p-1").await.expect("state");
    assert_eq!(
        s.current_state.as_deref(),
        Some("Await1SignalApprove"),
        "{s:?}"
    );
    assert!(
        matches!(&s.commands[..], [PendingCommand::Signal { name, .. }] if name == "approve"),
        "{:?}",
        s.commands
    );

    // A payload that does not fit the awaited type is dead-lettered; the run keeps waiting.
    client
        .signal_json("p-1", "approve", &serde_json::json!({ "by": "Ana" }))
        .await
        .expect("sent");
    eventually("dead-lettered", || async {
        client
            .history("p-1")
            .await
            .expect("history")
            .iter()
            .any(|e| e.kind == HistoryKind::DeadLetter)
    })
    .await;
    let dead = client.history("p-1").await.expect("history");
    let dead = dead
        .iter()
        .find(|e| e.kind == HistoryKind::DeadLetter)
        .expect("the entry");
    assert!(
        dead.detail.contains("amount"),
        "says what is missing: {}",
        dead.detail
    );
    assert_eq!(client.state("p-1").await.expect("state").step, 1);

    // One that fits is delivered.
    client
        .signal_json(
            "p-1",
            "approve",
            &serde_json::json!({ "by": "Ana", "amount": 300 }),
        )
        .await
        .expect("sent");
    eventually("calls ship", || async {
        client.state("p-1").await.expect("state").step == 2
    })
    .await;
    let s = client.state("p-1").await.expect("state");
    assert_eq!(s.current_state.as_deref(), Some("Await2Ship"), "{s:?}");
    match &s.commands[..] {
        [PendingCommand::Activity { name, input, .. }] => {
            assert_eq!(name, "ship");
            assert_eq!(
                input.as_ref(),
                Some(&serde_json::json!({ "to": "Ana", "grams": 800 }))
            );
        }
        other => panic!("one call of ship: {other:?}"),
    }
    // Unregistered activity: the size, not the value.
    let bare = Client::new(store.clone()).workflow(delivery);
    match &bare.state("p-1").await.expect("state").commands[..] {
        [
            PendingCommand::Activity {
                input: None,
                input_bytes,
                ..
            },
        ] => assert!(*input_bytes > 0),
        other => panic!("one call of ship: {other:?}"),
    }

    // A runtime of both: the rest runs, and the history shows the values as JSON where the
    // runtime that wrote it knows the activity (the first one did not).
    rt.shutdown().await;
    let rt = builder(mode, store.clone(), clock.clone())
        .workflow(delivery)
        .activity(ship)
        .build()
        .await
        .expect("build");
    let out = within("completes", rt.handle(delivery, "p-1").result()).await;
    let out = out.expect("result").expect("ok");
    assert_eq!(out, "label for Ana (Ana approved 300; heavy: true)");
    let history: Vec<String> = client
        .history("p-1")
        .await
        .expect("history")
        .into_iter()
        .map(|e| e.detail)
        .collect();
    let text = history.join("\n");
    assert!(
        text.contains(r#"ship#1 returned "label for Ana""#),
        "{text}"
    );
    assert!(
        text.contains(r#"ship#2 input {"grams":5000,"to":"Ana"}"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"ship#2 failed {"kind":"NonRetryable","error_type":"Weight","message":"too heavy""#
        ),
        "{text}"
    );
    assert!(text.contains("ship#1 input <6 bytes>"), "{text}");
    assert!(
        text.contains(r#"payload (JSON): {"by":"Ana"}"#),
        "the dead letter shows its JSON: {text}"
    );
    rt.shutdown().await;
    (out, history)
}

/// A client starts runs for the workers to run, and the id reuse policy decides what a start
/// does with an id that a finished run holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_and_the_id_reuse_policy() {
    both_modes(id_reuse).await;
}

async fn id_reuse(mode: Mode) -> Vec<String> {
    let (store, clock) = memory();
    let rt = builder(mode, store.clone(), clock.clone())
        .workflow(order)
        .activity(price)
        .build()
        .await
        .expect("build");
    let client = Client::new(store.clone()).clock(clock.clone());
    // Started by the client, run by the worker.
    client
        .start(order, "r-1", "ab".to_string())
        .await
        .expect("start");
    client.signal("r-1", "approve", true).await.expect("signal");
    let out = within("r-1 completes", rt.handle(order, "r-1").result()).await;
    assert_eq!(out.expect("result"), Ok(200));

    // Never (the default): the same start again is a retry; another input is refused.
    client
        .start(order, "r-1", "ab".to_string())
        .await
        .expect("a retried start");
    assert_eq!(
        client.state("r-1").await.expect("state").status,
        WorkflowStatus::Completed
    );
    assert!(matches!(
        client.start(order, "r-1", "abc".to_string()).await,
        Err(RuntimeError::IdInUse { .. })
    ));
    // After a failure only: a completed run keeps its id.
    assert!(matches!(
        client
            .start_with(order, "r-1", "abc".to_string(), IdReuse::AfterFailure)
            .await,
        Err(RuntimeError::IdInUse { .. })
    ));
    // After finishing: the finished run is replaced by a new one.
    rt.start_with(order, "r-1", "abcd".to_string(), IdReuse::AfterFinished)
        .await
        .expect("replaces the finished run");
    eventually("the new run waits", || async {
        client.state("r-1").await.expect("state").step == 2
    })
    .await;
    let history: Vec<String> = client
        .history("r-1")
        .await
        .expect("history")
        .into_iter()
        .map(|e| e.detail)
        .collect();
    assert_eq!(
        history.iter().filter(|d| d.starts_with("started")).count(),
        1,
        "the old run's history went with it: {history:?}"
    );
    // A run that has not finished is never replaced.
    assert!(matches!(
        client
            .start_with(order, "r-1", "x".to_string(), IdReuse::AfterFinished)
            .await,
        Err(RuntimeError::IdInUse { .. })
    ));
    // A cancelled run is replaced after a failure.
    client.terminate("r-1").await.expect("terminate");
    client
        .start_with(order, "r-1", "abcde".to_string(), IdReuse::AfterFailure)
        .await
        .expect("replaces the cancelled run");
    client.signal("r-1", "approve", true).await.expect("signal");
    let out = within("the third run completes", rt.handle(order, "r-1").result()).await;
    assert_eq!(out.expect("result"), Ok(500));
    rt.shutdown().await;
    history
}

/// Run "k" of `order`, cancelled, in a memory store; that store behind a recording one, a
/// client on it, and another run under the id (another start's, of another input) for the
/// recording store to put in its place.
async fn a_cancelled_run_and_another() -> (
    std::sync::Arc<workflow_rt::MemoryStore>,
    support::recording::RecordingStore,
    Client,
    workflow_rt::store::NewWorkflow,
) {
    use workflow_rt::Clock;
    use workflow_rt::store::{HistoryEntry, NewWorkflow};
    let (memory, clock) = support::memory();
    let store = support::recording::RecordingStore::new(memory.clone());
    let rt = support::builder(Mode::Cached, memory.clone(), clock.clone())
        .workflow(order)
        .allow_missing_activities()
        .build()
        .await
        .expect("build");
    rt.start(order, "k", "ab".to_string()).await.expect("start");
    rt.terminate("k").await.expect("terminate");
    rt.shutdown().await;
    let cancelled = memory.load_workflow("k").await.expect("load");
    let other = NewWorkflow {
        id: "k".into(),
        name: cancelled.name.clone(),
        input: postcard::to_stdvec("other").expect("encode"),
        snapshot: cancelled.snapshot.clone(),
        now_ms: clock.now_ms(),
        history: HistoryEntry::new(clock.now_ms(), HistoryKind::Started, "started"),
        parent: None,
        parent_version: None,
        signals: Vec::new(),
        timers: Vec::new(),
    };
    let client = Client::new(std::sync::Arc::new(store.clone())).clock(clock.clone());
    (memory, store, client, other)
}

/// A start that may replace a finished run (`IdReuse::AfterFinished`), racing another start
/// that replaced it first with a run still running, looks at that run: a start of another
/// input is refused as an id in use (it failed with `NotFinished`, the purge's answer, which
/// a start never gives).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_that_finds_the_finished_run_replaced_meanwhile_looks_at_the_new_one() {
    let (memory, store, client, other) = a_cancelled_run_and_another().await;
    store.replace_before_purge(other);
    let refused = client
        .start_with(order, "k", "abc".to_string(), IdReuse::AfterFinished)
        .await;
    assert!(
        matches!(&refused, Err(RuntimeError::IdInUse { name, .. }) if name == "order"),
        "{refused:?}"
    );
    assert_eq!(
        memory.load_workflow("k").await.expect("load").status,
        WorkflowStatus::Running,
        "the other start's run stays"
    );
}

/// A start that may replace a failed or cancelled run (`IdReuse::AfterFailure`) purges the
/// run it saw and no other: when another start replaced that run meanwhile by one that then
/// completed, the completed run keeps its id (the purge, which looked at the id alone,
/// deleted it, history and all, and the start replaced it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_purges_the_finished_run_it_saw_and_no_other() {
    use workflow_rt::store::StepOutcome;
    let (memory, store, client, other) = a_cancelled_run_and_another().await;
    let snapshot = other.snapshot.clone();
    store.replace_before_purge_and_end(
        other,
        StepOutcome::Finished {
            status: WorkflowStatus::Completed,
            snapshot,
            output: postcard::to_stdvec(&7u64).expect("encode"),
        },
    );
    let refused = client
        .start_with(order, "k", "abc".to_string(), IdReuse::AfterFailure)
        .await;
    assert!(
        matches!(&refused, Err(RuntimeError::IdInUse { name, .. }) if name == "order"),
        "{refused:?}"
    );
    let kept = memory.load_workflow("k").await.expect("load");
    assert_eq!(
        (kept.status, kept.input),
        (
            WorkflowStatus::Completed,
            postcard::to_stdvec("other").expect("encode")
        ),
        "the other start's completed run stays"
    );
}

/// A worker keeps the state of a run in memory between steps. When another process cancels
/// the run, purges it and starts a new run under its id, nothing tells the worker: once the
/// new run has come as far as the old one had, the worker, woken for the id, steps the old
/// state. Its commit must be refused (the new run's versions never repeat the old run's), and
/// the worker go on from the new run as stored. (Cached mode only: restored at every step, a
/// runtime keeps no state in memory to go stale.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_state_of_a_replaced_run_is_never_committed() {
    let (store, clock) = memory();
    let seen = RecordingStore::new(store.clone());
    let stale = builder(
        Mode::Cached,
        std::sync::Arc::new(seen.clone()),
        clock.clone(),
    )
    .workflow(tenfold)
    .worker_id("stale")
    .build()
    .await
    .expect("build");
    stale.start(tenfold, "t-1", 1).await.expect("start");
    eventually("the first run waits for its signal", || async {
        store
            .load_workflow("t-1")
            .await
            .expect("load")
            .pending
            .is_some()
    })
    .await;
    let old = store.load_workflow("t-1").await.expect("load");

    // Elsewhere (a client and a worker the stale one shares nothing with but the store): the
    // run is cancelled and replaced, and the new run steps as far as the old one had.
    seen.blind(true);
    let client = Client::new(store.clone())
        .clock(clock.clone())
        .workflow(tenfold);
    client.terminate("t-1").await.expect("terminate");
    client
        .start_with(tenfold, "t-1", 2, IdReuse::AfterFinished)
        .await
        .expect("replace the cancelled run");
    let other = builder(Mode::Cached, store.clone(), clock.clone())
        .workflow(tenfold)
        .worker_id("other")
        .build()
        .await
        .expect("build");
    eventually("the new run waits for its signal", || async {
        store
            .load_workflow("t-1")
            .await
            .expect("load")
            .pending
            .is_some()
    })
    .await;
    other.shutdown().await;
    let new = store.load_workflow("t-1").await.expect("load");
    assert!(
        new.version > old.version,
        "the new run ({}) is past the old one ({})",
        new.version,
        old.version
    );

    // The stale worker is woken for the id and steps what it holds.
    client.signal("t-1", "go", true).await.expect("signal");
    seen.blind(false);
    let out = within(
        "the new run completes",
        stale.handle(tenfold, "t-1").result(),
    )
    .await;
    assert_eq!(
        out.expect("result"),
        20,
        "the new run's input, not the old run's"
    );
    assert_eq!(
        seen.conflicts(),
        vec![("t-1".to_string(), old.version)],
        "the stale state was stepped, and its commit refused"
    );
    stale.shutdown().await;
}

/// A client on its own waits for a run's result, which a worker elsewhere (here another
/// runtime on the same store) computes: the output once the run ends, and at once the typed
/// errors of a run that parked, was cancelled, is of another workflow or does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_on_its_own_waits_for_a_result() {
    both_modes(async |mode| {
        let (memory, clock) = memory();
        let rt = builder(mode, memory.clone(), clock.clone())
            .workflow(tenfold)
            .workflow(fragile)
            .build()
            .await
            .expect("build");
        // Its own client, on the store alone: no runtime wakes it.
        let client = Client::new(memory.clone())
            .workflow(tenfold)
            .workflow(fragile);
        client.start(tenfold, "t-1", 4).await.expect("start");
        let waiting = tokio::spawn({
            let client = client.clone();
            async move { client.result(tenfold, "t-1").await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the run waits for its signal");
        client.signal("t-1", "go", true).await.expect("signal");
        let out = within("the result", waiting).await.expect("join");
        assert_eq!(out, Ok(40));
        client.start(fragile, "f-1", 0).await.expect("start");
        client.signal("f-1", "n", 13u64).await.expect("signal");
        let parked = within("the parked run's result", client.result(fragile, "f-1")).await;
        assert!(
            matches!(&parked, Err(RuntimeError::Parked { reason, .. }) if reason.contains("unlucky 13")),
            "{parked:?}"
        );
        client.start(tenfold, "t-2", 5).await.expect("start");
        client.cancel("t-2").await.expect("cancel");
        let cancelled = within("the cancelled run's result", client.result(tenfold, "t-2")).await;
        assert!(
            matches!(cancelled, Err(RuntimeError::Cancelled { .. })),
            "{cancelled:?}"
        );
        let wrong = client.result(fragile, "t-1").await;
        assert!(
            matches!(&wrong, Err(RuntimeError::WrongWorkflow { found, .. }) if found == "tenfold"),
            "{wrong:?}"
        );
        let unknown = client.result(tenfold, "nobody").await;
        assert_eq!(unknown, Err(RuntimeError::UnknownWorkflow("nobody".into())));
        rt.shutdown().await;
    })
    .await;
}
