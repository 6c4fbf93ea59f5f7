//! Know-your-customer checks: every request gets an id from `ctx.uuid()`, a random sample of
//! customers gets a manual review, and the time taken is measured with `ctx.now()`. Covers:
//! `ctx.uuid()`, `ctx.random::<T>()` and `ctx.now()` live across awaits, determinism of all three
//! through snapshots.

use std::time::{Duration, SystemTime};

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KycResult {
    pub request_id: String,
    pub sampled: bool,
    pub seconds: u64,
    pub checks: Vec<String>,
}

#[activity]
pub async fn check_documents(
    _ctx: ActivityCtx,
    input: (String, String),
) -> Result<String, ActivityError> {
    Ok(format!("docs ok for {} ({})", input.0, &input.1[..8]))
}

#[activity]
pub async fn manual_review(_ctx: ActivityCtx, request_id: String) -> Result<String, ActivityError> {
    Ok(format!("reviewed {}", &request_id[..8]))
}

#[workflow]
pub async fn kyc_sampling(ctx: WorkflowCtx, customer: String) -> Result<KycResult, WorkflowError> {
    let request_id = ctx.uuid();
    let started: SystemTime = ctx.now();
    let roll = ctx.random::<u64>();
    let mut checks: Vec<String> = vec![
        ctx.activity(check_documents, (customer.clone(), request_id.clone()))
            .await?,
    ];
    // One customer in four, chosen by the workflow's own generator.
    let sampled: bool = roll % 4 == 0;
    if sampled {
        ctx.sleep(Duration::from_secs(2 * 3600)).await;
        checks.push(ctx.activity(manual_review, request_id.clone()).await?);
    }
    ctx.sleep(Duration::from_secs(90)).await;
    let seconds: u64 = ctx
        .now()
        .duration_since(started)
        .unwrap_or_default()
        .as_secs();
    Ok(KycResult {
        request_id,
        sampled,
        seconds,
        checks,
    })
}
