//! The corpus workflow `tests/corpus/pricing_defaults.rs` compiles on its own.

#[path = "../../corpus/pricing_defaults.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
