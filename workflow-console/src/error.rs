//! Why a request failed, and the response that says so: HTML for the pages, JSON for the API.

use axum::Json;
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use workflow_rt::schedule::ScheduleError;
use workflow_rt::{RuntimeError, StoreError};

use crate::html::{self, Esc};

/// Why the console refused or could not answer a request. Each variant is one status code.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConsoleError {
    /// No token is configured: actions are off.
    #[error(
        "actions are disabled: this console was started without a token (enable them with Console::token)"
    )]
    ActionsDisabled,
    /// An action came without a token.
    #[error(
        "this action needs the console's token: in the form's token field or as `Authorization: Bearer <token>`"
    )]
    TokenMissing,
    /// An action came with another token than the console's.
    #[error("the token is not the console's")]
    TokenWrong,
    /// A query parameter or form field has a value the console cannot use.
    #[error("{field}: {reason}")]
    BadInput {
        /// The parameter or field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The request's body or query string could not be read (axum's rejection, which says
    /// why).
    #[error("{0}")]
    BadRequest(String),
    /// `/metrics` was asked for, but no metrics source was configured.
    #[error(
        "metrics are not enabled: give the console a Prometheus handle (Console::prometheus) or a source of metrics text (Console::metrics)"
    )]
    MetricsDisabled,
    /// No page at this path.
    #[error("no page at {0}")]
    NoPage(String),
    /// The client (and so the store) answered with an error.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The client answered a request on schedules with an error.
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
}

impl ConsoleError {
    /// The status code of the response.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ConsoleError::ActionsDisabled | ConsoleError::TokenWrong => StatusCode::FORBIDDEN,
            ConsoleError::TokenMissing => StatusCode::UNAUTHORIZED,
            ConsoleError::BadInput { .. } | ConsoleError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConsoleError::MetricsDisabled | ConsoleError::NoPage(_) => StatusCode::NOT_FOUND,
            ConsoleError::Runtime(e) => runtime_status(e),
            ConsoleError::Schedule(e) => schedule_status(e),
        }
    }

    fn into_response_with(self, body: impl IntoResponse) -> Response {
        let status = self.status();
        let mut response = (status, body).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="workflow console""#),
            );
        }
        response
    }
}

/// The status code for an error of the client: the caller's mistakes are 4xx, the store's
/// failures 5xx.
fn runtime_status(e: &RuntimeError) -> StatusCode {
    match e {
        RuntimeError::UnknownWorkflow(_) => StatusCode::NOT_FOUND,
        RuntimeError::Finished { .. }
        | RuntimeError::NotParked { .. }
        | RuntimeError::NotFinished { .. }
        | RuntimeError::Parked { .. } => StatusCode::CONFLICT,
        RuntimeError::Encode { .. }
        | RuntimeError::Decode { .. }
        | RuntimeError::BadName { .. } => StatusCode::BAD_REQUEST,
        RuntimeError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        RuntimeError::Store(StoreError::Conflict { .. }) => StatusCode::CONFLICT,
        RuntimeError::Store(StoreError::NotFound(_)) => StatusCode::NOT_FOUND,
        RuntimeError::Store(StoreError::Finished { .. } | StoreError::NotFinished { .. }) => {
            StatusCode::CONFLICT
        }
        RuntimeError::Store(_) | RuntimeError::ShutDown => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The status code for an error of the client on schedules.
fn schedule_status(e: &ScheduleError) -> StatusCode {
    match e {
        ScheduleError::NotFound(_) => StatusCode::NOT_FOUND,
        // Taken, but not made: not to be retried as a refused request would be.
        ScheduleError::RunRefused { .. } => StatusCode::CONFLICT,
        ScheduleError::Store(StoreError::ScheduleConflict { .. }) => StatusCode::CONFLICT,
        ScheduleError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        ScheduleError::Unreadable { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// An error answered as JSON, `{"error": "<message>"}` (the API).
#[derive(Debug)]
pub(crate) struct ApiError(pub(crate) ConsoleError);

impl<E: Into<ConsoleError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(serde_json::json!({ "error": self.0.to_string() }));
        self.0.into_response_with(body)
    }
}

/// An error answered as an HTML page (the pages, and the forms posted without the script).
#[derive(Debug)]
pub(crate) struct PageError {
    pub(crate) error: ConsoleError,
    /// Where the console is mounted, for the page's links.
    pub(crate) base: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.error.status();
        let body = format!(
            r#"<section class="card error"><h1>{code} {reason}</h1><p class="message">{message}</p><p><a href="{base}/">Back to the runs</a></p></section>"#,
            code = status.as_u16(),
            reason = status.canonical_reason().unwrap_or(""),
            message = Esc(&self.error.to_string()),
            base = Esc(&self.base),
        );
        let page = html::page(&self.base, "Error", "error", &body);
        self.error.into_response_with(Html(page))
    }
}
