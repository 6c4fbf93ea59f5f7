//! a `HashMap` with the default hasher (imported at the top of the file).
use std::collections::HashMap;

use workflow_rt::prelude::*;

#[workflow]
async fn hash_map_default_hasher(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let mut totals: HashMap<String, u64> = HashMap::new();
    totals.insert("a".to_string(), order_id);
    for (sku, qty) in &totals {
        ctx.sleep(std::time::Duration::from_secs(*qty)).await;
        let _ = sku;
    }
    Ok(order_id)
}

fn main() {}
