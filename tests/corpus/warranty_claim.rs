//! A warranty claim goes through nested checks written as block expressions and `if let`s:
//! purchase lookup, warranty period, an inspection that may need a photo from the customer.
//! Covers: awaits inside nested blocks and block expressions, `if let` with an await in the
//! scrutinee and in the body, a `return` from inside a nested block.

use std::time::Duration;

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    pub serial: String,
    pub defect: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Purchase {
    pub days_ago: u32,
    pub cents: u64,
}

/// Serials starting with `S` were bought `len * 60` days ago; others are unknown.
#[activity]
pub async fn find_purchase(
    _ctx: ActivityCtx,
    serial: String,
) -> Result<Option<Purchase>, ActivityError> {
    Ok(serial.starts_with('S').then(|| Purchase {
        days_ago: serial.len() as u32 * 60,
        cents: 20_000,
    }))
}

/// Defects described in fewer than 10 characters need a photo.
#[activity]
pub async fn inspect(_ctx: ActivityCtx, defect: String) -> Result<Option<String>, ActivityError> {
    Ok(if defect.len() < 10 {
        None
    } else {
        Some(format!("covered: {defect}"))
    })
}

#[activity]
pub async fn issue_replacement(
    _ctx: ActivityCtx,
    input: (String, u64),
) -> Result<String, ActivityError> {
    Ok(format!("RMA-{}-{}", input.0, input.1))
}

#[workflow]
pub async fn warranty_claim(ctx: WorkflowCtx, claim: Claim) -> Result<String, WorkflowError> {
    let value: u64 = {
        let purchase: Purchase = {
            if let Some(p) = ctx.activity(find_purchase, claim.serial.clone()).await? {
                p
            } else {
                return Ok(format!("{}: no purchase on record", claim.serial));
            }
        };
        if purchase.days_ago > 365 {
            return Ok(format!(
                "{}: out of warranty ({} days)",
                claim.serial, purchase.days_ago
            ));
        }
        purchase.cents
    };
    let finding: String = if let Some(finding) = ctx.activity(inspect, claim.defect.clone()).await?
    {
        finding
    } else {
        let photo: Option<String> = ctx
            .signal::<String>("photo")
            .timeout(Duration::from_secs(7 * 24 * 3600))
            .await;
        match photo {
            Some(photo) => {
                let described: String = format!("{} ({photo})", claim.defect);
                match ctx.activity(inspect, described).await? {
                    Some(finding) => finding,
                    None => return Ok(format!("{}: defect not covered", claim.serial)),
                }
            }
            None => return Ok(format!("{}: no photo received", claim.serial)),
        }
    };
    let rma = ctx
        .activity(issue_replacement, (claim.serial.clone(), value))
        .await?;
    Ok(format!("{rma} {finding}"))
}
