//! Upgrading workflow code while runs are in flight: pinned versions, migrations (checked to
//! keep the pending commands, committed once), and runs no code can step parked at start.

mod support;

use std::sync::Arc;

use support::{Mode, both_modes, builder, eventually, memory, within};
use workflow_rt::prelude::*;
use workflow_rt::store::{HistoryKind, Store};
use workflow_rt::{MemoryStore, SqliteStore};
use workflow_rt::{Migration, RuntimeError, VirtualClock, WorkflowStatus};

/// Version 1: three signals, each answered in turn.
#[workflow(name = "order")]
async fn order_v1(ctx: WorkflowCtx, item: String) -> String {
    let size: u32 = ctx.signal("size").await;
    let colour: String = ctx.signal("colour").await;
    let gift: bool = ctx.signal("gift").await;
    format!("v1 {item} size {size} {colour} gift {gift}")
}

/// Version 2: saves a count of the questions asked (a new saved variable in every state), and
/// words its output differently.
#[workflow(name = "order", version = 2)]
async fn order(ctx: WorkflowCtx, item: String) -> String {
    let mut asked: u32 = 0;
    let size: u32 = ctx.signal("size").await;
    asked += 1;
    let colour: String = ctx.signal("colour").await;
    asked += 1;
    let gift: bool = ctx.signal("gift").await;
    asked += 1;
    format!("v2 {item}: size {size}, {colour}, gift {gift} ({asked} answers)")
}

/// Version 3: asks for the gift through a typed signal of the same name.
const GIFT: Signal<bool> = Signal::new("gift");

#[workflow(name = "order", version = 3)]
async fn order_v3(ctx: WorkflowCtx, item: String) -> String {
    let asked: u32 = 0;
    let size: u32 = ctx.signal("size").await;
    let colour: String = ctx.signal("colour").await;
    let gift = ctx.signal(GIFT).await;
    format!(
        "v3 {item}: size {size}, {colour}, gift {gift} ({} answers)",
        asked + 3
    )
}

/// Version 2 whose last await waits on another signal than v1's.
#[workflow(name = "order", version = 2, state = "WrongOrderState")]
async fn order_wrong(ctx: WorkflowCtx, item: String) -> String {
    let asked: u32 = 0;
    let size: u32 = ctx.signal("size").await;
    let colour: String = ctx.signal("colour").await;
    let wrapped: bool = ctx.signal("wrapping").await;
    format!("{item} {size} {colour} {wrapped} {asked}")
}

fn v1_to_v2(old: OrderV1State) -> Migration<OrderState> {
    match old {
        OrderV1State::Start { item } => Migration::To(OrderState::Start { item }),
        OrderV1State::Await1SignalSize { item } => {
            Migration::To(OrderState::Await1SignalSize { item, asked: 0 })
        }
        OrderV1State::Await2SignalColour { item, size } => {
            Migration::To(OrderState::Await2SignalColour {
                item,
                size,
                asked: 1,
            })
        }
        OrderV1State::Await3SignalGift { item, size, colour } => {
            Migration::To(OrderState::Await3SignalGift {
                item,
                size,
                colour,
                asked: 2,
            })
        }
        other => Migration::Refuse(format!("{other:?} has nothing left to migrate")),
    }
}

fn v2_to_v3(old: OrderState) -> Migration<OrderV3State> {
    match old {
        OrderState::Start { item } => Migration::To(OrderV3State::Start { item }),
        OrderState::Await1SignalSize { item, .. } => {
            Migration::To(OrderV3State::Await1SignalSize { item, asked: 0 })
        }
        OrderState::Await2SignalColour { item, size, .. } => {
            Migration::To(OrderV3State::Await2SignalColour {
                item,
                size,
                asked: 0,
            })
        }
        OrderState::Await3SignalGift {
            item, size, colour, ..
        } => Migration::To(OrderV3State::Await3SignalGift {
            item,
            size,
            colour,
            asked: 0,
        }),
        other => Migration::Refuse(format!("{other:?}")),
    }
}

/// The answers, in order; run `k` gets the first `k` under v1.
async fn answer(rt: &Runtime, id: &str, from: usize, to: usize) {
    for k in from..to {
        match k {
            0 => rt.signal(id, "size", 42u32).await.expect("size"),
            1 => rt
                .signal(id, "colour", "red".to_string())
                .await
                .expect("colour"),
            _ => rt.signal(id, "gift", true).await.expect("gift"),
        }
    }
}

/// Starts three v1 runs and lets run `k` take its first `k` answers: run `k` waits at await
/// `k + 1`, so the three runs stand at each of the three awaits.
async fn v1_runs(store: Arc<dyn Store>, clock: VirtualClock, mode: Mode) {
    let rt = builder(mode, store.clone(), clock)
        .workflow(order_v1)
        .build()
        .await
        .expect("build v1");
    for k in 0..3 {
        let id = format!("o{k}");
        rt.start(order_v1, id.as_str(), format!("item{k}"))
            .await
            .expect("start");
        answer(&rt, &id, 0, k).await;
        eventually("the v1 run took its answers", || async {
            rt.state(&id)
                .await
                .is_ok_and(|s| s.step == k as u64 + 1 && s.status == WorkflowStatus::Running)
        })
        .await;
    }
    rt.shutdown().await;
}

/// Three v1 runs, one at each await, migrated to v2 by a new deploy and finished there.
async fn migrate_each_await(store: Arc<dyn Store>, clock: VirtualClock, mode: Mode) -> Vec<String> {
    v1_runs(store.clone(), clock.clone(), mode).await;
    let rt = builder(mode, store.clone(), clock)
        .workflow(order)
        .migrate(order_v1, order, v1_to_v2)
        .build()
        .await
        .expect("build v2");
    let mut outputs = Vec::new();
    for k in 0..3 {
        let id = format!("o{k}");
        answer(&rt, &id, k, 3).await;
        let out = within("the migrated run", rt.handle(order, id.as_str()).result())
            .await
            .expect("result");
        let history = rt.history(&id).await.expect("history");
        let migrated: Vec<_> = history
            .iter()
            .filter(|h| h.kind == HistoryKind::Migrated)
            .collect();
        assert_eq!(migrated.len(), 1, "{history:#?}");
        assert!(
            migrated[0].detail.contains("order v1") && migrated[0].detail.contains("-> v2"),
            "{}",
            migrated[0].detail
        );
        assert_eq!(
            rt.state(&id).await.expect("state").workflow_version,
            Some(2)
        );
        outputs.push(out);
    }
    assert_eq!(
        outputs,
        [
            "v2 item0: size 42, red, gift true (3 answers)",
            "v2 item1: size 42, red, gift true (3 answers)",
            "v2 item2: size 42, red, gift true (3 answers)",
        ]
    );
    rt.shutdown().await;
    outputs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_run_at_each_await_migrates_to_v2_and_finishes_there() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        migrate_each_await(store, clock, mode).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_run_at_each_await_migrates_to_v2_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    both_modes(async |mode| {
        let store =
            Arc::new(SqliteStore::open(dir.path().join(format!("{mode:?}.db"))).expect("open"));
        let (_, clock) = memory();
        migrate_each_await(store, clock, mode).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_is_committed_once_and_survives_a_stop_before_the_next_step() {
    let (store, clock) = memory();
    v1_runs(store.clone(), clock.clone(), Mode::Cached).await;
    // A runtime with the migration loads run o1 (a signal nobody waits for wakes it), migrates
    // it, and stops before anything lets it step.
    let rt = builder(Mode::Cached, store.clone(), clock.clone())
        .workflow(order)
        .migrate(order_v1, order, v1_to_v2)
        .build()
        .await
        .expect("build");
    rt.signal("o1", "unrelated", 0u8).await.expect("signal");
    eventually("migrated", || async {
        rt.state("o1")
            .await
            .is_ok_and(|s| s.workflow_version == Some(2))
    })
    .await;
    rt.shutdown().await;
    // The next runtime has only v2: the run is a v2 run now, and finishes there.
    let rt = builder(Mode::Cached, store.clone(), clock)
        .workflow(order)
        .build()
        .await
        .expect("build");
    answer(&rt, "o1", 1, 3).await;
    let out = within("result", rt.handle(order, "o1").result())
        .await
        .expect("result");
    assert_eq!(out, "v2 item1: size 42, red, gift true (3 answers)");
    let history = rt.history("o1").await.expect("history");
    assert_eq!(
        history
            .iter()
            .filter(|h| h.kind == HistoryKind::Migrated)
            .count(),
        1,
        "{history:#?}"
    );
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_chain() {
    let (store, clock) = memory();
    v1_runs(store.clone(), clock.clone(), Mode::Restored).await;
    let rt = builder(Mode::Restored, store.clone(), clock)
        .workflow(order_v3)
        .migrate(order_v1, order, v1_to_v2)
        .migrate(order, order_v3, v2_to_v3)
        .build()
        .await
        .expect("build");
    answer(&rt, "o2", 2, 3).await;
    let out = within("result", rt.handle(order_v3, "o2").result())
        .await
        .expect("result");
    assert_eq!(out, "v3 item2: size 42, red, gift true (3 answers)");
    let history = rt.history("o2").await.expect("history");
    let migrated: Vec<_> = history
        .iter()
        .filter(|h| h.kind == HistoryKind::Migrated)
        .collect();
    assert_eq!(
        migrated.len(),
        1,
        "one commit for the whole chain: {history:#?}"
    );
    assert!(migrated[0].detail.contains("-> v2") && migrated[0].detail.contains("-> v3"));
    rt.shutdown().await;
}

/// A child workflow's first version: its input a `u32`.
#[workflow(name = "kid")]
async fn kid_v1(ctx: WorkflowCtx, x: u32) -> String {
    ctx.sleep(std::time::Duration::from_millis(1)).await;
    format!("v1 got {x}")
}

/// Its second: the input a `u64` (the same bytes for small numbers).
#[workflow(name = "kid", version = 2)]
async fn kid(ctx: WorkflowCtx, x: u64) -> String {
    ctx.sleep(std::time::Duration::from_millis(1)).await;
    format!("v2 got {x}")
}

/// A parent pinned to the child's first version (as a pinned old parent's code keeps it).
#[workflow]
async fn calls_kid_v1(ctx: WorkflowCtx, x: u32) -> Result<String, WorkflowError> {
    Ok(ctx.child(kid_v1, x).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_starts_on_the_version_its_call_names() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(calls_kid_v1)
            .workflow(kid_v1)
            .workflow(kid)
            .build()
            .await
            .expect("build");
        let run = rt.start(calls_kid_v1, "p", 7).await.expect("start");
        eventually("the child sleeps", || async {
            store
                .load_timers("p/kid-0")
                .await
                .is_ok_and(|t| t.len() == 1)
        })
        .await;
        clock.advance(std::time::Duration::from_millis(1));
        let out = within("parent", run.result()).await.expect("result");
        assert_eq!(out.as_deref().ok(), Some("v1 got 7"), "{out:?}");
        rt.shutdown().await;
        // A runtime without that version: the call is answered, nothing starts.
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock)
            .workflow(calls_kid_v1)
            .workflow(kid)
            .build()
            .await
            .expect("build");
        let out = within(
            "parent",
            rt.start(calls_kid_v1, "q", 7)
                .await
                .expect("start")
                .result(),
        )
        .await
        .expect("result");
        let Err(e) = &out else { panic!("{out:?}") };
        assert!(
            e.message.contains("names version 1 of workflow \"kid\""),
            "{e:?}"
        );
        assert!(
            store.load_workflow("q/kid-0").await.is_err(),
            "nothing started"
        );
        rt.shutdown().await;
        out.map_err(|e| e.message)
    })
    .await;
}

/// A run that a v2 worker looks at without a commit (what arrived does not complete its wait)
/// is not parked by an old worker (v1 only) that meets it twice, minutes apart: met again
/// after a break, its grace starts over. (Counted from the first meeting, the old worker
/// parked the run at the second, while the v2 worker was there to step it.) Here the run waits
/// for "size" and takes "gift" and "colour" first, each sent through the old worker; the v2
/// worker is kept from looking at the run while the old one meets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_newer_code_looks_at_is_not_parked_by_old_code_met_again_later() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let seen_by_new = support::recording::RecordingStore::new(store.clone());
        let new = builder(mode, Arc::new(seen_by_new.clone()), clock.clone())
            .workflow(order_v1)
            .workflow(order)
            .build()
            .await
            .expect("build v2");
        let id = "r";
        new.start(order, id, "thing".to_string())
            .await
            .expect("start");
        eventually("the v2 run waits", || async {
            new.state(id).await.is_ok_and(|s| s.step == 1)
        })
        .await;
        let old = builder(mode, store.clone(), clock.clone())
            .workflow(order_v1)
            .build()
            .await
            .expect("build v1");

        // The old worker meets the run with "gift" unseen; then the v2 worker looks at it.
        seen_by_new.blind(true);
        old.signal(id, "gift", true).await.expect("gift");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        seen_by_new.blind(false);
        eventually("the v2 worker saw the gift", || async {
            store.load_workflow(id).await.is_ok_and(|r| !r.ready)
        })
        .await;

        // Two minutes on, "colour" through the old worker, which meets the run first.
        seen_by_new.blind(true);
        clock.advance(std::time::Duration::from_secs(120));
        old.signal(id, "colour", "red".to_string())
            .await
            .expect("colour");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let rec = store.load_workflow(id).await.expect("load");
        assert_eq!(rec.status, WorkflowStatus::Running, "{:?}", rec.park_reason);

        seen_by_new.blind(false);
        old.signal(id, "size", 42u32).await.expect("size");
        let out = within("r", new.handle(order, id).result())
            .await
            .expect("r");
        assert_eq!(out, "v2 thing: size 42, red, gift true (3 answers)");
        old.shutdown().await;
        new.shutdown().await;
        out
    })
    .await;
}

/// A rolling deploy: a run started on v2 by a new worker, met by an old worker (v1 only) when
/// its signal comes, is left to the new code: not parked at the old worker's start nor by its
/// steps, and the new worker, back, finishes it. With no worker of v2 for a minute (a deploy
/// rolled back), the old worker parks it, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_of_a_newer_version_is_left_to_the_workers_that_have_it() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let new = builder(mode, store.clone(), clock.clone())
            .workflow(order_v1)
            .workflow(order)
            .build()
            .await
            .expect("build v2");
        for id in ["n", "m"] {
            new.start(order, id, "thing".to_string())
                .await
                .expect("start");
            eventually("the v2 run waits", || async {
                new.state(id).await.is_ok_and(|s| s.step == 1)
            })
            .await;
        }
        new.shutdown().await;

        let old = builder(mode, store.clone(), clock.clone())
            .workflow(order_v1)
            .build()
            .await
            .expect("build v1");
        answer(&old, "n", 0, 1).await;
        answer(&old, "m", 0, 1).await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        for id in ["n", "m"] {
            let rec = store.load_workflow(id).await.expect("load");
            assert_eq!(
                rec.status,
                WorkflowStatus::Running,
                "{id}: {:?}",
                rec.park_reason
            );
        }

        let new = builder(mode, store.clone(), clock.clone())
            .workflow(order_v1)
            .workflow(order)
            .build()
            .await
            .expect("build v2");
        answer(&new, "n", 1, 3).await;
        let out = within("n", new.handle(order, "n").result())
            .await
            .expect("n");
        assert_eq!(out, "v2 thing: size 42, red, gift true (3 answers)");
        new.shutdown().await;

        // A v2 worker stepping "m" within the minute starts its grace over: 50 s on, the
        // new worker takes an answer, and 11 s after that the old worker leaves it still.
        clock.advance(std::time::Duration::from_secs(50));
        let new = builder(mode, store.clone(), clock.clone())
            .workflow(order_v1)
            .workflow(order)
            .build()
            .await
            .expect("build v2");
        eventually("the v2 worker takes the buffered answer", || async {
            new.state("m").await.is_ok_and(|s| s.step == 2)
        })
        .await;
        new.shutdown().await;
        clock.advance(std::time::Duration::from_secs(11));
        answer(&old, "m", 1, 2).await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let rec = store.load_workflow("m").await.expect("load");
        assert_eq!(rec.status, WorkflowStatus::Running, "{:?}", rec.park_reason);

        // Rolled back: no v2 worker. The answer stays unseen, the old worker meets the run at
        // each look for ready runs, and a minute of that parks "m".
        clock.advance(std::time::Duration::from_secs(61));
        answer(&old, "m", 2, 3).await;
        for _ in 0..140 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            clock.advance(std::time::Duration::from_millis(500));
        }
        eventually("m is parked", || async {
            store
                .load_workflow("m")
                .await
                .is_ok_and(|r| r.status == WorkflowStatus::Parked)
        })
        .await;
        let reason = store.load_workflow("m").await.expect("load").park_reason;
        let reason = reason.expect("a reason");
        assert!(
            reason.contains("order v2 was written by newer code") && reason.contains("up to v1"),
            "{reason}"
        );
        old.shutdown().await;
        (out, reason)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_old_runs_finish_on_v1_and_new_runs_start_on_v2() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        v1_runs(store.clone(), clock.clone(), mode).await;
        let rt = builder(mode, store.clone(), clock)
            .workflow(order_v1)
            .workflow(order)
            .build()
            .await
            .expect("build");
        rt.start(order, "new", "fresh".to_string())
            .await
            .expect("start");
        assert!(matches!(
            rt.start(order_v1, "old", "stale".to_string()).await,
            Err(RuntimeError::NotNewest {
                version: 1,
                newest: 2,
                ..
            })
        ));
        answer(&rt, "new", 0, 3).await;
        answer(&rt, "o1", 1, 3).await;
        let old = within("old", rt.handle(order_v1, "o1").result())
            .await
            .expect("old");
        let new = within("new", rt.handle(order, "new").result())
            .await
            .expect("new");
        assert_eq!(old, "v1 item1 size 42 red gift true");
        assert_eq!(new, "v2 fresh: size 42, red, gift true (3 answers)");
        rt.shutdown().await;
        (old, new)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_that_would_change_the_pending_commands_is_refused_and_parks_the_run() {
    let (store, clock) = memory();
    v1_runs(store.clone(), clock.clone(), Mode::Cached).await;
    let rt = builder(Mode::Cached, store.clone(), clock)
        .workflow(order_wrong)
        .migrate(order_v1, order_wrong, |old| match old {
            OrderV1State::Await3SignalGift { item, size, colour } => {
                Migration::To(WrongOrderState::Await3SignalWrapping {
                    item,
                    size,
                    colour,
                    asked: 2,
                })
            }
            OrderV1State::Await2SignalColour { .. } => Migration::Refuse("not this one".into()),
            _ => Migration::Stay,
        })
        .build()
        .await
        .expect("build");
    rt.signal("o2", "gift", true).await.expect("signal");
    let err = within("result", rt.handle(order_wrong, "o2").result())
        .await
        .unwrap_err();
    let RuntimeError::Parked { reason, .. } = err else {
        panic!("{err:?}")
    };
    assert!(
        reason.contains("would lose or repeat pending commands")
            && reason.contains("Await3SignalGift")
            && reason.contains("signal gift")
            && reason.contains("signal wrapping"),
        "{reason}"
    );
    // Nothing of the run changed: it is still a v1 run, with its signal buffered.
    let state = rt.state("o2").await.expect("state");
    assert_eq!(state.workflow_version, Some(1));
    // A refusal parks too, with the function's reason.
    rt.signal("o1", "colour", "blue".to_string())
        .await
        .expect("signal");
    let err = within("result", rt.handle(order_wrong, "o1").result())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RuntimeError::Parked { reason, .. } if reason.contains("refused state Await2SignalColour: not this one")),
        "{err:?}"
    );
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_no_code_can_step_is_parked_at_start_and_resumes_once_the_code_is_back() {
    let (store, clock) = memory();
    v1_runs(store.clone(), clock.clone(), Mode::Cached).await;
    // A deploy with v2 only, and no migration: every v1 run is parked at once, not at its next
    // event, and listed.
    let rt = builder(Mode::Cached, store.clone(), clock.clone())
        .workflow(order)
        .build()
        .await
        .expect("build");
    for k in 0..3 {
        let s = rt.state(&format!("o{k}")).await.expect("state");
        assert_eq!(s.status, WorkflowStatus::Parked, "o{k}");
        let reason = s.park_reason.expect("reason");
        assert!(
            reason.contains("no code of order v1") && reason.contains(".migrate("),
            "{reason}"
        );
    }
    let stranded = rt.stranded().await.expect("stranded");
    assert_eq!(
        stranded
            .iter()
            .map(|s| s.run.id.as_str())
            .collect::<Vec<_>>(),
        ["o0", "o1", "o2"]
    );
    // Signals sent meanwhile are kept.
    rt.signal("o1", "colour", "green".to_string())
        .await
        .expect("signal a parked run");
    rt.shutdown().await;
    // The next deploy brings v1 back (pinned): unpark, and the run goes on with its signal.
    let rt = builder(Mode::Cached, store.clone(), clock)
        .workflow(order_v1)
        .workflow(order)
        .build()
        .await
        .expect("build");
    assert!(rt.stranded().await.expect("stranded").is_empty());
    rt.unpark("o1").await.expect("unpark");
    rt.signal("o1", "gift", false).await.expect("signal");
    let out = within("result", rt.handle(order_v1, "o1").result())
        .await
        .expect("result");
    assert_eq!(out, "v1 item1 size 42 green gift false");
    rt.shutdown().await;
}

#[tokio::test]
async fn migrations_that_cannot_be_used_fail_the_build() {
    let (store, clock) = memory();
    let err = builder(Mode::Cached, store.clone(), clock.clone())
        .workflow(order)
        .migrate(order, order_v1, |_| Migration::Stay)
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RuntimeError::BadMigration { from: 2, to: 1, .. }),
        "{err}"
    );
    let err = builder(Mode::Cached, store.clone(), clock.clone())
        .workflow(order)
        .migrate(order_v1, order, v1_to_v2)
        .migrate(order_v1, order_v3, |_| Migration::Stay)
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RuntimeError::BadMigration { from: 1, .. }),
        "{err}"
    );
    // To a version whose code is not registered (nor migrated on from): its runs would be
    // taken for runs of newer code on another worker.
    let err = builder(Mode::Cached, store.clone(), clock.clone())
        .workflow(order_v1)
        .migrate(order_v1, order, v1_to_v2)
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RuntimeError::BadMigration { from: 1, to: 2, reason, .. }
            if reason.contains("register v2")),
        "{err}"
    );
    // Through a version with no code to one with: a chain that ends in code is fine.
    builder(Mode::Cached, store, clock)
        .workflow(order_v1)
        .workflow(order_v3)
        .migrate(order_v1, order, v1_to_v2)
        .migrate(order, order_v3, |_| Migration::Stay)
        .build()
        .await
        .expect("a chain to registered code");
}

#[test]
fn a_migration_is_tried_against_every_state_a_run_can_be_in() {
    use workflow_rt::testing::check_migration;
    let answers = |run: workflow_rt::testing::TestRun<_>| {
        run.signal("size", 42u32)
            .signal("colour", "red".to_string())
            .signal("gift", true)
    };
    let runs = check_migration(
        order_v1,
        order,
        v1_to_v2,
        vec!["a".to_string(), "b".to_string()],
        answers,
        |run| {
            run.signal("size", 42u32)
                .signal("colour", "red".to_string())
                .signal("gift", true)
        },
    )
    .expect("every state migrates");
    // Two inputs, each stopped before its first step and at its three awaits.
    assert_eq!(runs.len(), 8);
    for r in &runs {
        assert!(
            r.outcome
                .output
                .ends_with("size 42, red, gift true (3 answers)"),
            "{}: {}",
            r.from_state,
            r.outcome.output
        );
    }
    // A migration that would lose a pending command is caught here too.
    let err = check_migration(
        order_v1,
        order_wrong,
        |old| match old {
            OrderV1State::Await3SignalGift { item, size, colour } => {
                Migration::To(WrongOrderState::Await3SignalWrapping {
                    item,
                    size,
                    colour,
                    asked: 0,
                })
            }
            _ => Migration::Stay,
        },
        vec!["a".to_string()],
        answers,
        |run| run,
    )
    .unwrap_err();
    assert!(err.to_string().contains("would lose or repeat"), "{err}");
}

/// Every version of `order` here, run by the test driver with everything in memory dropped and
/// restored from the snapshot at every await: the same outputs as a plain run.
#[test]
fn every_version_gives_the_same_output_restored_at_every_await() {
    use workflow_rt::testing::TestRun;
    fn both<W: Workflow>(w: W, answers: impl Fn(TestRun<W>) -> TestRun<W>) -> W::Output
    where
        W::Output: PartialEq + std::fmt::Debug,
        W::Input: From<String>,
    {
        let plain = answers(TestRun::new(w, "v", W::Input::from("x".to_string())))
            .run()
            .expect("plain run")
            .output;
        let restored = answers(TestRun::new(w, "v", W::Input::from("x".to_string())))
            .snapshot_every_await(true)
            .run()
            .expect("restored run")
            .output;
        assert_eq!(plain, restored);
        plain
    }
    let answers = |run| {
        let run: workflow_rt::testing::TestRun<_> = run;
        run.signal("size", 42u32)
            .signal("colour", "red".to_string())
            .signal("gift", true)
            .signal("wrapping", false)
    };
    assert_eq!(both(order_v1, answers), "v1 x size 42 red gift true");
    assert_eq!(
        both(order, |r| r
            .signal("size", 42u32)
            .signal("colour", "red".to_string())
            .signal("gift", true)),
        "v2 x: size 42, red, gift true (3 answers)"
    );
    assert_eq!(
        both(order_v3, |r| r
            .signal("size", 42u32)
            .signal("colour", "red".to_string())
            .signal(GIFT, true)),
        "v3 x: size 42, red, gift true (3 answers)"
    );
    assert_eq!(
        both(order_wrong, |r| r
            .signal("size", 42u32)
            .signal("colour", "red".to_string())
            .signal("wrapping", false)),
        "x 42 red false 0"
    );
}

/// The walk at start that parks the runs no code can step goes page by page (a read per
/// thousand runs, not one per run): every run of more than one page is parked, on both stores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walk_at_start_parks_every_page_of_stranded_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stores: [Arc<dyn Store>; 2] = [
        Arc::new(MemoryStore::new()),
        Arc::new(SqliteStore::open(dir.path().join("walk.db")).expect("open")),
    ];
    for store in stores {
        let clock = VirtualClock::new(support::T0);
        let runs = 1_500;
        let rt = builder(Mode::Cached, store.clone(), clock.clone())
            .workflow(order_v1)
            .build()
            .await
            .expect("build v1");
        for k in 0..runs {
            rt.start(order_v1, format!("w{k:04}").as_str(), "item".to_string())
                .await
                .expect("start");
        }
        eventually("every v1 run waits for its first signal", || async {
            store
                .count_runs()
                .await
                .is_ok_and(|c| c.contains(&(WorkflowStatus::Running, runs)))
                && store
                    .ready_workflows(&["order".to_string()], 1)
                    .await
                    .is_ok_and(|r| r.is_empty())
        })
        .await;
        rt.shutdown().await;
        let rt = builder(Mode::Cached, store.clone(), clock)
            .workflow(order)
            .build()
            .await
            .expect("build v2");
        let counts = store.count_runs().await.expect("count");
        assert!(
            counts.contains(&(WorkflowStatus::Parked, runs)),
            "{counts:?}"
        );
        assert_eq!(rt.stranded().await.expect("stranded").len(), runs as usize);
        rt.shutdown().await;
    }
}

/// A snapshot in an envelope format newer than this build reads was written by a newer build
/// of the library on another worker (a rolling deploy): it is left to that worker, as a run of
/// a newer version is, and parked only once no newer worker has stepped it for a while.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_of_a_newer_format_is_left_to_the_newer_build() {
    use workflow_rt::store::StepOutcome;
    let (store, clock) = memory();
    let rt = builder(Mode::Cached, store.clone(), clock.clone())
        .workflow(order_v1)
        .build()
        .await
        .expect("build");
    rt.start(order_v1, "f", "thing".to_string())
        .await
        .expect("start");
    eventually("the run waits", || async {
        rt.state("f").await.is_ok_and(|s| s.step == 1)
    })
    .await;
    rt.shutdown().await;
    // What a newer build would have written: a format this one does not know.
    let rec = store.load_workflow("f").await.expect("load");
    let mut snapshot = rec.snapshot.clone();
    let newer = workflow_rt::machine::Snapshot::FORMAT + 1;
    assert!(newer < 128, "one byte of postcard");
    snapshot[0] = newer as u8;
    let pending = rec.pending.clone().expect("a wait");
    store
        .commit_step(support::bare_commit(
            &rec,
            StepOutcome::Suspended {
                snapshot,
                pending,
                tasks: Vec::new(),
                timers: Vec::new(),
            },
        ))
        .await
        .expect("commit");

    let old = builder(Mode::Cached, store.clone(), clock.clone())
        .workflow(order_v1)
        .build()
        .await
        .expect("build again");
    answer(&old, "f", 0, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let rec = store.load_workflow("f").await.expect("load");
    assert_eq!(
        rec.status,
        WorkflowStatus::Running,
        "left to the newer build: {:?}",
        rec.park_reason
    );
    // No newer worker comes: a minute of looks parks it, saying why.
    clock.advance(std::time::Duration::from_secs(61));
    for _ in 0..140 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        clock.advance(std::time::Duration::from_millis(500));
    }
    eventually("f is parked", || async {
        store
            .load_workflow("f")
            .await
            .is_ok_and(|r| r.status == WorkflowStatus::Parked)
    })
    .await;
    let reason = store
        .load_workflow("f")
        .await
        .expect("load")
        .park_reason
        .expect("a reason");
    assert!(
        reason.contains(&format!("snapshot format {newer} is not supported"))
            && reason.contains("written by a newer build"),
        "{reason}"
    );
    old.shutdown().await;
}
