//! The corpus workflow `tests/corpus/customer_onboarding.rs` compiles on its own.

#[path = "../../corpus/customer_onboarding.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
