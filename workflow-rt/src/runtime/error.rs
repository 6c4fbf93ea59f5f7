use crate::store::{StoreError, WorkflowStatus};

/// Why a [`crate::Runtime`] call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuntimeError {
    /// Two workflows (or two activities) were registered under one name.
    #[error("{kind} {name:?} is registered twice")]
    DuplicateName {
        /// `workflow` or `activity`.
        kind: &'static str,
        /// The name registered twice.
        name: String,
    },
    /// `build()` found a registered workflow that calls an activity no `.activity(..)` of the
    /// builder registered: the workflow would wait for it forever. Register the activity
    /// (`.activity(charge)`), or, when other runtimes sharing the store run it, call
    /// [`crate::Builder::allow_missing_activities`].
    #[error(
        "workflow {workflow:?} calls activity {activity:?}, which is not registered with this runtime: {}",
        add_activity_hint(activity)
    )]
    MissingActivity {
        /// The workflow that calls it.
        workflow: String,
        /// The activity's name ([`crate::Activity::NAME`]).
        activity: String,
    },
    /// A migration registered with [`crate::Builder::migrate`] cannot be used.
    #[error("the migration of workflow {workflow:?} from v{from} to v{to} is refused: {reason}")]
    BadMigration {
        /// The workflow.
        workflow: String,
        /// The version it migrates from.
        from: u32,
        /// The version it migrates to.
        to: u32,
        /// Why.
        reason: String,
    },
    /// New runs start on the newest registered version of a workflow; an older version is
    /// registered only for the runs that started on it.
    #[error(
        "workflow {name:?} v{version} is kept for the runs that started on it; new runs start on v{newest}"
    )]
    NotNewest {
        /// The workflow.
        name: String,
        /// The version asked for.
        version: u32,
        /// The newest registered.
        newest: u32,
    },
    /// This workflow was not registered with the builder: add `.workflow(..)`.
    #[error(
        "workflow {name:?} is not registered with this runtime: add .workflow({name}) to the builder"
    )]
    NotRegistered {
        /// The workflow's name ([`crate::Workflow::NAME`]).
        name: String,
    },
    /// No workflow has this id.
    #[error("no workflow with id {0:?}")]
    UnknownWorkflow(String),
    /// The id is taken by a run of another workflow, or of this one with a different input.
    #[error("workflow id {id:?} is taken by a run of {name:?} with a different input")]
    IdInUse {
        /// The id.
        id: String,
        /// The workflow whose run holds it.
        name: String,
    },
    /// A handle of one workflow was asked about the run of another: use a handle of
    /// `found` (`rt.handle(found, id)`).
    #[error("workflow {id:?} is a run of {found:?}, not of {expected:?}")]
    WrongWorkflow {
        /// The id.
        id: String,
        /// The workflow of the handle.
        expected: String,
        /// The workflow of the run.
        found: String,
    },
    /// The workflow has finished and takes no more signals or cancellation.
    #[error("workflow {id:?} has finished ({status})")]
    Finished {
        /// The workflow's id.
        id: String,
        /// How it finished.
        status: WorkflowStatus,
    },
    /// The workflow is parked: it will not continue until the reason is fixed and it is
    /// unparked ([`crate::Runtime::unpark`]).
    #[error("workflow {id:?} is parked: {reason}")]
    Parked {
        /// The workflow's id.
        id: String,
        /// Why it is parked.
        reason: String,
    },
    /// [`crate::Client::purge`] of a run that has not finished (running or parked): only a
    /// finished run can be purged.
    #[error("workflow {id:?} has not finished ({status}): only a finished run can be purged")]
    NotFinished {
        /// The workflow's id.
        id: String,
        /// Where it stands.
        status: WorkflowStatus,
    },
    /// [`crate::Runtime::unpark`] on a workflow that is not parked.
    #[error("workflow {id:?} is not parked ({status})")]
    NotParked {
        /// The workflow's id.
        id: String,
        /// Where it stands.
        status: WorkflowStatus,
    },
    /// The workflow was cancelled.
    #[error("workflow {id:?} was cancelled")]
    Cancelled {
        /// The workflow's id.
        id: String,
    },
    /// A value could not be encoded.
    #[error("cannot encode {what}: {reason}")]
    Encode {
        /// What was being encoded.
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// A stored value does not decode as the type asked for.
    #[error("cannot decode {what}: {reason}")]
    Decode {
        /// What was being decoded.
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// A value is larger than the runtime's limit for it ([`crate::Limits`]): an input, a
    /// signal's payload or a first snapshot. Nothing was stored.
    #[error("{what} is {size} bytes, over the limit of {limit} bytes (see Builder::limits)")]
    TooLarge {
        /// What was too large, e.g. `the payload of signal "approve"`.
        what: String,
        /// Its encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// An id or a name cannot be stored as given ([`check_name`] says why: empty, `.` or `..`,
    /// holding a NUL character, or longer than [`MAX_ID_BYTES`]). The same rule on every store; nothing
    /// was stored.
    #[error("{what} {name:?} is refused: {reason}")]
    BadName {
        /// What it names, e.g. `workflow id` or `signal name`.
        what: &'static str,
        /// The id or name, its first 100 characters if it is longer.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// A completion token was refused ([`crate::Client::complete`]); nothing changed.
    #[error("cannot complete the token: {0}")]
    Complete(#[from] crate::CompleteError),
    /// The runtime was shut down.
    #[error("the runtime has shut down")]
    ShutDown,
}

/// The most bytes a run's id or a signal's name may have: Temporal's default limit on a
/// workflow id. (PostgreSQL indexes no key longer than about 2.7 KB, and a run's id is part of
/// several keys.)
pub const MAX_ID_BYTES: usize = 1000;

/// The most bytes of the id of a child run that the runtime derives from its parent's
/// (`<parent>/<workflow>-<seq>`, a saga's compensations): past [`MAX_ID_BYTES`], so that a run
/// whose own id is near the limit still has children; within what PostgreSQL indexes.
pub(crate) const MAX_DERIVED_ID_BYTES: usize = 2000;

/// Why `name` cannot be a run's id or a signal's name, if it cannot: it is empty, it is `.`
/// or `..` (which no path of a URL names: the console could not open the run), it holds a NUL
/// character (PostgreSQL keeps none in text, and the stores must agree), or it is longer than
/// [`MAX_ID_BYTES`].
pub fn check_name(name: &str) -> Result<(), &'static str> {
    check_id(name, false)
}

/// [`check_name`], with the longer limit of an id the runtime derives from a parent's
/// ([`MAX_DERIVED_ID_BYTES`]) when `derived`.
pub(crate) fn check_id(name: &str, derived: bool) -> Result<(), &'static str> {
    if name.is_empty() {
        Err("it is empty")
    } else if name == "." || name == ".." {
        Err("it is . or .., which no path of a URL names")
    } else if name.contains('\0') {
        Err("it holds a NUL character")
    } else if !derived && name.len() > MAX_ID_BYTES {
        Err("it is longer than 1000 bytes")
    } else if name.len() > MAX_DERIVED_ID_BYTES {
        Err("it is longer than 2000 bytes (an id derived from its parent's)")
    } else {
        Ok(())
    }
}

/// [`RuntimeError::BadName`] if [`check_name`] refuses `name`.
pub(crate) fn checked_name(what: &'static str, name: &str) -> Result<(), RuntimeError> {
    check_name(name).map_err(|reason| RuntimeError::BadName {
        what,
        name: shortened(name),
        reason,
    })
}

/// `name`, or its first 100 characters and `…` if it is longer: for an error's message.
pub(crate) fn shortened(name: &str) -> String {
    match name.char_indices().nth(100) {
        Some((at, _)) => format!("{}…", &name[..at]),
        None => name.to_string(),
    }
}

impl RuntimeError {
    /// A store error about the workflow `id`, in the runtime's terms.
    pub(crate) fn from_store(id: &str, e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => RuntimeError::UnknownWorkflow(id.to_string()),
            StoreError::Finished { status, .. } => RuntimeError::Finished {
                id: id.to_string(),
                status,
            },
            StoreError::NotFinished { status, .. } => RuntimeError::NotFinished {
                id: id.to_string(),
                status,
            },
            e => RuntimeError::Store(e),
        }
    }
}

/// What to add to the builder for the activity named `name`: `.activity(charge)` when the name
/// is an identifier (the function's own name, unless the activity was renamed).
fn add_activity_hint(name: &str) -> String {
    let ident = name
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_alphanumeric() || c == '_');
    if ident {
        format!(
            "add .activity({name}) to the builder (the #[activity] named {name:?}), or call \
             .allow_missing_activities() if another runtime runs it"
        )
    } else {
        format!(
            "add .activity(..) of the #[activity] named {name:?} to the builder, or call \
             .allow_missing_activities() if another runtime runs it"
        )
    }
}

impl From<StoreError> for RuntimeError {
    fn from(e: StoreError) -> Self {
        RuntimeError::Store(e)
    }
}
