//! The corpus workflow `tests/corpus/warranty_claim.rs` compiles on its own.

#[path = "../../corpus/warranty_claim.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
