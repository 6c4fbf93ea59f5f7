//! The corpus workflow `tests/corpus/bank_transfer.rs` compiles on its own.

#[path = "../../corpus/bank_transfer.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
