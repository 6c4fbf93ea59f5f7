//! The SQLite store and the file it is given: a schema version checked at open, other
//! applications' files left alone, damaged rows reported one by one, a bounded write-ahead log.

use rusqlite::Connection;
use workflow_rt::store::{HistoryEntry, HistoryKind, NewWorkflow, Store, StoreError};
use workflow_rt::{SqliteStore, WorkflowStatus};

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
    }
}

#[test]
fn a_new_file_is_marked_as_a_workflow_store_with_its_schema_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("new.db");
    drop(SqliteStore::open(&path).expect("open"));
    assert_eq!(pragma(&path, "application_id"), 0x5746_5254);
    assert_eq!(pragma(&path, "user_version"), 2);
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
        .execute_batch("PRAGMA user_version = 7")
        .expect("bump");
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(&err, StoreError::NewerSchema { found: 7, supported: 2, location } if location.ends_with("newer.db")),
        "{err:?}"
    );
    assert!(err.to_string().contains("upgrade the program"), "{err}");
    assert_eq!(pragma(&path, "user_version"), 7);
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
    // What an older build left: the same tables, both pragmas at 0.
    Connection::open(&path)
        .expect("open")
        .execute_batch("PRAGMA application_id = 0; PRAGMA user_version = 0")
        .expect("reset");
    drop(SqliteStore::open(&path).expect("adopted"));
    assert_eq!(pragma(&path, "user_version"), 2);
}

/// A file of schema 1 (before runs were listed by name) gets the index at open, and keeps its
/// runs.
#[tokio::test]
async fn a_file_of_schema_1_is_upgraded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v1.db");
    {
        let store = SqliteStore::open(&path).expect("open");
        store
            .create_workflow(new_workflow("a", vec![0]))
            .await
            .expect("create");
    }
    Connection::open(&path)
        .expect("open")
        .execute_batch("DROP INDEX workflows_name; PRAGMA user_version = 1")
        .expect("downgrade");
    let store = SqliteStore::open(&path).expect("upgraded");
    assert_eq!(pragma(&path, "user_version"), 2);
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
