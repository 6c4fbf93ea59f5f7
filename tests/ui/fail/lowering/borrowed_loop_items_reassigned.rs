use workflow_rt::prelude::*;

#[activity]
async fn double(_ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    Ok(x * 2)
}

#[workflow]
async fn undetected(ctx: WorkflowCtx, items: Vec<u64>) -> Result<u64, WorkflowError> {
    let mut sum: u64 = 0;
    let mut k: usize = 0;
    // `k` changes in the body, so the iterable cannot be made again at each iteration: its
    // items, references into `items`, would have to be saved.
    for x in items.iter().skip(k) {
        k += 1;
        sum += ctx.activity(double, *x + k as u64).await?;
    }
    Ok(sum)
}

fn main() {}
