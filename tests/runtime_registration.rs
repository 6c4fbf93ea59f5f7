//! `build()` checks that every activity a registered workflow calls is registered too: a missing
//! one is a typed error naming both, instead of a workflow that waits for it forever.

mod support;

use support::{Mode, builder, memory, within};
use workflow_rt::prelude::*;
use workflow_rt::{ActivityCall, RuntimeError, Workflow};

#[activity]
async fn reserve(_ctx: ActivityCtx, n: u64) -> Result<u64, ActivityError> {
    Ok(n + 1)
}

#[activity]
async fn charge(_ctx: ActivityCtx, n: u64) -> Result<u64, ActivityError> {
    Ok(n * 10)
}

#[activity(name = "ledger.post")]
async fn post(_ctx: ActivityCtx, n: u64) -> Result<u64, ActivityError> {
    Ok(n + 1000)
}

#[activity]
async fn ship(_ctx: ActivityCtx, n: u64) -> Result<u64, ActivityError> {
    Ok(n + 7)
}

#[activity]
async fn notify(_ctx: ActivityCtx, n: u64) -> Result<u64, ActivityError> {
    Ok(n)
}

#[workflow]
async fn order(ctx: WorkflowCtx, n: u64) -> Result<u64, WorkflowError> {
    let r = ctx.activity(reserve, n).await?;
    let c = ctx.activity(charge, r).await?;
    // Called twice: listed once.
    let again = ctx.activity(reserve, c).await?;
    Ok(again)
}

/// `ship` is called only inside a join, `notify` only in operations built by a closure before
/// they are awaited.
#[workflow]
async fn fan(ctx: WorkflowCtx, n: u64) -> Result<u64, WorkflowError> {
    let (a, b) = ctx
        .join((ctx.activity(charge, n), ctx.activity(ship, n)))
        .await;
    let calls: Vec<ActivityCall<notify>> = (0..2).map(|i| ctx.activity(notify, i)).collect();
    let notified = ctx.join(calls).await;
    Ok(a? + b? + notified.len() as u64)
}

#[workflow]
async fn ledger(ctx: WorkflowCtx, n: u64) -> Result<u64, WorkflowError> {
    Ok(ctx.activity(post, n).await?)
}

/// An activity in a variable is not listed (it is not checked): the macro sees a local name,
/// not the activity's item.
#[workflow]
async fn through_a_variable(ctx: WorkflowCtx, n: u64) -> Result<u64, WorkflowError> {
    let a = charge;
    let v = ctx.activity(a, n).await?;
    let both = ctx
        .join(vec![ctx.activity(ship, v), ctx.activity(ship, v + 1)])
        .await;
    Ok(both.into_iter().map(|r| r.unwrap_or(0)).sum())
}

#[test]
fn the_macro_lists_the_activities_by_their_names() {
    assert_eq!(<order as Workflow>::ACTIVITIES, ["reserve", "charge"]);
    assert_eq!(<fan as Workflow>::ACTIVITIES, ["charge", "ship", "notify"]);
    assert_eq!(<ledger as Workflow>::ACTIVITIES, ["ledger.post"]);
    assert_eq!(<through_a_variable as Workflow>::ACTIVITIES, ["ship"]);
}

fn missing(r: Result<Runtime, RuntimeError>) -> (String, String) {
    match r {
        Err(RuntimeError::MissingActivity { workflow, activity }) => (workflow, activity),
        Err(e) => panic!("expected MissingActivity, got {e:?}"),
        Ok(_) => panic!("expected MissingActivity, the runtime was built"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_without_one_of_its_activities_does_not_build() {
    let (store, clock) = memory();
    let r = builder(Mode::Cached, store, clock)
        .workflow(order)
        .activity(reserve)
        .build()
        .await;
    let err = missing(r);
    assert_eq!(err, ("order".to_string(), "charge".to_string()));

    // The message says what to add.
    let (store, clock) = memory();
    let text = builder(Mode::Cached, store, clock)
        .workflow(order)
        .activity(charge)
        .build()
        .await
        .expect_err("fails")
        .to_string();
    assert!(text.contains("\"order\""), "{text}");
    assert!(text.contains(".activity(reserve)"), "{text}");

    // The activity registered before or after the workflow: either way it builds, and runs.
    let (store, clock) = memory();
    let rt = builder(Mode::Cached, store, clock)
        .activity(charge)
        .workflow(order)
        .activity(reserve)
        .build()
        .await
        .expect("both registered");
    let run = rt.start(order, "o-1", 1).await.expect("start");
    // (1 + 1) * 10 + 1
    assert_eq!(within("order", run.result()).await, Ok(Ok(21)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activity_called_only_in_a_join_or_a_closure_is_required() {
    let (store, clock) = memory();
    let r = builder(Mode::Cached, store, clock)
        .workflow(fan)
        .activity(charge)
        .activity(notify)
        .build()
        .await;
    assert_eq!(missing(r), ("fan".to_string(), "ship".to_string()));

    let (store, clock) = memory();
    let r = builder(Mode::Cached, store, clock)
        .workflow(fan)
        .activity(charge)
        .activity(ship)
        .build()
        .await;
    assert_eq!(missing(r), ("fan".to_string(), "notify".to_string()));

    let (store, clock) = memory();
    let rt = builder(Mode::Cached, store, clock)
        .workflow(fan)
        .activity(charge)
        .activity(ship)
        .activity(notify)
        .build()
        .await
        .expect("all registered");
    let run = rt.start(fan, "f-1", 2).await.expect("start");
    assert_eq!(within("fan", run.result()).await, Ok(Ok(20 + 9 + 2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_activity_is_required_under_its_name() {
    let (store, clock) = memory();
    let r = builder(Mode::Cached, store, clock)
        .workflow(ledger)
        .build()
        .await;
    assert_eq!(
        missing(r),
        ("ledger".to_string(), "ledger.post".to_string())
    );

    let (store, clock) = memory();
    let rt = builder(Mode::Cached, store, clock)
        .workflow(ledger)
        .activity(post)
        .build()
        .await
        .expect("registered under its name");
    let run = rt.start(ledger, "l-1", 5).await.expect("start");
    assert_eq!(within("ledger", run.result()).await, Ok(Ok(1005)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_can_be_turned_off_for_a_runtime_of_workflows_only() {
    // A runtime of workflows next to a worker of activities, on one store: the first runs the
    // workflow, the second its activities.
    let (store, clock) = memory();
    let workflows = builder(Mode::Cached, store.clone(), clock.clone())
        .workflow(order)
        .allow_missing_activities()
        .build()
        .await
        .expect("the check is off");
    let _activities = builder(Mode::Cached, store, clock)
        .activity(reserve)
        .activity(charge)
        .build()
        .await
        .expect("activities only");
    let run = workflows.start(order, "o-2", 1).await.expect("start");
    assert_eq!(within("order", run.result()).await, Ok(Ok(21)));
}
