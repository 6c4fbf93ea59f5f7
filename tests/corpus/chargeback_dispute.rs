//! Handles a card chargeback: the merchant has ten days to submit evidence, the customer may
//! withdraw the dispute meanwhile; whichever comes first decides. Covers: `ctx.select` of two
//! signals and a timer (`Select3`), payloads of different types, awaits in every arm.

use std::time::Duration;

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dispute {
    pub id: String,
    pub cents: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub documents: Vec<String>,
}

#[activity]
pub async fn open_dispute(_ctx: ActivityCtx, dispute: Dispute) -> Result<String, ActivityError> {
    Ok(format!("case-{}", dispute.id))
}

/// The bank rules for the merchant when the evidence has at least two documents.
#[activity]
pub async fn submit_evidence(
    _ctx: ActivityCtx,
    input: (String, Evidence),
) -> Result<bool, ActivityError> {
    Ok(input.1.documents.len() >= 2)
}

#[activity]
pub async fn refund_cardholder(
    _ctx: ActivityCtx,
    input: (String, u64),
) -> Result<String, ActivityError> {
    Ok(format!("refund {} on {}", input.1, input.0))
}

#[activity]
pub async fn close_case(_ctx: ActivityCtx, input: (String, String)) -> Result<(), ActivityError> {
    let _ = input;
    Ok(())
}

#[workflow]
pub async fn chargeback_dispute(
    ctx: WorkflowCtx,
    dispute: Dispute,
) -> Result<String, WorkflowError> {
    let case = ctx.activity(open_dispute, dispute.clone()).await?;
    let outcome: String = match ctx
        .select((
            ctx.signal::<Evidence>("evidence"),
            ctx.signal::<String>("withdrawn"),
            ctx.sleep(Duration::from_secs(10 * 24 * 3600)),
        ))
        .await
    {
        Select3::First(evidence) => {
            if ctx
                .activity(submit_evidence, (case.clone(), evidence))
                .await?
            {
                "merchant won".to_string()
            } else {
                ctx.activity(refund_cardholder, (case.clone(), dispute.cents))
                    .await?
            }
        }
        Select3::Second(reason) => format!("withdrawn: {reason}"),
        Select3::Third(()) => {
            ctx.activity(refund_cardholder, (case.clone(), dispute.cents))
                .await?
        }
    };
    ctx.activity(close_case, (case.clone(), outcome.clone()))
        .await?;
    Ok(format!("{case}: {outcome}"))
}
