//! Scores a payment for fraud and acts on the score: low risk captures at once, medium risk
//! waits for an analyst with a timeout, high risk (or a scoring failure) blocks the card. Covers:
//! a `match` on an activity result (`Ok`/`Err` patterns, guards, or-patterns) with awaits in
//! every arm, the arms' values assigned to a typed `let`.

use std::time::Duration;

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    pub id: String,
    pub cents: u64,
    pub country: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Risk {
    Low,
    Medium(u8),
    High,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Verdict {
    Captured(String),
    Blocked(String),
    Released,
}

#[activity]
pub async fn score_payment(_ctx: ActivityCtx, payment: Payment) -> Result<Risk, ActivityError> {
    if payment.country.is_empty() {
        return Err(ActivityError::retryable("geo lookup failed"));
    }
    Ok(match payment.cents {
        0..=10_000 => Risk::Low,
        10_001..=100_000 => Risk::Medium((payment.cents / 1_000) as u8),
        _ => Risk::High,
    })
}

#[activity]
pub async fn capture(_ctx: ActivityCtx, id: String) -> Result<String, ActivityError> {
    Ok(format!("cap-{id}"))
}

#[activity]
pub async fn block_card(
    _ctx: ActivityCtx,
    input: (String, String),
) -> Result<String, ActivityError> {
    Ok(format!("blk-{}: {}", input.0, input.1))
}

#[activity]
pub async fn release_hold(_ctx: ActivityCtx, id: String) -> Result<(), ActivityError> {
    let _ = id;
    Ok(())
}

#[workflow]
pub async fn fraud_review(ctx: WorkflowCtx, payment: Payment) -> Result<Verdict, WorkflowError> {
    let verdict: Verdict = match ctx.activity(score_payment, payment.clone()).await {
        Ok(Risk::Low) => Verdict::Captured(ctx.activity(capture, payment.id.clone()).await?),
        Ok(Risk::Medium(score)) if score < 50 => {
            match ctx
                .signal::<bool>(format!("analyst-{}", payment.id))
                .timeout(Duration::from_secs(4 * 3600))
                .await
            {
                Some(true) => Verdict::Captured(ctx.activity(capture, payment.id.clone()).await?),
                Some(false) => Verdict::Blocked(
                    ctx.activity(block_card, (payment.id.clone(), "analyst".into()))
                        .await?,
                ),
                None => {
                    ctx.activity(release_hold, payment.id.clone()).await?;
                    Verdict::Released
                }
            }
        }
        Ok(Risk::Medium(_)) | Ok(Risk::High) => Verdict::Blocked(
            ctx.activity(block_card, (payment.id.clone(), "risk".into()))
                .await?,
        ),
        Err(e) => {
            let why: String = format!("unscored: {}", e.message);
            Verdict::Blocked(ctx.activity(block_card, (payment.id.clone(), why)).await?)
        }
    };
    Ok(verdict)
}
