//! Errors stay typed end to end: success and failure come from the written return type, a bad
//! signal is blamed by its event, error types are explicit, a store keeps its backend's error,
//! and the user-facing errors reach `Box<dyn Error>` and `anyhow` through `?`.

mod support;

use std::error::Error as _;

use serde::{Deserialize, Serialize};
use support::{T0, both_modes, builder, memory, within};
use workflow_rt::prelude::*;
use workflow_rt::store::{HistoryKind, Store, StoreError};
use workflow_rt::testing::TestRun;
use workflow_rt::{Failure, RuntimeError, WorkflowStatus};

#[activity]
async fn double(_ctx: ActivityCtx, n: u64) -> Result<u64, ActivityError> {
    Ok(n * 2)
}

/// An output enum with a variant named `Err`: serde writes it as `{"Err": ..}`, like a
/// `Result`, but it is a success.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Verdict {
    Ok(u64),
    Err(String),
}

#[workflow]
async fn judge(ctx: WorkflowCtx, n: u64) -> Verdict {
    match ctx.activity(double, n).await {
        Ok(v) if v > 10 => Verdict::Err(format!("{v} is too big")),
        Ok(v) => Verdict::Ok(v),
        Err(e) => Verdict::Err(e.to_string()),
    }
}

/// A `Result` spelled through an alias: its `Err` is a failure.
type Outcome<T> = std::result::Result<T, WorkflowError>;

#[workflow]
async fn aliased(ctx: WorkflowCtx, n: u64) -> Outcome<u64> {
    let v = ctx.activity(double, n).await?;
    if v > 10 {
        return Err(WorkflowError::msg(format!("{v} is too big")));
    }
    Ok(v)
}

#[workflow]
async fn wait_number(ctx: WorkflowCtx, _n: u64) -> u64 {
    let first: u64 = ctx.signal("number").await;
    let second: u64 = ctx.signal("number").await;
    first + second
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_and_failure_come_from_the_written_return_type() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock)
            .workflow(judge)
            .workflow(aliased)
            .activity(double)
            .build()
            .await
            .expect("build");
        let mut seen = Vec::new();
        for (id, n) in [("j-small", 2), ("j-big", 20)] {
            let h = rt.start(judge, id, n).await.expect("start");
            let out = within("judge", h.result()).await.expect("result");
            seen.push(out);
            // A variant named `Err` of the user's own enum is a success.
            assert_eq!(
                store.load_workflow(id).await.expect("load").status,
                WorkflowStatus::Completed,
                "{id}"
            );
        }
        assert_eq!(seen[1], Verdict::Err("40 is too big".into()));
        let h = rt.start(aliased, "a-big", 20).await.expect("start");
        let out = within("aliased", h.result()).await.expect("result");
        assert_eq!(out.unwrap_err().message, "40 is too big");
        assert_eq!(
            store.load_workflow("a-big").await.expect("load").status,
            WorkflowStatus::Failed
        );
        let h = rt.start(aliased, "a-small", 2).await.expect("start");
        assert_eq!(within("aliased", h.result()).await.expect("result"), Ok(4));
        assert_eq!(
            store.load_workflow("a-small").await.expect("load").status,
            WorkflowStatus::Completed
        );
        rt.shutdown().await;
        seen
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signal_is_dead_lettered_by_its_event_id() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock)
            .workflow(wait_number)
            .build()
            .await
            .expect("build");
        rt.start(wait_number, "w", 0).await.expect("start");
        // Bytes that decode as a u64 with bytes left over: not a u64.
        rt.signal("w", "number", "not a number".to_string())
            .await
            .expect("signal");
        rt.signal("w", "number", 5u64).await.expect("signal");
        rt.signal("w", "number", 7u64).await.expect("signal");
        let out = within("wait_number", rt.handle(wait_number, "w").result())
            .await
            .expect("result");
        assert_eq!(out, 12);
        let history = rt.history("w").await.expect("history");
        let dead: Vec<_> = history
            .iter()
            .filter(|h| h.kind == HistoryKind::DeadLetter)
            .collect();
        assert_eq!(dead.len(), 1, "{history:#?}");
        assert!(
            dead[0].detail.contains("signal \"number\"")
                && dead[0].detail.contains("does not decode as u64"),
            "{}",
            dead[0].detail
        );
        rt.shutdown().await;
        out
    })
    .await;
}

/// A payload of another type whose bytes decode exactly as the type the wait expects (a `u32`
/// 5 is the same byte as a `u64` 5) is refused by its type tag, not delivered; a payload
/// stored without a tag (by an older version, or a tool that sends raw bytes) is decoded as
/// before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_of_another_type_is_refused_by_its_type_tag() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock)
            .workflow(wait_number)
            .build()
            .await
            .expect("build");
        rt.start(wait_number, "w", 0).await.expect("start");
        rt.signal("w", "number", 5u32).await.expect("signal");
        rt.signal("w", "number", 5u64).await.expect("signal");
        let untagged = postcard::to_stdvec(&7u64).expect("encode");
        store
            .append_signal("w", "number", untagged, None, T0)
            .await
            .expect("signal");
        let out = within("wait_number", rt.handle(wait_number, "w").result())
            .await
            .expect("result");
        assert_eq!(out, 12);
        let history = rt.history("w").await.expect("history");
        let dead: Vec<_> = history
            .iter()
            .filter(|h| h.kind == HistoryKind::DeadLetter)
            .collect();
        assert_eq!(dead.len(), 1, "{history:#?}");
        assert!(
            dead[0].detail.contains("another type") && dead[0].detail.contains("u64"),
            "{}",
            dead[0].detail
        );
        rt.shutdown().await;
        out
    })
    .await;
}

#[test]
fn the_test_driver_names_the_signal_that_does_not_decode() {
    let err = TestRun::new(wait_number, "w", 0)
        .signal("number", 5u64)
        .signal("number", "seven".to_string())
        .run()
        .unwrap_err();
    let text = err.to_string();
    // The second signal sent (order 1) is the one to blame.
    assert!(
        text.contains("signal event 1 does not decode as u64"),
        "{text}"
    );
}

#[test]
fn error_types_are_explicit() {
    let e: ActivityError = std::io::Error::other("disk full").into();
    assert_eq!(e.error_type, "", "never a type name");
    let e = ActivityError::retryable("card declined").with_type("CardDeclined");
    let policy = RetryPolicy::default().non_retryable("CardDeclined");
    assert!(!policy.should_retry(&e, 1));
    assert!(policy.should_retry(&ActivityError::retryable("timeout"), 1));
}

#[tokio::test]
async fn a_store_backend_error_keeps_its_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("missing-dir").join("workflows.db");
    let err = SqliteStore::open(&path).expect_err("no such directory");
    let StoreError::Backend(backend) = &err else {
        panic!("not a backend error: {err:?}");
    };
    let source = backend.source().expect("the SQLite error is kept");
    assert!(
        source.downcast_ref::<rusqlite::Error>().is_some(),
        "{source:?}"
    );
    // And the chain is reachable from the store error itself.
    assert!(err.source().is_some());
}

fn failing() -> Result<u64, WorkflowError> {
    let activity = ActivityError::non_retryable("card declined").with_type("CardDeclined");
    Err(activity.into())
}

#[test]
fn workflow_errors_reach_box_dyn_error_and_anyhow_through_question_mark() {
    fn boxed() -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
        Ok(failing()?)
    }
    fn boxed_local() -> Result<u64, Box<dyn std::error::Error>> {
        Ok(failing()?)
    }
    fn with_anyhow() -> anyhow::Result<u64> {
        Ok(failing().map_err(Failure::from)?)
    }
    fn activity_boxed() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Err(ActivityError::retryable("flaky"))?
    }
    let e = boxed().unwrap_err();
    assert!(e.to_string().contains("card declined"), "{e}");
    // The activity failure behind the workflow error is its source.
    let source = e.source().expect("source");
    assert!(source.to_string().contains("[CardDeclined]"), "{source}");
    assert!(boxed_local().is_err());
    let e = with_anyhow().unwrap_err();
    assert_eq!(e.chain().count(), 2, "{e:?}");
    assert!(activity_boxed().unwrap_err().to_string().contains("flaky"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_result_goes_into_anyhow_with_two_question_marks() {
    let (store, clock) = memory();
    let rt = builder(support::Mode::Cached, store, clock)
        .workflow(aliased)
        .activity(double)
        .build()
        .await
        .expect("build");
    async fn run(rt: &Runtime) -> anyhow::Result<u64> {
        let h = rt.start(aliased, "big", 20).await?;
        Ok(h.result().await?.map_err(Failure::from)?)
    }
    let e = within("run", run(&rt)).await.unwrap_err();
    assert_eq!(e.to_string(), "40 is too big");
    // A runtime error goes the same way, through the first `?`.
    let e: anyhow::Result<()> = async {
        rt.handle(aliased, "nobody")
            .result()
            .await?
            .map_err(Failure::from)?;
        Ok(())
    }
    .await;
    let e = e.unwrap_err();
    assert!(e.downcast_ref::<RuntimeError>().is_some(), "{e:?}");
    rt.shutdown().await;
}
