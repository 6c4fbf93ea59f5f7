//! External completion: a wait that a system outside the workflow completes by token.
//!
//! A promise is kept as an activity task that no worker runs, stored by the commit of the step
//! that made the token (so the token works as soon as it can have been handed out): its name
//! is [`PROMISE_ACTIVITY`], its input the tag of the value's type and the secret, and its lease
//! is held, for ever, by the token's secret. Completing it is [`Store::complete_activity`](crate::store::Store::complete_activity)
//! fenced by that secret: atomic, single-use (the task is gone once completed), and refused
//! for a wrong secret; everything else (the wait's end waking the run, a `select` or a cancel
//! request dropping it, the run's end taking it away) is what happens to any activity call.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::activity::{ActivityErrorKind, ActivityOptions};
use crate::context::{Sleep, WorkflowCtx};
use crate::durable::sealed::Sealed;
use crate::durable::{Durable, Pending, Resolution, unexpected};
use crate::error::ResumeError;

/// The name of the activity tasks that stand for promises (no worker registers it).
pub const PROMISE_ACTIVITY: &str = "workflow_rt.promise";

/// A token that completes one wait of one run, once: hand it to the system that will answer
/// (a payment provider's webhook, a link in an email), and complete it with
/// [`Client::complete`](crate::Client::complete). Made by [`WorkflowCtx::promise`].
///
/// Its text is `<secret>.<sequence number>.<run id>`; the secret is 128 random bits from the
/// operating system, so a token cannot be guessed from the run's id.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct PromiseToken<T> {
    token: String,
    seq: u64,
    #[serde(skip)]
    _t: PhantomData<fn() -> T>,
}

thread_local! {
    /// Set while the runtime writes a run's state or output for people ([`showing`]).
    static SHOWING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with the secrets of promise tokens left out of what it serializes in a
/// human-readable format (the state and output the client, the CLI and the console show):
/// anyone who may read a run could otherwise complete its waits.
pub(crate) fn showing<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            SHOWING.with(|s| s.set(self.0));
        }
    }
    let _reset = Reset(SHOWING.with(|s| s.replace(true)));
    f()
}

/// The fields the derive would write, in its order (the snapshot's encoding and the traced
/// layout are the same); the secret hidden while the runtime shows a state to people.
impl<T> Serialize for PromiseToken<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let hidden;
        let token = if serializer.is_human_readable() && SHOWING.with(|s| s.get()) {
            hidden = match self.token.split_once('.') {
                Some((_, rest)) => format!("<secret>.{rest}"),
                None => "<secret>".to_string(),
            };
            &hidden
        } else {
            &self.token
        };
        let mut st = serializer.serialize_struct("PromiseToken", 2)?;
        st.serialize_field("token", token)?;
        st.serialize_field("seq", &self.seq)?;
        st.end()
    }
}

impl<T> fmt::Debug for PromiseToken<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret stays out of logs.
        f.debug_struct("PromiseToken")
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl<T> PromiseToken<T> {
    /// The token's text, to hand to whoever completes it.
    pub fn as_str(&self) -> &str {
        &self.token
    }
}

impl<T> fmt::Display for PromiseToken<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.token)
    }
}

/// The secret of a token made without randomness from the system: 32 characters that are not
/// hex digits, which [`parse_token`] refuses in any token.
const UNGUESSABLE_NEVER: &str = "--------------------------------";

/// Whether the wait `pending` of a run has given up on promise `seq` by `now_ms`: the promise
/// waits in a `select` beside a timer (`PromiseWait::timeout`) that is due. A value sent then
/// would come after the timeout, which wins (see `resolve`): it is refused rather than taken
/// and dropped.
pub(crate) fn timed_out(pending: &Pending, seq: u64, now_ms: u64) -> bool {
    match pending {
        Pending::Select(children) => {
            let holds = children
                .iter()
                .any(|c| matches!(c, Pending::Activity { seq: s, .. } if *s == seq));
            (holds
                && children
                    .iter()
                    .any(|c| matches!(c, Pending::Timer { fire_at, .. } if *fire_at <= now_ms)))
                || children.iter().any(|c| timed_out(c, seq, now_ms))
        }
        Pending::Join(children) => children.iter().any(|c| timed_out(c, seq, now_ms)),
        _ => false,
    }
}

/// The parts of a token's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenParts<'a> {
    pub secret: &'a str,
    pub seq: u64,
    pub workflow_id: &'a str,
}

/// Splits a token's text; `None` if it is not one.
pub(crate) fn parse_token(token: &str) -> Option<TokenParts<'_>> {
    let mut parts = token.splitn(3, '.');
    let secret = parts.next()?;
    let seq = parts.next()?.parse().ok()?;
    let workflow_id = parts.next()?;
    (secret.len() == 32 && secret.bytes().all(|b| b.is_ascii_hexdigit()) && !workflow_id.is_empty())
        .then_some(TokenParts {
            secret,
            seq,
            workflow_id,
        })
}

/// Why a completion was refused (nothing changed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompleteError {
    /// The text is not a token.
    #[error("not a completion token")]
    Malformed,
    /// No run waits on this token: it was never issued, was completed already, or its wait
    /// ended otherwise (a timeout, a cancel, the run's end).
    #[error("no run waits on this token (unknown, used already, or its wait has ended)")]
    Unknown,
    /// The value is not of the type the wait expects.
    #[error("the wait expects a value of another type than the one given")]
    WrongType,
    /// The value does not encode, or is over the size limit.
    #[error("the value cannot be sent: {0}")]
    BadValue(String),
}

/// Why a promise wait ended without a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum PromiseError {
    /// The run was asked to cancel while it waited.
    #[error("the wait was cancelled")]
    Cancelled,
    /// The value sent (as JSON) does not decode as the type the wait expects.
    #[error("the value does not decode: {0}")]
    BadValue(String),
}

/// What a completion stores as the task's result: the value's type tag (or the JSON tag) and
/// its bytes.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Completed {
    pub type_tag: u64,
    pub bytes: Vec<u8>,
}

impl WorkflowCtx {
    /// A token for a value of type `T` that the outside world will send: hand it out (in an
    /// activity's input, say), then await [`WorkflowCtx::promise_wait`] on it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use workflow_rt::prelude::*;
    /// use workflow_rt::PromiseToken;
    ///
    /// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    /// pub struct Paid { pub reference: String }
    ///
    /// #[activity]
    /// async fn ask_provider(_ctx: ActivityCtx, token: String) -> Result<(), ActivityError> {
    ///     // A real activity posts `token` to the provider, whose webhook calls
    ///     // `client.complete(&token, Paid { .. })`.
    ///     Ok(())
    /// }
    ///
    /// #[workflow]
    /// async fn pay(ctx: WorkflowCtx, cents: u64) -> Result<String, WorkflowError> {
    ///     let token: PromiseToken<Paid> = ctx.promise();
    ///     ctx.activity(ask_provider, token.to_string()).await?;
    ///     match ctx.promise_wait(&token).timeout(Duration::from_secs(3600)).await {
    ///         Some(Ok(paid)) => Ok(paid.reference),
    ///         Some(Err(e)) => Err(WorkflowError::msg(e)),
    ///         None => Err(WorkflowError::msg("the provider never answered")),
    ///     }
    /// }
    /// # let run = workflow_rt::testing::TestRun::new(pay, "p", 5)
    /// #     .with_activity(ask_provider)
    /// #     .complete_promises_after(Duration::from_secs(60), Paid { reference: "r-1".into() })
    /// #     .run().unwrap();
    /// # assert_eq!(run.output, Ok("r-1".to_string()));
    /// ```
    pub fn promise<T: Serialize + DeserializeOwned>(&self) -> PromiseToken<T> {
        let mut secret = [0u8; 16];
        let hex: String = match getrandom::fill(&mut secret) {
            Ok(()) => secret.iter().map(|b| format!("{b:02x}")).collect(),
            // No randomness from the system: a secret that is not hex, so that no token
            // parses to it (the token is one nobody can complete, and the wait ends by its
            // timeout), where zeros would be one anybody could write.
            Err(_) => UNGUESSABLE_NEVER.to_string(),
        };
        // A sequence number of its own: the wait's command uses it.
        let seq = self.next_seq().unwrap_or(u64::MAX);
        self.made_promise(seq, hex.clone(), crate::signal::type_tag::<T>());
        PromiseToken {
            token: format!("{hex}.{seq}.{}", self.workflow_id()),
            seq,
            _t: PhantomData,
        }
    }

    /// Waits for the value sent with `token` (see [`WorkflowCtx::promise`]): `Ok` with the
    /// value, or a [`PromiseError`] if the run was cancelled meanwhile. Bound it with
    /// [`PromiseWait::timeout`].
    pub fn promise_wait<T: Serialize + DeserializeOwned>(
        &self,
        token: &PromiseToken<T>,
    ) -> PromiseWait<T> {
        PromiseWait {
            token: token.token.clone(),
            seq: token.seq,
            _t: PhantomData,
        }
    }
}

/// A wait for the value sent with a [`PromiseToken`]; `.await` it in a workflow.
#[must_use = "a promise wait does nothing until it is awaited"]
pub struct PromiseWait<T> {
    token: String,
    seq: u64,
    _t: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for PromiseWait<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PromiseWait")
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl<T: Serialize + DeserializeOwned> PromiseWait<T> {
    /// Gives up after `d`: the value is `None` if nothing came in time (the token then no
    /// longer completes anything).
    pub fn timeout(self, d: Duration) -> PromiseTimeout<T> {
        PromiseTimeout {
            wait: self,
            timer: Sleep::new(d),
        }
    }
}

impl<T> Sealed for PromiseWait<T> {}

impl<T: Serialize + DeserializeOwned> Durable for PromiseWait<T> {
    type Output = Result<T, PromiseError>;

    fn schedule(self, _ctx: &WorkflowCtx) -> Result<Pending, ResumeError> {
        let secret = parse_token(&self.token)
            .map(|p| p.secret.to_string())
            .unwrap_or_default();
        let tag = crate::signal::type_tag::<T>();
        Ok(Pending::Activity {
            seq: self.seq,
            name: PROMISE_ACTIVITY.to_string(),
            input: postcard::to_stdvec(&(tag, secret)).map_err(|e| ResumeError::Encode {
                what: "a promise".to_string(),
                reason: e.to_string(),
            })?,
            options: ActivityOptions::default(),
        })
    }

    fn resolve(resolution: Resolution) -> Result<Self::Output, ResumeError> {
        match resolution {
            Resolution::Activity(Ok(bytes)) => {
                let c: Completed =
                    crate::codec::decode_exact(&bytes).map_err(|reason| ResumeError::Decode {
                        what: "a promise's value".to_string(),
                        reason,
                    })?;
                if c.type_tag == crate::signal::JSON_TAG {
                    return Ok(serde_json::from_slice(&c.bytes).map_err(|e| {
                        PromiseError::BadValue(format!("its JSON does not fit: {e}"))
                    }));
                }
                Ok(crate::codec::decode_exact(&c.bytes).map_err(PromiseError::BadValue))
            }
            Resolution::Activity(Err(e)) if e.kind == ActivityErrorKind::Cancelled => {
                Ok(Err(PromiseError::Cancelled))
            }
            Resolution::Activity(Err(e)) => Ok(Err(PromiseError::BadValue(e.to_string()))),
            other => Err(unexpected("a promise", &other)),
        }
    }
}

/// A promise wait that gives up after a time; its value is `None` on timeout.
#[must_use = "a promise wait does nothing until it is awaited"]
pub struct PromiseTimeout<T> {
    wait: PromiseWait<T>,
    timer: Sleep,
}

impl<T> fmt::Debug for PromiseTimeout<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PromiseTimeout")
            .field("wait", &self.wait)
            .field("timer", &self.timer)
            .finish()
    }
}

impl<T> Sealed for PromiseTimeout<T> {}

impl<T: Serialize + DeserializeOwned> Durable for PromiseTimeout<T> {
    type Output = Option<Result<T, PromiseError>>;
    fn schedule(self, ctx: &WorkflowCtx) -> Result<Pending, ResumeError> {
        Ok(Pending::Select(vec![
            self.wait.schedule(ctx)?,
            self.timer.schedule(ctx)?,
        ]))
    }
    fn resolve(resolution: Resolution) -> Result<Self::Output, ResumeError> {
        match resolution {
            Resolution::Select(0, r) => PromiseWait::<T>::resolve(*r).map(Some),
            Resolution::Select(1, r) => Sleep::resolve(*r).map(|()| None),
            other => Err(unexpected("a promise or its timeout", &other)),
        }
    }
}

/// The secret and type tag a promise's task holds (its input), if it is one.
pub(crate) fn task_input(input: &[u8]) -> Option<(u64, String)> {
    postcard::from_bytes(input).ok()
}

/// The task that stands for a promise made at `now_ms` by run `workflow_id`, by the step
/// that leaves the run at `version` (see the module docs).
pub(crate) fn task(
    workflow_id: &str,
    (seq, secret, type_tag): (u64, String, u64),
    now_ms: u64,
    version: u64,
) -> crate::store::ActivityTask {
    crate::store::ActivityTask {
        workflow_id: workflow_id.to_string(),
        seq,
        scheduled_version: version,
        name: PROMISE_ACTIVITY.to_string(),
        input: postcard::to_stdvec(&(type_tag, secret.as_str())).unwrap_or_default(),
        options: ActivityOptions::default(),
        attempt: 0,
        scheduled_at_ms: now_ms,
        visible_at_ms: now_ms,
        lease_owner: Some(secret),
        lease_until_ms: Some(i64::MAX as u64),
        heartbeat_details: None,
        deadline_ms: None,
    }
}

/// Whether two secrets are equal, in a time that does not depend on where they differ.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_made_without_randomness_completes_nothing() {
        assert!(parse_token(&format!("{UNGUESSABLE_NEVER}.3.run")).is_none());
        assert!(parse_token(&format!("{}.3.run", "0".repeat(32))).is_some());
    }

    #[test]
    fn the_secret_is_left_out_of_what_people_are_shown_only() {
        let token = PromiseToken::<u8> {
            token: format!("{}.3.run", "ab".repeat(16)),
            seq: 3,
            _t: PhantomData,
        };
        let shown = showing(|| serde_json::to_string(&token)).expect("json");
        assert_eq!(shown, r#"{"token":"<secret>.3.run","seq":3}"#);
        let kept = serde_json::to_string(&token).expect("json");
        assert!(kept.contains(&"ab".repeat(16)), "{kept}");
        let stored: PromiseToken<u8> =
            postcard::from_bytes(&showing(|| postcard::to_stdvec(&token)).expect("encode"))
                .expect("decode");
        assert_eq!(stored, token, "the snapshot keeps it whole");
    }
}
