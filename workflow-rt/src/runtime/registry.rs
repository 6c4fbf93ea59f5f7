//! Workflows and activities registered with a runtime, by name, behind small trait objects: the
//! runtime handles encoded bytes and never names a user type.

use std::any::Any;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use foldhash::HashMap;

use super::telemetry::{ActivityKeys, WorkflowKeys};
use crate::__private::Fallible;
use crate::activity::{Activity, ActivityCtx, ActivityError, ActivityErrorKind, BoxFuture};
use crate::context::{CtxState, WorkflowCtx};
use crate::durable::Resolution;
use crate::snapshot::{Snapshot, SnapshotError};
use crate::step::{self, StepFailure};
use crate::versions::ErasedMigration;
use crate::workflow::Workflow;

/// A workflow's state enum, decoded, behind `Any`.
pub(crate) type ErasedState = Box<dyn Any + Send>;

/// [`step::Stepped`] with the output encoded.
pub(crate) type ErasedStepped = step::Stepped<Vec<u8>>;

/// The workflows a runtime steps, by name and version, and the migrations between versions.
#[derive(Default, Clone)]
pub(crate) struct Registry {
    by_name: HashMap<&'static str, BTreeMap<u32, Arc<dyn ErasedWorkflow>>>,
    /// By workflow name and the version they migrate from.
    migrations: HashMap<(&'static str, u32), Arc<dyn ErasedMigration>>,
}

impl Registry {
    /// Adds a workflow's code; `false` if its name and version are taken.
    pub(crate) fn add(&mut self, w: Arc<dyn ErasedWorkflow>) -> bool {
        let versions = self.by_name.entry(w.name()).or_default();
        if versions.contains_key(&w.version()) {
            return false;
        }
        versions.insert(w.version(), w);
        true
    }

    /// Adds a migration; `false` if one from its version is registered already.
    pub(crate) fn add_migration(&mut self, m: Arc<dyn ErasedMigration>) -> bool {
        self.migrations
            .insert((m.workflow(), m.from().0), m)
            .is_none()
    }

    /// The code of `name` at `version`, whatever its fingerprint.
    pub(crate) fn version(&self, name: &str, version: u32) -> Option<&Arc<dyn ErasedWorkflow>> {
        self.by_name.get(name)?.get(&version)
    }

    /// The code that may step a snapshot of `name` at `version` written with `fingerprint`.
    pub(crate) fn code(
        &self,
        name: &str,
        version: u32,
        fingerprint: u64,
    ) -> Option<&Arc<dyn ErasedWorkflow>> {
        self.version(name, version)
            .filter(|w| w.layout().accepts(fingerprint))
    }

    /// The newest version of `name` registered.
    pub(crate) fn newest(&self, name: &str) -> Option<u32> {
        self.by_name.get(name)?.keys().next_back().copied()
    }

    /// The migration of `name` from `version`.
    pub(crate) fn migration(&self, name: &str, version: u32) -> Option<&Arc<dyn ErasedMigration>> {
        // The name as the map holds it (a migration of a name with no registered code is
        // never needed: nothing of that name is stepped here).
        let (name, _) = self.by_name.get_key_value(name)?;
        self.migrations.get(&(*name, version))
    }

    /// Whether `version` of workflow `name` is newer than every version registered here (a
    /// run written by newer code on another worker).
    pub(crate) fn is_newer(&self, name: &str, version: u32) -> bool {
        self.newest(name).is_some_and(|n| version > n)
    }

    /// Whether this runtime steps workflows of this name (some version).
    pub(crate) fn knows(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// The names registered, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.by_name.keys().map(|n| n.to_string()).collect();
        names.sort();
        names
    }

    /// Whether a snapshot of `name` at `version` with `fingerprint` can go on: its code is
    /// registered, or a migration from its version is (which may lead to code, or refuse).
    pub(crate) fn can_continue(&self, name: &str, version: u32, fingerprint: u64) -> bool {
        self.code(name, version, fingerprint).is_some()
            || self
                .migration(name, version)
                .is_some_and(|m| m.accepts_from(fingerprint))
    }
}

pub(crate) trait ErasedWorkflow: Send + Sync {
    fn name(&self) -> &'static str;
    /// [`Workflow::VERSION`].
    fn version(&self) -> u32;

    fn fingerprint(&self) -> u64;
    fn layout(&self) -> &'static crate::Layout;
    /// [`Workflow::ACTIVITIES`].
    fn activities(&self) -> &'static [&'static str];
    /// [`Workflow::description`].
    fn description(&self) -> &'static crate::workflow::Description;
    /// [`step::restore`].
    fn restore(&self, snapshot: &[u8]) -> Result<(Snapshot, ErasedState), SnapshotError>;
    /// [`step::run`], with the output encoded.
    fn step(
        &self,
        state: &mut ErasedState,
        ctx: &WorkflowCtx,
        wake: Option<Resolution>,
        woke_at: u64,
        step: u64,
        max_snapshot: usize,
    ) -> Result<ErasedStepped, StepFailure>;
    fn state_json(&self, snapshot: &Snapshot) -> Result<serde_json::Value, String>;
    fn output_json(&self, output: &[u8]) -> Result<serde_json::Value, String>;
    /// The name of the state `state` is in ([`crate::Description::states`]), if it is this
    /// workflow's state enum.
    fn state_name(&self, state: &ErasedState) -> Option<&'static str>;
    /// The keys of this workflow's per-step metrics.
    fn keys(&self) -> &WorkflowKeys;
    /// The snapshot of `state` (this workflow's state enum) after `step` steps, with `ctx`.
    fn encode_state(
        &self,
        state: &ErasedState,
        step: u64,
        ctx: &CtxState,
    ) -> Result<Vec<u8>, String>;
    /// The first snapshot of a run that continues as new as this workflow with the encoded
    /// `input` ([`crate::WorkflowCtx::continue_as_new`]), its context `ctx` carried over from
    /// the run before. `step` is the number of the step that continues (the chain's steps go
    /// on counting).
    fn continued(&self, input: &[u8], ctx: &CtxState, step: u64) -> Result<Vec<u8>, String>;
    /// A new run `id` of this workflow with the encoded `input`, started at `now_ms`: its
    /// first snapshot, state and context.
    fn first_run(
        &self,
        id: &str,
        input: &[u8],
        now_ms: u64,
    ) -> Result<(Vec<u8>, ErasedState, CtxState), String>;
    /// The first snapshot of a run `id` started at `now_ms` with the encoded `input` (a run
    /// started by a schedule, whose input is stored encoded).
    fn first_snapshot(&self, id: &str, input: &[u8], now_ms: u64) -> Result<Vec<u8>, String>;
}

/// Runs code that calls the user's `Serialize` and `Deserialize` impls, turning a panic in them
/// into an error: a state or payload that makes an impl panic parks its workflow (or fails the
/// call) like one that does not decode, and never takes a worker down.
pub(crate) fn no_panic<T>(what: &str, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        Err(format!(
            "{what} panicked: {}",
            crate::codec::panic_message(&*panic)
        ))
    })
}

pub(crate) struct RegisteredWorkflow<W> {
    keys: WorkflowKeys,
    _workflow: PhantomData<fn() -> W>,
}

impl<W: Workflow> RegisteredWorkflow<W> {
    pub(crate) fn new() -> Self {
        RegisteredWorkflow {
            keys: WorkflowKeys::new(W::NAME),
            _workflow: PhantomData,
        }
    }
}

impl<W: Workflow> ErasedWorkflow for RegisteredWorkflow<W> {
    fn name(&self) -> &'static str {
        W::NAME
    }

    fn version(&self) -> u32 {
        W::VERSION
    }

    fn fingerprint(&self) -> u64 {
        W::fingerprint()
    }

    fn layout(&self) -> &'static crate::Layout {
        W::layout()
    }

    fn activities(&self) -> &'static [&'static str] {
        W::ACTIVITIES
    }

    fn description(&self) -> &'static crate::workflow::Description {
        W::description()
    }

    fn restore(&self, snapshot: &[u8]) -> Result<(Snapshot, ErasedState), SnapshotError> {
        step::restore::<W>(snapshot).map(|(s, state)| (s, Box::new(state) as ErasedState))
    }

    fn step(
        &self,
        state: &mut ErasedState,
        ctx: &WorkflowCtx,
        wake: Option<Resolution>,
        woke_at: u64,
        step_no: u64,
        max_snapshot: usize,
    ) -> Result<ErasedStepped, StepFailure> {
        let Some(state) = state.downcast_mut::<W::State>() else {
            return Err(StepFailure::Unsaved {
                step: step_no,
                reason: format!("the state held for {} is not its state enum", W::NAME),
            });
        };
        let stepped = step::run::<W>(state, ctx, wake, woke_at, step_no, max_snapshot)?;
        let outcome = match stepped.outcome {
            step::Outcome::Suspended(p) => step::Outcome::Suspended(p),
            step::Outcome::Continued {
                workflow,
                version,
                input,
            } => step::Outcome::Continued {
                workflow,
                version,
                input,
            },
            step::Outcome::Completed { output, failed } => {
                let output = no_panic("encoding the output", || crate::codec::encode(&output))
                    .map_err(|e| StepFailure::Unsaved {
                        step: step_no,
                        reason: format!("the output of {} does not encode: {e}", W::NAME),
                    })?;
                step::Outcome::Completed { output, failed }
            }
        };
        Ok(step::Stepped {
            outcome,
            snapshot: stepped.snapshot,
        })
    }

    fn state_json(&self, snapshot: &Snapshot) -> Result<serde_json::Value, String> {
        let state = step::decode_state::<W>(snapshot).map_err(|e| e.to_string())?;
        no_panic("showing the state", || {
            let mut json = crate::promise::showing(|| serde_json::to_value(&state))
                .map_err(|e| e.to_string())?;
            let states: Vec<&str> = W::description().states.iter().map(|s| s.name).collect();
            W::layout().show_inferred(&states, &mut json);
            Ok(json)
        })
    }

    fn output_json(&self, output: &[u8]) -> Result<serde_json::Value, String> {
        no_panic("showing the output", || {
            let o: W::Output = crate::codec::decode_exact(output)?;
            crate::promise::showing(|| serde_json::to_value(&o)).map_err(|e| e.to_string())
        })
    }

    fn state_name(&self, state: &ErasedState) -> Option<&'static str> {
        // Postcard and the description both number the states in variant order.
        let index = crate::state_serde::variant_index(state.downcast_ref::<W::State>()?)?;
        Some(W::description().states.get(index as usize)?.name)
    }

    fn keys(&self) -> &WorkflowKeys {
        &self.keys
    }

    fn encode_state(
        &self,
        state: &ErasedState,
        step: u64,
        ctx: &CtxState,
    ) -> Result<Vec<u8>, String> {
        let state = state
            .downcast_ref::<W::State>()
            .ok_or_else(|| format!("the state held for {} is not its state enum", W::NAME))?;
        step::encode::<W>(state, step, ctx).map_err(|e| e.to_string())
    }

    fn first_run(
        &self,
        id: &str,
        input: &[u8],
        now_ms: u64,
    ) -> Result<(Vec<u8>, ErasedState, CtxState), String> {
        let input: W::Input = no_panic("decoding the input", || crate::codec::decode_exact(input))
            .map_err(|e| format!("its input does not decode: {e}"))?;
        let ctx = WorkflowCtx::initial_state(id, now_ms);
        let state = no_panic("starting the workflow", || Ok(W::start(input)))?;
        let snapshot = step::encode::<W>(&state, 0, &ctx)
            .map_err(|e| format!("its first state does not encode: {e}"))?;
        Ok((snapshot, Box::new(state), ctx))
    }

    fn continued(&self, input: &[u8], ctx: &CtxState, step_no: u64) -> Result<Vec<u8>, String> {
        let input: W::Input = no_panic("decoding the input", || crate::codec::decode_exact(input))
            .map_err(|e| format!("its input does not decode: {e}"))?;
        let state = no_panic("starting the workflow", || Ok(W::start(input)))?;
        step::encode::<W>(&state, step_no, ctx)
            .map_err(|e| format!("its first state does not encode: {e}"))
    }

    fn first_snapshot(&self, id: &str, input: &[u8], now_ms: u64) -> Result<Vec<u8>, String> {
        let input: W::Input = no_panic("decoding the input", || crate::codec::decode_exact(input))
            .map_err(|e| format!("the input of {} does not decode: {e}", W::NAME))?;
        let ctx = WorkflowCtx::initial_state(id, now_ms);
        let state = no_panic("starting the workflow", || Ok(W::start(input)))?;
        step::encode::<W>(&state, 0, &ctx).map_err(|e| e.to_string())
    }
}

pub(crate) trait ErasedActivity: Send + Sync {
    /// Runs one attempt on encoded input; the output is the encoded `Ok` value.
    fn run(
        &self,
        ctx: ActivityCtx,
        input: &[u8],
    ) -> BoxFuture<'static, Result<Vec<u8>, ActivityError>>;
    /// An encoded input as JSON.
    fn input_json(&self, input: &[u8]) -> Result<serde_json::Value, String>;
    /// An encoded `Ok` output as JSON.
    fn output_json(&self, output: &[u8]) -> Result<serde_json::Value, String>;
    /// The keys of this activity's per-attempt metrics.
    fn keys(&self) -> &ActivityKeys;
}

pub(crate) struct RegisteredActivity<A> {
    activity: A,
    keys: ActivityKeys,
}

impl<A: Activity> RegisteredActivity<A> {
    pub(crate) fn new(activity: A) -> Self {
        RegisteredActivity {
            activity,
            keys: ActivityKeys::new(A::NAME),
        }
    }
}

impl<A: Activity> ErasedActivity for RegisteredActivity<A> {
    fn run(
        &self,
        ctx: ActivityCtx,
        input: &[u8],
    ) -> BoxFuture<'static, Result<Vec<u8>, ActivityError>> {
        let input: A::Input = match crate::codec::decode_exact(input) {
            Ok(i) => i,
            Err(e) => {
                let e = ActivityError::new(
                    ActivityErrorKind::BadCall,
                    format!("the input of {} does not decode: {e}", A::NAME),
                );
                return Box::pin(std::future::ready(Err(e)));
            }
        };
        let body = self.activity.run(ctx, input);
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

    fn input_json(&self, input: &[u8]) -> Result<serde_json::Value, String> {
        no_panic("showing an activity input", || {
            let v: A::Input = crate::codec::decode_exact(input)?;
            serde_json::to_value(&v).map_err(|e| e.to_string())
        })
    }

    fn output_json(&self, output: &[u8]) -> Result<serde_json::Value, String> {
        no_panic("showing an activity output", || {
            let v: <A::Output as crate::activity::ActivityResult>::Ok =
                crate::codec::decode_exact(output)?;
            serde_json::to_value(&v).map_err(|e| e.to_string())
        })
    }

    fn keys(&self) -> &ActivityKeys {
        &self.keys
    }
}

#[cfg(test)]
mod tests {
    use crate::context::{ActivityCall, SignalWait};
    use crate::durable::{Durable, Resolution};
    use crate::error::ResumeError;

    #[test]
    fn a_signal_payload_of_the_wrong_type_names_its_event() {
        let too_big = postcard::to_stdvec(&u128::MAX).expect("encode");
        let e = SignalWait::<u64>::resolve(Resolution::Signal {
            event: 17,
            payload: too_big.clone(),
            type_tag: None,
        })
        .expect_err("a u128 past u64::MAX is not a u64");
        assert!(
            matches!(e, ResumeError::SignalPayload { event: 17, .. }),
            "{e:?}"
        );
        // Bytes left over: a String is not a u8 even when its first byte reads as one.
        let text = postcard::to_stdvec(&"hi".to_string()).expect("encode");
        let e = SignalWait::<u8>::resolve(Resolution::Signal {
            event: 3,
            payload: text,
            type_tag: None,
        })
        .expect_err("bytes left over");
        assert!(
            matches!(e, ResumeError::SignalPayload { event: 3, .. }),
            "{e:?}"
        );
        // Other decode failures are the workflow's: they park it.
        let e = <ActivityCall<crate::runtime::tests::Double>>::resolve(Resolution::Activity(Ok(
            too_big,
        )))
        .expect_err("not a u64");
        assert!(matches!(e, ResumeError::Decode { .. }), "{e:?}");
    }
}
