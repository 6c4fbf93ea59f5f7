//! [`SqliteStore`]: one SQLite file in WAL mode, the embedded default.
//!
//! Writes go through one writer thread that owns the writing connection. It takes every
//! operation queued while the previous transaction was being written and commits them in one
//! transaction: with `synchronous=FULL` a commit costs one fsync however many workflows it
//! advances (group commit). An operation that fails for a reason of its own (a conflict, a
//! missing workflow) checks before it writes, so it leaves nothing behind and the others
//! commit; one that fails in the middle (an I/O error) rolls the whole batch back, and every
//! operation in it fails. (Savepoints around each operation would make this finer, at the cost
//! of a statement journal write per page touched: most of the writer's time.) When nothing is
//! pending and the last transaction held one operation (a lone workflow's load), an operation
//! runs on its caller's thread instead, in a transaction of its own, without the two thread
//! hand-offs ([`WriterShared`]). Reads use a small pool of read connections on blocking
//! threads; WAL lets them run while the writer writes.
//!
//! Several stores (in one process or several) may open the same file: SQLite serializes their
//! transactions, and every step is a compare-and-set on the workflow's version.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::rows::{
    EVENT_SIGNAL, corrupt, event_columns, event_from_columns, history_entry, int, uint,
};
use super::{
    ActivityTask, CompleteActivity, DueTimer, Event, EventKind, HistoryEntry, LeaseRenewal,
    LeaseRequest, NewWorkflow, ParentLink, Release, RetryActivity, RunPage, RunQuery,
    ScheduleRecord, StepCommit, StepOutcome, Store, StoreError, StoreFuture, TaskAttempt, TimerKey,
    TimerRow, WorkflowRecord, WorkflowStatus, WorkflowSummary, lost_attempt_entry,
    prefix_successor, received_signal_entry, released_attempt_entry,
};
use crate::activity::{ActivityError, ActivityErrorKind, ActivityOptions};

mod pcache;
mod raw;
mod schedules;
#[cfg(test)]
mod tests;
#[cfg(unix)]
mod vfs;

/// SQLite's `synchronous` setting: how hard a commit pushes data to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// No fsync: a power loss may lose recent commits or corrupt the file. Bulk loads only.
    Off,
    /// fsync at checkpoints only: a power loss may lose the last commits, never corrupts (in
    /// WAL mode). A process crash loses nothing.
    Normal,
    /// fsync at every commit: nothing committed is ever lost. The default.
    #[default]
    Full,
    /// Like `Full`, and also syncs the directory.
    Extra,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Off => "OFF",
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
            Synchronous::Extra => "EXTRA",
        }
    }
}

/// The settings a [`SqliteStore`] writes with, read back from SQLite by
/// [`SqliteStore::settings`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteSettings {
    /// `wal`, always: the store refuses to open otherwise.
    pub journal_mode: String,
    /// The `synchronous` pragma in force.
    pub synchronous: Synchronous,
}

/// Options of a [`SqliteStore`]; [`SqliteStore::open`] uses the defaults.
#[derive(Debug, Clone)]
pub struct SqliteStoreBuilder {
    path: PathBuf,
    synchronous: Synchronous,
    busy_timeout: Duration,
    max_batch: usize,
    readers: usize,
    wal_limit: u64,
    in_place: bool,
}

impl SqliteStoreBuilder {
    /// How hard each commit pushes data to the disk (default [`Synchronous::Full`]).
    pub fn synchronous(mut self, s: Synchronous) -> Self {
        self.synchronous = s;
        self
    }

    /// How long to wait for another process's write lock before failing (default 10 s; at most
    /// `i32::MAX` ms, about 24 days, what SQLite takes: a longer one is cut to that).
    pub fn busy_timeout(mut self, d: Duration) -> Self {
        // rusqlite panics on a timeout that does not fit SQLite's i32 of milliseconds.
        self.busy_timeout = d.min(Duration::from_millis(i32::MAX as u64));
        self
    }

    /// The most operations committed in one transaction (default 2048).
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = n.max(1);
        self
    }

    /// The most bytes the write-ahead log may keep on disk between checkpoints (default
    /// 64 MiB, at least 1 MiB). Past it the writer checkpoints the log into the database and
    /// truncates it, so a volume with little free space is not filled by the log; SQLite's
    /// own checkpoints (every 8,000 pages, 32 MiB, or half the limit if it is lower) keep it
    /// smaller as long as no reader holds an old snapshot for long. The store writes the log
    /// ahead (zeros) to what it holds between two of those checkpoints when it opens and
    /// after it truncates the log, so that commits write over blocks the file has rather than
    /// grow it (a commit's sync then costs less): the log takes that room on disk from the
    /// start, when as much again is free on the volume (otherwise it grows as it did).
    pub fn wal_limit(mut self, bytes: u64) -> Self {
        self.wal_limit = bytes.max(1 << 20);
        self
    }

    /// Whether a write that finds the writer thread idle runs on its caller's thread (default
    /// `true`). It then costs no hand-off to the writer thread and no wake-up back: a lone
    /// workflow runs about a third more steps per second. The caller's thread (a runtime
    /// thread) is then busy for the commit, sync included: on a disk whose fsync takes
    /// milliseconds, `false` keeps every write, and its wait for the disk, on the writer
    /// thread. Writes that find others pending, or that follow a transaction of many (a load
    /// of many workflows), go to the writer thread, which commits them together.
    pub fn writes_in_place(mut self, yes: bool) -> Self {
        self.in_place = yes;
        self
    }

    /// How many reader threads to run, each with a read connection of its own (default 4):
    /// also how many reads run at once (the others wait in a queue).
    pub fn readers(mut self, n: usize) -> Self {
        self.readers = n.max(1);
        self
    }

    /// The writing connection, given the one that opened the file (and upgraded it): where
    /// every commit syncs the log (`synchronous=FULL` or `EXTRA`), a connection of its own
    /// through the VFS that writes a commit's frames to the log in one system call (see the
    /// `vfs` module), configured as the first (`pragmas`). Its dirty pages never spill into
    /// the log before the commit (`cache_spill=OFF`): every frame it writes is then part of
    /// a commit that ends with a sync (the VFS's condition; a transaction larger than the
    /// cache grows the cache instead). The file's upgrade, which may be larger, ran on the
    /// first connection.
    fn writer(&self, first: Connection, pragmas: &str) -> Result<Connection, StoreError> {
        #[cfg(unix)]
        if matches!(self.synchronous, Synchronous::Full | Synchronous::Extra)
            && let Some(name) = vfs::registered()
        {
            let conn = Connection::open_with_flags_and_vfs(
                &self.path,
                rusqlite::OpenFlags::default(),
                name,
            )
            .db()?;
            configure(&conn, self.busy_timeout)?;
            conn.execute_batch(pragmas).db()?;
            conn.execute_batch("PRAGMA cache_spill=OFF;").db()?;
            // Closed once the new one is open: the last connection to close would checkpoint
            // and delete the log.
            drop(first);
            return Ok(conn);
        }
        let _ = pragmas;
        Ok(first)
    }

    /// Opens (creating if needed) the database file and starts the writer thread.
    pub fn open(self) -> Result<SqliteStore, StoreError> {
        // Before SQLite is first used in the process (see `pcache`).
        pcache::install();
        let conn = Connection::open(&self.path).db()?;
        configure(&conn, self.busy_timeout)?;
        // Before anything is written (WAL mode is written in the file): a file of a newer
        // schema or of another application is left as it is.
        let schema = check_schema(&conn, &self.path)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .db()?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::backend(format!(
                "cannot switch {} to WAL mode (got {mode})",
                self.path.display()
            )));
        }
        // SQLite checkpoints every `wal_autocheckpoint` pages (8,000 here, at most half the
        // limit), and truncates the log back to the limit when it starts over. SQLite's
        // default, 1,000, checkpoints the pages steps rewrite again and again (the same runs'
        // rows, the ends of the indexes) eight times as often: in the concurrent benchmark,
        // 8,000 gave 7-14% more steps/s (runs alternated in one sitting).
        let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).db()?;
        let pages = (self.wal_limit / u64::try_from(page_size.max(512)).unwrap_or(4096) / 2)
            .clamp(16, 8000);
        // The writer keeps up to 64 MiB of pages (SQLite's default is 2 MiB): the indexes and
        // the rows that steps touch stay in memory when a file holds a million runs. Its cache
        // survives its own commits (a reader's is dropped whenever another connection wrote).
        let writer_pragmas = format!(
            "PRAGMA synchronous={}; PRAGMA wal_autocheckpoint={pages}; PRAGMA journal_size_limit={}; \
             PRAGMA cache_size=-{WRITER_CACHE_KIB};",
            self.synchronous.pragma(),
            self.wal_limit
        );
        conn.execute_batch(&writer_pragmas).db()?;
        if schema == Schema::Create {
            // The write lock first (waiting as long as the busy timeout allows): several
            // processes may open a new file at once, and a read lock upgraded to a write lock
            // would fail at once instead of waiting.
            conn.execute_batch("BEGIN IMMEDIATE;").db()?;
            let rebuilt = set_text_keyed_aside(&conn)?;
            conn.execute_batch(SCHEMA).db()?;
            for (table, column, kind) in ADDED_COLUMNS {
                let present: bool = conn
                    .query_row(
                        "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2)",
                        params![table, column],
                        |r| r.get(0),
                    )
                    .db()?;
                if !present {
                    conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))
                        .db()?;
                }
            }
            if rebuilt {
                copy_text_keyed(&conn)?;
            }
            drop_stored_due(&conn)?;
            conn.execute_batch(TRIGGERS).db()?;
            conn.execute_batch(&format!(
                "PRAGMA application_id = {APPLICATION_ID}; \
                 PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
            ))
            .db()?;
        }
        let conn = self.writer(conn, &writer_pragmas)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let max_batch = self.max_batch.max(1);
        let busy_timeout = self.busy_timeout;
        let in_place = self.in_place;
        let wal = WalLimit {
            path: wal_path(&self.path),
            limit: self.wal_limit,
            ahead: 32 + pages * (u64::try_from(page_size.max(512)).unwrap_or(4096) + 24),
        };
        wal.write_ahead();
        let (ready_tx, ready) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("workflow-sqlite-writer".into())
            .spawn(move || {
                start_writer(conn, ready_tx, rx, (max_batch, in_place), wal, busy_timeout)
            })
            .map_err(|e| StoreError::backend_with("cannot start the writer thread", e))?;
        let shared = ready.recv().map_err(|_| writer_gone())??;
        // One read connection opened here (an error shows now, not at the first read), the
        // others by their threads.
        let first = open_reader(&self.path, self.busy_timeout)?;
        first
            .prepare_cached(&format!(
                "SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE id = ?1"
            ))
            .db()?;
        let readers = Arc::new(ReaderPool::start(
            &self.path,
            self.busy_timeout,
            self.readers,
            first,
        )?);
        Ok(SqliteStore {
            writer: tx,
            shared,
            readers,
            path: self.path,
        })
    }
}

/// A [`Store`] in one SQLite file (WAL mode, `synchronous=FULL` unless told otherwise).
///
/// The first store opened in a process, if SQLite is not in use yet, installs a page cache
/// of its own for the whole process (every connection's, the application's too): one per
/// connection with nothing locked, where SQLite's (as `rusqlite` builds it) puts every
/// connection's pages behind one mutex, and which walks its pages at the end of a transaction
/// only when one may be past the database's end (SQLite's can walk every page it holds to find
/// none, after B-tree balancing). Where the process used SQLite before, its cache stays as it
/// was.
///
/// ```no_run
/// # fn main() -> Result<(), workflow_rt::StoreError> {
/// use workflow_rt::{SqliteStore, Synchronous};
/// let durable = SqliteStore::open("workflows.db")?;
/// let relaxed = SqliteStore::builder("scratch.db").synchronous(Synchronous::Normal).open()?;
/// # Ok(()) }
/// ```
pub struct SqliteStore {
    writer: mpsc::Sender<Job>,
    shared: Arc<WriterShared>,
    readers: Arc<ReaderPool>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) a store in this file with the default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::builder(path).open()
    }

    /// Options for a store in this file.
    pub fn builder(path: impl AsRef<Path>) -> SqliteStoreBuilder {
        SqliteStoreBuilder {
            path: path.as_ref().to_path_buf(),
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(10),
            max_batch: 2048,
            readers: 4,
            wal_limit: 64 << 20,
            in_place: true,
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the writing connection runs with, as SQLite reports it (`PRAGMA journal_mode`,
    /// `PRAGMA synchronous`): what the durability of a commit rests on.
    pub async fn settings(&self) -> Result<SqliteSettings, StoreError> {
        self.write(|conn| {
            let journal_mode: String = conn
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .db()?;
            let level: i64 = conn
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .db()?;
            let synchronous = match level {
                0 => Synchronous::Off,
                1 => Synchronous::Normal,
                2 => Synchronous::Full,
                3 => Synchronous::Extra,
                other => return Err(corrupt("PRAGMA synchronous", other)),
            };
            Ok(SqliteSettings {
                journal_mode: journal_mode.to_ascii_lowercase(),
                synchronous,
            })
        })
        .await
    }

    /// `Store::purge`, of the run at `version` only when given (`Store::purge_version`).
    fn purge_run<'a>(&'a self, id: &'a str, version: Option<u64>) -> StoreFuture<'a, ()> {
        let id = id.to_string();
        self.write(move |conn| {
            // Checked before anything is written: a refusal leaves the batch's other
            // operations to commit.
            let (status, at) = status_and_version(conn, &id)?;
            if let Some(expected) = version
                && at != expected
            {
                return Err(StoreError::Conflict {
                    workflow_id: id,
                    expected,
                });
            }
            if !status.is_finished() {
                return Err(StoreError::NotFinished {
                    workflow_id: id,
                    status,
                });
            }
            // The tombstone (see `Store::purge`). There is none for the id already (the run
            // under it took it away when it was created), but should there be, the later of
            // the two stands.
            conn.execute(
                "INSERT INTO tombstones (id, version, finished_at) \
                     SELECT id, version, updated_at FROM workflows WHERE id = ?1 \
                 ON CONFLICT (id) DO UPDATE SET version = max(version, excluded.version), \
                     finished_at = max(finished_at, excluded.finished_at)",
                [&id],
            )
            .db()?;
            delete_runs(conn, std::slice::from_ref(&id))
        })
    }

    /// Runs `f` inside the writer's next transaction.
    fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Writer) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<'static, T> {
        self.write_handing_back(move |w| (f(w), ()))
    }

    /// As [`SqliteStore::write`], and what `f` hands back with its result (the operation's
    /// input, say) is dropped by the caller, not on the writer thread: the one thread every
    /// write goes through spends its time on the database, not on freeing memory.
    fn write_handing_back<T: Send + 'static, K: Send + 'static>(
        &self,
        f: impl FnOnce(&Writer) -> (Result<T, StoreError>, K) + Send + 'static,
    ) -> StoreFuture<'static, T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let (result, back, spoiled) = match conn {
                Ok(conn) => {
                    let (r, back) = f(conn);
                    let spoiled = r.as_ref().err().filter(|e| may_have_written(e)).cloned();
                    (r, Some(back), spoiled)
                }
                Err(e) => (Err(e.clone()), None, None),
            };
            let reply: Reply = Box::new(move |commit: Option<&StoreError>| {
                let result = match (result, commit) {
                    (Ok(_), Some(e)) => Err(e.clone()),
                    (r, _) => r,
                };
                let _ = tx.send((result, back));
            });
            (reply, spoiled)
        });
        let queued = match self.shared.try_inline(job) {
            Ok(()) => Ok(()),
            Err((job, counted)) => self.shared.enqueue(&self.writer, job, counted),
        };
        if queued.is_err() {
            return Box::pin(std::future::ready(Err(writer_gone())));
        }
        Box::pin(async move {
            match rx.await {
                Ok((result, back)) => {
                    drop(back);
                    result
                }
                Err(_) => Err(StoreError::backend(
                    "the store's writer dropped the operation (it stopped, or the operation panicked)",
                )),
            }
        })
    }

    /// Runs `f` on a read connection, on one of the store's reader threads (as many as it
    /// keeps connections, each with its own, its prepared statements and its page cache): a
    /// burst of reads (hundreds of workflows woken at once) waits for them in a queue, with no
    /// thread and no connection opened for it.
    fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<'static, T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            let _ = tx.send(match conn {
                Ok(conn) => f(conn),
                Err(e) => Err(e.clone()),
            });
        });
        if self.readers.jobs.send(job).is_err() {
            return Box::pin(std::future::ready(Err(StoreError::backend(
                "the store's reader threads have stopped",
            ))));
        }
        Box::pin(async move {
            rx.await.unwrap_or_else(|_| {
                Err(StoreError::backend(
                    "the store's reader dropped the operation (it panicked)",
                ))
            })
        })
    }
}

fn writer_gone() -> StoreError {
    StoreError::backend("the store's writer thread has stopped")
}

/// Prepared statements each connection keeps (`rusqlite` keeps 16 by default): the store
/// runs about fifty, and a workload that goes through more than the cache holds, as one with
/// timers, signals, retries and children does, would parse and plan them again and again.
const STATEMENT_CACHE: usize = 96;

/// Sets up a connection of the store's: its busy timeout, its statement cache, and plans that
/// never depend on the values bound to a statement (SQLite's query planner stability
/// guarantee, `SQLITE_DBCONFIG_ENABLE_QPSG`).
///
/// Without that guarantee SQLite plans `LIMIT ?n` (since 3.46) for the value bound, and marks
/// the statement to be compiled again whenever a value is bound to `?n` (so at every run of
/// it, since `sqlite3_bind_*` does not look at the value): every read of due timers, ready
/// runs and leases was parsed and planned again, a seventh of the reader threads' time with
/// a million timers firing (`perf`). The store's statements do not need the value: their
/// plans are fixed by their indexes (`INDEXED BY` where it matters), and none uses `LIKE`.
fn configure(conn: &Connection, busy_timeout: Duration) -> Result<(), StoreError> {
    conn.busy_timeout(busy_timeout).db()?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .db()?;
    Ok(())
}

/// The writer's page cache, in KiB.
const WRITER_CACHE_KIB: u64 = 64 * 1024;

/// Marks a database file as a workflow store (`PRAGMA application_id`: "WFRT").
const APPLICATION_ID: i64 = 0x5746_5254;

/// The version of [`SCHEMA`] (`PRAGMA user_version`). Version 1 is the first schema; a file
/// written before the schema was versioned has the same tables with both pragmas at 0.
/// Version 2 adds the index `workflows_name` (runs listed by workflow name). Version 3 adds
/// the tables `tombstones` and `version_floor`, which keep versions of one id from repeating
/// across runs (see [`Store::create_workflow`]); an upgraded file starts with no tombstone
/// and a floor of 0, since nothing is left of the runs purged before the upgrade to say which
/// versions they reached. Version 4 adds the columns `workflows.parent_id` and `parent_seq`
/// (the parent of a child run) and the table `schedules` ([`crate::schedule`]; an upgraded
/// file starts with none). A file of an older version is upgraded at open by running
/// [`SCHEMA`] again (every statement of which creates only what is missing), and adding the
/// columns it lacks ([`ADDED_COLUMNS`]). Version 5 adds the table `history_base`: the history
/// log's entries are numbered when they are moved (schema 7's move), past every number
/// given before (an upgraded file starts past the largest number in `history`). Version 6
/// keeps `workflows` in a `WITHOUT ROWID` table keyed by `id`: finding a run by its id is one
/// B-tree descent instead of two (its unique index, then the table by rowid); an upgraded
/// file's runs were copied into the new table at open (as schema 9's are). Version 7
/// moves the history log into `history_moved`, clustered by move, with `history_runs` saying
/// which moves hold entries of which run; an upgraded file keeps the entries it moved before in
/// `history`, read with the others in number order. Version 8 no longer moves the log: its
/// entries stay, and `history_runs` lists (column `seqs`) where each run's are
/// ([`index_history`]), up to `history_base.indexed`; [`TRIGGERS`] refuse an older program's
/// move. An upgraded file keeps what it moved before in `history` and `history_moved`.
/// Version 9 keys runs by an integer (`workflows.rid`, the table's rowid, with a unique index
/// on `id`), and their tasks, timers and events by it: a step finds its run by id once and
/// every row of the run's by the integer, where text keys cost each seek comparisons of
/// strings (a quarter of the writer's time while a million timers fired). An upgraded file's
/// rows are copied into the new tables at open ([`set_text_keyed_aside`]).
/// Version 10 stores with each task the run's version after the step that made the call
/// (`tasks.scheduled_version`, [`ActivityTask::scheduled_version`]), which every fence on an
/// attempt checks: a run purged and created again under its id makes calls of the same
/// numbers, and an attempt of the old run's call must not be taken for the new one's. An
/// upgraded file's tasks have 0 there, as their attempts read it back.
/// Version 11 no longer stores when a task is due (`tasks.due`): `tasks_next` indexes the
/// expression it stood for ([`task_due`]), so that a task's row is back to 13 fields, the most
/// whose keys SQLite compares on its fast path. An upgraded file's column and its index
/// (`tasks_due`) are dropped at open ([`drop_stored_due`]).
/// Version 12 adds the index `workflows_parent` (the child runs of a run, those that have a
/// parent only), by which a purge clears its children's links to it ([`Store::purge`]).
/// Version 13 adds the columns `schedules.workflow_version` (the version of the workflow a
/// schedule starts, which its input was encoded for) and `schedules.note` (why a worker
/// paused it); an upgraded file's schedules have neither, and start the newest version.
/// Version 14 adds the column `schedules.run_timeout_ms` (the execution timeout of the runs a
/// schedule starts); an upgraded file's schedules have none.
pub(crate) const SCHEMA_VERSION: u32 = 14;

/// The tables a schema before 9 keyed by run id (text), set aside while [`SCHEMA`] creates
/// them keyed by the run's integer key, then copied and dropped: `(table, set aside as)`.
const TEXT_KEYED: [(&str, &str); 4] = [
    ("workflows", "workflows_before_9"),
    ("tasks", "tasks_before_9"),
    ("timers", "timers_before_9"),
    ("events", "events_before_9"),
];

/// The indexes of the tables of [`TEXT_KEYED`], dropped with the tables set aside: index
/// names are the schema's, and [`SCHEMA`] creates them again on the new tables.
const TEXT_KEYED_INDEXES: &str = "DROP INDEX IF EXISTS workflows_ready;      DROP INDEX IF EXISTS workflows_status; DROP INDEX IF EXISTS workflows_name;      DROP INDEX IF EXISTS tasks_due; DROP INDEX IF EXISTS timers_due;      DROP INDEX IF EXISTS events_workflow;";

/// In a file of a schema before 9 (runs keyed by their text id: a rowid table with a unique
/// index on `id` before schema 6, a table without rowid since), renames the tables of
/// [`TEXT_KEYED`] aside and drops their indexes, so that [`SCHEMA`] creates them as they are
/// now; [`copy_text_keyed`] then moves the rows. Says whether it did.
fn set_text_keyed_aside(conn: &Connection) -> Result<bool, StoreError> {
    let text_keyed: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'workflows') \
                 AND NOT EXISTS (SELECT 1 FROM pragma_table_info('workflows') WHERE name = 'rid')",
            [],
            |r| r.get(0),
        )
        .db()?;
    if !text_keyed {
        return Ok(false);
    }
    // Renamed the way SQLite did before 3.26: what else names the tables (a trigger, a view
    // of the application's) still names `workflows`, the new table, not the one set aside;
    // and nothing else in the schema is checked (a trigger an older program left naming a
    // table gone would fail the rename).
    conn.execute_batch(&format!(
        "PRAGMA legacy_alter_table = ON; {TEXT_KEYED_INDEXES}"
    ))
    .db()?;
    for (table, aside) in TEXT_KEYED {
        let present: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
                [table],
                |r| r.get(0),
            )
            .db()?;
        if present {
            conn.execute_batch(&format!("ALTER TABLE {table} RENAME TO {aside}"))
                .db()?;
        }
    }
    Ok(true)
}

/// The columns that the table `old` (set aside) and the table `new` both have, but `except`,
/// in `old`'s order, joined with commas.
fn shared_columns(
    conn: &Connection,
    old: &str,
    new: &str,
    except: &str,
) -> Result<String, StoreError> {
    let columns: Vec<String> = conn
        .prepare(
            "SELECT o.name FROM pragma_table_info(?1) o \
             JOIN pragma_table_info(?2) n ON n.name = o.name WHERE o.name <> ?3 ORDER BY o.cid",
        )
        .db()?
        .query_map([old, new, except], |r| r.get(0))
        .db()?
        .collect::<Result<_, _>>()
        .db()?;
    Ok(columns.join(", "))
}

/// Copies what [`set_text_keyed_aside`] set aside into the new tables and drops the old ones.
/// Runs take integer keys in the order they were created; their tasks, timers and events
/// follow them by id (a row of a run that is gone, which no program reads, is left behind).
/// A column added since ([`ADDED_COLUMNS`]) is `NULL` in the copies. Event ids are kept, and
/// so is the largest one ever given (`sqlite_sequence`): a run's last event seen
/// ([`StepCommit::seen_events_upto`]) keeps meaning what it meant.
fn copy_text_keyed(conn: &Connection) -> Result<(), StoreError> {
    let [runs, tasks, timers, events] = TEXT_KEYED.map(|(_, aside)| aside);
    let present = |table: &str| -> Result<bool, StoreError> {
        conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
            [table],
            |r| r.get(0),
        )
        .db()
    };
    let columns = shared_columns(conn, runs, "workflows", "rid")?;
    conn.execute_batch(&format!(
        "INSERT INTO workflows ({columns}) SELECT {columns} FROM {runs} ORDER BY created_at, id; \
         DROP TABLE {runs};"
    ))
    .db()?;
    for table in [tasks, timers, events] {
        if !present(table)? {
            continue;
        }
        let new = &table[..table.len() - "_before_9".len()];
        let columns = shared_columns(conn, table, new, "workflow_id")?;
        let taken: Vec<String> = columns.split(", ").map(|c| format!("o.{c}")).collect();
        conn.execute_batch(&format!(
            "INSERT INTO {new} (rid, {columns}) SELECT w.rid, {} FROM {table} o \
                 JOIN workflows w ON w.id = o.workflow_id;",
            taken.join(", ")
        ))
        .db()?;
    }
    if present(events)? {
        conn.execute_batch(&format!(
            "INSERT INTO sqlite_sequence (name, seq) SELECT 'events', 0 \
                 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'events'); \
             UPDATE sqlite_sequence SET seq = (SELECT MAX(seq) FROM sqlite_sequence \
                 WHERE name IN ('events', '{events}')) WHERE name = 'events';"
        ))
        .db()?;
    }
    for table in [tasks, timers, events] {
        conn.execute_batch(&format!("DROP TABLE IF EXISTS {table}"))
            .db()?;
    }
    conn.execute_batch("PRAGMA legacy_alter_table = OFF").db()?;
    Ok(())
}

/// Columns added to a table after it was first created: `(table, column, type)`. `CREATE
/// TABLE IF NOT EXISTS` leaves an older table as it is, so an upgrade adds them.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("workflows", "parent_id", "TEXT"),
    ("workflows", "parent_seq", "INTEGER"),
    ("history_base", "indexed", "INTEGER NOT NULL DEFAULT 0"),
    ("history_runs", "seqs", "TEXT"),
    ("tasks", "scheduled_version", "INTEGER NOT NULL DEFAULT 0"),
    ("schedules", "workflow_version", "INTEGER"),
    ("schedules", "note", "TEXT"),
    ("schedules", "run_timeout_ms", "INTEGER"),
];

/// In a file of a schema before 11, drops the column `tasks.due` and its index `tasks_due`:
/// [`SCHEMA`] indexed the expression it stood for (`tasks_next`), which every statement now
/// reads instead, and a row inserted without it would break its `NOT NULL`.
fn drop_stored_due(conn: &Connection) -> Result<(), StoreError> {
    let stored: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info('tasks') WHERE name = 'due')",
            [],
            |r| r.get(0),
        )
        .db()?;
    if stored {
        conn.execute_batch("DROP INDEX IF EXISTS tasks_due; ALTER TABLE tasks DROP COLUMN due;")
            .db()?;
    }
    Ok(())
}

/// Triggers of schema 8, created once [`SCHEMA`] and [`ADDED_COLUMNS`] made the tables and
/// columns they name.
///
/// The history log is no longer moved ([`index_history`]): a program of an older schema still
/// running on an upgraded file would move it into `history` or `history_moved` and empty it,
/// leaving the lists of `history_runs` pointing at rows gone (or, once the log's row numbers
/// start over, at rows of other entries). Its move is refused instead (its transaction rolls
/// back, its entries stay in the log, where every program reads them).
///
/// `history_log` numbers its rows one past the largest there is, so deleting the last rows (a
/// purge) lets a later entry take a number already indexed, where [`index_history`] would
/// never look: the bound goes back to the largest number left.
const TRIGGERS: &str = "
CREATE TRIGGER IF NOT EXISTS history_closed BEFORE INSERT ON history
BEGIN
    SELECT RAISE(ABORT, 'the history log is no longer moved since schema 8 (a program older than the file)');
END;
CREATE TRIGGER IF NOT EXISTS history_moved_closed BEFORE INSERT ON history_moved
BEGIN
    SELECT RAISE(ABORT, 'the history log is no longer moved since schema 8 (a program older than the file)');
END;
CREATE TRIGGER IF NOT EXISTS history_log_last_deleted AFTER DELETE ON history_log
WHEN OLD.seq > (SELECT COALESCE(MAX(seq), 0) FROM history_log)
BEGIN
    UPDATE history_base
    SET indexed = MIN(indexed, (SELECT COALESCE(MAX(seq), 0) FROM history_log));
END;
";

/// Accepts a new file, a file of this store's schema (or of the same tables written before the
/// schema was versioned, which the caller then marks), and refuses a file of a newer schema or
/// of another application.
fn check_schema(conn: &Connection, path: &Path) -> Result<Schema, StoreError> {
    let location = path.display().to_string();
    let app: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .db()?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .db()?;
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             ORDER BY name",
        )
        .db()?
        .query_map([], |r| r.get(0))
        .db()?
        .collect::<Result<_, _>>()
        .db()?;
    let ours = [
        "events",
        "history",
        "history_log",
        "history_moved",
        "history_runs",
        "tasks",
        "timers",
        "workflows",
    ];
    match app {
        APPLICATION_ID => {
            let found = u32::try_from(version).unwrap_or(u32::MAX);
            if found > SCHEMA_VERSION {
                return Err(StoreError::NewerSchema {
                    location,
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            if found == SCHEMA_VERSION {
                return Ok(Schema::Ready);
            }
        }
        0 if tables.is_empty() => {}
        0 if version == 0 && tables.iter().all(|t| ours.contains(&t.as_str())) => {
            // Written by this store before its schema had a version: the same tables.
        }
        0 => {
            return Err(StoreError::Foreign {
                location,
                reason: format!("it holds other tables ({})", tables.join(", ")),
            });
        }
        other => {
            return Err(StoreError::Foreign {
                location,
                reason: format!("its application id is {other:#x}"),
            });
        }
    }
    Ok(Schema::Create)
}

/// What [`check_schema`] found.
#[derive(Debug, PartialEq, Eq)]
enum Schema {
    /// This store's schema, at this version: nothing to do.
    Ready,
    /// A new file, or this store's tables at an older version: create (upgrade) the schema.
    Create,
}

/// When a task is next due (the expression `tasks_next` indexes, which every read of due tasks
/// names as written here): while leased, when its lease ends (at once for a lease without an
/// end); otherwise when it becomes visible. Computed rather than stored: a 14th column takes
/// the table's key comparisons off SQLite's fast path for records of at most 13 fields.
macro_rules! task_due {
    () => {
        "CASE WHEN lease_owner IS NULL THEN visible_at ELSE ifnull(lease_until, 0) END"
    };
}

const SCHEMA: &str = concat!(
    "
CREATE TABLE IF NOT EXISTS workflows (
    rid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    status INTEGER NOT NULL,
    input BLOB NOT NULL,
    snapshot BLOB NOT NULL,
    version INTEGER NOT NULL,
    pending BLOB,
    output BLOB,
    park_reason TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    ready INTEGER NOT NULL,
    history_len INTEGER NOT NULL,
    parent_id TEXT,
    parent_seq INTEGER
);
CREATE INDEX IF NOT EXISTS workflows_ready ON workflows(rid) WHERE ready = 1 AND status = 0;
CREATE INDEX IF NOT EXISTS workflows_status ON workflows(status, id);
CREATE INDEX IF NOT EXISTS workflows_name ON workflows(name, id);
CREATE INDEX IF NOT EXISTS workflows_parent ON workflows(parent_id) WHERE parent_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS tasks (
    rid INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    input BLOB NOT NULL,
    options BLOB NOT NULL,
    attempt INTEGER NOT NULL,
    scheduled_at INTEGER NOT NULL,
    visible_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    heartbeat BLOB,
    deadline INTEGER,
    scheduled_version INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (rid, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tasks_next ON tasks((",
    task_due!(),
    "));
CREATE TABLE IF NOT EXISTS timers (
    rid INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    fire_at INTEGER NOT NULL,
    PRIMARY KEY (rid, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS timers_due ON timers(fire_at);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rid INTEGER NOT NULL,
    at INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    seq INTEGER,
    name TEXT,
    payload BLOB
);
CREATE INDEX IF NOT EXISTS events_workflow ON events(rid, id);
CREATE TABLE IF NOT EXISTS history (
    workflow_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (workflow_id, n)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history_log (
    seq INTEGER PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS history_base (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    base INTEGER NOT NULL,
    indexed INTEGER NOT NULL DEFAULT 0
);
INSERT OR IGNORE INTO history_base (one, base) SELECT 1, COALESCE(MAX(n), 0) FROM history;
CREATE TABLE IF NOT EXISTS history_moved (
    segment INTEGER NOT NULL,
    workflow_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (segment, workflow_id, n)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history_runs (
    workflow_id TEXT NOT NULL,
    segment INTEGER NOT NULL,
    seqs TEXT,
    PRIMARY KEY (workflow_id, segment)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tombstones (
    id TEXT NOT NULL PRIMARY KEY,
    version INTEGER NOT NULL,
    finished_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tombstones_finished ON tombstones(finished_at);
CREATE TABLE IF NOT EXISTS version_floor (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    version INTEGER NOT NULL
);
INSERT OR IGNORE INTO version_floor (one, version) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS schedules (
    name TEXT NOT NULL PRIMARY KEY,
    workflow TEXT NOT NULL,
    input BLOB NOT NULL,
    cron TEXT,
    every_ms INTEGER,
    anchor_ms INTEGER,
    zone TEXT NOT NULL,
    overlap INTEGER NOT NULL,
    catch_up_ms INTEGER NOT NULL,
    paused INTEGER NOT NULL,
    cursor_ms INTEGER NOT NULL,
    next_fire INTEGER,
    buffered INTEGER,
    starting TEXT,
    last_run_id TEXT,
    started INTEGER NOT NULL,
    skipped INTEGER NOT NULL,
    missed INTEGER NOT NULL,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    workflow_version INTEGER,
    note TEXT,
    run_timeout_ms INTEGER
) WITHOUT ROWID;
"
);

/// The ready runs of some workflows (`?1`, a JSON array of names), `?2` at most. Through the
/// partial index of ready runs, named: without statistics SQLite's planner prefers the
/// equality on `status` in `workflows_status`, and so read every running run's row at each
/// look (0.4 s for a million sleeping runs, which took a reader thread about half its time
/// while their timers fired).
const READY_RUNS: &str = "SELECT id FROM workflows INDEXED BY workflows_ready \
     WHERE ready = 1 AND status = 0 AND name IN (SELECT value FROM json_each(?1)) LIMIT ?2";

/// A write operation: runs in the writer's transaction (or gets the error that prevented it),
/// and returns what to do once the transaction's fate is known, and the error that spoiled the
/// transaction, if it failed half-way.
type Job = Box<dyn FnOnce(Result<&Writer, &StoreError>) -> (Reply, Option<StoreError>) + Send>;
type Reply = Box<dyn FnOnce(Option<&StoreError>) + Send>;

/// Whether an operation that failed with `e` may have written part of its changes. Every
/// other failure is found before the first write.
fn may_have_written(e: &StoreError) -> bool {
    matches!(e, StoreError::Backend(_) | StoreError::Corrupt(_))
}

/// The write-ahead log's file, the size past which the writer truncates it, and the size it
/// is written ahead to.
struct WalLimit {
    path: PathBuf,
    limit: u64,
    /// What the log holds between two of SQLite's checkpoints: its header and a frame (a
    /// page and its 24-byte header) per page of `wal_autocheckpoint`.
    ahead: u64,
}

impl WalLimit {
    /// Checkpoints the log into the database and truncates it if it has grown past the limit
    /// (readers holding old snapshots keep SQLite's own checkpoints from resetting it), then
    /// writes it ahead again.
    ///
    /// The checkpoint does not wait for readers (no busy timeout; the writer's, `busy`, is
    /// put back after it): while one holds an old snapshot the log cannot be truncated, and
    /// waiting for it held every commit, up to the busy timeout, at each look; the next look,
    /// 16 transactions later, tries again.
    fn enforce(&self, conn: &Connection, busy: Duration) {
        let size = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        if size <= self.limit {
            self.start_over_if_hot(conn, busy);
            return;
        }
        // (busy, frames in the log, frames checkpointed): busy when a reader held it back.
        let done = without_waiting(conn, busy, |conn| {
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            })
        });
        match done {
            Ok(0) => self.write_ahead(),
            Ok(_)
            | Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error {
                    code: rusqlite::ErrorCode::DatabaseBusy,
                    ..
                },
                _,
            )) => {
                tracing::debug!(file = %self.path.display(), "the write-ahead log is held by a reader; truncated later");
            }
            Err(e) => {
                tracing::warn!(file = %self.path.display(), error = %e, "cannot checkpoint the write-ahead log");
            }
        }
    }

    /// Checkpoints the log (without waiting for readers) when it rewrites a few pages again
    /// and again (see [`vfs::LogCounts::hot`]): at least [`HOT_FRAMES`] frames since it
    /// started over, each page in [`HOT_AGAIN`] of them on average. The checkpoint copies those
    /// few pages and syncs the database, and the next commit starts the log over (one sync
    /// more); meanwhile every frame the writer added walked past all of its page's earlier
    /// frames in SQLite's index of the log. Logs of many pages (many runs stepping at once)
    /// wait for SQLite's own checkpoint, whose copy of many pages is what costs there.
    ///
    /// One workflow alone (`bench`'s chain of calls, 2 000 steps, callgrind): 99 000 -> 78 400
    /// instructions a step, SQLite's additions to its index of the log 24 300 -> 4 500; about
    /// one sync more per 256 steps; one commit per fsync 0.743 -> 0.758 (six runs each,
    /// alternated, the disk's cost measured before and after each run).
    fn start_over_if_hot(&self, conn: &Connection, busy: Duration) {
        #[cfg(unix)]
        if vfs::log_counts(conn).is_some_and(|c| c.hot(HOT_FRAMES, HOT_AGAIN)) {
            let done = without_waiting(conn, busy, |conn| {
                conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(0))
            });
            if let Err(e) = done {
                tracing::debug!(file = %self.path.display(), error = %e, "the write-ahead log is not checkpointed early");
            }
        }
        #[cfg(not(unix))]
        let _ = (conn, busy);
    }

    /// Writes zeros at the log's end until it holds what it holds between two checkpoints,
    /// and syncs them, so that commits overwrite blocks the file has rather than grow it.
    ///
    /// A commit that grows the file makes its sync allocate blocks and write the file's
    /// metadata besides its pages: a commit of four pages and its sync took 195 us appended to
    /// the file and 115 us written over blocks it had (the machine the benchmark's figures
    /// come from, where one 4 KiB write and its sync take 86 us). SQLite starts the log over
    /// from its beginning once a checkpoint has copied all of it, so a log grows only until
    /// its first checkpoint after it was created or truncated: a workflow alone ran 5 400 -
    /// 7 300 steps/s on a new file and 7 900 - 9 200 once its log had grown, and 7 500 -
    /// 8 300 on a new file whose log was written ahead (three runs each). PostgreSQL fills a
    /// new WAL segment with zeros for the same reason (`wal_init_zero`).
    ///
    /// Zeros past the log's last frame are what SQLite reads as its end (a frame whose salt
    /// is not the header's), as are the old frames a log started over keeps. They are
    /// appended (`O_APPEND`): each write lands at the file's end as it is at that moment, so
    /// no frame that another connection, of this process or another, wrote meanwhile is
    /// overwritten. Nothing is done if the log is not there, and a failure (a full volume)
    /// only costs the speed-up.
    ///
    /// Not into the last of the volume's free space: only when as much again stays free (the
    /// log would take that room as it runs anyway, but all at once it could leave none for
    /// the database on a volume that has little).
    fn write_ahead(&self) {
        let len = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        let missing = self.ahead.saturating_sub(len);
        if missing == 0 {
            return;
        }
        if !room_to_write_ahead(missing, free_bytes(&self.path)) {
            tracing::debug!(file = %self.path.display(), missing, "too little free space to write the log ahead");
            return;
        }
        if let Err(e) = append_zeros(&self.path, self.ahead) {
            tracing::debug!(file = %self.path.display(), error = %e, "the write-ahead log is not written ahead");
        }
    }
}

/// Frames since the log started over past which [`WalLimit::start_over_if_hot`] may
/// checkpoint it.
const HOT_FRAMES: u32 = 1024;

/// How many frames per distinct page make a log hot (see [`WalLimit::start_over_if_hot`]).
const HOT_AGAIN: u32 = 64;

/// Runs `f` on `conn` with no busy timeout (another connection's lock fails at once), then
/// puts the connection's own, `busy`, back.
fn without_waiting<T>(conn: &Connection, busy: Duration, f: impl FnOnce(&Connection) -> T) -> T {
    let _ = conn.busy_timeout(Duration::ZERO);
    let out = f(conn);
    let _ = conn.busy_timeout(busy);
    out
}

/// Whether `missing` bytes may be written ahead on a volume with `free` bytes free (unknown:
/// yes): when as much again stays free.
fn room_to_write_ahead(missing: u64, free: Option<u64>) -> bool {
    free.is_none_or(|free| free / 2 >= missing)
}

/// The bytes free, for an unprivileged process, on the volume that holds `path`.
#[cfg(unix)]
// `statvfs`'s counts are 64-bit here, 32-bit on some other systems.
#[allow(clippy::useless_conversion)]
fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a C string and `stat` a place for one `statvfs`, which the call fills
    // when it succeeds (it is read only then).
    let stat = unsafe {
        if libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) != 0 {
            return None;
        }
        stat.assume_init()
    };
    u64::from(stat.f_bavail).checked_mul(u64::from(stat.f_frsize))
}

#[cfg(not(unix))]
fn free_bytes(_path: &Path) -> Option<u64> {
    None
}

/// Appends zeros to the file at `path` (which must exist) until it is `size` bytes long, and
/// syncs them.
fn append_zeros(path: &Path, size: u64) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().append(true).open(path)?;
    let mut len = file.metadata()?.len();
    if len >= size {
        return Ok(());
    }
    let zeros = vec![0u8; 1 << 20];
    while len < size {
        let n = usize::try_from(size - len).map_or(zeros.len(), |n| n.min(zeros.len()));
        file.write_all(&zeros[..n])?;
        len = file.metadata()?.len();
    }
    file.sync_data()
}

/// The write-ahead log of the database at `path` (`<path>-wal`).
fn wal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// The writer thread's state: its connection, and the statements every step runs, prepared
/// on it once (declared first, so dropped before the connection).
struct Writer {
    held: raw::Statements,
    conn: Connection,
    /// The integer keys of runs this writer created or looked up since they last finished, by
    /// id: for the steps that hand back none ([`StepCommit::run_key`]), as the steps of a run
    /// started in this process do (they go on from the state its start left, with no record
    /// read). At most [`KEY_HINTS`]; a wrong one (a run purged and created again by another
    /// process) costs a look-up, as [`commit`] takes every key the step hands back.
    keys: RefCell<foldhash::HashMap<Box<str>, i64>>,
}

/// The most run keys [`Writer::keys`] holds: past this it starts again from none. (About
/// 50 bytes each, for runs as many as steps at once in a large burst.)
const KEY_HINTS: usize = 65_536;

impl Writer {
    /// Remembers that run `id`'s integer key is `rid`.
    fn remember(&self, id: &str, rid: i64) {
        let mut keys = self.keys.borrow_mut();
        if keys.len() >= KEY_HINTS {
            keys.clear();
        }
        keys.insert(id.into(), rid);
    }
}

impl std::ops::Deref for Writer {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.conn
    }
}

/// The writing connection and what goes with it, behind [`WriterShared::state`]: the writer
/// thread holds it for each batch, and a caller that finds the writer idle holds it for its
/// own operation.
struct WriterState {
    w: Writer,
    wal: WalLimit,
    /// How long a write waits for another connection's write lock (the store's busy timeout).
    busy_timeout: Duration,
    /// Batches committed, for the housekeeping every 16th.
    batches: u64,
    /// The length of the history log's unindexed part at which to look again whether to index
    /// it ([`index_history`]).
    history_look: i64,
}

// SAFETY: the connection is opened in SQLite's multi-thread mode (rusqlite's default flags
// include `SQLITE_OPEN_NO_MUTEX`), in which a connection and the statements prepared on it may
// be used from any thread, by one thread at a time. A `WriterState` is reached only through
// the mutex of [`WriterShared`]; `raw::Statements` (raw statement pointers, hence not `Send`
// by itself) is used only with the connection beside it.
unsafe impl Send for WriterState {}

/// What the store's handles and the writer thread share.
///
/// An operation is a job for the writer thread, which commits all the jobs queued while it
/// wrote the previous batch in one transaction (group commit). When nothing is pending and
/// the last transaction held one job (a lone caller's load), the caller runs its job itself,
/// on its own thread, in a transaction of its own: a lone workflow's step then costs no
/// hand-off to the writer thread and no wake-up back (in the benchmark's sequential workflow,
/// 3 788 -> 4 803 steps/s, four runs each alternated). The caller waits for no other
/// connection's lock there: if the database is locked, the job goes to the writer thread,
/// which does wait (up to the busy timeout).
struct WriterShared {
    state: Mutex<WriterState>,
    /// Jobs handed over (queued, or in the writer's batch, or run by a caller) and not yet
    /// answered. A caller runs its job only when this is 0: nothing sent before it can then
    /// still be waiting, so jobs keep the order they were sent in.
    pending: AtomicUsize,
    /// Jobs in the last transaction committed. A caller runs its job in place only after a
    /// transaction of one: under load, when the writer's batches hold many, a caller that
    /// finds it idle between two batches queues (committed in place, alone, its job would
    /// cost a sync of its own while the others wait behind it, and keep the caller's thread,
    /// a runtime thread, from stepping other workflows meanwhile).
    last_batch: AtomicUsize,
    max_batch: usize,
    /// [`SqliteStoreBuilder::writes_in_place`].
    in_place: bool,
}

/// Takes `n` jobs off [`WriterShared::pending`] when dropped, after they were answered (or
/// if running them unwound).
struct Answered<'a>(&'a AtomicUsize, usize);

impl Drop for Answered<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(self.1, Ordering::AcqRel);
    }
}

impl WriterShared {
    /// Runs `job` at once on this thread, if no job is pending and the database's write lock
    /// is free: one transaction, committed (and synced) before this returns. Gives the job
    /// back otherwise, and whether it is counted as pending already.
    fn try_inline(&self, job: Job) -> Result<(), (Job, bool)> {
        if !self.in_place
            || self.last_batch.load(Ordering::Acquire) > 1
            || self
                .pending
                .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return Err((job, false));
        }
        let Ok(mut state) = self.state.try_lock() else {
            // The writer thread holds it (between batches, or its housekeeping): the job is
            // queued, counted already.
            return Err((job, true));
        };
        // Without waiting for another connection's write lock (another process on the same
        // file): this thread is the caller's, which may have other work.
        let begun = without_waiting(&state.w.conn, state.busy_timeout, |_| {
            state.w.held.begin.execute(&[]).is_ok()
        });
        if !begun {
            return Err((job, true));
        }
        let _answered = Answered(&self.pending, 1);
        run_begun(&mut state, &self.last_batch, vec![job]);
        Ok(())
    }

    /// Hands `job` to the writer thread, counting it as pending unless it is already.
    fn enqueue(&self, tx: &mpsc::Sender<Job>, job: Job, counted: bool) -> Result<(), ()> {
        if !counted {
            self.pending.fetch_add(1, Ordering::AcqRel);
        }
        tx.send(job).map_err(|_| {
            self.pending.fetch_sub(1, Ordering::AcqRel);
        })
    }
}

/// Prepares the writer's statements, tells `ready` whether that worked (with what the store's
/// handles share with the writer thread), and runs [`writer_loop`].
fn start_writer(
    conn: Connection,
    ready: mpsc::SyncSender<Result<Arc<WriterShared>, StoreError>>,
    rx: mpsc::Receiver<Job>,
    (max_batch, in_place): (usize, bool),
    wal: WalLimit,
    busy_timeout: Duration,
) {
    let held = match raw::Statements::prepare(&conn) {
        Ok(h) => h,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let shared = Arc::new(WriterShared {
        state: Mutex::new(WriterState {
            w: Writer {
                held,
                conn,
                keys: RefCell::default(),
            },
            wal,
            busy_timeout,
            batches: 0,
            history_look: HISTORY_LOG_ROWS,
        }),
        pending: AtomicUsize::new(0),
        last_batch: AtomicUsize::new(1),
        max_batch,
        in_place,
    });
    if ready.send(Ok(shared.clone())).is_ok() {
        writer_loop(&shared, rx);
    }
}

fn writer_loop(shared: &WriterShared, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        // Locked before the queue is drained: a caller that finds no job pending (and runs
        // its own) cannot overtake the ones in this batch. Every critical section leaves the
        // state usable, so a poisoned lock is taken as it is.
        let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut batch = vec![first];
        while batch.len() < shared.max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let _answered = Answered(&shared.pending, batch.len());
        if let Err(e) = state.w.held.begin.execute(&[]) {
            for job in batch {
                job(Err(&e)).0(None);
            }
            continue;
        }
        run_begun(&mut state, &shared.last_batch, batch);
    }
}

/// Runs `batch` in the transaction just begun, commits it and answers each job; every 16th
/// batch, indexes the history log and keeps the write-ahead log within its limit.
fn run_begun(state: &mut WriterState, last_batch: &AtomicUsize, batch: Vec<Job>) {
    last_batch.store(batch.len(), Ordering::Release);
    let w = &state.w;
    crate::runtime::telemetry::store_batch("sqlite", batch.len());
    // Why the batch rolls back, once one of its operations failed after it may have written.
    let mut spoiled: Option<StoreError> = None;
    let mut replies = Vec::with_capacity(batch.len());
    for job in batch {
        // The operations after one that spoiled the batch are not run: their writes would be
        // rolled back with it, and SQLite may have ended the transaction already (it rolls a
        // transaction back on its own after an I/O error, a full disk or no memory), so that
        // they would commit statement by statement, each told it failed.
        if let Some(e) = &spoiled {
            let (reply, _) = job(Err(e));
            replies.push(reply);
            continue;
        }
        let changes = w.conn.total_changes();
        // A panic in one operation must not stop the thread every write goes through: it
        // rolls the batch back like an I/O error (the panicked operation's caller sees its
        // reply dropped).
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Ok(w)))) {
            Ok((reply, failed)) => {
                replies.push(reply);
                // An operation that failed before it changed a row (a damaged row read
                // first, say) fails alone: the others of the batch are not rolled back for
                // it, so that an operation that keeps failing does not keep failing theirs.
                spoiled = failed
                    .filter(|_| w.conn.total_changes() != changes)
                    .map(|e| StoreError::backend_with("the batch was rolled back", e));
            }
            Err(panic) => {
                let what = crate::codec::panic_message(&*panic);
                spoiled = Some(StoreError::backend(format!(
                    "the batch was rolled back: an operation panicked: {what}"
                )));
            }
        }
        // An operation that went on past an error (or read one as an answer) while SQLite
        // ended the transaction under it: what follows must not run outside it.
        if spoiled.is_none() && w.conn.is_autocommit() {
            spoiled = Some(StoreError::backend(
                "the batch was rolled back: SQLite ended its transaction (an I/O error, a full disk or no memory)",
            ));
        }
    }
    let outcome = match spoiled {
        None => w.held.commit.execute(&[]).err(),
        Some(e) => Some(e),
    };
    if outcome.is_some() && !w.conn.is_autocommit() {
        let _ = w.conn.execute_batch("ROLLBACK");
    }
    // The log's VFS keeps a commit's frames until its sync: none may be left after it.
    #[cfg(all(unix, debug_assertions))]
    debug_assert_eq!(
        vfs::kept_len(&w.conn).unwrap_or(0),
        0,
        "frames kept past a transaction's end"
    );
    for reply in replies {
        reply(outcome.as_ref());
    }
    state.batches += 1;
    if state.batches.is_multiple_of(16) {
        index_history(&state.w.conn, &mut state.history_look);
        state.wal.enforce(&state.w.conn, state.busy_timeout);
    }
}

/// Entries the log holds past its indexed part before [`index_history`] considers indexing
/// them.
const HISTORY_LOG_ROWS: i64 = 4096;

/// The most entries the log holds past its indexed part: past this, they are indexed however
/// few each run has. A run's history reads that part of the log by a scan, so this bounds
/// such a read: about 6 MiB of entries, 3-5 ms (warm; 2-4 ms at half as many), and how long
/// an index holds the writer: 26 ms (15 ms at half as many), measured with the `sqlite3` shell
/// on a log of the benchmark's entries of 10 000 runs. Half as many gave 7% / 2% / 10% fewer
/// steps/s at 100 / 1 000 / 10 000 at once (`bench --only sqlite`, six runs each, alternated):
/// each index adds a row per run, dirtying the pages of `history_runs` wherever the runs'
/// earlier rows are, and with 10 000 runs at once an index holds a few entries of each.
const HISTORY_LOG_MAX_ROWS: i64 = 65_536;

/// Entries per run (on average) the log holds past its indexed part before they are indexed,
/// below the maximum.
const HISTORY_ENTRIES_PER_RUN: i64 = 64;

/// Indexes the newest part of the history log, once it is long enough.
///
/// Every step appends an entry. Written straight into a table clustered by workflow, so that
/// a workflow's history reads fast, the entries of a batch of steps of a hundred workflows
/// would dirty a hundred pages, each written whole to the WAL: half of the writer's time. So
/// steps append to `history_log`, in time order (one page per batch), where the entries stay;
/// what lets a run's entries be found among the others is built in bulk: a row of
/// `history_runs` per run, per stretch of the log indexed at once (a segment), listing the
/// run's entries there (`seqs`, a JSON array of their numbers in the log). A read goes through
/// them, one seek per entry, and scans the part of the log not yet indexed (entries numbered
/// past `history_base.indexed`).
///
/// Schema 7 moved the log instead, into `history_moved`, a segment per move: each entry was
/// written twice (and deleted once), where it is now written once and named in a list. The
/// measured difference, alternated with the moving code (`bench --only sqlite`, six runs
/// each, averages): 85.2k / 88.4k / 83.2k -> 90.8k / 98.3k / 89.9k steps/s at 100 / 1 000 /
/// 10 000 at once.
///
/// The log's newest part is indexed once it holds [`HISTORY_ENTRIES_PER_RUN`] entries per run
/// on average (at least [`HISTORY_LOG_ROWS`], at most [`HISTORY_LOG_MAX_ROWS`]): each segment
/// costs a run a row of `history_runs`, so fewer, longer segments keep that table small. Runs
/// are counted only when the unindexed part reaches `next_look`, the length set at the last
/// look (the writer keeps it), so the count (a sort of that part) is rare.
///
/// A segment's number is `history_base.base` plus the bound it was indexed from: past every
/// segment of `history_moved` (each was a base below the current one), so rows of both kinds
/// never share a key.
fn index_history(conn: &Connection, next_look: &mut i64) {
    // Kept prepared: the look comes every 16th batch, and was compiled each time (313 times
    // in the benchmark's 5 000 steps of one workflow, on the path from one step to the next).
    let rows: Result<i64, _> = conn
        .prepare_cached(
            "SELECT COALESCE((SELECT MAX(seq) FROM history_log), 0) \
                - (SELECT indexed FROM history_base)",
        )
        .and_then(|mut look| look.query_row([], |r| r.get(0)));
    let rows = match rows {
        Ok(n) if n >= *next_look => n,
        _ => return,
    };
    if rows < HISTORY_LOG_MAX_ROWS {
        let runs: Result<i64, _> = conn.query_row(
            "SELECT COUNT(DISTINCT workflow_id) FROM history_log \
             WHERE seq > (SELECT indexed FROM history_base)",
            [],
            |r| r.get(0),
        );
        let wanted = match runs {
            Ok(runs) => runs.saturating_mul(HISTORY_ENTRIES_PER_RUN),
            Err(_) => 0,
        };
        if rows < wanted {
            *next_look = wanted.min(HISTORY_LOG_MAX_ROWS);
            return;
        }
    }
    *next_look = HISTORY_LOG_ROWS;
    // Plain `INSERT`: a key taken already would be a fault to see (the log is then read by a
    // scan past the bound, slower but whole), not a list to replace.
    let indexed = conn.execute_batch(
        "BEGIN IMMEDIATE;
         INSERT INTO history_runs (workflow_id, segment, seqs)
             SELECT workflow_id, (SELECT base + indexed FROM history_base), json_group_array(seq)
             FROM history_log WHERE seq > (SELECT indexed FROM history_base)
             GROUP BY workflow_id;
         UPDATE history_base SET indexed = (SELECT MAX(seq) FROM history_log)
             WHERE (SELECT MAX(seq) FROM history_log) > indexed;
         COMMIT;",
    );
    if let Err(e) = indexed {
        let _ = conn.execute_batch("ROLLBACK");
        tracing::warn!(error = %e, "cannot index the history log; it is read as it is meanwhile");
    }
}

/// A read for a reader thread: given its connection, or why it has none.
type ReadJob = Box<dyn FnOnce(Result<&Connection, &StoreError>) + Send>;

/// The reader threads: each owns a connection and takes reads from one queue. They end when
/// the store is dropped (the queue's sender with it).
struct ReaderPool {
    jobs: mpsc::Sender<ReadJob>,
}

fn open_reader(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    let c = Connection::open(path).db()?;
    configure(&c, busy_timeout)?;
    Ok(c)
}

impl ReaderPool {
    fn start(
        path: &Path,
        busy_timeout: Duration,
        threads: usize,
        first: Connection,
    ) -> Result<Self, StoreError> {
        let (jobs, rx) = mpsc::channel::<ReadJob>();
        let rx = Arc::new(Mutex::new(rx));
        let mut first = Some(first);
        for n in 0..threads.max(1) {
            let (rx, path, conn) = (rx.clone(), path.to_path_buf(), first.take());
            std::thread::Builder::new()
                .name(format!("workflow-sqlite-reader-{n}"))
                .spawn(move || reader_loop(&rx, &path, busy_timeout, conn))
                .map_err(|e| StoreError::backend_with("cannot start a reader thread", e))?;
        }
        Ok(ReaderPool { jobs })
    }
}

fn reader_loop(
    rx: &Mutex<mpsc::Receiver<ReadJob>>,
    path: &Path,
    busy_timeout: Duration,
    mut conn: Option<Connection>,
) {
    loop {
        // One thread waits in the queue, the others for the lock.
        let job = match rx.lock().unwrap_or_else(|e| e.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        // Opened at this thread's first read, and again after a failure to open.
        if conn.is_none() {
            match open_reader(path, busy_timeout) {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    job(Err(&e));
                    continue;
                }
            }
        }
        if let Some(c) = conn.as_ref() {
            // A panic in one read must not take the thread (its caller sees its reply
            // dropped).
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Ok(c))));
        }
    }
}

trait Db<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T> Db<T> for Result<T, rusqlite::Error> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(|e| match e {
            // A value of the wrong type in a column: the row is damaged, which no retry fixes.
            rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::IntegralValueOutOfRange(..) => StoreError::Corrupt(e.to_string()),
            e => StoreError::backend_with("SQLite", e),
        })
    }
}

const WORKFLOW_COLUMNS: &str = "id, name, status, input, snapshot, version, pending, output, park_reason, created_at, updated_at, ready, parent_id, parent_seq, rid";
/// [`WORKFLOW_COLUMNS`] of the table aliased `w`.
const DUE_WORKFLOW_COLUMNS: &str = "w.id, w.name, w.status, w.input, w.snapshot, w.version, w.pending, w.output, w.park_reason, w.created_at, w.updated_at, w.ready, w.parent_id, w.parent_seq, w.rid";

/// Up to `?6` timers due at `?1` (fire time at or before it) after the timer `(?2, ?3, ?5)`
/// (fire time, run key, seq; the run key found by the run's id `?4` when `?3` is `NULL`), in
/// that order, each with its run's row: [`WORKFLOW_COLUMNS`], then the timer's run key, seq and
/// fire time.
fn due_timers_sql() -> String {
    format!(
        "SELECT {DUE_WORKFLOW_COLUMNS}, t.rid, t.seq, t.fire_at \
         FROM timers t CROSS JOIN workflows w ON w.rid = t.rid \
         WHERE t.fire_at <= ?1 AND (t.fire_at, t.rid, t.seq) > \
             (?2, COALESCE(?3, (SELECT rid FROM workflows WHERE id = ?4), -1), ?5) \
         ORDER BY t.fire_at, t.rid, t.seq LIMIT ?6"
    )
}

/// The rows of the runs whose ids the JSON array `?1` lists, by id.
fn load_runs() -> String {
    format!(
        "SELECT {WORKFLOW_COLUMNS} FROM workflows \
         WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id"
    )
}

struct RawWorkflow {
    record: WorkflowRecord,
    status: i64,
}

fn raw_workflow(row: &Row<'_>) -> rusqlite::Result<RawWorkflow> {
    Ok(RawWorkflow {
        status: row.get(2)?,
        record: WorkflowRecord {
            id: row.get(0)?,
            name: row.get(1)?,
            status: WorkflowStatus::Running,
            input: row.get(3)?,
            snapshot: row.get(4)?,
            version: uint(row.get(5)?),
            pending: row.get(6)?,
            output: row.get(7)?,
            park_reason: row.get(8)?,
            created_at_ms: uint(row.get(9)?),
            updated_at_ms: uint(row.get(10)?),
            ready: row.get::<_, i64>(11)? != 0,
            parent: match (
                row.get::<_, Option<String>>(12)?,
                row.get::<_, Option<i64>>(13)?,
            ) {
                (Some(id), Some(seq)) => Some(ParentLink { id, seq: uint(seq) }),
                _ => None,
            },
            run_key: Some(uint(row.get(14)?)),
        },
    })
}

/// `id` for messages: whole up to 64 bytes, else its start and its length.
fn short_id(id: &str) -> String {
    if id.len() <= 64 {
        return id.to_string();
    }
    let mut end = 64;
    while !id.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &id[..end], id.len())
}

fn status_of(code: i64) -> Result<WorkflowStatus, StoreError> {
    WorkflowStatus::from_code(code).ok_or_else(|| corrupt("workflow status", code))
}

fn finish_workflow(raw: RawWorkflow) -> Result<WorkflowRecord, StoreError> {
    let mut record = raw.record;
    record.status = status_of(raw.status)?;
    Ok(record)
}

fn load_record(conn: &Connection, id: &str) -> Result<Option<WorkflowRecord>, StoreError> {
    let raw = conn
        .prepare_cached(&format!(
            "SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE id = ?1"
        ))
        .db()?
        .query_row([id], raw_workflow)
        .optional()
        .db()?;
    raw.map(finish_workflow).transpose()
}

/// Releases `owner`'s leases (see `Store::release_leases`), those on `tasks` alone when given
/// (`Store::release_tasks`); returns how many.
fn release(
    conn: &Writer,
    owner: &str,
    tasks: Option<&[LeaseRenewal]>,
    why: Release,
    now_ms: u64,
) -> Result<u64, StoreError> {
    let back = i64::from(why == Release::Shutdown);
    let read = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?));
    let released: Vec<(Option<String>, i64, String, u32)> = match tasks {
        None => conn
            .prepare_cached(
                "UPDATE tasks SET lease_owner = NULL, lease_until = NULL, \
                 attempt = max(attempt - ?2, 0) WHERE lease_owner = ?1 \
                 RETURNING (SELECT w.id FROM workflows w WHERE w.rid = tasks.rid), seq, name, \
                     attempt + ?2",
            )
            .db()?
            .query_map(params![owner, back], read)
            .db()?
            .collect::<Result<_, _>>()
            .db()?,
        Some(tasks) => {
            let mut stmt = conn
                .prepare_cached(
                    "UPDATE tasks SET lease_owner = NULL, lease_until = NULL, \
                     attempt = max(attempt - ?2, 0) \
                     WHERE rid = (SELECT rid FROM workflows WHERE id = ?3) AND seq = ?4 \
                         AND scheduled_version = ?5 AND lease_owner = ?1 \
                     RETURNING ?3, seq, name, attempt + ?2",
                )
                .db()?;
            let mut all = Vec::with_capacity(tasks.len());
            for t in tasks {
                let one = stmt
                    .query_row(
                        params![
                            owner,
                            back,
                            &t.workflow_id,
                            int(t.seq),
                            int(t.scheduled_version)
                        ],
                        read,
                    )
                    .optional()
                    .db()?;
                all.extend(one);
            }
            all
        }
    };
    // (A task of no run, never left, has no history to tell.)
    for (wf, seq, name, attempt) in &released {
        let Some(wf) = wf else { continue };
        let entry = released_attempt_entry(now_ms, name, uint(*seq), *attempt, owner, why);
        append_history(conn, wf, &[entry])?;
    }
    Ok(released.len() as u64)
}

/// The status and version of run `id`; [`StoreError::NotFound`] if there is no such run.
fn status_and_version(conn: &Connection, id: &str) -> Result<(WorkflowStatus, u64), StoreError> {
    let row: Option<(i64, i64)> = conn
        .prepare_cached("SELECT status, version FROM workflows WHERE id = ?1")
        .db()?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .db()?;
    match row {
        Some((code, version)) => Ok((status_of(code)?, uint(version))),
        None => Err(StoreError::NotFound(id.to_string())),
    }
}

fn workflow_status(conn: &Connection, id: &str) -> Result<WorkflowStatus, StoreError> {
    run_of(conn, id).map(|(_, status)| status)
}

/// The integer key of run `id` (see [`SCHEMA_VERSION`], 9) and its status;
/// [`StoreError::NotFound`] if there is no such run.
fn run_of(conn: &Connection, id: &str) -> Result<(i64, WorkflowStatus), StoreError> {
    let row: Option<(i64, i64)> = conn
        .prepare_cached("SELECT rid, status FROM workflows WHERE id = ?1")
        .db()?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .db()?;
    match row {
        Some((rid, code)) => Ok((rid, status_of(code)?)),
        None => Err(StoreError::NotFound(id.to_string())),
    }
}

/// A task's columns, its run's id first (read from the run's row by its integer key).
const TASK_COLUMNS: &str = "(SELECT w.id FROM workflows w WHERE w.rid = tasks.rid), seq, name, input, options, attempt, scheduled_at, visible_at, lease_owner, lease_until, heartbeat, deadline, scheduled_version";

struct RawTask {
    task: ActivityTask,
    options: Vec<u8>,
}

fn raw_task(row: &Row<'_>) -> rusqlite::Result<RawTask> {
    Ok(RawTask {
        options: row.get(4)?,
        task: ActivityTask {
            workflow_id: row.get(0)?,
            seq: uint(row.get(1)?),
            name: row.get(2)?,
            input: row.get(3)?,
            options: ActivityOptions::default(),
            attempt: uint(row.get(5)?).min(u32::MAX as u64) as u32,
            scheduled_at_ms: uint(row.get(6)?),
            visible_at_ms: uint(row.get(7)?),
            lease_owner: row.get(8)?,
            lease_until_ms: row.get::<_, Option<i64>>(9)?.map(uint),
            heartbeat_details: row.get(10)?,
            deadline_ms: row.get::<_, Option<i64>>(11)?.map(uint),
            scheduled_version: uint(row.get(12)?),
        },
    })
}

fn finish_task(raw: RawTask) -> Result<ActivityTask, StoreError> {
    let mut task = raw.task;
    task.options =
        postcard::from_bytes(&raw.options).map_err(|e| corrupt("activity options", e))?;
    Ok(task)
}

/// The stored form of the options of `tasks`, in their order (encoded before a commit goes to
/// the writer thread).
fn encode_options<'a>(
    tasks: impl IntoIterator<Item = &'a ActivityTask>,
) -> Result<Vec<Vec<u8>>, StoreError> {
    tasks
        .into_iter()
        .map(|t| {
            // (About 20 bytes: sized once rather than grown from nothing.)
            postcard::to_extend(&t.options, Vec::with_capacity(48))
                .map_err(|e| StoreError::backend_with("encode options", e))
        })
        .collect()
}

/// Up to `?3` tasks of the names of `?2` (a JSON array) due at `?1`, first due first: the run's
/// key and id, the call's seq and the owner of its lease (one that expired), if any. Read
/// through `tasks_next`, in its order.
const DUE_TASKS: &str = concat!(
    "SELECT rid, (SELECT w.id FROM workflows w WHERE w.rid = tasks.rid), seq, lease_owner \
     FROM tasks WHERE ",
    task_due!(),
    " <= ?1 AND name IN (SELECT value FROM json_each(?2)) ORDER BY ",
    task_due!(),
    " LIMIT ?3"
);

/// When the first task of the names of `?1` (a JSON array) is due, through `tasks_next`.
const NEXT_TASK_DUE: &str = concat!(
    "SELECT ",
    task_due!(),
    " FROM tasks WHERE name IN (SELECT value FROM json_each(?1)) ORDER BY ",
    task_due!(),
    " LIMIT 1"
);

/// The insert of a task's row (13 columns).
const INSERT_TASK: &str = "INSERT OR REPLACE INTO tasks (rid, seq, name, input, options, attempt, scheduled_at, \
     visible_at, lease_owner, lease_until, heartbeat, deadline, scheduled_version) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

/// The statement of [`replace_task`]: the columns as [`INSERT_TASK`] numbers them, and `?14`
/// the finished call's seq.
const REPLACE_TASK: &str = "UPDATE OR REPLACE tasks SET seq = ?2, name = ?3, input = ?4, options = ?5, \
     attempt = ?6, scheduled_at = ?7, visible_at = ?8, lease_owner = ?9, lease_until = ?10, \
     heartbeat = ?11, deadline = ?12, scheduled_version = ?13 WHERE rid = ?1 AND seq = ?14";

/// The fence of a step's compare-and-set on the one result it took straight from a worker
/// (`?10` seq, `?11` attempt, `?12` owner, `?13` scheduled version): its task is still that
/// call, at that attempt under that owner.
const TASK_HELD_AT: &str = "SELECT 1 FROM tasks WHERE rid = ?1 AND seq = ?10 AND attempt = ?11 \
     AND lease_owner = ?12 AND scheduled_version = ?13";

/// Inserts task `t` of run `rid` (its integer key), with its options as [`encode_options`]
/// stored them.
fn insert_task(w: &Writer, rid: i64, t: &ActivityTask, options: &[u8]) -> Result<(), StoreError> {
    w.held.insert_task.execute(&task_row(rid, t, options))?;
    Ok(())
}

/// The 13 columns of the row of task `t` of run `rid`, in the order of [`INSERT_TASK`].
fn task_row<'a>(rid: i64, t: &'a ActivityTask, options: &'a [u8]) -> [raw::Arg<'a>; 13] {
    [
        rid.into(),
        int(t.seq).into(),
        t.name.as_str().into(),
        t.input.as_slice().into(),
        options.into(),
        i64::from(t.attempt).into(),
        int(t.scheduled_at_ms).into(),
        int(t.visible_at_ms).into(),
        t.lease_owner.as_deref().into(),
        t.lease_until_ms.map(int).into(),
        t.heartbeat_details.as_deref().into(),
        t.deadline_ms.map(int).into(),
        int(t.scheduled_version).into(),
    ]
}

/// An `events` row: id, at, kind, seq, name, payload.
type RawEvent = (i64, i64, i64, Option<i64>, Option<String>, Option<Vec<u8>>);

fn raw_event(row: &Row<'_>) -> rusqlite::Result<RawEvent> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn finish_event((id, at, kind, seq, name, payload): RawEvent) -> Result<Event, StoreError> {
    let kind = i16::try_from(kind).map_err(|_| corrupt("event kind", kind))?;
    event_from_columns(id, at, (kind, seq, name, payload))
}

/// Adds an event to the inbox of run `rid` (its integer key) and makes the run ready:
/// returns the event's id.
fn insert_event(
    conn: &Connection,
    rid: i64,
    at_ms: u64,
    kind: EventKind,
) -> Result<u64, StoreError> {
    let event = insert_event_row(conn, rid, at_ms, kind)?;
    conn.prepare_cached("UPDATE workflows SET ready = 1 WHERE rid = ?1")
        .db()?
        .execute([rid])
        .db()?;
    Ok(event)
}

/// Adds an event to the inbox of run `rid` (its integer key), and nothing else (its run's
/// row is left as it is): returns the event's id.
fn insert_event_row(
    conn: &Connection,
    rid: i64,
    at_ms: u64,
    kind: EventKind,
) -> Result<u64, StoreError> {
    let (k, seq, name, payload) = event_columns(kind)?;
    conn.prepare_cached(
        "INSERT INTO events (rid, at, kind, seq, name, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .db()?
    .execute(params![rid, int(at_ms), k, seq, name, payload])
    .db()?;
    Ok(uint(conn.last_insert_rowid()))
}

/// Makes run `id` ready for an event from outside and counts the event's history entry in
/// its row, once it is found there and not finished: [`StoreError::NotFound`] or
/// [`StoreError::Finished`] otherwise, with nothing written. Returns the run's integer key.
fn open_for_event(conn: &Connection, id: &str) -> Result<i64, StoreError> {
    let (rid, status) = run_of(conn, id)?;
    if status.is_finished() {
        return Err(StoreError::Finished {
            workflow_id: id.to_string(),
            status,
        });
    }
    conn.prepare_cached(
        "UPDATE workflows SET ready = 1, history_len = history_len + 1 WHERE rid = ?1",
    )
    .db()?
    .execute([rid])
    .db()?;
    Ok(rid)
}

/// The insert of a history entry into the log, numbered 0: the entry's place in the log
/// (`seq`) orders it. (Files written before schema 5 numbered their log entries; reads order
/// the log by `seq` alone, which gives the same order.)
const INSERT_HISTORY: &str =
    "INSERT INTO history_log (workflow_id, n, at, kind, detail) VALUES (?1, 0, ?2, ?3, ?4)";

/// The entries of run `?1`'s history, each with its place: the entries files of schemas 7 and
/// before moved out of the log, in number order (`part` 0), from `history` (moved before
/// schema 7) and from its segments of `history_moved` (numbers grow across both, whichever
/// version of the program moved them); then the log's, in log order (`part` 1): those its
/// lists in `history_runs` name (one seek each; the run's id is checked again, should a list
/// outlive what it names), and those past the indexed part (a scan of that part).
macro_rules! history_of_run {
    () => {
        "SELECT 0 AS part, n AS o, at, kind, detail FROM history WHERE workflow_id = ?1 \
         UNION ALL SELECT 0, m.n, m.at, m.kind, m.detail FROM history_runs r \
             JOIN history_moved m ON m.segment = r.segment AND m.workflow_id = r.workflow_id \
             WHERE r.workflow_id = ?1 AND r.seqs IS NULL \
         UNION ALL SELECT 1, l.seq, l.at, l.kind, l.detail \
             FROM history_runs r, json_each(r.seqs) j, history_log l \
             WHERE r.workflow_id = ?1 AND r.seqs IS NOT NULL AND l.seq = j.value \
                 AND l.workflow_id = r.workflow_id \
         UNION ALL SELECT 1, seq, at, kind, detail FROM history_log \
             WHERE seq > (SELECT indexed FROM history_base) AND workflow_id = ?1"
    };
}

/// The history of run `?1` ([`history_of_run`]), oldest first.
const HISTORY_OF_RUN: &str = concat!(
    "SELECT at, kind, detail FROM (",
    history_of_run!(),
    ") ORDER BY part, o"
);

/// The newest `?2` entries of run `?1`'s history, newest first, each with the count of all.
const HISTORY_TAIL_OF_RUN: &str = concat!(
    "SELECT at, kind, detail, count(*) OVER () FROM (",
    history_of_run!(),
    ") ORDER BY part DESC, o DESC LIMIT ?2"
);

/// A list of run `?1`'s entries in the log (`history_runs.seqs`) that is not JSON, as text.
const DAMAGED_LIST: &str = "SELECT quote(seqs) FROM history_runs \
     WHERE workflow_id = ?1 AND seqs IS NOT NULL AND NOT json_valid(seqs) LIMIT 1";

/// Fails unless run `id` exists and its lists of entries in the log read: a list that is not
/// JSON would fail the history's read with SQLite's error, said here as what it is.
fn history_readable(conn: &Connection, id: &str) -> Result<(), StoreError> {
    workflow_status(conn, id)?;
    let damaged: Option<String> = conn
        .prepare_cached(DAMAGED_LIST)
        .db()?
        .query_row([id], |r| r.get(0))
        .optional()
        .db()?;
    match damaged {
        Some(list) => Err(corrupt("list of history entries", &list)),
        None => Ok(()),
    }
}

/// Appends `entries` to the history of run `id`, after those it has.
fn insert_history(w: &Writer, id: &str, entries: &[HistoryEntry]) -> Result<(), StoreError> {
    for h in entries {
        w.held.insert_history.execute(&[
            id.into(),
            int(h.at_ms).into(),
            h.kind.as_str().into(),
            h.detail.as_str().into(),
        ])?;
    }
    Ok(())
}

/// Appends `entries` to the history of run `id`, and counts them in its row.
fn append_history(w: &Writer, id: &str, entries: &[HistoryEntry]) -> Result<(), StoreError> {
    let changed = w
        .prepare_cached("UPDATE workflows SET history_len = history_len + ?2 WHERE id = ?1")
        .db()?
        .execute(params![id, entries.len() as i64])
        .db()?;
    if changed == 0 {
        return Err(StoreError::NotFound(id.to_string()));
    }
    insert_history(w, id, entries)
}

/// The entries that record the signals left in run `rid`'s inbox as `step` ends it, but for
/// those it consumed (sent, never received: see [`super::unreceived_signal_entry`]). Most
/// runs end with none: one indexed look.
fn unreceived_signals(
    w: &Writer,
    rid: i64,
    step: &StepCommit,
) -> Result<Vec<HistoryEntry>, StoreError> {
    if w.held.any_signal.query_i64(&[rid.into()])?.is_none() {
        return Ok(Vec::new());
    }
    let mut stmt = w
        .prepare_cached(&format!(
            "SELECT id, name, length(payload) FROM events WHERE rid = ?1 AND kind = {EVENT_SIGNAL} ORDER BY id"
        ))
        .db()?;
    let rows = stmt
        .query_map([rid], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                r.get::<_, Option<i64>>(2)?.unwrap_or(0),
            ))
        })
        .db()?;
    let mut out = Vec::new();
    for row in rows {
        let (event, name, bytes) = row.db()?;
        if step.consumed_events.contains(&uint(event)) {
            continue;
        }
        out.push(super::unreceived_signal_entry(
            step.now_ms,
            &name,
            usize::try_from(bytes).unwrap_or(0),
        ));
    }
    Ok(out)
}

/// Deletes the tasks, timers and events of run `rid` (its integer key).
fn drop_leftovers(w: &Writer, rid: i64) -> Result<(), StoreError> {
    for stmt in [&w.held.drop_tasks, &w.held.drop_timers, &w.held.drop_events] {
        stmt.execute(&[rid.into()])?;
    }
    Ok(())
}

/// The tasks a step schedules, if it suspends.
fn scheduled(step: &StepCommit) -> &[ActivityTask] {
    match &step.outcome {
        StepOutcome::Suspended { tasks, .. } => tasks,
        _ => &[],
    }
}

/// Fails with [`StoreError::LeaseLost`] unless the task of `a` (of run `id`, integer key
/// `rid`) is still at that attempt under that owner.
fn fence(w: &Writer, (rid, id): (i64, &str), a: &TaskAttempt) -> Result<(), StoreError> {
    let held = w.held.task_held.query_i64(&[
        rid.into(),
        int(a.seq).into(),
        i64::from(a.attempt).into(),
        a.owner.as_str().into(),
        int(a.scheduled_version).into(),
    ])?;
    match held {
        Some(_) => Ok(()),
        None => Err(StoreError::LeaseLost {
            workflow_id: id.to_string(),
            seq: a.seq,
            attempt: a.attempt,
        }),
    }
}

/// The one call whose result `step` took straight from a worker, the one call it makes next
/// and that call's options (of `options`, as [`encode_options`] gives them), if that is all
/// it does with tasks (and timers): the next call's row then replaces the finished call's
/// ([`replace_task`]), the fence checked by the compare-and-set itself. Decided in one place,
/// for the fence, the delete and the insert that the relay stands for.
fn relayed_call<'a>(
    step: &'a StepCommit,
    options: &'a [Vec<u8>],
) -> Option<(&'a TaskAttempt, &'a ActivityTask, &'a [u8])> {
    let StepOutcome::Suspended { tasks, timers, .. } = &step.outcome else {
        return None;
    };
    match (&step.completed_tasks[..], &tasks[..], options) {
        ([done], [next], [o])
            if timers.is_empty()
                && step.cancelled.is_empty()
                && next.workflow_id == step.workflow_id
                && next.seq != done.seq =>
        {
            Some((done, next, o))
        }
        _ => None,
    }
}

/// The row of task `seq` of `t`'s workflow made `t`'s (whose options [`encode_options`]
/// stored): the finished call's row deleted and the next call's inserted, in one statement.
/// A row under `t`'s key already is replaced, as [`insert_task`] does. If the finished call's
/// row is gone (it cannot be: the step's fence, in the same transaction, found it), `t` is
/// inserted all the same, so that the next call runs, and the surprise is logged.
fn replace_task(
    w: &Writer,
    rid: i64,
    seq: u64,
    t: &ActivityTask,
    options: &[u8],
) -> Result<(), StoreError> {
    let mut args = [raw::Arg::Null; 14];
    args[..13].copy_from_slice(&task_row(rid, t, options));
    args[13] = int(seq).into();
    let changed = w.held.replace_task.execute(&args)?;
    if changed == 0 {
        tracing::warn!(
            workflow_id = %t.workflow_id,
            finished = seq,
            next = t.seq,
            "the finished call's task row was gone when the next call replaced it; inserted"
        );
        insert_task(w, rid, t, options)?;
    }
    Ok(())
}

/// Commits `step`; `options`: the options of the tasks it schedules, as [`encode_options`]
/// gives them.
///
/// Every row of the run's is found by its integer key. The key the step hands back (read
/// with the run: [`StepCommit::run_key`]) is taken as it is, with no look-up: the
/// compare-and-set, the first write, also checks the run's id, so that the key of another run
/// (the id's run purged and created again) writes nothing, and fails a check (the fence, the
/// version). Such a failure looks the key up by id: if it was another run's, the step is
/// committed again with the run's own; if it was the run's, the failure stands.
fn commit(w: &Writer, step: &StepCommit, options: &[Vec<u8>]) -> Result<u64, StoreError> {
    let id = step.workflow_id.as_str();
    let found = |w: &Writer| key_of(w, id);
    let hint = match step.run_key {
        Some(k) => Some(int(k)),
        None => w.keys.borrow().get(id).copied(),
    };
    let (rid, done) = match hint {
        None => {
            let rid = found(w)?;
            (rid, commit_as(w, rid, step, options))
        }
        Some(key) => match commit_as(w, key, step, options) {
            Err(
                e @ (StoreError::Conflict { .. }
                | StoreError::LeaseLost { .. }
                | StoreError::NotFound(_)),
            ) => match found(w)? {
                rid if rid != key => (rid, commit_as(w, rid, step, options)),
                _ => (key, Err(e)),
            },
            done => (key, done),
        },
    };
    if done.is_ok() {
        if matches!(
            step.outcome,
            StepOutcome::Finished { .. } | StepOutcome::Cancelled
        ) {
            w.keys.borrow_mut().remove(id);
        } else if step.run_key.is_none() && hint != Some(rid) {
            w.remember(id, rid);
        }
    }
    done
}

/// The integer key of run `id`, found by its id on the writer; [`StoreError::NotFound`] if
/// there is no such run.
fn key_of(w: &Writer, id: &str) -> Result<i64, StoreError> {
    w.held
        .run_key
        .query_i64(&[id.into()])?
        .ok_or_else(|| StoreError::NotFound(id.to_string()))
}

/// [`commit`] with the run's integer key `rid`. Writes nothing unless the checks pass (the
/// fences, and the compare-and-set on the version and the id).
fn commit_as(
    w: &Writer,
    rid: i64,
    step: &StepCommit,
    options: &[Vec<u8>],
) -> Result<u64, StoreError> {
    let conn = &w.conn;
    let h = &w.held;
    let id = step.workflow_id.as_str();
    let expected = int(step.expected_version);
    let now = int(step.now_ms);
    let hist = step.history.len() as i64;
    let seen = int(step.seen_events_upto);
    // A step that took one call's result straight from a worker and makes the next call (a
    // workflow's most common step): the fence goes into the compare-and-set, and the call's
    // task row becomes the next call's: two statements rather than four (a fence, the
    // compare-and-set, a delete and an insert).
    let relay = relayed_call(step, options);
    let run = (rid, id);
    // The checks come first: when one fails, nothing has been written. The fence on results
    // taken straight from a worker: each task must still be at the attempt that produced
    // the result, under its owner.
    if relay.is_none() {
        for a in &step.completed_tasks {
            fence(w, run, a)?;
        }
    }
    // The compare-and-set.
    // (Without `RETURNING`, which costs SQLite a temporary table per statement: the new
    // version is known, and the step's history entries are ordered by their place in the log.)
    let changed: usize = match &step.outcome {
        StepOutcome::Suspended { snapshot, pending, .. } => {
            let set: [raw::Arg<'_>; 9] = [
                rid.into(),
                expected.into(),
                snapshot.as_slice().into(),
                pending.as_slice().into(),
                now.into(),
                hist.into(),
                seen.into(),
                step.keep_ready.into(),
                id.into(),
            ];
            match relay {
                None => h.suspend.execute(&set)?,
                Some((done, _, _)) => {
                    let mut args = [raw::Arg::Null; 13];
                    args[..9].copy_from_slice(&set);
                    args[9..].copy_from_slice(&[
                        int(done.seq).into(),
                        i64::from(done.attempt).into(),
                        done.owner.as_str().into(),
                        int(done.scheduled_version).into(),
                    ]);
                    let changed = h.suspend_fenced.execute(&args)?;
                    if changed == 0 {
                        // Which check failed: the fence, or the version.
                        fence(w, run, done)?;
                    }
                    changed
                }
            }
        }
        StepOutcome::Finished { status, snapshot, output } => h.finish.execute(&[
            rid.into(),
            expected.into(),
            status.code().into(),
            snapshot.as_slice().into(),
            output.as_slice().into(),
            now.into(),
            hist.into(),
            id.into(),
        ])?,
        StepOutcome::Parked { reason } => conn
            .prepare_cached(
                "UPDATE workflows SET status = ?3, park_reason = ?4, version = version + 1, updated_at = ?5, \
                 history_len = history_len + ?6, ready = 0 \
                 WHERE rid = ?1 AND version = ?2 AND id = ?7",
            )
            .db()?
            .execute(params![rid, expected, WorkflowStatus::Parked.code(), reason, now, hist, id]).db()?,
        StepOutcome::Unparked | StepOutcome::Cancelled => {
            let (status, ready) = match step.outcome {
                StepOutcome::Unparked => (WorkflowStatus::Running, 1),
                _ => (WorkflowStatus::Cancelled, 0),
            };
            conn.prepare_cached(
                "UPDATE workflows SET status = ?3, park_reason = NULL, version = version + 1, updated_at = ?4, \
                 history_len = history_len + ?5, ready = ?6, \
                 pending = CASE WHEN ?3 = 0 THEN pending ELSE NULL END \
                 WHERE rid = ?1 AND version = ?2 AND id = ?7",
            )
            .db()?
            .execute(params![rid, expected, status.code(), now, hist, ready, id]).db()?
        }
        // A run starting over (rare: not a held statement).
        StepOutcome::Continued { input, snapshot } => conn
            .prepare_cached(
                "UPDATE workflows SET input = ?3, snapshot = ?4, pending = NULL, output = NULL, \
                 version = version + 1, updated_at = ?5, history_len = ?6, ready = 1 \
                 WHERE rid = ?1 AND version = ?2 AND id = ?7",
            )
            .db()?
            .execute(params![rid, expected, input, snapshot, now, hist, id])
            .db()?,
    };
    if changed == 0 {
        workflow_status(conn, id)?;
        return Err(StoreError::Conflict {
            workflow_id: id.to_string(),
            expected: step.expected_version,
        });
    }
    let version = expected.saturating_add(1);
    // A finished or cancelled run's tasks, timers and events all go below, at once: the
    // ones this step consumed are not deleted one by one first.
    let drops_leftovers = matches!(
        step.outcome,
        StepOutcome::Finished { .. } | StepOutcome::Cancelled
    );
    if !step.consumed_events.is_empty() && !drops_leftovers {
        for e in &step.consumed_events {
            h.delete_event.execute(&[int(*e).into(), rid.into()])?;
        }
    }
    if (!step.completed_tasks.is_empty() || !step.cancelled.is_empty())
        && !drops_leftovers
        && relay.is_none()
    {
        for s in step
            .completed_tasks
            .iter()
            .map(|a| &a.seq)
            .chain(&step.cancelled)
        {
            h.delete_task.execute(&[rid.into(), int(*s).into()])?;
        }
    }
    for s in step.fired_timers.iter().filter(|_| !drops_leftovers) {
        h.delete_timer.execute(&[rid.into(), int(*s).into()])?;
    }
    for s in step.cancelled.iter().filter(|_| !drops_leftovers) {
        h.delete_timer.execute(&[rid.into(), int(*s).into()])?;
        conn.prepare_cached("DELETE FROM events WHERE rid = ?1 AND seq = ?2 AND kind IN (0, 1, 3)")
            .db()?
            .execute(params![rid, int(*s)])
            .db()?;
    }
    let mut unreceived = Vec::new();
    match &step.outcome {
        StepOutcome::Suspended { tasks, timers, .. } => {
            match relay {
                Some((done, next, o)) => replace_task(w, rid, done.seq, next, o)?,
                None => {
                    // Every task under the step's run, as the other stores keep them (looked
                    // up by a task's own id after the compare-and-set, an unknown one failed
                    // the step half written).
                    for (t, o) in tasks.iter().zip(options) {
                        insert_task(w, rid, t, o)?;
                    }
                }
            }
            for t in timers {
                h.insert_timer.execute(&[
                    rid.into(),
                    int(t.seq).into(),
                    int(t.fire_at_ms).into(),
                ])?;
            }
        }
        StepOutcome::Finished { .. } | StepOutcome::Cancelled => {
            unreceived = unreceived_signals(w, rid, step)?;
            drop_leftovers(w, rid)?;
        }
        StepOutcome::Continued { .. } => {
            h.drop_tasks.execute(&[rid.into()])?;
            let [timeout, grace] = crate::store::CONTINUED_TIMERS;
            conn.execute(
                "DELETE FROM timers WHERE rid = ?1 AND seq NOT IN (?2, ?3)",
                params![rid, int(timeout), int(grace)],
            )
            .db()?;
            conn.execute(
                "DELETE FROM events WHERE rid = ?1 AND kind NOT IN (?2, ?3) \
                 AND NOT (kind = ?4 AND seq IN (?5, ?6))",
                params![
                    rid,
                    super::rows::EVENT_SIGNAL,
                    super::rows::EVENT_CANCEL,
                    super::rows::EVENT_TIMER,
                    int(timeout),
                    int(grace)
                ],
            )
            .db()?;
            delete_history(
                conn,
                &serde_json::to_string(&[id])
                    .map_err(|e| StoreError::backend_with("encode the id whose history goes", e))?,
            )?;
        }
        StepOutcome::Parked { .. } | StepOutcome::Unparked => {}
    }
    insert_history(w, id, &step.history)?;
    if !unreceived.is_empty() {
        append_history(w, id, &unreceived)?;
    }
    if !step.children.is_empty() && matches!(step.outcome, StepOutcome::Suspended { .. }) {
        start_children(w, rid, step)?;
    }
    for d in &step.deliver {
        if !tells_own_parent(conn, rid, id, d)? {
            continue;
        }
        let open = conn
            .prepare_cached("SELECT rid, status FROM workflows WHERE id = ?1")
            .db()?
            .query_row([&d.to], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
            .optional()
            .db()?
            .filter(|&(_, s)| WorkflowStatus::from_code(s).is_some_and(|s| !s.is_finished()));
        if let Some((to, _)) = open
            && (d.child_call.is_none() || closes_own_child(conn, to, id, d)?)
        {
            insert_event(conn, to, step.now_ms, d.kind.clone())?;
        }
    }
    Ok(uint(version))
}

/// Creates run `wf` (see [`Store::create_workflow`]) and returns its version; `None`, having
/// written nothing, if its id is taken. Its parent's version is not looked at here.
fn insert_run(w: &Writer, wf: &NewWorkflow) -> Result<Option<u64>, StoreError> {
    let conn = &w.conn;
    // Past the id's tombstone and at least the floor (see `Store::create_workflow`).
    let (floor, tombstone): (i64, Option<i64>) = conn
        .prepare_cached(
            "SELECT COALESCE((SELECT version FROM version_floor), 0), \
                    (SELECT version FROM tombstones WHERE id = ?1)",
        )
        .db()?
        .query_row([&wf.id], |r| Ok((r.get(0)?, r.get(1)?)))
        .db()?;
    let version = floor.max(tombstone.map_or(0, |v| v.saturating_add(1)));
    // An id taken already inserts nothing (rather than a look for it first: one descent of
    // the table, not two, for every new run).
    let inserted = conn.prepare_cached(
        "INSERT INTO workflows (id, name, status, input, snapshot, version, created_at, updated_at, ready, history_len, parent_id, parent_seq) \
         VALUES (?1, ?2, 0, ?3, ?4, ?5, ?6, ?6, 1, ?9, ?7, ?8) ON CONFLICT (id) DO NOTHING",
    )
    .db()?
    .execute(params![
        wf.id,
        wf.name,
        wf.input,
        wf.snapshot,
        version,
        int(wf.now_ms),
        wf.parent.as_ref().map(|p| p.id.as_str()),
        wf.parent.as_ref().map(|p| int(p.seq)),
        1 + wf.signals.len() as i64
    ])
    .db()?;
    if inserted == 0 {
        return Ok(None);
    }
    // (Before another insert: the connection's last rowid is the new run's key.)
    let rid = conn.last_insert_rowid();
    if tombstone.is_some() {
        conn.prepare_cached("DELETE FROM tombstones WHERE id = ?1")
            .db()?
            .execute([&wf.id])
            .db()?;
    }
    insert_history(w, &wf.id, std::slice::from_ref(&wf.history))?;
    for t in &wf.timers {
        w.held
            .insert_timer
            .execute(&[rid.into(), int(t.seq).into(), int(t.fire_at_ms).into()])?;
    }
    let mut received = Vec::with_capacity(wf.signals.len());
    for signal in &wf.signals {
        insert_event_row(conn, rid, wf.now_ms, signal.event())?;
        received.push(received_signal_entry(
            wf.now_ms,
            &signal.name,
            signal.payload.len(),
        ));
    }
    insert_history(w, &wf.id, &received)?;
    w.remember(&wf.id, rid);
    Ok(Some(uint(version)))
}

/// Creates the child runs `step` starts (see [`StepCommit::children`]) for run `rid`: a
/// child whose id is taken by a run that is not this call's child answers the call with
/// [`crate::ChildError::IdInUse`] in the run's own inbox.
fn start_children(w: &Writer, rid: i64, step: &StepCommit) -> Result<(), StoreError> {
    for child in &step.children {
        if insert_run(w, child)?.is_some() {
            continue;
        }
        let link: Option<(Option<String>, Option<i64>)> = w
            .conn
            .prepare_cached("SELECT parent_id, parent_seq FROM workflows WHERE id = ?1")
            .db()?
            .query_row([&child.id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .db()?;
        let ours = child
            .parent
            .as_ref()
            .map(|p| (Some(p.id.clone()), Some(int(p.seq))));
        if link.is_some() && link == ours {
            continue;
        }
        insert_event(
            &w.conn,
            rid,
            step.now_ms,
            EventKind::ChildFinished {
                seq: child.parent.as_ref().map_or(0, |p| p.seq),
                result: Err(crate::ChildError::IdInUse {
                    id: child.id.clone(),
                }),
            },
        )?;
    }
    Ok(())
}

/// Refuses the create of child `wf` with [`StoreError::Conflict`] unless its parent is at
/// the version its step was computed from ([`NewWorkflow::parent_version`]).
fn parent_is_at(conn: &Connection, wf: &NewWorkflow) -> Result<(), StoreError> {
    let (Some(parent), Some(expected)) = (&wf.parent, wf.parent_version) else {
        return Ok(());
    };
    let found: Option<i64> = conn
        .prepare_cached("SELECT version FROM workflows WHERE id = ?1")
        .db()?
        .query_row([&parent.id], |r| r.get(0))
        .optional()
        .db()?;
    if found == Some(int(expected)) {
        return Ok(());
    }
    Err(StoreError::Conflict {
        workflow_id: parent.id.clone(),
        expected,
    })
}

/// The rows of a listing (`id, name, status, park_reason, created_at, updated_at`), each with
/// its id and its summary; `None` for a row that does not read back (a value of another type
/// than its column's, an unknown status), reported on its own and left out: one damaged row
/// does not hide every other run (nor keep a runtime from starting, whose look for runs left
/// behind lists them). A failure of the database itself is an error.
fn summary_rows(
    mut rows: rusqlite::Rows<'_>,
) -> Result<Vec<(String, Option<WorkflowSummary>)>, StoreError> {
    let mut out = Vec::new();
    while let Some(r) = rows.next().db()? {
        let id: String = r.get(0).db()?;
        let summary = (|| -> Result<WorkflowSummary, StoreError> {
            Ok(WorkflowSummary {
                id: id.clone(),
                name: r.get(1).db()?,
                status: status_of(r.get(2).db()?)?,
                park_reason: r.get(3).db()?,
                created_at_ms: uint(r.get(4).db()?),
                updated_at_ms: uint(r.get(5).db()?),
            })
        })();
        let summary = summary
            .inspect_err(|e| tracing::warn!(workflow_id = %short_id(&id), error = %e, "a stored workflow cannot be listed"))
            .ok();
        out.push((id, summary));
    }
    Ok(out)
}

/// Whether `e` is a value that does not read as its column's type (a damaged row), not a
/// failure of the database.
fn undecodable(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
            | rusqlite::Error::Utf8Error(..)
    )
}

/// Whether delivery `d` of a step of run `rid` (id `id`) goes: any but a child's end for
/// another run does; that one only to the run's parent, for the call its stored link names
/// (see [`StepCommit::deliver`]). Read only for such a delivery, once per child run.
fn tells_own_parent(
    conn: &Connection,
    rid: i64,
    id: &str,
    d: &crate::store::Delivery,
) -> Result<bool, StoreError> {
    let Some(seq) = d.child_end_elsewhere(id) else {
        return Ok(true);
    };
    let link: Option<(Option<String>, Option<i64>)> = conn
        .prepare_cached("SELECT parent_id, parent_seq FROM workflows WHERE rid = ?1")
        .db()?
        .query_row([rid], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .db()?;
    let told = matches!(link, Some((Some(p), Some(s))) if p == d.to && s == int(seq));
    if !told {
        tracing::debug!(workflow_id = %id, to = %d.to, seq, "a child's end for a run that is not its parent (purged since?): dropped");
    }
    Ok(told)
}

/// Whether run `to` (its `rid`) is the child that delivery `d` of run `id` closes (see
/// [`crate::store::Delivery::child_call`]). Read only for such a delivery.
fn closes_own_child(
    conn: &Connection,
    to: i64,
    id: &str,
    d: &crate::store::Delivery,
) -> Result<bool, StoreError> {
    let link: Option<(Option<String>, Option<i64>)> = conn
        .prepare_cached("SELECT parent_id, parent_seq FROM workflows WHERE rid = ?1")
        .db()?
        .query_row([to], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .db()?;
    let parent = match link {
        Some((Some(parent), Some(seq))) => Some(ParentLink {
            id: parent,
            seq: uint(seq),
        }),
        _ => None,
    };
    let reaches = d.reaches(id, parent.as_ref());
    if !reaches {
        tracing::debug!(workflow_id = %id, to = %d.to, "a close of a child for a run that is not that child (another run holds the id): dropped");
    }
    Ok(reaches)
}

/// A task whose row does not read back (damaged bytes) can never run. Left in place it would
/// fail the lease of every task due after it, at every poll; instead its call is answered
/// with a `BadCall` error, which the workflow sees as the call's result and can act on.
fn answer_unreadable_task(
    conn: &Connection,
    (rid, workflow_id): (i64, &str),
    seq: i64,
    reason: &str,
    now_ms: u64,
) -> Result<(), StoreError> {
    tracing::warn!(workflow_id = %workflow_id, seq, %reason, "an activity task does not decode; its call fails");
    conn.prepare_cached("DELETE FROM tasks WHERE rid = ?1 AND seq = ?2")
        .db()?
        .execute(params![rid, seq])
        .db()?;
    let error = ActivityError::new(
        ActivityErrorKind::BadCall,
        format!("the stored activity task does not decode: {reason}"),
    );
    insert_event(
        conn,
        rid,
        now_ms,
        EventKind::ActivityCompleted {
            seq: uint(seq),
            result: Err(error),
        },
    )?;
    Ok(())
}

/// The `WHERE` clause of a [`RunQuery`] (its filters and cursor, joined by `AND`) and its
/// parameters, numbered from `?1`. The text is made of fixed pieces only; every value the
/// caller gave is a parameter.
fn run_filter(query: &RunQuery) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    let mut conditions: Vec<String> = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    let mut add = |condition: &str, value: Value| {
        values.push(value);
        conditions.push(format!("{condition} ?{}", values.len()));
    };
    if let Some(status) = query.status {
        add("status =", Value::Integer(status.code()));
    }
    if let Some(name) = &query.name {
        add("name =", Value::Text(name.clone()));
    }
    // A prefix as a range of the id index: nothing in it is a wildcard.
    if let Some(prefix) = query.id_prefix.as_deref().filter(|p| !p.is_empty()) {
        add("id >=", Value::Text(prefix.to_string()));
        if let Some(end) = prefix_successor(prefix) {
            add("id <", Value::Text(end));
        }
    }
    if let Some(after) = &query.after {
        add("id >", Value::Text(after.clone()));
    }
    for (column, op, bound) in [
        ("created_at", ">=", query.created_from_ms),
        ("created_at", "<", query.created_before_ms),
        ("updated_at", ">=", query.updated_from_ms),
        ("updated_at", "<", query.updated_before_ms),
    ] {
        if let Some(ms) = bound {
            add(&format!("{column} {op}"), Value::Integer(int(ms)));
        }
    }
    let clause = if conditions.is_empty() {
        "1".to_string()
    } else {
        conditions.join(" AND ")
    };
    (clause, values)
}

/// Deletes the workflows `ids` and every row of theirs, in every table. The caller has checked
/// that they may go.
fn delete_runs(conn: &Connection, ids: &[String]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let ids = serde_json::to_string(ids)
        .map_err(|e| StoreError::backend_with("encode the ids to purge", e))?;
    // Not cached: rare statements would push the steps' ones out of the writer's cache.
    for sql in [
        "DELETE FROM events WHERE rid IN \
             (SELECT rid FROM workflows WHERE id IN (SELECT value FROM json_each(?1)))",
        "DELETE FROM tasks WHERE rid IN \
             (SELECT rid FROM workflows WHERE id IN (SELECT value FROM json_each(?1)))",
        "DELETE FROM timers WHERE rid IN \
             (SELECT rid FROM workflows WHERE id IN (SELECT value FROM json_each(?1)))",
    ] {
        conn.execute(sql, [&ids]).db()?;
    }
    delete_history(conn, &ids)?;
    for sql in [
        "DELETE FROM workflows WHERE id IN (SELECT value FROM json_each(?1))",
        // Their children lose their link (see `Store::purge`), through `workflows_parent`.
        "UPDATE workflows SET parent_id = NULL, parent_seq = NULL \
             WHERE parent_id IN (SELECT value FROM json_each(?1))",
    ] {
        conn.execute(sql, [&ids]).db()?;
    }
    Ok(())
}

/// Deletes the history of the runs whose ids `ids` lists (a JSON array), wherever it lies.
fn delete_history(conn: &Connection, ids: &str) -> Result<(), StoreError> {
    for sql in [
        "DELETE FROM history WHERE workflow_id IN (SELECT value FROM json_each(?1))",
        "DELETE FROM history_moved WHERE (segment, workflow_id) IN \
             (SELECT segment, workflow_id FROM history_runs \
              WHERE workflow_id IN (SELECT value FROM json_each(?1)) AND seqs IS NULL)",
        // The entries its lists name (a list that is not JSON names none: see below), then
        // those past the indexed part; the lists last.
        "DELETE FROM history_log WHERE seq IN \
             (SELECT j.value FROM history_runs r, json_each(r.seqs) j \
              WHERE r.workflow_id IN (SELECT value FROM json_each(?1)) \
                  AND r.seqs IS NOT NULL AND json_valid(r.seqs)) \
             AND workflow_id IN (SELECT value FROM json_each(?1))",
        "DELETE FROM history_log WHERE seq > (SELECT indexed FROM history_base) \
             AND workflow_id IN (SELECT value FROM json_each(?1))",
    ] {
        conn.execute(sql, [&ids]).db()?;
    }
    // A damaged list named none of its entries: they are found by a scan of the log (it has
    // no index by run), done only then.
    let damaged: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM history_runs \
                 WHERE workflow_id IN (SELECT value FROM json_each(?1)) \
                     AND seqs IS NOT NULL AND NOT json_valid(seqs))",
            [&ids],
            |r| r.get(0),
        )
        .db()?;
    if damaged {
        conn.execute(
            "DELETE FROM history_log WHERE workflow_id IN (SELECT value FROM json_each(?1))",
            [&ids],
        )
        .db()?;
    }
    conn.execute(
        "DELETE FROM history_runs WHERE workflow_id IN (SELECT value FROM json_each(?1))",
        [ids],
    )
    .db()?;
    Ok(())
}

/// Raises the version floor past `version` (see [`Store::purge_finished`]).
fn raise_floor(conn: &Connection, version: i64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO version_floor (one, version) VALUES (1, ?1) \
         ON CONFLICT (one) DO UPDATE SET version = max(version, excluded.version)",
        [version.saturating_add(1)],
    )
    .db()?;
    Ok(())
}

fn json_names(names: &[String]) -> String {
    serde_json::to_string(names).unwrap_or_else(|_| "[]".into())
}

impl Store for SqliteStore {
    fn create_workflow(&self, wf: NewWorkflow) -> StoreFuture<'_, u64> {
        self.write(move |conn| {
            parent_is_at(conn, &wf)?;
            match insert_run(conn, &wf)? {
                Some(version) => Ok(version),
                None => Err(match load_record(conn, &wf.id)? {
                    Some(existing) => StoreError::AlreadyExists(Box::new(existing)),
                    None => StoreError::backend(format!(
                        "run {} was neither created nor found",
                        short_id(&wf.id)
                    )),
                }),
            }
        })
    }

    fn load_workflow<'a>(&'a self, id: &'a str) -> StoreFuture<'a, WorkflowRecord> {
        let id = id.to_string();
        self.read(move |conn| load_record(conn, &id)?.ok_or(StoreError::NotFound(id)))
    }

    fn load_workflows<'a>(&'a self, ids: &'a [String]) -> StoreFuture<'a, Vec<WorkflowRecord>> {
        let ids = json_names(ids);
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&load_runs()).db()?;
            let mut rows = stmt.query([&ids]).db()?;
            let mut raws: Vec<RawWorkflow> = Vec::new();
            // A row whose values do not read back is left out (as one that does not decode
            // below); a failure of the database is an error.
            while let Some(r) = rows.next().db()? {
                match raw_workflow(r) {
                    Ok(raw) => raws.push(raw),
                    Err(e) if undecodable(&e) => {
                        let id: Option<String> = r.get(0).ok();
                        tracing::warn!(workflow_id = ?id, error = %e, "a run's row does not read back; left out");
                    }
                    Err(e) => return Err(e).db(),
                }
            }
            Ok(raws
                .into_iter()
                .filter_map(|raw| {
                    let id = raw.record.id.clone();
                    finish_workflow(raw)
                        .inspect_err(|e| tracing::warn!(workflow_id = %id, error = %e, "a run's row does not read back; left out"))
                        .ok()
                })
                .collect())
        })
    }

    fn load_inbox<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<Event>> {
        let id = id.to_string();
        self.read(move |conn| {
            // One statement, the run's key found in it: a reader has no transaction around
            // its statements, and a key is given again once its run is purged.
            let rows: Vec<_> = conn
                .prepare_cached(
                    "SELECT id, at, kind, seq, name, payload FROM events \
                     WHERE rid = (SELECT rid FROM workflows WHERE id = ?1) ORDER BY id",
                )
                .db()?
                .query_map([&id], raw_event)
                .db()?
                .collect::<Result<_, _>>()
                .db()?;
            if rows.is_empty() {
                workflow_status(conn, &id)?;
            }
            rows.into_iter().map(finish_event).collect()
        })
    }

    fn load_tasks<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<ActivityTask>> {
        let id = id.to_string();
        self.read(move |conn| {
            // In one statement (see `load_inbox`).
            let rows: Vec<_> = conn
                .prepare_cached(&format!(
                    "SELECT {TASK_COLUMNS} FROM tasks \
                     WHERE rid = (SELECT rid FROM workflows WHERE id = ?1) ORDER BY seq"
                ))
                .db()?
                .query_map([&id], raw_task)
                .db()?
                .collect::<Result<_, _>>()
                .db()?;
            if rows.is_empty() {
                workflow_status(conn, &id)?;
            }
            rows.into_iter().map(finish_task).collect()
        })
    }

    fn load_timers<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<TimerRow>> {
        let id = id.to_string();
        self.read(move |conn| {
            // In one statement (see `load_inbox`).
            let rows: Vec<TimerRow> = conn
                .prepare_cached(
                    "SELECT seq, fire_at FROM timers \
                     WHERE rid = (SELECT rid FROM workflows WHERE id = ?1) ORDER BY seq",
                )
                .db()?
                .query_map([&id], |r| {
                    Ok(TimerRow {
                        seq: uint(r.get(0)?),
                        fire_at_ms: uint(r.get(1)?),
                    })
                })
                .db()?
                .collect::<Result<_, _>>()
                .db()?;
            if rows.is_empty() {
                workflow_status(conn, &id)?;
            }
            Ok(rows)
        })
    }

    fn commit_step(&self, step: StepCommit) -> StoreFuture<'_, u64> {
        // What can be done before the writer thread is (the options' encoding), and what can
        // be done after it (freeing the step) is, by the caller. Boxed here, so that the
        // writer moves a pointer rather than the step (a few hundred bytes, copied at each
        // move: into the operation's result, into its reply, into the reply's channel).
        let options = match encode_options(scheduled(&step)) {
            Ok(o) => o,
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        let held = Box::new((step, options));
        self.write_handing_back(move |w| (commit(w, &held.0, &held.1), held))
    }

    fn commit_steps(
        &self,
        steps: Vec<StepCommit>,
    ) -> StoreFuture<'_, Vec<Result<u64, StoreError>>> {
        let options = match steps
            .iter()
            .map(|s| encode_options(scheduled(s)))
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(o) => o,
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        self.write_handing_back(move |w| {
            let mut results = Vec::with_capacity(steps.len());
            for (s, o) in steps.iter().zip(&options) {
                match commit(w, s, o) {
                    Err(e) if may_have_written(&e) => return (Err(e), (steps, options)),
                    r => results.push(r),
                }
            }
            (Ok(results), (steps, options))
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
        let (id, name) = (id.to_string(), name.to_string());
        self.write(move |conn| {
            let rid = open_for_event(conn, &id)?;
            let entry = received_signal_entry(at_ms, &name, payload.len());
            let event = insert_event_row(
                conn,
                rid,
                at_ms,
                EventKind::Signal {
                    name,
                    payload,
                    type_tag,
                },
            )?;
            insert_history(conn, &id, &[entry])?;
            Ok(event)
        })
    }

    fn append_event<'a>(
        &'a self,
        id: &'a str,
        kind: EventKind,
        at_ms: u64,
        entry: HistoryEntry,
    ) -> StoreFuture<'a, u64> {
        let id = id.to_string();
        self.write(move |conn| {
            let rid = open_for_event(conn, &id)?;
            let event = insert_event_row(conn, rid, at_ms, kind)?;
            insert_history(conn, &id, std::slice::from_ref(&entry))?;
            Ok(event)
        })
    }

    fn complete_activity(&self, done: CompleteActivity) -> StoreFuture<'_, bool> {
        self.write(move |conn| {
            let id = done.workflow_id.as_str();
            let a = &done.attempt;
            let (rid, _) = run_of(conn, id)?;
            let deleted = conn
                .prepare_cached(
                    "DELETE FROM tasks WHERE rid = ?1 AND seq = ?2 AND attempt = ?3 AND lease_owner = ?4 \
                     AND scheduled_version = ?5",
                )
                .db()?
                .execute(params![rid, int(a.seq), a.attempt, a.owner, int(a.scheduled_version)])
                .db()?;
            if deleted == 0 {
                return Ok(false);
            }
            insert_event(
                conn,
                rid,
                done.at_ms,
                EventKind::ActivityCompleted {
                    seq: a.seq,
                    result: done.result,
                },
            )?;
            Ok(true)
        })
    }

    fn retry_activity(&self, retry: RetryActivity) -> StoreFuture<'_, bool> {
        self.write(move |conn| {
            let (rid, _) = run_of(conn, &retry.workflow_id)?;
            let n = conn
                .prepare_cached(
                    "UPDATE tasks SET lease_owner = NULL, lease_until = NULL, visible_at = ?5, \
                     heartbeat = COALESCE(?6, heartbeat) \
                     WHERE rid = ?1 AND seq = ?2 AND attempt = ?3 AND lease_owner = ?4 \
                         AND scheduled_version = ?7",
                )
                .db()?
                .execute(params![
                    rid,
                    int(retry.seq),
                    retry.attempt,
                    retry.owner,
                    int(retry.visible_at_ms),
                    retry.heartbeat_details,
                    int(retry.scheduled_version),
                ])
                .db()?;
            if n == 0 {
                return Ok(false);
            }
            append_history(
                conn,
                &retry.workflow_id,
                std::slice::from_ref(&retry.history),
            )?;
            Ok(true)
        })
    }

    fn lease_tasks(&self, req: LeaseRequest) -> StoreFuture<'_, Vec<ActivityTask>> {
        self.write(move |conn| {
            // With the owner of an expired lease, if any: its attempt was lost.
            let keys: Vec<(i64, Option<String>, i64, Option<String>)> = conn
                .prepare_cached(DUE_TASKS)
                .db()?
                .query_map(
                    params![int(req.now_ms), json_names(&req.names), req.limit as i64],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .db()?
                .collect::<Result<_, _>>()
                .db()?;
            let mut out = Vec::with_capacity(keys.len());
            let mut stmt = conn
                .prepare_cached(&format!(
                    "UPDATE tasks SET attempt = attempt + 1, lease_owner = ?3, lease_until = ?4 \
                     WHERE rid = ?1 AND seq = ?2 RETURNING {TASK_COLUMNS}"
                ))
                .db()?;
            for (rid, wf, seq, before) in keys {
                // A task of no run (never left: a run's rows go with it) would stay first in
                // line at every lease, taking the place of tasks that can run: it goes.
                let Some(wf) = wf else {
                    tracing::warn!(run_key = rid, seq, "an activity task of no run; deleted");
                    conn.prepare_cached("DELETE FROM tasks WHERE rid = ?1 AND seq = ?2")
                        .db()?
                        .execute(params![rid, seq])
                        .db()?;
                    continue;
                };
                let task = stmt
                    .query_row(
                        params![rid, seq, req.owner, int(req.lease_until_ms)],
                        raw_task,
                    )
                    .db()
                    .and_then(finish_task)
                    .map(|t| (t, before));
                match task {
                    Ok((t, None)) => out.push(t),
                    Ok((t, Some(lost_owner))) => {
                        // An expired lease taken over: its attempt was lost.
                        let lost = ActivityTask {
                            attempt: t.attempt.saturating_sub(1),
                            lease_owner: Some(lost_owner),
                            ..t.clone()
                        };
                        append_history(
                            conn,
                            &wf,
                            &[lost_attempt_entry(req.now_ms, &lost, &req.owner)],
                        )?;
                        out.push(t);
                    }
                    Err(StoreError::Corrupt(reason)) => {
                        answer_unreadable_task(conn, (rid, &wf), seq, &reason, req.now_ms)?
                    }
                    Err(e) => return Err(e),
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
        let owner = owner.to_string();
        self.write(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "UPDATE tasks SET lease_until = ?4, heartbeat = COALESCE(?5, heartbeat) \
                     WHERE rid = (SELECT rid FROM workflows WHERE id = ?1) AND seq = ?2 \
                         AND lease_owner = ?3 AND scheduled_version = ?6",
                )
                .db()?;
            let mut lost = Vec::new();
            for t in tasks {
                let n = stmt
                    .execute(params![
                        t.workflow_id,
                        int(t.seq),
                        owner,
                        int(lease_until_ms),
                        t.heartbeat_details,
                        int(t.scheduled_version)
                    ])
                    .db()?;
                if n == 0 {
                    lost.push((t.workflow_id, t.seq));
                }
            }
            Ok(lost)
        })
    }

    fn release_leases<'a>(
        &'a self,
        owner: &'a str,
        why: Release,
        now_ms: u64,
    ) -> StoreFuture<'a, u64> {
        let owner = owner.to_string();
        self.write(move |conn| release(conn, &owner, None, why, now_ms))
    }

    fn release_tasks<'a>(
        &'a self,
        owner: &'a str,
        tasks: Vec<LeaseRenewal>,
        why: Release,
        now_ms: u64,
    ) -> StoreFuture<'a, u64> {
        let owner = owner.to_string();
        self.write(move |conn| release(conn, &owner, Some(&tasks), why, now_ms))
    }

    fn next_task_due<'a>(&'a self, names: &'a [String]) -> StoreFuture<'a, Option<u64>> {
        let names = json_names(names);
        self.read(move |conn| {
            let due: Option<i64> = conn
                .prepare_cached(NEXT_TASK_DUE)
                .db()?
                .query_row([names], |r| r.get(0))
                .optional()
                .db()?;
            Ok(due.map(uint))
        })
    }

    fn fire_timers(&self, now_ms: u64, limit: usize) -> StoreFuture<'_, Vec<String>> {
        self.write(move |conn| {
            let due: Vec<(i64, Option<String>, i64, i64)> = conn
                .prepare_cached(
                    "SELECT rid, (SELECT w.id FROM workflows w WHERE w.rid = timers.rid), seq, \
                         fire_at FROM timers WHERE fire_at <= ?1 ORDER BY fire_at LIMIT ?2",
                )
                .db()?
                .query_map(params![int(now_ms), limit as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .db()?
                .collect::<Result<_, _>>()
                .db()?;
            let mut woken: Vec<String> = Vec::new();
            // Each run once, in the order of its first timer (a set: a batch holds up to
            // hundreds of runs, and a search of the list for each was quadratic).
            let mut seen = foldhash::HashSet::default();
            for (rid, wf, seq, at) in due {
                conn.prepare_cached("DELETE FROM timers WHERE rid = ?1 AND seq = ?2")
                    .db()?
                    .execute(params![rid, seq])
                    .db()?;
                // A timer of no run (none is left so; a damaged file) goes, and wakes nobody.
                let Some(wf) = wf else { continue };
                insert_event(
                    conn,
                    rid,
                    uint(at),
                    EventKind::TimerFired { seq: uint(seq) },
                )?;
                if seen.insert(rid) {
                    woken.push(wf);
                }
            }
            Ok(woken)
        })
    }

    fn due_timers(
        &self,
        now_ms: u64,
        after: Option<TimerKey>,
        limit: usize,
    ) -> Option<StoreFuture<'_, Vec<DueTimer>>> {
        // On a reader: the writer is the one thread every step goes through, and this read
        // (timers joined with their runs' rows) took a sixth of its time while timers fired
        // at full speed. A reader's page cache is dropped at every commit, so it reads the
        // pages again (from the OS's cache): slower for the read, faster for the whole.
        Some(self.read(move |conn| {
            // After a key made by hand (no run key), the run's key is found by its id; a
            // run gone since starts the key's fire time again.
            let (at, rid, wf, seq) = match &after {
                Some(k) => (
                    int(k.fire_at_ms),
                    k.run_key.map(int),
                    k.workflow_id.as_str(),
                    int(k.seq),
                ),
                None => (-1, Some(-1), "", -1),
            };
            let mut stmt = conn.prepare_cached(&due_timers_sql()).db()?;
            let mut rows = stmt
                .query(params![int(now_ms), at, rid, wf, seq, limit as i64])
                .db()?;
            let mut due = Vec::new();
            while let Some(row) = rows.next().db()? {
                // (Joined, the timers first (`CROSS JOIN` keeps SQLite's planner to that
                // order): a timer of no run, which is never left, since a run's rows go with it
                // and an upgrade copies only rows of runs, does not count against the limit,
                // where no one could step for it.)
                let Some(workflow_id) = row.get::<_, Option<String>>(0).db()? else {
                    continue;
                };
                let run_key = Some(uint(row.get(15).db()?));
                let seq = uint(row.get(16).db()?);
                let fire_at_ms = uint(row.get(17).db()?);
                // A row that does not read back is fired the old way (its event is where a
                // step that can read it finds it); so is a parked run's timer.
                let workflow = match row.get::<_, Option<String>>(0) {
                    Ok(Some(_)) => raw_workflow(row)
                        .ok()
                        .and_then(|raw| finish_workflow(raw).ok())
                        .filter(|r| r.status == WorkflowStatus::Running),
                    _ => None,
                };
                due.push(DueTimer {
                    workflow_id,
                    run_key,
                    seq,
                    fire_at_ms,
                    workflow,
                });
            }
            Ok(due)
        }))
    }

    fn fire_timers_of<'a>(&'a self, id: &'a str, seqs: &'a [u64]) -> StoreFuture<'a, usize> {
        let id = id.to_string();
        let seqs = seqs.to_vec();
        self.write(move |conn| {
            let rid = match run_of(conn, &id) {
                Ok((rid, _)) => rid,
                // No run, no timer of its.
                Err(StoreError::NotFound(_)) => return Ok(0),
                Err(e) => return Err(e),
            };
            let mut fired = 0;
            for seq in seqs {
                let at: Option<i64> = conn
                    .prepare_cached(
                        "DELETE FROM timers WHERE rid = ?1 AND seq = ?2 RETURNING fire_at",
                    )
                    .db()?
                    .query_row(params![rid, int(seq)], |r| r.get(0))
                    .optional()
                    .db()?;
                if let Some(at) = at {
                    insert_event(conn, rid, uint(at), EventKind::TimerFired { seq })?;
                    fired += 1;
                }
            }
            Ok(fired)
        })
    }

    fn next_timer_due(&self) -> StoreFuture<'_, Option<u64>> {
        self.read(|conn| {
            let at: Option<i64> = conn
                .prepare_cached("SELECT fire_at FROM timers ORDER BY fire_at LIMIT 1")
                .db()?
                .query_row([], |r| r.get(0))
                .optional()
                .db()?;
            Ok(at.map(uint))
        })
    }

    fn ready_workflows<'a>(
        &'a self,
        names: &'a [String],
        limit: usize,
    ) -> StoreFuture<'a, Vec<String>> {
        let names = json_names(names);
        self.read(move |conn| {
            conn.prepare_cached(READY_RUNS)
                .db()?
                .query_map(params![names, limit as i64], |r| r.get(0))
                .db()?
                .collect::<Result<_, _>>()
                .db()
        })
    }

    fn clear_ready<'a>(
        &'a self,
        id: &'a str,
        version: u64,
        seen_events_upto: u64,
    ) -> StoreFuture<'a, bool> {
        let id = id.to_string();
        self.write(move |conn| {
            let current: Option<(i64, i64)> = conn
                .prepare_cached("SELECT rid, version FROM workflows WHERE id = ?1")
                .db()?
                .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .db()?;
            let rid = match current {
                None => return Err(StoreError::NotFound(id)),
                Some((_, v)) if uint(v) != version => return Ok(false),
                Some((rid, _)) => rid,
            };
            conn.prepare_cached(
                "UPDATE workflows SET ready = 0 WHERE rid = ?1 \
                 AND NOT EXISTS (SELECT 1 FROM events WHERE rid = ?1 AND id > ?2)",
            )
            .db()?
            .execute(params![rid, int(seen_events_upto)])
            .db()?;
            Ok(true)
        })
    }

    fn list_workflows(
        &self,
        status: Option<WorkflowStatus>,
    ) -> StoreFuture<'_, Vec<WorkflowSummary>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, name, status, park_reason, created_at, updated_at FROM workflows \
                     WHERE ?1 IS NULL OR status = ?1 ORDER BY id",
                )
                .db()?;
            let rows = summary_rows(stmt.query([status.map(|s| s.code())]).db()?)?;
            Ok(rows.into_iter().filter_map(|(_, s)| s).collect())
        })
    }

    fn list_runs(&self, query: RunQuery) -> StoreFuture<'_, RunPage> {
        self.read(move |conn| {
            let size = query.page_size();
            let (clause, mut values) = run_filter(&query);
            values.push(rusqlite::types::Value::Integer(size as i64 + 1));
            let sql = format!(
                "SELECT id, name, status, park_reason, created_at, updated_at FROM workflows \
                 WHERE {clause} ORDER BY id LIMIT ?{}",
                values.len()
            );
            // Not cached: a statement per combination of filters, each rarely run.
            let mut stmt = conn.prepare(&sql).db()?;
            let mut rows = summary_rows(stmt.query(rusqlite::params_from_iter(values)).db()?)?;
            // One row more than the page tells whether another page follows (a damaged row
            // counts: the pages go by id).
            let next = if rows.len() > size {
                rows.truncate(size);
                rows.last().map(|r| r.0.clone())
            } else {
                None
            };
            let runs = rows.into_iter().filter_map(|(_, s)| s).collect();
            Ok(RunPage { runs, next })
        })
    }

    fn count_runs(&self) -> StoreFuture<'_, Vec<(WorkflowStatus, u64)>> {
        self.read(|conn| {
            let rows: Vec<(i64, i64)> = conn
                .prepare("SELECT status, count(*) FROM workflows GROUP BY status")
                .db()?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .db()?
                .collect::<Result<_, _>>()
                .db()?;
            let mut counts = WorkflowStatus::ALL.map(|s| (s, 0u64));
            for (code, n) in rows {
                match counts.iter_mut().find(|(s, _)| s.code() == code) {
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
        self.write(move |conn| {
            // Through the status index, the first found: `updated_at` has no index (it changes
            // at every step, and an index on it would cost every step), so the oldest could
            // only be found by reading every finished run.
            let limit = limit.min(i64::MAX as usize) as i64;
            let runs: Vec<(String, i64)> = conn
                .prepare(
                    "SELECT id, version FROM workflows WHERE status IN (?1, ?2, ?3) \
                     AND updated_at < ?4 LIMIT ?5",
                )
                .db()?
                .query_map(
                    params![
                        WorkflowStatus::Completed.code(),
                        WorkflowStatus::Failed.code(),
                        WorkflowStatus::Cancelled.code(),
                        int(finished_before_ms),
                        limit,
                    ],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .db()?
                .collect::<Result<_, _>>()
                .db()?;
            let mut ids: Vec<String> = runs.iter().map(|(id, _)| id.clone()).collect();
            delete_runs(conn, &ids)?;
            // The tombstones of runs that finished before the cutoff (see
            // `Store::purge_finished`), through their index, up to the limit.
            let dropped: Vec<i64> = conn
                .prepare(
                    "DELETE FROM tombstones WHERE id IN \
                         (SELECT id FROM tombstones WHERE finished_at < ?1 LIMIT ?2) \
                     RETURNING version",
                )
                .db()?
                .query_map(params![int(finished_before_ms), limit], |r| r.get(0))
                .db()?
                .collect::<Result<_, _>>()
                .db()?;
            let last = runs.iter().map(|(_, v)| *v).chain(dropped).max();
            if let Some(last) = last {
                raise_floor(conn, last)?;
            }
            ids.sort_unstable();
            Ok(ids)
        })
    }

    fn history<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<HistoryEntry>> {
        let id = id.to_string();
        self.read(move |conn| {
            history_readable(conn, &id)?;
            let rows: Vec<(i64, String, String)> = conn
                .prepare_cached(HISTORY_OF_RUN)
                .db()?
                .query_map([&id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .db()?
                .collect::<Result<_, _>>()
                .db()?;
            rows.into_iter()
                .map(|(at, kind, detail)| history_entry(at, &kind, detail))
                .collect()
        })
    }

    fn history_tail<'a>(
        &'a self,
        id: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, (Vec<HistoryEntry>, u64)> {
        let id = id.to_string();
        self.read(move |conn| {
            history_readable(conn, &id)?;
            // At least one row, for the count.
            let fetch = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
            let rows: Vec<(i64, String, String, i64)> = conn
                .prepare_cached(HISTORY_TAIL_OF_RUN)
                .db()?
                .query_map(params![id, fetch], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .db()?
                .collect::<Result<_, _>>()
                .db()?;
            let total = rows.first().map_or(0, |r| uint(r.3));
            let entries = rows
                .into_iter()
                .take(limit)
                .rev()
                .map(|(at, kind, detail, _)| history_entry(at, &kind, detail))
                .collect::<Result<_, StoreError>>()?;
            Ok((entries, total))
        })
    }

    fn create_schedule(&self, schedule: ScheduleRecord) -> StoreFuture<'_, ()> {
        self.write(move |conn| schedules::create(conn, &schedule))
    }

    fn load_schedule<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ScheduleRecord> {
        let name = name.to_string();
        self.read(move |conn| {
            schedules::load(conn, &name)?.ok_or(StoreError::ScheduleNotFound(name))
        })
    }

    fn list_schedules(&self) -> StoreFuture<'_, Vec<ScheduleRecord>> {
        self.read(schedules::list)
    }

    fn update_schedule(&self, schedule: ScheduleRecord) -> StoreFuture<'_, u64> {
        self.write(move |conn| schedules::update(conn, &schedule))
    }

    fn delete_schedule<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ()> {
        let name = name.to_string();
        self.write(move |conn| schedules::delete(conn, &name))
    }

    fn due_schedules<'a>(
        &'a self,
        workflows: &'a [String],
        now_ms: u64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<ScheduleRecord>> {
        let names = json_names(workflows);
        self.read(move |conn| schedules::due(conn, &names, now_ms, limit))
    }

    fn next_schedule_due<'a>(&'a self, workflows: &'a [String]) -> StoreFuture<'a, Option<u64>> {
        let names = json_names(workflows);
        self.read(move |conn| schedules::next_due(conn, &names))
    }
}
