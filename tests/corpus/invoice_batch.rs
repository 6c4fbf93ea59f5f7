//! Prices every line of an invoice with an activity per line, applies a volume discount and
//! issues the invoice. Covers: a `for` over a `Vec` parameter with an activity per item,
//! `total += ctx.activity(..).await?`, `mut` accumulators.

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub sku: String,
    pub qty: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invoice {
    pub number: String,
    pub lines: u32,
    pub subtotal: u64,
    pub discount: u64,
    pub total: u64,
}

/// Cents per unit: the length of the sku times 100, an unknown sku (empty) is an error.
#[activity]
pub async fn price_line(_ctx: ActivityCtx, line: Line) -> Result<u64, ActivityError> {
    if line.sku.is_empty() {
        return Err(ActivityError::non_retryable("unknown sku"));
    }
    Ok(line.sku.len() as u64 * 100 * line.qty as u64)
}

#[activity]
pub async fn issue_invoice(
    _ctx: ActivityCtx,
    input: (String, u64),
) -> Result<String, ActivityError> {
    Ok(format!("INV-{}-{}", input.0, input.1))
}

#[workflow]
pub async fn invoice_batch(
    ctx: WorkflowCtx,
    customer: String,
    lines: Vec<Line>,
) -> Result<Invoice, WorkflowError> {
    let mut subtotal: u64 = 0;
    let mut count: u32 = 0;
    for line in lines {
        subtotal += ctx.activity(price_line, line).await?;
        count += 1;
    }
    let discount: u64 = if count >= 3 { subtotal / 10 } else { 0 };
    let total: u64 = subtotal - discount;
    let number = ctx.activity(issue_invoice, (customer, total)).await?;
    Ok(Invoice {
        number,
        lines: count,
        subtotal,
        discount,
        total,
    })
}
