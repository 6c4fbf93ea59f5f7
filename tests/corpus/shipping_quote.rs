//! Computes a shipping quote from several lookups written inside larger expressions: function
//! arguments, arithmetic, method-call arguments, `format!` arguments, compound assignments.
//! Covers: awaits nested in larger expressions, with left-to-right evaluation order kept.

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parcel {
    pub grams: u64,
    pub zone: String,
    pub express: bool,
}

#[activity]
pub async fn base_rate(_ctx: ActivityCtx, zone: String) -> Result<u64, ActivityError> {
    Ok(zone.len() as u64 * 150)
}

#[activity]
pub async fn weight_surcharge(_ctx: ActivityCtx, grams: u64) -> Result<u64, ActivityError> {
    Ok(grams / 500 * 75)
}

#[activity]
pub async fn fuel_index(_ctx: ActivityCtx, _unit: ()) -> Result<u64, ActivityError> {
    Ok(112)
}

#[activity]
pub async fn carrier_code(_ctx: ActivityCtx, express: bool) -> Result<String, ActivityError> {
    Ok(if express { "EXP".into() } else { "STD".into() })
}

#[activity]
pub async fn audit(_ctx: ActivityCtx, line: String) -> Result<u32, ActivityError> {
    Ok(line.len() as u32)
}

fn price(base: u64, surcharge: u64, fuel_percent: u64) -> u64 {
    (base + surcharge) * fuel_percent / 100
}

#[workflow]
pub async fn shipping_quote(
    ctx: WorkflowCtx,
    parcel: Parcel,
) -> Result<(String, u64, Vec<u32>), WorkflowError> {
    let mut audit_trail: Vec<u32> = Vec::new();
    // Three awaits as the arguments of one call, evaluated left to right.
    let mut cents: u64 = price(
        ctx.activity(base_rate, parcel.zone.clone()).await?,
        ctx.activity(weight_surcharge, parcel.grams).await?,
        ctx.activity(fuel_index, ()).await?,
    );
    // An await on the right of a compound assignment and inside arithmetic.
    if parcel.express {
        cents += 2 * ctx.activity(base_rate, "express".to_string()).await? + 1;
    }
    // An await as a method argument on a local that lives across it.
    audit_trail.push(ctx.activity(audit, format!("quote {cents}")).await?);
    // Awaits as `format!` arguments.
    let label: String = format!(
        "{}-{}-{}",
        ctx.activity(carrier_code, parcel.express).await?,
        parcel.zone,
        ctx.activity(weight_surcharge, parcel.grams * 2).await?
    );
    // An await in a comparison in a condition.
    if ctx.activity(audit, label.clone()).await? > 10 {
        audit_trail.push(label.len() as u32);
    }
    Ok((label, cents, audit_trail))
}
