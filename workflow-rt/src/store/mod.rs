//! Where workflows live between steps.
//!
//! The runtime talks to a [`Store`] and never looks past the trait: [`MemoryStore`] for tests,
//! [`SqliteStore`] for one machine, [`PostgresStore`] for worker processes on many. Every implementation passes the same conformance suite
//! ([`conformance::run`]).
//!
//! The model:
//! - a **workflow** row: name, status, input, the snapshot envelope (see
//!   [`crate::machine::Snapshot`]), a version bumped by every commit, the current wait (an
//!   encoded [`crate::machine::Pending`]), the output once finished, the park reason, and a
//!   *ready* flag (an event arrived that the workflow has not seen yet);
//! - **activity tasks**, keyed by (workflow id, seq): what to run, which attempt, when it may
//!   run, who holds its lease, the last heartbeat details;
//! - **timers**, keyed by (workflow id, seq), with their fire time;
//! - an **inbox** of events per workflow: activity results, fired timers and signals, in
//!   arrival order. An event stays in the inbox until a step consumes it;
//! - an audit **history**: what happened and when, for people (never read to resume);
//! - **schedules** ([`ScheduleRecord`]), each a row changed by compare-and-set on its version.
//!
//! A step is committed by [`Store::commit_step`], one atomic operation conditional on the
//! version the step started from.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::activity::{ActivityError, ActivityOptions};
use crate::child::ChildError;

#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod rows;
pub(crate) mod schedules;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::{
    PostgresError, PostgresStore, PostgresStoreBuilder, PostgresTls, SCHEMA_VERSION,
};
pub use schedules::ScheduleRecord;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::{SqliteSettings, SqliteStore, SqliteStoreBuilder, Synchronous};

/// What every [`Store`] method returns: a boxed, sendable future, so that the trait is
/// dyn-compatible and the runtime can hold an `Arc<dyn Store>`.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// A compare-and-set failed: the workflow's version is not the one the step started from
    /// (another worker advanced it). Reload and try again.
    #[error("workflow {workflow_id} was changed concurrently (expected version {expected})")]
    Conflict {
        /// The workflow.
        workflow_id: String,
        /// The version the commit expected.
        expected: u64,
    },
    /// No workflow with this id.
    #[error("no workflow with id {0:?}")]
    NotFound(String),
    /// A workflow with this id exists already; here it is.
    #[error("a workflow with id {:?} exists already", .0.id)]
    AlreadyExists(Box<WorkflowRecord>),
    /// The workflow has finished and accepts nothing more.
    #[error("workflow {workflow_id} has finished ({status})")]
    Finished {
        /// The workflow.
        workflow_id: String,
        /// How it finished.
        status: WorkflowStatus,
    },
    /// The workflow has not finished (it is running or parked): [`Store::purge`] deletes only
    /// finished runs, and left it as it was. Cancel it ([`crate::Runtime::cancel`]) first, or
    /// wait for it to finish.
    #[error(
        "workflow {workflow_id} is {status}, not finished: only a completed, failed or cancelled run can be purged"
    )]
    NotFinished {
        /// The workflow.
        workflow_id: String,
        /// Where it stands.
        status: WorkflowStatus,
    },
    /// The backend failed (I/O, lock timeout, closed store...); the backend's own error is its
    /// [`source`](std::error::Error::source).
    ///
    /// A write that fails so may still have taken effect: a commit whose sync failed can be
    /// found whole in the log when the database is opened again, and a connection lost
    /// during a commit leaves its outcome unknown. Look at the store again before doing it
    /// again where doing it twice matters (a signal, say); a step's commit is safe to retry,
    /// as its compare-and-set refuses a second one.
    #[error("store backend error: {0}")]
    Backend(#[source] BackendError),
    /// The database holds this store's data in a newer schema than this program knows (a
    /// newer version of the program wrote it): upgrade the program.
    #[error(
        "{location}: the store's schema is version {found}, newer than this program's {supported}: upgrade the program"
    )]
    NewerSchema {
        /// The file (or database) opened.
        location: String,
        /// The schema version found.
        found: u32,
        /// The newest schema version this program knows.
        supported: u32,
    },
    /// The database is not a workflow store: another application's file, which the store
    /// leaves untouched.
    #[error("{location} is not a workflow store: {reason}")]
    Foreign {
        /// The file (or database) opened.
        location: String,
        /// What gave it away.
        reason: String,
    },
    /// A stored row could not be read back: the data is damaged or from an unknown format.
    #[error("corrupt store data: {0}")]
    Corrupt(String),
    /// A step consumed the result of an activity attempt whose lease this worker no longer
    /// holds (it expired and another worker started a later attempt, or the call was answered
    /// meanwhile): the result is refused, nothing of the step is committed. Reload: the
    /// attempt that holds the lease answers the call.
    #[error("workflow {workflow_id}: attempt {attempt} of activity call {seq} lost its lease")]
    LeaseLost {
        /// The workflow.
        workflow_id: String,
        /// The call's sequence number.
        seq: u64,
        /// The attempt whose result was refused.
        attempt: u32,
    },
    /// [`Store::create_schedule`]: a schedule has this name already (nothing was changed).
    #[error("a schedule named {0:?} exists already")]
    ScheduleExists(String),
    /// No schedule has this name.
    #[error("no schedule named {0:?}")]
    ScheduleNotFound(String),
    /// [`Store::update_schedule`]: the schedule's version is not the one the change started
    /// from (another worker or a client changed it). Reload and decide again.
    #[error("schedule {name} was changed concurrently (expected version {expected})")]
    ScheduleConflict {
        /// The schedule.
        name: String,
        /// The version the change expected.
        expected: u64,
    },
}

impl StoreError {
    /// A backend failure described by `message` alone.
    pub fn backend(message: impl Into<String>) -> Self {
        StoreError::Backend(BackendError {
            message: message.into(),
            source: None,
        })
    }

    /// A backend failure: `message` says what the store was doing, `source` is the backend's
    /// error (kept, not flattened into text, so callers can look at it).
    pub fn backend_with(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Backend(BackendError {
            message: message.into(),
            source: Some(Arc::new(source)),
        })
    }
}

/// What a store backend reported: a message, and the backend's error when there is one.
#[derive(Debug, Clone)]
pub struct BackendError {
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl BackendError {
    /// What the store was doing when the backend failed, and how.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// Two backend errors are equal when they say the same (the sources are compared by text).
impl PartialEq for BackendError {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

/// Where a workflow stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WorkflowStatus {
    /// Waiting for, or running, its next step.
    Running,
    /// Returned an output.
    Completed,
    /// Returned an `Err(..)` output.
    Failed,
    /// Stopped because a step could not run (snapshot from other code, undecodable data, a
    /// panic). Needs a person: see its park reason.
    Parked,
    /// Cancelled with [`crate::Runtime::cancel`].
    Cancelled,
}

impl WorkflowStatus {
    /// Every status, in the order of their [codes](Self::code): the order of
    /// [`Store::count_runs`].
    pub const ALL: [WorkflowStatus; 5] = [
        WorkflowStatus::Running,
        WorkflowStatus::Completed,
        WorkflowStatus::Failed,
        WorkflowStatus::Parked,
        WorkflowStatus::Cancelled,
    ];

    /// Whether the workflow will never step again.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            WorkflowStatus::Completed | WorkflowStatus::Failed | WorkflowStatus::Cancelled
        )
    }

    /// The status's name, as [`Display`](std::fmt::Display) writes it and
    /// [`FromStr`](std::str::FromStr) reads it: `running`, `completed`, `failed`, `parked`,
    /// `cancelled`.
    pub const fn as_str(self) -> &'static str {
        match self {
            WorkflowStatus::Running => "running",
            WorkflowStatus::Completed => "completed",
            WorkflowStatus::Failed => "failed",
            WorkflowStatus::Parked => "parked",
            WorkflowStatus::Cancelled => "cancelled",
        }
    }

    /// The status as stored: a small integer.
    pub fn code(self) -> i64 {
        match self {
            WorkflowStatus::Running => 0,
            WorkflowStatus::Completed => 1,
            WorkflowStatus::Failed => 2,
            WorkflowStatus::Parked => 3,
            WorkflowStatus::Cancelled => 4,
        }
    }

    /// The inverse of [`Self::code`].
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => WorkflowStatus::Running,
            1 => WorkflowStatus::Completed,
            2 => WorkflowStatus::Failed,
            3 => WorkflowStatus::Parked,
            4 => WorkflowStatus::Cancelled,
            _ => return None,
        })
    }
}

impl std::fmt::Display for WorkflowStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is not one of [`WorkflowStatus`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}: expected running, completed, failed, parked or cancelled")]
pub struct UnknownStatus(pub String);

/// Parses the names [`WorkflowStatus`] displays as (`running`, `parked`...), in any case.
impl std::str::FromStr for WorkflowStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, UnknownStatus> {
        WorkflowStatus::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

/// A workflow as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowRecord {
    /// The workflow's id, unique in the store.
    pub id: String,
    /// The workflow's registered name ([`crate::Workflow::NAME`]).
    pub name: String,
    /// Where it stands.
    pub status: WorkflowStatus,
    /// The encoded input it was started with.
    pub input: Vec<u8>,
    /// The snapshot envelope of the last committed step.
    pub snapshot: Vec<u8>,
    /// Bumped by every commit; the compare-and-set token. Versions of one id never repeat
    /// across runs: a run created under the id of a purged run starts past every version that
    /// run reached (see [`Store::create_workflow`]), so a commit prepared from a state of the
    /// purged run cannot pass for one of the new run.
    pub version: u64,
    /// The current wait, an encoded [`crate::machine::Pending`]; `None` before the first step and
    /// after the last.
    pub pending: Option<Vec<u8>>,
    /// The encoded output, once finished.
    pub output: Option<Vec<u8>>,
    /// Why it is parked.
    pub park_reason: Option<String>,
    /// When it was created, in milliseconds since the Unix epoch (the runtime's clock).
    pub created_at_ms: u64,
    /// When it last changed, in milliseconds since the Unix epoch.
    pub updated_at_ms: u64,
    /// An event arrived that no step has seen yet.
    pub ready: bool,
    /// The run that started this one as its child, and the call that waits for it: when this
    /// run finishes, the runtime tells that call (see [`EventKind::ChildFinished`]). `None`
    /// once the parent is purged ([`Store::purge`]): a run created under the parent's id
    /// later is not this run's parent.
    pub parent: Option<ParentLink>,
    /// The store's own key of the run, where it has one (SQLite's integer key of the run):
    /// handed back with the run's steps ([`StepCommit::run_key`]), so that the store finds the
    /// run's rows without a search by id. `None` where the store has none.
    pub run_key: Option<u64>,
}

/// A child run's link to the call of its parent that waits for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ParentLink {
    /// The parent run's id.
    pub id: String,
    /// The sequence number of the parent's call that started the child.
    pub seq: u64,
}

/// A line of [`Store::list_workflows`] and of a [`RunPage`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowSummary {
    /// The workflow's id.
    pub id: String,
    /// Its registered name ([`crate::Workflow::NAME`]).
    pub name: String,
    /// Where it stands.
    pub status: WorkflowStatus,
    /// Why it is parked, if it is.
    pub park_reason: Option<String>,
    /// When it was created, in milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// When it last changed, in milliseconds since the Unix epoch.
    pub updated_at_ms: u64,
}

/// What [`Store::list_runs`] looks for: the runs that pass every filter set (`None` filters
/// nothing), by id, one page at a time.
///
/// Times are milliseconds since the Unix epoch, as stored: a `_from_ms` bound is inclusive, a
/// `_before_ms` bound exclusive. `after` is the cursor: the `next` of the previous
/// [`RunPage`] (only ids greater than it are listed).
///
/// ```
/// use workflow_rt::store::RunQuery;
/// use workflow_rt::WorkflowStatus;
///
/// // The failed runs of `checkout` created in the first hour of 2025, 50 a page.
/// let query = RunQuery::new()
///     .status(WorkflowStatus::Failed)
///     .name("checkout")
///     .created_from(1_735_689_600_000)
///     .created_before(1_735_693_200_000)
///     .limit(50);
/// assert_eq!(query.page_size(), 50);
/// assert_eq!(RunQuery::new().page_size(), RunQuery::DEFAULT_LIMIT);
/// assert_eq!(RunQuery::new().limit(5000).page_size(), RunQuery::MAX_LIMIT);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunQuery {
    /// Only runs with this status.
    pub status: Option<WorkflowStatus>,
    /// Only runs of this workflow (its registered name, [`crate::Workflow::NAME`], matched
    /// exactly).
    pub name: Option<String>,
    /// Only runs whose id starts with this (taken literally: no character is a wildcard).
    pub id_prefix: Option<String>,
    /// Only runs created at or after this time.
    pub created_from_ms: Option<u64>,
    /// Only runs created before this time.
    pub created_before_ms: Option<u64>,
    /// Only runs last changed at or after this time.
    pub updated_from_ms: Option<u64>,
    /// Only runs last changed before this time.
    pub updated_before_ms: Option<u64>,
    /// The cursor: only runs whose id is greater than this ([`RunPage::next`] of the page
    /// before).
    pub after: Option<String>,
    /// The most runs in the page: 0 means [`RunQuery::DEFAULT_LIMIT`], and more than
    /// [`RunQuery::MAX_LIMIT`] means that many.
    pub limit: usize,
}

impl RunQuery {
    /// The page size when [`RunQuery::limit`] is 0.
    pub const DEFAULT_LIMIT: usize = 100;
    /// The largest page.
    pub const MAX_LIMIT: usize = 1000;

    /// Every run, in pages of [`RunQuery::DEFAULT_LIMIT`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Only runs with this status.
    pub fn status(mut self, status: WorkflowStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Only runs of this workflow.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Only runs whose id starts with `prefix` (literally).
    pub fn id_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.id_prefix = Some(prefix.into());
        self
    }

    /// Only runs created at or after `ms`.
    pub fn created_from(mut self, ms: u64) -> Self {
        self.created_from_ms = Some(ms);
        self
    }

    /// Only runs created before `ms`.
    pub fn created_before(mut self, ms: u64) -> Self {
        self.created_before_ms = Some(ms);
        self
    }

    /// Only runs last changed at or after `ms`.
    pub fn updated_from(mut self, ms: u64) -> Self {
        self.updated_from_ms = Some(ms);
        self
    }

    /// Only runs last changed before `ms`.
    pub fn updated_before(mut self, ms: u64) -> Self {
        self.updated_before_ms = Some(ms);
        self
    }

    /// The page after the one whose [`RunPage::next`] is `cursor`.
    pub fn after(mut self, cursor: impl Into<String>) -> Self {
        self.after = Some(cursor.into());
        self
    }

    /// At most `n` runs a page (see [`RunQuery::limit`](#structfield.limit)).
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = n;
        self
    }

    /// How many runs a page holds at most: [`RunQuery::limit`](#structfield.limit), 0 read as
    /// [`RunQuery::DEFAULT_LIMIT`], capped at [`RunQuery::MAX_LIMIT`].
    pub fn page_size(&self) -> usize {
        match self.limit {
            0 => Self::DEFAULT_LIMIT,
            n => n.min(Self::MAX_LIMIT),
        }
    }

    /// Whether `run` passes every filter of the query, the cursor included (the limit aside):
    /// what a store returns, for a store that filters in memory.
    pub fn matches(&self, run: &WorkflowSummary) -> bool {
        self.admits(
            &run.id,
            &run.name,
            run.status,
            run.created_at_ms,
            run.updated_at_ms,
        )
    }

    /// [`Self::matches`] on the fields it looks at.
    pub(crate) fn admits(
        &self,
        id: &str,
        name: &str,
        status: WorkflowStatus,
        created_at_ms: u64,
        updated_at_ms: u64,
    ) -> bool {
        self.status.is_none_or(|s| s == status)
            && self.name.as_deref().is_none_or(|n| n == name)
            && self.id_prefix.as_deref().is_none_or(|p| id.starts_with(p))
            && self.after.as_deref().is_none_or(|a| id > a)
            && self.created_from_ms.is_none_or(|t| created_at_ms >= t)
            && self.created_before_ms.is_none_or(|t| created_at_ms < t)
            && self.updated_from_ms.is_none_or(|t| updated_at_ms >= t)
            && self.updated_before_ms.is_none_or(|t| updated_at_ms < t)
    }
}

/// The least string greater than every string that starts with `prefix`, in byte (and so code
/// point) order; `None` if there is none (an empty prefix, or one of `char::MAX` alone): the
/// exclusive upper bound of a range scan for the prefix, `id >= prefix AND id < successor`.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // The next code point, past the surrogates (no `char` is one).
        let next = match u32::from(last) {
            0xD7FF => Some('\u{E000}'),
            c => c.checked_add(1).and_then(char::from_u32),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// A page of [`Store::list_runs`].
///
/// Walking every page:
///
/// ```
/// use workflow_rt::store::{RunQuery, Store, StoreError};
/// use workflow_rt::WorkflowStatus;
///
/// async fn parked(store: &dyn Store) -> Result<Vec<String>, StoreError> {
///     let mut query = RunQuery::new().status(WorkflowStatus::Parked);
///     let mut ids = Vec::new();
///     loop {
///         let page = store.list_runs(query.clone()).await?;
///         ids.extend(page.runs.into_iter().map(|run| run.id));
///         match page.next {
///             Some(cursor) => query.after = Some(cursor),
///             None => return Ok(ids),
///         }
///     }
/// }
/// # let store = workflow_rt::MemoryStore::new();
/// # let ids = tokio::runtime::Runtime::new().unwrap().block_on(parked(&store)).unwrap();
/// # assert!(ids.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunPage {
    /// The runs, by id.
    pub runs: Vec<WorkflowSummary>,
    /// The cursor of the next page, to pass as [`RunQuery::after`](RunQuery#structfield.after)
    /// with the same filters; `None` when no run is left past this page.
    pub next: Option<String>,
}

/// What a new workflow is created with (status running, ready; its first version is the
/// store's to choose, see [`Store::create_workflow`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NewWorkflow {
    /// The new workflow's id.
    pub id: String,
    /// Its registered name ([`crate::Workflow::NAME`]).
    pub name: String,
    /// Its encoded input.
    pub input: Vec<u8>,
    /// The snapshot of the state before the first step.
    pub snapshot: Vec<u8>,
    /// When it is created, in milliseconds since the Unix epoch.
    pub now_ms: u64,
    /// The history's first entry (`Started`).
    pub history: HistoryEntry,
    /// The parent run and call, for a run started as a child ([`WorkflowRecord::parent`]).
    pub parent: Option<ParentLink>,
    /// For a child: the parent's version that the step starting it was computed from (that
    /// step's [`StepCommit::expected_version`]). The create is refused with
    /// [`StoreError::Conflict`] (naming the parent, and nothing is written) unless the parent
    /// exists at that version: a step of a run stopped and purged meanwhile, or of an earlier
    /// run under the parent's id, starts no child, since its commit would fail too and the
    /// child would be left linked to a run that is not its parent. `None`: no check.
    pub parent_version: Option<u64>,
    /// Signals the run holds from its creation, in order (a signal-with-start:
    /// [`crate::Client::signal_with_start`]). Each is stored as [`Store::append_signal`]
    /// stores one, at [`NewWorkflow::now_ms`]: an event in the run's inbox, after which a
    /// history entry ([`received_signal_entry`]) follows the `Started` one; in the operation
    /// that creates the run, so that a run is never created without them, nor they stored
    /// for a run that was there already.
    pub signals: Vec<NewSignal>,
    /// Timers the run holds from its creation (the end of its execution timeout:
    /// [`crate::StartOptions::timeout`]), stored as a step's [`StepOutcome::Suspended`]
    /// timers are, in the operation that creates the run.
    pub timers: Vec<TimerRow>,
}

/// A signal stored with the run that it is sent to ([`NewWorkflow::signals`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSignal {
    /// The signal's name.
    pub name: String,
    /// Its encoded payload.
    pub payload: Vec<u8>,
    /// The tag of its payload's type (see [`EventKind::Signal`]).
    pub type_tag: Option<u64>,
}

impl NewSignal {
    /// The signal as an event's kind.
    pub fn event(&self) -> EventKind {
        EventKind::Signal {
            name: self.name.clone(),
            payload: self.payload.clone(),
            type_tag: self.type_tag,
        }
    }
}

/// Something that happened to a workflow and that a step may consume.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Increases with every event the store accepts (never reused).
    pub id: u64,
    /// When it happened, on the runtime's clock: the step it wakes sees this as `ctx.now()`.
    pub at_ms: u64,
    /// What happened.
    pub kind: EventKind,
}

/// The kinds of [`Event`].
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// The final result of activity call `seq`: its encoded `Ok` value or its last error.
    ActivityCompleted {
        /// The call's sequence number.
        seq: u64,
        /// Its encoded `Ok` value, or its last error.
        result: Result<Vec<u8>, ActivityError>,
    },
    /// Timer `seq` fired.
    TimerFired {
        /// The timer's sequence number.
        seq: u64,
    },
    /// A signal, waiting for a wait on its name.
    Signal {
        /// The signal's name.
        name: String,
        /// Its encoded payload.
        payload: Vec<u8>,
        /// The tag of the type the payload was encoded from ([`crate::machine::type_tag`]),
        /// checked against the type the wait expects before the payload is decoded; `None`
        /// for a signal sent without one (an older version, a tool that sends raw bytes).
        type_tag: Option<u64>,
    },
    /// Child run of call `seq` ended: its encoded output (the run completed or failed), or
    /// why there is none.
    ChildFinished {
        /// The sequence number of the parent's call.
        seq: u64,
        /// The child's encoded output, or why the call has none.
        result: Result<Vec<u8>, ChildError>,
    },
    /// Someone asked the run to stop: its code is told (the await in progress is
    /// interrupted, [`crate::WorkflowCtx::is_cancelled`] turns true) and has `grace_ms` to
    /// finish before the run is stopped outright; a `grace_ms` of 0 stops it at once.
    CancelRequested {
        /// Why, for the history.
        reason: String,
        /// How long the code may go on after it is told, in milliseconds.
        grace_ms: u64,
    },
}

/// An activity call to run, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityTask {
    /// The workflow that made the call.
    pub workflow_id: String,
    /// The call's sequence number in its workflow.
    pub seq: u64,
    /// The run's version after the step that made the call (its compare-and-set's new
    /// version). With the workflow's id and `seq` it names the call across the runs of one
    /// id: a run created again after a purge starts past the old run's versions, so an
    /// attempt of the old run's call is never taken for the new run's call of the same `seq`.
    /// Checked with the attempt and the owner by every fence ([`TaskAttempt`],
    /// [`RetryActivity`], [`LeaseRenewal`]).
    pub scheduled_version: u64,
    /// The activity's registered name.
    pub name: String,
    /// The encoded input.
    pub input: Vec<u8>,
    /// Retry policy and timeouts.
    pub options: ActivityOptions,
    /// How many attempts have been started (the one running, if leased, included).
    pub attempt: u32,
    /// When the workflow made the call.
    pub scheduled_at_ms: u64,
    /// Not to be started before this (backoff between attempts).
    pub visible_at_ms: u64,
    /// The worker running it, until when.
    pub lease_owner: Option<String>,
    /// When the lease of `lease_owner` expires.
    pub lease_until_ms: Option<u64>,
    /// The details of the last heartbeat, handed to the next attempt.
    pub heartbeat_details: Option<Vec<u8>>,
    /// The schedule-to-close deadline, if the call has one.
    pub deadline_ms: Option<u64>,
}

/// A durable timer, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerRow {
    /// The timer's sequence number in its workflow.
    pub seq: u64,
    /// When it fires, in milliseconds since the Unix epoch.
    pub fire_at_ms: u64,
}

/// A timer that is due, with the run it wakes as stored, as [`Store::due_timers`] reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct DueTimer {
    /// The timer's workflow.
    pub workflow_id: String,
    /// The store's own key of the timer's workflow, where it orders timers by it
    /// ([`TimerKey::run_key`]).
    pub run_key: Option<u64>,
    /// The timer's sequence number in its workflow.
    pub seq: u64,
    /// When it fires, in milliseconds since the Unix epoch.
    pub fire_at_ms: u64,
    /// The workflow, as stored when the timer was read; `None` if it is not running (parked)
    /// or its row does not read back: such a timer is fired the old way
    /// ([`Store::fire_timers_of`]), for whatever steps the workflow next to find.
    pub workflow: Option<WorkflowRecord>,
}

impl DueTimer {
    /// Where a scan that returned this timer goes on from.
    pub fn key(&self) -> TimerKey {
        TimerKey {
            fire_at_ms: self.fire_at_ms,
            run_key: self.run_key,
            workflow_id: self.workflow_id.clone(),
            seq: self.seq,
        }
    }
}

/// The place of a timer in fire order: by fire time, then the store's own key of its workflow
/// where it has one (SQLite's integer key of the run: its timers are indexed by it), then
/// workflow id, then sequence number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimerKey {
    /// When it fires, in milliseconds since the Unix epoch.
    pub fire_at_ms: u64,
    /// The store's own key of its workflow, as [`DueTimer::run_key`] gave it: `None` where the
    /// store has none (it orders by id), or for a key made by hand, with which the store finds
    /// the workflow's key by its id.
    pub run_key: Option<u64>,
    /// Its workflow.
    pub workflow_id: String,
    /// Its sequence number in its workflow.
    pub seq: u64,
}

/// An entry of the audit history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When it happened, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// What kind of thing happened.
    pub kind: HistoryKind,
    /// What happened, for people.
    pub detail: String,
}

/// What a [`HistoryEntry`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HistoryKind {
    /// The workflow was created.
    Started,
    /// A step ran and suspended the workflow at a new wait.
    Step,
    /// A signal arrived.
    Signal,
    /// An activity attempt failed and was scheduled again.
    Retry,
    /// The workflow returned its output.
    Completed,
    /// The workflow returned an `Err` output.
    Failed,
    /// A step could not run: the workflow waits for a person.
    Parked,
    /// A parked workflow was set running again.
    Unparked,
    /// The workflow was cancelled.
    Cancelled,
    /// A signal whose payload does not decode as the type its wait expects was taken out of
    /// the inbox (the entry holds it); the workflow went on waiting.
    DeadLetter,
    /// The run was moved to another version of its workflow (see
    /// [`crate::Builder::migrate`]); the entry names both versions and the states.
    Migrated,
    /// An activity attempt ended without a result: its worker was stopped (the attempt does
    /// not count) or its lease expired and another worker took the call over (it counts).
    AttemptLost,
    /// Someone asked the run to cancel ([`EventKind::CancelRequested`]), or its code was told
    /// (the entry names the awaits it interrupted).
    CancelRequested,
    /// The run was stopped outright: terminated, or its grace period after a cancel request
    /// ran out.
    Terminated,
    /// The run started over under its id ([`crate::WorkflowCtx::continue_as_new`]): the first
    /// entry of its history, which dropped the entries before.
    Continued,
}

impl HistoryKind {
    /// The kind's stable name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryKind::Started => "started",
            HistoryKind::Step => "step",
            HistoryKind::Signal => "signal",
            HistoryKind::Retry => "retry",
            HistoryKind::Completed => "completed",
            HistoryKind::Failed => "failed",
            HistoryKind::Parked => "parked",
            HistoryKind::Unparked => "unparked",
            HistoryKind::Cancelled => "cancelled",
            HistoryKind::DeadLetter => "dead-letter",
            HistoryKind::Migrated => "migrated",
            HistoryKind::AttemptLost => "attempt-lost",
            HistoryKind::CancelRequested => "cancel-requested",
            HistoryKind::Terminated => "terminated",
            HistoryKind::Continued => "continued",
        }
    }

    /// The kind named `s` ([`HistoryKind::as_str`]), if any.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "started" => HistoryKind::Started,
            "step" => HistoryKind::Step,
            "signal" => HistoryKind::Signal,
            "retry" => HistoryKind::Retry,
            "completed" => HistoryKind::Completed,
            "failed" => HistoryKind::Failed,
            "parked" => HistoryKind::Parked,
            "unparked" => HistoryKind::Unparked,
            "cancelled" => HistoryKind::Cancelled,
            "dead-letter" => HistoryKind::DeadLetter,
            "migrated" => HistoryKind::Migrated,
            "attempt-lost" => HistoryKind::AttemptLost,
            "cancel-requested" => HistoryKind::CancelRequested,
            "terminated" => HistoryKind::Terminated,
            "continued" => HistoryKind::Continued,
            _ => return None,
        })
    }
}

impl HistoryEntry {
    /// An entry of `kind` at `at_ms` saying `detail`.
    pub fn new(at_ms: u64, kind: HistoryKind, detail: impl Into<String>) -> Self {
        HistoryEntry {
            at_ms,
            kind,
            detail: detail.into(),
        }
    }
}

/// One step of one workflow, committed atomically by [`Store::commit_step`].
#[derive(Debug, Clone, PartialEq)]
pub struct StepCommit {
    /// The workflow stepped.
    pub workflow_id: String,
    /// The store's own key of the run, as its record gave it ([`WorkflowRecord::run_key`]),
    /// or `None`. A hint: the store checks it against `workflow_id` (a run purged and created
    /// again under the id has another key), and finds the run by its id when it is wrong or
    /// missing.
    pub run_key: Option<u64>,
    /// The version the step started from; the commit fails with [`StoreError::Conflict`] if
    /// the stored one differs. On success the version becomes `expected_version + 1`.
    pub expected_version: u64,
    /// When the step is committed, in milliseconds since the Unix epoch.
    pub now_ms: u64,
    /// Where the step leaves the workflow.
    pub outcome: StepOutcome,
    /// Inbox events the step consumed (deleted).
    pub consumed_events: Vec<u64>,
    /// Activity attempts whose result the step consumed straight from the worker that ran
    /// them: their tasks are deleted. Fenced: if one of them is no longer at that attempt under
    /// that owner, the whole step fails with [`StoreError::LeaseLost`].
    pub completed_tasks: Vec<TaskAttempt>,
    /// Leftover commands of a decided `Select`: their tasks, timers and events are deleted.
    pub cancelled: Vec<u64>,
    /// Timers whose firing the step took straight from [`Store::due_timers`] (never stored as
    /// events): deleted with the step. (The compare-and-set on the version is their fence: a
    /// timer only goes with a step of its workflow.)
    pub fired_timers: Vec<u64>,
    /// The largest event id the step has seen: the workflow stays ready if a newer one exists.
    pub seen_events_upto: u64,
    /// Keep the workflow ready although the step saw every event: its new wait may be
    /// resolved by an event already buffered (a signal), so that, should this worker stop
    /// before it takes the next step, another one does.
    pub keep_ready: bool,
    /// History entries to append.
    pub history: Vec<HistoryEntry>,
    /// Events for other runs (or this one), added in the same atomic operation, after the
    /// step's own changes, at `now_ms`: each goes to a run that is running (which becomes
    /// ready) or parked; one to a finished or unknown run is dropped. An
    /// [`EventKind::ChildFinished`] for another run goes only to this run's parent, for the
    /// call its stored link names ([`WorkflowRecord::parent`]), and is dropped otherwise: a
    /// parent purged and created again under its id (which cleared the link) is another run,
    /// and a child of the old one must not answer the new one's call of the same number.
    /// Likewise a parent's close of a child ([`Delivery::child_call`]) goes only to a run
    /// whose stored link names this run and that call.
    pub deliver: Vec<Delivery>,
    /// Child runs the step starts (a [`StepOutcome::Suspended`] step's; ignored with any
    /// other outcome), created in the same atomic operation, so that a child exists only if
    /// the step that calls it committed: a step whose commit fails starts none (its run
    /// stopped, or another worker stepped it meanwhile, and the step run again may call
    /// another child, or this one with another input). Each is created as
    /// [`Store::create_workflow`] creates a run, its [`NewWorkflow::parent`] naming this run
    /// and the call ([`NewWorkflow::parent_version`] is not looked at: the compare-and-set
    /// stands for it). An id taken already creates nothing: by a run whose link names this
    /// run and call, it is left as it is; by any other, the step's own inbox gets
    /// [`EventKind::ChildFinished`] for the call with [`crate::ChildError::IdInUse`].
    pub children: Vec<NewWorkflow>,
}

/// An event a [`StepCommit`] adds to a run's inbox (see [`StepCommit::deliver`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The run it goes to.
    pub to: String,
    /// The event.
    pub kind: EventKind,
    /// Set on what a parent sends the child of one of its calls (the cancel request of its
    /// [`crate::ParentClose`] policy), to the call's sequence number: it goes to `to` only if
    /// `to`'s stored link ([`WorkflowRecord::parent`]) names the delivering run and this call,
    /// and is dropped otherwise. The id the call names may be another run's: the one that held
    /// it when the call was refused ([`crate::ChildError::IdInUse`]), or one started under it
    /// since the child finished.
    pub child_call: Option<u64>,
}

impl Delivery {
    /// An event for run `to` that is no close of a child ([`Delivery::child_call`] `None`).
    pub fn new(to: impl Into<String>, kind: EventKind) -> Self {
        Delivery {
            to: to.into(),
            kind,
            child_call: None,
        }
    }

    /// Whether run `to`'s stored link `parent` lets this delivery from run `from` through:
    /// any delivery but a parent's close of a child goes; that one only to the child of
    /// `from`'s call it names (see [`Delivery::child_call`]).
    pub(crate) fn reaches(&self, from: &str, parent: Option<&ParentLink>) -> bool {
        match self.child_call {
            None => true,
            Some(seq) => parent.is_some_and(|p| p.id == from && p.seq == seq),
        }
    }

    /// The call's sequence number if this is a child's end for a run other than `from` (the
    /// run whose step delivers it), which goes only to `from`'s parent, for the call its
    /// stored link names (see [`StepCommit::deliver`]); `None` for any other delivery.
    pub(crate) fn child_end_elsewhere(&self, from: &str) -> Option<u64> {
        match self.kind {
            EventKind::ChildFinished { seq, .. } if self.to != from => Some(seq),
            _ => None,
        }
    }
}

/// The history entry a store writes when [`Store::lease_tasks`] takes over the expired lease
/// of `task` (as it was before the lease: its attempt, its owner) for `new_owner`.
pub fn lost_attempt_entry(now_ms: u64, task: &ActivityTask, new_owner: &str) -> HistoryEntry {
    let owner = task.lease_owner.as_deref().unwrap_or("?");
    HistoryEntry::new(
        now_ms,
        HistoryKind::AttemptLost,
        format!(
            "activity {}#{} attempt {} was lost: the lease of worker {owner} expired; attempt {} starts on worker {new_owner}",
            task.name,
            task.seq,
            task.attempt,
            task.attempt.saturating_add(1)
        ),
    )
}

/// Why a worker gives its leases back ([`Store::release_leases`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Release {
    /// The worker stops gracefully and stopped its attempts itself: they do not count against
    /// the calls' maximum attempts.
    Shutdown,
    /// The worker starts again under the id of a process of its that stopped without
    /// releasing (it crashed or was killed): the attempts that process ran were lost, and
    /// count, as when their leases expire.
    Restart,
}

/// The history entry a store writes, in a commit that ends a run ([`StepOutcome::Finished`],
/// [`StepOutcome::Cancelled`]), for a signal left in the run's inbox: sent, and never received
/// by its code (its name, and its payload's size).
pub fn unreceived_signal_entry(now_ms: u64, name: &str, bytes: usize) -> HistoryEntry {
    HistoryEntry::new(
        now_ms,
        HistoryKind::DeadLetter,
        format!(
            "signal \"{name}\" ({bytes} bytes) was never received: the run ended before its code waited for it"
        ),
    )
}

/// The history entry a store writes for a signal it takes for a run
/// ([`Store::append_signal`], [`NewWorkflow::signals`]): its name, and its payload's size.
pub fn received_signal_entry(at_ms: u64, name: &str, bytes: usize) -> HistoryEntry {
    HistoryEntry::new(
        at_ms,
        HistoryKind::Signal,
        format!("signal {name:?} ({bytes} bytes)"),
    )
}

/// The history entry a store writes when [`Store::release_leases`] gives back the lease
/// `owner` held on activity call `name`#`seq` at `attempt`.
pub fn released_attempt_entry(
    now_ms: u64,
    name: &str,
    seq: u64,
    attempt: u32,
    owner: &str,
    why: Release,
) -> HistoryEntry {
    let detail = match why {
        Release::Shutdown => format!(
            "activity {name}#{seq} attempt {attempt} was stopped: worker {owner} shut down; it does not count, and the call runs again"
        ),
        Release::Restart => format!(
            "activity {name}#{seq} attempt {attempt} was lost: worker {owner} stopped without releasing it and started again; the call runs again"
        ),
    };
    HistoryEntry::new(now_ms, HistoryKind::AttemptLost, detail)
}

/// One attempt of one activity call: the fence on its result. A result is accepted only while
/// the call's task is still this call (the same scheduled version), at this attempt, and
/// leased by this owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskAttempt {
    /// The call's sequence number in its workflow.
    pub seq: u64,
    /// The call's [`ActivityTask::scheduled_version`]: which run's call it is.
    pub scheduled_version: u64,
    /// The attempt that produced the result ([`ActivityTask::attempt`] when it was leased).
    pub attempt: u32,
    /// The worker that ran it (the lease's owner).
    pub owner: String,
}

/// The final result of an activity call, for [`Store::complete_activity`].
#[derive(Debug, Clone, PartialEq)]
pub struct CompleteActivity {
    /// The workflow that made the call.
    pub workflow_id: String,
    /// The attempt that produced the result: it is refused unless the task is still at this
    /// attempt under this owner.
    pub attempt: TaskAttempt,
    /// The encoded `Ok` value, or the last error.
    pub result: Result<Vec<u8>, ActivityError>,
    /// When the attempt ended, in milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// How a [`StepCommit`] leaves the workflow.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    /// Suspended at a new wait: the new snapshot, the encoded wait and its new commands.
    Suspended {
        /// The snapshot envelope after the step.
        snapshot: Vec<u8>,
        /// The encoded new wait.
        pending: Vec<u8>,
        /// The activity calls it makes: the step's workflow's (their `workflow_id` is
        /// taken to be the step's).
        tasks: Vec<ActivityTask>,
        /// The timers it starts.
        timers: Vec<TimerRow>,
    },
    /// Finished (status `Completed` or `Failed`): every leftover task, timer and event of the
    /// workflow is dropped.
    Finished {
        /// `Completed` or `Failed`.
        status: WorkflowStatus,
        /// The snapshot envelope after the last step.
        snapshot: Vec<u8>,
        /// The encoded output.
        output: Vec<u8>,
    },
    /// Parked with a reason; the snapshot and the wait are kept as they were.
    Parked {
        /// Why, for people.
        reason: String,
    },
    /// Back to running after a park (see [`crate::Runtime::unpark`]), ready to step.
    Unparked,
    /// Cancelled: like `Finished`, every leftover is dropped.
    Cancelled,
    /// Started over under the same id ([`crate::WorkflowCtx::continue_as_new`]): the run is
    /// running again, ready for the first step of its new state, with no wait (`pending`
    /// `None`) and this input and snapshot. Its history is dropped before the step's entries
    /// are written, so that they are all it has. Its activity tasks, its timers but
    /// [`CONTINUED_TIMERS`] and its events but signals, cancel requests and the firings of
    /// [`CONTINUED_TIMERS`] are dropped (the signals it had not received stay in its inbox, in
    /// their order, for the new run). Its id, parent link and run key stay; its version goes
    /// on as for any commit.
    Continued {
        /// The new run's encoded input.
        input: Vec<u8>,
        /// The new run's first snapshot.
        snapshot: Vec<u8>,
    },
}

/// The timers a run keeps when it continues as new ([`StepOutcome::Continued`]): the end of
/// its execution timeout, which bounds the whole chain of runs (as Temporal's does), and the
/// end of the grace period of a cancel request it was given.
pub const CONTINUED_TIMERS: [u64; 2] = [i64::MAX as u64 - 1, i64::MAX as u64];

/// A failed attempt rescheduled by [`Store::retry_activity`].
#[derive(Debug, Clone, PartialEq)]
pub struct RetryActivity {
    /// The workflow that made the call.
    pub workflow_id: String,
    /// The call's sequence number.
    pub seq: u64,
    /// The call's [`ActivityTask::scheduled_version`]: nothing happens to another run's call
    /// of the same `seq`.
    pub scheduled_version: u64,
    /// The attempt that failed; nothing happens unless the task is still at this attempt and
    /// leased by `owner`.
    pub attempt: u32,
    /// The worker that ran the failed attempt.
    pub owner: String,
    /// When the next attempt may start.
    pub visible_at_ms: u64,
    /// The last heartbeat details of the failed attempt, if it sent any.
    pub heartbeat_details: Option<Vec<u8>>,
    /// The history entry recording the failure.
    pub history: HistoryEntry,
}

/// What [`Store::lease_tasks`] looks for.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseRequest {
    /// The worker asking.
    pub owner: String,
    /// Only tasks of these activities (the ones the worker can run).
    pub names: Vec<String>,
    /// The worker's clock now, in milliseconds since the Unix epoch.
    pub now_ms: u64,
    /// When the leases granted expire unless renewed.
    pub lease_until_ms: u64,
    /// At most this many tasks.
    pub limit: usize,
}

/// A lease to extend, with the attempt's latest heartbeat details.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseRenewal {
    /// The workflow that made the call.
    pub workflow_id: String,
    /// The call's sequence number.
    pub seq: u64,
    /// The call's [`ActivityTask::scheduled_version`]: a lease on another run's call of the
    /// same `seq` is not renewed.
    pub scheduled_version: u64,
    /// The attempt's latest heartbeat details, if any.
    pub heartbeat_details: Option<Vec<u8>>,
}

/// A hint from a [`Store`] shared between processes that another process changed something
/// the runtime would otherwise find at its next poll: it looks now. Hints may be lost or come
/// twice; polling stays the fallback, so a hint only ever makes things sooner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wakeup {
    /// A workflow may have become ready (a signal, an activity result, a fired timer, an
    /// unpark, a new workflow).
    Workflows,
    /// Activity tasks may have become leasable (new calls, retries, released leases).
    Tasks,
    /// Timers were added: the earliest may be sooner than the one the runtime waits for.
    Timers,
}

/// The storage behind a [`crate::Runtime`].
///
/// Every method is one atomic operation. Implementations must pass [`conformance::run`].
pub trait Store: Send + Sync + 'static {
    /// Creates a running workflow, ready for its first step, and returns its version (the
    /// [`StepCommit::expected_version`] of that step), with its first history entry, and the
    /// signals and timers it is created with ([`NewWorkflow::signals`],
    /// [`NewWorkflow::timers`]). [`StoreError::AlreadyExists`]
    /// (with the stored record) if the id is taken: nothing is written then.
    ///
    /// Versions of one id never repeat across runs. A worker may still hold the state of an
    /// earlier run under the id (in another process, where nothing told it that the run was
    /// cancelled and purged): were the new run to reach a version that state had, a commit
    /// from it would pass the compare-and-set and write the old run over the new one. So the
    /// new run starts past every version an earlier run under its id reached, and every commit
    /// prepared from one of them fails with [`StoreError::Conflict`]. It starts at the greater
    /// of one past the id's *tombstone* (left by [`Store::purge`]; taken away in the same
    /// atomic operation) and the store's *version floor* (raised by
    /// [`Store::purge_finished`] past every run and tombstone it drops): 0 in a store that
    /// has purged nothing.
    fn create_workflow(&self, workflow: NewWorkflow) -> StoreFuture<'_, u64>;

    /// The workflow with this id ([`StoreError::NotFound`] if none).
    fn load_workflow<'a>(&'a self, id: &'a str) -> StoreFuture<'a, WorkflowRecord>;

    /// The workflow's unconsumed events, oldest first.
    fn load_inbox<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<Event>>;

    /// The workflow's activity tasks, by seq.
    fn load_tasks<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<ActivityTask>>;

    /// The workflow's timers, by seq.
    fn load_timers<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<TimerRow>>;

    /// Commits one step: the new state, the consumed events, the new commands, the history
    /// entries, all or nothing, if the version is still `expected_version`. Returns the new
    /// version. A step that ends the run ([`StepOutcome::Finished`], [`StepOutcome::Cancelled`])
    /// drops what is left of it, and records each signal left in its inbox (sent, and never
    /// received by its code; not one the step consumes) after the step's own entries, as
    /// [`unreceived_signal_entry`] writes it: a signal is never dropped without a trace.
    fn commit_step(&self, step: StepCommit) -> StoreFuture<'_, u64>;

    /// Commits the steps of many workflows at once (one transaction where the backend has
    /// them); each step succeeds or fails (e.g. [`StoreError::Conflict`]) on its own.
    fn commit_steps(&self, steps: Vec<StepCommit>)
    -> StoreFuture<'_, Vec<Result<u64, StoreError>>>;

    /// Appends a signal to the workflow's inbox (and its history) and marks it ready, with the
    /// tag of its payload's type (see [`EventKind::Signal`]). Returns the event id. [`StoreError::NotFound`] or [`StoreError::Finished`] if it cannot take one.
    fn append_signal<'a>(
        &'a self,
        id: &'a str,
        name: &'a str,
        payload: Vec<u8>,
        type_tag: Option<u64>,
        at_ms: u64,
    ) -> StoreFuture<'a, u64>;

    /// Appends an event to run `id`'s inbox at `at_ms`, and `entry` to its history, and
    /// returns the event's id: a running run becomes ready, a parked one keeps the event for
    /// when it is unparked. [`StoreError::NotFound`] or [`StoreError::Finished`] if it cannot
    /// take one (nothing changes). For events from outside that are not signals, such as
    /// [`EventKind::CancelRequested`].
    fn append_event<'a>(
        &'a self,
        id: &'a str,
        kind: EventKind,
        at_ms: u64,
        entry: HistoryEntry,
    ) -> StoreFuture<'a, u64>;

    /// Stores the final result of an activity call as an event in its workflow's inbox,
    /// deleting its task, if the task is still at the attempt and leased by the owner that
    /// produced it (`false` otherwise: the call was cancelled or answered already, or the
    /// attempt lost its lease to a later one, whose result counts instead).
    fn complete_activity(&self, done: CompleteActivity) -> StoreFuture<'_, bool>;

    /// Releases a failed attempt's lease and makes the task visible again at `visible_at_ms`,
    /// if the task is still at that attempt under that owner (`false` otherwise).
    fn retry_activity(&self, retry: RetryActivity) -> StoreFuture<'_, bool>;

    /// Leases up to `limit` tasks that may run now (visible, and unleased or with an expired
    /// lease), counting one more attempt for each. Taking over an expired lease means its
    /// attempt was lost (its worker stopped or lost touch with the store): that is recorded in
    /// the workflow's history ([`HistoryKind::AttemptLost`], see [`lost_attempt_entry`]), and the
    /// lost attempt counts against the call's maximum attempts. A task that cannot be read back (a damaged
    /// row) is not leased: its call is answered at once, as by [`Store::complete_activity`],
    /// with an [`crate::ActivityErrorKind::BadCall`] error.
    fn lease_tasks(&self, request: LeaseRequest) -> StoreFuture<'_, Vec<ActivityTask>>;

    /// Extends the leases `owner` holds on these tasks and keeps their heartbeat details.
    /// Returns the renewals that were not made, as `(workflow id, seq)`: the task is gone (its
    /// call was cancelled, or answered) or leased to another worker, so whatever the attempt
    /// returns goes nowhere (the runtime tells it, see
    /// [`ActivityCtx::is_cancelled`](crate::ActivityCtx::is_cancelled)).
    fn renew_leases<'a>(
        &'a self,
        owner: &'a str,
        tasks: Vec<LeaseRenewal>,
        lease_until_ms: u64,
    ) -> StoreFuture<'a, Vec<(String, u64)>>;

    /// Releases every lease `owner` holds: the tasks become visible at once, each recorded in
    /// its workflow's history ([`HistoryKind::AttemptLost`], see [`released_attempt_entry`]).
    /// At a [`Release::Shutdown`] the attempts do not count (each goes back one attempt, so the
    /// next lease starts the same attempt again); at a [`Release::Restart`] they do. Returns
    /// how many.
    fn release_leases<'a>(
        &'a self,
        owner: &'a str,
        why: Release,
        now_ms: u64,
    ) -> StoreFuture<'a, u64>;

    /// [`Store::release_leases`] of some of `owner`'s leases: those on the calls `tasks` names
    /// (each by its workflow, `seq` and `scheduled_version`; its heartbeat details are not
    /// used), as a draining worker gives back the calls it leased and will not start. A call
    /// not leased to `owner` (another worker's now, or answered) is left as it is. Returns how
    /// many were released.
    fn release_tasks<'a>(
        &'a self,
        owner: &'a str,
        tasks: Vec<LeaseRenewal>,
        why: Release,
        now_ms: u64,
    ) -> StoreFuture<'a, u64>;

    /// When the next task of these activities may be leased: the earliest visible time of an
    /// unleased task or expiry of a lease. `None` if there is no such task.
    fn next_task_due<'a>(&'a self, names: &'a [String]) -> StoreFuture<'a, Option<u64>>;

    /// Fires up to `limit` timers due at `now_ms`: each becomes an event (at its fire time) in
    /// its workflow's inbox, exactly once. Returns the ids of the workflows woken.
    fn fire_timers(&self, now_ms: u64, limit: usize) -> StoreFuture<'_, Vec<String>>;

    /// The fire time of the earliest timer.
    fn next_timer_due(&self) -> StoreFuture<'_, Option<u64>>;

    /// Reads, without firing them, up to `limit` timers due at `now_ms` (fire time at or
    /// before it) that come after `after` in fire order ([`TimerKey`]), each with its
    /// workflow, running ones only, in fire order.
    ///
    /// For a store that lets a step take a timer's firing itself: the runtime steps the
    /// workflow with the timer fired and the step's commit deletes it
    /// ([`StepCommit::fired_timers`]), one write per woken workflow instead of an event
    /// written by the firing and deleted by the step, and no read of the workflow after the
    /// firing. A crash before that commit loses nothing: the timer is still stored and due.
    /// `None` (the default): the store does not do this; the runtime fires timers with
    /// [`Store::fire_timers`]. A store that does also implements [`Store::fire_timers_of`].
    fn due_timers(
        &self,
        now_ms: u64,
        after: Option<TimerKey>,
        limit: usize,
    ) -> Option<StoreFuture<'_, Vec<DueTimer>>> {
        let _ = (now_ms, after, limit);
        None
    }

    /// Fires the timers `seqs` of workflow `id` as [`Store::fire_timers`] does (each still
    /// stored becomes a `TimerFired` event at its fire time, the workflow ready), whether due
    /// or not: for a timer read by [`Store::due_timers`] that the step it woke did not take (it
    /// is one of several the workflow waits for). Returns how many it fired. The default
    /// refuses: only a store that implements [`Store::due_timers`] is asked.
    fn fire_timers_of<'a>(&'a self, id: &'a str, seqs: &'a [u64]) -> StoreFuture<'a, usize> {
        let _ = seqs;
        Box::pin(std::future::ready(Err(StoreError::backend(format!(
            "this store does not fire the timers of one workflow ({id})"
        )))))
    }

    /// Up to `limit` running workflows of these names with unseen events, by id, in no order
    /// the caller may count on (each store takes them as its index gives them: the runtime
    /// looks again at every poll, and a run stepped leaves the list).
    fn ready_workflows<'a>(
        &'a self,
        names: &'a [String],
        limit: usize,
    ) -> StoreFuture<'a, Vec<String>>;

    /// Clears the ready flag unless an event newer than `seen_events_upto` exists, if the
    /// workflow is still at `version` (`false` if it is not: whoever looked at it had a stale
    /// view, and must look again).
    fn clear_ready<'a>(
        &'a self,
        id: &'a str,
        version: u64,
        seen_events_upto: u64,
    ) -> StoreFuture<'a, bool>;

    /// The workflows with this status (all of them for `None`), by id.
    fn list_workflows(
        &self,
        status: Option<WorkflowStatus>,
    ) -> StoreFuture<'_, Vec<WorkflowSummary>>;

    /// A page of the runs that match `query`, by id ascending, with the cursor of the next
    /// page (see [`RunQuery`], [`RunPage`]). Walking the pages with the same filters lists each
    /// matching run once, none twice and none missed, save runs created or purged between two
    /// pages (each page is a read of its own). A run whose row cannot be read back (damaged
    /// data) is left out of its page, with a warning in the log, and the walk goes on past it.
    fn list_runs(&self, query: RunQuery) -> StoreFuture<'_, RunPage>;

    /// The runs `ids` as stored, by id, those that exist (see [`Store::load_workflow`]): for
    /// walks over many runs (the check at start that every waiting run has code to step it)
    /// without a read per run. A run whose row cannot be read back is left out, with a
    /// warning in the log. The default loads them one by one.
    fn load_workflows<'a>(&'a self, ids: &'a [String]) -> StoreFuture<'a, Vec<WorkflowRecord>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                match self.load_workflow(id).await {
                    Ok(rec) => out.push(rec),
                    Err(StoreError::NotFound(_)) => {}
                    Err(StoreError::Corrupt(reason)) => {
                        tracing::warn!(workflow_id = %id, %reason, "a run's row does not read back; left out");
                    }
                    Err(e) => return Err(e),
                }
            }
            out.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(out)
        })
    }

    /// How many runs the store holds in each status: one line per status, every status in the
    /// order of [`WorkflowStatus::ALL`], those with no run included with 0. (Rows whose status
    /// cannot be read back are not counted.)
    fn count_runs(&self) -> StoreFuture<'_, Vec<(WorkflowStatus, u64)>>;

    /// Deletes a finished run (completed, failed or cancelled, see
    /// [`WorkflowStatus::is_finished`]) and everything the store keeps of it: its row, its
    /// history, and any event, activity task or timer left. All or nothing; afterwards the id
    /// is unknown ([`StoreError::NotFound`] everywhere) and [`Store::create_workflow`] may use
    /// it again. A running or parked run is refused with [`StoreError::NotFinished`], an
    /// unknown id with [`StoreError::NotFound`]; either way nothing changes.
    ///
    /// The runs it started as children that are still stored lose their link to it
    /// ([`WorkflowRecord::parent`] becomes `None`): a run created under the id later is not
    /// their parent, so their ends are not delivered to it (see [`StepCommit::deliver`]), and
    /// a child call of that run under one of their ids finds the id taken.
    ///
    /// The run leaves a tombstone: its id, its last version and when it finished (its
    /// `updated_at_ms`). The next run under the id starts past that version and takes the
    /// tombstone away (see [`Store::create_workflow`]): versions of one id never repeat across
    /// runs. A tombstone the id is not used again for goes with [`Store::purge_finished`],
    /// once its run finished before the cutoff (its version then raises the store's version
    /// floor).
    fn purge<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()>;

    /// [`Store::purge`] of one run: the run of `id` at `version`, in the same atomic
    /// operation as the look at its version. A finished run's version no longer changes, and
    /// versions of one id never repeat across runs, so the version names the run: a start
    /// that saw a finished run it may replace ([`crate::IdReuse`]) purges that run and no
    /// other, though another start replaced it meanwhile by a run that finished too. When the
    /// id's run is at another version, [`StoreError::Conflict`] (with `expected` the version
    /// asked for) and nothing changes; otherwise as [`Store::purge`].
    fn purge_version<'a>(&'a self, id: &'a str, version: u64) -> StoreFuture<'a, ()>;

    /// Retention by age: purges (as [`Store::purge`], children's links included) up to `limit`
    /// finished runs last changed before `finished_before_ms` (`updated_at_ms <
    /// finished_before_ms`; a finished run does not change after it finished), in one atomic
    /// operation, and returns their ids, sorted.
    /// When more runs are due than `limit`, which of them go first is up to the store (the SQL
    /// stores take the first their index gives, not the oldest: sorting by age would read
    /// every finished run at each call); call it again until it returns fewer than `limit` to
    /// purge them all. A `limit` of 0 purges nothing.
    ///
    /// Versions of one id never repeat across runs (see [`Store::create_workflow`]); what
    /// keeps the promise here is the store's *version floor*, one number, the least version
    /// any new run starts at. The runs this purges leave no tombstone: the floor is raised
    /// past their last versions instead. And it drops up to `limit` tombstones (left by
    /// [`Store::purge`]) of runs that finished before `finished_before_ms`, raising the floor
    /// past their versions too: a tombstone is kept as long as its run would have been by the
    /// same retention, and no longer, so that tombstones do not pile up for ids never used
    /// again. Forgetting a tombstone without raising the floor would not do, however long
    /// ago its run finished: nothing bounds how long a worker keeps a run's state (a
    /// runtime's cache keeps a state until others push it out, which a quiet worker may never
    /// do), and a new run starting from 0 under the id would then reach versions of that
    /// state again.
    fn purge_finished(&self, finished_before_ms: u64, limit: usize)
    -> StoreFuture<'_, Vec<String>>;

    /// The workflow's audit history, oldest first.
    fn history<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<HistoryEntry>>;

    /// The newest `limit` entries of the workflow's audit history, oldest first, and how many
    /// it has in all: what a page showing a long-running run's latest events asks for. The
    /// default reads the whole history ([`Store::history`]); the SQL stores read the newest
    /// entries alone.
    fn history_tail<'a>(
        &'a self,
        id: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, (Vec<HistoryEntry>, u64)> {
        Box::pin(async move {
            let mut all = self.history(id).await?;
            let total = all.len();
            all.drain(..total.saturating_sub(limit));
            Ok((all, total as u64))
        })
    }

    /// Hints of changes made through other handles on the same data (other processes), for
    /// stores shared between processes (see [`Wakeup`]). `None`, the default, if the store
    /// sends none: the runtime then finds them by polling alone.
    fn wakeups(&self) -> Option<tokio::sync::broadcast::Receiver<Wakeup>> {
        None
    }

    /// Stores a new schedule as given (its `version` included: the first is 1), or
    /// [`StoreError::ScheduleExists`] if one has its name, changing nothing.
    fn create_schedule(&self, schedule: ScheduleRecord) -> StoreFuture<'_, ()>;

    /// The schedule with this name ([`StoreError::ScheduleNotFound`] if none).
    fn load_schedule<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ScheduleRecord>;

    /// Every schedule, by name.
    fn list_schedules(&self) -> StoreFuture<'_, Vec<ScheduleRecord>>;

    /// Replaces the schedule named `schedule.name` with `schedule` if the stored one is still
    /// at `schedule.version` (the compare-and-set that claims its fire times: two workers never
    /// both move a schedule past one fire time). The stored version becomes one more, and is
    /// returned. [`StoreError::ScheduleConflict`] if the version moved,
    /// [`StoreError::ScheduleNotFound`] if the schedule is gone; either way nothing changes.
    fn update_schedule(&self, schedule: ScheduleRecord) -> StoreFuture<'_, u64>;

    /// Deletes the schedule ([`StoreError::ScheduleNotFound`] if none). The runs it started
    /// are left as they are.
    fn delete_schedule<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ()>;

    /// Up to `limit` schedules of these workflows that have something to do at `now_ms`: fire
    /// times taken whose runs may not exist yet (`starting`, paused or not), or, not paused, a
    /// fire time due (`next_fire_ms <= now_ms`) or a buffered fire time; the earliest
    /// `next_fire_ms` first (those with none last), then by name.
    fn due_schedules<'a>(
        &'a self,
        workflows: &'a [String],
        now_ms: u64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<ScheduleRecord>>;

    /// The earliest `next_fire_ms` of the schedules of these workflows that are not paused.
    fn next_schedule_due<'a>(&'a self, workflows: &'a [String]) -> StoreFuture<'a, Option<u64>>;
}

/// A shared store is a store: `Runtime::builder(arc.clone())` lets several runtimes
/// (or a test) use one.
impl<S: Store + ?Sized> Store for Arc<S> {
    fn create_workflow(&self, workflow: NewWorkflow) -> StoreFuture<'_, u64> {
        (**self).create_workflow(workflow)
    }
    fn load_workflow<'a>(&'a self, id: &'a str) -> StoreFuture<'a, WorkflowRecord> {
        (**self).load_workflow(id)
    }
    fn load_inbox<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<Event>> {
        (**self).load_inbox(id)
    }
    fn load_tasks<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<ActivityTask>> {
        (**self).load_tasks(id)
    }
    fn load_timers<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<TimerRow>> {
        (**self).load_timers(id)
    }
    fn commit_step(&self, step: StepCommit) -> StoreFuture<'_, u64> {
        (**self).commit_step(step)
    }
    fn commit_steps(
        &self,
        steps: Vec<StepCommit>,
    ) -> StoreFuture<'_, Vec<Result<u64, StoreError>>> {
        (**self).commit_steps(steps)
    }
    fn append_signal<'a>(
        &'a self,
        id: &'a str,
        name: &'a str,
        payload: Vec<u8>,
        type_tag: Option<u64>,
        at_ms: u64,
    ) -> StoreFuture<'a, u64> {
        (**self).append_signal(id, name, payload, type_tag, at_ms)
    }
    fn append_event<'a>(
        &'a self,
        id: &'a str,
        kind: EventKind,
        at_ms: u64,
        entry: HistoryEntry,
    ) -> StoreFuture<'a, u64> {
        (**self).append_event(id, kind, at_ms, entry)
    }
    fn complete_activity(&self, done: CompleteActivity) -> StoreFuture<'_, bool> {
        (**self).complete_activity(done)
    }
    fn retry_activity(&self, retry: RetryActivity) -> StoreFuture<'_, bool> {
        (**self).retry_activity(retry)
    }
    fn lease_tasks(&self, request: LeaseRequest) -> StoreFuture<'_, Vec<ActivityTask>> {
        (**self).lease_tasks(request)
    }
    fn renew_leases<'a>(
        &'a self,
        owner: &'a str,
        tasks: Vec<LeaseRenewal>,
        lease_until_ms: u64,
    ) -> StoreFuture<'a, Vec<(String, u64)>> {
        (**self).renew_leases(owner, tasks, lease_until_ms)
    }
    fn release_leases<'a>(
        &'a self,
        owner: &'a str,
        why: Release,
        now_ms: u64,
    ) -> StoreFuture<'a, u64> {
        (**self).release_leases(owner, why, now_ms)
    }
    fn release_tasks<'a>(
        &'a self,
        owner: &'a str,
        tasks: Vec<LeaseRenewal>,
        why: Release,
        now_ms: u64,
    ) -> StoreFuture<'a, u64> {
        (**self).release_tasks(owner, tasks, why, now_ms)
    }
    fn next_task_due<'a>(&'a self, names: &'a [String]) -> StoreFuture<'a, Option<u64>> {
        (**self).next_task_due(names)
    }
    fn fire_timers(&self, now_ms: u64, limit: usize) -> StoreFuture<'_, Vec<String>> {
        (**self).fire_timers(now_ms, limit)
    }
    fn next_timer_due(&self) -> StoreFuture<'_, Option<u64>> {
        (**self).next_timer_due()
    }
    fn due_timers(
        &self,
        now_ms: u64,
        after: Option<TimerKey>,
        limit: usize,
    ) -> Option<StoreFuture<'_, Vec<DueTimer>>> {
        (**self).due_timers(now_ms, after, limit)
    }
    fn fire_timers_of<'a>(&'a self, id: &'a str, seqs: &'a [u64]) -> StoreFuture<'a, usize> {
        (**self).fire_timers_of(id, seqs)
    }
    fn ready_workflows<'a>(
        &'a self,
        names: &'a [String],
        limit: usize,
    ) -> StoreFuture<'a, Vec<String>> {
        (**self).ready_workflows(names, limit)
    }
    fn clear_ready<'a>(
        &'a self,
        id: &'a str,
        version: u64,
        seen_events_upto: u64,
    ) -> StoreFuture<'a, bool> {
        (**self).clear_ready(id, version, seen_events_upto)
    }
    fn list_workflows(
        &self,
        status: Option<WorkflowStatus>,
    ) -> StoreFuture<'_, Vec<WorkflowSummary>> {
        (**self).list_workflows(status)
    }
    fn list_runs(&self, query: RunQuery) -> StoreFuture<'_, RunPage> {
        (**self).list_runs(query)
    }
    fn load_workflows<'a>(&'a self, ids: &'a [String]) -> StoreFuture<'a, Vec<WorkflowRecord>> {
        (**self).load_workflows(ids)
    }
    fn count_runs(&self) -> StoreFuture<'_, Vec<(WorkflowStatus, u64)>> {
        (**self).count_runs()
    }
    fn purge<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        (**self).purge(id)
    }
    fn purge_version<'a>(&'a self, id: &'a str, version: u64) -> StoreFuture<'a, ()> {
        (**self).purge_version(id, version)
    }
    fn purge_finished(
        &self,
        finished_before_ms: u64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<String>> {
        (**self).purge_finished(finished_before_ms, limit)
    }
    fn history<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<HistoryEntry>> {
        (**self).history(id)
    }
    fn history_tail<'a>(
        &'a self,
        id: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, (Vec<HistoryEntry>, u64)> {
        (**self).history_tail(id, limit)
    }
    fn wakeups(&self) -> Option<tokio::sync::broadcast::Receiver<Wakeup>> {
        (**self).wakeups()
    }
    fn create_schedule(&self, schedule: ScheduleRecord) -> StoreFuture<'_, ()> {
        (**self).create_schedule(schedule)
    }
    fn load_schedule<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ScheduleRecord> {
        (**self).load_schedule(name)
    }
    fn list_schedules(&self) -> StoreFuture<'_, Vec<ScheduleRecord>> {
        (**self).list_schedules()
    }
    fn update_schedule(&self, schedule: ScheduleRecord) -> StoreFuture<'_, u64> {
        (**self).update_schedule(schedule)
    }
    fn delete_schedule<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ()> {
        (**self).delete_schedule(name)
    }
    fn due_schedules<'a>(
        &'a self,
        workflows: &'a [String],
        now_ms: u64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<ScheduleRecord>> {
        (**self).due_schedules(workflows, now_ms, limit)
    }
    fn next_schedule_due<'a>(&'a self, workflows: &'a [String]) -> StoreFuture<'a, Option<u64>> {
        (**self).next_schedule_due(workflows)
    }
}

#[cfg(all(test, any(feature = "sqlite", feature = "postgres")))]
mod tests {
    use super::prefix_successor;

    /// The successor bounds exactly the strings that start with the prefix.
    #[test]
    fn prefix_successor_bounds_the_prefix() {
        assert_eq!(prefix_successor(""), None);
        assert_eq!(prefix_successor("a").as_deref(), Some("b"));
        assert_eq!(prefix_successor("a%").as_deref(), Some("a&"));
        assert_eq!(prefix_successor("a_").as_deref(), Some("a`"));
        assert_eq!(prefix_successor("\u{7f}").as_deref(), Some("\u{80}"));
        assert_eq!(prefix_successor("x\u{d7ff}").as_deref(), Some("x\u{e000}"));
        assert_eq!(prefix_successor("x\u{10ffff}").as_deref(), Some("y"));
        assert_eq!(prefix_successor("\u{10ffff}\u{10ffff}"), None);
        for prefix in ["a", "a%", "\u{7f}", "x\u{d7ff}", "x\u{10ffff}", "\u{e9}"] {
            let end = prefix_successor(prefix).expect("a successor");
            for id in [
                prefix.to_string(),
                format!("{prefix}\u{0}"),
                format!("{prefix}zz"),
                format!("{prefix}\u{10ffff}"),
            ] {
                assert!(
                    id.as_str() >= prefix && id < end,
                    "{id:?} in [{prefix:?}, {end:?})"
                );
            }
            assert!(!end.starts_with(prefix), "{end:?} is past {prefix:?}");
        }
    }
}
