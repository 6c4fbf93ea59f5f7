//! Settles a cross-border payment: the amount is converted, fees are added, and the same names
//! are rebound at each stage, with different types, around awaits and in an inner block.
//! Covers: shadowed variables live across awaits, shadowing inside a nested block that ends
//! before the outer binding is used again.

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transfer {
    pub cents: u64,
    pub from: String,
    pub to: String,
}

/// The rate in parts per thousand: 1100 from EUR to USD, 900 the other way, 1000 otherwise.
#[activity]
pub async fn fx_rate(_ctx: ActivityCtx, pair: (String, String)) -> Result<u64, ActivityError> {
    Ok(match (pair.0.as_str(), pair.1.as_str()) {
        ("EUR", "USD") => 1100,
        ("USD", "EUR") => 900,
        _ => 1000,
    })
}

#[activity]
pub async fn fee_for(_ctx: ActivityCtx, cents: u64) -> Result<u64, ActivityError> {
    Ok(cents / 100 + 30)
}

#[activity]
pub async fn settle(_ctx: ActivityCtx, input: (String, u64)) -> Result<String, ActivityError> {
    Ok(format!("settled {} {}", input.1, input.0))
}

#[workflow]
pub async fn currency_conversion(
    ctx: WorkflowCtx,
    transfer: Transfer,
) -> Result<String, WorkflowError> {
    let amount: u64 = transfer.cents;
    let rate = ctx
        .activity(fx_rate, (transfer.from.clone(), transfer.to.clone()))
        .await?;
    // Shadowed: the converted amount, still a u64.
    let amount: u64 = amount * rate / 1000;
    let fee: u64 = {
        // An inner `amount` that lives across an await and ends with the block.
        let amount: String = format!("{amount}");
        let fee = ctx.activity(fee_for, amount.len() as u64 * 1000).await?;
        fee + amount.len() as u64
    };
    // The outer `amount` again, then shadowed by a `String`.
    let amount: u64 = amount + fee;
    let amount: String = format!("{amount} {}", transfer.to);
    let receipt = ctx.activity(settle, (amount.clone(), fee)).await?;
    Ok(format!("{receipt} ({amount})"))
}
