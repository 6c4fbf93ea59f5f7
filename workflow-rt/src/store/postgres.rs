//! [`PostgresStore`]: worker processes on many machines sharing one PostgreSQL database.
//!
//! Every operation is one transaction at `READ COMMITTED`, on a pooled connection
//! (`deadpool-postgres` over `tokio-postgres`). What keeps several processes apart:
//!
//! - **The workflow row is the lock of everything that belongs to it.** A step commit, a new
//!   event (signal, activity result, fired timer) and `clear_ready` all lock the workflow's row
//!   (`FOR UPDATE`) before anything else, and then decide in a *later* statement, whose
//!   snapshot sees every transaction that held the lock before. So an event is either seen by
//!   the step that commits after it (which keeps the workflow ready) or inserted after that
//!   commit (and sets the flag again): never lost between the two. Locks are taken in one
//!   order, the workflow row first, and a batch of commits locks its workflows by id (a step
//!   of a `commit_steps` batch that delivers events locks the runs it delivers to after the
//!   rows of the steps before it: the runtime's batches deliver none). A step
//!   that delivers events locks the runs they go to with its own, by id, before anything
//!   else, so a parent and its child committing to each other at once never wait in a
//!   circle; a delivery to a finished run takes no lock, so a purge, which locks the run and
//!   then its children, never waits in a circle with a child's step.
//! - **Steps are compare-and-set** on the workflow's version, as in every store; a batch of
//!   steps (`commit_steps`) is one transaction, one WAL flush.
//! - **Activity tasks are claimed with `FOR UPDATE SKIP LOCKED`** under an expiring lease (the
//!   `due` column: when the task may be claimed next). Two processes polling at once take
//!   different tasks. A retry is fenced by attempt and owner.
//! - **Due timers are fired once**: the timers are deleted by key under their workflows' locks
//!   and only the rows a transaction did delete become events. A workflow another transaction
//!   holds is skipped (`SKIP LOCKED`): its timers fire at the next look.
//!
//! - **Wake-ups without polling delay**: a transaction that makes a workflow ready, adds
//!   activity tasks or adds timers sends a `NOTIFY` (delivered when it commits) saying which; each
//!   store keeps one connection that `LISTEN`s, reconnecting by itself when it drops, and
//!   hands what other processes announce to its runtime as [`Wakeup`]s. A lost notification
//!   costs a poll interval, never a wake-up.
//! - **Lease renewals on a connection of their own**, opened again when it fails: a busy
//!   worker's steps may hold every pooled connection, and a renewal waiting behind them
//!   could come after the leases lapsed.
//!
//! The schema lives in the database with a version row (see [`SCHEMA_VERSION`]); the store
//! creates it, upgrades an older one, and refuses a newer one with
//! [`PostgresError::NewerSchema`].

use std::time::Duration;

use std::future::Future;
use std::pin::Pin;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Transaction};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};

use super::rows::{corrupt, event_columns, event_from_columns, history_entry, int, uint};
use super::{
    ActivityTask, CompleteActivity, Event, EventKind, HistoryEntry, LeaseRenewal, LeaseRequest,
    NewWorkflow, ParentLink, Release, RetryActivity, RunPage, RunQuery, ScheduleRecord, StepCommit,
    StepOutcome, Store, StoreError, StoreFuture, TimerRow, Wakeup, WorkflowRecord, WorkflowStatus,
    WorkflowSummary, lost_attempt_entry, prefix_successor, received_signal_entry,
    released_attempt_entry,
};
use crate::activity::{ActivityError, ActivityErrorKind, ActivityOptions};

mod schedules;
mod tls;

pub use tls::PostgresTls;

/// The version of the schema this code writes. A database whose version row says more was
/// written by newer code: [`PostgresStore::connect`] refuses it
/// ([`PostgresError::NewerSchema`]) rather than misread it.
pub const SCHEMA_VERSION: i32 = 9;

/// Why a [`PostgresStore`] could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    /// The connection string does not parse (see the `tokio-postgres` docs for its two forms:
    /// `postgres://user:password@host:port/db` and `host=... user=...`).
    #[error("invalid PostgreSQL connection string: {0}")]
    InvalidUrl(#[source] tokio_postgres::Error),
    /// The schema name given to [`PostgresStoreBuilder::schema`] is not a plain lower-case
    /// identifier (letters, digits, `_`, at most 63 bytes, not starting with a digit).
    #[error(
        "invalid schema name {0:?}: use lower-case letters, digits and _ (not first), at most 63 bytes"
    )]
    InvalidSchemaName(String),
    /// The server could not be reached or refused the login.
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(#[source] StoreError),
    /// The database holds a schema written by a newer version of this crate: upgrade the
    /// program, or point it at another database or schema.
    #[error(
        "the database schema is version {found}, newer than this program's {supported}: upgrade the program"
    )]
    NewerSchema {
        /// The version found in the database.
        found: i32,
        /// The newest version this program knows.
        supported: i32,
    },
    /// Creating or upgrading the schema failed.
    #[error("cannot set up the schema: {0}")]
    Schema(#[source] StoreError),
    /// TLS failed ([`PostgresStoreBuilder::tls`]): root certificates that do not parse (or
    /// none), or a handshake with the server that failed (a certificate of another
    /// authority, or for another host), with the reason.
    #[error("TLS: {0}")]
    Tls(String),
}

/// Options of a [`PostgresStore`]; [`PostgresStore::connect`] uses the defaults.
#[derive(Debug, Clone)]
pub struct PostgresStoreBuilder {
    url: String,
    schema: Option<String>,
    pool_size: usize,
    connect_timeout: Duration,
    committers: usize,
    tls: Option<PostgresTls>,
}

impl PostgresStoreBuilder {
    /// How the connections are encrypted, over what the connection string says. Without it,
    /// as libpq reads the string: TLS as its `sslmode` asks, the server's certificate checked
    /// when it says `verify-full` ([`PostgresTls::Verify`]), `verify-ca`
    /// ([`PostgresTls::VerifyCa`]), or `require` with a root certificate (`sslrootcert`, or
    /// `~/.postgresql/root.crt`), and not checked otherwise ([`PostgresTls::Unchecked`]).
    /// Given, it wins, unless it checks less than the string asks for (`verify-full` with
    /// anything but [`PostgresTls::Verify`], `verify-ca` without a check of the authority),
    /// which [`PostgresStoreBuilder::connect`] refuses with [`PostgresError::Tls`].
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// use workflow_rt::{PostgresStore, PostgresTls};
    /// let ca = std::fs::read("/etc/ssl/certs/db-ca.pem")?;
    /// let store = PostgresStore::builder("postgres://app@db.example.com/app")
    ///     .tls(PostgresTls::Verify(ca))
    ///     .connect()
    ///     .await?;
    /// # let _ = store; Ok(()) }
    /// ```
    pub fn tls(mut self, tls: PostgresTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Keeps the store's tables in this schema (created if missing) instead of the
    /// connection's default (`public`): several independent stores in one database.
    pub fn schema(mut self, name: impl Into<String>) -> Self {
        self.schema = Some(name.into());
        self
    }

    /// The most connections the store's pool opens (default 16). Two more are kept apart
    /// from it: one that `LISTEN`s for other processes' wake-ups, one that renews leases.
    pub fn pool_size(mut self, n: usize) -> Self {
        self.pool_size = n.max(1);
        self
    }

    /// How many batches of steps may be committing at once (default 1). Steps of many
    /// workflows that commit meanwhile wait for the batch in flight and go in the next one,
    /// in one transaction: one round trip and one flush of the log for all of them. One
    /// batch at a time costs the server least per step (on two cores, three worker processes
    /// on one server reached about 5 000 steps/s with one, 4 000 with four); more may help
    /// when the server is far (a long round trip) and has cores to spare.
    pub fn committers(mut self, n: usize) -> Self {
        self.committers = n.max(1);
        self
    }

    /// How long to wait for a connection to be made, for a free one in the pool, or for the
    /// answer to a renewal of leases, before an operation fails (default 10 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d.max(Duration::from_millis(1));
        self
    }

    /// Connects, creates or upgrades the schema, and returns the store.
    pub async fn connect(self) -> Result<PostgresStore, PostgresError> {
        // libpq's certificate checks asked for in the string (which tokio-postgres refuses):
        // a `tls` given to the builder wins, if it checks at least as much.
        let (url, asked) = tls::take_libpq_tls(&self.url)?;
        let tls_asked = match &self.tls {
            Some(given) => {
                asked.allows(given)?;
                given.clone()
            }
            None => asked.resolve(tls::home_dir().as_deref())?,
        };
        let mut config: tokio_postgres::Config = url.parse().map_err(PostgresError::InvalidUrl)?;
        // The store's statements are prepared once per connection and run many times, with
        // parameters that do not change the best plan (keys, arrays of keys): the generic plan
        // spares the server planning them again at each run.
        let mut options = config.get_options().unwrap_or_default().to_string();
        options.push_str(" -c plan_cache_mode=force_generic_plan");
        if let Some(schema) = &self.schema {
            if !valid_identifier(schema) {
                return Err(PostgresError::InvalidSchemaName(schema.clone()));
            }
            options.push_str(&format!(" -c search_path={schema}"));
        }
        config.options(options.trim());
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(self.connect_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("workflow-rt");
        }
        let tls = tls_asked.connector(&mut config)?;
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                // A connection whose server went away is closed: `Fast` drops it at recycling
                // and the pool opens a new one, which is how the store reconnects.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(self.pool_size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(self.connect_timeout))
            .create_timeout(Some(self.connect_timeout))
            .recycle_timeout(Some(self.connect_timeout))
            .build()
            .map_err(|e| {
                PostgresError::Connect(StoreError::backend_with("cannot build the pool", e))
            })?;
        {
            let mut client = pool
                .get()
                .await
                .map_err(|e| match tls::handshake_failure(&e) {
                    Some(why) => PostgresError::Tls(why),
                    // pg_hba.conf refusing a connection in the clear: say what to do.
                    None if format!("{e:?}").contains("no encryption") => {
                        PostgresError::Connect(StoreError::backend_with(
                            "the server takes this connection only over TLS: add \
                             sslmode=require to the URL, or give its root certificates \
                             (PostgresTls::Verify)",
                            e,
                        ))
                    }
                    None => PostgresError::Connect(StoreError::backend_with(
                        "cannot get a PostgreSQL connection",
                        e,
                    )),
                })?;
            migrate(&mut client, self.schema.as_deref()).await?;
        }
        let channel = channel_of(self.schema.as_deref());
        let origin = new_origin();
        let (hints, _) = tokio::sync::broadcast::channel(256);
        let listener = tokio::spawn(listen(
            config.clone(),
            tls.clone(),
            channel.clone(),
            origin.clone(),
            hints.clone(),
        ))
        .abort_handle();
        let notices = Notices {
            channel: channel.clone(),
            origin: origin.clone(),
        };
        let (commits, queue) = tokio::sync::mpsc::unbounded_channel();
        let queue = std::sync::Arc::new(tokio::sync::Mutex::new(queue));
        let committers = (0..self.committers)
            .map(|_| {
                tokio::spawn(committer(pool.clone(), notices.clone(), queue.clone())).abort_handle()
            })
            .collect();
        Ok(PostgresStore {
            pool,
            config,
            tls,
            schema: self.schema,
            channel,
            origin,
            hints,
            listener,
            notices,
            commits,
            committers,
            renewer: tokio::sync::Mutex::new(None),
            renew_timeout: self.connect_timeout,
        })
    }
}

fn valid_identifier(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && !b[0].is_ascii_digit()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// A [`Store`] in a PostgreSQL database, shared by worker processes on any number of machines.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use workflow_rt::PostgresStore;
/// let store = PostgresStore::connect("postgres://app:secret@db.internal/orders").await?;
/// let tenant = PostgresStore::builder("postgres://app:secret@db.internal/orders")
///     .schema("tenant_7")
///     .pool_size(8)
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
///
/// Connections are plain TCP or Unix sockets (no TLS). A connection the server drops is
/// replaced at its next use: an operation that was running on it fails with
/// [`StoreError::Backend`] and the runtime tries it again.
pub struct PostgresStore {
    pool: Pool,
    config: tokio_postgres::Config,
    /// What every connection of the store is made with (see [`PostgresTls`]).
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    schema: Option<String>,
    /// The channel of this schema's notifications.
    channel: String,
    /// This store's mark on its notifications: its own are not handed back to it.
    origin: String,
    hints: tokio::sync::broadcast::Sender<Wakeup>,
    listener: tokio::task::AbortHandle,
    notices: Notices,
    /// The queue of steps to commit, and the tasks that commit them in batches.
    commits: tokio::sync::mpsc::UnboundedSender<Queued>,
    committers: Vec<tokio::task::AbortHandle>,
    /// The connection that renews leases, apart from the pool: a renewal that waited for a
    /// pooled connection behind a busy worker's steps could come after the leases lapsed,
    /// and another attempt of each call would start while the first still runs.
    renewer: tokio::sync::Mutex<Option<Renewer>>,
    /// How long a renewal of leases may take (the connect timeout).
    renew_timeout: Duration,
}

/// [`PostgresStore`]'s connection for lease renewals, with its statement. Dropped, it closes
/// its socket at once (a server that stopped answering may never close it).
struct Renewer {
    client: tokio_postgres::Client,
    renew: tokio_postgres::Statement,
    _driver: Driver,
}

/// The task that drives a connection: stopped when dropped.
struct Driver(tokio::task::AbortHandle);

impl Drop for Driver {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Renews the leases of `owner` on `tasks` until `$2`; returns the ones renewed.
///
/// The task rows are locked first, in key order (`l`), as `release_tasks` and the steps
/// take them: an `UPDATE ... FROM` alone locks them in the order its plan walks them, which
/// a hash join over the table need not keep, and two transactions taking one worker's rows
/// in two orders can deadlock (each waits a second, then one fails).
const RENEW_LEASES: &str = "WITH r AS MATERIALIZED ( \
         SELECT * FROM unnest($3::TEXT[], $4::BIGINT[], $5::BYTEA[], $6::BIGINT[]) \
             AS r(workflow_id, seq, beat, version)), \
     l AS MATERIALIZED ( \
         SELECT t.workflow_id, t.seq FROM tasks t JOIN r \
             ON t.workflow_id = r.workflow_id AND t.seq = r.seq \
         WHERE t.lease_owner = $1 AND t.scheduled_version = r.version \
         ORDER BY t.workflow_id, t.seq FOR UPDATE OF t) \
     UPDATE tasks t SET lease_until = $2, due = $2, heartbeat = COALESCE(r.beat, t.heartbeat) \
     FROM r, l \
     WHERE l.workflow_id = r.workflow_id AND l.seq = r.seq \
         AND t.workflow_id = r.workflow_id AND t.seq = r.seq AND t.lease_owner = $1 \
         AND t.scheduled_version = r.version \
     RETURNING t.workflow_id, t.seq";

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.listener.abort();
        for c in &self.committers {
            c.abort();
        }
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("hosts", &self.config.get_hosts())
            .field("dbname", &self.config.get_dbname())
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects with the default options, creating or upgrading the schema.
    pub async fn connect(url: &str) -> Result<Self, PostgresError> {
        Self::builder(url).connect().await
    }

    /// Options for a store at this connection string.
    pub fn builder(url: impl Into<String>) -> PostgresStoreBuilder {
        PostgresStoreBuilder {
            url: url.into(),
            schema: None,
            pool_size: 16,
            connect_timeout: Duration::from_secs(10),
            committers: 1,
            tls: None,
        }
    }

    /// The schema the store's tables are in, if one was given.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::backend_with("cannot get a PostgreSQL connection", e))
    }

    /// Opens the lease renewals' own connection (its driver runs until the client is
    /// dropped, or the server goes away).
    async fn open_renewer(&self) -> Result<Renewer, StoreError> {
        let (client, conn) = self
            .config
            .connect(self.tls.clone())
            .await
            .map_err(|e| StoreError::backend_with("cannot open a PostgreSQL connection", e))?;
        let driver = Driver(
            tokio::spawn(async move {
                let _ = conn.await;
            })
            .abort_handle(),
        );
        let renew = client.prepare(RENEW_LEASES).await.db()?;
        Ok(Renewer {
            client,
            renew,
            _driver: driver,
        })
    }
}

/// Runs `$body` in a transaction on a pooled connection, `$tx` naming the transaction;
/// commits if it returns `Ok`, rolls back otherwise.
macro_rules! in_tx {
    ($store:expr, |$tx:ident| $body:block) => {{
        let mut client = $store.client().await?;
        let txn = client.transaction().await.db()?;
        let out = {
            let $tx = &txn;
            async { $body }.await
        };
        finish(txn, out).await
    }};
}

async fn finish<T>(tx: Transaction<'_>, out: Result<T, StoreError>) -> Result<T, StoreError> {
    match out {
        Ok(v) => {
            tx.commit().await.db()?;
            Ok(v)
        }
        Err(e) => {
            // Dropping the transaction would roll it back too; this keeps the connection
            // clean before it goes back to the pool.
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

/// What a transaction changed that other processes poll for: said with `NOTIFY` as it
/// commits.
#[derive(Debug, Clone, Copy, Default)]
struct Changes {
    workflows: bool,
    tasks: bool,
    timers: bool,
}

impl Changes {
    const WORKFLOWS: Changes = Changes {
        workflows: true,
        tasks: false,
        timers: false,
    };
    const TASKS: Changes = Changes {
        workflows: false,
        tasks: true,
        timers: false,
    };

    /// The payload after the origin: one letter per kind of change.
    fn letters(self) -> String {
        let mut s = String::new();
        for (yes, c) in [(self.workflows, 'w'), (self.tasks, 't'), (self.timers, 'm')] {
            if yes {
                s.push(c);
            }
        }
        s
    }
}

impl PostgresStore {
    /// Releases `owner`'s leases (see `Store::release_leases`), those on `tasks` alone when
    /// given (`Store::release_tasks`); returns how many.
    async fn release(
        &self,
        owner: &str,
        tasks: Option<&[LeaseRenewal]>,
        why: Release,
        now_ms: u64,
    ) -> Result<u64, StoreError> {
        let released = in_tx!(self, |tx| {
            let back = i64::from(why == Release::Shutdown);
            let rows = match tasks {
                None => {
                    let stmt = tx
                        .prepare_cached(
                            "UPDATE tasks SET lease_owner = NULL, lease_until = NULL, due = visible_at, \
                             attempt = GREATEST(attempt - $2, 0) WHERE lease_owner = $1 \
                             RETURNING workflow_id, seq, name, attempt + $2",
                        )
                        .await
                        .db()?;
                    tx.query(&stmt, &[&owner, &back]).await.db()?
                }
                Some(tasks) => {
                    let mut tasks: Vec<&LeaseRenewal> = tasks.iter().collect();
                    tasks.sort_by(|a, b| (&a.workflow_id, a.seq).cmp(&(&b.workflow_id, b.seq)));
                    let ids: Vec<&str> = tasks.iter().map(|t| t.workflow_id.as_str()).collect();
                    let seqs: Vec<i64> = tasks.iter().map(|t| int(t.seq)).collect();
                    let versions: Vec<i64> =
                        tasks.iter().map(|t| int(t.scheduled_version)).collect();
                    // The runs' rows first, in id order, as every change of a run takes them,
                    // then the tasks' in order: a step cancelling calls, or the lease loop
                    // renewing them, while the worker drains, takes them in the same order.
                    let lock = tx
                        .prepare_cached(
                            "SELECT 1 FROM workflows WHERE id = ANY($1) ORDER BY id FOR UPDATE",
                        )
                        .await
                        .db()?;
                    tx.query(&lock, &[&ids]).await.db()?;
                    let lock = tx
                        .prepare_cached(
                            "SELECT 1 FROM tasks WHERE (workflow_id, seq) IN \
                                 (SELECT * FROM unnest($1::text[], $2::bigint[])) \
                             ORDER BY workflow_id, seq FOR UPDATE",
                        )
                        .await
                        .db()?;
                    tx.query(&lock, &[&ids, &seqs]).await.db()?;
                    let stmt = tx
                        .prepare_cached(
                            "UPDATE tasks SET lease_owner = NULL, lease_until = NULL, due = visible_at, \
                             attempt = GREATEST(attempt - $2, 0) WHERE lease_owner = $1 \
                             AND (workflow_id, seq, scheduled_version) IN \
                                 (SELECT * FROM unnest($3::text[], $4::bigint[], $5::bigint[])) \
                             RETURNING workflow_id, seq, name, attempt + $2",
                        )
                        .await
                        .db()?;
                    tx.query(&stmt, &[&owner, &back, &ids, &seqs, &versions])
                        .await
                        .db()?
                }
            };
            let mut released = Vec::with_capacity(rows.len());
            for r in &rows {
                let wf: String = r.try_get(0).db()?;
                let seq: i64 = r.try_get(1).db()?;
                let name: String = r.try_get(2).db()?;
                let attempt: i64 = r.try_get(3).db()?;
                let attempt = u32::try_from(attempt).unwrap_or(u32::MAX);
                released.push((
                    wf,
                    released_attempt_entry(now_ms, &name, uint(seq), attempt, owner, why),
                ));
            }
            if !released.is_empty() {
                self.announce(tx, Changes::TASKS).await?;
            }
            Ok(released)
        })?;
        // Recorded in transactions of their own, which lock the workflow before anything
        // else, in the order every other change takes. The leases are released already: an
        // entry that cannot be written is told in the log, and the others are written.
        for (wf, entry) in &released {
            let written: Result<(), StoreError> = async {
                in_tx!(self, |tx| {
                    lock_workflow(tx, wf).await?;
                    append_history(tx, wf, std::slice::from_ref(entry)).await
                })
            }
            .await;
            if let Err(e) = written {
                tracing::warn!(workflow_id = %wf, error = %e, "a released lease's history entry was not written");
            }
        }
        Ok(released.len() as u64)
    }

    /// `Store::purge`, of the run at `version` only when given (`Store::purge_version`).
    fn purge_run<'a>(&'a self, id: &'a str, version: Option<u64>) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            storable(id)?;
            in_tx!(self, |tx| {
                // The row's lock first, as every change of a workflow takes it: an event or a
                // step waiting for it finds the workflow gone once this commits. Then its
                // children's rows, whose links go (see `delete_runs`): a child's step takes its
                // own row's lock and then its parent's only while the parent is not finished
                // (see `deliver`), so the two never wait for each other.
                let (status, at, _) = lock_workflow(tx, id).await?;
                if let Some(expected) = version
                    && at != expected
                {
                    return Err(StoreError::Conflict {
                        workflow_id: id.to_string(),
                        expected,
                    });
                }
                if !status.is_finished() {
                    return Err(StoreError::NotFinished {
                        workflow_id: id.to_string(),
                        status,
                    });
                }
                let last = tx
                    .query_one(
                        "SELECT version, updated_at FROM workflows WHERE id = $1",
                        &[&id],
                    )
                    .await
                    .db()?;
                let (version, finished_at): (i64, i64) =
                    (last.try_get(0).db()?, last.try_get(1).db()?);
                delete_runs(tx, &[id]).await?;
                // The tombstone (see `Store::purge`). There is none for the id already (the
                // run under it took it away when it was created), but should there be, the
                // later of the two stands.
                exec(
                    tx,
                    "INSERT INTO tombstones (id, version, finished_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (id) DO UPDATE SET \
                         version = GREATEST(tombstones.version, EXCLUDED.version), \
                         finished_at = GREATEST(tombstones.finished_at, EXCLUDED.finished_at)",
                    &[&id, &version, &finished_at],
                )
                .await?;
                Ok(())
            })
        })
    }

    /// Creates the child runs a committed step starts (see [`StepCommit::children`]), then
    /// adds the events it delivers to other runs (or its own), each under its run's lock,
    /// skipping runs that are finished or gone (see [`StepCommit::deliver`]).
    async fn deliver(&self, tx: &Transaction<'_>, step: &StepCommit) -> Result<(), StoreError> {
        let mut woke = false;
        if matches!(step.outcome, StepOutcome::Suspended { .. }) {
            // The child runs it starts (see `StepCommit::children`).
            for child in &step.children {
                woke = true;
                if insert_run(tx, child).await?.is_some() {
                    continue;
                }
                let stmt = tx
                    .prepare_cached("SELECT parent_id, parent_seq FROM workflows WHERE id = $1")
                    .await
                    .db()?;
                let link: Option<(Option<String>, Option<i64>)> =
                    match tx.query_opt(&stmt, &[&child.id]).await.db()? {
                        Some(r) => Some((r.try_get(0).db()?, r.try_get(1).db()?)),
                        None => None,
                    };
                let ours = child
                    .parent
                    .as_ref()
                    .map(|p| (Some(p.id.clone()), Some(int(p.seq))));
                if link.is_some() && link == ours {
                    continue;
                }
                let kind = EventKind::ChildFinished {
                    seq: child.parent.as_ref().map_or(0, |p| p.seq),
                    result: Err(crate::ChildError::IdInUse {
                        id: child.id.clone(),
                    }),
                };
                insert_event(tx, &step.workflow_id, step.now_ms, kind).await?;
            }
        }
        for d in &step.deliver {
            if !tells_own_parent(tx, step, d).await? {
                continue;
            }
            // A finished run stays finished, and takes no delivery: found so without its
            // lock, which a purge of it holds while it takes the locks of its children (this
            // step's run among them).
            match workflow_status(tx, &d.to).await {
                Ok(status) if !status.is_finished() => {}
                Ok(_) | Err(StoreError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            }
            match lock_workflow(tx, &d.to).await {
                Ok((status, _, _)) if !status.is_finished() => {
                    if d.child_call.is_some() && !closes_own_child(tx, &step.workflow_id, d).await?
                    {
                        continue;
                    }
                    insert_event(tx, &d.to, step.now_ms, d.kind.clone()).await?;
                    woke = true;
                }
                Ok(_) | Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if woke {
            self.announce(tx, Changes::WORKFLOWS).await?;
        }
        Ok(())
    }

    /// Queues the notification of `changes`; PostgreSQL sends it if the transaction commits.
    async fn announce(&self, tx: &Transaction<'_>, changes: Changes) -> Result<(), StoreError> {
        let letters = changes.letters();
        if letters.is_empty() {
            return Ok(());
        }
        let payload = format!("{} {letters}", self.origin);
        exec(tx, "SELECT pg_notify($1, $2)", &[&self.channel, &payload]).await?;
        Ok(())
    }
}

/// Creates run `wf` (see [`Store::create_workflow`]) and returns its version; `None`, having
/// written nothing, if its id is taken. Its parent's version is not looked at here.
async fn insert_run(tx: &Transaction<'_>, wf: &NewWorkflow) -> Result<Option<u64>, StoreError> {
    let stmt = tx
    .prepare_cached(
        "INSERT INTO workflows (id, name, status, input, snapshot, version, created_at, updated_at, ready, history_len, parent_id, parent_seq) \
         VALUES ($1, $2, 0, $3, $4, 0, $5, $5, TRUE, $8, $6, $7) ON CONFLICT (id) DO NOTHING",
    )
    .await
    .db()?;
    let parent_id = wf.parent.as_ref().map(|p| p.id.as_str());
    let parent_seq = wf.parent.as_ref().map(|p| int(p.seq));
    let history_len = 1 + wf.signals.len() as i64;
    let n = tx
        .execute(
            &stmt,
            &[
                &wf.id,
                &wf.name,
                &wf.input,
                &wf.snapshot,
                &int(wf.now_ms),
                &parent_id,
                &parent_seq,
                &history_len,
            ],
        )
        .await
        .db()?;
    if n == 0 {
        return Ok(None);
    }
    // Past the id's tombstone and at least the floor (see
    // `Store::create_workflow`), each read after the insert by a statement of its
    // own, whose snapshot sees what committed before it started: a purge of the id
    // that the insert waited for (it deleted the old row) has committed its
    // tombstone by then, and a `purge_finished` that the tombstone's delete waited
    // for (it took the tombstone away itself) has committed the floor it raised.
    let stmt = tx
        .prepare_cached("DELETE FROM tombstones WHERE id = $1 RETURNING version")
        .await
        .db()?;
    let past_tombstone = match tx.query_opt(&stmt, &[&wf.id]).await.db()? {
        Some(r) => r.try_get::<_, i64>(0).db()?.saturating_add(1),
        None => 0,
    };
    let stmt = tx
        .prepare_cached(
            "UPDATE workflows SET version = f.version \
             FROM (SELECT GREATEST(COALESCE((SELECT version FROM version_floor), 0), $2) \
                   AS version) f \
             WHERE id = $1 AND f.version > 0 RETURNING workflows.version",
        )
        .await
        .db()?;
    let version = match tx.query_opt(&stmt, &[&wf.id, &past_tombstone]).await.db()? {
        Some(r) => uint(r.try_get(0).db()?),
        None => 0,
    };
    for t in &wf.timers {
        exec(
            tx,
            "INSERT INTO timers (workflow_id, seq, fire_at) VALUES ($1, $2, $3) \
             ON CONFLICT (workflow_id, seq) DO UPDATE SET fire_at = EXCLUDED.fire_at",
            &[&wf.id, &int(t.seq), &int(t.fire_at_ms)],
        )
        .await?;
    }
    let mut history = vec![wf.history.clone()];
    for signal in &wf.signals {
        insert_event(tx, &wf.id, wf.now_ms, signal.event()).await?;
        history.push(received_signal_entry(
            wf.now_ms,
            &signal.name,
            signal.payload.len(),
        ));
    }
    insert_history(tx, &wf.id, history_len, &history).await?;
    Ok(Some(version))
}

/// Whether delivery `d` of `step` goes: any but a child's end for another run does; that one
/// only to the run's parent, for the call its stored link names (see [`StepCommit::deliver`]).
/// The step's row is locked by its commit, in the same transaction: a purge of the parent,
/// which clears the link, is either wholly before or wholly after.
async fn tells_own_parent(
    tx: &Transaction<'_>,
    step: &StepCommit,
    d: &super::Delivery,
) -> Result<bool, StoreError> {
    let Some(seq) = d.child_end_elsewhere(&step.workflow_id) else {
        return Ok(true);
    };
    let stmt = tx
        .prepare_cached("SELECT parent_id, parent_seq FROM workflows WHERE id = $1")
        .await
        .db()?;
    let told = match tx.query_opt(&stmt, &[&step.workflow_id]).await.db()? {
        Some(r) => {
            let parent: Option<String> = r.try_get(0).db()?;
            let parent_seq: Option<i64> = r.try_get(1).db()?;
            parent.as_deref() == Some(d.to.as_str()) && parent_seq == Some(int(seq))
        }
        None => false,
    };
    if !told {
        tracing::debug!(workflow_id = %step.workflow_id, to = %d.to, seq, "a child's end for a run that is not its parent (purged since?): dropped");
    }
    Ok(told)
}

/// Whether run `d.to` (locked) is the child that delivery `d` of run `from` closes (see
/// [`super::Delivery::child_call`]). Read only for such a delivery.
async fn closes_own_child(
    tx: &Transaction<'_>,
    from: &str,
    d: &super::Delivery,
) -> Result<bool, StoreError> {
    let stmt = tx
        .prepare_cached("SELECT parent_id, parent_seq FROM workflows WHERE id = $1")
        .await
        .db()?;
    let parent = match tx.query_opt(&stmt, &[&d.to]).await.db()? {
        Some(r) => {
            let id: Option<String> = r.try_get(0).db()?;
            let seq: Option<i64> = r.try_get(1).db()?;
            id.zip(seq)
                .map(|(id, seq)| ParentLink { id, seq: uint(seq) })
        }
        None => None,
    };
    let reaches = d.reaches(from, parent.as_ref());
    if !reaches {
        tracing::debug!(workflow_id = %from, to = %d.to, "a close of a child for a run that is not that child (another run holds the id): dropped");
    }
    Ok(reaches)
}

/// The notification channel of a schema: a short name (a channel name is an identifier, at
/// most 63 bytes) that differs between schemas.
fn channel_of(schema: Option<&str>) -> String {
    match schema {
        None => "workflow_rt".to_string(),
        Some(s) => {
            // FNV-1a: stable across builds and processes, unlike the std hasher.
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in s.bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
            format!("workflow_rt_{h:016x}")
        }
    }
}

fn new_origin() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{nanos:x}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Keeps one connection listening on `channel`, reconnecting (with a growing pause, at most
/// 2 s) whenever it drops, and turns other processes' notifications into [`Wakeup`]s. After
/// each (re)connection it sends every kind of hint: notifications sent while nobody listened
/// are lost, and the runtime had better look at once than at its next poll.
async fn listen(
    config: tokio_postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    channel: String,
    origin: String,
    hints: tokio::sync::broadcast::Sender<Wakeup>,
) {
    let mut pause = Duration::from_millis(50);
    loop {
        if let Ok((client, mut conn)) = config.connect(tls.clone()).await {
            let (found, mut notes) = tokio::sync::mpsc::unbounded_channel::<String>();
            let driver = tokio::spawn(async move {
                while let Some(Ok(m)) = std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                    if let tokio_postgres::AsyncMessage::Notification(n) = m
                        && found.send(n.payload().to_string()).is_err()
                    {
                        return;
                    }
                }
            });
            if client
                .batch_execute(&format!("LISTEN {channel}"))
                .await
                .is_ok()
            {
                pause = Duration::from_millis(50);
                for w in [Wakeup::Workflows, Wakeup::Tasks, Wakeup::Timers] {
                    let _ = hints.send(w);
                }
                while let Some(payload) = notes.recv().await {
                    let Some((from, letters)) = payload.split_once(' ') else {
                        continue;
                    };
                    if from == origin {
                        continue;
                    }
                    for c in letters.chars() {
                        let w = match c {
                            'w' => Wakeup::Workflows,
                            't' => Wakeup::Tasks,
                            'm' => Wakeup::Timers,
                            _ => continue,
                        };
                        let _ = hints.send(w);
                    }
                }
                tracing::debug!(%channel, "the notification connection dropped; reconnecting");
            }
            driver.abort();
            drop(client);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

/// The schema, one entry per version: entry `i` upgrades version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE workflows (
    id TEXT COLLATE \"C\" PRIMARY KEY,
    name TEXT NOT NULL,
    status SMALLINT NOT NULL,
    input BYTEA NOT NULL,
    snapshot BYTEA NOT NULL,
    version BIGINT NOT NULL,
    pending BYTEA,
    output BYTEA,
    park_reason TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    ready BOOLEAN NOT NULL,
    history_len BIGINT NOT NULL
);
CREATE INDEX workflows_ready ON workflows (name, id) WHERE ready AND status = 0;
CREATE INDEX workflows_status ON workflows (status, id);
CREATE TABLE tasks (
    workflow_id TEXT COLLATE \"C\" NOT NULL,
    seq BIGINT NOT NULL,
    name TEXT NOT NULL,
    input BYTEA NOT NULL,
    options BYTEA NOT NULL,
    attempt BIGINT NOT NULL,
    scheduled_at BIGINT NOT NULL,
    visible_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    heartbeat BYTEA,
    deadline BIGINT,
    due BIGINT NOT NULL,
    PRIMARY KEY (workflow_id, seq)
);
CREATE INDEX tasks_due ON tasks (name, due);
CREATE TABLE timers (
    workflow_id TEXT COLLATE \"C\" NOT NULL,
    seq BIGINT NOT NULL,
    fire_at BIGINT NOT NULL,
    PRIMARY KEY (workflow_id, seq)
);
CREATE INDEX timers_due ON timers (fire_at);
CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    workflow_id TEXT COLLATE \"C\" NOT NULL,
    at BIGINT NOT NULL,
    kind SMALLINT NOT NULL,
    seq BIGINT,
    name TEXT,
    payload BYTEA
);
CREATE INDEX events_workflow ON events (workflow_id, id);
CREATE TABLE history (
    workflow_id TEXT COLLATE \"C\" NOT NULL,
    n BIGINT NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (workflow_id, n)
);
",
    "
-- Version 2: the newest event of each workflow, kept on its row (a step's commit computes the
-- ready flag from it in one statement).
ALTER TABLE workflows ADD COLUMN last_event BIGINT NOT NULL DEFAULT 0;
UPDATE workflows w SET last_event = e.id
    FROM (SELECT workflow_id, max(id) AS id FROM events GROUP BY workflow_id) e
    WHERE e.workflow_id = w.id;
",
    "
-- Version 3: runs listed by workflow name (Store::list_runs) read an index, not the table. The
-- name never changes, so the index costs a write only when a run is created or purged.
CREATE INDEX IF NOT EXISTS workflows_name ON workflows (name, id);
",
    "
-- Version 4: versions of one id never repeat across runs (Store::create_workflow). A run purged
-- by id leaves a tombstone, its last version, which the next run under the id starts past; the
-- runs purged by age, and the tombstones dropped with them, raise the floor every new run starts
-- at. An upgraded database starts with no tombstone and a floor of 0: nothing is left of the runs
-- purged before the upgrade to say which versions they reached.
CREATE TABLE IF NOT EXISTS tombstones (
    id TEXT COLLATE \"C\" PRIMARY KEY,
    version BIGINT NOT NULL,
    finished_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS tombstones_finished ON tombstones (finished_at);
CREATE TABLE IF NOT EXISTS version_floor (
    one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    version BIGINT NOT NULL
);
INSERT INTO version_floor (one, version) VALUES (TRUE, 0) ON CONFLICT (one) DO NOTHING;
",
    // 5: the parent of a child run, and schedules.
    "
ALTER TABLE workflows ADD COLUMN IF NOT EXISTS parent_id TEXT COLLATE \"C\";
ALTER TABLE workflows ADD COLUMN IF NOT EXISTS parent_seq BIGINT;
-- Version 5: schedules (workflow_rt::schedule), one row each, changed by compare-and-set on its
-- version. An upgraded database starts with none.
CREATE TABLE IF NOT EXISTS schedules (
    name TEXT COLLATE \"C\" PRIMARY KEY,
    workflow TEXT NOT NULL,
    input BYTEA NOT NULL,
    cron TEXT,
    every_ms BIGINT,
    anchor_ms BIGINT,
    zone TEXT NOT NULL,
    overlap BIGINT NOT NULL,
    catch_up_ms BIGINT NOT NULL,
    paused BOOLEAN NOT NULL,
    cursor_ms BIGINT NOT NULL,
    next_fire BIGINT,
    buffered BIGINT,
    starting TEXT,
    last_run_id TEXT,
    started BIGINT NOT NULL,
    skipped BIGINT NOT NULL,
    missed BIGINT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
",
    "
-- Version 6: each task keeps the run's version after the step that made the call, which every
-- fence on an attempt checks: a run purged and created again under its id makes calls of the
-- same numbers, and an attempt of the old run's call must not be taken for the new one's.
-- Tasks of an upgraded database have 0, as their attempts read back.
ALTER TABLE tasks ADD COLUMN IF NOT EXISTS scheduled_version BIGINT NOT NULL DEFAULT 0;
",
    "
-- Version 7: the child runs of a run (those that have a parent only), by which a purge clears
-- its children's links to it: a run created under the purged run's id later is not their
-- parent.
CREATE INDEX IF NOT EXISTS workflows_parent ON workflows (parent_id) WHERE parent_id IS NOT NULL;
",
    "
-- Version 8: the version of the workflow a schedule starts (the one its input was encoded
-- for), and why a worker paused a schedule. Schedules of an upgraded database have neither,
-- and start the newest version.
ALTER TABLE schedules ADD COLUMN IF NOT EXISTS workflow_version BIGINT;
ALTER TABLE schedules ADD COLUMN IF NOT EXISTS note TEXT;
",
    "
-- Version 9: the execution timeout of the runs a schedule starts. Schedules of an upgraded
-- database have none.
ALTER TABLE schedules ADD COLUMN IF NOT EXISTS run_timeout_ms BIGINT;
",
];

/// An arbitrary constant: the advisory lock under which one process at a time sets up the
/// schema.
const MIGRATION_LOCK: i64 = 0x776f_726b_666c_6f77;

async fn migrate(
    client: &mut deadpool_postgres::Object,
    schema: Option<&str>,
) -> Result<(), PostgresError> {
    let schema_err = PostgresError::Schema;
    let tx = client.transaction().await.db().map_err(schema_err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .db()
        .map_err(schema_err)?;
    if let Some(schema) = schema {
        // `schema` is a checked identifier: nothing to escape.
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .await
            .db()
            .map_err(schema_err)?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS workflow_rt_schema (
             one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
             version INTEGER NOT NULL
         )",
    )
    .await
    .db()
    .map_err(schema_err)?;
    let found: i32 = tx
        .query_opt("SELECT version FROM workflow_rt_schema", &[])
        .await
        .db()
        .map_err(schema_err)?
        .map(|r| r.try_get(0))
        .transpose()
        .db()
        .map_err(schema_err)?
        .unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Err(PostgresError::NewerSchema {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found < 0 {
        return Err(PostgresError::Schema(corrupt("schema version", found)));
    }
    for sql in &MIGRATIONS[found as usize..] {
        tx.batch_execute(sql).await.db().map_err(schema_err)?;
    }
    if found < SCHEMA_VERSION {
        tx.execute(
            "INSERT INTO workflow_rt_schema (one, version) VALUES (TRUE, $1) \
             ON CONFLICT (one) DO UPDATE SET version = EXCLUDED.version",
            &[&SCHEMA_VERSION],
        )
        .await
        .db()
        .map_err(schema_err)?;
    }
    tx.commit().await.db().map_err(schema_err)?;
    Ok(())
}

trait Db<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T> Db<T> for Result<T, tokio_postgres::Error> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(|e| {
            // A value that does not convert (a wrong type, a NULL where none may be): the row
            // is damaged, which no retry fixes.
            let text = e.to_string();
            if e.as_db_error().is_none() && text.starts_with("error deserializing column") {
                StoreError::Corrupt(text)
            } else {
                StoreError::backend_with("PostgreSQL", e)
            }
        })
    }
}

const WORKFLOW_COLUMNS: &str = "id, name, status, input, snapshot, version, pending, output, park_reason, created_at, updated_at, ready, parent_id, parent_seq";

fn status_of(code: i16) -> Result<WorkflowStatus, StoreError> {
    WorkflowStatus::from_code(i64::from(code)).ok_or_else(|| corrupt("workflow status", code))
}

fn workflow_of(row: &Row) -> Result<WorkflowRecord, StoreError> {
    Ok(WorkflowRecord {
        id: row.try_get(0).db()?,
        name: row.try_get(1).db()?,
        status: status_of(row.try_get(2).db()?)?,
        input: row.try_get(3).db()?,
        snapshot: row.try_get(4).db()?,
        version: uint(row.try_get(5).db()?),
        pending: row.try_get(6).db()?,
        output: row.try_get(7).db()?,
        park_reason: row.try_get(8).db()?,
        created_at_ms: uint(row.try_get(9).db()?),
        updated_at_ms: uint(row.try_get(10).db()?),
        ready: row.try_get(11).db()?,
        parent: match (
            row.try_get::<_, Option<String>>(12).db()?,
            row.try_get::<_, Option<i64>>(13).db()?,
        ) {
            (Some(id), Some(seq)) => Some(ParentLink { id, seq: uint(seq) }),
            _ => None,
        },
        run_key: None,
    })
}

async fn load_record(tx: &Transaction<'_>, id: &str) -> Result<Option<WorkflowRecord>, StoreError> {
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE id = $1"
        ))
        .await
        .db()?;
    tx.query_opt(&stmt, &[&id])
        .await
        .db()?
        .map(|r| workflow_of(&r))
        .transpose()
}

/// `NotFound` for an id no run can have here: PostgreSQL keeps no NUL character in text, so
/// no run was stored under such an id, and a statement naming one fails with an error that
/// says nothing of that.
fn storable(id: &str) -> Result<(), StoreError> {
    match id.contains('\0') {
        true => Err(StoreError::NotFound(id.to_string())),
        false => Ok(()),
    }
}

async fn workflow_status(
    tx: &impl deadpool_postgres::GenericClient,
    id: &str,
) -> Result<WorkflowStatus, StoreError> {
    let stmt = tx
        .prepare_cached("SELECT status FROM workflows WHERE id = $1")
        .await
        .db()?;
    match tx.query_opt(&stmt, &[&id]).await.db()? {
        Some(r) => status_of(r.try_get(0).db()?),
        None => Err(StoreError::NotFound(id.to_string())),
    }
}

/// Locks the workflow's row (see the module docs: the lock every change of a workflow takes
/// first) and returns its status, version and history length.
async fn lock_workflow(
    tx: &Transaction<'_>,
    id: &str,
) -> Result<(WorkflowStatus, u64, i64), StoreError> {
    let stmt = tx
        .prepare_cached(
            "SELECT status, version, history_len FROM workflows WHERE id = $1 FOR UPDATE",
        )
        .await
        .db()?;
    match tx.query_opt(&stmt, &[&id]).await.db()? {
        Some(r) => Ok((
            status_of(r.try_get(0).db()?)?,
            uint(r.try_get(1).db()?),
            r.try_get(2).db()?,
        )),
        None => Err(StoreError::NotFound(id.to_string())),
    }
}

const TASK_COLUMNS: &str = "workflow_id, seq, name, input, options, attempt, scheduled_at, visible_at, lease_owner, lease_until, heartbeat, deadline, scheduled_version";

fn task_of(row: &Row) -> Result<ActivityTask, StoreError> {
    let options: Vec<u8> = row.try_get(4).db()?;
    Ok(ActivityTask {
        workflow_id: row.try_get(0).db()?,
        seq: uint(row.try_get(1).db()?),
        name: row.try_get(2).db()?,
        input: row.try_get(3).db()?,
        options: postcard::from_bytes::<ActivityOptions>(&options)
            .map_err(|e| corrupt("activity options", e))?,
        attempt: uint(row.try_get(5).db()?).min(u64::from(u32::MAX)) as u32,
        scheduled_at_ms: uint(row.try_get(6).db()?),
        visible_at_ms: uint(row.try_get(7).db()?),
        lease_owner: row.try_get(8).db()?,
        lease_until_ms: row.try_get::<_, Option<i64>>(9).db()?.map(uint),
        heartbeat_details: row.try_get(10).db()?,
        deadline_ms: row.try_get::<_, Option<i64>>(11).db()?.map(uint),
        scheduled_version: uint(row.try_get(12).db()?),
    })
}

fn due_of(t: &ActivityTask) -> u64 {
    match (&t.lease_owner, t.lease_until_ms) {
        (Some(_), Some(until)) => until,
        (Some(_), None) => 0,
        (None, _) => t.visible_at_ms,
    }
}

fn event_of(row: &Row) -> Result<Event, StoreError> {
    let id: i64 = row.try_get(0).db()?;
    let at: i64 = row.try_get(1).db()?;
    let columns = (
        row.try_get(2).db()?,
        row.try_get(3).db()?,
        row.try_get(4).db()?,
        row.try_get(5).db()?,
    );
    event_from_columns(id, at, columns)
}

/// Inserts an event and marks its workflow ready. The caller holds the workflow's lock.
async fn insert_event(
    tx: &Transaction<'_>,
    id: &str,
    at_ms: u64,
    kind: EventKind,
) -> Result<u64, StoreError> {
    let (k, seq, name, payload) = event_columns(kind)?;
    let stmt = tx
        .prepare_cached(
            "WITH e AS (INSERT INTO events (workflow_id, at, kind, seq, name, payload) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id), \
             w AS (UPDATE workflows SET ready = TRUE, \
                 last_event = GREATEST(last_event, (SELECT id FROM e)) WHERE id = $1) \
             SELECT id FROM e",
        )
        .await
        .db()?;
    let row = tx
        .query_one(&stmt, &[&id, &int(at_ms), &k, &seq, &name, &payload])
        .await
        .db()?;
    Ok(uint(row.try_get(0).db()?))
}

/// Inserts history entries numbered after `len_after - entries.len()`.
async fn insert_history(
    tx: &Transaction<'_>,
    id: &str,
    len_after: i64,
    entries: &[HistoryEntry],
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let first = len_after
        .saturating_sub(entries.len() as i64)
        .saturating_add(1);
    let ns: Vec<i64> = (0..entries.len() as i64)
        .map(|i| first.saturating_add(i))
        .collect();
    let ats: Vec<i64> = entries.iter().map(|h| int(h.at_ms)).collect();
    let kinds: Vec<&str> = entries.iter().map(|h| h.kind.as_str()).collect();
    let details: Vec<std::borrow::Cow<'_, str>> = entries.iter().map(|h| text(&h.detail)).collect();
    let details: Vec<&str> = details.iter().map(|d| d.as_ref()).collect();
    let stmt = tx
        .prepare_cached(
            "INSERT INTO history (workflow_id, n, at, kind, detail) \
             SELECT $1, * FROM unnest($2::BIGINT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[])",
        )
        .await
        .db()?;
    tx.execute(&stmt, &[&id, &ns, &ats, &kinds, &details])
        .await
        .db()?;
    Ok(())
}

/// Appends history entries to a workflow whose lock the caller holds.
/// A history entry from a row whose first columns are its time, kind and detail.
fn history_row(r: &Row) -> Result<HistoryEntry, StoreError> {
    let kind: String = r.try_get(1).db()?;
    history_entry(r.try_get(0).db()?, &kind, r.try_get(2).db()?)
}

/// Text for a `TEXT` column written by a step (a history entry, a park reason): PostgreSQL
/// refuses the NUL character, which the other stores keep, so it is written as `␀` (U+2400).
/// A refusal there would fail the step for ever (a panic message holding one parks the run
/// with it as the reason, and the park would be retried at every poll).
fn text(s: &str) -> std::borrow::Cow<'_, str> {
    match s.contains('\0') {
        true => std::borrow::Cow::Owned(s.replace('\0', "\u{2400}")),
        false => std::borrow::Cow::Borrowed(s),
    }
}

async fn append_history(
    tx: &Transaction<'_>,
    id: &str,
    entries: &[HistoryEntry],
) -> Result<(), StoreError> {
    let stmt = tx
        .prepare_cached(
            "UPDATE workflows SET history_len = history_len + $2 WHERE id = $1 RETURNING history_len",
        )
        .await
        .db()?;
    match tx
        .query_opt(&stmt, &[&id, &(entries.len() as i64)])
        .await
        .db()?
    {
        Some(r) => insert_history(tx, id, r.try_get(0).db()?, entries).await,
        None => Err(StoreError::NotFound(id.to_string())),
    }
}

async fn exec(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, StoreError> {
    let stmt = tx.prepare_cached(sql).await.db()?;
    tx.execute(&stmt, params).await.db()
}

/// A connection or a transaction: where a step's statement runs.
trait Conn: Sync {
    fn statement<'a>(
        &'a self,
        sql: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Statement, tokio_postgres::Error>> + Send + 'a>>;
    fn rows<'a>(
        &'a self,
        stmt: &'a Statement,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + Send + 'a>>;
}

/// A pooled connection and a transaction both run statements, through their own
/// statement caches.
macro_rules! conn {
    ($t:ty) => {
        impl Conn for $t {
            fn statement<'a>(
                &'a self,
                sql: &'a str,
            ) -> Pin<Box<dyn Future<Output = Result<Statement, tokio_postgres::Error>> + Send + 'a>>
            {
                Box::pin(self.prepare_cached(sql))
            }
            fn rows<'a>(
                &'a self,
                stmt: &'a Statement,
                params: &'a [&'a (dyn ToSql + Sync)],
            ) -> Pin<Box<dyn Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + Send + 'a>>
            {
                Box::pin(self.query(stmt, params))
            }
        }
    };
}

conn!(deadpool_postgres::Object);
conn!(Transaction<'_>);

/// The columns of new tasks, as arrays for `unnest`.
#[derive(Default)]
struct TaskColumns<'a> {
    seq: Vec<i64>,
    name: Vec<&'a str>,
    input: Vec<&'a [u8]>,
    options: Vec<Vec<u8>>,
    attempt: Vec<i64>,
    scheduled_at: Vec<i64>,
    visible_at: Vec<i64>,
    lease_owner: Vec<Option<&'a str>>,
    lease_until: Vec<Option<i64>>,
    heartbeat: Vec<Option<&'a [u8]>>,
    deadline: Vec<Option<i64>>,
    due: Vec<i64>,
    scheduled_version: Vec<i64>,
}

impl<'a> TaskColumns<'a> {
    fn of(tasks: &'a [ActivityTask]) -> Result<Self, StoreError> {
        let mut c = TaskColumns::default();
        for t in tasks {
            c.seq.push(int(t.seq));
            c.name.push(&t.name);
            c.input.push(&t.input);
            c.options.push(
                postcard::to_stdvec(&t.options)
                    .map_err(|e| StoreError::backend_with("encode options", e))?,
            );
            c.attempt.push(i64::from(t.attempt));
            c.scheduled_at.push(int(t.scheduled_at_ms));
            c.visible_at.push(int(t.visible_at_ms));
            c.lease_owner.push(t.lease_owner.as_deref());
            c.lease_until.push(t.lease_until_ms.map(int));
            c.heartbeat.push(t.heartbeat_details.as_deref());
            c.deadline.push(t.deadline_ms.map(int));
            c.due.push(int(due_of(t)));
            c.scheduled_version.push(int(t.scheduled_version));
        }
        Ok(c)
    }
}

/// The parameters of a statement being built, and their placeholders.
struct Params<'a> {
    values: Vec<&'a (dyn ToSql + Sync)>,
}

impl<'a> Params<'a> {
    /// Adds a parameter; returns its placeholder (`$n`).
    fn add(&mut self, value: &'a (dyn ToSql + Sync)) -> String {
        self.values.push(value);
        format!("${}", self.values.len())
    }
}

/// Where a store's notifications go, and its mark on them.
#[derive(Debug, Clone)]
struct Notices {
    /// The channel of this schema's notifications.
    channel: String,
    /// This store's mark on its notifications: its own are not handed back to it.
    origin: String,
}

/// A step waiting in the queue of the committers, with where its result goes.
type Queued = (
    StepCommit,
    tokio::sync::oneshot::Sender<Result<u64, StoreError>>,
);

/// The most steps a committer commits at once.
const MAX_BATCH: usize = 128;

/// A committer: takes the steps queued (all of them, up to [`MAX_BATCH`]) and commits them
/// together, until the store is dropped. While it commits a batch, the next one gathers: the
/// busier the store, the larger the batches (see [`PostgresStoreBuilder::committers`]).
async fn committer(
    pool: Pool,
    notices: Notices,
    queue: std::sync::Arc<tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<Queued>>>,
) {
    loop {
        let mut batch = Vec::new();
        {
            let mut rx = queue.lock().await;
            match rx.recv().await {
                Some(q) => batch.push(q),
                None => return,
            }
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(q) => batch.push(q),
                    Err(_) => break,
                }
            }
        }
        commit_batch(&pool, &notices, batch).await;
    }
}

/// Commits the steps of many workflows in one transaction, in one round trip: `BEGIN`, each
/// step's statement and `COMMIT` are pipelined on one connection, so the log is flushed once
/// for all of them. Each step succeeds or fails on its own, as alone (a step's statement is
/// atomic by itself, so should `BEGIN` fail, each one committed on its own is still right).
/// Should a statement fail with an error (which aborts the transaction, and makes `COMMIT` a
/// rollback), each step is committed again alone.
async fn commit_batch(pool: &Pool, notices: &Notices, mut batch: Vec<Queued>) {
    crate::runtime::telemetry::store_batch("postgres", batch.len());
    let client = match pool.get().await {
        Ok(c) => c,
        Err(e) => {
            let e = StoreError::backend_with("cannot get a PostgreSQL connection", e);
            for (_, reply) in batch {
                let _ = reply.send(Err(e.clone()));
            }
            return;
        }
    };
    if batch.len() == 1 {
        // One statement, committed on its own: no transaction to open and close.
        let (step, reply) = batch.remove(0);
        let _ = reply.send(commit(&client, notices, &step).await);
        return;
    }
    // Rows are locked in id order, so that two batches sharing workflows never wait for each
    // other in a circle.
    batch.sort_by(|a, b| a.0.workflow_id.cmp(&b.0.workflow_id));
    // Every statement prepared first: each is then sent at once, between `BEGIN` and
    // `COMMIT`, never after (where it would commit on its own, and a rollback of the batch
    // would not undo it).
    let prepared = futures_util::future::join_all(
        batch
            .iter()
            .map(|(step, _)| commit_or_prepare(&client, notices, step, true)),
    )
    .await;
    if let Some(Err(e)) = prepared.into_iter().find(Result::is_err) {
        for (_, reply) in batch {
            let _ = reply.send(Err(e.clone()));
        }
        return;
    }
    let (begun, results, committed) = futures_util::future::join3(
        client.batch_execute("BEGIN"),
        futures_util::future::join_all(
            batch.iter().map(|(step, _)| commit(&client, notices, step)),
        ),
        client.batch_execute("COMMIT"),
    )
    .await;
    let failed = |r: &Result<u64, StoreError>| {
        r.as_ref().is_err_and(|e| {
            !matches!(
                e,
                StoreError::Conflict { .. }
                    | StoreError::NotFound(_)
                    | StoreError::LeaseLost { .. }
            )
        })
    };
    if let Err(e) = committed {
        // Whether the transaction committed is unknown (the connection dropped): the runtime
        // looks at the store again for each.
        let e = StoreError::backend_with("the commit of a batch of steps failed", e);
        for (_, reply) in batch {
            let _ = reply.send(Err(e.clone()));
        }
        return;
    }
    if begun.is_err() || !results.iter().any(failed) {
        for ((_, reply), r) in batch.into_iter().zip(results) {
            let _ = reply.send(r);
        }
        return;
    }
    // A statement failed and the transaction rolled back: each step alone, so that each
    // gets its own outcome.
    drop(client);
    for (step, reply) in batch {
        let r = match pool.get().await {
            Ok(c) => commit(&c, notices, &step).await,
            Err(e) => Err(StoreError::backend_with(
                "cannot get a PostgreSQL connection",
                e,
            )),
        };
        let _ = reply.send(r);
    }
}

/// Commits one step in one statement (one round trip); returns the new version.
///
/// The statement holds only the parts this step needs, as data-modifying `WITH` queries:
/// the fence on results consumed straight from a worker (those tasks are locked first, so
/// a worker taking one over waits or skips it), the compare-and-set on the workflow's row,
/// then, each only if that row was updated, the deletes of consumed events and of
/// finished, cancelled or leftover tasks, timers and events, the new tasks and timers, the
/// history entries, and the notification of what it adds for other processes. The ready
/// flag is computed from the row's `last_event`, which every event insertion raises under
/// the row's lock: should one commit while this statement waits for that lock, PostgreSQL
/// re-reads the row, and the flag counts the event.
async fn commit(c: &impl Conn, notices: &Notices, step: &StepCommit) -> Result<u64, StoreError> {
    commit_or_prepare(c, notices, step, false).await
}

/// Whether `step` drops calls other than its deadlines' timers (see [`commit_locked`]).
fn drops_calls(step: &StepCommit) -> bool {
    step.cancelled
        .iter()
        .any(|&seq| crate::runtime::deadline_of(seq).is_none())
}

/// [`commit`] in transaction `tx`, with the rows it changes locked first, by a statement of
/// their own, when it changes more than its run's row and its events and tasks:
///
/// - the rows of the unfinished runs it delivers to, with its own, in id order (the order
///   every change that locks several runs takes): locked as the commit went (its own row,
///   then each run it delivers to), two runs delivering to each other at once (a child's end
///   and its parent's cancel of it) waited for each other in a circle, until PostgreSQL
///   failed one;
/// - its own row when it drops calls of a `select`'s losing branches: the commit's statement
///   then sees every event committed before it (a result of a dropped call that arrived while
///   the statement waited for the row would otherwise be left behind, the statement's
///   snapshot taken before the result committed: a stray event, taken by the next step as a
///   result for a call its wait no longer has). Not for the timer of a call's deadline alone,
///   which goes with nearly every step that takes a result of a call with one: such a step
///   stays one statement, which may commit with others, and a deadline fired just then costs
///   the run an extra wake;
/// - its own row when it ends the run: the signals left in its inbox are recorded in its
///   history, those committed while the statement waited for the row included (else left
///   behind, unrecorded), and counted in its row by a statement after, in the same
///   transaction. One round trip more per run's end.
async fn commit_locked(
    tx: &Transaction<'_>,
    notices: &Notices,
    step: &StepCommit,
) -> Result<u64, StoreError> {
    if needs_locks(step) {
        lock_runs(tx, std::slice::from_ref(step)).await?;
    }
    commit(tx, notices, step).await
}

/// Whether `step` changes more than its run's row, events and tasks, or ends its run (see
/// [`commit_locked`]).
fn needs_locks(step: &StepCommit) -> bool {
    !step.deliver.is_empty() || drops_calls(step) || ends_run(step)
}

/// Whether `step` ends its run: it then records the signals left in its inbox (see
/// [`commit_locked`]); or starts it over ([`StepOutcome::Continued`]), which keeps the
/// signals and drops the other events, those committed while the statement waited for the
/// row included.
fn ends_run(step: &StepCommit) -> bool {
    matches!(
        step.outcome,
        StepOutcome::Finished { .. } | StepOutcome::Cancelled | StepOutcome::Continued { .. }
    )
}

/// Locks the rows of the runs of `steps` and of the unfinished runs they deliver to, in id
/// order, by one statement (see [`commit_locked`]).
async fn lock_runs(tx: &Transaction<'_>, steps: &[StepCommit]) -> Result<(), StoreError> {
    let own: Vec<&str> = steps.iter().map(|s| s.workflow_id.as_str()).collect();
    let mut ids: Vec<&str> = own
        .iter()
        .copied()
        .chain(
            steps
                .iter()
                .flat_map(|s| s.deliver.iter().map(|d| d.to.as_str())),
        )
        .collect();
    ids.sort_unstable();
    ids.dedup();
    // A finished run takes no delivery, and is not locked (a purge of it holds its row
    // while it locks its children's, this step's run perhaps among them).
    exec(
        tx,
        &format!(
            "SELECT 1 FROM workflows WHERE id = ANY($1) \
             AND (id = ANY($2) OR status IN ({RUNNING}, {PARKED})) ORDER BY id FOR UPDATE"
        ),
        &[&ids, &own],
    )
    .await?;
    Ok(())
}

/// [`commit`], or (`prepare_only`) only prepare its statement on `c`, so that a later
/// [`commit`] on `c` sends it at its first poll.
async fn commit_or_prepare(
    c: &impl Conn,
    notices: &Notices,
    step: &StepCommit,
    prepare_only: bool,
) -> Result<u64, StoreError> {
    const NONE: &[ActivityTask] = &[];
    const NO_TIMERS: &[TimerRow] = &[];
    let id = step.workflow_id.as_str();
    let expected = int(step.expected_version);
    let fenced = &step.completed_tasks;
    let fence_seqs: Vec<i64> = fenced.iter().map(|a| int(a.seq)).collect();
    let fence_attempts: Vec<i64> = fenced.iter().map(|a| i64::from(a.attempt)).collect();
    let fence_owners: Vec<&str> = fenced.iter().map(|a| a.owner.as_str()).collect();
    let fence_versions: Vec<i64> = fenced.iter().map(|a| int(a.scheduled_version)).collect();
    let fence_count = fence_seqs.len() as i64;
    let now = int(step.now_ms);
    let h_count = step.history.len() as i64;
    let h_at: Vec<i64> = step.history.iter().map(|h| int(h.at_ms)).collect();
    let h_kind: Vec<&str> = step.history.iter().map(|h| h.kind.as_str()).collect();
    let h_detail: Vec<std::borrow::Cow<'_, str>> =
        step.history.iter().map(|h| text(&h.detail)).collect();
    let h_detail: Vec<&str> = h_detail.iter().map(|d| d.as_ref()).collect();
    let consumed: Vec<i64> = step.consumed_events.iter().map(|e| int(*e)).collect();
    let cancelled: Vec<i64> = step.cancelled.iter().map(|s| int(*s)).collect();
    // Timers the step took: deleted like those of cancelled calls.
    let gone_timer_seqs: Vec<i64> = step
        .cancelled
        .iter()
        .chain(&step.fired_timers)
        .map(|s| int(*s))
        .collect();
    let (tasks, timers) = match &step.outcome {
        StepOutcome::Suspended { tasks, timers, .. } => (tasks.as_slice(), timers.as_slice()),
        _ => (NONE, NO_TIMERS),
    };
    let drop_all = matches!(
        step.outcome,
        StepOutcome::Finished { .. } | StepOutcome::Cancelled
    );
    let kept_timers: Vec<i64> = super::CONTINUED_TIMERS.iter().map(|s| int(*s)).collect();
    let t = TaskColumns::of(tasks)?;
    let timer_seqs: Vec<i64> = timers.iter().map(|t| int(t.seq)).collect();
    let timer_ats: Vec<i64> = timers.iter().map(|t| int(t.fire_at_ms)).collect();
    // Others are told of what only they may take: tasks this worker did not lease to
    // itself, timers, an unparked workflow. (A suspended workflow that stays ready is
    // stepped on by the worker committing it: telling the others would have all of them
    // race it to the next step.)
    let changes = match &step.outcome {
        StepOutcome::Suspended { tasks, timers, .. } => Changes {
            workflows: false,
            tasks: tasks.iter().any(|t| t.lease_owner.is_none()),
            // The step's own, and those of the children it starts (their timeouts).
            timers: !timers.is_empty() || step.children.iter().any(|c| !c.timers.is_empty()),
        },
        StepOutcome::Unparked => Changes::WORKFLOWS,
        _ => Changes::default(),
    };
    let letters = changes.letters();
    let payload = format!("{} {letters}", notices.origin);
    let seen = int(step.seen_events_upto);

    let park_reason = match &step.outcome {
        StepOutcome::Parked { reason } => text(reason),
        _ => std::borrow::Cow::Borrowed(""),
    };
    let mut p = Params { values: Vec::new() };
    let mut sql = String::from("WITH ");
    let wid = p.add(&id);
    let fence = if fenced.is_empty() {
        String::new()
    } else {
        let (s, a, o, v) = (
            p.add(&fence_seqs),
            p.add(&fence_attempts),
            p.add(&fence_owners),
            p.add(&fence_versions),
        );
        // The run's row is locked before the tasks, the order every other change takes (a
        // result's arrival, a step that drops a call, a lease's end): locking the tasks first
        // waited in a circle with those, until PostgreSQL failed one of them.
        sql.push_str(&format!(
            "run AS (SELECT 1 FROM workflows WHERE id = {wid} FOR UPDATE), \
             fence AS (SELECT t.seq FROM tasks t \
                 JOIN unnest({s}::BIGINT[], {a}::BIGINT[], {o}::TEXT[], {v}::BIGINT[]) \
                     AS f(seq, attempt, owner, version) \
                 ON t.seq = f.seq AND t.attempt = f.attempt AND t.lease_owner = f.owner \
                     AND t.scheduled_version = f.version \
                 WHERE t.workflow_id = {wid} AND EXISTS (SELECT 1 FROM run) FOR UPDATE OF t), "
        ));
        format!(
            " AND (SELECT count(*) FROM fence) = {}",
            p.add(&fence_count)
        )
    };
    let set = match &step.outcome {
        StepOutcome::Suspended {
            snapshot, pending, ..
        } => format!(
            "snapshot = {}, pending = {}, ready = {} OR last_event > {}",
            p.add(snapshot),
            p.add(pending),
            p.add(&step.keep_ready),
            p.add(&seen)
        ),
        StepOutcome::Finished {
            status,
            snapshot,
            output,
        } => format!(
            "status = {}, snapshot = {}, output = {}, pending = NULL, ready = FALSE",
            p.add(status_code(status)),
            p.add(snapshot),
            p.add(output)
        ),
        StepOutcome::Parked { .. } => format!(
            "status = {PARKED}, park_reason = {}, ready = FALSE",
            p.add(&park_reason)
        ),
        StepOutcome::Unparked => format!("status = {RUNNING}, park_reason = NULL, ready = TRUE"),
        StepOutcome::Cancelled => {
            format!("status = {CANCELLED}, park_reason = NULL, ready = FALSE, pending = NULL")
        }
        StepOutcome::Continued { input, snapshot } => format!(
            "input = {}, snapshot = {}, pending = NULL, output = NULL, ready = TRUE",
            p.add(input),
            p.add(snapshot)
        ),
    };
    let continued = matches!(step.outcome, StepOutcome::Continued { .. });
    sql.push_str(&format!(
        "w AS (UPDATE workflows SET {set}, version = version + 1, updated_at = {}, \
             history_len = history_len + {} WHERE id = {wid} AND version = {}{fence} \
             RETURNING version, history_len)",
        p.add(&now),
        p.add(&h_count),
        p.add(&expected),
    ));
    const IF_W: &str = "EXISTS (SELECT 1 FROM w)";
    // Events: consumed ones, the results of cancelled calls, or all of them.
    let mut gone = Vec::new();
    if drop_all {
        gone.push("TRUE".to_string());
    } else {
        if !consumed.is_empty() {
            gone.push(format!("id = ANY({})", p.add(&consumed)));
        }
        if !cancelled.is_empty() {
            gone.push(format!(
                "(seq = ANY({}) AND kind IN (0, 1, 3))",
                p.add(&cancelled)
            ));
        }
        if continued {
            // A run starting over keeps its signals, cancel requests, and the ends of its
            // timeout and grace period that fired.
            gone.push(format!(
                "(kind NOT IN ({}, {}) AND NOT (kind = {} AND seq = ANY({}::BIGINT[])))",
                super::rows::EVENT_SIGNAL,
                super::rows::EVENT_CANCEL,
                super::rows::EVENT_TIMER,
                p.add(&kept_timers)
            ));
        }
    }
    if !gone.is_empty() {
        sql.push_str(&format!(
            ", gone_events AS (DELETE FROM events WHERE workflow_id = {wid} AND {IF_W} AND ({}) \
             RETURNING id, kind, name, length(payload) AS bytes)",
            gone.join(" OR ")
        ));
    }
    // A run that ends: each signal left in its inbox (sent, never received by its code) is
    // recorded, after the step's own entries (see `unreceived_signal_entry`, whose text this
    // is); counted in `history_len` by a statement after, if there are any.
    if drop_all {
        sql.push_str(&format!(
            ", letters AS (INSERT INTO history (workflow_id, n, at, kind, detail) \
             SELECT {wid}, w.history_len + row_number() OVER (ORDER BY g.id), {}::BIGINT, 'dead-letter', \
             'signal \"' || coalesce(g.name, '') || '\" (' || coalesce(g.bytes, 0) || \
             ' bytes) was never received: the run ended before its code waited for it' \
             FROM w, gone_events g WHERE g.kind = {}::SMALLINT AND NOT (g.id = ANY({}::BIGINT[])) \
             RETURNING 1)",
            p.add(&now),
            p.add(&super::rows::EVENT_SIGNAL),
            p.add(&consumed)
        ));
    }
    // Tasks: answered (fenced) ones, cancelled ones, or all of them.
    let mut gone = Vec::new();
    if drop_all || continued {
        gone.push("TRUE".to_string());
    } else {
        if !fenced.is_empty() {
            gone.push(format!("seq = ANY({})", p.add(&fence_seqs)));
        }
        if !cancelled.is_empty() {
            gone.push(format!("seq = ANY({})", p.add(&cancelled)));
        }
    }
    if !gone.is_empty() {
        sql.push_str(&format!(
            ", gone_tasks AS (DELETE FROM tasks WHERE workflow_id = {wid} AND {IF_W} AND ({}))",
            gone.join(" OR ")
        ));
    }
    if drop_all || continued || !gone_timer_seqs.is_empty() {
        let which = if drop_all {
            "TRUE".to_string()
        } else if continued {
            format!("NOT (seq = ANY({}::BIGINT[]))", p.add(&kept_timers))
        } else {
            format!("seq = ANY({})", p.add(&gone_timer_seqs))
        };
        sql.push_str(&format!(
            ", gone_timers AS (DELETE FROM timers WHERE workflow_id = {wid} AND {IF_W} AND {which})"
        ));
    }
    if !tasks.is_empty() {
        let columns = [
            format!("{}::BIGINT[]", p.add(&t.seq)),
            format!("{}::TEXT[]", p.add(&t.name)),
            format!("{}::BYTEA[]", p.add(&t.input)),
            format!("{}::BYTEA[]", p.add(&t.options)),
            format!("{}::BIGINT[]", p.add(&t.attempt)),
            format!("{}::BIGINT[]", p.add(&t.scheduled_at)),
            format!("{}::BIGINT[]", p.add(&t.visible_at)),
            format!("{}::TEXT[]", p.add(&t.lease_owner)),
            format!("{}::BIGINT[]", p.add(&t.lease_until)),
            format!("{}::BYTEA[]", p.add(&t.heartbeat)),
            format!("{}::BIGINT[]", p.add(&t.deadline)),
            format!("{}::BIGINT[]", p.add(&t.due)),
            format!("{}::BIGINT[]", p.add(&t.scheduled_version)),
        ];
        sql.push_str(&format!(
                ", new_tasks AS (INSERT INTO tasks (workflow_id, seq, name, input, options, attempt, \
                 scheduled_at, visible_at, lease_owner, lease_until, heartbeat, deadline, due, \
                 scheduled_version) \
                 SELECT {wid}, * FROM unnest({}) WHERE {IF_W} \
                 ON CONFLICT (workflow_id, seq) DO UPDATE SET name = EXCLUDED.name, input = EXCLUDED.input, \
                 options = EXCLUDED.options, attempt = EXCLUDED.attempt, scheduled_at = EXCLUDED.scheduled_at, \
                 visible_at = EXCLUDED.visible_at, lease_owner = EXCLUDED.lease_owner, \
                 lease_until = EXCLUDED.lease_until, heartbeat = EXCLUDED.heartbeat, \
                 deadline = EXCLUDED.deadline, due = EXCLUDED.due, \
                 scheduled_version = EXCLUDED.scheduled_version)",
                columns.join(", ")
            ));
    }
    if !timers.is_empty() {
        sql.push_str(&format!(
            ", new_timers AS (INSERT INTO timers (workflow_id, seq, fire_at) \
                 SELECT {wid}, * FROM unnest({}::BIGINT[], {}::BIGINT[]) WHERE {IF_W} \
                 ON CONFLICT (workflow_id, seq) DO UPDATE SET fire_at = EXCLUDED.fire_at)",
            p.add(&timer_seqs),
            p.add(&timer_ats)
        ));
    }
    if continued {
        // The history before this step's entries (numbered on past it, so that the two never
        // meet in one statement).
        sql.push_str(&format!(
            ", gone_history AS (DELETE FROM history WHERE workflow_id = {wid} AND {IF_W} \
             AND n <= (SELECT history_len FROM w) - {})",
            p.add(&h_count)
        ));
    }
    if !step.history.is_empty() {
        sql.push_str(&format!(
                ", new_history AS (INSERT INTO history (workflow_id, n, at, kind, detail) \
                 SELECT {wid}, w.history_len - {} + h.ord, h.at, h.kind, h.detail \
                 FROM w, unnest({}::BIGINT[], {}::TEXT[], {}::TEXT[]) WITH ORDINALITY AS h(at, kind, detail, ord))",
                p.add(&h_count),
                p.add(&h_at),
                p.add(&h_kind),
                p.add(&h_detail)
            ));
    }
    let unreceived = match drop_all {
        true => ", (SELECT count(*) FROM letters)",
        false => "",
    };
    if letters.is_empty() {
        sql.push_str(&format!(" SELECT version{unreceived} FROM w"));
    } else {
        sql.push_str(&format!(
            ", told AS (SELECT pg_notify({}, {}) FROM w) \
                 SELECT version{unreceived}, (SELECT count(*) FROM told) FROM w",
            p.add(&notices.channel),
            p.add(&payload)
        ));
    }

    let stmt = c.statement(&sql).await.db()?;
    if prepare_only {
        return Ok(0);
    }
    let rows = c.rows(&stmt, &p.values).await.db()?;
    if let Some(row) = rows.first() {
        if drop_all {
            let letters: i64 = row.try_get(1).db()?;
            if letters > 0 {
                let count = c
                    .statement("UPDATE workflows SET history_len = history_len + $2 WHERE id = $1")
                    .await
                    .db()?;
                c.rows(&count, &[&id, &letters]).await.db()?;
            }
        }
        return Ok(uint(row.try_get(0).db()?));
    }
    // Nothing was written: say why.
    let stmt = c
        .statement("SELECT version FROM workflows WHERE id = $1")
        .await
        .db()?;
    let version: i64 = match c.rows(&stmt, &[&id]).await.db()?.first() {
        Some(r) => r.try_get(0).db()?,
        None => return Err(StoreError::NotFound(id.to_string())),
    };
    if version == expected && !fenced.is_empty() {
        let stmt = c
                .statement(
                    "SELECT f.seq, f.attempt FROM unnest($2::BIGINT[], $3::BIGINT[], $4::TEXT[], $5::BIGINT[]) \
                         AS f(seq, attempt, owner, version) \
                     WHERE NOT EXISTS (SELECT 1 FROM tasks t WHERE t.workflow_id = $1 AND t.seq = f.seq \
                     AND t.attempt = f.attempt AND t.lease_owner = f.owner \
                     AND t.scheduled_version = f.version) LIMIT 1",
                )
                .await
                .db()?;
        let lost = c
            .rows(
                &stmt,
                &[
                    &id,
                    &fence_seqs,
                    &fence_attempts,
                    &fence_owners,
                    &fence_versions,
                ],
            )
            .await
            .db()?;
        if let Some(row) = lost.first() {
            let seq: i64 = row.try_get(0).db()?;
            let attempt: i64 = row.try_get(1).db()?;
            return Err(StoreError::LeaseLost {
                workflow_id: id.to_string(),
                seq: uint(seq),
                attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
            });
        }
    }
    Err(StoreError::Conflict {
        workflow_id: id.to_string(),
        expected: step.expected_version,
    })
}

const RUNNING: i16 = 0;
const PARKED: i16 = 3;
const CANCELLED: i16 = 4;

fn status_code(status: &WorkflowStatus) -> &'static i16 {
    match status {
        WorkflowStatus::Running => &0,
        WorkflowStatus::Completed => &1,
        WorkflowStatus::Failed => &2,
        WorkflowStatus::Parked => &3,
        WorkflowStatus::Cancelled => &4,
    }
}

/// The statuses of finished runs, the ones [`Store::purge`] deletes.
const FINISHED: [i16; 3] = [1, 2, 4];

/// Raises the version floor past `version` (see [`Store::purge_finished`]). Concurrent raises
/// wait for each other on the floor's row, and each keeps the greater.
async fn raise_floor(tx: &Transaction<'_>, version: i64) -> Result<(), StoreError> {
    exec(
        tx,
        "INSERT INTO version_floor (one, version) VALUES (TRUE, $1) \
         ON CONFLICT (one) DO UPDATE SET version = GREATEST(version_floor.version, EXCLUDED.version)",
        &[&version.saturating_add(1)],
    )
    .await?;
    Ok(())
}

/// Deletes the workflows `ids` and every row of theirs, in every table, in one statement. The
/// caller holds their locks and has checked that they may go.
async fn delete_runs(tx: &Transaction<'_>, ids: &[&str]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    exec(
        tx,
        "WITH e AS (DELETE FROM events WHERE workflow_id = ANY($1)), \
              t AS (DELETE FROM tasks WHERE workflow_id = ANY($1)), \
              m AS (DELETE FROM timers WHERE workflow_id = ANY($1)), \
              h AS (DELETE FROM history WHERE workflow_id = ANY($1)), \
              w AS (DELETE FROM workflows WHERE id = ANY($1)) \
         UPDATE workflows SET parent_id = NULL, parent_seq = NULL \
         WHERE parent_id = ANY($1) AND NOT (id = ANY($1))",
        &[&ids],
    )
    .await?;
    Ok(())
}

/// A task whose row does not read back (damaged bytes) can never run: its call is answered
/// with a `BadCall` error, which the workflow sees as the call's result and can act on.
async fn answer_unreadable_task(
    tx: &Transaction<'_>,
    workflow_id: &str,
    seq: i64,
    reason: &str,
    now_ms: u64,
) -> Result<(), StoreError> {
    tracing::warn!(workflow_id = %workflow_id, seq, %reason, "an activity task does not decode; its call fails");
    match lock_workflow(tx, workflow_id).await {
        Ok(_) => {}
        Err(StoreError::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e),
    }
    let deleted = exec(
        tx,
        "DELETE FROM tasks WHERE workflow_id = $1 AND seq = $2",
        &[&workflow_id, &seq],
    )
    .await?;
    if deleted == 0 {
        return Ok(());
    }
    let error = ActivityError::new(
        ActivityErrorKind::BadCall,
        format!("the stored activity task does not decode: {reason}"),
    );
    insert_event(
        tx,
        workflow_id,
        now_ms,
        EventKind::ActivityCompleted {
            seq: uint(seq),
            result: Err(error),
        },
    )
    .await?;
    Ok(())
}

impl Store for PostgresStore {
    fn create_workflow(&self, wf: NewWorkflow) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            in_tx!(self, |tx| {
                // A child only while its parent is at the version its step was computed from
                // (see `NewWorkflow::parent_version`), under a lock that a purge of the parent
                // (which clears its children's links) waits for, or that waits for the purge.
                if let (Some(parent), Some(expected)) = (&wf.parent, wf.parent_version) {
                    let stmt = tx
                        .prepare_cached("SELECT version FROM workflows WHERE id = $1 FOR SHARE")
                        .await
                        .db()?;
                    let found: Option<i64> = match tx.query_opt(&stmt, &[&parent.id]).await.db()? {
                        Some(r) => Some(r.try_get(0).db()?),
                        None => None,
                    };
                    if found != Some(int(expected)) {
                        return Err(StoreError::Conflict {
                            workflow_id: parent.id.clone(),
                            expected,
                        });
                    }
                }
                match insert_run(tx, &wf).await? {
                    Some(version) => {
                        let changes = Changes {
                            timers: !wf.timers.is_empty(),
                            ..Changes::WORKFLOWS
                        };
                        self.announce(tx, changes).await?;
                        Ok(version)
                    }
                    None => match load_record(tx, &wf.id).await? {
                        Some(existing) => Err(StoreError::AlreadyExists(Box::new(existing))),
                        None => Err(StoreError::backend(format!(
                            "workflow {:?} was neither created nor found",
                            wf.id
                        ))),
                    },
                }
            })
        })
    }

    fn load_workflow<'a>(&'a self, id: &'a str) -> StoreFuture<'a, WorkflowRecord> {
        Box::pin(async move {
            storable(id)?;
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(&format!(
                    "SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE id = $1"
                ))
                .await
                .db()?;
            match client.query_opt(&stmt, &[&id]).await.db()? {
                Some(r) => workflow_of(&r),
                None => Err(StoreError::NotFound(id.to_string())),
            }
        })
    }

    fn load_inbox<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<Event>> {
        Box::pin(async move {
            storable(id)?;
            // Statements on their own, not in a transaction: at `READ COMMITTED` each sees
            // its own snapshot either way, and a transaction costs two more round trips.
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(
                    "SELECT id, at, kind, seq, name, payload FROM events WHERE workflow_id = $1 ORDER BY id",
                )
                .await
                .db()?;
            let rows = client.query(&stmt, &[&id]).await.db()?;
            if rows.is_empty() {
                workflow_status(&client, id).await?;
            }
            rows.iter().map(event_of).collect()
        })
    }

    fn load_tasks<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<ActivityTask>> {
        Box::pin(async move {
            storable(id)?;
            // As `load_inbox`: statements on their own.
            let client = self.client().await?;
            workflow_status(&client, id).await?;
            let stmt = client
                .prepare_cached(&format!(
                    "SELECT {TASK_COLUMNS} FROM tasks WHERE workflow_id = $1 ORDER BY seq"
                ))
                .await
                .db()?;
            client
                .query(&stmt, &[&id])
                .await
                .db()?
                .iter()
                .map(task_of)
                .collect()
        })
    }

    fn load_timers<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<TimerRow>> {
        Box::pin(async move {
            storable(id)?;
            // As `load_inbox`: statements on their own.
            let client = self.client().await?;
            workflow_status(&client, id).await?;
            let stmt = client
                .prepare_cached(
                    "SELECT seq, fire_at FROM timers WHERE workflow_id = $1 ORDER BY seq",
                )
                .await
                .db()?;
            client
                .query(&stmt, &[&id])
                .await
                .db()?
                .iter()
                .map(|r| {
                    Ok(TimerRow {
                        seq: uint(r.try_get(0).db()?),
                        fire_at_ms: uint(r.try_get(1).db()?),
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })
    }

    fn commit_step(&self, step: StepCommit) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            if !step.deliver.is_empty()
                || !step.children.is_empty()
                || drops_calls(&step)
                || ends_run(&step)
            {
                // Events for other runs, runs to create, calls to drop, or the run's end: more
                // than one statement, so a transaction of its own (see `commit_locked`).
                return in_tx!(self, |tx| {
                    let version = commit_locked(tx, &self.notices, &step).await?;
                    self.deliver(tx, &step).await?;
                    Ok(version)
                });
            }
            // Queued for a committer: steps of other workflows committed meanwhile go in the
            // same transaction (see `commit_batch`).
            let (reply, result) = tokio::sync::oneshot::channel();
            if self.commits.send((step, reply)).is_err() {
                return Err(StoreError::backend("the store's committers stopped"));
            }
            result.await.unwrap_or_else(|_| {
                Err(StoreError::backend(
                    "the store's committer dropped the step (the store was dropped, or the runtime is shutting down)",
                ))
            })
        })
    }

    fn commit_steps(
        &self,
        steps: Vec<StepCommit>,
    ) -> StoreFuture<'_, Vec<Result<u64, StoreError>>> {
        Box::pin(async move {
            in_tx!(self, |tx| {
                // Locks are taken in id order, so that two batches sharing workflows never wait
                // for each other in a circle; the results go back in the order asked.
                let mut order: Vec<usize> = (0..steps.len()).collect();
                order.sort_by(|&a, &b| steps[a].workflow_id.cmp(&steps[b].workflow_id));
                let mut results: Vec<Option<Result<u64, StoreError>>> =
                    (0..steps.len()).map(|_| None).collect();
                // The rows of a batch whose steps deliver or drop calls are locked together,
                // the runs delivered to with the batch's own: locked step by step, a step's
                // targets came before the rows of the steps after it, out of id order.
                if steps.iter().any(needs_locks) {
                    lock_runs(tx, &steps).await?;
                }
                for i in order {
                    // A step that cannot commit writes nothing; any other error spoils the
                    // transaction, and fails the whole batch.
                    match commit(tx, &self.notices, &steps[i]).await {
                        Err(
                            e @ (StoreError::Conflict { .. }
                            | StoreError::NotFound(_)
                            | StoreError::LeaseLost { .. }),
                        ) => results[i] = Some(Err(e)),
                        Err(e) => return Err(e),
                        Ok(v) => {
                            self.deliver(tx, &steps[i]).await?;
                            results[i] = Some(Ok(v));
                        }
                    }
                }
                Ok(results
                    .into_iter()
                    .map(|r| r.unwrap_or_else(|| Err(StoreError::backend("step not committed"))))
                    .collect())
            })
        })
    }

    fn append_signal<'a>(
        &'a self,
        id: &'a str,
        name: &'a str,
        payload: Vec<u8>,
        type_tag: Option<u64>,
        at_ms: u64,
    ) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            storable(id)?;
            in_tx!(self, |tx| {
                let (status, _, _) = lock_workflow(tx, id).await?;
                if status.is_finished() {
                    return Err(StoreError::Finished {
                        workflow_id: id.to_string(),
                        status,
                    });
                }
                let entry = received_signal_entry(at_ms, name, payload.len());
                let event = insert_event(
                    tx,
                    id,
                    at_ms,
                    EventKind::Signal {
                        name: name.to_string(),
                        payload,
                        type_tag,
                    },
                )
                .await?;
                append_history(tx, id, &[entry]).await?;
                self.announce(tx, Changes::WORKFLOWS).await?;
                Ok(event)
            })
        })
    }

    fn append_event<'a>(
        &'a self,
        id: &'a str,
        kind: EventKind,
        at_ms: u64,
        entry: HistoryEntry,
    ) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            storable(id)?;
            in_tx!(self, |tx| {
                let (status, _, _) = lock_workflow(tx, id).await?;
                if status.is_finished() {
                    return Err(StoreError::Finished {
                        workflow_id: id.to_string(),
                        status,
                    });
                }
                let event = insert_event(tx, id, at_ms, kind).await?;
                append_history(tx, id, &[entry]).await?;
                self.announce(tx, Changes::WORKFLOWS).await?;
                Ok(event)
            })
        })
    }

    fn complete_activity(&self, done: CompleteActivity) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let id = done.workflow_id.as_str();
            let a = &done.attempt;
            in_tx!(self, |tx| {
                lock_workflow(tx, id).await?;
                let deleted = exec(
                    tx,
                    "DELETE FROM tasks WHERE workflow_id = $1 AND seq = $2 AND attempt = $3 AND lease_owner = $4 \
                     AND scheduled_version = $5",
                    &[&id, &int(a.seq), &i64::from(a.attempt), &a.owner, &int(a.scheduled_version)],
                )
                .await?;
                if deleted == 0 {
                    return Ok(false);
                }
                let kind = EventKind::ActivityCompleted {
                    seq: a.seq,
                    result: done.result.clone(),
                };
                insert_event(tx, id, done.at_ms, kind).await?;
                self.announce(tx, Changes::WORKFLOWS).await?;
                Ok(true)
            })
        })
    }

    fn retry_activity(&self, retry: RetryActivity) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            in_tx!(self, |tx| {
                lock_workflow(tx, &retry.workflow_id).await?;
                let n = exec(
                tx,
                "UPDATE tasks SET lease_owner = NULL, lease_until = NULL, visible_at = $5, due = $5, \
                 heartbeat = COALESCE($6, heartbeat) \
                 WHERE workflow_id = $1 AND seq = $2 AND attempt = $3 AND lease_owner = $4 \
                     AND scheduled_version = $7",
                &[
                    &retry.workflow_id,
                    &int(retry.seq),
                    &i64::from(retry.attempt),
                    &retry.owner,
                    &int(retry.visible_at_ms),
                    &retry.heartbeat_details,
                    &int(retry.scheduled_version),
                ],
            )
            .await?;
                if n == 0 {
                    return Ok(false);
                }
                append_history(tx, &retry.workflow_id, std::slice::from_ref(&retry.history))
                    .await?;
                self.announce(tx, Changes::TASKS).await?;
                Ok(true)
            })
        })
    }

    fn lease_tasks(&self, req: LeaseRequest) -> StoreFuture<'_, Vec<ActivityTask>> {
        Box::pin(async move {
            // With the owner of an expired lease, if any: its attempt was lost.
            let claim = format!(
                "WITH claimed AS (SELECT workflow_id, seq, lease_owner FROM tasks \
                     WHERE name = ANY($1) AND due <= $2 ORDER BY due LIMIT $3 \
                     FOR UPDATE SKIP LOCKED) \
                 UPDATE tasks t SET attempt = t.attempt + 1, lease_owner = $4, \
                     lease_until = $5, due = $5 \
                 FROM claimed c WHERE t.workflow_id = c.workflow_id AND t.seq = c.seq \
                 RETURNING {}, c.lease_owner",
                TASK_COLUMNS
                    .split(", ")
                    .map(|c| format!("t.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let limit = req.limit.min(i64::MAX as usize) as i64;
            let rows = in_tx!(self, |tx| {
                let stmt = tx.prepare_cached(&claim).await.db()?;
                tx.query(
                    &stmt,
                    &[
                        &req.names,
                        &int(req.now_ms),
                        &limit,
                        &req.owner,
                        &int(req.lease_until_ms),
                    ],
                )
                .await
                .db()
            })?;
            let mut out = Vec::with_capacity(rows.len());
            let mut unreadable = Vec::new();
            let mut lost = Vec::new();
            for row in &rows {
                match task_of(row) {
                    Ok(t) => {
                        // The owner of the expired lease, after the task's columns.
                        if let Ok(Some(owner)) = row.try_get::<_, Option<String>>(13) {
                            let was = ActivityTask {
                                attempt: t.attempt.saturating_sub(1),
                                lease_owner: Some(owner),
                                ..t.clone()
                            };
                            lost.push((
                                t.workflow_id.clone(),
                                lost_attempt_entry(req.now_ms, &was, &req.owner),
                            ));
                        }
                        out.push(t)
                    }
                    Err(StoreError::Corrupt(reason)) => {
                        let wf: Option<String> = row.try_get(0).ok();
                        let seq: Option<i64> = row.try_get(1).ok();
                        if let (Some(wf), Some(seq)) = (wf, seq) {
                            unreadable.push((wf, seq, reason));
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            // Answered in transactions of their own, which lock the workflow before the
            // task, in the order every other change takes. The claim has committed: a failure
            // here is logged, and the tasks claimed are returned all the same (returning an
            // error would leave them leased to this worker and never run, each attempt
            // counted as lost once its lease lapsed).
            for (wf, seq, reason) in unreadable {
                let answered = in_tx!(self, |tx| {
                    answer_unreadable_task(tx, &wf, seq, &reason, req.now_ms).await
                });
                if let Err(e) = answered {
                    tracing::warn!(workflow_id = %wf, seq, error = %e, "cannot answer an unreadable task; its lease will lapse");
                }
            }
            for (wf, entry) in lost {
                let noted = in_tx!(self, |tx| {
                    lock_workflow(tx, &wf).await?;
                    append_history(tx, &wf, std::slice::from_ref(&entry)).await
                });
                if let Err(e) = noted {
                    tracing::warn!(workflow_id = %wf, error = %e, "cannot record a lost attempt in the history");
                }
            }
            Ok(out)
        })
    }

    fn renew_leases<'a>(
        &'a self,
        owner: &'a str,
        tasks: Vec<LeaseRenewal>,
        lease_until_ms: u64,
    ) -> StoreFuture<'a, Vec<(String, u64)>> {
        Box::pin(async move {
            if tasks.is_empty() {
                return Ok(Vec::new());
            }
            let mut tasks = tasks;
            tasks.sort_by(|a, b| (&a.workflow_id, a.seq).cmp(&(&b.workflow_id, b.seq)));
            let ids: Vec<&str> = tasks.iter().map(|t| t.workflow_id.as_str()).collect();
            let seqs: Vec<i64> = tasks.iter().map(|t| int(t.seq)).collect();
            let beats: Vec<Option<&[u8]>> = tasks
                .iter()
                .map(|t| t.heartbeat_details.as_deref())
                .collect();
            let versions: Vec<i64> = tasks.iter().map(|t| int(t.scheduled_version)).collect();
            // One renewal at a time, on the connection kept for them (opened again when
            // the last one failed or was closed). Bounded by the connect timeout: a server that
            // stops answering on a socket that stays open must not hold the lease loop; the
            // connection is then closed and the next renewal opens another.
            let mut renewer = self.renewer.lock().await;
            let limit = self.renew_timeout;
            let renewal = async {
                let r = match renewer.take() {
                    Some(r) if !r.client.is_closed() => r,
                    _ => self.open_renewer().await?,
                };
                let renewed = r
                    .client
                    .query(
                        &r.renew,
                        &[&owner, &int(lease_until_ms), &ids, &seqs, &beats, &versions],
                    )
                    .await
                    .db()?;
                Ok::<_, StoreError>((r, renewed))
            };
            let (r, renewed) = tokio::time::timeout(limit, renewal).await.map_err(|_| {
                StoreError::backend(format!(
                    "the renewal of leases had no answer within {limit:?}; its connection is closed"
                ))
            })??;
            *renewer = Some(r);
            drop(renewer);
            let mut done = std::collections::HashSet::with_capacity(renewed.len());
            for row in &renewed {
                let id: String = row.try_get(0).db()?;
                let seq: i64 = row.try_get(1).db()?;
                done.insert((id, uint(seq)));
            }
            Ok(tasks
                .into_iter()
                .map(|t| (t.workflow_id, t.seq))
                .filter(|k| !done.contains(k))
                .collect())
        })
    }

    fn release_leases<'a>(
        &'a self,
        owner: &'a str,
        why: Release,
        now_ms: u64,
    ) -> StoreFuture<'a, u64> {
        Box::pin(self.release(owner, None, why, now_ms))
    }

    fn release_tasks<'a>(
        &'a self,
        owner: &'a str,
        tasks: Vec<LeaseRenewal>,
        why: Release,
        now_ms: u64,
    ) -> StoreFuture<'a, u64> {
        Box::pin(async move { self.release(owner, Some(&tasks), why, now_ms).await })
    }

    fn next_task_due<'a>(&'a self, names: &'a [String]) -> StoreFuture<'a, Option<u64>> {
        Box::pin(async move {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached("SELECT min(due) FROM tasks WHERE name = ANY($1)")
                .await
                .db()?;
            let row = client.query_one(&stmt, &[&names]).await.db()?;
            Ok(row.try_get::<_, Option<i64>>(0).db()?.map(uint))
        })
    }

    fn fire_timers(&self, now_ms: u64, limit: usize) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            in_tx!(self, |tx| {
                let now = int(now_ms);
                // The due timers of runs no one else holds, each run locked as it is found: a
                // run being stepped, or told of a child's end (which locks the child, then the
                // parent), has its timers fired at the next look rather than waited for, so
                // the two never wait for each other in a circle, and the batch is filled with
                // other runs' timers. Then only the timers this transaction deletes become
                // events: another process firing the same timers at the same time skips these
                // runs, or finds the timers gone.
                let due = tx
                    .query(
                        &tx.prepare_cached(
                            "SELECT t.workflow_id, t.seq FROM timers t \
                             JOIN workflows w ON w.id = t.workflow_id \
                             WHERE t.fire_at <= $1 ORDER BY t.fire_at LIMIT $2 \
                             FOR UPDATE OF w SKIP LOCKED",
                        )
                        .await
                        .db()?,
                        &[&now, &(limit.min(i64::MAX as usize) as i64)],
                    )
                    .await
                    .db()?;
                if due.len() < limit {
                    // Every due timer of a run not held is in hand: those of no run (its row
                    // deleted by hand; a purge takes a run's timers with it) go, or the look
                    // for the next due time would keep finding them and the loop wait a poll
                    // between batches.
                    tx.execute(
                        &tx.prepare_cached(
                            "DELETE FROM timers t WHERE t.fire_at <= $1 \
                             AND NOT EXISTS (SELECT 1 FROM workflows w WHERE w.id = t.workflow_id)",
                        )
                        .await
                        .db()?,
                        &[&now],
                    )
                    .await
                    .db()?;
                }
                if due.is_empty() {
                    return Ok(Vec::new());
                }
                let mut ids = Vec::with_capacity(due.len());
                let mut seqs = Vec::with_capacity(due.len());
                for r in &due {
                    ids.push(r.try_get::<_, String>(0).db()?);
                    seqs.push(r.try_get::<_, i64>(1).db()?);
                }
                let fired = tx
                .query(
                    &tx.prepare_cached(
                        "DELETE FROM timers t USING unnest($1::TEXT[], $2::BIGINT[]) AS d(workflow_id, seq) \
                         WHERE t.workflow_id = d.workflow_id AND t.seq = d.seq AND t.fire_at <= $3 \
                         RETURNING t.workflow_id, t.seq, t.fire_at",
                    )
                    .await
                    .db()?,
                    &[&ids, &seqs, &now],
                )
                .await
                .db()?;
                let mut fired: Vec<(String, i64, i64)> = fired
                    .iter()
                    .map(|r| Ok((r.try_get(0).db()?, r.try_get(1).db()?, r.try_get(2).db()?)))
                    .collect::<Result<_, StoreError>>()?;
                fired.sort_by_key(|(_, seq, at)| (*at, *seq));
                let mut woken: Vec<String> = Vec::new();
                // Each run once, in the order of its first timer (a set: a batch holds up to
                // hundreds of runs, and a search of the list for each was quadratic).
                let mut seen = foldhash::HashSet::default();
                for (wf, seq, at) in fired {
                    insert_event(tx, &wf, uint(at), EventKind::TimerFired { seq: uint(seq) })
                        .await?;
                    if seen.insert(wf.clone()) {
                        woken.push(wf);
                    }
                }
                if !woken.is_empty() {
                    self.announce(tx, Changes::WORKFLOWS).await?;
                }
                Ok(woken)
            })
        })
    }

    fn next_timer_due(&self) -> StoreFuture<'_, Option<u64>> {
        Box::pin(async move {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached("SELECT min(fire_at) FROM timers")
                .await
                .db()?;
            let row = client.query_one(&stmt, &[]).await.db()?;
            Ok(row.try_get::<_, Option<i64>>(0).db()?.map(uint))
        })
    }

    fn ready_workflows<'a>(
        &'a self,
        names: &'a [String],
        limit: usize,
    ) -> StoreFuture<'a, Vec<String>> {
        Box::pin(async move {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(
                    "SELECT id FROM workflows WHERE ready AND status = 0 AND name = ANY($1) LIMIT $2",
                )
                .await
                .db()?;
            client
                .query(&stmt, &[&names, &(limit.min(i64::MAX as usize) as i64)])
                .await
                .db()?
                .iter()
                .map(|r| r.try_get(0).db())
                .collect()
        })
    }

    fn clear_ready<'a>(
        &'a self,
        id: &'a str,
        version: u64,
        seen_events_upto: u64,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            // One statement. The flag stays set if an event the caller has not seen is
            // there in the statement's snapshot, or if an event came since that snapshot: an
            // inserter raises `last_event` under the row's lock, so the row as locked (after
            // waiting for it) has a `last_event` above the snapshot's. (The two sub-selects
            // are evaluated once, on the snapshot.) Not `last_event > $3` alone: a caller that
            // loaded the run afresh has seen nothing (0), and would keep the flag of a run
            // whose events were all consumed set for ever, waking it at every poll.
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(
                    "UPDATE workflows SET ready = \
                     last_event > (SELECT s.last_event FROM workflows s WHERE s.id = $1) \
                     OR EXISTS (SELECT 1 FROM events e WHERE e.workflow_id = $1 AND e.id > $3) \
                     WHERE id = $1 AND version = $2 RETURNING 1",
                )
                .await
                .db()?;
            let rows = client
                .query(&stmt, &[&id, &int(version), &int(seen_events_upto)])
                .await
                .db()?;
            if !rows.is_empty() {
                return Ok(true);
            }
            // Only a missing workflow is an error.
            let stmt = client
                .prepare_cached("SELECT 1 FROM workflows WHERE id = $1")
                .await
                .db()?;
            match client.query_opt(&stmt, &[&id]).await.db()? {
                Some(_) => Ok(false),
                None => Err(StoreError::NotFound(id.to_string())),
            }
        })
    }

    fn list_workflows(
        &self,
        status: Option<WorkflowStatus>,
    ) -> StoreFuture<'_, Vec<WorkflowSummary>> {
        Box::pin(async move {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(
                    "SELECT id, name, status, park_reason, created_at, updated_at FROM workflows \
                     WHERE $1::SMALLINT IS NULL OR status = $1 ORDER BY id",
                )
                .await
                .db()?;
            let code: Option<i16> = status.map(|s| *status_code(&s));
            client
                .query(&stmt, &[&code])
                .await
                .db()?
                .iter()
                .map(|r| {
                    Ok(WorkflowSummary {
                        id: r.try_get(0).db()?,
                        name: r.try_get(1).db()?,
                        status: status_of(r.try_get(2).db()?)?,
                        park_reason: r.try_get(3).db()?,
                        created_at_ms: uint(r.try_get(4).db()?),
                        updated_at_ms: uint(r.try_get(5).db()?),
                    })
                })
                .collect()
        })
    }

    fn list_runs(&self, query: RunQuery) -> StoreFuture<'_, RunPage> {
        Box::pin(async move {
            let size = query.page_size();
            let status = query.status.map(|s| *status_code(&s));
            let prefix = query.id_prefix.as_deref().filter(|p| !p.is_empty());
            let prefix_end = prefix.and_then(prefix_successor);
            let times = [
                ("created_at >=", query.created_from_ms.map(int)),
                ("created_at <", query.created_before_ms.map(int)),
                ("updated_at >=", query.updated_from_ms.map(int)),
                ("updated_at <", query.updated_before_ms.map(int)),
            ];
            let limit = size as i64 + 1;
            // The statement holds only the filters given (a generic plan of
            // `$1 IS NULL OR ...` would read the whole table), as fixed pieces of text; every
            // value the caller gave is a parameter. A prefix is a range of the primary key:
            // nothing in it is a wildcard.
            let mut p = Params { values: Vec::new() };
            let mut conditions: Vec<String> = Vec::new();
            if let Some(code) = &status {
                conditions.push(format!("status = {}", p.add(code)));
            }
            if let Some(name) = &query.name {
                conditions.push(format!("name = {}", p.add(name)));
            }
            if let Some(prefix) = &prefix {
                conditions.push(format!("id >= {}", p.add(prefix)));
            }
            if let Some(end) = &prefix_end {
                conditions.push(format!("id < {}", p.add(end)));
            }
            if let Some(after) = &query.after {
                conditions.push(format!("id > {}", p.add(after)));
            }
            for (condition, bound) in &times {
                if let Some(ms) = bound {
                    conditions.push(format!("{condition} {}", p.add(ms)));
                }
            }
            let clause = if conditions.is_empty() {
                "TRUE".to_string()
            } else {
                conditions.join(" AND ")
            };
            let sql = format!(
                "SELECT id, name, status, park_reason, created_at, updated_at FROM workflows \
                 WHERE {clause} ORDER BY id LIMIT {}",
                p.add(&limit)
            );
            // Planned for the values given, unlike the store's other statements (see
            // `connect`): how many rows a status, a name, a prefix or a time window selects
            // decides which index pays.
            let mut rows = in_tx!(self, |tx| {
                tx.batch_execute("SET LOCAL plan_cache_mode = force_custom_plan")
                    .await
                    .db()?;
                let stmt = tx.prepare_cached(&sql).await.db()?;
                tx.query(&stmt, &p.values).await.db()
            })?;
            // One row more than the page tells whether another page follows.
            let next = if rows.len() > size {
                rows.truncate(size);
                match rows.last() {
                    Some(r) => Some(r.try_get::<_, String>(0).db()?),
                    None => None,
                }
            } else {
                None
            };
            let mut runs = Vec::with_capacity(rows.len());
            for r in &rows {
                let run = (|| {
                    Ok::<_, StoreError>(WorkflowSummary {
                        id: r.try_get(0).db()?,
                        name: r.try_get(1).db()?,
                        status: status_of(r.try_get(2).db()?)?,
                        park_reason: r.try_get(3).db()?,
                        created_at_ms: uint(r.try_get(4).db()?),
                        updated_at_ms: uint(r.try_get(5).db()?),
                    })
                })();
                match run {
                    Ok(run) => runs.push(run),
                    Err(e @ StoreError::Corrupt(_)) => {
                        let id: String = r.try_get(0).unwrap_or_default();
                        tracing::warn!(workflow_id = %id, error = %e, "a stored workflow cannot be listed");
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(RunPage { runs, next })
        })
    }

    fn count_runs(&self) -> StoreFuture<'_, Vec<(WorkflowStatus, u64)>> {
        Box::pin(async move {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached("SELECT status, count(*) FROM workflows GROUP BY status")
                .await
                .db()?;
            let mut counts = WorkflowStatus::ALL.map(|s| (s, 0u64));
            for r in client.query(&stmt, &[]).await.db()? {
                let code: i16 = r.try_get(0).db()?;
                let n: i64 = r.try_get(1).db()?;
                match counts.iter_mut().find(|(s, _)| *status_code(s) == code) {
                    Some(c) => c.1 = uint(n),
                    None => {
                        tracing::warn!(
                            status = code,
                            rows = n,
                            "stored workflows have an unknown status; not counted"
                        )
                    }
                }
            }
            Ok(counts.to_vec())
        })
    }

    fn purge<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        self.purge_run(id, None)
    }

    fn purge_version<'a>(&'a self, id: &'a str, version: u64) -> StoreFuture<'a, ()> {
        self.purge_run(id, Some(version))
    }

    fn purge_finished(
        &self,
        finished_before_ms: u64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            if limit == 0 {
                return Ok(Vec::new());
            }
            in_tx!(self, |tx| {
                // The first found, not the oldest: `updated_at` has no index (it changes at
                // every step, and an index on it would cost every step, HOT updates
                // included), so the oldest could only be found by reading every finished run.
                // Rows another transaction holds are skipped, not waited for: these locks are
                // not taken in id order. Planned for the values given (see `list_runs`).
                tx.batch_execute("SET LOCAL plan_cache_mode = force_custom_plan")
                    .await
                    .db()?;
                let stmt = tx
                    .prepare_cached(
                        "SELECT id, version FROM workflows WHERE status = ANY($1) \
                         AND updated_at < $2 LIMIT $3 FOR UPDATE SKIP LOCKED",
                    )
                    .await
                    .db()?;
                let limit = limit.min(i64::MAX as usize) as i64;
                let rows = tx
                    .query(&stmt, &[&&FINISHED[..], &int(finished_before_ms), &limit])
                    .await
                    .db()?;
                let mut ids = Vec::with_capacity(rows.len());
                let mut last: Option<i64> = None;
                for r in &rows {
                    ids.push(r.try_get::<_, String>(0).db()?);
                    last = last.max(Some(r.try_get(1).db()?));
                }
                ids.sort_unstable();
                let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
                delete_runs(tx, &refs).await?;
                // The tombstones of runs that finished before the cutoff (see
                // `Store::purge_finished`), up to the limit; one a new run is taking away
                // meanwhile is skipped (its run starts past it).
                let stmt = tx
                    .prepare_cached(
                        "DELETE FROM tombstones WHERE id IN \
                             (SELECT id FROM tombstones WHERE finished_at < $1 LIMIT $2 \
                              FOR UPDATE SKIP LOCKED) \
                         RETURNING version",
                    )
                    .await
                    .db()?;
                for r in tx
                    .query(&stmt, &[&int(finished_before_ms), &limit])
                    .await
                    .db()?
                {
                    last = last.max(Some(r.try_get(0).db()?));
                }
                if let Some(last) = last {
                    raise_floor(tx, last).await?;
                }
                Ok(ids)
            })
        })
    }

    fn wakeups(&self) -> Option<tokio::sync::broadcast::Receiver<Wakeup>> {
        Some(self.hints.subscribe())
    }

    fn history<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<HistoryEntry>> {
        Box::pin(async move {
            storable(id)?;
            in_tx!(self, |tx| {
                workflow_status(tx, id).await?;
                let stmt = tx
                    .prepare_cached(
                        "SELECT at, kind, detail FROM history WHERE workflow_id = $1 ORDER BY n",
                    )
                    .await
                    .db()?;
                tx.query(&stmt, &[&id])
                    .await
                    .db()?
                    .iter()
                    .map(history_row)
                    .collect()
            })
        })
    }

    fn history_tail<'a>(
        &'a self,
        id: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, (Vec<HistoryEntry>, u64)> {
        Box::pin(async move {
            storable(id)?;
            in_tx!(self, |tx| {
                workflow_status(tx, id).await?;
                let fetch = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
                let stmt = tx
                    .prepare_cached(
                        "SELECT at, kind, detail, count(*) OVER () FROM history \
                         WHERE workflow_id = $1 ORDER BY n DESC LIMIT $2",
                    )
                    .await
                    .db()?;
                let rows = tx.query(&stmt, &[&id, &fetch]).await.db()?;
                let total = match rows.first() {
                    Some(r) => uint(r.try_get(3).db()?),
                    None => 0,
                };
                // (At least one row is read, for the count.)
                let entries = rows[..rows.len().min(limit)]
                    .iter()
                    .rev()
                    .map(history_row)
                    .collect::<Result<_, StoreError>>()?;
                Ok((entries, total))
            })
        })
    }

    fn create_schedule(&self, schedule: ScheduleRecord) -> StoreFuture<'_, ()> {
        Box::pin(async move { self.create_schedule_row(&schedule).await })
    }

    fn load_schedule<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ScheduleRecord> {
        Box::pin(async move {
            self.load_schedule_row(name)
                .await?
                .ok_or_else(|| StoreError::ScheduleNotFound(name.to_string()))
        })
    }

    fn list_schedules(&self) -> StoreFuture<'_, Vec<ScheduleRecord>> {
        Box::pin(self.list_schedule_rows())
    }

    fn update_schedule(&self, schedule: ScheduleRecord) -> StoreFuture<'_, u64> {
        Box::pin(async move { self.update_schedule_row(&schedule).await })
    }

    fn delete_schedule<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(self.delete_schedule_row(name))
    }

    fn due_schedules<'a>(
        &'a self,
        workflows: &'a [String],
        now_ms: u64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<ScheduleRecord>> {
        Box::pin(self.due_schedule_rows(workflows, now_ms, limit))
    }

    fn next_schedule_due<'a>(&'a self, workflows: &'a [String]) -> StoreFuture<'a, Option<u64>> {
        Box::pin(self.next_schedule_row_due(workflows))
    }
}
