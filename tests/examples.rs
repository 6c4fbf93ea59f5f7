//! The examples' workflows, run by a runtime that keeps their state between steps and by one
//! that restores it from the store at every step (`Builder::restore_every_step`): both must
//! give the same results. And the examples' programs themselves: the checkout program killed
//! half-way by `--crash-after` and run again, the benchmark with its quick sizes.

mod support;

#[path = "../examples/checkout.rs"]
#[allow(dead_code)]
mod checkout;

#[path = "../examples/bench.rs"]
#[allow(dead_code)]
mod bench;

// The timers benchmark, as the benchmark includes it.
use bench::timers;

#[path = "../examples/upgrade.rs"]
#[allow(dead_code)]
mod upgrade;

#[path = "../examples/metrics.rs"]
#[allow(dead_code)]
mod metrics_example;

#[path = "../examples/fanout.rs"]
#[allow(dead_code)]
mod fanout;
#[path = "../examples/nightly.rs"]
#[allow(dead_code)]
mod nightly;
#[path = "../examples/writer_statements.rs"]
#[allow(dead_code)]
mod writer_statements;

use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use support::{both_modes, builder, memory};
use workflow_rt::WorkflowStatus;
use workflow_rt::prelude::*;
use workflow_rt::store::Store;

/// The orders' outcomes, as `run_orders` and the program show them.
fn expected_orders() -> Vec<(String, Result<String, String>)> {
    vec![
        ("order-1", Ok("rsv-order-1 / pay-order-1 / trk-order-1")),
        ("order-2", Err("shipping failed: no carrier takes it")),
        ("order-3", Err("payment failed: card declined")),
        ("order-4", Err("not approved")),
        ("order-5", Err("approval timed out")),
        ("order-6", Err("cancelled")),
    ]
    .into_iter()
    .map(|(id, r)| {
        (
            id.to_string(),
            r.map(str::to_string).map_err(str::to_string),
        )
    })
    .collect()
}

fn shown(
    order: &str,
    r: &Result<checkout::Receipt, WorkflowError>,
) -> (String, Result<String, String>) {
    let r = r
        .as_ref()
        .map(|r| format!("{} / {} / {}", r.reservation, r.payment, r.tracking))
        .map_err(|e| e.message.clone());
    (order.to_string(), r)
}

/// The checkout saga as `cargo run --example checkout` runs it (SQLite, the system clock: the
/// approval that never comes times out after 3 s), in each mode on a new file and ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_gives_the_same_results_restored_at_every_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    both_modes(async |mode| {
        let db = dir.path().join(format!("checkout-{mode:?}.db"));
        checkout::open_ledger(&db.with_extension("ledger.db")).expect("ledger");
        let rt = mode
            .apply(checkout::register(Runtime::builder(
                SqliteStore::open(&db).expect("open"),
            )))
            .build()
            .await
            .expect("build");
        let results = tokio::time::timeout(Duration::from_secs(30), checkout::run_orders(&rt))
            .await
            .expect("in time")
            .expect("orders");
        let shown: Vec<(String, Result<String, String>)> = results
            .iter()
            .map(|(order, r)| shown(&order.id, r))
            .collect();
        assert_eq!(shown, expected_orders(), "{mode:?}");
        // The operator's commands mounted in the example, on the same file.
        let admin = async |args: &[&str]| {
            let store = format!("sqlite:{}", db.display());
            let cli = <checkout::AdminCli as clap::Parser>::try_parse_from(
                ["checkout admin", "--store", store.as_str()]
                    .into_iter()
                    .chain(args.iter().copied()),
            )
            .expect("arguments");
            let mut out = Vec::new();
            checkout::admin(cli, &mut out).await.expect("admin");
            String::from_utf8(out).expect("utf-8")
        };
        let list = admin(&["list", "--status", "failed"]).await;
        assert!(list.ends_with("(4 runs)\n"), "{list}");
        let show = admin(&["show", "order-3"]).await;
        assert!(show.contains("card declined"), "the output as JSON: {show}");
        assert!(show.contains("> [8] Returned"), "{show}");
        let history = admin(&["history", "order-1"]).await;
        assert!(
            history.contains(r#"ship#"#) && history.contains(r#""id":"order-1""#),
            "activity inputs as JSON: {history}"
        );
        let totals = checkout::ledger_totals().expect("ledger");
        assert_eq!(totals.charged_twice, 0);
        assert_eq!(
            (totals.charges, totals.refunds),
            (5, 4),
            "every order charged but the declined one; all refunded but the shipped one"
        );
        rt.shutdown().await;
        (results, totals)
    })
    .await;
}

/// The benchmark's chain of activity calls, to its output and its last snapshot byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_benchmark_chain_gives_the_same_result_restored_at_every_step() {
    const STEPS: u64 = 300;
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock)
            .workflow(bench::chain)
            .activity(bench::noop)
            .build()
            .await
            .expect("build");
        let run = rt.start(bench::chain, "chain", STEPS).await.expect("start");
        rt.signal("chain", "go", 1u64).await.expect("signal");
        let out = support::within("the chain", run.result())
            .await
            .expect("result");
        assert_eq!(out, (0..STEPS).sum::<u64>() + 1);
        let rec = store.load_workflow("chain").await.expect("load");
        assert_eq!(
            rec.version,
            STEPS + 2,
            "the first step, one per call, the signal"
        );
        rt.shutdown().await;
        (out, rec.version, rec.snapshot)
    })
    .await;
}

/// The benchmark's other kinds of step (timers, then signals), to the output and the steps
/// taken, on SQLite and the system clock (the sleeps are a millisecond).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_benchmark_kinds_give_the_same_result_restored_at_every_step() {
    const EACH: u64 = 30;
    let dir = tempfile::tempdir().expect("tempdir");
    both_modes(async |mode| {
        let db = dir.path().join(format!("kinds-{mode:?}.db"));
        let store = SqliteStore::open(&db).expect("open");
        let rt = mode
            .apply(
                Runtime::builder(store)
                    .workflow(bench::kinds)
                    .activity(bench::noop),
            )
            .build()
            .await
            .expect("build");
        let run = rt.start(bench::kinds, "kinds", EACH).await.expect("start");
        let once = rt.start(bench::kinds, "once", 0).await.expect("start");
        // After the sleeps, as the benchmark sends them.
        let probe = SqliteStore::open(&db).expect("open");
        bench::reach(&probe, "kinds", 1 + EACH)
            .await
            .expect("the sleeps");
        for j in 0..EACH {
            rt.signal("kinds", "s", j).await.expect("signal");
        }
        let out = support::within("the kinds", run.result())
            .await
            .expect("result");
        assert_eq!(out, (0..EACH).sum::<u64>());
        assert_eq!(
            support::within("once", once.result()).await.expect("once"),
            0
        );
        let rec = probe.load_workflow("kinds").await.expect("load");
        assert_eq!(
            rec.version,
            1 + 2 * EACH,
            "the first step, one per timer and per signal"
        );
        rt.shutdown().await;
        // Not the snapshot: it holds times of the system clock.
        (out, rec.version)
    })
    .await;
}

/// Set (to the program's arguments, one a line) in the child that runs the checkout program.
const CHECKOUT_ARGS: &str = "WORKFLOW_CHECKOUT_ARGS";

/// Runs the checkout program in a child process (this test binary again) with `args`.
fn run_checkout(args: &[&str]) -> ExitStatus {
    let exe = std::env::current_exe().expect("test binary");
    Command::new(exe)
        .args([
            "--exact",
            "checkout_completes_the_same_orders_after_a_crash",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHECKOUT_ARGS, args.join("\n"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run the checkout program")
}

fn ledger_rows(ledger: &Path) -> u64 {
    rusqlite::Connection::open(ledger)
        .expect("ledger")
        .query_row("SELECT COUNT(*) FROM ledger", [], |r| r.get(0))
        .expect("count")
}

/// The README's first commands, automated: `checkout --crash-after 6` aborts the process
/// right after the sixth activity call did its work (before the runtime records it), then
/// `checkout` again completes the same orders from where they were, and nobody is charged
/// twice. (The program runs in a child process, since it dies for real: this test binary run
/// again, calling the example's `program`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_completes_the_same_orders_after_a_crash() {
    if let Some(args) = std::env::var_os(CHECKOUT_ARGS) {
        let args = args.to_str().expect("utf-8 arguments").to_string();
        let args = checkout::parse_args(args.lines().map(str::to_string)).expect("arguments");
        checkout::program(args).await.expect("the checkout program");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("checkout.db");
    let ledger = db.with_extension("ledger.db");
    let db_arg = db.to_str().expect("utf-8 path");

    let crashed = run_checkout(&["--db", db_arg, "--fresh", "--crash-after", "6"]);
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(crashed.signal(), Some(6), "aborted (SIGABRT): {crashed:?}");
    }
    assert!(!crashed.success());
    assert_eq!(
        ledger_rows(&ledger),
        6,
        "six calls did their work before the crash"
    );
    let store = SqliteStore::open(&db).expect("open");
    let running = store
        .list_workflows(Some(WorkflowStatus::Running))
        .await
        .expect("list");
    assert!(!running.is_empty(), "the crash left orders half-way");

    let rerun = run_checkout(&["--db", db_arg]);
    assert!(rerun.success(), "the rerun finished: {rerun:?}");
    let mut results = Vec::new();
    for (order, _) in checkout::orders() {
        let rec = store.load_workflow(&order.id).await.expect("load");
        let output: Result<checkout::Receipt, WorkflowError> =
            postcard::from_bytes(&rec.output.expect("finished")).expect("decode");
        results.push(shown(&order.id, &output));
    }
    assert_eq!(results, expected_orders());
    let totals =
        checkout::totals_of(&rusqlite::Connection::open(&ledger).expect("ledger")).expect("totals");
    assert_eq!(totals.charged_twice, 0, "nobody charged twice");
    assert_eq!(
        (totals.charges, totals.refunds),
        (5, 4),
        "the same ledger as a run without a crash"
    );
}

/// The same crash and rerun with the workflows on PostgreSQL (`--store postgres://...`; the
/// ledger stays a file): the same orders, nobody charged twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_on_postgres_completes_the_same_orders_after_a_crash() {
    let Some(server) = support::postgres::server("checkout_on_postgres") else {
        return;
    };
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("checkout.db");
    let ledger = db.with_extension("ledger.db");
    let db_arg = db.to_str().expect("utf-8 path");
    let crashed = run_checkout(&[
        "--db",
        db_arg,
        "--store",
        &url,
        "--fresh",
        "--crash-after",
        "6",
    ]);
    assert!(!crashed.success(), "{crashed:?}");
    assert_eq!(ledger_rows(&ledger), 6);
    let rerun = run_checkout(&["--db", db_arg, "--store", &url]);
    assert!(rerun.success(), "the rerun finished: {rerun:?}");
    assert!(!db.exists(), "the workflows were not in a SQLite file");
    let store = workflow_rt::PostgresStore::builder(url.as_str())
        .schema("checkout_example")
        .connect()
        .await
        .expect("connect");
    let mut results = Vec::new();
    for (order, _) in checkout::orders() {
        let rec = store.load_workflow(&order.id).await.expect("load");
        let output: Result<checkout::Receipt, WorkflowError> =
            postcard::from_bytes(&rec.output.expect("finished")).expect("decode");
        results.push(shown(&order.id, &output));
    }
    assert_eq!(results, expected_orders());
    let totals =
        checkout::totals_of(&rusqlite::Connection::open(&ledger).expect("ledger")).expect("totals");
    assert_eq!(totals.charged_twice, 0, "nobody charged twice");
    assert_eq!((totals.charges, totals.refunds), (5, 4));
}

/// The benchmark's own code, with its quick sizes: it runs to the end and every figure makes
/// sense (so `cargo run --release --example bench` cannot rot unnoticed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_benchmark_runs_with_its_quick_sizes() {
    let options = bench::Options::from_args(&["--quick".to_string()]).expect("options");
    assert!(options.quick && options.only.is_none());
    assert!(bench::Options::from_args(&["--only".to_string(), "disk".to_string()]).is_err());
    assert!(bench::Options::from_args(&["--only".to_string(), "timers".to_string()]).is_ok());
    let figures = support::within_secs(120, "the quick benchmark", bench::run(&options))
        .await
        .expect("the benchmark");
    for (what, steps_per_s) in [
        ("memory, sequential", figures.memory_sequential),
        ("memory, concurrent", figures.memory_concurrent),
        ("sqlite, sequential", figures.sqlite_sequential),
        ("sqlite, concurrent", figures.sqlite_concurrent),
    ] {
        let v = steps_per_s.unwrap_or_else(|| panic!("{what}: no figure"));
        assert!(v.is_finite() && v > 0.0, "{what}: {v} steps/s");
    }
    assert!(figures.fsync.is_some_and(|d| d > Duration::ZERO));
    // Every kind of step writes (its commit at least: a 4 KiB page and a frame header).
    let kinds = figures.step_bytes.expect("bytes by kind of step");
    for (what, bytes) in [
        ("timer", kinds.timer),
        ("signal", kinds.signal),
        ("start and end", kinds.start_finish),
    ] {
        assert!(
            (4096.0..1e6).contains(&bytes),
            "{what}: {bytes} bytes per step"
        );
    }
    // What the process did per step, and at each concurrency, from /proc.
    let u = figures.sqlite_sequential_usage.expect("usage");
    assert!(
        u.written_bytes > 0 && u.switches > 0 && u.peak_rss_bytes > 0 && u.max_threads > 1,
        "{u:?}"
    );
    assert_eq!(
        figures
            .sqlite_scaling
            .iter()
            .map(|(n, _, _)| *n)
            .collect::<Vec<_>>(),
        [10, 100]
    );
    for (n, rate, usage) in &figures.sqlite_scaling {
        assert!(
            rate.is_finite() && *rate > 0.0 && usage.peak_rss_bytes > 0,
            "{n}: {rate} {usage:?}"
        );
    }
    assert_eq!(figures.timers.len(), 1);
    let t = &figures.timers[0];
    assert!(
        t.workflows == 500
            && t.fired_per_s > 0.0
            && t.usage.max_threads > 1
            && t.usage.written_bytes > 0,
        "{t:?}"
    );
    assert_eq!(
        figures.resume.iter().map(|r| r.steps).collect::<Vec<_>>(),
        vec![10, 1_000]
    );
    for r in &figures.resume {
        assert!(r.median <= r.worst && r.median > Duration::ZERO, "{r:?}");
        assert!(r.end_to_end_warm > Duration::ZERO && r.end_to_end_cold > Duration::ZERO);
        // The snapshot holds the live variables, not the history: a few bytes more for
        // larger counters at most.
        assert!(r.snapshot_bytes > 0 && r.snapshot_bytes <= 64, "{r:?}");
    }
    let (short, long) = (&figures.resume[0], &figures.resume[1]);
    assert!(
        long.snapshot_bytes <= short.snapshot_bytes + 4,
        "{figures:?}"
    );
    assert!(figures.pending_bytes.is_some_and(|b| b > 0));
    // Only the part asked for.
    let memory_only =
        bench::Options::from_args(&["--quick".into(), "--only".into(), "memory".into()])
            .expect("options");
    assert_eq!(memory_only.only.as_deref(), Some("memory"));
}

/// The upgrade example, both ways (a migration; v1 kept), each run cached and restored at every
/// step: the old runs finish on the new code, or on the old code when it is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upgrade_example_moves_old_runs_to_v2_or_keeps_them_on_v1() {
    let dir = tempfile::tempdir().expect("tempdir");
    both_modes(async |mode| {
        let restore = mode == support::Mode::Restored;
        let open = |name: &str| {
            std::sync::Arc::new(
                SqliteStore::open(dir.path().join(format!("{name}-{restore}.db"))).expect("open"),
            )
        };
        let store = open("migrate");
        upgrade::old_deploy(&store, restore).await.expect("old");
        let migrated = upgrade::migrate_deploy(&store, restore)
            .await
            .expect("migrate");
        assert_eq!(
            migrated,
            [
                "v2: parcel-1 (priority) delivered in the morning",
                "v2: parcel-2 (standard) delivered in the morning",
                "v2: parcel-3 (standard) delivered in the morning",
            ]
        );
        let store = open("pin");
        upgrade::old_deploy(&store, restore).await.expect("old");
        let pinned = upgrade::pin_deploy(&store, restore).await.expect("pin");
        assert_eq!(
            pinned,
            [
                "v1: parcel-1 delivered in the evening",
                "v1: parcel-2 delivered in the evening",
                "v1: parcel-3 delivered in the evening",
                "v2: parcel-4 (standard) delivered in the evening",
            ]
        );
        (migrated, pinned)
    })
    .await;
}

/// The timers benchmark's own code at small sizes, both shapes (one sleep per workflow; ten
/// joined): every workflow completes and every figure makes sense (so `cargo run --release
/// --example timers` cannot rot unnoticed). No timing is asserted.
/// The README's recipe: the metrics example's Prometheus recorder (the only recorder of this
/// test binary) renders what the runtime recorded, described, with its labels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_example_renders_the_runtimes_metrics() {
    use metrics_example::{greet, welcome};
    let prometheus = metrics_example::install();
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store, clock)
            .workflow(welcome)
            .activity(greet)
            .build()
            .await
            .expect("build");
        let run = rt
            .start(welcome, mode.id("welcome-1"), "Ada".to_string())
            .await
            .expect("start");
        let out = support::within("the result", run.result())
            .await
            .expect("result");
        rt.shutdown().await;
        out
    })
    .await;
    let text = prometheus.render();
    // Four steps timed, none of them a conflict: a state primed for a new run after a driver
    // stepped it from the store and saw it end is not kept (it was, now and then, and its
    // stale step conflicted).
    assert!(
        !text.contains("outcome=\"conflict\""),
        "a step ended in a conflict:\n{text}"
    );
    let timed = "workflow_step_duration_seconds_count{workflow=\"welcome\"} 4";
    for line in [
        "# TYPE workflow_steps_total counter",
        "# HELP workflow_steps_total Workflow steps, by how they ended",
        "workflow_steps_total{workflow=\"welcome\",outcome=\"suspended\"} 2",
        "workflow_steps_total{workflow=\"welcome\",outcome=\"completed\"} 2",
        "workflow_runs_started_total{workflow=\"welcome\"} 2",
        "workflow_runs_finished_total{workflow=\"welcome\",status=\"completed\"} 2",
        "workflow_activity_attempts_total{activity=\"greet\",outcome=\"ok\"} 2",
        timed,
    ] {
        assert!(text.contains(line), "{line:?} is not in:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timers_benchmark_runs_at_small_sizes() {
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let quick = timers::Options::from_args(&args(&["--quick"])).expect("options");
    assert_eq!((quick.workflows, quick.join), (2_000, 1));
    let joined = timers::Options::from_args(&args(&["--join", "10"])).expect("options");
    assert_eq!((joined.workflows, joined.join), (10_000, 10));
    assert!(timers::Options::from_args(&args(&["--join", "0"])).is_err());
    assert!(timers::Options::from_args(&args(&["--spread", "x"])).is_err());
    for a in [
        &["--workflows", "500", "--spread", "0.5"][..],
        &["--workflows", "50", "--join", "10", "--spread", "0.5"][..],
        // Fired in an order unrelated to the ids: phase 1 starts each workflow once (the
        // order is a permutation), and every one completes at its own fire time.
        &["--workflows", "500", "--spread", "0.5", "--shuffle"][..],
        &[
            "--workflows",
            "48",
            "--join",
            "3",
            "--spread",
            "0.5",
            "--shuffle",
        ][..],
    ] {
        let options = timers::Options::from_args(&args(a)).expect("options");
        let (prepared, f) =
            support::within_secs(120, "the timers benchmark", timers::run(&options))
                .await
                .expect("the benchmark");
        assert!(prepared.took > Duration::ZERO && prepared.file_bytes > 0);
        assert_eq!(
            (f.workflows, f.timers),
            (options.workflows, options.timers_total())
        );
        assert!(f.fired_per_s.is_finite() && f.fired_per_s > 0.0, "{f:?}");
        assert!(f.p99_late <= f.worst_late, "{f:?}");
        assert!(f.p99_past_backlog <= f.worst_past_backlog, "{f:?}");
        assert!(f.worst_past_backlog <= f.worst_late, "{f:?}");
    }
}

/// The fan-out example: the parent's report and its children's ends, the same in both modes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fanout_example_gives_the_same_report_restored_at_every_step() {
    both_modes(async |mode| {
        let store = std::sync::Arc::new(workflow_rt::MemoryStore::new());
        let rt = mode
            .apply(fanout::register(
                Runtime::builder(store).poll_interval(Duration::from_millis(5)),
            ))
            .build()
            .await
            .expect("build");
        let out = tokio::time::timeout(Duration::from_secs(30), fanout::run(&rt))
            .await
            .expect("in time")
            .expect("run");
        assert_eq!(
            out.0,
            vec![
                "box-books picked up".to_string(),
                "box-lamp picked up".to_string(),
                "failed: activity NonRetryable: piano weighs 250 kg: no carrier takes it"
                    .to_string(),
                "box-rug picked up".to_string(),
            ]
        );
        assert_eq!(
            out.1.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
            vec![
                WorkflowStatus::Completed,
                WorkflowStatus::Completed,
                WorkflowStatus::Failed,
                WorkflowStatus::Completed
            ]
        );
        rt.shutdown().await;
        out
    })
    .await;
}

/// The nightly example: its nightly schedule's next runs at 02:00 in Paris, and three runs of
/// its one-second schedule, started and completed, one per fire time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nightly_example_starts_one_run_per_fire_time() {
    for restore in [false, true] {
        let rt = Runtime::builder(workflow_rt::MemoryStore::new())
            .workflow(nightly::nightly_report)
            .activity(nightly::build_report)
            .poll_interval(Duration::from_millis(20))
            .restore_every_step(restore)
            .build()
            .await
            .expect("build");
        let demo = nightly::demo(&rt).await.expect("demo");
        assert_eq!(demo.nightly.len(), 5);
        for id in &demo.nightly {
            // 02:00 in Paris: 01:00 UTC in winter, 00:00 UTC in summer.
            assert!(
                id.starts_with("nightly@")
                    && (id.ends_with("T01:00:00Z") || id.ends_with("T00:00:00Z")),
                "{id}"
            );
        }
        assert_eq!(demo.heartbeat.len(), 3, "{demo:?}");
        let fire_times: Vec<&str> = demo.heartbeat.iter().map(|(id, _)| id.as_str()).collect();
        let mut distinct = fire_times.clone();
        distinct.dedup();
        assert_eq!(distinct, fire_times, "one run per fire time");
        for (_, out) in &demo.heartbeat {
            assert_eq!(out, "report for on-call");
        }
        rt.shutdown().await;
    }
}

/// The writer's statements program on small files: every variant runs, finishes the runs it
/// should (the program checks that their timers are gone), and reports a time.
#[test]
fn the_writer_statements_program_runs_every_variant() {
    let mut seen = Vec::new();
    writer_statements::run(2_000, 1, |v, t| seen.push((v.to_string(), t))).expect("run");
    let names: Vec<&str> = seen.iter().map(|(v, _)| v.as_str()).collect();
    assert_eq!(names, writer_statements::VARIANTS);
    for (v, t) in &seen {
        assert!(t.iter().all(|x| x.is_finite() && *x >= 0.0), "{v}: {t:?}");
        assert!(t[1] > 0.0, "{v}: the update took no time: {t:?}");
    }
}
