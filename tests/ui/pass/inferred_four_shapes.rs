// The four shapes that used to need a type annotation, each a variable that lives across an
// await and whose type the macro cannot read off the code: the bindings of an enum pattern in a
// `match` arm, the end of an `Option` chain after an await, a `Vec::new()` filled later, and the
// result of an ordinary function. All compile without an annotation.
use std::time::Duration;

use workflow_rt::prelude::*;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Verdict {
    Approve { limit: u64 },
    Reject(String),
}

#[activity]
async fn review(_ctx: ActivityCtx, amount: u64) -> Result<Verdict, ActivityError> {
    Ok(Verdict::Approve { limit: amount })
}

#[activity]
async fn maybe(_ctx: ActivityCtx, x: u64) -> Result<Option<u64>, ActivityError> {
    Ok(Some(x))
}

fn combine(a: u64, b: u64) -> String {
    format!("{a}-{b}")
}

#[workflow]
async fn four(ctx: WorkflowCtx, amount: u64) -> Result<String, WorkflowError> {
    let limit = match ctx.activity(review, amount).await? {
        Verdict::Approve { limit } => {
            ctx.sleep(Duration::from_secs(1)).await;
            limit
        }
        Verdict::Reject(why) => {
            ctx.sleep(Duration::from_secs(1)).await;
            why.len() as u64
        }
    };
    let half = ctx.activity(maybe, limit).await?.map(|h| h / 2).unwrap_or(100);
    let mut kept = Vec::new();
    ctx.sleep(Duration::from_secs(1)).await;
    kept.push(half);
    let s = combine(limit, half);
    ctx.sleep(Duration::from_secs(1)).await;
    Ok(format!("{s} {kept:?}"))
}

fn main() {}
