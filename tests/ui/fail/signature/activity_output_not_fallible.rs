//! An output the macro cannot tell is not a `Result` (a type of the user's, which could be an
//! alias) is left to the type check: one error, at the written type.
use workflow_rt::prelude::*;

pub struct Receipt;

#[activity]
async fn ship(_ctx: ActivityCtx, sku: String) -> Receipt {
    drop(sku);
    Receipt
}
fn main() {}
