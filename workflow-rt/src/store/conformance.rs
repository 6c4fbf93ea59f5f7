//! The conformance suite every [`Store`] must pass (feature `conformance`).
//!
//! The runtime relies on promises the [`Store`] trait cannot express in types: a step commits
//! atomically and only on the version it started from, versions of one id never repeat across
//! runs, signals are buffered in arrival order and delivered once, a leased task is not leased
//! again until its lease expires, a timer fires once, a schedule changes only by compare-and-set,
//! and so on (see the trait's documentation). [`run`] checks them one by one, each on a
//! fresh, empty store, and panics (as a test does) at the first broken promise, saying which.
//! [`MemoryStore`](crate::MemoryStore), [`SqliteStore`](crate::SqliteStore) and
//! [`PostgresStore`](crate::PostgresStore) pass it (`tests/store_conformance.rs`).
//!
//! A third-party store runs it from its own tests. Enable the feature for them only:
//!
//! ```toml
//! [dev-dependencies]
//! workflow-rt = { version = "0.1", features = ["conformance"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
//!
//! and hand [`run`] a factory of empty stores: a closure that returns a future of a new store
//! (a new file, a new schema, a new key prefix: nothing may be shared between two of them).
//! The suite calls the store's methods with explicit times, so it needs no clock; it awaits
//! them on the test's runtime, so a store that blocks a thread in its futures wants a
//! multi-threaded one:
//!
//! ```no_run
//! use workflow_rt::store::conformance;
//! # use workflow_rt::MemoryStore as MyStore; // stands for the store under test
//!
//! #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
//! async fn my_store_conforms() {
//!     conformance::run(|| async { MyStore::new() }).await;
//! }
//! # fn main() {}
//! ```

use std::future::Future;

use super::{
    ActivityTask, CompleteActivity, Delivery, Event, EventKind, HistoryEntry, HistoryKind,
    LeaseRenewal, LeaseRequest, NewSignal, NewWorkflow, ParentLink, Release, RetryActivity,
    RunPage, RunQuery, StepCommit, StepOutcome, Store, StoreError, TaskAttempt, TimerKey, TimerRow,
    WorkflowStatus, received_signal_entry,
};
use crate::activity::{ActivityError, ActivityOptions, RetryPolicy};
use crate::child::ChildError;

mod schedules;

/// Runs every check, each on a fresh store from `factory`.
pub async fn run<S, F, Fut>(mut factory: F)
where
    S: Store,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    create_and_load(&factory().await).await;
    compare_and_set(&factory().await).await;
    run_keys_are_hints(&factory().await).await;
    commands_are_stored(&factory().await).await;
    signals_are_buffered_in_order(&factory().await).await;
    signals_come_with_a_new_run(&factory().await).await;
    timers_come_with_a_new_run(&factory().await).await;
    a_run_continued_as_new_starts_over(&factory().await).await;
    ready_flag_tracks_unseen_events(&factory().await).await;
    activity_results_become_events(&factory().await).await;
    cancelled_leftovers_are_dropped(&factory().await).await;
    finishing_drops_everything(&factory().await).await;
    signals_left_at_the_end_are_recorded(&factory().await).await;
    parking_keeps_the_last_snapshot(&factory().await).await;
    cancelling(&factory().await).await;
    leases(&factory().await).await;
    retries(&factory().await).await;
    renew_and_release(&factory().await).await;
    releasing_chosen_leases(&factory().await).await;
    results_are_fenced(&factory().await).await;
    a_result_and_the_next_call_in_one_step(&factory().await).await;
    an_old_runs_attempt_is_not_the_new_runs(&factory().await).await;
    timers_fire_once(&factory().await).await;
    due_timers_are_taken_by_steps(&factory().await).await;
    group_commit_reports_each_step(&factory().await).await;
    history_keeps_order(&factory().await).await;
    listing_runs(&factory().await).await;
    paging_through_runs(&factory().await).await;
    counting_runs(&factory().await).await;
    purging_a_finished_run(&factory().await).await;
    purge_refuses_unfinished_runs(&factory().await).await;
    purging_a_run_by_version(&factory().await).await;
    purging_by_age(&factory().await).await;
    versions_never_repeat_across_runs(&factory().await).await;
    tombstones_go_with_the_retention(&factory().await).await;
    children_and_deliveries(&factory().await).await;
    a_parents_close_reaches_its_own_child_alone(&factory().await).await;
    a_step_starts_its_children_in_its_commit(&factory().await).await;
    a_purged_parents_children_are_not_the_next_runs(&factory().await).await;
    outside_events(&factory().await).await;
    schedules::schedules_are_stored(&factory().await).await;
    schedules::schedules_change_by_compare_and_set(&factory().await).await;
    schedules::due_schedules(&factory().await).await;
}

fn new_workflow(id: &str) -> NewWorkflow {
    NewWorkflow {
        id: id.into(),
        name: "wf".into(),
        input: vec![1, 2, 3],
        snapshot: vec![0],
        now_ms: 10,
        history: HistoryEntry::new(10, HistoryKind::Started, "started"),
        parent: None,
        parent_version: None,
        signals: Vec::new(),
        timers: Vec::new(),
    }
}

fn task(wf: &str, seq: u64, leased_by: Option<&str>) -> ActivityTask {
    ActivityTask {
        workflow_id: wf.into(),
        seq,
        scheduled_version: 0,
        name: "act".into(),
        input: vec![seq as u8],
        options: ActivityOptions {
            retry: RetryPolicy::fixed(std::time::Duration::from_millis(5)).max_attempts(3),
            ..ActivityOptions::default()
        },
        attempt: u32::from(leased_by.is_some()),
        scheduled_at_ms: 100,
        visible_at_ms: 100,
        lease_owner: leased_by.map(str::to_string),
        lease_until_ms: leased_by.map(|_| 1000),
        heartbeat_details: None,
        deadline_ms: Some(5000),
    }
}

fn attempt(seq: u64, attempt: u32, owner: &str) -> TaskAttempt {
    TaskAttempt {
        seq,
        scheduled_version: 0,
        attempt,
        owner: owner.into(),
    }
}

fn done(
    wf: &str,
    fence: TaskAttempt,
    result: Result<Vec<u8>, ActivityError>,
    at_ms: u64,
) -> CompleteActivity {
    CompleteActivity {
        workflow_id: wf.into(),
        attempt: fence,
        result,
        at_ms,
    }
}

fn step(wf: &str, expected_version: u64, outcome: StepOutcome) -> StepCommit {
    StepCommit {
        children: Vec::new(),
        workflow_id: wf.into(),
        run_key: None,
        expected_version,
        now_ms: 200,
        outcome,
        consumed_events: vec![],
        completed_tasks: vec![],
        cancelled: vec![],
        fired_timers: Vec::new(),
        seen_events_upto: 0,
        keep_ready: false,
        history: vec![HistoryEntry::new(
            200,
            HistoryKind::Step,
            format!("step from {expected_version}"),
        )],
        deliver: vec![],
    }
}

fn suspended(snapshot: u8, tasks: Vec<ActivityTask>, timers: Vec<TimerRow>) -> StepOutcome {
    StepOutcome::Suspended {
        snapshot: vec![snapshot],
        pending: vec![snapshot, snapshot],
        tasks,
        timers,
    }
}

async fn create_and_load<S: Store>(s: &S) {
    s.create_workflow(new_workflow("a")).await.expect("create");
    let r = s.load_workflow("a").await.expect("load");
    assert_eq!(
        (r.id.as_str(), r.name.as_str(), r.status),
        ("a", "wf", WorkflowStatus::Running)
    );
    assert_eq!(
        (r.input.as_slice(), r.snapshot.as_slice(), r.version),
        (&[1u8, 2, 3][..], &[0u8][..], 0)
    );
    assert_eq!((r.pending, r.output, r.park_reason), (None, None, None));
    assert_eq!((r.created_at_ms, r.updated_at_ms, r.ready), (10, 10, true));
    let (record, history) = (
        s.load_workflow("a").await.expect("load"),
        s.history("a").await.expect("history"),
    );
    let mut again = new_workflow("a");
    again.input = vec![9];
    again.now_ms = 20;
    again.history = HistoryEntry::new(20, HistoryKind::Started, "started again");
    match s.create_workflow(again).await {
        Err(StoreError::AlreadyExists(existing)) => assert_eq!(existing.input, vec![1, 2, 3]),
        other => panic!("creating a taken id must return the existing record, got {other:?}"),
    }
    assert_eq!(
        (
            s.load_workflow("a").await.expect("load"),
            s.history("a").await.expect("history")
        ),
        (record, history),
        "a refused creation writes nothing"
    );
    assert!(matches!(s.load_workflow("nope").await, Err(StoreError::NotFound(id)) if id == "nope"));
    assert!(matches!(
        s.load_inbox("nope").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.history("nope").await,
        Err(StoreError::NotFound(_))
    ));
    // An id no run has that holds a NUL character (which PostgreSQL keeps in no text): as
    // unknown as any other, not a failure of the backend.
    let nul = "no\0pe";
    let unknown = |e: &StoreError| matches!(e, StoreError::NotFound(id) if id == nul);
    assert!(s.load_workflow(nul).await.is_err_and(|e| unknown(&e)));
    assert!(s.load_inbox(nul).await.is_err_and(|e| unknown(&e)));
    assert!(s.load_tasks(nul).await.is_err_and(|e| unknown(&e)));
    assert!(s.load_timers(nul).await.is_err_and(|e| unknown(&e)));
    assert!(s.history(nul).await.is_err_and(|e| unknown(&e)));
    assert!(s.history_tail(nul, 5).await.is_err_and(|e| unknown(&e)));
    assert!(
        s.append_signal(nul, "go", vec![1], None, 20)
            .await
            .is_err_and(|e| unknown(&e))
    );
    let entry = HistoryEntry::new(20, HistoryKind::CancelRequested, "asked");
    let kind = EventKind::CancelRequested {
        reason: "asked".into(),
        grace_ms: 1,
    };
    assert!(
        s.append_event(nul, kind, 20, entry)
            .await
            .is_err_and(|e| unknown(&e))
    );
    assert!(s.purge(nul).await.is_err_and(|e| unknown(&e)));
    assert!(s.load_inbox("a").await.expect("inbox").is_empty());
    let list = s.list_workflows(None).await.expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].id.as_str(), list[0].status),
        ("a", WorkflowStatus::Running)
    );
    assert!(
        s.list_workflows(Some(WorkflowStatus::Completed))
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        s.ready_workflows(&["wf".to_string()], 10)
            .await
            .expect("ready"),
        vec!["a".to_string()]
    );
    let others = s
        .ready_workflows(&["other".to_string()], 10)
        .await
        .expect("ready");
    assert!(others.is_empty(), "only workflows of the names asked for");
}

async fn compare_and_set<S: Store>(s: &S) {
    s.create_workflow(new_workflow("a")).await.expect("create");
    assert_eq!(
        s.commit_step(step("a", 0, suspended(7, vec![], vec![])))
            .await
            .expect("commit"),
        1
    );
    match s
        .commit_step(step("a", 0, suspended(8, vec![], vec![])))
        .await
    {
        Err(StoreError::Conflict {
            workflow_id,
            expected: 0,
        }) => assert_eq!(workflow_id, "a"),
        other => panic!("a stale version must conflict, got {other:?}"),
    }
    let r = s.load_workflow("a").await.expect("load");
    assert_eq!(
        (r.version, r.snapshot, r.pending),
        (1, vec![7], Some(vec![7, 7]))
    );
    assert_eq!(r.updated_at_ms, 200);
    assert!(
        !r.ready,
        "a step that saw every event leaves the workflow not ready"
    );
    assert!(matches!(
        s.commit_step(step("nope", 0, suspended(1, vec![], vec![])))
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        s.commit_step(step("a", 1, suspended(9, vec![], vec![])))
            .await
            .expect("commit"),
        2
    );
}

/// The run key a record gives is handed back with the run's steps; a step that hands back
/// another run's key, a key no run has, or the key of a purged run whose id was taken again,
/// still commits to the run it names by id (and to no other), with the same checks.
async fn run_keys_are_hints<S: Store>(s: &S) {
    let timer = |seq| TimerRow {
        seq,
        fire_at_ms: 5_000,
    };
    for id in ["a", "b", "c"] {
        s.create_workflow(new_workflow(id)).await.expect("create");
        s.commit_step(step(
            id,
            0,
            suspended(1, vec![task(id, 1, None)], vec![timer(2)]),
        ))
        .await
        .expect("commit");
    }
    let key = |id: &'static str| async move { s.load_workflow(id).await.expect("load").run_key };
    let (a, b) = (key("a").await, key("b").await);
    if a.is_some() {
        assert_ne!(a, b, "runs have keys of their own");
    }
    let keyed = |id: &str, version, key, outcome| StepCommit {
        run_key: key,
        ..step(id, version, outcome)
    };
    // Its own key.
    assert_eq!(
        s.commit_step(keyed("a", 1, a, suspended(2, vec![], vec![timer(3)])))
            .await
            .expect("own key"),
        2
    );
    // Another run's key: the run named by id steps, the other is left as it was.
    assert_eq!(
        s.commit_step(keyed("a", 2, b, suspended(3, vec![], vec![])))
            .await
            .expect("another run's key"),
        3
    );
    let rb = s.load_workflow("b").await.expect("b");
    assert_eq!((rb.version, rb.snapshot), (1, vec![1]));
    assert_eq!(s.load_timers("b").await.expect("timers").len(), 1);
    assert_eq!(s.load_tasks("b").await.expect("tasks").len(), 1);
    // A key no run has; with a stale version, the conflict is the run's.
    assert!(matches!(
        s.commit_step(keyed(
            "a",
            2,
            Some(u64::MAX >> 1),
            suspended(4, vec![], vec![])
        ))
        .await,
        Err(StoreError::Conflict { expected: 2, .. })
    ));
    assert_eq!(
        s.commit_step(keyed(
            "a",
            3,
            Some(u64::MAX >> 1),
            StepOutcome::Finished {
                status: WorkflowStatus::Completed,
                snapshot: vec![9],
                output: vec![1],
            },
        ))
        .await
        .expect("a key no run has"),
        4
    );
    assert!(s.load_timers("a").await.expect("timers").is_empty());
    assert!(s.load_tasks("a").await.expect("tasks").is_empty());
    // A purged run's key, its id taken again.
    s.purge("a").await.expect("purge");
    let v = s.create_workflow(new_workflow("a")).await.expect("again");
    assert_eq!(
        s.commit_step(keyed("a", v, a, suspended(5, vec![], vec![])))
            .await
            .expect("a purged run's key"),
        v + 1
    );
    // With another run's key, a step of a run that is not there is not found.
    assert!(matches!(
        s.commit_step(keyed("nope", 0, b, suspended(1, vec![], vec![])))
            .await,
        Err(StoreError::NotFound(_))
    ));
    let rb = s.load_workflow("b").await.expect("b");
    assert_eq!((rb.version, rb.snapshot, rb.run_key), (1, vec![1], b));
    let rc = s.load_workflow("c").await.expect("c");
    assert_eq!(rc.version, 1);
}

async fn commands_are_stored<S: Store>(s: &S) {
    s.create_workflow(new_workflow("a")).await.expect("create");
    let timers = vec![
        TimerRow {
            seq: 2,
            fire_at_ms: 900,
        },
        TimerRow {
            seq: 3,
            fire_at_ms: 400,
        },
    ];
    s.commit_step(step(
        "a",
        0,
        suspended(
            1,
            vec![task("a", 0, Some("me")), task("a", 1, None)],
            timers,
        ),
    ))
    .await
    .expect("commit");
    let tasks = s.load_tasks("a").await.expect("tasks");
    assert_eq!(
        tasks,
        vec![task("a", 0, Some("me")), task("a", 1, None)],
        "tasks round-trip, options included"
    );
    let timers = s.load_timers("a").await.expect("timers");
    assert_eq!(
        timers,
        vec![
            TimerRow {
                seq: 2,
                fire_at_ms: 900
            },
            TimerRow {
                seq: 3,
                fire_at_ms: 400
            }
        ]
    );
    assert_eq!(s.next_timer_due().await.expect("next timer"), Some(400));
    let names = vec!["act".to_string()];
    assert_eq!(s.next_task_due(&names).await.expect("next task"), Some(100));
    assert_eq!(
        s.next_task_due(&["other".to_string()])
            .await
            .expect("next task"),
        None
    );
    // A step's tasks are its workflow's, whatever their own id says (the runtime makes no
    // other): stored under the step's run, and the step whole. (SQLite looked such a task's
    // id up after the compare-and-set, and an unknown one failed the step half written.)
    s.commit_step(step(
        "a",
        1,
        suspended(2, vec![task("elsewhere", 4, None)], vec![]),
    ))
    .await
    .expect("commit");
    assert_eq!(
        s.load_tasks("a").await.expect("tasks"),
        vec![
            task("a", 0, Some("me")),
            task("a", 1, None),
            task("a", 4, None)
        ]
    );
    assert_eq!(s.load_workflow("a").await.expect("load").version, 2);
}

/// A run created with signals (a signal-with-start) holds them from its creation, in order,
/// each with its history entry after the `Started` one; a create refused because the id is
/// taken stores none of them.
async fn signals_come_with_a_new_run<S: Store>(s: &S) {
    let signal = |name: &str, payload: Vec<u8>, type_tag: Option<u64>| NewSignal {
        name: name.into(),
        payload,
        type_tag,
    };
    let mut new = new_workflow("a");
    new.signals = vec![
        signal("go", vec![1], Some(77)),
        signal("stop", vec![], None),
    ];
    let version = s.create_workflow(new).await.expect("create");
    let rec = s.load_workflow("a").await.expect("load");
    assert_eq!(rec.status, WorkflowStatus::Running);
    assert!(rec.ready, "a new run with signals is ready");
    let inbox = s.load_inbox("a").await.expect("inbox");
    let kinds: Vec<(u64, EventKind)> = inbox.iter().map(|e| (e.at_ms, e.kind.clone())).collect();
    assert_eq!(
        kinds,
        vec![
            (
                10,
                EventKind::Signal {
                    name: "go".into(),
                    payload: vec![1],
                    type_tag: Some(77)
                }
            ),
            (
                10,
                EventKind::Signal {
                    name: "stop".into(),
                    payload: vec![],
                    type_tag: None
                }
            ),
        ],
        "the signals a run is created with are in its inbox, in order"
    );
    assert!(inbox[0].id < inbox[1].id, "event ids increase");
    // A signal sent after them comes after them, in the inbox and in the history.
    let later = s
        .append_signal("a", "go", vec![2], None, 20)
        .await
        .expect("signal");
    assert!(later > inbox[1].id, "a later signal has a larger id");
    let started = HistoryEntry::new(10, HistoryKind::Started, "started");
    let history = vec![
        started.clone(),
        received_signal_entry(10, "go", 1),
        received_signal_entry(10, "stop", 0),
        received_signal_entry(20, "go", 1),
    ];
    assert_eq!(
        s.history("a").await.expect("history"),
        history,
        "the signals' entries follow the start's, and a later signal's follows them"
    );
    // The id is taken: nothing of the refused create is stored.
    let mut again = new_workflow("a");
    again.signals = vec![signal("late", vec![9], None)];
    match s.create_workflow(again).await {
        Err(StoreError::AlreadyExists(existing)) => assert_eq!(existing.version, version),
        other => panic!("a create of a taken id: {other:?}"),
    }
    assert_eq!(
        s.load_inbox("a").await.expect("inbox").len(),
        3,
        "a refused create adds no signal"
    );
    assert_eq!(s.history("a").await.expect("history"), history);
    // A step that has not seen them leaves the run ready for them.
    let mut c = step("a", version, suspended(1, vec![], vec![]));
    c.seen_events_upto = 0;
    let version = s.commit_step(c).await.expect("commit");
    assert!(
        s.load_workflow("a").await.expect("load").ready,
        "a step that has not seen the signals leaves the run ready"
    );
    // A step takes them as any other signals.
    let mut c = step("a", version, suspended(1, vec![], vec![]));
    c.consumed_events = vec![inbox[0].id];
    c.seen_events_upto = later;
    s.commit_step(c).await.expect("commit");
    let left: Vec<u64> = s
        .load_inbox("a")
        .await
        .expect("inbox")
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(left, vec![inbox[1].id, later]);
}

/// A run that continues as new ([`StepOutcome::Continued`]) starts over under its id: its new
/// input and first snapshot, no wait, ready; its tasks, its timers but those of
/// [`super::CONTINUED_TIMERS`] and its events but signals, cancel requests and those timers'
/// firings dropped; its history only the step's entries; and its versions going on.
async fn a_run_continued_as_new_starts_over<S: Store>(s: &S) {
    let timeout = TimerRow {
        seq: super::CONTINUED_TIMERS[0],
        fire_at_ms: 1_000_000,
    };
    let mut new = new_workflow("a");
    new.timers = vec![timeout];
    let version = s.create_workflow(new).await.expect("create");
    let own = TimerRow {
        seq: 2,
        fire_at_ms: 5_000,
    };
    let version = s
        .commit_step(step(
            "a",
            version,
            suspended(1, vec![task("a", 1, Some("w"))], vec![own]),
        ))
        .await
        .expect("commit");
    s.append_signal("a", "go", vec![1], None, 300)
        .await
        .expect("signal");
    let entry = |kind| HistoryEntry::new(300, kind, "arrived");
    s.append_event(
        "a",
        EventKind::TimerFired { seq: 2 },
        300,
        entry(HistoryKind::Step),
    )
    .await
    .expect("event");
    s.append_event(
        "a",
        EventKind::CancelRequested {
            reason: "stop".into(),
            grace_ms: 60_000,
        },
        300,
        entry(HistoryKind::CancelRequested),
    )
    .await
    .expect("cancel");
    // The end of the grace period, fired.
    let grace = super::CONTINUED_TIMERS[1];
    s.append_event(
        "a",
        EventKind::TimerFired { seq: grace },
        300,
        entry(HistoryKind::Step),
    )
    .await
    .expect("event");
    assert!(s.history("a").await.expect("history").len() > 2);
    let mut over = step(
        "a",
        version,
        StepOutcome::Continued {
            input: vec![9, 9],
            snapshot: vec![7],
        },
    );
    let continued = HistoryEntry::new(200, HistoryKind::Continued, "continued as new");
    over.history = vec![continued.clone()];
    let version = s.commit_step(over).await.expect("continue");
    let rec = s.load_workflow("a").await.expect("load");
    assert_eq!(
        (
            rec.status,
            rec.input.as_slice(),
            rec.snapshot.as_slice(),
            rec.pending.as_deref(),
            rec.output.as_deref(),
            rec.version,
        ),
        (
            WorkflowStatus::Running,
            &[9u8, 9][..],
            &[7u8][..],
            None,
            None,
            version
        ),
        "the run starts over, its versions going on"
    );
    assert!(rec.ready, "ready for the first step of its new state");
    assert!(
        s.load_tasks("a").await.expect("tasks").is_empty(),
        "its calls are dropped"
    );
    assert_eq!(
        s.load_timers("a").await.expect("timers"),
        vec![timeout],
        "the end of its execution timeout stays; its own timers go"
    );
    let kinds: Vec<EventKind> = s
        .load_inbox("a")
        .await
        .expect("inbox")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            EventKind::Signal {
                name: "go".into(),
                payload: vec![1],
                type_tag: None,
            },
            EventKind::CancelRequested {
                reason: "stop".into(),
                grace_ms: 60_000,
            },
            EventKind::TimerFired { seq: grace },
        ],
        "its signals, its cancel request and the end of its grace period wait for the new \
         run; other events go"
    );
    assert_eq!(
        s.history("a").await.expect("history"),
        vec![continued.clone()],
        "its history is the step's entries alone"
    );
    assert!(
        matches!(
            s.commit_step(step("a", version - 1, suspended(3, vec![], vec![])))
                .await,
            Err(StoreError::Conflict { .. })
        ),
        "a commit prepared from the run before is refused"
    );
    // The new run steps as any run, its history growing from the continued entry.
    let mut first = step("a", version, suspended(4, vec![], vec![]));
    first.seen_events_upto = u64::MAX >> 1;
    s.commit_step(first).await.expect("first step");
    let history = s.history("a").await.expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[0], continued);
    let (tail, total) = s.history_tail("a", 1).await.expect("tail");
    assert_eq!((tail.len(), total), (1, 2));
}

/// A run created with timers (the end of its execution timeout) holds them as a step's
/// timers are held: they stay through the steps that do not touch them, and fire; a create
/// refused because the id is taken stores none.
async fn timers_come_with_a_new_run<S: Store>(s: &S) {
    // The sequence number the runtime gives the end of a run's timeout.
    let own = TimerRow {
        seq: i64::MAX as u64 - 1,
        fire_at_ms: 5_000,
    };
    let mut new = new_workflow("a");
    new.timers = vec![own];
    let version = s.create_workflow(new).await.expect("create");
    assert_eq!(s.load_timers("a").await.expect("timers"), vec![own]);
    assert_eq!(s.next_timer_due().await.expect("next"), Some(5_000));
    let mut again = new_workflow("a");
    again.timers = vec![TimerRow {
        seq: 7,
        fire_at_ms: 1_000,
    }];
    assert!(matches!(
        s.create_workflow(again).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(
        s.load_timers("a").await.expect("timers"),
        vec![own],
        "a refused create adds no timer"
    );
    // A step that sets a timer of its own keeps the run's.
    let step_timer = TimerRow {
        seq: 0,
        fire_at_ms: 3_000,
    };
    s.commit_step(step("a", version, suspended(1, vec![], vec![step_timer])))
        .await
        .expect("commit");
    assert_eq!(
        s.load_timers("a").await.expect("timers"),
        vec![step_timer, own]
    );
    // It fires when due, as any timer.
    s.fire_timers(5_000, 10).await.expect("fire");
    let fired: Vec<u64> = s
        .load_inbox("a")
        .await
        .expect("inbox")
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::TimerFired { seq } => Some(seq),
            _ => None,
        })
        .collect();
    assert_eq!(fired, vec![0, own.seq]);
    assert!(s.load_timers("a").await.expect("timers").is_empty());
    // A run that ends takes the timers it was created with along.
    let mut new = new_workflow("b");
    new.timers = vec![own];
    let version = s.create_workflow(new).await.expect("create");
    let end = StepOutcome::Finished {
        status: WorkflowStatus::Completed,
        snapshot: vec![9],
        output: vec![1],
    };
    s.commit_step(step("b", version, end))
        .await
        .expect("commit");
    assert!(s.load_timers("b").await.expect("timers").is_empty());
    assert_eq!(s.next_timer_due().await.expect("next"), None);
}

async fn signals_are_buffered_in_order<S: Store>(s: &S) {
    s.create_workflow(new_workflow("a")).await.expect("create");
    s.create_workflow(new_workflow("b")).await.expect("create");
    let e1 = s
        .append_signal("a", "go", vec![1], Some(77), 300)
        .await
        .expect("signal");
    let e2 = s
        .append_signal("b", "go", vec![2], None, 301)
        .await
        .expect("signal");
    let e3 = s
        .append_signal("a", "stop", vec![3], None, 302)
        .await
        .expect("signal");
    let e4 = s
        .append_signal("a", "go", vec![4], None, 303)
        .await
        .expect("signal");
    assert!(
        e1 < e2 && e2 < e3 && e3 < e4,
        "event ids increase across workflows"
    );
    let inbox = s.load_inbox("a").await.expect("inbox");
    let seen: Vec<(u64, u64, EventKind)> =
        inbox.into_iter().map(|e| (e.id, e.at_ms, e.kind)).collect();
    assert_eq!(
        seen,
        vec![
            (
                e1,
                300,
                EventKind::Signal {
                    name: "go".into(),
                    payload: vec![1],
                    type_tag: Some(77)
                }
            ),
            (
                e3,
                302,
                EventKind::Signal {
                    name: "stop".into(),
                    payload: vec![3],
                    type_tag: None
                }
            ),
            (
                e4,
                303,
                EventKind::Signal {
                    name: "go".into(),
                    payload: vec![4],
                    type_tag: None
                }
            ),
        ]
    );
    let mut c = step("a", 0, suspended(1, vec![], vec![]));
    c.consumed_events = vec![e1];
    c.seen_events_upto = e4;
    s.commit_step(c).await.expect("commit");
    let left: Vec<u64> = s
        .load_inbox("a")
        .await
        .expect("inbox")
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(
        left,
        vec![e3, e4],
        "a consumed signal is gone, the others stay buffered in order"
    );
    assert!(matches!(
        s.append_signal("nope", "go", vec![], None, 1).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn ready_flag_tracks_unseen_events<S: Store>(s: &S) {
    s.create_workflow(new_workflow("a")).await.expect("create");
    let e1 = s
        .append_signal("a", "x", vec![], None, 300)
        .await
        .expect("signal");
    // A step that loaded the inbox before e2 arrived must not clear the flag e2 set.
    let e2 = s
        .append_signal("a", "x", vec![], None, 301)
        .await
        .expect("signal");
    let mut c = step("a", 0, suspended(1, vec![], vec![]));
    c.seen_events_upto = e1;
    s.commit_step(c).await.expect("commit");
    assert!(
        s.load_workflow("a").await.expect("load").ready,
        "an unseen event keeps the workflow ready"
    );
    assert_eq!(
        s.ready_workflows(&["wf".to_string()], 10)
            .await
            .expect("ready")
            .len(),
        1
    );
    assert!(s.clear_ready("a", 1, e1).await.expect("clear"));
    assert!(
        s.load_workflow("a").await.expect("load").ready,
        "clear_ready must not hide an unseen event"
    );
    assert!(
        !s.clear_ready("a", 0, e2).await.expect("clear"),
        "a stale version clears nothing"
    );
    assert!(s.load_workflow("a").await.expect("load").ready);
    assert!(s.clear_ready("a", 1, e2).await.expect("clear"));
    assert!(!s.load_workflow("a").await.expect("load").ready);
    assert!(
        s.ready_workflows(&["wf".to_string()], 10)
            .await
            .expect("ready")
            .is_empty()
    );
    let e3 = s
        .append_signal("a", "x", vec![], None, 302)
        .await
        .expect("signal");
    assert!(
        s.load_workflow("a").await.expect("load").ready,
        "a new event makes the workflow ready"
    );
    // A step whose new wait a buffered event may resolve keeps the workflow ready.
    let mut c = step("a", 1, suspended(2, vec![], vec![]));
    c.seen_events_upto = e3;
    c.keep_ready = true;
    s.commit_step(c).await.expect("commit");
    assert!(
        s.load_workflow("a").await.expect("load").ready,
        "keep_ready keeps it ready"
    );
    assert!(s.clear_ready("a", 2, e3).await.expect("clear"));
    assert!(!s.load_workflow("a").await.expect("load").ready);
    // A driver that loads the run afresh has seen no event (0). Once a step consumed every
    // event, its `clear_ready` still clears the flag: no event is left to see. (Were the flag
    // to stay, the run would be woken at every poll with nothing to do.)
    let e4 = s
        .append_signal("a", "x", vec![], None, 303)
        .await
        .expect("signal");
    let mut c = step("a", 2, suspended(3, vec![], vec![]));
    c.consumed_events = vec![e1, e2, e3, e4];
    c.seen_events_upto = e4;
    s.commit_step(c).await.expect("commit");
    assert!(s.clear_ready("a", 3, 0).await.expect("clear"));
    assert!(
        !s.load_workflow("a").await.expect("load").ready,
        "a run whose events were all consumed is not ready, whatever its caller saw"
    );
}

async fn activity_results_become_events<S: Store>(s: &S) {
    s.create_workflow(new_workflow("a")).await.expect("create");
    s.commit_step(step(
        "a",
        0,
        suspended(
            1,
            vec![task("a", 0, Some("me")), task("a", 1, Some("me"))],
            vec![],
        ),
    ))
    .await
    .expect("commit");
    s.clear_ready("a", 1, 0).await.expect("clear");
    assert!(
        !s.complete_activity(done("a", attempt(0, 2, "me"), Ok(vec![42]), 500))
            .await
            .expect("complete"),
        "a result of another attempt is refused"
    );
    assert!(
        !s.complete_activity(done("a", attempt(0, 1, "you"), Ok(vec![42]), 500))
            .await
            .expect("complete"),
        "a result from another owner is refused"
    );
    assert!(
        s.complete_activity(done("a", attempt(0, 1, "me"), Ok(vec![42]), 500))
            .await
            .expect("complete")
    );
    let err = ActivityError::non_retryable("no");
    assert!(
        s.complete_activity(done("a", attempt(1, 1, "me"), Err(err.clone()), 501))
            .await
            .expect("complete")
    );
    assert!(
        !s.complete_activity(done("a", attempt(1, 1, "me"), Ok(vec![]), 502))
            .await
            .expect("complete"),
        "a task is answered once"
    );
    assert!(
        !s.complete_activity(done("a", attempt(7, 1, "me"), Ok(vec![]), 502))
            .await
            .expect("complete"),
        "no such task"
    );
    assert!(matches!(
        s.complete_activity(done("nope", attempt(0, 1, "me"), Ok(vec![]), 1))
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(s.load_tasks("a").await.expect("tasks").is_empty());
    let kinds: Vec<(u64, EventKind)> = s
        .load_inbox("a")
        .await
        .expect("inbox")
        .into_iter()
        .map(|e| (e.at_ms, e.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (
                500,
                EventKind::ActivityCompleted {
                    seq: 0,
                    result: Ok(vec![42])
                }
            ),
            (
                501,
                EventKind::ActivityCompleted {
                    seq: 1,
                    result: Err(err)
                }
            ),
        ]
    );
    assert!(s.load_workflow("a").await.expect("load").ready);
    // A step may also consume a result straight from the worker: the task is deleted.
    s.commit_step(step(
        "a",
        1,
        suspended(2, vec![task("a", 2, Some("me"))], vec![]),
    ))
    .await
    .expect("commit");
    let mut c = step("a", 2, suspended(3, vec![], vec![]));
    c.completed_tasks = vec![attempt(2, 1, "me")];
    s.commit_step(c).await.expect("commit");
    assert!(s.load_tasks("a").await.expect("tasks").is_empty());
}

async fn cancelled_leftovers_are_dropped<S: Store>(s: &S) {
    s.create_workflow(new_workflow("a")).await.expect("create");
    let timers = vec![
        TimerRow {
            seq: 1,
            fire_at_ms: 250,
        },
        TimerRow {
            seq: 3,
            fire_at_ms: 5000,
        },
    ];
    s.commit_step(step(
        "a",
        0,
        suspended(
            1,
            vec![task("a", 0, Some("me")), task("a", 2, Some("me"))],
            timers,
        ),
    ))
    .await
    .expect("commit");
    s.fire_timers(300, 10).await.expect("fire");
    assert!(
        s.complete_activity(done("a", attempt(2, 1, "me"), Ok(vec![2]), 301))
            .await
            .expect("complete")
    );
    let sig = s
        .append_signal("a", "x", vec![], None, 302)
        .await
        .expect("signal");
    let mut c = step("a", 1, suspended(2, vec![], vec![]));
    c.cancelled = vec![0, 1, 2, 3];
    c.seen_events_upto = sig;
    s.commit_step(c).await.expect("commit");
    assert!(s.load_tasks("a").await.expect("tasks").is_empty());
    assert!(s.load_timers("a").await.expect("timers").is_empty());
    let left: Vec<u64> = s
        .load_inbox("a")
        .await
        .expect("inbox")
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(
        left,
        vec![sig],
        "cancelling commands drops their results, never a signal"
    );
}

/// A commit that ends a run records each signal left in its inbox (sent, and never received
/// by its code) as a dead letter, after the commit's own entries: a signal is never dropped
/// without a trace. One the commit consumes is not recorded.
async fn signals_left_at_the_end_are_recorded<S: Store>(s: &S) {
    let tail = async |id: &str| -> Vec<(HistoryKind, String)> {
        let h = s.history(id).await.expect("history");
        h[h.len().saturating_sub(2)..]
            .iter()
            .map(|e| (e.kind, e.detail.clone()))
            .collect()
    };
    s.create_workflow(new_workflow("a")).await.expect("create");
    let taken = s
        .append_signal("a", "taken", vec![1], None, 20)
        .await
        .expect("signal");
    s.append_signal("a", "left", vec![1, 2, 3], None, 21)
        .await
        .expect("signal");
    let mut end = step(
        "a",
        0,
        StepOutcome::Finished {
            status: WorkflowStatus::Completed,
            snapshot: vec![9],
            output: vec![1],
        },
    );
    end.consumed_events = vec![taken];
    s.commit_step(end).await.expect("commit");
    let left = super::unreceived_signal_entry(200, "left", 3);
    assert_eq!(
        tail("a").await,
        vec![
            (HistoryKind::Step, "step from 0".to_string()),
            (HistoryKind::DeadLetter, left.detail.clone()),
        ]
    );
    assert_eq!(s.history("a").await.expect("history").last(), Some(&left));
    // A run stopped outright: the same.
    s.create_workflow(new_workflow("b")).await.expect("create");
    s.append_signal("b", "late", vec![], None, 30)
        .await
        .expect("signal");
    s.commit_step(step("b", 0, StepOutcome::Cancelled))
        .await
        .expect("commit");
    assert_eq!(
        tail("b").await,
        vec![
            (HistoryKind::Step, "step from 0".to_string()),
            (
                HistoryKind::DeadLetter,
                super::unreceived_signal_entry(200, "late", 0).detail
            ),
        ]
    );
    // In a batch, two left, in the order they came.
    s.create_workflow(new_workflow("d")).await.expect("create");
    for (name, bytes) in [("first", 2), ("second", 5)] {
        s.append_signal("d", name, vec![0; bytes], None, 40)
            .await
            .expect("signal");
    }
    let done = StepOutcome::Finished {
        status: WorkflowStatus::Failed,
        snapshot: vec![9],
        output: vec![2],
    };
    let results = s
        .commit_steps(vec![step("d", 0, done)])
        .await
        .expect("batch");
    assert!(results[0].is_ok(), "{results:?}");
    let h = s.history("d").await.expect("history");
    assert_eq!(
        h[h.len() - 3..]
            .iter()
            .map(|e| e.detail.clone())
            .collect::<Vec<_>>(),
        vec![
            "step from 0".to_string(),
            super::unreceived_signal_entry(200, "first", 2).detail,
            super::unreceived_signal_entry(200, "second", 5).detail,
        ]
    );
    // None left: nothing more.
    s.create_workflow(new_workflow("c")).await.expect("create");
    s.commit_step(step("c", 0, StepOutcome::Cancelled))
        .await
        .expect("commit");
    assert_eq!(
        s.history("c")
            .await
            .expect("history")
            .last()
            .map(|e| e.kind),
        Some(HistoryKind::Step)
    );
}

async fn finishing_drops_everything<S: Store>(s: &S) {
    s.create_workflow(new_workflow("a")).await.expect("create");
    s.commit_step(step(
        "a",
        0,
        suspended(
            1,
            vec![task("a", 0, None)],
            vec![TimerRow {
                seq: 1,
                fire_at_ms: 10_000,
            }],
        ),
    ))
    .await
    .expect("commit");
    s.append_signal("a", "x", vec![], None, 300)
        .await
        .expect("signal");
    let done = StepOutcome::Finished {
        status: WorkflowStatus::Completed,
        snapshot: vec![9],
        output: vec![4, 2],
    };
    assert_eq!(s.commit_step(step("a", 1, done)).await.expect("commit"), 2);
    let r = s.load_workflow("a").await.expect("load");
    assert_eq!(
        (r.status, r.output, r.pending, r.snapshot, r.ready),
        (
            WorkflowStatus::Completed,
            Some(vec![4, 2]),
            None,
            vec![9],
            false
        )
    );
    assert!(s.load_tasks("a").await.expect("tasks").is_empty());
    assert!(s.load_timers("a").await.expect("timers").is_empty());
    assert!(s.load_inbox("a").await.expect("inbox").is_empty());
    assert_eq!(s.next_timer_due().await.expect("next"), None);
    match s.append_signal("a", "x", vec![], None, 400).await {
        Err(StoreError::Finished {
            status: WorkflowStatus::Completed,
            ..
        }) => {}
        other => panic!("a finished workflow takes no signal, got {other:?}"),
    }
    assert_eq!(
        s.list_workflows(Some(WorkflowStatus::Completed))
            .await
            .expect("list")
            .len(),
        1
    );
    let failed = StepOutcome::Finished {
        status: WorkflowStatus::Failed,
        snapshot: vec![9],
        output: vec![1],
    };
    s.create_workflow(new_workflow("b")).await.expect("create");
    s.commit_step(step("b", 0, failed)).await.expect("commit");
    assert_eq!(
        s.load_workflow("b").await.expect("load").status,
        WorkflowStatus::Failed
    );
}

async fn parking_keeps_the_last_snapshot<S: Store>(s: &S) {
    s.create_workflow(new_workflow("a")).await.expect("create");
    s.commit_step(step("a", 0, suspended(5, vec![task("a", 0, None)], vec![])))
        .await
        .expect("commit");
    let sig = s
        .append_signal("a", "x", vec![], None, 300)
        .await
        .expect("signal");
    let mut c = step(
        "a",
        1,
        StepOutcome::Parked {
            reason: "fingerprint mismatch".into(),
        },
    );
    c.seen_events_upto = sig;
    s.commit_step(c).await.expect("park");
    let r = s.load_workflow("a").await.expect("load");
    assert_eq!(r.status, WorkflowStatus::Parked);
    assert_eq!(r.park_reason.as_deref(), Some("fingerprint mismatch"));
    assert_eq!(
        (r.snapshot, r.pending),
        (vec![5], Some(vec![5, 5])),
        "parking keeps the last good snapshot"
    );
    assert_eq!(s.load_tasks("a").await.expect("tasks").len(), 1);
    assert_eq!(s.load_inbox("a").await.expect("inbox").len(), 1);
    assert!(
        s.ready_workflows(&["wf".to_string()], 10)
            .await
            .expect("ready")
            .is_empty(),
        "a parked workflow is never ready"
    );
    s.append_signal("a", "x", vec![], None, 301)
        .await
        .expect("a parked workflow still buffers signals");
    assert!(
        s.ready_workflows(&["wf".to_string()], 10)
            .await
            .expect("ready")
            .is_empty()
    );
    let parked = s
        .list_workflows(Some(WorkflowStatus::Parked))
        .await
        .expect("list");
    assert_eq!(
        parked[0].park_reason.as_deref(),
        Some("fingerprint mismatch")
    );
    s.commit_step(step("a", 2, StepOutcome::Unparked))
        .await
        .expect("unpark");
    let r = s.load_workflow("a").await.expect("load");
    assert_eq!(
        (r.status, r.park_reason, r.ready),
        (WorkflowStatus::Running, None, true)
    );
    assert_eq!(r.pending, Some(vec![5, 5]));
    // Parked again, then stopped: a stopped run keeps no park reason.
    s.commit_step(step(
        "a",
        3,
        StepOutcome::Parked {
            reason: "again".into(),
        },
    ))
    .await
    .expect("park");
    s.commit_step(step("a", 4, StepOutcome::Cancelled))
        .await
        .expect("stop");
    let r = s.load_workflow("a").await.expect("load");
    assert_eq!((r.status, r.park_reason), (WorkflowStatus::Cancelled, None));
}

async fn cancelling<S: Store>(s: &S) {
    s.create_workflow(new_workflow("a")).await.expect("create");
    s.commit_step(step(
        "a",
        0,
        suspended(
            5,
            vec![task("a", 0, None)],
            vec![TimerRow {
                seq: 1,
                fire_at_ms: 9,
            }],
        ),
    ))
    .await
    .expect("commit");
    s.commit_step(step("a", 1, StepOutcome::Cancelled))
        .await
        .expect("cancel");
    let r = s.load_workflow("a").await.expect("load");
    assert_eq!((r.status, r.pending), (WorkflowStatus::Cancelled, None));
    assert!(s.load_tasks("a").await.expect("tasks").is_empty());
    assert!(
        s.fire_timers(u64::MAX / 2, 10)
            .await
            .expect("fire")
            .is_empty()
    );
    assert!(matches!(
        s.append_signal("a", "x", vec![], None, 1).await,
        Err(StoreError::Finished { .. })
    ));
}

async fn leases<S: Store>(s: &S) {
    s.create_workflow(new_workflow("a")).await.expect("create");
    let mut other = task("a", 1, None);
    other.name = "other".into();
    s.commit_step(step(
        "a",
        0,
        suspended(
            1,
            vec![task("a", 0, None), other, task("a", 2, None)],
            vec![],
        ),
    ))
    .await
    .expect("commit");
    let req = |owner: &str, now_ms: u64, limit: usize| LeaseRequest {
        owner: owner.into(),
        names: vec!["act".into()],
        now_ms,
        lease_until_ms: now_ms + 1000,
        limit,
    };
    assert!(
        s.lease_tasks(req("w1", 50, 10))
            .await
            .expect("lease")
            .is_empty(),
        "not visible before visible_at"
    );
    let got = s.lease_tasks(req("w1", 100, 1)).await.expect("lease");
    assert_eq!(got.len(), 1, "limit is respected");
    assert_eq!(
        (
            got[0].attempt,
            got[0].lease_owner.as_deref(),
            got[0].lease_until_ms
        ),
        (1, Some("w1"), Some(1100))
    );
    let got2 = s.lease_tasks(req("w2", 150, 10)).await.expect("lease");
    assert_eq!(
        got2.len(),
        1,
        "only unleased tasks of known activities are leased"
    );
    assert_ne!(got2[0].seq, got[0].seq);
    assert!(
        s.lease_tasks(req("w2", 1099, 10))
            .await
            .expect("lease")
            .is_empty(),
        "a live lease is respected"
    );
    let names = vec!["act".to_string()];
    assert_eq!(s.next_task_due(&names).await.expect("due"), Some(1100));
    let stolen = s.lease_tasks(req("w2", 1100, 10)).await.expect("lease");
    assert_eq!(stolen.len(), 1, "an expired lease can be taken");
    assert_eq!(
        (
            stolen[0].seq,
            stolen[0].attempt,
            stolen[0].lease_owner.as_deref()
        ),
        (got[0].seq, 2, Some("w2"))
    );
    let lost = s.history("a").await.expect("history");
    let lost = lost.last().expect("an entry");
    assert_eq!(
        (lost.kind, lost.at_ms),
        (HistoryKind::AttemptLost, 1100),
        "the lost attempt is in the history"
    );
    assert!(
        lost.detail.contains("attempt 1") && lost.detail.contains("w1"),
        "{}",
        lost.detail
    );
}

async fn retries<S: Store>(s: &S) {
    s.create_workflow(new_workflow("a")).await.expect("create");
    s.commit_step(step(
        "a",
        0,
        suspended(1, vec![task("a", 0, Some("w1"))], vec![]),
    ))
    .await
    .expect("commit");
    let retry = |attempt: u32, owner: &str| RetryActivity {
        workflow_id: "a".into(),
        seq: 0,
        scheduled_version: 0,
        attempt,
        owner: owner.into(),
        visible_at_ms: 700,
        heartbeat_details: Some(vec![3]),
        history: HistoryEntry::new(600, HistoryKind::Retry, "attempt 1 failed"),
    };
    assert!(
        !s.retry_activity(retry(2, "w1")).await.expect("retry"),
        "wrong attempt"
    );
    assert!(
        !s.retry_activity(retry(1, "w2")).await.expect("retry"),
        "wrong owner"
    );
    assert!(s.retry_activity(retry(1, "w1")).await.expect("retry"));
    let t = &s.load_tasks("a").await.expect("tasks")[0];
    assert_eq!(
        (t.attempt, t.visible_at_ms, t.lease_owner.as_deref()),
        (1, 700, None)
    );
    assert_eq!(t.heartbeat_details, Some(vec![3]));
    let names = vec!["act".to_string()];
    assert_eq!(s.next_task_due(&names).await.expect("due"), Some(700));
    let req = LeaseRequest {
        owner: "w1".into(),
        names,
        now_ms: 700,
        lease_until_ms: 800,
        limit: 5,
    };
    let t = s.lease_tasks(req).await.expect("lease");
    assert_eq!(
        (t[0].attempt, t[0].heartbeat_details.clone()),
        (2, Some(vec![3]))
    );
    let h = s.history("a").await.expect("history");
    assert_eq!(h.last().map(|e| e.kind), Some(HistoryKind::Retry));
}

async fn renew_and_release<S: Store>(s: &S) {
    s.create_workflow(new_workflow("a")).await.expect("create");
    s.commit_step(step(
        "a",
        0,
        suspended(
            1,
            vec![task("a", 0, Some("w1")), task("a", 1, Some("w2"))],
            vec![],
        ),
    ))
    .await
    .expect("commit");
    let renew = |seq| LeaseRenewal {
        workflow_id: "a".into(),
        seq,
        scheduled_version: 0,
        heartbeat_details: Some(vec![seq as u8 + 10]),
    };
    let gone = LeaseRenewal {
        workflow_id: "nobody".into(),
        seq: 3,
        scheduled_version: 0,
        heartbeat_details: None,
    };
    let lost = s
        .renew_leases("w1", vec![renew(0), renew(1), renew(7), gone], 5000)
        .await
        .expect("renew");
    assert_eq!(
        lost,
        vec![
            ("a".to_string(), 1),
            ("a".to_string(), 7),
            ("nobody".to_string(), 3)
        ],
        "the renewals not made: leased to another worker, or gone"
    );
    let t = s.load_tasks("a").await.expect("tasks");
    assert_eq!(
        (t[0].lease_until_ms, t[0].heartbeat_details.clone()),
        (Some(5000), Some(vec![10]))
    );
    assert_eq!(
        (t[1].lease_until_ms, t[1].heartbeat_details.clone()),
        (Some(1000), None),
        "only own leases"
    );
    assert_eq!(
        s.release_leases("w1", Release::Shutdown, 300)
            .await
            .expect("release"),
        1
    );
    let t = s.load_tasks("a").await.expect("tasks");
    assert_eq!(
        (
            t[0].lease_owner.as_deref(),
            t[0].lease_until_ms,
            t[0].attempt
        ),
        (None, None, 0),
        "an attempt stopped at a shutdown does not count"
    );
    assert_eq!(t[1].lease_owner.as_deref(), Some("w2"));
    let h = s.history("a").await.expect("history");
    let last = h.last().expect("an entry");
    assert_eq!((last.kind, last.at_ms), (HistoryKind::AttemptLost, 300));
    let req = |owner: &str| LeaseRequest {
        owner: owner.into(),
        names: vec!["act".into()],
        now_ms: 100,
        lease_until_ms: 900,
        limit: 5,
    };
    let got = s.lease_tasks(req("w3")).await.expect("lease");
    assert_eq!(
        got.iter().map(|t| (t.seq, t.attempt)).collect::<Vec<_>>(),
        vec![(0, 1)],
        "a released task is leasable at once, at the same attempt"
    );
    assert_eq!(
        s.history("a").await.expect("history").len(),
        h.len(),
        "a released lease is not lost again when it is leased"
    );
    // A worker that starts again under the id of one that crashed: the attempts count.
    assert_eq!(
        s.release_leases("w2", Release::Restart, 400)
            .await
            .expect("release"),
        1
    );
    let got = s.lease_tasks(req("w4")).await.expect("lease");
    assert_eq!(
        got.iter().map(|t| (t.seq, t.attempt)).collect::<Vec<_>>(),
        vec![(1, 2)],
        "an attempt lost to a crash counts"
    );
    let h = s.history("a").await.expect("history");
    let last = h.last().expect("an entry");
    assert_eq!((last.kind, last.at_ms), (HistoryKind::AttemptLost, 400));
}

/// `Store::release_tasks` releases the owner's leases on the calls named (by run, seq and
/// scheduled version) and no others, as `release_leases` releases them.
async fn releasing_chosen_leases<S: Store>(s: &S) {
    s.create_workflow(new_workflow("a")).await.expect("create");
    s.commit_step(step(
        "a",
        0,
        suspended(
            1,
            vec![
                task("a", 0, Some("w1")),
                task("a", 1, Some("w1")),
                task("a", 2, Some("w1")),
                task("a", 3, Some("w2")),
            ],
            vec![],
        ),
    ))
    .await
    .expect("commit");
    let before = s.history("a").await.expect("history").len();
    let call = |id: &str, seq, scheduled_version| LeaseRenewal {
        workflow_id: id.into(),
        seq,
        scheduled_version,
        heartbeat_details: None,
    };
    let released = s
        .release_tasks(
            "w1",
            vec![
                call("a", 0, 0),
                call("a", 2, 0),
                // Another run's call of the same number, another worker's, no run's.
                call("a", 1, 7),
                call("a", 3, 0),
                call("nobody", 0, 0),
            ],
            Release::Shutdown,
            300,
        )
        .await
        .expect("release");
    assert_eq!(released, 2);
    let t = s.load_tasks("a").await.expect("tasks");
    let leases: Vec<(Option<&str>, Option<u64>, u32)> = t
        .iter()
        .map(|t| (t.lease_owner.as_deref(), t.lease_until_ms, t.attempt))
        .collect();
    assert_eq!(
        leases,
        vec![
            (None, None, 0),
            (Some("w1"), Some(1000), 1),
            (None, None, 0),
            (Some("w2"), Some(1000), 1)
        ],
        "the calls named, not counting; the others as they were"
    );
    let h = s.history("a").await.expect("history");
    assert_eq!(h.len(), before + 2);
    assert!(
        h[before..]
            .iter()
            .all(|e| (e.kind, e.at_ms) == (HistoryKind::AttemptLost, 300)),
        "{h:?}"
    );
    assert_eq!(
        s.release_tasks("w1", vec![call("a", 0, 0)], Release::Shutdown, 400)
            .await
            .expect("release"),
        0,
        "released once"
    );
    let got = s
        .lease_tasks(LeaseRequest {
            owner: "w3".into(),
            names: vec!["act".into()],
            now_ms: 100,
            lease_until_ms: 900,
            limit: 5,
        })
        .await
        .expect("lease");
    let mut got: Vec<(u64, u32)> = got.iter().map(|t| (t.seq, t.attempt)).collect();
    got.sort_unstable();
    assert_eq!(
        got,
        vec![(0, 1), (2, 1)],
        "leasable at once, at the same attempt"
    );
    // Released at a restart, an attempt counts.
    assert_eq!(
        s.release_tasks("w3", vec![call("a", 2, 0)], Release::Restart, 500)
            .await
            .expect("release"),
        1
    );
    let t = s.load_tasks("a").await.expect("tasks");
    assert_eq!((t[2].lease_owner.as_deref(), t[2].attempt), (None, 1));
}

/// A result taken straight from a worker (a step's `completed_tasks`) is refused, with the
/// whole step, once its attempt lost its lease.
async fn results_are_fenced<S: Store>(s: &S) {
    s.create_workflow(new_workflow("a")).await.expect("create");
    s.commit_step(step(
        "a",
        0,
        suspended(1, vec![task("a", 0, Some("w1"))], vec![]),
    ))
    .await
    .expect("commit");
    // The lease of w1 expires; w2 takes the call over (attempt 2).
    let req = LeaseRequest {
        owner: "w2".into(),
        names: vec!["act".into()],
        now_ms: 1000,
        lease_until_ms: 2000,
        limit: 5,
    };
    assert_eq!(s.lease_tasks(req).await.expect("lease").len(), 1);
    for stale in [
        attempt(0, 1, "w1"),
        attempt(0, 2, "w1"),
        attempt(0, 1, "w2"),
    ] {
        let mut c = step("a", 1, suspended(2, vec![], vec![]));
        c.completed_tasks = vec![stale.clone()];
        assert_eq!(
            s.commit_step(c).await,
            Err(StoreError::LeaseLost {
                workflow_id: "a".into(),
                seq: 0,
                attempt: stale.attempt
            }),
            "{stale:?}"
        );
        let mut c = step("a", 1, suspended(2, vec![], vec![]));
        c.completed_tasks = vec![stale];
        let batch = s.commit_steps(vec![c]).await.expect("commit");
        assert!(matches!(batch[..], [Err(StoreError::LeaseLost { .. })]));
    }
    let w = s.load_workflow("a").await.expect("load");
    assert_eq!(
        (w.version, w.snapshot.clone()),
        (1, vec![1]),
        "nothing of a fenced step is written"
    );
    assert_eq!(s.load_tasks("a").await.expect("tasks").len(), 1);
    assert!(
        !s.complete_activity(done("a", attempt(0, 1, "w1"), Ok(vec![]), 1500))
            .await
            .expect("complete"),
        "the lost attempt's result is refused"
    );
    let mut c = step("a", 1, suspended(2, vec![], vec![]));
    c.completed_tasks = vec![attempt(0, 2, "w2")];
    assert_eq!(
        s.commit_step(c).await,
        Ok(2),
        "the attempt holding the lease"
    );
    assert!(s.load_tasks("a").await.expect("tasks").is_empty());
}

/// A run purged and created again under its id makes its calls under the same numbers, leased
/// to the same worker at the same attempt; an attempt of the old run's call (still running
/// when the old run was cancelled and purged) is told apart by the call's scheduled version:
/// its result, retry, renewal and fence are all refused, and the new run's call is left as it
/// was, to be answered by its own attempt.
async fn an_old_runs_attempt_is_not_the_new_runs<S: Store>(s: &S) {
    let leased = |version: u64| ActivityTask {
        scheduled_version: version,
        ..task("x", 0, Some("w1"))
    };
    let fence = |version: u64| TaskAttempt {
        scheduled_version: version,
        ..attempt(0, 1, "w1")
    };
    let v0 = s.create_workflow(new_workflow("x")).await.expect("create");
    let old = v0 + 1;
    s.commit_step(step("x", v0, suspended(1, vec![leased(old)], vec![])))
        .await
        .expect("commit");
    s.commit_step(step("x", old, StepOutcome::Cancelled))
        .await
        .expect("cancel");
    s.purge("x").await.expect("purge");
    let v1 = s
        .create_workflow(new_workflow("x"))
        .await
        .expect("create again");
    assert!(
        v1 > old,
        "a run created again starts past the old one's versions"
    );
    let new = v1 + 1;
    s.commit_step(step("x", v1, suspended(1, vec![leased(new)], vec![])))
        .await
        .expect("commit");

    let stale = done("x", fence(old), Ok(vec![1]), 300);
    assert!(
        !s.complete_activity(stale).await.expect("complete"),
        "the old run's result is refused"
    );
    let retry = RetryActivity {
        workflow_id: "x".into(),
        seq: 0,
        scheduled_version: old,
        attempt: 1,
        owner: "w1".into(),
        visible_at_ms: 700,
        heartbeat_details: None,
        history: HistoryEntry::new(300, HistoryKind::Retry, "the old run's attempt failed"),
    };
    assert!(
        !s.retry_activity(retry).await.expect("retry"),
        "the old run's retry is refused"
    );
    let renewal = |version: u64| LeaseRenewal {
        workflow_id: "x".into(),
        seq: 0,
        scheduled_version: version,
        heartbeat_details: Some(vec![7]),
    };
    assert_eq!(
        s.renew_leases("w1", vec![renewal(old)], 9000)
            .await
            .expect("renew"),
        vec![("x".to_string(), 0)],
        "the old run's lease is not renewed: it is lost"
    );
    let mut taking = step("x", new, suspended(2, vec![], vec![]));
    taking.completed_tasks = vec![fence(old)];
    assert_eq!(
        s.commit_step(taking).await,
        Err(StoreError::LeaseLost {
            workflow_id: "x".into(),
            seq: 0,
            attempt: 1
        }),
        "a step taking the old run's result straight from the worker is refused"
    );
    assert_eq!(
        s.load_tasks("x").await.expect("tasks"),
        vec![leased(new)],
        "the new run's call is as it was"
    );
    assert_eq!(s.load_workflow("x").await.expect("load").version, new);
    // The new run's own attempt.
    assert!(
        s.renew_leases("w1", vec![renewal(new)], 9000)
            .await
            .expect("renew")
            .is_empty()
    );
    let mut taking = step("x", new, suspended(2, vec![], vec![]));
    taking.completed_tasks = vec![fence(new)];
    assert_eq!(s.commit_step(taking).await, Ok(new + 1));
    assert!(s.load_tasks("x").await.expect("tasks").is_empty());
}

/// The commonest step: it takes one call's result straight from the worker that ran it and
/// makes the next call. Fenced and compare-and-set like any step (nothing written when either
/// fails); on success the finished call's task is gone and the next one is stored whole.
async fn a_result_and_the_next_call_in_one_step<S: Store>(s: &S) {
    s.create_workflow(new_workflow("a")).await.expect("create");
    s.create_workflow(new_workflow("b")).await.expect("create");
    for id in ["a", "b"] {
        s.commit_step(step(
            id,
            0,
            suspended(1, vec![task(id, 0, Some("w1"))], vec![]),
        ))
        .await
        .expect("commit");
    }
    let next = ActivityTask {
        workflow_id: "a".into(),
        seq: 1,
        scheduled_version: 0,
        name: "next".into(),
        input: vec![9, 8, 7],
        options: ActivityOptions {
            retry: RetryPolicy::fixed(std::time::Duration::from_millis(7)).max_attempts(4),
            ..ActivityOptions::default()
        },
        attempt: 1,
        scheduled_at_ms: 150,
        visible_at_ms: 160,
        lease_owner: Some("w1".into()),
        lease_until_ms: Some(1500),
        heartbeat_details: None,
        deadline_ms: Some(7000),
    };
    let relay = |expected: u64, done: TaskAttempt| {
        let mut c = step("a", expected, suspended(2, vec![next.clone()], vec![]));
        c.completed_tasks = vec![done];
        c
    };
    for stale in [
        attempt(0, 2, "w1"),
        attempt(0, 1, "w2"),
        attempt(3, 1, "w1"),
    ] {
        assert_eq!(
            s.commit_step(relay(1, stale.clone())).await,
            Err(StoreError::LeaseLost {
                workflow_id: "a".into(),
                seq: stale.seq,
                attempt: stale.attempt
            }),
            "{stale:?}"
        );
        // Both checks fail: either error will do.
        assert!(matches!(
            s.commit_step(relay(7, stale)).await,
            Err(StoreError::LeaseLost { .. } | StoreError::Conflict { .. })
        ));
    }
    assert_eq!(
        s.commit_step(relay(7, attempt(0, 1, "w1"))).await,
        Err(StoreError::Conflict {
            workflow_id: "a".into(),
            expected: 7
        })
    );
    let w = s.load_workflow("a").await.expect("load");
    assert_eq!(
        (w.version, w.snapshot.clone()),
        (1, vec![1]),
        "nothing of a refused step is written"
    );
    assert_eq!(
        s.load_tasks("a").await.expect("tasks"),
        vec![task("a", 0, Some("w1"))],
        "the finished call's task is kept when its step is refused"
    );
    // Taken, in a batch with a refused one of another run.
    let mut other = step("b", 1, suspended(2, vec![], vec![]));
    other.completed_tasks = vec![attempt(0, 5, "w1")];
    let batch = s
        .commit_steps(vec![other, relay(1, attempt(0, 1, "w1"))])
        .await
        .expect("commit");
    assert!(
        matches!(batch[..], [Err(StoreError::LeaseLost { .. }), Ok(2)]),
        "{batch:?}"
    );
    assert_eq!(s.load_tasks("a").await.expect("tasks"), vec![next.clone()]);
    assert_eq!(
        s.load_tasks("b").await.expect("tasks"),
        vec![task("b", 0, Some("w1"))]
    );
    let w = s.load_workflow("a").await.expect("load");
    assert_eq!((w.version, w.snapshot), (2, vec![2]));
    // The next call's lease runs out as its row says: another worker takes it over.
    let req = LeaseRequest {
        owner: "w2".into(),
        names: vec!["next".into()],
        now_ms: 1400,
        lease_until_ms: 3000,
        limit: 5,
    };
    assert!(s.lease_tasks(req.clone()).await.expect("lease").is_empty());
    let got = s
        .lease_tasks(LeaseRequest {
            now_ms: 1600,
            ..req
        })
        .await
        .expect("lease");
    assert_eq!(
        got.iter()
            .map(|t| (t.seq, t.attempt, t.lease_owner.as_deref()))
            .collect::<Vec<_>>(),
        vec![(1, 2, Some("w2"))]
    );
    // The same shape with a call cancelled besides: the cancelled call's task goes too.
    s.create_workflow(new_workflow("c")).await.expect("create");
    s.commit_step(step(
        "c",
        0,
        suspended(
            1,
            vec![task("c", 0, Some("w1")), task("c", 1, Some("w1"))],
            vec![],
        ),
    ))
    .await
    .expect("commit");
    let mut c = step("c", 1, suspended(2, vec![task("c", 2, None)], vec![]));
    c.completed_tasks = vec![attempt(0, 1, "w1")];
    c.cancelled = vec![1];
    assert_eq!(s.commit_step(c).await, Ok(2));
    assert_eq!(
        s.load_tasks("c").await.expect("tasks"),
        vec![task("c", 2, None)],
        "the finished and the cancelled calls' tasks are gone, the next call's is there"
    );
}

async fn timers_fire_once<S: Store>(s: &S) {
    s.create_workflow(new_workflow("a")).await.expect("create");
    s.create_workflow(new_workflow("b")).await.expect("create");
    s.create_workflow(new_workflow("d")).await.expect("create");
    // Two timers of one run due in the same batch: the run is woken once.
    s.commit_step(step(
        "d",
        0,
        suspended(
            1,
            vec![],
            vec![
                TimerRow {
                    seq: 0,
                    fire_at_ms: 320,
                },
                TimerRow {
                    seq: 1,
                    fire_at_ms: 305,
                },
            ],
        ),
    ))
    .await
    .expect("commit");
    s.commit_step(step(
        "a",
        0,
        suspended(
            1,
            vec![],
            vec![
                TimerRow {
                    seq: 0,
                    fire_at_ms: 300,
                },
                TimerRow {
                    seq: 1,
                    fire_at_ms: 900,
                },
            ],
        ),
    ))
    .await
    .expect("commit");
    s.commit_step(step(
        "b",
        0,
        suspended(
            1,
            vec![],
            vec![TimerRow {
                seq: 0,
                fire_at_ms: 310,
            }],
        ),
    ))
    .await
    .expect("commit");
    assert!(s.fire_timers(299, 10).await.expect("fire").is_empty());
    let mut woken = s.fire_timers(400, 10).await.expect("fire");
    woken.sort();
    assert_eq!(
        woken,
        vec!["a".to_string(), "b".to_string(), "d".to_string()],
        "each run woken once"
    );
    assert_eq!(
        s.load_inbox("d").await.expect("inbox").len(),
        2,
        "both fired"
    );
    assert!(
        s.fire_timers(400, 10).await.expect("fire").is_empty(),
        "a timer fires once"
    );
    let inbox = s.load_inbox("a").await.expect("inbox");
    assert_eq!(inbox.len(), 1);
    assert_eq!(
        (inbox[0].at_ms, &inbox[0].kind),
        (300, &EventKind::TimerFired { seq: 0 }),
        "fired at its own time"
    );
    assert!(s.load_workflow("a").await.expect("load").ready);
    assert_eq!(
        s.load_timers("a").await.expect("timers"),
        vec![TimerRow {
            seq: 1,
            fire_at_ms: 900
        }]
    );
    assert_eq!(s.next_timer_due().await.expect("next"), Some(900));
}

/// [`Store::due_timers`] (for a store that has it): due timers read in fire order with their
/// runs, from a cursor, without firing them; a step that takes one deletes it; one not taken
/// is fired with [`Store::fire_timers_of`], once.
async fn due_timers_are_taken_by_steps<S: Store>(s: &S) {
    for id in ["a", "b", "c"] {
        s.create_workflow(new_workflow(id)).await.expect("create");
    }
    let timer = |seq, fire_at_ms| TimerRow { seq, fire_at_ms };
    for (id, timers) in [
        ("a", vec![timer(0, 300), timer(1, 900)]),
        ("b", vec![timer(0, 300)]),
        ("c", vec![timer(0, 250)]),
    ] {
        s.commit_step(step(id, 0, suspended(1, vec![], timers)))
            .await
            .expect("commit");
    }
    // A parked run's timer comes without its run: the runtime fires it as an event.
    s.commit_step(step(
        "c",
        1,
        StepOutcome::Parked {
            reason: "no code".into(),
        },
    ))
    .await
    .expect("park");
    let Some(read) = s.due_timers(400, None, 10) else {
        // The store fires timers as events only (`fire_timers`, checked above).
        return;
    };
    let due = read.await.expect("due");
    let keys: Vec<(u64, &str, u64, bool)> = due
        .iter()
        .map(|t| {
            (
                t.fire_at_ms,
                t.workflow_id.as_str(),
                t.seq,
                t.workflow.is_some(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            (250, "c", 0, false),
            (300, "a", 0, true),
            (300, "b", 0, true)
        ],
        "in fire order, then by run, with the running runs"
    );
    let a = due[1].workflow.as_ref().expect("a");
    assert_eq!(
        (a.id.as_str(), a.version, a.status),
        ("a", 1, WorkflowStatus::Running)
    );
    // Reading fires nothing: read again, from a cursor, and page by page.
    let again = s
        .due_timers(400, Some(due[0].key()), 1)
        .expect("due timers")
        .await
        .expect("due");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].key(), due[1].key());
    // A key made by hand, with no store key of the run: found by its id.
    let after_all = TimerKey {
        fire_at_ms: 300,
        run_key: None,
        workflow_id: "b".into(),
        seq: 0,
    };
    assert!(
        s.due_timers(400, Some(after_all.clone()), 10)
            .expect("due")
            .await
            .expect("due")
            .is_empty()
    );
    // The next timer after them all, whether due or not.
    let next = s
        .due_timers(u64::MAX, Some(after_all), 1)
        .expect("due")
        .await
        .expect("due");
    assert_eq!(
        (next[0].workflow_id.as_str(), next[0].fire_at_ms),
        ("a", 900)
    );
    assert!(
        s.load_inbox("a").await.expect("inbox").is_empty(),
        "no event"
    );
    // A step takes the firing of a's first timer: the timer goes with the step, no event.
    let mut taken = step("a", 1, suspended(2, vec![], vec![]));
    taken.fired_timers = vec![0];
    assert_eq!(s.commit_step(taken).await.expect("take"), 2);
    assert_eq!(
        s.load_timers("a").await.expect("timers"),
        vec![timer(1, 900)]
    );
    assert!(s.load_inbox("a").await.expect("inbox").is_empty());
    // b's is fired as an event instead, once; so is the parked run's.
    assert_eq!(s.fire_timers_of("b", &[0]).await.expect("fire"), 1);
    assert_eq!(s.fire_timers_of("b", &[0]).await.expect("fire"), 0, "once");
    let inbox = s.load_inbox("b").await.expect("inbox");
    assert_eq!(
        inbox.iter().map(|e| (e.at_ms, &e.kind)).collect::<Vec<_>>(),
        [(300, &EventKind::TimerFired { seq: 0 })],
        "at its own time"
    );
    assert!(s.load_workflow("b").await.expect("load").ready);
    assert_eq!(s.fire_timers_of("c", &[0]).await.expect("fire"), 1);
    let left = s
        .due_timers(400, None, 10)
        .expect("due")
        .await
        .expect("due");
    assert!(left.is_empty(), "{left:?}");
}

async fn group_commit_reports_each_step<S: Store>(s: &S) {
    for id in ["a", "b", "c"] {
        s.create_workflow(new_workflow(id)).await.expect("create");
    }
    let results = s
        .commit_steps(vec![
            step("a", 0, suspended(1, vec![task("a", 0, None)], vec![])),
            step("b", 5, suspended(1, vec![task("b", 0, None)], vec![])),
            step("c", 0, suspended(1, vec![], vec![])),
            step("nope", 0, suspended(1, vec![], vec![])),
        ])
        .await
        .expect("batch");
    assert!(matches!(results[0], Ok(1)));
    assert!(
        matches!(&results[1], Err(StoreError::Conflict { workflow_id, expected: 5 }) if workflow_id == "b")
    );
    assert!(matches!(results[2], Ok(1)));
    assert!(matches!(results[3], Err(StoreError::NotFound(_))));
    assert_eq!(s.load_tasks("a").await.expect("tasks").len(), 1);
    assert!(
        s.load_tasks("b").await.expect("tasks").is_empty(),
        "a conflicting step writes nothing"
    );
    assert_eq!(s.load_workflow("b").await.expect("load").version, 0);
}

async fn history_keeps_order<S: Store>(s: &S) {
    s.create_workflow(new_workflow("a")).await.expect("create");
    s.commit_step(step("a", 0, suspended(1, vec![], vec![])))
        .await
        .expect("commit");
    s.append_signal("a", "x", vec![1], None, 300)
        .await
        .expect("signal");
    s.commit_step(step("a", 1, suspended(1, vec![], vec![])))
        .await
        .expect("commit");
    let h = s.history("a").await.expect("history");
    let kinds: Vec<HistoryKind> = h.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            HistoryKind::Started,
            HistoryKind::Step,
            HistoryKind::Signal,
            HistoryKind::Step
        ]
    );
    assert_eq!(h[1].detail, "step from 0");
    assert_eq!(h[3].detail, "step from 1");
    assert_eq!(h[2].at_ms, 300);
    // The newest entries alone, oldest first, with the count of all.
    for limit in [0, 1, 3, 4, 100] {
        let (tail, total) = s.history_tail("a", limit).await.expect("tail");
        assert_eq!(total, 4, "limit {limit}");
        assert_eq!(tail, h[4usize.saturating_sub(limit)..], "limit {limit}");
    }
    assert!(matches!(
        s.history_tail("nope", 5).await,
        Err(StoreError::NotFound(_))
    ));

    // Every kind of entry reads back as written.
    let every = [
        HistoryKind::Started,
        HistoryKind::Step,
        HistoryKind::Signal,
        HistoryKind::Retry,
        HistoryKind::Completed,
        HistoryKind::Failed,
        HistoryKind::Parked,
        HistoryKind::Unparked,
        HistoryKind::Cancelled,
        HistoryKind::DeadLetter,
        HistoryKind::Migrated,
    ];
    let mut commit = step("a", 2, suspended(1, vec![], vec![]));
    commit.history = every
        .iter()
        .map(|&k| HistoryEntry::new(400, k, k.as_str()))
        .collect();
    s.commit_step(commit).await.expect("commit");
    let h = s.history("a").await.expect("history");
    assert_eq!(
        h[4..]
            .iter()
            .map(|e| (e.kind, e.detail.as_str()))
            .collect::<Vec<_>>(),
        every.iter().map(|&k| (k, k.as_str())).collect::<Vec<_>>()
    );
}

/// Creates run `id` of workflow `name` at `created_ms`, and brings it to `status` with a step
/// committed at `updated_ms` (a running run created at `updated_ms` takes no step).
async fn run_in<S: Store>(
    s: &S,
    id: &str,
    name: &str,
    created_ms: u64,
    status: WorkflowStatus,
    updated_ms: u64,
) {
    let mut wf = new_workflow(id);
    wf.name = name.into();
    wf.now_ms = created_ms;
    wf.history.at_ms = created_ms;
    let version = s.create_workflow(wf).await.expect("create");
    let outcome = match status {
        WorkflowStatus::Running if updated_ms == created_ms => return,
        WorkflowStatus::Running => suspended(1, vec![], vec![]),
        WorkflowStatus::Completed | WorkflowStatus::Failed => StepOutcome::Finished {
            status,
            snapshot: vec![9],
            output: vec![1],
        },
        WorkflowStatus::Parked => StepOutcome::Parked {
            reason: "needs a person".into(),
        },
        WorkflowStatus::Cancelled => StepOutcome::Cancelled,
    };
    let mut c = step(id, version, outcome);
    c.now_ms = updated_ms;
    s.commit_step(c).await.expect("commit");
}

fn page_ids(page: &RunPage) -> Vec<&str> {
    page.runs.iter().map(|r| r.id.as_str()).collect()
}

/// The ids of a whole walk through the pages of `query`, checking each page's cursor.
async fn walk<S: Store>(s: &S, query: RunQuery) -> Vec<String> {
    let size = query.page_size();
    let mut query = query;
    let mut all = Vec::new();
    loop {
        let page = s.list_runs(query.clone()).await.expect("list runs");
        assert!(page.runs.len() <= size, "a page holds at most its limit");
        let ids: Vec<String> = page.runs.iter().map(|r| r.id.clone()).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "a page is by id: {ids:?}"
        );
        all.extend(ids);
        match page.next {
            Some(next) => {
                assert_eq!(
                    page.runs.len(),
                    size,
                    "only a full page has a next one ({query:?})"
                );
                assert_eq!(Some(&next), all.last(), "the cursor is the page's last id");
                query.after = Some(next);
            }
            None => return all,
        }
    }
}

async fn listing_runs<S: Store>(s: &S) {
    let empty = s.list_runs(RunQuery::new()).await.expect("list runs");
    assert_eq!(empty, RunPage::default(), "an empty store lists nothing");
    use WorkflowStatus::*;
    // Ids with the wildcards of SQL's LIKE (`%`, `_`) and its usual escape (`\`) in them, and
    // one past ASCII.
    let runs = [
        ("a%1", "pay", 100, Completed, 150),
        ("a%b", "ship", 110, Running, 110),
        ("a1", "pay", 120, Failed, 300),
        ("a_1", "pay", 130, Parked, 140),
        ("ab", "ship", 140, Cancelled, 200),
        ("b", "pay", 150, Running, 260),
        ("b\\x", "pay", 155, Completed, 400),
        ("\u{e9}1", "ship", 160, Completed, 170),
    ];
    for (id, name, created, status, updated) in runs {
        run_in(s, id, name, created, status, updated).await;
    }
    let all: Vec<&str> = runs.iter().map(|r| r.0).collect();
    let page = s.list_runs(RunQuery::new()).await.expect("list runs");
    assert_eq!(page_ids(&page), all, "every run, by id (byte order)");
    assert_eq!(page.next, None);
    let r = &page.runs[1];
    assert_eq!(
        (
            r.name.as_str(),
            r.status,
            r.created_at_ms,
            r.updated_at_ms,
            r.park_reason.as_deref()
        ),
        ("ship", Running, 110, 110, None)
    );
    assert_eq!(page.runs[3].park_reason.as_deref(), Some("needs a person"));
    assert_eq!(
        (page.runs[5].created_at_ms, page.runs[5].updated_at_ms),
        (150, 260)
    );
    let cases: Vec<(RunQuery, Vec<&str>)> = vec![
        // One filter at a time.
        (
            RunQuery::new().status(Completed),
            vec!["a%1", "b\\x", "\u{e9}1"],
        ),
        (RunQuery::new().status(Running), vec!["a%b", "b"]),
        (RunQuery::new().status(Parked), vec!["a_1"]),
        (RunQuery::new().name("ship"), vec!["a%b", "ab", "\u{e9}1"]),
        (RunQuery::new().name("sh"), vec![]),
        (RunQuery::new().name("nobody"), vec![]),
        (
            RunQuery::new().id_prefix("a"),
            vec!["a%1", "a%b", "a1", "a_1", "ab"],
        ),
        (RunQuery::new().id_prefix("a%"), vec!["a%1", "a%b"]),
        (RunQuery::new().id_prefix("a_"), vec!["a_1"]),
        (RunQuery::new().id_prefix("%"), vec![]),
        (RunQuery::new().id_prefix("_"), vec![]),
        (RunQuery::new().id_prefix("a%1"), vec!["a%1"]),
        (RunQuery::new().id_prefix("b\\"), vec!["b\\x"]),
        (RunQuery::new().id_prefix("B"), vec![]),
        (RunQuery::new().id_prefix("\u{e9}"), vec!["\u{e9}1"]),
        (RunQuery::new().id_prefix(""), all.clone()),
        (
            RunQuery::new().created_from(130),
            vec!["a_1", "ab", "b", "b\\x", "\u{e9}1"],
        ),
        (
            RunQuery::new().created_before(130),
            vec!["a%1", "a%b", "a1"],
        ),
        (
            RunQuery::new().updated_from(200),
            vec!["a1", "ab", "b", "b\\x"],
        ),
        (RunQuery::new().updated_before(150), vec!["a%b", "a_1"]),
        (
            RunQuery::new().after("a_1"),
            vec!["ab", "b", "b\\x", "\u{e9}1"],
        ),
        (RunQuery::new().after("a"), all.clone()),
        (RunQuery::new().after("\u{e9}1"), vec![]),
        // Combined.
        (
            RunQuery::new().created_from(110).created_before(150),
            vec!["a%b", "a1", "a_1", "ab"],
        ),
        (
            RunQuery::new().name("pay").status(Completed).id_prefix("a"),
            vec!["a%1"],
        ),
        (
            RunQuery::new().name("pay").updated_from(200),
            vec!["a1", "b", "b\\x"],
        ),
        (
            RunQuery::new().name("pay").updated_from(200).after("a1"),
            vec!["b", "b\\x"],
        ),
        (
            RunQuery::new().id_prefix("a").status(Running).name("ship"),
            vec!["a%b"],
        ),
        (
            RunQuery::new()
                .id_prefix("a")
                .created_from(100)
                .created_before(140)
                .updated_from(140)
                .updated_before(300),
            vec!["a%1", "a_1"],
        ),
        (
            RunQuery::new().id_prefix("a").after("a1"),
            vec!["a_1", "ab"],
        ),
        (RunQuery::new().id_prefix("b").status(Parked), vec![]),
    ];
    for (query, expected) in cases {
        let page = s.list_runs(query.clone()).await.expect("list runs");
        assert_eq!(page_ids(&page), expected, "{query:?}");
        assert_eq!(page.next, None, "{query:?}: a single page");
        assert!(
            page.runs.iter().all(|r| query.matches(r)),
            "{query:?}: every run listed matches"
        );
    }
    // Limits: a full page has a next one; a page that ends the list has none, even full.
    let page = s
        .list_runs(RunQuery::new().name("pay").limit(2))
        .await
        .expect("list runs");
    assert_eq!(
        (page_ids(&page), page.next.as_deref()),
        (vec!["a%1", "a1"], Some("a1"))
    );
    let page = s
        .list_runs(RunQuery::new().name("pay").limit(2).after("a1"))
        .await
        .expect("list runs");
    assert_eq!(
        (page_ids(&page), page.next.as_deref()),
        (vec!["a_1", "b"], Some("b"))
    );
    let page = s
        .list_runs(RunQuery::new().name("pay").limit(2).after("b"))
        .await
        .expect("list runs");
    assert_eq!(
        (page_ids(&page), page.next.as_deref()),
        (vec!["b\\x"], None)
    );
    let page = s
        .list_runs(RunQuery::new().name("ship").limit(3))
        .await
        .expect("list runs");
    assert_eq!(
        (page_ids(&page), page.next.as_deref()),
        (vec!["a%b", "ab", "\u{e9}1"], None),
        "a full page that ends the list has no next"
    );
    let page = s
        .list_runs(RunQuery::new().limit(1))
        .await
        .expect("list runs");
    assert_eq!(
        (page_ids(&page), page.next.as_deref()),
        (vec!["a%1"], Some("a%1"))
    );
}

async fn paging_through_runs<S: Store>(s: &S) {
    let mut ids = Vec::new();
    for i in 0..23u64 {
        let id = format!("p{i:02}");
        let name = if i % 2 == 0 { "even" } else { "odd" };
        let status = if i % 3 == 0 {
            WorkflowStatus::Completed
        } else {
            WorkflowStatus::Running
        };
        run_in(s, &id, name, 100 + i, status, 200 + i).await;
        ids.push(id);
    }
    // The cursor need not be an id of the store.
    run_in(s, "q", "other", 1, WorkflowStatus::Running, 1).await;
    ids.push("q".to_string());
    for size in [1, 4, 5, 7, 24, 25] {
        assert_eq!(
            walk(s, RunQuery::new().limit(size)).await,
            ids,
            "every run once, in order, in pages of {size}"
        );
    }
    let even: Vec<String> = ids.iter().step_by(2).take(12).cloned().collect();
    assert_eq!(even.len(), 12);
    for size in [3, 4, 5, 12] {
        assert_eq!(
            walk(s, RunQuery::new().name("even").limit(size)).await,
            even,
            "a filtered walk, in pages of {size}"
        );
    }
    let completed: Vec<String> = (0..23).step_by(3).map(|i| format!("p{i:02}")).collect();
    assert_eq!(
        walk(
            s,
            RunQuery::new().status(WorkflowStatus::Completed).limit(3)
        )
        .await,
        completed
    );
    let odd_running: Vec<String> = (0..23)
        .filter(|i| i % 2 == 1 && i % 3 != 0)
        .map(|i| format!("p{i:02}"))
        .collect();
    assert_eq!(
        walk(
            s,
            RunQuery::new()
                .name("odd")
                .status(WorkflowStatus::Running)
                .id_prefix("p")
                .limit(2)
        )
        .await,
        odd_running
    );
    assert_eq!(
        walk(s, RunQuery::new().id_prefix("p1").limit(4)).await,
        (10..20).map(|i| format!("p{i}")).collect::<Vec<_>>()
    );
    let page = s
        .list_runs(RunQuery::new().after("p105").limit(2))
        .await
        .expect("list runs");
    assert_eq!(
        (page_ids(&page), page.next.as_deref()),
        (vec!["p11", "p12"], Some("p12")),
        "a cursor between two ids"
    );
    // Limit 0 is the default page size.
    let page = s.list_runs(RunQuery::new()).await.expect("list runs");
    assert_eq!((page.runs.len(), page.next), (24, None));
}

async fn counting_runs<S: Store>(s: &S) {
    use WorkflowStatus::*;
    let zero: Vec<(WorkflowStatus, u64)> = WorkflowStatus::ALL.iter().map(|&s| (s, 0)).collect();
    assert_eq!(s.count_runs().await.expect("count"), zero);
    run_in(s, "r1", "wf", 10, Running, 10).await;
    run_in(s, "r2", "wf", 10, Running, 20).await;
    run_in(s, "c1", "wf", 10, Completed, 20).await;
    run_in(s, "f1", "other", 10, Failed, 20).await;
    run_in(s, "f2", "wf", 10, Failed, 20).await;
    run_in(s, "p1", "wf", 10, Parked, 20).await;
    assert_eq!(
        s.count_runs().await.expect("count"),
        vec![
            (Running, 2),
            (Completed, 1),
            (Failed, 2),
            (Parked, 1),
            (Cancelled, 0)
        ],
        "every status, in the order of WorkflowStatus::ALL, with 0 for none"
    );
    s.purge("f1").await.expect("purge");
    let counts = s.count_runs().await.expect("count");
    assert_eq!(counts[2], (Failed, 1), "a purged run is not counted");
}

async fn purging_a_finished_run<S: Store>(s: &S) {
    // "a" went through everything a run can leave behind, then finished.
    s.create_workflow(new_workflow("a")).await.expect("create");
    s.commit_step(step(
        "a",
        0,
        suspended(
            1,
            vec![task("a", 0, Some("w1")), task("a", 1, None)],
            vec![TimerRow {
                seq: 2,
                fire_at_ms: 300,
            }],
        ),
    ))
    .await
    .expect("commit");
    s.append_signal("a", "go", vec![1], None, 250)
        .await
        .expect("signal");
    s.fire_timers(300, 10).await.expect("fire");
    assert!(
        s.complete_activity(done("a", attempt(0, 1, "w1"), Ok(vec![4]), 310))
            .await
            .expect("complete")
    );
    let mut c = step(
        "a",
        1,
        StepOutcome::Finished {
            status: WorkflowStatus::Completed,
            snapshot: vec![9],
            output: vec![4, 2],
        },
    );
    c.history.push(HistoryEntry::new(
        200,
        HistoryKind::DeadLetter,
        "a signal that did not decode",
    ));
    s.commit_step(c).await.expect("finish");
    // "b", created after it, is running with a task, a timer and a signal of its own.
    s.create_workflow(new_workflow("b")).await.expect("create");
    s.commit_step(step(
        "b",
        0,
        suspended(
            1,
            vec![task("b", 0, None)],
            vec![TimerRow {
                seq: 1,
                fire_at_ms: 400,
            }],
        ),
    ))
    .await
    .expect("commit");
    let last_event = s
        .append_signal("b", "go", vec![2], None, 260)
        .await
        .expect("signal");
    let b = s.load_workflow("b").await.expect("load");
    let b_history = s.history("b").await.expect("history");

    s.purge("a").await.expect("purge a finished run");
    assert!(matches!(s.load_workflow("a").await, Err(StoreError::NotFound(id)) if id == "a"));
    assert!(matches!(
        s.load_inbox("a").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.load_tasks("a").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.load_timers("a").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(s.history("a").await, Err(StoreError::NotFound(_))));
    assert!(matches!(
        s.append_signal("a", "go", vec![], None, 500).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        page_ids(&s.list_runs(RunQuery::new()).await.expect("list runs")),
        vec!["b"]
    );
    assert_eq!(s.list_workflows(None).await.expect("list").len(), 1);
    assert!(
        matches!(s.purge("a").await, Err(StoreError::NotFound(id)) if id == "a"),
        "purged once"
    );

    // The other run is untouched, and works as before.
    assert_eq!(s.load_workflow("b").await.expect("load"), b);
    assert_eq!(s.history("b").await.expect("history"), b_history);
    assert_eq!(s.load_inbox("b").await.expect("inbox").len(), 1);
    assert_eq!(
        s.ready_workflows(&["wf".to_string()], 10)
            .await
            .expect("ready"),
        vec!["b".to_string()]
    );
    assert_eq!(s.next_timer_due().await.expect("next"), Some(400));
    assert_eq!(
        s.fire_timers(400, 10).await.expect("fire"),
        vec!["b".to_string()]
    );
    let names = vec!["act".to_string()];
    assert_eq!(s.next_task_due(&names).await.expect("due"), Some(100));
    let leased = s
        .lease_tasks(LeaseRequest {
            owner: "w2".into(),
            names,
            now_ms: 100,
            lease_until_ms: 900,
            limit: 10,
        })
        .await
        .expect("lease");
    assert_eq!(
        leased
            .iter()
            .map(|t| (t.workflow_id.as_str(), t.seq))
            .collect::<Vec<_>>(),
        vec![("b", 0)],
        "only the other run's task is left"
    );

    // The id is free again: a new run starts from nothing, save its version (past the old
    // run's, which reached 2: see `versions_never_repeat_across_runs`).
    let version = s
        .create_workflow(new_workflow("a"))
        .await
        .expect("the id of a purged run is free");
    let r = s.load_workflow("a").await.expect("load");
    assert_eq!(
        (r.status, r.version, r.output, r.ready),
        (WorkflowStatus::Running, version, None, true)
    );
    assert!(
        version > 2,
        "the new run starts past the old one: {version}"
    );
    assert_eq!(
        s.history("a")
            .await
            .expect("history")
            .iter()
            .map(|e| e.kind)
            .collect::<Vec<_>>(),
        vec![HistoryKind::Started],
        "none of the old run's history"
    );
    assert!(s.load_inbox("a").await.expect("inbox").is_empty());
    assert!(s.load_tasks("a").await.expect("tasks").is_empty());
    assert!(s.load_timers("a").await.expect("timers").is_empty());
    let e = s
        .append_signal("a", "go", vec![3], None, 600)
        .await
        .expect("signal");
    assert!(e > last_event, "event ids are never reused");
    assert_eq!(
        s.commit_step(step("a", version, suspended(1, vec![], vec![])))
            .await
            .expect("commit"),
        version + 1
    );
    assert_eq!(
        page_ids(&s.list_runs(RunQuery::new()).await.expect("list runs")),
        vec!["a", "b"]
    );

    // Failed and cancelled runs are finished too.
    run_in(s, "f", "wf", 10, WorkflowStatus::Failed, 20).await;
    run_in(s, "c", "wf", 10, WorkflowStatus::Cancelled, 20).await;
    s.purge("f").await.expect("purge a failed run");
    s.purge("c").await.expect("purge a cancelled run");
    for id in ["f", "c"] {
        assert!(matches!(
            s.load_workflow(id).await,
            Err(StoreError::NotFound(_))
        ));
    }
}

async fn purge_refuses_unfinished_runs<S: Store>(s: &S) {
    s.create_workflow(new_workflow("r")).await.expect("create");
    s.commit_step(step(
        "r",
        0,
        suspended(
            1,
            vec![task("r", 0, None)],
            vec![TimerRow {
                seq: 1,
                fire_at_ms: 900,
            }],
        ),
    ))
    .await
    .expect("commit");
    s.append_signal("r", "go", vec![1], None, 300)
        .await
        .expect("signal");
    s.create_workflow(new_workflow("p")).await.expect("create");
    s.commit_step(step("p", 0, suspended(2, vec![task("p", 0, None)], vec![])))
        .await
        .expect("commit");
    s.commit_step(step(
        "p",
        1,
        StepOutcome::Parked {
            reason: "snapshot from other code".into(),
        },
    ))
    .await
    .expect("park");
    s.append_signal("p", "go", vec![2], None, 300)
        .await
        .expect("signal");
    for (id, status) in [
        ("r", WorkflowStatus::Running),
        ("p", WorkflowStatus::Parked),
    ] {
        let record = s.load_workflow(id).await.expect("load");
        let inbox = s.load_inbox(id).await.expect("inbox");
        let tasks = s.load_tasks(id).await.expect("tasks");
        let timers = s.load_timers(id).await.expect("timers");
        let history = s.history(id).await.expect("history");
        match s.purge(id).await {
            Err(StoreError::NotFinished {
                workflow_id,
                status: found,
            }) => assert_eq!((workflow_id.as_str(), found), (id, status)),
            other => panic!("purging a {status} run must be refused, got {other:?}"),
        }
        assert_eq!(s.load_workflow(id).await.expect("load"), record, "{id}");
        assert_eq!(s.load_inbox(id).await.expect("inbox"), inbox, "{id}");
        assert_eq!(s.load_tasks(id).await.expect("tasks"), tasks, "{id}");
        assert_eq!(s.load_timers(id).await.expect("timers"), timers, "{id}");
        assert_eq!(s.history(id).await.expect("history"), history, "{id}");
    }
    assert!(
        s.purge_finished(u64::MAX, 100)
            .await
            .expect("purge finished")
            .is_empty(),
        "running and parked runs are never purged by age"
    );
    assert_eq!(s.list_workflows(None).await.expect("list").len(), 2);
    match s.purge("nope").await {
        Err(StoreError::NotFound(id)) => assert_eq!(id, "nope"),
        other => panic!("purging an unknown id must be NotFound, got {other:?}"),
    }
    // The parked run, unparked and cancelled, can go.
    s.commit_step(step("p", 2, StepOutcome::Unparked))
        .await
        .expect("unpark");
    s.commit_step(step("p", 3, StepOutcome::Cancelled))
        .await
        .expect("cancel");
    s.purge("p").await.expect("purge once cancelled");
    assert_eq!(
        page_ids(&s.list_runs(RunQuery::new()).await.expect("list runs")),
        vec!["r"]
    );
}

/// `Store::purge_version` purges the run at the version given and no other: a run of the id
/// at another version (another start's, finished too) stays as it was.
async fn purging_a_run_by_version<S: Store>(s: &S) {
    use WorkflowStatus::*;
    run_in(s, "v", "wf", 10, Cancelled, 20).await;
    let seen = s.load_workflow("v").await.expect("load");
    // Replaced by another run, which completed.
    s.purge("v").await.expect("purge");
    run_in(s, "v", "wf", 30, Completed, 40).await;
    let other = s.load_workflow("v").await.expect("load");
    let other_history = s.history("v").await.expect("history");
    assert_ne!(
        other.version, seen.version,
        "versions never repeat across runs"
    );
    match s.purge_version("v", seen.version).await {
        Err(StoreError::Conflict {
            workflow_id,
            expected,
        }) => assert_eq!((workflow_id.as_str(), expected), ("v", seen.version)),
        other => panic!("purging a run gone must be a conflict, got {other:?}"),
    }
    assert_eq!(s.load_workflow("v").await.expect("load"), other);
    assert_eq!(s.history("v").await.expect("history"), other_history);
    // A running run at the version asked for is refused as `purge` refuses it.
    run_in(s, "r", "wf", 10, Running, 20).await;
    let running = s.load_workflow("r").await.expect("load");
    assert!(matches!(
        s.purge_version("r", running.version).await,
        Err(StoreError::NotFinished {
            status: Running,
            ..
        })
    ));
    assert!(matches!(
        s.purge_version("nope", 1).await,
        Err(StoreError::NotFound(id)) if id == "nope"
    ));
    // The run at its own version goes, with a tombstone as `purge` leaves.
    s.purge_version("v", other.version)
        .await
        .expect("purge at its version");
    assert!(matches!(
        s.load_workflow("v").await,
        Err(StoreError::NotFound(_))
    ));
    let next = s.create_workflow(new_workflow("v")).await.expect("create");
    assert!(next > other.version, "{next} after {}", other.version);
}

async fn purging_by_age<S: Store>(s: &S) {
    use WorkflowStatus::*;
    run_in(s, "f1", "wf", 10, Completed, 300).await;
    run_in(s, "f2", "wf", 10, Failed, 200).await;
    run_in(s, "f3", "wf", 10, Cancelled, 250).await;
    run_in(s, "f4", "wf", 10, Completed, 500).await;
    run_in(s, "f0", "wf", 10, Completed, 250).await;
    run_in(s, "r1", "wf", 10, Running, 100).await;
    run_in(s, "p1", "wf", 10, Parked, 100).await;
    assert!(
        s.purge_finished(200, 10)
            .await
            .expect("purge finished")
            .is_empty(),
        "the bound is exclusive"
    );
    // Four are due: two now, the other two next.
    let first = s.purge_finished(400, 2).await.expect("purge finished");
    assert_eq!(first.len(), 2, "up to the limit: {first:?}");
    assert!(first[0] < first[1], "sorted: {first:?}");
    assert!(
        s.purge_finished(400, 0)
            .await
            .expect("purge finished")
            .is_empty(),
        "a limit of 0 purges nothing"
    );
    let second = s.purge_finished(400, 10).await.expect("purge finished");
    assert_eq!(second.len(), 2, "the rest: {second:?}");
    assert!(second[0] < second[1], "sorted: {second:?}");
    let mut both = [first, second].concat();
    both.sort();
    assert_eq!(
        both,
        ["f0", "f1", "f2", "f3"],
        "every finished run due, each once"
    );
    assert!(
        s.purge_finished(400, 10)
            .await
            .expect("purge finished")
            .is_empty()
    );
    for id in ["f0", "f1", "f2", "f3"] {
        assert!(matches!(
            s.load_workflow(id).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(s.history(id).await, Err(StoreError::NotFound(_))));
    }
    assert_eq!(
        s.purge_finished(u64::MAX, 10)
            .await
            .expect("purge finished"),
        vec!["f4".to_string()]
    );
    assert_eq!(
        page_ids(&s.list_runs(RunQuery::new()).await.expect("list runs")),
        vec!["p1", "r1"],
        "only the unfinished runs are left"
    );
    assert_eq!(
        s.count_runs().await.expect("count"),
        vec![
            (Running, 1),
            (Completed, 0),
            (Failed, 0),
            (Parked, 1),
            (Cancelled, 0)
        ]
    );
    // Their ids are free again.
    run_in(s, "f2", "wf", 600, Completed, 700).await;
    assert_eq!(
        s.purge_finished(u64::MAX, 10)
            .await
            .expect("purge finished"),
        vec!["f2".to_string()]
    );
}

/// Runs `id` from its creation through `steps` suspended steps to its completion at `now_ms`;
/// returns every version it had, the last (the finished run's) included.
async fn run_to_completion<S: Store>(s: &S, id: &str, steps: u64, now_ms: u64) -> Vec<u64> {
    let mut wf = new_workflow(id);
    wf.now_ms = now_ms;
    let mut version = s.create_workflow(wf).await.expect("create");
    assert_eq!(
        s.load_workflow(id).await.expect("load").version,
        version,
        "create_workflow returns the new run's version"
    );
    let mut versions = vec![version];
    for i in 0..steps {
        let snapshot = u8::try_from(i % 200).unwrap_or(0) + 1;
        version = s
            .commit_step(step(id, version, suspended(snapshot, vec![], vec![])))
            .await
            .expect("step");
        versions.push(version);
    }
    let mut finish = step(
        id,
        version,
        StepOutcome::Finished {
            status: WorkflowStatus::Completed,
            snapshot: vec![9],
            output: vec![1],
        },
    );
    finish.now_ms = now_ms;
    versions.push(s.commit_step(finish).await.expect("finish"));
    versions
}

/// Every commit and `clear_ready` prepared from one of `old` (versions of runs gone from under
/// `id`) is refused, alone and in a group, and leaves the run under `id` as it was.
async fn stale_versions_are_refused<S: Store>(s: &S, id: &str, old: &[u64], why: &str) {
    let before = s.load_workflow(id).await.expect("load");
    let history = s.history(id).await.expect("history");
    for &v in old {
        match s
            .commit_step(step(id, v, suspended(7, vec![], vec![])))
            .await
        {
            Err(StoreError::Conflict {
                workflow_id,
                expected,
            }) => assert_eq!((workflow_id.as_str(), expected), (id, v)),
            other => panic!(
                "{why}: a commit from version {v} of an earlier run under {id:?} must conflict \
                 with the new run (at {}), got {other:?}",
                before.version
            ),
        }
        let results = s
            .commit_steps(vec![step(id, v, StepOutcome::Cancelled)])
            .await
            .expect("commit steps");
        assert!(
            matches!(results.as_slice(), [Err(StoreError::Conflict { .. })]),
            "{why}: a grouped commit from version {v} must conflict: {results:?}"
        );
        assert!(
            !s.clear_ready(id, v, u64::MAX).await.expect("clear ready"),
            "{why}: a view at version {v} of an earlier run is stale"
        );
    }
    assert_eq!(
        s.load_workflow(id).await.expect("load"),
        before,
        "{why}: untouched"
    );
    assert_eq!(s.history(id).await.expect("history"), history, "{why}");
}

/// A run created under the id of a purged one starts past every version that one reached, so
/// that a worker still holding a state of the purged run (in another process: it was cancelled
/// and purged from elsewhere) cannot commit it over the new run once that one gets as far;
/// whether the old run went by `purge` or by `purge_finished`.
async fn versions_never_repeat_across_runs<S: Store>(s: &S) {
    let first = run_to_completion(s, "a", 3, 100).await;
    assert_eq!(first.len(), 5);
    s.purge("a").await.expect("purge");
    let second = s.create_workflow(new_workflow("a")).await.expect("create");
    let last = *first.last().expect("versions");
    assert!(
        second > last,
        "after purge: the new run starts at {second}, not past the old run's {last}"
    );
    stale_versions_are_refused(s, "a", &first, "after purge").await;
    // The new run goes on from its own version as any run does; the old versions stay
    // refused at every version it reaches.
    let mut version = second;
    for i in 0..first.len() as u8 {
        version = s
            .commit_step(step("a", version, suspended(10 + i, vec![], vec![])))
            .await
            .expect("the new run steps");
        stale_versions_are_refused(s, "a", &first, "after purge, further on").await;
    }

    // Again, the second run finished and purged by age.
    let mut finish = step(
        "a",
        version,
        StepOutcome::Finished {
            status: WorkflowStatus::Failed,
            snapshot: vec![9],
            output: vec![2],
        },
    );
    finish.now_ms = 500;
    let second_last = s.commit_step(finish).await.expect("finish");
    assert_eq!(
        s.purge_finished(501, 10).await.expect("purge finished"),
        vec!["a".to_string()]
    );
    let third = s.create_workflow(new_workflow("a")).await.expect("create");
    assert!(
        third > second_last,
        "after purge_finished: the new run starts at {third}, not past the old run's {second_last}"
    );
    let every_old: Vec<u64> = first.iter().copied().chain(second..=second_last).collect();
    stale_versions_are_refused(s, "a", &every_old, "after purge_finished").await;
    assert_eq!(
        s.commit_step(step("a", third, suspended(1, vec![], vec![])))
            .await
            .expect("the third run steps"),
        third + 1
    );

    // An id purged by age, then used again, and again: each run past all before it.
    let mut before: Vec<u64> = Vec::new();
    for round in 0..3u64 {
        let run = run_to_completion(s, "c", 2 + round, 1000 + round).await;
        if let Some(&prior) = before.last() {
            assert!(run[0] > prior, "round {round}: {run:?} after {before:?}");
        }
        before.extend(&run);
        if round % 2 == 0 {
            assert_eq!(
                s.purge_finished(2000, 10).await.expect("purge finished"),
                vec!["c".to_string()]
            );
        } else {
            s.purge("c").await.expect("purge");
        }
    }
    let fourth = s.create_workflow(new_workflow("c")).await.expect("create");
    assert!(fourth > *before.last().expect("versions"));
    stale_versions_are_refused(s, "c", &before, "after several runs").await;
}

/// `purge_finished` drops the tombstones `purge` left once their runs finished before its
/// cutoff (up to its limit), and the versions of those ids still never repeat.
async fn tombstones_go_with_the_retention<S: Store>(s: &S) {
    let mut runs = Vec::new();
    for (i, id) in ["t1", "t2", "t3"].into_iter().enumerate() {
        let versions = run_to_completion(s, id, 2 * i as u64 + 1, 100 * (i as u64 + 1)).await;
        s.purge(id).await.expect("purge");
        runs.push((id, versions));
    }
    // Nothing finished before 100: nothing goes, whatever the limit.
    assert!(
        s.purge_finished(100, 10)
            .await
            .expect("purge finished")
            .is_empty()
    );
    // t1 and t2 (finished at 100, 200) are due; a limit of 0 drops nothing, 1 one of them, 10
    // the other; t3 (finished at 300) stays.
    for limit in [0, 1, 10] {
        assert!(
            s.purge_finished(250, limit)
                .await
                .expect("purge finished")
                .is_empty(),
            "no run is purged by dropping tombstones"
        );
    }
    for (id, versions) in &runs {
        let new = s.create_workflow(new_workflow(id)).await.expect("create");
        let last = *versions.last().expect("versions");
        assert!(
            new > last,
            "{id}: the new run starts at {new}, not past the old run's {last}"
        );
        stale_versions_are_refused(s, id, versions, "after the tombstones went").await;
    }
    // An id never used before starts anywhere (at the floor), and is as safe.
    let fresh = s.create_workflow(new_workflow("t9")).await.expect("create");
    assert_eq!(s.load_workflow("t9").await.expect("load").version, fresh);
}

/// Child runs a step starts are created by its commit, and only by a commit that takes
/// effect; a taken id answers the call in the run's own inbox (see `StepCommit::children`).
async fn a_step_starts_its_children_in_its_commit<S: Store>(s: &S) {
    let v = s.create_workflow(new_workflow("p")).await.expect("create");
    s.create_workflow(new_workflow("other"))
        .await
        .expect("create");
    let child = |id: &str, seq: u64| NewWorkflow {
        parent: Some(ParentLink {
            id: "p".into(),
            seq,
        }),
        ..new_workflow(id)
    };
    // A commit that conflicts starts nothing (nor its timers).
    let mut stale = step("p", v + 7, suspended(1, vec![], vec![]));
    stale.children = vec![NewWorkflow {
        timers: vec![TimerRow {
            seq: 90,
            fire_at_ms: 5_000,
        }],
        ..child("p/c-3", 3)
    }];
    assert!(matches!(
        s.commit_step(stale).await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        s.load_workflow("p/c-3").await,
        Err(StoreError::NotFound(_))
    ));
    if let Some(read) = s.due_timers(u64::MAX, None, 10) {
        assert!(
            read.await
                .expect("due")
                .iter()
                .all(|t| t.workflow_id != "p/c-3"),
            "no timer of a child not started"
        );
    }
    // One that commits creates its children, ready, linked to the call, with their timers
    // (the end of a child's execution timeout); a taken id creates nothing and answers the
    // call.
    let timed = |id: &str, seq: u64| NewWorkflow {
        timers: vec![TimerRow {
            seq: 90,
            fire_at_ms: 5_000,
        }],
        ..child(id, seq)
    };
    let mut first = step("p", v, suspended(1, vec![], vec![]));
    first.children = vec![timed("p/c-3", 3), timed("other", 4)];
    let v = s.commit_step(first).await.expect("commit");
    assert_eq!(
        s.load_timers("p/c-3").await.expect("timers"),
        vec![TimerRow {
            seq: 90,
            fire_at_ms: 5_000
        }],
        "a child's timers are created with it"
    );
    assert!(
        s.load_timers("other").await.expect("timers").is_empty(),
        "a taken id's run gets none"
    );
    let c = s.load_workflow("p/c-3").await.expect("child created");
    assert_eq!(
        (c.status, c.ready, c.parent.clone(), c.input.clone()),
        (
            WorkflowStatus::Running,
            true,
            Some(ParentLink {
                id: "p".into(),
                seq: 3
            }),
            vec![1, 2, 3]
        )
    );
    assert_eq!(
        s.history("p/c-3").await.expect("history")[0].kind,
        HistoryKind::Started
    );
    assert!(
        s.ready_workflows(&["wf".to_string()], 10)
            .await
            .expect("ready")
            .contains(&"p/c-3".to_string())
    );
    let other = s.load_workflow("other").await.expect("other");
    assert_eq!(other.parent, None, "a taken id's run is left as it is");
    let inbox = s.load_inbox("p").await.expect("inbox");
    assert_eq!(
        inbox.iter().map(|e| e.kind.clone()).collect::<Vec<_>>(),
        vec![EventKind::ChildFinished {
            seq: 4,
            result: Err(ChildError::IdInUse { id: "other".into() }),
        }]
    );
    assert!(s.load_workflow("p").await.expect("parent").ready);
    // The call's own child again (awaited anew): left as it is, nothing answered.
    let mut again = step("p", v, suspended(2, vec![], vec![]));
    again.seen_events_upto = inbox[0].id;
    again.consumed_events = vec![inbox[0].id];
    again.children = vec![child("p/c-3", 3)];
    let v = s.commit_step(again).await.expect("commit");
    assert!(s.load_inbox("p").await.expect("inbox").is_empty());
    assert_eq!(
        s.load_workflow("p/c-3").await.expect("child").version,
        c.version
    );
    // A step that does not suspend starts nothing.
    let mut done = step(
        "p",
        v,
        StepOutcome::Finished {
            status: WorkflowStatus::Completed,
            snapshot: vec![9],
            output: vec![1],
        },
    );
    done.children = vec![child("p/late-5", 5)];
    s.commit_step(done).await.expect("finish");
    assert!(matches!(
        s.load_workflow("p/late-5").await,
        Err(StoreError::NotFound(_))
    ));
}

/// A child run keeps its parent link; a step's deliveries land with it, at its time, in runs
/// that can take them (never in finished or unknown ones), and not at all when it conflicts.
async fn children_and_deliveries<S: Store>(s: &S) {
    let link = ParentLink {
        id: "pa".into(),
        seq: 7,
    };
    let pa = s.create_workflow(new_workflow("pa")).await.expect("parent");
    let mut child = new_workflow("ch");
    child.parent = Some(link.clone());
    let ch = s.create_workflow(child.clone()).await.expect("child");
    assert_eq!(
        s.load_workflow("ch").await.expect("child").parent,
        Some(link.clone())
    );
    assert_eq!(s.load_workflow("pa").await.expect("parent").parent, None);
    match s.create_workflow(child).await {
        Err(StoreError::AlreadyExists(existing)) => {
            assert_eq!(
                existing.parent,
                Some(link.clone()),
                "the existing run names its parent"
            )
        }
        other => panic!("a second create of the child: {other:?}"),
    }
    // The parent waits; it has seen every event.
    s.commit_step(step("pa", pa, suspended(1, vec![], vec![])))
        .await
        .expect("parent waits");
    assert!(s.load_inbox("pa").await.expect("inbox").is_empty());
    let finished = |version: u64| {
        let mut fin = step(
            "ch",
            version,
            StepOutcome::Finished {
                status: WorkflowStatus::Completed,
                snapshot: vec![2],
                output: vec![9, 9],
            },
        );
        fin.deliver = vec![
            Delivery {
                to: "pa".into(),
                kind: EventKind::ChildFinished {
                    seq: 7,
                    result: Ok(vec![9, 9]),
                },
                child_call: None,
            },
            Delivery {
                to: "nobody".into(),
                kind: EventKind::TimerFired { seq: 1 },
                child_call: None,
            },
        ];
        fin
    };
    // A commit that conflicts delivers nothing.
    assert!(matches!(
        s.commit_step(finished(ch + 5)).await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(s.load_inbox("pa").await.expect("inbox").is_empty());
    s.commit_step(finished(ch)).await.expect("child ends");
    let inbox = s.load_inbox("pa").await.expect("inbox");
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0].at_ms, 200, "delivered at the step's time");
    assert_eq!(
        inbox[0].kind,
        EventKind::ChildFinished {
            seq: 7,
            result: Ok(vec![9, 9])
        }
    );
    let rec = s.load_workflow("pa").await.expect("parent");
    assert!(rec.ready, "the delivery makes the parent ready");
    assert!(
        s.ready_workflows(&["wf".to_string()], 10)
            .await
            .expect("ready")
            .contains(&"pa".to_string())
    );
    // Every kind of event round-trips, including to the run that commits (which stays
    // ready), and a cancelled call takes its child's answer with it.
    let errors = [
        ChildError::Cancelled { id: "c".into() },
        ChildError::Parked {
            id: "c".into(),
            reason: "bad".into(),
        },
        ChildError::NotRegistered {
            name: "w".into(),
            id: "c".into(),
        },
        ChildError::IdInUse { id: "c".into() },
        ChildError::NotStarted {
            id: "c".into(),
            reason: "big".into(),
        },
        ChildError::Abandoned { id: "c".into() },
        ChildError::TimedOut { id: "c".into() },
    ];
    let mut own = step("pa", rec.version, suspended(3, vec![], vec![]));
    own.seen_events_upto = inbox[0].id;
    own.consumed_events = vec![inbox[0].id];
    own.deliver = errors
        .iter()
        .enumerate()
        .map(|(i, e)| Delivery {
            to: "pa".into(),
            kind: EventKind::ChildFinished {
                seq: 20 + i as u64,
                result: Err(e.clone()),
            },
            child_call: None,
        })
        .chain([Delivery {
            to: "pa".into(),
            kind: EventKind::CancelRequested {
                reason: "enough".into(),
                grace_ms: 1500,
            },
            child_call: None,
        }])
        .collect();
    let version = s.commit_step(own).await.expect("own deliveries");
    let inbox = s.load_inbox("pa").await.expect("inbox");
    let kinds: Vec<EventKind> = inbox.iter().map(|e| e.kind.clone()).collect();
    let mut expected: Vec<EventKind> = errors
        .iter()
        .enumerate()
        .map(|(i, e)| EventKind::ChildFinished {
            seq: 20 + i as u64,
            result: Err(e.clone()),
        })
        .collect();
    expected.push(EventKind::CancelRequested {
        reason: "enough".into(),
        grace_ms: 1500,
    });
    assert_eq!(kinds, expected);
    assert!(s.load_workflow("pa").await.expect("parent").ready);
    let mut drop_one = step("pa", version, suspended(4, vec![], vec![]));
    drop_one.cancelled = vec![20];
    drop_one.seen_events_upto = inbox.last().map_or(0, |e| e.id);
    s.commit_step(drop_one).await.expect("cancel call 20");
    let left = s.load_inbox("pa").await.expect("inbox");
    assert_eq!(left.len(), expected.len() - 1, "{left:?}");
    assert!(
        !left
            .iter()
            .any(|e| matches!(e.kind, EventKind::ChildFinished { seq: 20, .. }))
    );
    // A finished run takes no delivery.
    let other = s
        .create_workflow(new_workflow("other"))
        .await
        .expect("other");
    let mut ping = step("other", other, suspended(1, vec![], vec![]));
    ping.deliver = vec![Delivery {
        to: "ch".into(),
        kind: EventKind::TimerFired { seq: 3 },
        child_call: None,
    }];
    s.commit_step(ping).await.expect("other steps");
    assert!(s.load_inbox("ch").await.expect("child inbox").is_empty());
}

/// A parent's close of a child ([`Delivery::child_call`]) goes to the run under the id only if
/// its link names the parent and that call: not to a run of no parent (one that held the id
/// when the call was refused), nor to a child of another call, nor to another parent's child.
async fn a_parents_close_reaches_its_own_child_alone<S: Store>(s: &S) {
    let child = |id: &str, parent: &str, seq: u64| NewWorkflow {
        parent: Some(ParentLink {
            id: parent.into(),
            seq,
        }),
        ..new_workflow(id)
    };
    let pa = s.create_workflow(new_workflow("pa")).await.expect("parent");
    for run in [
        new_workflow("stranger"),
        child("own", "pa", 3),
        child("other-call", "pa", 4),
        child("other-parent", "px", 3),
    ] {
        let id = run.id.clone();
        let v = s.create_workflow(run).await.expect("create");
        s.commit_step(step(&id, v, suspended(1, vec![], vec![])))
            .await
            .expect("waits");
    }
    let close = |to: &str| Delivery {
        to: to.into(),
        kind: EventKind::CancelRequested {
            reason: "its parent pa was stopped".into(),
            grace_ms: 0,
        },
        child_call: Some(3),
    };
    let mut stop = step("pa", pa, StepOutcome::Cancelled);
    stop.deliver = ["stranger", "own", "other-call", "other-parent"]
        .into_iter()
        .map(close)
        .collect();
    s.commit_step(stop).await.expect("the parent stops");
    for (id, told) in [
        ("own", true),
        ("stranger", false),
        ("other-call", false),
        ("other-parent", false),
    ] {
        let inbox = s.load_inbox(id).await.expect("inbox");
        let got = inbox
            .iter()
            .any(|e| matches!(e.kind, EventKind::CancelRequested { .. }));
        assert_eq!(got, told, "{id}: {inbox:?}");
        assert_eq!(s.load_workflow(id).await.expect("run").ready, told, "{id}");
    }
}

/// A child's end goes to its parent's call only: one for another run, or for another call of
/// its parent, is dropped. A parent purged leaves its children without a parent: a run created
/// under its id takes no end of theirs, and a create of a child under one of their ids finds it
/// taken by a run of no parent.
async fn a_purged_parents_children_are_not_the_next_runs<S: Store>(s: &S) {
    let link = ParentLink {
        id: "pb".into(),
        seq: 4,
    };
    let child_of_pb = |id: &str| NewWorkflow {
        parent: Some(link.clone()),
        ..new_workflow(id)
    };
    let ends = |id: &str, version: u64, to: &str, seq: u64| {
        let mut fin = step(
            id,
            version,
            StepOutcome::Finished {
                status: WorkflowStatus::Completed,
                snapshot: vec![2],
                output: vec![5],
            },
        );
        fin.deliver = vec![Delivery {
            to: to.into(),
            kind: EventKind::ChildFinished {
                seq,
                result: Ok(vec![5]),
            },
            child_call: None,
        }];
        fin
    };
    let pb = s.create_workflow(new_workflow("pb")).await.expect("parent");
    let bystander = s.create_workflow(new_workflow("by")).await.expect("other");
    let mut waiting = Vec::new();
    for (run, v) in [("pb", pb), ("by", bystander)] {
        waiting.push(
            s.commit_step(step(run, v, suspended(1, vec![], vec![])))
                .await
                .expect("waits"),
        );
    }
    // A child is created only while its parent is at the version its step was computed from.
    for stale in [waiting[0] - 1, waiting[0] + 1] {
        let early = NewWorkflow {
            parent_version: Some(stale),
            ..child_of_pb("c0")
        };
        match s.create_workflow(early).await {
            Err(StoreError::Conflict {
                workflow_id,
                expected,
            }) => assert_eq!((workflow_id.as_str(), expected), ("pb", stale)),
            other => panic!("a child of a parent at another version: {other:?}"),
        }
        assert!(matches!(
            s.load_workflow("c0").await,
            Err(StoreError::NotFound(_))
        ));
    }
    let at_version = NewWorkflow {
        parent_version: Some(waiting[0]),
        ..child_of_pb("c0")
    };
    s.create_workflow(at_version)
        .await
        .expect("child at its parent's version");
    // Not its parent, not its call: dropped (the step itself commits).
    let c1 = s.create_workflow(child_of_pb("c1")).await.expect("child");
    s.commit_step(ends("c1", c1, "by", 4))
        .await
        .expect("c1 ends");
    let c2 = s.create_workflow(child_of_pb("c2")).await.expect("child");
    s.commit_step(ends("c2", c2, "pb", 5))
        .await
        .expect("c2 ends");
    assert!(s.load_inbox("by").await.expect("inbox").is_empty());
    assert!(s.load_inbox("pb").await.expect("inbox").is_empty());
    // The parent stops and is purged while a child still runs: the child loses its link.
    let c3 = s.create_workflow(child_of_pb("c3")).await.expect("child");
    s.commit_step(step("pb", waiting[0], StepOutcome::Cancelled))
        .await
        .expect("parent stops");
    s.purge("pb").await.expect("purge");
    assert_eq!(s.load_workflow("c3").await.expect("child").parent, None);
    assert_eq!(s.load_workflow("c0").await.expect("child").parent, None);
    assert_eq!(s.load_workflow("c1").await.expect("child").parent, None);
    // The next run under the parent's id takes no end of the old run's child.
    let again = s
        .create_workflow(new_workflow("pb"))
        .await
        .expect("parent again");
    s.commit_step(step("pb", again, suspended(1, vec![], vec![])))
        .await
        .expect("waits");
    match s.create_workflow(child_of_pb("c3")).await {
        Err(StoreError::AlreadyExists(existing)) => assert_eq!(existing.parent, None),
        other => panic!("a create of the child again: {other:?}"),
    }
    // A step of the old run, computed before the purge, starts no child of the new run.
    let late = NewWorkflow {
        parent_version: Some(waiting[0]),
        ..child_of_pb("c5")
    };
    assert!(matches!(
        s.create_workflow(late).await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        s.load_workflow("c5").await,
        Err(StoreError::NotFound(_))
    ));
    s.commit_step(ends("c3", c3, "pb", 4))
        .await
        .expect("c3 ends");
    assert!(s.load_inbox("pb").await.expect("inbox").is_empty());
    assert!(!s.load_workflow("pb").await.expect("parent").ready);
    // A child of the new run is told as before.
    let c4 = s.create_workflow(child_of_pb("c4")).await.expect("child");
    s.commit_step(ends("c4", c4, "pb", 4))
        .await
        .expect("c4 ends");
    let inbox = s.load_inbox("pb").await.expect("inbox");
    assert_eq!(
        inbox.iter().map(|e| e.kind.clone()).collect::<Vec<_>>(),
        [EventKind::ChildFinished {
            seq: 4,
            result: Ok(vec![5])
        }]
    );
    // Retention by age clears the links of the runs it purges too.
    let pr = s.create_workflow(new_workflow("pr")).await.expect("parent");
    let cr = NewWorkflow {
        parent: Some(ParentLink {
            id: "pr".into(),
            seq: 1,
        }),
        ..new_workflow("cr")
    };
    s.create_workflow(cr).await.expect("child");
    s.commit_step(step("pr", pr, StepOutcome::Cancelled))
        .await
        .expect("parent stops");
    let purged = s.purge_finished(1_000, 100).await.expect("retention");
    assert!(purged.contains(&"pr".to_string()), "{purged:?}");
    assert_eq!(s.load_workflow("cr").await.expect("child").parent, None);
}

/// An event from outside (a cancel request) goes in with its history entry; a finished or
/// unknown run refuses it and nothing changes.
async fn outside_events<S: Store>(s: &S) {
    let v = s.create_workflow(new_workflow("r")).await.expect("create");
    s.commit_step(step("r", v, suspended(1, vec![], vec![])))
        .await
        .expect("waits");
    let kind = EventKind::CancelRequested {
        reason: "customer asked".into(),
        grace_ms: 60_000,
    };
    let entry = HistoryEntry::new(300, HistoryKind::CancelRequested, "cancel requested");
    let id = s
        .append_event("r", kind.clone(), 300, entry.clone())
        .await
        .expect("append");
    let inbox = s.load_inbox("r").await.expect("inbox");
    assert_eq!(
        inbox,
        vec![Event {
            id,
            at_ms: 300,
            kind: kind.clone()
        }]
    );
    assert!(s.load_workflow("r").await.expect("load").ready);
    assert_eq!(s.history("r").await.expect("history").last(), Some(&entry));
    assert!(matches!(
        s.append_event("missing", kind.clone(), 300, entry.clone())
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.append_signal("missing", "go", vec![1], None, 300).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        matches!(s.load_inbox("missing").await, Err(StoreError::NotFound(_))),
        "an event refused for want of a run leaves nothing behind"
    );
    let rec = s.load_workflow("r").await.expect("load");
    s.commit_step(step("r", rec.version, StepOutcome::Cancelled))
        .await
        .expect("cancel");
    let before = s.history("r").await.expect("history").len();
    assert!(matches!(
        s.append_event("r", kind, 400, entry).await,
        Err(StoreError::Finished { .. })
    ));
    assert!(matches!(
        s.append_signal("r", "go", vec![1], None, 400).await,
        Err(StoreError::Finished { .. })
    ));
    assert_eq!(s.history("r").await.expect("history").len(), before);
    assert_eq!(
        s.load_inbox("r").await.expect("inbox"),
        vec![],
        "an event refused by a finished run is not stored"
    );
}
