//! The corpus workflow `tests/corpus/supplier_search.rs` compiles on its own.

#[path = "../../corpus/supplier_search.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
