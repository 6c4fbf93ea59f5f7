//! Sends a campaign to a list, one email a minute, skipping unsubscribed addresses and stopping if
//! the campaign is paused by a signal between two sends. Covers: `for` over a typed `Vec` local
//! with `continue` after an await in the condition, a throttling sleep, a `select` inside a loop.

use std::time::Duration;

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    pub name: String,
    pub recipients: Vec<String>,
}

#[activity]
pub async fn is_unsubscribed(_ctx: ActivityCtx, email: String) -> Result<bool, ActivityError> {
    Ok(email.starts_with("no-"))
}

#[activity]
pub async fn send_email(
    _ctx: ActivityCtx,
    input: (String, String),
) -> Result<String, ActivityError> {
    Ok(format!("{}->{}", input.0, input.1))
}

#[workflow]
pub async fn email_campaign(
    ctx: WorkflowCtx,
    campaign: Campaign,
) -> Result<(Vec<String>, u32, bool), WorkflowError> {
    let recipients: Vec<String> = campaign.recipients.clone();
    let mut sent: Vec<String> = Vec::new();
    let mut skipped: u32 = 0;
    let mut paused: bool = false;
    for email in recipients {
        if ctx.activity(is_unsubscribed, email.clone()).await? {
            skipped += 1;
            continue;
        }
        sent.push(
            ctx.activity(send_email, (campaign.name.clone(), email))
                .await?,
        );
        match ctx
            .select((
                ctx.signal::<()>("pause"),
                ctx.sleep(Duration::from_secs(60)),
            ))
            .await
        {
            Select2::First(()) => {
                paused = true;
                break;
            }
            Select2::Second(()) => {}
        }
    }
    Ok((sent, skipped, paused))
}
