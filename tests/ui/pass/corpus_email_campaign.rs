//! The corpus workflow `tests/corpus/email_campaign.rs` compiles on its own.

#[path = "../../corpus/email_campaign.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {}
