//! Polls a batch job until it finishes, sleeping longer after each check, and gives up after a
//! number of checks. Covers: a retry loop with a counter, `loop` with `break value`, a sleep whose
//! length is computed from the counter.

use std::time::Duration;

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRequest {
    pub job: String,
    pub max_checks: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum JobStatus {
    Running { percent: u8 },
    Done { rows: u64 },
    Failed { error: String },
}

#[activity]
pub async fn start_job(_ctx: ActivityCtx, job: String) -> Result<String, ActivityError> {
    Ok(format!("{job}#1"))
}

/// A simulated job: finishes at the fourth check, or fails if its name says so.
#[activity]
pub async fn check_job(
    _ctx: ActivityCtx,
    input: (String, u32),
) -> Result<JobStatus, ActivityError> {
    let (handle, check) = input;
    if handle.starts_with("broken") {
        return Ok(JobStatus::Failed {
            error: "disk full".into(),
        });
    }
    if check >= 4 {
        Ok(JobStatus::Done {
            rows: 1000 * check as u64,
        })
    } else {
        Ok(JobStatus::Running {
            percent: (check * 25) as u8,
        })
    }
}

#[workflow]
pub async fn job_polling(
    ctx: WorkflowCtx,
    request: JobRequest,
) -> Result<(u64, u32), WorkflowError> {
    let handle = ctx.activity(start_job, request.job.clone()).await?;
    let mut checks: u32 = 0;
    let rows: u64 = loop {
        checks += 1;
        let status = ctx.activity(check_job, (handle.clone(), checks)).await?;
        match status {
            JobStatus::Done { rows } => break rows,
            JobStatus::Failed { error } => {
                return Err(WorkflowError::msg(format!("{handle} failed: {error}")));
            }
            JobStatus::Running { .. } if checks >= request.max_checks => {
                return Err(WorkflowError::msg(format!(
                    "{handle} still running after {checks} checks"
                )));
            }
            JobStatus::Running { .. } => {}
        }
        ctx.sleep(Duration::from_secs(30) * checks).await;
    };
    Ok((rows, checks))
}
