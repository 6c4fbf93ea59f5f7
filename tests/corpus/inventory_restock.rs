//! Restocks a product: orders batches while stock is below the target, backing off when the
//! supplier has nothing, and giving up after too many empty rounds. Covers: `while` with a
//! condition over `mut` locals, a counter, a nested `if` with a sleep, `continue` in a `while`.

use std::time::Duration;

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Restock {
    pub sku: String,
    pub stock: u32,
    pub target: u32,
}

/// The supplier ships up to 40 units per batch, but nothing on every third round.
#[activity]
pub async fn order_batch(
    _ctx: ActivityCtx,
    input: (String, u32, u32),
) -> Result<u32, ActivityError> {
    let (_sku, missing, round) = input;
    if round % 3 == 0 {
        Ok(0)
    } else {
        Ok(missing.min(40))
    }
}

#[workflow]
pub async fn inventory_restock(
    ctx: WorkflowCtx,
    restock: Restock,
) -> Result<(u32, u32, u32), WorkflowError> {
    let mut stock: u32 = restock.stock;
    let mut rounds: u32 = 0;
    let mut empty_rounds: u32 = 0;
    while stock < restock.target {
        rounds += 1;
        let shipped = ctx
            .activity(
                order_batch,
                (restock.sku.clone(), restock.target - stock, rounds),
            )
            .await?;
        if shipped == 0 {
            empty_rounds += 1;
            if empty_rounds >= 3 {
                return Err(WorkflowError::msg(format!(
                    "supplier out of {} after {rounds} rounds",
                    restock.sku
                )));
            }
            ctx.sleep(Duration::from_secs(3600) * empty_rounds).await;
            continue;
        }
        stock += shipped;
    }
    Ok((stock, rounds, empty_rounds))
}
