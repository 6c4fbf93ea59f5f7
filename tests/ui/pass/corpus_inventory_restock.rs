//! The corpus workflow `tests/corpus/inventory_restock.rs` compiles on its own.

#[path = "../../corpus/inventory_restock.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
