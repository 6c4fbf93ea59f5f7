//! A parent workflow that fans out one child workflow per parcel of an order, on a SQLite
//! file, and gathers what they return.
//!
//! ```text
//! cargo run --example fanout                          # an order of four parcels
//! cargo run --example fanout -- --restore-every-step  # every step from its snapshot: the same
//! ```
//!
//! Each child packs its parcel (an activity) and waits for the carrier's pick-up (a short
//! timer); the one too heavy for any carrier fails, and the parent reports it. The children are
//! runs of their own (`order-7/ship_parcel-0`...), listed with their parent's id in the store;
//! each one's end wakes the parent through the store.

use std::time::Duration;

use workflow_rt::prelude::*;
use workflow_rt::{Builder, WorkflowStatus};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parcel {
    pub label: String,
    pub kilos: u32,
}

#[activity]
pub async fn pack(_ctx: ActivityCtx, parcel: Parcel) -> Result<String, ActivityError> {
    if parcel.kilos > 30 {
        return Err(ActivityError::non_retryable(format!(
            "{} weighs {} kg: no carrier takes it",
            parcel.label, parcel.kilos
        )));
    }
    Ok(format!("box-{}", parcel.label))
}

/// One parcel: packed, then picked up.
#[workflow]
pub async fn ship_parcel(ctx: WorkflowCtx, parcel: Parcel) -> Result<String, WorkflowError> {
    let boxed = ctx.activity(pack, parcel).await?;
    ctx.sleep(Duration::from_millis(300)).await;
    Ok(format!("{boxed} picked up"))
}

/// The order: one child per parcel, all at once.
#[workflow]
pub async fn ship_order(ctx: WorkflowCtx, parcels: Vec<Parcel>) -> Vec<String> {
    let children: Vec<_> = parcels
        .into_iter()
        .map(|p| ctx.child(ship_parcel, p))
        .collect();
    let mut report: Vec<String> = Vec::new();
    for out in ctx.join(children).await {
        report.push(match out {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => format!("failed: {e}"),
            Err(e) => format!("not shipped: {e}"),
        });
    }
    report
}

/// Registers the workflows and the activity.
pub fn register(builder: Builder) -> Builder {
    builder
        .workflow(ship_order)
        .workflow(ship_parcel)
        .activity(pack)
}

/// The order the example ships.
pub fn parcels() -> Vec<Parcel> {
    [("books", 4), ("lamp", 2), ("piano", 250), ("rug", 9)]
        .into_iter()
        .map(|(label, kilos)| Parcel {
            label: label.to_string(),
            kilos,
        })
        .collect()
}

/// Ships the example's order on `rt` and returns the parent's report and each child's status.
pub async fn run(rt: &Runtime) -> anyhow::Result<(Vec<String>, Vec<(String, WorkflowStatus)>)> {
    let run = rt.start(ship_order, "order-7", parcels()).await?;
    let report = run.result().await?;
    let mut children = Vec::new();
    for i in 0..parcels().len() {
        let id = format!("order-7/ship_parcel-{i}");
        children.push((id.clone(), rt.state(&id).await?.status));
    }
    Ok((report, children))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let restore = std::env::args().any(|a| a == "--restore-every-step");
    let path = std::path::Path::new("fanout.db");
    for file in ["fanout.db", "fanout.db-wal", "fanout.db-shm"] {
        let _ = std::fs::remove_file(file);
    }
    let rt = register(Runtime::builder(SqliteStore::open(path)?))
        .restore_every_step(restore)
        .build()
        .await?;
    let (report, children) = run(&rt).await?;
    println!("order-7:");
    for line in &report {
        println!("  {line}");
    }
    for (id, status) in &children {
        println!("  {id}: {status}");
    }
    rt.shutdown().await;
    Ok(())
}
