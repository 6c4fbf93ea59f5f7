//! Operator commands for [`workflow_rt`] runs: list, show, history, signal, cancel, terminate,
//! unpark, purge and describe, and for schedules (`schedules list|describe|pause|resume|delete`),
//! as a [`clap`] command set.
//!
//! Mount [`AdminCommand`] in your own binary, where your workflows and activities are
//! registered with the [`Client`] so that states, outputs and activity inputs show as JSON:
//!
//! ```no_run
//! use clap::Parser;
//! use workflow_admin::AdminCommand;
//! use workflow_rt::{Client, SqliteStore};
//!
//! #[derive(Parser)]
//! enum Cli {
//!     /// Run the workers.
//!     Work,
//!     /// Look at and act on runs.
//!     #[command(subcommand)]
//!     Admin(AdminCommand),
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     match Cli::parse() {
//!         Cli::Work => { /* Runtime::builder(..)...build().await? */ }
//!         Cli::Admin(command) => {
//!             let client = Client::new(SqliteStore::open("app.db")?); // .workflow(checkout)...
//!             workflow_admin::run(&client, command, &mut std::io::stdout()).await?;
//!         }
//!     }
//!     Ok(())
//! }
//! ```
//!
//! The `workflow-admin` binary of this crate does what needs no user types on a store URL
//! (`workflow-admin --store sqlite:app.db list --status parked`): everything but the typed
//! state, which shows as "not registered".

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use serde_json::json;
use workflow_rt::store::HistoryEntry;
use workflow_rt::{Client, PendingCommand, RunQuery, RuntimeError, WorkflowState, WorkflowStatus};

pub use clap;
pub use schedules::ScheduleCommand;

mod schedules;

/// The operator's commands. Each prints for people, or JSON with `--json` where it has
/// output.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum AdminCommand {
    /// Lists the runs that pass the filters, a page at a time, by id.
    List(ListArgs),
    /// How many runs there are in each status.
    Counts {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A run: status, the state as JSON, where it waits, its pending commands, and its
    /// workflow's state machine with the current state marked.
    Show {
        /// The run's id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// What happened to a run, oldest first.
    History {
        /// The run's id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sends a signal with a JSON payload, decoded into the type the run waits for (a payload
    /// that does not fit is dead-lettered: see `history`).
    Signal {
        /// The run's id.
        id: String,
        /// The signal's name.
        name: String,
        /// The payload, as JSON (`true`, `42`, `'{"by":"ana"}'`).
        json: String,
    },
    /// Asks a run to cancel: its code is told, may compensate, and has its grace period to
    /// end before it is stopped outright.
    Cancel {
        /// The run's id.
        id: String,
    },
    /// Stops a run outright: its code is not told.
    Terminate {
        /// The run's id.
        id: String,
    },
    /// Puts a parked run back to work (once its cause is fixed).
    Unpark {
        /// The run's id.
        id: String,
    },
    /// Deletes finished runs and all of their data: the runs named, or those that finished
    /// more than an age ago.
    Purge(PurgeArgs),
    /// A run's workflow as a state machine, its current state marked.
    Describe {
        /// The run's id.
        id: String,
        /// As a Mermaid state diagram.
        #[arg(long, conflicts_with = "dot")]
        mermaid: bool,
        /// As a Graphviz DOT graph.
        #[arg(long)]
        dot: bool,
    },
    /// Lists, describes, pauses, resumes and deletes schedules.
    #[command(subcommand)]
    Schedules(ScheduleCommand),
}

/// The filters and page of [`AdminCommand::List`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Args)]
pub struct ListArgs {
    /// Only runs in this status: running, completed, failed, parked, cancelled.
    #[arg(long)]
    pub status: Option<WorkflowStatus>,
    /// Only runs of this workflow.
    #[arg(long)]
    pub workflow: Option<String>,
    /// Only runs whose id starts with this.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Only runs created at or after this time: RFC 3339 (`2026-12-01T10:00:00Z`) or an age
    /// (`2h`, `7d`: that long ago).
    #[arg(long, value_parser = parse_time)]
    pub created_after: Option<u64>,
    /// Only runs created before this time (as `--created-after`).
    #[arg(long, value_parser = parse_time)]
    pub created_before: Option<u64>,
    /// Only runs changed at or after this time (as `--created-after`).
    #[arg(long, value_parser = parse_time)]
    pub updated_after: Option<u64>,
    /// Only runs changed before this time (as `--created-after`).
    #[arg(long, value_parser = parse_time)]
    pub updated_before: Option<u64>,
    /// The most runs to list (at most 1000).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// The page after this cursor (printed at the end of the previous page).
    #[arg(long)]
    pub after: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// What [`AdminCommand::Purge`] deletes.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["ids", "finished_before"]))]
pub struct PurgeArgs {
    /// The runs to delete (each must have finished).
    pub ids: Vec<String>,
    /// Instead: the runs that finished more than this long ago (`30d`, `12h`).
    #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "ids")]
    pub finished_before: Option<Duration>,
    /// With `--finished-before`: the most runs to delete.
    #[arg(long, default_value_t = 1000)]
    pub limit: usize,
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The runtime or the store refused (an unknown run, a run not parked...).
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A schedule command was refused (an unknown schedule...).
    #[error(transparent)]
    Schedule(#[from] workflow_rt::schedule::ScheduleError),
    /// A signal's payload is not JSON.
    #[error("the payload is not JSON: {0}")]
    BadJson(serde_json::Error),
    /// The output could not be written.
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

/// Runs `command` with `client`, writing what it prints to `out`.
pub async fn run(
    client: &Client,
    command: AdminCommand,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    match command {
        AdminCommand::List(args) => list(client, args, out).await,
        AdminCommand::Counts { json } => {
            let counts = client.counts().await?;
            if json {
                let map: serde_json::Map<String, serde_json::Value> = counts
                    .iter()
                    .map(|(s, n)| (s.to_string(), json!(n)))
                    .collect();
                writeln!(out, "{}", serde_json::Value::Object(map))?;
            } else {
                for (status, n) in counts {
                    writeln!(out, "{status:<10} {n}")?;
                }
            }
            Ok(())
        }
        AdminCommand::Show { id, json } => show(client, &id, json, out).await,
        AdminCommand::History { id, json } => {
            let history = client.history(&id).await?;
            if json {
                let entries: Vec<serde_json::Value> = history.iter().map(entry_json).collect();
                writeln!(out, "{}", serde_json::Value::Array(entries))?;
            } else {
                for e in &history {
                    write_entry(out, e)?;
                }
            }
            Ok(())
        }
        AdminCommand::Signal { id, name, json } => {
            let payload: serde_json::Value =
                serde_json::from_str(&json).map_err(AdminError::BadJson)?;
            client.signal_json(&id, &name, &payload).await?;
            writeln!(out, "sent signal {name:?} to {id}")?;
            Ok(())
        }
        AdminCommand::Cancel { id } => {
            client.cancel(&id).await?;
            writeln!(out, "cancel requested for {id}")?;
            Ok(())
        }
        AdminCommand::Terminate { id } => {
            client.terminate(&id).await?;
            writeln!(out, "terminated {id}")?;
            Ok(())
        }
        AdminCommand::Unpark { id } => {
            client.unpark(&id).await?;
            writeln!(out, "unparked {id}")?;
            Ok(())
        }
        AdminCommand::Purge(args) => {
            if let Some(age) = args.finished_before {
                let ids = client.purge_finished(age, args.limit).await?;
                writeln!(out, "purged {} runs", ids.len())?;
                for id in ids {
                    writeln!(out, "  {id}")?;
                }
            } else {
                for id in &args.ids {
                    client.purge(id).await?;
                    writeln!(out, "purged {id}")?;
                }
            }
            Ok(())
        }
        AdminCommand::Schedules(command) => schedules::run(client, command, out).await,
        AdminCommand::Describe { id, mermaid, dot } => {
            let Some(description) = client.describe(&id).await? else {
                let state = client.state(&id).await?;
                return Err(RuntimeError::NotRegistered { name: state.name }.into());
            };
            let current = client.state(&id).await?.current_state;
            let current = current.as_deref();
            let text = if mermaid {
                description.to_mermaid_at(current)
            } else if dot {
                description.to_dot_at(current)
            } else {
                description.to_text_at(current)
            };
            write!(out, "{text}")?;
            Ok(())
        }
    }
}

async fn list(client: &Client, args: ListArgs, out: &mut dyn Write) -> Result<(), AdminError> {
    let query = RunQuery {
        status: args.status,
        name: args.workflow,
        id_prefix: args.prefix,
        created_from_ms: args.created_after,
        created_before_ms: args.created_before,
        updated_from_ms: args.updated_after,
        updated_before_ms: args.updated_before,
        after: args.after,
        limit: args.limit.clamp(1, RunQuery::MAX_LIMIT),
    };
    let page = client.list(query).await?;
    if args.json {
        let runs: Vec<serde_json::Value> = page
            .runs
            .iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "workflow": r.name,
                    "status": r.status.to_string(),
                    "park_reason": r.park_reason,
                    "created_at": time(r.created_at_ms),
                    "updated_at": time(r.updated_at_ms),
                })
            })
            .collect();
        writeln!(out, "{}", json!({ "runs": runs, "next": page.next }))?;
        return Ok(());
    }
    let id_width = page
        .runs
        .iter()
        .map(|r| r.id.len())
        .max()
        .unwrap_or(2)
        .max(2);
    let name_width = page
        .runs
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(8)
        .max(8);
    writeln!(
        out,
        "{:<id_width$}  {:<name_width$}  {:<9}  UPDATED",
        "ID", "WORKFLOW", "STATUS"
    )?;
    for r in &page.runs {
        writeln!(
            out,
            "{:<id_width$}  {:<name_width$}  {:<9}  {}",
            r.id,
            r.name,
            r.status.to_string(),
            time(r.updated_at_ms)
        )?;
        if let Some(reason) = &r.park_reason {
            writeln!(out, "{:id_width$}  parked: {reason}", "")?;
        }
    }
    match &page.next {
        Some(cursor) => writeln!(out, "more: --after {cursor}")?,
        None => writeln!(out, "({} runs)", page.runs.len())?,
    }
    Ok(())
}

async fn show(
    client: &Client,
    id: &str,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let state = client.state(id).await?;
    let description = client.describe(id).await?;
    if json {
        let mut v = serde_json::to_value(&state).unwrap_or_default();
        if let Some(d) = description {
            v["description"] = json!(d.to_text_at(state.current_state.as_deref()));
        }
        writeln!(out, "{v:#}")?;
        return Ok(());
    }
    write_state(out, &state)?;
    if let Some(d) = description {
        writeln!(out, "state machine:")?;
        // The states and transitions; `describe` prints the saved layout too.
        let text = d.to_text_at(state.current_state.as_deref());
        let mut in_layout = false;
        for line in text.lines() {
            if line.starts_with("  saved as:") || line.starts_with("  transitions:") {
                in_layout = line.starts_with("  saved as:");
            }
            if !in_layout {
                writeln!(out, "  {line}")?;
            }
        }
        if let Some(await_desc) = state
            .current_state
            .as_deref()
            .and_then(|c| d.states.iter().find(|s| s.name == c))
            .and_then(|s| s.awaits)
        {
            writeln!(
                out,
                "waits at line {}: {}",
                await_desc.line, await_desc.operation
            )?;
        }
    }
    Ok(())
}

fn write_state(out: &mut dyn Write, s: &WorkflowState) -> std::io::Result<()> {
    writeln!(out, "id:       {}", s.id)?;
    match s.workflow_version {
        Some(v) => writeln!(out, "workflow: {} v{v}", s.name)?,
        None => writeln!(out, "workflow: {}", s.name)?,
    }
    writeln!(out, "status:   {}", s.status)?;
    if let Some(reason) = &s.park_reason {
        writeln!(out, "parked:   {reason}")?;
    }
    writeln!(out, "step:     {} (version {})", s.step, s.version)?;
    writeln!(out, "created:  {}", time(s.created_at_ms))?;
    writeln!(out, "updated:  {}", time(s.updated_at_ms))?;
    if let Some(current) = &s.current_state {
        writeln!(out, "in state: {current}")?;
    }
    if !s.commands.is_empty() {
        writeln!(out, "pending:")?;
        for c in &s.commands {
            match c {
                PendingCommand::Activity {
                    seq,
                    name,
                    input,
                    input_bytes,
                    attempt,
                    lease_owner,
                    not_before_ms,
                } => {
                    let input = match input {
                        Some(v) => v.to_string(),
                        None => format!("<{input_bytes} bytes>"),
                    };
                    write!(out, "  activity {name}#{seq} {input}, attempt {attempt}")?;
                    if let Some(owner) = lease_owner {
                        write!(out, ", running on {owner}")?;
                    } else if let Some(at) = not_before_ms.filter(|&t| t > s.updated_at_ms) {
                        write!(out, ", next attempt at {}", time(at))?;
                    }
                    writeln!(out)?;
                }
                PendingCommand::Timer { seq, fire_at_ms } if *fire_at_ms >= i64::MAX as u64 => {
                    writeln!(out, "  timer#{seq} never fires")?
                }
                PendingCommand::Timer { seq, fire_at_ms } => {
                    writeln!(out, "  timer#{seq} fires at {}", time(*fire_at_ms))?
                }
                PendingCommand::Signal { seq, name } => writeln!(out, "  signal {name:?}#{seq}")?,
                PendingCommand::Child {
                    seq,
                    name,
                    id,
                    close,
                } => writeln!(
                    out,
                    "  child {name}#{seq} run {id} (parent close: {close:?})"
                )?,
                PendingCommand::Promise { seq } => {
                    writeln!(out, "  promise#{seq} (completed by its token)")?
                }
            }
        }
    }
    match (&s.state, &s.state_error) {
        (Some(state), _) => writeln!(out, "state:\n{}", indent(&format!("{state:#}")))?,
        (None, Some(why)) => writeln!(out, "state:    not shown: {why}")?,
        (None, None) => {}
    }
    if let Some(output) = &s.output {
        writeln!(out, "output:\n{}", indent(&format!("{output:#}")))?;
    }
    Ok(())
}

fn write_entry(out: &mut dyn Write, e: &HistoryEntry) -> std::io::Result<()> {
    let mut lines = e.detail.lines();
    writeln!(
        out,
        "{}  {:<11} {}",
        time(e.at_ms),
        e.kind.as_str(),
        lines.next().unwrap_or("")
    )?;
    for line in lines {
        writeln!(out, "{:37}{line}", "")?;
    }
    Ok(())
}

fn entry_json(e: &HistoryEntry) -> serde_json::Value {
    json!({ "at": time(e.at_ms), "at_ms": e.at_ms, "kind": e.kind.as_str(), "detail": e.detail })
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Milliseconds since the Unix epoch as RFC 3339, in UTC, to the millisecond; `never` from
/// `i64::MAX` on (a wait without end, as `WorkflowCtx::cancellation` stores its timer), and the
/// milliseconds themselves past the year 9999, which RFC 3339 cannot write.
pub fn time(ms: u64) -> String {
    /// 9999-12-31T23:59:59.999Z.
    const LAST_WRITABLE_MS: u64 = 253_402_300_799_999;
    if ms >= i64::MAX as u64 {
        "never".to_string()
    } else if ms > LAST_WRITABLE_MS {
        format!("{ms} ms after the Unix epoch (past the year 9999)")
    } else {
        humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
    }
}

/// A time given on the command line: RFC 3339 (`2026-12-01T10:00:00Z`, or without the zone,
/// taken as UTC) or an age (`90m`, `2h`, `7d`: that long before now), as milliseconds since the
/// Unix epoch.
pub fn parse_time(s: &str) -> Result<u64, String> {
    let at = match humantime::parse_duration(s) {
        Ok(age) => SystemTime::now()
            .checked_sub(age)
            .ok_or_else(|| format!("{s:?} is before the Unix epoch"))?,
        Err(_) => humantime::parse_rfc3339_weak(s).map_err(|e| {
            format!("{s:?} is neither an RFC 3339 time nor an age such as 2h or 7d: {e}")
        })?,
    };
    let ms = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| format!("{s:?} is before the Unix epoch"))?
        .as_millis();
    u64::try_from(ms).map_err(|_| format!("{s:?} is too far in the future"))
}
