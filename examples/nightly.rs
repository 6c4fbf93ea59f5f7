//! Schedules: `cargo run --example nightly`.
//!
//! Creates a nightly report schedule (02:00 in Paris) on a SQLite file and prints its next fire
//! times and the ids their runs will have; then, to show runs starting without waiting for
//! the night, a schedule every second that starts three runs in about three seconds, which
//! the program waits for, prints, and deletes. The file is in a temporary directory (the same
//! code on `SqliteStore::open("workflows.db")` keeps the schedules across restarts).

use std::time::Duration;

use workflow_rt::prelude::*;
use workflow_rt::schedule::{Overlap, ScheduleSpec, run_id};
use workflow_rt::{Client, RunQuery, WorkflowStatus};

#[activity]
pub async fn build_report(_ctx: ActivityCtx, team: String) -> Result<String, ActivityError> {
    Ok(format!("report for {team}"))
}

/// One report; the schedule gives each run its own id (`nightly@<fire time>`).
#[workflow]
pub async fn nightly_report(ctx: WorkflowCtx, team: String) -> Result<String, WorkflowError> {
    let report = ctx.activity(build_report, team).await?;
    Ok(report)
}

/// What the demo saw: the nightly schedule's next run ids, and the runs of the one-second
/// schedule with their outputs.
#[derive(Debug)]
pub struct Demo {
    /// The ids of the nightly schedule's next five runs.
    pub nightly: Vec<String>,
    /// The first runs of the one-second schedule, with their outputs.
    pub heartbeat: Vec<(String, String)>,
}

/// Creates both schedules on `rt`'s store, waits for three runs of the one-second one, then
/// deletes it.
pub async fn demo(rt: &Runtime) -> Result<Demo, Box<dyn std::error::Error>> {
    let client: Client = rt.client();
    let nightly = client
        .schedule(
            "nightly",
            ScheduleSpec::cron("0 2 * * *").in_zone("Europe/Paris"),
            nightly_report,
            "ops".to_string(),
        )
        .overlap(Overlap::Skip)
        .catch_up(Duration::from_secs(6 * 3600))
        .await?;
    let nightly: Vec<String> = nightly
        .next_fire_times_ms
        .iter()
        .map(|&t| run_id("nightly", t))
        .collect();

    client
        .schedule(
            "heartbeat",
            // Anchored at the Unix epoch: on whole seconds.
            ScheduleSpec::every(Duration::from_secs(1)).anchored_at_ms(0),
            nightly_report,
            "on-call".to_string(),
        )
        .await?;
    let mut heartbeat = Vec::new();
    for _ in 0..200 {
        let page = client
            .list(RunQuery::new().id_prefix("heartbeat@").limit(3))
            .await?;
        if page.runs.len() == 3
            && page
                .runs
                .iter()
                .all(|r| r.status == WorkflowStatus::Completed)
        {
            for r in page.runs {
                let out = rt.handle(nightly_report, r.id.clone()).result().await??;
                heartbeat.push((r.id, out));
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    client.delete_schedule("heartbeat").await?;
    Ok(Demo { nightly, heartbeat })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let rt = Runtime::builder(SqliteStore::open(dir.path().join("workflows.db"))?)
        .workflow(nightly_report)
        .activity(build_report)
        .poll_interval(Duration::from_millis(50))
        .build()
        .await?;
    let demo = demo(&rt).await?;
    println!("nightly at 02:00 in Europe/Paris, the next runs:");
    for id in &demo.nightly {
        println!("  {id}");
    }
    println!("every second, the first runs:");
    for (id, out) in &demo.heartbeat {
        println!("  {id}: {out}");
    }
    for info in rt.client().list_schedules().await? {
        println!(
            "schedule {}: {}, {} runs started so far",
            info.name, info.spec, info.started
        );
    }
    rt.shutdown().await;
    Ok(())
}
