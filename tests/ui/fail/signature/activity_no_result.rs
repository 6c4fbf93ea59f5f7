use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[activity]
async fn ship(_ctx: ActivityCtx, sku: String) -> u64 {
    sku.len() as u64
}
fn main() {}
