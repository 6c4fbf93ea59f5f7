//! The web console on a few runs in every status: a review loop that waits for a reviewer's
//! verdict (a signal with a JSON payload), finished and cancelled reviews, and a run parked
//! by a panic.
//!
//! ```text
//! cargo run --example console                    # http://127.0.0.1:7380/, token printed
//! CONSOLE_TOKEN=s3cret cargo run --example console -- 127.0.0.1:8080
//! ```
//!
//! Open a waiting review, and send it the signal `review` with the payload
//! `{"approved": true, "by": "ana"}` and the token: the page follows the run to its end. A
//! verdict with `"approved": false` sends the review round the loop again.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use workflow_console::Console;
use workflow_rt::prelude::*;
use workflow_rt::{Builder, Runtime, WorkflowStatus};

/// A reviewer's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub approved: bool,
    pub by: String,
}

/// The signal a review waits for.
pub const REVIEW: Signal<Verdict> = Signal::new("review");

#[activity]
async fn publish(_ctx: ActivityCtx, doc: String) -> Result<String, ActivityError> {
    Ok(format!("https://docs.example/{doc}"))
}

/// Waits for verdicts until one approves (a pause between rounds), then publishes; says which
/// round it is in, and the document's address at the end ([`WorkflowCtx::publish`]).
#[workflow]
pub async fn review(ctx: WorkflowCtx, doc: String) -> Result<String, WorkflowError> {
    let mut rounds: u32 = 0;
    loop {
        rounds += 1;
        // For the console and any client to read while the run waits.
        ctx.publish("round", &rounds)?;
        let verdict = ctx.signal(REVIEW).await;
        if verdict.approved {
            break;
        }
        ctx.sleep(Duration::from_millis(200)).await;
    }
    let url = ctx.activity(publish, doc).await?;
    ctx.publish("url", &url)?;
    Ok(format!("{url} after {rounds} round(s)"))
}

/// Parks on a count of 13 (it panics), returns any other.
#[workflow]
pub async fn tally(ctx: WorkflowCtx, _start: u64) -> u64 {
    let n: u64 = ctx.signal::<u64>("count").await;
    if n == 13 {
        panic!("13 is unlucky");
    }
    n
}

/// The example's runtime on `builder`: both workflows and the activity.
pub fn register(builder: Builder) -> Builder {
    builder.workflow(review).workflow(tally).activity(publish)
}

/// Runs in every status: `doc-1`..`doc-3` waiting, `doc-4` published, `doc-5` cancelled,
/// `tally-1` parked.
pub async fn seed(rt: &Runtime) -> Result<(), Box<dyn std::error::Error>> {
    for doc in ["doc-1", "doc-2", "doc-3", "doc-4", "doc-5"] {
        rt.start(review, doc, format!("{doc}.md")).await?;
    }
    rt.start(tally, "tally-1", 0).await?;
    let client = rt.client();
    let approve = serde_json::json!({ "approved": true, "by": "ana" });
    client.signal_json("doc-4", "review", &approve).await?;
    client.terminate("doc-5").await?;
    client
        .signal_json("tally-1", "count", &serde_json::json!(13))
        .await?;
    let published = rt.handle(review, "doc-4").result().await?;
    published.map_err(|e| e.message)?;
    while client.state("tally-1").await?.status != WorkflowStatus::Parked {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| format!("127.0.0.1:{}", workflow_console::DEFAULT_PORT));
    let token = std::env::var("CONSOLE_TOKEN")
        .unwrap_or_else(|_| format!("{:016x}", RandomState::new().hash_one(std::process::id())));
    let metrics = workflow_console::install_prometheus()?;
    let rt = register(Runtime::builder(workflow_rt::MemoryStore::new()))
        .build()
        .await?;
    seed(&rt).await?;
    println!("console on http://{addr}/ (token {token}); Ctrl-C to stop");
    Console::new(rt.client())
        .token(token)
        .prometheus(metrics)
        .serve(addr)
        .await?;
    Ok(())
}
