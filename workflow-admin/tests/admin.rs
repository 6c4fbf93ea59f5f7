//! The operator's commands, run through `workflow_admin::run` on a client next to a worker
//! (every workflow both with its state cached and restored from its snapshot at every step),
//! and through the standalone binary on a SQLite file.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use workflow_admin::AdminCommand;
use workflow_rt::prelude::*;
use workflow_rt::{Client, MemoryStore, Store, WorkflowStatus};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Approval {
    by: String,
}

#[activity]
async fn check(_ctx: ActivityCtx, amount: u64) -> Result<u64, ActivityError> {
    Ok(amount * 2)
}

#[workflow]
async fn expense(ctx: WorkflowCtx, amount: u64) -> Result<String, WorkflowError> {
    let doubled = ctx.activity(check, amount).await?;
    ctx.publish("doubled", &doubled)?;
    let approval: Approval = ctx.signal("approve").await;
    Ok(format!("{doubled} approved by {}", approval.by))
}

#[workflow]
async fn brittle(ctx: WorkflowCtx, _x: u64) -> u64 {
    let n: u64 = ctx.signal::<u64>("n").await;
    if n == 13 {
        panic!("unlucky {n}");
    }
    n
}

/// Waits for a signal or a cancel, whichever comes first: its cancel's timer never fires.
#[workflow]
async fn patient(ctx: WorkflowCtx, _x: u64) -> u64 {
    match ctx
        .select((ctx.signal::<u64>("n"), ctx.cancellation()))
        .await
    {
        Select2::First(n) => n,
        Select2::Second(()) => 0,
    }
}

/// Answers updates "add" with the running total, until one adds 0.
#[workflow]
async fn counter(ctx: WorkflowCtx, _x: u64) -> u64 {
    let mut total: u64 = 0;
    loop {
        let add: Update<u64> = ctx.signal("add").await;
        if *add.payload() == 0 {
            return total;
        }
        if !ctx.is_replied(&add) {
            total += *add.payload();
            ctx.reply(&add, &total).expect("a small reply");
        }
    }
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

async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..2000 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting until {what}");
}

async fn runtime(store: Arc<dyn Store>, restore_every_step: bool) -> Runtime {
    Runtime::builder(store)
        .poll_interval(Duration::from_millis(5))
        .restore_every_step(restore_every_step)
        .workflow(expense)
        .workflow(brittle)
        .workflow(patient)
        .workflow(counter)
        .activity(check)
        .build()
        .await
        .expect("build")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_on_a_client_next_to_a_worker() {
    let cached = commands(false).await;
    let restored = commands(true).await;
    assert_eq!(cached, restored, "restored at every step: the same outputs");
}

async fn commands(restore_every_step: bool) -> Vec<String> {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let rt = runtime(store.clone(), restore_every_step).await;
    let client = Client::new(store.clone())
        .workflow(expense)
        .workflow(brittle)
        .activity(check);
    rt.start(expense, "e-1", 21).await.expect("start");
    rt.start(expense, "e-2", 5).await.expect("start");
    rt.start(brittle, "b-1", 0).await.expect("start");
    eventually("both expenses wait for approval", async || {
        let mut n = 0;
        for id in ["e-1", "e-2"] {
            n += (client.state(id).await.expect("state").step == 2) as u32;
        }
        n == 2
    })
    .await;
    let mut kept = Vec::new();

    let list = admin(&client, &["list"]).await.expect("list");
    assert!(list.starts_with("ID "), "{list}");
    for id in ["e-1", "e-2", "b-1"] {
        assert!(list.contains(id), "{list}");
    }
    assert!(list.ends_with("(3 runs)\n"), "{list}");
    let page = admin(&client, &["list", "--workflow", "expense", "--limit", "1"])
        .await
        .expect("list");
    assert!(page.contains("e-1") && !page.contains("e-2"), "{page}");
    assert!(page.ends_with("more: --after e-1\n"), "{page}");
    let next = admin(
        &client,
        &["list", "--workflow", "expense", "--after", "e-1", "--json"],
    )
    .await
    .expect("list");
    let next: serde_json::Value = serde_json::from_str(&next).expect("JSON");
    assert_eq!(next["runs"][0]["id"], "e-2");
    assert_eq!(next["runs"].as_array().map(Vec::len), Some(1));
    assert_eq!(next["next"], serde_json::Value::Null);
    let recent = admin(
        &client,
        &["list", "--created-after", "1h", "--prefix", "e-"],
    )
    .await
    .expect("list");
    assert!(recent.ends_with("(2 runs)\n"), "{recent}");
    let old = admin(
        &client,
        &["list", "--created-before", "2000-01-01T00:00:00Z"],
    )
    .await
    .expect("list");
    assert!(old.ends_with("(0 runs)\n"), "{old}");
    let counts = admin(&client, &["counts", "--json"]).await.expect("counts");
    let counts: serde_json::Value = serde_json::from_str(&counts).expect("JSON");
    assert_eq!(counts["running"], 3);
    let counts = admin(&client, &["counts"]).await.expect("counts");
    assert!(counts.contains("running    3\n"), "a column: {counts:?}");

    // show: the state as JSON, where it waits, the machine with the current state marked.
    let show = admin(&client, &["show", "e-1"]).await.expect("show");
    assert!(show.contains("status:   running"), "{show}");
    assert!(show.contains("in state: Await2SignalApprove"), "{show}");
    assert!(show.contains("  signal \"approve\"#1"), "{show}");
    assert!(
        show.contains("\"doubled\": 42"),
        "the state as JSON: {show}"
    );
    assert!(show.contains("  > [2] Await2SignalApprove"), "{show}");
    assert!(show.contains("waits at line"), "{show}");
    assert!(
        show.contains("published:\n  doubled = 42\n"),
        "what it published: {show}"
    );
    let json = admin(&client, &["show", "e-1", "--json"])
        .await
        .expect("show");
    let json: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(json["published"]["doubled"], 42);
    assert_eq!(json["current_state"], "Await2SignalApprove");
    assert_eq!(json["commands"][0]["kind"], "signal");
    kept.push(
        show.lines()
            .filter(|l| !l.starts_with("created") && !l.starts_with("updated"))
            .collect::<Vec<_>>()
            .join("\n"),
    );

    // describe, as text, Mermaid and DOT.
    let mermaid = admin(&client, &["describe", "e-1", "--mermaid"])
        .await
        .expect("describe");
    assert!(
        mermaid.contains("class Await2SignalApprove current"),
        "{mermaid}"
    );
    let dot = admin(&client, &["describe", "e-1", "--dot"])
        .await
        .expect("describe");
    assert!(dot.starts_with("digraph expense"), "{dot}");

    // signal as JSON: a payload that does not fit is dead-lettered, one that does completes.
    admin(&client, &["signal", "e-1", "approve", r#"{"name":"ana"}"#])
        .await
        .expect("sent");
    eventually("dead-lettered", async || {
        admin(&client, &["history", "e-1"])
            .await
            .expect("history")
            .contains("dead-letter")
    })
    .await;
    assert!(matches!(
        admin(&client, &["signal", "e-1", "approve", "{not json"]).await,
        Err(workflow_admin::AdminError::BadJson(_))
    ));
    let sent = admin(&client, &["signal", "e-1", "approve", r#"{"by":"ana"}"#])
        .await
        .expect("sent");
    assert_eq!(sent, "sent signal \"approve\" to e-1\n");
    let out = rt.handle(expense, "e-1").result().await.expect("result");
    assert_eq!(out, Ok("42 approved by ana".to_string()));
    let history = admin(&client, &["history", "e-1"]).await.expect("history");
    assert!(history.contains(" started "), "{history}");
    assert!(history.contains("check#0 input 21"), "{history}");
    assert!(history.contains("check#0 returned 42"), "{history}");
    assert!(history.contains(" completed "), "{history}");
    let entries: serde_json::Value = serde_json::from_str(
        &admin(&client, &["history", "e-1", "--json"])
            .await
            .expect("history"),
    )
    .expect("JSON");
    assert_eq!(entries[0]["kind"], "started");
    kept.push(
        entries
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| format!("{} {}", e["kind"], e["detail"]))
            .filter(|e| !e.contains("dead-lettered"))
            .collect::<Vec<_>>()
            .join("\n"),
    );

    // cancel (a request); terminate; unpark; purge.
    assert_eq!(
        admin(&client, &["cancel", "e-2"]).await.expect("cancel"),
        "cancel requested for e-2\n"
    );
    assert_eq!(
        admin(&client, &["terminate", "e-2"])
            .await
            .expect("terminate"),
        "terminated e-2\n"
    );
    assert!(
        admin(&client, &["cancel", "e-2"]).await.is_err(),
        "finished already"
    );
    admin(&client, &["signal", "b-1", "n", "13"])
        .await
        .expect("sent");
    eventually("b-1 parks", async || {
        client.state("b-1").await.expect("state").status == WorkflowStatus::Parked
    })
    .await;
    let parked = admin(&client, &["list", "--status", "parked"])
        .await
        .expect("list");
    assert!(
        parked.contains("b-1") && parked.contains("parked: "),
        "{parked}"
    );
    assert_eq!(
        admin(&client, &["unpark", "b-1"]).await.expect("unpark"),
        "unparked b-1\n"
    );
    assert!(
        admin(&client, &["unpark", "e-1"]).await.is_err(),
        "not parked"
    );
    assert!(
        admin(&client, &["purge", "b-1"]).await.is_err(),
        "not finished"
    );
    assert_eq!(
        admin(&client, &["purge", "e-2"]).await.expect("purge"),
        "purged e-2\n"
    );
    assert!(client.state("e-2").await.is_err());
    let none = admin(&client, &["purge", "--finished-before", "1h"])
        .await
        .expect("purge");
    assert_eq!(none, "purged 0 runs\n", "e-1 finished just now");
    // At its limit, it says there may be more.
    let all = admin(
        &client,
        &["purge", "--finished-before", "0s", "--limit", "1"],
    )
    .await
    .expect("purge");
    assert_eq!(
        all,
        "purged 1 runs\n  e-1\n(the limit of 1: there may be more; run it again)\n"
    );

    // A cancel of a parked run stops it at once, and says so.
    rt.start(brittle, "b-2", 0).await.expect("start");
    admin(&client, &["signal", "b-2", "n", "13"])
        .await
        .expect("sent");
    eventually("b-2 parks", async || {
        client.state("b-2").await.expect("state").status == WorkflowStatus::Parked
    })
    .await;
    assert_eq!(
        admin(&client, &["cancel", "b-2"]).await.expect("cancel"),
        "terminated b-2: it was parked, so it was stopped at once (its code was not told)\n"
    );
    assert_eq!(
        client.state("b-2").await.expect("state").status,
        WorkflowStatus::Cancelled
    );

    // A run's id that holds a terminal's escape sequence is printed with it shown, not acted
    // on; the cursor is printed as one shell word.
    for id in ["\u{1b}]0;title\u{7}", "x y;z", "x y;zz", "del\u{7f}"] {
        rt.start(brittle, id, 0).await.expect("start");
    }
    let listed = admin(&client, &["list", "--workflow", "brittle", "--limit", "1"])
        .await
        .expect("list");
    assert!(
        listed.contains("\\u001b]0;title\\u0007") && !listed.contains('\u{1b}'),
        "{listed:?}"
    );
    let listed = admin(
        &client,
        &[
            "list",
            "--workflow",
            "brittle",
            "--prefix",
            "x",
            "--limit",
            "1",
        ],
    )
    .await
    .expect("list");
    assert!(listed.ends_with("more: --after 'x y;z'\n"), "{listed:?}");
    // JSON output stays JSON, DEL escaped as JSON escapes it.
    let json = admin(&client, &["list", "--workflow", "brittle", "--json"])
        .await
        .expect("list");
    let json: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert!(
        json["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .any(|r| r["id"] == "del\u{7f}"),
        "{json}"
    );
    rt.shutdown().await;
    kept
}

/// `update` sends a JSON update and prints the reply; with `--id`, a repeated command gets the
/// first reply; a run that ends without replying is the update's error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_prints_the_reply() {
    for restore_every_step in [false, true] {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let rt = runtime(store.clone(), restore_every_step).await;
        let client = Client::new(store.clone()).workflow(counter);
        rt.start(counter, "c-1", 0).await.expect("start");
        let out = admin(&client, &["update", "c-1", "add", "5"])
            .await
            .expect("update");
        assert_eq!(out, "5\n");
        for _ in 0..2 {
            let out = admin(&client, &["update", "c-1", "add", "7", "--id", "u-7"])
                .await
                .expect("update");
            assert_eq!(out, "12\n", "added once");
        }
        assert!(matches!(
            admin(&client, &["update", "c-1", "add", "{not json"]).await,
            Err(workflow_admin::AdminError::BadJson(_))
        ));
        let ended = admin(&client, &["update", "c-1", "add", "0", "--timeout", "10s"]).await;
        assert!(
            matches!(
                &ended,
                Err(workflow_admin::AdminError::Update(
                    workflow_rt::UpdateError::NoReply { .. }
                ))
            ),
            "{ended:?}"
        );
        rt.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_without_end_and_times_past_the_year_9999_are_shown() {
    for restore_every_step in [false, true] {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let rt = runtime(store.clone(), restore_every_step).await;
        let client = Client::new(store.clone()).workflow(patient);
        rt.start(patient, "p-1", 0).await.expect("start");
        eventually("p-1 waits", async || {
            client.state("p-1").await.expect("state").step > 0
        })
        .await;
        let show = admin(&client, &["show", "p-1"]).await.expect("show");
        assert!(show.contains("never fires"), "{show}");
        rt.shutdown().await;
    }
    assert_eq!(workflow_admin::time(u64::MAX), "never");
    assert_eq!(workflow_admin::time(i64::MAX as u64), "never");
    assert_eq!(
        workflow_admin::time(253_402_300_799_999),
        "9999-12-31T23:59:59.999Z"
    );
    assert_eq!(
        workflow_admin::time(253_402_300_800_000),
        "253402300800000 ms after the Unix epoch (past the year 9999)"
    );
}

#[test]
fn a_negative_payload_is_a_payload() {
    let cli = Cli::try_parse_from(["admin", "signal", "x", "adjust", "-5"]).expect("parses");
    match cli.command {
        AdminCommand::Signal { json, .. } => assert_eq!(json, "-5"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_arguments_are_refused_by_the_parser() {
    for args in [
        vec!["list", "--status", "sleeping"],
        vec!["list", "--created-after", "yesterday-ish"],
        vec!["purge"],
        vec!["purge", "x", "--finished-before", "1d"],
        vec!["purge", "x", "--limit", "5"],
        vec!["describe", "x", "--mermaid", "--dot"],
    ] {
        assert!(
            Cli::try_parse_from(std::iter::once("admin").chain(args.iter().copied())).is_err(),
            "{args:?} is refused"
        );
    }
}

fn bin(store: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_workflow-admin"))
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .expect("run workflow-admin");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standalone_binary_on_a_sqlite_file() {
    for restore_every_step in [false, true] {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("app.db");
        let url = format!("sqlite:{}", path.display());
        let store: Arc<dyn Store> = Arc::new(workflow_rt::SqliteStore::open(&path).expect("open"));
        let rt = runtime(store.clone(), restore_every_step).await;
        rt.start(expense, "e-1", 4).await.expect("start");
        rt.start(expense, "e-2", 5).await.expect("start");
        let client = rt.client();
        eventually("e-1 waits", async || {
            client.state("e-1").await.expect("state").step == 2
        })
        .await;

        let (code, out, err) = bin(&url, &["list"]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("e-1") && out.contains("e-2"), "{out}");
        // No user types here: the state is not shown, the rest is.
        let (code, out, err) = bin(&url, &["show", "e-1"]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("not registered"), "{out}");
        assert!(out.contains("signal \"approve\"#1"), "{out}");
        let (code, _, err) = bin(&url, &["signal", "e-1", "approve", r#"{"by":"bo"}"#]);
        assert_eq!(code, 0, "{err}");
        let out = rt.handle(expense, "e-1").result().await.expect("result");
        assert_eq!(out, Ok("8 approved by bo".to_string()));
        let (code, out, _) = bin(&url, &["history", "e-1"]);
        assert_eq!(code, 0);
        assert!(out.contains("completed"), "{out}");
        let (code, out, _) = bin(&url, &["terminate", "e-2"]);
        assert_eq!((code, out.as_str()), (0, "terminated e-2\n"));
        let (code, _, err) = bin(&url, &["unpark", "e-2"]);
        assert_eq!(code, 1);
        assert!(err.contains("not parked"), "{err}");
        let (code, out, _) = bin(&url, &["purge", "e-1", "e-2"]);
        assert_eq!((code, out.as_str()), (0, "purged e-1\npurged e-2\n"));
        let (code, out, _) = bin(&url, &["counts"]);
        assert_eq!(code, 0);
        assert!(out.lines().all(|l| l.ends_with(" 0")), "{out}");
        let (code, _, err) = bin(&url, &["--tls-ca", "/nonexistent.pem", "counts"]);
        assert_eq!(code, 2);
        assert!(err.contains("--tls-ca is for PostgreSQL stores"), "{err}");
        let (code, _, err) = bin(&url, &["describe", "nope"]);
        assert_eq!(code, 1, "{err}");
        rt.shutdown().await;

        // A path with no store is refused, not created.
        let missing = dir.path().join("typo.db");
        let (code, _, err) = bin(&format!("sqlite:{}", missing.display()), &["list"]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("no SQLite file"), "{err}");
        assert!(!missing.exists());
    }
}
