//! Rolls a release out through the steps of a deployment plan (canary, then region by region),
//! checking health after each step, and rolls back every applied step, newest first, when a check
//! fails. Covers: activities named with everyday words (`step`, `health`), a `for` over a typed
//! `Vec` local with two awaits per item, a nested rollback loop that moves the accumulator, and a
//! `return` from inside it.

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub release: String,
    pub steps: Vec<String>,
}

#[activity]
pub async fn step(_ctx: ActivityCtx, input: (String, String)) -> Result<String, ActivityError> {
    Ok(format!("{}@{}", input.0, input.1))
}

/// Targets whose name contains `bad` fail their health check.
#[activity]
pub async fn health(_ctx: ActivityCtx, target: String) -> Result<bool, ActivityError> {
    Ok(!target.contains("bad"))
}

#[activity]
pub async fn rollback(_ctx: ActivityCtx, applied: String) -> Result<(), ActivityError> {
    let _ = applied;
    Ok(())
}

#[workflow]
pub async fn deployment_plan(ctx: WorkflowCtx, plan: Plan) -> Result<Vec<String>, WorkflowError> {
    let steps: Vec<String> = plan.steps.clone();
    let mut applied: Vec<String> = Vec::new();
    for target in steps {
        let done = ctx
            .activity(step, (plan.release.clone(), target.clone()))
            .await?;
        applied.push(done);
        if !ctx.activity(health, target.clone()).await? {
            applied.reverse();
            for undo in applied {
                ctx.activity(rollback, undo).await?;
            }
            return Err(WorkflowError::msg(format!(
                "{target} unhealthy, {} rolled back",
                plan.release
            )));
        }
    }
    Ok(applied)
}
