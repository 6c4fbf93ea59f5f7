//! An order saga on a SQLite file: reserve the stock, charge the card, wait for an approval
//! (with a timeout), ship; on a failure, or when the order is cancelled, undo what was done,
//! newest first (a [`Saga`]: the refund, then the release).
//!
//! ```text
//! cargo run --example checkout                      # five orders, to the end
//! cargo run --example checkout -- --crash-after 6   # dies after six activity calls
//! cargo run --example checkout                      # the same orders, from where they were
//! cargo run --example checkout -- --fresh           # start over
//! cargo run --example checkout -- --fresh --restore-every-step
//!                                                   # every step loads its snapshot: the same results
//! cargo run --example checkout -- --store postgres://user@host/db --fresh
//!                                                   # the workflows on PostgreSQL (`--store sqlite:PATH`
//!                                                   # is `--db PATH`)
//! cargo run --example checkout -- admin list        # the operator's commands (see [`admin`])
//! cargo run --example checkout -- admin show order-3
//! ```
//!
//! The payment provider is simulated by a ledger in a second SQLite file, keyed by each call's
//! idempotency key: a call that runs again after a crash is recognised, and nobody is charged
//! twice. `--crash-after N` aborts the process right after the N-th activity has done its work
//! and before the runtime records the result: the worst moment. `--restore-every-step` runs the
//! runtime in its test mode, where every step starts from the stored snapshot as after a crash
//! (`tests/examples.rs` runs these orders both ways and compares, and runs [`program`] in a
//! child process with `--crash-after`, then again, and checks the orders and the ledger).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use workflow_rt::machine::Pending;
use workflow_rt::prelude::*;
use workflow_rt::store::{HistoryKind, Store};
use workflow_rt::{Builder, RuntimeError, WorkflowStatus};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: String,
    pub sku: String,
    pub cents: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub reservation: String,
    pub payment: String,
    pub tracking: String,
}

// ---- The outside world: a ledger, and a way to die at the worst moment. ----

static LEDGER: Mutex<Option<rusqlite::Connection>> = Mutex::new(None);
static CALLS: AtomicU32 = AtomicU32::new(0);
static CRASH_AFTER: AtomicU32 = AtomicU32::new(u32::MAX);

/// Opens (creating if needed) the ledger file the activities record their effects in.
pub fn open_ledger(path: &Path) -> rusqlite::Result<()> {
    let ledger = rusqlite::Connection::open(path)?;
    ledger.execute_batch(
        "CREATE TABLE IF NOT EXISTS ledger (key TEXT PRIMARY KEY, kind TEXT, order_id TEXT, cents INTEGER)",
    )?;
    *LEDGER.lock().unwrap_or_else(|e| e.into_inner()) = Some(ledger);
    Ok(())
}

/// What the ledger shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Totals {
    pub charges: u64,
    pub charged_cents: u64,
    pub refunds: u64,
    pub refunded_cents: u64,
    /// Orders with more than one charge: always 0.
    pub charged_twice: u64,
}

/// The totals of the open ledger.
pub fn ledger_totals() -> anyhow::Result<Totals> {
    let guard = LEDGER.lock().unwrap_or_else(|e| e.into_inner());
    let db = guard
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no ledger open"))?;
    totals_of(db)
}

/// The totals of a ledger file, through any connection to it.
pub fn totals_of(db: &rusqlite::Connection) -> anyhow::Result<Totals> {
    let (charges, charged_cents): (u64, u64) = db.query_row(
        "SELECT COUNT(*), COALESCE(SUM(cents), 0) FROM ledger WHERE kind = 'charge'",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (refunds, refunded_cents): (u64, u64) = db.query_row(
        "SELECT COUNT(*), COALESCE(SUM(cents), 0) FROM ledger WHERE kind = 'refund'",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let charged_twice: u64 = db.query_row(
        "SELECT COUNT(*) FROM (SELECT order_id FROM ledger WHERE kind = 'charge' GROUP BY order_id HAVING COUNT(*) > 1)",
        [],
        |r| r.get(0),
    )?;
    Ok(Totals {
        charges,
        charged_cents,
        refunds,
        refunded_cents,
        charged_twice,
    })
}

/// Records an effect once per idempotency key; says whether this call made it.
fn effect(ctx: &ActivityCtx, kind: &str, order: &str, cents: u64) -> Result<bool, ActivityError> {
    let guard = LEDGER.lock().unwrap_or_else(|e| e.into_inner());
    let db = guard
        .as_ref()
        .ok_or_else(|| ActivityError::retryable("no ledger"))?;
    let new = db
        .execute(
            "INSERT OR IGNORE INTO ledger (key, kind, order_id, cents) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![ctx.idempotency_key(), kind, order, cents],
        )
        .map_err(|e| ActivityError::retryable(e.to_string()))?
        == 1;
    let note = if new {
        ""
    } else {
        "  (already done: not again)"
    };
    println!(
        "  {kind:<8} {order:<8} {:>9}  key {} attempt {}{note}",
        dollars(cents),
        ctx.idempotency_key(),
        ctx.attempt()
    );
    drop(guard);
    // The worst moment to die: the effect is done, its result not yet recorded.
    if CALLS.fetch_add(1, Ordering::SeqCst) + 1 >= CRASH_AFTER.load(Ordering::SeqCst) {
        println!("  *** crashing now (--crash-after) ***");
        std::process::abort();
    }
    Ok(new)
}

fn dollars(cents: u64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

// ---- Activities. ----

#[activity]
pub async fn reserve(ctx: ActivityCtx, order: Order) -> Result<String, ActivityError> {
    effect(&ctx, "reserve", &order.id, 0)?;
    Ok(format!("rsv-{}", order.id))
}

#[activity]
pub async fn release(ctx: ActivityCtx, order: Order) -> Result<(), ActivityError> {
    effect(&ctx, "release", &order.id, 0)?;
    Ok(())
}

#[activity]
pub async fn charge(ctx: ActivityCtx, order: Order) -> Result<String, ActivityError> {
    if order.cents > 50_000 {
        return Err(ActivityError::non_retryable("card declined").with_type("Declined"));
    }
    effect(&ctx, "charge", &order.id, order.cents)?;
    Ok(format!("pay-{}", order.id))
}

#[activity]
pub async fn refund(ctx: ActivityCtx, order: Order) -> Result<(), ActivityError> {
    effect(&ctx, "refund", &order.id, order.cents)?;
    Ok(())
}

#[activity]
pub async fn ship(ctx: ActivityCtx, order: Order) -> Result<String, ActivityError> {
    if order.sku.starts_with("oversize") {
        return Err(ActivityError::non_retryable("no carrier takes it"));
    }
    if ctx.attempt() == 1 {
        // The carrier's API is flaky: the first attempt times out, the retry goes through.
        println!(
            "  ship     {:<8} carrier timeout on attempt 1, will retry",
            order.id
        );
        return Err(ActivityError::retryable("carrier timeout"));
    }
    effect(&ctx, "ship", &order.id, 0)?;
    Ok(format!("trk-{}", order.id))
}

// ---- The workflow. ----

#[workflow]
pub async fn checkout(ctx: WorkflowCtx, order: Order) -> Result<Receipt, WorkflowError> {
    // What to undo, newest first, should the order not go through.
    let mut saga = Saga::new();
    let reservation: String = ctx.activity(reserve, order.clone()).await?;
    saga.add(release, order.clone());
    let payment: String = match ctx
        .activity(charge, order.clone())
        .retry(
            RetryPolicy::exponential(Duration::from_millis(100))
                .max_attempts(5)
                .non_retryable("Declined"),
        )
        .start_to_close(Duration::from_secs(30))
        .await
    {
        Ok(p) => p,
        Err(e) => {
            let reason: String = e.message;
            saga.compensate(&ctx).await?;
            return Err(WorkflowError::msg(format!("payment failed: {reason}")));
        }
    };
    saga.add(refund, order.clone());
    // A cancel request ends the wait early (its timer), and `is_cancelled` says so.
    let approved = ctx
        .signal::<bool>("approve")
        .timeout(Duration::from_secs(3))
        .await;
    if approved != Some(true) || ctx.is_cancelled() {
        saga.compensate(&ctx).await?;
        let why = if ctx.is_cancelled() {
            "cancelled"
        } else if approved.is_none() {
            "approval timed out"
        } else {
            "not approved"
        };
        return Err(WorkflowError::msg(why));
    }
    let tracking: String = match ctx
        .activity(ship, order.clone())
        .retry(RetryPolicy::fixed(Duration::from_millis(200)).max_attempts(3))
        .await
    {
        Ok(t) => t,
        Err(e) => {
            let reason: String = e.message;
            saga.compensate(&ctx).await?;
            return Err(WorkflowError::msg(format!("shipping failed: {reason}")));
        }
    };
    Ok(Receipt {
        reservation,
        payment,
        tracking,
    })
}

// ---- The program. ----

/// Registers the workflow and its activities.
pub fn register(builder: Builder) -> Builder {
    builder
        .workflow(checkout)
        .activity(reserve)
        .activity(release)
        .activity(charge)
        .activity(refund)
        .activity(ship)
}

/// What happens to an order while it waits for its approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The approver says yes or no.
    Approve(bool),
    /// Nobody answers: the approval times out.
    Silence,
    /// The customer cancels the order: it is refunded and released.
    Cancel,
}

/// The orders, and what happens to each while it waits for its approval.
pub fn orders() -> Vec<(Order, Answer)> {
    let order = |id: &str, sku: &str, cents| Order {
        id: id.into(),
        sku: sku.into(),
        cents,
    };
    vec![
        (order("order-1", "book", 2_500), Answer::Approve(true)),
        (
            order("order-2", "oversize-sofa", 40_000),
            Answer::Approve(true),
        ),
        (order("order-3", "yacht", 9_999_999), Answer::Approve(true)),
        (order("order-4", "lamp", 1_500), Answer::Approve(false)),
        (order("order-5", "chair", 3_000), Answer::Silence),
        (order("order-6", "kettle", 2_000), Answer::Cancel),
    ]
}

/// The approver (or the customer): answers each order once it waits for an answer, unless it
/// did already (the history says so; a signal or a cancel request is never sent twice, even
/// across crashes).
async fn answer(rt: &Runtime, order: &Order, answer: Answer) -> Result<(), RuntimeError> {
    loop {
        let state = rt.state(&order.id).await?;
        if state.status != WorkflowStatus::Running {
            return Ok(());
        }
        let waiting = state.waiting_for.as_ref().is_some_and(|p| {
            p.leaves()
                .iter()
                .any(|l| matches!(l, Pending::Signal { name, .. } if name == "approve"))
        });
        if waiting {
            let history = rt.history(&order.id).await?;
            let answered = history
                .iter()
                .any(|e| matches!(e.kind, HistoryKind::Signal | HistoryKind::CancelRequested));
            if !answered {
                match answer {
                    Answer::Approve(yes) => {
                        println!(
                            "  approve  {:<8} {}",
                            order.id,
                            if yes { "yes" } else { "no" }
                        );
                        rt.signal(&order.id, "approve", yes).await?;
                    }
                    Answer::Cancel => {
                        println!("  cancel   {:<8} the customer cancels", order.id);
                        rt.cancel(&order.id).await?;
                    }
                    Answer::Silence => {}
                }
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts every order (or finds it started), answers the approvals, and waits for the results.
pub async fn run_orders(
    rt: &Runtime,
) -> anyhow::Result<Vec<(Order, Result<Receipt, WorkflowError>)>> {
    let mut runs = Vec::new();
    for (order, answer) in orders() {
        // Idempotent: a run that exists is returned as it is.
        let handle = rt.start(checkout, order.id.clone(), order.clone()).await?;
        let rt = rt.clone();
        runs.push(tokio::spawn(async move {
            if answer != Answer::Silence {
                self::answer(&rt, &order, answer).await?;
            }
            let result = match handle.result().await {
                Ok(result) => result,
                // Its code undid the order and returned this error (the run's output).
                Err(RuntimeError::Cancelled { .. }) => Err(WorkflowError::msg("cancelled")),
                Err(e) => return Err(e),
            };
            Ok::<_, RuntimeError>((order, result))
        }));
    }
    let mut results = Vec::new();
    for run in runs {
        results.push(run.await??);
    }
    Ok(results)
}

/// The PostgreSQL schema of `--store postgres://...`.
const PG_SCHEMA: &str = "checkout_example";

/// The command line.
#[derive(Debug, Clone)]
pub struct Args {
    /// The workflows' file (`--db PATH` or `--store sqlite:PATH`, default `checkout.db`); the
    /// ledger is beside it.
    pub db: PathBuf,
    /// `--store postgres://...`: the workflows in this PostgreSQL database instead (in the
    /// schema `checkout_example`); the ledger stays a file beside `--db`.
    pub postgres: Option<String>,
    /// Abort the process right after this many activity calls have done their work.
    pub crash_after: Option<u32>,
    /// Delete both files first.
    pub fresh: bool,
    pub restore_every_step: bool,
}

/// Parses the arguments (without the program name).
pub fn parse_args(args: impl IntoIterator<Item = String>) -> anyhow::Result<Args> {
    let mut a = Args {
        db: PathBuf::from("checkout.db"),
        postgres: None,
        crash_after: None,
        fresh: false,
        restore_every_step: false,
    };
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--crash-after" => {
                a.crash_after = Some(
                    it.next()
                        .ok_or_else(|| anyhow::anyhow!("--crash-after N"))?
                        .parse()?,
                )
            }
            "--db" => a.db = PathBuf::from(it.next().ok_or_else(|| anyhow::anyhow!("--db PATH"))?),
            "--store" => {
                let url = it
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--store sqlite:PATH|postgres://..."))?;
                if let Some(path) = url.strip_prefix("sqlite:") {
                    a.db = PathBuf::from(path);
                } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                    a.postgres = Some(url);
                } else {
                    anyhow::bail!("--store takes sqlite:PATH or postgres://..., not {url:?}");
                }
            }
            "--fresh" => a.fresh = true,
            "--restore-every-step" => a.restore_every_step = true,
            other => anyhow::bail!(
                "unknown argument {other:?} (try --crash-after N, --db PATH, --store URL, --fresh, --restore-every-step)"
            ),
        }
    }
    Ok(a)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("admin") {
        let cli = <AdminCli as clap::Parser>::parse_from(args);
        return admin(cli, &mut std::io::stdout()).await;
    }
    program(parse_args(args)?).await
}

/// `checkout admin COMMAND`: the operator's commands of `workflow-admin`, mounted in this
/// program, where the checkout workflow and its activities are registered, so that states,
/// outputs and activity inputs show as JSON:
///
/// ```text
/// cargo run --example checkout -- admin list
/// cargo run --example checkout -- admin show order-3
/// cargo run --example checkout -- admin describe order-3 --mermaid
/// cargo run --example checkout -- admin --store sqlite:other.db history order-1
/// ```
#[derive(Debug, clap::Parser)]
#[command(name = "checkout admin")]
pub struct AdminCli {
    /// The store: `sqlite:PATH` (default: the example's file) or `postgres://...` (its schema).
    #[arg(long, default_value = "sqlite:checkout.db")]
    pub store: String,
    #[command(subcommand)]
    pub command: workflow_admin::AdminCommand,
}

/// Runs an admin command on the store `cli` names, with a client that knows the checkout's
/// types (it runs no workflow: the workers can be running meanwhile, or not at all).
pub async fn admin(cli: AdminCli, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    let store: Arc<dyn Store> =
        if cli.store.starts_with("postgres://") || cli.store.starts_with("postgresql://") {
            Arc::new(
                workflow_rt::PostgresStore::builder(cli.store.as_str())
                    .schema(PG_SCHEMA)
                    .connect()
                    .await?,
            )
        } else {
            let path = cli.store.strip_prefix("sqlite:").unwrap_or(&cli.store);
            anyhow::ensure!(
                Path::new(path).is_file(),
                "no store at {path:?}: run the example first"
            );
            Arc::new(SqliteStore::open(path)?)
        };
    let client = workflow_rt::Client::new(store)
        .workflow(checkout)
        .activity(reserve)
        .activity(release)
        .activity(charge)
        .activity(refund)
        .activity(ship);
    workflow_admin::run(&client, cli.command, out).await?;
    Ok(())
}

/// The whole program: opens the files, runs (or continues) the orders, prints the results, the
/// ledger and a history.
pub async fn program(args: Args) -> anyhow::Result<()> {
    let ledger_path = args.db.with_extension("ledger.db");
    if args.fresh {
        for p in [&args.db, &ledger_path] {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
            }
        }
    }
    if let Some(n) = args.crash_after {
        CRASH_AFTER.store(n, Ordering::SeqCst);
    }
    open_ledger(&ledger_path)?;

    let store: Arc<dyn Store> = match &args.postgres {
        None => Arc::new(SqliteStore::open(&args.db)?),
        Some(url) => {
            if args.fresh {
                let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
                tokio::spawn(conn);
                client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
                    .await?;
            }
            Arc::new(
                workflow_rt::PostgresStore::builder(url.as_str())
                    .schema(PG_SCHEMA)
                    .connect()
                    .await?,
            )
        }
    };
    let place = match &args.postgres {
        None => args.db.display().to_string(),
        Some(_) => format!("PostgreSQL (schema {PG_SCHEMA})"),
    };
    let rt = register(Runtime::builder(store))
        // The same name on every run: a restart takes back the calls the last run held.
        .worker_id("checkout-example")
        .restore_every_step(args.restore_every_step)
        .build()
        .await?;
    let known = rt.list(None).await?.len();
    if known == 0 {
        println!("Starting 5 orders in {place}:");
    } else {
        println!("Continuing the {known} orders in {place} from where they were:");
    }

    let results = run_orders(&rt).await?;
    println!("\nResults:");
    for (order, result) in results {
        match result {
            Ok(r) => println!(
                "  {:<8} shipped: {} / {} / {}",
                order.id, r.reservation, r.payment, r.tracking
            ),
            Err(e) => println!("  {:<8} not shipped: {e}", order.id),
        }
    }

    let t = ledger_totals()?;
    println!(
        "\nLedger: {} charges ({}), {} refunds ({}); orders charged twice: {}",
        t.charges,
        dollars(t.charged_cents),
        t.refunds,
        dollars(t.refunded_cents),
        t.charged_twice
    );
    println!("History of order-2 (for people, not for replay):");
    for e in rt.history("order-2").await? {
        println!(
            "  {:<9} {}",
            format!("{:?}", e.kind).to_lowercase(),
            e.detail
        );
    }
    rt.shutdown().await;
    Ok(())
}
