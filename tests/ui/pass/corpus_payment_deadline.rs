//! The corpus workflow `tests/corpus/payment_deadline.rs` compiles on its own.

#[path = "../../corpus/payment_deadline.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
