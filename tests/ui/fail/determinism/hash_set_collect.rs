//! collecting into a `HashSet` with the default hasher.
use workflow_rt::prelude::*;

#[workflow]
async fn hash_set_collect(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let skus = vec![order_id, order_id + 1].into_iter().collect::<std::collections::HashSet<_>>();
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(skus.len() as u64)
}

fn main() {}
