//! Prices a cart with best-effort lookups: a failed lookup or a missing override falls back to a
//! default instead of failing the workflow. Covers: `.await.unwrap_or(..)`,
//! `.await.unwrap_or_default()`, `.await.ok()`, `.await.map(..)`, a signal with a timeout whose
//! `None` becomes a default.

use std::time::Duration;

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cart {
    pub customer: String,
    pub cents: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Priced {
    pub cents: u64,
    pub discount_percent: u64,
    pub tax_percent: u64,
    pub coupon: Option<String>,
    pub note: String,
}

#[activity]
pub async fn loyalty_discount(_ctx: ActivityCtx, customer: String) -> Result<u64, ActivityError> {
    if customer.starts_with("new-") {
        return Err(ActivityError::non_retryable("no loyalty record"));
    }
    Ok(customer.len() as u64 % 20)
}

#[activity]
pub async fn tax_rate(_ctx: ActivityCtx, customer: String) -> Result<u64, ActivityError> {
    if customer.contains("offline") {
        return Err(ActivityError::retryable("tax service unavailable"));
    }
    Ok(9)
}

#[activity]
pub async fn best_coupon(_ctx: ActivityCtx, cents: u64) -> Result<String, ActivityError> {
    if cents < 5_000 {
        return Err(ActivityError::non_retryable("no coupon below 50.00"));
    }
    Ok(format!("SAVE{}", cents / 1_000))
}

#[activity]
pub async fn cart_note(_ctx: ActivityCtx, customer: String) -> Result<String, ActivityError> {
    if customer.is_empty() {
        return Err(ActivityError::non_retryable("anonymous"));
    }
    Ok(format!("for {customer}"))
}

#[workflow]
pub async fn pricing_defaults(ctx: WorkflowCtx, cart: Cart) -> Result<Priced, WorkflowError> {
    let discount_percent: u64 = ctx
        .activity(loyalty_discount, cart.customer.clone())
        .await
        .unwrap_or(0);
    let tax_percent: u64 = ctx
        .activity(tax_rate, cart.customer.clone())
        .await
        .unwrap_or(21);
    let coupon: Option<String> = ctx.activity(best_coupon, cart.cents).await.ok();
    let note: String = ctx
        .activity(cart_note, cart.customer.clone())
        .await
        .map(|n| n.to_uppercase())
        .unwrap_or_default();
    let manual_percent: u64 = ctx
        .signal::<u64>("manual-discount")
        .timeout(Duration::from_secs(600))
        .await
        .unwrap_or(discount_percent);
    let discounted: u64 = cart.cents * (100 - manual_percent.min(100)) / 100;
    Ok(Priced {
        cents: discounted * (100 + tax_percent) / 100,
        discount_percent: manual_percent,
        tax_percent,
        coupon,
        note,
    })
}
