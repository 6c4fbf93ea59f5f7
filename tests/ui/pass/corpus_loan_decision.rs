//! The corpus workflow `tests/corpus/loan_decision.rs` compiles on its own.

#[path = "../../corpus/loan_decision.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
