//! Moves money between two accounts: debit one, credit the other; a failed credit reverses the
//! debit. The workflow takes three parameters (its input is their tuple). Covers: several
//! parameters, a compensation, a retry policy with a non-retryable error type.

use std::time::Duration;

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub iban: String,
    pub frozen: bool,
}

#[activity]
pub async fn debit(_ctx: ActivityCtx, input: (Account, u64)) -> Result<String, ActivityError> {
    if input.0.frozen {
        return Err(
            ActivityError::non_retryable(format!("{} is frozen", input.0.iban)).with_type("Frozen"),
        );
    }
    Ok(format!("D-{}-{}", input.0.iban, input.1))
}

#[activity]
pub async fn credit(_ctx: ActivityCtx, input: (Account, u64)) -> Result<String, ActivityError> {
    if input.0.frozen {
        return Err(
            ActivityError::non_retryable(format!("{} is frozen", input.0.iban)).with_type("Frozen"),
        );
    }
    Ok(format!("C-{}-{}", input.0.iban, input.1))
}

#[activity]
pub async fn reverse_debit(_ctx: ActivityCtx, debit_id: String) -> Result<String, ActivityError> {
    Ok(format!("R-{debit_id}"))
}

#[workflow]
pub async fn bank_transfer(
    ctx: WorkflowCtx,
    from: Account,
    to: Account,
    cents: u64,
) -> Result<(String, String), WorkflowError> {
    if cents == 0 {
        return Err(WorkflowError::msg("nothing to transfer"));
    }
    let policy: RetryPolicy = RetryPolicy::exponential(Duration::from_secs(1))
        .max_attempts(10)
        .non_retryable("Frozen");
    let debit_id = ctx
        .activity(debit, (from, cents))
        .retry(policy.clone())
        .await?;
    match ctx.activity(credit, (to, cents)).retry(policy).await {
        Ok(credit_id) => Ok((debit_id, credit_id)),
        Err(e) => {
            let reason: String = e.to_string();
            let reversal = ctx.activity(reverse_debit, debit_id).await?;
            Err(WorkflowError::msg(format!(
                "credit failed ({reason}), {reversal}"
            )))
        }
    }
}
