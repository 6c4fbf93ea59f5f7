use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

macro_rules! log_pair {
    ($k:expr => $v:expr) => {
        println!("{} = {}", $k, $v)
    };
}

#[workflow]
async fn show(ctx: WorkflowCtx, sku: String) -> Result<(), WorkflowError> {
    log_pair!(sku.clone() => ctx.activity(price, sku).await?);
    Ok(())
}

fn main() {}
