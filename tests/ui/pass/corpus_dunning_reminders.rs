//! The corpus workflow `tests/corpus/dunning_reminders.rs` compiles on its own.

#[path = "../../corpus/dunning_reminders.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
