//! The corpus workflow `tests/corpus/currency_conversion.rs` compiles on its own.

#[path = "../../corpus/currency_conversion.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
