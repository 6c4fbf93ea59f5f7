//! Holds a reservation until the customer pays: a `paid` signal confirms it, a 30-minute timer
//! releases it. Covers: `ctx.select` of a signal against a timer, `Select2` arms with awaits.

use std::time::Duration;

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hold {
    pub seat: String,
    pub cents: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paid {
    pub reference: String,
    pub cents: u64,
}

#[activity]
pub async fn hold_seat(_ctx: ActivityCtx, seat: String) -> Result<String, ActivityError> {
    Ok(format!("hold-{seat}"))
}

#[activity]
pub async fn confirm_seat(
    _ctx: ActivityCtx,
    input: (String, String),
) -> Result<String, ActivityError> {
    Ok(format!("ticket-{}-{}", input.0, input.1))
}

#[activity]
pub async fn release_seat(_ctx: ActivityCtx, hold: String) -> Result<(), ActivityError> {
    let _ = hold;
    Ok(())
}

#[workflow]
pub async fn payment_deadline(ctx: WorkflowCtx, hold: Hold) -> Result<String, WorkflowError> {
    let held = ctx.activity(hold_seat, hold.seat.clone()).await?;
    match ctx
        .select((
            ctx.signal::<Paid>("paid"),
            ctx.sleep(Duration::from_secs(30 * 60)),
        ))
        .await
    {
        Select2::First(paid) if paid.cents >= hold.cents => {
            let ticket = ctx.activity(confirm_seat, (held, paid.reference)).await?;
            Ok(ticket)
        }
        Select2::First(paid) => {
            let short: u64 = paid.cents;
            ctx.activity(release_seat, held).await?;
            Err(WorkflowError::msg(format!(
                "paid {short} of {}",
                hold.cents
            )))
        }
        Select2::Second(()) => {
            ctx.activity(release_seat, held).await?;
            Err(WorkflowError::msg("payment window expired"))
        }
    }
}
