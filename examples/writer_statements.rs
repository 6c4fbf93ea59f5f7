//! What the SQLite store's writer spends per finished run, statement by statement, with its
//! schema and with variants of it: the measurements behind "Where the writer's time goes" in
//! the README.
//!
//! `cargo run --release --example writer_statements [-- --runs N --rounds R --variant V]`
//!
//! Each variant gets a new file of `N` sleeping runs (a million by default) in the store's
//! layout (the tables and indexes a timer's step touches, with rows of the timers benchmark's
//! sizes), synced to the disk before it is timed, so that the kernel's write-back of one
//! variant's file does not fall into another's timing. Then the statements of the step that
//! a fired timer finishes a run with (the workflow's update, the delete of its timer, of its
//! tasks and of its events, its history entry) run for a fifth of the runs in id order, 250
//! per transaction, as the writer batches them; the other four fifths are left asleep. Time
//! per run and per statement, in microseconds; `synchronous=OFF`, so that the disk's sync is
//! not in the figures (it does not differ between the variants). Variants:
//!
//! - `store`: the store's schema before version 9 (runs keyed by their text id, `WITHOUT
//!   ROWID`);
//! - `int-lookup`: runs keyed by an integer, found by their id's unique index at each step;
//! - `int-carried`: the same, the integer known to the step (carried by the runtime): the
//!   store's schema since version 9;
//! - `trigger`: the schema of `store`, the deletes done by a trigger on the finishing update;
//! - `open-status`: the schema of `store`, the status index without completed runs
//!   (`WHERE status <> 2`).
//!
//! Rounds alternate the variants; compare figures within a run (the machine is noisy).

use std::time::Instant;

use rusqlite::{Connection, params};

/// The variants, in the order each round runs them.
pub const VARIANTS: [&str; 5] = [
    "store",
    "int-lookup",
    "int-carried",
    "trigger",
    "open-status",
];

/// Runs finished per transaction.
const BATCH: i64 = 250;

/// The completed status's code in the store.
fn completed() -> i64 {
    workflow_rt::WorkflowStatus::Completed.code()
}

fn main() -> anyhow::Result<()> {
    let mut runs: i64 = 1_000_000;
    let mut rounds = 2;
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| anyhow::anyhow!("{a} needs a value"))?;
        match a.as_str() {
            "--runs" => runs = value.parse()?,
            "--rounds" => rounds = value.parse()?,
            "--variant" => {
                anyhow::ensure!(
                    VARIANTS.contains(&value.as_str()),
                    "unknown variant {value} (one of {VARIANTS:?})"
                );
                only = Some(value);
            }
            _ => anyhow::bail!("unknown argument {a} (--runs N, --rounds R, --variant V)"),
        }
    }
    println!(
        "{:<12} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}   (us per finished run; {} runs, {} finished)",
        "variant",
        "total",
        "lookup",
        "update",
        "timer",
        "tasks+ev",
        "history",
        "commit",
        runs,
        runs / 5
    );
    let variants: Vec<&str> = match &only {
        Some(v) => vec![v.as_str()],
        None => VARIANTS.to_vec(),
    };
    run_variants(&variants, runs, rounds, |v, t| {
        let total: f64 = t.iter().sum();
        println!(
            "{v:<12} {total:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            t[0], t[1], t[2], t[3], t[4], t[5]
        );
    })
}

/// Runs `rounds` rounds of every variant on files of `runs` runs, in a temporary directory,
/// and gives each variant's times (see [`finish`]) to `report` as they come.
pub fn run(runs: i64, rounds: usize, report: impl FnMut(&str, [f64; 6])) -> anyhow::Result<()> {
    run_variants(&VARIANTS, runs, rounds, report)
}

/// [`run`] for the given variants only.
fn run_variants(
    variants: &[&str],
    runs: i64,
    rounds: usize,
    mut report: impl FnMut(&str, [f64; 6]),
) -> anyhow::Result<()> {
    anyhow::ensure!(runs >= 5, "--runs must be at least 5");
    let dir = tempfile::tempdir()?;
    for _ in 0..rounds {
        for &v in variants {
            let path = dir.path().join(format!("{v}.db"));
            let conn = setup(&path, v, runs)?;
            report(v, finish(&conn, v, runs / 5)?);
            drop(conn);
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
    }
    Ok(())
}

/// Whether variant `v` keys runs by an integer.
fn int_keys(v: &str) -> bool {
    v.starts_with("int-")
}

/// A new file at `path` in variant `v`'s layout, holding `runs` sleeping runs (each with a
/// timer and a history entry), synced.
fn setup(path: &std::path::Path, v: &str, runs: i64) -> anyhow::Result<Connection> {
    let c = Connection::open(path)?;
    // The writer's settings in the store (see `SqliteStore`), the sync aside.
    c.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; PRAGMA cache_size=-65536; \
         PRAGMA wal_autocheckpoint=8000;",
    )?;
    let int = int_keys(v);
    let (key, column) = if int {
        ("rid INTEGER NOT NULL", "rid")
    } else {
        ("workflow_id TEXT NOT NULL", "workflow_id")
    };
    let runs_table = if int {
        "CREATE TABLE workflows (rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, \
             name TEXT NOT NULL, status INTEGER NOT NULL, input BLOB NOT NULL, \
             snapshot BLOB NOT NULL, version INTEGER NOT NULL, pending BLOB, output BLOB, \
             park_reason TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, \
             ready INTEGER NOT NULL, history_len INTEGER NOT NULL, parent_id TEXT, \
             parent_seq INTEGER);
         CREATE INDEX workflows_ready ON workflows(rid) WHERE ready = 1 AND status = 0;
         CREATE INDEX workflows_status ON workflows(status, rid);
         CREATE INDEX workflows_name ON workflows(name, rid);"
            .to_string()
    } else {
        let status_where = if v == "open-status" {
            format!(" WHERE status <> {}", completed())
        } else {
            String::new()
        };
        format!(
            "CREATE TABLE workflows (id TEXT NOT NULL PRIMARY KEY, name TEXT NOT NULL, \
                 status INTEGER NOT NULL, input BLOB NOT NULL, snapshot BLOB NOT NULL, \
                 version INTEGER NOT NULL, pending BLOB, output BLOB, park_reason TEXT, \
                 created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, \
                 ready INTEGER NOT NULL, history_len INTEGER NOT NULL, parent_id TEXT, \
                 parent_seq INTEGER) WITHOUT ROWID;
             CREATE INDEX workflows_ready ON workflows(id) WHERE ready = 1 AND status = 0;
             CREATE INDEX workflows_status ON workflows(status, id){status_where};
             CREATE INDEX workflows_name ON workflows(name, id);"
        )
    };
    c.execute_batch(&runs_table)?;
    c.execute_batch(&format!(
        "CREATE TABLE tasks ({key}, seq INTEGER NOT NULL, due INTEGER NOT NULL, \
             PRIMARY KEY ({column}, seq)) WITHOUT ROWID;
         CREATE INDEX tasks_due ON tasks(due);
         CREATE TABLE timers ({key}, seq INTEGER NOT NULL, fire_at INTEGER NOT NULL, \
             PRIMARY KEY ({column}, seq)) WITHOUT ROWID;
         CREATE INDEX timers_due ON timers(fire_at);
         CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, {key}, at INTEGER NOT NULL, \
             kind INTEGER NOT NULL, seq INTEGER, name TEXT, payload BLOB);
         CREATE INDEX events_workflow ON events({column}, id);
         CREATE TABLE history_log (seq INTEGER PRIMARY KEY, {key}, n INTEGER NOT NULL, \
             at INTEGER NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL);"
    ))?;
    if v == "trigger" {
        c.execute_batch(&format!(
            "CREATE TRIGGER finished AFTER UPDATE OF status ON workflows \
                 WHEN new.status = {} BEGIN \
                 DELETE FROM tasks WHERE workflow_id = new.id; \
                 DELETE FROM timers WHERE workflow_id = new.id; \
                 DELETE FROM events WHERE workflow_id = new.id; END;",
            completed()
        ))?;
    }
    c.execute_batch("BEGIN")?;
    {
        let mut run = c.prepare(
            "INSERT INTO workflows (id, name, status, input, snapshot, version, pending, \
                 created_at, updated_at, ready, history_len) \
             VALUES (?1, 'nap', 0, ?2, ?3, 1, ?4, 1, 1, 0, 1)",
        )?;
        let mut timer = c.prepare(&format!(
            "INSERT INTO timers ({column}, seq, fire_at) VALUES (?1, 1, ?2)"
        ))?;
        let mut entry = c.prepare(&format!(
            "INSERT INTO history_log ({column}, n, at, kind, detail) \
             VALUES (?1, 0, 1, 'started', 'started nap')"
        ))?;
        for i in 0..runs {
            let id = id_of(i);
            // Sizes of the timers benchmark's rows: input 6 bytes, snapshot 38, wait 8.
            run.execute(params![id, [1u8; 6], [2u8; 38], [3u8; 8]])?;
            if int {
                // The rowid the insert took: the run's integer key.
                let rid = c.last_insert_rowid();
                timer.execute(params![rid, 1000 + i])?;
                entry.execute(params![rid])?;
            } else {
                timer.execute(params![id, 1000 + i])?;
                entry.execute(params![id])?;
            }
        }
    }
    c.execute_batch("COMMIT; PRAGMA wal_checkpoint(TRUNCATE);")?;
    std::fs::File::open(path)?.sync_all()?;
    c.query_row("SELECT count(*) FROM workflows", [], |_| Ok(()))?;
    Ok(c)
}

fn id_of(i: i64) -> String {
    format!("t{i:08}")
}

/// Finishes the first `n` runs as a fired timer's step does, in batches; returns the time
/// per run of: the integer key's lookup, the update, the timer's delete, the tasks' and
/// events' deletes, the history entry, the commit (microseconds).
fn finish(c: &Connection, v: &str, n: i64) -> anyhow::Result<[f64; 6]> {
    let int = int_keys(v);
    let column = if int { "rid" } else { "workflow_id" };
    let by = if int { "rid" } else { "id" };
    let mut update = c.prepare(&format!(
        "UPDATE workflows SET status = ?3, snapshot = ?4, output = ?5, pending = NULL, \
             version = version + 1, updated_at = ?6, history_len = history_len + ?7, ready = 0 \
         WHERE {by} = ?1 AND version = ?2"
    ))?;
    let mut lookup = match v {
        "int-lookup" => Some(c.prepare("SELECT rid FROM workflows WHERE id = ?1")?),
        _ => None,
    };
    let mut timer = c.prepare(&format!("DELETE FROM timers WHERE {column} = ?1"))?;
    let mut tasks = c.prepare(&format!("DELETE FROM tasks WHERE {column} = ?1"))?;
    let mut events = c.prepare(&format!("DELETE FROM events WHERE {column} = ?1"))?;
    let mut entry = c.prepare(&format!(
        "INSERT INTO history_log ({column}, n, at, kind, detail) VALUES (?1, 0, ?2, ?3, ?4)"
    ))?;
    let deletes = v != "trigger";
    let mut spent = [0f64; 6];
    let mut lap = |i: usize, since: &mut Instant| {
        let now = Instant::now();
        spent[i] += (now - *since).as_secs_f64();
        *since = now;
    };
    let mut from = 0;
    while from < n {
        c.execute_batch("BEGIN IMMEDIATE")?;
        for i in from..(from + BATCH).min(n) {
            let id = id_of(i);
            let mut t = Instant::now();
            let key: rusqlite::types::Value = match (&mut lookup, int) {
                (Some(lookup), _) => lookup.query_row([&id], |r| r.get::<_, i64>(0))?.into(),
                // The rowids were taken in id order from 1.
                (None, true) => (i + 1).into(),
                (None, false) => id.into(),
            };
            lap(0, &mut t);
            let changed =
                update.execute(params![key, 1, completed(), [4u8; 32], [5u8; 6], 5, 1])?;
            anyhow::ensure!(changed == 1, "run {i} not updated");
            lap(1, &mut t);
            if deletes {
                timer.execute([&key])?;
                lap(2, &mut t);
                tasks.execute([&key])?;
                events.execute([&key])?;
                lap(3, &mut t);
            }
            entry.execute(params![key, 5, "completed", "completed nap"])?;
            lap(4, &mut t);
        }
        let mut t = Instant::now();
        c.execute_batch("COMMIT")?;
        lap(5, &mut t);
        from += BATCH;
    }
    // Every finished run's timer is gone, whoever deleted it.
    let left: i64 = c.query_row("SELECT count(*) FROM timers", [], |r| r.get(0))?;
    let runs: i64 = c.query_row("SELECT count(*) FROM workflows", [], |r| r.get(0))?;
    anyhow::ensure!(
        left == runs - n,
        "{left} timers left of {runs} runs, {n} finished"
    );
    Ok(spent.map(|s| s * 1e6 / n as f64))
}
