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

    // At most one: the runtime's look for ready runs may take the new run from the store
    // before the start's own wake hands it the first state (a race of the start, not of the
    // steps after it).
    assert!(
        cached_decodes <= 1,
        "by default the state stays in memory from step to step ({cached_decodes} decodes)"
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

/// Carries `size` bytes of state across three signal waits.
#[workflow]
async fn hoard(ctx: WorkflowCtx, size: u64) -> u64 {
    let big: Vec<u8> = vec![7; usize::try_from(size).unwrap_or(0)];
    let mut total: u64 = 0;
    let mut i: u64 = 0;
    while i < 3 {
        total = total.wrapping_add(ctx.signal::<u64>("add").await);
        i += 1;
    }
    total.wrapping_add(big.iter().map(|&b| u64::from(b)).sum::<u64>())
}

/// Runs `hoard(size)`, each signal sent once the last one's step was committed (a wake each,
/// from the cache or from the store); returns its output.
async fn hoard_run(
    configure: impl FnOnce(workflow_rt::Builder) -> workflow_rt::Builder,
    size: u64,
) -> u64 {
    let (store, clock) = memory();
    let rt = configure(builder(Mode::Cached, store.clone(), clock))
        .workflow(hoard)
        .build()
        .await
        .expect("build");
    let run = rt.start(hoard, "h", size).await.expect("start");
    for (k, add) in [1u64, 2, 3].into_iter().enumerate() {
        // The first step and the steps of the signals before this one are committed.
        let version = 1 + k as u64;
        within("the last step", async {
            while store.load_workflow("h").await.expect("load").version < version {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
        })
        .await;
        rt.signal("h", "add", add).await.expect("signal");
    }
    let out = within("result", run.result()).await.expect("result");
    rt.shutdown().await;
    out
}

/// A state larger than `cache_bytes` is not kept between wakes (the cache's own tests check
/// what it keeps and evicts); the workflow is loaded at each wake and gives the same output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_larger_than_the_cache_bytes_gives_the_same_output() {
    const SIZE: u64 = 100_000;
    let kept = hoard_run(|b| b, SIZE).await;
    let bounded = hoard_run(|b| b.cache_bytes(50_000), SIZE).await;
    let none = hoard_run(|b| b.cache_bytes(0), 10).await;
    let restored = hoard_run(|b| b.restore_every_step(true), SIZE).await;
    assert_eq!(kept, 7 * SIZE + 6);
    assert_eq!(bounded, kept, "the same output either way");
    assert_eq!(restored, kept, "and restored at every step");
    assert_eq!(none, 7 * 10 + 6);
}
