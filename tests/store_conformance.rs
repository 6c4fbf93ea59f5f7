//! Every store passes the same conformance suite.

use workflow_rt::store::conformance;
use workflow_rt::{MemoryStore, SqliteStore, Synchronous};

#[tokio::test]
async fn memory_store_conforms() {
    conformance::run(|| async { MemoryStore::new() }).await;
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
        })
        .await
        .expect("create");
        s.append_signal("a", "go", vec![3], 6)
            .await
            .expect("signal");
    }
    let s = SqliteStore::open(&path).expect("reopen");
    assert_eq!(s.load_workflow("a").await.expect("load").snapshot, vec![2]);
    assert_eq!(s.load_inbox("a").await.expect("inbox").len(), 1);
}
