//! The corpus workflow `tests/corpus/job_polling.rs` compiles on its own.

#[path = "../../corpus/job_polling.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
