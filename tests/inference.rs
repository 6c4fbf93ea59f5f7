//! Variables that cross an await without a type the macro can read off the code are saved with
//! the type the compiler infers: each workflow here is written as a plain `async fn` would be,
//! with no annotation, and runs straight and restored from its snapshot at every await with the
//! same result. The expected outputs are worked out by hand from each body.

use std::fmt::Debug;
use std::time::Duration;

use workflow_rt::prelude::*;
use workflow_rt::testing::{TestOutcome, TestRun};

/// Runs `make()` straight and with snapshot/drop/restore at every await: both must agree.
fn difftest<W: Workflow>(make: impl Fn() -> TestRun<W>) -> TestOutcome<W::Output>
where
    W::Output: PartialEq + Debug,
{
    let straight = make()
        .record_snapshots(true)
        .run()
        .unwrap_or_else(|e| panic!("straight run of {}: {e}", W::NAME));
    let restored = make()
        .snapshot_every_await(true)
        .record_snapshots(true)
        .run()
        .unwrap_or_else(|e| panic!("restored run of {}: {e}", W::NAME));
    assert_eq!(
        straight.output,
        restored.output,
        "{}: outputs differ",
        W::NAME
    );
    assert_eq!(
        straight.commands,
        restored.commands,
        "{}: commands differ",
        W::NAME
    );
    assert_eq!(
        straight.snapshots,
        restored.snapshots,
        "{}: snapshots differ",
        W::NAME
    );
    assert_eq!(straight.snapshots.len(), straight.commands.len() + 1);
    straight
}

const SEC: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Verdict {
    Approve { limit: u64 },
    Reject(String),
}

#[activity]
async fn review(_ctx: ActivityCtx, amount: u64) -> Result<Verdict, ActivityError> {
    if amount > 1_000 {
        Ok(Verdict::Reject(format!("{amount} is too much")))
    } else {
        Ok(Verdict::Approve { limit: amount * 2 })
    }
}

#[activity]
async fn maybe(_ctx: ActivityCtx, x: u64) -> Result<Option<u64>, ActivityError> {
    Ok(x.is_multiple_of(2).then_some(x / 2))
}

#[activity]
async fn double(_ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    Ok(x * 2)
}

fn combine(a: u64, b: u64, c: u64) -> String {
    format!("{a}-{b}-{c}")
}

/// The bindings of an enum pattern in a `match` arm, used after an await in the arm.
#[workflow]
async fn enum_arm(ctx: WorkflowCtx, amount: u64) -> Result<String, WorkflowError> {
    match ctx.activity(review, amount).await? {
        Verdict::Approve { limit } => {
            ctx.sleep(SEC).await;
            Ok(format!("approved up to {limit}"))
        }
        Verdict::Reject(why) => {
            ctx.sleep(SEC).await;
            Ok(format!("rejected: {why}"))
        }
    }
}

#[test]
fn bindings_of_an_enum_pattern_in_an_arm() {
    let run = difftest(|| TestRun::new(enum_arm, "e", 300).with_activity(review));
    assert_eq!(run.output, Ok("approved up to 600".to_string()));
    let run = difftest(|| TestRun::new(enum_arm, "e", 3_000).with_activity(review));
    assert_eq!(run.output, Ok("rejected: 3000 is too much".to_string()));
}

/// The end of an `Option` chain after an await.
#[workflow]
async fn option_chain(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    let half = ctx.activity(maybe, x).await?.map(|h| h + 1).unwrap_or(100);
    let twice = ctx.activity(double, half).await?;
    Ok(half + twice)
}

#[test]
fn the_end_of_an_option_chain() {
    let run = difftest(|| {
        TestRun::new(option_chain, "o", 8)
            .with_activity(maybe)
            .with_activity(double)
    });
    assert_eq!(run.output, Ok(5 + 10));
    let run = difftest(|| {
        TestRun::new(option_chain, "o", 7)
            .with_activity(maybe)
            .with_activity(double)
    });
    assert_eq!(run.output, Ok(100 + 200));
}

/// `let mut kept = Vec::new();` filled later.
#[workflow]
async fn filled_later(ctx: WorkflowCtx, n: u64) -> Result<Vec<u64>, WorkflowError> {
    let mut kept = Vec::new();
    for i in 0..n {
        let d = ctx.activity(double, i).await?;
        if d % 4 == 0 {
            kept.push(d);
        }
    }
    Ok(kept)
}

#[test]
fn a_vec_filled_later() {
    let run = difftest(|| TestRun::new(filled_later, "v", 5).with_activity(double));
    assert_eq!(run.output, Ok(vec![0, 4, 8]));
}

/// The result of an ordinary function.
#[workflow]
async fn function_result(ctx: WorkflowCtx, a: u64) -> Result<String, WorkflowError> {
    let b = ctx.activity(double, a).await?;
    let s = combine(a, b, 3);
    let c = ctx.activity(double, b).await?;
    Ok(format!("{s}/{c}"))
}

#[test]
fn the_result_of_a_function() {
    let run = difftest(|| TestRun::new(function_result, "f", 2).with_activity(double));
    assert_eq!(run.output, Ok("2-4-3/8".to_string()));
}

/// Keeps an inferred `Vec<Verdict>` and an inferred `String` while it waits for a signal.
#[workflow]
async fn waits_with_inferred(ctx: WorkflowCtx, amount: u64) -> Result<usize, WorkflowError> {
    let mut seen = Vec::new();
    seen.push(ctx.activity(review, amount).await?);
    let label = combine(amount, 1, 2);
    let go: bool = ctx.signal("go").await;
    Ok(seen.len() + label.len() + usize::from(go))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_shows_inferred_variables_as_json() {
    let rt = workflow_rt::Runtime::builder(workflow_rt::MemoryStore::new())
        .workflow(waits_with_inferred)
        .activity(review)
        .build()
        .await
        .expect("build");
    let run = rt
        .start(waits_with_inferred, "w", 300)
        .await
        .expect("start");
    let mut shown = None;
    for _ in 0..500 {
        let s = rt.state("w").await.expect("state");
        if s.step == 2 {
            shown = s.state;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let shown = shown.expect("the run reached the signal wait");
    assert_eq!(
        shown,
        serde_json::json!({
            "Await2SignalGo": {
                "seen": [{ "Approve": { "limit": 600 } }],
                "label": "300-1-2",
            }
        }),
        "the inferred variables are shown as their values, not as bytes"
    );
    let description = waits_with_inferred::description().to_text();
    assert!(
        description.contains("        seen: <inferred>\n"),
        "{description}"
    );
    assert!(
        description.contains("    seen: Seq<Verdict>\n"),
        "{description}"
    );
    rt.signal("w", "go", true).await.expect("signal");
    let out = tokio::time::timeout(Duration::from_secs(10), run.result())
        .await
        .expect("in time")
        .expect("result");
    assert_eq!(out, Ok(1 + 7 + 1));
}
