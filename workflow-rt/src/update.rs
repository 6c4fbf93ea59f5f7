//! Updates: a request sent to a run that its code answers, and whose answer the sender waits
//! for (Temporal's workflow updates).
//!
//! An update is a signal that carries an id ([`Update`]): the run receives it as any signal,
//! `ctx.signal::<Update<T>>(name).await` (buffered, in order, once), does what it asks, and
//! replies with [`WorkflowCtx::reply`](crate::WorkflowCtx::reply). The reply is published
//! under the update's id ([`reply_key`]), so it commits with the step that makes it, and
//! [`Client::update`](crate::Client::update) returns it to the sender:
//!
//! ```
//! use std::time::Duration;
//! use workflow_rt::prelude::*;
//! use workflow_rt::Update;
//!
//! /// A cart fed by updates: each adds an item and is answered with the new total.
//! #[workflow]
//! async fn cart(ctx: WorkflowCtx, items: u32) -> u64 {
//!     let mut total: u64 = 0;
//!     let mut n: u32 = 0;
//!     while n < items {
//!         let add: Update<u64> = ctx.signal("add").await;
//!         total += *add.payload();
//!         // A reply that cannot be kept is the sender's problem: the run goes on.
//!         let _ = ctx.reply(&add, &total);
//!         n += 1;
//!     }
//!     total
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let rt = Runtime::builder(MemoryStore::new()).workflow(cart).build().await?;
//! let client = rt.client();
//! client.start(cart, "cart-1", 2).await?;
//! let total: u64 = client.update("cart-1", "add", 5u64, Duration::from_secs(5)).await?;
//! assert_eq!(total, 5);
//! let total: u64 = client.update("cart-1", "add", 7u64, Duration::from_secs(5)).await?;
//! assert_eq!(total, 12);
//! # rt.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! What an update promises, and what it does not:
//! - The request is a signal: stored before `update` waits, delivered once, in order with the
//!   run's other signals of its name, buffered until the code waits for it. A run that never
//!   waits for it never replies: the sender's wait ends at its timeout
//!   ([`UpdateError::TimedOut`]), or when the run ends or parks ([`UpdateError::NoReply`]).
//! - The reply is durable: published in the snapshot of the step that makes it, readable after
//!   a restart, and after the run's end until it is purged. A sender that retries with the
//!   same update id ([`Client::update_with_id`](crate::Client::update_with_id)) gets the reply
//!   to the first request without sending it again, as long as the run keeps it: a run keeps
//!   the replies to its last [`MAX_REPLIES`] updates (they travel with every snapshot, within
//!   [`MAX_PUBLISHED_BYTES`](crate::MAX_PUBLISHED_BYTES) with the run's published values), and
//!   a continue-as-new keeps them. A retry that comes before the first request was answered
//!   sends it again, and the code receives it twice: a second reply changes nothing, and
//!   [`WorkflowCtx::is_replied`](crate::WorkflowCtx::is_replied) lets the code skip the work
//!   the second time.
//! - There is no validator that refuses a request before it is stored: the code replies with
//!   whatever says "no" (an `Err` of a `Result` reply), as it decides.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::WorkflowStatus;
use crate::runtime::RuntimeError;

/// A request sent with [`Client::update`](crate::Client::update), as the run receives it:
/// `ctx.signal::<Update<T>>(name).await`. Its id names the reply
/// ([`WorkflowCtx::reply`](crate::WorkflowCtx::reply)). On the wire, and as JSON, it is
/// `{"id": .., "payload": ..}`: a signal sent as JSON in that form is an update too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update<T> {
    id: String,
    payload: T,
}

impl<T> Update<T> {
    /// An update `id` with `payload` (what [`Client::update`](crate::Client::update) sends;
    /// for tests, which send it as a signal).
    pub fn new(id: impl Into<String>, payload: T) -> Self {
        Update {
            id: id.into(),
            payload,
        }
    }

    /// The update's id, which names its reply.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What the update asks for.
    pub fn payload(&self) -> &T {
        &self.payload
    }

    /// What the update asks for, taken out (keep [`Update::id`] first to reply).
    pub fn into_payload(self) -> T {
        self.payload
    }
}

/// How many replies a run keeps ([`WorkflowCtx::reply`](crate::WorkflowCtx::reply)): a reply
/// beyond drops the oldest.
pub const MAX_REPLIES: usize = 16;

/// The longest update id, in bytes.
pub const MAX_UPDATE_ID: usize = 128;

/// The prefix of the keys replies are published under: [`WorkflowCtx::publish`] refuses keys
/// that start with it.
///
/// [`WorkflowCtx::publish`]: crate::WorkflowCtx::publish
pub const REPLY_PREFIX: &str = "@update/";

/// The key the reply to update `update_id` is published under: [`REPLY_PREFIX`] and the id.
pub fn reply_key(update_id: &str) -> String {
    let mut key = String::with_capacity(REPLY_PREFIX.len() + update_id.len());
    key.push_str(REPLY_PREFIX);
    key.push_str(update_id);
    key
}

/// A reply as it is published under [`reply_key`], `{"n": .., "reply": ..}`: its number among
/// the run's replies (the oldest is dropped first), and the value. What
/// [`Client::published`](crate::Client::published) and
/// [`Client::wait_published`](crate::Client::wait_published) read under that key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply<R> {
    /// 1 for the run's first reply, then one more for each.
    pub n: u64,
    /// The value replied.
    pub reply: R,
}

/// Why [`Client::update`](crate::Client::update) has no reply.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// The request was not sent (the run does not exist or has ended, the payload is over the
    /// limit of a signal, the update id is refused, the store failed), or, once it was, the
    /// run could not be read while waiting for the reply (the store failed, the run was
    /// purged).
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// No reply came within the timeout. The request stays with the run, which may still
    /// take it and reply: [`Client::wait_update`](crate::Client::wait_update) with this id
    /// waits for that reply without sending the request again. (A payload of another type
    /// than the run's wait is dead-lettered, as a signal's would be, and ends here too.)
    #[error("run {id:?} did not reply to update {update_id:?} within {timeout:?}")]
    TimedOut {
        /// The run.
        id: String,
        /// The update.
        update_id: String,
        /// The wait's timeout.
        timeout: Duration,
    },
    /// The run ended (or parked) without replying. A parked run keeps the request: unparked,
    /// it may take it and reply ([`Client::wait_update`](crate::Client::wait_update)).
    #[error("run {id:?} is {status} and did not reply to update {update_id:?}")]
    NoReply {
        /// The run.
        id: String,
        /// The update.
        update_id: String,
        /// Where the run stands.
        status: WorkflowStatus,
    },
    /// The reply does not decode as the type the sender expects.
    #[error("the reply of run {id:?} to update {update_id:?} does not decode: {reason}")]
    Decode {
        /// The run.
        id: String,
        /// The update.
        update_id: String,
        /// The decoder's error.
        reason: String,
    },
}
