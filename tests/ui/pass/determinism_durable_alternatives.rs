//! The durable way to write what the determinism check rejects: time, randomness and ids from
//! the context, durable timers, `ctx.join` / `ctx.select` instead of tasks and `select!`, I/O in
//! activities, and `BTreeMap` instead of `HashMap`.

use std::collections::BTreeMap;
use std::time::Duration;

use workflow_rt::prelude::*;

/// The environment and the file system are read in an activity: its result is persisted.
#[activity]
async fn read_setting(_ctx: ActivityCtx, key: String) -> Result<String, ActivityError> {
    Ok(std::env::var(&key).or_else(|_| std::fs::read_to_string(format!("{key}.txt"))).unwrap_or_default())
}

#[activity]
async fn quote(_ctx: ActivityCtx, carrier: String) -> Result<u64, ActivityError> {
    Ok(carrier.len() as u64 * 100)
}

#[workflow]
async fn durable_alternatives(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    // SystemTime::now() -> ctx.now()
    let started = ctx.now();
    // rand::random() -> ctx.random(); Uuid::new_v4() -> ctx.uuid()
    let jitter: u64 = ctx.random::<u64>() % 500;
    let key: String = ctx.uuid();
    // std::env::var / std::fs -> an activity
    let region: String = ctx.activity(read_setting, "REGION".to_string()).await?;
    // tokio::time::sleep / std::thread::sleep -> ctx.sleep
    ctx.sleep(Duration::from_millis(jitter)).await;
    // tokio::join! / join_all -> ctx.join
    let (a, b) = ctx
        .join((ctx.activity(quote, "vans".to_string()), ctx.activity(quote, "bikes".to_string())))
        .await;
    // tokio::select! / tokio::time::timeout -> ctx.select
    let approved = match ctx.select((ctx.signal::<bool>("approve"), ctx.sleep(Duration::from_secs(60)))).await {
        Select2::First(ok) => ok,
        Select2::Second(()) => false,
    };
    // HashMap -> BTreeMap
    let mut quotes: BTreeMap<String, u64> = BTreeMap::new();
    quotes.insert("vans".to_string(), a?);
    quotes.insert("bikes".to_string(), b?);
    let waited = ctx.now().duration_since(started).map(|d| d.as_secs()).unwrap_or(0);
    Ok(order_id + quotes.values().sum::<u64>() + u64::from(approved) + waited + (region.len() + key.len()) as u64)
}

fn main() {
    use workflow_rt::testing::TestRun;
    let run = |snapshots: bool| {
        TestRun::new(durable_alternatives, "order-7", 7)
            .on_activity(read_setting, |key| Ok(format!("eu-{key}")))
            .with_activity(quote)
            .signal("approve", true)
            .snapshot_every_await(snapshots)
            .run()
            .unwrap()
    };
    let (straight, restored) = (run(false), run(true));
    assert_eq!((&straight.output, &straight.commands), (&restored.output, &restored.commands));
    // 7 + vans 400 + bikes 500 + approved 1 + under a second waited (a jitter below 500 ms)
    // + "eu-REGION" (9) + a hyphenated uuid (36)
    assert_eq!(straight.output, Ok(7 + 900 + 1 + 9 + 36));
}
