//! A trip booking: flight, hotel, car, each booked in turn; a failed booking cancels every
//! booking made so far, newest first. Covers: compensation driven by a `mut` list of done steps,
//! a `for` over a `Vec` with an activity per item, `?` inside a loop.

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trip {
    pub traveller: String,
    pub legs: Vec<Leg>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Leg {
    Flight { from: String, to: String },
    Hotel { city: String, nights: u32 },
    Car { city: String, days: u32 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Booking {
    pub leg: usize,
    pub confirmation: String,
}

#[activity]
pub async fn book_leg(
    _ctx: ActivityCtx,
    input: (String, usize, Leg),
) -> Result<Booking, ActivityError> {
    let (traveller, leg, what) = input;
    let code = match what {
        Leg::Flight { from, to } if from == to => {
            return Err(ActivityError::non_retryable("a flight needs two cities"));
        }
        Leg::Flight { from, to } => format!("FL-{from}-{to}"),
        Leg::Hotel { nights: 0, .. } => {
            return Err(ActivityError::non_retryable("a hotel needs a night"));
        }
        Leg::Hotel { city, nights } => format!("HT-{city}-{nights}"),
        Leg::Car { city, days } => format!("CR-{city}-{days}"),
    };
    Ok(Booking {
        leg,
        confirmation: format!("{code}-{traveller}"),
    })
}

#[activity]
pub async fn cancel_booking(_ctx: ActivityCtx, booking: Booking) -> Result<(), ActivityError> {
    let _ = booking;
    Ok(())
}

#[workflow]
pub async fn trip_booking(ctx: WorkflowCtx, trip: Trip) -> Result<Vec<String>, WorkflowError> {
    let mut booked: Vec<Booking> = Vec::new();
    let mut failure: Option<String> = None;
    let mut index: usize = 0;
    for leg in trip.legs.clone() {
        match ctx
            .activity(book_leg, (trip.traveller.clone(), index, leg))
            .await
        {
            Ok(booking) => booked.push(booking),
            Err(e) => {
                failure = Some(format!("leg {index}: {}", e.message));
                break;
            }
        }
        index += 1;
    }
    let reason: String = match failure {
        Some(reason) => reason,
        None => return Ok(booked.into_iter().map(|b| b.confirmation).collect()),
    };
    booked.reverse();
    for booking in booked {
        ctx.activity(cancel_booking, booking).await?;
    }
    Err(WorkflowError::msg(format!("trip cancelled, {reason}")))
}
