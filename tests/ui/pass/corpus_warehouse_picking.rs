//! The corpus workflow `tests/corpus/warehouse_picking.rs` compiles on its own.

#[path = "../../corpus/warehouse_picking.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
