//! Runs a sealed auction: bids arrive as signals; bids below the reserve are rejected with a
//! notice; the first bid at or above the reserve wins and the loop breaks with it. Covers: `loop`
//! with `break value` where the value comes from a signal, awaits after the `break` condition.

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bid {
    pub bidder: String,
    pub cents: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sale {
    pub winner: String,
    pub cents: u64,
    pub rejected: u32,
    pub invoice: String,
}

#[activity]
pub async fn reject_bid(_ctx: ActivityCtx, bid: Bid) -> Result<(), ActivityError> {
    let _ = bid;
    Ok(())
}

#[activity]
pub async fn invoice_winner(_ctx: ActivityCtx, bid: Bid) -> Result<String, ActivityError> {
    Ok(format!("AUC-{}-{}", bid.bidder, bid.cents))
}

#[workflow]
pub async fn auction_close(ctx: WorkflowCtx, reserve_cents: u64) -> Result<Sale, WorkflowError> {
    let mut rejected: u32 = 0;
    let winner: Bid = loop {
        let bid = ctx.signal::<Bid>("bid").await;
        if bid.cents >= reserve_cents {
            break bid;
        }
        rejected += 1;
        ctx.activity(reject_bid, bid).await?;
    };
    let invoice = ctx.activity(invoice_winner, winner.clone()).await?;
    Ok(Sale {
        winner: winner.bidder,
        cents: winner.cents,
        rejected,
        invoice,
    })
}
