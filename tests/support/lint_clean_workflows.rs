// Workflows of every shape the lowering cuts into points (branches, arms, loops with `break`
// values and `continue`, labeled blocks, deferred initialization, a `mut` changed only after an
// await), written as a careful user would: no warning in a plain `async fn`, none here.

use std::time::Duration;

use workflow_rt::prelude::*;

/// Doubles its input.
#[activity]
pub async fn double(_ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    Ok(x * 2)
}

/// Branches, arms and a `let` of a construct that awaits.
#[workflow]
pub async fn branches(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    let mut total: u64 = 0;
    if x > 2 {
        total += ctx.activity(double, x).await?;
    } else {
        ctx.sleep(Duration::from_secs(1)).await;
    }
    let picked: u64 = match x % 3 {
        0 => ctx.activity(double, 10).await?,
        1 => {
            ctx.sleep(Duration::from_secs(2)).await;
            7
        }
        _ => 1,
    };
    let half = if picked > 5 {
        ctx.activity(double, picked).await? / 2
    } else {
        picked
    };
    total += half;
    Ok(total)
}

/// Loops: a `break` with a value, `continue`, a `for` over owned items, a labeled block.
#[workflow]
pub async fn loops(ctx: WorkflowCtx, items: Vec<u64>) -> Result<u64, WorkflowError> {
    let mut round: u64 = 0;
    let first = loop {
        round += 1;
        let v = ctx.activity(double, round).await?;
        if v < 6 {
            continue;
        }
        break v;
    };
    let mut sum: u64 = first;
    for item in items {
        sum += ctx.activity(double, item).await?;
    }
    let label: u64;
    'decided: {
        if sum > 100 {
            label = 1;
            break 'decided;
        }
        ctx.sleep(Duration::from_secs(1)).await;
        label = 2;
    }
    Ok(sum * 10 + label)
}

/// A variable declared before an await and assigned after it, and a `mut` list changed only
/// after the await.
#[workflow]
pub async fn deferred(ctx: WorkflowCtx, x: u64) -> Result<Vec<u64>, WorkflowError> {
    let mut seen: Vec<u64> = Vec::new();
    let doubled: u64;
    let got = ctx.activity(double, x).await?;
    doubled = got;
    seen.push(doubled);
    Ok(seen)
}
