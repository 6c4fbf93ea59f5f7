//! Batches incoming events: keeps receiving `event` signals while they arrive within five minutes
//! of each other, flushing every ten events, then flushes the rest. Covers: `while let` with an
//! await in the scrutinee, an inner `if` with an await, a `Vec` drained across awaits.

use std::time::Duration;

use workflow_rt::prelude::*;

#[activity]
pub async fn flush_batch(
    _ctx: ActivityCtx,
    input: (String, Vec<String>),
) -> Result<u32, ActivityError> {
    Ok(input.1.len() as u32)
}

#[workflow]
pub async fn message_batcher(ctx: WorkflowCtx, topic: String) -> Result<(u32, u32), WorkflowError> {
    let mut pending: Vec<String> = Vec::new();
    let mut flushed: u32 = 0;
    let mut batches: u32 = 0;
    while let Some(event) = ctx
        .signal::<String>("event")
        .timeout(Duration::from_secs(300))
        .await
    {
        pending.push(event);
        if pending.len() >= 10 {
            flushed += ctx
                .activity(flush_batch, (topic.clone(), std::mem::take(&mut pending)))
                .await?;
            batches += 1;
        }
    }
    if !pending.is_empty() {
        flushed += ctx.activity(flush_batch, (topic, pending)).await?;
        batches += 1;
    }
    Ok((flushed, batches))
}
