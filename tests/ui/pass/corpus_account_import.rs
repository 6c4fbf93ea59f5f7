//! The corpus workflow `tests/corpus/account_import.rs` compiles on its own.

#[path = "../../corpus/account_import.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
