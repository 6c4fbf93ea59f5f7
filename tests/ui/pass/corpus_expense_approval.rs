//! The corpus workflow `tests/corpus/expense_approval.rs` compiles on its own.

#[path = "../../corpus/expense_approval.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
