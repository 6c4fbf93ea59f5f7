//! The corpus workflow `tests/corpus/kyc_sampling.rs` compiles on its own.

#[path = "../../corpus/kyc_sampling.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
