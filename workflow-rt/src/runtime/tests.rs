//! The runtime on a hand-written state machine (what `#[workflow]` generates, written out):
//! it sums the doubles of `0..n` computed by an activity, then adds a bonus signal, or 0 if
//! none comes within a minute. Each test runs twice: with the decoded state kept between steps,
//! and restored from the store at every step; both must give the same outcome.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::activity::{Activity, ActivityCtx, ActivityError, BoxFuture};
use crate::context::{ActivityCall, SignalTimeout, WorkflowCtx};
use crate::durable::{Durable, Resolution};
use crate::error::ResumeError;
use crate::store::{MemoryStore, Store, WorkflowStatus};
use crate::workflow::{Description, Step, Workflow};
use crate::{Runtime, RuntimeError, VirtualClock};

#[derive(Clone, Copy)]
pub(super) struct Double;

impl Activity for Double {
    const NAME: &'static str = "double";
    type Input = u64;
    type Output = Result<u64, ActivityError>;
    fn run(self, _ctx: ActivityCtx, i: u64) -> BoxFuture<'static, Self::Output> {
        Box::pin(async move { Ok(i * 2) })
    }
}

#[derive(Debug, Serialize, Deserialize)]
enum AdderState {
    Start { n: u64 },
    Calling { n: u64, i: u64, sum: u64 },
    AwaitingBonus { sum: u64 },
    Returned,
}

#[derive(Clone, Copy)]
struct Adder;

static DESCRIPTION: Description = Description {
    workflow: "adder",
    version: 1,
    states: &[],
    transitions: &[],
    layout: <Adder as Workflow>::layout,
};

impl Adder {
    fn call(state: &mut AdderState, ctx: &WorkflowCtx, n: u64, i: u64, sum: u64) -> Step<u64> {
        if i < n {
            *state = AdderState::Calling { n, i, sum };
            return match ctx.activity(Double, i).schedule(ctx) {
                Ok(p) => Step::Suspended(p),
                Err(e) => Step::Failed(e),
            };
        }
        *state = AdderState::AwaitingBonus { sum };
        match ctx
            .signal::<u64>("bonus")
            .timeout(Duration::from_secs(60))
            .schedule(ctx)
        {
            Ok(p) => Step::Suspended(p),
            Err(e) => Step::Failed(e),
        }
    }
}

impl Workflow for Adder {
    const NAME: &'static str = "adder";
    type Input = u64;
    type Output = u64;
    type State = AdderState;

    fn start(n: u64) -> AdderState {
        AdderState::Start { n }
    }

    fn resume(state: &mut AdderState, ctx: &WorkflowCtx, wake: Option<Resolution>) -> Step<u64> {
        match (std::mem::replace(state, AdderState::Returned), wake) {
            (AdderState::Start { n }, None) => Self::call(state, ctx, n, 0, 0),
            (AdderState::Calling { n, i, sum }, Some(r)) => {
                match ActivityCall::<Double>::resolve(r) {
                    Ok(Ok(v)) => Self::call(state, ctx, n, i + 1, sum + v),
                    Ok(Err(e)) => Step::Failed(ResumeError::NotResumable(e.to_string())),
                    Err(e) => Step::Failed(e),
                }
            }
            (AdderState::AwaitingBonus { sum }, Some(r)) => {
                match SignalTimeout::<u64>::resolve(r) {
                    Ok(bonus) => Step::Completed(sum + bonus.unwrap_or(0)),
                    Err(e) => Step::Failed(e),
                }
            }
            (s, _) => Step::Failed(ResumeError::NotResumable(format!("{s:?}"))),
        }
    }

    fn layout() -> &'static crate::Layout {
        static LAYOUT: crate::Layout = crate::Layout::fixed(1);
        &LAYOUT
    }

    fn description() -> &'static Description {
        &DESCRIPTION
    }

    fn is_failure(_: &u64) -> bool {
        false
    }
}

async fn runtime(store: Arc<MemoryStore>, clock: VirtualClock, restore: bool) -> Runtime {
    Runtime::builder(store)
        .clock(clock)
        .workflow(Adder)
        .activity(Double)
        .poll_interval(Duration::from_millis(5))
        .restore_every_step(restore)
        .build()
        .await
        .expect("build")
}

#[tokio::test]
async fn runs_a_workflow_to_its_end() {
    for restore in [false, true] {
        let store = Arc::new(MemoryStore::new());
        let clock = VirtualClock::new(1_000_000);
        let rt = runtime(store.clone(), clock.clone(), restore).await;
        // The bonus is sent before the workflow waits for it: it is buffered.
        let run = rt.start(Adder, "a", 10).await.expect("start");
        rt.signal("a", "bonus", 1000u64).await.expect("signal");
        let out = tokio::time::timeout(Duration::from_secs(5), run.result())
            .await
            .expect("in time")
            .expect("result");
        assert_eq!(out, 90 + 1000, "restore_every_step({restore})");
        let rec = store.load_workflow("a").await.expect("load");
        assert_eq!(rec.status, WorkflowStatus::Completed);
        assert_eq!(
            rec.version, 12,
            "one commit per step: 10 activities, the signal, the first step"
        );
        assert!(store.load_tasks("a").await.expect("tasks").is_empty());
        rt.shutdown().await;
    }
}

#[tokio::test]
async fn a_timeout_fires_on_the_virtual_clock_and_start_is_idempotent() {
    for restore in [false, true] {
        let store = Arc::new(MemoryStore::new());
        let clock = VirtualClock::new(1_000_000);
        let rt = runtime(store.clone(), clock.clone(), restore).await;
        let run = rt.start(Adder, "b", 3).await.expect("start");
        let again = rt
            .start(Adder, "b", 3)
            .await
            .expect("same input: the same run");
        assert_eq!(again.id(), "b");
        assert!(matches!(
            rt.start(Adder, "b", 4).await,
            Err(RuntimeError::IdInUse { .. })
        ));
        // Wait until it waits for the bonus, then let a minute pass.
        for _ in 0..500 {
            if store.load_timers("b").await.expect("timers").len() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        clock.advance(Duration::from_secs(61));
        let out = tokio::time::timeout(Duration::from_secs(5), run.result())
            .await
            .expect("in time")
            .expect("result");
        assert_eq!(out, 6, "restore_every_step({restore})");
        assert!(matches!(
            rt.signal("b", "bonus", 1u64).await,
            Err(RuntimeError::Finished { .. })
        ));
        assert!(matches!(
            rt.signal("nope", "bonus", 1u64).await,
            Err(RuntimeError::UnknownWorkflow(_))
        ));
        rt.shutdown().await;
    }
}
