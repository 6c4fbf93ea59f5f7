//! The corpus workflow `tests/corpus/auction_close.rs` compiles on its own.

#[path = "../../corpus/auction_close.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
