//! `schedules list|describe|pause|resume|delete`, run through `workflow_admin::run` on a client.

use std::time::Duration;

use clap::Parser;
use workflow_admin::AdminCommand;
use workflow_rt::prelude::*;
use workflow_rt::schedule::{Overlap, ScheduleError, ScheduleSpec};
use workflow_rt::{Client, MemoryStore, VirtualClock};

#[workflow]
async fn report(_ctx: WorkflowCtx, team: String) -> String {
    team
}

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: AdminCommand,
}

async fn admin(client: &Client, args: &[&str]) -> Result<String, workflow_admin::AdminError> {
    let cli = Cli::try_parse_from(std::iter::once("admin").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?} parses: {e}"));
    let mut out = Vec::new();
    workflow_admin::run(client, cli.command, &mut out).await?;
    Ok(String::from_utf8(out).expect("utf-8"))
}

#[tokio::test]
async fn schedule_commands() {
    // 2024-01-01T00:00:00Z
    let client = Client::new(MemoryStore::new()).clock(VirtualClock::new(1_704_067_200_000));
    client
        .schedule(
            "nightly",
            ScheduleSpec::cron("0 2 * * *").in_zone("Europe/Paris"),
            report,
            "ops".to_string(),
        )
        .catch_up(Duration::from_secs(3600))
        .run_timeout(Duration::from_secs(1800))
        .await
        .expect("create");
    client
        .schedule(
            "sync",
            ScheduleSpec::every(Duration::from_secs(90)),
            report,
            "data".to_string(),
        )
        .overlap(Overlap::Allow)
        .await
        .expect("create");

    let list = admin(&client, &["schedules", "list"]).await.expect("list");
    assert!(list.starts_with("NAME "), "{list}");
    assert!(
        list.contains("nightly") && list.contains("2024-01-01T01:00:00.000Z"),
        "{list}"
    );
    assert!(
        list.contains("cron \"0 2 * * *\" in Europe/Paris -> report"),
        "{list}"
    );
    assert!(list.contains("sync") && list.contains("allow"), "{list}");
    assert!(list.ends_with("(2 schedules)\n"), "{list}");

    let json = admin(&client, &["schedules", "list", "--json"])
        .await
        .expect("list");
    let json: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(json[0]["name"], "nightly");
    assert_eq!(json[0]["zone"], "Europe/Paris");
    assert_eq!(json[0]["catch_up_ms"], 3_600_000);
    assert_eq!(json[0]["run_timeout_ms"], 1_800_000);
    assert_eq!(json[1]["run_timeout_ms"], serde_json::Value::Null);
    assert_eq!(json[1]["every_ms"], 90_000);
    assert_eq!(json[1]["next_fire_times"][0], "2024-01-01T00:01:30.000Z");

    let shown = admin(&client, &["schedules", "describe", "nightly"])
        .await
        .expect("describe");
    assert!(shown.contains("overlap:   skip"), "{shown}");
    assert!(shown.contains("catch-up:  1h"), "{shown}");
    assert!(shown.contains("timeout:   30m (each run's)"), "{shown}");
    for day in 1..=5 {
        assert!(
            shown.contains(&format!("2024-01-0{day}T01:00:00.000Z")),
            "{shown}"
        );
    }

    assert_eq!(
        admin(&client, &["schedules", "pause", "nightly"])
            .await
            .expect("pause"),
        "paused schedule nightly\n"
    );
    assert!(
        client
            .describe_schedule("nightly")
            .await
            .expect("describe")
            .paused
    );
    let list = admin(&client, &["schedules", "list"]).await.expect("list");
    assert!(list.contains("paused"), "{list}");
    assert_eq!(
        admin(&client, &["schedules", "resume", "nightly"])
            .await
            .expect("resume"),
        "resumed schedule nightly\n"
    );
    assert!(
        !client
            .describe_schedule("nightly")
            .await
            .expect("describe")
            .paused
    );
    assert_eq!(
        admin(&client, &["schedules", "delete", "sync"])
            .await
            .expect("delete"),
        "deleted schedule sync\n"
    );
    assert_eq!(client.list_schedules().await.expect("list").len(), 1);
    let err = admin(&client, &["schedules", "delete", "sync"])
        .await
        .expect_err("gone");
    assert!(
        matches!(
            err,
            workflow_admin::AdminError::Schedule(ScheduleError::NotFound(ref n)) if n == "sync"
        ),
        "{err:?}"
    );
}

/// `schedules trigger|backfill|update`: a client with no runtime stores the fire times to
/// start, which a worker's next look creates.
#[tokio::test]
async fn trigger_backfill_and_update_commands() {
    // 2024-01-01T00:00:00Z
    let client = Client::new(MemoryStore::new()).clock(VirtualClock::new(1_704_067_200_000));
    client
        .schedule(
            "sync",
            ScheduleSpec::cron("0 * * * *"),
            report,
            "data".to_string(),
        )
        .await
        .expect("create");
    let out = admin(&client, &["schedules", "trigger", "sync"])
        .await
        .expect("trigger");
    assert_eq!(
        out,
        "triggered schedule sync: run sync@2024-01-01T00:00:00Z\n"
    );
    let info = client.describe_schedule("sync").await.expect("describe");
    assert_eq!(info.started, 1);
    assert_eq!(
        info.last_run_id.as_deref(),
        Some("sync@2024-01-01T00:00:00Z")
    );

    let out = admin(
        &client,
        &[
            "schedules",
            "backfill",
            "sync",
            "--after",
            "2023-12-31T21:30:00Z",
            "--until",
            "2023-12-31T23:00:00Z",
        ],
    )
    .await
    .expect("backfill");
    assert_eq!(
        out,
        "sync@2023-12-31T22:00:00Z\nsync@2023-12-31T23:00:00Z\n(2 runs for schedule sync)\n"
    );
    assert_eq!(
        client
            .describe_schedule("sync")
            .await
            .expect("describe")
            .started,
        3
    );

    let out = admin(
        &client,
        &[
            "schedules",
            "update",
            "sync",
            "--cron",
            "0 6 * * *",
            "--zone",
            "Europe/Paris",
            "--overlap",
            "allow",
            "--catch-up",
            "2h",
            "--run-timeout",
            "45m",
        ],
    )
    .await
    .expect("update");
    assert_eq!(
        out,
        "updated schedule sync: cron \"0 6 * * *\" in Europe/Paris (allow)\n"
    );
    let info = client.describe_schedule("sync").await.expect("describe");
    assert_eq!(info.overlap, Overlap::Allow);
    assert_eq!(info.catch_up, Duration::from_secs(7200));
    assert_eq!(info.run_timeout, Some(Duration::from_secs(2700)));
    assert_eq!(info.next_fire_times_ms[0], 1_704_085_200_000, "05:00 UTC");
    // A zone alone moves the spec the schedule has.
    admin(
        &client,
        &[
            "schedules",
            "update",
            "sync",
            "--zone",
            "UTC",
            "--no-run-timeout",
        ],
    )
    .await
    .expect("update");
    let info = client.describe_schedule("sync").await.expect("describe");
    assert_eq!(info.run_timeout, None);
    assert_eq!(info.spec.cron_expression(), Some("0 6 * * *"));
    assert_eq!(info.spec.zone(), "UTC");
    let bad = Cli::try_parse_from(["admin", "schedules", "update", "sync", "--overlap", "never"]);
    assert!(bad.is_err(), "an unknown overlap policy is refused");
    let nothing = Cli::try_parse_from(["admin", "schedules", "update", "sync"]);
    assert!(nothing.is_err(), "an update of nothing is refused");
}
