use workflow_rt::prelude::*;

#[activity]
async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64)
}

#[derive(Serialize, Deserialize)]
struct Cart {
    skus: Vec<String>,
}

#[workflow]
async fn total(ctx: WorkflowCtx, cart: Cart) -> Result<u64, WorkflowError> {
    let mut sum: u64 = 0;
    for sku in cart.skus {
        sum += ctx.activity(price, sku.clone()).await?;
        println!("{sku}");
    }
    Ok(sum)
}
fn main() {}
