//! Activity timeouts (start-to-close, schedule-to-close, heartbeat), heartbeat details handed
//! to the next attempt, and leases of a worker that died, on the virtual clock.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{Mode, PerWorkflow, T0, both_modes, builder, eventually, memory, within};
use workflow_rt::prelude::*;
use workflow_rt::store::{HistoryKind, Store};
use workflow_rt::{ActivityOptions, Clock, MemoryStore, VirtualClock, WorkflowStatus};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Plan {
    /// Attempts `1..=hang` never finish on their own.
    hang: u32,
    /// Heartbeats to send (each after a poke from the test) before finishing.
    beats: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Call {
    plan: Plan,
    options: ActivityOptions,
}

/// Per workflow: (attempt, heartbeat details it started from).
static SEEN: PerWorkflow<(u32, Option<u64>)> = PerWorkflow::new();
static POKE: tokio::sync::Notify = tokio::sync::Notify::const_new();
/// Heartbeats sent after a poke, so the test moves the clock only once each is in.
static BEATS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn seen(id: &str) -> Vec<(u32, Option<u64>)> {
    SEEN.of(id)
}

#[activity]
async fn work(ctx: ActivityCtx, plan: Plan) -> Result<String, ActivityError> {
    let from: Option<u64> = ctx.heartbeat_details();
    let mut progress = from.unwrap_or(0);
    progress += 5;
    ctx.heartbeat(&progress);
    // Once the heartbeat is given: a test that sees the attempt sees its heartbeat.
    SEEN.push(ctx.workflow_id(), (ctx.attempt(), from));
    for _ in 0..plan.beats {
        POKE.notified().await;
        progress += 1;
        ctx.heartbeat(&progress);
        BEATS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    if ctx.attempt() <= plan.hang {
        std::future::pending::<()>().await;
    }
    Ok(format!("attempt {} done at {progress}", ctx.attempt()))
}

#[workflow]
async fn timed(ctx: WorkflowCtx, call: Call) -> Result<String, ActivityError> {
    let options: ActivityOptions = call.options.clone();
    ctx.activity(work, call.plan).options(options).await
}

/// Sleeps `ms` of real time: an attempt that awaits, unlike `work`'s first poll.
#[activity]
async fn brief(_ctx: ActivityCtx, ms: u64) -> Result<u64, ActivityError> {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(ms)
}

/// Every limit zero: none, as in Temporal.
#[workflow]
async fn zero_limits(ctx: WorkflowCtx, ms: u64) -> Result<u64, ActivityError> {
    ctx.activity(brief, ms)
        .start_to_close(Duration::ZERO)
        .schedule_to_close(Duration::ZERO)
        .heartbeat_timeout(Duration::ZERO)
        .await
}

/// A saga whose compensation has every limit zero: run to its end, as a call's.
#[workflow]
async fn zero_limit_compensation(ctx: WorkflowCtx, ms: u64) -> Result<bool, WorkflowError> {
    let mut saga = Saga::new();
    saga.add_with(
        brief,
        ms,
        ActivityOptions {
            start_to_close: Some(Duration::ZERO),
            heartbeat_timeout: Some(Duration::ZERO),
            schedule_to_close: Some(Duration::ZERO),
            ..ActivityOptions::default()
        },
    );
    let report = saga.compensate(&ctx).await?;
    Ok(report.all_succeeded())
}

fn options(f: impl FnOnce(&mut ActivityOptions)) -> ActivityOptions {
    let mut o = ActivityOptions {
        retry: RetryPolicy::fixed(Duration::from_secs(1)),
        ..ActivityOptions::default()
    };
    f(&mut o);
    o
}

struct Setup {
    store: Arc<MemoryStore>,
    clock: VirtualClock,
    rt: Runtime,
}

async fn setup(mode: Mode) -> Setup {
    let (store, clock) = memory();
    let rt = builder(mode, store.clone(), clock.clone())
        .workflow(timed)
        .activity(work)
        // These tests move the clock up to 10 s at once, past the default lease (4 s, renewed
        // every third of it): the lease would lapse at the jump, and the worker's poller could
        // lease the task again (a next attempt) before its renewal ran. Leases lapse in the
        // tests of their own below, with `worker`.
        .lease_duration(Duration::from_secs(3_600))
        .build()
        .await
        .expect("build");
    Setup { store, clock, rt }
}

impl Setup {
    /// Waits until attempt `n` of the call is running (leased, started).
    async fn running(&self, id: &str, n: u32) {
        eventually(&format!("attempt {n} of {id} runs"), || async {
            seen(id).len() == n as usize
                && self
                    .store
                    .load_tasks(id)
                    .await
                    .expect("tasks")
                    .first()
                    .is_some_and(|t| t.lease_owner.is_some())
        })
        .await;
    }

    /// Waits until attempt `n` failed and the retry is scheduled; returns its visible time.
    async fn retried(&self, id: &str, n: u32) -> u64 {
        eventually(&format!("attempt {n} of {id} is retried"), || async {
            let t = self.store.load_tasks(id).await.expect("tasks");
            t.first()
                .is_some_and(|t| t.attempt == n && t.lease_owner.is_none())
        })
        .await;
        self.store.load_tasks(id).await.expect("tasks")[0].visible_at_ms
    }

    async fn retry_reasons(&self, id: &str) -> Vec<String> {
        let h = self.store.history(id).await.expect("history");
        h.into_iter()
            .filter(|e| e.kind == HistoryKind::Retry)
            .map(|e| e.detail)
            .collect()
    }
}

/// A zero limit is no limit: the call runs its one attempt to its end (it ended before any
/// attempt with `ScheduleToCloseTimeout`, and a zero start-to-close or heartbeat timeout
/// failed every attempt that awaited, retried for ever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_limit_is_no_limit() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock)
            .workflow(zero_limits)
            .workflow(zero_limit_compensation)
            .activity(brief)
            .build()
            .await
            .expect("build");
        let run = rt
            .start(zero_limits, &mode.id("zero"), 20)
            .await
            .expect("start");
        let out = within("result", run.result()).await.expect("result");
        assert_eq!(out, Ok(20));
        let history = store.history(&mode.id("zero")).await.expect("history");
        assert!(
            !history.iter().any(|e| e.kind == HistoryKind::Retry),
            "one attempt: {history:?}"
        );
        let saga = rt
            .start(zero_limit_compensation, &mode.id("zero-saga"), 20)
            .await
            .expect("start");
        let undone = within("the compensation", saga.result())
            .await
            .expect("result");
        assert_eq!(undone, Ok(true));
        rt.shutdown().await;
        out
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_to_close_bounds_each_attempt() {
    both_modes(async |mode| {
        let id = &mode.id("stc");
        let s = setup(mode).await;
        let o = options(|o| o.start_to_close = Some(Duration::from_secs(10)));
        let run =
            s.rt.start(
                timed,
                id,
                Call {
                    plan: Plan { hang: 1, beats: 0 },
                    options: o,
                },
            )
            .await
            .expect("start");
        s.running(id, 1).await;
        s.clock.advance(Duration::from_millis(9_999));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            s.store.load_tasks(id).await.expect("tasks")[0].attempt,
            1,
            "not before the timeout"
        );
        assert!(
            s.store.load_tasks(id).await.expect("tasks")[0]
                .lease_owner
                .is_some()
        );
        s.clock.advance(Duration::from_millis(1));
        let visible = s.retried(id, 1).await;
        assert_eq!(
            visible,
            T0 + 10_000 + 1_000,
            "timed out at 10 s, retried 1 s later"
        );
        s.clock.set_ms(visible);
        // Attempt 1 heartbeated 5 before it hung: attempt 2 starts from there.
        let out = within("result", run.result()).await.expect("result");
        assert_eq!(out, Ok("attempt 2 done at 10".to_string()));
        let reasons = s.retry_reasons(id).await;
        assert!(
            reasons.len() == 1 && reasons[0].contains("start-to-close"),
            "{reasons:?}"
        );
        (out, reasons)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_timeout_reaches_the_workflow() {
    both_modes(async |mode| {
        let id = &mode.id("stc-all");
        let s = setup(mode).await;
        let o = options(|o| {
            o.start_to_close = Some(Duration::from_secs(3));
            o.retry = RetryPolicy::fixed(Duration::from_secs(1)).max_attempts(2);
        });
        let run =
            s.rt.start(
                timed,
                id,
                Call {
                    plan: Plan { hang: 99, beats: 0 },
                    options: o,
                },
            )
            .await
            .expect("start");
        s.running(id, 1).await;
        s.clock.advance(Duration::from_secs(3));
        let visible = s.retried(id, 1).await;
        s.clock.set_ms(visible);
        s.running(id, 2).await;
        s.clock.advance(Duration::from_secs(3));
        let e = within("result", run.result())
            .await
            .expect("result")
            .expect_err("timed out");
        assert_eq!(
            (e.kind, e.attempts),
            (ActivityErrorKind::StartToCloseTimeout, 2)
        );
        e
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_to_close_bounds_the_whole_call() {
    both_modes(async |mode| {
        let id = &mode.id("s2c");
        let s = setup(mode).await;
        let o = options(|o| {
            o.start_to_close = Some(Duration::from_secs(2));
            o.schedule_to_close = Some(Duration::from_secs(5));
        });
        assert_eq!(
            o.retry.maximum_attempts, 0,
            "unlimited attempts: only the deadline stops them"
        );
        let run =
            s.rt.start(
                timed,
                id,
                Call {
                    plan: Plan { hang: 99, beats: 0 },
                    options: o,
                },
            )
            .await
            .expect("start");
        s.running(id, 1).await;
        s.clock.advance(Duration::from_secs(2));
        let visible = s.retried(id, 1).await;
        assert_eq!(visible, T0 + 3_000);
        s.clock.set_ms(visible);
        s.running(id, 2).await;
        // Attempt 2 may run 2 s, to T0 + 5 s: the call's deadline.
        s.clock.advance(Duration::from_secs(2));
        let e = within("result", run.result())
            .await
            .expect("result")
            .expect_err("out of time");
        assert_eq!(
            (e.kind, e.attempts),
            (ActivityErrorKind::ScheduleToCloseTimeout, 2)
        );
        assert_eq!(s.clock.now_ms(), T0 + 5_000);
        e
    })
    .await;
}

#[activity]
async fn elsewhere(_ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    Ok(x)
}

/// Calls `elsewhere` with a deadline of ten seconds, then waits for a signal: returns the
/// call's result, or the kind of its error.
#[workflow]
async fn bounded(ctx: WorkflowCtx, x: u64) -> Result<u64, String> {
    let r = ctx
        .activity(elsewhere, x)
        .schedule_to_close(Duration::from_secs(10))
        .await;
    let _go: bool = ctx.signal("go").await;
    r.map_err(|e| format!("{:?}", e.kind))
}

/// A call with a schedule-to-close deadline that no worker runs (the activity's workers are
/// down, or every one is busy) ends with its timeout all the same, as a Temporal user expects:
/// the store's timer of the deadline ends it, a second after. A call that ends in time takes
/// its deadline's timer with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_to_close_ends_a_call_that_no_worker_runs() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(bounded)
            .allow_missing_activities()
            .build()
            .await
            .expect("build");
        let run = rt.start(bounded, "alone", 7).await.expect("start");
        eventually("the call is scheduled", || async {
            store.load_tasks("alone").await.is_ok_and(|t| t.len() == 1)
        })
        .await;
        clock.advance(Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(store.load_tasks("alone").await.expect("tasks").len(), 1);
        clock.advance(Duration::from_secs(1));
        eventually("the call ended", || async {
            store.load_tasks("alone").await.is_ok_and(|t| t.is_empty())
        })
        .await;
        assert!(store.load_timers("alone").await.expect("timers").is_empty());
        rt.signal("alone", "go", true).await.expect("signal");
        let out = within("result", run.result()).await.expect("result");
        assert_eq!(out, Err("ScheduleToCloseTimeout".to_string()));
        rt.shutdown().await;

        // With the activity: it ends in time, and its deadline's timer goes with it.
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(bounded)
            .activity(elsewhere)
            .build()
            .await
            .expect("build");
        let run = rt.start(bounded, "served", 8).await.expect("start");
        eventually("the call ended", || async {
            store.load_tasks("served").await.is_ok_and(|t| t.is_empty())
                && rt.state("served").await.is_ok_and(|s| s.step >= 2)
        })
        .await;
        assert!(
            store
                .load_timers("served")
                .await
                .expect("timers")
                .is_empty()
        );
        rt.signal("served", "go", true).await.expect("signal");
        let done = within("result", run.result()).await.expect("result");
        assert_eq!(done, Ok(8));
        rt.shutdown().await;
        (out, done)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_attempt_fails_and_the_next_resumes_from_its_heartbeat() {
    both_modes(async |mode| {
        let id = &mode.id("hb");
        let s = setup(mode).await;
        let o = options(|o| o.heartbeat_timeout = Some(Duration::from_secs(2)));
        let run =
            s.rt.start(
                timed,
                id,
                Call {
                    plan: Plan { hang: 1, beats: 0 },
                    options: o,
                },
            )
            .await
            .expect("start");
        s.running(id, 1).await;
        s.clock.advance(Duration::from_millis(2_000));
        let visible = s.retried(id, 1).await;
        let task = &s.store.load_tasks(id).await.expect("tasks")[0];
        assert!(
            task.heartbeat_details.is_some(),
            "the last heartbeat is kept with the task"
        );
        s.clock.set_ms(visible);
        let out = within("result", run.result()).await.expect("result");
        assert_eq!(out, Ok("attempt 2 done at 10".to_string()));
        assert_eq!(
            seen(id),
            vec![(1, None), (2, Some(5))],
            "attempt 2 started from attempt 1's heartbeat"
        );
        let reasons = s.retry_reasons(id).await;
        assert!(reasons[0].contains("heartbeat"), "{reasons:?}");
        (out, seen(id), reasons)
    })
    .await;
}

/// The heartbeat an attempt gave since the lease loop's last renewal is stored when the
/// runtime stops, and the attempt that takes over on the next runtime starts from it (the
/// lease loop here renews every twenty minutes: it was lost, and the next attempt started
/// from nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_attempt_hands_its_last_heartbeat_over() {
    both_modes(async |mode| {
        let id = &mode.id("stopped-beat");
        let s = setup(mode).await;
        let plan = Plan { hang: 1, beats: 0 };
        let call = Call {
            plan,
            options: options(|_| {}),
        };
        s.rt.start(timed, id, call).await.expect("start");
        s.running(id, 1).await;
        s.rt.shutdown().await;
        let task = &s.store.load_tasks(id).await.expect("tasks")[0];
        assert!(task.lease_owner.is_none(), "released");
        assert!(
            task.heartbeat_details.is_some(),
            "the last heartbeat is stored"
        );

        let rt = builder(mode, s.store.clone(), s.clock.clone())
            .workflow(timed)
            .activity(work)
            .lease_duration(Duration::from_secs(3_600))
            .build()
            .await
            .expect("build");
        eventually("the call runs again", || async { seen(id).len() == 2 }).await;
        // Not counted: stopped, not failed.
        assert_eq!(seen(id), vec![(1, None), (1, Some(5))]);
        rt.shutdown().await;
        seen(id)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_keep_a_long_attempt_alive() {
    both_modes(async |mode| {
        let id = &mode.id("beating");
        let s = setup(mode).await;
        let o = options(|o| o.heartbeat_timeout = Some(Duration::from_secs(2)));
        let run =
            s.rt.start(
                timed,
                id,
                Call {
                    plan: Plan { hang: 0, beats: 4 },
                    options: o,
                },
            )
            .await
            .expect("start");
        s.running(id, 1).await;
        let beats = BEATS.load(std::sync::atomic::Ordering::SeqCst);
        for beat in 1..=4 {
            // 1.5 s between heartbeats: 6 s in all, three times the timeout.
            s.clock.advance(Duration::from_millis(1_500));
            POKE.notify_one();
            eventually("the heartbeat", || async {
                BEATS.load(std::sync::atomic::Ordering::SeqCst) == beats + beat
            })
            .await;
        }
        let out = within("result", run.result()).await.expect("result");
        assert_eq!(out, Ok("attempt 1 done at 9".to_string()));
        assert_eq!(seen(id).len(), 1);
        out
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_task_runs_again_once_its_lease_expires() {
    both_modes(async |mode| {
        let id = &mode.id("lost");
        let (store, clock) = memory();
        let o = options(|o| o.retry = RetryPolicy::fixed(Duration::from_secs(1)).max_attempts(3));
        {
            let first = worker(mode, &store, &clock, "first", Some(Duration::from_secs(60))).await;
            first
                .start(
                    timed,
                    id,
                    Call {
                        plan: Plan { hang: 1, beats: 0 },
                        options: o,
                    },
                )
                .await
                .expect("start");
            eventually("attempt 1 runs", || async { seen(id).len() == 1 }).await;
            // Dropped without shutdown: like a crash, its lease stays.
        }
        let second = worker(mode, &store, &clock, "second", None).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
        let t = &store.load_tasks(id).await.expect("tasks")[0];
        assert_eq!(
            (t.attempt, t.lease_owner.as_deref()),
            (1, Some("first")),
            "a live lease is respected"
        );
        clock.advance(Duration::from_secs(60));
        let out = within("result", second.handle(timed, id).result())
            .await
            .expect("result");
        assert_eq!(out, Ok("attempt 2 done at 5".to_string()));
        assert_eq!(
            store.load_workflow(id).await.expect("load").status,
            WorkflowStatus::Completed
        );
        second.shutdown().await;
        out
    })
    .await;
}

/// A runtime of `timed` and `work` named `id` on `store`, with leases of `lease` (the
/// default if `None`).
async fn worker(
    mode: Mode,
    store: &Arc<MemoryStore>,
    clock: &VirtualClock,
    id: &str,
    lease: Option<Duration>,
) -> Runtime {
    let b = builder(mode, store.clone(), clock.clone())
        .workflow(timed)
        .activity(work)
        .worker_id(id);
    match lease {
        Some(d) => b.lease_duration(d),
        None => b,
    }
    .build()
    .await
    .expect("build")
}

/// Starts `timed` as `id` with `options` on a worker "first" (leases of a minute) whose
/// attempt 1 hangs, drops that worker without a shutdown once the attempt runs (a crash: its
/// lease stays), and returns a second worker, "second", on the same store.
async fn after_a_worker_died(
    mode: Mode,
    store: &Arc<MemoryStore>,
    clock: &VirtualClock,
    id: &str,
    options: ActivityOptions,
) -> Runtime {
    {
        let first = worker(mode, store, clock, "first", Some(Duration::from_secs(60))).await;
        let call = Call {
            plan: Plan { hang: 1, beats: 0 },
            options,
        };
        first.start(timed, id, call).await.expect("start");
        eventually("attempt 1 runs", || async { seen(id).len() == 1 }).await;
    }
    worker(mode, store, clock, "second", None).await
}

/// The history entries of `id` of this kind.
async fn entries(store: &MemoryStore, id: &str, kind: HistoryKind) -> Vec<String> {
    store
        .history(id)
        .await
        .expect("history")
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.detail)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_attempt_is_in_the_history_and_the_last_one_lost_ends_as_lost() {
    both_modes(async |mode| {
        let id = &mode.id("all-lost");
        let (store, clock) = memory();
        // One attempt allowed, and it hangs; its worker dies.
        let o = options(|o| o.retry = RetryPolicy::fixed(Duration::from_secs(1)).max_attempts(1));
        let second = after_a_worker_died(mode, &store, &clock, id, o).await;
        clock.advance(Duration::from_secs(60));
        let out = within("result", second.handle(timed, id).result())
            .await
            .expect("result");
        let e = out.clone().expect_err("every attempt was lost");
        assert_eq!(
            (e.kind, e.attempts),
            (ActivityErrorKind::Lost, 1),
            "not a timeout that was never set: {e}"
        );
        assert_eq!(seen(id).len(), 1, "the lost attempt was the last allowed");
        let lost = entries(&store, id, HistoryKind::AttemptLost).await;
        assert_eq!(lost.len(), 1, "{lost:?}");
        assert!(
            lost[0].contains("attempt 1 was lost") && lost[0].contains("first"),
            "{lost:?}"
        );
        second.shutdown().await;
        (out.map_err(|e| e.kind), lost)
    })
    .await;
}

/// A call that its deadline's timer ends counts the attempts started on it: here one, whose
/// worker died with the attempt running and its lease live past the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_ended_by_its_deadline_counts_its_attempts() {
    both_modes(async |mode| {
        let id = &mode.id("deadline-count");
        let (store, clock) = memory();
        let o = options(|o| o.schedule_to_close = Some(Duration::from_secs(10)));
        let second = after_a_worker_died(mode, &store, &clock, id, o).await;
        clock.advance(Duration::from_secs(11));
        let out = within("result", second.handle(timed, id).result())
            .await
            .expect("result");
        let e = out.clone().expect_err("the deadline passed");
        assert_eq!(
            (e.kind, e.attempts),
            (ActivityErrorKind::ScheduleToCloseTimeout, 1),
            "{e}"
        );
        assert_eq!(seen(id).len(), 1, "the lease was live at the deadline");
        second.shutdown().await;
        out.map_err(|e| (e.kind, e.attempts))
    })
    .await;
}

/// A call first leased after its deadline passed (no worker had the activity until then) is
/// refused before it runs, and counts no attempt (it counted the refused one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_leased_past_its_deadline_counts_no_attempt() {
    both_modes(async |mode| {
        let id = &mode.id("deadline-before-start");
        let (store, clock) = memory();
        let o = options(|o| o.schedule_to_close = Some(Duration::from_secs(10)));
        let waiting = builder(mode, store.clone(), clock.clone())
            .workflow(timed)
            .allow_missing_activities()
            .build()
            .await
            .expect("build");
        let call = Call {
            plan: Plan { hang: 0, beats: 0 },
            options: o,
        };
        waiting.start(timed, id, call).await.expect("start");
        eventually("the call is scheduled", || async {
            store.load_tasks(id).await.is_ok_and(|t| t.len() == 1)
        })
        .await;
        clock.advance(Duration::from_secs(10));
        let serving = worker(mode, &store, &clock, "serving", None).await;
        let out = within("result", serving.handle(timed, id).result())
            .await
            .expect("result");
        let e = out.clone().expect_err("the deadline passed");
        assert_eq!(
            (e.kind, e.attempts),
            (ActivityErrorKind::ScheduleToCloseTimeout, 0),
            "{e}"
        );
        assert!(seen(id).is_empty(), "no attempt ran");
        serving.shutdown().await;
        waiting.shutdown().await;
        out.map_err(|e| (e.kind, e.attempts))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_stopped_by_a_shutdown_does_not_count() {
    both_modes(async |mode| {
        let id = &mode.id("shut-down");
        let (store, clock) = memory();
        // One attempt allowed; it waits for a poke that comes only after the shutdown.
        let o = options(|o| o.retry = RetryPolicy::fixed(Duration::from_secs(1)).max_attempts(1));
        let first = worker(mode, &store, &clock, "first", None).await;
        let call = Call {
            plan: Plan { hang: 0, beats: 1 },
            options: o,
        };
        first.start(timed, id, call).await.expect("start");
        eventually("attempt 1 runs", || async { seen(id).len() == 1 }).await;
        first.shutdown().await;
        let t = &store.load_tasks(id).await.expect("tasks")[0];
        assert_eq!(
            (t.attempt, t.lease_owner.as_deref()),
            (0, None),
            "released, and not counted"
        );
        let second = worker(mode, &store, &clock, "second", None).await;
        eventually("attempt 1 runs again", || async { seen(id).len() == 2 }).await;
        let beats = BEATS.load(std::sync::atomic::Ordering::SeqCst);
        POKE.notify_one();
        eventually("the heartbeat", || async {
            BEATS.load(std::sync::atomic::Ordering::SeqCst) > beats
        })
        .await;
        let out = within("result", second.handle(timed, id).result())
            .await
            .expect("result");
        // From the stopped attempt's heartbeat (5), stored as the runtime stopped.
        assert_eq!(out, Ok("attempt 1 done at 11".to_string()));
        assert_eq!(
            seen(id),
            vec![(1, None), (1, Some(5))],
            "the stopped attempt is run again under its own number, from its heartbeat"
        );
        let lost = entries(&store, id, HistoryKind::AttemptLost).await;
        assert_eq!(lost.len(), 1, "{lost:?}");
        assert!(
            lost[0].contains("shut down") && lost[0].contains("does not count"),
            "{lost:?}"
        );
        second.shutdown().await;
        (out, lost)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_result_of_an_attempt_that_lost_its_lease_is_refused() {
    use workflow_rt::store::{CompleteActivity, LeaseRequest, TaskAttempt};
    both_modes(async |mode| {
        let id = &mode.id("fenced");
        let s = setup(mode).await;
        let o = options(|o| o.retry = RetryPolicy::fixed(Duration::from_secs(1)).max_attempts(3));
        let call = Call {
            plan: Plan { hang: 0, beats: 1 },
            options: o,
        };
        let run = s.rt.start(timed, id, call).await.expect("start");
        s.running(id, 1).await;
        // Another worker takes the call over, as if this one's lease had expired.
        let task = s.store.load_tasks(id).await.expect("tasks").remove(0);
        let far = T0 + 86_400_000;
        let stolen = s
            .store
            .lease_tasks(LeaseRequest {
                owner: "thief".into(),
                names: vec![task.name.clone()],
                now_ms: far,
                lease_until_ms: far + 60_000,
                limit: 10,
            })
            .await
            .expect("lease");
        assert_eq!(
            stolen.iter().map(|t| t.attempt).collect::<Vec<_>>(),
            vec![2]
        );
        // This worker's attempt 1 finishes now: its result must not count.
        let beats = BEATS.load(std::sync::atomic::Ordering::SeqCst);
        POKE.notify_one();
        eventually("attempt 1 finishes", || async {
            BEATS.load(std::sync::atomic::Ordering::SeqCst) > beats
        })
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            s.store.load_workflow(id).await.expect("load").status,
            WorkflowStatus::Running,
            "the workflow did not take the refused result"
        );
        let t = &s.store.load_tasks(id).await.expect("tasks")[0];
        assert_eq!((t.attempt, t.lease_owner.as_deref()), (2, Some("thief")));
        // The attempt holding the lease answers the call.
        let done = CompleteActivity {
            workflow_id: id.clone(),
            attempt: TaskAttempt {
                seq: task.seq,
                scheduled_version: task.scheduled_version,
                attempt: 2,
                owner: "thief".into(),
            },
            result: Ok(postcard::to_stdvec(&"from the thief".to_string()).expect("encode")),
            at_ms: far,
        };
        assert!(s.store.complete_activity(done).await.expect("complete"));
        let out = within("result", run.result()).await.expect("result");
        assert_eq!(out, Ok("from the thief".to_string()));
        s.rt.shutdown().await;
        out
    })
    .await;
}

/// Calls of `gated` started, per workflow: the attempt numbers.
static GATED: PerWorkflow<u32> = PerWorkflow::new();
/// Lets a running `gated` attempt finish.
static GATE: tokio::sync::Notify = tokio::sync::Notify::const_new();

fn gated_starts(id: &str) -> Vec<u32> {
    GATED.of(id)
}

#[activity]
async fn gated(ctx: ActivityCtx, _nothing: ()) -> Result<String, ActivityError> {
    GATED.push(ctx.workflow_id(), ctx.attempt());
    GATE.notified().await;
    Ok(format!("attempt {} done", ctx.attempt()))
}

#[workflow]
async fn gated_call(ctx: WorkflowCtx, _nothing: ()) -> Result<String, ActivityError> {
    ctx.activity(gated, ()).await
}

/// A worker whose lease renewals fail (its store stalls them) while its attempt runs: the lease
/// lapses, and the same worker leases the task again. The attempt that runs goes on as the
/// new one: no second attempt starts, and its result is taken when it ends (before, the store
/// refused it as a lost attempt's, and the call waited for the new lease to lapse too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_whose_worker_leases_it_again_goes_on_and_its_result_counts() {
    use workflow_rt::testing::{Faults, FaultyStore};
    both_modes(async |mode| {
        let id = &mode.id("relet");
        let (store, clock) = memory();
        let faults = Faults {
            fail_before: 0.0,
            fail_after: 0.0,
            delay: 0.0,
            stale: 0.0,
            drop_wakeups: false,
            lost_renewals: 1.0,
            ..Faults::default()
        };
        let faulty = Arc::new(FaultyStore::new(store.clone(), 7, faults));
        let rt = builder(mode, faulty, clock.clone())
            .workflow(gated_call)
            .activity(gated)
            .lease_duration(Duration::from_secs(60))
            .build()
            .await
            .expect("build");
        rt.start(gated_call, id, ()).await.expect("start");
        eventually("attempt 1 runs", || async { gated_starts(id) == [1] }).await;
        // No renewal goes through: the lease lapses, and the task loop leases the task again.
        clock.advance(Duration::from_secs(61));
        eventually("the task is leased again, by the same worker", || async {
            store
                .load_tasks(id)
                .await
                .expect("tasks")
                .first()
                .is_some_and(|t| t.attempt == 2 && t.lease_owner.is_some())
        })
        .await;
        GATE.notify_one();
        let out = within("the result", rt.handle(gated_call, id).result())
            .await
            .expect("result");
        assert_eq!(out, Ok("attempt 1 done".to_string()));
        assert_eq!(gated_starts(id), [1], "one attempt ran");
        let lost = entries(&store, id, HistoryKind::AttemptLost).await;
        assert_eq!(lost.len(), 1, "{lost:?}");
        rt.shutdown().await;
        out
    })
    .await;
}

/// Per workflow: the inputs of the `tagged` attempts started.
static TAGGED: PerWorkflow<String> = PerWorkflow::new();
/// Lets the attempt of the first run's call finish.
static TAG_GATE: tokio::sync::Notify = tokio::sync::Notify::const_new();

#[activity]
async fn tagged(ctx: ActivityCtx, tag: String) -> Result<String, ActivityError> {
    TAGGED.push(ctx.workflow_id(), tag.clone());
    if tag == "old" {
        TAG_GATE.notified().await;
    }
    Ok(format!("{tag} done"))
}

#[workflow]
async fn tagged_call(ctx: WorkflowCtx, tag: String) -> Result<String, ActivityError> {
    ctx.activity(tagged, tag).await
}

/// A run is cancelled and purged by another process while this worker runs its call, then
/// started again under its id with another input: this worker steps the new run, which makes
/// its call under the same number, leased to this worker at the same attempt. The old run's
/// attempt is not taken for the new call's (before, the worker took the new lease for its
/// running attempt leased again, and the new run got the old input's result): it stops, the
/// new call runs, and its result is the new run's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_of_a_run_purged_and_started_again_is_run_again() {
    use workflow_rt::store::{HistoryEntry, StepCommit, StepOutcome};
    both_modes(async |mode| {
        let id = &mode.id("again");
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock.clone())
            .workflow(tagged_call)
            .activity(tagged)
            .lease_duration(Duration::from_secs(60))
            .build()
            .await
            .expect("build");
        rt.start(tagged_call, id, "old".to_string())
            .await
            .expect("start");
        eventually("the first run's attempt runs", || async {
            TAGGED.of(id) == ["old"]
        })
        .await;
        // Another process cancels the run and purges it, straight on the store: this worker
        // is not told.
        let rec = store.load_workflow(id).await.expect("load");
        store
            .commit_step(StepCommit {
                children: Vec::new(),
                workflow_id: id.clone(),
                run_key: None,
                expected_version: rec.version,
                now_ms: T0,
                outcome: StepOutcome::Cancelled,
                consumed_events: vec![],
                completed_tasks: vec![],
                cancelled: vec![],
                fired_timers: vec![],
                seen_events_upto: 0,
                keep_ready: false,
                history: vec![HistoryEntry::new(T0, HistoryKind::Cancelled, "elsewhere")],
                deliver: vec![],
            })
            .await
            .expect("cancel");
        store.purge(id).await.expect("purge");
        rt.start(tagged_call, id, "new".to_string())
            .await
            .expect("start again");
        let out = within("the new run's result", rt.handle(tagged_call, id).result())
            .await
            .expect("result");
        assert_eq!(out, Ok("new done".to_string()));
        assert_eq!(TAGGED.of(id), ["old", "new"]);
        TAG_GATE.notify_waiters();
        rt.shutdown().await;
        out
    })
    .await;
}
