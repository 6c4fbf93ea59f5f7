use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A boxed, sendable future: what an activity's body is turned into.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A side effect a workflow can call: an API request, an email, a payment.
///
/// Implemented by `#[activity]` on `async fn name(ctx: ActivityCtx, input: I) -> Result<O, E>`,
/// which defines a unit struct `name` (pass it by value: `ctx.activity(name, input)`) and keeps
/// the body callable directly as `name::call(ctx, input)`.
pub trait Activity: Copy + Send + Sync + 'static {
    /// The stable name the runtime stores with each task.
    const NAME: &'static str;
    /// What the activity takes (the single input, or a tuple of several).
    type Input: Serialize + DeserializeOwned + Send + 'static;
    /// What the activity returns: a `Result<O, E>` where `E: Into<ActivityError>`.
    type Output: ActivityResult + Send + 'static;
    /// A hash of [`Self::Output`] as written, which `#[workflow]` folds into the
    /// [`crate::Layout::legacy_fingerprint`] of a workflow that saves this activity's value
    /// across an await (the fingerprint itself traces the type's shape). `#[activity]` sets it; a hand-written impl keeps the default 0 unless it
    /// changes the value itself when it changes its output type.
    const OUTPUT_FINGERPRINT: u64 = 0;
    /// Runs the activity's body once.
    fn run(self, ctx: ActivityCtx, input: Self::Input) -> BoxFuture<'static, Self::Output>;
}

/// What an activity may return: `Result<T, E>`, with a value `T` the runtime can save (serde)
/// and an error `E` that converts into an [`ActivityError`].
///
/// [`ActivityResult::Ok`] names the value a workflow gets from the activity: `ctx.activity(a,
/// x).await?` is a [`crate::ActivityOk<A>`], that is `<A::Output as ActivityResult>::Ok`.
///
/// Sealed: implemented for `Result` only.
#[diagnostic::on_unimplemented(
    message = "an activity must return `Result<T, E>`, and `{Self}` is not a `Result` of a saveable value and an error",
    label = "write `Result<T, ActivityError>` (T: Serialize + Deserialize)"
)]
pub trait ActivityResult: sealed::Sealed {
    /// The value of a successful call: `T` of `Result<T, E>`.
    type Ok: Serialize + DeserializeOwned + Send + 'static;
    /// The error of a failed attempt: `E` of `Result<T, E>`.
    type Err: Into<ActivityError>;
    /// The `Result` itself.
    fn into_result(self) -> Result<Self::Ok, Self::Err>;
}

impl<T, E> ActivityResult for Result<T, E>
where
    T: Serialize + DeserializeOwned + Send + 'static,
    E: Into<ActivityError>,
{
    type Ok = T;
    type Err = E;
    fn into_result(self) -> Result<T, E> {
        self
    }
}

mod sealed {
    pub trait Sealed {}
    impl<T, E> Sealed for Result<T, E> {}
}

/// Where an activity attempt stands, handed to its body.
#[derive(Clone)]
pub struct ActivityCtx {
    pub(crate) workflow_id: String,
    pub(crate) seq: u64,
    pub(crate) attempt: u32,
    pub(crate) heartbeat_details: Option<Vec<u8>>,
    pub(crate) heartbeat: Option<Arc<dyn Fn(Vec<u8>) + Send + Sync>>,
    pub(crate) cancelled: Arc<AtomicBool>,
}

impl std::fmt::Debug for ActivityCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivityCtx")
            .field("workflow_id", &self.workflow_id)
            .field("seq", &self.seq)
            .field("attempt", &self.attempt)
            .finish()
    }
}

impl ActivityCtx {
    /// A context for calling an activity directly, outside any runtime (unit tests).
    pub fn for_test(workflow_id: impl Into<String>) -> Self {
        ActivityCtx {
            workflow_id: workflow_id.into(),
            seq: 0,
            attempt: 1,
            heartbeat_details: None,
            heartbeat: None,
            cancelled: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A context for one attempt of the call with sequence number `seq` in workflow
    /// `workflow_id`; `heartbeat` receives encoded heartbeat details.
    pub(crate) fn new(
        workflow_id: impl Into<String>,
        seq: u64,
        attempt: u32,
        heartbeat_details: Option<Vec<u8>>,
        heartbeat: Option<Arc<dyn Fn(Vec<u8>) + Send + Sync>>,
        cancelled: Arc<AtomicBool>,
    ) -> Self {
        ActivityCtx {
            workflow_id: workflow_id.into(),
            seq,
            attempt,
            heartbeat_details,
            heartbeat,
            cancelled,
        }
    }

    /// Whether the call this attempt runs was cancelled: its workflow was asked to cancel
    /// while it waited for the call, and has its answer already (an error of kind
    /// [`ActivityErrorKind::Cancelled`]), so whatever this attempt returns goes nowhere. A
    /// long attempt checks it (say, at each [`Self::heartbeat`]) and stops early; one that
    /// does not runs until it ends or its workflow does.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The id of the workflow that made this call.
    pub fn workflow_id(&self) -> &str {
        &self.workflow_id
    }

    /// The call's sequence number within its workflow.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// A key that is the same on every attempt of this call and different for every other call:
    /// hand it to the system you call so that a retried request has exactly-once effect.
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}", self.workflow_id, self.seq)
    }

    /// Which attempt this is, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Reports progress. The runtime extends the attempt's heartbeat deadline and keeps
    /// `details`; if this attempt fails, the next one sees them in [`Self::heartbeat_details`].
    pub fn heartbeat<T: Serialize>(&self, details: &T) {
        if let (Some(sink), Ok(bytes)) = (&self.heartbeat, postcard::to_stdvec(details)) {
            sink(bytes);
        }
    }

    /// The details of the last heartbeat of an earlier attempt of this call, if any.
    pub fn heartbeat_details<T: DeserializeOwned>(&self) -> Option<T> {
        self.heartbeat_details
            .as_deref()
            .and_then(|b| postcard::from_bytes(b).ok())
    }
}

/// How an activity failed, as the workflow sees it after the last attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActivityErrorKind {
    /// The body returned an error that may succeed on a retry.
    Failed,
    /// The body returned an error that no retry will fix.
    NonRetryable,
    /// An attempt ran longer than its start-to-close timeout.
    StartToCloseTimeout,
    /// The call as a whole ran longer than its schedule-to-close timeout.
    ScheduleToCloseTimeout,
    /// An attempt did not heartbeat within its heartbeat timeout.
    HeartbeatTimeout,
    /// The body panicked.
    Panicked,
    /// No activity of this name is registered with the runtime, or its input did not decode.
    BadCall,
    /// The workflow was cancelled or stopped waiting for this call.
    Cancelled,
    /// The last attempt allowed was lost: its worker crashed or was killed, or lost touch
    /// with the store until its lease expired, before it reported a result. (Attempts stopped
    /// by a graceful shutdown do not count.)
    Lost,
}

/// An activity's failure: returned by its body, or made by the runtime (timeouts, panics).
///
/// ```
/// use workflow_rt::prelude::*;
///
/// #[activity]
/// async fn charge(_ctx: ActivityCtx, cents: u64) -> Result<String, ActivityError> {
///     if cents == 0 {
///         // Never retried, whatever the policy.
///         return Err(ActivityError::non_retryable("nothing to charge"));
///     }
///     if cents > 100_000 {
///         // Retried unless the call's policy lists `LimitExceeded` as non-retryable.
///         return Err(ActivityError::retryable("over the limit").with_type("LimitExceeded"));
///     }
///     // Any std error converts (retryable, with no error type).
///     let n: u64 = "42".parse()?;
///     Ok(format!("receipt-{}", cents + n))
/// }
///
/// #[workflow]
/// async fn pay(ctx: WorkflowCtx, cents: u64) -> Result<String, WorkflowError> {
///     match ctx.activity(charge, cents).retry(RetryPolicy::none()).await {
///         Ok(receipt) => Ok(receipt),
///         Err(e) if e.kind == ActivityErrorKind::NonRetryable => Ok("free".to_string()),
///         Err(e) => Err(e.into()), // the same as `?`
///     }
/// }
/// # use workflow_rt::testing::TestRun;
/// # assert_eq!(TestRun::new(pay, "a", 0).with_activity(charge).run().unwrap().output.unwrap(), "free");
/// # assert_eq!(TestRun::new(pay, "b", 8).with_activity(charge).run().unwrap().output.unwrap(), "receipt-50");
/// # let e = TestRun::new(pay, "c", 200_000).with_activity(charge).run().unwrap().output.unwrap_err();
/// # assert_eq!(e.activity.unwrap().error_type, "LimitExceeded");
/// ```
///
/// Any `std::error::Error` converts into a retryable one (without an
/// [`error_type`](Self::error_type)), so `?` works inside activities. Like `anyhow::Error` it
/// does not implement `std::error::Error` itself (that would make the blanket conversion
/// overlap with `From<T> for T`); [`crate::Failure`] is its `std::error::Error` form, and `?`
/// turns it into a `Box<dyn Error + Send + Sync>` directly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityError {
    /// How it failed.
    pub kind: ActivityErrorKind,
    /// An application-defined error type, matched by [`RetryPolicy::non_retryable`]: set
    /// explicitly with [`ActivityError::with_type`] (empty otherwise; never derived from a Rust
    /// type's name, which is not stable across compilers).
    pub error_type: String,
    /// What went wrong, for people.
    pub message: String,
    /// How many attempts were made before the workflow saw this error (0 until it does).
    pub attempts: u32,
}

impl ActivityError {
    /// A retryable failure with this message.
    pub fn retryable(message: impl std::fmt::Display) -> Self {
        Self::new(ActivityErrorKind::Failed, message)
    }

    /// A failure that is not retried, whatever the policy says.
    pub fn non_retryable(message: impl std::fmt::Display) -> Self {
        Self::new(ActivityErrorKind::NonRetryable, message)
    }

    /// An error of this kind with this message.
    pub fn new(kind: ActivityErrorKind, message: impl std::fmt::Display) -> Self {
        ActivityError {
            kind,
            error_type: String::new(),
            message: message.to_string(),
            attempts: 0,
        }
    }

    /// Tags the error with an application error type (see [`RetryPolicy::non_retryable`]).
    pub fn with_type(mut self, error_type: impl Into<String>) -> Self {
        self.error_type = error_type.into();
        self
    }

    /// Whether a retry policy may retry this error at all.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self.kind,
            ActivityErrorKind::NonRetryable
                | ActivityErrorKind::BadCall
                | ActivityErrorKind::Cancelled
                | ActivityErrorKind::ScheduleToCloseTimeout
        )
    }
}

impl std::fmt::Display for ActivityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "activity {:?}", self.kind)?;
        if !self.error_type.is_empty() {
            write!(f, " [{}]", self.error_type)?;
        }
        write!(f, ": {}", self.message)?;
        if self.attempts > 1 {
            write!(f, " (after {} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for ActivityError {
    fn from(e: E) -> Self {
        // No error type: a type's name is not stable across compilers, so nothing may match
        // on it. Tag errors that a retry policy should recognise with `with_type`.
        ActivityError::retryable(&e)
    }
}

/// When and how often a failed activity is tried again (Temporal's retry policy).
///
/// The wait before attempt `n + 1` is `initial * coefficient^(n-1)`, capped at `maximum`, then
/// spread by `jitter` (a fraction: 0.2 means +-20%).
///
/// ```
/// use std::time::Duration;
/// use workflow_rt::{ActivityError, RetryPolicy};
///
/// let policy = RetryPolicy::exponential(Duration::from_millis(500))
///     .max_attempts(6)
///     .max_interval(Duration::from_secs(10))
///     .jitter(0.0)
///     .non_retryable("CardDeclined");
/// // The waits after attempts 1 to 5: 0.5 s, 1 s, 2 s, 4 s, 8 s (a sixth attempt is the last;
/// // with more attempts allowed, the waits after would be capped at 10 s).
/// assert_eq!(policy.delay(3, 0.5), Duration::from_secs(2));
/// assert_eq!(policy.delay(5, 0.5), Duration::from_secs(8));
/// assert_eq!(policy.delay(6, 0.5), Duration::from_secs(10));
/// // Errors tagged `CardDeclined` are final; others are retried until attempt 6.
/// let declined = ActivityError::retryable("declined").with_type("CardDeclined");
/// assert!(!policy.should_retry(&declined, 1));
/// assert!(policy.should_retry(&ActivityError::retryable("timeout"), 5));
/// assert!(!policy.should_retry(&ActivityError::retryable("timeout"), 6));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// The wait before the second attempt.
    pub initial_interval: Duration,
    /// How much longer each wait is than the one before (at least 1).
    pub backoff_coefficient: f64,
    /// The longest wait between two attempts before jitter (`None`: no cap): with jitter `j`,
    /// a wait may reach `maximum_interval * (1 + j)`.
    pub maximum_interval: Option<Duration>,
    /// 0 means unlimited (bounded by the schedule-to-close timeout, if any).
    pub maximum_attempts: u32,
    /// How much each wait is spread at random, as a fraction: 0.2 means +-20%.
    pub jitter: f64,
    /// Error types ([`ActivityError::error_type`]) that are never retried.
    pub non_retryable_errors: Vec<String>,
}

impl Default for RetryPolicy {
    /// 1 s initial interval, coefficient 2, at most 100 s between attempts, unlimited attempts,
    /// 10% jitter: Temporal's defaults.
    fn default() -> Self {
        RetryPolicy {
            initial_interval: Duration::from_secs(1),
            backoff_coefficient: 2.0,
            maximum_interval: Some(Duration::from_secs(100)),
            maximum_attempts: 0,
            jitter: 0.1,
            non_retryable_errors: Vec::new(),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff from `initial`, doubling each time, capped at 100 times `initial`
    /// (Temporal's default cap), otherwise the defaults.
    pub fn exponential(initial: Duration) -> Self {
        RetryPolicy {
            initial_interval: initial,
            maximum_interval: Some(initial.saturating_mul(100)),
            ..Self::default()
        }
    }

    /// The same wait before every retry, no jitter.
    pub fn fixed(interval: Duration) -> Self {
        RetryPolicy {
            initial_interval: interval,
            backoff_coefficient: 1.0,
            maximum_interval: Some(interval),
            jitter: 0.0,
            ..Self::default()
        }
    }

    /// Exactly one attempt.
    pub fn none() -> Self {
        RetryPolicy {
            maximum_attempts: 1,
            ..Self::default()
        }
    }

    /// At most `n` attempts (0: unlimited).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.maximum_attempts = n;
        self
    }
    /// Sets the backoff coefficient.
    pub fn backoff(mut self, coefficient: f64) -> Self {
        self.backoff_coefficient = coefficient;
        self
    }
    /// Caps the wait between two attempts (before jitter: see
    /// [`RetryPolicy::maximum_interval`]).
    pub fn max_interval(mut self, d: Duration) -> Self {
        self.maximum_interval = Some(d);
        self
    }
    /// Sets the jitter fraction (0 to 1).
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction;
        self
    }
    /// Never retries errors tagged with this error type ([`ActivityError::with_type`]).
    pub fn non_retryable(mut self, error_type: impl Into<String>) -> Self {
        self.non_retryable_errors.push(error_type.into());
        self
    }

    /// The wait before the attempt after `attempt` (counted from 1), before jitter.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(1000) as i32;
        let secs =
            self.initial_interval.as_secs_f64() * self.backoff_coefficient.max(1.0).powi(exp);
        // No interval times an infinite coefficient is no interval; any other overflow is the
        // longest wait (capped below).
        let secs = if secs.is_nan() { 0.0 } else { secs };
        let mut d = Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX);
        if let Some(max) = self.maximum_interval {
            d = d.min(max);
        }
        d
    }

    /// The wait before the attempt after `attempt`, with jitter drawn from `unit` in `[0, 1)`.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let base = self.base_delay(attempt).as_secs_f64();
        // A jitter that is not a number would make every wait infinite: no jitter instead.
        let j = if self.jitter.is_nan() {
            0.0
        } else {
            self.jitter.clamp(0.0, 1.0)
        };
        let factor = 1.0 - j + 2.0 * j * unit.clamp(0.0, 1.0);
        Duration::try_from_secs_f64(base * factor).unwrap_or(Duration::MAX)
    }

    /// Whether `error`, returned by attempt `attempt`, should be retried.
    pub fn should_retry(&self, error: &ActivityError, attempt: u32) -> bool {
        error.is_retryable()
            && !self.non_retryable_errors.contains(&error.error_type)
            && (self.maximum_attempts == 0 || attempt < self.maximum_attempts)
    }
}

/// How one activity call is run: retry policy and timeouts. Set with the builder methods of
/// [`crate::ActivityCall`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ActivityOptions {
    /// When and how often a failed attempt is tried again.
    pub retry: RetryPolicy,
    /// Limit on one attempt. `Some(Duration::ZERO)` is no limit, as `None` (as in Temporal,
    /// where a zero timeout is an unset one): a limit of nothing would fail every attempt
    /// that awaits, and retry it for ever.
    pub start_to_close: Option<Duration>,
    /// Limit on the whole call, all attempts and waits included (zero: none, as `None`).
    pub schedule_to_close: Option<Duration>,
    /// An attempt that has not heartbeated for this long is failed (and may be retried; zero:
    /// no limit, as `None`).
    pub heartbeat_timeout: Option<Duration>,
}

impl ActivityOptions {
    /// These options with each zero limit taken as none (see the fields).
    pub(crate) fn zero_is_no_limit(mut self) -> Self {
        for limit in [
            &mut self.start_to_close,
            &mut self.schedule_to_close,
            &mut self.heartbeat_timeout,
        ] {
            if *limit == Some(Duration::ZERO) {
                *limit = None;
            }
        }
        self
    }
}
