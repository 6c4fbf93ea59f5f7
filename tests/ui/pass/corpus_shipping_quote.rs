//! The corpus workflow `tests/corpus/shipping_quote.rs` compiles on its own.

#[path = "../../corpus/shipping_quote.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
