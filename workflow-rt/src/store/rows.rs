//! What the SQL stores (SQLite, PostgreSQL) share in how they write values into rows and read
//! them back: signed integers, and an event as a kind code and its optional columns.

use super::{Event, EventKind, HistoryEntry, HistoryKind, StoreError};
use crate::activity::ActivityError;
use crate::child::ChildError;

/// SQL integers are signed: times and counters are clamped into `i64` on the way in.
pub(super) fn int(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

/// An `i64` column read back as the `u64` it stores (a negative one, only in a damaged row,
/// as 0).
pub(super) fn uint(v: i64) -> u64 {
    v.max(0) as u64
}

/// A value of a row that cannot be read back.
pub(super) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// A history entry from its row's columns (time, kind's name, detail).
pub(super) fn history_entry(
    at: i64,
    kind: &str,
    detail: String,
) -> Result<HistoryEntry, StoreError> {
    Ok(HistoryEntry {
        at_ms: uint(at),
        kind: HistoryKind::parse(kind).ok_or_else(|| corrupt("history kind", kind))?,
        detail,
    })
}

/// The `kind` column of an event.
pub(super) const EVENT_ACTIVITY: i16 = 0;
pub(super) const EVENT_TIMER: i16 = 1;
pub(super) const EVENT_SIGNAL: i16 = 2;
pub(super) const EVENT_CHILD: i16 = 3;
pub(super) const EVENT_CANCEL: i16 = 4;

/// The columns of an event row: kind, seq, name, payload.
pub(super) type EventColumns = (i16, Option<i64>, Option<String>, Option<Vec<u8>>);

/// An event's kind as the columns of its row.
pub(super) fn event_columns(kind: EventKind) -> Result<EventColumns, StoreError> {
    Ok(match kind {
        EventKind::ActivityCompleted { seq, result } => {
            let bytes = postcard::to_stdvec(&result)
                .map_err(|e| StoreError::backend_with("encode activity result", e))?;
            (EVENT_ACTIVITY, Some(int(seq)), None, Some(bytes))
        }
        EventKind::TimerFired { seq } => (EVENT_TIMER, Some(int(seq)), None, None),
        // A signal has no sequence number: its column holds the payload's type tag.
        EventKind::Signal {
            name,
            payload,
            type_tag,
        } => (
            EVENT_SIGNAL,
            type_tag.map(|t| t as i64),
            Some(name),
            Some(payload),
        ),
        EventKind::ChildFinished { seq, result } => {
            let bytes = postcard::to_stdvec(&result)
                .map_err(|e| StoreError::backend_with("encode child result", e))?;
            (EVENT_CHILD, Some(int(seq)), None, Some(bytes))
        }
        // The grace period goes in the sequence number's column, the reason in the name's.
        EventKind::CancelRequested { reason, grace_ms } => {
            (EVENT_CANCEL, Some(int(grace_ms)), Some(reason), None)
        }
    })
}

/// An event read back from its row: id, time, then [`EventColumns`].
pub(super) fn event_from_columns(
    id: i64,
    at: i64,
    (kind, seq, name, payload): EventColumns,
) -> Result<Event, StoreError> {
    let kind = match (kind, seq.map(uint)) {
        (EVENT_SIGNAL, _) => EventKind::Signal {
            name: name.unwrap_or_default(),
            payload: payload.unwrap_or_default(),
            type_tag: seq.map(|t| t as u64),
        },
        (EVENT_ACTIVITY, Some(seq)) => {
            let bytes = payload.unwrap_or_default();
            let result: Result<Vec<u8>, ActivityError> =
                postcard::from_bytes(&bytes).map_err(|e| corrupt("activity result", e))?;
            EventKind::ActivityCompleted { seq, result }
        }
        (EVENT_TIMER, Some(seq)) => EventKind::TimerFired { seq },
        (EVENT_CHILD, Some(seq)) => {
            let bytes = payload.unwrap_or_default();
            let result: Result<Vec<u8>, ChildError> =
                postcard::from_bytes(&bytes).map_err(|e| corrupt("child result", e))?;
            EventKind::ChildFinished { seq, result }
        }
        (EVENT_CANCEL, grace) => EventKind::CancelRequested {
            reason: name.unwrap_or_default(),
            grace_ms: grace.unwrap_or(0),
        },
        (k, _) => return Err(corrupt("event kind", k)),
    };
    Ok(Event {
        id: uint(id),
        at_ms: uint(at),
        kind,
    })
}
