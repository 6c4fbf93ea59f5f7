//! The corpus workflow `tests/corpus/document_pipeline.rs` compiles on its own.

#[path = "../../corpus/document_pipeline.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
