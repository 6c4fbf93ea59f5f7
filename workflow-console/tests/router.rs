//! The console's router, asked through `tower::ServiceExt::oneshot` (no socket): the pages,
//! the JSON API, the actions behind the token, and `/metrics`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;
use workflow_console::Console;
use workflow_rt::prelude::*;
use workflow_rt::{Client, MemoryStore, Runtime, WorkflowStatus};

const TOKEN: &str = "s3cret-token";

#[workflow]
async fn approval(ctx: WorkflowCtx, amount: u64) -> Result<u64, WorkflowError> {
    let approved: bool = ctx.signal::<bool>("approve").await;
    Ok(if approved { amount } else { 0 })
}

#[workflow]
async fn fragile(ctx: WorkflowCtx, _x: u64) -> u64 {
    let n: u64 = ctx.signal::<u64>("n").await;
    if n == 13 {
        panic!("unlucky {n}");
    }
    n
}

/// A runtime on a memory store running `approval` and `fragile`.
async fn runtime() -> Runtime {
    runtime_on(Arc::new(MemoryStore::new())).await
}

async fn runtime_on(store: Arc<MemoryStore>) -> Runtime {
    Runtime::builder(store)
        .workflow(approval)
        .workflow(fragile)
        .poll_interval(Duration::from_millis(5))
        .build()
        .await
        .expect("build")
}

/// Polls `check` until it holds; panics with `what` after 10 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn status_of(client: &Client, id: &str) -> WorkflowStatus {
    client.state(id).await.expect("state").status
}

/// Waits until run `id` is suspended at its first await.
async fn waiting(client: &Client, id: &str) {
    eventually(&format!("{id} waits for its signal"), || async {
        client.state(id).await.expect("state").step >= 1
    })
    .await;
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).expect("utf-8"),
    }
}

async fn get(app: &Router, uri: &str) -> Reply {
    send(app, Request::get(uri).body(Body::empty()).expect("request")).await
}

async fn post_form(app: &Router, uri: &str, form: &str) -> Reply {
    let request = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .expect("request");
    send(app, request).await
}

async fn post_json(app: &Router, uri: &str, token: Option<&str>, json: &str) -> Reply {
    let mut request = Request::post(uri).header(header::CONTENT_TYPE, "application/json");
    if let Some(t) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    send(
        app,
        request.body(Body::from(json.to_string())).expect("request"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_shows_the_runs_their_counts_and_filters() {
    let rt = runtime().await;
    let client = rt.client();
    for (id, amount) in [("order-1", 10), ("order-2", 20), ("order-<3>", 30)] {
        rt.start(approval, id, amount).await.expect("start");
        waiting(&client, id).await;
    }
    rt.start(fragile, "misc-1", 0).await.expect("start");
    waiting(&client, "misc-1").await;
    client
        .signal_json("order-1", "approve", &serde_json::json!(true))
        .await
        .expect("signal");
    eventually("order-1 completes", || async {
        status_of(&client, "order-1").await == WorkflowStatus::Completed
    })
    .await;
    let app = Console::new(client.clone()).router();

    let all = get(&app, "/").await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(
        all.headers[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    let csp = all.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("csp");
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    for id in ["order-1", "order-2", "misc-1"] {
        assert!(
            all.body.contains(&format!(r#"href="/runs/{id}">{id}</a>"#)),
            "{id}"
        );
    }
    // An id is escaped in the text and percent-encoded in the link.
    assert!(
        all.body
            .contains(r#"href="/runs/order-%3C3%3E">order-&lt;3&gt;</a>"#)
    );
    assert!(!all.body.contains("order-<3>"));
    assert!(
        all.body
            .contains(r#"<span class="n" data-count="all">4</span>"#)
    );
    assert!(
        all.body
            .contains(r#"<span class="n" data-count="running">3</span>"#)
    );
    assert!(
        all.body
            .contains(r#"<span class="n" data-count="completed">1</span>"#)
    );
    // Nothing is fetched from elsewhere.
    assert!(!all.body.contains("http://") && !all.body.contains("https://"));

    let running = get(&app, "/?status=running&name=approval").await;
    assert_eq!(running.status, StatusCode::OK);
    assert!(running.body.contains("order-2") && running.body.contains("order-&lt;3&gt;"));
    assert!(!running.body.contains(">order-1<") && !running.body.contains(">misc-1<"));

    let prefixed = get(&app, "/?id_prefix=misc").await;
    assert!(prefixed.body.contains(">misc-1<") && !prefixed.body.contains(">order-2<"));

    // Pages: two runs, then the link to the next page with the filters kept.
    let first = get(&app, "/?name=approval&limit=2").await;
    assert!(first.body.contains(">order-1<") && first.body.contains(">order-2<"));
    assert!(!first.body.contains(">order-&lt;3&gt;<"));
    assert!(
        first
            .body
            .contains(r#"<a class="next" href="/?name=approval&amp;limit=2&amp;after=order-2">"#),
        "{}",
        first.body
    );
    let second = get(&app, "/?name=approval&limit=2&after=order-2").await;
    assert!(second.body.contains(">order-&lt;3&gt;<") && !second.body.contains(">order-1<"));
    assert!(!second.body.contains(r#"class="next""#));

    // The same as JSON.
    let api = get(&app, "/api/runs?status=running&limit=1").await;
    assert_eq!(api.status, StatusCode::OK);
    let json = api.json();
    assert_eq!(json["runs"].as_array().map(Vec::len), Some(1));
    assert_eq!(json["runs"][0]["id"], "misc-1");
    assert_eq!(json["next"], "misc-1");
    assert_eq!(json["counts"]["running"], 3);
    assert_eq!(json["counts"]["completed"], 1);

    // A bad filter is a 400 that says what is wrong.
    let bad = get(&app, "/?status=sleeping").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("status: unknown status"), "{}", bad.body);
    let bad = get(&app, "/api/runs?limit=ten").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        bad.json()["error"],
        r#"limit: "ten" is not a number of runs"#
    );
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_page_shows_the_state_machine_the_state_and_the_history() {
    let store = Arc::new(MemoryStore::new());
    let rt = runtime_on(store.clone()).await;
    let client = rt.client();
    rt.start(approval, "a-1", 250).await.expect("start");
    waiting(&client, "a-1").await;
    let app = Console::new(client.clone()).token(TOKEN).router();

    let page = get(&app, "/runs/a-1").await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    assert!(body.contains(r#"<h1><code>a-1</code></h1>"#));
    assert!(body.contains(r#"<span class="status status-running">running</span>"#));
    assert!(body.contains(r#"<code data-field="state_name">Await1SignalApprove</code>"#));
    // The state machine, the run's state highlighted.
    assert!(body.contains("<svg "));
    assert!(
        body.contains(
            r#"<g class="state current" data-index="1" data-state="Await1SignalApprove">"#
        )
    );
    assert_eq!(body.matches(r#"<g class="state"#).count(), 4);
    // The state as pretty JSON, escaped.
    assert!(body.contains(r#"<pre class="json" data-json="state">{"#));
    assert!(body.contains("&quot;amount&quot;: 250"), "{body}");
    // What it waits on, and the signal it expects suggested in the form.
    assert!(body.contains(r#"<pre class="json" data-json="commands">["#));
    assert!(body.contains(r#"<input name="name" list="signal-names" required value="approve">"#));
    // The history.
    assert!(body.contains(r#"<span class="kind kind-started">started</span>"#));
    // Actions are on: the form is not disabled.
    assert!(body.contains("<fieldset>") && !body.contains("data-actions-off"));

    // The same as JSON.
    let api = get(&app, "/api/runs/a-1").await;
    assert_eq!(api.status, StatusCode::OK);
    let json = api.json();
    assert_eq!(json["run"]["status"], "Running");
    assert_eq!(json["run"]["current_state"], "Await1SignalApprove");
    assert_eq!(json["run"]["state"]["Await1SignalApprove"]["amount"], 250);
    assert_eq!(json["finished"], false);
    assert_eq!(json["history"][0]["kind"], "started");
    // As the page shows them, written by the server (a script's numbers are doubles).
    let state = json["shown"]["state"].as_str().expect("the state as text");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(state).expect("JSON"),
        json["run"]["state"]
    );
    assert!(state.contains("\"amount\": 250"), "{state}");
    assert!(json["shown"]["commands"].is_string() && json["shown"]["output"].is_null());

    let svg = get(&app, "/runs/a-1/machine.svg").await;
    assert_eq!(svg.status, StatusCode::OK);
    assert_eq!(svg.headers[header::CONTENT_TYPE], "image/svg+xml");
    assert!(svg.body.starts_with("<svg ") && svg.body.contains(" current\""));

    // A run that does not exist.
    let missing = get(&app, "/runs/nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(
        missing
            .body
            .contains("no workflow with id &quot;nope&quot;")
    );
    assert_eq!(
        get(&app, "/api/runs/nope").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(get(&app, "/nowhere").await.status, StatusCode::NOT_FOUND);
    let api_missing = get(&app, "/api/nowhere").await;
    assert_eq!(api_missing.status, StatusCode::NOT_FOUND);
    assert_eq!(api_missing.json()["error"], "no page at /api/nowhere");

    // A client that does not know the workflow still shows the run, without its state.
    let bare = Console::new(Client::new(store)).router();
    let page = get(&bare, "/runs/a-1").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("is not registered with the console's client")
    );
    assert!(!page.body.contains("<svg "));
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_are_refused_without_a_configured_token() {
    let rt = runtime().await;
    let client = rt.client();
    rt.start(approval, "a-1", 5).await.expect("start");
    waiting(&client, "a-1").await;
    let app = Console::new(client.clone()).router();

    let page = get(&app, "/runs/a-1").await;
    assert!(page.body.contains("Actions are disabled"));
    assert!(page.body.contains("<fieldset disabled>"));

    let form = post_form(
        &app,
        "/runs/a-1/signal",
        "token=anything&name=approve&payload=true",
    )
    .await;
    assert_eq!(form.status, StatusCode::FORBIDDEN);
    assert!(form.body.contains("actions are disabled"), "{}", form.body);
    let api = post_json(&app, "/api/runs/a-1/cancel", Some("anything"), "").await;
    assert_eq!(api.status, StatusCode::FORBIDDEN);
    assert!(
        api.json()["error"]
            .as_str()
            .expect("error")
            .contains("Console::token")
    );
    // An empty token is no token.
    let empty = Console::new(client.clone()).token("").router();
    let api = post_json(&empty, "/api/runs/a-1/unpark", Some(""), "").await;
    assert_eq!(api.status, StatusCode::FORBIDDEN);
    assert_eq!(status_of(&client, "a-1").await, WorkflowStatus::Running);
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_need_the_right_token() {
    let rt = runtime().await;
    let client = rt.client();
    for id in ["a-1", "a-2", "a-3"] {
        rt.start(approval, id, 7).await.expect("start");
        waiting(&client, id).await;
    }
    let app = Console::new(client.clone()).token(TOKEN).router();

    // No token, then a wrong one: refused, nothing changes.
    let none = post_form(&app, "/runs/a-1/signal", "name=approve&payload=true").await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert!(none.headers.contains_key(header::WWW_AUTHENTICATE));
    let wrong = post_form(
        &app,
        "/runs/a-1/signal",
        "token=s3cret-tokem&name=approve&payload=true",
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(wrong.body.contains("the token is not the console&#39;s"));
    let wrong = post_json(&app, "/api/runs/a-1/cancel", Some("s3cret"), "").await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(wrong.json()["error"], "the token is not the console's");
    let none = post_json(&app, "/api/runs/a-1/cancel", None, "").await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(status_of(&client, "a-1").await, WorkflowStatus::Running);

    // Bad input is a 400 that says why.
    let bad = post_form(
        &app,
        "/runs/a-1/signal",
        &format!("token={TOKEN}&name=approve&payload=%7Bnope"),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("payload: not JSON"), "{}", bad.body);
    let bad = post_form(
        &app,
        "/runs/a-1/signal",
        &format!("token={TOKEN}&name=+&payload=1"),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("a signal needs a name"));
    let bad = post_json(
        &app,
        "/api/runs/a-1/signal",
        Some(TOKEN),
        r#"{"payload": 1}"#,
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.json()["error"]
            .as_str()
            .expect("error")
            .contains("name")
    );
    let bad = post_json(&app, "/api/runs/a-1/reboot", Some(TOKEN), "").await;
    assert_eq!(bad.status, StatusCode::NOT_FOUND);

    // The right token: the form's signal sends back to the run's page, and the run completes.
    let ok = post_form(
        &app,
        "/runs/a-1/signal",
        &format!("token={TOKEN}&name=approve&payload=true"),
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(ok.headers[header::LOCATION], "/runs/a-1");
    eventually("a-1 completes", || async {
        status_of(&client, "a-1").await == WorkflowStatus::Completed
    })
    .await;
    assert_eq!(
        client.state("a-1").await.expect("state").output,
        Some(serde_json::json!({ "Ok": 7 }))
    );

    // Through the API, with the token as a bearer.
    let ok = post_json(
        &app,
        "/api/runs/a-2/signal",
        Some(TOKEN),
        r#"{"name": "approve", "payload": false}"#,
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.json()["message"], r#"signal "approve" sent to a-2"#);
    eventually("a-2 completes", || async {
        status_of(&client, "a-2").await == WorkflowStatus::Completed
    })
    .await;

    // Cancel asks (the run's code is told at its next step); terminate stops it outright.
    let ok = post_json(&app, "/api/runs/a-3/cancel", Some(TOKEN), "").await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.json()["message"], "cancel requested for a-3");
    let history = client.history("a-3").await.expect("history");
    assert!(
        history
            .iter()
            .any(|e| e.kind == workflow_rt::store::HistoryKind::CancelRequested),
        "{history:?}"
    );
    let ok = post_json(&app, "/api/runs/a-3/terminate", Some(TOKEN), "").await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.json()["message"], "a-3 terminated");
    assert_eq!(status_of(&client, "a-3").await, WorkflowStatus::Cancelled);
    // What cannot be done to a run in its state is a conflict.
    let again = post_form(&app, "/runs/a-3/cancel", &format!("token={TOKEN}")).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("has finished"));
    let not_parked = post_json(&app, "/api/runs/a-2/unpark", Some(TOKEN), "").await;
    assert_eq!(not_parked.status, StatusCode::CONFLICT);
    let late = post_json(
        &app,
        "/api/runs/a-2/signal",
        Some(TOKEN),
        r#"{"name": "approve", "payload": true}"#,
    )
    .await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    let missing = post_json(&app, "/api/runs/nope/cancel", Some(TOKEN), "").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_run_is_unparked_with_the_token() {
    let rt = runtime().await;
    let client = rt.client();
    rt.start(fragile, "f-1", 0).await.expect("start");
    waiting(&client, "f-1").await;
    client
        .signal_json("f-1", "n", &serde_json::json!(13))
        .await
        .expect("signal");
    eventually("f-1 is parked", || async {
        status_of(&client, "f-1").await == WorkflowStatus::Parked
    })
    .await;
    let app = Console::new(client.clone()).token(TOKEN).router();
    let page = get(&app, "/runs/f-1").await;
    assert!(
        page.body
            .contains(r#"<span class="status status-parked">parked</span>"#)
    );
    assert!(page.body.contains("unlucky 13"), "the park reason is shown");
    let ok = post_form(&app, "/runs/f-1/unpark", &format!("token={TOKEN}")).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let history = client.history("f-1").await.expect("history");
    assert!(
        history
            .iter()
            .any(|h| h.kind == workflow_rt::store::HistoryKind::Unparked)
    );
    rt.shutdown().await;
}

/// A parked run's cancel stops it at once (its code cannot run to be told): the answer says
/// so, rather than that a cancel was requested.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_runs_cancel_says_it_was_stopped_at_once() {
    let rt = runtime().await;
    let client = rt.client();
    rt.start(fragile, "f-2", 0).await.expect("start");
    waiting(&client, "f-2").await;
    let app = Console::new(client.clone()).token(TOKEN).router();
    // The name as the page's script sends it, without the whitespace around it.
    let sent = post_form(
        &app,
        "/runs/f-2/signal",
        &format!("token={TOKEN}&name=n+&payload=13"),
    )
    .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    eventually("f-2 is parked", || async {
        status_of(&client, "f-2").await == WorkflowStatus::Parked
    })
    .await;
    let ok = post_json(&app, "/api/runs/f-2/cancel", Some(TOKEN), "").await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(
        ok.json()["message"],
        "f-2 terminated: it was parked, so it was stopped at once (its code was not told)"
    );
    assert_eq!(status_of(&client, "f-2").await, WorkflowStatus::Cancelled);
    rt.shutdown().await;
}

#[tokio::test]
async fn metrics_are_served_when_a_source_is_given() {
    let client = Client::new(MemoryStore::new());
    let off = Console::new(client.clone()).router();
    let reply = get(&off, "/metrics").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(reply.body.contains("Console::prometheus"), "{}", reply.body);

    let custom = Console::new(client.clone())
        .metrics(|| "# TYPE up gauge\nup 1\n".to_string())
        .router();
    let reply = get(&custom, "/metrics").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(reply.body, "# TYPE up gauge\nup 1\n");

    // A Prometheus recorder's handle renders what was recorded through it.
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("console_test_total").increment(3);
    });
    let prom = Console::new(client).prometheus(handle).router();
    let reply = get(&prom, "/metrics").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply.body.contains("console_test_total 3"),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn install_prometheus_installs_one_recorder() {
    let handle = workflow_console::install_prometheus().expect("the first recorder");
    metrics::counter!("console_installed_total").increment(1);
    assert!(handle.render().contains("console_installed_total 1"));
    assert!(workflow_console::install_prometheus().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_follow_where_the_console_is_mounted() {
    let rt = runtime().await;
    let client = rt.client();
    rt.start(approval, "a/1", 1).await.expect("start");
    waiting(&client, "a/1").await;
    let console = Console::new(client).token(TOKEN);
    let app = Router::new().nest("/ops/console", console.router());

    let list = get(&app, "/ops/console").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.body
            .contains(r#"<body data-base="/ops/console" data-page="runs">"#)
    );
    assert!(
        list.body
            .contains(r#"href="/ops/console/runs/a%2F1">a/1</a>"#)
    );
    let page = get(&app, "/ops/console/runs/a%2F1").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body
            .contains(r#"action="/ops/console/runs/a%2F1/signal""#)
    );
    let ok = post_form(
        &app,
        "/ops/console/runs/a%2F1/signal",
        &format!("token={TOKEN}&name=approve&payload=true"),
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(ok.headers[header::LOCATION], "/ops/console/runs/a%2F1");
    let missing = get(&app, "/ops/console/runs/nope").await;
    assert!(
        missing
            .body
            .contains(r#"<a href="/ops/console/">Back to the runs</a>"#)
    );
    rt.shutdown().await;
}

/// The schedules page lists each schedule and, behind the token, triggers, pauses and resumes
/// it; so does the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_are_listed_triggered_paused_and_resumed() {
    use workflow_rt::schedule::ScheduleSpec;
    let rt = runtime().await;
    let client = rt.client();
    client
        .schedule(
            "nightly <ops>",
            ScheduleSpec::cron("0 2 * * *").in_zone("Europe/Paris"),
            approval,
            3,
        )
        .await
        .expect("create");
    let app = Console::new(client.clone()).token(TOKEN).router();

    let page = get(&app, "/schedules").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("nightly &lt;ops&gt;"), "{}", page.body);
    assert!(!page.body.contains("nightly <ops>"), "escaped");
    assert!(
        page.body
            .contains(r#"cron &quot;0 2 * * *&quot; in Europe/Paris"#)
    );
    assert!(page.body.contains(r#"data-state>active<"#));
    assert!(
        page.body
            .contains(r#"action="/schedules/nightly%20%3Cops%3E/trigger""#)
    );
    assert!(!page.body.contains("Actions are disabled"));

    // Without the token: refused, nothing started.
    let refused = post_form(&app, "/schedules/nightly%20%3Cops%3E/trigger", "token=nope").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        client
            .describe_schedule("nightly <ops>")
            .await
            .expect("describe")
            .started,
        0
    );
    // With it: back to the page, and the run is there.
    let triggered = post_form(
        &app,
        "/schedules/nightly%20%3Cops%3E/trigger",
        &format!("token={TOKEN}"),
    )
    .await;
    assert_eq!(
        triggered.status,
        StatusCode::SEE_OTHER,
        "{}",
        triggered.body
    );
    assert_eq!(triggered.headers[header::LOCATION], "/schedules");
    let info = client
        .describe_schedule("nightly <ops>")
        .await
        .expect("describe");
    let run = info.last_run_id.expect("a last run");
    waiting(&client, &run).await;
    let page = get(&app, "/schedules").await;
    assert!(page.body.contains("1 / 0 / 0"), "{}", page.body);
    assert!(
        page.body.contains("href=\"/runs/nightly%20%3Cops%3E%40"),
        "{}",
        page.body
    );

    let paused = post_json(
        &app,
        "/api/schedules/nightly%20%3Cops%3E/pause",
        Some(TOKEN),
        "",
    )
    .await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.body);
    assert_eq!(paused.json()["message"], "schedule nightly <ops> paused");
    let listed = get(&app, "/api/schedules").await.json();
    assert_eq!(listed[0]["paused"], true);
    let page = get(&app, "/schedules").await;
    assert!(page.body.contains(r#"data-state>paused<"#));
    assert!(page.body.contains(r#"data-action="resume""#));
    let resumed = post_form(
        &app,
        "/schedules/nightly%20%3Cops%3E/resume",
        &format!("token={TOKEN}"),
    )
    .await;
    assert_eq!(resumed.status, StatusCode::SEE_OTHER, "{}", resumed.body);
    assert!(
        !client
            .describe_schedule("nightly <ops>")
            .await
            .expect("describe")
            .paused
    );
    // An unknown schedule, an unknown action.
    let unknown = post_json(&app, "/api/schedules/nope/trigger", Some(TOKEN), "").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
    let bad = post_json(
        &app,
        "/api/schedules/nightly%20%3Cops%3E/delete",
        Some(TOKEN),
        "",
    )
    .await;
    assert_eq!(bad.status, StatusCode::NOT_FOUND);
    assert!(
        bad.json()["error"]
            .as_str()
            .expect("error")
            .contains("the actions are trigger, pause and resume"),
        "{}",
        bad.body
    );
    // Without a token configured, the page says actions are off.
    let off = Console::new(client.clone()).router();
    let page = get(&off, "/schedules").await;
    assert!(page.body.contains("Actions are disabled"));
    assert!(page.body.contains("<fieldset disabled>"));
    rt.shutdown().await;
}

/// A run with an execution timeout shows when it times out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_page_shows_when_a_run_times_out() {
    let rt = runtime().await;
    let client = rt.client();
    rt.start_with(
        approval,
        "t-1",
        5,
        workflow_rt::StartOptions::new().timeout(Duration::from_secs(3600)),
    )
    .await
    .expect("start");
    rt.start(approval, "t-2", 5).await.expect("start");
    waiting(&client, "t-1").await;
    waiting(&client, "t-2").await;
    let app = Console::new(client.clone()).router();
    let at = client
        .state("t-1")
        .await
        .expect("state")
        .timeout_at_ms
        .expect("a timeout");
    let page = get(&app, "/runs/t-1").await;
    assert!(
        page.body
            .contains(r#"<tr data-row="timeout"><th>Times out</th>"#),
        "{}",
        page.body
    );
    let api = get(&app, "/api/runs/t-1").await.json();
    assert_eq!(api["run"]["timeout_at_ms"], at);
    let page = get(&app, "/runs/t-2").await;
    assert!(!page.body.contains(r#"data-row="timeout""#));
    rt.shutdown().await;
}

/// Reports its progress, then waits for a word.
#[workflow]
async fn reporter(ctx: WorkflowCtx, total: u64) -> Result<u64, WorkflowError> {
    ctx.publish("progress", &format!("0/{total}"))?;
    ctx.publish("total", &total)?;
    let _: bool = ctx.signal::<bool>("go").await;
    Ok(total)
}

/// The run page and its JSON show what a run published; a run that published nothing shows
/// no such block.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_page_shows_what_a_run_published() {
    // Its state kept between steps, and restored from its snapshot at every step.
    for restore_every_step in [false, true] {
        let rt = Runtime::builder(Arc::new(MemoryStore::new()))
            .workflow(reporter)
            .workflow(approval)
            .poll_interval(Duration::from_millis(5))
            .restore_every_step(restore_every_step)
            .build()
            .await
            .expect("build");
        let client = rt.client();
        rt.start(reporter, "r-1", 7).await.expect("start");
        rt.start(approval, "a-1", 7).await.expect("start");
        waiting(&client, "r-1").await;
        waiting(&client, "a-1").await;
        let app = Console::new(client.clone()).router();
        let page = get(&app, "/runs/r-1").await;
        assert!(
            page.body
                .contains(r#"<h3 data-heading="published">Published</h3>"#),
            "{}",
            page.body
        );
        assert!(
            page.body.contains("&quot;progress&quot;: &quot;0/7&quot;"),
            "{}",
            page.body
        );
        let api = get(&app, "/api/runs/r-1").await.json();
        assert_eq!(api["run"]["published"]["total"], 7);
        assert_eq!(api["run"]["published"]["progress"], "0/7");
        assert!(
            api["shown"]["published"]
                .as_str()
                .expect("shown")
                .contains("\"total\": 7"),
            "{api}"
        );
        let page = get(&app, "/runs/a-1").await;
        assert!(
            page.body
                .contains(r#"<h3 data-heading="published" hidden>"#),
            "{}",
            page.body
        );
        let api = get(&app, "/api/runs/a-1").await.json();
        assert!(api["shown"]["published"].is_null(), "{api}");
        rt.shutdown().await;
    }
}
