//! The crash test: a real child process runs 50 workflows on SQLite and is killed with SIGKILL
//! 20 times, each time while activity work is in flight; it is restarted each time, and a last
//! run lets it finish. Signals go out from a task of the parent all along, while children run
//! and while they are dead. Then:
//! - most kills (at least 15 of 20) landed with work in flight: activity tasks leased by the
//!   child, attempts running or results not yet committed (read from the store after the kill);
//! - every workflow completed, with every call's result and every signal consumed exactly once
//!   and in order (its output lists them; its history names what woke each step);
//! - every activity's effect happened exactly once per idempotency key: the effects table has
//!   no unique key, so a second application would show as a second row, and a separate log
//!   of attempts (one row each, no unique key either) shows calls that ran more than once,
//!   after a kill, still applied once;
//! - no signal was lost or delivered twice.
//!
//! The child is this test binary, run again with `WORKFLOW_CRASH_CHILD` set. Every other child
//! runs with `restore_every_step` (each step loads and decodes the snapshot), and so does the
//! last one: the two modes take over each other's workflows, and must end with the same
//! outputs.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};
use workflow_rt::machine::Pending;
use workflow_rt::prelude::*;
use workflow_rt::store::{EventKind, HistoryKind, Store};
use workflow_rt::{SqliteStore, WorkflowStatus};

const CHILD: &str = "WORKFLOW_CRASH_CHILD";
/// Set for a child that restores every step from the store.
const RESTORE: &str = "WORKFLOW_CRASH_RESTORE";
/// The file a child creates once it has started its workflows (and taken back its leases).
const READY: &str = "WORKFLOW_CRASH_READY";
const WORKER: &str = "crash-child";
const WORKFLOWS: u64 = 50;
const KILLS: usize = 20;
/// Kills that must land with work in flight.
const MID_WORK_KILLS: usize = 15;
/// Each round: a signal, a call, a join of two calls, a short timer.
const ROUNDS: u64 = 10;
const BAD: u64 = 1_000_000_000;

/// The effects file of this process: one connection, shared by the activity.
static EFFECTS: OnceLock<Mutex<Connection>> = OnceLock::new();

fn open_effects(path: &Path) -> Connection {
    let c = Connection::open(path).expect("effects db");
    c.busy_timeout(Duration::from_secs(10))
        .expect("busy timeout");
    // Neither table has a unique key: a second application of an effect would be a second
    // row, not an error.
    c.execute_batch(
        "PRAGMA journal_mode=WAL;
         CREATE TABLE IF NOT EXISTS effects (key TEXT NOT NULL, value INTEGER NOT NULL);
         CREATE INDEX IF NOT EXISTS effects_key ON effects(key);
         CREATE TABLE IF NOT EXISTS attempts (key TEXT NOT NULL, attempt INTEGER NOT NULL,
                                              applied INTEGER NOT NULL);
         CREATE INDEX IF NOT EXISTS attempts_key ON attempts(key);",
    )
    .expect("effects schema");
    c
}

fn count(db: &Connection, sql: &str) -> u64 {
    db.query_row(sql, [], |r| r.get(0)).expect(sql)
}

/// An activity with an effect (a row keyed by the idempotency key) that is applied once
/// however often the activity runs: the pattern the idempotency key exists for. Every attempt
/// that gets this far is logged, with whether it applied the effect.
#[activity]
async fn effect(ctx: ActivityCtx, input: (u64, u64)) -> Result<u64, ActivityError> {
    let key = ctx.idempotency_key();
    let value = {
        let db = EFFECTS
            .get()
            .ok_or_else(|| ActivityError::retryable("no effects db"))?;
        let mut db = db.lock().unwrap_or_else(|e| e.into_inner());
        let tx = db
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| ActivityError::retryable(e.to_string()))?;
        let existing: Option<u64> = tx
            .query_row("SELECT value FROM effects WHERE key = ?1", [&key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| ActivityError::retryable(e.to_string()))?;
        let value = match existing {
            Some(v) => v,
            None => {
                let v = input.0 * 1000 + input.1;
                tx.execute(
                    "INSERT INTO effects (key, value) VALUES (?1, ?2)",
                    params![key, v],
                )
                .map_err(|e| ActivityError::retryable(e.to_string()))?;
                v
            }
        };
        tx.execute(
            "INSERT INTO attempts (key, attempt, applied) VALUES (?1, ?2, ?3)",
            params![key, ctx.attempt(), existing.is_none()],
        )
        .map_err(|e| ActivityError::retryable(e.to_string()))?;
        tx.commit()
            .map_err(|e| ActivityError::retryable(e.to_string()))?;
        value
    };
    // Some work after the effect: a kill here makes the call run again.
    tokio::time::sleep(Duration::from_millis(3 + (input.0 + input.1) % 7)).await;
    Ok(value)
}

/// Returns every result it consumed and every signal, in order.
#[workflow]
async fn crashy(ctx: WorkflowCtx, n: u64) -> (Vec<u64>, Vec<u64>) {
    let mut results: Vec<u64> = Vec::new();
    let mut got: Vec<u64> = Vec::new();
    let mut round: u64 = 0;
    while round < ROUNDS {
        let v = ctx.signal::<u64>("add").await;
        got.push(v);
        results.push(ctx.activity(effect, (n, round * 10)).await.unwrap_or(BAD));
        let (a, b) = ctx
            .join((
                ctx.activity(effect, (n, round * 10 + 1)),
                ctx.activity(effect, (n, round * 10 + 2)),
            ))
            .await;
        results.push(a.unwrap_or(BAD));
        results.push(b.unwrap_or(BAD));
        ctx.sleep(Duration::from_millis(5)).await;
        round += 1;
    }
    (results, got)
}

fn signal_value(n: u64, round: u64) -> u64 {
    (round + 1) * 10_000 + n
}

fn expected(n: u64) -> (Vec<u64>, Vec<u64>) {
    (
        (0..ROUNDS)
            .flat_map(|r| (0..3).map(move |k| n * 1000 + r * 10 + k))
            .collect(),
        (0..ROUNDS).map(|r| signal_value(n, r)).collect(),
    )
}

/// Per round, five commands: the signal wait, the call, the join's two calls, the timer.
fn seq(round: u64, k: u64) -> u64 {
    round * 5 + k
}

fn expected_keys(n: u64) -> Vec<String> {
    (0..ROUNDS)
        .flat_map(|r| (1..=3).map(move |k| format!("w{n}:{}", seq(r, k))))
        .collect()
}

/// How many activity tasks the child holds leases on: attempts running, or finished with
/// their results not yet committed. Right after a kill, the work the kill interrupted.
async fn leased_tasks(store: &SqliteStore) -> usize {
    let mut leased = 0;
    for n in 0..WORKFLOWS {
        leased += store
            .load_tasks(&format!("w{n}"))
            .await
            .expect("tasks")
            .iter()
            .filter(|t| t.lease_owner.as_deref() == Some(WORKER))
            .count();
    }
    leased
}

/// Sends each workflow its next signal whenever it waits for one and has none buffered, until
/// every workflow has had all of its own: the signals go out while children run, and while
/// they are dead. Returns how many it sent.
async fn send_signals(db: PathBuf, stop: Arc<AtomicBool>) -> u64 {
    let client = Runtime::builder(SqliteStore::open(&db).expect("open"))
        .build()
        .await
        .expect("client");
    let store = SqliteStore::open(&db).expect("open");
    let mut sent = vec![0u64; WORKFLOWS as usize];
    while !stop.load(Ordering::SeqCst) && sent.iter().any(|&s| s < ROUNDS) {
        for n in 0..WORKFLOWS {
            let id = format!("w{n}");
            if sent[n as usize] == ROUNDS {
                continue;
            }
            // (Not there until the first child starts it.)
            let Ok(rec) = store.load_workflow(&id).await else {
                continue;
            };
            let waits = rec
                .pending
                .as_deref()
                .and_then(|p| postcard::from_bytes::<Pending>(p).ok())
                .is_some_and(|p| {
                    p.leaves()
                        .iter()
                        .any(|l| matches!(l, Pending::Signal { name, .. } if name == "add"))
                });
            if !waits {
                continue;
            }
            let buffered = store
                .load_inbox(&id)
                .await
                .expect("inbox")
                .iter()
                .any(|e| matches!(&e.kind, EventKind::Signal { name, .. } if name == "add"));
            if !buffered {
                client
                    .signal(&id, "add", signal_value(n, sent[n as usize]))
                    .await
                    .expect("signal");
                sent[n as usize] += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    client.shutdown().await;
    sent.iter().sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_and_restart_many_times() {
    if std::env::var_os(CHILD).is_some() {
        child().await;
        return;
    }
    let begin = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("workflows.db");
    let effects = dir.path().join("effects.db");
    drop(open_effects(&effects));
    // The store exists before the signal sender reads it.
    drop(SqliteStore::open(&db).expect("create"));

    let store = Arc::new(SqliteStore::open(&db).expect("open"));
    let stop = Arc::new(AtomicBool::new(false));
    let sender = tokio::spawn(send_signals(db.clone(), stop.clone()));
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |lo: u64, hi: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        lo + rng % (hi - lo)
    };
    let mut all_running_kills = 0;
    let mut mid_work_kills = 0;
    for kill in 1..=KILLS {
        let ready = dir.path().join(format!("ready-{kill}"));
        let mut child = spawn(&db, &effects, &ready, kill % 2 == 0);
        support::eventually("the child started its workflows", || async {
            ready.exists()
        })
        .await;
        // Let it work a little, then wait for work in flight (leased by this child: it took
        // back the last one's leases when it started) and kill it a moment later.
        tokio::time::sleep(Duration::from_millis(next(0, 30))).await;
        let deadline = Instant::now() + Duration::from_secs(3);
        while leased_tasks(&store).await == 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(next(0, 4))).await;
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let interrupted = leased_tasks(&store).await;
        if interrupted > 0 {
            mid_work_kills += 1;
        }
        let running = store
            .list_workflows(Some(WorkflowStatus::Running))
            .await
            .expect("list")
            .len() as u64;
        if running == WORKFLOWS {
            all_running_kills += 1;
        }
        let e = open_effects(&effects);
        eprintln!(
            "kill {kill}: {interrupted} tasks in flight, {running} workflows running, {} effects applied, {} attempts so far",
            count(&e, "SELECT COUNT(*) FROM effects"),
            count(&e, "SELECT COUNT(*) FROM attempts"),
        );
    }
    assert!(
        mid_work_kills >= MID_WORK_KILLS,
        "kills that landed with work in flight: {mid_work_kills} of {KILLS}"
    );
    assert_eq!(
        all_running_kills, KILLS,
        "every kill hit 50 workflows in flight"
    );

    // The last run finishes everything.
    let ready = dir.path().join("ready-last");
    let mut child = spawn(&db, &effects, &ready, true);
    let finished = wait_with_timeout(&mut child, Duration::from_secs(60));
    stop.store(true, Ordering::SeqCst);
    let signals_sent = sender.await.expect("the sender");
    assert!(finished, "the last run finished every workflow");
    assert_eq!(signals_sent, WORKFLOWS * ROUNDS, "every signal sent once");

    let effects = open_effects(&effects);
    let effect_name = <effect as Activity>::NAME;
    let mut reruns = 0u64;
    for n in 0..WORKFLOWS {
        let id = format!("w{n}");
        let rec = store.load_workflow(&id).await.expect("load");
        assert_eq!(rec.status, WorkflowStatus::Completed, "{id}");
        let out: (Vec<u64>, Vec<u64>) =
            postcard::from_bytes(&rec.output.expect("output")).expect("decode");
        assert_eq!(
            out,
            expected(n),
            "{id}: every call's result and every signal, once each and in order"
        );

        // What woke each step: every call's result, every signal and every timer exactly once.
        let history = store.history(&id).await.expect("history");
        let applied: Vec<&str> = history
            .iter()
            .filter(|e| matches!(e.kind, HistoryKind::Step | HistoryKind::Completed))
            .map(|e| e.detail.split(" -> ").next().unwrap_or(""))
            .collect();
        assert_eq!(
            applied.len() as u64,
            rec.version,
            "{id}: every commit is one step, none applied twice"
        );
        let woken_by: Vec<&str> = applied.iter().flat_map(|w| w.split(", ")).collect();
        for r in 0..ROUNDS {
            let mut wakes = vec![format!("signal add#{}", seq(r, 0))];
            for k in 1..=3 {
                wakes.push(format!("activity {effect_name}#{} ok", seq(r, k)));
            }
            wakes.push(format!("timer#{}", seq(r, 4)));
            for wake in wakes {
                let times = woken_by.iter().filter(|w| **w == wake).count();
                assert_eq!(times, 1, "{id}: {wake:?} consumed once ({woken_by:?})");
            }
        }
        assert_eq!(
            woken_by.len() as u64,
            ROUNDS * 5 + 1,
            "{id}: nothing else woke a step ({woken_by:?})"
        );

        for key in expected_keys(n) {
            let rows = count_key(
                &effects,
                "SELECT COUNT(*) FROM effects WHERE key = ?1",
                &key,
            );
            assert_eq!(rows, 1, "effect of {key} applied once");
            let attempts = count_key(
                &effects,
                "SELECT COUNT(*) FROM attempts WHERE key = ?1",
                &key,
            );
            let applying = count_key(
                &effects,
                "SELECT COUNT(*) FROM attempts WHERE key = ?1 AND applied = 1",
                &key,
            );
            assert!(attempts >= 1, "{key} ran at least once");
            assert_eq!(applying, 1, "{key}: one attempt of {attempts} applied it");
            if attempts > 1 {
                reruns += 1;
            }
        }
    }
    let keys = count(&effects, "SELECT COUNT(DISTINCT key) FROM effects");
    assert_eq!(
        keys,
        WORKFLOWS * ROUNDS * 3,
        "no effect under any other key"
    );
    let attempts = count(&effects, "SELECT COUNT(*) FROM attempts");
    assert!(
        reruns > 0,
        "some calls ran again after a kill (and still applied their effect once)"
    );
    eprintln!(
        "crash test: {KILLS} kills ({mid_work_kills} with work in flight), {keys} activity calls, \
         {attempts} attempts, {reruns} calls run more than once, each effect applied once; {:.1} s",
        begin.elapsed().as_secs_f64()
    );
}

fn count_key(db: &Connection, sql: &str, key: &str) -> u64 {
    db.query_row(sql, [key], |r| r.get(0)).expect(sql)
}

fn spawn(db: &Path, effects: &Path, ready: &Path, restore_every_step: bool) -> Child {
    let exe = std::env::current_exe().expect("test binary");
    let mut command = Command::new(exe);
    if restore_every_step {
        command.env(RESTORE, "1");
    }
    command
        .args([
            "--exact",
            "crash_and_restart_many_times",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("CRASH_DB", db)
        .env("CRASH_EFFECTS", effects)
        .env(READY, ready)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the child")
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> bool {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.success();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The child: starts the 50 workflows (again: `start` is idempotent), says it is ready, and
/// waits for them all.
async fn child() {
    let db = PathBuf::from(std::env::var_os("CRASH_DB").expect("CRASH_DB"));
    let effects = PathBuf::from(std::env::var_os("CRASH_EFFECTS").expect("CRASH_EFFECTS"));
    let ready = PathBuf::from(std::env::var_os(READY).expect(READY));
    let _ = EFFECTS.set(Mutex::new(open_effects(&effects)));
    let rt = Runtime::builder(SqliteStore::open(&db).expect("open"))
        .workflow(crashy)
        .activity(effect)
        // The same name as the last child: its leases are taken back at once.
        .worker_id(WORKER)
        .restore_every_step(std::env::var_os(RESTORE).is_some())
        .lease_duration(Duration::from_secs(5))
        .poll_interval(Duration::from_millis(20))
        .build()
        .await
        .expect("build");
    let mut handles = Vec::new();
    for n in 0..WORKFLOWS {
        handles.push(rt.start(crashy, format!("w{n}"), n).await.expect("start"));
    }
    std::fs::write(&ready, b"").expect("ready file");
    for h in handles {
        h.result().await.expect("result");
    }
    rt.shutdown().await;
}
