//! Values a run publishes (`WorkflowCtx::publish`) and the world reads (`published`,
//! `published_values`, `wait_published`): stored with the step that publishes them, read while
//! the run waits and after it ends, by a client of another process too, after a restart, and
//! refused with a typed error when they cannot be kept.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{both_modes, builder, eventually, memory, within};
use workflow_rt::prelude::*;
use workflow_rt::store::Store;
use workflow_rt::{
    Client, MAX_PUBLISHED_BYTES, MAX_PUBLISHED_KEY, PublishError, RuntimeError, SqliteStore,
    WorkflowStatus,
};

const HOUR: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Progress {
    done: u32,
    total: u32,
}

#[activity]
async fn load(_ctx: ActivityCtx, file: u32) -> Result<u32, ActivityError> {
    Ok(file * 10)
}

/// Loads `files` files an hour apart, publishing its progress, then waits for an approval,
/// saying so.
#[workflow]
async fn import(ctx: WorkflowCtx, files: u32) -> Result<u32, WorkflowError> {
    let mut rows = 0u32;
    for file in 0..files {
        ctx.publish(
            "progress",
            &Progress {
                done: file,
                total: files,
            },
        )?;
        rows += ctx.activity(load, file).await?;
        ctx.sleep(HOUR).await;
    }
    ctx.publish(
        "progress",
        &Progress {
            done: files,
            total: files,
        },
    )?;
    ctx.publish("status", "waiting for approval")?;
    let approved: bool = ctx.signal("approve").await;
    ctx.publish("status", if approved { "approved" } else { "refused" })?;
    Ok(rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_are_read_while_the_run_waits_and_after_it_ends() {
    both_modes(async |mode| {
        let id = &mode.id("import");
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(import)
            .activity(load)
            .build()
            .await
            .expect("build");
        let client = rt.client();
        let run = rt.start(import, id, 2).await.expect("start");
        let first: Option<Progress> = within(
            "the first value",
            client.wait_published(id, "progress", Duration::from_secs(10)),
        )
        .await
        .expect("wait");
        assert!(first.is_some(), "published by the first step");
        eventually("asleep after the first file", || async {
            store.load_timers(id).await.is_ok_and(|t| t.len() == 1)
        })
        .await;
        assert_eq!(
            rt.published::<Progress>(id, "progress")
                .await
                .expect("read"),
            Some(Progress { done: 0, total: 2 }),
            "the value of the last committed step"
        );
        assert_eq!(
            client
                .published::<String>(id, "status")
                .await
                .expect("read"),
            None,
            "nothing under a key not published yet"
        );
        clock.advance(HOUR);
        eventually("asleep after the second file", || async {
            client
                .published::<Progress>(id, "progress")
                .await
                .is_ok_and(|p| p == Some(Progress { done: 1, total: 2 }))
                && store.load_timers(id).await.is_ok_and(|t| t.len() == 1)
        })
        .await;
        clock.advance(HOUR);
        let status: Option<String> = within(
            "the status",
            client.wait_published(id, "status", Duration::from_secs(10)),
        )
        .await
        .expect("wait");
        assert_eq!(status.as_deref(), Some("waiting for approval"));
        let state = client.state(id).await.expect("state");
        assert_eq!(state.status, WorkflowStatus::Running);
        rt.signal(id, "approve", true).await.expect("signal");
        assert_eq!(within("result", run.result()).await, Ok(Ok(10)));
        let values = client.published_values(id).await.expect("values");
        assert_eq!(
            serde_json::to_string(&values).expect("json"),
            r#"{"progress":{"done":2,"total":2},"status":"approved"}"#,
            "read after the end, as JSON"
        );
        assert!(
            matches!(
                client.published::<u64>(id, "status").await,
                Err(RuntimeError::Decode { .. })
            ),
            "a value read as another type is a decode error"
        );
        rt.shutdown().await;
        values
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_ends_with_none_on_its_timeout_or_the_runs_end() {
    let (store, clock) = memory();
    let rt = builder(support::Mode::Cached, store.clone(), clock.clone())
        .workflow(import)
        .activity(load)
        .build()
        .await
        .expect("build");
    let client = rt.client();
    rt.start(import, "w", 1).await.expect("start");
    let began = std::time::Instant::now();
    let none: Option<String> = client
        .wait_published("w", "never", Duration::from_millis(50))
        .await
        .expect("wait");
    assert_eq!(none, None);
    assert!(began.elapsed() >= Duration::from_millis(50), "waited");
    assert!(
        matches!(
            client
                .wait_published::<u32>("nobody", "x", Duration::from_secs(5))
                .await,
            Err(RuntimeError::UnknownWorkflow(_))
        ),
        "no run: an error at once"
    );
    // A run that ends without the key ends the wait at once.
    eventually("asleep", || async {
        store.load_timers("w").await.is_ok_and(|t| t.len() == 1)
    })
    .await;
    clock.advance(HOUR);
    eventually("waiting for approval", || async {
        client
            .published::<String>("w", "status")
            .await
            .is_ok_and(|s| s.is_some())
    })
    .await;
    rt.signal("w", "approve", false).await.expect("signal");
    let ends = tokio::spawn({
        let client = client.clone();
        async move {
            // No timeout: the run's end ends it.
            client
                .wait_published::<String>("w", "never", Duration::MAX)
                .await
        }
    });
    assert_eq!(within("the wait ends", ends).await.expect("join"), Ok(None));
    assert_eq!(
        client.published::<String>("w", "status").await,
        Ok(Some("refused".to_string()))
    );
    // A store that fails at every look ends the wait with its failure, not a `None` that
    // would read as "not published".
    let faulty = Client::new(workflow_rt::testing::FaultyStore::new(
        store.clone(),
        1,
        workflow_rt::testing::Faults {
            fail_before: 1.0,
            ..Default::default()
        },
    ));
    let failed = faulty
        .wait_published::<String>("w", "status", Duration::from_millis(50))
        .await;
    assert!(matches!(failed, Err(RuntimeError::Store(_))), "{failed:?}");
    client.purge("w").await.expect("purge");
    assert!(
        matches!(
            client.published::<String>("w", "status").await,
            Err(RuntimeError::UnknownWorkflow(_))
        ),
        "a purge takes the values with the run"
    );
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_waits_and_reads_after_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("wf.db");
    let open = || Arc::new(SqliteStore::open(&path).expect("open"));
    // A client on its own connection, with no runtime: it sees the worker's steps by looking
    // at the store.
    let client = Client::new(open()).workflow(import);
    let worker = Runtime::builder(open())
        .poll_interval(Duration::from_millis(5))
        .workflow(import)
        .activity(load)
        .build()
        .await
        .expect("build");
    client.start(import, "far", 0).await.expect("start");
    let status: Option<String> = within(
        "the status, from the other connection",
        client.wait_published("far", "status", Duration::from_secs(10)),
    )
    .await
    .expect("wait");
    assert_eq!(status.as_deref(), Some("waiting for approval"));
    worker.shutdown().await;
    drop(worker);
    // A new process reads what the old one published, and the run goes on from it.
    let again = Runtime::builder(open())
        .poll_interval(Duration::from_millis(5))
        .workflow(import)
        .activity(load)
        .build()
        .await
        .expect("build again");
    assert_eq!(
        again.published::<Progress>("far", "progress").await,
        Ok(Some(Progress { done: 0, total: 0 }))
    );
    again.signal("far", "approve", true).await.expect("signal");
    assert_eq!(
        within("result", again.client().result(import, "far")).await,
        Ok(Ok(0))
    );
    assert_eq!(
        client.published::<String>("far", "status").await,
        Ok(Some("approved".to_string()))
    );
    again.shutdown().await;
}

/// Publishes what its input says, and returns the errors it got.
#[workflow]
async fn publisher(ctx: WorkflowCtx, sizes: Vec<u32>) -> Result<Vec<String>, WorkflowError> {
    let mut errors = Vec::new();
    for size in sizes {
        let key = match size {
            0 => String::new(),
            1 => "k".repeat(MAX_PUBLISHED_KEY + 1),
            _ => format!("v{size}"),
        };
        let outcome = ctx.publish(&key, &"x".repeat(size as usize));
        ctx.sleep(Duration::from_secs(1)).await;
        if let Err(e) = outcome {
            errors.push(match e {
                PublishError::EmptyKey => "empty".to_string(),
                PublishError::KeyTooLong { len, .. } => format!("key {len}"),
                PublishError::TooLarge { key, .. } => format!("large {key}"),
                PublishError::Encode { .. } => "encode".to_string(),
                PublishError::ReservedKey { .. } => "reserved".to_string(),
            });
        }
    }
    // A map whose keys are not strings has no JSON form.
    let map: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
    if let Err(PublishError::Encode { key, .. }) = ctx.publish("map", &map) {
        errors.push(format!("encode {key}"));
    }
    Ok(errors)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_that_cannot_be_kept_are_refused_with_a_typed_error() {
    both_modes(async |mode| {
        let id = &mode.id("publisher");
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(publisher)
            .build()
            .await
            .expect("build");
        let half = (MAX_PUBLISHED_BYTES / 2) as u32;
        let run = rt
            .start(publisher, id, vec![0, 1, 10, half, half + 1, half, 20])
            .await
            .expect("start");
        let ticker = tokio::spawn({
            let clock = clock.clone();
            async move {
                loop {
                    clock.advance(Duration::from_secs(1));
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        });
        let errors = within("result", run.result()).await.expect("result");
        ticker.abort();
        let errors = errors.expect("ok");
        assert_eq!(
            errors,
            vec![
                "empty".to_string(),
                format!("key {}", MAX_PUBLISHED_KEY + 1),
                format!("large v{}", half + 1),
                "encode map".to_string(),
            ],
            "a second large value would take the run past the limit; the first again changes nothing"
        );
        let values = rt.published_values(id).await.expect("values");
        assert_eq!(
            values.keys().cloned().collect::<Vec<_>>(),
            vec!["v10".to_string(), "v20".to_string(), format!("v{half}")],
            "what was refused is not published; what was published stays"
        );
        rt.shutdown().await;
        (errors, values)
    })
    .await;
}
