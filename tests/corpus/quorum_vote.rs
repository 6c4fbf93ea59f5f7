//! A board vote: collects `vote` signals until a quorum of yes votes, a majority of no votes, or a
//! 48-hour deadline computed once from `ctx.now()`. Covers: `while` over `mut` counters whose body
//! selects a signal against a timer re-armed with the time left, a `SystemTime` local across
//! awaits.

use std::time::{Duration, SystemTime};

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Motion {
    pub title: String,
    pub members: u32,
    pub quorum: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vote {
    pub member: String,
    pub yes: bool,
}

#[activity]
pub async fn publish_result(
    _ctx: ActivityCtx,
    input: (String, String),
) -> Result<String, ActivityError> {
    Ok(format!("{}: {}", input.0, input.1))
}

#[workflow]
pub async fn quorum_vote(ctx: WorkflowCtx, motion: Motion) -> Result<String, WorkflowError> {
    let deadline: SystemTime = ctx.now() + Duration::from_secs(48 * 3600);
    let mut yes: u32 = 0;
    let mut no: u32 = 0;
    let mut voters: Vec<String> = Vec::new();
    while yes < motion.quorum && no * 2 <= motion.members {
        let left: Duration = deadline.duration_since(ctx.now()).unwrap_or_default();
        match ctx
            .select((ctx.signal::<Vote>("vote"), ctx.sleep(left)))
            .await
        {
            Select2::First(vote) if voters.contains(&vote.member) => {}
            Select2::First(vote) => {
                if vote.yes {
                    yes += 1
                } else {
                    no += 1
                }
                voters.push(vote.member);
            }
            Select2::Second(()) => break,
        }
    }
    let result: String = if yes >= motion.quorum {
        format!("carried {yes} to {no}")
    } else if no * 2 > motion.members {
        format!("defeated {no} to {yes}")
    } else {
        format!("no quorum ({yes} of {})", motion.quorum)
    };
    let published = ctx
        .activity(publish_result, (motion.title.clone(), result))
        .await?;
    Ok(published)
}
