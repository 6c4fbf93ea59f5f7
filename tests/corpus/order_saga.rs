//! An order saga: reserve stock, charge the card, ship. A step that fails undoes the ones before
//! it, newest first. Covers: a sequential saga, compensation on failure, a `match` on an activity
//! result with awaits in its arms, activity options.

use std::time::Duration;

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: u64,
    pub sku: String,
    pub qty: u32,
    pub cents: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub order_id: u64,
    pub reservation: String,
    pub payment: String,
    pub tracking: String,
}

#[activity]
pub async fn reserve_stock(_ctx: ActivityCtx, order: Order) -> Result<String, ActivityError> {
    if order.qty == 0 || order.qty > 100 {
        return Err(ActivityError::non_retryable(format!(
            "cannot reserve {} x {}",
            order.qty, order.sku
        )));
    }
    Ok(format!("rsv-{}-{}", order.id, order.sku))
}

#[activity]
pub async fn release_stock(_ctx: ActivityCtx, reservation: String) -> Result<(), ActivityError> {
    let _ = reservation;
    Ok(())
}

#[activity]
pub async fn charge_card(_ctx: ActivityCtx, order: Order) -> Result<String, ActivityError> {
    if order.cents > 50_000 {
        return Err(ActivityError::non_retryable("card declined").with_type("Declined"));
    }
    Ok(format!("pay-{}-{}", order.id, order.cents))
}

#[activity]
pub async fn refund_card(_ctx: ActivityCtx, payment: String) -> Result<(), ActivityError> {
    let _ = payment;
    Ok(())
}

#[activity]
pub async fn ship_order(_ctx: ActivityCtx, order: Order) -> Result<String, ActivityError> {
    if order.sku.starts_with("oversize") {
        return Err(ActivityError::non_retryable("no carrier takes it"));
    }
    Ok(format!("trk-{}", order.id))
}

#[workflow]
pub async fn order_saga(ctx: WorkflowCtx, order: Order) -> Result<Receipt, WorkflowError> {
    let reservation = ctx
        .activity(reserve_stock, order.clone())
        .start_to_close(Duration::from_secs(10))
        .await?;

    let payment: String = match ctx
        .activity(charge_card, order.clone())
        .retry(
            RetryPolicy::exponential(Duration::from_millis(200))
                .max_attempts(5)
                .non_retryable("Declined"),
        )
        .await
    {
        Ok(p) => p,
        Err(e) => {
            let reason: String = e.message;
            ctx.activity(release_stock, reservation).await?;
            return Err(WorkflowError::msg(format!("payment failed: {reason}")));
        }
    };

    match ctx.activity(ship_order, order.clone()).await {
        Ok(tracking) => Ok(Receipt {
            order_id: order.id,
            reservation,
            payment,
            tracking,
        }),
        Err(e) => {
            let reason: String = e.message;
            ctx.activity(refund_card, payment).await?;
            ctx.activity(release_stock, reservation).await?;
            Err(WorkflowError::msg(format!("shipping failed: {reason}")))
        }
    }
}
