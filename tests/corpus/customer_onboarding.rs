//! Onboards a customer found by email: no customer, or a customer whose credit check fails, ends
//! the workflow early from the `else` of a `let ... else` (which may itself await). Covers:
//! `let ... else` on an activity result, with and without awaits in the `else` block.

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: u64,
    pub email: String,
    pub country: String,
}

/// Customers exist for emails at `example.com`; their id is the length of the email.
#[activity]
pub async fn find_customer(
    _ctx: ActivityCtx,
    email: String,
) -> Result<Option<Customer>, ActivityError> {
    Ok(email.ends_with("@example.com").then(|| Customer {
        id: email.len() as u64,
        country: "NL".into(),
        email,
    }))
}

/// A credit limit in cents, or an error for customers whose id is a multiple of 7.
#[activity]
pub async fn credit_limit(_ctx: ActivityCtx, customer: Customer) -> Result<u64, ActivityError> {
    if customer.id.is_multiple_of(7) {
        return Err(ActivityError::non_retryable("credit bureau has no record"));
    }
    Ok(customer.id * 10_000)
}

#[activity]
pub async fn open_wallet(_ctx: ActivityCtx, input: (u64, u64)) -> Result<String, ActivityError> {
    Ok(format!("wallet-{}-{}", input.0, input.1))
}

#[activity]
pub async fn send_invite(_ctx: ActivityCtx, email: String) -> Result<(), ActivityError> {
    let _ = email;
    Ok(())
}

#[activity]
pub async fn flag_for_review(_ctx: ActivityCtx, id: u64) -> Result<String, ActivityError> {
    Ok(format!("review-{id}"))
}

#[workflow]
pub async fn customer_onboarding(ctx: WorkflowCtx, email: String) -> Result<String, WorkflowError> {
    let Some(customer) = ctx.activity(find_customer, email.clone()).await? else {
        ctx.activity(send_invite, email).await?;
        return Ok("invited".to_string());
    };
    let id: u64 = customer.id;
    let Ok(limit) = ctx.activity(credit_limit, customer).await else {
        let ticket = ctx.activity(flag_for_review, id).await?;
        return Err(WorkflowError::msg(format!(
            "customer {id} needs a manual check: {ticket}"
        )));
    };
    let Some(limit) = limit.checked_sub(50_000) else {
        return Ok(format!("customer {id} below the minimum limit"));
    };
    let wallet = ctx.activity(open_wallet, (id, limit)).await?;
    Ok(wallet)
}
