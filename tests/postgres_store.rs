//! `PostgresStore` on its own: typed errors for what can go wrong before and after it
//! connects (a wrong URL, no server, a schema from newer code, a server that goes away and
//! comes back, a worker whose connections the server cuts), and its schema set up once however
//! many processes start at the same time.
//! The conformance suite runs on it in `store_conformance.rs`; several runtimes and processes
//! share one database in `runtime_two_workers.rs` and in `notifications_carry_work_between_processes_without_polling` below.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::postgres::{Server, fresh_schema, server};
use support::{Mode, both_modes, within_secs};
use workflow_rt::prelude::*;
use workflow_rt::store::{HistoryEntry, HistoryKind, NewWorkflow, SCHEMA_VERSION, Store};
use workflow_rt::{PostgresError, PostgresStore, StoreError, WorkflowStatus};

fn new_workflow(id: &str) -> NewWorkflow {
    NewWorkflow {
        id: id.into(),
        name: "wf".into(),
        input: vec![1],
        snapshot: vec![2],
        now_ms: 5,
        history: HistoryEntry::new(5, HistoryKind::Started, "started"),
        parent: None,
        parent_version: None,
        signals: Vec::new(),
        timers: Vec::new(),
    }
}

/// A plain connection, for what the store does not do (change its version row by hand).
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

#[tokio::test]
async fn a_wrong_url_is_a_typed_error() {
    for url in [
        "postgres://u@127.0.0.1:notaport/db",
        "mysql://u@127.0.0.1/db",
        "host=127.0.0.1 port=",
    ] {
        match PostgresStore::connect(url).await {
            Err(PostgresError::InvalidUrl(_)) => {}
            other => panic!("{url:?}: expected InvalidUrl, got {other:?}"),
        }
    }
    match PostgresStore::builder("postgres://u@127.0.0.1/db")
        .schema("x; DROP TABLE workflows")
        .connect()
        .await
    {
        Err(PostgresError::InvalidSchemaName(name)) => {
            assert_eq!(name, "x; DROP TABLE workflows")
        }
        other => panic!("expected InvalidSchemaName, got {other:?}"),
    }
}

#[tokio::test]
async fn no_server_is_a_typed_error_not_a_hang() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let got = within_secs(
        30,
        "connect to nothing",
        PostgresStore::builder(url)
            .connect_timeout(Duration::from_secs(2))
            .connect(),
    )
    .await;
    match got {
        Err(PostgresError::Connect(StoreError::Backend(_))) => {}
        other => panic!("expected Connect, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_from_newer_code_is_refused_and_left_alone() {
    let Some(server) = server("a_schema_from_newer_code_is_refused_and_left_alone") else {
        return;
    };
    let schema = fresh_schema("newer");
    let store = PostgresStore::builder(server.url())
        .schema(schema.clone())
        .connect()
        .await
        .expect("connect");
    store
        .create_workflow(new_workflow("a"))
        .await
        .expect("create");
    drop(store);
    let raw = raw(&server.url(), &schema).await;
    raw.execute(
        "UPDATE workflow_rt_schema SET version = $1",
        &[&(SCHEMA_VERSION + 1)],
    )
    .await
    .expect("bump");
    match PostgresStore::builder(server.url())
        .schema(schema.clone())
        .connect()
        .await
    {
        Err(PostgresError::NewerSchema { found, supported }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION))
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    let version: i32 = raw
        .query_one("SELECT version FROM workflow_rt_schema", &[])
        .await
        .expect("version")
        .get(0);
    assert_eq!(version, SCHEMA_VERSION + 1, "the refusal wrote nothing");
    let rows: i64 = raw
        .query_one("SELECT count(*) FROM workflows", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(rows, 1);
}

/// A database of schema 1 (before `workflows.last_event`) is upgraded at connect: the column
/// is filled from the events already buffered, and a step commits on it with the ready flag
/// right.
#[tokio::test]
async fn a_schema_from_older_code_is_upgraded() {
    let Some(server) = server("a_schema_from_older_code_is_upgraded") else {
        return;
    };
    let schema = fresh_schema("older");
    let store = PostgresStore::builder(server.url())
        .schema(schema.clone())
        .connect()
        .await
        .expect("connect");
    store
        .create_workflow(new_workflow("a"))
        .await
        .expect("create");
    let e1 = store
        .append_signal("a", "go", vec![1], None, 6)
        .await
        .expect("signal");
    let e2 = store
        .append_signal("a", "go", vec![2], None, 7)
        .await
        .expect("signal");
    drop(store);
    // Back to schema 1, as older code left it.
    let raw = raw(&server.url(), &schema).await;
    raw.batch_execute(
        "ALTER TABLE workflows DROP COLUMN last_event; DROP INDEX workflows_name; \
         DROP INDEX workflows_parent; DROP TABLE tombstones, version_floor, schedules; \
         UPDATE workflow_rt_schema SET version = 1",
    )
    .await
    .expect("downgrade");
    let store = PostgresStore::builder(server.url())
        .schema(schema.clone())
        .connect()
        .await
        .expect("connect upgrades");
    let (version, last): (i32, i64) = {
        let v = raw
            .query_one("SELECT version FROM workflow_rt_schema", &[])
            .await
            .expect("version")
            .get(0);
        let l = raw
            .query_one("SELECT last_event FROM workflows WHERE id = 'a'", &[])
            .await
            .expect("last_event")
            .get(0);
        (v, l)
    };
    assert_eq!((version, last), (SCHEMA_VERSION, e2 as i64));
    let indexes: i64 = raw
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND indexname = 'workflows_name'",
            &[&schema],
        )
        .await
        .expect("index")
        .get(0);
    assert_eq!(indexes, 1, "version 3 adds the index of runs by name");
    let indexes: i64 = raw
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = $1 \
             AND indexname = 'workflows_parent'",
            &[&schema],
        )
        .await
        .expect("index")
        .get(0);
    assert_eq!(
        indexes, 1,
        "version 7 adds the index of child runs by parent"
    );
    let floor: i64 = raw
        .query_one("SELECT version FROM version_floor", &[])
        .await
        .expect("version 4 adds the version floor")
        .get(0);
    assert_eq!(floor, 0);
    // A step that saw only the first signal leaves the workflow ready; one that saw both
    // does not.
    let step = |expected_version, seen| workflow_rt::store::StepCommit {
        children: Vec::new(),
        workflow_id: "a".into(),
        run_key: None,
        expected_version,
        now_ms: 8,
        outcome: workflow_rt::store::StepOutcome::Suspended {
            snapshot: vec![3],
            pending: vec![4],
            tasks: vec![],
            timers: vec![],
        },
        consumed_events: vec![],
        completed_tasks: vec![],
        cancelled: vec![],
        fired_timers: Vec::new(),
        seen_events_upto: seen,
        keep_ready: false,
        history: vec![HistoryEntry::new(8, HistoryKind::Step, "step")],
        deliver: Vec::new(),
    };
    assert_eq!(store.commit_step(step(0, e1)).await, Ok(1));
    assert!(store.load_workflow("a").await.expect("load").ready);
    assert_eq!(store.commit_step(step(1, e2)).await, Ok(2));
    assert!(!store.load_workflow("a").await.expect("load").ready);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_processes_starting_at_once_set_the_schema_up_once() {
    let Some(server) = server("many_processes_starting_at_once_set_the_schema_up_once") else {
        return;
    };
    let schema = fresh_schema("racing");
    let mut connects = tokio::task::JoinSet::new();
    for _ in 0..6 {
        connects.spawn(
            PostgresStore::builder(server.url())
                .schema(schema.clone())
                .pool_size(2)
                .connect(),
        );
    }
    let stores: Vec<PostgresStore> = connects
        .join_all()
        .await
        .into_iter()
        .map(|r| r.expect("every connect succeeds"))
        .collect();
    stores[0]
        .create_workflow(new_workflow("a"))
        .await
        .expect("create");
    for s in &stores {
        assert_eq!(s.load_workflow("a").await.expect("load").input, vec![1]);
    }
    // Connecting again to a schema at this version changes nothing.
    let again = PostgresStore::builder(server.url())
        .schema(schema.clone())
        .connect()
        .await
        .expect("reconnect");
    assert_eq!(again.list_workflows(None).await.expect("list").len(), 1);
    let raw = raw(&server.url(), &schema).await;
    let rows: Vec<i32> = raw
        .query("SELECT version FROM workflow_rt_schema", &[])
        .await
        .expect("version")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(rows, vec![SCHEMA_VERSION]);
}

/// Two processes purging at once: no run is purged twice, none is left behind, and a run
/// both ask for is purged by one while the other finds it gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purges_from_two_processes_never_collide() {
    use workflow_rt::store::{RunQuery, StepCommit, StepOutcome};
    let Some(server) = server("purges_from_two_processes_never_collide") else {
        return;
    };
    let schema = fresh_schema("purge");
    let connect = || {
        PostgresStore::builder(server.url())
            .schema(schema.clone())
            .pool_size(4)
            .connect()
    };
    let (one, two) = (
        connect().await.expect("connect"),
        connect().await.expect("connect"),
    );
    let finish = |id: &str, expected_version: u64, at: u64| StepCommit {
        children: Vec::new(),
        workflow_id: id.into(),
        run_key: None,
        expected_version,
        now_ms: at,
        outcome: StepOutcome::Finished {
            status: WorkflowStatus::Completed,
            snapshot: vec![],
            output: vec![],
        },
        consumed_events: vec![],
        completed_tasks: vec![],
        cancelled: vec![],
        fired_timers: Vec::new(),
        seen_events_upto: 0,
        keep_ready: false,
        history: vec![HistoryEntry::new(at, HistoryKind::Completed, "done")],
        deliver: Vec::new(),
    };
    let mut all = Vec::new();
    for i in 0..60u64 {
        let id = format!("w{i:02}");
        let v = one
            .create_workflow(new_workflow(&id))
            .await
            .expect("create");
        one.commit_step(finish(&id, v, 100 + i))
            .await
            .expect("finish");
        all.push(id);
    }
    let mut purged: Vec<String> = Vec::new();
    loop {
        let (a, b) = tokio::join!(one.purge_finished(1000, 7), two.purge_finished(1000, 7));
        let (a, b) = (a.expect("purge"), b.expect("purge"));
        if a.is_empty() && b.is_empty() {
            break;
        }
        purged.extend(a);
        purged.extend(b);
    }
    purged.sort();
    assert_eq!(purged, all, "every run purged once");
    assert!(
        two.list_runs(RunQuery::new())
            .await
            .expect("list runs")
            .runs
            .is_empty()
    );
    for round in 0..10 {
        let id = format!("z{round}");
        let v = one
            .create_workflow(new_workflow(&id))
            .await
            .expect("create");
        one.commit_step(finish(&id, v, 5)).await.expect("finish");
        let (a, b) = tokio::join!(one.purge(&id), two.purge(&id));
        let mut outcomes = [a, b];
        outcomes.sort_by_key(|r| r.is_err());
        assert!(
            matches!(&outcomes, [Ok(()), Err(StoreError::NotFound(gone))] if *gone == id),
            "one purges, the other finds it gone: {outcomes:?}"
        );
    }
}

fn commit(
    id: &str,
    expected_version: u64,
    outcome: workflow_rt::store::StepOutcome,
) -> workflow_rt::store::StepCommit {
    workflow_rt::store::StepCommit {
        children: Vec::new(),
        workflow_id: id.into(),
        run_key: None,
        expected_version,
        now_ms: 50,
        outcome,
        consumed_events: vec![],
        completed_tasks: vec![],
        cancelled: vec![],
        fired_timers: Vec::new(),
        seen_events_upto: 0,
        keep_ready: false,
        history: vec![HistoryEntry::new(50, HistoryKind::Step, "step")],
        deliver: Vec::new(),
    }
}

fn suspended() -> workflow_rt::store::StepOutcome {
    workflow_rt::store::StepOutcome::Suspended {
        snapshot: vec![3],
        pending: vec![4],
        tasks: vec![],
        timers: vec![],
    }
}

/// Creates run `id`, steps it `steps` times and completes it; returns every version it had.
async fn run_to_completion(store: &PostgresStore, id: &str, steps: usize) -> Vec<u64> {
    let mut versions = vec![
        store
            .create_workflow(new_workflow(id))
            .await
            .expect("create"),
    ];
    for i in 0..=steps {
        let v = *versions.last().expect("a version");
        let outcome = if i == steps {
            workflow_rt::store::StepOutcome::Finished {
                status: WorkflowStatus::Completed,
                snapshot: vec![5],
                output: vec![6],
            }
        } else {
            suspended()
        };
        versions.push(
            store
                .commit_step(commit(id, v, outcome))
                .await
                .expect("step"),
        );
    }
    versions
}

/// Every commit from one of `old` conflicts with the run now under `id`.
async fn refused(store: &PostgresStore, id: &str, old: &[u64]) {
    for &v in old {
        assert!(
            matches!(
                store.commit_step(commit(id, v, suspended())).await,
                Err(StoreError::Conflict { expected, .. }) if expected == v
            ),
            "a commit from version {v} of an earlier run under {id:?}"
        );
    }
}

/// A database of schema 3 (before tombstones) gets the tables at connect, keeps its runs,
/// and the runs purged from then on leave tombstones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_3_database_gets_tombstones() {
    let Some(server) = server("a_schema_3_database_gets_tombstones") else {
        return;
    };
    let schema = fresh_schema("v3");
    let connect = || {
        PostgresStore::builder(server.url())
            .schema(schema.clone())
            .pool_size(2)
            .connect()
    };
    let (a, b) = {
        let store = connect().await.expect("connect");
        (
            run_to_completion(&store, "a", 3).await,
            run_to_completion(&store, "b", 2).await,
        )
    };
    let raw = raw(&server.url(), &schema).await;
    raw.batch_execute(
        "DROP TABLE tombstones, version_floor, schedules; UPDATE workflow_rt_schema SET version = 3",
    )
    .await
    .expect("downgrade");
    let store = connect().await.expect("connect upgrades");
    let version: i32 = raw
        .query_one("SELECT version FROM workflow_rt_schema", &[])
        .await
        .expect("version")
        .get(0);
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(store.list_workflows(None).await.expect("list").len(), 2);

    store.purge("a").await.expect("purge");
    let tombstone: i64 = raw
        .query_one("SELECT version FROM tombstones WHERE id = 'a'", &[])
        .await
        .expect("a tombstone")
        .get(0);
    assert_eq!(tombstone, *a.last().expect("versions") as i64);
    let again = store
        .create_workflow(new_workflow("a"))
        .await
        .expect("create");
    assert!(again > *a.last().expect("versions"), "{again} after {a:?}");
    let left: i64 = raw
        .query_one("SELECT count(*) FROM tombstones", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(left, 0, "the new run took the tombstone away");
    refused(&store, "a", &a).await;

    assert_eq!(
        store
            .purge_finished(1000, 10)
            .await
            .expect("purge finished"),
        ["b"]
    );
    let again = store
        .create_workflow(new_workflow("b"))
        .await
        .expect("create");
    assert!(again > *b.last().expect("versions"), "{again} after {b:?}");
    refused(&store, "b", &b).await;
}

/// A database of schema 4 (before schedules) gets the table at connect, keeps its runs, and
/// takes schedules from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_4_database_gets_schedules() {
    use workflow_rt::schedule::{Overlap, ScheduleSpec};
    use workflow_rt::store::ScheduleRecord;

    let Some(server) = server("a_schema_4_database_gets_schedules") else {
        return;
    };
    let schema = fresh_schema("v4");
    let connect = || {
        PostgresStore::builder(server.url())
            .schema(schema.clone())
            .pool_size(2)
            .connect()
    };
    {
        let store = connect().await.expect("connect");
        run_to_completion(&store, "a", 2).await;
    }
    let raw = raw(&server.url(), &schema).await;
    raw.batch_execute("DROP TABLE schedules; UPDATE workflow_rt_schema SET version = 4")
        .await
        .expect("downgrade");
    let store = connect().await.expect("connect upgrades");
    let version: i32 = raw
        .query_one("SELECT version FROM workflow_rt_schema", &[])
        .await
        .expect("version")
        .get(0);
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(store.list_workflows(None).await.expect("list").len(), 1);
    assert!(store.list_schedules().await.expect("list").is_empty());
    let schedule = ScheduleRecord {
        name: "nightly".into(),
        workflow: "w".into(),
        workflow_version: Some(2),
        note: Some("paused by a worker".into()),
        input: vec![1],
        spec: ScheduleSpec::cron("0 2 * * *").in_zone("Europe/Paris"),
        overlap: Overlap::Allow,
        catch_up_ms: 60_000,
        run_timeout_ms: Some(3_600_000),
        paused: false,
        cursor_ms: 0,
        next_fire_ms: Some(3_600_000),
        buffered_ms: None,
        starting: vec![5, 6],
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
    assert_eq!(
        store.load_schedule("nightly").await.expect("load"),
        schedule
    );
}

/// Waits until a backend waits for a lock `blocker` (a backend's pid) holds; returns its pid.
async fn blocked_by(raw: &tokio_postgres::Client, blocker: i32, what: &str) -> i32 {
    let mut pid = None;
    within_secs(30, what, async {
        while pid.is_none() {
            pid = raw
                .query_opt(
                    "SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid)) LIMIT 1",
                    &[&blocker],
                )
                .await
                .expect("pg_stat_activity")
                .map(|r| r.get(0));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    pid.expect("a blocked backend")
}

/// A run created while another process purges its id (the insert waits for the purge's
/// delete of the old row to commit) still starts past the tombstone that purge leaves; and
/// one created while `purge_finished` drops the id's tombstone (the tombstone's delete waits
/// for it) starts past the floor that raises. Each interleaving is forced with locks held by
/// a third connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_created_during_a_purge_of_its_id_starts_past_it() {
    let Some(server) = server("a_run_created_during_a_purge_of_its_id_starts_past_it") else {
        return;
    };
    let schema = fresh_schema("tombrace");
    let connect = || {
        PostgresStore::builder(server.url())
            .schema(schema.clone())
            .pool_size(2)
            .connect()
    };
    let one = Arc::new(connect().await.expect("connect"));
    let two = Arc::new(connect().await.expect("connect"));
    let mut holder = raw(&server.url(), &schema).await;
    let watcher = raw(&server.url(), &schema).await;
    let holder_pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);

    // A purge that has deleted the run and waits to write its tombstone (behind an
    // uncommitted one of the holder's), and a create of the id waiting for that purge.
    let x = run_to_completion(&one, "x", 3).await;
    let tx = holder.transaction().await.expect("begin");
    tx.execute(
        "INSERT INTO tombstones (id, version, finished_at) VALUES ('x', 0, 0)",
        &[],
    )
    .await
    .expect("hold the tombstone's key");
    let purge = tokio::spawn({
        let two = two.clone();
        async move { two.purge("x").await }
    });
    let purger = blocked_by(&watcher, holder_pid, "the purge waits for the holder").await;
    let create = tokio::spawn({
        let one = one.clone();
        async move { one.create_workflow(new_workflow("x")).await }
    });
    blocked_by(&watcher, purger, "the create waits for the purge").await;
    tx.rollback().await.expect("release");
    within_secs(30, "the purge", purge)
        .await
        .expect("join")
        .expect("purge");
    let version = within_secs(30, "the create", create)
        .await
        .expect("join")
        .expect("create");
    assert!(
        version > *x.last().expect("versions"),
        "created during the purge at {version}, after {x:?}"
    );
    refused(&one, "x", &x).await;

    // A `purge_finished` that has dropped the tombstone of "y" and waits to raise the floor
    // (locked by the holder), and a create of "y" waiting for that tombstone's row.
    let y = run_to_completion(&one, "y", 4).await;
    one.purge("y").await.expect("purge");
    let tx = holder.transaction().await.expect("begin");
    tx.execute("SELECT version FROM version_floor FOR UPDATE", &[])
        .await
        .expect("hold the floor");
    let dropping = tokio::spawn({
        let two = two.clone();
        async move { two.purge_finished(1000, 10).await }
    });
    let dropper = blocked_by(&watcher, holder_pid, "purge_finished waits for the holder").await;
    let create = tokio::spawn({
        let one = one.clone();
        async move { one.create_workflow(new_workflow("y")).await }
    });
    blocked_by(&watcher, dropper, "the create waits for purge_finished").await;
    tx.rollback().await.expect("release");
    let purged = within_secs(30, "purge_finished", dropping)
        .await
        .expect("join")
        .expect("purge finished");
    assert!(purged.is_empty(), "only a tombstone was due: {purged:?}");
    let version = within_secs(30, "the create", create)
        .await
        .expect("join")
        .expect("create");
    assert!(
        version > *y.last().expect("versions"),
        "created while its tombstone was dropped at {version}, after {y:?}"
    );
    refused(&one, "y", &y).await;
}

#[activity]
async fn double(_ctx: ActivityCtx, n: u64) -> Result<u64, ActivityError> {
    Ok(n * 2)
}

#[workflow]
async fn outlives_the_server(ctx: WorkflowCtx, n: u64) -> u64 {
    let a: u64 = ctx.activity(double, n).await.unwrap_or(0);
    let extra: u64 = ctx.signal::<u64>("extra").await;
    ctx.sleep(Duration::from_millis(50)).await;
    let b: u64 = ctx.activity(double, a + extra).await.unwrap_or(0);
    b
}

/// The server stops (as in a crash: `pg_ctl stop -m immediate`) while a runtime waits on it
/// and comes back on the same port: the store gives typed errors meanwhile, then reconnects
/// by itself; the workflow, its buffered signal and its timer come through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_reconnects_when_the_server_comes_back() {
    let Some(server) = server("the_store_reconnects_when_the_server_comes_back") else {
        return;
    };
    let Server::Own(cluster) = &server else {
        eprintln!(
            "the_store_reconnects_when_the_server_comes_back: skipped, DATABASE_URL is a server this test cannot stop"
        );
        return;
    };
    both_modes(async |mode: Mode| {
        let store = Arc::new(
            PostgresStore::builder(server.url())
                .schema(fresh_schema("restart"))
                .connect_timeout(Duration::from_secs(2))
                .connect()
                .await
                .expect("connect"),
        );
        let rt = mode
            .apply(Runtime::builder(store.clone()))
            .workflow(outlives_the_server)
            .activity(double)
            .poll_interval(Duration::from_millis(20))
            .build()
            .await
            .expect("build");
        let id = mode.id("through-a-restart");
        let run = rt
            .start(outlives_the_server, id.clone(), 5)
            .await
            .expect("start");
        support::eventually("the first call is answered", || async {
            store.load_workflow(&id).await.is_ok_and(|r| r.version >= 2)
        })
        .await;

        cluster.stop().expect("stop the server");
        match within_secs(
            30,
            "a load while the server is down",
            store.load_workflow(&id),
        )
        .await
        {
            Err(StoreError::Backend(_)) => {}
            other => panic!("expected a backend error, got {other:?}"),
        }
        match within_secs(
            30,
            "a signal while the server is down",
            rt.signal(&id, "extra", 1u64),
        )
        .await
        {
            Err(_) => {}
            Ok(()) => panic!("a signal cannot be stored while the server is down"),
        }
        cluster.restart().expect("restart the server");

        // Failed calls are the caller's to repeat; the store has reconnected meanwhile.
        within_secs(30, "the signal once the server is back", async {
            loop {
                match rt.signal(&id, "extra", 1u64).await {
                    Ok(()) => break,
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        })
        .await;
        let out = within_secs(60, "the result", run.result())
            .await
            .expect("result");
        assert_eq!(out, (5 * 2 + 1) * 2);
        let rec = store.load_workflow(&id).await.expect("load");
        assert_eq!(rec.status, WorkflowStatus::Completed);
        let signals = store
            .history(&id)
            .await
            .expect("history")
            .iter()
            .filter(|e| e.kind == HistoryKind::Signal)
            .count();
        assert_eq!(signals, 1, "the signal was stored once");
        rt.shutdown().await;
        (out, rec.version)
    })
    .await;
}

#[activity]
async fn far_away(_ctx: ActivityCtx, n: u64) -> Result<u64, ActivityError> {
    Ok(n + 1)
}

#[workflow]
async fn across_processes(ctx: WorkflowCtx, n: u64) -> u64 {
    let a: u64 = ctx.activity(far_away, n).await.unwrap_or(0);
    let b: u64 = ctx.signal::<u64>("more").await;
    a + b
}

/// Work handed between processes arrives by notification, not by polling: every runtime here
/// polls once an hour, the workflow's runtime runs no activity and the activity's runtime no
/// workflow, and the signal comes through a third store. Each hand-over (a new task, a
/// finished activity, a signal) reaches the process that must act on it through `NOTIFY`; the
/// run finishes in well under the first poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_carry_work_between_processes_without_polling() {
    let Some(server) = server("notifications_carry_work_between_processes_without_polling") else {
        return;
    };
    both_modes(async |mode: Mode| {
        let schema = fresh_schema("notify");
        let connect = || {
            PostgresStore::builder(server.url())
                .schema(schema.clone())
                .connect()
        };
        let hour = Duration::from_secs(3600);
        let steps = mode
            .apply(Runtime::builder(connect().await.expect("connect")))
            .workflow(across_processes)
            .allow_missing_activities()
            .poll_interval(hour)
            .worker_id("steps")
            .build()
            .await
            .expect("build");
        let acts = Runtime::builder(connect().await.expect("connect"))
            .activity(far_away)
            .poll_interval(hour)
            .worker_id("acts")
            .build()
            .await
            .expect("build");
        let sender = connect().await.expect("connect");
        let mut outs = Vec::new();
        for n in 0..5u64 {
            let id = mode.id(&format!("notify-{n}"));
            let run = steps
                .start(across_processes, id.clone(), n)
                .await
                .expect("start");
            support::eventually("the activity's result is in", || async {
                sender
                    .load_workflow(&id)
                    .await
                    .is_ok_and(|r| r.version >= 2)
            })
            .await;
            let payload = postcard::to_stdvec(&10u64).expect("encode");
            sender
                .append_signal(&id, "more", payload, None, 0)
                .await
                .expect("signal");
            let out = within_secs(30, "the result", run.result())
                .await
                .expect("result");
            assert_eq!(out, n + 1 + 10);
            outs.push(out);
        }
        steps.shutdown().await;
        acts.shutdown().await;
        outs
    })
    .await;
}

#[activity]
async fn triple(_ctx: ActivityCtx, n: u64) -> Result<u64, ActivityError> {
    tokio::time::sleep(Duration::from_millis(2)).await;
    Ok(n * 3)
}

#[workflow]
async fn cut_off(ctx: WorkflowCtx, n: u64) -> u64 {
    let a: u64 = ctx.activity(triple, n).await.unwrap_or(0);
    ctx.sleep(Duration::from_millis(20)).await;
    let extra: u64 = ctx.signal::<u64>("extra").await;
    let b: u64 = ctx.activity(triple, a + extra).await.unwrap_or(0);
    b
}

/// The server cuts every connection of one of two workers (`pg_terminate_backend`, as a
/// failover or an administrator would), again and again while forty workflows run on both:
/// that worker's pool and listener reconnect by themselves, and every workflow ends with its
/// output, each signal taken once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_connections_are_cut_reconnects_and_nothing_is_lost_or_doubled() {
    let Some(server) = server("a_worker_whose_connections_are_cut_reconnects") else {
        return;
    };
    both_modes(async |mode: Mode| {
        let schema = fresh_schema("cut");
        let url = server.url();
        let with_name = |name: &str| {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}application_name={name}")
        };
        let worker = |name: &'static str| {
            let url = with_name(name);
            let schema = schema.clone();
            async move {
                let store = PostgresStore::builder(url)
                    .schema(schema)
                    .connect_timeout(Duration::from_secs(2))
                    .connect()
                    .await
                    .expect("connect");
                mode.apply(Runtime::builder(store))
                    .workflow(cut_off)
                    .activity(triple)
                    .worker_id(name)
                    .lease_duration(Duration::from_secs(2))
                    .poll_interval(Duration::from_millis(20))
                    .build()
                    .await
                    .expect("build")
            }
        };
        let a = worker("wf_cut_a").await;
        let b = worker("wf_cut_b").await;
        let admin = raw(&url, &schema).await;
        let ids: Vec<String> = (0..40u64).map(|i| mode.id(&format!("cut-{i}"))).collect();
        for (i, id) in ids.iter().enumerate() {
            let rt = if i % 2 == 0 { &a } else { &b };
            rt.start(cut_off, id.as_str(), i as u64)
                .await
                .expect("start");
        }
        let mut cuts = 0;
        for round in 0..6 {
            let cut = admin
                .query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE application_name = 'wf_cut_b'",
                    &[],
                )
                .await
                .expect("terminate");
            cuts += cut.len();
            // Signals go in through the worker that was just cut, retried as a caller would.
            for id in ids.iter().skip(round).step_by(6) {
                within_secs(30, "a signal through the cut worker", async {
                    loop {
                        match b.signal(id, "extra", 1u64).await {
                            Ok(()) => break,
                            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                        }
                    }
                })
                .await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(cuts > 0, "no connection of the worker was cut");
        let mut outputs = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let out = within_secs(60, "a result", a.handle(cut_off, id.as_str()).result())
                .await
                .expect("result");
            assert_eq!(out, (i as u64 * 3 + 1) * 3, "{id}");
            let signals = b
                .history(id)
                .await
                .expect("history")
                .iter()
                .filter(|e| e.kind == HistoryKind::Signal)
                .count();
            assert_eq!(signals, 1, "{id}: the signal was stored once");
            outputs.push(out);
        }
        a.shutdown().await;
        b.shutdown().await;
        outputs
    })
    .await;
}

/// Steps committed at the same time go in one transaction (the store's committer batches
/// them); each still gets its own outcome: a stale version is a conflict, a result from an
/// attempt that lost its lease is refused, and a step whose statement fails (a history entry
/// PostgreSQL cannot store) fails alone while the others commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_committed_together_each_get_their_own_outcome() {
    use workflow_rt::store::{ActivityTask, StepCommit, StepOutcome, TaskAttempt};
    let Some(server) = server("steps_committed_together_each_get_their_own_outcome") else {
        return;
    };
    let store = Arc::new(
        PostgresStore::builder(server.url())
            .schema(fresh_schema("batch"))
            .connect()
            .await
            .expect("connect"),
    );
    let step = |id: &str, expected_version: u64| StepCommit {
        children: Vec::new(),
        workflow_id: id.into(),
        run_key: None,
        expected_version,
        now_ms: 8,
        outcome: StepOutcome::Suspended {
            snapshot: vec![3],
            pending: vec![4],
            tasks: vec![],
            timers: vec![],
        },
        consumed_events: vec![],
        completed_tasks: vec![],
        cancelled: vec![],
        fired_timers: Vec::new(),
        seen_events_upto: 0,
        keep_ready: false,
        history: vec![HistoryEntry::new(8, HistoryKind::Step, "step")],
        deliver: Vec::new(),
    };
    for round in 0..5 {
        let ids: Vec<String> = (0..40).map(|i| format!("r{round}-{i}")).collect();
        for id in &ids {
            store
                .create_workflow(new_workflow(id))
                .await
                .expect("create");
        }
        // Workflow 1 holds a task leased by w1, taken over since by w2.
        let mut with_task = step(&ids[1], 0);
        with_task.outcome = StepOutcome::Suspended {
            snapshot: vec![3],
            pending: vec![4],
            tasks: vec![ActivityTask {
                workflow_id: ids[1].clone(),
                seq: 0,
                scheduled_version: 0,
                name: "act".into(),
                input: vec![],
                options: Default::default(),
                attempt: 2,
                scheduled_at_ms: 1,
                visible_at_ms: 1,
                lease_owner: Some("w2".into()),
                lease_until_ms: Some(10_000),
                heartbeat_details: None,
                deadline_ms: None,
            }],
            timers: vec![],
        };
        assert_eq!(store.commit_step(with_task).await, Ok(1));
        let mut steps: Vec<StepCommit> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| step(id, u64::from(i == 1)))
            .collect();
        steps[0].expected_version = 7; // stale
        steps[1].completed_tasks = vec![TaskAttempt {
            seq: 0,
            scheduled_version: 0,
            attempt: 1,
            owner: "w1".into(),
        }];
        // (A task's name is text the runtime takes from the code, never sanitized: PostgreSQL
        // refuses the NUL in it.)
        steps[2].outcome = StepOutcome::Suspended {
            snapshot: vec![3],
            pending: vec![4],
            tasks: vec![ActivityTask {
                workflow_id: ids[2].clone(),
                seq: 0,
                scheduled_version: 1,
                name: "a NUL \0 PostgreSQL refuses".into(),
                input: vec![],
                options: Default::default(),
                attempt: 0,
                scheduled_at_ms: 1,
                visible_at_ms: 1,
                lease_owner: None,
                lease_until_ms: None,
                heartbeat_details: None,
                deadline_ms: None,
            }],
            timers: vec![],
        };
        let results = futures_join(store.clone(), steps).await;
        assert!(
            matches!(results[0], Err(StoreError::Conflict { .. })),
            "{:?}",
            results[0]
        );
        assert!(
            matches!(
                results[1],
                Err(StoreError::LeaseLost {
                    seq: 0,
                    attempt: 1,
                    ..
                })
            ),
            "{:?}",
            results[1]
        );
        assert!(
            matches!(results[2], Err(StoreError::Backend(_))),
            "{:?}",
            results[2]
        );
        for (i, r) in results.iter().enumerate().skip(3) {
            assert_eq!(r, &Ok(1), "{}", ids[i]);
        }
        for (i, id) in ids.iter().enumerate() {
            let w = store.load_workflow(id).await.expect("load");
            let want = match i {
                0 | 2 => 0,
                _ => 1,
            };
            assert_eq!(w.version, want, "{id}");
        }
    }
}

/// Commits `steps` at the same time, from as many tasks; their results in order.
async fn futures_join(
    store: Arc<PostgresStore>,
    steps: Vec<workflow_rt::store::StepCommit>,
) -> Vec<Result<u64, StoreError>> {
    let handles: Vec<_> = steps
        .into_iter()
        .map(|s| {
            let store = store.clone();
            tokio::spawn(async move { store.commit_step(s).await })
        })
        .collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("join"));
    }
    out
}

/// A store on `schema` (`pool` connections, `timeout` for connections) with run "a", whose
/// step scheduled call 0 of activity "act", leased to worker "w" until 1 000; and the run's
/// version.
async fn leased_task_store(
    url: &str,
    schema: &str,
    pool: usize,
    timeout: Duration,
) -> (Arc<PostgresStore>, u64) {
    let (store, versions) = leased_tasks_store(url, schema, pool, timeout, &["a"]).await;
    (store, versions[0])
}

/// [`leased_task_store`] with a run of each of `ids`, created and stepped in that order (so
/// their task rows lie in the table in that order), each one's call 0 leased to "w"; and
/// their versions, in the same order.
async fn leased_tasks_store(
    url: &str,
    schema: &str,
    pool: usize,
    timeout: Duration,
    ids: &[&str],
) -> (Arc<PostgresStore>, Vec<u64>) {
    use workflow_rt::store::{ActivityTask, LeaseRequest, StepOutcome};
    let store = Arc::new(
        PostgresStore::builder(url)
            .schema(schema)
            .pool_size(pool)
            .connect_timeout(timeout)
            .connect()
            .await
            .expect("connect"),
    );
    let mut versions = Vec::new();
    for id in ids {
        let v = store
            .create_workflow(new_workflow(id))
            .await
            .expect("create");
        let task = ActivityTask {
            workflow_id: (*id).into(),
            seq: 0,
            scheduled_version: 0,
            name: "act".into(),
            input: vec![1],
            options: workflow_rt::ActivityOptions::default(),
            attempt: 0,
            scheduled_at_ms: 50,
            visible_at_ms: 50,
            lease_owner: None,
            lease_until_ms: None,
            heartbeat_details: None,
            deadline_ms: None,
        };
        let v = store
            .commit_step(commit(
                id,
                v,
                StepOutcome::Suspended {
                    snapshot: vec![3],
                    pending: vec![4],
                    tasks: vec![task],
                    timers: vec![],
                },
            ))
            .await
            .expect("step");
        versions.push(v);
    }
    let leased = store
        .lease_tasks(LeaseRequest {
            owner: "w".into(),
            names: vec!["act".into()],
            now_ms: 100,
            lease_until_ms: 1_000,
            limit: 10,
        })
        .await
        .expect("lease");
    assert_eq!(leased.len(), ids.len(), "the tasks are leased");
    (store, versions)
}

/// A lease taken over (the last one lapsed) whose lost attempt cannot be written in the
/// history (here a constraint refuses it; a connection lost does as much) still hands its task
/// out: the claim has committed, and a task leased and not returned would never run, its
/// attempt counted lost once the lease lapsed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_taken_over_is_handed_out_even_if_its_history_cannot_be_written() {
    use workflow_rt::store::LeaseRequest;
    let Some(server) = server("a_lease_taken_over_is_handed_out") else {
        return;
    };
    let url = server.url();
    let schema = fresh_schema("lease_history");
    let (store, _) = leased_task_store(&url, &schema, 2, Duration::from_secs(2)).await;
    raw(&url, &schema)
        .await
        .batch_execute("ALTER TABLE history ADD CONSTRAINT no_lost CHECK (kind <> 'attempt-lost')")
        .await
        .expect("constraint");
    let taken = store
        .lease_tasks(LeaseRequest {
            owner: "w2".into(),
            names: vec!["act".into()],
            now_ms: 2_000,
            lease_until_ms: 3_000,
            limit: 10,
        })
        .await
        .expect("the claimed tasks");
    assert_eq!(
        taken
            .iter()
            .map(|t| (t.seq, t.attempt, t.lease_owner.as_deref()))
            .collect::<Vec<_>>(),
        vec![(0, 2, Some("w2"))]
    );
}

/// A due timer whose run's row is gone (deleted by hand: a purge takes a run's timers with
/// it) is dropped when the timers are fired, and the look for the next due time no longer
/// finds it (it did, and the timer loop waited a poll interval between batches).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_of_no_run_is_dropped_when_timers_fire() {
    let Some(server) = server("a_timer_of_no_run_is_dropped") else {
        return;
    };
    let url = server.url();
    let schema = fresh_schema("orphan_timer");
    let store = PostgresStore::builder(&url)
        .schema(schema.clone())
        .connect()
        .await
        .expect("connect");
    store
        .create_workflow(new_workflow("here"))
        .await
        .expect("create");
    let raw = raw(&url, &schema).await;
    raw.batch_execute(
        "INSERT INTO timers (workflow_id, seq, fire_at) VALUES ('gone', 1, 10), ('here', 1, 20)",
    )
    .await
    .expect("timers");
    assert_eq!(store.next_timer_due().await.expect("next"), Some(10));
    let woken = store.fire_timers(100, 10).await.expect("fire");
    assert_eq!(woken, vec!["here".to_string()]);
    assert_eq!(store.next_timer_due().await.expect("next"), None);
    let left: i64 = raw
        .query_one("SELECT count(*) FROM timers", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(left, 0);
}

/// PostgreSQL refuses the NUL character in text; a step's park reason or history entry that
/// holds one (a panic message, an error's text) is written with it shown as U+2400, where the
/// step failed, and was retried at every poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_a_park_reason_or_history_is_written() {
    use workflow_rt::store::StepOutcome;
    let Some(server) = server("a_nul_in_a_park_reason_or_history_is_written") else {
        return;
    };
    let store = PostgresStore::builder(server.url())
        .schema(fresh_schema("nul_text"))
        .connect()
        .await
        .expect("connect");
    let v = store
        .create_workflow(new_workflow("a"))
        .await
        .expect("create");
    let mut parked = commit(
        "a",
        v,
        StepOutcome::Parked {
            reason: "panicked: x\0y".into(),
        },
    );
    parked.history = vec![HistoryEntry::new(60, HistoryKind::Parked, "x\0y")];
    store.commit_step(parked).await.expect("parked");
    let rec = store.load_workflow("a").await.expect("load");
    assert_eq!(rec.status, WorkflowStatus::Parked);
    assert_eq!(rec.park_reason.as_deref(), Some("panicked: x\u{2400}y"));
    let history = store.history("a").await.expect("history");
    assert_eq!(
        history.last().map(|e| e.detail.as_str()),
        Some("x\u{2400}y")
    );
}

/// A connection of its own to `schema` that began a transaction and ran `sql` in it (to hold
/// the locks it takes), and its backend's pid.
async fn holding(url: &str, schema: &str, sql: &str) -> (tokio_postgres::Client, i32) {
    let client = raw(url, schema).await;
    let pid: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);
    client.batch_execute("BEGIN").await.expect("begin");
    client
        .batch_execute(sql)
        .await
        .expect("the locking statement");
    (client, pid)
}

/// A lease renewal does not wait for a pooled connection. Here the pool's one connection is
/// held by a `clear_ready` that waits for a row lock another connection holds, as a busy
/// worker's steps hold every pooled connection; the renewal still goes through before the lock
/// is let go. (Were it to wait for the pool, it would fail when the pool's wait times out, and
/// in a worker the attempts' leases would lapse while they run.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_are_renewed_while_every_pooled_connection_is_busy() {
    use workflow_rt::store::LeaseRenewal;
    let Some(server) = server("leases_are_renewed_while_every_pooled_connection_is_busy") else {
        return;
    };
    let url = server.url();
    let schema = fresh_schema("renew_busy_pool");
    let (store, v) = leased_task_store(&url, &schema, 1, Duration::from_secs(2)).await;

    // Another connection locks the run's row; the store's only pooled connection then waits
    // for it in `clear_ready`.
    let (locker, locker_pid) = holding(
        &url,
        &schema,
        "SELECT 1 FROM workflows WHERE id = 'a' FOR UPDATE",
    )
    .await;
    let waiting = tokio::spawn({
        let store = store.clone();
        async move { store.clear_ready("a", v, 0).await }
    });
    let watcher = raw(&url, &schema).await;
    blocked_by(
        &watcher,
        locker_pid,
        "the pooled connection waits for the lock",
    )
    .await;

    let lost = within_secs(30, "the renewal", async {
        store
            .renew_leases(
                "w",
                vec![LeaseRenewal {
                    workflow_id: "a".into(),
                    seq: 0,
                    scheduled_version: 0,
                    heartbeat_details: Some(vec![9]),
                }],
                5_000,
            )
            .await
    })
    .await
    .expect("a renewal while the pool is busy");
    assert!(lost.is_empty(), "the lease was renewed: {lost:?}");
    let until: i64 = watcher
        .query_one("SELECT lease_until FROM tasks WHERE workflow_id = 'a'", &[])
        .await
        .expect("task")
        .get(0);
    assert_eq!(until, 5_000, "renewed before the lock was let go");

    locker.batch_execute("ROLLBACK").await.expect("rollback");
    waiting
        .await
        .expect("the waiting clear_ready")
        .expect("clear_ready once the lock is let go");
}

/// A renewal takes its tasks' rows in key order, as `release_tasks` and a step do, whatever
/// order its plan walks the table in: two transactions taking one worker's rows in two orders
/// can deadlock (each waits, then one fails). Here the rows lie in the table in the other
/// order ("b" before "a"), the store's connections plan no nested loop and no merge join (a
/// hash join walks the table in its order), and another connection holds "b"'s row: the
/// renewal waiting for it holds "a"'s already.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_locks_its_tasks_in_key_order() {
    use workflow_rt::store::LeaseRenewal;
    let Some(server) = server("a_renewal_locks_its_tasks_in_key_order") else {
        return;
    };
    let url = server.url();
    let sep = if url.contains('?') { '&' } else { '?' };
    let planned =
        format!("{url}{sep}options=-c%20enable_nestloop%3Doff%20-c%20enable_mergejoin%3Doff");
    let schema = fresh_schema("renew_order");
    let (store, _) =
        leased_tasks_store(&planned, &schema, 2, Duration::from_secs(5), &["b", "a"]).await;
    let (locker, locker_pid) = holding(
        &url,
        &schema,
        "SELECT 1 FROM tasks WHERE workflow_id = 'b' FOR UPDATE",
    )
    .await;
    let renewal = tokio::spawn({
        let store = store.clone();
        async move {
            let task = |id: &str| LeaseRenewal {
                workflow_id: id.into(),
                seq: 0,
                scheduled_version: 0,
                heartbeat_details: None,
            };
            store
                .renew_leases("w", vec![task("b"), task("a")], 5_000)
                .await
        }
    });
    let watcher = raw(&url, &schema).await;
    blocked_by(&watcher, locker_pid, "the renewal waits for b's row").await;
    watcher.batch_execute("BEGIN").await.expect("begin");
    let a = watcher
        .query(
            "SELECT 1 FROM tasks WHERE workflow_id = 'a' FOR UPDATE NOWAIT",
            &[],
        )
        .await;
    let code = a.err().and_then(|e| e.code().cloned());
    assert_eq!(
        code,
        Some(tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE),
        "the renewal holds a's row while it waits for b's"
    );
    watcher.batch_execute("ROLLBACK").await.expect("rollback");
    locker.batch_execute("ROLLBACK").await.expect("rollback");
    let lost = within_secs(30, "the renewal", renewal)
        .await
        .expect("the renewal's task")
        .expect("the renewal");
    assert!(lost.is_empty(), "both leases were renewed: {lost:?}");
    let until: Vec<i64> = watcher
        .query("SELECT lease_until FROM tasks ORDER BY workflow_id", &[])
        .await
        .expect("tasks")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(until, [5_000, 5_000]);
}

/// A renewal of leases that gets no answer fails when the connect timeout has passed, rather
/// than hold the lease loop for as long as the server takes (a server that stops answering on
/// a socket that stays open would hold it for ever); its connection is closed, and the next
/// renewal, on a new one, goes through. The renewal waits here for a lock another connection
/// holds on the task's row. (The server notices the closed connection only when the lock is
/// let go: the late renewal may then land, before the next one.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_without_an_answer_fails_within_the_connect_timeout() {
    use workflow_rt::store::LeaseRenewal;
    let Some(server) = server("a_renewal_without_an_answer_fails_within_the_connect_timeout")
    else {
        return;
    };
    let url = server.url();
    let schema = fresh_schema("renew_timeout");
    let (store, _) = leased_task_store(&url, &schema, 2, Duration::from_secs(1)).await;
    let renewal = |until: u64| {
        let store = store.clone();
        async move {
            store
                .renew_leases(
                    "w",
                    vec![LeaseRenewal {
                        workflow_id: "a".into(),
                        seq: 0,
                        scheduled_version: 0,
                        heartbeat_details: None,
                    }],
                    until,
                )
                .await
        }
    };
    // The renewals' connection is opened by a first renewal, before the lock.
    assert!(renewal(2_000).await.expect("a renewal").is_empty());

    let (locker, _) = holding(
        &url,
        &schema,
        "SELECT 1 FROM tasks WHERE workflow_id = 'a' FOR UPDATE",
    )
    .await;
    let failed = within_secs(30, "the renewal that gets no answer", renewal(3_000)).await;
    let e = failed.expect_err("no answer within the timeout");
    assert!(e.to_string().contains("no answer within"), "{e}");
    locker.batch_execute("ROLLBACK").await.expect("rollback");
    assert!(
        renewal(4_000)
            .await
            .expect("a renewal on a new connection")
            .is_empty(),
        "renewed"
    );
    let until: i64 = locker
        .query_one("SELECT lease_until FROM tasks WHERE workflow_id = 'a'", &[])
        .await
        .expect("task")
        .get(0);
    assert_eq!(until, 4_000);
}

/// `clear_ready` that waits for the row lock of a transaction adding an event keeps the run
/// ready: it decides on the row as that transaction left it, although its statement's snapshot
/// is older than the event. The interleaving is forced: another connection inserts the event
/// (as the store does, raising the run's `last_event`) and holds its lock while `clear_ready`
/// waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_ready_that_waited_for_an_event_keeps_the_run_ready() {
    let Some(server) = server("clear_ready_that_waited_for_an_event_keeps_the_run_ready") else {
        return;
    };
    let url = server.url();
    let schema = fresh_schema("clear_ready_race");
    let store = Arc::new(
        PostgresStore::builder(url.clone())
            .schema(schema.clone())
            .connect()
            .await
            .expect("connect"),
    );
    let v = store
        .create_workflow(new_workflow("a"))
        .await
        .expect("create");
    let v = store
        .commit_step(commit("a", v, suspended()))
        .await
        .expect("step");
    assert!(store.clear_ready("a", v, 0).await.expect("clear"));
    assert!(!store.load_workflow("a").await.expect("load").ready);

    // An event, as the store adds one (kind 2: a signal, with an empty payload).
    let (inserter, inserter_pid) = holding(
        &url,
        &schema,
        "WITH e AS (INSERT INTO events (workflow_id, at, kind, seq, name, payload) \
         VALUES ('a', 60, 2, NULL, 'go', ''::bytea) RETURNING id) \
         UPDATE workflows SET ready = TRUE, last_event = GREATEST(last_event, (SELECT id FROM e)) \
         WHERE id = 'a'",
    )
    .await;
    let clearing = tokio::spawn({
        let store = store.clone();
        async move { store.clear_ready("a", v, 0).await }
    });
    let watcher = raw(&url, &schema).await;
    blocked_by(&watcher, inserter_pid, "clear_ready waits for the row lock").await;
    inserter.batch_execute("COMMIT").await.expect("commit");
    assert!(
        clearing
            .await
            .expect("clear_ready's task")
            .expect("clear_ready"),
        "the version still matches"
    );
    assert!(
        store.load_workflow("a").await.expect("load").ready,
        "the event that came while clear_ready waited keeps the run ready"
    );
}

/// Children ending, each telling its parent, while retention in another process purges their
/// finished parents: the two never wait for each other in a circle (retention locks the
/// parents, then their children's rows to clear the links; a child's end locks its own row,
/// and its parent's only while the parent has not finished). Every end commits, every parent
/// goes, and no parent is told anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_ending_while_their_parents_are_purged_never_wait_in_a_circle() {
    use workflow_rt::store::{Delivery, EventKind, ParentLink, StepOutcome};
    let Some(server) = server("children_ending_while_their_parents_are_purged") else {
        return;
    };
    let schema = fresh_schema("orphans");
    let connect = || {
        PostgresStore::builder(server.url())
            .schema(schema.clone())
            .pool_size(8)
            .connect()
    };
    let one = connect().await.expect("connect");
    let two = Arc::new(connect().await.expect("connect"));
    for round in 0..5 {
        let mut ends = Vec::new();
        let mut parents = Vec::new();
        for i in 0..20 {
            let parent = format!("p{round}-{i:02}");
            let child = format!("{parent}/c");
            let v = one
                .create_workflow(new_workflow(&parent))
                .await
                .expect("parent");
            let link = ParentLink {
                id: parent.clone(),
                seq: 1,
            };
            let cv = one
                .create_workflow(NewWorkflow {
                    parent: Some(link),
                    ..new_workflow(&child)
                })
                .await
                .expect("child");
            one.commit_step(commit(&parent, v, StepOutcome::Cancelled))
                .await
                .expect("the parent stops");
            let mut end = commit(
                &child,
                cv,
                StepOutcome::Finished {
                    status: WorkflowStatus::Completed,
                    snapshot: vec![],
                    output: vec![7],
                },
            );
            end.deliver = vec![Delivery {
                to: parent.clone(),
                kind: EventKind::ChildFinished {
                    seq: 1,
                    result: Ok(vec![7]),
                },
                child_call: None,
            }];
            ends.push(end);
            parents.push(parent);
        }
        let retention = async {
            let mut purged = Vec::new();
            loop {
                let got = one.purge_finished(1_000, 3).await.expect("retention");
                if got.is_empty() {
                    return purged;
                }
                purged.extend(got);
            }
        };
        let (purged, ended) = tokio::join!(
            within_secs(60, "retention", retention),
            within_secs(60, "the ends", futures_join(two.clone(), ends))
        );
        for (i, e) in ended.iter().enumerate() {
            assert!(e.is_ok(), "round {round}, end {i}: {e:?}");
        }
        for p in &parents {
            assert!(purged.contains(p), "round {round}: {p} purged");
            assert!(matches!(
                one.load_inbox(p).await,
                Err(StoreError::NotFound(_))
            ));
        }
    }
}

/// A step that takes a result straight from its worker (fenced on the task's lease) locks the
/// run's row before the task's, the order every other change takes: locked the other way, it
/// held the task while it waited for the run, and a change holding the run and waiting for the
/// task (a step dropping the call, a result arriving) waited for it in a circle. Here another
/// connection holds the run's row: the step waits for it without holding the task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_step_locks_the_run_before_the_task() {
    use workflow_rt::store::TaskAttempt;
    let Some(server) = server("a_fenced_step_locks_the_run_before_the_task") else {
        return;
    };
    let url = server.url();
    let schema = fresh_schema("fence_lock_order");
    let (store, v) = leased_task_store(&url, &schema, 2, Duration::from_secs(5)).await;
    let watcher = raw(&url, &schema).await;
    let attempt: i64 = watcher
        .query_one("SELECT attempt FROM tasks WHERE workflow_id = 'a'", &[])
        .await
        .expect("task")
        .get(0);
    let (locker, locker_pid) = holding(
        &url,
        &schema,
        "SELECT 1 FROM workflows WHERE id = 'a' FOR UPDATE",
    )
    .await;
    let stepping = tokio::spawn({
        let store = store.clone();
        async move {
            let mut step = commit("a", v, suspended());
            step.completed_tasks = vec![TaskAttempt {
                seq: 0,
                scheduled_version: 0,
                attempt: u32::try_from(attempt).expect("attempt"),
                owner: "w".into(),
            }];
            store.commit_step(step).await
        }
    });
    blocked_by(&watcher, locker_pid, "the step waits for the run's row").await;
    let task_free = locker
        .batch_execute("SELECT 1 FROM tasks WHERE workflow_id = 'a' AND seq = 0 FOR UPDATE NOWAIT")
        .await;
    locker.batch_execute("ROLLBACK").await.expect("rollback");
    assert!(
        task_free.is_ok(),
        "the waiting step holds the task's row: {task_free:?}"
    );
    let version = stepping
        .await
        .expect("the step's task")
        .expect("the step commits once the row is let go");
    assert_eq!(version, v + 1);
    assert!(store.load_tasks("a").await.expect("tasks").is_empty());
}

/// Firing timers does not wait for a run another transaction holds (a step of it, a child's
/// end telling it): that run's timers are left for the next look, and the batch is filled
/// with the others, which fire. Waiting,
/// it held the runs before it in id order meanwhile, and a child's end (which locks the child,
/// then its parent, whose id sorts first) could wait for it in a circle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firing_timers_skips_runs_held_by_others() {
    use workflow_rt::store::{StepOutcome, TimerRow};
    let Some(server) = server("firing_timers_skips_runs_held_by_others") else {
        return;
    };
    let url = server.url();
    let schema = fresh_schema("fire_skips_held");
    let store = Arc::new(
        PostgresStore::builder(url.clone())
            .schema(schema.clone())
            .connect()
            .await
            .expect("connect"),
    );
    for (id, fire_at_ms) in [("a", 100), ("b", 150)] {
        let v = store
            .create_workflow(new_workflow(id))
            .await
            .expect("create");
        store
            .commit_step(commit(
                id,
                v,
                StepOutcome::Suspended {
                    snapshot: vec![3],
                    pending: vec![4],
                    tasks: vec![],
                    timers: vec![TimerRow { seq: 1, fire_at_ms }],
                },
            ))
            .await
            .expect("step");
    }
    let (locker, _) = holding(
        &url,
        &schema,
        "SELECT 1 FROM workflows WHERE id = 'a' FOR UPDATE",
    )
    .await;
    // A batch of one: the held run's timer, due first, does not take the batch's place.
    let woken = within_secs(10, "firing timers while a run is held", async {
        store.fire_timers(200, 1).await
    })
    .await
    .expect("fire");
    assert_eq!(
        woken,
        vec!["b".to_string()],
        "the held run is left for later"
    );
    assert_eq!(store.load_timers("a").await.expect("timers").len(), 1);
    locker.batch_execute("ROLLBACK").await.expect("rollback");
    let woken = store.fire_timers(200, 100).await.expect("fire");
    assert_eq!(woken, vec!["a".to_string()]);
}

/// A step that drops a call (a `select` decided for another branch) takes with it the call's
/// result that arrived while it waited for the run's row: its statement read the events as of
/// before the wait, so such a result was left in the inbox for a call the wait no longer had.
/// The interleaving is forced: another connection adds the result (as the store does) and
/// holds the run's row while the step waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_dropping_a_call_takes_its_result_that_came_meanwhile() {
    let Some(server) = server("a_step_dropping_a_call_takes_its_result_that_came_meanwhile") else {
        return;
    };
    let url = server.url();
    let schema = fresh_schema("drop_takes_result");
    let store = Arc::new(
        PostgresStore::builder(url.clone())
            .schema(schema.clone())
            .connect()
            .await
            .expect("connect"),
    );
    let v = store
        .create_workflow(new_workflow("a"))
        .await
        .expect("create");
    let v = store
        .commit_step(commit("a", v, suspended()))
        .await
        .expect("step");
    // Call 0's result, as the store adds one (kind 0), the run's row held.
    let (adder, adder_pid) = holding(
        &url,
        &schema,
        "SELECT 1 FROM workflows WHERE id = 'a' FOR UPDATE; \
         INSERT INTO events (workflow_id, at, kind, seq, name, payload) \
         VALUES ('a', 60, 0, 0, NULL, '\\x00'::bytea)",
    )
    .await;
    let stepping = tokio::spawn({
        let store = store.clone();
        async move {
            let mut step = commit("a", v, suspended());
            step.cancelled = vec![0];
            store.commit_step(step).await
        }
    });
    let watcher = raw(&url, &schema).await;
    blocked_by(&watcher, adder_pid, "the step waits for the run's row").await;
    adder.batch_execute("COMMIT").await.expect("commit");
    stepping
        .await
        .expect("the step's task")
        .expect("the step commits");
    let left: i64 = watcher
        .query_one("SELECT count(*) FROM events WHERE workflow_id = 'a'", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(left, 0, "the dropped call's result went with the step");
}

/// A store on `schema` (a pool of four) holding a new run under each of `ids`, with their
/// versions.
async fn store_with_runs(url: &str, schema: &str, ids: &[&str]) -> (Arc<PostgresStore>, Vec<u64>) {
    let store = Arc::new(
        PostgresStore::builder(url)
            .schema(schema)
            .pool_size(4)
            .connect()
            .await
            .expect("connect"),
    );
    let mut versions = Vec::new();
    for id in ids {
        versions.push(
            store
                .create_workflow(new_workflow(id))
                .await
                .expect("create"),
        );
    }
    (store, versions)
}

/// A step of `id` at version `v` that stays suspended and delivers an event to run `to`.
fn delivering(id: &str, v: u64, to: &str) -> workflow_rt::store::StepCommit {
    use workflow_rt::store::{Delivery, EventKind};
    let mut step = commit(id, v, suspended());
    step.deliver = vec![Delivery {
        to: to.into(),
        kind: EventKind::TimerFired { seq: 9 },
        child_call: None,
    }];
    step
}

/// A batch of steps (`commit_steps`) of which one delivers locks its runs and the runs it
/// delivers to together, in id order. Forced here: another connection holds "b", the batch
/// of "a" (to "z") and "b" waits for it, then that connection takes "z". Locked step by step,
/// the batch held "z" (a's target) while it waited for "b", and PostgreSQL failed one of the
/// two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_delivers_locks_its_runs_in_id_order() {
    let Some(server) = server("a_batch_that_delivers_locks_its_runs") else {
        return;
    };
    let url = server.url();
    let schema = fresh_schema("batch_delivery");
    let (store, versions) = store_with_runs(&url, &schema, &["a", "b", "z"]).await;
    let to_z = delivering("a", versions[0], "z");
    let plain = commit("b", versions[1], suspended());
    let (holder, holder_pid) = holding(
        &url,
        &schema,
        "SELECT 1 FROM workflows WHERE id = 'b' FOR UPDATE",
    )
    .await;
    let watcher = raw(&url, &schema).await;
    let batch = tokio::spawn({
        let store = store.clone();
        async move { store.commit_steps(vec![to_z, plain]).await }
    });
    blocked_by(&watcher, holder_pid, "the batch waits for b").await;
    within_secs(30, "z is free", async {
        holder
            .batch_execute("SELECT 1 FROM workflows WHERE id = 'z' FOR UPDATE")
            .await
    })
    .await
    .expect("the holder takes z: the batch does not hold it while it waits");
    holder.batch_execute("COMMIT").await.expect("commit");
    let results = within_secs(30, "the batch", batch)
        .await
        .expect("the batch's task")
        .expect("the batch commits");
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(store.load_inbox("z").await.expect("inbox").len(), 1);
}

/// Two runs whose steps deliver to each other at once (a child's end and its parent's cancel
/// of it) never wait for each other in a circle: each step locks both rows, in id order,
/// before anything else. The interleaving is forced: another connection holds "b" while the
/// step of "b" (to "a"), then the step of "a" (to "b"), start; locked as each commit went
/// (its own row, then the other's), "b"'s step took "b" and waited for "a", which "a"'s step
/// held while it waited for "b", and PostgreSQL failed one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_delivering_to_each_other_never_wait_in_a_circle() {
    let Some(server) = server("two_runs_delivering_to_each_other") else {
        return;
    };
    let url = server.url();
    let schema = fresh_schema("mutual_delivery");
    let (store, versions) = store_with_runs(&url, &schema, &["a", "b"]).await;
    let step_to = delivering;
    let (holder, holder_pid) = holding(
        &url,
        &schema,
        "SELECT 1 FROM workflows WHERE id = 'b' FOR UPDATE",
    )
    .await;
    let watcher = raw(&url, &schema).await;
    let b = tokio::spawn({
        let (store, step) = (store.clone(), step_to("b", versions[1], "a"));
        async move { store.commit_step(step).await }
    });
    blocked_by(&watcher, holder_pid, "b's step waits").await;
    let a = tokio::spawn({
        let (store, step) = (store.clone(), step_to("a", versions[0], "b"));
        async move { store.commit_step(step).await }
    });
    // Both wait now: a's step for "b" (or for "a", which b's step holds).
    within_secs(30, "a's step waits", async {
        loop {
            let waiting: i64 = watcher
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0",
                    &[],
                )
                .await
                .expect("pg_stat_activity")
                .get(0);
            if waiting >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    holder.batch_execute("ROLLBACK").await.expect("rollback");
    let (a, b) = within_secs(30, "both steps", async { (a.await, b.await) }).await;
    a.expect("a's task").expect("a's step commits");
    b.expect("b's task").expect("b's step commits");
    for id in ["a", "b"] {
        assert_eq!(
            store.load_inbox(id).await.expect("inbox").len(),
            1,
            "{id} got the other's event"
        );
    }
}

/// A certificate authority and a server certificate it signed for 127.0.0.1 (PEM: the
/// authority's certificate, the server's certificate and its key).
fn certificates() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "workflow-rt test CA");
    let ca_cert = ca.self_signed(&ca_key).expect("ca cert");
    let key = rcgen::KeyPair::generate().expect("server key");
    let server =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("server params");
    let cert = server
        .signed_by(&key, &ca_cert, &ca_key)
        .expect("server cert");
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

/// TLS, as libpq does it: a server that takes connections over TCP only with TLS is reached
/// with `sslmode=require` (the certificate not checked, by default), or with the server's
/// certificate checked against the authority given (`PostgresTls::Verify`, libpq's
/// `verify-full`, whatever `sslmode` says); another authority's check fails, and so does a
/// connection without TLS. A runtime works over it: every connection the store opens (its
/// pool, its listener, its renewer) is encrypted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_tls() {
    let (ca, cert, key) = certificates();
    let cluster = match support::postgres::Cluster::start_tls(&cert, &key) {
        Ok(c) => c,
        Err(why) => {
            let line = format!("connections_over_tls: skipped, no PostgreSQL: {why}");
            if std::env::var(support::postgres::REQUIRE).is_ok_and(|v| !v.is_empty() && v != "0") {
                panic!("{line}");
            }
            eprintln!("{line}");
            return;
        }
    };
    let base = cluster.url();
    let require = format!("{base}&sslmode=require");
    let store = |url: &str, tls: workflow_rt::PostgresTls| {
        PostgresStore::builder(url)
            .schema(fresh_schema("tls"))
            .connect_timeout(Duration::from_secs(5))
            .tls(tls)
            .connect()
    };
    // `prefer`, the default mode, stays in the clear (tokio-postgres cannot fall back after
    // a failed handshake, as libpq does): refused by this server.
    match store(&base, workflow_rt::PostgresTls::Unchecked).await {
        Err(PostgresError::Connect(e)) => assert!(
            e.to_string().contains("add sslmode=require to the URL"),
            "{e}"
        ),
        other => panic!("prefer: {:?}", other.map(|_| ())),
    }
    // Checked or not, over TLS.
    let unchecked = store(&require, workflow_rt::PostgresTls::Unchecked)
        .await
        .expect("sslmode=require, the certificate not checked");
    unchecked
        .create_workflow(new_workflow("a"))
        .await
        .expect("create");
    let checked = store(
        &base,
        workflow_rt::PostgresTls::Verify(ca.clone().into_bytes()),
    )
    .await
    .expect("the certificate checked against its authority");
    assert_eq!(
        checked.load_workflow("a").await.map(|r| r.id).ok(),
        None,
        "another schema"
    );
    // Another authority: refused, and said so.
    let (other_ca, ..) = certificates();
    // libpq's checks asked for in the URL (`sslmode=verify-full|verify-ca`, `sslrootcert`),
    // which tokio-postgres refuses: read by the store.
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca_file, other_file) = (dir.path().join("root.crt"), dir.path().join("other.crt"));
    std::fs::write(&ca_file, &ca).expect("write");
    std::fs::write(&other_file, &other_ca).expect("write");
    let asking = |base: &str, mode: &str, file: &std::path::Path| {
        format!("{base}&sslmode={mode}&sslrootcert={}", file.display())
    };
    let by_url = |url: String| {
        PostgresStore::builder(url)
            .schema(fresh_schema("tls"))
            .connect_timeout(Duration::from_secs(5))
            .connect()
    };
    by_url(asking(&base, "verify-full", &ca_file))
        .await
        .expect("verify-full from the URL");
    by_url(asking(&base, "require", &ca_file))
        .await
        .expect("require with a root certificate: its authority checked");
    // By a name its certificate does not hold (no lookup: `hostaddr` gives the address, the
    // name is what the certificate is checked against): verify-full refuses it, verify-ca
    // checks the authority alone.
    let by_name = base.replace("127.0.0.1", "localhost") + "&hostaddr=127.0.0.1";
    for (url, what) in [
        (
            asking(&base, "verify-full", &other_file),
            "another authority",
        ),
        (asking(&base, "verify-ca", &other_file), "another authority"),
        (asking(&base, "require", &other_file), "another authority"),
        (asking(&by_name, "verify-full", &ca_file), "another name"),
    ] {
        match by_url(url.clone()).await {
            Err(PostgresError::Tls(why)) => {
                assert!(why.contains("invalid peer certificate"), "{what}: {why}")
            }
            other => panic!("{what}: {url}: {:?}", other.map(|_| ())),
        }
    }
    by_url(asking(&by_name, "verify-ca", &ca_file))
        .await
        .expect("verify-ca: the authority checked, not the name");
    // A `tls` given to the builder wins (its certificates, not the URL's file), unless it
    // checks less than the URL asks for.
    store(
        &asking(&base, "verify-full", &other_file),
        workflow_rt::PostgresTls::Verify(ca.clone().into_bytes()),
    )
    .await
    .expect("the builder's certificates");
    for weaker in [
        workflow_rt::PostgresTls::Off,
        workflow_rt::PostgresTls::Unchecked,
        workflow_rt::PostgresTls::VerifyCa(ca.clone().into_bytes()),
    ] {
        match store(&asking(&base, "verify-full", &ca_file), weaker.clone()).await {
            Err(PostgresError::Tls(why)) => {
                assert!(why.contains("asks for sslmode=verify-full"), "{why}")
            }
            other => panic!("{weaker:?}: {:?}", other.map(|_| ())),
        }
    }
    match store(
        &base,
        workflow_rt::PostgresTls::Verify(other_ca.into_bytes()),
    )
    .await
    {
        Err(PostgresError::Tls(why)) => assert!(
            why.contains("the TLS handshake with the server failed: invalid peer certificate"),
            "{why}"
        ),
        other => panic!("another authority: {:?}", other.map(|_| ())),
    }
    // Without TLS: the server refuses it.
    for (url, tls) in [
        (require.as_str(), workflow_rt::PostgresTls::Off),
        (
            &format!("{base}&sslmode=disable") as &str,
            workflow_rt::PostgresTls::Unchecked,
        ),
    ] {
        assert!(
            matches!(
                store(url, tls.clone()).await,
                Err(PostgresError::Connect(_))
            ),
            "{url} {tls:?}"
        );
    }
    assert!(matches!(
        store(
            &base,
            workflow_rt::PostgresTls::Verify(b"not a certificate".to_vec())
        )
        .await,
        Err(PostgresError::Tls(_))
    ));
    // A runtime over TLS.
    let checked = Arc::new(checked);
    let rt = Runtime::builder(checked.clone())
        .workflow(over_tls)
        .activity(add_one)
        .poll_interval(Duration::from_millis(20))
        .build()
        .await
        .expect("build");
    let run = rt.start(over_tls, "t", 41).await.expect("start");
    assert_eq!(
        within_secs(20, "the run over TLS", run.result()).await,
        Ok(Ok(42))
    );
    rt.shutdown().await;
    // Every TCP connection of the store's process is encrypted (the Unix socket, without, is
    // this look's).
    let (client, conn) = tokio_postgres::connect(
        &format!(
            "host={} port={} user=postgres dbname=postgres",
            cluster.socket_dir().display(),
            cluster.port()
        ),
        tokio_postgres::NoTls,
    )
    .await
    .expect("connect over the socket");
    tokio::spawn(conn);
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl) \
             FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = 'workflow-rt'",
            &[],
        )
        .await
        .expect("pg_stat_ssl");
    let (encrypted, clear): (i64, i64) = (row.get(0), row.get(1));
    assert!(encrypted >= 2, "{encrypted} encrypted connections");
    assert_eq!(clear, 0);
    drop(unchecked);
}

#[activity]
async fn add_one(_ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    Ok(x + 1)
}

#[workflow]
async fn over_tls(ctx: WorkflowCtx, x: u64) -> Result<u64, ActivityError> {
    ctx.activity(add_one, x).await
}
