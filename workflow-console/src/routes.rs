//! The console's routes and their handlers.
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the list page (`status`, `name`, `id_prefix`, `after`, `limit`) |
//! | `GET /runs/{id}` | a run's page |
//! | `GET /runs/{id}/machine.svg` | its state machine alone |
//! | `POST /runs/{id}/signal`, `/cancel`, `/terminate`, `/unpark` | the page's actions, as forms |
//! | `GET /api/runs` | a page of runs and the counts, as JSON |
//! | `GET /api/runs/{id}` | a run (its `WorkflowState`), the newest 500 entries of its history, and its state, published values, commands and output as the page shows them (`shown`), as JSON |
//! | `POST /api/runs/{id}/signal`, `/cancel`, `/terminate`, `/unpark` | the actions, JSON in and out |
//! | `GET /schedules` | the schedules page |
//! | `POST /schedules/{name}/trigger`, `/pause`, `/resume` | its actions, as forms |
//! | `GET /api/schedules` | the schedules (`ScheduleInfo`), as JSON |
//! | `POST /api/schedules/{name}/trigger`, `/pause`, `/resume` | the actions, JSON out |
//! | `GET /metrics` | the Prometheus text |

use std::sync::Arc;

use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::header;
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::{Deserialize, Serialize};
use workflow_rt::schedule::{ScheduleInfo, Triggered};
use workflow_rt::store::{HistoryEntry, WorkflowSummary};
use workflow_rt::{Client, RunQuery, WorkflowState, WorkflowStatus};

use crate::auth::{Token, authorize};
use crate::error::{ApiError, ConsoleError, PageError};
use crate::html::{PathSegment, status_name};
use crate::pages::{self, Filters, RunPageParts};
use crate::svg::state_machine_svg;

/// What the handlers share.
pub(crate) struct Shared {
    pub(crate) client: Client,
    pub(crate) token: Option<Token>,
    pub(crate) metrics: Option<crate::MetricsSource>,
    /// The host names answered ([`crate::Console::allowed_hosts`]); `None`: any.
    pub(crate) hosts: Option<Vec<String>>,
}

type AppState = State<Arc<Shared>>;

/// The console's router.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(runs_page))
        .route("/runs/{id}", get(run_page))
        .route("/runs/{id}/machine.svg", get(machine_svg))
        .route("/runs/{id}/{action}", post(form_action))
        .route("/api/runs", get(api_runs))
        .route("/api/runs/{id}", get(api_run))
        .route("/api/runs/{id}/{action}", post(api_action))
        .route("/schedules", get(schedules_page))
        .route("/schedules/{name}/{action}", post(schedule_form_action))
        .route("/api/schedules", get(api_schedules))
        .route("/api/schedules/{name}/{action}", post(api_schedule_action))
        .route("/metrics", get(metrics))
        .fallback(no_page)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            check_host,
        ))
        .with_state(shared)
}

/// Refuses (421) a request for a host name the console does not answer to.
async fn check_host(
    State(shared): AppState,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(hosts) = &shared.hosts {
        let named = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| request.uri().authority().map(|a| a.as_str()))
            .map(without_port);
        if !named.is_some_and(|n| hosts.iter().any(|h| h.eq_ignore_ascii_case(n))) {
            return (
                axum::http::StatusCode::MISDIRECTED_REQUEST,
                "this console does not answer to that host name\n",
            )
                .into_response();
        }
    }
    next.run(request).await
}

/// A `Host` header's name without its port (`[::1]:7380` -> `[::1]`).
fn without_port(host: &str) -> &str {
    match host.strip_prefix('[') {
        Some(rest) => rest.find(']').map_or(host, |end| &host[..end + 2]),
        None => host.split(':').next().unwrap_or(host),
    }
}

/// Where the console is mounted: the part of the request's original path that the router did
/// not see (empty when the console is the whole app, `/console` under
/// `Router::nest("/console", ..)`), so that links work wherever it is mounted.
fn mount_point(original: &Uri, seen: &Uri) -> String {
    let (full, seen) = (original.path(), seen.path());
    let base = if seen == "/" {
        full
    } else {
        full.strip_suffix(seen).unwrap_or("")
    };
    base.trim_end_matches('/').to_string()
}

/// Headers of every HTML page: nothing is loaded from elsewhere (the CSS and the script are
/// inline), the page is not framed, not cached and sends no referrer.
fn page_response(html: String) -> Response {
    let mut response = Html(html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The list page's query string, every field as text so that a bad value gets a message that
/// names it.
#[derive(Debug, Default, Deserialize)]
struct ListParams {
    status: Option<String>,
    name: Option<String>,
    id_prefix: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

impl ListParams {
    /// The filters, an empty field (as a form sends it) meaning none.
    fn filters(self) -> Result<Filters, ConsoleError> {
        let given = |v: Option<String>| v.filter(|s| !s.is_empty());
        let status = given(self.status)
            .map(|s| {
                s.parse::<WorkflowStatus>()
                    .map_err(|e| ConsoleError::BadInput {
                        field: "status",
                        reason: e.to_string(),
                    })
            })
            .transpose()?;
        let limit = given(self.limit)
            .map(|s| {
                s.parse::<usize>().map_err(|_| ConsoleError::BadInput {
                    field: "limit",
                    reason: format!("{s:?} is not a number of runs"),
                })
            })
            .transpose()?
            .unwrap_or(0);
        Ok(Filters {
            status,
            name: given(self.name),
            id_prefix: given(self.id_prefix),
            after: given(self.after),
            limit,
        })
    }
}

fn run_query(f: &Filters) -> RunQuery {
    RunQuery {
        status: f.status,
        name: f.name.clone(),
        id_prefix: f.id_prefix.clone(),
        after: f.after.clone(),
        limit: f.limit,
        ..RunQuery::default()
    }
}

/// The counts by status as a JSON object, `{"running": 3, ...}`, every status present.
fn counts_json(counts: &[(WorkflowStatus, u64)]) -> serde_json::Map<String, serde_json::Value> {
    WorkflowStatus::ALL
        .into_iter()
        .map(|s| {
            let n = counts.iter().find(|(c, _)| *c == s).map_or(0, |(_, n)| *n);
            (status_name(s).to_string(), n.into())
        })
        .collect()
}

async fn runs_page(
    State(shared): AppState,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Response, PageError> {
    let base = mount_point(&original, &uri);
    let page = async {
        let Query(params) = params.map_err(|e| ConsoleError::BadRequest(e.body_text()))?;
        let filters = params.filters()?;
        let runs = shared.client.list(run_query(&filters)).await?;
        let counts = shared.client.counts().await?;
        Ok::<_, ConsoleError>(pages::runs_page(&base, &filters, &runs, &counts))
    };
    match page.await {
        Ok(html) => Ok(page_response(html)),
        Err(error) => Err(PageError { error, base }),
    }
}

async fn run_page(
    State(shared): AppState,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let base = mount_point(&original, &uri);
    let page = async {
        let run = shared.client.state(&id).await?;
        let description = shared.client.describe(&id).await?;
        let (history, total) = shared
            .client
            .history_tail(&id, pages::HISTORY_SHOWN)
            .await?;
        let parts = RunPageParts {
            base: &base,
            description,
            history: &history,
            history_total: usize::try_from(total).unwrap_or(usize::MAX),
            actions: shared.token.is_some(),
        };
        Ok::<_, ConsoleError>(pages::run_page(&run, &parts))
    };
    match page.await {
        Ok(html) => Ok(page_response(html)),
        Err(error) => Err(PageError { error, base }),
    }
}

async fn machine_svg(
    State(shared): AppState,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let run = shared.client.state(&id).await?;
    let description = shared.client.describe(&id).await?.ok_or_else(|| {
        ConsoleError::NoPage(format!(
            "runs/{id}/machine.svg: the workflow {:?} of this run is not registered with the console's client",
            run.name
        ))
    })?;
    let svg = state_machine_svg(description, run.current_state.as_deref());
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("image/svg+xml"),
        )],
        svg,
    )
        .into_response())
}

/// The body of `GET /api/runs`.
#[derive(Debug, Serialize)]
struct RunsJson {
    runs: Vec<WorkflowSummary>,
    next: Option<String>,
    counts: serde_json::Map<String, serde_json::Value>,
}

async fn api_runs(
    State(shared): AppState,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<RunsJson>, ApiError> {
    let Query(params) = params.map_err(|e| ConsoleError::BadRequest(e.body_text()))?;
    let filters = params.filters()?;
    let page = shared.client.list(run_query(&filters)).await?;
    let counts = shared.client.counts().await?;
    Ok(Json(RunsJson {
        runs: page.runs,
        next: page.next,
        counts: counts_json(&counts),
    }))
}

/// The body of `GET /api/runs/{id}`.
#[derive(Debug, Serialize)]
struct RunJson {
    run: WorkflowState,
    /// Whether the run will never change again (the page stops asking).
    finished: bool,
    /// The newest entries of its history (at most [`pages::HISTORY_SHOWN`]), oldest first.
    history: Vec<HistoryJson>,
    /// How many entries its history has in all.
    history_total: u64,
    /// The state, the published values (none when there are none), the commands waited on
    /// (none when it waits on nothing) and the output as the page shows them (indented JSON),
    /// written here: a script that parsed `run` and wrote it again would show a number past
    /// 2^53 changed.
    shown: ShownJson,
}

/// See [`RunJson::shown`].
#[derive(Debug, Serialize)]
struct ShownJson {
    state: Option<String>,
    published: Option<String>,
    commands: Option<String>,
    output: Option<String>,
}

impl ShownJson {
    fn of(run: &WorkflowState) -> ShownJson {
        let pretty = |v: &serde_json::Value| {
            serde_json::to_string_pretty(v).unwrap_or_else(|e| e.to_string())
        };
        ShownJson {
            state: run.state.as_ref().map(pretty),
            published: pages::published_json(run).as_ref().map(pretty),
            commands: (!run.commands.is_empty())
                .then(|| serde_json::to_value(&run.commands).ok())
                .flatten()
                .as_ref()
                .map(pretty),
            output: run.output.as_ref().map(pretty),
        }
    }
}

/// An entry of the history, its kind by its stable name (`dead-letter`).
#[derive(Debug, Serialize)]
struct HistoryJson {
    at_ms: u64,
    kind: &'static str,
    detail: String,
}

impl From<HistoryEntry> for HistoryJson {
    fn from(h: HistoryEntry) -> Self {
        HistoryJson {
            at_ms: h.at_ms,
            kind: h.kind.as_str(),
            detail: h.detail,
        }
    }
}

async fn api_run(
    State(shared): AppState,
    Path(id): Path<String>,
) -> Result<Json<RunJson>, ApiError> {
    let run = shared.client.state(&id).await?;
    let (history, total) = shared
        .client
        .history_tail(&id, pages::HISTORY_SHOWN)
        .await?;
    Ok(Json(RunJson {
        finished: run.status.is_finished(),
        shown: ShownJson::of(&run),
        run,
        history: history.into_iter().map(HistoryJson::from).collect(),
        history_total: total,
    }))
}

/// What the console can do to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Signal,
    Cancel,
    Terminate,
    Unpark,
}

impl Action {
    fn parse(s: &str) -> Result<Action, ConsoleError> {
        match s {
            "signal" => Ok(Action::Signal),
            "cancel" => Ok(Action::Cancel),
            "terminate" => Ok(Action::Terminate),
            "unpark" => Ok(Action::Unpark),
            other => Err(ConsoleError::NoPage(format!(
                "runs/<id>/{other}: the actions are signal, cancel, terminate and unpark"
            ))),
        }
    }
}

/// The fields of the run page's form (`name` and `payload` are the signal's; cancel and unpark
/// send them too, and ignore them).
#[derive(Debug, Default, Deserialize)]
struct ActionForm {
    token: Option<String>,
    name: Option<String>,
    payload: Option<String>,
}

/// The body of `POST /api/runs/{id}/signal`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignalJson {
    name: String,
    #[serde(default)]
    payload: serde_json::Value,
}

/// Does `action` to run `id`; returns what to tell the person.
async fn perform(
    client: &Client,
    id: &str,
    action: Action,
    signal: Option<(String, serde_json::Value)>,
) -> Result<String, ConsoleError> {
    match action {
        Action::Signal => {
            let (name, payload) = signal.ok_or(ConsoleError::BadInput {
                field: "name",
                reason: "a signal needs a name".to_string(),
            })?;
            // As the page's script sends it: without the whitespace around it.
            let name = name.trim();
            if name.is_empty() {
                return Err(ConsoleError::BadInput {
                    field: "name",
                    reason: "a signal needs a name".to_string(),
                });
            }
            client.signal_json(id, name, &payload).await?;
            Ok(format!("signal {name:?} sent to {id}"))
        }
        Action::Cancel => {
            // A parked run, or one that has not started, is stopped at once, its code not told:
            // said so.
            let at_once = client.state(id).await.ok().and_then(|s| match s.status {
                workflow_rt::WorkflowStatus::Parked => Some("it was parked"),
                workflow_rt::WorkflowStatus::Running if s.step == 0 => Some("it had not started"),
                _ => None,
            });
            client.cancel(id).await?;
            Ok(match at_once {
                Some(why) => format!(
                    "{id} terminated: {why}, so it was stopped at once (its code was not told)"
                ),
                None => format!("cancel requested for {id}"),
            })
        }
        Action::Terminate => {
            client.terminate(id).await?;
            Ok(format!("{id} terminated"))
        }
        Action::Unpark => {
            client.unpark(id).await?;
            Ok(format!("{id} unparked"))
        }
    }
}

/// The form posted by the run page without its script: on success back to the run's page, on
/// an error a page that says why.
async fn form_action(
    State(shared): AppState,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Response, PageError> {
    let base = mount_point(&original, &uri);
    let done = async {
        let action = Action::parse(&action)?;
        let Form(form) = form.map_err(|e| ConsoleError::BadRequest(e.body_text()))?;
        authorize(shared.token.as_ref(), &headers, form.token.as_deref())?;
        let signal = match action {
            Action::Signal => {
                let payload = form.payload.unwrap_or_default();
                let payload = if payload.trim().is_empty() {
                    serde_json::Value::Null
                } else {
                    serde_json::from_str(&payload).map_err(|e| ConsoleError::BadInput {
                        field: "payload",
                        reason: format!("not JSON: {e}"),
                    })?
                };
                Some((form.name.unwrap_or_default(), payload))
            }
            Action::Cancel | Action::Terminate | Action::Unpark => None,
        };
        perform(&shared.client, &id, action, signal).await
    };
    match done.await {
        Ok(_) => Ok(Redirect::to(&format!("{base}/runs/{}", PathSegment(&id))).into_response()),
        Err(error) => Err(PageError { error, base }),
    }
}

/// An action through the API: the token as `Authorization: Bearer <token>`, the signal as
/// `{"name": .., "payload": ..}`; answers `{"message": ..}` or `{"error": ..}`.
async fn api_action(
    State(shared): AppState,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    body: Result<Json<SignalJson>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let action = Action::parse(&action)?;
    authorize(shared.token.as_ref(), &headers, None)?;
    let signal = match action {
        Action::Signal => {
            let Json(body) = body.map_err(|e| ConsoleError::BadRequest(e.body_text()))?;
            Some((body.name, body.payload))
        }
        Action::Cancel | Action::Terminate | Action::Unpark => None,
    };
    let message = perform(&shared.client, &id, action, signal).await?;
    Ok(Json(serde_json::json!({ "message": message })))
}

async fn schedules_page(
    State(shared): AppState,
    OriginalUri(original): OriginalUri,
    uri: Uri,
) -> Result<Response, PageError> {
    let base = mount_point(&original, &uri);
    match shared.client.list_schedules().await {
        Ok(all) => Ok(page_response(pages::schedules_page(
            &base,
            &all,
            shared.token.is_some(),
        ))),
        Err(e) => Err(PageError {
            error: e.into(),
            base,
        }),
    }
}

async fn api_schedules(State(shared): AppState) -> Result<Json<Vec<ScheduleInfo>>, ApiError> {
    Ok(Json(shared.client.list_schedules().await?))
}

/// What the console can do to a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScheduleAction {
    Trigger,
    Pause,
    Resume,
}

impl ScheduleAction {
    fn parse(s: &str) -> Result<ScheduleAction, ConsoleError> {
        match s {
            "trigger" => Ok(ScheduleAction::Trigger),
            "pause" => Ok(ScheduleAction::Pause),
            "resume" => Ok(ScheduleAction::Resume),
            other => Err(ConsoleError::NoPage(format!(
                "schedules/<name>/{other}: the actions are trigger, pause and resume"
            ))),
        }
    }
}

/// Does `action` to schedule `name`; returns what to tell the person.
async fn perform_on_schedule(
    client: &Client,
    name: &str,
    action: ScheduleAction,
) -> Result<String, ConsoleError> {
    Ok(match action {
        ScheduleAction::Trigger => match client.trigger_schedule(name).await? {
            Triggered::Started { run_id } => format!("schedule {name} triggered: run {run_id}"),
            Triggered::Buffered { run_id } => format!(
                "schedule {name} triggered: its last run has not finished, so run {run_id} \
                 starts when it does"
            ),
            Triggered::Skipped => format!(
                "schedule {name} triggered: its last run has not finished, so nothing started \
                 (its overlap policy skips)"
            ),
        },
        ScheduleAction::Pause => {
            client.pause_schedule(name).await?;
            format!("schedule {name} paused")
        }
        ScheduleAction::Resume => {
            client.resume_schedule(name).await?;
            format!("schedule {name} resumed")
        }
    })
}

/// The form posted by the schedules page: on success back to that page, on an error a page
/// that says why.
async fn schedule_form_action(
    State(shared): AppState,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    headers: HeaderMap,
    Path((name, action)): Path<(String, String)>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Response, PageError> {
    let base = mount_point(&original, &uri);
    let done = async {
        let action = ScheduleAction::parse(&action)?;
        let Form(form) = form.map_err(|e| ConsoleError::BadRequest(e.body_text()))?;
        authorize(shared.token.as_ref(), &headers, form.token.as_deref())?;
        perform_on_schedule(&shared.client, &name, action).await
    };
    match done.await {
        Ok(_) => Ok(Redirect::to(&format!("{base}/schedules")).into_response()),
        Err(error) => Err(PageError { error, base }),
    }
}

/// A schedule's action through the API: the token as `Authorization: Bearer <token>`; answers
/// `{"message": ..}` or `{"error": ..}`.
async fn api_schedule_action(
    State(shared): AppState,
    headers: HeaderMap,
    Path((name, action)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let action = ScheduleAction::parse(&action)?;
    authorize(shared.token.as_ref(), &headers, None)?;
    let message = perform_on_schedule(&shared.client, &name, action).await?;
    Ok(Json(serde_json::json!({ "message": message })))
}

/// The Prometheus text; without a source, a 404 whose plain text says how to give one (read
/// by a person who followed the page's link, or in a scraper's log).
async fn metrics(State(shared): AppState) -> Response {
    let Some(source) = shared.metrics.as_ref() else {
        let error = ConsoleError::MetricsDisabled;
        return (error.status(), format!("{error}\n")).into_response();
    };
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        source(),
    )
        .into_response()
}

async fn no_page(OriginalUri(original): OriginalUri, uri: Uri) -> Response {
    let base = mount_point(&original, &uri);
    let error = ConsoleError::NoPage(original.path().to_string());
    if uri.path().starts_with("/api/") {
        ApiError(error).into_response()
    } else {
        PageError { error, base }.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mount_point_is_what_the_router_did_not_see() {
        let u = |s: &str| s.parse::<Uri>().expect("uri");
        assert_eq!(mount_point(&u("/"), &u("/")), "");
        assert_eq!(mount_point(&u("/runs/a"), &u("/runs/a")), "");
        assert_eq!(mount_point(&u("/console"), &u("/")), "/console");
        assert_eq!(mount_point(&u("/console/"), &u("/")), "/console");
        assert_eq!(mount_point(&u("/ops/wf/runs/a"), &u("/runs/a")), "/ops/wf");
    }

    #[test]
    fn list_parameters_are_checked() {
        let p = ListParams {
            status: Some("Parked".into()),
            name: Some(String::new()),
            limit: Some("20".into()),
            ..ListParams::default()
        };
        let f = p.filters().expect("filters");
        assert_eq!(
            (f.status, f.name, f.limit),
            (Some(WorkflowStatus::Parked), None, 20)
        );
        let bad = ListParams {
            status: Some("sleeping".into()),
            ..ListParams::default()
        };
        assert!(matches!(
            bad.filters(),
            Err(ConsoleError::BadInput {
                field: "status",
                ..
            })
        ));
        let bad = ListParams {
            limit: Some("ten".into()),
            ..ListParams::default()
        };
        assert!(matches!(
            bad.filters(),
            Err(ConsoleError::BadInput { field: "limit", .. })
        ));
    }
}
