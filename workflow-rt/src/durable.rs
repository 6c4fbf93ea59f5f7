use std::cell::Cell;

use serde::{Deserialize, Deserializer, Serialize};

use crate::activity::{ActivityError, ActivityOptions};
use crate::child::{ChildError, ParentClose};
use crate::context::WorkflowCtx;
use crate::error::ResumeError;

/// What a suspended workflow waits for: the commands the runtime must carry out, as a tree.
///
/// Leaves are commands (run an activity, start a timer, wait for a signal, start a child
/// workflow and wait for its end); `Join` resolves when
/// all its children have, `Select` when the first one does (the others are then cancelled).
/// Every leaf has a sequence number unique within its workflow, allocated from the workflow's
/// context, so the same step run twice issues the same commands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Pending {
    /// Run an activity.
    Activity {
        /// The command's sequence number in its workflow.
        seq: u64,
        /// The activity's name ([`crate::Activity::NAME`]).
        name: String,
        /// The encoded input.
        input: Vec<u8>,
        /// Retry policy and timeouts.
        options: ActivityOptions,
    },
    /// Start a timer.
    Timer {
        /// The command's sequence number in its workflow.
        seq: u64,
        /// When it fires, in milliseconds since the Unix epoch, on the runtime's clock.
        fire_at: u64,
    },
    /// Wait for a signal.
    Signal {
        /// The command's sequence number in its workflow.
        seq: u64,
        /// The signal's name.
        name: String,
    },
    /// Wait for all of these.
    Join(#[serde(deserialize_with = "nested")] Vec<Pending>),
    /// Wait for the first of these; the others are cancelled.
    Select(#[serde(deserialize_with = "nested")] Vec<Pending>),
    /// Start a child workflow (unless it was started already) and wait for its end.
    Child {
        /// The command's sequence number in its workflow.
        seq: u64,
        /// The child workflow's name ([`crate::Workflow::NAME`]).
        name: String,
        /// The child run's id.
        id: String,
        /// The encoded input.
        input: Vec<u8>,
        /// What happens to the child if the parent stops waiting for it.
        close: ParentClose,
    },
}

impl Pending {
    /// The leaves (commands) of this tree, depth first.
    pub fn leaves(&self) -> Vec<&Pending> {
        let mut out = Vec::new();
        fn walk<'a>(p: &'a Pending, out: &mut Vec<&'a Pending>) {
            match p {
                Pending::Join(v) | Pending::Select(v) => v.iter().for_each(|c| walk(c, out)),
                leaf => out.push(leaf),
            }
        }
        walk(self, &mut out);
        out
    }

    /// What this tree resolves to, given what is known of its leaves: `leaf` answers for one
    /// leaf (`None`: not yet). A `Join` needs all its children, a `Select` the first child in
    /// order that has resolved. The runtime and the test driver both resolve waits with this.
    pub fn try_resolve(
        &self,
        leaf: &mut impl FnMut(&Pending) -> Option<Resolution>,
    ) -> Option<Resolution> {
        match self {
            Pending::Join(children) => {
                let mut out = Vec::with_capacity(children.len());
                for c in children {
                    out.push(c.try_resolve(leaf)?);
                }
                Some(Resolution::Join(out))
            }
            Pending::Select(children) => children.iter().enumerate().find_map(|(i, c)| {
                c.try_resolve(leaf)
                    .map(|r| Resolution::Select(i as u32, Box::new(r)))
            }),
            _ => leaf(self),
        }
    }

    /// The sequence number of a leaf (`None` for `Join` and `Select`).
    pub fn seq(&self) -> Option<u64> {
        match self {
            Pending::Activity { seq, .. }
            | Pending::Timer { seq, .. }
            | Pending::Signal { seq, .. }
            | Pending::Child { seq, .. } => Some(*seq),
            _ => None,
        }
    }

    /// A short name of this node's kind, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Pending::Activity { .. } => "activity",
            Pending::Timer { .. } => "timer",
            Pending::Signal { .. } => "signal",
            Pending::Join(_) => "join",
            Pending::Select(_) => "select",
            Pending::Child { .. } => "child",
        }
    }
}

/// Which signal each leaf holding one keeps once its wait is resolved, so that the leaves the
/// resolution uses hold the oldest signals of their name. A signal goes to the first open leaf
/// of its name as it arrives; when that leaf's branch then loses a `select` to a branch that
/// took a later signal of the name, the later one would be received and the older put back:
/// received out of order. `held` lists the leaves holding a signal, in tree order: the
/// signal's name, whether the resolution uses the leaf, and the signal's place in the order
/// sent. `None` when each keeps its own; else the leaf at `i` takes the signal of leaf
/// `from[i]`. The used leaves of a name take its oldest signals in tree order, the others the
/// rest (they are put back). The runtime and the test driver both call this.
pub(crate) fn oldest_signals_to_used<K: Ord>(held: &[(&str, bool, K)]) -> Option<Vec<usize>> {
    let mut from: Vec<usize> = (0..held.len()).collect();
    let mut seen = vec![false; held.len()];
    for first in 0..held.len() {
        if seen[first] {
            continue;
        }
        let group: Vec<usize> = (first..held.len())
            .filter(|&j| held[j].0 == held[first].0)
            .collect();
        group.iter().for_each(|&j| seen[j] = true);
        let mut by_age = group.clone();
        by_age.sort_by(|&a, &b| held[a].2.cmp(&held[b].2));
        let used = group.iter().filter(|&&j| held[j].1);
        let put_back = group.iter().filter(|&&j| !held[j].1);
        for (&to, of) in used.chain(put_back).zip(by_age) {
            from[to] = of;
        }
    }
    from.iter()
        .enumerate()
        .any(|(i, &f)| i != f)
        .then_some(from)
}

/// What a [`Pending`] tree resolved to; the runtime hands it to the workflow's `resume`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Resolution {
    /// The activity's encoded `Ok` value, or its final error.
    Activity(Result<Vec<u8>, ActivityError>),
    /// The timer fired.
    Timer,
    /// A signal: the id of the event that carried it (the store's inbox id in the runtime, the
    /// order it was sent in under [`crate::testing`]), so that a payload the workflow cannot
    /// decode is traced back to its sender's event without running anything again, and its
    /// encoded payload.
    Signal {
        /// The event that carried the signal.
        event: u64,
        /// The encoded payload.
        payload: Vec<u8>,
        /// The tag of the type the payload was encoded from ([`crate::machine::type_tag`]),
        /// if it was sent with one: the wait refuses a payload of another type.
        type_tag: Option<u64>,
    },
    /// One resolution per child, in order.
    Join(#[serde(deserialize_with = "nested")] Vec<Resolution>),
    /// Which child resolved first, and how.
    Select(u32, #[serde(deserialize_with = "nested")] Box<Resolution>),
    /// The child run's encoded output, or why there is none.
    Child(Result<Vec<u8>, ChildError>),
}

/// How deep `Join`s and `Select`s may nest in a decoded [`Pending`] or [`Resolution`]. A
/// workflow's own waits nest as deep as its `ctx.join`/`ctx.select` calls, a few levels; a
/// stored wait nested deeper is damaged. Without a bound, a few kilobytes of such bytes (two
/// per level) would overflow the decoder's stack, which aborts the process.
pub const MAX_WAIT_DEPTH: u32 = 64;

thread_local! {
    /// The `Join`s and `Select`s being decoded on this thread, around the one decoded now.
    static WAIT_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Leaves a level of [`WAIT_DEPTH`] when dropped (on success, error or panic alike).
struct Level;

impl Drop for Level {
    fn drop(&mut self) {
        WAIT_DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Decodes the children of a `Join` or a `Select`, one level deeper, refusing to go past
/// [`MAX_WAIT_DEPTH`]. (The encoding is the derived one: only the decoder counts.)
fn nested<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    let depth = WAIT_DEPTH.with(|c| {
        let v = c.get().saturating_add(1);
        c.set(v);
        v
    });
    let _level = Level;
    if depth > MAX_WAIT_DEPTH {
        return Err(serde::de::Error::custom(format_args!(
            "joins and selects nest deeper than {MAX_WAIT_DEPTH} levels"
        )));
    }
    T::deserialize(d)
}

impl Resolution {
    /// A short name of this node's kind, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Resolution::Activity(_) => "activity",
            Resolution::Timer => "timer",
            Resolution::Signal { .. } => "signal",
            Resolution::Join(_) => "join",
            Resolution::Select(..) => "select",
            Resolution::Child(_) => "child",
        }
    }
}

/// An operation a workflow may `.await`: it becomes commands when the workflow suspends on it,
/// and its value is decoded from the [`Resolution`] when the workflow resumes.
///
/// Sealed: the durable operations are those [`WorkflowCtx`] makes (activity calls, timers,
/// signal waits, joins and selects of them), and code outside this crate cannot add one. A
/// hand-written [`crate::Workflow`] calls [`Durable::schedule`] and [`Durable::resolve`] on
/// them as the generated code does.
pub trait Durable: sealed::Sealed {
    /// The value of the `.await`.
    type Output;
    /// Turns the operation into commands, allocating sequence numbers from `ctx`.
    fn schedule(self, ctx: &WorkflowCtx) -> Result<Pending, ResumeError>;
    /// Decodes the operation's value from what resolved it.
    fn resolve(resolution: Resolution) -> Result<Self::Output, ResumeError>;
}

/// Keeps [`Durable`], [`crate::JoinAll`] and [`crate::SelectAll`] implemented by this crate only.
pub(crate) mod sealed {
    /// The durable operations: what [`super::Durable`] is implemented for.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` is not a durable operation of workflow-rt",
        label = "`Durable` is sealed",
        note = "a workflow awaits the operations its context makes: `ctx.activity(..)`, `ctx.sleep(..)`, `ctx.signal(..)`, `ctx.join(..)` and `ctx.select(..)` of them"
    )]
    pub trait Sealed {}

    /// The groups of durable operations: what [`crate::JoinAll`] and [`crate::SelectAll`] are
    /// implemented for.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` is not a group of durable operations of workflow-rt",
        label = "`JoinAll` and `SelectAll` are sealed",
        note = "`ctx.join(..)` and `ctx.select(..)` take a tuple or a `Vec` of the operations the context makes"
    )]
    pub trait SealedGroup {}
}

pub(crate) fn unexpected(expected: &str, got: &Resolution) -> ResumeError {
    ResumeError::UnexpectedWake {
        state: format!("awaiting {expected}"),
        got: got.kind().to_string(),
    }
}
