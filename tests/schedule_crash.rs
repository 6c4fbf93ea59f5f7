//! Schedules under SIGKILL, with real child processes on one SQLite file.
//!
//! - A schedule firing every second, over more than ten seconds: a worker process runs it, is
//!   killed with SIGKILL once it started runs, and after two seconds with no worker it comes
//!   back with a second process beside it (two processes on one file, racing for every fire time). Every fire
//!   time is started exactly once: the ones of the downtime by the catch-up, none twice, none
//!   off the schedule's grid.
//! - A kill in the middle of a firing: right after the compare-and-set that claimed fire times
//!   (no run created yet), then right after the first of the claimed runs was created. The
//!   next worker creates what is missing and nothing twice.
//!
//! The children are this test binary, run again with `SCHEDULE_CRASH_CHILD` set; one that must
//! die half-way kills itself with SIGKILL from a store wrapper's hook, after the store took
//! the write.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::recording::RecordingStore;
use workflow_rt::prelude::*;
use workflow_rt::schedule::{Overlap, ScheduleSpec, run_id};
use workflow_rt::store::{HistoryKind, RunQuery, ScheduleRecord, Store};
use workflow_rt::{Client, Clock, SqliteStore, SystemClock, WorkflowStatus};

const CHILD: &str = "SCHEDULE_CRASH_CHILD";
const DB: &str = "SCHEDULE_CRASH_DB";
const WORKER: &str = "SCHEDULE_CRASH_WORKER";
const RESTORE: &str = "SCHEDULE_CRASH_RESTORE";
/// `claim`: the child kills itself after the first change of a schedule that starts runs;
/// `create`: after the first run it creates.
const KILL: &str = "SCHEDULE_CRASH_KILL";

/// A run of a schedule: waits a little on a durable timer (a kill may land while it waits),
/// then returns its tag.
#[workflow]
async fn tick(ctx: WorkflowCtx, tag: String) -> String {
    ctx.sleep(Duration::from_millis(150)).await;
    tag
}

fn kill_myself() {
    let _ = Command::new("kill")
        .args(["-KILL", &std::process::id().to_string()])
        .status();
    // SIGKILL is not deliverable late; should `kill` be missing, stop here all the same.
    std::process::abort();
}

/// A worker: runs the schedules of `tick` on the file until it is killed.
async fn child() {
    let db = PathBuf::from(std::env::var_os(DB).expect(DB));
    let worker = std::env::var(WORKER).expect(WORKER);
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db).expect("open"));
    let mut store = RecordingStore::new(store);
    if let Ok(kill) = std::env::var(KILL) {
        store = store.after_write(move |call, what| {
            let now = match kill.as_str() {
                "claim" => call == "update_schedule" && !what.is_empty(),
                "create" => call == "create_workflow" && what.contains('@'),
                _ => false,
            };
            if now {
                kill_myself();
            }
        });
    }
    let rt = Runtime::builder(store)
        .workflow(tick)
        .worker_id(worker)
        .restore_every_step(std::env::var_os(RESTORE).is_some())
        .poll_interval(Duration::from_millis(20))
        .build()
        .await
        .expect("build");
    std::future::pending::<()>().await;
    drop(rt);
}

fn spawn(test: &str, db: &Path, worker: &str, restore: bool, kill: Option<&str>) -> Child {
    let mut command = Command::new(std::env::current_exe().expect("test binary"));
    command
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env(DB, db)
        .env(WORKER, worker)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if restore {
        command.env(RESTORE, "1");
    }
    if let Some(kill) = kill {
        command.env(KILL, kill);
    }
    command.spawn().expect("spawn a worker")
}

fn sigkill(mut child: Child) {
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
}

/// Waits for a child that kills itself.
fn wait_for_death(mut child: Child, what: &str) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(
                !status.success(),
                "{what}: the child was to die, not finish"
            );
            return;
        }
        if start.elapsed() > Duration::from_secs(60) {
            sigkill(child);
            panic!("{what}: the child did not die");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

async fn wait_until(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn runs(store: &SqliteStore, name: &str) -> Vec<String> {
    store
        .list_runs(RunQuery::new().id_prefix(format!("{name}@")).limit(1000))
        .await
        .expect("list")
        .runs
        .into_iter()
        .map(|r| r.id)
        .collect()
}

async fn row(store: &SqliteStore, name: &str) -> ScheduleRecord {
    store.load_schedule(name).await.expect("schedule")
}

/// The ids of the fire times `anchor + k s`, k from 1 to `n`.
fn grid(name: &str, anchor: u64, n: u64) -> Vec<String> {
    let mut ids: Vec<String> = (1..=n).map(|k| run_id(name, anchor + k * 1000)).collect();
    ids.sort();
    ids
}

/// Pauses the schedule, waits for the runs its last looks took to exist and for every run to
/// complete, then checks that the runs are exactly the schedule's first fire times (at least
/// `at_least` of them), each started once, and that the schedule counted each once.
async fn check_each_fire_time_once(db: &Path, store: &SqliteStore, name: &str, at_least: u64) {
    let client = Client::new(SqliteStore::open(db).expect("open"));
    client.pause_schedule(name).await.expect("pause");
    wait_until(
        "the runs taken before the pause exist",
        Duration::from_secs(30),
        async || row(store, name).await.starting.is_empty(),
    )
    .await;
    let s = row(store, name).await;
    let anchor = s.spec.anchor_ms().expect("an interval");
    let found = runs(store, name).await;
    assert_eq!(
        found,
        grid(name, anchor, s.started),
        "every fire time from the first to the last started, each once, nothing else"
    );
    assert!(
        s.started >= at_least,
        "{} fire times started, {at_least} wanted",
        s.started
    );
    assert_eq!((s.skipped, s.missed), (0, 0), "{s:?}");
    for id in &found {
        wait_until("each run completes", Duration::from_secs(30), async || {
            store
                .load_workflow(id)
                .await
                .is_ok_and(|r| r.status == WorkflowStatus::Completed)
        })
        .await;
        let started = store
            .history(id)
            .await
            .expect("history")
            .iter()
            .filter(|h| h.kind == HistoryKind::Started)
            .count();
        assert_eq!(started, 1, "{id} started once");
    }
}

/// Creates schedule `name`, every second, runs overlapping (so that each fire time starts a
/// run whatever the others do), a catch-up window far wider than any downtime here.
async fn create(db: &Path, name: &str) -> u64 {
    let client = Client::new(SqliteStore::open(db).expect("open"));
    let info = client
        .schedule(
            name,
            ScheduleSpec::every(Duration::from_secs(1)),
            tick,
            name.to_string(),
        )
        .overlap(Overlap::Allow)
        .catch_up(Duration::from_secs(60))
        .await
        .expect("create");
    info.spec.anchor_ms().expect("anchored")
}

/// A 1 s schedule over more than 10 s: a worker killed once it started runs, nothing for
/// 2 s, then two worker processes on the file. Every fire time started exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_second_schedule_survives_a_killed_worker() {
    if std::env::var_os(CHILD).is_some() {
        child().await;
        return;
    }
    let test = "a_one_second_schedule_survives_a_killed_worker";
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("schedules.db");
    let store = SqliteStore::open(&db).expect("open");
    let anchor = create(&db, "tick").await;
    let a = spawn(test, &db, "a", false, None);
    wait_until(
        "the first worker started runs",
        Duration::from_secs(60),
        async || runs(&store, "tick").await.len() >= 3,
    )
    .await;
    sigkill(a);
    // Two seconds with no worker: their fire times are caught up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let a = spawn(test, &db, "a", true, None);
    let b = spawn(test, &db, "b", false, None);
    let now = SystemClock.now_ms();
    let k = ((now - anchor) / 1000 + 3).max(11);
    let last = run_id("tick", anchor + k * 1000);
    wait_until(
        "three more fire times started, and at least eleven in all",
        Duration::from_secs(60),
        async || runs(&store, "tick").await.contains(&last),
    )
    .await;
    check_each_fire_time_once(&db, &store, "tick", k).await;
    sigkill(a);
    sigkill(b);
}

/// Killed right after the claim (the fire times are taken, no run exists), then right after
/// the first run of a claim was created: the next worker starts the rest, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_while_a_schedule_fires_loses_nothing() {
    if std::env::var_os(CHILD).is_some() {
        child().await;
        return;
    }
    let test = "a_kill_while_a_schedule_fires_loses_nothing";
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("schedules.db");
    let store = SqliteStore::open(&db).expect("open");
    let anchor = create(&db, "burst").await;
    // No worker for 3 s: the first look takes three fire times at once.
    tokio::time::sleep(Duration::from_millis(3_200)).await;

    wait_for_death(
        spawn(test, &db, "c", false, Some("claim")),
        "kill after the claim",
    );
    let taken = row(&store, "burst").await.starting;
    assert!(taken.len() >= 3, "the claim took the fire times: {taken:?}");
    assert_eq!(taken[0], anchor + 1000);
    assert!(
        runs(&store, "burst").await.is_empty(),
        "killed before any run was created"
    );

    wait_for_death(
        spawn(test, &db, "c", true, Some("create")),
        "kill after a create",
    );
    let after = row(&store, "burst").await;
    let created = runs(&store, "burst").await;
    assert_eq!(
        created,
        vec![run_id("burst", anchor + 1000)],
        "the first run of the claim was created, then the kill"
    );
    assert_eq!(after.starting, taken, "the rest is still to be started");

    let c = spawn(test, &db, "c", false, None);
    let last = run_id("burst", taken[taken.len() - 1] + 2000);
    wait_until(
        "two more fire times started",
        Duration::from_secs(60),
        async || runs(&store, "burst").await.contains(&last),
    )
    .await;
    check_each_fire_time_once(&db, &store, "burst", taken.len() as u64 + 2).await;
    sigkill(c);
}
