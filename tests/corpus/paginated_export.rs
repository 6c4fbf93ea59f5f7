//! Exports a report page by page while the source says there are more pages, then uploads the
//! result. Covers: `while` with an await in its condition, `mut` cursor and accumulator.

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Export {
    pub report: String,
    pub pages: u32,
}

#[activity]
pub async fn has_page(_ctx: ActivityCtx, input: (Export, u32)) -> Result<bool, ActivityError> {
    Ok(input.1 < input.0.pages)
}

/// A page of rows: page `n` has `n + 1` rows.
#[activity]
pub async fn fetch_page(
    _ctx: ActivityCtx,
    input: (String, u32),
) -> Result<Vec<String>, ActivityError> {
    Ok((0..=input.1)
        .map(|r| format!("{}:{}:{}", input.0, input.1, r))
        .collect())
}

#[activity]
pub async fn upload_export(_ctx: ActivityCtx, rows: Vec<String>) -> Result<String, ActivityError> {
    Ok(format!("s3://exports/{}-rows", rows.len()))
}

#[workflow]
pub async fn paginated_export(
    ctx: WorkflowCtx,
    export: Export,
) -> Result<(String, u32), WorkflowError> {
    let mut page: u32 = 0;
    let mut rows: Vec<String> = Vec::new();
    while ctx.activity(has_page, (export.clone(), page)).await? {
        let batch = ctx
            .activity(fetch_page, (export.report.clone(), page))
            .await?;
        rows.extend(batch);
        page += 1;
    }
    let url = ctx.activity(upload_export, rows).await?;
    Ok((url, page))
}
