//! Timers at scale: `cargo run --release --example timers -- [--workflows N] [--join K]
//! [--spread SECS] [--db FILE] [--shuffle] [--quick]`.
//!
//! Phase 1 (not measured, but timed) stores `N` workflows (default 1 000 000) on a new SQLite
//! file, each asleep on durable timers: with `--join K` (default 1) each joins `K` sleeps, so
//! the file holds `N * K` timers. Their fire times are spread evenly over `--spread` seconds
//! (default 5). With `K > 1` each workflow's timers are spread over the whole window (timer `j`
//! of workflow `i` is the `j * N + i`-th to fire), so a workflow is woken `K` times and
//! completes at its last timer. The runs are created in fire order, 64 at a time, as runs that
//! all sleep the same time are: the store keeps a run's row where it was created (its integer
//! key), so runs due together have neighbouring rows. The ids sort in fire order
//! (`t00000000`, `t00000001`, ...); `--shuffle` fires them in an order unrelated to their ids
//! (what an index by id holds of the runs due together is then anywhere in it, as with random
//! ids). Phase 1 runs in a child process (this
//! binary again), with a runtime on `synchronous=OFF` and a clock standing still, so that no
//! timer fires yet.
//!
//! Phase 2 opens the file with a runtime of the default options (`synchronous=FULL`) on a clock
//! shifted so that the first timer is due 500 ms after it starts, and waits until every
//! workflow has completed. It prints:
//! - timers fired per second: all the timers over the time from the first one due to the last
//!   workflow woken;
//! - the lateness of each workflow: when the step that woke it ran (the `updated_at` its last
//!   commit stored, on the runtime's clock) minus the fire time of its last timer; worst and
//!   p99;
//! - the lateness past the backlog: the same minus what draining at the measured rate, in fire
//!   order, everything due up to that timer takes (a timer due while a million are waiting
//!   can only be as late as the backlog ahead of it, at the speed the runtime drains it; the
//!   rest is lateness of its own: unfairness, stalls);
//! - the peak resident memory of the process that ran phase 2 (`VmHWM`).
//!
//! `--quick` runs 2 000 workflows (a smoke test; `tests/examples.rs` runs [`run`] with small
//! sizes so that the benchmark cannot rot).

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use workflow_rt::prelude::*;
use workflow_rt::{Clock, Synchronous, SystemClock, VirtualClock, WorkflowStatus};

/// Sleeps until `at_ms` on the runtime's clock (at or after its first step).
#[workflow]
pub async fn nap(ctx: WorkflowCtx, at_ms: u64) -> u64 {
    let now = now_ms(ctx);
    ctx.sleep(Duration::from_millis(at_ms.saturating_sub(now)))
        .await;
    at_ms
}

/// Joins one sleep until each of `at_ms`.
#[workflow]
pub async fn naps(ctx: WorkflowCtx, at_ms: Vec<u64>) -> usize {
    let now = now_ms(ctx);
    let sleeps: Vec<workflow_rt::Sleep> = at_ms
        .iter()
        .map(|&t| ctx.sleep(Duration::from_millis(t.saturating_sub(now))))
        .collect();
    ctx.join(sleeps).await.len()
}

fn now_ms(ctx: &WorkflowCtx) -> u64 {
    ctx.now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The clock phase 1 stands still at: every fire time is this plus its offset.
const EPOCH_MS: u64 = 1_700_000_000_000;
/// How long after phase 2 starts its first timer is due.
const LEAD_MS: u64 = 500;

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub workflows: u64,
    /// Timers per workflow (1: `nap`, more: `naps`).
    pub join: u64,
    /// The window the fire times are spread over.
    pub spread: Duration,
    /// Where the database goes (default: a temporary directory).
    pub dir: Option<PathBuf>,
    /// A file phase 1 stored earlier (made by phase 1 if missing): phase 2 runs on a copy.
    pub db: Option<PathBuf>,
    /// Fire order unrelated to the order of the workflows' ids (a fixed permutation), instead
    /// of the same order: see [`Options::fire_rank`].
    pub shuffle: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            workflows: 1_000_000,
            join: 1,
            spread: Duration::from_secs(5),
            dir: None,
            db: None,
            shuffle: false,
        }
    }
}

impl Options {
    /// From the command line: `--workflows N`, `--join K`, `--spread SECS`, `--dir PATH`,
    /// `--db FILE`, `--shuffle`, `--quick`.
    pub fn from_args(args: &[String]) -> anyhow::Result<Self> {
        let mut o = Options::default();
        let mut quick = false;
        let mut workflows = None;
        let mut it = args.iter();
        let number = |v: Option<&String>, flag: &str| -> anyhow::Result<u64> {
            let v = v.ok_or_else(|| anyhow::anyhow!("{flag} takes a number"))?;
            let n: u64 = v
                .replace('_', "")
                .parse()
                .map_err(|_| anyhow::anyhow!("{flag} takes a number, not {v:?}"))?;
            anyhow::ensure!(n > 0, "{flag} takes a number above 0");
            Ok(n)
        };
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--quick" => quick = true,
                "--shuffle" => o.shuffle = true,
                "--workflows" => workflows = Some(number(it.next(), "--workflows")?),
                "--join" => o.join = number(it.next(), "--join")?,
                "--spread" => {
                    let v = it
                        .next()
                        .ok_or_else(|| anyhow::anyhow!("--spread takes seconds"))?;
                    let s: f64 = v
                        .parse()
                        .map_err(|_| anyhow::anyhow!("--spread takes seconds, not {v:?}"))?;
                    anyhow::ensure!(
                        (0.0..3600.0).contains(&s),
                        "--spread takes seconds (0 to 3600)"
                    );
                    o.spread = Duration::from_secs_f64(s);
                }
                "--dir" => {
                    let v = it
                        .next()
                        .ok_or_else(|| anyhow::anyhow!("--dir takes a directory"))?;
                    o.dir = Some(PathBuf::from(v));
                }
                "--db" => {
                    let v = it
                        .next()
                        .ok_or_else(|| anyhow::anyhow!("--db takes a file"))?;
                    o.db = Some(PathBuf::from(v));
                }
                "--bench" => {}
                other => anyhow::bail!(
                    "unknown argument {other:?} (try --workflows N, --join K, --spread SECS, --db FILE, --shuffle, --quick)"
                ),
            }
        }
        o.workflows = match (workflows, quick, o.join) {
            (Some(n), _, _) => n,
            (None, true, _) => 2_000,
            // 100 000 timers, ten per workflow, by default.
            (None, false, k) if k > 1 => 100_000 / k,
            (None, false, _) => 1_000_000,
        };
        Ok(o)
    }

    /// Timers in all.
    pub fn timers_total(&self) -> u64 {
        self.workflows * self.join
    }

    /// The fire time (offset from [`EPOCH_MS`]) of the `n`-th timer to fire: one second and
    /// more, so that none is due on phase 1's clock.
    fn offset_ms(&self, n: u64) -> u64 {
        let spread = self.spread.as_millis() as u64;
        let total = self.timers_total();
        if total <= 1 {
            return 1000;
        }
        1000 + spread * n / (total - 1)
    }

    /// The fire times (offsets) of workflow `i`'s timers.
    fn offsets_of(&self, i: u64) -> Vec<u64> {
        let rank = self.fire_rank(i);
        (0..self.join)
            .map(|j| self.offset_ms(j * self.workflows + rank))
            .collect()
    }

    /// Where workflow `i` (id [`id_of`]`(i)`) comes in the fire order of each round of
    /// timers. By default `i` itself: the ids sort as they fire (fixed-width numbers), as
    /// with ids that grow with the time a run starts and sleeps of one length, so that runs
    /// due together have neighbouring rows. With `--shuffle`, a fixed permutation that
    /// scatters neighbours (multiplication modulo `N`): runs due together are anywhere in
    /// the id order, as with random ids (phase 1 still starts them in fire order).
    fn fire_rank(&self, i: u64) -> u64 {
        match self.shuffler() {
            Some((n, _, inverse)) => mul_mod(i, inverse, n),
            None => i,
        }
    }

    /// The workflow that comes `rank`-th in the fire order ([`Options::fire_rank`]).
    fn at_rank(&self, rank: u64) -> u64 {
        match self.shuffler() {
            Some((n, a, _)) => mul_mod(rank, a, n),
            None => rank,
        }
    }

    /// With `--shuffle`: `N`, a multiplier `a` coprime to `N` near `0.618 N`, and its
    /// inverse modulo `N`.
    fn shuffler(&self) -> Option<(u64, u64, u64)> {
        let n = self.workflows;
        if !self.shuffle || n <= 2 {
            return None;
        }
        let mut a = (n as f64 * 0.618_033_988_75) as u64 | 1;
        loop {
            // Extended Euclid: `a * x = g (mod n)`.
            let (mut r0, mut r1) = (i128::from(n), i128::from(a));
            let (mut x0, mut x1) = (0i128, 1i128);
            while r1 != 0 {
                let q = r0 / r1;
                (r0, r1) = (r1, r0 - q * r1);
                (x0, x1) = (x1, x0 - q * x1);
            }
            if r0 == 1 {
                return Some((n, a, x0.rem_euclid(i128::from(n)) as u64));
            }
            a += 2;
        }
    }
}

/// What phase 1 took.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub took: Duration,
    pub file_bytes: u64,
}

/// What phase 2 measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub workflows: u64,
    pub timers: u64,
    /// Timers over the time from the first one due to the last workflow woken.
    pub fired_per_s: f64,
    /// Per workflow: its wake minus the fire time of its last timer.
    pub worst_late: Duration,
    pub p99_late: Duration,
    /// The same past the backlog (see the top of this file).
    pub worst_past_backlog: Duration,
    pub p99_past_backlog: Duration,
    /// From the first timer due to the last workflow woken.
    pub drain: Duration,
    /// The peak resident memory of this process (`VmHWM`), if readable.
    pub peak_rss_bytes: Option<u64>,
}

fn mul_mod(x: u64, y: u64, n: u64) -> u64 {
    ((u128::from(x) * u128::from(y)) % u128::from(n)) as u64
}

/// The id of workflow `i`: a fixed-width number, so that ids sort as their numbers do.
fn id_of(i: u64) -> String {
    format!("t{i:08}")
}

fn index_of(id: &str) -> Option<u64> {
    id.strip_prefix('t')?.parse().ok()
}

/// Phase 1: stores the sleeping workflows in a new file at `path`.
pub async fn prepare(options: &Options, path: &Path) -> anyhow::Result<Prepared> {
    let begin = Instant::now();
    let store = SqliteStore::builder(path)
        .synchronous(Synchronous::Off)
        .open()?;
    // A clock standing still before every fire time: nothing fires in this phase.
    let rt = Runtime::builder(store)
        .clock(VirtualClock::new(EPOCH_MS))
        .workflow(nap)
        .workflow(naps)
        // Nothing here is stepped twice: no need to keep the states.
        .cache_capacity(0)
        .build()
        .await?;
    let rt = Arc::new(rt);
    let options = Arc::new(options.clone());
    // Many starts at once, so that their commits share transactions, a wave at a time: the
    // runs are created in fire order (with `--shuffle`, not the ids' order), 64 together, as
    // runs that all sleep the same time are. (Lanes of starts each going at its own pace
    // created runs up to 13 000 places from their fire order: a run's row is where it was
    // created, and runs that fire together were then scattered over the file.)
    let wave = 64u64;
    let mut first = 0;
    while first < options.workflows {
        let mut starts = Vec::new();
        for rank in first..(first + wave).min(options.workflows) {
            let (rt, options) = (rt.clone(), options.clone());
            starts.push(tokio::spawn(async move {
                let i = options.at_rank(rank);
                let at: Vec<u64> = options
                    .offsets_of(i)
                    .into_iter()
                    .map(|o| EPOCH_MS + o)
                    .collect();
                if options.join == 1 {
                    rt.start(nap, id_of(i), at[0]).await?;
                } else {
                    rt.start(naps, id_of(i), at).await?;
                }
                anyhow::Ok(())
            }));
        }
        for t in starts {
            t.await??;
        }
        first += wave;
    }
    // Until every first step (the one that stores the timers) is committed.
    let conn = rusqlite::Connection::open(path)?;
    let want = options.timers_total();
    let waited = Instant::now();
    loop {
        let n: u64 = conn.query_row("SELECT COUNT(*) FROM timers", [], |r| r.get(0))?;
        if n == want {
            break;
        }
        anyhow::ensure!(
            waited.elapsed() < Duration::from_secs(600),
            "only {n} of {want} timers stored"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    rt.shutdown().await;
    drop(rt);
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
    let file_bytes = std::fs::metadata(path)?.len();
    Ok(Prepared {
        took: begin.elapsed(),
        file_bytes,
    })
}

/// The system clock moved back by `behind_ms`.
struct Shifted {
    behind_ms: u64,
}

impl Clock for Shifted {
    fn now_ms(&self) -> u64 {
        SystemClock.now_ms().saturating_sub(self.behind_ms)
    }

    fn sleep_until(&self, deadline_ms: u64) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        SystemClock.sleep_until(deadline_ms.saturating_add(self.behind_ms))
    }
}

/// Phase 2: runs the workflows in `path` (opened as `store`) to the end with a runtime of
/// the default options.
pub async fn measure(
    options: &Options,
    store: SqliteStore,
    path: &Path,
) -> anyhow::Result<Figures> {
    let first_due = EPOCH_MS + options.offset_ms(0);
    // The runtime's clock reads `first_due - LEAD_MS` now.
    let behind_ms = SystemClock.now_ms() - (first_due - LEAD_MS);
    let rt = Runtime::builder(store)
        .clock(Shifted { behind_ms })
        .workflow(nap)
        .workflow(naps)
        .build()
        .await?;
    let conn = rusqlite::Connection::open(path)?;
    let running = WorkflowStatus::Running.code();
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let left: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM workflows WHERE status = ?1)",
            [running],
            |r| r.get(0),
        )?;
        if !left {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "workflows still asleep after 15 minutes"
        );
    }
    let peak_rss_bytes = peak_rss();
    rt.shutdown().await;
    // Per workflow, the wake of its last step and the fire time of its last timer.
    let mut woke: Vec<(u64, u64)> = Vec::with_capacity(options.workflows as usize);
    {
        let mut stmt = conn.prepare("SELECT id, status, updated_at FROM workflows")?;
        let mut rows = stmt.query([])?;
        let completed = WorkflowStatus::Completed.code();
        while let Some(row) = rows.next()? {
            let id: String = row.get(0)?;
            let status: i64 = row.get(1)?;
            let at: u64 = row.get(2)?;
            anyhow::ensure!(status == completed, "{id} ended with status {status}");
            let i = index_of(&id).ok_or_else(|| anyhow::anyhow!("unknown workflow {id}"))?;
            let last = options.offsets_of(i).into_iter().max().unwrap_or(0);
            woke.push((EPOCH_MS + last, at));
        }
    }
    anyhow::ensure!(
        woke.len() as u64 == options.workflows,
        "{} workflows in the file, {} expected",
        woke.len(),
        options.workflows
    );
    let last_wake = woke.iter().map(|w| w.1).max().unwrap_or(first_due);
    let drain_ms = last_wake.saturating_sub(first_due).max(1);
    let timers = options.timers_total();
    let rate = timers as f64 / (drain_ms as f64 / 1000.0);
    // Lateness, and lateness past the backlog: in fire order, a drain at `rate` finishes the
    // timers up to the n-th (counting every timer, not only the last of each workflow) at
    // `max(previous finish, fire time) + 1 / rate`.
    let mut late: Vec<u64> = woke
        .iter()
        .map(|&(due, at)| at.saturating_sub(due))
        .collect();
    let mut fire: Vec<u64> = (0..timers)
        .map(|n| EPOCH_MS + options.offset_ms(n))
        .collect();
    fire.sort_unstable();
    let mut drained = Vec::with_capacity(fire.len());
    let mut finish = 0f64;
    let per_ms = rate / 1000.0;
    for &f in &fire {
        finish = finish.max(f as f64) + 1.0 / per_ms;
        drained.push(finish);
    }
    // A workflow's last timer is the n-th to fire; with ties, the last of its fire time.
    let mut past: Vec<u64> = woke
        .iter()
        .map(|&(due, at)| {
            let n = fire.partition_point(|&f| f <= due).saturating_sub(1);
            let ideal = drained[n];
            (at as f64 - ideal).max(0.0) as u64
        })
        .collect();
    late.sort_unstable();
    past.sort_unstable();
    let pick = |v: &[u64], q: f64| {
        let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
        Duration::from_millis(v[i])
    };
    Ok(Figures {
        workflows: options.workflows,
        timers,
        fired_per_s: rate,
        worst_late: pick(&late, 1.0),
        p99_late: pick(&late, 0.99),
        worst_past_backlog: pick(&past, 1.0),
        p99_past_backlog: pick(&past, 0.99),
        drain: Duration::from_millis(drain_ms),
        peak_rss_bytes,
    })
}

/// The peak resident memory of this process (`VmHWM` in `/proc/self/status`), in bytes.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Both phases in this process (the smoke test's way; the program runs phase 1 in a child).
pub async fn run(options: &Options) -> anyhow::Result<(Prepared, Figures)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("timers.db");
    let prepared = prepare(options, &path).await?;
    let figures = measure(options, SqliteStore::open(&path)?, &path).await?;
    Ok((prepared, figures))
}

/// The argument that makes this binary run phase 1 only: `--prepare PATH` and the options.
const PREPARE_FLAG: &str = "--prepare";

fn line(what: &str, value: String, note: &str) {
    println!("{what:<44} {value:>16}   {note}");
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, path, rest @ ..] = &args[..]
        && flag == PREPARE_FLAG
    {
        let options = Options::from_args(rest)?;
        let prepared = prepare(&options, Path::new(path)).await?;
        println!("{}", prepared.took.as_secs_f64());
        return Ok(());
    }
    let options = Options::from_args(&args)?;
    let tmp = tempfile::tempdir_in(options.dir.as_deref().unwrap_or(&std::env::temp_dir()))?;
    let path = tmp.path().join("timers.db");
    println!(
        "workflow-rt timers benchmark: {} workflows x {} timer(s) = {} timers due over {:.1} s ({}build)",
        options.workflows,
        options.join,
        options.timers_total(),
        options.spread.as_secs_f64(),
        if cfg!(debug_assertions) {
            "debug "
        } else {
            "release "
        }
    );
    println!("{:-<100}", "");
    let stored = options.db.clone().unwrap_or_else(|| path.clone());
    if stored.exists() {
        line(
            "phase 1: stored earlier",
            String::new(),
            &stored.display().to_string(),
        );
    } else {
        // Phase 1 in a child process, so that its memory is not counted in phase 2's peak.
        let out = std::process::Command::new(std::env::current_exe()?)
            .arg(PREPARE_FLAG)
            .arg(&stored)
            .args(&args)
            .stderr(std::process::Stdio::inherit())
            .output()?;
        anyhow::ensure!(out.status.success(), "phase 1 failed: {}", out.status);
        let took: f64 = String::from_utf8_lossy(&out.stdout).trim().parse()?;
        let bytes = std::fs::metadata(&stored)?.len();
        line(
            "phase 1: stored (synchronous=OFF)",
            format!("{took:.1} s"),
            &format!(
                "{:.0} workflows/s, file {}",
                options.workflows as f64 / took,
                mib(bytes)
            ),
        );
    }
    if stored != path {
        // Phase 2 changes the file: it runs on a copy (with its log, if any is left).
        std::fs::copy(&stored, &path)?;
        let wal = |p: &Path| p.with_extension("db-wal");
        if wal(&stored).exists() {
            std::fs::copy(wal(&stored), wal(&path))?;
        }
    }
    let f = measure(&options, SqliteStore::open(&path)?, &path).await?;
    let ms = |d: Duration| format!("{} ms", d.as_millis());
    line(
        "timers fired per second",
        format!("{:.0}", f.fired_per_s),
        &format!(
            "{} timers in {:.2} s from the first due",
            f.timers,
            f.drain.as_secs_f64()
        ),
    );
    line(
        "lateness, worst / p99",
        format!("{} / {}", ms(f.worst_late), ms(f.p99_late)),
        "wake (step's clock) minus the fire time of the workflow's last timer",
    );
    line(
        "lateness past the backlog, worst / p99",
        format!("{} / {}", ms(f.worst_past_backlog), ms(f.p99_past_backlog)),
        "minus a drain of every timer due before it at the measured rate",
    );
    line(
        "peak RSS (VmHWM) of the runtime's process",
        f.peak_rss_bytes.map(mib).unwrap_or_else(|| "?".into()),
        "",
    );
    Ok(())
}
