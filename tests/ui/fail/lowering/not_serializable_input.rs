use std::time::Duration;
use workflow_rt::prelude::*;

/// Not `Serialize`/`Deserialize`, yet the workflow's input (saved in its start state) and kept
/// across three awaits.
#[derive(Debug, Clone)]
pub struct Basket {
    pub items: u64,
}

#[workflow]
async fn ship(ctx: WorkflowCtx, basket: Basket) -> Result<u64, WorkflowError> {
    ctx.sleep(Duration::from_secs(1)).await;
    ctx.sleep(Duration::from_secs(2)).await;
    ctx.sleep(Duration::from_secs(3)).await;
    Ok(basket.items)
}

fn main() {}
