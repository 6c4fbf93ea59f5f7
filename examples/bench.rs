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
//! - on SQLite also: the cost of a 4 KiB write + fsync on the disk, and the sequential figure
//!   as a fraction of one commit per fsync; per step of the sequential run, the bytes the
//!   process wrote (to the WAL, and to the disk) and the thread switches of all its threads;
//!   the bytes written by each other kind of step, one at a time (a timer's, a signal's, a
//!   run's start and end: the [`kinds`] workflow); steps per second at 100, 1 000 and 10 000
//!   workflows at once, with the WAL bytes and thread switches per step of each; for each
//!   run, the peak resident memory and the most threads the process had; and timers fired
//!   per second for 100 000 and 1 000 000 sleeping workflows, with the bytes written per
//!   woken workflow (the `timers` example's code: `--only timers`).
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

// The timers benchmark's code (`cargo run --release --example timers` runs it alone).
#[allow(dead_code)]
#[path = "timers.rs"]
pub mod timers;
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

/// The other kinds of step, for the bytes each writes: `n` sleeps of a millisecond (each woken
/// by its timer), then `n` signals taken one by one; returns the signals' sum. With `n` = 0,
/// a run that is created and finishes at its first step.
#[workflow]
pub async fn kinds(ctx: WorkflowCtx, n: u64) -> u64 {
    let mut i: u64 = 0;
    while i < n {
        ctx.sleep(Duration::from_millis(1)).await;
        i += 1;
    }
    let mut sum: u64 = 0;
    let mut j: u64 = 0;
    while j < n {
        sum = sum.wrapping_add(ctx.signal::<u64>("s").await);
        j += 1;
    }
    sum
}

struct Sizes {
    memory_sequential: u64,
    memory_concurrent: u64,
    sqlite_sequential: u64,
    /// Steps of all the workflows of each concurrent SQLite run (100, 1 000, 10 000 at once).
    sqlite_concurrent_total: u64,
    /// Steps of each kind measured one at a time for the bytes they write.
    step_kinds: u64,
    concurrency: &'static [u64],
    /// Sleeping workflows of each timers run.
    timers: &'static [u64],
    /// The window their fire times are spread over.
    timers_spread: Duration,
    /// Both phases in this process (the quick sizes, which the tests run in a binary of
    /// their own), rather than each in a child process.
    timers_in_process: bool,
    postgres_sequential: u64,
    postgres_concurrent: u64,
    resume: &'static [u64],
}

const FULL: Sizes = Sizes {
    memory_sequential: 300_000,
    memory_concurrent: 5_000,
    sqlite_sequential: 5_000,
    sqlite_concurrent_total: 200_000,
    step_kinds: 500,
    concurrency: &[100, 1_000, 10_000],
    timers: &[100_000, 1_000_000],
    timers_spread: Duration::from_secs(5),
    timers_in_process: false,
    postgres_sequential: 2_000,
    postgres_concurrent: 200,
    resume: &[10, 1_000, 100_000],
};

const QUICK: Sizes = Sizes {
    memory_sequential: 2_000,
    memory_concurrent: 100,
    sqlite_sequential: 200,
    sqlite_concurrent_total: 2_000,
    step_kinds: 20,
    concurrency: &[10, 100],
    timers: &[500],
    timers_spread: Duration::from_millis(200),
    timers_in_process: true,
    postgres_sequential: 100,
    postgres_concurrent: 10,
    resume: &[10, 1_000],
};

async fn runtime(store: impl Store) -> anyhow::Result<Runtime> {
    Ok(Runtime::builder(store)
        .workflow(chain)
        .workflow(kinds)
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
    let rt = Arc::new(runtime(store).await?);
    let begin = Instant::now();
    // Started from up to 64 tasks at once, as many clients would: one after another, the
    // starts of 10 000 workflows would wait for 20 000 commits in turn and measure that.
    let lanes = workflows.min(64);
    let mut tasks = Vec::new();
    for lane in 0..lanes {
        let (rt, prefix) = (rt.clone(), prefix.to_string());
        tasks.push(tokio::spawn(async move {
            let mut handles = Vec::new();
            let mut w = lane;
            while w < workflows {
                let id = format!("{prefix}-{w}");
                let h = rt.start(chain, &id, steps).await?;
                rt.signal(&id, "go", 1u64).await?;
                handles.push(h);
                w += lanes;
            }
            for h in handles {
                h.result().await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
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
    /// One part only: `memory`, `sqlite`, `postgres`, `resume` or `timers`.
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
                    let part = it.next().ok_or_else(|| {
                        anyhow::anyhow!("--only memory|sqlite|postgres|resume|timers")
                    })?;
                    anyhow::ensure!(
                        ["memory", "sqlite", "postgres", "resume", "timers"]
                            .contains(&part.as_str()),
                        "unknown part {part:?} (memory, sqlite, postgres, resume or timers)"
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

/// What one timers run gave (see `examples/timers.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct TimerFigures {
    pub workflows: u64,
    pub fired_per_s: f64,
    pub worst_late: Duration,
    pub worst_past_backlog: Duration,
    pub usage: Usage,
}

/// What the process did while a part ran, read from `/proc` (Linux; zeros elsewhere).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// Bytes passed to `write` and `pwrite` (`wchar`): what SQLite wrote to its WAL.
    pub written_bytes: u64,
    /// Bytes sent to the disk (see [`proc_io`]).
    pub disk_bytes: u64,
    /// Voluntary and involuntary context switches of all the process's threads (those alive
    /// at the end: the blocking pool keeps idle threads ten seconds, longer than a part).
    pub switches: u64,
    /// The peak resident memory (`VmHWM`, reset when the part starts).
    pub peak_rss_bytes: u64,
    /// The most threads the process had (sampled every 5 ms; the sampler's own included).
    pub max_threads: u64,
}

/// Counts what the process does from `start` to `stop` (see [`Usage`]).
struct Meter {
    io: (u64, u64),
    stop: Arc<std::sync::atomic::AtomicBool>,
    sampler: Option<std::thread::JoinHandle<(u64, u64)>>,
}

/// Bytes the process passed to `write` calls, and bytes written to the disk: the count of
/// the block device that holds the temporary directory (where the benchmark's files are;
/// every process's writes count), or, where there is none, what the kernel charges to this
/// process (`write_bytes`, which charges a sync of a file written over, rather than grown,
/// with many times the bytes the device receives).
fn proc_io() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let device = device_stat().and_then(|path| {
        let text = std::fs::read_to_string(path).ok()?;
        let sectors: u64 = text.split_whitespace().nth(6)?.parse().ok()?;
        Some(sectors * 512)
    });
    (
        field("wchar:"),
        device.unwrap_or_else(|| field("write_bytes:")),
    )
}

/// The statistics of the block device holding the temporary directory, if it has one.
fn device_stat() -> Option<&'static std::path::Path> {
    static PATH: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        use std::os::unix::fs::MetadataExt;
        let dev = std::fs::metadata(std::env::temp_dir()).ok()?.dev();
        // Linux's encoding of a device number (`gnu_dev_major`, `gnu_dev_minor`).
        let major = ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff);
        let minor = ((dev >> 12) & 0xffff_ff00) | (dev & 0xff);
        let path = std::path::PathBuf::from(format!("/sys/dev/block/{major}:{minor}/stat"));
        path.exists().then_some(path)
    })
    .as_deref()
}

fn status_field(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Context switches of every thread of the process but `except` (a thread id).
fn switches(except: Option<&str>) -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|t| except.is_none_or(|e| t.file_name() != e))
        .map(|t| {
            let text = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
            status_field(&text, "voluntary_ctxt_switches:")
                + status_field(&text, "nonvoluntary_ctxt_switches:")
        })
        .sum()
}

impl Meter {
    fn start() -> Self {
        // "5" resets the peak resident memory (`VmHWM`) to the current one.
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let sampler = std::thread::Builder::new()
            .name("bench-meter".into())
            .spawn(move || {
                let me = std::fs::read_link("/proc/thread-self")
                    .ok()
                    .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
                let mut most = 0;
                let mut baseline = None;
                while !flag.load(std::sync::atomic::Ordering::Acquire) {
                    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
                    most = most.max(status_field(&text, "Threads:"));
                    if baseline.is_none() {
                        baseline = Some(switches(me.as_deref()));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                let end = switches(me.as_deref());
                (most, end.saturating_sub(baseline.unwrap_or(end)))
            })
            .ok();
        // The sampler's baseline comes from its first round: wait for it.
        std::thread::sleep(Duration::from_millis(10));
        Meter {
            io: proc_io(),
            stop,
            sampler,
        }
    }

    fn stop(self) -> Usage {
        let io = proc_io();
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        let (max_threads, switches) = self.sampler.and_then(|h| h.join().ok()).unwrap_or((0, 0));
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        Usage {
            written_bytes: io.0.saturating_sub(self.io.0),
            disk_bytes: io.1.saturating_sub(self.io.1),
            switches,
            peak_rss_bytes: status_field(&status, "VmHWM:") * 1024,
            max_threads,
        }
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Bytes written per step of each kind (see [`step_kinds`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepBytes {
    pub timer: f64,
    pub signal: f64,
    pub start_finish: f64,
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
    /// The sequential SQLite run: what the process did per step, and its peak.
    pub sqlite_sequential_usage: Option<Usage>,
    /// Per concurrency: workflows at once, steps/s, and the run's usage.
    pub sqlite_scaling: Vec<(u64, f64, Usage)>,
    /// Bytes written per step, one step at a time: a timer's, a signal's (the signal's
    /// commit and the step's), and a run's start and finish (its creation and its one step).
    pub step_bytes: Option<StepBytes>,
    /// Per timers run: sleeping workflows, timers fired per second, worst lateness, worst
    /// lateness past the backlog, and the run's usage.
    pub timers: Vec<TimerFigures>,
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
    if let [flag, path, n, spread_ms] = &args[..]
        && (flag == TIMERS_PREPARE_FLAG || flag == TIMERS_MEASURE_FLAG)
    {
        let options = timers::Options {
            workflows: n.parse()?,
            spread: Duration::from_millis(spread_ms.parse()?),
            ..timers::Options::default()
        };
        let path = std::path::Path::new(path);
        if flag == TIMERS_PREPARE_FLAG {
            let prepared = timers::prepare(&options, path).await?;
            println!("{}", prepared.took.as_secs_f64());
        } else {
            let (f, usage) = timers_measure(&options, path).await?;
            println!(
                "{} {} {} {} {} {}",
                f.fired_per_s,
                f.worst_late.as_millis(),
                f.worst_past_backlog.as_millis(),
                usage.peak_rss_bytes,
                usage.max_threads,
                usage.written_bytes
            );
        }
        return Ok(());
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
    if part("timers") {
        timers_part(&dir, &sizes, &mut figures).await?;
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

/// Waits until run `id` in `store` has reached `version` (a step each).
pub async fn reach(store: &SqliteStore, id: &str, version: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.load_workflow(id).await?.version < version {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{id} did not reach version {version}"
        );
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    Ok(())
}

/// The bytes each kind of step writes on SQLite (`synchronous=FULL`), `n` of each, one at a
/// time (each its own commit, as a lone workflow's are): a run created and finished at its
/// first step; a step woken by its timer (which sets the next); a signal sent and the step
/// that takes it. (An activity call's step is the sequential run's.)
async fn step_kinds(dir: &std::path::Path, n: u64) -> anyhow::Result<StepBytes> {
    let path = dir.join("kinds.db");
    let rt = runtime(SqliteStore::open(&path)?).await?;
    let probe = SqliteStore::open(&path)?;
    let meter = Meter::start();
    for i in 0..n {
        rt.start(kinds, &format!("once-{i}"), 0)
            .await?
            .result()
            .await?;
    }
    let start_finish = meter.stop().written_bytes as f64 / n as f64;
    // A new id starts at version 0, its first step makes it 1; then a step per timer, then
    // one per signal.
    let run = rt.start(kinds, "kinds", n).await?;
    reach(&probe, "kinds", 1).await?;
    let meter = Meter::start();
    reach(&probe, "kinds", 1 + n).await?;
    let timer = meter.stop().written_bytes as f64 / n as f64;
    let meter = Meter::start();
    for j in 0..n {
        rt.signal("kinds", "s", j).await?;
        reach(&probe, "kinds", 2 + n + j).await?;
    }
    let signal = meter.stop().written_bytes as f64 / n as f64;
    anyhow::ensure!(
        run.result().await? == (0..n).sum::<u64>(),
        "the signals' sum"
    );
    rt.shutdown().await;
    Ok(StepBytes {
        timer,
        signal,
        start_finish,
    })
}

/// What one 4 KiB write and fsync cost on the disk under `dir`: the floor of a durable commit.
/// Returns the time each took, and the CPU time (the kernel's, mostly) each took of it.
fn fsync_latency(dir: &std::path::Path) -> anyhow::Result<(Duration, Duration)> {
    use std::io::{Seek, SeekFrom, Write};
    let path = dir.join("fsync-probe");
    let mut f = std::fs::File::create(&path)?;
    let page = [7u8; 4096];
    let rounds = 500;
    let cpu = thread_cpu();
    let begin = Instant::now();
    for i in 0..rounds {
        f.seek(SeekFrom::Start((i % 64) * 4096))?;
        f.write_all(&page)?;
        f.sync_data()?;
    }
    let each = begin.elapsed() / rounds as u32;
    let cpu = thread_cpu().saturating_sub(cpu) / rounds as u32;
    std::fs::remove_file(path)?;
    Ok((each, cpu))
}

/// The CPU time this thread has run (Linux's `schedstat`; zero elsewhere).
fn thread_cpu() -> Duration {
    schedstat(std::path::Path::new("/proc/thread-self/schedstat"))
}

/// The CPU time the process's threads alive now have run (Linux; zero elsewhere).
fn process_cpu() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    tasks
        .flatten()
        .map(|t| schedstat(&t.path().join("schedstat")))
        .sum()
}

/// The first figure of a `schedstat` file: nanoseconds on a CPU.
fn schedstat(path: &std::path::Path) -> Duration {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

async fn sqlite(
    dir: &tempfile::TempDir,
    sizes: &Sizes,
    figures: &mut Figures,
) -> anyhow::Result<()> {
    let (before, probe_cpu) = fsync_latency(dir.path())?;
    line(
        "disk: one 4 KiB write + fsync",
        format!("{:.0} us", before.as_secs_f64() * 1e6),
        &format!(
            "so at most {:.0} sequential commits/s",
            1.0 / before.as_secs_f64()
        ),
    );
    // Opened before the meter starts: what an open writes (the log written ahead, see
    // `SqliteStore`) is once per store, not per step.
    let store = SqliteStore::open(dir.path().join("seq.db"))?;
    let meter = Meter::start();
    let cpu = process_cpu();
    let s1 = throughput(store, "s1", 1, sizes.sqlite_sequential).await?;
    let cpu = process_cpu().saturating_sub(cpu);
    let u1 = meter.stop();
    let steps = (sizes.sqlite_sequential + 2) as f64;
    // The disk's cost drifts from second to second on a shared machine: measured again after
    // the run, and the ratio taken to the mean of the two.
    let (after, _) = fsync_latency(dir.path())?;
    let fsync = (before + after) / 2;
    line(
        "SqliteStore FULL, 1 workflow, steps/s",
        format!("{s1:.0}"),
        &format!(
            "{:.2} of one commit per fsync (target >= 0.8; the disk {:.0} us before, {:.0} us after)",
            s1 * fsync.as_secs_f64(),
            before.as_secs_f64() * 1e6,
            after.as_secs_f64() * 1e6
        ),
    );
    line(
        "  per step: CPU time / a 4 KiB write + fsync's",
        format!(
            "{:.0} / {:.0} us",
            cpu.as_secs_f64() * 1e6 / steps,
            probe_cpu.as_secs_f64() * 1e6
        ),
        "all threads; the probe's is what a sync alone costs",
    );
    line(
        "  per step: bytes written (WAL) / to the disk",
        format!(
            "{:.0} / {:.0}",
            u1.written_bytes as f64 / steps,
            u1.disk_bytes as f64 / steps
        ),
        &format!(
            "{:.1} / {:.1} pages of 4 KiB",
            u1.written_bytes as f64 / steps / 4096.0,
            u1.disk_bytes as f64 / steps / 4096.0
        ),
    );
    line(
        "  per step: thread switches",
        format!("{:.1}", u1.switches as f64 / steps),
        &format!(
            "peak RSS {}, at most {} threads",
            mib(u1.peak_rss_bytes),
            u1.max_threads
        ),
    );
    figures.sqlite_sequential_usage = Some(u1);
    let mut s100 = None;
    for &n in sizes.concurrency {
        let each = (sizes.sqlite_concurrent_total / n).max(1);
        let store = SqliteStore::open(dir.path().join(format!("conc-{n}.db")))?;
        let meter = Meter::start();
        let rate = throughput(store, &format!("s{n}"), n, each).await?;
        let usage = meter.stop();
        line(
            &format!("SqliteStore FULL, {n} workflows at once, steps/s"),
            format!("{rate:.0}"),
            &format!(
                "{each} calls each; peak RSS {}, at most {} threads",
                mib(usage.peak_rss_bytes),
                usage.max_threads
            ),
        );
        let steps = (n * (each + 2)) as f64;
        line(
            "  per step: bytes written (WAL) / thread switches",
            format!(
                "{:.0} / {:.2}",
                usage.written_bytes as f64 / steps,
                usage.switches as f64 / steps
            ),
            &format!(
                "{:.2} pages of 4 KiB",
                usage.written_bytes as f64 / steps / 4096.0
            ),
        );
        figures.sqlite_scaling.push((n, rate, usage));
        s100.get_or_insert(rate);
    }
    let s100 = s100.unwrap_or(0.0);
    line(
        "  ratio concurrent (first) / sequential",
        format!("{:.1}x", s100 / s1),
        "(group commit)",
    );
    line(
        "  for scale: Restate 1.7 on this kind of machine",
        "~1 260 / ~2 260".to_string(),
        "sequential / concurrent steps/s (the figures issue 14 quotes)",
    );
    let by_kind = step_kinds(dir.path(), sizes.step_kinds).await?;
    let pages = |b: f64| format!("{:.1}", b / 4096.0);
    line(
        "bytes per step: timer / signal / start+end",
        format!(
            "{:.0} / {:.0} / {:.0}",
            by_kind.timer, by_kind.signal, by_kind.start_finish
        ),
        &format!(
            "{} / {} / {} pages of 4 KiB, one step at a time (a signal: its commit and the step's)",
            pages(by_kind.timer),
            pages(by_kind.signal),
            pages(by_kind.start_finish)
        ),
    );
    figures.step_bytes = Some(by_kind);
    figures.fsync = Some(fsync);
    figures.sqlite_sequential = Some(s1);
    figures.sqlite_concurrent = Some(s100);
    Ok(())
}

/// The arguments that make this binary run phase 1 or phase 2 of a timers run alone:
/// `--timers-prepare PATH N SPREAD_MS`, `--timers-measure PATH N SPREAD_MS`.
const TIMERS_PREPARE_FLAG: &str = "--timers-prepare";
const TIMERS_MEASURE_FLAG: &str = "--timers-measure";

/// Phase 2 of a timers run, metered.
async fn timers_measure(
    options: &timers::Options,
    path: &std::path::Path,
) -> anyhow::Result<(timers::Figures, Usage)> {
    // Opened before the meter starts (see `sqlite`).
    let store = SqliteStore::open(path)?;
    let meter = Meter::start();
    let f = timers::measure(options, store, path).await?;
    Ok((f, meter.stop()))
}

/// Runs this binary with `args`; returns what it printed.
fn child(args: &[String]) -> anyhow::Result<String> {
    let out = std::process::Command::new(std::env::current_exe()?)
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()?;
    anyhow::ensure!(out.status.success(), "{args:?} failed: {}", out.status);
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Timers at scale, with the `timers` example's code: `n` workflows asleep on SQLite, their
/// timers due over a few seconds (phase 1 stores them, not measured), fired by a runtime of the default
/// options.
async fn timers_part(
    dir: &tempfile::TempDir,
    sizes: &Sizes,
    figures: &mut Figures,
) -> anyhow::Result<()> {
    for &n in sizes.timers {
        let options = timers::Options {
            workflows: n,
            spread: sizes.timers_spread,
            ..timers::Options::default()
        };
        let path = dir.path().join(format!("timers-{n}.db"));
        // Each phase in a process of its own (but in the quick run, which the tests run in
        // their own binary): the peak memory and the threads are those of the runtime that
        // fires the timers, not of what ran before in this process.
        let (took, fired_per_s, worst_late, worst_past_backlog, usage) = if sizes.timers_in_process
        {
            let prepared = timers::prepare(&options, &path).await?;
            let (f, usage) = timers_measure(&options, &path).await?;
            (
                prepared.took,
                f.fired_per_s,
                f.worst_late,
                f.worst_past_backlog,
                usage,
            )
        } else {
            let args = |flag: &str| {
                vec![
                    flag.to_string(),
                    path.display().to_string(),
                    n.to_string(),
                    sizes.timers_spread.as_millis().to_string(),
                ]
            };
            let took: f64 = child(&args(TIMERS_PREPARE_FLAG))?.parse()?;
            let out = child(&args(TIMERS_MEASURE_FLAG))?;
            let v: Vec<f64> = out
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<_, _>>()?;
            anyhow::ensure!(v.len() == 6, "unexpected figures {out:?}");
            (
                Duration::from_secs_f64(took),
                v[0],
                Duration::from_millis(v[1] as u64),
                Duration::from_millis(v[2] as u64),
                Usage {
                    peak_rss_bytes: v[3] as u64,
                    max_threads: v[4] as u64,
                    written_bytes: v[5] as u64,
                    ..Usage::default()
                },
            )
        };
        line(
            &format!(
                "{n} sleeping workflows, due over {:.1} s: fired/s",
                sizes.timers_spread.as_secs_f64()
            ),
            format!("{fired_per_s:.0}"),
            &format!(
                "target >= 100 000 (stored in {:.0} s, not measured)",
                took.as_secs_f64()
            ),
        );
        line(
            "  lateness worst / past the backlog",
            format!(
                "{} / {} ms",
                worst_late.as_millis(),
                worst_past_backlog.as_millis()
            ),
            &format!(
                "target <= 1 000 ms past the backlog; peak RSS {}, at most {} threads",
                mib(usage.peak_rss_bytes),
                usage.max_threads
            ),
        );
        let each = usage.written_bytes as f64 / n as f64;
        line(
            "  per woken workflow: bytes written",
            format!("{each:.0}"),
            &format!(
                "{:.2} pages of 4 KiB (its step, in the batches of many)",
                each / 4096.0
            ),
        );
        figures.timers.push(TimerFigures {
            workflows: n,
            fired_per_s,
            worst_late,
            worst_past_backlog,
            usage,
        });
        std::fs::remove_file(&path)?;
    }
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
