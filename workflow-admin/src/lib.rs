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
        /// The payload, as JSON (`true`, `42`, `-5`, `'{"by":"ana"}'`).
        #[arg(allow_hyphen_values = true)]
        json: String,
    },
    /// Sends an update with a JSON payload (the run receives it as `Update<T>`) and prints
    /// the run's reply, as JSON.
    Update {
        /// The run's id.
        id: String,
        /// The update's (signal's) name.
        name: String,
        /// The payload, as JSON.
        #[arg(allow_hyphen_values = true)]
        json: String,
        /// The update's id: a command repeated with it gets the first reply (a random one if
        /// not given).
        #[arg(long = "id")]
        update_id: Option<String>,
        /// How long to wait for the reply (`30s`, `5m`).
        #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
        timeout: std::time::Duration,
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
    /// Lists, describes, pauses, resumes, deletes, triggers, backfills and updates schedules.
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
    /// With `--finished-before`: the most runs to delete (1000 if not given).
    #[arg(long, conflicts_with = "ids")]
    pub limit: Option<usize>,
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
    /// An update got no reply ([`workflow_rt::UpdateError`]).
    #[error(transparent)]
    Update(#[from] workflow_rt::UpdateError),
    /// The output could not be written.
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

/// Runs `command` with `client`, writing what it prints to `out`, with the control characters
/// among it shown as escapes (see [`Shown`]).
pub async fn run(
    client: &Client,
    command: AdminCommand,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let mut shown = Shown::new(out);
    let done = run_on(client, command, &mut shown).await;
    shown.flush()?;
    done
}

async fn run_on(
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
                    writeln!(out, "{:<10} {n}", status.to_string())?;
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
        AdminCommand::Update {
            id,
            name,
            json,
            update_id,
            timeout,
        } => {
            let payload: serde_json::Value =
                serde_json::from_str(&json).map_err(AdminError::BadJson)?;
            let reply = client
                .update_json(&id, &name, update_id.as_deref(), &payload, timeout)
                .await?;
            writeln!(out, "{reply}")?;
            Ok(())
        }
        AdminCommand::Cancel { id } => {
            // A parked run, or one that has not started, is stopped at once, its code not told:
            // said so.
            let at_once = client
                .state(&id)
                .await
                .ok()
                .and_then(|s| stopped_at_once(&s));
            client.cancel(&id).await?;
            match at_once {
                Some(why) => writeln!(
                    out,
                    "terminated {id}: {why}, so it was stopped at once (its code was not told)"
                )?,
                None => writeln!(out, "cancel requested for {id}")?,
            }
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
                let limit = args.limit.unwrap_or(1000);
                let ids = client.purge_finished(age, limit).await?;
                writeln!(out, "purged {} runs", ids.len())?;
                let full = limit > 0 && ids.len() >= limit;
                for id in ids {
                    writeln!(out, "  {id}")?;
                }
                if full {
                    // There may be more: say so, rather than let the count read as all.
                    writeln!(
                        out,
                        "(the limit of {limit}: there may be more; run it again)"
                    )?;
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
        Some(cursor) => writeln!(out, "more: --after {}", shell_word(cursor))?,
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
    if let Some(t) = s.timeout_at_ms {
        writeln!(out, "timeout:  {}", time(t))?;
    }
    if let Some(current) = &s.current_state {
        writeln!(out, "in state: {current}")?;
    }
    if !s.published.is_empty() {
        writeln!(out, "published:")?;
        for (key, value) in &s.published {
            // A key is any text: its control characters are shown escaped.
            writeln!(out, "  {} = {value}", key.escape_debug())?;
        }
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
                    parked,
                } => {
                    writeln!(
                        out,
                        "  child {name}#{seq} run {id} (parent close: {close:?})"
                    )?;
                    if let Some(reason) = parked {
                        writeln!(out, "    parked: {reason}")?
                    }
                }
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
    let head = format!("{}  {:<11} ", time(e.at_ms), e.kind.as_str());
    writeln!(out, "{head}{}", lines.next().unwrap_or(""))?;
    // The detail's next lines under its first.
    let width = head.chars().count();
    for line in lines {
        writeln!(out, "{:width$}{line}", "")?;
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

/// A time given on the command line: RFC 3339 (`2026-12-01T10:00:00Z`,
/// `2026-12-01T11:00:00.5+01:00`, or without the zone, taken as UTC) or an age (`90m`, `2h`,
/// `7d`: that long before now), as milliseconds since the Unix epoch.
pub fn parse_time(s: &str) -> Result<u64, String> {
    let at = match humantime::parse_duration(s) {
        Ok(age) => SystemTime::now()
            .checked_sub(age)
            .ok_or_else(|| format!("{s:?} is before the Unix epoch"))?,
        Err(_) => {
            // `humantime` reads UTC alone (and would take `+05:00` after a fraction for
            // UTC): the offset is split off here and applied.
            let (local, east) = split_offset(s)?;
            let at = humantime::parse_rfc3339_weak(local).map_err(|e| {
                format!("{s:?} is neither an RFC 3339 time nor an age such as 2h or 7d: {e}")
            })?;
            let shift = Duration::from_secs(east.unsigned_abs());
            if east >= 0 {
                at.checked_sub(shift)
            } else {
                at.checked_add(shift)
            }
            .ok_or_else(|| format!("{s:?} is out of range"))?
        }
    };
    let ms = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| format!("{s:?} is before the Unix epoch"))?
        .as_millis();
    u64::try_from(ms).map_err(|_| format!("{s:?} is too far in the future"))
}

/// `s` without its UTC offset (`+05:00`, `-03:30`; `Z` and no zone are left to the parser),
/// and the offset in seconds east of UTC.
fn split_offset(s: &str) -> Result<(&str, i64), String> {
    let b = s.as_bytes();
    let n = b.len();
    // A date and a time (`2026-12-01T10:00:00`) before the offset at least.
    if n < 25 || !matches!(b[n - 6], b'+' | b'-') || b[n - 3] != b':' {
        return Ok((s, 0));
    }
    let digits = |i: usize| -> Option<i64> {
        let (h, l) = (b[i], b[i + 1]);
        (h.is_ascii_digit() && l.is_ascii_digit()).then(|| i64::from((h - b'0') * 10 + (l - b'0')))
    };
    let (Some(hours), Some(minutes)) = (digits(n - 5), digits(n - 2)) else {
        return Ok((s, 0));
    };
    if hours > 23 || minutes > 59 {
        return Err(format!(
            "{s:?} has no valid UTC offset (+HH:MM, HH up to 23)"
        ));
    }
    let east = (hours * 60 + minutes) * 60;
    Ok((&s[..n - 6], if b[n - 6] == b'-' { -east } else { east }))
}

/// Why a cancel of a run in state `s` stops it at once rather than ask its code (see
/// [`Client::cancel`]): it is parked, or it has not taken its first step.
pub fn stopped_at_once(s: &WorkflowState) -> Option<&'static str> {
    match s.status {
        WorkflowStatus::Parked => Some("it was parked"),
        WorkflowStatus::Running if s.step == 0 => Some("it had not started"),
        _ => None,
    }
}

/// `s` as one word of a POSIX shell: as it is when it holds nothing a shell reads otherwise,
/// in single quotes otherwise (a run's id may hold spaces or `;`).
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.:/@%+=,".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A writer that shows the control characters a terminal acts on as escapes (`\u001b`), all
/// but newline and tab: ids, names, reasons and history details come from the runs, and an
/// escape sequence among them (a title, a clipboard write, a line rewritten with `\r`) would
/// act on the operator's terminal. DEL and the C1 controls (U+0080 to U+009F) are shown too.
/// The escapes are JSON's: in JSON output, where `serde_json` escapes the others already, DEL
/// and C1 become escapes of the same characters, and the JSON stays valid.
pub struct Shown<'a> {
    out: &'a mut dyn Write,
    /// The first byte of a two-byte UTF-8 sequence that ended the last write (`0xC2`).
    lead: bool,
}

impl<'a> Shown<'a> {
    /// Writes to `out`.
    pub fn new(out: &'a mut dyn Write) -> Self {
        Shown { out, lead: false }
    }
}

impl Write for Shown<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut from = 0;
        for (i, &b) in buf.iter().enumerate() {
            let shown = if std::mem::take(&mut self.lead) {
                if (0x80..=0x9f).contains(&b) {
                    Some(u32::from(b))
                } else {
                    // Not a C1 control: the held lead byte goes out before this one.
                    self.out.write_all(&[0xc2])?;
                    from = i;
                    None
                }
            } else {
                None
            };
            if let Some(c) = shown {
                write!(self.out, "\\u{c:04x}")?;
                from = i + 1;
                continue;
            }
            if b == 0xc2 {
                self.out.write_all(&buf[from..i])?;
                self.lead = true;
                from = i + 1;
            } else if (b < 0x20 && b != b'\n' && b != b'\t') || b == 0x7f {
                self.out.write_all(&buf[from..i])?;
                write!(self.out, "\\u{b:04x}")?;
                from = i + 1;
            }
        }
        self.out.write_all(&buf[from..])?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if std::mem::take(&mut self.lead) {
            self.out.write_all(&[0xc2])?;
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use workflow_rt::store::HistoryKind;

    #[test]
    fn times_with_utc_offsets_are_read_at_their_offset() {
        let at = |s: &str| parse_time(s).unwrap_or_else(|e| panic!("{e}"));
        let utc = at("2026-12-01T05:00:00.500Z");
        assert_eq!(at("2026-12-01T10:00:00.5+05:00"), utc);
        assert_eq!(at("2026-12-01T01:30:00.5-03:30"), utc);
        assert_eq!(at("2026-12-01T05:00:00.5+00:00"), utc);
        assert_eq!(at("2026-12-01T06:00:00+01:00"), at("2026-12-01T05:00:00Z"));
        assert_eq!(at("2026-12-01 05:00:00"), at("2026-12-01T05:00:00Z"));
        let refused = parse_time("2026-12-01T05:00:00+25:00").expect_err("no such offset");
        assert!(refused.contains("UTC offset"), "{refused}");
        assert!(
            parse_time("2026-12-01").is_err(),
            "a date alone is not a time"
        );
    }

    #[test]
    fn control_characters_are_shown_as_escapes() {
        let mut out = Vec::new();
        {
            let mut shown = Shown::new(&mut out);
            // A title set, a bell, a line rewritten, then a C1 control (CSI, U+009B) and a
            // no-break space (U+00A0), each split across two writes.
            shown
                .write_all("a\x1b]0;pwned\x07b\rc\t\u{e9}d".as_bytes())
                .unwrap();
            shown.write_all(&[0xc2]).unwrap();
            shown.write_all(&[0x9b, b'2', b'J', b'\n', 0xc2]).unwrap();
            shown.write_all(&[0xa0]).unwrap();
            shown.flush().unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a\\u001b]0;pwned\\u0007b\\u000dc\t\u{e9}d\\u009b2J\n\u{a0}"
        );
    }

    #[test]
    fn cursors_are_printed_as_one_shell_word() {
        assert_eq!(shell_word("order-7"), "order-7");
        assert_eq!(shell_word("order 7;rm"), "'order 7;rm'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn a_detail_of_many_lines_keeps_its_column() {
        let mut out = Vec::new();
        write_entry(
            &mut out,
            &HistoryEntry::new(0, HistoryKind::Failed, "first line\nsecond line"),
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0].find("first"), lines[1].find("second"), "{text}");
    }
}
