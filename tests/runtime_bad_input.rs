//! Bad input never panics the runtime, never wedges it and never loses a signal or a snapshot:
//! counters at their limits in a snapshot, huge durations, leases and clock readings, a retry
//! policy that is not a number, damaged rows in a SQLite file, user types whose serde impls
//! panic, a handle of the wrong workflow, a workflow this runtime does not know. Each case
//! ends in a typed error, a parked workflow with its reason, or a normal run.

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserializer, Serializer};
use support::{T0, both_modes, builder, eventually, memory, within};
use workflow_rt::machine::{CtxState, Snapshot};
use workflow_rt::prelude::*;
use workflow_rt::store::{HistoryEntry, HistoryKind, NewWorkflow, Store};
use workflow_rt::{
    MemoryStore, RuntimeError, SqliteStore, Synchronous, VirtualClock, WorkflowStatus,
};

#[activity]
async fn echo(_ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    Ok(x)
}

#[workflow]
async fn call_echo(ctx: WorkflowCtx, x: u64) -> Result<u64, ActivityError> {
    ctx.activity(echo, x).await
}

async fn status(store: &dyn Store, id: &str) -> WorkflowStatus {
    store.load_workflow(id).await.expect("load").status
}

/// Stores a run of `call_echo(x)` whose first snapshot has this step count and context, as a
/// damaged (or hand-made) row would have them.
async fn plant(store: &dyn Store, id: &str, x: u64, step: u64, ctx: CtxState) {
    let state = <call_echo as Workflow>::start(x);
    let snapshot = Snapshot::encode(
        <call_echo as Workflow>::NAME,
        <call_echo as Workflow>::fingerprint(),
        step,
        ctx,
        &state,
    )
    .expect("encode");
    store
        .create_workflow(NewWorkflow {
            id: id.into(),
            name: <call_echo as Workflow>::NAME.into(),
            input: postcard::to_stdvec(&x).expect("input"),
            snapshot,
            now_ms: T0,
            history: HistoryEntry::new(T0, HistoryKind::Started, "planted"),
            parent: None,
            parent_version: None,
            signals: Vec::new(),
            timers: Vec::new(),
        })
        .await
        .expect("create");
}

/// Regression: `step + 1` on a snapshot at `u64::MAX` steps panicked in the step driver, which
/// then held the workflow's slot forever: it never ran again in that process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_count_at_its_limit_does_not_stop_the_workflow() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let ctx = CtxState::new(T0, 1, 0);
        plant(&*store, "full", 41, u64::MAX, ctx).await;
        let rt = builder(mode, store.clone(), clock)
            .workflow(call_echo)
            .activity(echo)
            .build()
            .await
            .expect("build");
        let out = within("result", rt.handle(call_echo, "full").result())
            .await
            .expect("result");
        assert_eq!(out, Ok(41));
        let state = rt.state("full").await.expect("state");
        assert_eq!(state.step, u64::MAX, "the count stays at its limit");
        rt.shutdown().await;
        (out, state.version)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sequence_counter_at_its_limit_parks_the_workflow() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let ctx = CtxState::new(T0, 1, u64::MAX);
        plant(&*store, "seq", 1, 0, ctx).await;
        let rt = builder(mode, store.clone(), clock)
            .workflow(call_echo)
            .activity(echo)
            .build()
            .await
            .expect("build");
        eventually("parked", || async {
            status(&*store, "seq").await == WorkflowStatus::Parked
        })
        .await;
        let reason = rt
            .state("seq")
            .await
            .expect("state")
            .park_reason
            .expect("reason");
        assert!(
            reason.contains("no sequence number is left"),
            "a typed reason, not a panic: {reason}"
        );
        assert!(
            store.load_tasks("seq").await.expect("tasks").is_empty(),
            "no command reuses a sequence number"
        );
        rt.shutdown().await;
        reason
    })
    .await;
}

#[workflow]
async fn patient(ctx: WorkflowCtx, x: u64) -> (u64, Option<u64>) {
    let policy: RetryPolicy = RetryPolicy::exponential(Duration::MAX).max_attempts(2);
    let v: u64 = ctx
        .activity(echo, x)
        .retry(policy)
        .start_to_close(Duration::MAX)
        .schedule_to_close(Duration::MAX)
        .heartbeat_timeout(Duration::MAX)
        .await
        .unwrap_or(0);
    let go = ctx.signal::<u64>("go").timeout(Duration::MAX).await;
    (v, go)
}

/// Regression: a lease of `u64::MAX` ms overflowed `now + lease` when a step leased its call
/// (a panic in the step driver, the workflow stuck), and `RetryPolicy::exponential` overflowed
/// `Duration::MAX * 100`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_durations_leases_and_clock_readings_do_not_overflow() {
    let p = RetryPolicy::exponential(Duration::MAX);
    assert_eq!(p.maximum_interval, Some(Duration::MAX));
    assert_eq!(p.delay(50, 0.5), Duration::MAX);
    both_modes(async |mode| {
        let store = Arc::new(MemoryStore::new());
        // Near the end of time, so that every deadline saturates.
        let clock = VirtualClock::new(u64::MAX - 1_000);
        let rt = builder(mode, store.clone(), clock)
            .workflow(patient)
            .activity(echo)
            .lease_duration(Duration::from_millis(u64::MAX))
            .build()
            .await
            .expect("build");
        let run = rt.start(patient, "patient", 7).await.expect("start");
        eventually("waiting for the signal", || async {
            store.load_timers("patient").await.expect("timers").len() == 1
        })
        .await;
        let timer = store.load_timers("patient").await.expect("timers")[0];
        assert_eq!(
            timer.fire_at_ms,
            u64::MAX,
            "a timer of Duration::MAX saturates"
        );
        rt.signal("patient", "go", 3u64).await.expect("signal");
        let out = within("result", run.result()).await.expect("result");
        assert_eq!(out, (7, Some(3)));
        rt.shutdown().await;
        out
    })
    .await;
}

#[activity]
async fn fail_first(ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    if ctx.attempt() == 1 {
        return Err(ActivityError::retryable("the first attempt fails"));
    }
    Ok(x)
}

#[workflow]
async fn jittery(ctx: WorkflowCtx, x: u64) -> Result<u64, ActivityError> {
    let policy: RetryPolicy = RetryPolicy::fixed(Duration::from_secs(1))
        .jitter(f64::NAN)
        .max_attempts(3);
    ctx.activity(fail_first, x).retry(policy).await
}

/// Regression: a jitter that is not a number made the wait before a retry infinite, so the call
/// was never tried again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jitter_that_is_not_a_number_still_retries() {
    let p = RetryPolicy::fixed(Duration::from_secs(1)).jitter(f64::NAN);
    assert_eq!(p.delay(1, 0.9), Duration::from_secs(1));
    let p = RetryPolicy::exponential(Duration::ZERO).backoff(f64::INFINITY);
    assert_eq!(p.delay(3, 0.5), Duration::ZERO);
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(jittery)
            .activity(fail_first)
            .build()
            .await
            .expect("build");
        let run = rt.start(jittery, "j", 5).await.expect("start");
        eventually("the retry is scheduled", || async {
            store
                .load_tasks("j")
                .await
                .expect("tasks")
                .first()
                .is_some_and(|t| t.attempt == 1 && t.lease_owner.is_none())
        })
        .await;
        let visible = store.load_tasks("j").await.expect("tasks")[0].visible_at_ms;
        assert_eq!(visible, T0 + 1_000, "one second later, no jitter");
        clock.set_ms(visible);
        let out = within("result", run.result()).await.expect("result");
        assert_eq!(out, Ok(5));
        rt.shutdown().await;
        out
    })
    .await;
}

/// Opens the SQLite file `path` behind the store's back, to damage rows.
fn raw(path: &std::path::Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(path).expect("open raw");
    c.busy_timeout(Duration::from_secs(10)).expect("busy");
    c
}

async fn sqlite(path: &std::path::Path) -> Arc<SqliteStore> {
    Arc::new(
        SqliteStore::builder(path)
            .synchronous(Synchronous::Normal)
            .open()
            .expect("open"),
    )
}

/// Regression: a busy timeout longer than SQLite's i32 of milliseconds panicked in `open`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_busy_timeout_opens_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::builder(dir.path().join("patient.db"))
        .busy_timeout(Duration::MAX)
        .open()
        .expect("open");
    assert!(matches!(
        store.load_workflow("nobody").await,
        Err(workflow_rt::StoreError::NotFound(_))
    ));
}

/// Regression: a task row whose options did not decode failed every lease, so that no task of
/// the store ran again (and the writes batched with the lease were rolled back), at every poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_activity_tasks_fail_their_calls_and_block_no_other() {
    both_modes(async |mode| {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tasks.db");
        let store = sqlite(&path).await;
        let clock = VirtualClock::new(T0);
        // This runtime steps the workflows; no runtime runs `echo` yet, so the tasks wait.
        let workflows = builder(mode, store.clone(), clock.clone())
            .workflow(call_echo)
            .allow_missing_activities()
            .build()
            .await
            .expect("build");
        for id in ["bad-options", "bad-input", "healthy"] {
            workflows.start(call_echo, id, 9).await.expect("start");
            eventually("the task", || async {
                store.load_tasks(id).await.expect("tasks").len() == 1
            })
            .await;
        }
        let db = raw(&path);
        db.execute(
            "UPDATE tasks SET options = x'ffffffff' WHERE rid = (SELECT rid FROM workflows WHERE id = 'bad-options')",
            [],
        )
        .expect("damage options");
        db.execute(
            "UPDATE tasks SET input = x'ffffffffffffffffffffff' WHERE rid = (SELECT rid FROM workflows WHERE id = 'bad-input')",
            [],
        )
        .expect("damage input");
        // A worker for `echo` comes.
        let worker = builder(mode, sqlite(&path).await, clock)
            .activity(echo)
            .build()
            .await
            .expect("build");
        let healthy = within("healthy", workflows.handle(call_echo, "healthy").result())
            .await
            .expect("result");
        assert_eq!(healthy, Ok(9), "the other tasks still run");
        let mut errors = Vec::new();
        for id in ["bad-options", "bad-input"] {
            let out = within(id, workflows.handle(call_echo, id).result())
                .await
                .expect("result");
            let e = out.expect_err("the call fails");
            assert_eq!(e.kind, ActivityErrorKind::BadCall, "{id}: {e}");
            assert!(e.message.contains("does not decode"), "{id}: {e}");
            errors.push(e.kind);
        }
        worker.shutdown().await;
        workflows.shutdown().await;
        (healthy, errors)
    })
    .await;
}

/// Regression: an event whose bytes did not decode failed every load of its workflow's inbox;
/// the workflow stayed running and was retried at every poll, for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_event_parks_its_workflow_once() {
    both_modes(async |mode| {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.db");
        let store = sqlite(&path).await;
        // `echo` runs nowhere: the workflow waits for the result of call 0.
        let rt = builder(mode, store.clone(), VirtualClock::new(T0))
            .workflow(call_echo)
            .allow_missing_activities()
            .build()
            .await
            .expect("build");
        rt.start(call_echo, "w", 1).await.expect("start");
        eventually("waiting", || async {
            store.load_workflow("w").await.expect("load").version == 1
        })
        .await;
        let db = raw(&path);
        db.execute_batch(
            "INSERT INTO events (rid, at, kind, seq, name, payload)
                 SELECT rid, 1704067200000, 0, 0, NULL, x'ffffffff' FROM workflows WHERE id = 'w';
             UPDATE workflows SET ready = 1 WHERE id = 'w';",
        )
        .expect("damage");
        eventually("parked", || async {
            status(&*store, "w").await == WorkflowStatus::Parked
        })
        .await;
        let rec = store.load_workflow("w").await.expect("load");
        let reason = rec.park_reason.clone().expect("reason");
        assert!(reason.contains("inbox does not decode"), "{reason}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let later = store.load_workflow("w").await.expect("load");
        assert_eq!(later.version, rec.version, "not retried in a loop");
        let parks = store
            .history("w")
            .await
            .expect("history")
            .iter()
            .filter(|e| e.kind == HistoryKind::Parked)
            .count();
        assert_eq!(parks, 1);
        assert!(matches!(
            rt.handle(call_echo, "w").result().await,
            Err(RuntimeError::Parked { .. })
        ));
        rt.shutdown().await;
        reason
    })
    .await;
}

/// A number whose serde impls panic: `Serialize` on 13, `Deserialize` on 7 (a user type with
/// a validating `assert!`, say).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Picky(u64);

impl Serialize for Picky {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        assert!(self.0 != 13, "Picky refuses to serialize 13");
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Picky {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u64::deserialize(d)?;
        assert!(v != 7, "Picky refuses to deserialize 7");
        Ok(Picky(v))
    }
}

#[activity]
async fn inspect(_ctx: ActivityCtx, p: Picky) -> Result<u64, ActivityError> {
    Ok(p.0)
}

#[workflow]
async fn picky(ctx: WorkflowCtx, _x: u64) -> u64 {
    let set: u64 = ctx.signal::<u64>("set").await;
    let v: Picky = Picky(set);
    let next: u64 = ctx.signal::<u64>("next").await;
    v.0 + next
}

#[workflow]
async fn picky_call(ctx: WorkflowCtx, x: u64) -> Result<u64, ActivityError> {
    ctx.activity(inspect, Picky(x)).await
}

#[workflow]
async fn picky_input(_ctx: WorkflowCtx, p: Picky) -> u64 {
    p.0
}

/// Regression: the state was encoded and decoded outside the guard of the step, and an
/// activity's input decoded outside the guard of the attempt: a panicking impl took the step
/// driver (or the task loop) down with it, and `state()` panicked in the caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_types_whose_serde_panics_park_their_workflow_and_harm_no_other() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let make = || {
            builder(mode, store.clone(), clock.clone())
                .workflow(picky)
                .workflow(picky_call)
                .workflow(picky_input)
                .activity(inspect)
        };
        let rt = make().build().await.expect("build");

        // A state that does not encode: parked, the last good snapshot kept and shown.
        rt.start(picky, "encode", 0).await.expect("start");
        rt.signal("encode", "set", 13u64).await.expect("signal");
        eventually("parked", || async {
            status(&*store, "encode").await == WorkflowStatus::Parked
        })
        .await;
        let s = rt.state("encode").await.expect("state");
        let encode_reason = s.park_reason.clone().expect("reason");
        assert!(
            encode_reason.contains("encoding the state panicked"),
            "{encode_reason}"
        );
        assert!(s.state.is_some(), "the last good state still shows");

        // An activity input that does not decode: the call fails with a typed error.
        let out = within("picky call", async {
            rt.start(picky_call, "call", 7)
                .await
                .expect("start")
                .result()
                .await
        })
        .await
        .expect("result");
        let e = out.clone().expect_err("the call fails");
        assert_eq!(e.kind, ActivityErrorKind::BadCall, "{e}");
        assert!(e.message.contains("panicked while decoding"), "{e}");

        // An input that does not encode: `start` says so.
        let refused = rt.start(picky_input, "input", Picky(13)).await;
        assert!(
            matches!(&refused, Err(RuntimeError::Encode { reason, .. }) if reason.contains("panicked")),
            "{refused:?}"
        );

        // A state that does not decode: shown as an error, and parked when a new runtime loads
        // it.
        rt.start(picky, "decode", 0).await.expect("start");
        rt.signal("decode", "set", 7u64).await.expect("signal");
        // (Restored at every step, it is parked at once: its next load does not decode.)
        eventually("the state holds 7", || async {
            store.load_workflow("decode").await.expect("load").version >= 2
        })
        .await;
        let shown = rt.state("decode").await.expect("state, not a panic");
        assert!(shown.state.is_none());
        assert!(
            shown
                .state_error
                .as_deref()
                .is_some_and(|e| e.contains("panicked")),
            "{shown:?}"
        );
        rt.shutdown().await;
        let rt = make().build().await.expect("build");
        rt.signal("decode", "next", 1u64).await.expect("signal");
        eventually("parked", || async {
            status(&*store, "decode").await == WorkflowStatus::Parked
        })
        .await;
        let decode_reason = store
            .load_workflow("decode")
            .await
            .expect("load")
            .park_reason
            .expect("reason");
        assert!(
            decode_reason.contains("decoding the state panicked"),
            "{decode_reason}"
        );

        // The runtime still works.
        rt.start(picky, "fine", 0).await.expect("start");
        rt.signal("fine", "set", 20u64).await.expect("signal");
        rt.signal("fine", "next", 1u64).await.expect("signal");
        let fine = within("fine", rt.handle(picky, "fine").result())
            .await
            .expect("result");
        assert_eq!(fine, 21);
        rt.shutdown().await;
        (encode_reason, out, decode_reason, fine)
    })
    .await;
}

#[workflow]
async fn greet(ctx: WorkflowCtx, name: String) -> String {
    let greeting: String = ctx.signal::<String>("greeting").await;
    format!("{greeting}, {name}")
}

/// A run of a workflow this runtime does not know is left alone (its signals buffered) for a
/// runtime that does; a handle of the wrong workflow is a typed error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_this_runtime_does_not_know_wait_for_one_that_does() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let knows = builder(mode, store.clone(), clock.clone())
            .workflow(greet)
            .build()
            .await
            .expect("build");
        knows
            .start(greet, "g", "Ada".to_string())
            .await
            .expect("start");
        eventually("waiting", || async {
            store.load_workflow("g").await.expect("load").version == 1
        })
        .await;
        knows.shutdown().await;

        let other = builder(mode, store.clone(), clock.clone())
            .workflow(call_echo)
            .activity(echo)
            .build()
            .await
            .expect("build");
        other
            .signal("g", "greeting", "Hello".to_string())
            .await
            .expect("a signal is buffered whoever runs the workflow");
        tokio::time::sleep(Duration::from_millis(30)).await;
        let s = other.state("g").await.expect("state");
        assert_eq!(
            (s.status, s.version),
            (WorkflowStatus::Running, 1),
            "untouched"
        );
        assert!(
            s.state_error
                .as_deref()
                .is_some_and(|e| e.contains("not registered")),
            "{s:?}"
        );
        let wrong = other.handle(call_echo, "g").result().await;
        assert_eq!(
            wrong,
            Err(RuntimeError::WrongWorkflow {
                id: "g".into(),
                expected: "call_echo".into(),
                found: "greet".into(),
            })
        );
        other.shutdown().await;

        let knows = builder(mode, store.clone(), clock)
            .workflow(greet)
            .build()
            .await
            .expect("build");
        let out = within("result", knows.handle(greet, "g").result())
            .await
            .expect("result");
        assert_eq!(out, "Hello, Ada", "the buffered signal was kept");
        knows.shutdown().await;
        (wrong, out)
    })
    .await;
}

/// Calls `call_echo` as a child under the id given.
#[workflow]
async fn names_its_child(ctx: WorkflowCtx, child: String) -> String {
    match ctx.child(call_echo, 1).id(child).await {
        Ok(out) => format!("{out:?}"),
        Err(e) => e.to_string(),
    }
}

/// Calls `call_echo` as a child under the id derived from its own.
#[workflow]
async fn derives_its_childs_id(ctx: WorkflowCtx, x: u64) -> String {
    match ctx.child(call_echo, x).await {
        Ok(out) => format!("{out:?}"),
        Err(e) => e.to_string(),
    }
}

/// Ids and names that the stores would not keep alike (empty, holding a NUL, which
/// PostgreSQL refuses in text, or longer than 1 000 bytes, past what it indexes at 2.7 KB)
/// are a typed error on every store, and store nothing: a run's id, a signal's name, a child's
/// id (its call is answered), a schedule's name (PostgreSQL failed such a write with a
/// backend error, "may have taken effect").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_and_names_the_stores_would_not_keep_alike_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stores: [Arc<dyn Store>; 2] = [
        memory().0,
        Arc::new(SqliteStore::open(dir.path().join("w.db")).expect("open")),
    ];
    let long = "x".repeat(workflow_rt::MAX_ID_BYTES + 1);
    let longest = "y".repeat(workflow_rt::MAX_ID_BYTES);
    for store in stores {
        let rt = builder(support::Mode::Cached, store.clone(), VirtualClock::new(T0))
            .workflow(call_echo)
            .workflow(names_its_child)
            .workflow(derives_its_childs_id)
            .activity(echo)
            .build()
            .await
            .expect("build");
        for (bad, reason) in [
            ("", "it is empty"),
            (".", "it is . or .., which no path of a URL names"),
            ("..", "it is . or .., which no path of a URL names"),
            ("a\0b", "it holds a NUL character"),
            (long.as_str(), "it is longer than 1000 bytes"),
        ] {
            let e = rt.start(call_echo, bad, 1).await.expect_err("refused");
            assert!(
                matches!(&e, RuntimeError::BadName { what: "workflow id", reason: r, .. } if *r == reason),
                "{e:?}"
            );
            let e = rt
                .client()
                .start(call_echo, bad, 1)
                .await
                .expect_err("refused");
            assert!(matches!(e, RuntimeError::BadName { .. }), "{e:?}");
            let e = rt.signal(&longest, bad, 1u32).await.expect_err("refused");
            assert!(
                matches!(
                    &e,
                    RuntimeError::BadName {
                        what: "signal name",
                        ..
                    }
                ),
                "{e:?}"
            );
            let e = rt
                .client()
                .schedule(
                    bad,
                    workflow_rt::schedule::ScheduleSpec::every(Duration::from_secs(60)),
                    call_echo,
                    1,
                )
                .create()
                .await
                .expect_err("refused");
            assert!(
                matches!(e, workflow_rt::schedule::ScheduleError::BadName(_)),
                "{e:?}"
            );
        }
        assert!(
            format!(
                "{}",
                rt.start(call_echo, long.as_str(), 1).await.unwrap_err()
            )
            .ends_with("…\" is refused: it is longer than 1000 bytes"),
            "the error shows the first 100 characters"
        );
        // 1 000 bytes is an id.
        let run = rt
            .start(call_echo, longest.as_str(), 7)
            .await
            .expect("start");
        assert_eq!(within("result", run.result()).await, Ok(Ok(7)));
        let parent = rt
            .start(names_its_child, "parent", "c\0d".to_string())
            .await
            .expect("start");
        assert_eq!(
            within("the parent's result", parent.result()).await,
            Ok("child run \"c\\0d\" could not be started: its id is refused: it holds a NUL character".to_string())
        );
        // A run whose id is at the limit has children: their ids, derived from its own, may
        // be longer.
        let long_parent = "z".repeat(workflow_rt::MAX_ID_BYTES);
        let run = rt
            .start(derives_its_childs_id, long_parent.as_str(), 3)
            .await
            .expect("start");
        assert_eq!(
            within("the long parent's result", run.result()).await,
            Ok("Ok(3)".to_string())
        );
        let ids: Vec<String> = store
            .list_runs(workflow_rt::store::RunQuery::default())
            .await
            .expect("list")
            .runs
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(
            ids,
            vec![
                "parent".to_string(),
                longest.clone(),
                long_parent.clone(),
                format!("{long_parent}/call_echo-0"),
            ]
        );
        rt.shutdown().await;
    }
}
