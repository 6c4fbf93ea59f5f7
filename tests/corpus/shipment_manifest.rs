//! Builds a shipping manifest from a shipment: the input and activity results are taken apart
//! with destructuring patterns (structs, tuples, nested, with `..`), and typed tuple patterns live
//! across awaits. Covers: destructuring in `let`, in `match` arms and in `for` loops.

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shipment {
    pub id: u64,
    pub origin: (String, String),
    pub boxes: Vec<(String, u32)>,
    pub insured: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub carrier: String,
    pub cents: u64,
    pub days: u32,
}

#[activity]
pub async fn rate_shipment(_ctx: ActivityCtx, input: (String, u32)) -> Result<Rate, ActivityError> {
    Ok(Rate {
        carrier: format!("{}-post", input.0.to_lowercase()),
        cents: input.1 as u64 * 12,
        days: 2,
    })
}

#[activity]
pub async fn label_box(
    _ctx: ActivityCtx,
    input: (u64, String, u32),
) -> Result<(String, u32), ActivityError> {
    Ok((format!("{}-{}", input.0, input.1), input.2 * 10))
}

#[activity]
pub async fn insure(_ctx: ActivityCtx, cents: u64) -> Result<u64, ActivityError> {
    Ok(cents / 50)
}

#[workflow]
#[allow(clippy::type_complexity)]
pub async fn shipment_manifest(
    ctx: WorkflowCtx,
    shipment: Shipment,
) -> Result<Vec<String>, WorkflowError> {
    // A nested tuple pattern with its type written out: each binding lives across awaits.
    let (id, (country, city), boxes, insured): (u64, (String, String), Vec<(String, u32)>, bool) = (
        shipment.id,
        shipment.origin,
        shipment.boxes,
        shipment.insured,
    );
    let total_grams: u32 = boxes.iter().map(|(_, grams)| grams).sum();
    // A struct pattern with `..` on an activity result; its bindings are used before the next await.
    let Rate { carrier, cents, .. } = ctx
        .activity(rate_shipment, (country.clone(), total_grams))
        .await?;
    let mut manifest: Vec<String> = vec![format!(
        "{id} from {city}, {country} by {carrier}, freight {cents}"
    )];
    let mut declared: u64 = 0;
    // A tuple pattern as the loop variable over a typed `Vec`.
    for (name, grams) in boxes {
        let (label, value): (String, u32) = ctx.activity(label_box, (id, name, grams)).await?;
        declared += value as u64;
        manifest.push(format!("{label}: {value}"));
    }
    // Tuple patterns in `match` arms, one of which awaits.
    let premium: u64 = match (insured, declared) {
        (false, _) | (true, 0) => 0,
        (true, value) => ctx.activity(insure, value).await?,
    };
    manifest.push(format!("insurance {premium}"));
    Ok(manifest)
}
