//! Schedules: fire times of cron expressions (in zones, across daylight saving changes) and
//! intervals; typed errors for bad specs; one run per fire time through the runtime, on the
//! memory and SQLite stores, with every step kept in memory or restored from the store; pause,
//! resume, delete and list; the overlap policies; catch-up after a downtime; a restart; and
//! the test driver's `ScheduleSim` agreeing with the runtime.

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use support::{Mode, T0, builder, eventually};
use workflow_rt::prelude::*;
use workflow_rt::schedule::{
    Overlap, ScheduleError, ScheduleSpec, ScheduleUpdate, Triggered, run_id,
};
use workflow_rt::store::{HistoryKind, RunQuery, Store};
use workflow_rt::testing::ScheduleSim;
use workflow_rt::{Client, MemoryStore, SqliteStore, VirtualClock, WorkflowStatus};

/// Returns its tag after a zero-length durable sleep (a step to restore from the store).
#[workflow]
async fn stamp(ctx: WorkflowCtx, tag: String) -> String {
    ctx.sleep(Duration::ZERO).await;
    tag
}

/// `stamp` as a later version whose input changed (a number): a schedule made for `stamp`
/// v1 holds a string.
#[workflow(name = "stamp", version = 2)]
async fn stamp_v2(ctx: WorkflowCtx, n: u64) -> String {
    ctx.sleep(Duration::ZERO).await;
    format!("v2 {n}")
}

/// Runs until signalled: keeps a schedule's last run running, for the overlap policies.
#[workflow]
async fn held(ctx: WorkflowCtx, _tag: String) -> u64 {
    let v: u64 = ctx.signal("done").await;
    v
}

const SECOND: u64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Memory,
    Sqlite,
}

const BACKENDS: [Backend; 2] = [Backend::Memory, Backend::Sqlite];
const MODES: [Mode; 2] = [Mode::Cached, Mode::Restored];

/// A fresh store and a virtual clock at `T0`.
struct Env {
    store: Arc<dyn Store>,
    clock: VirtualClock,
    path: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

fn env(backend: Backend) -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, path): (Arc<dyn Store>, _) = match backend {
        Backend::Memory => (Arc::new(MemoryStore::new()), None),
        Backend::Sqlite => {
            let path = dir.path().join("schedules.db");
            (
                Arc::new(SqliteStore::open(&path).expect("open")),
                Some(path),
            )
        }
    };
    Env {
        store,
        clock: VirtualClock::new(T0),
        path,
        _dir: dir,
    }
}

async fn runtime(mode: Mode, e: &Env) -> Runtime {
    builder(mode, e.store.clone(), e.clock.clone())
        .workflow(stamp)
        .workflow(held)
        .build()
        .await
        .expect("build")
}

/// The ids of the runs whose id starts with `prefix`, sorted.
async fn runs(store: &Arc<dyn Store>, prefix: &str) -> Vec<String> {
    let page = store
        .list_runs(RunQuery::new().id_prefix(prefix).limit(1000))
        .await
        .expect("list");
    page.runs.into_iter().map(|r| r.id).collect()
}

fn ids(name: &str, offsets_s: &[u64]) -> Vec<String> {
    offsets_s
        .iter()
        .map(|s| run_id(name, T0 + s * SECOND))
        .collect()
}

async fn completed(store: &Arc<dyn Store>, id: &str) -> bool {
    store
        .load_workflow(id)
        .await
        .is_ok_and(|r| r.status == WorkflowStatus::Completed)
}

/// Moves the clock to `T0 + s` seconds and waits until the runs of `name` are `expect`.
async fn at(e: &Env, s: u64, name: &str, expect: &[u64]) {
    e.clock.set_ms(T0 + s * SECOND);
    let want = ids(name, expect);
    let prefix = format!("{name}@");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let found = runs(&e.store, &prefix).await;
        if found == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} at +{s}s: runs {found:?}, wanted {want:?}; schedule {:?}",
            e.store.load_schedule(name).await
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Schedules `stamp` with input "one" every ten seconds as `name` through `client`.
async fn every_ten_seconds(client: &Client, name: &str) -> workflow_rt::schedule::ScheduleInfo {
    client
        .schedule(
            name,
            ScheduleSpec::every(Duration::from_secs(10)),
            stamp,
            "one".to_string(),
        )
        .await
        .expect("create")
}

/// A look at the store after the runtime had the chance to act: for what must not happen,
/// which no wait can see happen. (A slow machine may look too early: then the check passes
/// without proving much, and never fails wrongly.)
async fn settle() {
    tokio::time::sleep(Duration::from_millis(60)).await;
}

// ---------------------------------------------------------------------------------------------
// Fire times, without a runtime

#[test]
fn cron_fire_times_in_utc_and_with_seconds() {
    // 2024-01-01 is a Monday.
    let weekdays = ScheduleSpec::cron("0 9 * * MON-FRI");
    let days = weekdays
        .fire_times(T0, T0 + 7 * 86_400 * SECOND, 100)
        .expect("spec");
    let expect: Vec<u64> = [0, 1, 2, 3, 4]
        .iter()
        .map(|d| T0 + (d * 86_400 + 9 * 3600) * SECOND)
        .collect();
    assert_eq!(days, expect);
    let quarter = ScheduleSpec::cron("*/15 * * * *");
    assert_eq!(
        quarter
            .fire_times(T0, T0 + 3600 * SECOND, 100)
            .expect("spec"),
        [15, 30, 45, 60]
            .iter()
            .map(|m| T0 + m * 60 * SECOND)
            .collect::<Vec<_>>()
    );
    // Six fields: seconds first.
    let seconds = ScheduleSpec::cron("*/20 * * * * *");
    assert_eq!(
        seconds.fire_times(T0, T0 + 60 * SECOND, 100).expect("spec"),
        vec![T0 + 20 * SECOND, T0 + 40 * SECOND, T0 + 60 * SECOND]
    );
    // Strictly after: a fire time equal to the start is not included.
    assert_eq!(
        ScheduleSpec::cron("0 0 * * *")
            .next_after(T0)
            .expect("spec"),
        Some(T0 + 86_400 * SECOND)
    );
    assert_eq!(
        run_id("nightly", T0 + 86_400 * SECOND),
        "nightly@2024-01-02T00:00:00Z"
    );
    assert_eq!(run_id("fast", T0 + 1_500), "fast@2024-01-01T00:00:01.500Z");
}

#[test]
fn interval_fire_times_count_from_the_anchor() {
    let every = ScheduleSpec::every(Duration::from_secs(90)).anchored_at_ms(T0 + 30 * SECOND);
    assert_eq!(
        every.fire_times(T0, T0 + 300 * SECOND, 100).expect("spec"),
        vec![
            T0 + 30 * SECOND,
            T0 + 120 * SECOND,
            T0 + 210 * SECOND,
            T0 + 300 * SECOND
        ]
    );
    // The zone does not move an interval.
    let in_zone = every.clone().in_zone("Asia/Kolkata");
    assert_eq!(
        in_zone.fire_times(T0, T0 + 300 * SECOND, 100),
        every.fire_times(T0, T0 + 300 * SECOND, 100)
    );
}

/// 02:00 in Paris: on the day the clocks jump from 02:00 to 03:00 (2026-03-29) it fires once,
/// when the clocks reach the end of the gap (03:00 CEST, 01:00 UTC); on the day 02:30 happens
/// twice (2026-10-25) a 02:30 job fires once, at the first pass (CEST, 00:30 UTC).
#[test]
fn zones_and_daylight_saving_changes() {
    let mar_27 = 1_774_569_600_000; // 2026-03-27T00:00:00Z
    let spring = ScheduleSpec::cron("0 2 * * *").in_zone("Europe/Paris");
    assert_eq!(
        spring
            .fire_times(mar_27, mar_27 + 4 * 86_400 * SECOND - 1, 10)
            .expect("spec"),
        vec![
            1_774_573_200_000, // 03-27 02:00 CET = 01:00 UTC
            1_774_659_600_000, // 03-28 02:00 CET = 01:00 UTC
            1_774_746_000_000, // 03-29 03:00 CEST (02:00 does not exist) = 01:00 UTC
            1_774_828_800_000, // 03-30 02:00 CEST = 00:00 UTC
        ]
    );
    let oct_23 = 1_792_713_600_000; // 2026-10-23T00:00:00Z
    let fall = ScheduleSpec::cron("30 2 * * *").in_zone("Europe/Paris");
    assert_eq!(
        fall.fire_times(oct_23, oct_23 + 4 * 86_400 * SECOND, 10)
            .expect("spec"),
        vec![
            1_792_715_400_000, // 10-23 02:30 CEST = 00:30 UTC
            1_792_801_800_000, // 10-24 02:30 CEST
            1_792_888_200_000, // 10-25 02:30 CEST, the first of two 02:30s: once
            1_792_978_200_000, // 10-26 02:30 CET = 01:30 UTC
        ]
    );
    // The same for every expression, not only those of one time a day: two times a day, two
    // times in the gap, and a repeated hour.
    let two_a_day = ScheduleSpec::cron("0 2,14 * * *").in_zone("Europe/Paris");
    assert_eq!(
        two_a_day
            .fire_times(1_774_742_400_000, 1_774_828_799_999, 10)
            .expect("spec"),
        vec![
            1_774_746_000_000, // 03-29 03:00 CEST (02:00 does not exist) = 01:00 UTC
            1_774_785_600_000, // 03-29 14:00 CEST = 12:00 UTC
        ]
    );
    let twice_in_the_gap = ScheduleSpec::cron("0,30 2 * * *").in_zone("Europe/Paris");
    assert_eq!(
        twice_in_the_gap
            .fire_times(1_774_742_400_000, 1_774_828_799_999, 10)
            .expect("spec"),
        vec![1_774_746_000_000], // 02:00 and 02:30 both at the gap's end: once
    );
    let new_york = ScheduleSpec::cron("30 1,13 * * *").in_zone("America/New_York");
    assert_eq!(
        new_york
            .fire_times(1_793_505_600_000, 1_793_591_999_999, 10)
            .expect("spec"),
        vec![
            1_793_511_000_000, // 11-01 01:30 EDT = 05:30 UTC (not again at 01:30 EST)
            1_793_557_800_000, // 11-01 13:30 EST = 18:30 UTC
        ]
    );
    // Every half hour through the repeated hour: each wall time once.
    let half_hourly = ScheduleSpec::cron("0,30 * * * *").in_zone("America/New_York");
    assert_eq!(
        half_hourly
            .fire_times(1_793_509_200_000, 1_793_520_000_000, 10)
            .expect("spec"),
        vec![
            1_793_511_000_000, // 01:30 EDT = 05:30 UTC
            1_793_516_400_000, // 02:00 EST = 07:00 UTC (01:00 and 01:30 EST were passed)
            1_793_518_200_000, // 02:30 EST
            1_793_520_000_000, // 03:00 EST
        ]
    );
    // A zone with a half-hour offset: 09:00 in Kolkata is 03:30 UTC.
    let kolkata = ScheduleSpec::cron("0 9 * * *").in_zone("Asia/Kolkata");
    assert_eq!(
        kolkata.next_after(T0).expect("spec"),
        Some(T0 + (3 * 3600 + 1800) * SECOND)
    );
    // The test driver agrees: the same decisions over virtual time.
    let ticks = ScheduleSim::new("nightly", spring)
        .start_at_ms(mar_27)
        .run_for(Duration::from_secs(4 * 86_400 - 1))
        .expect("sim");
    assert_eq!(
        ticks.run_ids(),
        [
            "nightly@2026-03-27T01:00:00Z",
            "nightly@2026-03-28T01:00:00Z",
            "nightly@2026-03-29T01:00:00Z",
            "nightly@2026-03-30T00:00:00Z"
        ]
    );
}

#[test]
fn bad_specs_are_typed_errors() {
    for bad in ["0 25 * * *", "* * *", "", "every day", "61 * * * *"] {
        let e = ScheduleSpec::cron(bad).check().expect_err(bad);
        assert!(matches!(e, ScheduleError::BadCron { .. }), "{bad}: {e:?}");
    }
    for bad in ["Europe/Pariss", "europe/paris", "Mars/Olympus", "+02:00"] {
        let e = ScheduleSpec::cron("0 2 * * *")
            .in_zone(bad)
            .check()
            .expect_err(bad);
        assert_eq!(e, ScheduleError::UnknownZone(bad.to_string()));
    }
    let e = ScheduleSpec::every(Duration::from_millis(999))
        .check()
        .expect_err("too short");
    assert!(matches!(e, ScheduleError::BadInterval { .. }), "{e:?}");
    assert!(ScheduleSpec::every(Duration::ZERO).check().is_err());
    assert!(
        ScheduleSim::new("x", ScheduleSpec::cron("0 0 30 2 *"))
            .run_for(Duration::from_secs(60))
            .is_err(),
        "the 30th of February never comes"
    );
}

/// A bad spec, zone, name or a name taken: a typed error when the schedule is created, and
/// nothing stored.
#[tokio::test]
async fn creating_a_bad_schedule_stores_nothing() {
    for backend in BACKENDS {
        let e = env(backend);
        let client = Client::new(e.store.clone()).clock(e.clock.clone());
        let make =
            |name: &str, spec: ScheduleSpec| client.schedule(name, spec, stamp, "x".to_string());
        let err = make("a", ScheduleSpec::cron("0 25 * * *"))
            .await
            .expect_err("bad");
        assert!(matches!(err, ScheduleError::BadCron { .. }), "{err:?}");
        let err = make("a", ScheduleSpec::cron("0 2 * * *").in_zone("Nowhere/Land"))
            .await
            .expect_err("bad");
        assert_eq!(err, ScheduleError::UnknownZone("Nowhere/Land".into()));
        let err = make("a", ScheduleSpec::every(Duration::from_millis(10)))
            .await
            .expect_err("bad");
        assert!(matches!(err, ScheduleError::BadInterval { .. }), "{err:?}");
        let err = make("a", ScheduleSpec::cron("0 0 30 2 *"))
            .await
            .expect_err("never");
        assert!(matches!(err, ScheduleError::NeverFires(_)), "{err:?}");
        // Past what a store keeps (a signed 64-bit number of milliseconds): read back, it
        // would be another schedule.
        let err = make("a", ScheduleSpec::every(Duration::from_millis(u64::MAX)))
            .await
            .expect_err("too long");
        assert!(matches!(err, ScheduleError::BadInterval { .. }), "{err:?}");
        let far = ScheduleSpec::every(Duration::from_secs(60)).anchored_at_ms(u64::MAX - 1);
        let err = make("a", far).await.expect_err("too far");
        assert!(matches!(err, ScheduleError::NeverFires(_)), "{err:?}");
        let long_catch_up = client
            .schedule(
                "long",
                ScheduleSpec::every(Duration::from_secs(60)),
                stamp,
                "x".into(),
            )
            .catch_up(Duration::MAX)
            .await
            .expect("create");
        assert_eq!(
            client.describe_schedule("long").await.expect("describe"),
            long_catch_up,
            "read back as made"
        );
        assert_eq!(
            long_catch_up.catch_up,
            Duration::from_millis(i64::MAX as u64)
        );
        client.delete_schedule("long").await.expect("delete");
        for name in ["", "a@b", ".", ".."] {
            let err = make(name, ScheduleSpec::cron("0 2 * * *"))
                .await
                .expect_err("bad name");
            assert_eq!(err, ScheduleError::BadName(name.to_string()));
        }
        assert!(client.list_schedules().await.expect("list").is_empty());
        // A name is taken once: the second create changes nothing.
        make("a", ScheduleSpec::cron("0 2 * * *"))
            .await
            .expect("create");
        let err = make("a", ScheduleSpec::every(Duration::from_secs(5)))
            .await
            .expect_err("taken");
        assert_eq!(err, ScheduleError::Exists("a".into()));
        let info = client.describe_schedule("a").await.expect("describe");
        assert_eq!(info.spec, ScheduleSpec::cron("0 2 * * *"));
        for r in [
            client.pause_schedule("nope").await,
            client.resume_schedule("nope").await,
            client.delete_schedule("nope").await,
            client.describe_schedule("nope").await.map(drop),
        ] {
            assert_eq!(r, Err(ScheduleError::NotFound("nope".into())));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Through the runtime

/// Every fire time starts one run, under the id of the schedule and the fire time, the same
/// runs as `ScheduleSim` lists; the schedule counts them and shows its next fire times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_per_fire_time() {
    for backend in BACKENDS {
        for mode in MODES {
            let e = env(backend);
            let rt = runtime(mode, &e).await;
            let client = rt.client();
            let info = client
                .schedule(
                    "tick",
                    ScheduleSpec::every(Duration::from_secs(10)),
                    stamp,
                    "t".to_string(),
                )
                .await
                .expect("create");
            assert_eq!(
                info.next_fire_times_ms,
                (1..=5).map(|k| T0 + k * 10 * SECOND).collect::<Vec<_>>()
            );
            for k in 1..=5 {
                let expect: Vec<u64> = (1..=k).map(|j| j * 10).collect();
                at(&e, k * 10, "tick", &expect).await;
                // Done before the next fire time, which the default overlap policy would skip
                // while it runs.
                let id = run_id("tick", T0 + k * 10 * SECOND);
                eventually("the run completes", || completed(&e.store, &id)).await;
            }
            for id in ids("tick", &[10, 20, 30, 40, 50]) {
                eventually(&format!("{id} completes"), || completed(&e.store, &id)).await;
                let history = e.store.history(&id).await.expect("history");
                let started = history
                    .iter()
                    .filter(|h| h.kind == HistoryKind::Started)
                    .count();
                assert_eq!(started, 1, "{backend:?} {mode:?} {id}: {history:?}");
            }
            assert_eq!(
                rt.handle(stamp, run_id("tick", T0 + 10 * SECOND))
                    .result()
                    .await
                    .expect("result"),
                "t"
            );
            let info = client.describe_schedule("tick").await.expect("describe");
            assert_eq!(
                (info.started, info.skipped, info.missed),
                (5, 0, 0),
                "{backend:?} {mode:?}"
            );
            assert_eq!(info.last_run_id, Some(run_id("tick", T0 + 50 * SECOND)));
            assert_eq!(info.next_fire_times_ms[0], T0 + 60 * SECOND);
            let sim = ScheduleSim::new("tick", ScheduleSpec::every(Duration::from_secs(10)))
                .start_at_ms(T0)
                .run_for(Duration::from_secs(50))
                .expect("sim");
            assert_eq!(sim.run_ids(), ids("tick", &[10, 20, 30, 40, 50]));
            rt.shutdown().await;
        }
    }
}

/// A cron schedule in a zone with a half-hour offset, through the runtime: runs at 09:00
/// Kolkata time, 03:30 UTC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_schedule_in_a_zone() {
    for backend in BACKENDS {
        let e = env(backend);
        let rt = runtime(Mode::Restored, &e).await;
        rt.client()
            .schedule(
                "morning",
                ScheduleSpec::cron("0 9 * * *").in_zone("Asia/Kolkata"),
                stamp,
                "m".to_string(),
            )
            .await
            .expect("create");
        let first = T0 + (3 * 3600 + 1800) * SECOND;
        e.clock.set_ms(first - SECOND);
        settle().await;
        assert!(runs(&e.store, "morning@").await.is_empty());
        for day in 0..3 {
            e.clock.set_ms(first + day * 86_400 * SECOND);
            let want: Vec<String> = (0..=day)
                .map(|d| run_id("morning", first + d * 86_400 * SECOND))
                .collect();
            eventually("the morning runs", || async {
                runs(&e.store, "morning@").await == want
            })
            .await;
            let id = &want[want.len() - 1];
            eventually("the run completes", || completed(&e.store, id)).await;
        }
        assert_eq!(
            runs(&e.store, "morning@").await[0],
            "morning@2024-01-01T03:30:00Z"
        );
        rt.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_delete_and_list() {
    for backend in BACKENDS {
        for mode in MODES {
            let e = env(backend);
            let rt = runtime(mode, &e).await;
            let client = rt.client();
            let every = ScheduleSpec::every(Duration::from_secs(10));
            client
                .schedule("a", every.clone(), stamp, "a".to_string())
                .await
                .expect("create");
            client
                .schedule("b", ScheduleSpec::cron("0 0 * * *"), stamp, "b".into())
                .paused(true)
                .overlap(Overlap::BufferOne)
                .catch_up(Duration::from_secs(3600))
                .await
                .expect("create");
            let list = client.list_schedules().await.expect("list");
            let shown: Vec<(&str, bool, Overlap, Duration)> = list
                .iter()
                .map(|s| (s.name.as_str(), s.paused, s.overlap, s.catch_up))
                .collect();
            assert_eq!(
                shown,
                [
                    ("a", false, Overlap::Skip, Duration::from_secs(60)),
                    ("b", true, Overlap::BufferOne, Duration::from_secs(3600))
                ]
            );
            at(&e, 10, "a", &[10]).await;
            client.pause_schedule("a").await.expect("pause");
            client
                .pause_schedule("a")
                .await
                .expect("pausing twice is fine");
            let paused = client.describe_schedule("a").await.expect("describe");
            assert!(paused.paused);
            assert_eq!(
                paused.next_fire_times_ms,
                Vec::<u64>::new(),
                "a paused schedule lists no fire times"
            );
            e.clock.set_ms(T0 + 20 * SECOND);
            settle().await;
            e.clock.set_ms(T0 + 25 * SECOND);
            settle().await;
            assert_eq!(runs(&e.store, "a@").await, ids("a", &[10]), "paused");
            // Resumed at +25 s: fires from +30 s; +20 s is not caught up.
            client.resume_schedule("a").await.expect("resume");
            let info = client.describe_schedule("a").await.expect("describe");
            assert!(!info.paused);
            assert_eq!(info.next_fire_times_ms[0], T0 + 30 * SECOND);
            at(&e, 30, "a", &[10, 30]).await;
            client.delete_schedule("a").await.expect("delete");
            assert_eq!(
                client.describe_schedule("a").await,
                Err(ScheduleError::NotFound("a".into()))
            );
            // A day passes: the paused cron schedule and the deleted one start nothing.
            e.clock.set_ms(T0 + 86_400 * SECOND);
            settle().await;
            assert!(runs(&e.store, "b@").await.is_empty());
            assert_eq!(runs(&e.store, "a@").await, ids("a", &[10, 30]));
            for id in ids("a", &[10, 30]) {
                eventually("the runs of a deleted schedule finish", || {
                    completed(&e.store, &id)
                })
                .await;
            }
            assert_eq!(
                client
                    .list_schedules()
                    .await
                    .expect("list")
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>(),
                ["b"]
            );
            rt.shutdown().await;
        }
    }
}

/// The three overlap policies, with runs that wait for a signal: skip drops the fire times
/// that come while the last run runs; buffer-one keeps the first and starts it when the last
/// run ends; allow starts them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlap_policies() {
    for backend in BACKENDS {
        for mode in MODES {
            let e = env(backend);
            let rt = runtime(mode, &e).await;
            let client = rt.client();
            let every = ScheduleSpec::every(Duration::from_secs(10));
            for (name, overlap) in [
                ("skip", Overlap::Skip),
                ("buffer", Overlap::BufferOne),
                ("allow", Overlap::Allow),
            ] {
                client
                    .schedule(name, every.clone(), held, name.to_string())
                    .overlap(overlap)
                    .await
                    .expect("create");
            }
            e.clock.set_ms(T0 + 10 * SECOND);
            for name in ["skip", "buffer", "allow"] {
                let want = ids(name, &[10]);
                eventually("the first runs", || async {
                    runs(&e.store, &format!("{name}@")).await == want
                })
                .await;
            }
            for s in [20, 30] {
                e.clock.set_ms(T0 + s * SECOND);
                let (client, s) = (&client, s);
                eventually("the looks at the fire time", || async move {
                    let skip = client.describe_schedule("skip").await.expect("describe");
                    let buffer = client.describe_schedule("buffer").await.expect("describe");
                    skip.skipped == s / 10 - 1 && buffer.next_fire_times_ms[0] > T0 + s * SECOND
                })
                .await;
            }
            let want = ids("allow", &[10, 20, 30]);
            eventually("allow started every fire time", || async {
                runs(&e.store, "allow@").await == want
            })
            .await;
            assert_eq!(runs(&e.store, "skip@").await, ids("skip", &[10]));
            assert_eq!(runs(&e.store, "buffer@").await, ids("buffer", &[10]));
            let buffer = client.describe_schedule("buffer").await.expect("describe");
            assert_eq!(
                (buffer.buffered_ms, buffer.skipped),
                (Some(T0 + 20 * SECOND), 1),
                "the first fire time is kept, the second skipped"
            );
            // The last runs end: buffer-one starts the kept fire time at once.
            for name in ["skip", "buffer"] {
                rt.signal(&run_id(name, T0 + 10 * SECOND), "done", 1u64)
                    .await
                    .expect("signal");
            }
            at(&e, 30, "buffer", &[10, 20]).await;
            let buffer = client.describe_schedule("buffer").await.expect("describe");
            assert_eq!(buffer.buffered_ms, None);
            assert_eq!(buffer.last_run_id, Some(run_id("buffer", T0 + 20 * SECOND)));
            // Skip starts again at the next fire time, now that its run has ended.
            let first = run_id("skip", T0 + 10 * SECOND);
            eventually("skip's run ends", || completed(&e.store, &first)).await;
            at(&e, 40, "skip", &[10, 40]).await;
            let skip = client.describe_schedule("skip").await.expect("describe");
            assert_eq!((skip.started, skip.skipped), (2, 2));
            rt.shutdown().await;
        }
    }
}

/// After a downtime, the fire times within the catch-up window start and older ones are
/// missed, counted; the test driver decides the same. The schedule also survives the restart
/// of its runtime (a reopened file for SQLite).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_after_downtime_and_restart() {
    for backend in BACKENDS {
        for mode in MODES {
            let mut e = env(backend);
            let rt = runtime(mode, &e).await;
            rt.client()
                .schedule(
                    "sync",
                    ScheduleSpec::every(Duration::from_secs(10)),
                    stamp,
                    "s".to_string(),
                )
                .overlap(Overlap::Allow)
                .catch_up(Duration::from_secs(35))
                .await
                .expect("create");
            at(&e, 10, "sync", &[10]).await;
            rt.shutdown().await;
            drop(rt);
            if let Some(path) = &e.path {
                // A new process: the file opened again.
                e.store = Arc::new(SqliteStore::open(path).expect("reopen"));
            }
            // Down from +10 s to +100 s: +70 s to +100 s are within 35 s of the restart.
            e.clock.set_ms(T0 + 100 * SECOND);
            let rt = runtime(mode, &e).await;
            let want = ids("sync", &[10, 70, 80, 90, 100]);
            eventually("the catch-up", || async {
                runs(&e.store, "sync@").await == want
            })
            .await;
            let info = rt
                .client()
                .describe_schedule("sync")
                .await
                .expect("describe");
            assert_eq!((info.started, info.missed), (5, 5), "{backend:?} {mode:?}");
            // And on from there.
            at(&e, 110, "sync", &[10, 70, 80, 90, 100, 110]).await;
            for id in runs(&e.store, "sync@").await {
                eventually("each run completes", || completed(&e.store, &id)).await;
            }
            let sim = ScheduleSim::new("sync", ScheduleSpec::every(Duration::from_secs(10)))
                .start_at_ms(T0)
                .overlap(Overlap::Allow)
                .catch_up(Duration::from_secs(35))
                .down(Duration::from_secs(15), Duration::from_secs(100))
                .run_for(Duration::from_secs(110))
                .expect("sim");
            assert_eq!(sim.run_ids(), ids("sync", &[10, 70, 80, 90, 100, 110]));
            assert_eq!(sim.missed, 5);
            rt.shutdown().await;
        }
    }
}

/// Only a runtime with the schedule's workflow registered fires it; one that has it picks up
/// the fire time (within the catch-up window).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_runtime_with_the_workflow_fires_it() {
    for backend in BACKENDS {
        let e = env(backend);
        let other = builder(Mode::Cached, e.store.clone(), e.clock.clone())
            .workflow(held)
            .build()
            .await
            .expect("build");
        other
            .client()
            .schedule(
                "t",
                ScheduleSpec::every(Duration::from_secs(10)),
                stamp,
                "t".to_string(),
            )
            .await
            .expect("create");
        e.clock.set_ms(T0 + 10 * SECOND);
        settle().await;
        assert!(runs(&e.store, "t@").await.is_empty());
        let rt = runtime(Mode::Cached, &e).await;
        at(&e, 15, "t", &[10]).await;
        rt.shutdown().await;
        other.shutdown().await;
    }
}

/// A schedule starts the version of its workflow it was made for: made for v1 (before v2
/// was deployed), it starts v1's runs with v1 and v2 registered. On a runtime that has moved
/// on to v2 only, its first fire time pauses it with a note saying why (its input was encoded
/// for v1), counts no run and leaves the last run as it was; resumed on a runtime with v1
/// again, it fires on. A schedule is not made for v1 where v2 is registered: new runs start on
/// the newest version, as a start refuses an older one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_starts_the_version_it_was_made_for() {
    for backend in BACKENDS {
        let e = env(backend);
        let v1_client = Client::new(e.store.clone())
            .clock(e.clock.clone())
            .workflow(stamp);
        let info = every_ten_seconds(&v1_client, "v").await;
        assert_eq!(info.workflow_version, Some(1));
        let both = builder(Mode::Cached, e.store.clone(), e.clock.clone())
            .workflow(stamp)
            .workflow(stamp_v2)
            .build()
            .await
            .expect("build");
        let refused = both
            .client()
            .schedule(
                "v-old",
                ScheduleSpec::every(Duration::from_secs(10)),
                stamp,
                "old".to_string(),
            )
            .await;
        assert!(
            matches!(
                refused,
                Err(ScheduleError::NotNewest {
                    version: 1,
                    newest: 2,
                    ..
                })
            ),
            "{refused:?}"
        );
        at(&e, 10, "v", &[10]).await;
        let first = run_id("v", T0 + 10 * SECOND);
        eventually("the v1 run completes", || completed(&e.store, &first)).await;
        let out = e.store.load_workflow(&first).await.expect("load").output;
        assert_eq!(
            out,
            Some(postcard::to_stdvec("one").expect("encode")),
            "v1 ran"
        );
        both.shutdown().await;

        let newer = builder(Mode::Cached, e.store.clone(), e.clock.clone())
            .workflow(stamp_v2)
            .build()
            .await
            .expect("build");
        e.clock.set_ms(T0 + 20 * SECOND);
        eventually("the schedule is paused", || async {
            e.store.load_schedule("v").await.is_ok_and(|s| s.paused)
        })
        .await;
        let s = newer
            .client()
            .describe_schedule("v")
            .await
            .expect("describe");
        let note = s.note.clone().expect("a note");
        assert!(
            note.contains("version 1 of workflow \"stamp\"") && note.contains("up to version 2"),
            "{note}"
        );
        assert_eq!(
            (s.started, s.last_run_id.as_deref()),
            (1, Some(first.as_str()))
        );
        assert!(
            e.store
                .load_schedule("v")
                .await
                .expect("load")
                .starting
                .is_empty()
        );
        settle().await;
        assert_eq!(runs(&e.store, "v@").await, ids("v", &[10]), "no run made");
        newer.shutdown().await;

        let again = builder(Mode::Cached, e.store.clone(), e.clock.clone())
            .workflow(stamp)
            .workflow(stamp_v2)
            .build()
            .await
            .expect("build");
        again.client().resume_schedule("v").await.expect("resume");
        assert_eq!(
            again
                .client()
                .describe_schedule("v")
                .await
                .expect("describe")
                .note,
            None
        );
        at(&e, 30, "v", &[10, 30]).await;
        again.shutdown().await;
    }
}

/// A fire time still marked as starting (its worker stopped after it made the run, before it
/// cleared the mark), met by a runtime that has moved on to v2 only: the run is there, so the
/// schedule is not paused for it, and its count and last run stay. (It was paused, saying the
/// run could not be made, its count lowered and its last run forgotten, the run there all
/// along: the look asked for the code before it looked for the run.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fire_time_whose_run_was_made_needs_no_code() {
    for backend in BACKENDS {
        let e = env(backend);
        let v1 = builder(Mode::Cached, e.store.clone(), e.clock.clone())
            .workflow(stamp)
            .build()
            .await
            .expect("build");
        every_ten_seconds(&v1.client(), "m").await;
        at(&e, 10, "m", &[10]).await;
        let first = run_id("m", T0 + 10 * SECOND);
        eventually("the v1 run completes", || completed(&e.store, &first)).await;
        v1.shutdown().await;
        // As left by a worker stopped between the run's creation and the mark's clearing.
        let mut row = e.store.load_schedule("m").await.expect("load");
        assert_eq!((row.started, row.starting.is_empty()), (1, true));
        row.starting = vec![T0 + 10 * SECOND];
        e.store.update_schedule(row).await.expect("mark");

        let v2 = builder(Mode::Cached, e.store.clone(), e.clock.clone())
            .workflow(stamp_v2)
            .build()
            .await
            .expect("build");
        e.clock.set_ms(T0 + 15 * SECOND);
        eventually("the mark is cleared", || async {
            e.store
                .load_schedule("m")
                .await
                .is_ok_and(|s| s.starting.is_empty())
        })
        .await;
        let s = e.store.load_schedule("m").await.expect("load");
        assert_eq!(
            (s.paused, s.started, s.last_run_id.as_deref(), s.note),
            (false, 1, Some(first.as_str()), None)
        );
        v2.shutdown().await;

        // Two fire times marked, the first made and the second not: paused for the second,
        // which is not counted; the last run is the first's.
        let mut row = e.store.load_schedule("m").await.expect("load");
        row.starting = vec![T0 + 10 * SECOND, T0 + 20 * SECOND];
        row.started = 2;
        row.last_run_id = Some(run_id("m", T0 + 20 * SECOND));
        e.store.update_schedule(row).await.expect("mark");
        let v2 = builder(Mode::Cached, e.store.clone(), e.clock.clone())
            .workflow(stamp_v2)
            .build()
            .await
            .expect("build");
        eventually("the schedule is paused", || async {
            e.store.load_schedule("m").await.is_ok_and(|s| s.paused)
        })
        .await;
        let s = e.store.load_schedule("m").await.expect("load");
        assert_eq!(
            (s.started, s.last_run_id.as_deref(), s.starting.is_empty()),
            (1, Some(first.as_str()), true)
        );
        v2.shutdown().await;
    }
}

/// A look that finds fire times still to start in the row as listed reads the row again
/// first: listed with others, the row may be seconds old, and a run another worker started
/// since, then purged, was started again. Here the listing shows a fire time (+3 s) that the
/// stored row does not hold; only the fire time due (+10 s) gets a run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fire_times_to_start_are_read_again_before_they_are_started() {
    for backend in BACKENDS {
        let e = env(backend);
        let listed = support::recording::RecordingStore::new(e.store.clone());
        let rt = builder(Mode::Cached, Arc::new(listed.clone()), e.clock.clone())
            .workflow(stamp)
            .build()
            .await
            .expect("build");
        every_ten_seconds(&rt.client(), "st").await;
        listed.stale_starting("st", vec![T0 + 3 * SECOND]);
        at(&e, 10, "st", &[10]).await;
        settle().await;
        assert_eq!(runs(&e.store, "st@").await, ids("st", &[10]));
        rt.shutdown().await;
    }
}

/// A schedule made for a version newer than a runtime's is left to the workers that have it:
/// the older runtime claims no fire time (it would count runs it cannot make); once a minute
/// has passed its fire time with no such worker (a deploy rolled back), it is paused, saying
/// why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_of_a_newer_version_is_left_to_the_workers_that_have_it() {
    for backend in BACKENDS {
        let e = env(backend);
        Client::new(e.store.clone())
            .clock(e.clock.clone())
            .schedule(
                "n",
                ScheduleSpec::every(Duration::from_secs(10)),
                stamp_v2,
                5,
            )
            .await
            .expect("create");
        let older = builder(Mode::Cached, e.store.clone(), e.clock.clone())
            .workflow(stamp)
            .build()
            .await
            .expect("build");
        e.clock.set_ms(T0 + 10 * SECOND);
        settle().await;
        let s = e.store.load_schedule("n").await.expect("load");
        assert_eq!(
            (s.started, s.starting.is_empty(), s.paused),
            (0, true, false),
            "{s:?}"
        );
        assert!(runs(&e.store, "n@").await.is_empty());
        e.clock.set_ms(T0 + 75 * SECOND);
        eventually("paused", || async {
            e.store.load_schedule("n").await.is_ok_and(|s| s.paused)
        })
        .await;
        let note = e.store.load_schedule("n").await.expect("load").note;
        assert!(
            note.as_deref()
                .is_some_and(|n| n.contains("version 2 of workflow \"stamp\"")),
            "{note:?}"
        );
        older.shutdown().await;
    }
}

/// A writer holding the row of a schedule that was deleted and created again under its name
/// (a worker's look, a client's change) is refused: the new schedule's versions start past the
/// old one's.
#[tokio::test]
async fn a_stale_writer_does_not_overwrite_a_schedule_made_again() {
    for backend in BACKENDS {
        let e = env(backend);
        let client = Client::new(e.store.clone()).clock(e.clock.clone());
        let every = ScheduleSpec::every(Duration::from_secs(10));
        client
            .schedule("s", every.clone(), stamp, "old".to_string())
            .await
            .expect("create");
        let stale = e.store.load_schedule("s").await.expect("load");
        client.delete_schedule("s").await.expect("delete");
        e.clock.set_ms(T0 + 1);
        client
            .schedule("s", every, stamp, "new".to_string())
            .await
            .expect("create");
        let made_again = e.store.load_schedule("s").await.expect("load");
        let mut change = stale.clone();
        change.paused = true;
        assert!(
            matches!(
                e.store.update_schedule(change).await,
                Err(workflow_rt::store::StoreError::ScheduleConflict { .. })
            ),
            "{backend:?}"
        );
        assert_eq!(e.store.load_schedule("s").await.expect("load"), made_again);
        assert_eq!(
            made_again.input,
            postcard::to_stdvec("new").expect("encode")
        );
    }
}

/// A store that fails calls before or after they take effect: a claim whose answer was lost
/// leaves its fire times in the row, and the next look starts their runs; every fire time
/// still starts one run, counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_store_faults_lose_no_fire_time() {
    use workflow_rt::testing::{Faults, FaultyStore};
    for mode in MODES {
        let inner = Arc::new(MemoryStore::new());
        let faults = Faults {
            fail_before: 0.1,
            fail_after: 0.1,
            stale: 0.0,
            ..Faults::default()
        };
        let faulty = Arc::new(FaultyStore::new(inner.clone(), 11, faults));
        let clock = VirtualClock::new(T0);
        let rt = builder(mode, faulty.clone(), clock.clone())
            .workflow(stamp)
            .build()
            .await
            .expect("build");
        Client::new(inner.clone())
            .clock(clock.clone())
            .schedule(
                "f",
                ScheduleSpec::every(Duration::from_secs(10)),
                stamp,
                "f".to_string(),
            )
            .overlap(Overlap::Allow)
            .await
            .expect("create");
        let store: Arc<dyn Store> = inner.clone();
        for k in 1..=20u64 {
            clock.set_ms(T0 + k * 10 * SECOND);
            let want: Vec<String> = (1..=k).map(|j| run_id("f", T0 + j * 10 * SECOND)).collect();
            eventually("each fire time starts once", || async {
                runs(&store, "f@").await == want
            })
            .await;
        }
        eventually("the last look's runs are cleared from the row", || async {
            store
                .load_schedule("f")
                .await
                .is_ok_and(|s| s.starting.is_empty())
        })
        .await;
        let s = store.load_schedule("f").await.expect("load");
        assert_eq!((s.started, s.skipped, s.missed), (20, 0, 0), "{s:?}");
        assert!(faulty.injected() > 0, "faults were injected");
        rt.shutdown().await;
    }
}

/// Triggering a schedule now: the overlap policy decides as for a fire time (skip, keep one,
/// start), paused or not, and each triggered run has an id of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triggering_a_schedule_now() {
    for backend in BACKENDS {
        for mode in MODES {
            let e = env(backend);
            let rt = runtime(mode, &e).await;
            let client = rt.client();
            let hourly = ScheduleSpec::every(Duration::from_secs(3600));
            client
                .schedule("trig", hourly.clone(), held, "t".to_string())
                .paused(true)
                .await
                .expect("create");
            client
                .schedule("buf", hourly, held, "b".to_string())
                .overlap(Overlap::BufferOne)
                .await
                .expect("create");
            e.clock.set_ms(T0 + 5 * SECOND);
            let first = run_id("trig", T0 + 5 * SECOND);
            assert_eq!(
                client.trigger_schedule("trig").await.expect("trigger"),
                Triggered::Started {
                    run_id: first.clone()
                },
                "a paused schedule is triggered too"
            );
            eventually("the triggered run", || async {
                runs(&e.store, "trig@").await == vec![first.clone()]
            })
            .await;
            // Its run has not finished: skipped, and counted.
            assert_eq!(
                client.trigger_schedule("trig").await.expect("trigger"),
                Triggered::Skipped
            );
            let info = client.describe_schedule("trig").await.expect("describe");
            assert_eq!((info.started, info.skipped), (1, 1));
            assert_eq!(info.last_run_id.as_deref(), Some(first.as_str()));
            rt.signal(&first, "done", 1u64).await.expect("signal");
            eventually("the first run ends", || completed(&e.store, &first)).await;
            // Within the same millisecond, a run of its own.
            let second = run_id("trig", T0 + 5 * SECOND + 1);
            assert_eq!(
                client.trigger_schedule("trig").await.expect("trigger"),
                Triggered::Started {
                    run_id: second.clone()
                }
            );
            // (Listed by id: `…05.001Z` before `…05Z`.)
            eventually("the second run", || async {
                runs(&e.store, "trig@").await == vec![second.clone(), first.clone()]
            })
            .await;

            // Buffer-one keeps one trigger while the last run goes on, and skips the next.
            let a = run_id("buf", T0 + 5 * SECOND);
            let b = run_id("buf", T0 + 5 * SECOND + 1);
            assert_eq!(
                client.trigger_schedule("buf").await.expect("trigger"),
                Triggered::Started { run_id: a.clone() }
            );
            eventually("a", || async { e.store.load_workflow(&a).await.is_ok() }).await;
            assert_eq!(
                client.trigger_schedule("buf").await.expect("trigger"),
                Triggered::Buffered { run_id: b.clone() }
            );
            assert_eq!(
                client.trigger_schedule("buf").await.expect("trigger"),
                Triggered::Skipped
            );
            settle().await;
            assert_eq!(runs(&e.store, "buf@").await, vec![a.clone()]);
            rt.signal(&a, "done", 1u64).await.expect("signal");
            eventually("the kept trigger starts", || async {
                runs(&e.store, "buf@").await == vec![b.clone(), a.clone()]
            })
            .await;

            // A trigger at the very millisecond of a fire time takes another id: both runs
            // start.
            client
                .schedule(
                    "tick",
                    ScheduleSpec::every(Duration::from_secs(10)).anchored_at_ms(T0),
                    stamp,
                    "x".into(),
                )
                .overlap(Overlap::Allow)
                .await
                .expect("create");
            e.clock.set_ms(T0 + 10 * SECOND);
            let Triggered::Started { run_id: now_id } =
                client.trigger_schedule("tick").await.expect("trigger")
            else {
                panic!("allow starts it")
            };
            let due = run_id("tick", T0 + 10 * SECOND);
            assert_ne!(now_id, due, "the fire time keeps its id");
            for id in [&now_id, &due] {
                eventually("both runs complete", || completed(&e.store, id)).await;
            }
            rt.shutdown().await;
        }
    }
}

/// A backfill starts the run of every fire time in its range, once however often it is
/// asked, whatever the overlap policy; a range too long starts nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfilling_a_schedule() {
    for backend in BACKENDS {
        for mode in MODES {
            let e = env(backend);
            let rt = runtime(mode, &e).await;
            let client = rt.client();
            every_ten_seconds(&client, "back").await;
            client.pause_schedule("back").await.expect("pause");
            e.clock.set_ms(T0 + 100 * SECOND);
            let at = |s: u64| std::time::UNIX_EPOCH + Duration::from_millis(T0 + s * SECOND);
            let want = ids("back", &[10, 20, 30]);
            let backfilled = client
                .backfill_schedule("back", at(5), at(35))
                .await
                .expect("backfill");
            assert_eq!(backfilled, want);
            for id in &want {
                eventually("a backfilled run completes", || completed(&e.store, id)).await;
            }
            let again = client
                .backfill_schedule("back", at(0), at(30))
                .await
                .expect("backfill");
            assert_eq!(again, want, "the same fire times, the same runs");
            settle().await;
            assert_eq!(runs(&e.store, "back@").await, want, "nothing started twice");
            assert_eq!(
                client
                    .describe_schedule("back")
                    .await
                    .expect("describe")
                    .started,
                3,
                "nor counted twice"
            );
            // (A range is cut at now: a longer one has no more fire times.)
            e.clock.set_ms(T0 + 20_000 * SECOND);
            let too_long = client.backfill_schedule("back", at(0), at(20_000)).await;
            assert!(
                matches!(too_long, Err(ScheduleError::Backfill { .. })),
                "{too_long:?}"
            );
            settle().await;
            assert_eq!(runs(&e.store, "back@").await, want);
            let out = rt.handle(stamp, &want[0]).result().await.expect("result");
            assert_eq!(out, "one");
            rt.shutdown().await;
        }
    }
}

/// A client with older code cannot move a schedule back to its version.
#[tokio::test]
async fn a_schedule_input_is_not_set_by_older_code() {
    let e = env(Backend::Memory);
    let newer = Client::new(e.store.clone()).clock(e.clock.clone());
    newer
        .schedule(
            "v2",
            ScheduleSpec::every(Duration::from_secs(60)),
            stamp_v2,
            5,
        )
        .await
        .expect("create");
    let older = Client::new(e.store.clone()).clock(e.clock.clone());
    let refused = older
        .set_schedule_input("v2", stamp, "old".to_string())
        .await;
    assert!(
        matches!(
            refused,
            Err(ScheduleError::NotNewest {
                version: 1,
                newest: 2,
                ..
            })
        ),
        "{refused:?}"
    );
    let info = newer.describe_schedule("v2").await.expect("describe");
    assert_eq!(info.workflow_version, Some(2));
}

/// An update changes what it names (a spec then fires from now on) and nothing else; a bad
/// spec changes nothing; a new input goes to the runs started after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updating_a_schedule() {
    for backend in BACKENDS {
        let e = env(backend);
        let rt = runtime(Mode::Cached, &e).await;
        let client = rt.client();
        every_ten_seconds(&client, "upd").await;
        at(&e, 10, "upd", &[10]).await;
        e.clock.set_ms(T0 + 15 * SECOND);
        let info = client
            .update_schedule(
                "upd",
                ScheduleUpdate::new()
                    .spec(ScheduleSpec::every(Duration::from_secs(60)))
                    .overlap(Overlap::Allow)
                    .catch_up(Duration::from_secs(3600)),
            )
            .await
            .expect("update");
        assert_eq!(info.spec.interval(), Some(Duration::from_secs(60)));
        assert_eq!(info.overlap, Overlap::Allow);
        assert_eq!(info.catch_up, Duration::from_secs(3600));
        assert_eq!(info.next_fire_times_ms[0], T0 + 75 * SECOND);
        assert_eq!(
            (info.started, info.last_run_id),
            (1, Some(run_id("upd", T0 + 10 * SECOND)))
        );
        let never = client
            .update_schedule(
                "upd",
                ScheduleUpdate::new()
                    .spec(ScheduleSpec::cron("0 0 30 2 *"))
                    .overlap(Overlap::Skip),
            )
            .await;
        assert!(
            matches!(never, Err(ScheduleError::NeverFires(_))),
            "{never:?}"
        );
        let same = client.describe_schedule("upd").await.expect("describe");
        assert_eq!(
            (same.spec, same.overlap),
            (info.spec.clone(), Overlap::Allow)
        );
        // The old spec's fire time at +20 s starts nothing.
        at(&e, 30, "upd", &[10]).await;
        client
            .set_schedule_input("upd", stamp, "two".to_string())
            .await
            .expect("input");
        let wrong = client
            .set_schedule_input("upd", held, "x".to_string())
            .await;
        assert!(
            matches!(wrong, Err(ScheduleError::Input { .. })),
            "{wrong:?}"
        );
        at(&e, 75, "upd", &[10, 75]).await;
        let out = rt
            .handle(stamp, run_id("upd", T0 + 75 * SECOND))
            .result()
            .await
            .expect("result");
        assert_eq!(out, "two");
        rt.shutdown().await;
    }
}

/// A trigger whose run this code cannot make (the schedule was made for a version of its
/// workflow that is no longer registered) says so, and the worker's next look pauses the
/// schedule with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_whose_run_cannot_be_made_says_so() {
    let e = env(Backend::Memory);
    Client::new(e.store.clone())
        .clock(e.clock.clone())
        .schedule(
            "old",
            ScheduleSpec::every(Duration::from_secs(3600)),
            stamp,
            "x".into(),
        )
        .await
        .expect("create");
    let rt = builder(Mode::Cached, e.store.clone(), e.clock.clone())
        .workflow(stamp_v2)
        .build()
        .await
        .expect("build");
    let refused = rt.client().trigger_schedule("old").await;
    assert!(
        matches!(&refused, Err(ScheduleError::RunRefused { name, .. }) if name == "old"),
        "{refused:?}"
    );
    eventually("the schedule is paused", || async {
        rt.client()
            .describe_schedule("old")
            .await
            .is_ok_and(|s| s.paused && s.note.is_some())
    })
    .await;
    assert!(runs(&e.store, "old@").await.is_empty());
    rt.shutdown().await;
}

/// A schedule's run timeout (`NewSchedule::run_timeout`) bounds each run it starts, as a
/// start's timeout does: a run that hangs is stopped past it, and under `Overlap::Skip` the
/// next fire time starts again. `ScheduleSim` decides the same; an update takes the timeout
/// away from the runs started after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedules_runs_are_bounded_by_its_run_timeout() {
    for backend in BACKENDS {
        for mode in MODES {
            let e = env(backend);
            let rt = runtime(mode, &e).await;
            let client = rt.client();
            let info = client
                .schedule(
                    "bounded",
                    ScheduleSpec::every(Duration::from_secs(10)),
                    held,
                    "h".to_string(),
                )
                .run_timeout(Duration::from_secs(5))
                .await
                .expect("create");
            assert_eq!(info.run_timeout, Some(Duration::from_secs(5)));
            at(&e, 10, "bounded", &[10]).await;
            let first = run_id("bounded", T0 + 10 * SECOND);
            assert_eq!(
                client.state(&first).await.expect("state").timeout_at_ms,
                Some(T0 + 15 * SECOND),
                "{backend:?} {mode:?}"
            );
            let started = e.store.history(&first).await.expect("history").remove(0);
            assert!(
                started.detail.contains("past 5000 ms"),
                "{}",
                started.detail
            );
            e.clock.set_ms(T0 + 16 * SECOND);
            eventually("the first run stopped", || async {
                e.store
                    .load_workflow(&first)
                    .await
                    .is_ok_and(|r| r.status == WorkflowStatus::Cancelled)
            })
            .await;
            let last = e.store.history(&first).await.expect("history");
            let stop = last
                .iter()
                .rfind(|h| h.kind == HistoryKind::Terminated)
                .expect("a stop");
            assert!(stop.detail.contains("execution timeout"), "{}", stop.detail);
            // Skip starts the next fire time: the hung run no longer holds it back.
            at(&e, 20, "bounded", &[10, 20]).await;
            client
                .update_schedule("bounded", ScheduleUpdate::new().run_timeout(None))
                .await
                .expect("update");
            let second = run_id("bounded", T0 + 20 * SECOND);
            rt.signal(&second, "done", 1u64).await.expect("signal");
            eventually("the second run ends", || completed(&e.store, &second)).await;
            at(&e, 30, "bounded", &[10, 20, 30]).await;
            let third = run_id("bounded", T0 + 30 * SECOND);
            assert_eq!(
                client.state(&third).await.expect("state").timeout_at_ms,
                None,
                "started after the update took the timeout away"
            );
            rt.shutdown().await;
        }
    }
    let sim = |timeout: Option<u64>| {
        let s = ScheduleSim::new("bounded", ScheduleSpec::every(Duration::from_secs(10)))
            .start_at_ms(T0)
            .run_time(Duration::from_secs(3600));
        match timeout {
            Some(t) => s.run_timeout(Duration::from_secs(t)),
            None => s,
        }
        .run_for(Duration::from_secs(25))
        .expect("sim")
        .fire_times()
    };
    assert_eq!(sim(Some(5)), vec![T0 + 10 * SECOND, T0 + 20 * SECOND]);
    assert_eq!(sim(None), vec![T0 + 10 * SECOND]);
    // A timeout as long as the interval: the fire time at its end finds the run still
    // running; buffered, it starts just after the stop, and so on.
    let buffered = ScheduleSim::new("edge", ScheduleSpec::every(Duration::from_secs(10)))
        .start_at_ms(T0)
        .overlap(Overlap::BufferOne)
        .run_time(Duration::from_secs(3600))
        .run_timeout(Duration::from_secs(10))
        .run_for(Duration::from_secs(35))
        .expect("sim");
    assert_eq!(
        buffered.fire_times(),
        vec![T0 + 10 * SECOND, T0 + 20 * SECOND, T0 + 30 * SECOND]
    );
    assert_eq!(
        buffered.runs[1].started_at_ms,
        T0 + 20 * SECOND + 1,
        "after the first run's stop"
    );
}
