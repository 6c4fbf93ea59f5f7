//! The SQLite store and the file it is given: a schema version checked at open, other
//! applications' files left alone, damaged rows reported one by one, a bounded write-ahead log.

use rusqlite::Connection;
use workflow_rt::store::{
    HistoryEntry, HistoryKind, NewWorkflow, StepCommit, StepOutcome, Store, StoreError,
};
use workflow_rt::{SqliteStore, WorkflowStatus};

/// The schema version this build writes.
const SCHEMA: i64 = 14;
/// The same, as the store's errors give it.
const SCHEMA_U32: u32 = SCHEMA as u32;

fn pragma(path: &std::path::Path, name: &str) -> i64 {
    let conn = Connection::open(path).expect("open");
    conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
        .expect("pragma")
}

fn new_workflow(id: &str, input: Vec<u8>) -> NewWorkflow {
    NewWorkflow {
        id: id.to_string(),
        name: "w".to_string(),
        input,
        snapshot: vec![1, 2, 3],
        now_ms: 1,
        history: HistoryEntry::new(1, HistoryKind::Started, "started"),
        parent: None,
        parent_version: None,
        signals: Vec::new(),
        timers: Vec::new(),
    }
}

#[test]
fn a_new_file_is_marked_as_a_workflow_store_with_its_schema_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("new.db");
    drop(SqliteStore::open(&path).expect("open"));
    assert_eq!(pragma(&path, "application_id"), 0x5746_5254);
    assert_eq!(pragma(&path, "user_version"), SCHEMA);
    // And opens again.
    drop(SqliteStore::open(&path).expect("reopen"));
}

#[test]
fn a_file_of_a_newer_schema_is_refused_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("newer.db");
    drop(SqliteStore::open(&path).expect("open"));
    Connection::open(&path)
        .expect("open")
        .execute_batch(&format!("PRAGMA user_version = {}", SCHEMA + 1))
        .expect("bump");
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(&err, StoreError::NewerSchema { found, supported: SCHEMA_U32, location } if *found == SCHEMA_U32 + 1 && location.ends_with("newer.db")),
        "{err:?}"
    );
    assert!(err.to_string().contains("upgrade the program"), "{err}");
    assert_eq!(pragma(&path, "user_version"), SCHEMA + 1);
}

#[test]
fn another_applications_file_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("crm.db");
    Connection::open(&path)
        .expect("open")
        .execute_batch("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        .expect("create");
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(&err, StoreError::Foreign { reason, .. } if reason.contains("customers")),
        "{err:?}"
    );
    let conn = Connection::open(&path).expect("open");
    let tables: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(tables, 1, "no table added");
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "delete", "not switched to WAL");
    // Another application id is refused too.
    let other = dir.path().join("other.db");
    Connection::open(&other)
        .expect("open")
        .execute_batch("PRAGMA application_id = 42")
        .expect("id");
    assert!(matches!(
        SqliteStore::open(&other),
        Err(StoreError::Foreign { .. })
    ));
}

#[test]
fn a_file_written_before_the_schema_had_a_version_is_adopted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("old.db");
    drop(SqliteStore::open(&path).expect("open"));
    // What an older build left: the tables of then, both pragmas at 0.
    Connection::open(&path)
        .expect("open")
        .execute_batch(&format!(
            "{BEFORE_9} DROP TABLE tombstones; DROP TABLE version_floor; DROP TABLE schedules; \
             DROP TABLE history_base; \
             PRAGMA application_id = 0; PRAGMA user_version = 0"
        ))
        .expect("reset");
    drop(SqliteStore::open(&path).expect("adopted"));
    assert_eq!(pragma(&path, "user_version"), SCHEMA);
}

/// A file of schema 1 (before runs were listed by name) gets the index at open, and keeps its
/// runs.
#[tokio::test]
async fn a_file_of_schema_1_is_upgraded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v1.db");
    older_file(
        &path,
        "DROP INDEX workflows_name; DROP TABLE tombstones; DROP TABLE version_floor; DROP TABLE schedules; \
             PRAGMA user_version = 1",
    )
    .await;
    let store = SqliteStore::open(&path).expect("upgraded");
    assert_eq!(pragma(&path, "user_version"), SCHEMA);
    let index: i64 = Connection::open(&path)
        .expect("open")
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'workflows_name'",
            [],
            |r| r.get(0),
        )
        .expect("index");
    assert_eq!(index, 1);
    let page = store
        .list_runs(workflow_rt::store::RunQuery::new().name("w"))
        .await
        .expect("list runs");
    assert_eq!(page.runs.len(), 1);
}

fn step(id: &str, expected_version: u64, now_ms: u64, outcome: StepOutcome) -> StepCommit {
    StepCommit {
        children: Vec::new(),
        workflow_id: id.to_string(),
        run_key: None,
        expected_version,
        now_ms,
        outcome,
        consumed_events: vec![],
        completed_tasks: vec![],
        cancelled: vec![],
        fired_timers: Vec::new(),
        seen_events_upto: 0,
        keep_ready: false,
        history: vec![HistoryEntry::new(now_ms, HistoryKind::Step, "step")],
        deliver: Vec::new(),
    }
}

fn suspended() -> StepOutcome {
    StepOutcome::Suspended {
        snapshot: vec![4],
        pending: vec![5],
        tasks: vec![],
        timers: vec![],
    }
}

fn completed() -> StepOutcome {
    StepOutcome::Finished {
        status: WorkflowStatus::Completed,
        snapshot: vec![6],
        output: vec![7],
    }
}

/// Creates run `id`, steps it `steps` times and completes it at `now_ms`; returns every
/// version it had.
async fn run_to_completion(store: &SqliteStore, id: &str, steps: usize, now_ms: u64) -> Vec<u64> {
    let mut versions = vec![
        store
            .create_workflow(new_workflow(id, vec![0]))
            .await
            .expect("create"),
    ];
    for _ in 0..steps {
        let v = *versions.last().expect("a version");
        versions.push(
            store
                .commit_step(step(id, v, 2, suspended()))
                .await
                .expect("step"),
        );
    }
    let v = *versions.last().expect("a version");
    versions.push(
        store
            .commit_step(step(id, v, now_ms, completed()))
            .await
            .expect("complete"),
    );
    versions
}

/// Leaves at `path` a file holding run `a`, changed by `sql` into what an older schema left.
async fn older_file(path: &std::path::Path, sql: &str) {
    {
        let store = SqliteStore::open(path).expect("open");
        store
            .create_workflow(new_workflow("a", vec![0]))
            .await
            .expect("create");
    }
    Connection::open(path)
        .expect("open")
        .execute_batch(&format!("{BEFORE_9} {BEFORE_8} {sql}"))
        .expect("downgrade");
}

/// What schemas 11 and 12 changed, taken back: when a task is due stored in `tasks.due` (as
/// schema 10 wrote it) and indexed by `tasks_due`, rather than computed and indexed as an
/// expression; no index of child runs by parent (`workflows_parent`).
const BEFORE_11: &str = "DROP INDEX workflows_parent; \
     DROP INDEX tasks_next; ALTER TABLE tasks ADD COLUMN due INTEGER NOT NULL DEFAULT 0; \
     UPDATE tasks SET due = CASE WHEN lease_owner IS NULL THEN visible_at \
         ELSE ifnull(lease_until, 0) END; \
     CREATE INDEX tasks_due ON tasks(due); PRAGMA user_version = 10;";

/// What schema 9 changed, taken back: runs keyed by their text id (a table without rowid),
/// and their tasks, timers and events by it; event ids and the largest one given kept.
const BEFORE_9: &str = "
    CREATE TABLE w8 (id TEXT NOT NULL PRIMARY KEY, name TEXT NOT NULL, status INTEGER NOT NULL,
        input BLOB NOT NULL, snapshot BLOB NOT NULL, version INTEGER NOT NULL, pending BLOB,
        output BLOB, park_reason TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
        ready INTEGER NOT NULL, history_len INTEGER NOT NULL, parent_id TEXT, parent_seq INTEGER)
        WITHOUT ROWID;
    INSERT INTO w8 SELECT id, name, status, input, snapshot, version, pending, output,
        park_reason, created_at, updated_at, ready, history_len, parent_id, parent_seq
        FROM workflows;
    CREATE TABLE t8 (workflow_id TEXT NOT NULL, seq INTEGER NOT NULL, name TEXT NOT NULL,
        input BLOB NOT NULL, options BLOB NOT NULL, attempt INTEGER NOT NULL,
        scheduled_at INTEGER NOT NULL, visible_at INTEGER NOT NULL, lease_owner TEXT,
        lease_until INTEGER, heartbeat BLOB, deadline INTEGER, due INTEGER NOT NULL,
        PRIMARY KEY (workflow_id, seq)) WITHOUT ROWID;
    INSERT INTO t8 SELECT w.id, t.seq, t.name, t.input, t.options, t.attempt, t.scheduled_at,
        t.visible_at, t.lease_owner, t.lease_until, t.heartbeat, t.deadline,
        CASE WHEN t.lease_owner IS NULL THEN t.visible_at ELSE ifnull(t.lease_until, 0) END
        FROM tasks t JOIN workflows w ON w.rid = t.rid;
    CREATE TABLE r8 (workflow_id TEXT NOT NULL, seq INTEGER NOT NULL, fire_at INTEGER NOT NULL,
        PRIMARY KEY (workflow_id, seq)) WITHOUT ROWID;
    INSERT INTO r8 SELECT w.id, t.seq, t.fire_at FROM timers t JOIN workflows w ON w.rid = t.rid;
    CREATE TABLE e8 (id INTEGER PRIMARY KEY AUTOINCREMENT, workflow_id TEXT NOT NULL,
        at INTEGER NOT NULL, kind INTEGER NOT NULL, seq INTEGER, name TEXT, payload BLOB);
    INSERT INTO e8 SELECT e.id, w.id, e.at, e.kind, e.seq, e.name, e.payload
        FROM events e JOIN workflows w ON w.rid = e.rid;
    DELETE FROM sqlite_sequence WHERE name = 'e8';
    INSERT INTO sqlite_sequence (name, seq) SELECT 'e8', seq FROM sqlite_sequence
        WHERE name = 'events';
    DROP TABLE workflows; DROP TABLE tasks; DROP TABLE timers; DROP TABLE events;
    ALTER TABLE w8 RENAME TO workflows; ALTER TABLE t8 RENAME TO tasks;
    ALTER TABLE r8 RENAME TO timers; ALTER TABLE e8 RENAME TO events;
    CREATE INDEX workflows_ready ON workflows(id) WHERE ready = 1 AND status = 0;
    CREATE INDEX workflows_status ON workflows(status, id);
    CREATE INDEX workflows_name ON workflows(name, id);
    CREATE INDEX tasks_due ON tasks(due);
    CREATE INDEX timers_due ON timers(fire_at);
    CREATE INDEX events_workflow ON events(workflow_id, id);
    PRAGMA user_version = 8;";

/// What schema 8 added, taken away: the triggers that refuse a move of the history log, and
/// the columns that index it.
const BEFORE_8: &str = "DROP TRIGGER history_closed; DROP TRIGGER history_moved_closed; \
     DROP TRIGGER history_log_last_deleted; ALTER TABLE history_runs DROP COLUMN seqs; \
     ALTER TABLE history_base DROP COLUMN indexed;";

/// What the move of a program of schema 7 did: the log into a segment of `history_moved`.
const MOVE_OF_7: &str =
    "INSERT OR REPLACE INTO history_moved (segment, workflow_id, n, at, kind, detail)
         SELECT (SELECT base FROM history_base), workflow_id,
                (SELECT base FROM history_base) + seq, at, kind, detail
         FROM history_log ORDER BY workflow_id, seq;
     INSERT OR IGNORE INTO history_runs (workflow_id, segment)
         SELECT DISTINCT workflow_id, segment FROM history_moved
         WHERE segment = (SELECT base FROM history_base);
     UPDATE history_base SET base = base + (SELECT COALESCE(MAX(seq), 0) FROM history_log);
     DELETE FROM history_log;";

/// Every commit from one of `old` conflicts with the run now under `id`.
async fn refused(store: &SqliteStore, id: &str, old: &[u64]) {
    for &v in old {
        assert!(
            matches!(
                store.commit_step(step(id, v, 9, suspended())).await,
                Err(StoreError::Conflict { expected, .. }) if expected == v
            ),
            "a commit from version {v} of an earlier run under {id:?}"
        );
    }
}

fn count(path: &std::path::Path, sql: &str) -> i64 {
    Connection::open(path)
        .expect("open")
        .query_row(sql, [], |r| r.get(0))
        .expect("count")
}

/// A file of schema 2 (before tombstones) gets the tables at open, keeps its runs, and the
/// runs purged from then on leave tombstones: a run created under the id of one starts past
/// it, by `purge` and by `purge_finished` alike.
#[tokio::test]
async fn a_file_of_schema_2_is_upgraded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v2.db");
    let (a, b) = {
        let store = SqliteStore::open(&path).expect("open");
        (
            run_to_completion(&store, "a", 3, 50).await,
            run_to_completion(&store, "b", 2, 60).await,
        )
    };
    Connection::open(&path)
        .expect("open")
        .execute_batch(&format!(
            "{BEFORE_9} DROP TABLE tombstones; DROP TABLE version_floor; DROP TABLE schedules; \
             PRAGMA user_version = 2"
        ))
        .expect("downgrade");
    let store = SqliteStore::open(&path).expect("upgraded");
    assert_eq!(pragma(&path, "user_version"), SCHEMA);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM tombstones"), 0);
    assert_eq!(count(&path, "SELECT version FROM version_floor"), 0);
    assert_eq!(store.list_workflows(None).await.expect("list").len(), 2);

    store.purge("a").await.expect("purge");
    assert_eq!(
        count(&path, "SELECT version FROM tombstones WHERE id = 'a'"),
        *a.last().expect("versions") as i64
    );
    let again = store
        .create_workflow(new_workflow("a", vec![1]))
        .await
        .expect("create");
    assert!(again > *a.last().expect("versions"), "{again} after {a:?}");
    assert_eq!(
        count(&path, "SELECT COUNT(*) FROM tombstones"),
        0,
        "the new run took the tombstone away"
    );
    refused(&store, "a", &a).await;

    assert_eq!(
        store.purge_finished(100, 10).await.expect("purge finished"),
        ["b"]
    );
    let again = store
        .create_workflow(new_workflow("b", vec![1]))
        .await
        .expect("create");
    assert!(again > *b.last().expect("versions"), "{again} after {b:?}");
    refused(&store, "b", &b).await;
    // And the file opens again as it is.
    drop(store);
    drop(SqliteStore::open(&path).expect("reopen"));
    assert_eq!(pragma(&path, "user_version"), SCHEMA);
}

/// A file of schema 3 (before schedules) gets the table at open, keeps its runs, and takes
/// schedules from then on; one of schema 12 gets the columns schedules have had since, and
/// one of schema 13 the run timeout's.
#[tokio::test]
async fn a_file_of_schema_3_is_upgraded() {
    use std::time::Duration;
    use workflow_rt::schedule::{Overlap, ScheduleSpec};
    use workflow_rt::store::ScheduleRecord;

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v3.db");
    {
        let store = SqliteStore::open(&path).expect("open");
        run_to_completion(&store, "a", 2, 50).await;
    }
    Connection::open(&path)
        .expect("open")
        .execute_batch(&format!(
            "{BEFORE_9} DROP TABLE schedules; PRAGMA user_version = 3"
        ))
        .expect("downgrade");
    let store = SqliteStore::open(&path).expect("upgraded");
    assert_eq!(pragma(&path, "user_version"), SCHEMA);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM schedules"), 0);
    assert_eq!(store.list_workflows(None).await.expect("list").len(), 1);
    let schedule = ScheduleRecord {
        name: "nightly".into(),
        workflow: "w".into(),
        workflow_version: None,
        note: None,
        input: vec![],
        spec: ScheduleSpec::every(Duration::from_secs(60)).anchored_at_ms(0),
        overlap: Overlap::Skip,
        catch_up_ms: 60_000,
        run_timeout_ms: None,
        paused: false,
        cursor_ms: 0,
        next_fire_ms: Some(60_000),
        buffered_ms: None,
        starting: vec![],
        last_run_id: None,
        started: 0,
        skipped: 0,
        missed: 0,
        version: 1,
        created_at_ms: 0,
        updated_at_ms: 0,
    };
    store
        .create_schedule(schedule.clone())
        .await
        .expect("create");
    drop(store);
    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(
        store.load_schedule("nightly").await.expect("load"),
        schedule
    );
    // Schema 12 (before a schedule kept its workflow's version and a note): both columns
    // come back at open; a schedule stored before reads without them, one stored after keeps
    // them.
    let mut pinned = schedule.clone();
    pinned.name = "pinned".into();
    pinned.workflow_version = Some(2);
    store.create_schedule(pinned.clone()).await.expect("create");
    drop(store);
    Connection::open(&path)
        .expect("open")
        .execute_batch(
            "ALTER TABLE schedules DROP COLUMN workflow_version; \
             ALTER TABLE schedules DROP COLUMN note; \
             ALTER TABLE schedules DROP COLUMN run_timeout_ms; PRAGMA user_version = 12",
        )
        .expect("downgrade");
    let store = SqliteStore::open(&path).expect("upgraded");
    assert_eq!(pragma(&path, "user_version"), SCHEMA);
    pinned.workflow_version = None;
    assert_eq!(store.load_schedule("pinned").await.expect("load"), pinned);
    let mut noted = schedule.clone();
    noted.name = "noted".into();
    noted.workflow_version = Some(3);
    noted.note = Some("paused by a worker".into());
    store.create_schedule(noted.clone()).await.expect("create");
    drop(store);
    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(store.load_schedule("noted").await.expect("load"), noted);
    // Schema 13 (before a schedule kept its runs' timeout): the column comes back at open.
    let mut bounded = schedule.clone();
    bounded.name = "bounded".into();
    bounded.run_timeout_ms = Some(3_600_000);
    store
        .create_schedule(bounded.clone())
        .await
        .expect("create");
    drop(store);
    Connection::open(&path)
        .expect("open")
        .execute_batch("ALTER TABLE schedules DROP COLUMN run_timeout_ms; PRAGMA user_version = 13")
        .expect("downgrade");
    let store = SqliteStore::open(&path).expect("upgraded");
    assert_eq!(pragma(&path, "user_version"), SCHEMA);
    bounded.run_timeout_ms = None;
    assert_eq!(store.load_schedule("bounded").await.expect("load"), bounded);
    bounded.name = "bounded-2".into();
    bounded.run_timeout_ms = Some(60_000);
    store
        .create_schedule(bounded.clone())
        .await
        .expect("create");
    drop(store);
    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(
        store.load_schedule("bounded-2").await.expect("load"),
        bounded
    );
}

/// Tombstones do not pile up: `purge_finished` drops those of runs that finished before its
/// cutoff (up to its limit), into the version floor, which keeps their ids' versions from
/// repeating.
#[tokio::test]
async fn tombstones_go_with_the_retention_into_the_floor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tombstones.db");
    let store = SqliteStore::open(&path).expect("open");
    let mut runs = Vec::new();
    for (i, id) in ["t0", "t1", "t2", "t3"].into_iter().enumerate() {
        runs.push(run_to_completion(&store, id, i + 1, 100 * (i as u64 + 1)).await);
        store.purge(id).await.expect("purge");
    }
    let tombstones = || count(&path, "SELECT COUNT(*) FROM tombstones");
    let floor = || count(&path, "SELECT version FROM version_floor");
    assert_eq!((tombstones(), floor()), (4, 0));
    assert!(
        store
            .purge_finished(250, 0)
            .await
            .expect("purge finished")
            .is_empty()
    );
    assert_eq!(
        (tombstones(), floor()),
        (4, 0),
        "a limit of 0 drops nothing"
    );
    store.purge_finished(250, 1).await.expect("purge finished");
    assert_eq!(tombstones(), 3, "up to the limit");
    store.purge_finished(250, 10).await.expect("purge finished");
    // t0 and t1 (finished at 100 and 200) went; t2 and t3 (300, 400) stay.
    assert_eq!(tombstones(), 2);
    assert_eq!(
        count(
            &path,
            "SELECT COUNT(*) FROM tombstones WHERE id IN ('t2', 't3')"
        ),
        2
    );
    let past = *runs[0].last().expect("v").max(runs[1].last().expect("v")) as i64 + 1;
    assert_eq!(floor(), past, "the floor is past both");
    for (id, versions) in ["t0", "t1", "t2", "t3"].iter().zip(&runs) {
        let v = store
            .create_workflow(new_workflow(id, vec![1]))
            .await
            .expect("create");
        assert!(
            v > *versions.last().expect("v"),
            "{id}: {v} after {versions:?}"
        );
        refused(&store, id, versions).await;
    }
    assert_eq!(tombstones(), 0);
}

/// A value of another type than its column's (here a creation time as text, a snapshot as a
/// number) leaves that row out of the listings and of a load of many runs, as an unknown
/// status does: the whole call failed, and with it the start of a runtime (whose look for
/// runs left behind lists them).
#[tokio::test]
async fn a_value_of_another_type_leaves_its_row_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("types.db");
    let store = SqliteStore::open(&path).expect("open");
    for id in ["a", "b", "c", "d"] {
        store
            .create_workflow(new_workflow(id, vec![0]))
            .await
            .expect("create");
    }
    Connection::open(&path)
        .expect("open")
        .execute_batch(
            "UPDATE workflows SET created_at = 'soon' WHERE id = 'b'; \
             UPDATE workflows SET snapshot = 7 WHERE id = 'c';",
        )
        .expect("damage");
    let ids = |runs: &[workflow_rt::store::WorkflowSummary]| {
        runs.iter().map(|w| w.id.clone()).collect::<Vec<_>>()
    };
    let listed = store.list_workflows(None).await.expect("list");
    assert_eq!(ids(&listed), ["a", "c", "d"]);
    use workflow_rt::store::RunQuery;
    let page = store
        .list_runs(RunQuery::new().limit(2))
        .await
        .expect("list runs");
    assert_eq!(
        (ids(&page.runs), page.next.as_deref()),
        (vec!["a".to_string()], Some("b"))
    );
    let all: Vec<String> = ["a", "b", "c", "d"].map(String::from).into();
    let loaded = store.load_workflows(&all).await.expect("load many");
    assert_eq!(
        loaded.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["a", "d"]
    );
    // A runtime starts on the file.
    let rt = workflow_rt::Runtime::builder(store).build().await;
    assert!(rt.is_ok(), "{:?}", rt.err());
}

#[tokio::test]
async fn a_row_that_cannot_be_read_does_not_fail_the_whole_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rows.db");
    let store = SqliteStore::open(&path).expect("open");
    for id in ["a", "b", "c"] {
        store
            .create_workflow(new_workflow(id, vec![0]))
            .await
            .expect("create");
    }
    Connection::open(&path)
        .expect("open")
        .execute_batch("UPDATE workflows SET status = 99 WHERE id = 'b'")
        .expect("damage");
    let listed = store.list_workflows(None).await.expect("list");
    assert_eq!(
        listed.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
        ["a", "c"]
    );
    // A page too, and the walk goes on past the damaged row.
    use workflow_rt::store::RunQuery;
    let page = store
        .list_runs(RunQuery::new().limit(2))
        .await
        .expect("list runs");
    assert_eq!(
        (
            page.runs.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
            page.next.as_deref()
        ),
        (vec!["a"], Some("b"))
    );
    let page = store
        .list_runs(RunQuery::new().limit(2).after("b"))
        .await
        .expect("list runs");
    assert_eq!(
        (
            page.runs.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
            page.next
        ),
        (vec!["c"], None)
    );
    let counts = store.count_runs().await.expect("count");
    assert_eq!(
        counts[0],
        (WorkflowStatus::Running, 2),
        "the damaged row is not counted"
    );
    // Nor can it be purged: its status is unknown.
    assert!(matches!(
        store.purge("b").await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(
        listed.iter().all(|w| w.status == WorkflowStatus::Running),
        "{listed:?}"
    );
    // The damaged one, asked for by id, is a typed error.
    assert!(matches!(
        store.load_workflow("b").await,
        Err(StoreError::Corrupt(_))
    ));
}

#[tokio::test]
async fn the_write_ahead_log_stays_within_its_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("wal.db");
    let store = SqliteStore::builder(&path)
        .wal_limit(1 << 20)
        .open()
        .expect("open");
    // About 12 MiB written, in commits of 48 KiB.
    for i in 0..256 {
        store
            .create_workflow(new_workflow(&format!("w{i}"), vec![i as u8; 48 << 10]))
            .await
            .expect("create");
    }
    let wal = std::fs::metadata(dir.path().join("wal.db-wal"))
        .expect("wal")
        .len();
    assert!(wal <= 2 << 20, "the log holds {wal} bytes");
}

/// A reader that holds an old snapshot keeps the log from starting over, so it grows past its
/// limit; the writer does not wait for that reader to truncate it (it would hold every commit
/// meanwhile, up to the busy timeout, a minute here), and once the reader is done the log is
/// back within its limit, and at least as long as it is written ahead to.
#[tokio::test]
async fn a_reader_holding_the_log_holds_back_no_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("held.db");
    let wal_len = || {
        std::fs::metadata(dir.path().join("held.db-wal"))
            .expect("wal")
            .len()
    };
    let store = SqliteStore::builder(&path)
        .wal_limit(1 << 20)
        .busy_timeout(std::time::Duration::from_secs(60))
        .writes_in_place(false)
        .open()
        .expect("open");
    // Checkpoints every 128 pages (half the limit): the header and 128 frames.
    let ahead = 32 + 128 * (4096 + 24);
    assert_eq!(wal_len(), ahead);
    let reader = Connection::open(&path).expect("open");
    reader.execute_batch("BEGIN").expect("begin");
    let _: i64 = reader
        .query_row("SELECT COUNT(*) FROM workflows", [], |r| r.get(0))
        .expect("read");
    // Forty commits: the writer looks at the log's size every 16 transactions.
    let writes = async {
        for i in 0..40 {
            store
                .create_workflow(new_workflow(&format!("w{i}"), vec![i as u8; 48 << 10]))
                .await
                .expect("create");
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), writes)
        .await
        .expect("the commits were held back by the reader");
    assert!(wal_len() > 1 << 20, "held by the reader: {}", wal_len());
    reader.execute_batch("COMMIT").expect("end the read");
    for i in 40..72 {
        store
            .create_workflow(new_workflow(&format!("w{i}"), vec![1; 100]))
            .await
            .expect("create");
    }
    assert!(
        (ahead..=1 << 20).contains(&wal_len()),
        "the log holds {} bytes",
        wal_len()
    );
    for i in 0..72 {
        store.load_workflow(&format!("w{i}")).await.expect("load");
    }
}

/// The write-ahead log is written ahead (zeros) to what it holds between two of SQLite's
/// checkpoints when the store opens, and commits then land in it without growing it. Zeros
/// past its last frame are read as its end: what was committed is all there for another
/// connection, also after zeros were appended behind the store's back while it wrote (as a
/// second process opening the file does), and after a reopen.
#[tokio::test]
async fn the_write_ahead_log_is_written_ahead_and_read_to_its_last_frame() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ahead.db");
    let wal_path = dir.path().join("ahead.db-wal");
    let wal_len = || std::fs::metadata(&wal_path).expect("wal").len();
    let store = SqliteStore::builder(&path)
        .wal_limit(8 << 20)
        .open()
        .expect("open");
    // Checkpoints every 1 024 pages (half the limit): the header and 1 024 frames.
    let ahead = wal_len();
    assert!(
        (32 + 1024 * (4096 + 24)..8 << 20).contains(&ahead),
        "the log holds {ahead} bytes"
    );
    for i in 0..20 {
        store
            .create_workflow(new_workflow(&format!("w{i}"), vec![i as u8; 100]))
            .await
            .expect("create");
    }
    assert_eq!(wal_len(), ahead, "commits overwrite what was written ahead");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&wal_path)
        .expect("open the log")
        .write_all(&vec![0u8; 1 << 20])
        .expect("append");
    for i in 20..40 {
        store
            .create_workflow(new_workflow(&format!("w{i}"), vec![i as u8; 100]))
            .await
            .expect("create");
    }
    let other = SqliteStore::builder(&path)
        .wal_limit(8 << 20)
        .open()
        .expect("open again");
    assert_eq!(wal_len(), ahead + (1 << 20), "long enough already");
    for i in 0..40 {
        let r = other.load_workflow(&format!("w{i}")).await.expect("load");
        assert_eq!(r.input, vec![i as u8; 100]);
    }
    drop((store, other));
    let reopened = SqliteStore::open(&path).expect("reopen");
    assert_eq!(
        reopened
            .list_runs(workflow_rt::store::RunQuery::new())
            .await
            .expect("list")
            .runs
            .len(),
        40
    );
}

/// A file of schema 3 (before child runs) gets the columns `parent_id` and `parent_seq` at
/// open, and keeps its runs, which have no parent.
#[tokio::test]
async fn a_file_of_schema_3_is_upgraded_with_the_parent_columns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v3.db");
    {
        let store = SqliteStore::open(&path).expect("open");
        run_to_completion(&store, "a", 3, 50).await;
    }
    Connection::open(&path)
        .expect("open")
        .execute_batch(&format!(
            "{BEFORE_9} ALTER TABLE workflows DROP COLUMN parent_id; \
             ALTER TABLE workflows DROP COLUMN parent_seq; PRAGMA user_version = 3"
        ))
        .expect("downgrade");
    assert_eq!(
        count(
            &path,
            "SELECT COUNT(*) FROM pragma_table_info('workflows') WHERE name LIKE 'parent%'"
        ),
        0
    );
    let store = SqliteStore::open(&path).expect("upgraded");
    assert_eq!(pragma(&path, "user_version"), SCHEMA);
    assert_eq!(
        count(
            &path,
            "SELECT COUNT(*) FROM pragma_table_info('workflows') WHERE name LIKE 'parent%'"
        ),
        2
    );
    let rec = store
        .load_workflow("a")
        .await
        .expect("the run is read back");
    assert_eq!((rec.status, rec.parent), (WorkflowStatus::Completed, None));
    // Opening it again changes nothing.
    drop(store);
    SqliteStore::open(&path).expect("reopened");
    assert_eq!(pragma(&path, "user_version"), SCHEMA);
}

/// A file of schema 4 (log entries numbered when written, no `history_base`) gets the table at
/// open, starting past the largest number in `history`; its history, moved or not, reads in
/// order, and entries written and moved after the upgrade come after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_schema_4_is_upgraded_and_its_history_keeps_its_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v4.db");
    // As schema 4 left it: entries 1..=5 moved, 6 and 7 in the log with their numbers.
    older_file(
        &path,
        "DELETE FROM history_log; DELETE FROM history;
             INSERT INTO history (workflow_id, n, at, kind, detail) VALUES
                 ('a', 1, 1, 'started', 'e1'), ('a', 2, 2, 'signal', 'e2'),
                 ('a', 3, 3, 'signal', 'e3'), ('a', 4, 4, 'signal', 'e4'),
                 ('a', 5, 5, 'signal', 'e5');
             INSERT INTO history_log (workflow_id, n, at, kind, detail) VALUES
                 ('a', 6, 6, 'signal', 'e6'), ('a', 7, 7, 'signal', 'e7');
             DROP TABLE history_base; PRAGMA user_version = 4;",
    )
    .await;
    let store = SqliteStore::open(&path).expect("upgraded");
    assert_eq!(pragma(&path, "user_version"), SCHEMA);
    assert_eq!(count(&path, "SELECT base FROM history_base"), 5);
    let ats = |h: Vec<HistoryEntry>| h.iter().map(|e| e.at_ms).collect::<Vec<_>>();
    assert_eq!(
        ats(store.history("a").await.expect("history")),
        (1..=7).collect::<Vec<_>>()
    );
    // Enough entries for the log to be moved (the old entries with them).
    for i in 0..5_000u64 {
        store
            .append_signal("a", "s", vec![], None, 100 + i)
            .await
            .expect("signal");
    }
    let expected: Vec<u64> = (1..=7).chain(100..5_100).collect();
    assert_eq!(ats(store.history("a").await.expect("history")), expected);
    drop(store);
    assert!(
        count(&path, "SELECT indexed FROM history_base") >= 4096,
        "the log was indexed"
    );
    assert_eq!(
        count(&path, "SELECT COUNT(*) FROM history"),
        5,
        "what was moved before stays"
    );
}

/// A file of schema 7 (the log moved into segments of `history_moved`) gets the columns that
/// index the log and the triggers of schema 8 at open. A run's history reads what was moved,
/// then the log, in order, before and after the log is indexed; and a move by a program of
/// schema 7 still running on the file is refused, leaving the history as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_schema_7_is_upgraded_and_its_history_keeps_its_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v7.db");
    // Run `a`'s start and 300 entries moved, then two entries left in the log.
    older_file(
        &path,
        &format!(
            "WITH RECURSIVE i(k) AS (SELECT 100 UNION ALL SELECT k + 1 FROM i WHERE k < 399)
                 INSERT INTO history_log (workflow_id, n, at, kind, detail)
                 SELECT 'a', 0, k, 'signal', '' FROM i;
             {MOVE_OF_7}
             INSERT INTO history_log (workflow_id, n, at, kind, detail) VALUES
                 ('a', 0, 400, 'signal', ''), ('a', 0, 401, 'signal', '');
             PRAGMA user_version = 7;"
        ),
    )
    .await;
    assert_eq!(count(&path, "SELECT COUNT(*) FROM history_moved"), 301);
    let store = SqliteStore::open(&path).expect("upgraded");
    assert_eq!(pragma(&path, "user_version"), SCHEMA);
    let ats = |h: Vec<HistoryEntry>| h.iter().map(|e| e.at_ms).collect::<Vec<_>>();
    let mut expected: Vec<u64> = [1].into_iter().chain(100..402).collect();
    assert_eq!(ats(store.history("a").await.expect("history")), expected);
    // Enough entries for the log to be indexed: the segment is numbered past the moved one
    // (the same number would refuse the index, and leave the log unindexed).
    for i in 0..5_000u64 {
        store
            .append_signal("a", "s", vec![], None, 1_000 + i)
            .await
            .expect("signal");
    }
    expected.extend(1_000..6_000);
    assert_eq!(ats(store.history("a").await.expect("history")), expected);
    assert!(count(&path, "SELECT indexed FROM history_base") >= 4096);
    assert_eq!(
        count(
            &path,
            "SELECT COUNT(*) FROM history_runs WHERE workflow_id = 'a' AND seqs IS NOT NULL"
        ),
        1
    );
    // A program of schema 7 moves the log: refused, whole.
    let moved = Connection::open(&path)
        .expect("open")
        .execute_batch(&format!("BEGIN; {MOVE_OF_7} COMMIT;"));
    assert!(
        moved
            .expect_err("refused")
            .to_string()
            .contains("no longer moved since schema 8")
    );
    assert_eq!(count(&path, "SELECT COUNT(*) FROM history_moved"), 301);
    assert_eq!(ats(store.history("a").await.expect("history")), expected);
}

/// Turns the `workflows` table of the file at `path` back into what schemas 1 to 5 kept: a
/// rowid table with a unique index on `id`, with the parent columns (schema 4 and 5) or
/// without them (before), and marks the file with `version`.
fn runs_with_a_rowid(path: &std::path::Path, parents: bool, version: i64) {
    let (parent_columns, copied) = if parents {
        (
            ", parent_id TEXT, parent_seq INTEGER",
            ", parent_id, parent_seq",
        )
    } else {
        ("", "")
    };
    let columns = "id, name, status, input, snapshot, version, pending, output, park_reason, \
                   created_at, updated_at, ready, history_len";
    Connection::open(path)
        .expect("open")
        .execute_batch(&format!(
            "{BEFORE_9}
             CREATE TABLE old_runs (id TEXT NOT NULL UNIQUE, name TEXT NOT NULL, \
                 status INTEGER NOT NULL, input BLOB NOT NULL, snapshot BLOB NOT NULL, \
                 version INTEGER NOT NULL, pending BLOB, output BLOB, park_reason TEXT, \
                 created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, ready INTEGER NOT NULL, \
                 history_len INTEGER NOT NULL{parent_columns});
             INSERT INTO old_runs ({columns}{copied}) SELECT {columns}{copied} FROM workflows;
             DROP TABLE workflows;
             ALTER TABLE old_runs RENAME TO workflows;
             CREATE INDEX workflows_ready ON workflows(id) WHERE ready = 1 AND status = 0;
             CREATE INDEX workflows_status ON workflows(status, id);
             CREATE INDEX workflows_name ON workflows(name, id);
             PRAGMA user_version = {version};"
        ))
        .expect("downgrade");
    assert_eq!(keyed_by_integer(path), 0, "runs keyed by their text id");
}

/// Opens the upgraded file at `path` again, and finds it as it was: of this schema, its runs
/// keyed by an integer.
fn reopens_unchanged(path: &std::path::Path) {
    drop(SqliteStore::open(path).expect("reopened"));
    assert_eq!(
        (pragma(path, "user_version"), keyed_by_integer(path)),
        (SCHEMA, 1)
    );
}

/// A call of activity `charge` that run `id` makes (its `seq`-th command), not yet leased.
fn charge(id: &str, seq: u64) -> workflow_rt::store::ActivityTask {
    workflow_rt::store::ActivityTask {
        workflow_id: id.into(),
        seq,
        scheduled_version: 0,
        name: "charge".into(),
        input: vec![seq as u8],
        options: Default::default(),
        attempt: 0,
        scheduled_at_ms: 5,
        visible_at_ms: 5,
        lease_owner: None,
        lease_until_ms: None,
        heartbeat_details: None,
        deadline_ms: None,
    }
}

/// A file of schema 9 (tasks without the scheduled version of their call) gets the column at
/// open, its calls reading back as scheduled at version 0; an attempt leased before or after
/// the upgrade is answered with that version, and a call made after it keeps its own.
#[tokio::test]
async fn a_file_of_schema_9_is_upgraded_with_the_calls_scheduled_versions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v9.db");
    let v = {
        let store = SqliteStore::open(&path).expect("open");
        let v = store
            .create_workflow(new_workflow("a", vec![1]))
            .await
            .expect("create");
        let outcome = StepOutcome::Suspended {
            snapshot: vec![4],
            pending: vec![5],
            tasks: vec![charge("a", 1)],
            timers: vec![],
        };
        store
            .commit_step(step("a", v, 3, outcome))
            .await
            .expect("step")
    };
    Connection::open(&path)
        .expect("open")
        .execute_batch(&format!(
            "{BEFORE_11} ALTER TABLE tasks DROP COLUMN scheduled_version; PRAGMA user_version = 9"
        ))
        .expect("downgrade");
    let store = SqliteStore::open(&path).expect("upgraded");
    assert_eq!(pragma(&path, "user_version"), SCHEMA);
    let leased = lease_charges(&store, 5).await;
    assert_eq!(
        leased
            .iter()
            .map(|t| (t.seq, t.scheduled_version, t.attempt))
            .collect::<Vec<_>>(),
        [(1, 0, 1)]
    );
    let answer = |version: u64| workflow_rt::store::CompleteActivity {
        workflow_id: "a".into(),
        attempt: workflow_rt::store::TaskAttempt {
            seq: 1,
            scheduled_version: version,
            attempt: 1,
            owner: "w1".into(),
        },
        result: Ok(vec![7]),
        at_ms: 70,
    };
    assert!(
        !store.complete_activity(answer(v)).await.expect("complete"),
        "not the call's version"
    );
    assert!(store.complete_activity(answer(0)).await.expect("complete"));
    // A call made after the upgrade keeps its version.
    let outcome = StepOutcome::Suspended {
        snapshot: vec![4],
        pending: vec![5],
        tasks: vec![workflow_rt::store::ActivityTask {
            scheduled_version: v + 1,
            ..charge("a", 2)
        }],
        timers: vec![],
    };
    store
        .commit_step(step("a", v, 3, outcome))
        .await
        .expect("step");
    let tasks = store.load_tasks("a").await.expect("tasks");
    assert_eq!(
        tasks
            .iter()
            .map(|t| (t.seq, t.scheduled_version))
            .collect::<Vec<_>>(),
        [(2, v + 1)]
    );
}

/// A file of schema 10 (when a task is due stored in a column, `tasks.due`, and indexed) loses
/// the column and its index at open, gains the indexes of schemas 11 and 12, and its tasks come due as they did: a lapsed lease first,
/// then a call waiting to be seen, and a lease still running not at all; the next due is the
/// earliest lease then.
#[tokio::test]
async fn a_file_of_schema_10_is_upgraded_with_its_tasks_due_as_before() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v10.db");
    {
        let store = SqliteStore::open(&path).expect("open");
        let v = store
            .create_workflow(new_workflow("a", vec![1]))
            .await
            .expect("create");
        let leased = |seq, until| workflow_rt::store::ActivityTask {
            attempt: 1,
            lease_owner: Some("w0".into()),
            lease_until_ms: Some(until),
            ..charge("a", seq)
        };
        let outcome = StepOutcome::Suspended {
            snapshot: vec![4],
            pending: vec![5],
            tasks: vec![
                workflow_rt::store::ActivityTask {
                    visible_at_ms: 50,
                    ..charge("a", 1)
                },
                leased(2, 30),
                leased(3, 2_000),
            ],
            timers: vec![],
        };
        store
            .commit_step(step("a", v, 3, outcome))
            .await
            .expect("step");
    }
    Connection::open(&path)
        .expect("open")
        .execute_batch(BEFORE_11)
        .expect("downgrade");
    assert_eq!(
        count(
            &path,
            "SELECT COUNT(*) FROM pragma_table_info('tasks') WHERE name = 'due'"
        ),
        1
    );
    let store = SqliteStore::open(&path).expect("upgraded");
    assert_eq!(pragma(&path, "user_version"), SCHEMA);
    assert_eq!(
        count(
            &path,
            "SELECT COUNT(*) FROM pragma_table_info('tasks') WHERE name = 'due'"
        ),
        0,
        "the column is gone"
    );
    assert_eq!(
        count(
            &path,
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'tasks_due'"
        ),
        0
    );
    assert_eq!(
        count(
            &path,
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' \
             AND name IN ('tasks_next', 'workflows_parent')"
        ),
        2,
        "the indexes of schemas 11 and 12"
    );
    let names = ["charge".to_string()];
    assert_eq!(store.next_task_due(&names).await.expect("next"), Some(30));
    let leased = lease_charges(&store, 5).await;
    assert_eq!(
        leased
            .iter()
            .map(|t| (t.seq, t.attempt, t.lease_until_ms))
            .collect::<Vec<_>>(),
        [(2, 2, Some(1_000)), (1, 1, Some(1_000))]
    );
    assert_eq!(
        store.next_task_due(&names).await.expect("next"),
        Some(1_000)
    );
    drop(store);
    reopens_unchanged(&path);
}

/// Leases up to `limit` calls of `charge` for worker `w1`, at 60 ms.
async fn lease_charges(store: &SqliteStore, limit: usize) -> Vec<workflow_rt::store::ActivityTask> {
    store
        .lease_tasks(workflow_rt::store::LeaseRequest {
            owner: "w1".into(),
            names: vec!["charge".into()],
            now_ms: 60,
            lease_until_ms: 1_000,
            limit,
        })
        .await
        .expect("lease")
}

/// 1 when the file's runs are keyed by an integer (schema 9: `workflows.rid`, the table's
/// rowid), 0 otherwise.
fn keyed_by_integer(path: &std::path::Path) -> i64 {
    count(
        path,
        "SELECT (SELECT wr = 0 FROM pragma_table_list WHERE schema = 'main' AND name = 'workflows') \
             AND EXISTS (SELECT 1 FROM pragma_table_info('workflows') \
                 WHERE name = 'rid' AND pk = 1 AND type = 'INTEGER')",
    )
}

/// A file of schema 5 (runs in a rowid table, found through a unique index on `id`) has its
/// runs copied into a table keyed by an integer at open: every column, version and index
/// kept, the running run steps on from its version, a commit from an older one is refused.
#[tokio::test]
async fn a_file_of_schema_5_is_upgraded_to_runs_keyed_by_an_integer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v5.db");
    let (done, running) = {
        let store = SqliteStore::open(&path).expect("open");
        let done = run_to_completion(&store, "done", 2, 50).await;
        let v = store
            .create_workflow(new_workflow("running", vec![9]))
            .await
            .expect("create");
        let v = store
            .commit_step(step("running", v, 3, suspended()))
            .await
            .expect("step");
        (done, v)
    };
    runs_with_a_rowid(&path, true, 5);
    let store = SqliteStore::open(&path).expect("upgraded");
    assert_eq!(pragma(&path, "user_version"), SCHEMA);
    assert_eq!(keyed_by_integer(&path), 1);
    assert_eq!(
        count(
            &path,
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' \
             AND name IN ('workflows_ready', 'workflows_status', 'workflows_name')"
        ),
        3
    );
    assert_eq!(
        count(
            &path,
            "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE '%before%'"
        ),
        0,
        "the old table is gone"
    );
    let rec = store.load_workflow("done").await.expect("load");
    assert_eq!(
        (rec.status, rec.version, rec.output.as_deref()),
        (
            WorkflowStatus::Completed,
            *done.last().expect("versions"),
            Some(&[7u8][..])
        )
    );
    let rec = store.load_workflow("running").await.expect("load");
    assert_eq!(
        (
            rec.status,
            rec.version,
            rec.input.as_slice(),
            rec.snapshot.as_slice()
        ),
        (WorkflowStatus::Running, running, &[9u8][..], &[4u8][..])
    );
    refused(&store, "running", &[running - 1]).await;
    store
        .commit_step(step("running", running, 60, completed()))
        .await
        .expect("steps on from its version");
    let page = store
        .list_runs(workflow_rt::store::RunQuery::new().name("w"))
        .await
        .expect("list runs");
    assert_eq!(page.runs.len(), 2);
    // Opening it again changes nothing.
    drop(store);
    reopens_unchanged(&path);
}

/// A file of schema 3 (no parent columns, runs in a rowid table) gets both at open: its runs
/// keyed by an integer, with the parent columns empty.
#[tokio::test]
async fn a_file_of_schema_3_is_upgraded_to_runs_keyed_by_an_integer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v3.db");
    let versions = {
        let store = SqliteStore::open(&path).expect("open");
        run_to_completion(&store, "a", 1, 50).await
    };
    runs_with_a_rowid(&path, false, 3);
    let store = SqliteStore::open(&path).expect("upgraded");
    assert_eq!(
        (pragma(&path, "user_version"), keyed_by_integer(&path)),
        (SCHEMA, 1)
    );
    let rec = store.load_workflow("a").await.expect("load");
    assert_eq!(
        (rec.status, rec.version, rec.parent),
        (
            WorkflowStatus::Completed,
            *versions.last().expect("versions"),
            None
        )
    );
}

/// A file of schema 8 (runs, tasks, timers and events keyed by the run's text id) has them
/// copied at open into tables keyed by the run's integer key: the tasks lease, the timers are
/// due with their runs, the inboxes read back with their event ids, the next event is
/// numbered past every one given before (those deleted too), and the runs step on and finish,
/// taking their rows with them.
#[tokio::test]
async fn a_file_of_schema_8_is_upgraded_to_rows_keyed_by_an_integer() {
    use workflow_rt::store::{EventKind, TimerRow};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v8.db");
    let (versions, last_event) = {
        let store = SqliteStore::open(&path).expect("open");
        let mut versions = Vec::new();
        for (i, id) in ["b", "a", "c"].into_iter().enumerate() {
            let v = store
                .create_workflow(new_workflow(id, vec![i as u8]))
                .await
                .expect("create");
            let outcome = StepOutcome::Suspended {
                snapshot: vec![4],
                pending: vec![5],
                tasks: vec![charge(id, 1)],
                timers: vec![TimerRow {
                    seq: 2,
                    fire_at_ms: 100 + i as u64,
                }],
            };
            versions.push(
                store
                    .commit_step(step(id, v, 3, outcome))
                    .await
                    .expect("step"),
            );
        }
        for id in ["a", "b"] {
            store
                .append_signal(id, "go", vec![1], None, 4)
                .await
                .expect("signal");
        }
        // The last event given, then deleted with its run's other rows.
        let last = store
            .append_signal("c", "go", vec![2], None, 4)
            .await
            .expect("signal");
        versions[2] = store
            .commit_step(step("c", versions[2], 6, completed()))
            .await
            .expect("finish c");
        (versions, last)
    };
    Connection::open(&path)
        .expect("open")
        .execute_batch(&format!("{BEFORE_9} {BEFORE_8}"))
        .expect("downgrade");
    assert_eq!(keyed_by_integer(&path), 0);
    let store = SqliteStore::open(&path).expect("upgraded");
    assert_eq!(
        (pragma(&path, "user_version"), keyed_by_integer(&path)),
        (SCHEMA, 1)
    );
    assert_eq!(
        count(
            &path,
            "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE '%before%'"
        ),
        0,
        "the old tables are gone"
    );
    assert_eq!(
        count(
            &path,
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN \
             ('workflows_ready', 'workflows_status', 'workflows_name', 'tasks_next', \
              'timers_due', 'events_workflow')"
        ),
        6
    );
    // The inboxes, with their event ids.
    for id in ["a", "b"] {
        let inbox = store.load_inbox(id).await.expect("inbox");
        assert_eq!(inbox.len(), 1, "{id}");
        assert!(inbox[0].id < last_event);
        assert!(matches!(&inbox[0].kind, EventKind::Signal { name, .. } if name == "go"));
    }
    assert!(store.load_inbox("c").await.expect("inbox").is_empty());
    // The next event comes past every one given before the upgrade.
    let next = store
        .append_signal("a", "again", vec![3], None, 7)
        .await
        .expect("signal");
    assert!(next > last_event, "{next} after {last_event}");
    // The timers, due with their runs, in fire order.
    let due = store
        .due_timers(1_000, None, 10)
        .expect("due timers")
        .await
        .expect("due");
    let found: Vec<(&str, u64, u64, bool)> = due
        .iter()
        .map(|t| {
            (
                t.workflow_id.as_str(),
                t.seq,
                t.fire_at_ms,
                t.workflow.is_some(),
            )
        })
        .collect();
    assert_eq!(found, [("b", 2, 100, true), ("a", 2, 101, true)]);
    assert!(due.iter().all(|t| t.run_key.is_some()));
    let after = store
        .due_timers(1_000, Some(due[0].key()), 10)
        .expect("due timers")
        .await
        .expect("due");
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].workflow_id, "a");
    // The tasks lease, with their runs' ids.
    let leased = lease_charges(&store, 10).await;
    let mut ids: Vec<(&str, u64, Vec<u8>)> = leased
        .iter()
        .map(|t| (t.workflow_id.as_str(), t.seq, t.input.clone()))
        .collect();
    ids.sort();
    assert_eq!(ids, [("a", 1, vec![1]), ("b", 1, vec![1])]);
    // The runs step on from their versions and finish, their rows going with them.
    refused(&store, "a", &[versions[1] - 1]).await;
    let v = store.load_workflow("a").await.expect("a").version;
    store
        .commit_step(step("a", v, 20, completed()))
        .await
        .expect("finish a");
    assert!(store.load_tasks("a").await.expect("tasks").is_empty());
    assert!(store.load_timers("a").await.expect("timers").is_empty());
    assert!(store.load_inbox("a").await.expect("inbox").is_empty());
    assert_eq!(store.load_timers("b").await.expect("timers").len(), 1);
    // Opening it again changes nothing.
    drop(store);
    reopens_unchanged(&path);
}

/// A store remembers the integer keys of the runs it created, for their steps (which hand back
/// none); another process purging a run and creating one under its id, and another run taking
/// the purged run's key, leaves the remembered key wrong: a step then still commits to the
/// run it names, and to no other.
#[tokio::test]
async fn a_remembered_key_made_wrong_by_another_process_commits_to_the_right_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keys.db");
    let here = SqliteStore::open(&path).expect("open");
    let there = SqliteStore::open(&path).expect("open again");
    here.create_workflow(new_workflow("b", vec![1]))
        .await
        .expect("create b");
    // The newest run: its key is the next one given once it is purged.
    let v = here
        .create_workflow(new_workflow("a", vec![2]))
        .await
        .expect("create a");
    let first_key = here.load_workflow("a").await.expect("a").run_key;
    let v = there
        .commit_step(step("a", v, 5, completed()))
        .await
        .expect("finish a there");
    assert!(v > 0);
    there.purge("a").await.expect("purge a there");
    let c = there
        .create_workflow(new_workflow("c", vec![3]))
        .await
        .expect("create c, on a's key");
    let again = there
        .create_workflow(new_workflow("a", vec![4]))
        .await
        .expect("create a again");
    assert_eq!(
        there.load_workflow("c").await.expect("c").run_key,
        first_key,
        "c took the purged run's key"
    );
    // Here, a's step with the key remembered from its first run (now c's).
    let stepped = here
        .commit_step(step("a", again, 6, suspended()))
        .await
        .expect("a's step");
    assert_eq!(stepped, again + 1);
    let a = here.load_workflow("a").await.expect("a");
    assert_eq!(
        (a.version, a.input.as_slice(), a.snapshot.as_slice()),
        (stepped, &[4u8][..], &[4u8][..])
    );
    let rc = here.load_workflow("c").await.expect("c");
    assert_eq!((rc.version, rc.snapshot.as_slice()), (c, &[1u8, 2, 3][..]));
    // And it remembers the right one now: the next step commits too.
    here.commit_step(step("a", stepped, 7, completed()))
        .await
        .expect("a's last step");
    // A remembered key of a run no longer there: not found.
    let b = here.load_workflow("b").await.expect("b").version;
    there
        .commit_step(step("b", b, 8, completed()))
        .await
        .expect("finish b there");
    there.purge("b").await.expect("purge b there");
    assert!(matches!(
        here.commit_step(step("b", b + 1, 9, suspended())).await,
        Err(StoreError::NotFound(_))
    ));
}

/// Rows of a run that is not there (a damaged file: a run's rows go with it) take no place
/// from rows that can be used: a task of no run, first in line, is deleted by the lease that
/// meets it, and the next lease hands out the task behind it; timers of no run, first in fire
/// order, do not count against the limit of a read of due timers, which reads the timer behind
/// them.
#[tokio::test]
async fn rows_of_no_run_take_no_place_from_the_others() {
    use workflow_rt::store::TimerRow;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("orphans.db");
    let store = SqliteStore::open(&path).expect("open");
    let v = store
        .create_workflow(new_workflow("a", vec![1]))
        .await
        .expect("create");
    let outcome = StepOutcome::Suspended {
        snapshot: vec![4],
        pending: vec![5],
        tasks: vec![charge("a", 1)],
        timers: vec![TimerRow {
            seq: 2,
            fire_at_ms: 100,
        }],
    };
    store
        .commit_step(step("a", v, 3, outcome))
        .await
        .expect("step");
    Connection::open(&path)
        .expect("open")
        .execute_batch(
            "INSERT INTO tasks (rid, seq, name, input, options, attempt, scheduled_at, \
                 visible_at) VALUES (9999, 1, 'charge', x'00', x'00', 0, 1, 1);
             INSERT INTO timers (rid, seq, fire_at) VALUES (9999, 1, 10), (9999, 2, 11), \
                 (9998, 1, 12);",
        )
        .expect("rows of no run");
    let leased = lease_charges(&store, 1).await;
    assert!(leased.is_empty(), "the first in line was of no run");
    assert_eq!(
        count(&path, "SELECT COUNT(*) FROM tasks WHERE rid = 9999"),
        0
    );
    let leased = lease_charges(&store, 1).await;
    assert_eq!(
        leased
            .iter()
            .map(|t| (t.workflow_id.as_str(), t.seq))
            .collect::<Vec<_>>(),
        [("a", 1)]
    );
    let due = store
        .due_timers(1_000, None, 1)
        .expect("due timers")
        .await
        .expect("due");
    assert_eq!(
        due.iter()
            .map(|t| (t.workflow_id.as_str(), t.seq))
            .collect::<Vec<_>>(),
        [("a", 2)]
    );
}
