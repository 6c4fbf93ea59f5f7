//! The corpus workflow `tests/corpus/deployment_plan.rs` compiles on its own.

#[path = "../../corpus/deployment_plan.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
