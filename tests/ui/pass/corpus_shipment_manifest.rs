//! The corpus workflow `tests/corpus/shipment_manifest.rs` compiles on its own.

#[path = "../../corpus/shipment_manifest.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
