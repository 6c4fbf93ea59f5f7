//! The corpus workflow `tests/corpus/contract_signing.rs` compiles on its own.

#[path = "../../corpus/contract_signing.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
