//! The corpus workflow `tests/corpus/courier_race.rs` compiles on its own.

#[path = "../../corpus/courier_race.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
