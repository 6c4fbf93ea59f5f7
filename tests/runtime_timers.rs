//! Durable timers: rows in the store, fired on the runtime's clock, after a restart too, with
//! no task per sleeping workflow.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{T0, both_modes, builder, eventually, memory, within};
use workflow_rt::prelude::*;
use workflow_rt::store::Store;
use workflow_rt::{Clock, VirtualClock, WorkflowStatus};

#[workflow]
async fn nap(ctx: WorkflowCtx, secs: u64) -> u64 {
    let before = ctx.now();
    ctx.sleep(Duration::from_secs(secs)).await;
    let after = ctx.now();
    after
        .duration_since(before)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_fires_at_its_time_on_the_virtual_clock() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(nap)
            .build()
            .await
            .expect("build");
        let run = rt.start(nap, "nap", 60).await.expect("start");
        eventually("the timer row", || async {
            store.load_timers("nap").await.expect("timers").len() == 1
        })
        .await;
        let t = store.load_timers("nap").await.expect("timers")[0];
        assert_eq!(t.fire_at_ms, T0 + 60_000);
        clock.advance(Duration::from_secs(59));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            store.load_workflow("nap").await.expect("load").status,
            WorkflowStatus::Running
        );
        clock.advance(Duration::from_secs(1));
        let out = within("result", run.result()).await.expect("result");
        assert_eq!(out, 60_000, "ctx.now() after the timer is its fire time");
        assert!(store.load_timers("nap").await.expect("timers").is_empty());
        rt.shutdown().await;
        out
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_fire_after_a_restart() {
    both_modes(async |mode| {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("timers.db");
        let clock = VirtualClock::new(T0);
        {
            let store = Arc::new(workflow_rt::SqliteStore::open(&path).expect("open"));
            let rt = builder(mode, store.clone(), clock.clone())
                .workflow(nap)
                .build()
                .await
                .expect("build");
            for i in 0..5 {
                rt.start(nap, format!("n{i}"), 3600 * (i + 1))
                    .await
                    .expect("start");
            }
            eventually("five timers", || async {
                let mut n = 0;
                for i in 0..5 {
                    n += store
                        .load_timers(&format!("n{i}"))
                        .await
                        .expect("timers")
                        .len();
                }
                n == 5
            })
            .await;
            rt.shutdown().await;
        }
        // Nothing runs while no runtime does; then a new process finds the timers in the file.
        clock.advance(Duration::from_secs(3 * 3600));
        let store = Arc::new(workflow_rt::SqliteStore::open(&path).expect("reopen"));
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(nap)
            .build()
            .await
            .expect("build");
        let mut outs = Vec::new();
        for i in 0..3 {
            let out = within("a due timer", rt.handle(nap, format!("n{i}")).result())
                .await
                .expect("result");
            assert_eq!(out, 3_600_000 * (i + 1));
            outs.push(out);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            rt.list(Some(WorkflowStatus::Running))
                .await
                .expect("list")
                .len(),
            2,
            "the later ones still sleep"
        );
        clock.advance(Duration::from_secs(2 * 3600));
        for i in 3..5 {
            let out = within("the rest", rt.handle(nap, format!("n{i}")).result())
                .await
                .expect("result");
            outs.push(out);
        }
        assert_eq!(clock.now_ms(), T0 + 5 * 3600 * 1000);
        rt.shutdown().await;
        outs
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleeping_workflows_hold_no_task() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(nap)
            .build()
            .await
            .expect("build");
        let metrics = tokio::runtime::Handle::current().metrics();
        let before = metrics.num_alive_tasks();
        for i in 0..2000 {
            rt.start(nap, format!("s{i}"), 24 * 3600)
                .await
                .expect("start");
        }
        eventually("all asleep", || async {
            store.load_workflow("s1999").await.expect("load").version == 1
                && metrics.num_alive_tasks() <= before
        })
        .await;
        assert!(
            store
                .list_workflows(Some(WorkflowStatus::Running))
                .await
                .expect("list")
                .len()
                == 2000
        );
        clock.advance(Duration::from_secs(24 * 3600));
        eventually("all awake and done", || async {
            store
                .list_workflows(Some(WorkflowStatus::Completed))
                .await
                .expect("list")
                .len()
                == 2000
        })
        .await;
        let last = rt.handle(nap, "s1999").result().await;
        rt.shutdown().await;
        last
    })
    .await;
}

/// Ten timers at once: a workflow whose one await is a join of ten sleeps.
#[workflow]
async fn ten_naps(ctx: WorkflowCtx, secs: u64) -> usize {
    let naps: Vec<workflow_rt::Sleep> = (0..10u64)
        .map(|i| ctx.sleep(Duration::from_millis(secs * 1000 + i)))
        .collect();
    ctx.join(naps).await.len()
}

/// A batch of fired timers can wake far fewer workflows than the batch holds timers (ten per
/// workflow here): the timer loop must go on firing while timers are due, not wait a poll
/// interval (an hour here) because fewer workflows than the batch size woke.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timer_loop_keeps_firing_while_timers_are_due() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = mode
            .apply(Runtime::builder(store.clone()))
            .clock(clock.clone())
            .poll_interval(Duration::from_secs(3600))
            .workflow(ten_naps)
            .build()
            .await
            .expect("build");
        // 120 workflows: 1,200 timers, more than two batches of the loop.
        for i in 0..120 {
            rt.start(ten_naps, format!("t{i}"), 1).await.expect("start");
        }
        eventually("every timer stored", || async {
            let mut n = 0;
            for i in 0..120 {
                n += store
                    .load_timers(&format!("t{i}"))
                    .await
                    .expect("timers")
                    .len();
            }
            n == 1200
        })
        .await;
        clock.advance(Duration::from_secs(2));
        let mut outs = Vec::new();
        for i in 0..120 {
            let out = within("a workflow whose timers are all due", async {
                rt.handle(ten_naps, format!("t{i}")).result().await
            })
            .await
            .expect("result");
            assert_eq!(out, 10);
            outs.push(out);
        }
        rt.shutdown().await;
        outs
    })
    .await;
}
