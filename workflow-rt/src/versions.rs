//! Versions of a workflow, and migrations that move a run from one version's state enum to the
//! next one's.
//!
//! Every run keeps the name, version and fingerprint it started with (in its snapshot's
//! envelope) and steps only on the registered code of that version and fingerprint. A deploy
//! that changes a workflow's persisted layout bumps its version (`#[workflow(version = 2)]`) and
//! either keeps the old function registered (its runs finish on it: they are *pinned*) or
//! registers a migration ([`crate::Builder::migrate`]): a typed function from the old state enum
//! to the new one, run once per run, in one atomic commit, and checked so that the run still
//! waits on exactly the commands it was waiting on.

use std::fmt;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::codec::panic_message;
use crate::durable::Pending;
use crate::snapshot::Snapshot;
use crate::step;
use crate::workflow::{CommandDesc, Description, Workflow};

/// What a migration does with a run it is given, in one state of the old version.
///
/// ```
/// use workflow_rt::Migration;
///
/// #[derive(Debug, PartialEq)]
/// enum Old { Start { cents: u64 }, Waiting { cents: u64 } }
/// #[derive(Debug, PartialEq)]
/// enum New { Start { cents: u64, currency: String }, Waiting { cents: u64, currency: String } }
///
/// fn migrate(old: Old) -> Migration<New> {
///     match old {
///         Old::Start { cents } => Migration::To(New::Start { cents, currency: "EUR".into() }),
///         Old::Waiting { cents } if cents > 0 => {
///             Migration::To(New::Waiting { cents, currency: "EUR".into() })
///         }
///         Old::Waiting { .. } => Migration::Refuse("a zero charge needs a person".into()),
///     }
/// }
/// assert!(matches!(migrate(Old::Waiting { cents: 0 }), Migration::Refuse(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Migration<S> {
    /// Move the run to this state of the new version. It must wait on what the old state was
    /// waiting on (the same kind of await, the same activities, timers and signal names), or
    /// the migration is refused ([`MigrationError::CommandsDiffer`]).
    To(S),
    /// Leave the run on the old version: it goes on stepping on the old code, which must then
    /// be registered too (else it is parked, saying so).
    Stay,
    /// Refuse: the run is parked with this reason, its snapshot untouched.
    Refuse(String),
}

/// Why a run could not be moved to another version of its workflow. The run is parked with this
/// as its reason; nothing of it changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MigrationError {
    /// The migration function returned [`Migration::Refuse`].
    #[error("the migration of {workflow} v{from} to v{to} refused state {state}: {reason}")]
    Refused {
        /// The workflow.
        workflow: String,
        /// The version migrated from.
        from: u32,
        /// The version migrated to.
        to: u32,
        /// The old state's variant.
        state: String,
        /// The function's reason.
        reason: String,
    },
    /// The new state does not wait on the run's pending commands: moving it would lose a
    /// pending activity call, timer or signal wait, or issue one again.
    #[error(
        "the migration of {workflow} v{from} to v{to} would lose or repeat pending commands: \
         state {state} waits on {stored}, but state {target} of v{to} waits on {expected}"
    )]
    CommandsDiffer {
        /// The workflow.
        workflow: String,
        /// The version migrated from.
        from: u32,
        /// The version migrated to.
        to: u32,
        /// The old state's variant.
        state: String,
        /// The new state's variant.
        target: String,
        /// The run's stored commands.
        stored: String,
        /// What the new state's await waits on, from its source.
        expected: String,
    },
    /// The migration function panicked.
    #[error("the migration of {workflow} v{from} to v{to} panicked at state {state}: {message}")]
    Panicked {
        /// The workflow.
        workflow: String,
        /// The version migrated from.
        from: u32,
        /// The version migrated to.
        to: u32,
        /// The old state's variant.
        state: String,
        /// The panic's message.
        message: String,
    },
    /// The old snapshot does not decode as the old version's state, or the new state does not
    /// encode.
    #[error("the migration of {workflow} v{from} to v{to} cannot run: {reason}")]
    Snapshot {
        /// The workflow.
        workflow: String,
        /// The version migrated from.
        from: u32,
        /// The version migrated to.
        to: u32,
        /// What failed.
        reason: String,
    },
}

/// A registered migration, behind a trait object: the runtime hands it envelopes.
pub(crate) trait ErasedMigration: Send + Sync {
    fn workflow(&self) -> &'static str;
    /// The name of the workflow it migrates to (the same, for a migration that may be used).
    fn to_workflow(&self) -> &'static str;
    /// The version and fingerprint it migrates from.
    fn from(&self) -> (u32, u64);
    /// Whether it migrates runs stored under `fingerprint` (its `from` layout accepts it).
    fn accepts_from(&self, fingerprint: u64) -> bool;
    /// The version and fingerprint it migrates to.
    fn to(&self) -> (u32, u64);
    /// Migrates the run in `snapshot` (of the `from` code), waiting on `pending`: the new
    /// envelope and the two states' names, or `None` for [`Migration::Stay`].
    fn migrate(
        &self,
        snapshot: &Snapshot,
        pending: Option<&Pending>,
    ) -> Result<Option<Migrated>, Box<MigrationError>>;
}

/// One migration applied to a snapshot.
#[derive(Debug, Clone)]
pub(crate) struct Migrated {
    pub envelope: Vec<u8>,
    pub from_state: String,
    pub to_state: String,
}

pub(crate) struct TypedMigration<A, B, F> {
    f: F,
    _types: PhantomData<fn() -> (A, B)>,
}

impl<A, B, F> TypedMigration<A, B, F> {
    pub(crate) fn new(f: F) -> Self {
        TypedMigration {
            f,
            _types: PhantomData,
        }
    }
}

impl<A, B, F> ErasedMigration for TypedMigration<A, B, F>
where
    A: Workflow,
    B: Workflow,
    F: Fn(A::State) -> Migration<B::State> + Send + Sync + 'static,
{
    fn workflow(&self) -> &'static str {
        A::NAME
    }

    fn to_workflow(&self) -> &'static str {
        B::NAME
    }

    fn from(&self) -> (u32, u64) {
        (A::VERSION, A::fingerprint())
    }

    fn accepts_from(&self, fingerprint: u64) -> bool {
        A::layout().accepts(fingerprint)
    }

    fn to(&self) -> (u32, u64) {
        (B::VERSION, B::fingerprint())
    }

    fn migrate(
        &self,
        snapshot: &Snapshot,
        pending: Option<&Pending>,
    ) -> Result<Option<Migrated>, Box<MigrationError>> {
        migrate_typed::<A, B>(&self.f, snapshot, pending)
    }
}

/// Migrates one snapshot of `A` to `B` with `f` (shared by the runtime and
/// [`crate::testing::check_migration`]).
pub(crate) fn migrate_typed<A: Workflow, B: Workflow>(
    f: &dyn Fn(A::State) -> Migration<B::State>,
    snapshot: &Snapshot,
    pending: Option<&Pending>,
) -> Result<Option<Migrated>, Box<MigrationError>> {
    let failed = |reason: String| {
        Box::new(MigrationError::Snapshot {
            workflow: A::NAME.to_string(),
            from: A::VERSION,
            to: B::VERSION,
            reason,
        })
    };
    snapshot
        .check_layout(A::NAME, A::layout())
        .map_err(|e| failed(e.to_string()))?;
    let from_state = state_name(A::description(), &snapshot.state);
    let old = step::decode_state::<A>(snapshot).map_err(|e| failed(e.to_string()))?;
    let decided = catch_unwind(AssertUnwindSafe(|| f(old))).map_err(|panic| {
        Box::new(MigrationError::Panicked {
            workflow: A::NAME.to_string(),
            from: A::VERSION,
            to: B::VERSION,
            state: from_state.clone(),
            message: panic_message(&*panic),
        })
    })?;
    let new = match decided {
        Migration::Stay => return Ok(None),
        Migration::Refuse(reason) => {
            return Err(Box::new(MigrationError::Refused {
                workflow: A::NAME.to_string(),
                from: A::VERSION,
                to: B::VERSION,
                state: from_state,
                reason,
            }));
        }
        Migration::To(new) => new,
    };
    let envelope =
        step::encode::<B>(&new, snapshot.step, &snapshot.ctx).map_err(|e| failed(e.to_string()))?;
    let encoded = Snapshot::decode(&envelope).map_err(|e| failed(e.to_string()))?;
    let target = state_of(B::description(), &encoded.state);
    let to_state = target.map_or("?", |t| t.name).to_string();
    let waits = target.map(|t| t.awaits.map(|a| (a.kind, a.waits_for)));
    let keeps = match (pending, waits) {
        (None, Some(None)) => true,
        (Some(p), Some(Some((kind, desc)))) => matches(p, kind, &desc),
        _ => false,
    };
    if !keeps {
        return Err(Box::new(MigrationError::CommandsDiffer {
            workflow: A::NAME.to_string(),
            from: A::VERSION,
            to: B::VERSION,
            state: from_state,
            target: to_state,
            stored: pending.map_or_else(|| "nothing".to_string(), describe_pending),
            expected: match waits {
                Some(Some((_, desc))) => desc.to_string(),
                _ => "nothing".to_string(),
            },
        }));
    }
    Ok(Some(Migrated {
        envelope,
        from_state,
        to_state,
    }))
}

/// The state (of `description`) whose encoding is `state`: postcard writes an enum's variant
/// index first, and the description lists the states in variant order.
fn state_of(description: &Description, state: &[u8]) -> Option<&'static crate::StateDesc> {
    let (index, _) = postcard::take_from_bytes::<u32>(state).ok()?;
    description.states.get(index as usize)
}

/// The name of the state whose encoding is `state`, for messages.
pub(crate) fn state_name(description: &Description, state: &[u8]) -> String {
    state_of(description, state).map_or_else(|| "?".to_string(), |s| s.name.to_string())
}

/// Whether the stored commands `p` are what an await of `kind` waiting on `desc` issues.
fn matches(p: &Pending, kind: &str, desc: &CommandDesc) -> bool {
    match (p, desc) {
        // What the operation issues is not written at the await (built before it), but its
        // kind is: a call cannot stand for a timer, nor a timer for a signal.
        (_, CommandDesc::Unknown) => match kind {
            "activity" => matches!(p, Pending::Activity { .. }),
            "sleep" | "cancellation" => matches!(p, Pending::Timer { .. }),
            "signal" => matches!(p, Pending::Signal { .. }),
            "child" => matches!(p, Pending::Child { .. }),
            "join" => matches!(p, Pending::Join(_)),
            "select" | "signal+timeout" => matches!(p, Pending::Select(_)),
            _ => true,
        },
        (Pending::Activity { name, .. }, CommandDesc::Activity(n)) => name == n,
        (Pending::Timer { .. }, CommandDesc::Timer) => true,
        (Pending::Child { name, .. }, CommandDesc::Child(n)) => name == n,
        (Pending::Signal { name, .. }, CommandDesc::Signal(n)) => n.is_none_or(|n| n == name),
        (Pending::Join(ps), CommandDesc::Join(ds))
        | (Pending::Select(ps), CommandDesc::Select(ds)) => {
            ps.len() == ds.len() && ps.iter().zip(ds.iter()).all(|(p, d)| matches(p, "", d))
        }
        // A `join` or `select` over a `Vec`: the await's kind says which.
        (Pending::Join(ps), CommandDesc::Many(d)) if kind == "join" => {
            ps.iter().all(|p| matches(p, "", d))
        }
        (Pending::Select(ps), CommandDesc::Many(d)) if kind == "select" => {
            ps.iter().all(|p| matches(p, "", d))
        }
        _ => false,
    }
}

fn describe_pending(p: &Pending) -> String {
    let mut out = String::new();
    crate::runtime::describe_into(&mut out, p);
    out
}

impl fmt::Display for CommandDesc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, open: &str, items: &[CommandDesc]| {
            f.write_str(open)?;
            for (i, d) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{d}")?;
            }
            f.write_str(")")
        };
        match self {
            CommandDesc::Activity(n) => write!(f, "activity {n}"),
            CommandDesc::Timer => f.write_str("timer"),
            CommandDesc::Child(n) => write!(f, "child {n}"),
            CommandDesc::Signal(Some(n)) => write!(f, "signal {n}"),
            CommandDesc::Signal(None) => f.write_str("signal"),
            CommandDesc::Join(v) => list(f, "join(", v),
            CommandDesc::Select(v) => list(f, "select(", v),
            CommandDesc::Many(d) => write!(f, "any number of ({d})"),
            CommandDesc::Unknown => f.write_str("(not known from the source)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::ActivityOptions;

    fn act(name: &str) -> Pending {
        Pending::Activity {
            seq: 0,
            name: name.into(),
            input: vec![],
            options: ActivityOptions::default(),
        }
    }

    #[test]
    fn stored_commands_against_what_the_source_says() {
        use CommandDesc as D;
        assert!(matches(&act("charge"), "activity", &D::Activity("charge")));
        assert!(!matches(&act("charge"), "activity", &D::Activity("refund")));
        assert!(!matches(&act("charge"), "activity", &D::Timer));
        let timer = Pending::Timer { seq: 1, fire_at: 5 };
        assert!(matches(&timer, "sleep", &D::Timer));
        // Not written at the await: its kind still decides.
        assert!(matches(&act("charge"), "activity", &D::Unknown));
        assert!(!matches(&act("charge"), "sleep", &D::Unknown));
        assert!(!matches(&timer, "activity", &D::Unknown));
        assert!(!matches(&timer, "signal", &D::Unknown));
        assert!(matches(&timer, "cancellation", &D::Unknown));
        assert!(
            matches(&act("charge"), "", &D::Unknown),
            "inside a join: anything"
        );
        let sig = Pending::Signal {
            seq: 2,
            name: "approve".into(),
        };
        assert!(matches(&sig, "signal", &D::Signal(Some("approve"))));
        assert!(matches(&sig, "signal", &D::Signal(None)));
        assert!(!matches(&sig, "signal", &D::Signal(Some("reject"))));
        let with_timeout = Pending::Select(vec![sig.clone(), timer.clone()]);
        assert!(matches(
            &with_timeout,
            "signal+timeout",
            &D::Select(&[D::Signal(Some("approve")), D::Timer])
        ));
        assert!(!matches(
            &with_timeout,
            "join",
            &D::Join(&[D::Signal(Some("approve")), D::Timer])
        ));
        let fan = Pending::Join(vec![act("a"), act("a"), act("a")]);
        assert!(matches(&fan, "join", &D::Many(&D::Activity("a"))));
        assert!(!matches(&fan, "select", &D::Many(&D::Activity("a"))));
        assert!(!matches(&fan, "join", &D::Many(&D::Activity("b"))));
        assert!(!matches(&fan, "join", &D::Join(&[D::Activity("a")])));
        assert!(matches(&fan, "join", &D::Unknown));
    }

    #[test]
    fn command_descriptions_read_as_text() {
        use CommandDesc as D;
        assert_eq!(
            D::Select(&[D::Signal(Some("approve")), D::Timer]).to_string(),
            "select(signal approve, timer)"
        );
        assert_eq!(
            D::Many(&D::Activity("price")).to_string(),
            "any number of (activity price)"
        );
    }
}
