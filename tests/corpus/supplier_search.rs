//! Asks suppliers for a quote one after the other and books the first that can deliver in time,
//! returning from inside the loop. Covers: an early `return` from inside a `for` loop, `?` on an
//! activity inside the loop, a result used after the loop.

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Need {
    pub part: String,
    pub qty: u32,
    pub max_days: u32,
    pub suppliers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    pub supplier: String,
    pub days: u32,
    pub cents: u64,
}

/// A supplier's quote: its delivery time is the length of its name, its price 100 per unit.
#[activity]
pub async fn request_quote(
    _ctx: ActivityCtx,
    input: (String, String, u32),
) -> Result<Quote, ActivityError> {
    let (supplier, _part, qty) = input;
    if supplier.is_empty() {
        return Err(ActivityError::non_retryable("no such supplier"));
    }
    Ok(Quote {
        days: supplier.len() as u32,
        cents: 100 * qty as u64,
        supplier,
    })
}

#[activity]
pub async fn place_purchase_order(
    _ctx: ActivityCtx,
    quote: Quote,
) -> Result<String, ActivityError> {
    Ok(format!("PO-{}-{}", quote.supplier, quote.cents))
}

#[workflow]
pub async fn supplier_search(
    ctx: WorkflowCtx,
    need: Need,
) -> Result<Option<String>, WorkflowError> {
    let mut asked: u32 = 0;
    for supplier in need.suppliers.clone() {
        asked += 1;
        let quote = ctx
            .activity(request_quote, (supplier, need.part.clone(), need.qty))
            .await?;
        if quote.days <= need.max_days {
            let po = ctx.activity(place_purchase_order, quote).await?;
            return Ok(Some(format!("{po} after {asked} quotes")));
        }
    }
    Ok(None)
}
