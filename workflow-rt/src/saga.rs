//! Sagas: compensations recorded as a workflow goes, run in reverse when it must undo.

use serde::{Deserialize, Serialize};

use crate::activity::{Activity, ActivityError, ActivityErrorKind, ActivityOptions};
use crate::child::{ChildError, ParentClose, derived_id};
use crate::context::WorkflowCtx;
use crate::durable::sealed::Sealed;
use crate::durable::{Durable, Pending, Resolution, unexpected};
use crate::error::ResumeError;
use crate::workflow::{Description, Step, Workflow};

/// The name of the workflow that runs a saga's compensations ([`Saga::compensate`]): every
/// runtime registers it.
pub const COMPENSATE_WORKFLOW: &str = "workflow_rt.compensate";

/// One compensation: an activity call to make if the saga has to undo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compensation {
    /// The activity's name ([`Activity::NAME`]).
    pub activity: String,
    /// Its encoded input, or why the input did not encode (the compensation then fails).
    pub input: Result<Vec<u8>, String>,
    /// Its retry policy and timeouts.
    pub options: ActivityOptions,
}

/// How a compensation went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compensated {
    /// The activity's name.
    pub activity: String,
    /// `None` if it succeeded; its last error if every attempt failed.
    pub error: Option<ActivityError>,
}

/// What [`Saga::compensate`] did: each compensation, in the order they ran (the reverse of
/// the order they were added).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SagaReport {
    /// Each compensation and how it went.
    pub compensations: Vec<Compensated>,
}

impl SagaReport {
    /// Whether every compensation succeeded.
    pub fn all_succeeded(&self) -> bool {
        self.compensations.iter().all(|c| c.error.is_none())
    }

    /// The compensations that failed (after all their attempts).
    pub fn failures(&self) -> impl Iterator<Item = &Compensated> {
        self.compensations.iter().filter(|c| c.error.is_some())
    }
}

/// A list of compensations, kept in the workflow's state: add one after each step that will
/// need undoing, and [`Saga::compensate`] runs them, last added first, as durable activity
/// calls with their own retry policies.
///
/// The compensations run as a child run of the workflow (`<id>/compensate-<seq>`): each call
/// is made exactly once per idempotency key (`<child id>:<seq>`), a crash resumes them where
/// they were, and a cancel request to the workflow does not interrupt them (the workflow
/// waits for them to end, within its grace period). Every compensation is attempted, even
/// after one fails; the [`SagaReport`] says how each went.
///
/// ```
/// use workflow_rt::prelude::*;
/// use workflow_rt::Saga;
///
/// #[activity]
/// async fn reserve(_ctx: ActivityCtx, sku: String) -> Result<String, ActivityError> {
///     Ok(format!("hold-{sku}"))
/// }
/// #[activity]
/// async fn release(_ctx: ActivityCtx, hold: String) -> Result<(), ActivityError> {
///     Ok(())
/// }
/// #[activity]
/// async fn charge(_ctx: ActivityCtx, cents: u64) -> Result<String, ActivityError> {
///     Err(ActivityError::non_retryable("card declined"))
/// }
///
/// #[workflow]
/// async fn order(ctx: WorkflowCtx, sku: String) -> Result<String, WorkflowError> {
///     let mut saga = Saga::new();
///     let hold = ctx.activity(reserve, sku).await?;
///     saga.add(release, hold.clone());
///     match ctx.activity(charge, 999).await {
///         Ok(payment) => Ok(payment),
///         Err(e) => {
///             let report = saga.compensate(&ctx).await?;
///             assert!(report.all_succeeded());
///             Err(e.into())
///         }
///     }
/// }
/// # let run = workflow_rt::testing::TestRun::new(order, "o", "tea".into())
/// #     .with_activity(reserve).with_activity(release).with_activity(charge)
/// #     .run().unwrap();
/// # assert_eq!(run.activity_names(), vec!["reserve", "charge", "release"]);
/// # assert_eq!(run.output.unwrap_err().message, "activity NonRetryable: card declined");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Saga {
    steps: Vec<Compensation>,
}

impl Saga {
    /// An empty saga.
    pub fn new() -> Self {
        Saga::default()
    }

    /// Adds a compensation: a call of `activity` with `input`, with the default options
    /// ([`RetryPolicy::default`](crate::RetryPolicy::default)).
    pub fn add<A: Activity>(&mut self, activity: A, input: A::Input) -> &mut Self {
        self.add_with(activity, input, ActivityOptions::default())
    }

    /// Adds a compensation with its own retry policy and timeouts.
    pub fn add_with<A: Activity>(
        &mut self,
        _activity: A,
        input: A::Input,
        options: ActivityOptions,
    ) -> &mut Self {
        self.steps.push(Compensation {
            activity: A::NAME.to_string(),
            input: postcard::to_stdvec(&input).map_err(|e| e.to_string()),
            options,
        });
        self
    }

    /// The compensations added so far, oldest first.
    pub fn compensations(&self) -> &[Compensation] {
        &self.steps
    }

    /// How many compensations were added.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether none was added.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Runs the compensations, last added first; `.await` it in the workflow. Its value is
    /// the [`SagaReport`], or a [`ChildError`] if the run that makes the calls could not
    /// start or was stopped.
    pub fn compensate(&self, _ctx: &WorkflowCtx) -> Compensate {
        Compensate {
            steps: self.steps.iter().rev().cloned().collect(),
        }
    }
}

/// A saga's compensations, not yet run; `.await` it in a workflow. Made by
/// [`Saga::compensate`].
#[must_use = "compensations do nothing until they are awaited"]
#[derive(Debug)]
pub struct Compensate {
    steps: Vec<Compensation>,
}

impl Sealed for Compensate {}

impl Durable for Compensate {
    type Output = Result<SagaReport, ChildError>;

    fn schedule(self, ctx: &WorkflowCtx) -> Result<Pending, ResumeError> {
        let input = postcard::to_stdvec(&self.steps).map_err(|e| ResumeError::Encode {
            what: "a saga's compensations".to_string(),
            reason: e.to_string(),
        })?;
        let seq = ctx.next_seq()?;
        Ok(Pending::Child {
            seq,
            name: COMPENSATE_WORKFLOW.to_string(),
            id: derived_id(ctx.workflow_id(), "compensate", seq),
            input,
            // Not interrupted by a cancel request (see `Saga`); left to finish if the
            // workflow is stopped outright.
            close: ParentClose::Abandon,
        })
    }

    fn resolve(resolution: Resolution) -> Result<Self::Output, ResumeError> {
        match resolution {
            Resolution::Child(Ok(bytes)) => {
                crate::codec::decode_exact(&bytes)
                    .map(Ok)
                    .map_err(|reason| ResumeError::Decode {
                        what: "a saga's report".to_string(),
                        reason,
                    })
            }
            Resolution::Child(Err(e)) => Ok(Err(e)),
            other => Err(unexpected("a saga's compensations", &other)),
        }
    }
}

/// The workflow that runs a saga's compensations, one after the other: registered by every
/// runtime under [`COMPENSATE_WORKFLOW`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct CompensateWorkflow;

/// Where a run of [`CompensateWorkflow`] stands.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum CompensateState {
    /// The compensations to run, in order, and how those run so far went.
    Running {
        left: Vec<Compensation>,
        done: Vec<Compensated>,
    },
    /// Waiting for the compensation `current`.
    Calling {
        current: String,
        left: Vec<Compensation>,
        done: Vec<Compensated>,
    },
    /// Finished.
    Returned,
}

static DESCRIPTION: Description = Description {
    workflow: COMPENSATE_WORKFLOW,
    version: 1,
    states: &[],
    transitions: &[],
    layout: <CompensateWorkflow as Workflow>::layout,
};

impl CompensateWorkflow {
    /// Starts the next compensation that can be called (one whose input did not encode is
    /// recorded as failed at once), or ends with the report.
    fn next(
        state: &mut CompensateState,
        ctx: &WorkflowCtx,
        mut left: Vec<Compensation>,
        mut done: Vec<Compensated>,
    ) -> Step<SagaReport> {
        while !left.is_empty() {
            let c = left.remove(0);
            match c.input {
                Ok(input) => {
                    let seq = match ctx.next_seq() {
                        Ok(seq) => seq,
                        Err(e) => return Step::Failed(e),
                    };
                    *state = CompensateState::Calling {
                        current: c.activity.clone(),
                        left,
                        done,
                    };
                    return Step::Suspended(Pending::Activity {
                        seq,
                        name: c.activity,
                        input,
                        options: c.options.zero_is_no_limit(),
                    });
                }
                Err(reason) => done.push(Compensated {
                    activity: c.activity,
                    error: Some(ActivityError::new(
                        ActivityErrorKind::BadCall,
                        format!("its input did not encode: {reason}"),
                    )),
                }),
            }
        }
        *state = CompensateState::Returned;
        Step::Completed(SagaReport {
            compensations: done,
        })
    }
}

impl Workflow for CompensateWorkflow {
    const NAME: &'static str = COMPENSATE_WORKFLOW;
    type Input = Vec<Compensation>;
    type Output = SagaReport;
    type State = CompensateState;

    fn start(steps: Vec<Compensation>) -> CompensateState {
        CompensateState::Running {
            left: steps,
            done: Vec::new(),
        }
    }

    fn resume(
        state: &mut CompensateState,
        ctx: &WorkflowCtx,
        wake: Option<Resolution>,
    ) -> Step<SagaReport> {
        match (std::mem::replace(state, CompensateState::Returned), wake) {
            (CompensateState::Running { left, done }, None) => Self::next(state, ctx, left, done),
            (
                CompensateState::Calling {
                    current,
                    left,
                    mut done,
                },
                Some(Resolution::Activity(result)),
            ) => {
                done.push(Compensated {
                    activity: current,
                    error: result.err(),
                });
                Self::next(state, ctx, left, done)
            }
            (s, wake) => {
                let got = wake.as_ref().map_or("no wake", Resolution::kind);
                let e = ResumeError::UnexpectedWake {
                    state: format!("{s:?}"),
                    got: got.to_string(),
                };
                *state = s;
                Step::Failed(e)
            }
        }
    }

    fn description() -> &'static Description {
        &DESCRIPTION
    }

    fn layout() -> &'static crate::Layout {
        static LAYOUT: crate::Layout = crate::Layout::fixed(0x5a6a_c0de_0000_0001);
        &LAYOUT
    }

    fn is_failure(_: &SagaReport) -> bool {
        false
    }
}
