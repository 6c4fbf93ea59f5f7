//! The corpus workflow `tests/corpus/trip_booking.rs` compiles on its own.

#[path = "../../corpus/trip_booking.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
