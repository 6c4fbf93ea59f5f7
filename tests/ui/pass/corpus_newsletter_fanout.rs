//! The corpus workflow `tests/corpus/newsletter_fanout.rs` compiles on its own.

#[path = "../../corpus/newsletter_fanout.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
