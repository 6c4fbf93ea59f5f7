//! The corpus workflow `tests/corpus/message_batcher.rs` compiles on its own.

#[path = "../../corpus/message_batcher.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
