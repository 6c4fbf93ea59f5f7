//! Dunning: an unpaid invoice gets a reminder every few days, one per round over a range, and is
//! sent to collections if it stays unpaid. Covers: a `for` over a range with an activity and a
//! sleep per round, an early `return` from inside the loop.

use std::time::Duration;

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unpaid {
    pub invoice: String,
    pub rounds: u32,
    pub days_between: u64,
}

/// Whether the invoice is paid: invoices whose name ends in a digit `d` are paid by round `d`.
#[activity]
pub async fn is_paid(_ctx: ActivityCtx, input: (String, u32)) -> Result<bool, ActivityError> {
    let (invoice, round) = input;
    Ok(invoice
        .chars()
        .last()
        .and_then(|c| c.to_digit(10))
        .is_some_and(|d| round >= d))
}

#[activity]
pub async fn send_reminder(
    _ctx: ActivityCtx,
    input: (String, u32),
) -> Result<String, ActivityError> {
    Ok(format!("reminder {} to {}", input.1, input.0))
}

#[activity]
pub async fn send_to_collections(
    _ctx: ActivityCtx,
    invoice: String,
) -> Result<String, ActivityError> {
    Ok(format!("collections-{invoice}"))
}

#[workflow]
pub async fn dunning_reminders(ctx: WorkflowCtx, unpaid: Unpaid) -> Result<String, WorkflowError> {
    let mut sent: Vec<String> = Vec::new();
    for round in 1u32..=unpaid.rounds {
        if ctx
            .activity(is_paid, (unpaid.invoice.clone(), round))
            .await?
        {
            return Ok(format!("paid after {} reminders", sent.len()));
        }
        let reminder = ctx
            .activity(send_reminder, (unpaid.invoice.clone(), round))
            .await?;
        sent.push(reminder);
        ctx.sleep(Duration::from_secs(unpaid.days_between * 24 * 3600))
            .await;
    }
    let case = ctx
        .activity(send_to_collections, unpaid.invoice.clone())
        .await?;
    Ok(format!("{case} after {} reminders", sent.len()))
}
