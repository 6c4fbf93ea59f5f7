use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[activity]
async fn ship() -> Result<u64, ActivityError> {
    Ok(0)
}
fn main() {}
