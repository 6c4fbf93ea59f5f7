//! `schedules list|describe|pause|resume|delete|trigger|backfill|update`: the operator's
//! commands on schedules.

use std::io::Write;

use clap::Subcommand;
use serde_json::json;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use workflow_rt::Client;
use workflow_rt::schedule::{Overlap, ScheduleInfo, ScheduleSpec, ScheduleUpdate, Triggered};

use crate::{AdminError, time};

/// The commands on schedules ([`workflow_rt::schedule`]).
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum ScheduleCommand {
    /// Lists the schedules, by name: spec, overlap policy, next fire time, last run, counts.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A schedule in full, with its next five fire times.
    Describe {
        /// The schedule's name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Pauses a schedule: it starts nothing until resumed.
    Pause {
        /// The schedule's name.
        name: String,
    },
    /// Resumes a schedule from its next fire time after now (the fire times of the pause are
    /// not caught up).
    Resume {
        /// The schedule's name.
        name: String,
    },
    /// Deletes a schedule; the runs it started are left as they are.
    Delete {
        /// The schedule's name.
        name: String,
    },
    /// Starts a run of a schedule now, paused or not; its overlap policy decides as for a
    /// fire time (skip, or keep it, while its last run has not finished).
    Trigger {
        /// The schedule's name.
        name: String,
    },
    /// Starts the runs of a schedule's fire times in a range (after `--after`, up to
    /// `--until`), whatever its overlap policy; fire times that have their runs keep them.
    Backfill {
        /// The schedule's name.
        name: String,
        /// The range's start, not included: RFC 3339, or an age such as 7d.
        #[arg(long, value_parser = crate::parse_time)]
        after: u64,
        /// The range's end, included: RFC 3339, or an age such as 1h (now if not given).
        #[arg(long, value_parser = crate::parse_time)]
        until: Option<u64>,
    },
    /// Changes a schedule's spec, overlap policy, catch-up window or its runs' timeout; the
    /// rest stays.
    #[command(group(
        clap::ArgGroup::new("change")
            .required(true)
            .multiple(true)
            .args(["cron", "every", "zone", "overlap", "catch_up", "run_timeout", "no_run_timeout"])
    ))]
    Update {
        /// The schedule's name.
        name: String,
        /// A new cron expression (five fields, or six with seconds).
        #[arg(long, conflicts_with = "every")]
        cron: Option<String>,
        /// A new interval (`15m`, `1h`), anchored at now.
        #[arg(long, value_parser = humantime::parse_duration)]
        every: Option<std::time::Duration>,
        /// The IANA time zone of the spec (`Europe/Paris`); alone, it moves the current spec.
        #[arg(long)]
        zone: Option<String>,
        /// A new overlap policy: skip, buffer-one or allow.
        #[arg(long, value_parser = parse_overlap)]
        overlap: Option<Overlap>,
        /// A new catch-up window (`10m`, `6h`).
        #[arg(long, value_parser = humantime::parse_duration)]
        catch_up: Option<std::time::Duration>,
        /// A new execution timeout for the runs it starts from now on (`30m`, `2h`).
        #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "no_run_timeout")]
        run_timeout: Option<std::time::Duration>,
        /// No execution timeout for the runs it starts from now on.
        #[arg(long)]
        no_run_timeout: bool,
    },
}

/// An overlap policy by the name it is shown with.
fn parse_overlap(s: &str) -> Result<Overlap, String> {
    Overlap::ALL
        .into_iter()
        .find(|o| o.to_string() == s)
        .ok_or_else(|| {
            let names: Vec<String> = Overlap::ALL.iter().map(|o| o.to_string()).collect();
            format!("{s:?} is not an overlap policy: {}", names.join(", "))
        })
}

pub(crate) async fn run(
    client: &Client,
    command: ScheduleCommand,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    match command {
        ScheduleCommand::List { json } => {
            let all = client.list_schedules().await?;
            if json {
                let v: Vec<serde_json::Value> = all.iter().map(info_json).collect();
                writeln!(out, "{}", serde_json::Value::Array(v))?;
                return Ok(());
            }
            let width = all.iter().map(|s| s.name.len()).max().unwrap_or(4).max(4);
            writeln!(
                out,
                "{:<width$}  {:<8}  {:<10}  {:<24}  LAST RUN",
                "NAME", "STATE", "OVERLAP", "NEXT FIRE"
            )?;
            for s in &all {
                let next = s
                    .next_fire_times_ms
                    .first()
                    .map_or_else(|| "-".to_string(), |&t| time(t));
                writeln!(
                    out,
                    "{:<width$}  {:<8}  {:<10}  {:<24}  {}",
                    s.name,
                    if s.paused { "paused" } else { "active" },
                    s.overlap.to_string(),
                    next,
                    s.last_run_id.as_deref().unwrap_or("-")
                )?;
                writeln!(
                    out,
                    "{:width$}  {} -> {}; {} started, {} skipped, {} missed",
                    "", s.spec, s.workflow, s.started, s.skipped, s.missed
                )?;
            }
            writeln!(out, "({} schedules)", all.len())?;
            Ok(())
        }
        ScheduleCommand::Describe { name, json } => {
            let s = client.describe_schedule(&name).await?;
            if json {
                writeln!(out, "{:#}", info_json(&s))?;
                return Ok(());
            }
            writeln!(out, "name:      {}", s.name)?;
            match s.workflow_version {
                Some(v) => writeln!(out, "workflow:  {} v{v}", s.workflow)?,
                None => writeln!(out, "workflow:  {} (newest version)", s.workflow)?,
            }
            writeln!(out, "spec:      {}", s.spec)?;
            writeln!(out, "overlap:   {}", s.overlap)?;
            writeln!(out, "catch-up:  {}", humantime::format_duration(s.catch_up))?;
            match s.run_timeout {
                Some(t) => writeln!(
                    out,
                    "timeout:   {} (each run's)",
                    humantime::format_duration(t)
                )?,
                None => writeln!(out, "timeout:   none")?,
            }
            writeln!(out, "paused:    {}", s.paused)?;
            if let Some(note) = &s.note {
                writeln!(out, "note:      {note}")?;
            }
            writeln!(
                out,
                "last run:  {}",
                s.last_run_id.as_deref().unwrap_or("-")
            )?;
            if let Some(b) = s.buffered_ms {
                writeln!(out, "buffered:  {}", time(b))?;
            }
            writeln!(
                out,
                "counts:    {} started, {} skipped, {} missed",
                s.started, s.skipped, s.missed
            )?;
            writeln!(out, "next fire times:")?;
            for &t in &s.next_fire_times_ms {
                writeln!(out, "  {}", time(t))?;
            }
            Ok(())
        }
        ScheduleCommand::Pause { name } => {
            client.pause_schedule(&name).await?;
            writeln!(out, "paused schedule {name}")?;
            Ok(())
        }
        ScheduleCommand::Resume { name } => {
            client.resume_schedule(&name).await?;
            writeln!(out, "resumed schedule {name}")?;
            Ok(())
        }
        ScheduleCommand::Delete { name } => {
            client.delete_schedule(&name).await?;
            writeln!(out, "deleted schedule {name}")?;
            Ok(())
        }
        ScheduleCommand::Trigger { name } => {
            match client.trigger_schedule(&name).await? {
                Triggered::Started { run_id } => {
                    writeln!(out, "triggered schedule {name}: run {run_id}")?
                }
                Triggered::Buffered { run_id } => writeln!(
                    out,
                    "triggered schedule {name}: its last run has not finished; run {run_id} \
                     starts when it does (overlap buffer-one)"
                )?,
                Triggered::Skipped => writeln!(
                    out,
                    "triggered schedule {name}: its last run has not finished, so nothing \
                     started (overlap skip)"
                )?,
            }
            Ok(())
        }
        ScheduleCommand::Backfill { name, after, until } => {
            let at = |ms: u64| UNIX_EPOCH + Duration::from_millis(ms);
            let until = until.map_or_else(SystemTime::now, at);
            let ids = client.backfill_schedule(&name, at(after), until).await?;
            for id in &ids {
                writeln!(out, "{id}")?;
            }
            let runs = if ids.len() == 1 { "run" } else { "runs" };
            writeln!(out, "({} {runs} for schedule {name})", ids.len())?;
            Ok(())
        }
        ScheduleCommand::Update {
            name,
            cron,
            every,
            zone,
            overlap,
            catch_up,
            run_timeout,
            no_run_timeout,
        } => {
            let mut update = ScheduleUpdate::new();
            let spec = match (cron, every) {
                (Some(cron), _) => Some(ScheduleSpec::cron(cron)),
                (None, Some(every)) => Some(ScheduleSpec::every(every)),
                // A zone alone moves the spec the schedule has.
                (None, None) if zone.is_some() => Some(client.describe_schedule(&name).await?.spec),
                (None, None) => None,
            };
            if let Some(spec) = spec {
                let spec = match zone {
                    Some(zone) => spec.in_zone(zone),
                    None => spec,
                };
                update = update.spec(spec);
            }
            if let Some(overlap) = overlap {
                update = update.overlap(overlap);
            }
            if let Some(window) = catch_up {
                update = update.catch_up(window);
            }
            if run_timeout.is_some() || no_run_timeout {
                update = update.run_timeout(run_timeout);
            }
            let s = client.update_schedule(&name, update).await?;
            writeln!(out, "updated schedule {name}: {} ({})", s.spec, s.overlap)?;
            Ok(())
        }
    }
}

fn info_json(s: &ScheduleInfo) -> serde_json::Value {
    json!({
        "name": s.name,
        "workflow": s.workflow,
        "workflow_version": s.workflow_version,
        "spec": s.spec.to_string(),
        "cron": s.spec.cron_expression(),
        "every_ms": s.spec.interval().map(|d| d.as_millis() as u64),
        "zone": s.spec.zone(),
        "overlap": s.overlap.to_string(),
        "catch_up_ms": s.catch_up.as_millis() as u64,
        "run_timeout_ms": s.run_timeout.map(|t| t.as_millis() as u64),
        "paused": s.paused,
        "note": s.note,
        "next_fire_times": s.next_fire_times_ms.iter().map(|&t| time(t)).collect::<Vec<_>>(),
        "last_run_id": s.last_run_id,
        "buffered": s.buffered_ms.map(time),
        "started": s.started,
        "skipped": s.skipped,
        "missed": s.missed,
        "created_at": time(s.created_at_ms),
        "updated_at": time(s.updated_at_ms),
    })
}
