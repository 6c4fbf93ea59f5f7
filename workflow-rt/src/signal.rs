//! Typed signal names: [`Signal<T>`] ties a signal's name to the type of its payload, so that the
//! workflow that waits for it and the code that sends it cannot disagree on the type.

use std::fmt;
use std::marker::PhantomData;

/// A signal's name together with the type of its payload. Declare it once, as a `const`, and use
/// it on both sides: `ctx.signal(APPROVE)` in the workflow, `rt.signal(id, APPROVE, true)` (or
/// [`Handle::signal`](crate::Handle::signal), [`TestRun::signal`](crate::testing::TestRun::signal))
/// outside. Sending a payload of another type is a compile error.
///
/// On the wire a typed signal is its name: `Signal::<bool>::new("approve")` and the string
/// `"approve"` are the same signal, so the string forms (`ctx.signal::<bool>("approve")`,
/// `rt.signal(id, "approve", true)`) stay available for names known only at run time.
///
/// ```
/// # use std::time::Duration;
/// use workflow_rt::prelude::*;
/// use workflow_rt::testing::TestRun;
///
/// const APPROVE: Signal<bool> = Signal::new("approve");
///
/// #[workflow]
/// async fn approval(ctx: WorkflowCtx, hours: u64) -> Option<bool> {
///     let answer = ctx.signal(APPROVE).timeout(Duration::from_secs(hours * 3600)).await;
///     answer
/// }
///
/// assert_eq!(APPROVE.name(), "approve");
/// let run = TestRun::new(approval, "a", 48).signal(APPROVE, true).run()?;
/// assert_eq!(run.output, Some(true));
/// // `TestRun::new(approval, "a", 48).signal(APPROVE, "yes")` would not compile.
/// # Ok::<(), workflow_rt::testing::TestError>(())
/// ```
pub struct Signal<T> {
    name: &'static str,
    _payload: PhantomData<fn(T) -> T>,
}

impl<T> Signal<T> {
    /// The signal named `name`, whose payload is a `T`.
    pub const fn new(name: &'static str) -> Self {
        Signal {
            name,
            _payload: PhantomData,
        }
    }

    /// Its name, as stored and as seen by string-named waits and sends.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

impl<T> Clone for Signal<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Signal<T> {}

impl<T> fmt::Debug for Signal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signal<{}>({:?})", std::any::type_name::<T>(), self.name)
    }
}

impl<T> PartialEq for Signal<T> {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl<T> Eq for Signal<T> {}

/// What names a signal whose payload is a `T`: a [`Signal<T>`] (only for its own `T`), or a
/// string (`&str`, `String`, `&String`: any `T`, for names known only at run time). Accepted by
/// [`WorkflowCtx::signal`](crate::WorkflowCtx::signal), [`Runtime::signal`](crate::Runtime::signal),
/// [`Handle::signal`](crate::Handle::signal) and the signal methods of
/// [`TestRun`](crate::testing::TestRun).
pub trait IntoSignal<T> {
    /// The signal's name.
    fn signal_name(&self) -> &str;

    /// The signal's name, owned.
    fn into_signal_name(self) -> String
    where
        Self: Sized,
    {
        self.signal_name().to_owned()
    }
}

impl<T> IntoSignal<T> for Signal<T> {
    fn signal_name(&self) -> &str {
        self.name
    }
}

impl<T> IntoSignal<T> for &Signal<T> {
    fn signal_name(&self) -> &str {
        self.name
    }
}

impl<T> IntoSignal<T> for &str {
    fn signal_name(&self) -> &str {
        self
    }
}

impl<T> IntoSignal<T> for String {
    fn signal_name(&self) -> &str {
        self
    }
    fn into_signal_name(self) -> String {
        self
    }
}

impl<T> IntoSignal<T> for &String {
    fn signal_name(&self) -> &str {
        self
    }
}
