//! Child workflows: a run that starts another run and awaits its output.

use serde::{Deserialize, Serialize};

use crate::context::WorkflowCtx;
use crate::durable::sealed::Sealed;
use crate::durable::{Durable, Pending, Resolution, unexpected};
use crate::error::ResumeError;
use crate::workflow::Workflow;

/// What happens to a child run that is still going when its parent stops waiting for it: the
/// parent was terminated or its grace period after a cancel request ran out, or a `select`
/// decided for another branch. (A child that parks is waited for: see
/// [`ChildError::Parked`].)
///
/// A cancel *request* to the parent is not such a stop: as in Temporal, where a cancelled
/// parent passes the request on to its children, the request goes on to the child under
/// `Terminate` and `RequestCancel` alike. The child's code is told and may compensate, and the
/// parent waits for its end (its output, or [`ChildError::Cancelled`]) within the parent's
/// grace period. Under `Abandon` the parent's call is answered [`ChildError::Abandoned`] at
/// once, and the child goes on.
///
/// The default is [`ParentClose::Terminate`], as in Temporal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ParentClose {
    /// The child is stopped outright (its code is not told).
    #[default]
    Terminate,
    /// The child is asked to cancel ([`crate::Client::cancel`]): its code is told, may
    /// compensate, and has its grace period to end.
    RequestCancel,
    /// The child goes on on its own.
    Abandon,
}

/// Why a child call has no output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ChildError {
    /// The child run was cancelled or terminated (its output, if its code returned one after
    /// the request, is in its record); one stopped by its execution timeout answers
    /// [`ChildError::TimedOut`].
    #[error("child run {id:?} was cancelled")]
    Cancelled {
        /// The child run's id.
        id: String,
    },
    /// The child run is parked: it needs a person (see its park reason). Not given by this
    /// version of the runtime, whose parents wait for a parked child, as a Temporal parent
    /// waits for a child whose workflow task fails: fixed and unparked, the child ends and
    /// answers; cancelled or terminated instead, it answers [`ChildError::Cancelled`] (past
    /// its execution timeout, [`ChildError::TimedOut`]); a
    /// parent that stops waiting meanwhile (a `select`, its own stop) applies its
    /// [`ParentClose`] policy, under which a parked child is terminated unless it is
    /// `Abandon` (a parked run's code cannot take a request). Kept for the answers an earlier
    /// version stored, when a parked child's parent was answered at once.
    #[error("child run {id:?} is parked: {reason}")]
    Parked {
        /// The child run's id.
        id: String,
        /// Why it is parked.
        reason: String,
    },
    /// No worker that stepped the parent knows the child's workflow: nothing was started.
    #[error(
        "workflow {name:?} is not registered with the runtime: child run {id:?} was not started"
    )]
    NotRegistered {
        /// The child workflow's name.
        name: String,
        /// The id the child would have had.
        id: String,
    },
    /// The id is taken by a run that is not this call's child: nothing was started.
    #[error("the id {id:?} is taken by another run: the child was not started")]
    IdInUse {
        /// The id.
        id: String,
    },
    /// The child could not be started (its input is over the size limit, its first state
    /// does not encode, its id is refused by [`crate::check_name`]): nothing was started.
    #[error("child run {id:?} could not be started: {reason}")]
    NotStarted {
        /// The id.
        id: String,
        /// Why.
        reason: String,
    },
    /// The parent stopped waiting because it was cancelled, and the child was left to go on
    /// on its own ([`ParentClose::Abandon`]).
    #[error("the wait for child run {id:?} was cancelled; the child goes on")]
    Abandoned {
        /// The child run's id.
        id: String,
    },
    /// The child run's execution timeout ([`ChildCall::timeout`]) ran out before it ended:
    /// it was stopped outright, as [`crate::StartOptions::timeout`] stops a run (its record
    /// says `Cancelled`, its history that its timeout ran out). Temporal's child workflow
    /// execution timeout.
    #[error("child run {id:?} timed out: its execution timeout ran out")]
    TimedOut {
        /// The child run's id.
        id: String,
    },
}

/// A call of child workflow `W`, not yet started; `.await` it in a workflow. Made by
/// [`WorkflowCtx::child`].
#[must_use = "a child workflow does nothing until it is awaited"]
pub struct ChildCall<W: Workflow> {
    input: W::Input,
    id: Option<String>,
    close: ParentClose,
    timeout: Option<std::time::Duration>,
}

impl<W: Workflow> std::fmt::Debug for ChildCall<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildCall")
            .field("workflow", &W::NAME)
            .field("id", &self.id)
            .field("close", &self.close)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<W: Workflow> ChildCall<W> {
    pub(crate) fn new(input: W::Input) -> Self {
        ChildCall {
            input,
            id: None,
            close: ParentClose::default(),
            timeout: None,
        }
    }

    /// Gives the child run this id, instead of the one derived from the parent's id and the
    /// call (`<parent id>/<workflow>-<call sequence number>`).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// What happens to the child if the parent stops waiting for it (default:
    /// [`ParentClose::Terminate`]).
    pub fn parent_close(mut self, policy: ParentClose) -> Self {
        self.close = policy;
        self
    }

    /// The child run's execution timeout, counted from its start, as
    /// [`crate::StartOptions::timeout`] gives a run one (Temporal's child workflow execution
    /// timeout): once the child has run this long without ending, it is stopped outright (its
    /// code is not told, its own children are closed by their policies), and this call is
    /// answered [`ChildError::TimedOut`]. The end is a timer in the store, which a restart
    /// keeps and a continue-as-new of the child carries on. At least
    /// [`crate::MIN_TIMEOUT`], a second.
    ///
    /// The parent's own wait is not bounded by it beyond that: a parent that should give up
    /// sooner races the call against a timer (`ctx.select((call, ctx.sleep(limit)))`), which
    /// closes the child by its [`ParentClose`] policy when the timer wins.
    pub fn timeout(mut self, limit: std::time::Duration) -> Self {
        self.timeout = Some(limit.max(crate::MIN_TIMEOUT));
        self
    }
}

/// The id of the child run of call `seq` in run `parent`, unless the call names one.
pub(crate) fn derived_id(parent: &str, workflow: &str, seq: u64) -> String {
    format!("{parent}/{workflow}-{seq}")
}

impl<W: Workflow> Sealed for ChildCall<W> {}

impl<W: Workflow> Durable for ChildCall<W> {
    type Output = Result<W::Output, ChildError>;

    fn schedule(self, ctx: &WorkflowCtx) -> Result<Pending, ResumeError> {
        let input = postcard::to_stdvec(&self.input).map_err(|e| ResumeError::Encode {
            what: format!("the input of child workflow {}", W::NAME),
            reason: e.to_string(),
        })?;
        let seq = ctx.next_seq()?;
        ctx.note_child_call(crate::context::ChildNote {
            seq,
            version: W::VERSION,
            timeout_ms: self
                .timeout
                .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
        });
        Ok(Pending::Child {
            seq,
            name: W::NAME.to_string(),
            id: self
                .id
                .unwrap_or_else(|| derived_id(ctx.workflow_id(), W::NAME, seq)),
            input,
            close: self.close,
        })
    }

    fn resolve(resolution: Resolution) -> Result<Self::Output, ResumeError> {
        match resolution {
            Resolution::Child(Ok(bytes)) => {
                crate::codec::decode_exact(&bytes)
                    .map(Ok)
                    .map_err(|reason| ResumeError::Decode {
                        what: format!("the output of child workflow {}", W::NAME),
                        reason,
                    })
            }
            Resolution::Child(Err(e)) => Ok(Err(e)),
            other => Err(unexpected("a child workflow", &other)),
        }
    }
}
