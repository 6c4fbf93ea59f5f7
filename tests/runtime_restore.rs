//! `Builder::restore_every_step`: the test mode in which every step starts from the store, as it
//! would after a crash. It really decodes the snapshot at every step (the default and
//! `cache_capacity(0)` do not, for steps that follow one another at once), and a workflow gives
//! the same output either way, its context (clock, random generator, sequence) included.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Deserializer;
use support::{Mode, T0, builder, memory, within};
use workflow_rt::prelude::*;
use workflow_rt::store::Store;

/// How many times a `Counted` was decoded: once per restore of the state that holds it.
static DECODES: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
struct Counted(u64);

impl<'de> Deserialize<'de> for Counted {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        DECODES.fetch_add(1, Ordering::SeqCst);
        u64::deserialize(d).map(Counted)
    }
}

/// Finishes at its first poll: the step it wakes follows at once, in the same driver.
#[activity]
async fn next(_ctx: ActivityCtx, i: u64) -> Result<u64, ActivityError> {
    Ok(i + 1)
}

#[workflow]
async fn count_up(ctx: WorkflowCtx, n: Counted) -> (u64, u64, u64, String) {
    let mut i: u64 = 0;
    let mut draws: u64 = 0;
    while i < n.0 {
        draws = draws.wrapping_add(ctx.random::<u64>());
        i = ctx.activity(next, i).await.unwrap_or(u64::MAX);
    }
    let at = ctx
        .now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    (i, draws, at, ctx.uuid())
}

/// Runs `count_up(steps)` on a runtime made by `configure`; returns its output, the decodes of
/// its state, and the commits (steps) it took.
async fn run(
    configure: impl FnOnce(workflow_rt::Builder) -> workflow_rt::Builder,
    steps: u64,
) -> ((u64, u64, u64, String), u64, u64) {
    let (store, clock) = memory();
    let rt = configure(builder(Mode::Cached, store.clone(), clock))
        .workflow(count_up)
        .activity(next)
        .build()
        .await
        .expect("build");
    let before = DECODES.load(Ordering::SeqCst);
    let run = rt
        .start(count_up, "count", Counted(steps))
        .await
        .expect("start");
    let out = within("result", run.result()).await.expect("result");
    let decodes = DECODES.load(Ordering::SeqCst) - before;
    let version = store.load_workflow("count").await.expect("load").version;
    rt.shutdown().await;
    (out, decodes, version)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_restores_the_snapshot_and_the_output_is_the_same() {
    const N: u64 = 20;
    // One test, one runtime at a time: the decode counter is shared.
    let (cached, cached_decodes, cached_steps) = run(|b| b, N).await;
    let (uncached, uncached_decodes, _) = run(|b| b.cache_capacity(0), N).await;
    let (restored, restored_decodes, restored_steps) = run(|b| b.restore_every_step(true), N).await;

    assert_eq!(cached.0, N);
    assert_eq!(cached.2, T0, "ctx.now() is the time of the last wake");
    assert_eq!(cached, uncached);
    assert_eq!(
        cached, restored,
        "the same output, random draws and uuid included"
    );
    assert_eq!((cached_steps, restored_steps), (N + 1, N + 1));

    assert_eq!(
        cached_decodes, 0,
        "by default the state stays in memory from step to step"
    );
    assert!(
        uncached_decodes <= 1,
        "cache_capacity(0) loads a workflow when it is woken, not between the steps that \
         follow at once ({uncached_decodes} decodes)"
    );
    assert!(
        restored_decodes > N,
        "restore_every_step decodes the snapshot for each of the {} steps ({restored_decodes} \
         decodes)",
        N + 1
    );
}
