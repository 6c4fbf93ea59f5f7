//! What generated code names. Not a public API: it may change in any release, which is why
//! `workflow-rt` pins `workflow-macros` exactly.

use std::marker::PhantomData;

pub use ::core;
pub use ::postcard;
pub use ::serde;
pub use ::std;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use crate::activity::BoxFuture;
pub use crate::context::WorkflowCtx;
pub use crate::durable::{Durable, Pending, Resolution};
pub use crate::error::ResumeError;
pub use crate::layout::{Probe, layout};
pub use crate::state_serde::{
    FieldReader, StateFields, StateVariants, deserialize_state, no_such_variant, ser_field,
    ser_input,
};
pub use crate::workflow::{AwaitDesc, CommandDesc, Description, StateDesc, Step};

/// The name the runtime's own code and earlier generated code use for
/// [`crate::ActivityResult`].
pub use crate::activity::ActivityResult as Fallible;

/// The `?` operator, rewritten by `#[workflow]` so that an early exit completes the workflow:
/// `e?` becomes `match QuestionMark::<Out>::branch(e) { Ok(v) => v, Err(out) => return .. }`.
#[diagnostic::on_unimplemented(
    message = "the `?` operator cannot be used on `{Self}` in a workflow that returns `{Out}`",
    label = "cannot use `?` here",
    note = "`?` works on a `Result` in a workflow returning a `Result` (its error converted with `From`), and on an `Option` in a workflow returning an `Option`; convert first, e.g. `.ok_or(WorkflowError::msg(\"...\"))?`"
)]
pub trait QuestionMark<Out> {
    type Continue;
    fn branch(self) -> Result<Self::Continue, Out>;
}

impl<T, E, U, F: From<E>> QuestionMark<Result<U, F>> for Result<T, E> {
    type Continue = T;
    fn branch(self) -> Result<T, Result<U, F>> {
        self.map_err(|e| Err(From::from(e)))
    }
}

impl<T, U> QuestionMark<Option<U>> for Option<T> {
    type Continue = T;
    fn branch(self) -> Result<T, Option<U>> {
        self.ok_or(None)
    }
}

/// `Option<T>` and `Result<T, E>` through an associated type, so that generated code can name
/// the type of `v` in `Some(v)` / `Ok(v)`, or of `x?`, when the type of the value matched is
/// itself a projection (`ActivityOk<lookup>`, an `Option<u64>` the macro cannot see).
pub trait Unwrap {
    type Value;
}

impl<T> Unwrap for Option<T> {
    type Value = T;
}

impl<T, E> Unwrap for Result<T, E> {
    type Value = T;
}

/// `(&OutputKind(&output)).__wf_is_failure()` is `output.is_err()` when the output's type is a
/// `Result` (the by-reference impl of [`OutputIsResult`] is found first), and `false` for any
/// other type (through the auto-referenced impl of [`OutputIsNotResult`]). It sees the type
/// rustc sees, so an aliased `Result` counts and an enum with a variant named `Err` does not.
#[allow(missing_debug_implementations)]
pub struct OutputKind<'a, T>(pub &'a T);

/// See [`OutputKind`].
pub trait OutputIsResult {
    fn __wf_is_failure(&self) -> bool;
}

impl<T, E> OutputIsResult for OutputKind<'_, Result<T, E>> {
    fn __wf_is_failure(&self) -> bool {
        self.0.is_err()
    }
}

/// See [`OutputKind`].
pub trait OutputIsNotResult {
    fn __wf_is_failure(&self) -> bool {
        false
    }
}

impl<T> OutputIsNotResult for &OutputKind<'_, T> {}

/// The error type of a `Result` through an associated type (`Err(e)` patterns).
pub trait ResultError {
    type Error;
}

impl<T, E> ResultError for Result<T, E> {
    type Error = E;
}

/// A type witness: `Some(phantom_of(&value))` records `T` in a variable whose type rustc then
/// infers function-wide.
pub fn phantom_of<T>(_: &T) -> PhantomData<T> {
    PhantomData
}

/// Decodes the value of the await whose operation type `D` was recorded in `witness`.
pub fn resolve<D: Durable>(
    _witness: &Option<PhantomData<D>>,
    resolution: Option<Resolution>,
) -> Result<D::Output, ResumeError> {
    match resolution {
        Some(r) => D::resolve(r),
        None => Err(ResumeError::UnexpectedWake {
            state: "a suspended state".into(),
            got: "no resolution".into(),
        }),
    }
}

/// The error of generated code that asks for a saved value twice in one step.
pub fn restored_twice(what: &str) -> ResumeError {
    ResumeError::RestoredTwice(what.to_string())
}

/// Turns a durable operation into commands.
pub fn schedule<D: Durable>(op: D, ctx: &WorkflowCtx) -> Result<Pending, ResumeError> {
    op.schedule(ctx)
}

/// A value saved in the state whose type the macro cannot write (a temporary it introduced):
/// kept encoded, and decoded with the type recorded by [`phantom_of`].
#[derive(Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Encoded(pub Vec<u8>);

impl std::fmt::Debug for Encoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Encoded({} bytes)", self.0.len())
    }
}

pub fn encode<T: Serialize>(value: &T, what: &str) -> Result<Encoded, ResumeError> {
    postcard::to_stdvec(value)
        .map(Encoded)
        .map_err(|e| ResumeError::Encode {
            what: what.to_string(),
            reason: e.to_string(),
        })
}

pub fn decode<T: DeserializeOwned>(
    _witness: &Option<PhantomData<T>>,
    bytes: &Encoded,
    what: &str,
) -> Result<T, ResumeError> {
    crate::codec::decode_exact(&bytes.0).map_err(|reason| ResumeError::Decode {
        what: what.to_string(),
        reason,
    })
}

/// The remaining items of a `for` loop whose body awaits, kept in the state.
#[derive(Debug, Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct LoopItems<T>(std::collections::VecDeque<T>);

impl<T> Iterator for LoopItems<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.0.pop_front()
    }
}

/// `for x in collection` with an await in the body: the items are collected, and what is left
/// of them is saved at every await.
pub fn loop_items<I: IntoIterator>(iter: I) -> LoopItems<I::Item>
where
    I::Item: Serialize + DeserializeOwned,
{
    LoopItems(iter.into_iter().collect())
}

/// `for x in &collection` (or `collection.iter()`, `.iter().enumerate()`, ...) with an await in
/// the body: the items borrow from `collection`, which the loop cannot change, so only the
/// position is saved, and the iterator is made again for every item (`nth`: O(1) on slices).
/// Returns the item at `pos` and moves `pos` past it.
pub fn loop_nth<I: IntoIterator>(iter: I, pos: &mut usize) -> Option<I::Item> {
    let item = iter.into_iter().nth(*pos);
    if item.is_some() {
        *pos += 1;
    }
    item
}

/// `for i in a..b` (or `a..`) with an await in the body: the range itself is saved, two numbers
/// whatever its length.
pub fn loop_range<R: Iterator>(range: R) -> R {
    range
}

/// `for i in a..=b` with an await in the body. `RangeInclusive` forgets in serde that it is
/// exhausted (it would yield its last item again after a restore), so it is kept as the next item
/// and the last one.
pub fn loop_range_inclusive<T: Successor>(range: std::ops::RangeInclusive<T>) -> InclusiveRange<T> {
    let (start, end) = range.into_inner();
    InclusiveRange {
        next: (start <= end).then_some(start),
        last: end,
    }
}

#[derive(Debug, Serialize, serde::Deserialize)]
pub struct InclusiveRange<T> {
    next: Option<T>,
    last: T,
}

impl<T: Successor> Iterator for InclusiveRange<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        let n = self.next?;
        self.next = if n == self.last { None } else { n.successor() };
        Some(n)
    }
}

/// The integers (`for i in a..=b`).
pub trait Successor: Copy + PartialOrd {
    fn successor(self) -> Option<Self>;
}

macro_rules! successor {
    ($($t:ty),*) => {$(
        impl Successor for $t {
            fn successor(self) -> Option<Self> { self.checked_add(1) }
        }
    )*};
}
successor!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize
);

/// A description's transitions, decoded at compile time from the pairs `#[workflow]` writes as
/// one byte string (each `(from, to)` as two little-endian `u16`): a workflow whose every state
/// can reach many others writes one literal, not one tuple per transition.
pub const fn transitions<const N: usize>(bytes: &[u8]) -> [(u16, u16); N] {
    let mut out = [(0u16, 0u16); N];
    let mut i = 0;
    while i < N && 4 * i + 3 < bytes.len() {
        let b = 4 * i;
        out[i] = (
            u16::from_le_bytes([bytes[b], bytes[b + 1]]),
            u16::from_le_bytes([bytes[b + 2], bytes[b + 3]]),
        );
        i += 1;
    }
    out
}

/// FNV-1a, for fingerprints computed at compile time.
pub const fn fnv1a(bytes: &[u8]) -> u64 {
    crate::codec::fnv1a_extend(crate::codec::FNV_OFFSET, bytes)
}

/// Folds `parts` (the [`crate::Activity::OUTPUT_FINGERPRINT`] of the activities whose values a
/// workflow saves) into the fingerprint `base` of its written layout, at compile time.
pub const fn fold_fingerprint(base: u64, parts: &[u64]) -> u64 {
    if parts.is_empty() {
        return base;
    }
    let mut h = base;
    let mut i = 0;
    while i < parts.len() {
        h = crate::codec::fnv1a_extend(h, &parts[i].to_le_bytes());
        i += 1;
    }
    h
}

/// `Debug` for generated state enums: their JSON form.
pub fn debug_as_json<T: Serialize>(value: &T, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    match serde_json::to_string(value) {
        Ok(s) => f.write_str(&s),
        Err(e) => write!(f, "<state not representable as JSON: {e}>"),
    }
}

/// `SignalName(SIG).name()`: the name of the signal `ctx.signal(SIG)` waits for, as a const
/// expression, for the description's [`CommandDesc::Signal`]. `SIG` is a const (or a static)
/// holding a [`crate::Signal<T>`], a `&Signal<T>` or a `&'static str`; [`crate::IntoSignal`]
/// cannot be called in a const context, so each of these has its own inherent `const fn`.
#[allow(missing_debug_implementations)]
pub struct SignalName<S>(pub S);

impl<T> SignalName<crate::Signal<T>> {
    pub const fn name(&self) -> &'static str {
        self.0.name()
    }
}

impl<T> SignalName<&crate::Signal<T>> {
    pub const fn name(&self) -> &'static str {
        self.0.name()
    }
}

impl SignalName<&'static str> {
    pub const fn name(&self) -> &'static str {
        self.0
    }
}
