//! The corpus workflow `tests/corpus/invoice_batch.rs` compiles on its own.

#[path = "../../corpus/invoice_batch.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
