//! Decides a loan application from three checks run at once: credit score, identity and
//! employment. Covers: `ctx.join` of three activities (results in order), destructuring the
//! joined tuple, shadowing each result with its `Ok` value, an await after the join.

use std::time::Duration;

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Application {
    pub applicant: String,
    pub cents: u64,
    pub employer: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LoanDecision {
    Approved { rate_bp: u32, reference: String },
    Declined { reason: String },
}

#[activity]
pub async fn credit_score(_ctx: ActivityCtx, applicant: String) -> Result<u32, ActivityError> {
    Ok(500 + (applicant.len() as u32 * 37) % 350)
}

#[activity]
pub async fn verify_identity(_ctx: ActivityCtx, applicant: String) -> Result<bool, ActivityError> {
    Ok(!applicant.contains("fake"))
}

#[activity]
pub async fn verify_employment(_ctx: ActivityCtx, employer: String) -> Result<u64, ActivityError> {
    if employer.is_empty() {
        return Err(ActivityError::non_retryable("no employer given"));
    }
    Ok(employer.len() as u64 * 1_000_000)
}

#[activity]
pub async fn record_decision(
    _ctx: ActivityCtx,
    input: (String, bool),
) -> Result<String, ActivityError> {
    Ok(format!(
        "LN-{}-{}",
        input.0,
        if input.1 { "Y" } else { "N" }
    ))
}

#[workflow]
pub async fn loan_decision(
    ctx: WorkflowCtx,
    app: Application,
) -> Result<LoanDecision, WorkflowError> {
    let (score, identity, salary) = ctx
        .join((
            ctx.activity(credit_score, app.applicant.clone())
                .start_to_close(Duration::from_secs(5)),
            ctx.activity(verify_identity, app.applicant.clone()),
            ctx.activity(verify_employment, app.employer.clone()),
        ))
        .await;
    let score: u32 = score?;
    let identity: bool = identity?;
    let salary: u64 = salary.unwrap_or(0);
    let approved: bool = identity && score >= 650 && app.cents <= salary / 2;
    let reference = ctx
        .activity(record_decision, (app.applicant.clone(), approved))
        .await?;
    if !approved {
        let reason: String = if !identity {
            "identity not verified".into()
        } else if score < 650 {
            format!("score {score}")
        } else {
            format!("income {salary} too low")
        };
        return Ok(LoanDecision::Declined {
            reason: format!("{reason} ({reference})"),
        });
    }
    Ok(LoanDecision::Approved {
        rate_bp: 1200 - score,
        reference,
    })
}
