//! Escalates a production incident along an on-call chain: each engineer is paged up to twice and
//! has ten minutes to acknowledge; an explicit decline moves on at once. Covers: nested loops with
//! a labeled `break` carrying the outcome out through a flag, `continue` of the inner loop, a
//! signal name built at run time, `match` on `Option` with a guard.

use std::time::Duration;

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    pub chain: Vec<String>,
}

#[activity]
pub async fn page(_ctx: ActivityCtx, input: (String, String, u32)) -> Result<(), ActivityError> {
    let _ = input;
    Ok(())
}

#[activity]
pub async fn declare_major_incident(
    _ctx: ActivityCtx,
    id: String,
) -> Result<String, ActivityError> {
    Ok(format!("MAJOR-{id}"))
}

#[workflow]
pub async fn escalation_chain(
    ctx: WorkflowCtx,
    incident: Incident,
) -> Result<String, WorkflowError> {
    let chain: Vec<String> = incident.chain.clone();
    let mut owner: Option<String> = None;
    let mut pages: u32 = 0;
    'chain: for engineer in chain {
        for attempt in 1u32..=2 {
            ctx.activity(page, (engineer.clone(), incident.id.clone(), attempt))
                .await?;
            pages += 1;
            match ctx
                .signal::<bool>(format!("ack-{engineer}"))
                .timeout(Duration::from_secs(600))
                .await
            {
                Some(true) => {
                    owner = Some(engineer.clone());
                    break 'chain;
                }
                Some(false) => continue 'chain,
                None if attempt < 2 => continue,
                None => {}
            }
        }
    }
    match owner {
        Some(engineer) => Ok(format!(
            "{engineer} owns {} after {pages} pages",
            incident.id
        )),
        None => {
            let major = ctx
                .activity(declare_major_incident, incident.id.clone())
                .await?;
            Ok(format!("{major} after {pages} pages"))
        }
    }
}
