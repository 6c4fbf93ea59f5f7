//! Signal-with-start: a run started with a signal in its inbox, or the signal sent to the run
//! there; one run for calls racing on one id, every signal delivered once; a run of another
//! workflow, a finished run and bad input refused with nothing stored.

mod support;

use std::sync::Arc;

use support::{Mode, both_modes, builder, memory, within};
use workflow_rt::prelude::*;
use workflow_rt::store::{HistoryKind, Store, StoreError};
use workflow_rt::{IdReuse, RuntimeError, SignalWithStart, WorkflowStatus};

/// One run per owner: adds what it is sent until it is sent 0, then returns its owner and
/// what it received, in order.
#[workflow]
async fn tally(ctx: WorkflowCtx, owner: String) -> (String, Vec<u64>) {
    let mut got: Vec<u64> = Vec::new();
    loop {
        let v = ctx.signal::<u64>("add").await;
        if v == 0 {
            return (owner, got);
        }
        got.push(v);
    }
}

#[workflow]
async fn other(ctx: WorkflowCtx, _x: u64) -> u64 {
    ctx.signal::<u64>("add").await
}

fn kinds(history: &[workflow_rt::store::HistoryEntry]) -> Vec<HistoryKind> {
    history.iter().map(|h| h.kind).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_a_run_with_the_signal_or_signals_the_run_there() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock)
            .workflow(tally)
            .build()
            .await
            .expect("build");
        let client = rt.client();
        let did = client
            .signal_with_start(tally, "t", "ana".to_string(), "add", 5u64)
            .await
            .expect("signal-with-start");
        assert_eq!(did, SignalWithStart::Started);
        // The run there takes the next one; the input given is not used.
        let did = client
            .signal_with_start(tally, "t", "bob".to_string(), "add", 7u64)
            .await
            .expect("signal-with-start");
        assert_eq!(did, SignalWithStart::Signalled);
        rt.signal("t", "add", 0u64).await.expect("signal");
        let out = within("result", rt.handle(tally, "t").result())
            .await
            .expect("result");
        assert_eq!(out, ("ana".to_string(), vec![5, 7]));
        let history = kinds(&rt.history("t").await.expect("history"));
        assert_eq!(
            history[..2],
            [HistoryKind::Started, HistoryKind::Signal],
            "the signal is stored with the start: {history:?}"
        );

        // Finished: refused by default, nothing stored ...
        let finished = client
            .signal_with_start(tally, "t", "carl".to_string(), "add", 1u64)
            .await;
        assert!(
            matches!(
                finished,
                Err(RuntimeError::Finished {
                    status: WorkflowStatus::Completed,
                    ..
                })
            ),
            "{finished:?}"
        );
        assert_eq!(rt.history("t").await.expect("history").len(), history.len());
        // ... or replaced by a new run, with the signal, when the reuse policy lets it go.
        let handle = rt
            .signal_with_start_with(
                tally,
                "t",
                "carl".to_string(),
                "add",
                1u64,
                IdReuse::AfterFinished,
            )
            .await
            .expect("signal-with-start");
        rt.signal("t", "add", 0u64).await.expect("signal");
        let again = within("result", handle.result()).await.expect("result");
        assert_eq!(again, ("carl".to_string(), vec![1]));
        rt.shutdown().await;
        // (The entries after the first two interleave steps and signals as timing has it.)
        (out, again, history[..2].to_vec())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_of_another_workflow_is_not_signalled() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock)
            .workflow(tally)
            .workflow(other)
            .build()
            .await
            .expect("build");
        rt.start(other, "o", 0).await.expect("start");
        let wrong = rt
            .client()
            .signal_with_start(tally, "o", "ana".to_string(), "add", 5u64)
            .await;
        assert!(
            matches!(
                &wrong,
                Err(RuntimeError::WrongWorkflow { expected, found, .. })
                    if expected == "tally" && found == "other"
            ),
            "{wrong:?}"
        );
        assert!(
            store.load_inbox("o").await.expect("inbox").is_empty(),
            "nothing sent to the run of the other workflow"
        );
        rt.signal("o", "add", 3u64).await.expect("signal");
        let out = within("result", rt.handle(other, "o").result())
            .await
            .expect("result");
        assert_eq!(out, 3);
        rt.shutdown().await;
        out
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_starts_nothing() {
    let (store, clock) = memory();
    let rt = builder(Mode::Cached, store.clone(), clock)
        .workflow(tally)
        .limits(workflow_rt::Limits {
            max_signal_bytes: 16,
            ..workflow_rt::Limits::default()
        })
        .build()
        .await
        .expect("build");
    let client = rt.client();
    let unnamed = client
        .signal_with_start(tally, "t", "ana".to_string(), "", 5u64)
        .await;
    assert!(
        matches!(unnamed, Err(RuntimeError::BadName { .. })),
        "{unnamed:?}"
    );
    let large = client
        .signal_with_start(tally, "t", "ana".to_string(), "add", vec![1u8; 64])
        .await;
    assert!(
        matches!(large, Err(RuntimeError::TooLarge { .. })),
        "{large:?}"
    );
    let no_id = client
        .signal_with_start(tally, "", "ana".to_string(), "add", 5u64)
        .await;
    assert!(
        matches!(no_id, Err(RuntimeError::BadName { .. })),
        "{no_id:?}"
    );
    assert!(
        matches!(store.load_workflow("t").await, Err(StoreError::NotFound(_))),
        "no run started"
    );
    rt.shutdown().await;
}

/// Many senders racing on one new id, on SQLite from two runtimes (two workers of one file):
/// one run is started, and it receives every signal once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_senders_start_one_run_and_every_signal_arrives_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("wf.db");
    let mut runtimes = Vec::new();
    for _ in 0..2 {
        let store: Arc<dyn Store> = Arc::new(workflow_rt::SqliteStore::open(&db).expect("open"));
        runtimes.push(
            Runtime::builder(store)
                .poll_interval(std::time::Duration::from_millis(5))
                .workflow(tally)
                .build()
                .await
                .expect("build"),
        );
    }
    let senders: Vec<_> = (1..=24u64)
        .map(|v| {
            let client = runtimes[v as usize % 2].client();
            tokio::spawn(async move {
                client
                    .signal_with_start(tally, "many", format!("sender {v}"), "add", v)
                    .await
            })
        })
        .collect();
    let mut started = Vec::new();
    for (i, s) in senders.into_iter().enumerate() {
        if s.await.expect("join").expect("signal-with-start") == SignalWithStart::Started {
            started.push(i as u64 + 1);
        }
    }
    assert_eq!(started.len(), 1, "one run started: {started:?}");
    runtimes[0]
        .signal("many", "add", 0u64)
        .await
        .expect("signal");
    let (owner, mut got) = within("result", runtimes[1].handle(tally, "many").result())
        .await
        .expect("result");
    assert_eq!(
        owner,
        format!("sender {}", started[0]),
        "the starter's input"
    );
    assert_eq!(got[0], started[0], "the starter's signal comes first");
    got.sort_unstable();
    assert_eq!(got, (1..=24).collect::<Vec<u64>>(), "every signal once");
    for rt in runtimes {
        rt.shutdown().await;
    }
}
