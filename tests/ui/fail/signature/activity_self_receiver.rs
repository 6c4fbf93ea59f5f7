use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

struct Acts;

impl Acts {
    #[activity]
    async fn ship(self, sku: String) -> Result<u64, ActivityError> {
        Ok(sku.len() as u64)
    }
}
fn main() {}
