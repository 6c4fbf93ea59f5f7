//! The runtime's size limits (`Builder::limits`): an input or a signal payload over its limit
//! is refused with `RuntimeError::TooLarge` and nothing is stored; a step whose snapshot is over
//! the limit is not committed, and the workflow is parked with the reason, nothing lost; the
//! test driver refuses the same snapshot.

mod support;

use support::{both_modes, builder, eventually, memory, within};
use workflow_rt::prelude::*;
use workflow_rt::store::Store;
use workflow_rt::testing::{TestError, TestRun};
use workflow_rt::{Limits, RuntimeError, StoreError, WorkflowStatus};

#[workflow]
async fn greet(_ctx: WorkflowCtx, name: String) -> usize {
    name.len()
}

/// Keeps `n` lines sent as signals, then returns their total length.
#[workflow]
async fn hoard(ctx: WorkflowCtx, n: u64) -> usize {
    let mut kept: Vec<String> = Vec::new();
    for _ in 0..n {
        kept.push(ctx.signal::<String>("line").await);
    }
    kept.iter().map(String::len).sum()
}

fn small(input: usize, signal: usize, snapshot: usize) -> Limits {
    Limits {
        max_input_bytes: input,
        max_signal_bytes: signal,
        max_snapshot_bytes: snapshot,
    }
}

#[test]
fn the_defaults_are_documented_ones() {
    assert_eq!(Limits::default(), Limits::DEFAULT);
    assert_eq!(Limits::DEFAULT.max_input_bytes, 2 << 20);
    assert_eq!(Limits::DEFAULT.max_signal_bytes, 2 << 20);
    assert_eq!(Limits::DEFAULT.max_snapshot_bytes, 16 << 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_over_the_limit_is_refused_and_nothing_is_stored() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock)
            .workflow(greet)
            .limits(small(100, 100, 1 << 20))
            .build()
            .await
            .expect("build");
        let e = rt
            .start(greet, "big", "x".repeat(200))
            .await
            .expect_err("too large");
        let RuntimeError::TooLarge { what, size, limit } = &e else {
            panic!("{e}");
        };
        assert_eq!(
            (what.as_str(), *size, *limit),
            ("the input of greet", 202, 100)
        );
        assert!(e.to_string().contains("over the limit of 100 bytes"), "{e}");
        assert!(matches!(
            store.load_workflow("big").await,
            Err(StoreError::NotFound(_))
        ));
        // At the limit is fine.
        let at = "y".repeat(98); // 1 length byte + 98 = 99 bytes
        let out = within("at the limit", async {
            rt.start(greet, "ok", at)
                .await
                .expect("start")
                .result()
                .await
        })
        .await
        .expect("result");
        assert_eq!(out, 98);
        rt.shutdown().await;
        out
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_snapshot_over_the_limit_is_refused_and_nothing_is_stored() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock)
            .workflow(greet)
            .limits(small(1 << 20, 1 << 20, 150))
            .build()
            .await
            .expect("build");
        let e = rt
            .start(greet, "big", "x".repeat(200))
            .await
            .expect_err("too large");
        let RuntimeError::TooLarge { what, limit, .. } = &e else {
            panic!("{e}");
        };
        assert_eq!(
            (what.as_str(), *limit),
            ("the first snapshot of greet", 150)
        );
        assert!(matches!(
            store.load_workflow("big").await,
            Err(StoreError::NotFound(_))
        ));
        rt.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_over_the_limit_is_refused_and_nothing_is_stored() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock)
            .workflow(hoard)
            .limits(small(1 << 20, 100, 1 << 20))
            .build()
            .await
            .expect("build");
        let run = rt.start(hoard, "h", 1).await.expect("start");
        let e = rt
            .signal("h", "line", "x".repeat(200))
            .await
            .expect_err("too large");
        let RuntimeError::TooLarge { what, size, limit } = &e else {
            panic!("{e}");
        };
        assert_eq!(
            (what.as_str(), *size, *limit),
            ("the payload of signal \"line\"", 202, 100)
        );
        // The same through a handle.
        assert!(matches!(
            run.signal("line", "x".repeat(200)).await,
            Err(RuntimeError::TooLarge { .. })
        ));
        assert!(
            store.load_inbox("h").await.expect("inbox").is_empty(),
            "nothing was stored"
        );
        run.signal("line", "short".to_string())
            .await
            .expect("signal");
        let out = within("result", run.result()).await.expect("result");
        assert_eq!(out, 5);
        rt.shutdown().await;
        out
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_whose_snapshot_is_over_the_limit_parks_the_workflow_and_loses_nothing() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(hoard)
            .limits(small(1 << 20, 1 << 20, 1024))
            .build()
            .await
            .expect("build");
        rt.start(hoard, "h", 3).await.expect("start");
        for line in ["a", "b", "c"] {
            rt.signal("h", "line", line.repeat(600))
                .await
                .expect("signal");
        }
        eventually("parked", || async {
            store.load_workflow("h").await.expect("load").status == WorkflowStatus::Parked
        })
        .await;
        let rec = store.load_workflow("h").await.expect("load");
        let reason = rec.park_reason.clone().expect("reason");
        assert!(
            reason.contains("step 3 cannot be saved")
                && reason.contains("over the limit of 1024")
                && reason.contains("max_snapshot_bytes"),
            "{reason}"
        );
        assert!(
            rec.snapshot.len() <= 1024,
            "the last committed snapshot stays"
        );
        // The signal of the step that was not saved is still there, and so is the next one.
        let inbox = store.load_inbox("h").await.expect("inbox");
        assert_eq!(inbox.len(), 2, "{inbox:?}");
        assert!(matches!(
            rt.handle(hoard, "h").result().await,
            Err(RuntimeError::Parked { .. })
        ));
        rt.shutdown().await;

        // With a higher limit, an unpark finishes it with every line.
        let rt = builder(mode, store.clone(), clock)
            .workflow(hoard)
            .limits(small(1 << 20, 1 << 20, 4096))
            .build()
            .await
            .expect("build");
        rt.unpark("h").await.expect("unpark");
        let out = within("result", rt.handle(hoard, "h").result())
            .await
            .expect("result");
        assert_eq!(out, 1800);
        rt.shutdown().await;
        (reason, out)
    })
    .await;
}

#[test]
fn the_test_driver_refuses_the_same_snapshot() {
    let run = || {
        TestRun::new(hoard, "h", 3)
            .signal("line", "a".repeat(600))
            .signal("line", "b".repeat(600))
            .signal("line", "c".repeat(600))
    };
    let err = run().max_snapshot_bytes(1024).run().unwrap_err();
    let TestError::SnapshotTooLarge {
        step, size, limit, ..
    } = err
    else {
        panic!("{err}");
    };
    assert_eq!((step, limit), (3, 1024));
    assert!(size > 1024);
    // The default limit is the runtime's.
    assert_eq!(run().run().expect("run").output, 1800);
    let huge = TestRun::new(hoard, "h", 2)
        .signal("line", "x".repeat(Limits::DEFAULT.max_snapshot_bytes))
        .run()
        .unwrap_err();
    assert!(
        matches!(huge, TestError::SnapshotTooLarge { step: 2, .. }),
        "{huge}"
    );
}
