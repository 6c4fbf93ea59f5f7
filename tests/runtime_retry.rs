//! Retry policies: every field, on the virtual clock, observed in the store.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{builder, eventually, memory, within};
use workflow_rt::prelude::*;
use workflow_rt::store::Store;
use workflow_rt::{Clock, MemoryStore, VirtualClock, WorkflowStatus};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Plan {
    /// Attempts `1..=failures` fail.
    failures: u32,
    error_type: String,
    non_retryable: bool,
    panic: bool,
    policy: RetryPolicy,
}

impl Plan {
    fn new(failures: u32, policy: RetryPolicy) -> Self {
        Plan {
            failures,
            error_type: String::new(),
            non_retryable: false,
            panic: false,
            policy,
        }
    }
}

/// Every attempt, by workflow id: (attempt, idempotency key).
type Calls = HashMap<String, Vec<(u32, String)>>;
static CALLS: Mutex<Option<Calls>> = Mutex::new(None);

fn calls(id: &str) -> Vec<(u32, String)> {
    CALLS
        .lock()
        .unwrap()
        .as_ref()
        .and_then(|m| m.get(id).cloned())
        .unwrap_or_default()
}

#[activity]
async fn flaky(ctx: ActivityCtx, plan: Plan) -> Result<String, ActivityError> {
    CALLS
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .entry(ctx.workflow_id().to_string())
        .or_default()
        .push((ctx.attempt(), ctx.idempotency_key()));
    if ctx.attempt() <= plan.failures {
        if plan.panic {
            panic!("attempt {} blew up", ctx.attempt());
        }
        let e = if plan.non_retryable {
            ActivityError::non_retryable("refused")
        } else {
            ActivityError::retryable(format!("attempt {} failed", ctx.attempt()))
        };
        return Err(e.with_type(plan.error_type.clone()));
    }
    Ok(format!("ok at attempt {}", ctx.attempt()))
}

#[workflow]
async fn call_flaky(ctx: WorkflowCtx, plan: Plan) -> Result<String, ActivityError> {
    let policy: RetryPolicy = plan.policy.clone();
    ctx.activity(flaky, plan).retry(policy).await
}

/// Runs `plan` under `id`, moving the virtual clock to each retry's visible time as soon as
/// the runtime schedules it. Returns the delays it chose (ms) and the workflow's output.
async fn run(id: &str, plan: Plan) -> (Vec<u64>, Result<String, ActivityError>) {
    let (store, clock): (Arc<MemoryStore>, VirtualClock) = memory();
    let rt = builder(store.clone(), clock.clone())
        .workflow(call_flaky)
        .activity(flaky)
        .build()
        .await
        .expect("build");
    let handle = rt.start(call_flaky, id, plan).await.expect("start");
    let mut delays = Vec::new();
    for attempt in 1.. {
        // Attempt `attempt` has failed and its retry is scheduled, or the workflow is done.
        eventually(&format!("attempt {attempt} of {id}"), || async {
            let done =
                store.load_workflow(id).await.expect("load").status != WorkflowStatus::Running;
            let tasks = store.load_tasks(id).await.expect("tasks");
            done || tasks
                .first()
                .is_some_and(|t| t.attempt == attempt && t.lease_owner.is_none())
        })
        .await;
        let Some(task) = store
            .load_tasks(id)
            .await
            .expect("tasks")
            .into_iter()
            .next()
        else {
            break;
        };
        if store.load_workflow(id).await.expect("load").status != WorkflowStatus::Running {
            break;
        }
        delays.push(task.visible_at_ms - clock.now_ms());
        clock.set_ms(task.visible_at_ms);
    }
    let out = within("the result", handle.result()).await.expect("result");
    rt.shutdown().await;
    (delays, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backoff_starts_at_the_initial_interval_and_grows_to_the_maximum() {
    let policy = RetryPolicy {
        initial_interval: Duration::from_secs(1),
        backoff_coefficient: 2.0,
        maximum_interval: Some(Duration::from_secs(5)),
        maximum_attempts: 6,
        jitter: 0.0,
        non_retryable_errors: vec![],
    };
    let (delays, out) = run("backoff", Plan::new(100, policy)).await;
    assert_eq!(delays, vec![1000, 2000, 4000, 5000, 5000]);
    let e = out.expect_err("every attempt failed");
    assert_eq!(
        (e.kind, e.attempts),
        (ActivityErrorKind::Failed, 6),
        "maximum_attempts bounds the attempts"
    );
    assert_eq!(
        e.message, "attempt 6 failed",
        "the workflow sees the last attempt's error"
    );
    let calls = calls("backoff");
    assert_eq!(
        calls.iter().map(|c| c.0).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6]
    );
    assert!(
        calls.iter().all(|c| c.1 == "backoff:0"),
        "one idempotency key for every attempt: {calls:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_coefficient_scales_each_wait() {
    let policy = RetryPolicy::exponential(Duration::from_millis(100))
        .backoff(3.0)
        .jitter(0.0)
        .max_attempts(5);
    let (delays, out) = run("coefficient", Plan::new(3, policy)).await;
    assert_eq!(delays, vec![100, 300, 900]);
    assert_eq!(out, Ok("ok at attempt 4".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jitter_spreads_each_wait_within_its_fraction() {
    let policy = RetryPolicy::fixed(Duration::from_secs(1))
        .jitter(0.5)
        .max_attempts(9);
    let (delays, out) = run("jitter", Plan::new(8, policy)).await;
    assert_eq!(out, Ok("ok at attempt 9".to_string()));
    assert_eq!(delays.len(), 8);
    assert!(
        delays.iter().all(|d| (500..=1500).contains(d)),
        "within +-50% of 1 s: {delays:?}"
    );
    let mut distinct = delays.clone();
    distinct.sort();
    distinct.dedup();
    assert!(distinct.len() >= 4, "drawn at random: {delays:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlimited_attempts_go_on_until_success() {
    let policy = RetryPolicy::fixed(Duration::from_millis(10));
    assert_eq!(policy.maximum_attempts, 0);
    let (delays, out) = run("unlimited", Plan::new(7, policy)).await;
    assert_eq!((delays.len(), out), (7, Ok("ok at attempt 8".to_string())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listed_error_types_are_not_retried() {
    let policy = RetryPolicy::fixed(Duration::from_millis(10))
        .max_attempts(5)
        .non_retryable("Declined");
    let mut plan = Plan::new(100, policy.clone());
    plan.error_type = "Declined".into();
    let (delays, out) = run("declined", plan).await;
    let e = out.expect_err("declined");
    assert!(delays.is_empty());
    assert_eq!(
        (e.kind, e.error_type.as_str(), e.attempts),
        (ActivityErrorKind::Failed, "Declined", 1)
    );
    assert_eq!(calls("declined").len(), 1);
    // Another type is retried as usual.
    let mut plan = Plan::new(2, policy);
    plan.error_type = "Timeout".into();
    let (delays, out) = run("timeout-type", plan).await;
    assert_eq!(
        (delays, out),
        (vec![10, 10], Ok("ok at attempt 3".to_string()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_retryable_error_ends_the_call() {
    let mut plan = Plan::new(100, RetryPolicy::fixed(Duration::from_millis(10)));
    plan.non_retryable = true;
    let (delays, out) = run("non-retryable", plan).await;
    let e = out.expect_err("refused");
    assert!(delays.is_empty());
    assert_eq!(
        (e.kind, e.attempts, e.message.as_str()),
        (ActivityErrorKind::NonRetryable, 1, "refused")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_attempt_is_a_retryable_failure() {
    let mut plan = Plan::new(
        1,
        RetryPolicy::fixed(Duration::from_millis(10)).max_attempts(3),
    );
    plan.panic = true;
    let (delays, out) = run("panics", plan).await;
    assert_eq!((delays, out), (vec![10], Ok("ok at attempt 2".to_string())));
    let mut plan = Plan::new(5, RetryPolicy::none());
    plan.panic = true;
    let (_, out) = run("panics-once", plan).await;
    let e = out.expect_err("panicked");
    assert_eq!((e.kind, e.attempts), (ActivityErrorKind::Panicked, 1));
    assert!(e.message.contains("attempt 1 blew up"), "{}", e.message);
}
