//! Bills a subscription every month for a year. A failed charge is retried up to three times a
//! day apart; a cancel signal during the month ends the subscription. Covers: a retry loop with a
//! counter nested in a `for` over a range, a select of a signal against a month-long timer,
//! labeled `break` out of the outer loop from the inner one, a long-running workflow.

use std::time::Duration;

use workflow_rt::prelude::*;

const DAY: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub customer: String,
    pub cents: u64,
    pub months: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Billing {
    pub charged: Vec<String>,
    pub failed_attempts: u32,
    pub ended: String,
}

/// Charges a card; cards of customers named `flaky-*` decline on even attempts, `broke-*` always.
#[activity]
pub async fn charge_subscription(
    _ctx: ActivityCtx,
    input: (String, u32, u32),
) -> Result<String, ActivityError> {
    let (customer, month, attempt) = input;
    if customer.starts_with("broke-") || (customer.starts_with("flaky-") && attempt % 2 == 0) {
        return Err(ActivityError::retryable("card declined"));
    }
    Ok(format!("{customer}-m{month}-a{attempt}"))
}

#[activity]
pub async fn suspend_subscription(
    _ctx: ActivityCtx,
    customer: String,
) -> Result<(), ActivityError> {
    let _ = customer;
    Ok(())
}

#[workflow]
pub async fn subscription_billing(ctx: WorkflowCtx, plan: Plan) -> Result<Billing, WorkflowError> {
    let mut charged: Vec<String> = Vec::new();
    let mut failed_attempts: u32 = 0;
    let mut ended: String = String::from("completed");
    'months: for month in 1u32..=plan.months {
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            match ctx
                .activity(charge_subscription, (plan.customer.clone(), month, attempt))
                .retry(RetryPolicy::none())
                .await
            {
                Ok(receipt) => {
                    charged.push(receipt);
                    break;
                }
                Err(_) if attempt < 3 => {
                    failed_attempts += 1;
                    ctx.sleep(DAY).await;
                }
                Err(_) => {
                    failed_attempts += 1;
                    ctx.activity(suspend_subscription, plan.customer.clone())
                        .await?;
                    ended = format!("suspended in month {month}");
                    break 'months;
                }
            }
        }
        if let Select2::First(reason) = ctx
            .select((ctx.signal::<String>("cancel"), ctx.sleep(30 * DAY)))
            .await
        {
            ended = format!("cancelled in month {month}: {reason}");
            break;
        }
    }
    Ok(Billing {
        charged,
        failed_attempts,
        ended,
    })
}
