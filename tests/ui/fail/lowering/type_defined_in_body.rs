use workflow_rt::prelude::*;

#[activity]
async fn double(_ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    Ok(x * 2)
}

#[workflow]
async fn tally(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    #[derive(Serialize, Deserialize)]
    struct Tally {
        n: u64,
    }
    let t: Tally = Tally { n: x };
    let d = ctx.activity(double, x).await?;
    Ok(d + t.n)
}

fn main() {}
