use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[workflow]
async fn pick(ctx: WorkflowCtx, sku: String) -> Result<u64, WorkflowError> {
    match sku.split_once(":") {
        Some((kind, rest)) => {
            let p: u64 = ctx.activity(price, rest.to_string()).await?;
            Ok(p + kind.len() as u64)
        }
        None => Ok(0),
    }
}
fn main() {}

// `kind` borrows from `sku` (a `&str` from `split_once`) and lives across the await: its type is
// left to the compiler, which refuses to save a reference (it does not implement
// `DeserializeOwned`). The error points at the attribute, not at `kind`: keep an owned value
// (`kind.to_string()`) instead.
