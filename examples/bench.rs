//! The runtime's benchmark: `cargo run --release --example bench`.
//!
//! Prints, for a workflow that calls a trivial activity in a loop (one step per call):
//! - steps per second on MemoryStore and on SqliteStore (`synchronous=FULL`), for one workflow
//!   run sequentially and for 100 run concurrently;
//! - the time to resume a workflow after 10, 1 000 and 100 000 completed steps, from a cold
//!   start (a new store and runtime on the file): load its snapshot, decode it, run it to its
//!   next await; and the same end to end (signal committed, step run and committed, result
//!   seen);
//! - the bytes of a snapshot.
//!
//! `--quick` runs smaller sizes (a smoke test of the benchmark itself); `--only NAME` runs one
//! part: `memory`, `sqlite` or `resume`. (`tests/examples.rs` runs [`run`] with the quick sizes,
//! so the benchmark cannot rot, and checks that the chain gives the same result when every
//! step is restored from the store.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use workflow_rt::Synchronous;
use workflow_rt::machine::{self, Pending, Resolution, Snapshot, Step};
use workflow_rt::prelude::*;
use workflow_rt::store::Store;

#[activity]
pub async fn noop(_ctx: ActivityCtx, i: u64) -> Result<u64, ActivityError> {
    Ok(i)
}

#[workflow]
pub async fn chain(ctx: WorkflowCtx, n: u64) -> u64 {
    let mut acc: u64 = 0;
    let mut i: u64 = 0;
    while i < n {
        acc = acc.wrapping_add(ctx.activity(noop, i).await.unwrap_or(0));
        i += 1;
    }
    let go: u64 = ctx.signal::<u64>("go").await;
    acc.wrapping_add(go)
}

struct Sizes {
    memory_sequential: u64,
    memory_concurrent: u64,
    sqlite_sequential: u64,
    sqlite_concurrent: u64,
    resume: &'static [u64],
}

const FULL: Sizes = Sizes {
    memory_sequential: 300_000,
    memory_concurrent: 5_000,
    sqlite_sequential: 5_000,
    sqlite_concurrent: 1_000,
    resume: &[10, 1_000, 100_000],
};

const QUICK: Sizes = Sizes {
    memory_sequential: 2_000,
    memory_concurrent: 100,
    sqlite_sequential: 200,
    sqlite_concurrent: 20,
    resume: &[10, 1_000],
};

async fn runtime(store: impl Store) -> anyhow::Result<Runtime> {
    Ok(Runtime::builder(store)
        .workflow(chain)
        .activity(noop)
        .build()
        .await?)
}

/// Runs `workflows` chains of `steps` calls at once; returns steps per second.
async fn throughput(
    store: impl Store,
    prefix: &str,
    workflows: u64,
    steps: u64,
) -> anyhow::Result<f64> {
    let rt = runtime(store).await?;
    let begin = Instant::now();
    let mut handles = Vec::new();
    for w in 0..workflows {
        let id = format!("{prefix}-{w}");
        let h = rt.start(chain, &id, steps).await?;
        rt.signal(&id, "go", 1u64).await?;
        handles.push(h);
    }
    for h in handles {
        h.result().await?;
    }
    let elapsed = begin.elapsed();
    rt.shutdown().await;
    // Per workflow: the first step, one per call, the signal.
    let total = workflows * (steps + 2);
    Ok(total as f64 / elapsed.as_secs_f64())
}

/// Leaves a chain of `steps` calls waiting for its signal in the file at `path`.
async fn prepare(path: &std::path::Path, ids: &[&str], steps: u64) -> anyhow::Result<()> {
    let store = SqliteStore::builder(path)
        .synchronous(Synchronous::Off)
        .open()?;
    let rt = runtime(store).await?;
    for id in ids {
        rt.start(chain, *id, steps).await?;
    }
    let probe = SqliteStore::open(path)?;
    for id in ids {
        while probe.load_workflow(id).await?.version != steps + 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    rt.shutdown().await;
    Ok(())
}

/// What a worker does to continue a workflow from the store: load, decode, run to the next
/// await. Returns the time it took and the snapshot's size.
async fn resume_once(path: &std::path::Path, id: &str) -> anyhow::Result<(Duration, usize)> {
    let store = SqliteStore::open(path)?;
    store.load_workflow(id).await?; // open the read connection outside the measurement
    let begin = Instant::now();
    let rec = store.load_workflow(id).await?;
    let snapshot = Snapshot::decode(&rec.snapshot)?;
    snapshot.check(<chain as Workflow>::NAME, <chain as Workflow>::FINGERPRINT)?;
    let mut state: <chain as Workflow>::State = snapshot.decode_state()?;
    let pending: Pending = postcard::from_bytes(rec.pending.as_deref().unwrap_or_default())?;
    let wake = pending.try_resolve(&mut |_| {
        Some(Resolution::Signal {
            event: 0,
            payload: postcard::to_stdvec(&1u64).unwrap_or_default(),
        })
    });
    let mut ctx = snapshot.ctx;
    let step = machine::resume::<chain>(id, &mut ctx, &mut state, wake);
    let elapsed = begin.elapsed();
    anyhow::ensure!(
        matches!(step, Step::Completed(_)),
        "the chain did not complete: {step:?}"
    );
    Ok((elapsed, rec.snapshot.len()))
}

/// The same through the runtime: a new runtime on the file, the signal sent, until the result
/// is seen (two commits: the signal's and the step's). Once for `cold` (the runtime's first
/// work), then for `warm`.
async fn resume_end_to_end(
    path: &std::path::Path,
    cold: &str,
    warm: &str,
) -> anyhow::Result<(Duration, Duration)> {
    let rt = runtime(SqliteStore::open(path)?).await?;
    let mut times = Vec::new();
    for id in [cold, warm] {
        let begin = Instant::now();
        rt.signal(id, "go", 1u64).await?;
        rt.handle(chain, id).result().await?;
        times.push(begin.elapsed());
    }
    rt.shutdown().await;
    Ok((times[0], times[1]))
}

fn line(what: &str, value: String, target: &str) {
    println!("{what:<52} {value:>16}   {target}");
}

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The small sizes (a smoke test).
    pub quick: bool,
    /// One part only: `memory`, `sqlite` or `resume`.
    pub only: Option<String>,
}

impl Options {
    /// From the command line: `--quick`, `--only NAME`.
    pub fn from_args(args: &[String]) -> anyhow::Result<Self> {
        let mut options = Options::default();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--only" => {
                    let part = it
                        .next()
                        .ok_or_else(|| anyhow::anyhow!("--only memory|sqlite|resume"))?;
                    anyhow::ensure!(
                        ["memory", "sqlite", "resume"].contains(&part.as_str()),
                        "unknown part {part:?} (memory, sqlite or resume)"
                    );
                    options.only = Some(part.clone());
                }
                // What `cargo bench`-style runners add.
                "--bench" => {}
                other => anyhow::bail!("unknown argument {other:?} (try --quick, --only NAME)"),
            }
        }
        Ok(options)
    }
}

/// What one resume measurement gave.
#[derive(Debug, Clone, PartialEq)]
pub struct ResumeFigures {
    /// Completed steps before the resume.
    pub steps: u64,
    /// Load + decode + run to the next await, no commit (median and worst of 21).
    pub median: Duration,
    pub worst: Duration,
    /// Through the runtime, signal commit to result: on a warm runtime, and as a new
    /// runtime's first work.
    pub end_to_end_warm: Duration,
    pub end_to_end_cold: Duration,
    pub snapshot_bytes: usize,
}

/// The figures the benchmark prints (those of the parts that ran).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// Steps per second.
    pub memory_sequential: Option<f64>,
    pub memory_concurrent: Option<f64>,
    pub sqlite_sequential: Option<f64>,
    pub sqlite_concurrent: Option<f64>,
    pub fsync: Option<Duration>,
    pub resume: Vec<ResumeFigures>,
    /// The encoded wait stored beside the snapshot.
    pub pending_bytes: Option<usize>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    run(&Options::from_args(&args)?).await?;
    Ok(())
}

/// Runs the benchmark, printing each figure as it comes.
pub async fn run(options: &Options) -> anyhow::Result<Figures> {
    let part = |name: &str| options.only.as_deref().is_none_or(|o| o == name);
    let sizes = if options.quick { QUICK } else { FULL };
    let mut figures = Figures::default();
    let dir = tempfile::tempdir()?;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!(
        "workflow-rt benchmark ({cores} cores, {}build)",
        if cfg!(debug_assertions) {
            "debug "
        } else {
            "release "
        }
    );
    println!("{:-<100}", "");

    if part("memory") {
        memory(&sizes, &mut figures).await?;
    }
    if part("sqlite") {
        sqlite(&dir, &sizes, &mut figures).await?;
    }
    if part("resume") {
        resume(&dir, &sizes, &mut figures).await?;
    }
    Ok(figures)
}

async fn memory(sizes: &Sizes, figures: &mut Figures) -> anyhow::Result<()> {
    let m1 = throughput(MemoryStore::new(), "m1", 1, sizes.memory_sequential).await?;
    line(
        "MemoryStore, 1 workflow, steps/s",
        format!("{m1:.0}"),
        "target >= 500 000",
    );
    let m100 = throughput(MemoryStore::new(), "m100", 100, sizes.memory_concurrent).await?;
    line(
        "MemoryStore, 100 workflows at once, steps/s",
        format!("{m100:.0}"),
        "target >= 500 000",
    );
    figures.memory_sequential = Some(m1);
    figures.memory_concurrent = Some(m100);
    Ok(())
}

/// What one 4 KiB write and fsync cost on the disk under `dir`: the floor of a durable commit.
fn fsync_latency(dir: &std::path::Path) -> anyhow::Result<Duration> {
    use std::io::{Seek, SeekFrom, Write};
    let path = dir.join("fsync-probe");
    let mut f = std::fs::File::create(&path)?;
    let page = [7u8; 4096];
    let rounds = 500;
    let begin = Instant::now();
    for i in 0..rounds {
        f.seek(SeekFrom::Start((i % 64) * 4096))?;
        f.write_all(&page)?;
        f.sync_data()?;
    }
    let each = begin.elapsed() / rounds as u32;
    std::fs::remove_file(path)?;
    Ok(each)
}

async fn sqlite(
    dir: &tempfile::TempDir,
    sizes: &Sizes,
    figures: &mut Figures,
) -> anyhow::Result<()> {
    let fsync = fsync_latency(dir.path())?;
    line(
        "disk: one 4 KiB write + fsync",
        format!("{:.0} us", fsync.as_secs_f64() * 1e6),
        &format!(
            "so at most {:.0} sequential commits/s",
            1.0 / fsync.as_secs_f64()
        ),
    );
    let s1 = throughput(
        SqliteStore::open(dir.path().join("seq.db"))?,
        "s1",
        1,
        sizes.sqlite_sequential,
    )
    .await?;
    line(
        "SqliteStore FULL, 1 workflow, steps/s",
        format!("{s1:.0}"),
        "target >= 3 500",
    );
    let s100 = throughput(
        SqliteStore::open(dir.path().join("conc.db"))?,
        "s100",
        100,
        sizes.sqlite_concurrent,
    )
    .await?;
    line(
        "SqliteStore FULL, 100 workflows at once, steps/s",
        format!("{s100:.0}"),
        "target >= 50 000",
    );
    line(
        "  ratio concurrent / sequential",
        format!("{:.1}x", s100 / s1),
        "(group commit)",
    );
    figures.fsync = Some(fsync);
    figures.sqlite_sequential = Some(s1);
    figures.sqlite_concurrent = Some(s100);
    Ok(())
}

async fn resume(
    dir: &tempfile::TempDir,
    sizes: &Sizes,
    figures: &mut Figures,
) -> anyhow::Result<()> {
    let mut sizes_seen = Vec::new();
    for &steps in sizes.resume {
        let path = dir.path().join(format!("resume-{steps}.db"));
        prepare(&path, &["r", "r2"], steps).await?;
        let mut times = Vec::new();
        let mut snapshot_bytes = 0;
        for _ in 0..21 {
            let (d, bytes) = resume_once(&path, "r").await?;
            times.push(d);
            sizes_seen.push(bytes);
            snapshot_bytes = bytes;
        }
        times.sort();
        line(
            &format!("resume after {steps} steps (load+decode+run, no commit)"),
            format!("{:.3} ms", times[times.len() / 2].as_secs_f64() * 1000.0),
            &format!(
                "median of 21, worst {:.3} ms; target <= 1 ms",
                times[times.len() - 1].as_secs_f64() * 1000.0
            ),
        );
        let (cold, warm) = resume_end_to_end(&path, "r", "r2").await?;
        figures.resume.push(ResumeFigures {
            steps,
            median: times[times.len() / 2],
            worst: times[times.len() - 1],
            end_to_end_warm: warm,
            end_to_end_cold: cold,
            snapshot_bytes,
        });
        line(
            &format!("  end to end after {steps} steps"),
            format!("{:.3} ms", warm.as_secs_f64() * 1000.0),
            &format!(
                "signal commit, load, step, commit, result; {:.3} ms as a new runtime's first work",
                cold.as_secs_f64() * 1000.0
            ),
        );
    }
    let bytes = sizes_seen.iter().copied().max().unwrap_or(0);
    line(
        "bytes per snapshot (this chain, any length)",
        format!("{bytes}"),
        "envelope + state",
    );
    let store = Arc::new(MemoryStore::new());
    let rt = runtime(store.clone()).await?;
    rt.start(chain, "size", 3).await?;
    // Until it waits for its signal, after the three calls.
    let begin = Instant::now();
    let rec = loop {
        let rec = store.load_workflow("size").await?;
        if rec.version == 4 || begin.elapsed() > Duration::from_secs(10) {
            break rec;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let pending_bytes = rec.pending.map(|p| p.len()).unwrap_or(0);
    line(
        "  the wait stored beside it (encoded Pending), bytes",
        format!("{pending_bytes}"),
        "",
    );
    figures.pending_bytes = Some(pending_bytes);
    rt.shutdown().await;
    Ok(())
}
