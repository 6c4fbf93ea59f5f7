// The expansion is warning-free: a workflow of every lowered shape compiles under
// `deny(warnings)` (the same workflows are checked by clippy in `tests/lint_clean.rs`).
#![deny(warnings)]

include!("../../support/lint_clean_workflows.rs");

fn main() {}
