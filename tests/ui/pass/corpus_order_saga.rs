//! The corpus workflow `tests/corpus/order_saga.rs` compiles on its own.

#[path = "../../corpus/order_saga.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
