//! The corpus workflow `tests/corpus/quorum_vote.rs` compiles on its own.

#[path = "../../corpus/quorum_vote.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
