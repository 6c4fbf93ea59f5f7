//! Routes a support ticket: VIP customers go to a dedicated team, customers with an open
//! incident to the incident channel, the rest to the queue. Covers: `if` / `else if` with an await
//! in each condition, awaits in the branches.

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub customer: String,
    pub subject: String,
}

#[activity]
pub async fn is_vip(_ctx: ActivityCtx, customer: String) -> Result<bool, ActivityError> {
    Ok(customer.starts_with("vip-"))
}

#[activity]
pub async fn open_incident_for(
    _ctx: ActivityCtx,
    customer: String,
) -> Result<Option<String>, ActivityError> {
    Ok(customer
        .ends_with("-down")
        .then(|| format!("INC-{customer}")))
}

#[activity]
pub async fn assign(_ctx: ActivityCtx, input: (String, String)) -> Result<String, ActivityError> {
    Ok(format!("{} -> {}", input.1, input.0))
}

#[workflow]
pub async fn support_routing(ctx: WorkflowCtx, ticket: Ticket) -> Result<String, WorkflowError> {
    let route: String = if ctx.activity(is_vip, ticket.customer.clone()).await? {
        ctx.activity(assign, ("vip-team".to_string(), ticket.subject.clone()))
            .await?
    } else if let Some(incident) = ctx
        .activity(open_incident_for, ticket.customer.clone())
        .await?
    {
        ctx.activity(assign, (incident, ticket.subject.clone()))
            .await?
    } else if ticket.subject.contains("refund") {
        ctx.activity(assign, ("billing".to_string(), ticket.subject.clone()))
            .await?
    } else {
        ctx.activity(assign, ("queue".to_string(), ticket.subject.clone()))
            .await?
    };
    Ok(route)
}
