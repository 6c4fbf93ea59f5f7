use std::time::Duration;
use workflow_rt::prelude::*;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Order {
    pub id: u64,
    pub cents: u64,
}

#[activity]
async fn charge(ctx: ActivityCtx, order: Order) -> Result<String, ActivityError> {
    // The key is the same on every retry of this call: hand it to the payment API.
    let _key = ctx.idempotency_key();
    Ok(format!("pay-{}", order.id))
}

#[activity]
async fn refund(_ctx: ActivityCtx, _payment: String) -> Result<(), ActivityError> {
    Ok(())
}

#[workflow]
async fn checkout(ctx: WorkflowCtx, order: Order) -> Result<String, WorkflowError> {
    let payment = ctx
        .activity(charge, order.clone())
        .retry(RetryPolicy::exponential(Duration::from_millis(200)).max_attempts(5))
        .start_to_close(Duration::from_secs(30))
        .await?;
    match ctx
        .signal::<bool>("approve")
        .timeout(Duration::from_secs(7 * 24 * 3600))
        .await
    {
        Some(true) => {}
        _ => {
            ctx.activity(refund, payment.clone()).await?;
            return Err(WorkflowError::msg("not approved"));
        }
    }
    ctx.sleep(Duration::from_secs(60)).await;
    Ok(payment)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::builder(SqliteStore::open("workflows.db")?)
        .workflow(checkout)
        .activity(charge)
        .activity(refund)
        .build()
        .await?;
    let run = rt
        .start(checkout, "order-42", Order { id: 42, cents: 999 })
        .await?; // idempotent on the id
    rt.signal("order-42", "approve", true).await?;
    println!("{:?}", run.result().await?);
    Ok(())
}
