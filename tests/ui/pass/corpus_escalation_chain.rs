//! The corpus workflow `tests/corpus/escalation_chain.rs` compiles on its own.

#[path = "../../corpus/escalation_chain.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
