//! Reading what runs publish ([`crate::WorkflowCtx::publish`]): from the snapshot of a run's
//! last committed step, where the values travel.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::client::Watching;
use super::{Client, RuntimeError};
use crate::machine::Snapshot;
use crate::store::{StoreError, WorkflowRecord};

impl Client {
    /// The value run `id` last published under `key` ([`crate::WorkflowCtx::publish`]), as
    /// of its last committed step, decoded as `T`; `None` if it has published none under that
    /// key. Readable while the run goes on and after it ends, until it is purged.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use workflow_rt::prelude::*;
    /// #[workflow]
    /// async fn import(ctx: WorkflowCtx, files: u32) -> Result<u32, WorkflowError> {
    ///     for done in 0..files {
    ///         ctx.publish("done", &done)?;
    ///         ctx.sleep(Duration::from_millis(10)).await;
    ///     }
    ///     ctx.publish("done", &files)?;
    ///     Ok(files)
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let rt = Runtime::builder(MemoryStore::new()).workflow(import).build().await?;
    /// let client = rt.client();
    /// let run = client.start(import, "import-1", 3).await?;
    /// // Some value as soon as the first step has committed.
    /// let first: Option<u32> =
    ///     client.wait_published("import-1", "done", Duration::from_secs(5)).await?;
    /// assert!(first.is_some());
    /// assert_eq!(client.result(import, "import-1").await?.ok(), Some(3));
    /// assert_eq!(client.published::<u32>("import-1", "done").await?, Some(3));
    /// assert_eq!(client.published::<u32>("import-1", "other").await?, None);
    /// # drop(run);
    /// # rt.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn published<T: DeserializeOwned>(
        &self,
        id: &str,
        key: &str,
    ) -> Result<Option<T>, RuntimeError> {
        let rec = self.record(id).await?;
        value_in(id, key, &rec)
    }

    /// Every value run `id` has published, by key, as JSON (for tools that do not have the
    /// values' Rust types: the console, the admin's `show`).
    pub async fn published_values(
        &self,
        id: &str,
    ) -> Result<BTreeMap<String, serde_json::Value>, RuntimeError> {
        let rec = self.record(id).await?;
        Ok(as_json(snapshot_of(id, &rec)?.ctx.published()))
    }

    /// Waits, at most `timeout`, until run `id` has published a value under `key`, and returns
    /// it (at once if it has already): DBOS's `get_event`. `None` if the timeout ran out, or
    /// the run ended (or was parked) without publishing one. A run that does not exist is
    /// [`RuntimeError::UnknownWorkflow`] at once; a store that fails is looked at again until
    /// the timeout, and its failure is the wait's error if it never answered since
    /// ([`RuntimeError::Store`]). `Duration::MAX` waits for ever.
    ///
    /// A step of this client's own runtime that publishes wakes the wait at once; the steps
    /// of other processes are seen by looking at the store again, at growing intervals of at
    /// most a second, as [`Client::result`] does.
    pub async fn wait_published<T: DeserializeOwned>(
        &self,
        id: &str,
        key: &str,
        timeout: Duration,
    ) -> Result<Option<T>, RuntimeError> {
        // A timeout past what the clock holds (`Duration::MAX`, "for ever") waits for ever.
        let deadline = tokio::time::Instant::now().checked_add(timeout);
        let mut pause = Duration::from_millis(10);
        // The store's last failure, while it fails: what the wait ends with if it never
        // answers before the timeout.
        let mut failing: Option<StoreError>;
        let mut failures = 0u32;
        loop {
            let local = self.runtime().filter(|rt| !rt.is_shut_down());
            let watching = local.as_ref().map(|rt| Watching {
                watcher: rt.watcher(id),
                rt,
                id,
            });
            let notified = watching.as_ref().map(|w| w.watcher.notified());
            tokio::pin!(notified);
            if let Some(n) = notified.as_mut().as_pin_mut() {
                n.enable();
            }
            match self.store.load_workflow(id).await {
                // A store that failed (a connection lost) is looked at again, until the
                // timeout.
                Err(StoreError::Backend(e)) => {
                    failures = failures.saturating_add(1);
                    if failures == 10 {
                        tracing::warn!(workflow_id = %id, error = %e, "cannot look at the run, ten times in a row; the wait for its value goes on");
                    } else {
                        tracing::debug!(workflow_id = %id, error = %e, "cannot look at the run; looking again");
                    }
                    failing = Some(StoreError::Backend(e));
                }
                Err(e) => return Err(RuntimeError::from_store(id, e)),
                Ok(rec) => {
                    failing = None;
                    failures = 0;
                    if let Some(v) = value_in(id, key, &rec)? {
                        return Ok(Some(v));
                    }
                    if rec.status.is_finished() || rec.status == crate::WorkflowStatus::Parked {
                        return Ok(None);
                    }
                }
            }
            let now = tokio::time::Instant::now();
            let nap = match deadline {
                Some(deadline) if now >= deadline => {
                    return match failing {
                        Some(e) => Err(RuntimeError::Store(e)),
                        None => Ok(None),
                    };
                }
                Some(deadline) => pause.min(deadline - now),
                None => pause,
            };
            match notified.as_mut().as_pin_mut() {
                Some(n) => {
                    tokio::select! {
                        () = n => {}
                        () = tokio::time::sleep(nap) => {}
                    }
                }
                None => tokio::time::sleep(nap).await,
            }
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }
}

impl Client {
    /// Sends update `signal` with `payload` to run `id` and waits, at most `timeout`, for the
    /// run's reply ([`crate::update`]; Temporal's workflow update): the run receives
    /// `Update<T>` as a signal of that name (or typed const: `Signal<Update<T>>`) and answers
    /// with [`WorkflowCtx::reply`](crate::WorkflowCtx::reply). The update gets a random id; to
    /// retry an update without it being done twice, give it one
    /// ([`Client::update_with_id`]).
    ///
    /// [`UpdateError::TimedOut`](crate::UpdateError::TimedOut) if no reply came within the
    /// timeout (the request stays with the run, which may still take it: wait again for its
    /// reply with [`Client::wait_update`]),
    /// [`UpdateError::NoReply`](crate::UpdateError::NoReply) if the run ended or parked
    /// without replying, [`UpdateError::Runtime`](crate::UpdateError::Runtime) if the request
    /// could not be sent (a run that does not exist or has finished, a payload over the
    /// limit of a signal) or the run could not be read while waiting. A payload of another
    /// type than the run's wait is dead-lettered as a signal would be (see the run's
    /// history), and the call ends at its timeout: send the type the wait names (a typed
    /// `Signal<Update<T>>` const makes the compiler check it).
    pub async fn update<T: Serialize, R: DeserializeOwned>(
        &self,
        id: &str,
        signal: impl crate::IntoSignal<crate::Update<T>>,
        payload: T,
        timeout: Duration,
    ) -> Result<R, crate::UpdateError> {
        let update_id = self.new_update_id();
        let request = self.encode_signal(
            signal.signal_name(),
            &crate::Update::new(update_id.as_str(), payload),
        );
        self.send_update(id, &update_id, request, timeout, false)
            .await
    }

    /// [`Client::update`] with the update's id given: a retry with the same id (after a
    /// timeout, or from another process) gets the reply to the first request, without
    /// sending it again, while the run keeps that reply (its last
    /// [`MAX_REPLIES`](crate::update::MAX_REPLIES)). A request not replied to yet is sent
    /// again, and reaches the run's code a second time
    /// ([`WorkflowCtx::is_replied`](crate::WorkflowCtx::is_replied) lets the code skip it);
    /// to wait for the first request's reply without sending it again, use
    /// [`Client::wait_update`]. At most [`MAX_UPDATE_ID`](crate::update::MAX_UPDATE_ID)
    /// bytes, and held to the rule of [`check_name`](crate::check_name).
    pub async fn update_with_id<T: Serialize, R: DeserializeOwned>(
        &self,
        id: &str,
        signal: impl crate::IntoSignal<crate::Update<T>>,
        update_id: &str,
        payload: T,
        timeout: Duration,
    ) -> Result<R, crate::UpdateError> {
        let request = self.encode_signal(
            signal.signal_name(),
            &crate::Update::new(update_id, payload),
        );
        self.send_update(id, update_id, request, timeout, true)
            .await
    }

    /// [`Client::update`] with a JSON payload and a JSON reply, for callers that do not have
    /// the Rust types (an operator's command, a web form, another language): the run receives
    /// the payload decoded into the `Update<T>` it waits for, as [`Client::signal_json`]
    /// sends a signal. `update_id`: as [`Client::update_with_id`]'s; `None`, a random one.
    pub async fn update_json(
        &self,
        id: &str,
        name: &str,
        update_id: Option<&str>,
        payload: &serde_json::Value,
        timeout: Duration,
    ) -> Result<serde_json::Value, crate::UpdateError> {
        let (update_id, retried) = match update_id {
            Some(u) => (u.to_string(), true),
            None => (self.new_update_id(), false),
        };
        let envelope = serde_json::json!({ "id": update_id, "payload": payload });
        let request = self.encode_signal_json(name, &envelope);
        self.send_update(id, &update_id, request, timeout, retried)
            .await
    }

    /// Waits, at most `timeout`, for run `id`'s reply to update `update_id`, sent before
    /// (by [`Client::update_with_id`], or a call that timed out: its
    /// [`UpdateError::TimedOut`](crate::UpdateError::TimedOut) names the id), without sending
    /// anything: the reply at once if the run has made it. Its errors are
    /// [`Client::update`]'s.
    pub async fn wait_update<R: DeserializeOwned>(
        &self,
        id: &str,
        update_id: &str,
        timeout: Duration,
    ) -> Result<R, crate::UpdateError> {
        checked_update_id(update_id)?;
        self.await_reply(id, update_id, timeout).await
    }

    /// A random update id: 128 bits from the system's randomness, as hex.
    fn new_update_id(&self) -> String {
        let mut bytes = [0u8; 16];
        match getrandom::fill(&mut bytes) {
            Ok(()) => bytes.iter().map(|b| format!("{b:02x}")).collect(),
            // No randomness from the system: an id from the clock and a count, unique in
            // this process.
            Err(_) => {
                static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                format!("{}-{n}-{}", self.clock.now_ms(), std::process::id())
            }
        }
    }

    /// Sends `request` (update `update_id` to run `id`) and waits for its reply; `retried`:
    /// the id may have a reply already (one the caller gave), looked for before anything is
    /// sent.
    async fn send_update<R: DeserializeOwned>(
        &self,
        id: &str,
        update_id: &str,
        request: Result<crate::store::NewSignal, RuntimeError>,
        timeout: Duration,
        retried: bool,
    ) -> Result<R, crate::UpdateError> {
        checked_update_id(update_id)?;
        let key = crate::update::reply_key(update_id);
        // Replied to already (a retry): the reply, and nothing sent again.
        if retried && let Some(json) = self.published::<serde_json::Value>(id, &key).await? {
            return reply_of(id, update_id, json);
        }
        self.deliver(id, &request?).await?;
        self.await_reply(id, update_id, timeout).await
    }

    /// Waits, at most `timeout`, for run `id`'s reply to update `update_id`.
    async fn await_reply<R: DeserializeOwned>(
        &self,
        id: &str,
        update_id: &str,
        timeout: Duration,
    ) -> Result<R, crate::UpdateError> {
        use crate::UpdateError;
        let key = crate::update::reply_key(update_id);
        if let Some(json) = self
            .wait_published::<serde_json::Value>(id, &key, timeout)
            .await?
        {
            return reply_of(id, update_id, json);
        }
        // The run as it stands now: it may have replied since the wait's last look.
        let rec = self.record(id).await?;
        if let Some(json) = value_in::<serde_json::Value>(id, &key, &rec)? {
            return reply_of(id, update_id, json);
        }
        if rec.status.is_finished() || rec.status == crate::WorkflowStatus::Parked {
            Err(UpdateError::NoReply {
                id: id.to_string(),
                update_id: update_id.to_string(),
                status: rec.status,
            })
        } else {
            Err(UpdateError::TimedOut {
                id: id.to_string(),
                update_id: update_id.to_string(),
                timeout,
            })
        }
    }
}

/// An update id as the client takes it: at most [`crate::update::MAX_UPDATE_ID`] bytes, and
/// held to the rule of [`crate::check_name`].
fn checked_update_id(update_id: &str) -> Result<(), RuntimeError> {
    const _: () = assert!(crate::update::MAX_UPDATE_ID == 128);
    if update_id.len() > crate::update::MAX_UPDATE_ID {
        return Err(RuntimeError::BadName {
            what: "update id",
            name: update_id.chars().take(32).collect(),
            reason: "longer than an update id may be (MAX_UPDATE_ID, 128 bytes)",
        });
    }
    super::error::checked_name("update id", update_id)
}

/// The reply in `json` (a published [`crate::update::Reply`]) decoded as `R`.
fn reply_of<R: DeserializeOwned>(
    id: &str,
    update_id: &str,
    json: serde_json::Value,
) -> Result<R, crate::UpdateError> {
    serde_json::from_value::<crate::update::Reply<R>>(json)
        .map(|r| r.reply)
        .map_err(|e| crate::UpdateError::Decode {
            id: id.to_string(),
            update_id: update_id.to_string(),
            reason: e.to_string(),
        })
}

/// Published values as JSON, each as it reads back; one that does not (a snapshot written by
/// hand) as the string it is.
pub(crate) fn as_json(values: &BTreeMap<String, String>) -> BTreeMap<String, serde_json::Value> {
    values
        .iter()
        .map(|(k, v)| {
            let v =
                serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.clone()));
            (k.clone(), v)
        })
        .collect()
}

/// The decoded snapshot envelope of `rec`.
fn snapshot_of(id: &str, rec: &WorkflowRecord) -> Result<Snapshot, RuntimeError> {
    Snapshot::decode(&rec.snapshot).map_err(|e| RuntimeError::Decode {
        what: format!("the snapshot of run {id:?}"),
        reason: e.to_string(),
    })
}

/// The value `rec` holds under `key`, decoded as `T`.
fn value_in<T: DeserializeOwned>(
    id: &str,
    key: &str,
    rec: &WorkflowRecord,
) -> Result<Option<T>, RuntimeError> {
    let snapshot = snapshot_of(id, rec)?;
    let Some(json) = snapshot.ctx.published().get(key) else {
        return Ok(None);
    };
    serde_json::from_str(json)
        .map(Some)
        .map_err(|e| RuntimeError::Decode {
            what: format!("the value run {id:?} published under {key:?}"),
            reason: e.to_string(),
        })
}
