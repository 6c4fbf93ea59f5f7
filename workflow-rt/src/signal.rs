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

/// The type's name as written, without module paths: `core::option::Option<my_app::Approve>`
/// becomes `Option<Approve>`. (Moving a type to another module keeps its name; two types of
/// one name in different modules share it.)
pub(crate) fn type_name_as_written<T: ?Sized>() -> String {
    serde_form(&without_paths::<T>())
}

/// The name of the type a payload of type `name` is on the wire: forms that serde encodes
/// alike are one (`&str` and `String`, `&[u8]` and `Vec<u8>`, `Box<T>`, `Arc<T>`, `Rc<T>`,
/// `Cow<T>` and `T`), so that sending a borrowed or boxed value to a wait for the owned one is
/// not refused.
fn serde_form(name: &str) -> String {
    // Lifetimes (`Cow<'_, str>`) are not part of the wire form.
    let mut s = String::with_capacity(name.len());
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            s.push(c);
            continue;
        }
        while chars
            .next_if(|c| c.is_alphanumeric() || *c == '_')
            .is_some()
        {}
        while chars.next_if(|c| *c == ',' || *c == ' ').is_some() {}
    }
    let mut s = s.replace("&mut ", "").replace('&', "");
    for wrapper in ["Box<", "Arc<", "Rc<", "Cow<"] {
        while let Some(at) = find_token(&s, wrapper) {
            let open = at + wrapper.len();
            let Some(close) = matching(&s, open) else {
                break;
            };
            s = format!("{}{}{}", &s[..at], &s[open..close], &s[close + 1..]);
        }
    }
    // Slices (not arrays, which serde writes without a length) are sequences, as `Vec`s.
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(at) = rest.find('[') {
        out.push_str(&rest[..at]);
        let inner_start = at + 1;
        match matching_bracket(rest, inner_start) {
            Some(close) if !rest[inner_start..close].contains(';') => {
                out.push_str("Vec<");
                out.push_str(&serde_form(&rest[inner_start..close]));
                out.push('>');
                rest = &rest[close + 1..];
            }
            _ => {
                out.push('[');
                rest = &rest[inner_start..];
            }
        }
    }
    out.push_str(rest);
    // `str` as a whole word is a `String`.
    let mut named = String::with_capacity(out.len());
    let mut word = String::new();
    for c in out.chars().chain(std::iter::once('\0')) {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        named.push_str(if word == "str" { "String" } else { &word });
        word.clear();
        if c != '\0' {
            named.push(c);
        }
    }
    named
}

/// Where `token` starts in `s` at the start of a word.
fn find_token(s: &str, token: &str) -> Option<usize> {
    s.match_indices(token).map(|(i, _)| i).find(|&i| {
        s[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
    })
}

/// The `>` closing the `<` just before `open`.
fn matching(s: &str, open: usize) -> Option<usize> {
    let mut depth = 1;
    for (i, c) in s[open..].char_indices() {
        match c {
            '<' => depth += 1,
            '>' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The `]` closing the `[` just before `open`.
fn matching_bracket(s: &str, open: usize) -> Option<usize> {
    let mut depth = 1;
    for (i, c) in s[open..].char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

/// `std::any::type_name` without module paths.
fn without_paths<T: ?Sized>() -> String {
    let full = std::any::type_name::<T>();
    let mut out = String::with_capacity(full.len());
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        out.push_str(token.rsplit("::").next().unwrap_or(token));
        token.clear();
    };
    for c in full.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            token.push(c);
        } else {
            flush(&mut token, &mut out);
            out.push(c);
        }
    }
    flush(&mut token, &mut out);
    out
}

/// The tag of a signal payload's type: a 64-bit hash (FNV-1a) of the type's name as written,
/// without module paths (`Approve`, `Option<String>`, `Vec<u64>`). A payload is sent with the
/// tag of the type it was encoded from, and the wait checks it against the type it expects
/// before decoding, so that bytes that happen to decode as another type (a `String` read as a
/// struct of a number and a string) are refused rather than delivered.
///
/// ```
/// use workflow_rt::machine::type_tag;
/// assert_eq!(type_tag::<Option<String>>(), type_tag::<Option<String>>());
/// assert_ne!(type_tag::<String>(), type_tag::<u64>());
/// ```
pub fn type_tag<T: ?Sized>() -> u64 {
    crate::codec::fnv1a_extend(
        crate::codec::FNV_OFFSET,
        type_name_as_written::<T>().as_bytes(),
    )
}

/// The type tag of a payload sent as JSON ([`crate::Client::signal_json`]): the wait decodes
/// it from JSON into the type it expects, rather than from postcard. No Rust type is written
/// `<json>`, so no [`type_tag`] equals it.
pub(crate) const JSON_TAG: u64 = crate::codec::fnv1a_extend(crate::codec::FNV_OFFSET, b"<json>");

#[cfg(test)]
mod tests {
    use super::*;

    mod deep {
        pub(super) struct Approve;
    }

    #[test]
    fn names_lose_their_module_paths() {
        assert_eq!(type_name_as_written::<deep::Approve>(), "Approve");
        assert_eq!(
            type_name_as_written::<Option<Vec<String>>>(),
            "Option<Vec<String>>"
        );
        assert_eq!(
            type_name_as_written::<(u8, std::collections::HashMap<String, u64>)>(),
            "(u8, HashMap<String, u64>)"
        );
        assert_ne!(type_tag::<String>(), type_tag::<deep::Approve>());
        assert_ne!(type_tag::<u32>(), type_tag::<u64>());
        // What serde writes alike is one type.
        assert_eq!(type_name_as_written::<&str>(), "String");
        assert_eq!(type_name_as_written::<&[u8]>(), "Vec<u8>");
        assert_eq!(
            type_name_as_written::<Box<Option<std::sync::Arc<str>>>>(),
            "Option<String>"
        );
        assert_eq!(
            type_name_as_written::<(std::borrow::Cow<'static, str>, [u8; 4])>(),
            "(String, [u8; 4])"
        );
        assert_eq!(
            type_name_as_written::<Vec<&mut [&str]>>(),
            "Vec<Vec<String>>"
        );
        assert_eq!(type_tag::<&str>(), type_tag::<String>());
    }
}
