//! Upgrading a workflow while runs wait: three runs start on version 1 and wait for an answer;
//! the process stops; a new deploy brings version 2, whose persisted layout differs.
//!
//! - `cargo run --example upgrade -- migrate`: the deploy registers a migration from v1 to v2;
//!   the old runs move to v2 (once, in one commit each) and finish on the new code.
//! - `cargo run --example upgrade -- pin`: the deploy keeps v1 registered next to v2; the old
//!   runs finish on v1, new runs start on v2.
//!
//! Each phase is a runtime of its own on one SQLite file, as two deploys of a service would be.

use std::time::Duration;

use workflow_rt::prelude::*;
use workflow_rt::store::HistoryKind;
use workflow_rt::{Migration, StrandedRun};

/// Version 1: waits for a delivery slot, then confirms.
#[workflow(name = "delivery")]
pub async fn delivery_v1(ctx: WorkflowCtx, parcel: String) -> String {
    let slot: String = ctx.signal("slot").await;
    format!("v1: {parcel} delivered in the {slot}")
}

/// Version 2: decides the parcel's priority before it waits (a new saved variable, so a new
/// persisted layout), and says it.
#[workflow(name = "delivery", version = 2)]
pub async fn delivery(ctx: WorkflowCtx, parcel: String) -> String {
    let priority: bool = parcel.ends_with('1');
    let slot: String = ctx.signal("slot").await;
    let kind = if priority { "priority" } else { "standard" };
    format!("v2: {parcel} ({kind}) delivered in the {slot}")
}

/// The migration: each state of v1 to the state of v2 that waits on the same thing.
pub fn v1_to_v2(old: DeliveryV1State) -> Migration<DeliveryState> {
    match old {
        DeliveryV1State::Start { parcel } => Migration::To(DeliveryState::Start { parcel }),
        DeliveryV1State::Await1SignalSlot { parcel } => {
            // v1 did not decide the priority: decide it as v2 does.
            let priority = parcel.ends_with('1');
            Migration::To(DeliveryState::Await1SignalSlot { parcel, priority })
        }
        other => Migration::Refuse(format!("{other:?} has nothing left to do")),
    }
}

/// Phase one, the old deploy: starts three v1 runs, which wait for their slot. (`restore`:
/// every step restores the state from the store, as after a crash; the tests run both ways.)
pub async fn old_deploy(
    store: &std::sync::Arc<SqliteStore>,
    restore: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::builder(store.clone())
        .restore_every_step(restore)
        .workflow(delivery_v1)
        .build()
        .await?;
    for parcel in ["parcel-1", "parcel-2", "parcel-3"] {
        rt.start(delivery_v1, parcel, parcel.to_string()).await?;
    }
    // Wait until each has taken its first step (it then waits for the signal).
    for parcel in ["parcel-1", "parcel-2", "parcel-3"] {
        while rt.state(parcel).await?.step == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    println!("old deploy: 3 runs of delivery v1 wait for their slot; stopping");
    rt.shutdown().await;
    Ok(())
}

/// Phase two with a migration: the old runs finish on v2. Returns their outputs.
pub async fn migrate_deploy(
    store: &std::sync::Arc<SqliteStore>,
    restore: bool,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let rt = Runtime::builder(store.clone())
        .restore_every_step(restore)
        .workflow(delivery)
        .migrate(delivery_v1, delivery, v1_to_v2)
        .build()
        .await?;
    let mut outputs = Vec::new();
    for parcel in ["parcel-1", "parcel-2", "parcel-3"] {
        rt.signal(parcel, "slot", "morning".to_string()).await?;
        let out = rt.handle(delivery, parcel).result().await?;
        let history = rt.history(parcel).await?;
        let migrated = history
            .iter()
            .find(|h| h.kind == HistoryKind::Migrated)
            .map(|h| h.detail.clone())
            .unwrap_or_default();
        println!("{parcel}: {migrated}\n  -> {out}");
        outputs.push(out);
    }
    rt.shutdown().await;
    Ok(outputs)
}

/// Phase two with v1 kept (pinned): old runs finish on v1, a new one starts on v2.
pub async fn pin_deploy(
    store: &std::sync::Arc<SqliteStore>,
    restore: bool,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let rt = Runtime::builder(store.clone())
        .restore_every_step(restore)
        .workflow(delivery_v1)
        .workflow(delivery)
        .build()
        .await?;
    let stranded: Vec<StrandedRun> = rt.stranded().await?;
    assert!(stranded.is_empty(), "every run has its code");
    rt.start(delivery, "parcel-4", "parcel-4".to_string())
        .await?;
    let mut outputs = Vec::new();
    for parcel in ["parcel-1", "parcel-2", "parcel-3"] {
        rt.signal(parcel, "slot", "evening".to_string()).await?;
        let out = rt.handle(delivery_v1, parcel).result().await?;
        println!("{parcel} (pinned to v1): {out}");
        outputs.push(out);
    }
    rt.signal("parcel-4", "slot", "evening".to_string()).await?;
    let out = rt.handle(delivery, "parcel-4").result().await?;
    println!("parcel-4 (new, on v2): {out}");
    outputs.push(out);
    rt.shutdown().await;
    Ok(outputs)
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mode = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "migrate".to_string());
    let dir = std::env::temp_dir().join(format!("workflow-upgrade-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = std::sync::Arc::new(SqliteStore::open(dir.join("workflows.db"))?);
    old_deploy(&store, false).await?;
    match mode.as_str() {
        "migrate" => {
            println!("new deploy: delivery v2 with a migration from v1");
            migrate_deploy(&store, false).await?;
        }
        "pin" => {
            println!("new deploy: delivery v2, with v1 kept for the runs that started on it");
            pin_deploy(&store, false).await?;
        }
        other => return Err(format!("unknown mode {other:?}: use `migrate` or `pin`").into()),
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
