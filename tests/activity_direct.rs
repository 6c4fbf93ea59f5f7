//! `#[activity]` keeps the body callable directly, for unit tests of the activity alone, and
//! implements `Activity` with a stable name and the input and output types of the function.

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: u64,
    pub cents: u64,
}

#[activity]
async fn charge(ctx: ActivityCtx, order: Order) -> Result<String, ActivityError> {
    if order.cents == 0 {
        return Err(ActivityError::non_retryable("nothing to charge").with_type("Empty"));
    }
    Ok(format!(
        "{} charged {} (attempt {})",
        ctx.idempotency_key(),
        order.cents,
        ctx.attempt()
    ))
}

#[activity(name = "ledger.post")]
async fn post(_ctx: ActivityCtx, account: String, cents: i64) -> Result<i64, ActivityError> {
    Ok(if account == "refunds" { -cents } else { cents })
}

#[tokio::test]
async fn the_body_is_callable_directly() {
    let ok = charge::call(ActivityCtx::for_test("wf-1"), Order { id: 1, cents: 250 }).await;
    assert_eq!(ok, Ok("wf-1:0 charged 250 (attempt 1)".to_string()));
    let err = charge::call(ActivityCtx::for_test("wf-2"), Order { id: 2, cents: 0 })
        .await
        .unwrap_err();
    assert_eq!(err.kind, ActivityErrorKind::NonRetryable);
    assert_eq!(err.error_type, "Empty");
}

#[tokio::test]
async fn several_inputs_are_a_tuple() {
    assert_eq!(
        post::call(ActivityCtx::for_test("wf"), "refunds".to_string(), 40).await,
        Ok(-40)
    );
    let through_trait =
        Activity::run(post, ActivityCtx::for_test("wf"), ("sales".to_string(), 40)).await;
    assert_eq!(through_trait, Ok(40));
}

#[test]
fn the_trait_carries_the_name_and_types() {
    assert_eq!(<charge as Activity>::NAME, "charge");
    assert_eq!(<post as Activity>::NAME, "ledger.post");
    let input: <post as Activity>::Input = ("a".to_string(), 1);
    let output: workflow_rt::ActivityOk<post> = 5i64;
    assert_eq!((input.1, output), (1, 5));
}
