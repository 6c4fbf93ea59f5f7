//! The corpus workflow `tests/corpus/paginated_export.rs` compiles on its own.

#[path = "../../corpus/paginated_export.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
