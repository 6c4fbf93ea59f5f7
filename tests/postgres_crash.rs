//! The crash test on PostgreSQL: three worker processes share one database (one schema) and run
//! 200 workflows with activities, timers and signals, while the parent kills one of them at
//! random with SIGKILL, 50 times in all or until no workflow is left running, and restarts it
//! at once; then it lets all three finish. Signals go out from a task of the parent all along. Then:
//! - most kills landed with work in flight: activity tasks leased by the killed process
//!   (attempts running, or results not yet committed), read from the database after the kill
//!   (at least 40);
//! - every workflow completed, with every call's result and every signal consumed exactly once
//!   and in order (its output lists them; its history names what woke each step);
//! - every activity's effect happened exactly once per idempotency key: the effects table (a
//!   SQLite file the three processes share) has no unique key, so a second application would
//!   show as a second row; a separate log of attempts (one row each, no unique key either)
//!   shows calls that ran more than once, after a kill, still applied once;
//! - no signal was lost or delivered twice;
//! - each process advanced workflows the others started: process `i` starts the workflows
//!   `w{n}` with `n % 3 == i`, and the attempts log names the process that ran each attempt.
//!
//! The children are this test binary, run again with `WORKFLOW_PG_CRASH_CHILD` set to their
//! index; each keeps its worker id across restarts (a restarted process takes back its own
//! leases at once; the others take over a dead one's after the 2 s lease). Half of the runs
//! restore every step from the store, so the two modes take over each other's workflows.

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
use workflow_rt::{PostgresStore, WorkflowStatus};

const TEST: &str = "three_workers_killed_many_times_on_postgres";
/// The index of a child process (0, 1 or 2).
const CHILD: &str = "WORKFLOW_PG_CRASH_CHILD";
/// Set for a child that restores every step from the store.
const RESTORE: &str = "WORKFLOW_PG_CRASH_RESTORE";
/// The file a child creates once it has taken back its leases (before it starts its workflows).
const READY: &str = "WORKFLOW_PG_CRASH_READY";
const URL: &str = "WORKFLOW_PG_CRASH_URL";
const SCHEMA: &str = "WORKFLOW_PG_CRASH_SCHEMA";
const EFFECTS_FILE: &str = "WORKFLOW_PG_CRASH_EFFECTS";
const CHILDREN: usize = 3;
const WORKFLOWS: u64 = 200;
/// Kills at most: the loop stops early once no workflow is left running (on a fast machine
/// the work can end before the last kills, which would then hit nothing).
const KILLS: usize = 50;
/// Kills that must land with work in flight (leased tasks of the victim).
const MID_WORK_KILLS: usize = 40;
/// Each round: a signal, a call, a join of two calls, a short timer. Enough work to outlast
/// the kills that must land in it on a fast machine (ten rounds were done after 39 kills, 38
/// of them mid-work, in a run on a quiet machine).
const ROUNDS: u64 = 15;
const BAD: u64 = 1_000_000_000;

fn worker(child: usize) -> String {
    format!("pg-crash-{child}")
}

/// The process that starts workflow `n`.
fn starter(n: u64) -> usize {
    (n % CHILDREN as u64) as usize
}

/// The effects file of this process: one connection, shared by the activity.
static EFFECTS: OnceLock<Mutex<Connection>> = OnceLock::new();
/// The worker id of this process, written into the attempts log.
static WORKER: OnceLock<String> = OnceLock::new();

fn open_effects(path: &Path) -> Connection {
    let c = Connection::open(path).expect("effects db");
    c.busy_timeout(Duration::from_secs(20))
        .expect("busy timeout");
    // Neither table has a unique key: a second application of an effect would be a second
    // row, not an error. (`synchronous = NORMAL` keeps every commit through a process kill.)
    c.execute_batch(
        "PRAGMA journal_mode=WAL;
         PRAGMA synchronous=NORMAL;
         CREATE TABLE IF NOT EXISTS effects (key TEXT NOT NULL, value INTEGER NOT NULL);
         CREATE INDEX IF NOT EXISTS effects_key ON effects(key);
         CREATE TABLE IF NOT EXISTS attempts (key TEXT NOT NULL, attempt INTEGER NOT NULL,
                                              applied INTEGER NOT NULL, worker TEXT NOT NULL);
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

/// Applies the effect of `key` (once: a second call finds its row) and logs the attempt.
fn apply_effect(key: &str, attempt: u32, input: (u64, u64)) -> Result<u64, ActivityError> {
    let db = EFFECTS
        .get()
        .ok_or_else(|| ActivityError::retryable("no effects db"))?;
    let who = WORKER
        .get()
        .ok_or_else(|| ActivityError::retryable("no worker id"))?;
    let mut db = db.lock().unwrap_or_else(|e| e.into_inner());
    // Immediate: the write lock is taken first, so two processes cannot both find no row.
    let tx = db
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| ActivityError::retryable(e.to_string()))?;
    let existing: Option<u64> = tx
        .query_row("SELECT value FROM effects WHERE key = ?1", [key], |r| {
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
        "INSERT INTO attempts (key, attempt, applied, worker) VALUES (?1, ?2, ?3, ?4)",
        params![key, attempt, existing.is_none(), who],
    )
    .map_err(|e| ActivityError::retryable(e.to_string()))?;
    tx.commit()
        .map_err(|e| ActivityError::retryable(e.to_string()))?;
    Ok(value)
}

/// An activity with an effect (a row keyed by the idempotency key) that is applied once
/// however often, and by whichever process, the activity runs. Every attempt that gets this
/// far is logged, with whether it applied the effect and the process that ran it.
#[activity]
async fn effect(ctx: ActivityCtx, input: (u64, u64)) -> Result<u64, ActivityError> {
    let key = ctx.idempotency_key();
    let attempt = ctx.attempt();
    // The effects file's lock is taken by three processes: waiting for it blocks, and is done
    // on a blocking thread, not on one of the runtime's, whose other work (the lease
    // renewals among it) would wait meanwhile.
    let value = tokio::task::spawn_blocking(move || apply_effect(&key, attempt, input))
        .await
        .map_err(|e| ActivityError::retryable(e.to_string()))??;
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

/// A plain connection to the test's schema, to count leases in one query (the store answers
/// per workflow).
async fn raw(url: &str, schema: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("raw connect");
    tokio::spawn(conn);
    client
        .batch_execute(&format!("SET search_path = {schema}"))
        .await
        .expect("search_path");
    client
}

/// Prints the server's sessions and the locks they wait for, for a child that hangs.
async fn describe_sessions(db: &tokio_postgres::Client) {
    let rows = db
        .query(
            "SELECT pid, application_name, state, coalesce(wait_event_type, ''), \
             coalesce(wait_event, ''), coalesce(now() - xact_start, '0'::interval)::text, \
             pg_blocking_pids(pid)::text, left(query, 160) \
             FROM pg_stat_activity WHERE datname = current_database() ORDER BY pid",
            &[],
        )
        .await;
    match rows {
        Ok(rows) => {
            eprintln!("{} sessions:", rows.len());
            for r in rows {
                let (pid, app, state): (i32, Option<String>, Option<String>) =
                    (r.get(0), r.get(1), r.get(2));
                let (wt, we, age, blockers, query): (
                    String,
                    String,
                    String,
                    String,
                    Option<String>,
                ) = (r.get(3), r.get(4), r.get(5), r.get(6), r.get(7));
                eprintln!(
                    "  {pid} {app:?} {state:?} wait {wt}/{we} xact {age} blocked by {blockers}: {query:?}"
                );
            }
        }
        Err(e) => eprintln!("cannot list the sessions: {e}"),
    }
}

/// Prints what the workflows that have not finished wait for, and their rows, for a failure.
async fn describe_unfinished(db: &tokio_postgres::Client) {
    let rows = db
        .query(
            "SELECT id, status, version, ready, last_event, history_len FROM workflows \
             WHERE status <> 1 ORDER BY id LIMIT 10",
            &[],
        )
        .await
        .expect("unfinished");
    eprintln!("{} unfinished workflows (first 10):", rows.len());
    for r in rows {
        let id: String = r.get(0);
        let (status, version, ready, last, hist): (i16, i64, bool, i64, i64) =
            (r.get(1), r.get(2), r.get(3), r.get(4), r.get(5));
        eprintln!(
            "  {id}: status {status}, version {version}, ready {ready}, last_event {last}, history {hist}"
        );
        for t in db
            .query(
                "SELECT seq, attempt, lease_owner, lease_until, visible_at, due FROM tasks WHERE workflow_id = $1",
                &[&id],
            )
            .await
            .expect("tasks")
        {
            let (seq, attempt, owner, until, visible, due): (i64, i64, Option<String>, Option<i64>, i64, i64) =
                (t.get(0), t.get(1), t.get(2), t.get(3), t.get(4), t.get(5));
            eprintln!("    task {seq}: attempt {attempt}, owner {owner:?}, lease until {until:?}, visible {visible}, due {due}");
        }
        for e in db
            .query(
                "SELECT id, kind, seq, name FROM events WHERE workflow_id = $1",
                &[&id],
            )
            .await
            .expect("events")
        {
            let (eid, kind, seq, name): (i64, i16, Option<i64>, Option<String>) =
                (e.get(0), e.get(1), e.get(2), e.get(3));
            eprintln!("    event {eid}: kind {kind}, seq {seq:?}, name {name:?}");
        }
        for t in db
            .query(
                "SELECT seq, fire_at FROM timers WHERE workflow_id = $1",
                &[&id],
            )
            .await
            .expect("timers")
        {
            let (seq, at): (i64, i64) = (t.get(0), t.get(1));
            eprintln!("    timer {seq}: fires at {at}");
        }
        for h in db
            .query(
                "SELECT n, kind, detail FROM history WHERE workflow_id = $1 ORDER BY n DESC LIMIT 4",
                &[&id],
            )
            .await
            .expect("history")
        {
            let (n, kind, detail): (i64, String, String) = (h.get(0), h.get(1), h.get(2));
            eprintln!("    history {n} {kind}: {detail}");
        }
    }
}

/// How many activity tasks `worker` holds leases on: attempts running, or finished with their
/// results not yet committed. Right after a kill, the work the kill interrupted.
async fn leased_tasks(db: &tokio_postgres::Client, worker: &str) -> i64 {
    db.query_one(
        "SELECT COUNT(*) FROM tasks WHERE lease_owner = $1",
        &[&worker],
    )
    .await
    .expect("count leases")
    .get(0)
}

/// Sends each workflow its next signal whenever it waits for one and has none buffered, until
/// every workflow has had all of its own: the signals go out while children run, and while
/// they are dead. Returns how many it sent.
async fn send_signals(url: String, schema: String, stop: Arc<AtomicBool>) -> u64 {
    let connect = || {
        PostgresStore::builder(url.clone())
            .schema(schema.clone())
            .connect()
    };
    let client = Runtime::builder(connect().await.expect("connect"))
        .build()
        .await
        .expect("client");
    let store = connect().await.expect("connect");
    let mut sent = vec![0u64; WORKFLOWS as usize];
    while !stop.load(Ordering::SeqCst) && sent.iter().any(|&s| s < ROUNDS) {
        for n in 0..WORKFLOWS {
            let id = format!("w{n}");
            if sent[n as usize] == ROUNDS {
                continue;
            }
            // (Not there until its child starts it.)
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
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    client.shutdown().await;
    sent.iter().sum()
}

/// One of the three worker processes, with the ready file of its current run.
struct Worker {
    index: usize,
    process: Child,
    ready: PathBuf,
    /// What the current run writes to stderr, shown when it does not finish.
    log: PathBuf,
    runs: usize,
}

struct Paths<'a> {
    url: &'a str,
    schema: &'a str,
    effects: &'a Path,
    dir: &'a Path,
}

impl Worker {
    fn spawn(paths: &Paths<'_>, index: usize, runs: usize) -> Worker {
        let ready = paths.dir.join(format!("ready-{index}-{runs}"));
        let log = paths.dir.join(format!("log-{index}-{runs}"));
        let exe = std::env::current_exe().expect("test binary");
        let mut command = Command::new(exe);
        // Half of the runs restore every step from the store, alternately per process.
        if (index + runs) % 2 == 1 {
            command.env(RESTORE, "1");
        }
        let process = command
            .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
            .env(CHILD, index.to_string())
            .env(URL, paths.url)
            .env(SCHEMA, paths.schema)
            .env(EFFECTS_FILE, paths.effects)
            .env(READY, &ready)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("the child's log"))
            .spawn()
            .expect("spawn a child");
        Worker {
            index,
            process,
            ready,
            log,
            runs,
        }
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.ready.exists() {
            assert!(
                Instant::now() < deadline,
                "child {} did not start its workflows",
                self.index
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_killed_many_times_on_postgres() {
    if std::env::var_os(CHILD).is_some() {
        child().await;
        return;
    }
    let Some(server) = support::postgres::server(TEST) else {
        return;
    };
    let begin = Instant::now();
    let url = server.url();
    let schema = support::postgres::fresh_schema("crash_three_workers");
    let dir = tempfile::tempdir().expect("tempdir");
    let effects_path = dir.path().join("effects.db");
    drop(open_effects(&effects_path));
    // The schema exists before the children and the signal sender use it.
    let store = PostgresStore::builder(url.clone())
        .schema(schema.clone())
        .connect()
        .await
        .expect("connect");
    let db = raw(&url, &schema).await;
    let paths = Paths {
        url: &url,
        schema: &schema,
        effects: &effects_path,
        dir: dir.path(),
    };

    let stop = Arc::new(AtomicBool::new(false));
    let sender = tokio::spawn(send_signals(url.clone(), schema.clone(), stop.clone()));
    let mut workers: Vec<Worker> = (0..CHILDREN).map(|i| Worker::spawn(&paths, i, 0)).collect();
    for w in &workers {
        w.wait_ready().await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.list_workflows(None).await.expect("list").len() < WORKFLOWS as usize {
        assert!(
            Instant::now() < deadline,
            "the children started every workflow"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!(
        "every workflow started; {:.1} s",
        begin.elapsed().as_secs_f64()
    );
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |lo: u64, hi: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        lo + rng % (hi - lo)
    };
    let mut mid_work_kills = 0;
    let mut kills = 0;
    for kill in 1..=KILLS {
        let victim = next(0, CHILDREN as u64) as usize;
        let w = &mut workers[victim];
        // Its current run has taken back the last one's leases: the leases it holds from now
        // on are its own work.
        w.wait_ready().await;
        tokio::time::sleep(Duration::from_millis(next(0, 200))).await;
        let deadline = Instant::now() + Duration::from_secs(2);
        while leased_tasks(&db, &worker(victim)).await == 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(next(0, 4))).await;
        w.process.kill().expect("SIGKILL");
        w.process.wait().expect("reap");
        let interrupted = leased_tasks(&db, &worker(victim)).await;
        if interrupted > 0 {
            mid_work_kills += 1;
        }
        let running = store
            .list_workflows(Some(WorkflowStatus::Running))
            .await
            .expect("list")
            .len();
        kills = kill;
        // Restarted at once, under the same worker id.
        let runs = w.runs + 1;
        *w = Worker::spawn(&paths, victim, runs);
        let e = open_effects(&effects_path);
        eprintln!(
            "kill {kill} (child {victim}, run {runs}): {interrupted} tasks in flight, {running} \
             workflows running, {} effects applied, {} attempts so far; {:.1} s",
            count(&e, "SELECT COUNT(*) FROM effects"),
            count(&e, "SELECT COUNT(*) FROM attempts"),
            begin.elapsed().as_secs_f64()
        );
        if running == 0 {
            break;
        }
    }

    // The last runs finish everything: each exits once every workflow has completed.
    // (A bound against a hang, not a timing, shared by the three: on a machine whose two cores
    // are saturated, three debug-built workers and the server have been seen to take minutes
    // to drain what the kills left.)
    let mut finished = Vec::new();
    let until = Instant::now() + Duration::from_secs(600);
    for w in &mut workers {
        let end = wait_with_timeout(
            &mut w.process,
            until.saturating_duration_since(Instant::now()),
        );
        if end != End::Exited(true) {
            let log = std::fs::read_to_string(&w.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!(
                "child {} (run {}): {end:?}; the end of its output:",
                w.index, w.runs
            );
            for line in tail.iter().rev() {
                eprintln!("  | {line}");
            }
        }
        if end == End::TimedOut {
            describe_sessions(&db).await;
            let _ = w.process.kill();
            let _ = w.process.wait();
        }
        finished.push(end == End::Exited(true));
    }
    stop.store(true, Ordering::SeqCst);
    if finished != vec![true; CHILDREN] {
        describe_unfinished(&db).await;
    }
    let signals_sent = sender.await.expect("the sender");
    assert_eq!(
        finished,
        vec![true; CHILDREN],
        "the last runs finished every workflow"
    );
    assert_eq!(signals_sent, WORKFLOWS * ROUNDS, "every signal sent once");
    assert!(
        mid_work_kills >= MID_WORK_KILLS,
        "kills that landed with work in flight: {mid_work_kills} of {kills}"
    );

    let effects = open_effects(&effects_path);
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

    // Each process advanced workflows the others started, and each process's workflows were
    // advanced by the others: calls of workflow `w{n}` (started by `starter(n)`) that another
    // process ran.
    let mut ran_by = vec![vec![0u64; CHILDREN]; CHILDREN];
    {
        let mut stmt = effects
            .prepare("SELECT key, worker FROM attempts")
            .expect("attempts");
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .expect("attempts");
        for row in rows {
            let (key, who) = row.expect("attempt");
            let n: u64 = key
                .strip_prefix('w')
                .and_then(|k| k.split(':').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("a key of another form: {key}"));
            let runner = (0..CHILDREN)
                .find(|&c| worker(c) == who)
                .unwrap_or_else(|| panic!("an attempt by an unknown worker: {who}"));
            ran_by[starter(n)][runner] += 1;
        }
    }
    for c in 0..CHILDREN {
        let for_others: u64 = (0..CHILDREN)
            .filter(|&s| s != c)
            .map(|s| ran_by[s][c])
            .sum();
        let by_others: u64 = (0..CHILDREN)
            .filter(|&r| r != c)
            .map(|r| ran_by[c][r])
            .sum();
        assert!(
            for_others > 0,
            "child {c} ran calls of workflows the others started ({ran_by:?})"
        );
        assert!(
            by_others > 0,
            "the others ran calls of workflows child {c} started ({ran_by:?})"
        );
    }
    eprintln!(
        "postgres crash test: {kills} kills ({mid_work_kills} with work in flight), {keys} \
         activity calls, {attempts} attempts, {reruns} calls run more than once, each effect \
         applied once; attempts by starter (rows) and runner (columns): {ran_by:?}; {:.1} s",
        begin.elapsed().as_secs_f64()
    );
}

/// How a child's run ended.
#[derive(Debug, PartialEq)]
enum End {
    /// It exited, successfully or not.
    Exited(bool),
    /// It was still running at the limit, and was killed.
    TimedOut,
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> End {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return End::Exited(status.success());
        }
        if start.elapsed() > limit {
            return End::TimedOut;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A child: takes back its leases, says it is ready, starts its third of the workflows
/// (again: `start` is idempotent), works on every workflow it can claim, and exits once all of them have completed.
async fn child() {
    let index: usize = std::env::var(CHILD)
        .expect(CHILD)
        .parse()
        .expect("child index");
    let url = std::env::var(URL).expect(URL);
    let schema = std::env::var(SCHEMA).expect(SCHEMA);
    let effects = PathBuf::from(std::env::var_os(EFFECTS_FILE).expect(EFFECTS_FILE));
    let ready = PathBuf::from(std::env::var_os(READY).expect(READY));
    let _ = EFFECTS.set(Mutex::new(open_effects(&effects)));
    let _ = WORKER.set(worker(index));
    let connect = || {
        PostgresStore::builder(url.clone())
            .schema(schema.clone())
            .connect()
    };
    let rt = Runtime::builder(connect().await.expect("connect"))
        .workflow(crashy)
        .activity(effect)
        // The same name as this process's last run: its leases are taken back at once.
        .worker_id(worker(index))
        .restore_every_step(std::env::var_os(RESTORE).is_some())
        .lease_duration(Duration::from_secs(2))
        .poll_interval(Duration::from_millis(20))
        .build()
        .await
        .expect("build");
    eprintln!("child {index}: built");
    // From here on, the leases this worker id holds are this run's.
    std::fs::write(&ready, b"").expect("ready file");
    for n in (0..WORKFLOWS).filter(|&n| starter(n) == index) {
        rt.start(crashy, format!("w{n}"), n).await.expect("start");
    }
    eprintln!("child {index}: started its workflows");
    let store = connect().await.expect("connect");
    let mut last = None;
    let mut polls = 0u64;
    loop {
        let done = store
            .list_workflows(Some(WorkflowStatus::Completed))
            .await
            .map(|l| l.len() as u64);
        let seen = format!("{done:?}");
        polls += 1;
        if last.as_ref() != Some(&seen) || polls.is_multiple_of(50) {
            eprintln!("child {index}: completed workflows: {seen} (poll {polls})");
            last = Some(seen);
        }
        if done.is_ok_and(|d| d == WORKFLOWS) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("child {index}: shutting down");
    rt.shutdown().await;
    eprintln!("child {index}: shut down");
}
