use workflow_rt::prelude::*;

#[activity]
async fn send(_ctx: ActivityCtx, to: String) -> Result<(), ActivityError> {
    let _ = to;
    Ok(())
}

#[workflow]
async fn notify(ctx: WorkflowCtx, recipients: Vec<String>) -> Result<Vec<String>, WorkflowError> {
    let mut sent: Vec<String> = Vec::new();
    for to in &recipients {
        ctx.activity(send, to.clone()).await?;
        // `to` borrows from `recipients` and is used after the await.
        sent.push(to.clone());
    }
    Ok(sent)
}

fn main() {}
