//! Workflows and activities registered with a runtime, by name, behind small trait objects: the
//! runtime handles encoded bytes and never names a user type.

use std::any::Any;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::__private::Fallible;
use crate::activity::{Activity, ActivityCtx, ActivityError, ActivityErrorKind, BoxFuture};
use crate::context::{CtxState, WorkflowCtx};
use crate::durable::{Pending, Resolution};
use crate::error::ResumeError;
use crate::snapshot::Snapshot;
use crate::workflow::{Step, Workflow};

/// A workflow's state enum, decoded, behind `Any`.
pub(crate) type ErasedState = Box<dyn Any + Send>;

/// [`Step`] with the output encoded.
pub(crate) enum ErasedStep {
    Suspended(Pending),
    /// `failed`: the output is an `Err(..)`.
    Completed {
        output: Vec<u8>,
        failed: bool,
    },
    /// The step cannot run: park with this reason, unless `bad_signal_payload` (see
    /// [`is_bad_signal_payload`]): then the engine looks for the signal to dead-letter.
    Failed {
        reason: String,
        bad_signal_payload: bool,
    },
}

/// How [`crate::context::SignalWait`] starts the `what` of the decode error for a payload that
/// is not of the type the workflow waits for (`runtime::tests` pins the two together).
pub(crate) const SIGNAL_PAYLOAD_WHAT: &str = "a signal payload as ";

/// Whether a step failed because a signal's payload does not decode as the type waited for:
/// bad input from a sender, not a fault of the workflow, so the engine dead-letters that one
/// signal instead of parking the workflow.
pub(crate) fn is_bad_signal_payload(e: &ResumeError) -> bool {
    matches!(e, ResumeError::Decode { what, .. } if what.starts_with(SIGNAL_PAYLOAD_WHAT))
}

pub(crate) trait ErasedWorkflow: Send + Sync {
    fn name(&self) -> &'static str;
    fn fingerprint(&self) -> u64;
    /// [`Workflow::ACTIVITIES`].
    fn activities(&self) -> &'static [&'static str];
    fn decode_state(&self, snapshot: &Snapshot) -> Result<ErasedState, String>;
    fn encode_snapshot(
        &self,
        state: &ErasedState,
        step: u64,
        ctx: CtxState,
    ) -> Result<Vec<u8>, String>;
    fn resume(
        &self,
        state: &mut ErasedState,
        ctx: &WorkflowCtx,
        wake: Option<Resolution>,
    ) -> ErasedStep;
    fn state_json(&self, snapshot: &Snapshot) -> Result<serde_json::Value, String>;
    fn output_json(&self, output: &[u8]) -> Result<serde_json::Value, String>;
}

/// Runs code that calls the user's `Serialize` and `Deserialize` impls, turning a panic in them
/// into an error: a state or payload that makes an impl panic parks its workflow (or fails the
/// call) like one that does not decode, and never takes a worker down.
pub(crate) fn no_panic<T>(what: &str, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        Err(format!(
            "{what} panicked: {}",
            super::engine::panic_message(&*panic)
        ))
    })
}

pub(crate) struct RegisteredWorkflow<W>(PhantomData<fn() -> W>);

impl<W> RegisteredWorkflow<W> {
    pub(crate) fn new() -> Self {
        RegisteredWorkflow(PhantomData)
    }
}

/// Whether an output is an `Err(..)`: serde writes `Result` as the variant `Ok` or `Err`, which
/// shows in its JSON form as a one-key object.
fn is_err_output<T: serde::Serialize>(output: &T) -> bool {
    matches!(serde_json::to_value(output), Ok(serde_json::Value::Object(m)) if m.len() == 1 && m.contains_key("Err"))
}

impl<W: Workflow> ErasedWorkflow for RegisteredWorkflow<W> {
    fn name(&self) -> &'static str {
        W::NAME
    }

    fn fingerprint(&self) -> u64 {
        W::FINGERPRINT
    }

    fn activities(&self) -> &'static [&'static str] {
        W::ACTIVITIES
    }

    fn decode_state(&self, snapshot: &Snapshot) -> Result<ErasedState, String> {
        no_panic("decoding the state", || {
            snapshot
                .decode_state::<W::State>()
                .map(|s| Box::new(s) as ErasedState)
                .map_err(|e| e.to_string())
        })
    }

    fn encode_snapshot(
        &self,
        state: &ErasedState,
        step: u64,
        ctx: CtxState,
    ) -> Result<Vec<u8>, String> {
        let state = state
            .downcast_ref::<W::State>()
            .ok_or_else(|| state_type_mismatch::<W>())?;
        no_panic("encoding the state", || {
            Snapshot::encode(W::NAME, W::FINGERPRINT, step, ctx, state).map_err(|e| e.to_string())
        })
    }

    fn resume(
        &self,
        state: &mut ErasedState,
        ctx: &WorkflowCtx,
        wake: Option<Resolution>,
    ) -> ErasedStep {
        let Some(state) = state.downcast_mut::<W::State>() else {
            return ErasedStep::Failed {
                reason: state_type_mismatch::<W>(),
                bad_signal_payload: false,
            };
        };
        match W::resume(state, ctx, wake) {
            Step::Suspended(p) => ErasedStep::Suspended(p),
            Step::Completed(o) => match postcard::to_stdvec(&o) {
                Ok(output) => ErasedStep::Completed {
                    failed: is_err_output(&o),
                    output,
                },
                Err(e) => ErasedStep::Failed {
                    reason: format!("cannot encode the output of {}: {e}", W::NAME),
                    bad_signal_payload: false,
                },
            },
            Step::Failed(e) => ErasedStep::Failed {
                bad_signal_payload: is_bad_signal_payload(&e),
                reason: e.to_string(),
            },
        }
    }

    fn state_json(&self, snapshot: &Snapshot) -> Result<serde_json::Value, String> {
        no_panic("showing the state", || {
            let state = snapshot
                .decode_state::<W::State>()
                .map_err(|e| e.to_string())?;
            serde_json::to_value(&state).map_err(|e| e.to_string())
        })
    }

    fn output_json(&self, output: &[u8]) -> Result<serde_json::Value, String> {
        no_panic("showing the output", || {
            let o: W::Output = postcard::from_bytes(output).map_err(|e| e.to_string())?;
            serde_json::to_value(&o).map_err(|e| e.to_string())
        })
    }
}

fn state_type_mismatch<W: Workflow>() -> String {
    format!(
        "the state held for {} is not a {}",
        W::NAME,
        std::any::type_name::<W::State>()
    )
}

pub(crate) trait ErasedActivity: Send + Sync {
    /// Runs one attempt on encoded input; the output is the encoded `Ok` value.
    fn run(
        &self,
        ctx: ActivityCtx,
        input: &[u8],
    ) -> BoxFuture<'static, Result<Vec<u8>, ActivityError>>;
}

pub(crate) struct RegisteredActivity<A>(pub(crate) A);

impl<A: Activity> ErasedActivity for RegisteredActivity<A> {
    fn run(
        &self,
        ctx: ActivityCtx,
        input: &[u8],
    ) -> BoxFuture<'static, Result<Vec<u8>, ActivityError>> {
        let input: A::Input = match postcard::from_bytes(input) {
            Ok(i) => i,
            Err(e) => {
                let e = ActivityError::new(
                    ActivityErrorKind::BadCall,
                    format!("the input of {} does not decode: {e}", A::NAME),
                );
                return Box::pin(std::future::ready(Err(e)));
            }
        };
        let body = self.0.run(ctx, input);
        Box::pin(async move {
            match body.await.into_result() {
                Ok(v) => postcard::to_stdvec(&v).map_err(|e| {
                    ActivityError::new(
                        ActivityErrorKind::NonRetryable,
                        format!("the output of {} does not encode: {e}", A::NAME),
                    )
                }),
                Err(e) => Err(e.into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{is_bad_signal_payload, is_err_output};
    use crate::context::{ActivityCall, SignalWait};
    use crate::durable::{Durable, Resolution};
    use crate::error::ResumeError;

    #[test]
    fn recognises_a_signal_payload_of_the_wrong_type() {
        let too_big = postcard::to_stdvec(&u128::MAX).expect("encode");
        let e = SignalWait::<u64>::resolve(Resolution::Signal(too_big.clone()))
            .expect_err("a u128 past u64::MAX is not a u64");
        assert!(is_bad_signal_payload(&e), "{e:?}");
        // Other decode failures are the workflow's: they park it.
        let e = <ActivityCall<crate::runtime::tests::Double>>::resolve(Resolution::Activity(Ok(
            too_big,
        )))
        .expect_err("not a u64");
        assert!(!is_bad_signal_payload(&e), "{e:?}");
        assert!(!is_bad_signal_payload(&ResumeError::Decode {
            what: "saved local `x`".into(),
            reason: "eof".into()
        }));
    }

    #[test]
    fn recognises_err_outputs() {
        assert!(is_err_output(&Err::<u8, String>("no".into())));
        assert!(!is_err_output(&Ok::<u8, String>(1)));
        assert!(!is_err_output(&5u32));
        assert!(!is_err_output(&Some("Err")));
    }
}
