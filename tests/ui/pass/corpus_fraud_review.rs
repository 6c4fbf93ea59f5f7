//! The corpus workflow `tests/corpus/fraud_review.rs` compiles on its own.

#[path = "../../corpus/fraud_review.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
