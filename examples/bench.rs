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
//! - on PostgreSQL (`synchronous_commit` on, the default; a throwaway cluster with `fsync` on
//!   unless `--store postgres://...` names a server): steps per second for one workflow and for
//!   100 at once with one worker process, and for 100 at once with three worker processes (this
//!   one and two children, each a runtime on its own connection pool); and how long after a
//!   worker is killed with SIGKILL its leased activity runs again elsewhere.
//!
//! `--quick` runs smaller sizes (a smoke test of the benchmark itself); `--only NAME` runs one
//! part: `memory`, `sqlite`, `postgres` or `resume`; `--store URL` takes the PostgreSQL server
//! (`postgres://...`; without it, the part starts a cluster if PostgreSQL's binaries are there
//! and is skipped with a line saying so if not). (`tests/examples.rs` runs [`run`] with the quick sizes,
//! so the benchmark cannot rot, and checks that the chain gives the same result when every
//! step is restored from the store.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use workflow_rt::{PostgresStore, Synchronous};

// The tests' PostgreSQL server (a throwaway cluster or DATABASE_URL). `tests/examples.rs`
// includes this file beside the tests' own copy of that module: two copies of its code in that
// test binary, harmless.
#[allow(clippy::duplicate_mod)]
#[path = "../tests/support/postgres.rs"]
mod pg_server;
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
    postgres_sequential: u64,
    postgres_concurrent: u64,
    resume: &'static [u64],
}

const FULL: Sizes = Sizes {
    memory_sequential: 300_000,
    memory_concurrent: 5_000,
    sqlite_sequential: 5_000,
    sqlite_concurrent: 1_000,
    postgres_sequential: 2_000,
    postgres_concurrent: 200,
    resume: &[10, 1_000, 100_000],
};

const QUICK: Sizes = Sizes {
    memory_sequential: 2_000,
    memory_concurrent: 100,
    sqlite_sequential: 200,
    sqlite_concurrent: 20,
    postgres_sequential: 100,
    postgres_concurrent: 10,
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
    snapshot.check(
        <chain as Workflow>::NAME,
        <chain as Workflow>::fingerprint(),
    )?;
    let mut state: <chain as Workflow>::State = snapshot.decode_state()?;
    let pending: Pending = postcard::from_bytes(rec.pending.as_deref().unwrap_or_default())?;
    let wake = pending.try_resolve(&mut |_| {
        Some(Resolution::Signal {
            event: 0,
            type_tag: Some(workflow_rt::machine::type_tag::<u64>()),
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
    /// One part only: `memory`, `sqlite`, `postgres` or `resume`.
    pub only: Option<String>,
    /// The PostgreSQL server (`--store postgres://...`); else a throwaway cluster.
    pub store: Option<String>,
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
                        .ok_or_else(|| anyhow::anyhow!("--only memory|sqlite|postgres|resume"))?;
                    anyhow::ensure!(
                        ["memory", "sqlite", "postgres", "resume"].contains(&part.as_str()),
                        "unknown part {part:?} (memory, sqlite, postgres or resume)"
                    );
                    options.only = Some(part.clone());
                }
                "--store" => {
                    let url = it
                        .next()
                        .ok_or_else(|| anyhow::anyhow!("--store postgres://..."))?;
                    anyhow::ensure!(
                        url.starts_with("postgres://") || url.starts_with("postgresql://"),
                        "--store takes a postgres:// URL (the SQLite parts use files of their own)"
                    );
                    options.store = Some(url.clone());
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
    pub postgres_sequential: Option<f64>,
    pub postgres_concurrent: Option<f64>,
    pub postgres_three_workers: Option<f64>,
    /// From the SIGKILL of the worker running an activity to its next attempt elsewhere.
    pub postgres_takeover: Option<Duration>,
    pub resume: Vec<ResumeFigures>,
    /// The encoded wait stored beside the snapshot.
    pub pending_bytes: Option<usize>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, url, schema] = &args[..]
        && flag == WORKER_FLAG
    {
        return pg_worker(url, schema).await;
    }
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
    // The quick run (the smoke test in `tests/examples.rs`, where this binary is not the one
    // running) leaves out the part that starts worker processes, unless it is asked for.
    if part("postgres") && (!options.quick || options.only.is_some() || options.store.is_some()) {
        postgres(options, &sizes, &mut figures).await?;
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

/// The argument that makes this binary a PostgreSQL worker: `--pg-worker URL SCHEMA`.
const WORKER_FLAG: &str = "--pg-worker";

/// A worker process: a runtime of the chain and its activity on the schema, until killed.
async fn pg_worker(url: &str, schema: &str) -> anyhow::Result<()> {
    let store = PostgresStore::builder(url).schema(schema).connect().await?;
    let _rt = Runtime::builder(store)
        .workflow(chain)
        .activity(noop)
        .activity(stall)
        .build()
        .await?;
    std::future::pending::<()>().await;
    Ok(())
}

/// An activity that never ends in a worker process (`WORKFLOW_BENCH_STALL` set): it holds its
/// lease until the process is killed. Elsewhere it ends at once.
#[activity]
pub async fn stall(_ctx: ActivityCtx, _n: u64) -> Result<u64, ActivityError> {
    if std::env::var_os("WORKFLOW_BENCH_STALL").is_some() {
        std::future::pending::<()>().await;
    }
    Ok(0)
}

#[workflow]
pub async fn stalled(ctx: WorkflowCtx, n: u64) -> u64 {
    ctx.activity(stall, n).await.unwrap_or(0)
}

/// Child worker processes, killed when dropped.
struct Workers(Vec<std::process::Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn_worker(url: &str, schema: &str, stalling: bool) -> anyhow::Result<std::process::Child> {
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.args([WORKER_FLAG, url, schema])
        .stdin(std::process::Stdio::null());
    if stalling {
        cmd.env("WORKFLOW_BENCH_STALL", "1");
    }
    Ok(cmd.spawn()?)
}

async fn postgres(options: &Options, sizes: &Sizes, figures: &mut Figures) -> anyhow::Result<()> {
    // Measured with fsync on: a commit is on disk when it returns, as in production.
    let server = match &options.store {
        Some(url) => pg_server::Server::External(url.clone()),
        None => match pg_server::server_with("bench postgres", true) {
            Some(s) => s,
            None => return Ok(()),
        },
    };
    let url = server.url();
    let connect = async |schema: &str| -> anyhow::Result<PostgresStore> {
        Ok(PostgresStore::builder(url.as_str())
            .schema(schema)
            .connect()
            .await?)
    };
    let p1 = throughput(
        connect(&pg_server::fresh_schema("bench_seq")).await?,
        "p1",
        1,
        sizes.postgres_sequential,
    )
    .await?;
    line(
        "PostgresStore, 1 worker, 1 workflow, steps/s",
        format!("{p1:.0}"),
        "synchronous_commit on",
    );
    let p100 = throughput(
        connect(&pg_server::fresh_schema("bench_conc")).await?,
        "p100",
        100,
        sizes.postgres_concurrent,
    )
    .await?;
    line(
        "PostgresStore, 1 worker, 100 workflows, steps/s",
        format!("{p100:.0}"),
        "",
    );
    // Three worker processes: this one and two children on the same schema.
    let schema = pg_server::fresh_schema("bench_three");
    let store = connect(&schema).await?;
    let workers = Workers(vec![
        spawn_worker(&url, &schema, false)?,
        spawn_worker(&url, &schema, false)?,
    ]);
    let p3 = throughput(store, "p3", 100, sizes.postgres_concurrent).await?;
    drop(workers);
    line(
        "PostgresStore, 3 workers, 100 workflows, steps/s",
        format!("{p3:.0}"),
        "target >= 5 000",
    );
    line(
        "  ratio 3 workers / 1 worker",
        format!("{:.2}x", p3 / p100),
        "",
    );
    let takeover = takeover(&url, &pg_server::fresh_schema("bench_kill")).await?;
    line(
        "PostgresStore, killed worker's activity runs again after",
        format!("{:.2} s", takeover.as_secs_f64()),
        "default lease; target <= 5 s",
    );
    figures.postgres_sequential = Some(p1);
    figures.postgres_concurrent = Some(p100);
    figures.postgres_three_workers = Some(p3);
    figures.postgres_takeover = Some(takeover);
    Ok(())
}

/// A child worker leases `stall` and is killed with SIGKILL; a runtime here (default options)
/// runs the call again. Returns the time from the kill to the result.
async fn takeover(url: &str, schema: &str) -> anyhow::Result<Duration> {
    let store = Arc::new(PostgresStore::builder(url).schema(schema).connect().await?);
    let child = Workers(vec![spawn_worker(url, schema, true)?]);
    // Started by a runtime that runs no activity: the child takes the call.
    let starter = Runtime::builder(store.clone())
        .workflow(stalled)
        .allow_missing_activities()
        .build()
        .await?;
    let run = starter.start(stalled, "stalled", 1).await?;
    let begin = Instant::now();
    loop {
        let tasks = store.load_tasks("stalled").await?;
        if tasks.iter().any(|t| t.lease_owner.is_some()) {
            break;
        }
        anyhow::ensure!(
            begin.elapsed() < Duration::from_secs(60),
            "the worker never leased the call"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let killed = Instant::now();
    // `Child::kill` is SIGKILL: the worker gets no chance to release its lease.
    drop(child);
    let taker = Runtime::builder(store.clone())
        .activity(stall)
        .build()
        .await?;
    run.result().await?;
    let took = killed.elapsed();
    starter.shutdown().await;
    taker.shutdown().await;
    Ok(took)
}
