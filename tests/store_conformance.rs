//! Every store passes the same conformance suite.

mod support;

use workflow_rt::store::conformance;
use workflow_rt::{MemoryStore, PostgresStore, SqliteStore, Synchronous};

#[tokio::test]
async fn memory_store_conforms() {
    conformance::run(|| async { MemoryStore::new() }).await;
}

/// The fault-injecting wrapper with delays only (the suite checks answers, which an injected
/// failure would change): a delay anywhere changes no answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_behind_injected_delays_conforms() {
    use workflow_rt::testing::{Faults, FaultyStore};
    let mut seed = 0;
    conformance::run(|| {
        seed += 1;
        let faults = Faults {
            fail_before: 0.0,
            fail_after: 0.0,
            delay: 0.5,
            max_delay: std::time::Duration::from_millis(2),
            stale: 0.0,
            drop_wakeups: true,
            lost_renewals: 0.0,
        };
        async move { FaultyStore::new(MemoryStore::new(), seed, faults) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut n = 0;
    conformance::run(|| {
        n += 1;
        let path = dir.path().join(format!("conformance-{n}.db"));
        async move {
            SqliteStore::builder(path)
                .synchronous(Synchronous::Normal)
                .open()
                .expect("open")
        }
    })
    .await;
}

/// Each check on a schema of its own in one database: a fresh, empty store each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_conforms() {
    let Some(server) = support::postgres::server("postgres_store_conforms") else {
        return;
    };
    let url = server.url();
    conformance::run(|| {
        let url = url.clone();
        async move {
            PostgresStore::builder(url)
                .schema(support::postgres::fresh_schema("conformance"))
                .pool_size(4)
                .connect()
                .await
                .expect("connect")
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_survives_reopening() {
    use workflow_rt::store::{HistoryEntry, HistoryKind, NewWorkflow, Store};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("reopen.db");
    {
        let s = SqliteStore::open(&path).expect("open");
        s.create_workflow(NewWorkflow {
            id: "a".into(),
            name: "wf".into(),
            input: vec![1],
            snapshot: vec![2],
            now_ms: 5,
            history: HistoryEntry::new(5, HistoryKind::Started, "started"),
            parent: None,
            parent_version: None,
            signals: Vec::new(),
            timers: Vec::new(),
        })
        .await
        .expect("create");
        s.append_signal("a", "go", vec![3], None, 6)
            .await
            .expect("signal");
    }
    let s = SqliteStore::open(&path).expect("reopen");
    assert_eq!(s.load_workflow("a").await.expect("load").snapshot, vec![2]);
    assert_eq!(s.load_inbox("a").await.expect("inbox").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_history_survives_its_compaction() {
    use workflow_rt::store::{HistoryEntry, HistoryKind, NewWorkflow, Store};
    let dir = tempfile::tempdir().expect("tempdir");
    let s = SqliteStore::builder(dir.path().join("history.db"))
        .synchronous(Synchronous::Off)
        .open()
        .expect("open");
    for id in ["a", "b"] {
        s.create_workflow(NewWorkflow {
            id: id.into(),
            name: "wf".into(),
            input: vec![],
            snapshot: vec![],
            now_ms: 0,
            history: HistoryEntry::new(0, HistoryKind::Started, "started"),
            parent: None,
            parent_version: None,
            signals: Vec::new(),
            timers: Vec::new(),
        })
        .await
        .expect("create");
    }
    // Enough entries for the log to be indexed twice or more, and some after.
    for i in 0..10_000u64 {
        let id = if i % 3 == 0 { "a" } else { "b" };
        s.append_signal(id, &format!("s{i}"), vec![], None, i)
            .await
            .expect("signal");
    }
    for (id, expected) in [("a", 1 + 3334), ("b", 1 + 6666)] {
        let h = s.history(id).await.expect("history");
        assert_eq!(h.len(), expected, "{id}: every entry, moved or not");
        assert_eq!(h[0].kind, HistoryKind::Started);
        // Each signal's entry once, in the order they came (`at` is the signal's number).
        let ats: Vec<u64> = h[1..].iter().map(|e| e.at_ms).collect();
        let sent: Vec<u64> = (0..10_000u64)
            .filter(|i| (i % 3 == 0) == (id == "a"))
            .collect();
        assert_eq!(ats, sent, "{id}: every entry once, in order");
    }
    let raw = rusqlite::Connection::open(dir.path().join("history.db")).expect("open");
    let (indexed, segments): (i64, i64) = raw
        .query_row(
            "SELECT (SELECT indexed FROM history_base), \
                    (SELECT COUNT(DISTINCT segment) FROM history_runs)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("count");
    assert!(
        indexed >= 8192 && segments >= 2,
        "the log was indexed twice or more ({indexed} entries, {segments} segments)"
    );
}

/// The defaults the README promises: WAL, `synchronous=FULL` (nothing committed is lost, even
/// on a power cut), read back from the connection that writes; and an explicit setting is
/// applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_defaults_are_wal_and_synchronous_full() {
    use workflow_rt::store::SqliteSettings;
    let dir = tempfile::tempdir().expect("tempdir");
    let default = SqliteStore::open(dir.path().join("default.db")).expect("open");
    assert_eq!(
        default.settings().await.expect("settings"),
        SqliteSettings {
            journal_mode: "wal".into(),
            synchronous: Synchronous::Full,
        }
    );
    for level in [Synchronous::Off, Synchronous::Normal, Synchronous::Extra] {
        let s = SqliteStore::builder(dir.path().join(format!("{level:?}.db")))
            .synchronous(level)
            .open()
            .expect("open");
        let got = s.settings().await.expect("settings");
        assert_eq!((got.journal_mode.as_str(), got.synchronous), ("wal", level));
    }
    // WAL is a property of the file: another connection sees it too.
    let raw = rusqlite::Connection::open(dir.path().join("default.db")).expect("open");
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("pragma");
    assert_eq!(mode, "wal");
}
