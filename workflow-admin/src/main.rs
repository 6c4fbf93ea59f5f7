//! `workflow-admin`: the operator's commands on a store URL, for what needs no user types
//! (list, counts, show without the typed state, history, signal as JSON, cancel, terminate, unpark,
//! purge).
//!
//! ```text
//! workflow-admin --store sqlite:app.db list --status parked
//! workflow-admin --store postgres://app@db/app history order-42
//! WORKFLOW_STORE=sqlite:app.db workflow-admin purge --finished-before 30d
//! ```

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use workflow_admin::AdminCommand;
use workflow_rt::{Client, Store};

/// Operator commands on the runs in a workflow-rt store.
#[derive(Debug, Parser)]
#[command(name = "workflow-admin", version)]
struct Cli {
    /// The store: `sqlite:PATH` (or a path to an existing SQLite file), or a PostgreSQL URL
    /// (`postgres://user@host/db`).
    #[arg(long, env = "WORKFLOW_STORE")]
    store: String,
    /// The PostgreSQL schema that holds the store's tables (the store's default if not given).
    #[arg(long)]
    schema: Option<String>,
    /// A PEM file of the root certificates to check a PostgreSQL server's certificate and
    /// name against, as libpq's `sslmode=verify-full` with `sslrootcert` (TLS then always).
    /// Without it, TLS as the URL's `sslmode` asks, the certificate not checked.
    #[arg(long, env = "WORKFLOW_STORE_TLS_CA", value_name = "PEM_FILE")]
    tls_ca: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: AdminCommand,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let store = match open(&cli.store, cli.schema.as_deref(), cli.tls_ca.as_deref()).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("workflow-admin: cannot open the store {:?}: {e}", cli.store);
            return ExitCode::from(2);
        }
    };
    let client = Client::new(store);
    let mut out = std::io::stdout().lock();
    match workflow_admin::run(&client, cli.command, &mut out).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // An error may quote a run's id or reason: its control characters are shown.
            let mut err = std::io::stderr().lock();
            let _ = writeln!(workflow_admin::Shown::new(&mut err), "workflow-admin: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn open(
    url: &str,
    schema: Option<&str>,
    tls_ca: Option<&std::path::Path>,
) -> Result<Arc<dyn Store>, String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        #[cfg(feature = "postgres")]
        {
            let mut builder = workflow_rt::PostgresStore::builder(url);
            if let Some(schema) = schema {
                builder = builder.schema(schema);
            }
            if let Some(path) = tls_ca {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("cannot read --tls-ca {}: {e}", path.display()))?;
                builder = builder.tls(workflow_rt::PostgresTls::Verify(pem));
            }
            return Ok(Arc::new(
                builder.connect().await.map_err(|e| e.to_string())?,
            ));
        }
        #[cfg(not(feature = "postgres"))]
        return Err("this build has no PostgreSQL support (feature `postgres`)".into());
    }
    if schema.is_some() {
        return Err("--schema is for PostgreSQL stores".into());
    }
    if tls_ca.is_some() {
        return Err("--tls-ca is for PostgreSQL stores".into());
    }
    let path = url.strip_prefix("sqlite:").unwrap_or(url);
    #[cfg(feature = "sqlite")]
    {
        // An operator's typo must not create an empty store.
        if !std::path::Path::new(path).is_file() {
            return Err(format!("no SQLite file at {path:?}"));
        }
        Ok(Arc::new(
            workflow_rt::SqliteStore::open(path).map_err(|e| e.to_string())?,
        ))
    }
    #[cfg(not(feature = "sqlite"))]
    Err(format!(
        "this build has no SQLite support (feature `sqlite`) for {path:?}"
    ))
}
