use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

struct Flows;

impl Flows {
    #[workflow]
    async fn method(self, sku: String) -> Result<u64, WorkflowError> {
        Ok(sku.len() as u64)
    }
}
fn main() {}
