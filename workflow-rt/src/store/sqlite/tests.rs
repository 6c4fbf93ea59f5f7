//! The writer's two paths (a caller's own thread when nothing is pending, the writer thread
//! otherwise), when the history log is moved, and the plans of the reads that poll.

use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use super::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn here() -> ThreadId {
    std::thread::current().id()
}

/// Where a write ran, and a log of the writes in the order they ran.
fn note(
    store: &SqliteStore,
    log: &Arc<Mutex<Vec<&'static str>>>,
    name: &'static str,
) -> StoreFuture<'static, ThreadId> {
    let log = log.clone();
    store.write(move |_| {
        log.lock().expect("log").push(name);
        Ok(here())
    })
}

#[test]
fn a_write_runs_on_its_callers_thread_when_nothing_is_pending() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path().join("a.db")).expect("open");
    let log = Arc::new(Mutex::new(Vec::new()));
    let rt = runtime();
    for name in ["first", "second"] {
        let ran = rt.block_on(note(&store, &log, name)).expect("write");
        assert_eq!(ran, here());
    }
    assert_eq!(*log.lock().expect("log"), ["first", "second"]);
    // And what it wrote is committed: another connection reads it.
    rt.block_on(store.write(|w: &Writer| {
        w.execute_batch("CREATE TABLE scratch (v INTEGER); INSERT INTO scratch VALUES (7);")
            .db()
    }))
    .expect("write");
    let other = Connection::open(dir.path().join("a.db")).expect("open");
    let n: i64 = other
        .query_row("SELECT SUM(v) FROM scratch", [], |r| r.get(0))
        .expect("read");
    assert_eq!(n, 7);
}

/// While the writer is busy, writes queue for it, run on its thread in the order they were
/// sent, and none overtakes another; once the load is a lone caller's again, writes run in
/// place again.
#[test]
fn writes_sent_while_the_writer_is_busy_keep_their_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path().join("b.db")).expect("open");
    let log = Arc::new(Mutex::new(Vec::new()));
    let rt = runtime();
    let (a, b, c) = {
        // The writer's connection taken, as during a batch.
        let busy = store.shared.state.lock().expect("state");
        let a = note(&store, &log, "a");
        let b = note(&store, &log, "b");
        let c = note(&store, &log, "c");
        assert!(log.lock().expect("log").is_empty(), "nothing ran yet");
        drop(busy);
        (a, b, c)
    };
    let ran = rt.block_on(async { (a.await, b.await, c.await) });
    let writer = [ran.0.expect("a"), ran.1.expect("b"), ran.2.expect("c")];
    assert!(
        writer.iter().all(|t| *t != here()),
        "queued writes ran on the writer thread"
    );
    assert_eq!(*log.lock().expect("log"), ["a", "b", "c"]);
    settled(&store);
    // The three were one transaction: the load is not a lone caller's, and the next write,
    // though it finds nothing pending, goes to the writer too. Then, after a transaction of
    // one, writes run in place again.
    assert_ne!(rt.block_on(note(&store, &log, "d")).expect("d"), here());
    settled(&store);
    assert_eq!(rt.block_on(note(&store, &log, "e")).expect("e"), here());
}

/// Waits until the writer thread is done with its last batch: it answers the batch's callers
/// before it counts the jobs as answered and lets go of the connection, so a caller can see
/// its answer while the batch is still pending (and its next write then queues, as it should).
fn settled(store: &SqliteStore) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store.shared.pending.load(Ordering::Acquire) != 0
        || store.shared.state.try_lock().is_err()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the writer never settled"
        );
        std::thread::yield_now();
    }
}

/// A write does not wait on its caller's thread for another connection's write lock (another
/// process on the same file): it goes to the writer thread, which waits. (Waiting in place, the
/// call would return only after the busy timeout, 20 s here, as this thread holds the lock.)
#[test]
fn a_write_waits_for_another_connections_lock_on_the_writer_thread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.db");
    let store = SqliteStore::builder(&path)
        .busy_timeout(Duration::from_secs(20))
        .open()
        .expect("open");
    let log = Arc::new(Mutex::new(Vec::new()));
    let rt = runtime();
    let other = Connection::open(&path).expect("open");
    other.execute_batch("BEGIN IMMEDIATE").expect("lock");
    let sent = std::time::Instant::now();
    let queued = note(&store, &log, "after the lock");
    assert!(
        sent.elapsed() < Duration::from_secs(10),
        "the call waited for the lock"
    );
    other.execute_batch("COMMIT").expect("unlock");
    let ran = rt
        .block_on(queued)
        .expect("the write, once the lock is let go");
    assert_ne!(ran, here());
    assert_eq!(*log.lock().expect("log"), ["after the lock"]);
}

/// A write that panics in place fails with a typed error, rolls back what it wrote, and
/// leaves the store usable, in place again.
#[test]
fn a_write_that_panics_in_place_fails_and_the_next_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path().join("d.db")).expect("open");
    let rt = runtime();
    let panicked = rt.block_on(store.write(|w: &Writer| -> Result<(), StoreError> {
        w.execute("DELETE FROM workflows", []).db()?;
        panic!("a bug in an operation")
    }));
    assert!(
        matches!(panicked, Err(StoreError::Backend(_))),
        "{panicked:?}"
    );
    assert_eq!(store.shared.pending.load(Ordering::Acquire), 0);
    let log = Arc::new(Mutex::new(Vec::new()));
    assert_eq!(
        rt.block_on(note(&store, &log, "next")).expect("next"),
        here()
    );
}

/// A batch whose transaction SQLite ended mid-way (a full disk: the statement that found it
/// full rolled the whole transaction back) runs none of its later operations: each is told
/// the batch rolled back, and none of them wrote. (They ran outside any transaction before,
/// each statement committed on its own, and were told they failed: a step half written.)
#[test]
fn the_operations_after_one_that_ended_the_transaction_do_not_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("full.db");
    let store = SqliteStore::open(&path).expect("open");
    let rt = runtime();
    rt.block_on(store.write(|w: &Writer| w.execute_batch("CREATE TABLE scratch (v BLOB)").db()))
        .expect("create");
    settled(&store);
    let insert = |v: Vec<u8>| {
        store.write(move |w: &Writer| {
            w.execute("INSERT INTO scratch (v) VALUES (?1)", [v]).db()?;
            Ok(w.is_autocommit())
        })
    };
    let (first, full, after) = {
        let busy = store.shared.state.lock().expect("state");
        let first = insert(vec![1]);
        // The file may not grow: the next insert that needs pages finds the disk full.
        let full = store.write(|w: &Writer| {
            let pages: i64 = w.query_row("PRAGMA page_count", [], |r| r.get(0)).db()?;
            w.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
                .db()?;
            let r = w.execute("INSERT INTO scratch (v) VALUES (?1)", [vec![2u8; 100_000]]);
            assert!(w.is_autocommit(), "SQLite ended the transaction: {r:?}");
            r.db()
        });
        let after = insert(vec![3]);
        drop(busy);
        (first, full, after)
    };
    let (first, full, after) = rt.block_on(async { (first.await, full.await, after.await) });
    assert!(matches!(first, Err(StoreError::Backend(_))), "{first:?}");
    assert!(matches!(full, Err(StoreError::Backend(_))), "{full:?}");
    assert!(
        matches!(after, Err(StoreError::Backend(_))),
        "the operation after it did not run: {after:?}"
    );
    settled(&store);
    rt.block_on(store.write(|w: &Writer| {
        w.query_row("PRAGMA max_page_count = 1073741823", [], |_| Ok(()))
            .db()
    }))
    .expect("room again");
    let other = Connection::open(&path).expect("open");
    let n: i64 = other
        .query_row("SELECT COUNT(*) FROM scratch", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 0, "nothing of the batch was written");
    // And the next write works, in a transaction of its own.
    let autocommit = rt.block_on(insert(vec![4])).expect("next");
    assert!(!autocommit, "the next write ran in a transaction");
}

/// A new store `name` with a table `scratch (v INTEGER)`, then one batch of three writes: an
/// insert of 1, `middle`, an insert of 3. The directory (kept while the file is read), the file
/// and the three results.
fn batch_around(
    name: &str,
    middle: impl FnOnce(&Writer) -> Result<(), StoreError> + Send + 'static,
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    [Result<(), StoreError>; 3],
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    let store = SqliteStore::open(&path).expect("open");
    let rt = runtime();
    rt.block_on(store.write(|w: &Writer| w.execute_batch("CREATE TABLE scratch (v INTEGER)").db()))
        .expect("create");
    settled(&store);
    let insert = |v: i64| {
        store.write(move |w: &Writer| {
            w.execute("INSERT INTO scratch (v) VALUES (?1)", [v]).db()?;
            Ok(())
        })
    };
    let (first, middle, after) = {
        let busy = store.shared.state.lock().expect("state");
        let first = insert(1);
        let middle = store.write(middle);
        let after = insert(3);
        drop(busy);
        (first, middle, after)
    };
    let (first, middle, after) = rt.block_on(async { (first.await, middle.await, after.await) });
    (dir, path, [first, middle, after])
}

/// An operation that fails before it changed a row (here a damaged row, read first) fails
/// alone: the operations of its batch before and after it are committed. (The whole batch
/// rolled back before, so that a request that kept coming back for a damaged run kept
/// failing every other write batched with it.)
#[test]
fn an_operation_that_fails_before_it_writes_fails_alone() {
    let (_dir, path, [first, damaged, after]) = batch_around("alone.db", |w: &Writer| {
        let n: i64 = w
            .query_row("SELECT COUNT(*) FROM scratch", [], |r| r.get(0))
            .db()?;
        Err(corrupt(
            "a row of the test",
            format!("{n} rows, none readable"),
        ))
    });
    assert!(first.is_ok(), "{first:?}");
    assert!(
        matches!(damaged, Err(StoreError::Corrupt(_))),
        "{damaged:?}"
    );
    assert!(after.is_ok(), "{after:?}");
    let other = Connection::open(&path).expect("open");
    let sum: i64 = other
        .query_row("SELECT SUM(v) FROM scratch", [], |r| r.get(0))
        .expect("sum");
    assert_eq!(sum, 4);
}

/// An operation that fails after it changed a row rolls its batch back: its own changes
/// cannot be taken back alone.
#[test]
fn an_operation_that_fails_after_it_wrote_rolls_its_batch_back() {
    let (_dir, path, [first, half, after]) = batch_around("spoiled.db", |w: &Writer| {
        w.execute("INSERT INTO scratch (v) VALUES (2)", []).db()?;
        Err(corrupt("a row of the test", "found after a write"))
    });
    assert!(matches!(first, Err(StoreError::Backend(_))), "{first:?}");
    assert!(matches!(half, Err(StoreError::Corrupt(_))), "{half:?}");
    assert!(matches!(after, Err(StoreError::Backend(_))), "{after:?}");
    let other = Connection::open(&path).expect("open");
    let n: i64 = other
        .query_row("SELECT COUNT(*) FROM scratch", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 0);
}

/// With `writes_in_place(false)`, every write goes to the writer thread.
#[test]
fn writes_in_place_can_be_turned_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::builder(dir.path().join("e.db"))
        .writes_in_place(false)
        .open()
        .expect("open");
    let log = Arc::new(Mutex::new(Vec::new()));
    let rt = runtime();
    for name in ["first", "second"] {
        assert_ne!(
            rt.block_on(note(&store, &log, name)).expect("write"),
            here()
        );
    }
    assert_eq!(*log.lock().expect("log"), ["first", "second"]);
}

/// Appends `each` history entries for each of `runs` runs to the log, run after run in turn
/// (as runs stepping at once append them), each at a time past those of the entries before.
fn append_log(conn: &Connection, runs: usize, each: usize) {
    let mut at: i64 = conn
        .query_row("SELECT COALESCE(MAX(at), 0) FROM history_log", [], |r| {
            r.get(0)
        })
        .expect("last time");
    conn.execute_batch("BEGIN").expect("begin");
    for _ in 0..each {
        for r in 0..runs {
            at += 1;
            conn.execute(INSERT_HISTORY, params![format!("run-{r}"), at, "step", ""])
                .expect("append");
        }
    }
    conn.execute_batch("COMMIT").expect("commit");
}

fn count(conn: &Connection, table: &str) -> i64 {
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .expect("count")
}

/// The entries of the log past its indexed part.
fn unindexed(conn: &Connection) -> i64 {
    conn.query_row(
        "SELECT COALESCE((SELECT MAX(seq) FROM history_log), 0) \
                - (SELECT indexed FROM history_base)",
        [],
        |r| r.get(0),
    )
    .expect("unindexed")
}

/// Appends as [`append_log`] does, lets the writer's housekeeping look at the log, and gives
/// the entries left past its indexed part.
fn append_and_look(conn: &Connection, next_look: &mut i64, runs: usize, each: usize) -> i64 {
    append_log(conn, runs, each);
    index_history(conn, next_look);
    unindexed(conn)
}

/// The times of run `id`'s history entries, as the store reads them.
fn times_of(conn: &Connection, id: &str) -> Vec<i64> {
    conn.prepare(HISTORY_OF_RUN)
        .expect("prepare")
        .query_map([id], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// The history log is indexed once it holds enough entries per run: a log of 4 200 entries
/// of 50 runs is indexed, one of 8 000 entries of 200 runs waits for 64 per run, and a log of
/// one entry for each of 66 000 runs is indexed at the most the log holds unindexed. The
/// entries stay where steps wrote them.
#[test]
fn the_history_log_is_indexed_by_the_entries_it_holds_per_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _store = SqliteStore::open(dir.path().join("h.db")).expect("open");
    let conn = Connection::open(dir.path().join("h.db")).expect("open");

    let mut next_look = HISTORY_LOG_ROWS;
    assert_eq!(append_and_look(&conn, &mut next_look, 50, 84), 0);
    assert_eq!(count(&conn, "history_log"), 4200, "the entries stay");
    assert_eq!(
        count(&conn, "history_runs"),
        50,
        "a row per run the segment held"
    );

    let mut next_look = HISTORY_LOG_ROWS;
    let left = append_and_look(&conn, &mut next_look, 200, 40);
    assert_eq!(left, 8000, "not indexed at 40 entries per run");
    let left = append_and_look(&conn, &mut next_look, 200, 23);
    assert_eq!(left, 12_600, "not indexed at 63 entries per run");
    // Read while part of it is indexed and part not: whole, in order.
    let times = times_of(&conn, "run-7");
    assert_eq!(times.len(), 84 + 63);
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    let left = append_and_look(&conn, &mut next_look, 200, 1);
    assert_eq!(left, 0, "indexed at 64 entries per run");
    assert_eq!(count(&conn, "history_runs"), 50 + 200);
    assert_eq!(count(&conn, "history_moved"), 0, "nothing moved");
    let times = times_of(&conn, "run-7");
    assert_eq!(times.len(), 84 + 64);
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");

    let mut next_look = HISTORY_LOG_ROWS;
    let left = append_and_look(&conn, &mut next_look, 66_000, 1);
    assert_eq!(left, 0, "not indexed at the most the log holds");
    // A purge takes a run's entries and its rows of `history_runs`, and no other run's.
    delete_runs(&conn, &["run-7".to_string()]).expect("purge");
    let left_of = |id: &str| {
        conn.query_row(
            "SELECT (SELECT COUNT(*) FROM history_log WHERE workflow_id = ?1) \
                  + (SELECT COUNT(*) FROM history_runs WHERE workflow_id = ?1)",
            [id],
            |r| r.get::<_, i64>(0),
        )
        .expect("count")
    };
    assert_eq!(left_of("run-7"), 0);
    assert_eq!(left_of("run-8"), 84 + 64 + 1 + 3);
    assert_eq!(times_of(&conn, "run-8").len(), 84 + 64 + 1);
}

/// A purge takes a run's entries also when a list of them is damaged (not JSON, so naming
/// none): they are found by a scan of the log; other runs keep theirs.
#[test]
fn a_purge_takes_the_entries_of_a_damaged_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _store = SqliteStore::open(dir.path().join("d.db")).expect("open");
    let conn = Connection::open(dir.path().join("d.db")).expect("open");
    let mut next_look = HISTORY_LOG_ROWS;
    assert_eq!(append_and_look(&conn, &mut next_look, 50, 84), 0);
    append_log(&conn, 50, 2);
    conn.execute(
        "UPDATE history_runs SET seqs = 'not json' WHERE workflow_id = 'run-3'",
        [],
    )
    .expect("damage");
    let entries_of = |id: &str| {
        conn.query_row(
            "SELECT COUNT(*) FROM history_log WHERE workflow_id = ?1",
            [id],
            |r| r.get::<_, i64>(0),
        )
        .expect("count")
    };
    assert_eq!(entries_of("run-3"), 86);
    delete_runs(&conn, &["run-3".to_string()]).expect("purge");
    assert_eq!(
        entries_of("run-3"),
        0,
        "the damaged list's entries went too"
    );
    assert_eq!(entries_of("run-4"), 86);
    assert_eq!(times_of(&conn, "run-4").len(), 86);
    assert_eq!(count(&conn, "history_log"), 49 * 86);
}

/// A purge of the log's last entries lets the log number the next entries as those were
/// numbered (one past the largest left), inside the indexed part: the bound goes back, and
/// the next entries are read (they were lost to reads before the trigger that moves it).
#[test]
fn entries_after_a_purge_of_the_last_ones_are_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _store = SqliteStore::open(dir.path().join("p.db")).expect("open");
    let conn = Connection::open(dir.path().join("p.db")).expect("open");
    let mut next_look = HISTORY_LOG_ROWS;
    assert_eq!(append_and_look(&conn, &mut next_look, 50, 84), 0);
    // run-49's entry is the log's last.
    delete_runs(&conn, &["run-49".to_string()]).expect("purge");
    append_log(&conn, 2, 1);
    assert_eq!(times_of(&conn, "run-0").len(), 85);
    assert_eq!(times_of(&conn, "run-1").len(), 85);
    // And indexed with the others later, once each.
    append_log(&conn, 1, 5000);
    index_history(&conn, &mut next_look);
    assert_eq!(unindexed(&conn), 0);
    assert_eq!(times_of(&conn, "run-1").len(), 85);
    assert_eq!(times_of(&conn, "run-0").len(), 85 + 5000);
}

/// A segment numbered as an earlier one: a purge of the only run of the log's last segment
/// takes the bound back to that segment's start, and the next segment indexed from there has
/// the same number, with entries of a new run under the purged run's id. The purged run's
/// lists went with it, so the new run's list takes the key; the log is indexed whole again
/// and every run's history reads whole.
#[test]
fn a_segment_indexed_again_from_a_purged_ones_start_is_indexed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _store = SqliteStore::open(dir.path().join("s.db")).expect("open");
    let conn = Connection::open(dir.path().join("s.db")).expect("open");
    let mut next_look = HISTORY_LOG_ROWS;
    assert_eq!(append_and_look(&conn, &mut next_look, 50, 84), 0);
    let bound = |conn: &Connection| -> i64 {
        conn.query_row("SELECT indexed FROM history_base", [], |r| r.get(0))
            .expect("bound")
    };
    let first = bound(&conn);
    // One run's entries alone, indexed as a segment of their own.
    conn.execute_batch("BEGIN").expect("begin");
    for at in 0..5000 {
        conn.execute(INSERT_HISTORY, params!["lone", 100_000 + at, "step", ""])
            .expect("append");
    }
    conn.execute_batch("COMMIT").expect("commit");
    index_history(&conn, &mut next_look);
    assert_eq!(unindexed(&conn), 0);
    assert_eq!(times_of(&conn, "lone").len(), 5000);
    delete_runs(&conn, &["lone".to_string()]).expect("purge");
    assert_eq!(
        bound(&conn),
        first,
        "the bound is back at the lone segment's start"
    );
    // A new run under the id writes the log's next entries, numbered as the purged run's
    // first ones were, and the next segment starts where the purged one did: its number.
    for at in 0..10 {
        conn.execute(INSERT_HISTORY, params!["lone", 200_000 + at, "step", ""])
            .expect("append");
    }
    assert_eq!(append_and_look(&conn, &mut next_look, 50, 84), 0);
    assert!(bound(&conn) > first);
    for r in [0, 49] {
        let times = times_of(&conn, &format!("run-{r}"));
        assert_eq!(times.len(), 2 * 84);
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    }
    assert_eq!(
        times_of(&conn, "lone"),
        (200_000..200_010).collect::<Vec<i64>>(),
        "the new run's entries, once each, and none of the purged run's"
    );
}

/// A program of schema 7 or before still running on a file upgraded to 8 would move the log
/// out (and empty it); its move is refused, and rolls back whole.
#[test]
fn an_older_programs_move_of_the_log_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _store = SqliteStore::open(dir.path().join("o.db")).expect("open");
    let conn = Connection::open(dir.path().join("o.db")).expect("open");
    append_log(&conn, 3, 2);
    for (table, columns) in [
        ("history_moved", "segment, workflow_id, n, at, kind, detail"),
        ("history", "workflow_id, n, at, kind, detail"),
    ] {
        let values = if table == "history" {
            "workflow_id, seq, at, kind, detail"
        } else {
            "0, workflow_id, seq, at, kind, detail"
        };
        let moved = conn.execute_batch(&format!(
            "BEGIN; INSERT INTO {table} ({columns}) SELECT {values} FROM history_log; \
             DELETE FROM history_log; COMMIT;"
        ));
        let e = moved.expect_err("refused").to_string();
        assert!(e.contains("no longer moved since schema 8"), "{e}");
        conn.execute_batch("ROLLBACK").expect("rollback");
        assert_eq!(count(&conn, "history_log"), 6);
        assert_eq!(times_of(&conn, "run-2").len(), 2);
    }
}

/// The plan SQLite makes for `sql`, one line per step.
fn plan(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Vec<String> {
    conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("explain")
        .query_map(params, |r| r.get::<_, String>(3))
        .expect("plan")
        .collect::<Result<_, _>>()
        .expect("read the plan")
}

/// The look for ready runs, which the runtime makes at every poll and poke, reads the partial
/// index of ready runs: its cost follows the ready runs, not the running ones (a plan through
/// `workflows_status` read every running run's row).
#[test]
fn the_look_for_ready_runs_reads_only_ready_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _store = SqliteStore::open(dir.path().join("r.db")).expect("open");
    let conn = Connection::open(dir.path().join("r.db")).expect("open");
    let steps = plan(&conn, READY_RUNS, params!["[\"w\"]", 512]);
    assert!(
        steps
            .iter()
            .any(|s| s.contains("USING INDEX workflows_ready")),
        "{steps:?}"
    );
    assert!(
        !steps.iter().any(|s| s.contains("workflows_status")),
        "{steps:?}"
    );
}

/// The lease of due tasks and the look for the next one, which every worker makes at every
/// poll, read the tasks in due order through `tasks_next`, the index of the expression
/// `tasks.due` stood for until schema 11: neither scans the table nor sorts.
#[test]
fn due_tasks_are_read_through_their_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _store = SqliteStore::open(dir.path().join("t.db")).expect("open");
    let conn = Connection::open(dir.path().join("t.db")).expect("open");
    for steps in [
        plan(&conn, DUE_TASKS, params![10, "[\"charge\"]", 64]),
        plan(&conn, NEXT_TASK_DUE, ["[\"charge\"]"]),
    ] {
        assert!(
            steps
                .iter()
                .any(|s| s.starts_with("SEARCH tasks USING INDEX tasks_next")
                    || s.starts_with("SCAN tasks USING INDEX tasks_next")),
            "{steps:?}"
        );
        assert!(!steps.iter().any(|s| s == "SCAN tasks"), "{steps:?}");
        assert!(
            !steps.iter().any(|s| s.contains("TEMP B-TREE")),
            "{steps:?}"
        );
    }
}

/// A run's history is read through its rows of `history_runs` (`r`): a seek into each of its
/// segments of `history_moved` (`m`, moved by schema 7), and a seek into the log by number
/// for each entry its lists name. No table is scanned but the log's part past the indexed
/// bound (by number, from the bound), so the read's cost follows the run's entries, not the
/// store's.
#[test]
fn a_runs_history_is_read_through_its_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _store = SqliteStore::open(dir.path().join("s.db")).expect("open");
    let conn = Connection::open(dir.path().join("s.db")).expect("open");
    let steps = plan(&conn, HISTORY_OF_RUN, ["run"]);
    for search in [
        "SEARCH history USING PRIMARY KEY (workflow_id=?)",
        "SEARCH r USING PRIMARY KEY (workflow_id=?)",
        "SEARCH m USING PRIMARY KEY (segment=? AND workflow_id=?)",
        "SEARCH l USING INTEGER PRIMARY KEY (rowid=?)",
        "SEARCH history_log USING INTEGER PRIMARY KEY (rowid>?)",
    ] {
        assert!(steps.iter().any(|s| s == search), "{search}: {steps:?}");
    }
    assert!(
        !steps.iter().any(|s| s.starts_with("SCAN history ")
            || s.starts_with("SCAN r")
            || s.starts_with("SCAN m")
            || s.starts_with("SCAN l")
            || s.starts_with("SCAN history_log")),
        "{steps:?}"
    );
}

/// The writer opens its files through the VFS that writes a commit's frames at once where
/// every commit syncs the log (`FULL`, `EXTRA`), without spilling pages before the commit,
/// and through SQLite's own VFS elsewhere.
#[cfg(unix)]
#[test]
fn the_writer_goes_through_the_vfs_only_where_commits_sync() {
    let rt = runtime();
    for (sync, through) in [
        (Synchronous::Full, true),
        (Synchronous::Extra, true),
        (Synchronous::Normal, false),
        (Synchronous::Off, false),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::builder(dir.path().join("v.db"))
            .synchronous(sync)
            .open()
            .expect("open");
        let (name, spill) = rt
            .block_on(store.write(|w: &Writer| {
                let spill: i64 = w.query_row("PRAGMA cache_spill", [], |r| r.get(0)).db()?;
                Ok((vfs::name_of(w), spill))
            }))
            .expect("write");
        let name = name.expect("a VFS");
        assert_eq!(
            name == vfs::NAME.to_str().expect("utf-8"),
            through,
            "{sync:?}: {name}"
        );
        assert_eq!(spill == 0, through, "{sync:?}: cache_spill {spill}");
    }
}

/// The writer's look at the log: past its limit it is truncated and written ahead again; while
/// a reader holds an old snapshot it is left as it is, at once.
#[test]
fn a_log_past_its_limit_is_truncated_and_written_ahead_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.db");
    let w = Connection::open(&path).expect("open");
    w.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=16; CREATE TABLE t (v BLOB);",
    )
    .expect("set up");
    let wal = WalLimit {
        path: wal_path(&path),
        limit: 1 << 20,
        ahead: 32 + 16 * (4096 + 24),
    };
    let size = || std::fs::metadata(&wal.path).expect("wal").len();
    let reader = Connection::open(&path).expect("open");
    reader.execute_batch("BEGIN").expect("begin");
    let _: i64 = reader
        .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
        .expect("read");
    for _ in 0..40 {
        w.execute("INSERT INTO t VALUES (?1)", [vec![7u8; 48 << 10]])
            .expect("insert");
    }
    let grown = size();
    assert!(grown > 1 << 20, "{grown}");
    wal.enforce(&w, Duration::from_secs(60));
    assert_eq!(size(), grown, "held by the reader: left as it is");
    reader.execute_batch("COMMIT").expect("end the read");
    wal.enforce(&w, Duration::from_secs(60));
    assert_eq!(size(), wal.ahead, "truncated, then written ahead");
    let n: i64 = w
        .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 40);
}

/// A file in `dir` written through the store's VFS as the writer writes (`FULL`, no spill,
/// SQLite's checkpoint at 8 000 pages): a table of one row (`hot`, `v` = 0) and an empty one
/// (`cold`); its writing connection, and the writer's look at its log (no size limit).
#[cfg(unix)]
fn hot_and_cold(dir: &std::path::Path) -> (std::path::PathBuf, Connection, WalLimit) {
    let path = dir.join("h.db");
    let w = Connection::open_with_flags_and_vfs(
        &path,
        rusqlite::OpenFlags::default(),
        vfs::registered().expect("the VFS"),
    )
    .expect("open");
    w.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_spill=OFF; \
         PRAGMA wal_autocheckpoint=8000; \
         CREATE TABLE hot (k INTEGER PRIMARY KEY, v INTEGER); INSERT INTO hot VALUES (1, 0); \
         CREATE TABLE cold (k INTEGER PRIMARY KEY, v BLOB);",
    )
    .expect("set up");
    let wal = WalLimit {
        path: wal_path(&path),
        limit: u64::MAX,
        ahead: 0,
    };
    (path, w, wal)
}

/// A log that rewrites a few pages again and again is checkpointed, and started over, once it
/// holds [`HOT_FRAMES`] frames (SQLite's own checkpoint would wait for 8 000 pages); a log of
/// as many frames over many pages is left to SQLite's. The frames and pages a connection wrote
/// are counted through the VFS, and counted afresh when the log starts over.
#[cfg(unix)]
#[test]
fn a_log_rewriting_few_pages_starts_over_early() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, w, wal) = hot_and_cold(dir.path());
    let counts = || vfs::log_counts(&w).expect("a log through the VFS");
    let busy = Duration::from_secs(1);
    // A commit that changes one page writes one frame; the writer looks every 16 commits.
    let mut most = 0;
    let mut started_over = 0;
    let mut last = counts();
    for i in 1..=3000 {
        w.execute("UPDATE hot SET v = ?1 WHERE k = 1", [i])
            .expect("update");
        let now = counts();
        if now.frames < last.frames {
            started_over += 1;
            assert!(last.frames >= HOT_FRAMES, "{last:?}");
            assert!(last.distinct <= 3, "{last:?}");
        }
        most = most.max(now.frames);
        last = now;
        if i % 16 == 0 {
            wal.enforce(&w, busy);
        }
    }
    assert!(started_over >= 2, "started over {started_over} times");
    assert!(most < HOT_FRAMES + 64, "the log grew to {most} frames");
    let v: i64 = w
        .query_row("SELECT v FROM hot WHERE k = 1", [], |r| r.get(0))
        .expect("read");
    assert_eq!(v, 3000);
    // Many pages: each commit adds a page of its own, and the log runs on past HOT_FRAMES.
    let start = counts().frames;
    for i in 0..1200 {
        w.execute(
            "INSERT INTO cold VALUES (?1, ?2)",
            params![i, vec![7u8; 3000]],
        )
        .expect("insert");
        if i % 16 == 0 {
            wal.enforce(&w, busy);
        }
    }
    let cold = counts();
    assert!(
        cold.frames > start + 1200 && cold.distinct > 1000,
        "{cold:?}"
    );
    let n: i64 = w
        .query_row("SELECT COUNT(*) FROM cold", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 1200);
}

/// A hot log that a reader holds (an old snapshot) is not started over while the reader
/// reads: the checkpoint copies what it may and the log runs on, every look costing no more
/// than that; once the reader is done, the next look starts the log over.
#[cfg(unix)]
#[test]
fn a_hot_log_held_by_a_reader_starts_over_once_the_reader_is_done() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, w, wal) = hot_and_cold(dir.path());
    let counts = || vfs::log_counts(&w).expect("a log through the VFS");
    let busy = Duration::from_secs(1);
    let reader = Connection::open(&path).expect("open");
    reader.execute_batch("BEGIN").expect("begin");
    let seen: i64 = reader
        .query_row("SELECT v FROM hot", [], |r| r.get(0))
        .expect("read");
    assert_eq!(seen, 0);
    let update = |i: i64| {
        w.execute("UPDATE hot SET v = ?1 WHERE k = 1", [i])
            .expect("update")
    };
    let mut last = counts();
    for i in 1..=2 * i64::from(HOT_FRAMES) {
        update(i);
        let now = counts();
        assert!(
            now.frames > last.frames,
            "started over under a reader at {i}"
        );
        last = now;
        if i % 16 == 0 {
            wal.enforce(&w, busy);
        }
    }
    let still: i64 = reader
        .query_row("SELECT v FROM hot", [], |r| r.get(0))
        .expect("read");
    assert_eq!(still, 0, "the reader's snapshot");
    reader.execute_batch("COMMIT").expect("end the read");
    wal.enforce(&w, busy);
    update(-1);
    assert!(
        counts().frames < last.frames,
        "{:?} after {last:?}",
        counts()
    );
    let v: i64 = reader
        .query_row("SELECT v FROM hot", [], |r| r.get(0))
        .expect("read");
    assert_eq!(v, -1);
}

/// The log is written ahead only when as much again stays free on its volume (the free space
/// of the temporary directory's volume is known here).
#[test]
fn the_log_is_written_ahead_only_with_room_to_spare() {
    assert!(room_to_write_ahead(10, Some(20)));
    assert!(!room_to_write_ahead(10, Some(19)));
    assert!(!room_to_write_ahead(10, Some(0)));
    assert!(room_to_write_ahead(10, None), "unknown: written ahead");
    let dir = tempfile::tempdir().expect("tempdir");
    #[cfg(unix)]
    assert!(free_bytes(dir.path()).is_some_and(|n| n > 0));
    // A log that would take more than half of what is free is left as it is.
    let path = dir.path().join("w.db");
    let store = SqliteStore::open(&path).expect("open");
    let wal = WalLimit {
        path: wal_path(&path),
        limit: u64::MAX,
        ahead: free_bytes(dir.path()).map_or(u64::MAX, |free| free / 2 + (1 << 30)),
    };
    let before = std::fs::metadata(&wal.path).expect("wal").len();
    wal.write_ahead();
    assert_eq!(std::fs::metadata(&wal.path).expect("wal").len(), before);
    drop(store);
}

/// How often a statement with `LIMIT ?n` was compiled again, run `times` times with a new
/// limit each time.
fn recompiled(conn: &Connection, times: i64) -> i32 {
    let mut stmt = conn.prepare_cached(READY_RUNS).expect("prepare");
    for limit in 1..=times {
        let _: Vec<String> = stmt
            .query_map(params!["[\"w\"]", limit], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
    }
    stmt.get_status(rusqlite::StatementStatus::RePrepare)
}

/// A statement whose limit is bound is compiled once, on the readers' connections and on the
/// writer's: SQLite compiles it again at every new binding of the limit unless plans are kept
/// independent of bound values.
#[test]
fn a_bound_limit_does_not_compile_a_statement_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("q.db");
    let store = SqliteStore::open(&path).expect("open");
    let reader = open_reader(&path, Duration::from_secs(1)).expect("reader");
    assert_eq!(recompiled(&reader, 5), 0, "reader");
    let rt = runtime();
    let writer = rt
        .block_on(store.write(|w: &Writer| Ok(recompiled(w, 5))))
        .expect("write");
    assert_eq!(writer, 0, "writer");
}

/// Runs read by their ids (a page of the walk for stranded runs, a thousand at a time) are
/// sought by key, one by one: the read's cost follows the ids asked for, not the store's runs.
#[test]
fn runs_read_by_id_are_sought_not_scanned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("l.db");
    let _store = SqliteStore::open(&path).expect("open");
    let conn = open_reader(&path, Duration::from_secs(1)).expect("reader");
    let steps = plan(&conn, &load_runs(), ["[\"a\", \"b\"]"]);
    assert!(
        steps
            .iter()
            .any(|s| s
                .starts_with("SEARCH workflows USING INDEX sqlite_autoindex_workflows_1 (id=?)")),
        "{steps:?}"
    );
    assert!(
        !steps.iter().any(|s| s.starts_with("SCAN workflows")),
        "{steps:?}"
    );
}

/// Due timers are read in fire order through their index, each run's row found by its integer
/// key (the timers first, whatever the planner would choose): no sort, no scan of the runs.
#[test]
fn due_timers_are_read_through_their_index_and_their_runs_by_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("d.db");
    let _store = SqliteStore::open(&path).expect("open");
    let conn = open_reader(&path, Duration::from_secs(1)).expect("reader");
    let steps = plan(
        &conn,
        &due_timers_sql(),
        params![10, -1, Option::<i64>::None, "a", -1, 512],
    );
    assert!(
        steps
            .iter()
            .any(|s| s.starts_with("SEARCH t USING") && s.contains("INDEX timers_due")),
        "{steps:?}"
    );
    assert!(
        steps
            .iter()
            .any(|s| s.starts_with("SEARCH w USING INTEGER PRIMARY KEY (rowid=?)")),
        "{steps:?}"
    );
    assert!(
        !steps
            .iter()
            .any(|s| s.contains("TEMP B-TREE") || s.starts_with("SCAN w")),
        "{steps:?}"
    );
}
