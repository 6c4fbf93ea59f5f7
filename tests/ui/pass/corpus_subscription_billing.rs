//! The corpus workflow `tests/corpus/subscription_billing.rs` compiles on its own.

#[path = "../../corpus/subscription_billing.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
