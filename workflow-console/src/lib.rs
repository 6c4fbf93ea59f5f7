//! A web console for [`workflow_rt`]: served from your own process, it shows the runs of a
//! store and acts on them through a [`Client`], and never runs workflow code.
//!
//! - `/`: the runs, filtered by status, workflow name and id prefix, a page at a time, with
//!   the counts by status;
//! - `/runs/{id}`: a run's status, state and output as JSON, what it waits for, its history,
//!   and its state machine drawn by the server with the current state highlighted; forms to
//!   send it a signal (a JSON payload), cancel it (its code is told, and may compensate),
//!   terminate it (stopped outright) or unpark it;
//! - `/api/runs`, `/api/runs/{id}`: the same as JSON (the pages fetch them to update
//!   themselves live), and `POST /api/runs/{id}/signal|cancel|terminate|unpark` for scripts;
//! - `/metrics`: the Prometheus text of the process's metrics.
//!
//! Everything is rendered by the server; a page loads nothing from anywhere else (its CSS and
//! its small script are inline).
//!
//! **Actions need a token.** Signal, cancel, terminate and unpark are refused (403) until the console is
//! given a token with [`Console::token`]; then each request must present it, in the page's
//! token field or as `Authorization: Bearer <token>`. Looking needs no token: the console
//! binds to `127.0.0.1` by default ([`Console::serve_default`]), and there answers requests
//! for loopback host names only ([`Console::allowed_hosts`]); put it behind your own
//! authentication before binding it anywhere else.
//!
//! ```no_run
//! use workflow_rt::prelude::*;
//! use workflow_rt::{MemoryStore, Runtime};
//! use workflow_console::Console;
//!
//! #[workflow]
//! async fn approval(ctx: WorkflowCtx, amount: u64) -> bool {
//!     ctx.signal::<bool>("approve").await
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let metrics = workflow_console::install_prometheus()?;
//!     let rt = Runtime::builder(MemoryStore::new())
//!         .workflow(approval)
//!         .build()
//!         .await?;
//!     rt.start(approval, "a-1", 250).await?;
//!     // rt.client() knows the runtime's workflows: the console shows their states.
//!     Console::new(rt.client())
//!         .token(std::env::var("CONSOLE_TOKEN").unwrap_or_default())
//!         .prometheus(metrics)
//!         .serve_default() // http://127.0.0.1:7380/
//!         .await?;
//!     Ok(())
//! }
//! ```
//!
//! To serve it inside an application of your own, mount its [`Console::router`], under a path
//! of its own if you like (`Router::new().nest("/console", console.router())`): its links
//! follow where it is mounted.

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod auth;
mod error;
mod html;
mod pages;
mod routes;
mod svg;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use tokio::net::{TcpListener, ToSocketAddrs};
use workflow_rt::Client;

pub use metrics_exporter_prometheus::{BuildError, PrometheusHandle};
pub use svg::state_machine_svg;

use auth::Token;

/// The port [`Console::serve_default`] listens on, on `127.0.0.1`.
pub const DEFAULT_PORT: u16 = 7380;

/// The host names a console served on a loopback address answers by default.
const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// Where `/metrics` gets its text.
pub(crate) type MetricsSource = Arc<dyn Fn() -> String + Send + Sync>;

/// The web console: built on a [`Client`], then served ([`Console::serve_default`],
/// [`Console::serve`]) or mounted in an app of your own ([`Console::router`]).
///
/// ```
/// use workflow_rt::{Client, MemoryStore};
/// use workflow_console::Console;
///
/// let console = Console::new(Client::new(MemoryStore::new())).token("s3cret");
/// let app: axum::Router = axum::Router::new().nest("/console", console.router());
/// # let _ = app;
/// ```
#[derive(Clone)]
pub struct Console {
    client: Client,
    token: Option<Token>,
    metrics: Option<MetricsSource>,
    hosts: Option<Vec<String>>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("client", &self.client)
            .field("actions", &self.token.is_some())
            .field("metrics", &self.metrics.is_some())
            .finish()
    }
}

impl Console {
    /// A console on `client`: what it shows and does goes through it. A client that knows the
    /// workflows ([`workflow_rt::Runtime::client`], or [`Client::workflow`] for each) lets the
    /// console show their states, outputs and state machines; any client lists runs, shows
    /// their history and acts on them.
    ///
    /// Actions are off until [`Console::token`] is given; `/metrics` answers 404 until
    /// [`Console::prometheus`] or [`Console::metrics`] is.
    pub fn new(client: Client) -> Console {
        Console {
            client,
            token: None,
            metrics: None,
            hosts: None,
        }
    }

    /// Answers only requests for these host names (the `Host` header without its port, as
    /// `console.example.com` or `127.0.0.1`; case does not matter), others with 421: a page
    /// of another site whose name was made to point at the console's address (DNS
    /// rebinding) cannot read the runs through a visitor's browser. [`Console::serve`] and
    /// [`Console::serve_listener`] on a loopback address take `localhost`, `127.0.0.1`,
    /// `[::1]` and the address bound (`127.0.0.2`) unless this is given; a router of your own ([`Console::router`]) checks only
    /// what this names.
    pub fn allowed_hosts<I, S>(mut self, hosts: I) -> Console
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.hosts = Some(hosts.into_iter().map(Into::into).collect());
        self
    }

    /// Turns the actions on (signal, cancel, terminate, unpark): each must present `token`, in the run
    /// page's token field or as `Authorization: Bearer <token>` (the scheme in any case). It is
    /// compared in constant time, without the whitespace around it. An empty token leaves the
    /// actions off, so that an unset environment variable does not open them. The run page's
    /// script sends it in the header, which a browser sends as Latin-1: a token of printable
    /// ASCII works from everywhere.
    pub fn token(mut self, token: impl Into<String>) -> Console {
        self.token = Token::new(token.into());
        self
    }

    /// Serves `/metrics` from a Prometheus recorder's handle (see [`install_prometheus`]).
    pub fn prometheus(self, handle: PrometheusHandle) -> Console {
        self.metrics(move || handle.render())
    }

    /// Serves `/metrics` from `source`, called on every request for the text in the
    /// Prometheus exposition format.
    pub fn metrics(mut self, source: impl Fn() -> String + Send + Sync + 'static) -> Console {
        self.metrics = Some(Arc::new(source));
        self
    }

    /// The console as an axum router, to serve or to mount in a router of your own
    /// (`.nest("/console", console.router())`: links and the live updates follow the mount
    /// point).
    pub fn router(&self) -> Router {
        routes::router(Arc::new(routes::Shared {
            client: self.client.clone(),
            token: self.token.clone(),
            metrics: self.metrics.clone(),
            hosts: self.hosts.clone(),
        }))
    }

    /// Serves the console on `127.0.0.1:`[`DEFAULT_PORT`], until the task is dropped or the
    /// listener fails.
    pub async fn serve_default(self) -> io::Result<()> {
        self.serve(SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_PORT)))
            .await
    }

    /// Serves the console on `addr` (`"127.0.0.1:8080"`, a [`SocketAddr`]...). Anyone who can
    /// reach the address sees the runs; bind beyond the loopback interface only behind
    /// authentication of your own.
    pub async fn serve(self, addr: impl ToSocketAddrs) -> io::Result<()> {
        self.serve_listener(TcpListener::bind(addr).await?).await
    }

    /// Serves the console on a listener already bound (on port 0, say, to let the system
    /// choose the port: [`TcpListener::local_addr`] tells which).
    pub async fn serve_listener(mut self, listener: TcpListener) -> io::Result<()> {
        let ip = listener.local_addr()?.ip();
        if self.hosts.is_none() && ip.is_loopback() {
            self.hosts = Some(loopback_hosts(ip));
        }
        axum::serve(listener, self.router()).await
    }
}

/// The host names a console bound to loopback address `ip` answers: [`LOOPBACK_HOSTS`], and
/// the address itself (`127.0.0.2`, `[::1]`).
fn loopback_hosts(ip: std::net::IpAddr) -> Vec<String> {
    let mut hosts: Vec<String> = LOOPBACK_HOSTS.iter().map(|h| h.to_string()).collect();
    let own = match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
    };
    if !hosts.contains(&own) {
        hosts.push(own);
    }
    hosts
}

/// Installs a Prometheus recorder as the process's `metrics` recorder and returns its
/// handle, for [`Console::prometheus`]. Fails when a recorder is installed already (there is
/// one per process): then give the console that recorder's handle, or its text through
/// [`Console::metrics`].
pub fn install_prometheus() -> Result<PrometheusHandle, BuildError> {
    metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()
}

#[cfg(test)]
mod tests {
    use super::loopback_hosts;

    #[test]
    fn a_console_on_another_loopback_address_answers_to_it() {
        let hosts = loopback_hosts("127.0.0.2".parse().expect("ip"));
        assert!(hosts.iter().any(|h| h == "127.0.0.2"), "{hosts:?}");
        assert!(hosts.iter().any(|h| h == "localhost"), "{hosts:?}");
        let hosts = loopback_hosts("::1".parse().expect("ip"));
        assert_eq!(
            hosts.iter().filter(|h| *h == "[::1]").count(),
            1,
            "{hosts:?}"
        );
    }
}
