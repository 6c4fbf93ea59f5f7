// A type of the user's named like the state enum `#[workflow]` would generate (`CheckoutState`
// for `checkout`): `state = "..."` gives the enum another name.
use workflow_rt::prelude::*;
use workflow_rt::testing::TestRun;

#[activity]
async fn double(_ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    Ok(x * 2)
}

/// The domain's own notion of a checkout's state.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum CheckoutState {
    Open,
    Paid,
}

#[workflow(state = "CheckoutMachine")]
async fn checkout(ctx: WorkflowCtx, cents: u64) -> Result<CheckoutState, WorkflowError> {
    let state: CheckoutState = CheckoutState::Open;
    let charged = ctx.activity(double, cents).await?;
    Ok(if charged > 0 { CheckoutState::Paid } else { state })
}

fn main() {
    for snapshots in [false, true] {
        let run = TestRun::new(checkout, "c-1", 5)
            .with_activity(double)
            .snapshot_every_await(snapshots)
            .run()
            .unwrap();
        assert_eq!(run.output, Ok(CheckoutState::Paid));
    }
    let start: CheckoutMachine = checkout::start(5);
    assert!(matches!(start, CheckoutMachine::Start { cents: 5 }));
}
