use serde::{Deserialize, Serialize};

use crate::activity::ActivityError;

/// The error half of a workflow's output: why a workflow ended in failure.
///
/// Like `anyhow::Error` it converts from any `std::error::Error` and from [`ActivityError`], so
/// `?` works on both inside a workflow. It is persisted with the workflow's output, so it keeps a
/// message (and the activity error that caused it, if any) rather than the original error value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowError {
    /// What went wrong, for people.
    pub message: String,
    /// The activity failure that caused this error, when it came from one through `?`.
    pub activity: Option<ActivityError>,
}

impl WorkflowError {
    /// An error with this message.
    pub fn msg(message: impl std::fmt::Display) -> Self {
        WorkflowError {
            message: message.to_string(),
            activity: None,
        }
    }
}

impl std::fmt::Display for WorkflowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<ActivityError> for WorkflowError {
    fn from(e: ActivityError) -> Self {
        WorkflowError {
            message: e.to_string(),
            activity: Some(e),
        }
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for WorkflowError {
    fn from(e: E) -> Self {
        WorkflowError::msg(e)
    }
}

/// A [`WorkflowError`] or [`crate::ActivityError`] as a [`std::error::Error`], with the
/// activity failure behind a workflow error as its [`source`](std::error::Error::source).
///
/// The two error types convert from any `std::error::Error` (so `?` works on anything inside
/// workflows and activities), which is why, like `anyhow::Error`, they cannot implement
/// `std::error::Error` themselves. `?` turns them into a `Box<dyn Error + Send + Sync>` (or a
/// `Box<dyn Error>`) directly; for error types that need a `std::error::Error`, such as
/// `anyhow::Error`, convert through `Failure`:
///
/// ```
/// use workflow_rt::{Failure, WorkflowError};
///
/// fn run() -> Result<u32, WorkflowError> {
///     Err(WorkflowError::msg("out of stock"))
/// }
///
/// fn boxed() -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
///     Ok(run()?)
/// }
///
/// fn typed() -> Result<u32, Failure> {
///     Ok(run()?)
/// }
///
/// assert_eq!(boxed().unwrap_err().to_string(), "out of stock");
/// assert_eq!(typed().unwrap_err().to_string(), "out of stock");
/// // With anyhow: `run().map_err(Failure::from)?` in a function returning `anyhow::Result`.
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    message: String,
    source: Option<Box<Failure>>,
}

impl Failure {
    /// What went wrong, for people.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl From<ActivityError> for Failure {
    fn from(e: ActivityError) -> Self {
        Failure {
            message: e.to_string(),
            source: None,
        }
    }
}

impl From<WorkflowError> for Failure {
    fn from(e: WorkflowError) -> Self {
        Failure {
            source: e.activity.map(|a| Box::new(Failure::from(a))),
            message: e.message,
        }
    }
}

impl From<WorkflowError> for Box<dyn std::error::Error + Send + Sync + 'static> {
    fn from(e: WorkflowError) -> Self {
        Box::new(Failure::from(e))
    }
}

impl From<WorkflowError> for Box<dyn std::error::Error + 'static> {
    fn from(e: WorkflowError) -> Self {
        Box::new(Failure::from(e))
    }
}

impl From<ActivityError> for Box<dyn std::error::Error + Send + Sync + 'static> {
    fn from(e: ActivityError) -> Self {
        Box::new(Failure::from(e))
    }
}

impl From<ActivityError> for Box<dyn std::error::Error + 'static> {
    fn from(e: ActivityError) -> Self {
        Box::new(Failure::from(e))
    }
}

/// Why a step of a workflow could not run: the workflow is parked with this reason rather than
/// retried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ResumeError {
    /// A value (activity result, signal payload, saved local) did not decode as the type the
    /// workflow expects.
    #[error("cannot decode {what}: {reason}")]
    Decode {
        /// What was being decoded.
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// A signal's payload does not decode as the type its await expects: the sender's error,
    /// not the workflow's. The runtime takes that one event out of the inbox into the history
    /// (a dead letter) and lets the workflow wait on.
    #[error("signal event {event} does not decode as {expected}: {reason}")]
    SignalPayload {
        /// The event that carried the signal (see [`crate::machine::Resolution::Signal`]).
        event: u64,
        /// The type awaited, for people (its name is not stable across compilers).
        expected: String,
        /// Why it does not decode.
        reason: String,
    },
    /// A value could not be encoded (a `Serialize` impl failed).
    #[error("cannot encode {what}: {reason}")]
    Encode {
        /// What was being encoded.
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// What woke the workflow is not what the state it is in waits for.
    #[error("state {state} was woken by {got}, which it does not wait for")]
    UnexpectedWake {
        /// The state the workflow is in.
        state: String,
        /// What woke it.
        got: String,
    },
    /// A saved value was asked for twice in one step (a bug in generated code, reported rather
    /// than panicking).
    #[error("{0} was restored twice in one step")]
    RestoredTwice(String),
    /// The workflow was resumed in its completed or poisoned state.
    #[error("the workflow cannot resume from state {0}")]
    NotResumable(String),
    /// The context's command counter is at its largest value (only a damaged or hand-made
    /// snapshot gets there): a new command would reuse a sequence number, and with it another
    /// call's idempotency key. Restore a good snapshot and unpark the workflow.
    #[error("no sequence number is left for a new command (the counter is at {0})")]
    SequenceExhausted(u64),
}
