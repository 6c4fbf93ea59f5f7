use workflow_rt::prelude::*;

#[derive(Serialize, Deserialize)]
pub struct Meters(pub u64);

#[activity]
async fn measure(_ctx: ActivityCtx, x: u64) -> Result<Meters, ActivityError> {
    Ok(Meters(x))
}

#[activity]
async fn double(_ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    Ok(x * 2)
}

#[workflow]
async fn total(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    // The field of a tuple struct has a type only the compiler knows.
    let Meters(m) = ctx.activity(measure, x).await?;
    let d = ctx.activity(double, x).await?;
    Ok(d + m)
}

fn main() {}
