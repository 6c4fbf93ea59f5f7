//! The crash test: a real child process runs 50 workflows on SQLite and is killed with SIGKILL
//! at random moments, 20 times, while every workflow is in flight; it is restarted each time,
//! and a last run lets it finish. Then: every workflow completed with the right output, every
//! activity's effect happened exactly once per idempotency key (the effects are recorded in a
//! separate SQLite file, keyed by it), and no signal was lost or delivered twice.
//!
//! The child is this test binary, run again with `WORKFLOW_CRASH_CHILD` set. Every other child
//! runs with `restore_every_step` (each step loads and decodes the snapshot), and so does the
//! last one: the two modes take over each other's workflows, and must end with the same
//! outputs.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use workflow_rt::prelude::*;
use workflow_rt::store::{HistoryKind, Store};
use workflow_rt::{SqliteStore, WorkflowStatus};

const CHILD: &str = "WORKFLOW_CRASH_CHILD";
/// Set for a child that restores every step from the store.
const RESTORE: &str = "WORKFLOW_CRASH_RESTORE";
const WORKFLOWS: u64 = 50;
const KILLS: usize = 20;
/// Each round: a signal, a call, a join of two calls, a short timer.
const ROUNDS: u64 = 10;
/// After which kills a round of signals goes out: no workflow can finish before the last,
/// so every kill lands while all 50 are in flight, and each round's work spans kills.
const SIGNAL_AFTER_KILL: [usize; ROUNDS as usize] = [1, 3, 5, 7, 9, 11, 13, 15, 17, KILLS];
const BAD: u64 = 1_000_000_000;

/// The effects file of this process: one connection, shared by the activity.
static EFFECTS: OnceLock<Mutex<Connection>> = OnceLock::new();

fn open_effects(path: &Path) -> Connection {
    let c = Connection::open(path).expect("effects db");
    c.busy_timeout(Duration::from_secs(10))
        .expect("busy timeout");
    c.execute_batch(
        "PRAGMA journal_mode=WAL;
         CREATE TABLE IF NOT EXISTS effects (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS runs (key TEXT NOT NULL);",
    )
    .expect("effects schema");
    c
}

/// An activity with an effect (a row keyed by the idempotency key) that is applied once
/// however often the activity runs: the pattern the idempotency key exists for.
#[activity]
async fn effect(ctx: ActivityCtx, input: (u64, u64)) -> Result<u64, ActivityError> {
    let key = ctx.idempotency_key();
    let value = {
        let db = EFFECTS
            .get()
            .ok_or_else(|| ActivityError::retryable("no effects db"))?;
        let mut db = db.lock().unwrap_or_else(|e| e.into_inner());
        let tx = db
            .transaction()
            .map_err(|e| ActivityError::retryable(e.to_string()))?;
        tx.execute("INSERT INTO runs (key) VALUES (?1)", [&key])
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
        tx.commit()
            .map_err(|e| ActivityError::retryable(e.to_string()))?;
        value
    };
    // Some work after the effect: a crash here makes the call run again.
    tokio::time::sleep(Duration::from_millis((input.0 + input.1) % 7)).await;
    Ok(value)
}

#[workflow]
async fn crashy(ctx: WorkflowCtx, n: u64) -> (u64, Vec<u64>) {
    let mut total: u64 = 0;
    let mut got: Vec<u64> = Vec::new();
    let mut round: u64 = 0;
    while round < ROUNDS {
        let v = ctx.signal::<u64>("add").await;
        got.push(v);
        total += ctx.activity(effect, (n, round * 10)).await.unwrap_or(BAD);
        let (a, b) = ctx
            .join((
                ctx.activity(effect, (n, round * 10 + 1)),
                ctx.activity(effect, (n, round * 10 + 2)),
            ))
            .await;
        total += a.unwrap_or(BAD) + b.unwrap_or(BAD);
        ctx.sleep(Duration::from_millis(5)).await;
        round += 1;
    }
    (total, got)
}

fn expected(n: u64) -> (u64, Vec<u64>) {
    let total = (0..ROUNDS)
        .flat_map(|r| (0..3).map(move |k| n * 1000 + r * 10 + k))
        .sum();
    (total, (0..ROUNDS).map(|r| (r + 1) * 10_000 + n).collect())
}

fn expected_keys(n: u64) -> Vec<String> {
    // Per round, five commands: the signal wait, the call, the join's two calls, the timer.
    (0..ROUNDS)
        .flat_map(|r| (1..=3).map(move |k| format!("w{n}:{}", r * 5 + k)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_and_restart_many_times() {
    if std::env::var_os(CHILD).is_some() {
        child().await;
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("workflows.db");
    let effects = dir.path().join("effects.db");
    drop(open_effects(&effects));

    // The parent is a client of the store: it sends the signals, and runs no workflow.
    let client = Runtime::builder()
        .store(SqliteStore::open(&db).expect("open"))
        .build()
        .await
        .expect("client");
    let store = Arc::new(SqliteStore::open(&db).expect("open"));
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |lo: u64, hi: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        lo + rng % (hi - lo)
    };
    let mut in_flight_kills = 0;
    // Kills after which more activity runs had happened: the process was working, not idle.
    let mut busy_kills = 0;
    let mut last_runs = 0;
    for kill in 1..=KILLS {
        let mut child = spawn(&db, &effects, kill % 2 == 0);
        if kill == 1 {
            wait_for_all_started(&store).await;
        }
        tokio::time::sleep(Duration::from_millis(next(20, 160))).await;
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let running = store
            .list_workflows(Some(WorkflowStatus::Running))
            .await
            .expect("list")
            .len() as u64;
        if running == WORKFLOWS {
            in_flight_kills += 1;
        }
        let e = open_effects(&effects);
        let applied: u64 = e
            .query_row("SELECT COUNT(*) FROM effects", [], |r| r.get(0))
            .expect("count");
        let runs: u64 = e
            .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))
            .expect("count");
        eprintln!("kill {kill}: {applied} effects applied, {runs} activity runs so far");
        if runs > last_runs {
            busy_kills += 1;
        }
        last_runs = runs;
        if let Some(round) = SIGNAL_AFTER_KILL.iter().position(|&k| k == kill) {
            for n in 0..WORKFLOWS {
                client
                    .signal(&format!("w{n}"), "add", (round as u64 + 1) * 10_000 + n)
                    .await
                    .expect("signal");
            }
        }
    }
    assert_eq!(
        in_flight_kills, KILLS,
        "every kill hit 50 workflows in flight"
    );
    assert!(
        busy_kills >= 5,
        "the kills interrupted work ({busy_kills} of {KILLS} did)"
    );

    // The last run finishes everything.
    let mut child = spawn(&db, &effects, true);
    let status = wait_with_timeout(&mut child, Duration::from_secs(60));
    assert!(status, "the last run finished every workflow");

    let mut runs_total = 0u64;
    let effects = open_effects(&effects);
    for n in 0..WORKFLOWS {
        let id = format!("w{n}");
        let rec = store.load_workflow(&id).await.expect("load");
        assert_eq!(rec.status, WorkflowStatus::Completed, "{id}");
        let out: (u64, Vec<u64>) =
            postcard::from_bytes(&rec.output.expect("output")).expect("decode");
        assert_eq!(
            out,
            expected(n),
            "{id}: right output, every signal once and in order"
        );
        let history = store.history(&id).await.expect("history");
        let applied = history
            .iter()
            .filter(|e| matches!(e.kind, HistoryKind::Step | HistoryKind::Completed))
            .count();
        assert_eq!(
            applied as u64, rec.version,
            "{id}: every commit is one step, none applied twice"
        );
        for key in expected_keys(n) {
            let rows: u64 = effects
                .query_row("SELECT COUNT(*) FROM effects WHERE key = ?1", [&key], |r| {
                    r.get(0)
                })
                .expect("count");
            assert_eq!(rows, 1, "effect of {key} applied once");
            let runs: u64 = effects
                .query_row("SELECT COUNT(*) FROM runs WHERE key = ?1", [&key], |r| {
                    r.get(0)
                })
                .expect("count");
            assert!(runs >= 1);
            runs_total += runs;
        }
    }
    let keys: u64 = effects
        .query_row("SELECT COUNT(*) FROM effects", [], |r| r.get(0))
        .expect("count");
    assert_eq!(
        keys,
        WORKFLOWS * ROUNDS * 3,
        "no effect under any other key"
    );
    eprintln!(
        "crash test: {KILLS} kills, {} activity calls, {runs_total} runs (at least once), each effect applied once",
        keys
    );
    client.shutdown().await;
}

fn spawn(db: &Path, effects: &Path, restore_every_step: bool) -> Child {
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
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the child")
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> bool {
    let start = std::time::Instant::now();
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

async fn wait_for_all_started(store: &SqliteStore) {
    support::eventually("all 50 started", || async {
        store.list_workflows(None).await.expect("list").len() as u64 == WORKFLOWS
    })
    .await;
}

/// The child: starts the 50 workflows (again: `start` is idempotent) and waits for them all.
async fn child() {
    let db = PathBuf::from(std::env::var_os("CRASH_DB").expect("CRASH_DB"));
    let effects = PathBuf::from(std::env::var_os("CRASH_EFFECTS").expect("CRASH_EFFECTS"));
    let _ = EFFECTS.set(Mutex::new(open_effects(&effects)));
    let rt = Runtime::builder()
        .store(SqliteStore::open(&db).expect("open"))
        .workflow(crashy)
        .activity(effect)
        .worker_id("crash-child")
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
    for h in handles {
        h.result().await.expect("result");
    }
    rt.shutdown().await;
}
