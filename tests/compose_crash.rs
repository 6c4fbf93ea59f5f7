//! The crash test of composed workflows: a real child process runs 30 parent workflows on one
//! SQLite file and is killed with SIGKILL 20 times, at random moments while work is in flight;
//! it is restarted each time (with the same worker id, so it takes its leases back at once),
//! and a last run lets everything finish. Each parent fans out three child runs (each calls an
//! activity with an effect, then sleeps a short durable timer), builds a saga of three
//! compensations, and waits for a signal or its cancellation; the test cancels every third
//! parent and signals the others while children run and while they are dead. A cancelled
//! parent, and a signalled parent of even number, runs its compensations and returns an error;
//! the others return their children's outputs. Then:
//! - most kills (at least half) landed with activity work in flight: tasks leased by the child,
//!   attempts running or results not yet committed (read from the store after the kill); at
//!   least a fifth with a run of compensations not finished; some calls ran again;
//! - every parent ended as it should: completed with its children's outputs, failed after
//!   compensating, or cancelled after compensating; its history consumed each child's end, the
//!   signal (or the cancellation: one request, its code told once) and the compensations' end
//!   exactly once, and every commit is one step (none applied twice);
//! - every child run (and every run of the compensations) exists once, completed, and its
//!   history shows its call and its timer consumed once; no other run exists;
//! - every activity's effect happened exactly once per idempotency key: the effects table has
//!   no unique key, so a second application would show as a second row, and a separate log of
//!   attempts (one row each, no unique key either) shows calls that ran more than once, after
//!   a kill, still applied once;
//! - the compensations of each compensating parent happened once each, last added first (the
//!   order in which their rows were inserted), and a parent that did not compensate has none.
//!
//! The child is this test binary, run again with `COMPOSE_CRASH_CHILD` set; each run starts a
//! few more parents than the last, so that every run has fresh work. Every other child runs
//! with `restore_every_step` (each step loads and decodes the snapshot), and so does the last
//! one: the two modes take over each other's runs.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};
use workflow_rt::machine::Pending;
use workflow_rt::prelude::*;
use workflow_rt::store::{HistoryEntry, HistoryKind, Store};
use workflow_rt::{COMPENSATE_WORKFLOW, Client, SqliteStore, WorkflowStatus};

const CHILD: &str = "COMPOSE_CRASH_CHILD";
/// Set for a child that restores every step from the store.
const RESTORE: &str = "COMPOSE_CRASH_RESTORE";
/// The file a child creates once it has started its parents (and taken back its leases).
const READY: &str = "COMPOSE_CRASH_READY";
/// How many parents a child starts (the first ones; starting one again is harmless).
const STARTS: &str = "COMPOSE_CRASH_STARTS";
const WORKER: &str = "compose-crash-child";
const PARENTS: u64 = 30;
/// Child runs per parent, and compensations per saga.
const FAN_OUT: u64 = 3;
const KILLS: u64 = 20;
/// Kills that must land with work in flight.
const MID_WORK_KILLS: u64 = KILLS / 2;
/// Kills that must land with a run of compensations not finished.
const SAGA_KILLS: u64 = KILLS / 5;
const BAD: u64 = 1_000_000_000;

/// The effects file of this process: one connection, shared by the activities.
static EFFECTS: OnceLock<Mutex<Connection>> = OnceLock::new();

fn open_effects(path: &Path) -> Connection {
    let c = Connection::open(path).expect("effects db");
    c.busy_timeout(Duration::from_secs(10))
        .expect("busy timeout");
    // Neither table has a unique key: a second application of an effect would be a second
    // row, not an error. The rowid keeps the order in which effects were applied.
    c.execute_batch(
        "PRAGMA journal_mode=WAL;
         CREATE TABLE IF NOT EXISTS effects (key TEXT NOT NULL, parent INTEGER NOT NULL,
                                             what TEXT NOT NULL, k INTEGER NOT NULL,
                                             value INTEGER NOT NULL);
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

fn count_key(db: &Connection, sql: &str, key: &str) -> u64 {
    db.query_row(sql, [key], |r| r.get(0)).expect(sql)
}

/// Applies effect `what` of parent `n`'s item `k` once per idempotency key however often
/// the calling activity runs, logs the attempt (with whether it applied the effect), and
/// returns the effect's value. Then works a while: a kill then makes the call run again.
async fn record(ctx: &ActivityCtx, n: u64, what: &str, k: u64) -> Result<u64, ActivityError> {
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
                let v = effect_value(n, what, k);
                tx.execute(
                    "INSERT INTO effects (key, parent, what, k, value) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![key, n, what, k, v],
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
    tokio::time::sleep(Duration::from_millis(10 + (n * 7 + k * 3) % 20)).await;
    Ok(value)
}

/// The value of effect `what` of parent `n`'s item `k`.
fn effect_value(n: u64, what: &str, k: u64) -> u64 {
    n * 1000 + if what == "undo" { 100 } else { 0 } + k
}

/// A child run's work: item `k` of parent `n`.
#[activity]
async fn effect(ctx: ActivityCtx, input: (u64, u64)) -> Result<u64, ActivityError> {
    record(&ctx, input.0, "do", input.1).await
}

/// The compensation of item `k` of parent `n`.
#[activity]
async fn undo(ctx: ActivityCtx, input: (u64, u64)) -> Result<u64, ActivityError> {
    record(&ctx, input.0, "undo", input.1).await
}

/// Item `k` of parent `n`: calls `effect`, then sleeps a short durable timer.
#[workflow]
async fn kid(ctx: WorkflowCtx, input: (u64, u64)) -> u64 {
    let v = ctx.activity(effect, input).await.unwrap_or(BAD);
    ctx.sleep(Duration::from_millis(
        50 + (input.0 * 31 + input.1 * 17) % 150,
    ))
    .await;
    v
}

/// Fans out its children, builds a saga of their compensations, and waits for `go` or its
/// cancellation. Cancelled, or of even number, it compensates and fails; otherwise it returns
/// its children's outputs.
#[workflow]
async fn parent(ctx: WorkflowCtx, n: u64) -> Result<Vec<u64>, WorkflowError> {
    let calls: Vec<_> = (0..FAN_OUT).map(|k| ctx.child(kid, (n, k))).collect();
    let mut outputs: Vec<u64> = Vec::new();
    for out in ctx.join(calls).await {
        outputs.push(out.unwrap_or(BAD));
    }
    let mut saga = Saga::new();
    for k in 0..FAN_OUT {
        saga.add(undo, (n, k));
    }
    let _ = ctx
        .select((ctx.signal::<u32>("go"), ctx.cancellation()))
        .await;
    let cancelled = ctx.is_cancelled();
    if cancelled || n.is_multiple_of(2) {
        let report = saga.compensate(&ctx).await?;
        return Err(WorkflowError::msg(format!(
            "{}: {} compensations, all ok: {}",
            if cancelled { "cancelled" } else { "declined" },
            report.compensations.len(),
            report.all_succeeded()
        )));
    }
    Ok(outputs)
}

/// How parent `n` ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Cancelled by the test while it waits; compensates.
    Cancelled,
    /// Signalled, and of even number; compensates.
    Declined,
    /// Signalled, and of odd number; returns its children's outputs.
    Completed,
}

fn fate(n: u64) -> Fate {
    if n.is_multiple_of(3) {
        Fate::Cancelled
    } else if n.is_multiple_of(2) {
        Fate::Declined
    } else {
        Fate::Completed
    }
}

fn parent_id(n: u64) -> String {
    format!("p{n}")
}

/// Child `k` of parent `n`: the join's calls have sequence numbers 0, 1, 2.
fn kid_id(n: u64, k: u64) -> String {
    format!("p{n}/kid-{k}")
}

/// How many parents the child of run `run` (from 1; `KILLS + 1` is the last) starts.
fn starts(run: u64) -> u64 {
    (PARENTS * run).div_ceil(KILLS).min(PARENTS)
}

/// How many activity tasks the child holds leases on, over every run not finished: attempts
/// running, or finished with their results not yet committed. Right after a kill, the work
/// the kill interrupted.
async fn leased_tasks(store: &SqliteStore) -> usize {
    let mut leased = 0;
    let running = store
        .list_workflows(Some(WorkflowStatus::Running))
        .await
        .expect("list");
    for run in running {
        leased += store
            .load_tasks(&run.id)
            .await
            .expect("tasks")
            .iter()
            .filter(|t| t.lease_owner.as_deref() == Some(WORKER))
            .count();
    }
    leased
}

/// Whether run `id` exists and waits for signal `go`.
async fn waits_for_go(store: &SqliteStore, id: &str) -> bool {
    let Ok(rec) = store.load_workflow(id).await else {
        return false;
    };
    rec.pending
        .as_deref()
        .and_then(|p| postcard::from_bytes::<Pending>(p).ok())
        .is_some_and(|p| {
            p.leaves()
                .iter()
                .any(|l| matches!(l, Pending::Signal { name, .. } if name == "go"))
        })
}

/// Cancels every third parent, and signals the others, once each, as soon as it waits for
/// `go` (its children have ended): while children run, and while they are dead. Returns how
/// many cancels and signals it sent.
async fn cancel_or_signal(db: PathBuf, stop: Arc<AtomicBool>) -> (u64, u64) {
    let client = Client::new(SqliteStore::open(&db).expect("open"));
    let store = SqliteStore::open(&db).expect("open");
    let mut done = vec![false; PARENTS as usize];
    let (mut cancels, mut signals) = (0, 0);
    while !stop.load(Ordering::SeqCst) && done.iter().any(|d| !d) {
        for n in 0..PARENTS {
            let id = parent_id(n);
            if done[n as usize] || !waits_for_go(&store, &id).await {
                continue;
            }
            if fate(n) == Fate::Cancelled {
                client.cancel(&id).await.expect("cancel");
                cancels += 1;
            } else {
                client.signal(&id, "go", n as u32).await.expect("signal");
                signals += 1;
            }
            done[n as usize] = true;
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    (cancels, signals)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composed_workflows_survive_many_kills() {
    if std::env::var_os(CHILD).is_some() {
        child().await;
        return;
    }
    let begin = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("workflows.db");
    let effects = dir.path().join("effects.db");
    drop(open_effects(&effects));
    // The store exists before the sender reads it.
    drop(SqliteStore::open(&db).expect("create"));

    let store = Arc::new(SqliteStore::open(&db).expect("open"));
    let stop = Arc::new(AtomicBool::new(false));
    let sender = tokio::spawn(cancel_or_signal(db.clone(), stop.clone()));
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |lo: u64, hi: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        lo + rng % (hi - lo)
    };
    let mut mid_work_kills = 0;
    let mut saga_kills = 0;
    for kill in 1..=KILLS {
        let ready = dir.path().join(format!("ready-{kill}"));
        let mut child = spawn(&db, &effects, &ready, kill.is_multiple_of(2), starts(kill));
        support::eventually("the child started its parents", || async { ready.exists() }).await;
        // Let it work a while, then wait for work in flight (leased by this child: it took
        // back the last one's leases when it started) and kill it a moment later.
        tokio::time::sleep(Duration::from_millis(next(0, 80))).await;
        let deadline = Instant::now() + Duration::from_secs(2);
        while leased_tasks(&store).await == 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(next(0, 5))).await;
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let interrupted = leased_tasks(&store).await;
        if interrupted > 0 {
            mid_work_kills += 1;
        }
        let running = store
            .list_workflows(Some(WorkflowStatus::Running))
            .await
            .expect("list");
        let sagas = running
            .iter()
            .filter(|r| r.name == COMPENSATE_WORKFLOW)
            .count();
        if sagas > 0 {
            saga_kills += 1;
        }
        let e = open_effects(&effects);
        eprintln!(
            "kill {kill}: {interrupted} tasks in flight, {} runs not finished ({sagas} of them \
             compensating), {} effects applied, {} attempts so far",
            running.len(),
            count(&e, "SELECT COUNT(*) FROM effects"),
            count(&e, "SELECT COUNT(*) FROM attempts"),
        );
    }
    assert!(
        mid_work_kills >= MID_WORK_KILLS,
        "kills that landed with work in flight: {mid_work_kills} of {KILLS}"
    );
    assert!(
        saga_kills >= SAGA_KILLS,
        "kills that landed with compensations running: {saga_kills} of {KILLS}"
    );

    // The last run finishes everything.
    let ready = dir.path().join("ready-last");
    let mut child = spawn(&db, &effects, &ready, true, PARENTS);
    let finished = wait_with_timeout(&mut child, Duration::from_secs(60));
    stop.store(true, Ordering::SeqCst);
    let (cancels, signals) = sender.await.expect("the sender");
    assert!(finished, "the last run finished every parent");
    let cancelled = (0..PARENTS).filter(|n| fate(*n) == Fate::Cancelled).count() as u64;
    assert_eq!(
        (cancels, signals),
        (cancelled, PARENTS - cancelled),
        "every parent cancelled or signalled once"
    );

    let effects = open_effects(&effects);
    let mut expected_runs = BTreeSet::new();
    let mut expected_keys = 0u64;
    let mut reruns = 0u64;
    let mut check_key = |key: &str| {
        let rows = count_key(&effects, "SELECT COUNT(*) FROM effects WHERE key = ?1", key);
        assert_eq!(rows, 1, "effect of {key} applied once");
        let attempts = count_key(
            &effects,
            "SELECT COUNT(*) FROM attempts WHERE key = ?1",
            key,
        );
        let applying = count_key(
            &effects,
            "SELECT COUNT(*) FROM attempts WHERE key = ?1 AND applied = 1",
            key,
        );
        assert_eq!(applying, 1, "{key}: one attempt of {attempts} applied it");
        if attempts > 1 {
            reruns += 1;
        }
        expected_keys += 1;
    };
    let effect_name = <effect as Activity>::NAME;
    let undo_name = <undo as Activity>::NAME;
    for n in 0..PARENTS {
        let id = parent_id(n);
        expected_runs.insert(id.clone());
        let rec = store.load_workflow(&id).await.expect("load");
        let out: Result<Vec<u64>, WorkflowError> =
            postcard::from_bytes(&rec.output.clone().expect("output")).expect("decode");
        let history = store.history(&id).await.expect("history");
        let parent_wakes = woken_by(&id, &history, rec.version);
        let fate = fate(n);
        let (status, message) = match fate {
            Fate::Cancelled => (WorkflowStatus::Cancelled, Some("cancelled")),
            Fate::Declined => (WorkflowStatus::Failed, Some("declined")),
            Fate::Completed => (WorkflowStatus::Completed, None),
        };
        assert_eq!(rec.status, status, "{id} ({fate:?}): {history:#?}");
        match message {
            Some(m) => assert_eq!(
                out.map_err(|e| e.message),
                Err(format!("{m}: {FAN_OUT} compensations, all ok: true")),
                "{id}"
            ),
            None => assert_eq!(
                out,
                Ok((0..FAN_OUT).map(|k| effect_value(n, "do", k)).collect()),
                "{id}: the children's outputs"
            ),
        }

        // Each child: created once, completed once, its call and its timer consumed once.
        let mut wakes = Vec::new();
        for k in 0..FAN_OUT {
            let kid_run = kid_id(n, k);
            expected_runs.insert(kid_run.clone());
            wakes.push(format!("child kid#{k} ({kid_run}) ended"));
            let rec = store.load_workflow(&kid_run).await.expect("the child run");
            assert_eq!(rec.status, WorkflowStatus::Completed, "{kid_run}");
            assert_eq!(
                rec.parent.as_ref().map(|p| (p.id.as_str(), p.seq)),
                Some((id.as_str(), k)),
                "{kid_run}: its parent"
            );
            let out: u64 = postcard::from_bytes(&rec.output.expect("output")).expect("decode");
            assert_eq!(out, effect_value(n, "do", k), "{kid_run}");
            let history = store.history(&kid_run).await.expect("history");
            let kid_wakes = woken_by(&kid_run, &history, rec.version);
            assert_eq!(
                kid_wakes,
                vec![
                    format!("activity {effect_name}#0 ok"),
                    "timer#1".to_string()
                ],
                "{kid_run}: its call and its timer, once each"
            );
            check_key(&format!("{kid_run}:0"));
        }

        // The compensations: one run, its three calls once each, last added first.
        let saga_runs: Vec<String> = store
            .list_workflows(None)
            .await
            .expect("list")
            .into_iter()
            .filter(|r| r.id.starts_with(&format!("{id}/compensate-")))
            .map(|r| r.id)
            .collect();
        let undone: Vec<(String, u64)> = {
            let mut q = effects
                .prepare(
                    "SELECT key, k FROM effects WHERE parent = ?1 AND what = 'undo' ORDER BY rowid",
                )
                .expect("prepare");
            q.query_map([n], |r| Ok((r.get(0)?, r.get(1)?)))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows")
        };
        if fate == Fate::Completed {
            assert!(
                saga_runs.is_empty(),
                "{id} did not compensate: {saga_runs:?}"
            );
            assert!(undone.is_empty(), "{id} did not compensate: {undone:?}");
        } else {
            assert_eq!(saga_runs.len(), 1, "{id}: one run of compensations");
            let saga_run = &saga_runs[0];
            expected_runs.insert(saga_run.clone());
            let seq: u64 = saga_run
                .rsplit('-')
                .next()
                .and_then(|s| s.parse().ok())
                .expect("the call's sequence number");
            wakes.push(format!(
                "child {COMPENSATE_WORKFLOW}#{seq} ({saga_run}) ended"
            ));
            let rec = store.load_workflow(saga_run).await.expect("the saga run");
            assert_eq!(rec.status, WorkflowStatus::Completed, "{saga_run}");
            let history = store.history(saga_run).await.expect("history");
            let saga_wakes = woken_by(saga_run, &history, rec.version);
            assert_eq!(
                saga_wakes,
                (0..FAN_OUT)
                    .map(|j| format!("activity {undo_name}#{j} ok"))
                    .collect::<Vec<_>>(),
                "{saga_run}: each compensation once"
            );
            let keys: Vec<String> = (0..FAN_OUT).map(|j| format!("{saga_run}:{j}")).collect();
            for key in &keys {
                check_key(key);
            }
            assert_eq!(
                undone,
                keys.iter()
                    .cloned()
                    .zip((0..FAN_OUT).rev())
                    .collect::<Vec<_>>(),
                "{id}: each compensation once, last added first"
            );
        }
        // The wait: `go` (sequence number 3), or the cancellation (4, a timer due at once).
        wakes.push(
            if fate == Fate::Cancelled {
                "timer#4"
            } else {
                "signal go#3"
            }
            .to_string(),
        );
        // A cancelled parent: one request, its code told once, at the wait.
        let requests: Vec<&str> = history
            .iter()
            .filter(|e| e.kind == HistoryKind::CancelRequested)
            .map(|e| e.detail.as_str())
            .collect();
        if fate == Fate::Cancelled {
            assert_eq!(requests.len(), 2, "{id}: {requests:?}");
            assert!(
                requests[1].contains("; interrupted: timer#4;"),
                "{id}: {requests:?}"
            );
        } else {
            assert!(requests.is_empty(), "{id}: {requests:?}");
        }
        // What woke the parent's steps: each child's end, the signal or the cancellation, the
        // compensations' end, once each.
        let mut got: Vec<&String> = parent_wakes.iter().collect();
        got.sort();
        let mut want: Vec<&String> = wakes.iter().collect();
        want.sort();
        assert_eq!(got, want, "{id}: what woke its steps");
    }

    let runs: BTreeSet<String> = store
        .list_workflows(None)
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(runs, expected_runs, "no other run, none missing");
    let keys = count(&effects, "SELECT COUNT(DISTINCT key) FROM effects");
    assert_eq!(keys, expected_keys, "no effect under any other key");
    let attempts = count(&effects, "SELECT COUNT(*) FROM attempts");
    assert!(
        reruns > 0,
        "some calls ran again after a kill (and still applied their effect once)"
    );
    eprintln!(
        "compose crash test: {KILLS} kills ({mid_work_kills} with work in flight, {saga_kills} \
         with compensations running), {} runs, \
         {keys} activity calls, {attempts} attempts, {reruns} calls run more than once, each \
         effect applied once; {:.1} s",
        runs.len(),
        begin.elapsed().as_secs_f64()
    );
}

/// Whether `e` is the commit that told a run's code of a cancel request (the other
/// `CancelRequested` entry is the request, added with the event).
fn is_cancel_told(e: &HistoryEntry) -> bool {
    e.kind == HistoryKind::CancelRequested
        && (e.detail.contains("; interrupted: ") || e.detail.contains("cancelling already"))
}

/// What woke each of run `id`'s steps, in order, from its history; checks that every commit
/// (a step, the run's end, or telling its code of a cancel request) is one entry: none was
/// applied twice.
fn woken_by(id: &str, history: &[HistoryEntry], version: u64) -> Vec<String> {
    let commits = history
        .iter()
        .filter(|e| {
            is_cancel_told(e)
                || matches!(
                    e.kind,
                    HistoryKind::Step
                        | HistoryKind::Completed
                        | HistoryKind::Failed
                        | HistoryKind::Cancelled
                )
        })
        .count();
    assert_eq!(
        commits as u64, version,
        "{id}: every commit is one step, none applied twice: {history:#?}"
    );
    history
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                HistoryKind::Step
                    | HistoryKind::Completed
                    | HistoryKind::Failed
                    | HistoryKind::Cancelled
            )
        })
        .flat_map(|e| e.detail.split(" -> ").next().unwrap_or("").split(", "))
        .filter(|w| !w.is_empty() && *w != "start")
        .map(str::to_string)
        .collect()
}

fn spawn(db: &Path, effects: &Path, ready: &Path, restore_every_step: bool, starts: u64) -> Child {
    let exe = std::env::current_exe().expect("test binary");
    let mut command = Command::new(exe);
    if restore_every_step {
        command.env(RESTORE, "1");
    }
    command
        .args([
            "--exact",
            "composed_workflows_survive_many_kills",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("COMPOSE_CRASH_DB", db)
        .env("COMPOSE_CRASH_EFFECTS", effects)
        .env(READY, ready)
        .env(STARTS, starts.to_string())
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

/// The child: starts its parents (again: `start` is idempotent), says it is ready, and waits
/// for them all (their children and compensations end before they do).
async fn child() {
    let db = PathBuf::from(std::env::var_os("COMPOSE_CRASH_DB").expect("COMPOSE_CRASH_DB"));
    let effects =
        PathBuf::from(std::env::var_os("COMPOSE_CRASH_EFFECTS").expect("COMPOSE_CRASH_EFFECTS"));
    let ready = PathBuf::from(std::env::var_os(READY).expect(READY));
    let starts: u64 = std::env::var(STARTS)
        .expect(STARTS)
        .parse()
        .expect("a number");
    let _ = EFFECTS.set(Mutex::new(open_effects(&effects)));
    let rt = Runtime::builder(SqliteStore::open(&db).expect("open"))
        .workflow(parent)
        .workflow(kid)
        .activity(effect)
        .activity(undo)
        // The same name as the last child: its leases are taken back at once.
        .worker_id(WORKER)
        .restore_every_step(std::env::var_os(RESTORE).is_some())
        .lease_duration(Duration::from_secs(5))
        .poll_interval(Duration::from_millis(20))
        .build()
        .await
        .expect("build");
    let mut handles = Vec::new();
    for n in 0..starts {
        handles.push(rt.start(parent, parent_id(n), n).await.expect("start"));
    }
    std::fs::write(&ready, b"").expect("ready file");
    for h in handles {
        // Failed and cancelled parents answer an error: the test reads how each ended.
        let _ = h.result().await;
    }
    rt.shutdown().await;
}
