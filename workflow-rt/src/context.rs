use std::cell::RefCell;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::activity::{Activity, ActivityError, ActivityOptions, ActivityResult, RetryPolicy};
use crate::child::ChildCall;
use crate::codec;
use crate::durable::sealed::{Sealed, SealedGroup};
use crate::durable::{Durable, Pending, Resolution, unexpected};
use crate::error::ResumeError;
use crate::signal::IntoSignal;

/// The part of a workflow's context that is persisted with every snapshot: the clock reading of
/// the current step, the random generator and the next sequence number.
///
/// The runtime makes and advances it; tools read it from a decoded
/// [`Snapshot`](crate::machine::Snapshot), and make one with [`CtxState::new`] to write a
/// snapshot of their own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CtxState {
    /// Milliseconds since the Unix epoch: when what woke this step happened.
    pub(crate) now_ms: u64,
    /// State of the deterministic random generator (SplitMix64).
    pub(crate) rng: u64,
    /// The next sequence number for a command.
    pub(crate) seq: u64,
    /// When cancellation was requested (the time of the request), if it was. Not in the
    /// derived encoding: the snapshot envelope writes it (format 3, or 4) only when it is set, so
    /// that the snapshots of every other run stay what they were.
    #[serde(skip)]
    pub(crate) cancelled_at: Option<u64>,
    /// The values the run published ([`WorkflowCtx::publish`]), by key, as JSON text. Not in
    /// the derived encoding: the snapshot envelope writes them (format 4) only when there are
    /// some, so that the snapshots of every other run stay what they were.
    #[serde(skip)]
    pub(crate) published: BTreeMap<String, String>,
}

impl CtxState {
    /// A context state with this clock reading, random generator state and next command
    /// sequence number: for tools that write snapshots (migrations, compatibility tests, a
    /// damaged row rebuilt by hand). The runtime makes its own when it starts a workflow.
    pub const fn new(now_ms: u64, rng: u64, seq: u64) -> Self {
        CtxState {
            now_ms,
            rng,
            seq,
            cancelled_at: None,
            published: BTreeMap::new(),
        }
    }

    /// This state with cancellation requested at `at_ms` (see [`WorkflowCtx::is_cancelled`]).
    pub const fn with_cancel_requested(mut self, at_ms: u64) -> Self {
        self.cancelled_at = Some(at_ms);
        self
    }

    /// When cancellation of the run was requested, in milliseconds since the Unix epoch, if it
    /// was.
    pub const fn cancel_requested_at(&self) -> Option<u64> {
        self.cancelled_at
    }

    /// The clock reading of the step, in milliseconds since the Unix epoch: when what woke the
    /// step happened ([`WorkflowCtx::now`]).
    pub const fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// The state of the workflow's deterministic random generator (SplitMix64).
    pub const fn rng(&self) -> u64 {
        self.rng
    }

    /// The sequence number of the next command the workflow issues: how many it has issued.
    pub const fn seq(&self) -> u64 {
        self.seq
    }

    /// The values the run has published ([`WorkflowCtx::publish`]), by key, as JSON text.
    pub fn published(&self) -> &BTreeMap<String, String> {
        &self.published
    }

    /// This state with `json` published under `key`, as [`WorkflowCtx::publish`] leaves it:
    /// for tools that write snapshots (a migration registered with the runtime carries the
    /// context over, published values included). Not checked against
    /// [`MAX_PUBLISHED_BYTES`].
    pub fn with_published(mut self, key: impl Into<String>, json: impl Into<String>) -> Self {
        self.published.insert(key.into(), json.into());
        self
    }
}

/// The most a run may publish, keys and JSON texts of every value together
/// ([`WorkflowCtx::publish`]): they travel with every snapshot of the run.
pub const MAX_PUBLISHED_BYTES: usize = 64 * 1024;

/// The longest key a value may be published under, in bytes ([`WorkflowCtx::publish`]).
pub const MAX_PUBLISHED_KEY: usize = 256;

/// Why [`WorkflowCtx::publish`] refused a value. Converts into a [`WorkflowError`] (so `?`
/// ends the run with it), or can be handled in the code (publish less, or a shorter key); it
/// is serde's, so it may be kept across an await.
///
/// [`WorkflowError`]: crate::WorkflowError
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum PublishError {
    /// The key is empty.
    #[error("a value cannot be published under an empty key")]
    EmptyKey,
    /// The key is longer than [`MAX_PUBLISHED_KEY`] bytes.
    #[error("the key {key:?}... is {len} bytes long, more than {MAX_PUBLISHED_KEY}")]
    KeyTooLong {
        /// The key's first characters.
        key: String,
        /// Its length in bytes.
        len: usize,
    },
    /// The value does not encode as JSON (a map whose keys are structs or tuples, or a
    /// `Serialize` that failed).
    #[error("the value published under {key:?} does not encode as JSON: {error}")]
    Encode {
        /// The key.
        key: String,
        /// serde_json's error.
        error: String,
    },
    /// The key starts with [`REPLY_PREFIX`](crate::update::REPLY_PREFIX), kept for replies
    /// to updates ([`WorkflowCtx::reply`]).
    #[error(
        "the key {key:?} starts with {prefix:?}, which is kept for replies to updates: reply with ctx.reply"
    )]
    ReservedKey {
        /// The key.
        key: String,
        /// The prefix kept.
        prefix: String,
    },
    /// With this value, the run's published values would take more than
    /// [`MAX_PUBLISHED_BYTES`]: the value is not published.
    #[error(
        "publishing under {key:?} would make the run's published values {bytes} bytes, more than {MAX_PUBLISHED_BYTES}"
    )]
    TooLarge {
        /// The key.
        key: String,
        /// The keys' and values' bytes with this value.
        bytes: usize,
    },
}

/// A workflow's only door to the outside world. Everything that could differ between two runs of
/// the same step (time, randomness, side effects) goes through it and is persisted.
///
/// ```
/// use std::time::Duration;
/// use workflow_rt::prelude::*;
/// use workflow_rt::testing::TestRun;
///
/// #[activity]
/// async fn reserve(_ctx: ActivityCtx, sku: String) -> Result<u32, ActivityError> {
///     Ok(sku.len() as u32)
/// }
///
/// #[workflow]
/// async fn restock(ctx: WorkflowCtx, sku: String) -> Result<String, WorkflowError> {
///     let started = ctx.now(); // the time of the event that woke this step
///     let batch = ctx.uuid(); // random, yet the same if the step runs again
///     let units = ctx.activity(reserve, sku).await?; // a side effect, run at least once
///     ctx.sleep(Duration::from_secs(3600)).await; // a durable timer
///     let approved: bool = ctx.signal("approve").await; // waits for the outside world
///     let waited = ctx.now().duration_since(started).unwrap_or_default();
///     Ok(format!("{batch}: {units} units, approved {approved} after {}s", waited.as_secs()))
/// }
///
/// let out = TestRun::new(restock, "r-1", "apple".to_string())
///     .with_activity(reserve)
///     .signal_after(Duration::from_secs(7200), "approve", true)
///     .run()
///     .expect("run");
/// assert!(out.output.unwrap().ends_with(": 5 units, approved true after 7200s"));
/// ```
pub struct WorkflowCtx {
    id: String,
    state: RefCell<CtxState>,
    /// The promises made during the current step ([`WorkflowCtx::promise`]): `(seq, secret,
    /// type tag)`, stored with the step's commit so that a token works as soon as the step
    /// that made it has committed.
    promises: std::cell::RefCell<Vec<(u64, String, u64)>>,
    /// The child calls made during the current step, with what the wait does not record
    /// (it records the child's name only): the version the code named, so that the child
    /// starts on it, and the child's execution timeout.
    child_calls: std::cell::RefCell<Vec<ChildNote>>,
    /// Set when [`WorkflowCtx::publish`] changes a value (see
    /// [`WorkflowCtx::take_published_now`]).
    published_now: std::cell::Cell<bool>,
    /// What [`WorkflowCtx::continue_as_new`] asked for during the current step.
    continue_as: std::cell::RefCell<Option<ContinueAs>>,
}

/// Whether `key` with `json` fits in `published` once the values under `gone` are dropped
/// (or replaced): at most [`MAX_PUBLISHED_BYTES`] in all.
fn room(
    published: &BTreeMap<String, String>,
    gone: &[&str],
    key: &str,
    json: &str,
) -> Result<(), PublishError> {
    let bytes = published
        .iter()
        .filter(|(k, _)| !gone.contains(&k.as_str()) && k.as_str() != key)
        .map(|(k, v)| k.len() + v.len())
        .sum::<usize>()
        + key.len()
        + json.len();
    if bytes > MAX_PUBLISHED_BYTES {
        return Err(PublishError::TooLarge {
            key: key.to_string(),
            bytes,
        });
    }
    Ok(())
}

/// What a child call of the current step asked for that its wait does not record (see
/// [`WorkflowCtx::note_child_call`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChildNote {
    /// The call's sequence number.
    pub(crate) seq: u64,
    /// The version of the child workflow the code named.
    pub(crate) version: u32,
    /// The child run's execution timeout, in milliseconds ([`crate::ChildCall::timeout`]).
    pub(crate) timeout_ms: Option<u64>,
}

/// What [`WorkflowCtx::continue_as_new`] asked for: the workflow and version the run goes on
/// as, and its encoded input (or why it does not encode).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ContinueAs {
    pub(crate) workflow: &'static str,
    pub(crate) version: u32,
    pub(crate) input: Result<Vec<u8>, String>,
}

impl std::fmt::Debug for WorkflowCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkflowCtx")
            .field("id", &self.id)
            .field("state", &*self.state.borrow())
            .finish()
    }
}

impl WorkflowCtx {
    /// A context for workflow `id` in the given persisted state.
    pub(crate) fn new(id: impl Into<String>, state: CtxState) -> Self {
        WorkflowCtx {
            id: id.into(),
            state: RefCell::new(state),
            promises: Default::default(),
            child_calls: Default::default(),
            published_now: Default::default(),
            continue_as: Default::default(),
        }
    }

    /// The initial context state for a workflow started at `now_ms`, with its random generator
    /// seeded from the workflow id (so it is reproducible).
    pub(crate) fn initial_state(id: &str, now_ms: u64) -> CtxState {
        CtxState {
            now_ms,
            rng: codec::fnv1a_extend(codec::FNV_OFFSET, id.as_bytes()),
            seq: 0,
            cancelled_at: None,
            published: BTreeMap::new(),
        }
    }

    /// The persisted state, to store with the snapshot.
    pub(crate) fn state(&self) -> CtxState {
        self.state.borrow().clone()
    }

    /// The persisted state, borrowed (to encode a snapshot without a copy).
    #[inline]
    pub(crate) fn state_ref(&self) -> std::cell::Ref<'_, CtxState> {
        self.state.borrow()
    }

    /// The clock reading of the current step, in milliseconds since the Unix epoch.
    #[inline]
    pub(crate) fn now_ms(&self) -> u64 {
        self.state.borrow().now_ms
    }

    /// The next command's sequence number.
    #[inline]
    pub(crate) fn seq(&self) -> u64 {
        self.state.borrow().seq
    }

    /// Sets the clock reading for the step about to run.
    pub(crate) fn set_now_ms(&self, now_ms: u64) {
        self.state.borrow_mut().now_ms = now_ms;
    }

    /// Records a promise made by this step.
    pub(crate) fn made_promise(&self, seq: u64, secret: String, type_tag: u64) {
        self.promises.borrow_mut().push((seq, secret, type_tag));
    }

    /// The promises made since the last call: `(seq, secret, type tag)`.
    pub(crate) fn take_promises(&self) -> Vec<(u64, String, u64)> {
        std::mem::take(&mut *self.promises.borrow_mut())
    }

    /// Records what child call `note.seq` of this step asked for beside its wait.
    pub(crate) fn note_child_call(&self, note: ChildNote) {
        self.child_calls.borrow_mut().push(note);
    }

    /// The child calls made during the step just run (see [`WorkflowCtx::note_child_call`]).
    pub(crate) fn take_child_calls(&self) -> Vec<ChildNote> {
        std::mem::take(&mut *self.child_calls.borrow_mut())
    }

    /// Records that cancellation was requested at `at_ms`, unless it was already.
    #[cfg(feature = "testing")]
    pub(crate) fn cancel_requested(&self, at_ms: u64) {
        let mut s = self.state.borrow_mut();
        if s.cancelled_at.is_none() {
            s.cancelled_at = Some(at_ms);
        }
    }

    /// This workflow's id.
    pub fn workflow_id(&self) -> &str {
        &self.id
    }

    /// The time of the event that woke the current step (deterministic: the same if the step
    /// runs again). Use this instead of `SystemTime::now()`.
    pub fn now(&self) -> SystemTime {
        // A reading past what the platform's `SystemTime` holds (only a damaged snapshot has
        // one) is clamped to the end of year 9999, which every platform holds.
        UNIX_EPOCH
            .checked_add(Duration::from_millis(self.now_ms()))
            .unwrap_or_else(|| UNIX_EPOCH + Duration::from_secs(253_402_300_799))
    }

    /// A random value from the workflow's persisted generator. Use this instead of
    /// `rand::random()`.
    pub fn random<T: FromRandom>(&self) -> T {
        T::from_random(|| self.next_u64())
    }

    /// A random (version 4) UUID from the workflow's persisted generator, hyphenated.
    pub fn uuid(&self) -> String {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        b[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }

    fn next_u64(&self) -> u64 {
        // SplitMix64: small, fast, and its whole state is one u64 to persist.
        let mut s = self.state.borrow_mut();
        s.rng = s.rng.wrapping_add(codec::SPLITMIX_GAMMA);
        codec::splitmix64(s.rng)
    }

    pub(crate) fn next_seq(&self) -> Result<u64, ResumeError> {
        let mut s = self.state.borrow_mut();
        let seq = s.seq;
        s.seq = seq
            .checked_add(1)
            .ok_or(ResumeError::SequenceExhausted(seq))?;
        Ok(seq)
    }

    /// Calls an activity. Await the returned call (after setting options) to get its result:
    /// the activity's `Ok` value, or the [`ActivityError`] of its last attempt.
    ///
    /// ```
    /// use std::time::Duration;
    /// use workflow_rt::prelude::*;
    ///
    /// #[activity]
    /// async fn charge(_ctx: ActivityCtx, cents: u64) -> Result<String, ActivityError> {
    ///     Ok(format!("receipt-{cents}"))
    /// }
    ///
    /// #[workflow]
    /// async fn pay(ctx: WorkflowCtx, cents: u64) -> Result<String, WorkflowError> {
    ///     let receipt = ctx
    ///         .activity(charge, cents)
    ///         .retry(RetryPolicy::exponential(Duration::from_secs(1)).max_attempts(5))
    ///         .start_to_close(Duration::from_secs(30))
    ///         .await?;
    ///     Ok(receipt)
    /// }
    /// # let out = workflow_rt::testing::TestRun::new(pay, "p", 250).with_activity(charge).run().unwrap();
    /// # assert_eq!(out.output.unwrap(), "receipt-250");
    /// ```
    pub fn activity<A: Activity>(&self, activity: A, input: A::Input) -> ActivityCall<A> {
        ActivityCall {
            activity,
            input,
            options: ActivityOptions::default(),
        }
    }

    /// A durable timer: survives restarts, costs a row in the store while it waits.
    ///
    /// ```
    /// use std::time::Duration;
    /// use workflow_rt::prelude::*;
    ///
    /// #[workflow]
    /// async fn remind(ctx: WorkflowCtx, days: u64) -> u64 {
    ///     ctx.sleep(Duration::from_secs(days * 24 * 3600)).await;
    ///     days
    /// }
    /// # let out = workflow_rt::testing::TestRun::new(remind, "r", 3).run().unwrap();
    /// # assert_eq!(out.elapsed(), Duration::from_secs(3 * 24 * 3600));
    /// ```
    pub fn sleep(&self, duration: Duration) -> Sleep {
        Sleep { duration }
    }

    /// Waits for the next signal named `signal`, decoded as `T`. Signals sent before the workflow
    /// waits are buffered, in order.
    ///
    /// `signal` is a typed [`Signal<T>`](crate::Signal) (`ctx.signal(APPROVE)`, `T` follows from
    /// it) or a name given as a string, with `T` written out (`ctx.signal::<bool>("approve")`).
    /// A name that [`crate::check_name`] refuses (empty, holding a NUL, over 1 000 bytes)
    /// cannot be sent, so a wait for it never ends.
    ///
    /// ```
    /// use std::time::Duration;
    /// use workflow_rt::prelude::*;
    ///
    /// const APPROVE: Signal<bool> = Signal::new("approve");
    ///
    /// #[workflow]
    /// async fn review(ctx: WorkflowCtx, _doc: String) -> String {
    ///     let verdict = match ctx.signal(APPROVE).timeout(Duration::from_secs(86_400)).await {
    ///         Some(true) => "approved",
    ///         Some(false) => "rejected",
    ///         None => "expired",
    ///     };
    ///     verdict.to_string()
    /// }
    /// # let out = workflow_rt::testing::TestRun::new(review, "r", "d".into()).signal(APPROVE, true).run().unwrap();
    /// # assert_eq!(out.output, "approved");
    /// ```
    pub fn signal<T: DeserializeOwned>(&self, signal: impl IntoSignal<T>) -> SignalWait<T> {
        SignalWait {
            name: signal.into_signal_name(),
            _t: PhantomData,
        }
    }

    /// Starts workflow `W` as a child run and waits for its end: the value is the child's
    /// output, or a [`ChildError`](crate::ChildError) (cancelled, not registered, id in use...).
    /// A child that parks is waited for until it is unparked and ends, or is stopped.
    ///
    /// The child's id is `<this run's id>/<workflow>-<call sequence number>` (stable: the same
    /// if the step runs again) unless [`ChildCall::id`](crate::ChildCall::id) names one. The
    /// child is started in the step that issues the call, at most once; its end wakes this
    /// run through the store. Its [`ParentClose`](crate::ParentClose) policy says what happens
    /// to it if this run stops waiting.
    ///
    /// ```
    /// use workflow_rt::prelude::*;
    ///
    /// #[workflow]
    /// async fn ship(_ctx: WorkflowCtx, parcel: u32) -> Result<String, WorkflowError> {
    ///     Ok(format!("parcel {parcel} shipped"))
    /// }
    ///
    /// #[workflow]
    /// async fn order(ctx: WorkflowCtx, parcels: u32) -> Result<Vec<String>, WorkflowError> {
    ///     let calls: Vec<_> = (0..parcels).map(|p| ctx.child(ship, p)).collect();
    ///     let mut out = Vec::new();
    ///     for shipped in ctx.join(calls).await {
    ///         out.push(shipped??);
    ///     }
    ///     Ok(out)
    /// }
    /// # let out = workflow_rt::testing::TestRun::new(order, "o", 2).with_workflow(ship).run().unwrap();
    /// # assert_eq!(out.output.unwrap(), vec!["parcel 0 shipped", "parcel 1 shipped"]);
    /// ```
    pub fn child<W: crate::Workflow>(&self, _workflow: W, input: W::Input) -> ChildCall<W> {
        ChildCall::new(input)
    }

    /// Whether someone asked this run to cancel ([`crate::Client::cancel`]): the await that was
    /// in progress then was interrupted, and the code may now undo what it did (awaiting
    /// compensating activities) before it returns. Persisted with the run's state: the same
    /// if the step runs again.
    pub fn is_cancelled(&self) -> bool {
        self.state.borrow().cancelled_at.is_some()
    }

    /// Publishes `value` under `key`, for the world outside the run to read: its progress, a
    /// status, a link. Anyone who may read the run reads them (the console, the admin's
    /// `show`): a [`PromiseToken`](crate::PromiseToken) published is shown whole, secret and
    /// all, where the run's state shows it without its secret. Readers get the
    /// value of the last step that committed, while the run goes on and after it ends
    /// ([`Client::published`](crate::Client::published),
    /// [`Client::wait_published`](crate::Client::wait_published)), until the run is purged. A
    /// later call under the same key replaces the value.
    ///
    /// DBOS calls these workflow events (`set_event` / `get_event`); where Temporal users
    /// answer a query from the workflow's variables, a run here publishes what the query
    /// would answer as it changes.
    ///
    /// Not an await: the value is stored with the snapshot of the step that publishes it, so
    /// readers see it once that step has committed, and a step run again after a crash
    /// publishes it again. Values are kept as JSON, in the run's snapshot: every snapshot
    /// carries all of them, so keep them small (a status, counts, ids), at most
    /// [`MAX_PUBLISHED_BYTES`] together.
    ///
    /// ```
    /// use std::time::Duration;
    /// use workflow_rt::prelude::*;
    /// use workflow_rt::testing::TestRun;
    ///
    /// #[workflow]
    /// async fn import(ctx: WorkflowCtx, files: u32) -> Result<u32, WorkflowError> {
    ///     for done in 0..files {
    ///         ctx.publish("progress", &format!("{done}/{files}"))?;
    ///         ctx.sleep(Duration::from_secs(60)).await;
    ///     }
    ///     ctx.publish("progress", &"done")?;
    ///     Ok(files)
    /// }
    ///
    /// let out = TestRun::new(import, "i-1", 3).run().expect("run");
    /// assert_eq!(out.published["progress"], "done");
    /// ```
    pub fn publish<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), PublishError> {
        if key.is_empty() {
            return Err(PublishError::EmptyKey);
        }
        if key.starts_with(crate::update::REPLY_PREFIX) {
            return Err(PublishError::ReservedKey {
                key: key.chars().take(64).collect(),
                prefix: crate::update::REPLY_PREFIX.to_string(),
            });
        }
        if key.len() > MAX_PUBLISHED_KEY {
            return Err(PublishError::KeyTooLong {
                key: key.chars().take(32).collect(),
                len: key.len(),
            });
        }
        let json = serde_json::to_string(value).map_err(|e| PublishError::Encode {
            key: key.to_string(),
            error: e.to_string(),
        })?;
        let mut s = self.state.borrow_mut();
        if s.published.get(key) == Some(&json) {
            return Ok(());
        }
        room(&s.published, &[key], key, &json)?;
        s.published.insert(key.to_string(), json);
        self.published_now.set(true);
        Ok(())
    }

    /// Replies `value` to `update` ([`crate::update`]): the sender's
    /// [`Client::update`](crate::Client::update) returns it once the step that replies has
    /// committed. Not an await: the reply is published under the update's id
    /// ([`crate::update::reply_key`]), in the snapshot of this step, and the run keeps the
    /// replies to its last [`MAX_REPLIES`](crate::update::MAX_REPLIES) updates (the oldest goes
    /// first), within [`MAX_PUBLISHED_BYTES`] with its published values: older replies also
    /// go to make room for a new one, the run's own values never.
    ///
    /// An update is answered once: a reply to an update that has one already (a request sent
    /// again under its id: [`Client::update_with_id`](crate::Client::update_with_id)) changes
    /// nothing, and the first reply stands; [`WorkflowCtx::is_replied`] tells the code so
    /// before it does the work again. A reply that does not encode as JSON, would take the
    /// run's published values past their limit even without older replies, or whose update
    /// id makes a key over [`MAX_PUBLISHED_KEY`] (an id sent as JSON, past the client's
    /// [`MAX_UPDATE_ID`](crate::update::MAX_UPDATE_ID)) is refused as [`WorkflowCtx::publish`]
    /// refuses a value, and nothing changes: the sender's wait ends at its timeout. The run
    /// goes on; a reply refused is the sender's problem, so code need not end on it
    /// (`let _ = ctx.reply(..)`, or log it).
    pub fn reply<T, R: Serialize + ?Sized>(
        &self,
        update: &crate::Update<T>,
        value: &R,
    ) -> Result<(), PublishError> {
        use crate::update::{MAX_REPLIES, REPLY_PREFIX, Reply};
        let key = crate::update::reply_key(update.id());
        if key.len() > MAX_PUBLISHED_KEY {
            return Err(PublishError::KeyTooLong {
                key: key.chars().take(32).collect(),
                len: key.len(),
            });
        }
        let mut s = self.state.borrow_mut();
        if s.published.contains_key(&key) {
            return Ok(());
        }
        // The run's replies, by number, oldest first.
        let mut replies: Vec<(u64, &str)> = s
            .published
            .range(REPLY_PREFIX.to_string()..)
            .take_while(|(k, _)| k.starts_with(REPLY_PREFIX))
            .map(|(k, v)| {
                let n = serde_json::from_str::<Reply<serde::de::IgnoredAny>>(v).map_or(0, |r| r.n);
                (n, k.as_str())
            })
            .collect();
        replies.sort_unstable();
        let n = replies.last().map_or(1, |(n, _)| n.saturating_add(1));
        let json = serde_json::to_string(&Reply { n, reply: value }).map_err(|e| {
            PublishError::Encode {
                key: key.clone(),
                error: e.to_string(),
            }
        })?;
        // The oldest replies go: those past the last `MAX_REPLIES`, then as many more as this
        // one needs room (the run's own published values stay).
        let mut drop = (replies.len() + 1).saturating_sub(MAX_REPLIES);
        let dropped: Vec<String> = loop {
            let gone: Vec<&str> = replies.iter().take(drop).map(|(_, k)| *k).collect();
            match room(&s.published, &gone, &key, &json) {
                Ok(()) => break gone.into_iter().map(str::to_string).collect(),
                Err(e) if drop >= replies.len() => return Err(e),
                Err(_) => drop += 1,
            }
        };
        for k in &dropped {
            s.published.remove(k);
        }
        s.published.insert(key, json);
        self.published_now.set(true);
        Ok(())
    }

    /// Whether `update` has a reply already ([`WorkflowCtx::reply`]): a request sent again
    /// under its id (a sender that retried before the first was answered) reaches the code
    /// twice, and the code skips the second. (A reply dropped past
    /// [`MAX_REPLIES`](crate::update::MAX_REPLIES) is not known any more.)
    pub fn is_replied<T>(&self, update: &crate::Update<T>) -> bool {
        self.state
            .borrow()
            .published
            .contains_key(&crate::update::reply_key(update.id()))
    }

    /// Whether the step just run published a value that changed, and clears the mark: the
    /// runtime wakes the run's readers once the step has committed.
    #[inline]
    pub(crate) fn take_published_now(&self) -> bool {
        self.published_now.replace(false)
    }

    /// Ends this run, once the code returns, by starting it over under the same id as
    /// `workflow` (this workflow, or a newer version of it) with `input`: Temporal's
    /// continue-as-new. Call it just before `return`; the value the code then returns is
    /// dropped. A long-lived run (an entity fed by signals, a loop over days) continues as new
    /// from time to time, so that its history, which the store keeps for people, does not
    /// grow without end. (Its snapshot never needs the history: a resume costs the same after
    /// ten steps or ten million.)
    ///
    /// In the one commit of the step that returns, the store:
    /// - starts the run over: its input is `input`, its state the workflow's first state,
    ///   and its history only the entry that says it continued (the previous entries are
    ///   dropped; its steps go on counting);
    /// - keeps its id, its parent (who waits for the end of the last run of the chain), its
    ///   execution timeout, the values it published, a cancel request it was given, and the
    ///   signals it had not received yet, which wait for the new run's code in their order;
    /// - drops what else it had in flight (activity calls, timers), and closes the children
    ///   it still waited for by their [`ParentClose`](crate::ParentClose) policies, as a run
    ///   that ends does.
    ///
    /// Its context goes on (the random generator and the sequence numbers of its commands do
    /// not start over), so the new run's calls, timers and children never take the numbers or
    /// ids of the previous run's.
    ///
    /// Called and then followed by an await rather than a return, it parks the run, saying so:
    /// a run goes on as new only from its end. The workflow must be registered with the
    /// runtime at `workflow`'s version, or the run is parked with the reason.
    ///
    /// ```
    /// use workflow_rt::prelude::*;
    /// use workflow_rt::testing::TestRun;
    ///
    /// /// Sums what it is sent; every 100 signals, starts over with the sum so far.
    /// #[workflow]
    /// async fn tally(ctx: WorkflowCtx, total: u64) -> u64 {
    ///     let mut total = total;
    ///     for _ in 0..100 {
    ///         let n: u64 = ctx.signal("add").await;
    ///         if n == 0 {
    ///             return total;
    ///         }
    ///         total += n;
    ///     }
    ///     ctx.continue_as_new(tally, total);
    ///     total
    /// }
    ///
    /// let mut run = TestRun::new(tally, "t-1", 0);
    /// for _ in 0..250 {
    ///     run = run.signal("add", 2u64);
    /// }
    /// let out = run.signal("add", 0u64).run().expect("run");
    /// assert_eq!((out.output, out.continued_as_new), (500, 2));
    /// ```
    pub fn continue_as_new<W: crate::Workflow>(&self, _workflow: W, input: W::Input) {
        let input = codec::encode(&input);
        *self.continue_as.borrow_mut() = Some(ContinueAs {
            workflow: W::NAME,
            version: W::VERSION,
            input,
        });
    }

    /// What [`WorkflowCtx::continue_as_new`] asked for in the step just run, and clears it.
    #[inline]
    pub(crate) fn take_continue_as(&self) -> Option<ContinueAs> {
        self.continue_as.borrow_mut().take()
    }

    /// A wait that ends when this run is asked to cancel (at once if it was already): race
    /// it against a wait that cancellation does not interrupt, such as a signal, to stop
    /// waiting when the run is cancelled.
    ///
    /// ```
    /// use workflow_rt::prelude::*;
    ///
    /// #[workflow]
    /// async fn review(ctx: WorkflowCtx, doc: String) -> Result<String, WorkflowError> {
    ///     match ctx.select((ctx.signal::<bool>("approve"), ctx.cancellation())).await {
    ///         Select2::First(true) => Ok(format!("{doc} approved")),
    ///         Select2::First(false) => Ok(format!("{doc} rejected")),
    ///         Select2::Second(()) => Err(WorkflowError::msg("the review was cancelled")),
    ///     }
    /// }
    /// # let out = workflow_rt::testing::TestRun::new(review, "r", "d".into())
    /// #     .cancel_after(std::time::Duration::from_secs(5)).run().unwrap();
    /// # assert_eq!(out.output.unwrap_err().message, "the review was cancelled");
    /// ```
    pub fn cancellation(&self) -> Cancellation {
        Cancellation { _private: () }
    }

    /// Runs several operations at once; the value is all their values, in order. Takes a tuple
    /// of up to 6 operations, or a `Vec` of operations of one type.
    ///
    /// ```
    /// use workflow_rt::prelude::*;
    ///
    /// #[activity]
    /// async fn price(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    ///     Ok(sku.len() as u64 * 100)
    /// }
    ///
    /// #[workflow]
    /// async fn quote(ctx: WorkflowCtx, skus: Vec<String>) -> u64 {
    ///     let calls: Vec<_> = skus.into_iter().map(|s| ctx.activity(price, s)).collect();
    ///     let prices = ctx.join(calls).await;
    ///     prices.into_iter().map(|p| p.unwrap_or(0)).sum()
    /// }
    /// # let out = workflow_rt::testing::TestRun::new(quote, "q", vec!["ab".into(), "c".into()]).with_activity(price).run().unwrap();
    /// # assert_eq!(out.output, 300);
    /// ```
    pub fn join<J: JoinAll>(&self, operations: J) -> Join<J> {
        Join { operations }
    }

    /// Runs several operations at once; the value is the first to finish (and which one). Takes
    /// a tuple of 2 to 4 operations ([`Select2`]...), or a `Vec` (`(index, value)`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use workflow_rt::prelude::*;
    ///
    /// #[workflow]
    /// async fn first_answer(ctx: WorkflowCtx, _q: String) -> String {
    ///     let answer = ctx.signal::<String>("answer");
    ///     let deadline = ctx.sleep(Duration::from_secs(60));
    ///     match ctx.select((answer, deadline)).await {
    ///         Select2::First(text) => text,
    ///         Select2::Second(()) => "no answer".to_string(),
    ///     }
    /// }
    /// # let out = workflow_rt::testing::TestRun::new(first_answer, "f", "q".into()).run().unwrap();
    /// # assert_eq!(out.output, "no answer");
    /// ```
    pub fn select<S: SelectAll>(&self, operations: S) -> Select<S> {
        Select { operations }
    }
}

/// Types `ctx.random()` can produce.
pub trait FromRandom {
    /// A value made from the generator's next outputs (uniform over the type's values; `f64`
    /// in `[0, 1)`).
    fn from_random(next: impl FnMut() -> u64) -> Self;
}

macro_rules! from_random_int {
    ($($t:ty),*) => {$(
        impl FromRandom for $t {
            fn from_random(mut next: impl FnMut() -> u64) -> Self { next() as $t }
        }
    )*};
}
from_random_int!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

impl FromRandom for u128 {
    fn from_random(mut next: impl FnMut() -> u64) -> Self {
        ((next() as u128) << 64) | next() as u128
    }
}
impl FromRandom for bool {
    fn from_random(mut next: impl FnMut() -> u64) -> Self {
        next() & 1 == 1
    }
}
impl FromRandom for f64 {
    /// Uniform in `[0, 1)`.
    fn from_random(mut next: impl FnMut() -> u64) -> Self {
        (next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A call of activity `A`, not yet started; `.await` it in a workflow.
#[must_use = "an activity call does nothing until it is awaited"]
pub struct ActivityCall<A: Activity> {
    #[allow(dead_code)]
    activity: A,
    input: A::Input,
    options: ActivityOptions,
}

impl<A: Activity> std::fmt::Debug for ActivityCall<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivityCall")
            .field("activity", &A::NAME)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<A: Activity> ActivityCall<A> {
    /// How failed attempts are retried (default: [`RetryPolicy::default`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.options.retry = policy;
        self
    }
    /// Limit on one attempt (`Duration::ZERO`: none, as when not given).
    pub fn start_to_close(mut self, d: Duration) -> Self {
        self.options.start_to_close = Some(d);
        self
    }
    /// Limit on the whole call, all attempts and backoff included: the call ends with
    /// [`ActivityErrorKind::ScheduleToCloseTimeout`](crate::ActivityErrorKind) at the
    /// deadline, stopped by the worker running it; and if no worker runs it (the activity's
    /// workers are down or busy), a timer stored with the call ends it a second after.
    /// `Duration::ZERO`: no limit, as when not given.
    pub fn schedule_to_close(mut self, d: Duration) -> Self {
        self.options.schedule_to_close = Some(d);
        self
    }
    /// An attempt that does not heartbeat for this long fails (`Duration::ZERO`: no limit,
    /// as when not given).
    pub fn heartbeat_timeout(mut self, d: Duration) -> Self {
        self.options.heartbeat_timeout = Some(d);
        self
    }
    /// Replaces all options at once.
    pub fn options(mut self, options: ActivityOptions) -> Self {
        self.options = options;
        self
    }
}

impl<A: Activity> Sealed for ActivityCall<A> {}

impl<A: Activity> Durable for ActivityCall<A> {
    type Output = Result<<A::Output as ActivityResult>::Ok, ActivityError>;

    fn schedule(self, ctx: &WorkflowCtx) -> Result<Pending, ResumeError> {
        let input = postcard::to_stdvec(&self.input).map_err(|e| ResumeError::Encode {
            what: format!("the input of activity {}", A::NAME),
            reason: e.to_string(),
        })?;
        Ok(Pending::Activity {
            seq: ctx.next_seq()?,
            name: A::NAME.to_string(),
            input,
            options: self.options.zero_is_no_limit(),
        })
    }

    fn resolve(resolution: Resolution) -> Result<Self::Output, ResumeError> {
        match resolution {
            Resolution::Activity(Ok(bytes)) => {
                crate::codec::decode_exact(&bytes)
                    .map(Ok)
                    .map_err(|reason| ResumeError::Decode {
                        what: format!("the result of activity {}", A::NAME),
                        reason,
                    })
            }
            Resolution::Activity(Err(e)) => Ok(Err(e)),
            other => Err(unexpected("an activity", &other)),
        }
    }
}

/// A durable timer; `.await` it in a workflow.
#[must_use = "a timer does nothing until it is awaited"]
#[derive(Debug)]
pub struct Sleep {
    duration: Duration,
}

impl Sleep {
    pub(crate) fn new(duration: Duration) -> Self {
        Sleep { duration }
    }
}

impl Sealed for Sleep {}

impl Durable for Sleep {
    type Output = ();
    fn schedule(self, ctx: &WorkflowCtx) -> Result<Pending, ResumeError> {
        let ms = u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX);
        Ok(Pending::Timer {
            seq: ctx.next_seq()?,
            fire_at: ctx.now_ms().saturating_add(ms),
        })
    }
    fn resolve(resolution: Resolution) -> Result<(), ResumeError> {
        match resolution {
            Resolution::Timer => Ok(()),
            other => Err(unexpected("a timer", &other)),
        }
    }
}

/// A wait for the run's cancellation; `.await` it in a workflow. Made by
/// [`WorkflowCtx::cancellation`]: a timer that never fires on its own, and that the cancel
/// request ends early, as it ends every timer the run waits on.
#[must_use = "a cancellation wait does nothing until it is awaited"]
#[derive(Debug)]
pub struct Cancellation {
    _private: (),
}

impl Sealed for Cancellation {}

impl Durable for Cancellation {
    type Output = ();
    fn schedule(self, ctx: &WorkflowCtx) -> Result<Pending, ResumeError> {
        let (cancelled, now_ms) = {
            let s = ctx.state_ref();
            (s.cancelled_at.is_some(), s.now_ms)
        };
        Ok(Pending::Timer {
            seq: ctx.next_seq()?,
            // Already cancelled: due now.
            fire_at: if cancelled { now_ms } else { NEVER },
        })
    }
    fn resolve(resolution: Resolution) -> Result<(), ResumeError> {
        Sleep::resolve(resolution)
    }
}

/// The fire time of a timer that only a cancellation ends: the greatest a SQL store keeps.
const NEVER: u64 = i64::MAX as u64;

/// A wait for a signal; `.await` it in a workflow, or bound it with [`SignalWait::timeout`].
#[must_use = "a signal wait does nothing until it is awaited"]
pub struct SignalWait<T> {
    name: String,
    _t: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for SignalWait<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalWait")
            .field("name", &self.name)
            .field("type", &std::any::type_name::<T>())
            .finish()
    }
}

impl<T: DeserializeOwned> SignalWait<T> {
    /// Gives up after `d`: the value is `None` if no signal came in time.
    pub fn timeout(self, d: Duration) -> SignalTimeout<T> {
        SignalTimeout {
            signal: self,
            timer: Sleep { duration: d },
        }
    }
}

impl<T> Sealed for SignalWait<T> {}

impl<T: DeserializeOwned> Durable for SignalWait<T> {
    type Output = T;
    fn schedule(self, ctx: &WorkflowCtx) -> Result<Pending, ResumeError> {
        Ok(Pending::Signal {
            seq: ctx.next_seq()?,
            name: self.name,
        })
    }
    fn resolve(resolution: Resolution) -> Result<T, ResumeError> {
        match resolution {
            Resolution::Signal {
                event,
                payload,
                type_tag,
            } => {
                let expected = || crate::signal::type_name_as_written::<T>();
                if type_tag == Some(crate::signal::JSON_TAG) {
                    return serde_json::from_slice(&payload).map_err(|e| {
                        ResumeError::SignalPayload {
                            event,
                            expected: expected(),
                            reason: format!("its JSON does not fit: {e}"),
                        }
                    });
                }
                if type_tag.is_some_and(|t| t != crate::signal::type_tag::<T>()) {
                    return Err(ResumeError::SignalPayload {
                        event,
                        expected: expected(),
                        reason: "it was sent as a payload of another type (its type tag differs)"
                            .to_string(),
                    });
                }
                crate::codec::decode_exact(&payload).map_err(|reason| ResumeError::SignalPayload {
                    event,
                    expected: expected(),
                    reason,
                })
            }
            other => Err(unexpected("a signal", &other)),
        }
    }
}

/// A wait for a signal that gives up after a time; its value is `None` on timeout.
#[must_use = "a signal wait does nothing until it is awaited"]
pub struct SignalTimeout<T> {
    signal: SignalWait<T>,
    timer: Sleep,
}

impl<T> std::fmt::Debug for SignalTimeout<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalTimeout")
            .field("signal", &self.signal)
            .field("timer", &self.timer)
            .finish()
    }
}

impl<T> Sealed for SignalTimeout<T> {}

impl<T: DeserializeOwned> Durable for SignalTimeout<T> {
    type Output = Option<T>;
    fn schedule(self, ctx: &WorkflowCtx) -> Result<Pending, ResumeError> {
        Ok(Pending::Select(vec![
            self.signal.schedule(ctx)?,
            self.timer.schedule(ctx)?,
        ]))
    }
    fn resolve(resolution: Resolution) -> Result<Option<T>, ResumeError> {
        match resolution {
            Resolution::Select(0, r) => SignalWait::<T>::resolve(*r).map(Some),
            Resolution::Select(1, r) => Sleep::resolve(*r).map(|()| None),
            other => Err(unexpected("a signal or its timeout", &other)),
        }
    }
}

/// Several operations run at once; see [`WorkflowCtx::join`].
#[must_use = "a join does nothing until it is awaited"]
#[derive(Debug)]
pub struct Join<J> {
    operations: J,
}

/// What [`WorkflowCtx::join`] accepts: tuples of durable operations and `Vec`s of one kind.
///
/// Sealed, as [`Durable`](crate::machine::Durable) is: implemented for tuples of up to 6 durable
/// operations and for `Vec`s of them.
pub trait JoinAll: SealedGroup {
    /// The value of the join: the values of the operations, in order.
    type Output;
    /// The commands of every operation, in order.
    fn schedule_all(self, ctx: &WorkflowCtx) -> Result<Vec<Pending>, ResumeError>;
    /// Decodes each operation's value from its resolution.
    fn resolve_all(resolutions: Vec<Resolution>) -> Result<Self::Output, ResumeError>;
}

impl<J> Sealed for Join<J> {}

impl<J: JoinAll> Durable for Join<J> {
    type Output = J::Output;
    fn schedule(self, ctx: &WorkflowCtx) -> Result<Pending, ResumeError> {
        Ok(Pending::Join(self.operations.schedule_all(ctx)?))
    }
    fn resolve(resolution: Resolution) -> Result<J::Output, ResumeError> {
        match resolution {
            Resolution::Join(v) => J::resolve_all(v),
            other => Err(unexpected("a join", &other)),
        }
    }
}

impl<D: Durable> SealedGroup for Vec<D> {}

impl<D: Durable> JoinAll for Vec<D> {
    type Output = Vec<D::Output>;
    fn schedule_all(self, ctx: &WorkflowCtx) -> Result<Vec<Pending>, ResumeError> {
        self.into_iter().map(|d| d.schedule(ctx)).collect()
    }
    fn resolve_all(resolutions: Vec<Resolution>) -> Result<Self::Output, ResumeError> {
        resolutions.into_iter().map(D::resolve).collect()
    }
}

macro_rules! join_tuple {
    ($n:literal; $($d:ident),+) => {
        impl<$($d: Durable),+> SealedGroup for ($($d,)+) {}

        impl<$($d: Durable),+> JoinAll for ($($d,)+) {
            type Output = ($($d::Output,)+);
            #[allow(non_snake_case)]
            fn schedule_all(self, ctx: &WorkflowCtx) -> Result<Vec<Pending>, ResumeError> {
                let ($($d,)+) = self;
                Ok(vec![$($d.schedule(ctx)?),+])
            }
            #[allow(non_snake_case)]
            fn resolve_all(resolutions: Vec<Resolution>) -> Result<Self::Output, ResumeError> {
                if resolutions.len() != $n {
                    return Err(ResumeError::UnexpectedWake {
                        state: format!("awaiting a join of {}", $n),
                        got: format!("a join of {}", resolutions.len()),
                    });
                }
                let mut it = resolutions.into_iter();
                $(let $d = $d::resolve(it.next().expect("length checked above"))?;)+
                Ok(($($d,)+))
            }
        }
    };
}
join_tuple!(1; A);
join_tuple!(2; A, B);
join_tuple!(3; A, B, C);
join_tuple!(4; A, B, C, D);
join_tuple!(5; A, B, C, D, E);
join_tuple!(6; A, B, C, D, E, F);

/// Several operations raced; see [`WorkflowCtx::select`].
#[must_use = "a select does nothing until it is awaited"]
#[derive(Debug)]
pub struct Select<S> {
    operations: S,
}

/// What [`WorkflowCtx::select`] accepts: tuples of 2 to 4 durable operations and `Vec`s.
///
/// Sealed, as [`Durable`](crate::machine::Durable) is: implemented for tuples of 2 to 4 durable
/// operations and for `Vec`s of them.
pub trait SelectAll: SealedGroup {
    /// The value of the select: which operation finished first, with its value.
    type Output;
    /// The commands of every operation, in order.
    fn schedule_all(self, ctx: &WorkflowCtx) -> Result<Vec<Pending>, ResumeError>;
    /// Decodes the value of operation `index`, the one that finished first.
    fn resolve_one(index: u32, resolution: Resolution) -> Result<Self::Output, ResumeError>;
}

impl<S> Sealed for Select<S> {}

impl<S: SelectAll> Durable for Select<S> {
    type Output = S::Output;
    fn schedule(self, ctx: &WorkflowCtx) -> Result<Pending, ResumeError> {
        Ok(Pending::Select(self.operations.schedule_all(ctx)?))
    }
    fn resolve(resolution: Resolution) -> Result<S::Output, ResumeError> {
        match resolution {
            Resolution::Select(i, r) => S::resolve_one(i, *r),
            other => Err(unexpected("a select", &other)),
        }
    }
}

impl<D: Durable> SelectAll for Vec<D> {
    /// Which operation finished first, and its value.
    type Output = (usize, D::Output);
    fn schedule_all(self, ctx: &WorkflowCtx) -> Result<Vec<Pending>, ResumeError> {
        self.into_iter().map(|d| d.schedule(ctx)).collect()
    }
    fn resolve_one(index: u32, resolution: Resolution) -> Result<Self::Output, ResumeError> {
        Ok((index as usize, D::resolve(resolution)?))
    }
}

macro_rules! select_tuple {
    ($name:ident; $($d:ident $v:ident $i:literal),+) => {
        /// Which operation of a `ctx.select((..))` finished first, with its value.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub enum $name<$($d),+> {
            $(#[doc = concat!("Operation ", stringify!($i), " (counted from 0) finished first.")] $v($d)),+
        }

        impl<$($d: Durable),+> SelectAll for ($($d,)+) {
            type Output = $name<$($d::Output),+>;
            #[allow(non_snake_case)]
            fn schedule_all(self, ctx: &WorkflowCtx) -> Result<Vec<Pending>, ResumeError> {
                let ($($d,)+) = self;
                Ok(vec![$($d.schedule(ctx)?),+])
            }
            fn resolve_one(index: u32, resolution: Resolution) -> Result<Self::Output, ResumeError> {
                match index {
                    $($i => Ok($name::$v($d::resolve(resolution)?)),)+
                    other => Err(ResumeError::UnexpectedWake {
                        state: format!("awaiting a select of {}", stringify!($name)),
                        got: format!("branch {other}"),
                    }),
                }
            }
        }
    };
}
select_tuple!(Select2; A First 0, B Second 1);
select_tuple!(Select3; A First 0, B Second 1, C Third 2);
select_tuple!(Select4; A First 0, B Second 1, C Third 2, D Fourth 3);
