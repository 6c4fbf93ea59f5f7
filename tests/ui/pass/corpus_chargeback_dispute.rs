//! The corpus workflow `tests/corpus/chargeback_dispute.rs` compiles on its own.

#[path = "../../corpus/chargeback_dispute.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
