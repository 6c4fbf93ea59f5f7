//! Activity inputs, results and errors shown as JSON rather than as encoded bytes: in the
//! history the runtime writes (one indented line per call under a step's entry) and in the
//! commands [`super::Client::state`] lists. Only activities registered with the runtime or the
//! client can be decoded; the others show as their size in bytes.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use super::registry::ErasedActivity;
use crate::durable::{Pending, Resolution};

/// The activities a runtime or a client knows the types of, by name.
pub(crate) type Activities = HashMap<String, Arc<dyn ErasedActivity>>;

/// The longest JSON text a history line shows of one value, in bytes; longer text is cut at
/// a character boundary and ends in `…`.
pub(crate) const MAX_SHOWN: usize = 300;

/// Appends a line per activity call `pending` makes: `  name#seq input {json}`.
pub(crate) fn inputs(out: &mut String, acts: &Activities, pending: &Pending) {
    match pending {
        Pending::Activity {
            seq, name, input, ..
        } => {
            push_call(out, name, *seq, " input ");
            push_value(
                out,
                acts.get(name).map(|a| a.input_json(input)),
                input.len(),
            );
        }
        Pending::Join(v) | Pending::Select(v) => v.iter().for_each(|p| inputs(out, acts, p)),
        Pending::Timer { .. } | Pending::Signal { .. } | Pending::Child { .. } => {}
    }
}

/// Appends a line per activity result that `resolution` hands to `pending`'s calls:
/// `  name#seq returned {json}` or `  name#seq failed {error as json}`.
pub(crate) fn results(out: &mut String, acts: &Activities, pending: &Pending, r: &Resolution) {
    match (pending, r) {
        (Pending::Activity { seq, name, .. }, Resolution::Activity(result)) => match result {
            Ok(bytes) => {
                push_call(out, name, *seq, " returned ");
                push_value(
                    out,
                    acts.get(name).map(|a| a.output_json(bytes)),
                    bytes.len(),
                );
            }
            Err(e) => {
                push_call(out, name, *seq, " failed ");
                push_text(out, &serde_json::to_string(e).unwrap_or_default());
            }
        },
        (Pending::Join(ps), Resolution::Join(rs)) => {
            for (p, r) in ps.iter().zip(rs) {
                results(out, acts, p, r);
            }
        }
        (Pending::Select(ps), Resolution::Select(i, r)) => {
            if let Some(p) = ps.get(*i as usize) {
                results(out, acts, p, r);
            }
        }
        _ => {}
    }
}

/// A value decoded by a registered type, as compact JSON (cut at [`MAX_SHOWN`]); `<n bytes>`
/// when the type is not known here, or `<n bytes: why>` when the bytes do not decode.
fn push_value(out: &mut String, json: Option<Result<serde_json::Value, String>>, len: usize) {
    match json {
        // (`to_string` of the value itself would go through `fmt`, a call per token.)
        Some(Ok(v)) => push_text(out, &serde_json::to_string(&v).unwrap_or_default()),
        Some(Err(e)) => {
            let _ = write!(out, "<{len} bytes: {e}>");
        }
        None => {
            let _ = write!(out, "<{len} bytes>");
        }
    }
}

/// Appends `\n  {name}#{seq}{what}`, without `fmt` (a step writes two such lines).
fn push_call(out: &mut String, name: &str, seq: u64, what: &str) {
    out.push_str("\n  ");
    out.push_str(name);
    out.push('#');
    push_u64(out, seq);
    out.push_str(what);
}

/// Appends `n` in decimal.
pub(crate) fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[at..].iter().map(|&d| char::from(d)));
}

/// Appends `text`, cut at [`MAX_SHOWN`] bytes.
pub(crate) fn push_text(out: &mut String, text: &str) {
    if text.len() <= MAX_SHOWN {
        out.push_str(text);
    } else {
        let mut end = MAX_SHOWN;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        out.push_str(&text[..end]);
        out.push('…');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_call_lines_read_as_format_would_write_them() {
        for n in [0, 7, 10, 99, 1_000_000_007, u64::MAX] {
            let mut out = String::new();
            push_u64(&mut out, n);
            assert_eq!(out, n.to_string());
            let mut line = String::from("x");
            push_call(&mut line, "charge", n, " returned ");
            assert_eq!(line, format!("x\n  charge#{n} returned "));
        }
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        let mut out = String::new();
        push_text(&mut out, &"é".repeat(MAX_SHOWN));
        assert!(out.ends_with('…'));
        assert!(out.len() <= MAX_SHOWN + '…'.len_utf8());
        let mut out = String::new();
        push_text(&mut out, "{\"a\":1}");
        assert_eq!(out, "{\"a\":1}");
    }

    #[test]
    fn unknown_activities_show_their_size() {
        let mut out = String::new();
        let p = Pending::Activity {
            seq: 3,
            name: "charge".into(),
            input: vec![1, 2, 3],
            options: Default::default(),
        };
        inputs(&mut out, &Activities::new(), &p);
        assert_eq!(out, "\n  charge#3 input <3 bytes>");
        let mut out = String::new();
        let err = crate::ActivityError::non_retryable("declined");
        results(
            &mut out,
            &Activities::new(),
            &p,
            &Resolution::Activity(Err(err)),
        );
        assert!(out.starts_with("\n  charge#3 failed {"), "{out}");
        assert!(out.contains("\"message\":\"declined\""), "{out}");
    }
}
