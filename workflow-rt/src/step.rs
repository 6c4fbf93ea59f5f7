//! One step of a workflow, computed in memory: the state, what woke it and the time go in; the
//! new wait (or the output) and the snapshot to commit come out. No I/O, no locks, no clock.
//!
//! The runtime ([`crate::Runtime`]) and the test driver ([`crate::testing`]) both step
//! workflows here and restore them from snapshots with [`restore`], so the two check the
//! snapshot envelope (workflow name, fingerprint, step) the same way and agree on what a step
//! is: where its clock reading comes from, how a panic or an error of the workflow's code is
//! reported, and when its output is a failure.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::codec::panic_message;
use crate::context::{CtxState, WorkflowCtx};
use crate::durable::{Pending, Resolution};
use crate::error::ResumeError;
use crate::snapshot::{Snapshot, SnapshotError};
use crate::workflow::{Step, Workflow};

/// Where a step left the workflow.
#[derive(Debug)]
pub(crate) enum Outcome<O> {
    /// Suspended at a durable await, waiting for these commands.
    Suspended(Pending),
    /// Returned `output`; `failed` when the function's written return type is a `Result` and
    /// the output is its `Err` ([`Workflow::is_failure`]).
    Completed { output: O, failed: bool },
    /// Returned after [`WorkflowCtx::continue_as_new`]: the run starts over as `workflow` at
    /// `version` with the encoded `input` (the output is dropped).
    Continued {
        workflow: &'static str,
        version: u32,
        input: Vec<u8>,
    },
}

/// A step that ran: its outcome, and the snapshot (envelope) that records it.
#[derive(Debug)]
pub(crate) struct Stepped<O> {
    pub outcome: Outcome<O>,
    pub snapshot: Vec<u8>,
}

/// Why a step could not run. It stays a typed value until it becomes the reason of a parked
/// workflow (its `Display`, in the history) or a [`crate::testing::TestError`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum StepFailure {
    /// The generated code reported an error: a value that does not decode, a wake the state
    /// does not wait for, a signal payload of the wrong type.
    #[error("step {step} failed: {error}")]
    Resume { step: u64, error: ResumeError },
    /// The workflow's code panicked.
    #[error("step {step} panicked: {message}")]
    Panicked { step: u64, message: String },
    /// The step ran but its result cannot be saved (the state or the output does not encode).
    #[error("step {step} cannot be saved: {reason}")]
    Unsaved { step: u64, reason: String },
    /// The step ran but its snapshot is larger than the runtime's limit
    /// ([`crate::Limits::max_snapshot_bytes`]): it is not committed.
    #[error(
        "step {step} cannot be saved: its snapshot is {size} bytes, over the limit of {limit} \
         (Limits::max_snapshot_bytes); keep less in the workflow's variables across awaits, or \
         raise the limit and unpark it"
    )]
    TooLarge {
        step: u64,
        size: usize,
        limit: usize,
    },
    /// The code called [`WorkflowCtx::continue_as_new`] and then awaited, rather than
    /// returned.
    #[error(
        "step {step} called continue_as_new and then awaited: a run goes on as new only from \
         its end; call continue_as_new just before the code returns"
    )]
    ContinuedThenAwaited { step: u64 },
}

impl StepFailure {
    /// The signal event whose payload does not decode as the type its await expects, if that
    /// is why the step failed: bad input from a sender, not a fault of the workflow.
    pub(crate) fn bad_signal(&self) -> Option<u64> {
        match self {
            StepFailure::Resume {
                error: ResumeError::SignalPayload { event, .. },
                ..
            } => Some(*event),
            _ => None,
        }
    }
}

/// Runs step number `step` of workflow `W`: sets the context's clock to `woke_at` (never
/// backwards), resumes `state` with `wake`, and encodes the snapshot of where it stopped, which
/// must not be longer than `max_snapshot` bytes.
///
/// On failure `state` may be half-changed (the code ran part of the step): the caller must
/// drop it and restore from the last snapshot.
pub(crate) fn run<W: Workflow>(
    state: &mut W::State,
    ctx: &WorkflowCtx,
    wake: Option<Resolution>,
    woke_at: u64,
    step: u64,
    max_snapshot: usize,
) -> Result<Stepped<W::Output>, StepFailure> {
    ctx.set_now_ms(ctx.now_ms().max(woke_at));
    let resumed = catch_unwind(AssertUnwindSafe(|| W::resume(state, ctx, wake)));
    let continued = ctx.take_continue_as();
    let outcome = match resumed {
        Ok(Step::Suspended(_)) if continued.is_some() => {
            return Err(StepFailure::ContinuedThenAwaited { step });
        }
        Ok(Step::Suspended(pending)) => Outcome::Suspended(pending),
        Ok(Step::Completed(output)) => match continued {
            None => Outcome::Completed {
                failed: W::is_failure(&output),
                output,
            },
            Some(to) => match to.input {
                Ok(input) => Outcome::Continued {
                    workflow: to.workflow,
                    version: to.version,
                    input,
                },
                Err(e) => {
                    return Err(StepFailure::Unsaved {
                        step,
                        reason: format!("the input of continue_as_new does not encode: {e}"),
                    });
                }
            },
        },
        Ok(Step::Failed(error)) => return Err(StepFailure::Resume { step, error }),
        Err(panic) => {
            return Err(StepFailure::Panicked {
                step,
                message: panic_message(&*panic),
            });
        }
    };
    let snapshot =
        encode::<W>(state, step, &ctx.state_ref()).map_err(|e| StepFailure::Unsaved {
            step,
            reason: e.to_string(),
        })?;
    if snapshot.len() > max_snapshot {
        return Err(StepFailure::TooLarge {
            step,
            size: snapshot.len(),
            limit: max_snapshot,
        });
    }
    Ok(Stepped { outcome, snapshot })
}

/// The snapshot envelope of `state` after step `step` (a panicking `Serialize` impl is an
/// error, not a crash).
pub(crate) fn encode<W: Workflow>(
    state: &W::State,
    step: u64,
    ctx: &CtxState,
) -> Result<Vec<u8>, SnapshotError> {
    catch_unwind(AssertUnwindSafe(|| {
        Snapshot::encode_version(W::NAME, W::VERSION, W::fingerprint(), step, ctx, state)
    }))
    .unwrap_or_else(|panic| {
        Err(SnapshotError::Encode(format!(
            "encoding the state panicked: {}",
            panic_message(&*panic)
        )))
    })
}

/// Restores workflow `W` from a snapshot envelope: it must decode, name `W` and carry `W`'s
/// fingerprint, and its state must decode as `W::State` with no byte left over (a panicking
/// `Deserialize` impl is an error, not a crash).
pub(crate) fn restore<W: Workflow>(bytes: &[u8]) -> Result<(Snapshot, W::State), SnapshotError> {
    let snapshot = Snapshot::decode(bytes)?;
    snapshot.check_layout(W::NAME, W::layout())?;
    if snapshot.version != W::VERSION {
        return Err(SnapshotError::WrongVersion {
            workflow: W::NAME.to_string(),
            stored: snapshot.version,
            code: W::VERSION,
        });
    }
    let state = decode_state::<W>(&snapshot)?;
    Ok((snapshot, state))
}

/// The state held in `snapshot`, whose envelope the caller has checked.
pub(crate) fn decode_state<W: Workflow>(snapshot: &Snapshot) -> Result<W::State, SnapshotError> {
    catch_unwind(AssertUnwindSafe(|| snapshot.decode_state::<W::State>())).unwrap_or_else(|panic| {
        Err(SnapshotError::Corrupt(format!(
            "decoding the state panicked: {}",
            panic_message(&*panic)
        )))
    })
}
