//! Retry policies: every field, on the virtual clock, observed in the store.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{Mode, PerWorkflow, both_modes, builder, eventually, memory, within};
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
static CALLS: PerWorkflow<(u32, String)> = PerWorkflow::new();

fn calls(id: &str) -> Vec<(u32, String)> {
    CALLS.of(id)
}

#[activity]
async fn flaky(ctx: ActivityCtx, plan: Plan) -> Result<String, ActivityError> {
    CALLS.push(ctx.workflow_id(), (ctx.attempt(), ctx.idempotency_key()));
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

/// Runs `plan` in `mode` under `id` (made distinct per mode), moving the virtual clock to each
/// retry's visible time as soon as the runtime schedules it. Returns the delays it chose (ms),
/// the workflow's output, and each attempt with its idempotency key.
async fn run(mode: Mode, id: &str, plan: Plan) -> Outcome {
    let id = &mode.id(id);
    let (store, clock): (Arc<MemoryStore>, VirtualClock) = memory();
    let rt = builder(mode, store.clone(), clock.clone())
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
    let calls = calls(id)
        .into_iter()
        .map(|(attempt, key)| (attempt, key.replacen(id.as_str(), "", 1)))
        .collect();
    (delays, out, calls)
}

/// The retry delays (ms), the output, and each attempt with its idempotency key (the workflow
/// id taken out, so that both modes compare equal).
type Outcome = (Vec<u64>, Result<String, ActivityError>, Vec<(u32, String)>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backoff_starts_at_the_initial_interval_and_grows_to_the_maximum() {
    both_modes(async |mode| {
        let policy = RetryPolicy {
            initial_interval: Duration::from_secs(1),
            backoff_coefficient: 2.0,
            maximum_interval: Some(Duration::from_secs(5)),
            maximum_attempts: 6,
            jitter: 0.0,
            non_retryable_errors: vec![],
        };
        let outcome = run(mode, "backoff", Plan::new(100, policy)).await;
        let (delays, out, calls) = &outcome;
        assert_eq!(delays, &vec![1000, 2000, 4000, 5000, 5000]);
        let e = out.clone().expect_err("every attempt failed");
        assert_eq!(
            (e.kind, e.attempts),
            (ActivityErrorKind::Failed, 6),
            "maximum_attempts bounds the attempts"
        );
        assert_eq!(
            e.message, "attempt 6 failed",
            "the workflow sees the last attempt's error"
        );
        assert_eq!(
            calls.iter().map(|c| c.0).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5, 6]
        );
        assert!(
            calls.iter().all(|c| c.1 == ":0"),
            "one idempotency key (the workflow id, then :0) for every attempt: {calls:?}"
        );
        outcome
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_coefficient_scales_each_wait() {
    both_modes(async |mode| {
        let policy = RetryPolicy::exponential(Duration::from_millis(100))
            .backoff(3.0)
            .jitter(0.0)
            .max_attempts(5);
        let outcome = run(mode, "coefficient", Plan::new(3, policy)).await;
        assert_eq!(outcome.0, vec![100, 300, 900]);
        assert_eq!(outcome.1, Ok("ok at attempt 4".to_string()));
        outcome
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jitter_spreads_each_wait_within_its_fraction() {
    // The same seed in both modes: the same draws, so the same delays.
    both_modes(async |mode| {
        let policy = RetryPolicy::fixed(Duration::from_secs(1))
            .jitter(0.5)
            .max_attempts(9);
        let outcome = run(mode, "jitter", Plan::new(8, policy)).await;
        let (delays, out, _) = &outcome;
        assert_eq!(out, &Ok("ok at attempt 9".to_string()));
        assert_eq!(delays.len(), 8);
        assert!(
            delays.iter().all(|d| (500..=1500).contains(d)),
            "within +-50% of 1 s: {delays:?}"
        );
        let mut distinct = delays.clone();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() >= 4, "drawn at random: {delays:?}");
        outcome
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlimited_attempts_go_on_until_success() {
    both_modes(async |mode| {
        let policy = RetryPolicy::fixed(Duration::from_millis(10));
        assert_eq!(policy.maximum_attempts, 0);
        let outcome = run(mode, "unlimited", Plan::new(7, policy)).await;
        assert_eq!(
            (outcome.0.len(), &outcome.1),
            (7, &Ok("ok at attempt 8".to_string()))
        );
        outcome
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listed_error_types_are_not_retried() {
    both_modes(async |mode| {
        let policy = RetryPolicy::fixed(Duration::from_millis(10))
            .max_attempts(5)
            .non_retryable("Declined");
        let mut plan = Plan::new(100, policy.clone());
        plan.error_type = "Declined".into();
        let declined = run(mode, "declined", plan).await;
        let e = declined.1.clone().expect_err("declined");
        assert!(declined.0.is_empty());
        assert_eq!(
            (e.kind, e.error_type.as_str(), e.attempts),
            (ActivityErrorKind::Failed, "Declined", 1)
        );
        assert_eq!(declined.2.len(), 1);
        // Another type is retried as usual.
        let mut plan = Plan::new(2, policy);
        plan.error_type = "Timeout".into();
        let retried = run(mode, "timeout-type", plan).await;
        assert_eq!(
            (&retried.0, &retried.1),
            (&vec![10, 10], &Ok("ok at attempt 3".to_string()))
        );
        (declined, retried)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_retryable_error_ends_the_call() {
    both_modes(async |mode| {
        let mut plan = Plan::new(100, RetryPolicy::fixed(Duration::from_millis(10)));
        plan.non_retryable = true;
        let outcome = run(mode, "non-retryable", plan).await;
        let e = outcome.1.clone().expect_err("refused");
        assert!(outcome.0.is_empty());
        assert_eq!(
            (e.kind, e.attempts, e.message.as_str()),
            (ActivityErrorKind::NonRetryable, 1, "refused")
        );
        outcome
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_attempt_is_a_retryable_failure() {
    both_modes(async |mode| {
        let mut plan = Plan::new(
            1,
            RetryPolicy::fixed(Duration::from_millis(10)).max_attempts(3),
        );
        plan.panic = true;
        let retried = run(mode, "panics", plan).await;
        assert_eq!(
            (&retried.0, &retried.1),
            (&vec![10], &Ok("ok at attempt 2".to_string()))
        );
        let mut plan = Plan::new(5, RetryPolicy::none());
        plan.panic = true;
        let once = run(mode, "panics-once", plan).await;
        let e = once.1.clone().expect_err("panicked");
        assert_eq!((e.kind, e.attempts), (ActivityErrorKind::Panicked, 1));
        assert!(e.message.contains("attempt 1 blew up"), "{}", e.message);
        (retried, once)
    })
    .await;
}
