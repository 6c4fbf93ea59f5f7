//! The web console on the runs of `examples/console.rs`: driven through its router in both
//! modes (state kept between steps, and restored from the store at every await), and in a real
//! headless Chromium through chromedriver.
//!
//! The browser test needs Debian's `chromium` and `chromium-driver` packages
//! (`/usr/bin/chromium`, `/usr/bin/chromedriver`; `CHROMIUM` and `CHROMEDRIVER` name other
//! binaries). Without them it says so and passes, unless `WORKFLOW_REQUIRE_BROWSER=1`, as CI
//! sets it: then it fails.

mod support;

#[path = "../examples/console.rs"]
#[allow(dead_code)]
mod console_example;

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::ensure;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use console_example::{register, review};
use fantoccini::{ClientBuilder, Locator};
use http_body_util::BodyExt;
use support::{Mode, both_modes, builder, eventually, memory, within_secs};
use tower::ServiceExt;
use workflow_console::Console;
use workflow_rt::store::{HistoryKind, Store};
use workflow_rt::{Client, SqliteStore, VirtualClock, WorkflowStatus};

const TOKEN: &str = "console-test-token";

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, String) {
    let request = Request::get(uri).body(Body::empty()).expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8(body.to_vec()).expect("utf-8"))
}

async fn post_form(app: &axum::Router, uri: &str, form: String) -> StatusCode {
    let request = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .expect("request");
    app.clone()
        .oneshot(request)
        .await
        .expect("infallible")
        .status()
}

/// Percent-encodes a form value.
fn form_value(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Waits until run `id` is in state `state`.
async fn reaches(client: &Client, id: &str, state: &str) {
    eventually(&format!("{id} reaches {state}"), || async {
        client
            .state(id)
            .await
            .expect("state")
            .current_state
            .as_deref()
            == Some(state)
    })
    .await;
}

/// A review rejected once and then approved through the console's forms, its page showing
/// each state highlighted in turn; the same in both modes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_goes_round_its_loop_through_the_console() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = register(builder(mode, store.clone(), clock.clone()))
            .build()
            .await
            .expect("build");
        let client = rt.client();
        rt.start(review, "doc-1", "doc-1.md".to_string())
            .await
            .expect("start");
        let app = Console::new(client.clone()).token(TOKEN).router();
        let highlighted = |state: &str| {
            format!(r#" current" data-index="{}" data-state="{state}">"#, {
                <review as workflow_rt::Workflow>::description()
                    .states
                    .iter()
                    .position(|s| s.name == state)
                    .expect("a state of review")
            })
        };
        let signal =
            |verdict: &str| format!("token={TOKEN}&name=review&payload={}", form_value(verdict));

        reaches(&client, "doc-1", "Await1SignalReview").await;
        let (status, page) = get(&app, "/runs/doc-1").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(&highlighted("Await1SignalReview")), "{page}");

        // Rejected: the review sleeps, then waits again.
        let sent = post_form(
            &app,
            "/runs/doc-1/signal",
            signal(r#"{"approved": false, "by": "bob"}"#),
        )
        .await;
        assert_eq!(sent, StatusCode::SEE_OTHER);
        reaches(&client, "doc-1", "Await2Sleep").await;
        let (_, page) = get(&app, "/runs/doc-1").await;
        assert!(page.contains(&highlighted("Await2Sleep")), "{page}");
        clock.advance(Duration::from_millis(200));
        reaches(&client, "doc-1", "Await1SignalReview").await;
        let (_, page) = get(&app, "/runs/doc-1").await;
        assert!(page.contains("&quot;rounds&quot;: 2"), "{page}");

        // A payload of another shape is dead-lettered, and the review goes on waiting.
        let sent = post_form(&app, "/runs/doc-1/signal", signal(r#""yes""#)).await;
        assert_eq!(sent, StatusCode::SEE_OTHER);
        eventually("the bad verdict is dead-lettered", || async {
            client
                .history("doc-1")
                .await
                .expect("history")
                .iter()
                .any(|h| h.kind == HistoryKind::DeadLetter)
        })
        .await;

        // Approved: published.
        let sent = post_form(
            &app,
            "/runs/doc-1/signal",
            signal(r#"{"approved": true, "by": "ana"}"#),
        )
        .await;
        assert_eq!(sent, StatusCode::SEE_OTHER);
        let out = within_secs(10, "doc-1 ends", rt.handle(review, "doc-1").result())
            .await
            .expect("result");
        let (_, page) = get(&app, "/runs/doc-1").await;
        assert!(page.contains(&highlighted("Returned")), "{page}");
        assert!(page.contains(r#"<span class="status status-completed">completed</span>"#));
        let kinds: Vec<HistoryKind> = client
            .history("doc-1")
            .await
            .expect("history")
            .into_iter()
            .map(|h| h.kind)
            .collect();
        rt.shutdown().await;
        (out, kinds)
    })
    .await;
}

/// Where the browser test finds its binaries, or why it cannot run.
struct Browser {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

impl Browser {
    fn find() -> Result<Browser, String> {
        let chromium = std::env::var_os("CHROMIUM")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
        let chromedriver = std::env::var_os("CHROMEDRIVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"));
        for path in [&chromium, &chromedriver] {
            if !path.is_file() {
                return Err(format!("{} is missing", path.display()));
            }
        }
        Ok(Browser {
            chromium,
            chromedriver,
        })
    }
}

/// A chromedriver process, killed when dropped.
struct Chromedriver {
    child: Child,
    port: u16,
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Chromedriver {
    /// Starts `binary` on a free port of 127.0.0.1 and waits until it takes connections.
    async fn start(binary: &Path) -> Chromedriver {
        let port = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let driver = Chromedriver { child, port };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        eventually("chromedriver takes connections", || async {
            tokio::net::TcpStream::connect(addr).await.is_ok()
        })
        .await;
        driver
    }
}

/// Where the screenshot goes: `<target dir>/console-screenshot.png`, the target dir being the
/// one this test binary was built in (`target/debug/deps/..`).
/// Steps `n` times, each a zero-length sleep (an entry in its history per step).
#[workflow_rt::workflow]
async fn many_steps(ctx: workflow_rt::WorkflowCtx, n: u64) -> u64 {
    let mut i: u64 = 0;
    while i < n {
        ctx.sleep(Duration::ZERO).await;
        i += 1;
    }
    i
}

/// A run with a long history: its page and its JSON hold the newest 500 entries and say how
/// many there are in all (the page asks for the JSON every second while the run goes on).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_history_is_shown_by_its_newest_entries() {
    let (store, clock) = memory();
    let rt = builder(Mode::Cached, store.clone(), clock)
        .workflow(many_steps)
        .build()
        .await
        .expect("build");
    let run = rt.start(many_steps, "long", 700).await.expect("start");
    within_secs(60, "700 steps", run.result())
        .await
        .expect("result");
    let total = store.history("long").await.expect("history").len();
    assert!(total > 700, "{total}");
    let app = Console::new(rt.client()).router();
    let (status, body) = get(&app, "/api/runs/long").await;
    assert_eq!(status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(json["history"].as_array().expect("history").len(), 500);
    assert_eq!(json["history_total"], total);
    let newest = store.history("long").await.expect("history");
    assert_eq!(
        json["history"][499]["detail"].as_str(),
        Some(newest[total - 1].detail.as_str()),
        "the newest last"
    );
    let (_, page) = get(&app, "/runs/long").await;
    let rows = page
        .split("<tbody data-history>")
        .nth(1)
        .and_then(|rest| rest.split("</tbody>").next())
        .expect("the history table");
    assert_eq!(rows.matches("<tr>").count(), 500);
    assert!(
        page.contains(&format!(
            "The newest <span data-history-shown>500</span> of <span data-history-total>{total}</span> entries"
        )),
        "{page}"
    );
    rt.shutdown().await;
}

/// The status line's code of a raw HTTP/1.1 `GET path` to `addr` naming `host`.
async fn status_for_host(addr: SocketAddr, path: &str, host: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.expect("read");
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"))
}

/// A console on a loopback address answers loopback host names only: a page of another site
/// whose name was made to point at 127.0.0.1 (DNS rebinding) cannot read the runs through a
/// visitor's browser. Host names given with `allowed_hosts` are answered instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_on_a_loopback_address_answers_loopback_host_names_only() {
    let client = Client::new(workflow_rt::MemoryStore::new());
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = tokio::spawn(Console::new(client.clone()).serve_listener(listener));
    let port = addr.port();
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "LOCALHOST".to_string(),
        format!("[::1]:{port}"),
    ] {
        assert_eq!(
            status_for_host(addr, "/api/runs", &host).await,
            200,
            "{host}"
        );
    }
    for host in [
        format!("evil.example:{port}"),
        "evil.example".to_string(),
        "127.0.0.1.evil.example".to_string(),
        "localhost.evil.example".to_string(),
    ] {
        assert_eq!(
            status_for_host(addr, "/api/runs", &host).await,
            421,
            "{host}"
        );
        assert_eq!(status_for_host(addr, "/", &host).await, 421, "{host}");
    }
    server.abort();

    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = tokio::spawn(
        Console::new(client)
            .allowed_hosts(["console.internal"])
            .serve_listener(listener),
    );
    assert_eq!(
        status_for_host(addr, "/api/runs", "console.internal:80").await,
        200
    );
    assert_eq!(status_for_host(addr, "/api/runs", "127.0.0.1").await, 421);
    server.abort();
}

fn screenshot_path() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let target = exe
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    target.join("console-screenshot.png")
}

/// In Chromium: the list shows the reviews and follows a termination made elsewhere; a review's
/// page opens, the signal form (name, JSON payload, token) is filled and sent, and the page
/// shows the run completed by its live update, without a reload. Leaves a screenshot of the
/// finished page in the target directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_headless_browser() {
    let browser = match Browser::find() {
        Ok(b) => b,
        Err(why) => {
            if std::env::var("WORKFLOW_REQUIRE_BROWSER").as_deref() == Ok("1") {
                panic!(
                    "WORKFLOW_REQUIRE_BROWSER=1 but {why}: install chromium and chromium-driver"
                );
            }
            // Straight to stderr: the test harness captures what `println!` writes, and this
            // line is for whoever runs the tests.
            let _ = writeln!(
                std::io::stderr(),
                "the_console_in_a_headless_browser skipped: {why}; install Debian's chromium and chromium-driver packages to run it"
            );
            return;
        }
    };

    // A runtime restored from a SQLite file at every await, and the console on a free port.
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir.path().join("console.db")).expect("store"));
    let clock = VirtualClock::new(support::T0);
    let rt = register(builder(Mode::Restored, store, clock))
        .build()
        .await
        .expect("build");
    rt.start(review, "doc-1", "doc-1.md".to_string())
        .await
        .expect("start");
    rt.start(review, "doc-2", "doc-2.md".to_string())
        .await
        .expect("start");
    reaches(&rt.client(), "doc-1", "Await1SignalReview").await;
    rt.client()
        .schedule(
            "weekly-review",
            workflow_rt::schedule::ScheduleSpec::cron("0 9 * * MON"),
            review,
            "weekly.md".to_string(),
        )
        .await
        .expect("schedule");
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let console_addr = listener.local_addr().expect("address");
    let server = tokio::spawn(
        Console::new(rt.client())
            .token(TOKEN)
            .serve_listener(listener),
    );

    let driver = Chromedriver::start(&browser.chromedriver).await;
    let profile = tempfile::tempdir().expect("profile dir");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_string(),
        serde_json::json!({
            "binary": browser.chromium,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1300,1500",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }),
    );
    let web = within_secs(
        60,
        "a Chromium session",
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", driver.port)),
    )
    .await
    .expect("a WebDriver session");

    // The steps return an error rather than panic, so that the session is closed (and its
    // Chromium ended) whatever happens.
    let outcome = within_secs(120, "the browser's steps", async {
        let base = format!("http://{console_addr}");
        web.goto(&format!("{base}/")).await?;
        let link = web
            .wait()
            .for_element(Locator::Css(r#"a[href="/runs/doc-1"]"#))
            .await?;
        ensure!(link.text().await? == "doc-1", "the list links the run");
        // The list follows the store: a run terminated meanwhile shows cancelled, and counted.
        rt.client().terminate("doc-2").await?;
        web.wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css(
                r#"tr:has(a[href="/runs/doc-2"]) .status-cancelled"#,
            ))
            .await?;
        let cancelled = web
            .find(Locator::Css(r#"[data-count="cancelled"]"#))
            .await?
            .text()
            .await?;
        ensure!(cancelled == "1", "the count of cancelled runs: {cancelled}");
        let link = web.find(Locator::Css(r#"a[href="/runs/doc-1"]"#)).await?;
        link.click().await?;
        web.wait()
            .for_element(Locator::Css(r#"[data-run="doc-1"]"#))
            .await?;
        let state = web
            .find(Locator::Css(r#"[data-field="state_name"]"#))
            .await?
            .text()
            .await?;
        ensure!(
            state == "Await1SignalReview",
            "the page shows the state: {state}"
        );
        let current = web.find(Locator::Css("g.state.current")).await?;
        let highlighted = current.attr("data-state").await?;
        ensure!(
            highlighted.as_deref() == Some("Await1SignalReview"),
            "the state machine highlights {highlighted:?}"
        );
        let published = web
            .find(Locator::Css(r#"[data-json="published"]"#))
            .await?
            .text()
            .await?;
        ensure!(
            published.contains(r#""round": 1"#),
            "the page shows what the run published: {published}"
        );
        // A mark that a reload would wipe.
        web.execute("window.notReloaded = true;", vec![]).await?;

        let form = web.find(Locator::Css("form.actions-form")).await?;
        form.find(Locator::Css(r#"input[name="token"]"#))
            .await?
            .send_keys(TOKEN)
            .await?;
        let name = form.find(Locator::Css(r#"input[name="name"]"#)).await?;
        name.clear().await?;
        name.send_keys("review").await?;
        let payload = form
            .find(Locator::Css(r#"textarea[name="payload"]"#))
            .await?;
        payload.clear().await?;
        payload
            .send_keys(r#"{"approved": true, "by": "browser"}"#)
            .await?;
        form.find(Locator::Css(r#"button[data-action="signal"]"#))
            .await?
            .click()
            .await?;

        // The live update shows the run completed.
        web.wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css(r#"[data-field="status"] .status-completed"#))
            .await?;
        let result = web
            .find(Locator::Css("[data-result]"))
            .await?
            .text()
            .await?;
        ensure!(
            result == r#"signal "review" sent to doc-1"#,
            "the form says what it did: {result}"
        );
        let current = web.find(Locator::Css("g.state.current")).await?;
        let highlighted = current.attr("data-state").await?;
        ensure!(
            highlighted.as_deref() == Some("Returned"),
            "the highlight moved to Returned, not {highlighted:?}"
        );
        let output = web
            .find(Locator::Css(r#"[data-json="output"]"#))
            .await?
            .text()
            .await?;
        ensure!(output.contains("after 1 round(s)"), "the output: {output}");
        let published = web
            .find(Locator::Css(r#"[data-json="published"]"#))
            .await?
            .text()
            .await?;
        ensure!(
            published.contains(r#""url": "https://"#),
            "the live update shows the address it published: {published}"
        );
        let history = web
            .find(Locator::Css("[data-history]"))
            .await?
            .text()
            .await?;
        ensure!(history.contains("completed"), "the history: {history}");
        let kept = web
            .execute("return window.notReloaded === true;", vec![])
            .await?;
        ensure!(
            kept == serde_json::Value::Bool(true),
            "the page was reloaded"
        );
        let png = web.screenshot().await?;

        // The schedules page, from the header: the schedule triggered now through its form.
        web.find(Locator::Css(r#"header nav a[href="/schedules"]"#))
            .await?
            .click()
            .await?;
        let row = r#"tr[data-schedule="weekly-review"]"#;
        let found = web.wait().for_element(Locator::Css(row)).await?;
        ensure!(
            found.text().await?.contains("0 / 0 / 0"),
            "nothing started yet"
        );
        found
            .find(Locator::Css(r#"input[name="token"]"#))
            .await?
            .send_keys(TOKEN)
            .await?;
        found
            .find(Locator::Css(r#"button[data-action="trigger"]"#))
            .await?
            .click()
            .await?;
        // The form posts, and the page comes back with the run started and linked.
        let mut shown = String::new();
        for _ in 0..200 {
            if let Ok(r) = web.find(Locator::Css(row)).await
                && let Ok(text) = r.text().await
            {
                shown = text;
                if shown.contains("1 / 0 / 0") {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        ensure!(shown.contains("1 / 0 / 0"), "the trigger counted: {shown}");
        ensure!(shown.contains("weekly-review@"), "the run linked: {shown}");
        Ok::<_, anyhow::Error>(png)
    })
    .await;
    let closed = web.close().await;
    let png = outcome.unwrap_or_else(|e| panic!("in the browser: {e:#}"));
    closed.expect("closing the session");
    drop(driver);

    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let path = screenshot_path();
    std::fs::write(&path, &png).expect("writing the screenshot");
    let _ = writeln!(
        std::io::stderr(),
        "screenshot of the console: {}",
        path.display()
    );

    let state = rt.client().state("doc-1").await.expect("state");
    assert_eq!(state.status, WorkflowStatus::Completed);
    let triggered = rt
        .client()
        .describe_schedule("weekly-review")
        .await
        .expect("describe")
        .last_run_id
        .expect("the triggered run");
    assert_eq!(
        rt.client().state(&triggered).await.expect("state").name,
        "review"
    );
    assert_eq!(
        rt.client().state("doc-2").await.expect("state").status,
        WorkflowStatus::Cancelled
    );
    server.abort();
    rt.shutdown().await;
}
