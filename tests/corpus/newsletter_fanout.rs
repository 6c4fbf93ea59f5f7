//! Sends a newsletter to every subscriber at once, then retries the failed deliveries once, also
//! at once. Covers: `ctx.join` of a `Vec` of activity calls built with an iterator, a typed result
//! `Vec`, a second join over the failures.

use std::time::Duration;

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Newsletter {
    pub issue: u32,
    pub subscribers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub sent: Vec<String>,
    pub bounced: Vec<String>,
}

/// Delivers to addresses that contain an `@`; others bounce.
#[activity]
pub async fn deliver(_ctx: ActivityCtx, input: (u32, String)) -> Result<String, ActivityError> {
    if !input.1.contains('@') {
        return Err(ActivityError::retryable(format!("{} bounced", input.1)));
    }
    Ok(format!("{}#{}", input.1, input.0))
}

#[workflow]
pub async fn newsletter_fanout(
    ctx: WorkflowCtx,
    letter: Newsletter,
) -> Result<Delivery, WorkflowError> {
    let calls = letter
        .subscribers
        .iter()
        .map(|s| {
            ctx.activity(deliver, (letter.issue, s.clone()))
                .start_to_close(Duration::from_secs(20))
        })
        .collect::<Vec<_>>();
    let first: Vec<Result<String, ActivityError>> = ctx.join(calls).await;
    let mut sent: Vec<String> = Vec::new();
    let mut retry: Vec<String> = Vec::new();
    for (subscriber, result) in letter.subscribers.iter().zip(first) {
        match result {
            Ok(receipt) => sent.push(receipt),
            Err(_) => retry.push(subscriber.clone()),
        }
    }
    if retry.is_empty() {
        return Ok(Delivery {
            sent,
            bounced: Vec::new(),
        });
    }
    let second: Vec<Result<String, ActivityError>> = ctx
        .join(
            retry
                .iter()
                .map(|s| ctx.activity(deliver, (letter.issue, s.clone())))
                .collect::<Vec<_>>(),
        )
        .await;
    let mut bounced: Vec<String> = Vec::new();
    for (subscriber, result) in retry.into_iter().zip(second) {
        match result {
            Ok(receipt) => sent.push(receipt),
            Err(_) => bounced.push(subscriber),
        }
    }
    Ok(Delivery { sent, bounced })
}
