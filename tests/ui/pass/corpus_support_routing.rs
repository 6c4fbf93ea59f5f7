//! The corpus workflow `tests/corpus/support_routing.rs` compiles on its own.

#[path = "../../corpus/support_routing.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
