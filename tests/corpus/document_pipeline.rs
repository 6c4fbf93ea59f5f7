//! Processes an uploaded document through OCR, language detection, translation and redaction,
//! updating one `mut` struct in place: whole-value and field assignments take their value from
//! awaits. Covers: `mut` struct locals, `x = ctx.activity(..).await?`, `x.field = ..await?`,
//! method calls on the local between awaits.

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub name: String,
    pub text: String,
    pub language: String,
    pub redactions: u32,
    pub history: Vec<String>,
}

#[activity]
pub async fn ocr(_ctx: ActivityCtx, mut doc: Document) -> Result<Document, ActivityError> {
    doc.text = format!("text of {}", doc.name);
    doc.history.push("ocr".into());
    Ok(doc)
}

#[activity]
pub async fn detect_language(_ctx: ActivityCtx, text: String) -> Result<String, ActivityError> {
    Ok(if text.contains("der") {
        "de".into()
    } else {
        "en".into()
    })
}

#[activity]
pub async fn translate(
    _ctx: ActivityCtx,
    input: (String, String),
) -> Result<String, ActivityError> {
    Ok(format!("[{}->en] {}", input.1, input.0))
}

/// Redacts digits; returns the new text and how many characters were redacted.
#[activity]
pub async fn redact(_ctx: ActivityCtx, text: String) -> Result<(String, u32), ActivityError> {
    let count = text.chars().filter(|c| c.is_ascii_digit()).count() as u32;
    Ok((
        text.chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .collect(),
        count,
    ))
}

#[workflow]
pub async fn document_pipeline(ctx: WorkflowCtx, name: String) -> Result<Document, WorkflowError> {
    let mut doc: Document = Document {
        name,
        text: String::new(),
        language: String::new(),
        redactions: 0,
        history: Vec::new(),
    };
    doc = ctx.activity(ocr, doc.clone()).await?;
    doc.language = ctx.activity(detect_language, doc.text.clone()).await?;
    doc.history.push(format!("language {}", doc.language));
    if doc.language != "en" {
        doc.text = ctx
            .activity(translate, (doc.text.clone(), doc.language.clone()))
            .await?;
        doc.history.push("translated".to_string());
    }
    let (text, count): (String, u32) = ctx.activity(redact, doc.text.clone()).await?;
    doc.text = text;
    doc.redactions += count;
    doc.history.push(format!("redacted {count}"));
    Ok(doc)
}
