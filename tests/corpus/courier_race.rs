//! Asks two couriers for a pickup at once and books whichever answers first, with a deadline;
//! the customer can cancel while the couriers are asked. Covers: `ctx.select` of two activities
//! and a timer (`Select3`), a select of a signal against an activity, awaits in the arms.

use std::time::Duration;

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pickup {
    pub address: String,
    pub parcels: u32,
}

#[activity]
pub async fn ask_courier(
    _ctx: ActivityCtx,
    input: (String, Pickup),
) -> Result<String, ActivityError> {
    if input.1.parcels > 10 && input.0 == "bikes" {
        return Err(ActivityError::non_retryable("too many parcels for a bike"));
    }
    Ok(format!("{}@{}", input.0, input.1.address))
}

#[activity]
pub async fn book_pickup(_ctx: ActivityCtx, slot: String) -> Result<String, ActivityError> {
    Ok(format!("booked {slot}"))
}

#[workflow]
pub async fn courier_race(ctx: WorkflowCtx, pickup: Pickup) -> Result<String, WorkflowError> {
    let slot: String = match ctx
        .select((
            ctx.activity(ask_courier, ("vans".to_string(), pickup.clone())),
            ctx.activity(ask_courier, ("bikes".to_string(), pickup.clone())),
            ctx.sleep(Duration::from_secs(120)),
        ))
        .await
    {
        Select3::First(vans) => vans?,
        Select3::Second(Ok(bikes)) => bikes,
        Select3::Second(Err(_)) => {
            ctx.activity(ask_courier, ("vans".to_string(), pickup.clone()))
                .await?
        }
        Select3::Third(()) => return Err(WorkflowError::msg("no courier answered in time")),
    };
    match ctx
        .select((
            ctx.signal::<String>("cancel"),
            ctx.activity(book_pickup, slot.clone()),
        ))
        .await
    {
        Select2::First(why) => Ok(format!("cancelled before booking {slot}: {why}")),
        Select2::Second(booking) => Ok(booking?),
    }
}
