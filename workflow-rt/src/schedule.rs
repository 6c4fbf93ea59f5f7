//! Schedules: a workflow started at the fire times of a cron expression or of a fixed interval,
//! one run per fire time.
//!
//! A schedule is a row in the store ([`ScheduleRecord`]), created
//! with [`Client::schedule`](crate::Client::schedule), so it survives restarts and every worker
//! on the store sees it. Every runtime that has the schedule's workflow registered watches it;
//! at a fire time one of them starts the run, under an id made of the schedule's name and the
//! fire time ([`run_id`]: `nightly@2026-12-03T02:00:00Z`), through the same path as
//! [`Runtime::start`](crate::Runtime::start). Two workers never start a fire time twice: the
//! worker that fires a schedule first moves the schedule's row past the fire time with a
//! compare-and-set, and the run's id is taken in the store (a second start of the same id finds
//! the run there and starts nothing). A runtime sleeps until the next fire time of the
//! schedules it fires, on its clock (a [`VirtualClock`](crate::VirtualClock) in tests); it
//! learns of a schedule created or resumed through its own client at once, and of one changed
//! by another process at its next poll ([`Builder::poll_interval`](crate::Builder::poll_interval)).
//!
//! - **Fire times**: [`ScheduleSpec::cron`] (five fields, `minute hour day month weekday`, or six
//!   with seconds first) in UTC or a named IANA zone ([`ScheduleSpec::in_zone`]), or
//!   [`ScheduleSpec::every`], a fixed interval counted from an anchor (the creation time unless
//!   [`ScheduleSpec::anchored_at`] says otherwise). In a zone with daylight saving time a cron
//!   time in the hour the clocks skip fires once, when the clocks reach it (at the end of the
//!   gap), and a time in the hour they repeat fires once, at its first pass.
//! - **Overlap** ([`Overlap`]): what a fire time does while the schedule's previous run has not
//!   finished: skip it (the default), buffer one to start when the previous run ends, or start
//!   it anyway.
//! - **Catch-up** ([`DEFAULT_CATCH_UP`]): after a time with no worker (a deploy, an outage), the
//!   fire times missed that are within the catch-up window of now are started (subject to the
//!   overlap policy); older ones are skipped, counted in
//!   [`ScheduleInfo::missed`](crate::schedule::ScheduleInfo::missed) and logged.
//! - **Run timeout** ([`NewSchedule::run_timeout`]): an execution timeout for each run the
//!   schedule starts, so that a hung run is stopped and holds the next fire times back no
//!   longer.
//! - **Pause, resume, list, delete** on the [`Client`](crate::Client): a paused schedule starts
//!   nothing; resumed, it fires from the next fire time after the resume (the fire times of the
//!   pause are not caught up).
//!
//! ```
//! use std::time::Duration;
//! use workflow_rt::schedule::{ScheduleSpec, run_id};
//!
//! // 02:00 every day in Paris: 01:00 UTC in winter.
//! let nightly = ScheduleSpec::cron("0 2 * * *").in_zone("Europe/Paris");
//! let dec_1_2026 = 1_796_083_200_000; // 2026-12-01T00:00:00Z
//! let next = nightly.next_after(dec_1_2026)?.expect("it fires");
//! assert_eq!(run_id("nightly", next), "nightly@2026-12-01T01:00:00Z");
//!
//! // Every 90 s from an anchor.
//! let every = ScheduleSpec::every(Duration::from_secs(90)).anchored_at_ms(1_000);
//! assert_eq!(every.fire_times(1_000, 200_000, 10)?, vec![91_000, 181_000]);
//!
//! // A bad expression or zone is a typed error.
//! assert!(ScheduleSpec::cron("0 25 * * *").check().is_err());
//! assert!(ScheduleSpec::cron("0 2 * * *").in_zone("Europe/Pariss").check().is_err());
//! # Ok::<(), workflow_rt::schedule::ScheduleError>(())
//! ```

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use croner::Cron;
use serde::{Deserialize, Serialize};

use crate::store::{ScheduleRecord, StoreError};

pub use crate::runtime::{MAX_BACKFILL, NewSchedule, ScheduleInfo, ScheduleUpdate, Triggered};

/// The catch-up window of a schedule unless [`NewSchedule::catch_up`] says otherwise: one
/// minute. Temporal's default is a year; a library whose workers restart with their
/// application would then start a burst of stale runs after every long outage. A short window
/// covers a restart or a deploy; set a longer one for a job that must run even late (a nightly
/// report: hours).
pub const DEFAULT_CATCH_UP: Duration = Duration::from_secs(60);

/// The shortest catch-up window (as Temporal's schedules have): a shorter one is taken as
/// this, so that a fire time a worker reaches a little late (it woke a millisecond after it,
/// or was busy) is never counted as missed.
pub const MIN_CATCH_UP: Duration = Duration::from_secs(10);

/// The shortest interval of [`ScheduleSpec::every`]: one second, the finest step of a cron
/// expression too.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// When a schedule fires: a cron expression in a time zone, or a fixed interval.
///
/// Building one checks nothing; [`ScheduleSpec::check`] does, and so does creating a schedule
/// ([`Client::schedule`](crate::Client::schedule)), which stores nothing when the expression,
/// the zone or the interval is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    kind: SpecKind,
    zone: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum SpecKind {
    Cron(String),
    Every {
        every_ms: u64,
        anchor_ms: Option<u64>,
    },
}

impl ScheduleSpec {
    /// The fire times of a cron expression: five fields (`minute hour day-of-month month
    /// day-of-week`, as crontab), or six with seconds first (`0 30 2 * * *`); names of months
    /// and days (`JAN`, `MON`), ranges, lists and steps, `L`, `W` and `#` are accepted, as are
    /// `@daily` and the like. In UTC unless [`ScheduleSpec::in_zone`] names a zone.
    pub fn cron(expression: impl Into<String>) -> Self {
        ScheduleSpec {
            kind: SpecKind::Cron(expression.into()),
            zone: "UTC".to_string(),
        }
    }

    /// Every `interval` (at least [`MIN_INTERVAL`]; whole milliseconds), from an anchor: the
    /// schedule's creation time, or [`ScheduleSpec::anchored_at`]. The fire times are
    /// `anchor + k × interval` after the schedule's creation, whatever the time zone.
    pub fn every(interval: Duration) -> Self {
        ScheduleSpec {
            kind: SpecKind::Every {
                every_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
                anchor_ms: None,
            },
            zone: "UTC".to_string(),
        }
    }

    /// The time zone of a cron expression, by its IANA name (`Europe/Paris`, `America/New_York`,
    /// `UTC`). It has no effect on an interval, which counts absolute time.
    pub fn in_zone(mut self, zone: impl Into<String>) -> Self {
        self.zone = zone.into();
        self
    }

    /// Anchors an interval at `anchor_ms` (milliseconds since the Unix epoch): it fires at
    /// `anchor_ms + k × interval`. No effect on a cron expression.
    pub fn anchored_at_ms(mut self, anchor_ms: u64) -> Self {
        if let SpecKind::Every { anchor_ms: a, .. } = &mut self.kind {
            *a = Some(anchor_ms);
        }
        self
    }

    /// Anchors an interval at `anchor` (see [`ScheduleSpec::anchored_at_ms`]).
    pub fn anchored_at(self, anchor: std::time::SystemTime) -> Self {
        let ms = anchor
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        self.anchored_at_ms(ms)
    }

    /// The cron expression, if this is one.
    pub fn cron_expression(&self) -> Option<&str> {
        match &self.kind {
            SpecKind::Cron(e) => Some(e),
            SpecKind::Every { .. } => None,
        }
    }

    /// The interval, if this is one.
    pub fn interval(&self) -> Option<Duration> {
        match self.kind {
            SpecKind::Every { every_ms, .. } => Some(Duration::from_millis(every_ms)),
            SpecKind::Cron(_) => None,
        }
    }

    /// The anchor of an interval, once set (by [`ScheduleSpec::anchored_at_ms`], or by the
    /// schedule's creation).
    pub fn anchor_ms(&self) -> Option<u64> {
        match self.kind {
            SpecKind::Every { anchor_ms, .. } => anchor_ms,
            SpecKind::Cron(_) => None,
        }
    }

    /// The time zone's name (`UTC` unless [`ScheduleSpec::in_zone`] said otherwise).
    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// Whether the expression, the zone and the interval are good: [`ScheduleError::BadCron`],
    /// [`ScheduleError::UnknownZone`], [`ScheduleError::BadInterval`] if not.
    pub fn check(&self) -> Result<(), ScheduleError> {
        self.compile().map(drop)
    }

    /// The first fire time strictly after `after_ms` (milliseconds since the Unix epoch), or
    /// `None` if there is none (a cron expression that matches no later date). An interval not
    /// anchored yet counts from the Unix epoch.
    pub fn next_after(&self, after_ms: u64) -> Result<Option<u64>, ScheduleError> {
        Ok(self.compile()?.next_after(after_ms))
    }

    /// The fire times in `(after_ms, until_ms]`, oldest first, at most `limit` of them.
    pub fn fire_times(
        &self,
        after_ms: u64,
        until_ms: u64,
        limit: usize,
    ) -> Result<Vec<u64>, ScheduleError> {
        let compiled = self.compile()?;
        let mut out = Vec::new();
        let mut t = after_ms;
        while out.len() < limit {
            match compiled.next_after(t) {
                Some(next) if next <= until_ms => {
                    out.push(next);
                    t = next;
                }
                _ => break,
            }
        }
        Ok(out)
    }

    /// The spec with its interval anchored at `now_ms` unless it has an anchor.
    pub(crate) fn anchored_or(mut self, now_ms: u64) -> Self {
        if let SpecKind::Every { anchor_ms, .. } = &mut self.kind {
            anchor_ms.get_or_insert(now_ms);
        }
        self
    }

    pub(crate) fn compile(&self) -> Result<Compiled, ScheduleError> {
        let zone = Tz::from_str(self.zone.trim())
            .map_err(|_| ScheduleError::UnknownZone(self.zone.clone()))?;
        match &self.kind {
            SpecKind::Cron(expression) => {
                let cron = Cron::from_str(expression).map_err(|e| ScheduleError::BadCron {
                    expression: expression.clone(),
                    reason: e.to_string(),
                })?;
                Ok(Compiled::Cron {
                    cron: Box::new(cron),
                    zone,
                })
            }
            &SpecKind::Every {
                every_ms,
                anchor_ms,
            } => {
                // (Longer than a store keeps, a signed 64-bit number of milliseconds: read
                // back, it would be another interval.)
                if u128::from(every_ms) < MIN_INTERVAL.as_millis() || every_ms > i64::MAX as u64 {
                    return Err(ScheduleError::BadInterval {
                        interval: Duration::from_millis(every_ms),
                    });
                }
                if anchor_ms.is_some_and(|a| a > i64::MAX as u64) {
                    return Err(ScheduleError::NeverFires(self.to_string()));
                }
                Ok(Compiled::Every {
                    every_ms,
                    anchor_ms: anchor_ms.unwrap_or(0),
                })
            }
        }
    }
}

impl std::fmt::Display for ScheduleSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            SpecKind::Cron(e) if self.zone == "UTC" => write!(f, "cron {e:?}"),
            SpecKind::Cron(e) => write!(f, "cron {e:?} in {}", self.zone),
            SpecKind::Every {
                every_ms,
                anchor_ms,
            } => {
                write!(f, "every {:?}", Duration::from_millis(*every_ms))?;
                if let Some(a) = anchor_ms {
                    write!(f, " from {}", format_ms(*a))?;
                }
                Ok(())
            }
        }
    }
}

/// A spec ready to compute fire times.
#[derive(Debug)]
pub(crate) enum Compiled {
    Cron { cron: Box<Cron>, zone: Tz },
    Every { every_ms: u64, anchor_ms: u64 },
}

/// How far [`Compiled::skip_before`] walks a cron expression's fire times one by one before it
/// jumps (the count of missed fire times is then a lower bound).
const MISSED_WALK: u64 = 100_000;

/// The most wall times a look for the next fire time walks past behind it: the wall times of
/// a repeated stretch of the clock (an hour, in most zones), one a second at most.
const WALL_WALK: usize = 100_000;

/// The instant wall time `wall` names in `zone`: the first of two when the clocks repeat it,
/// the end of the gap (the instant the clocks jump) when they skip it.
fn place(zone: &Tz, wall: chrono::NaiveDateTime) -> Option<DateTime<Utc>> {
    use chrono::{LocalResult, TimeZone};
    match zone.from_local_datetime(&wall) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, second) => Some(first.min(second).with_timezone(&Utc)),
        LocalResult::None => {
            // The first second whose wall time is past `wall`: the jump (offsets are within
            // a day of UTC, so the bounds are on either side of it).
            let guess = wall.and_utc().timestamp();
            let (mut lo, mut hi) = (guess - 2 * 86_400, guess + 2 * 86_400);
            let wall_at = |t: i64| {
                DateTime::<Utc>::from_timestamp(t, 0).map(|u| u.with_timezone(zone).naive_local())
            };
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if wall_at(mid)? > wall {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            DateTime::<Utc>::from_timestamp(hi, 0)
        }
    }
}

impl Compiled {
    /// The first fire time strictly after `after_ms`.
    pub(crate) fn next_after(&self, after_ms: u64) -> Option<u64> {
        match self {
            Compiled::Cron { cron, zone } => {
                // The expression walks the zone's wall clock (croner over UTC, which has no
                // changes), and each wall time is placed in the zone here, the same way for
                // every expression: one in a gap at the gap's end, one that happens twice at
                // its first pass (a wall time of the second pass is then behind `after`, and
                // the walk goes on past it).
                let secs = i64::try_from(after_ms / 1000).ok()?;
                let after = DateTime::<Utc>::from_timestamp(secs, 0)?;
                let mut wall = after.with_timezone(zone).naive_local();
                for _ in 0..WALL_WALK {
                    let next = cron
                        .find_next_occurrence(&wall.and_utc(), false)
                        .ok()?
                        .naive_utc();
                    let at = place(zone, next)?;
                    if at > after {
                        return u64::try_from(at.timestamp()).ok()?.checked_mul(1000);
                    }
                    wall = next;
                }
                None
            }
            &Compiled::Every {
                every_ms,
                anchor_ms,
            } => {
                if after_ms < anchor_ms {
                    return Some(anchor_ms);
                }
                let k = (after_ms - anchor_ms) / every_ms + 1;
                k.checked_mul(every_ms)?.checked_add(anchor_ms)
            }
        }
    }

    /// The fire times in `(after_ms, before_ms)`: how many, and the last of them.
    fn skip_before(&self, after_ms: u64, before_ms: u64) -> (u64, Option<u64>) {
        match self {
            &Compiled::Every {
                every_ms,
                anchor_ms,
            } => {
                // k from the first index after `after_ms` to the last before `before_ms`.
                let Some(first) = self.next_after(after_ms) else {
                    return (0, None);
                };
                if first >= before_ms {
                    return (0, None);
                }
                let last_k = (before_ms - 1 - anchor_ms) / every_ms;
                let first_k = (first - anchor_ms) / every_ms;
                (last_k - first_k + 1, Some(anchor_ms + last_k * every_ms))
            }
            Compiled::Cron { .. } => {
                let (mut n, mut last, mut t) = (0, None, after_ms);
                while let Some(next) = self.next_after(t).filter(|&x| x < before_ms) {
                    n += 1;
                    last = Some(next);
                    t = next;
                    if n == MISSED_WALK {
                        // Far enough: the rest are skipped without counting.
                        return (n, Some(before_ms - 1));
                    }
                }
                (n, last)
            }
        }
    }
}

/// What a schedule does with a fire time while the run it started last has not finished
/// (it is running, or parked). Temporal's overlap policies of the same names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Overlap {
    /// The fire time is skipped (counted in [`ScheduleInfo::skipped`]).
    #[default]
    Skip,
    /// The first such fire time is kept, and its run starts as soon as the running one
    /// finishes; later ones are skipped while one is kept.
    BufferOne,
    /// The run starts anyway: runs of the schedule may overlap.
    Allow,
}

impl Overlap {
    /// Every policy, in the order of their [codes](Self::code).
    pub const ALL: [Overlap; 3] = [Overlap::Skip, Overlap::BufferOne, Overlap::Allow];

    /// The policy as stored: a small integer.
    pub fn code(self) -> i64 {
        match self {
            Overlap::Skip => 0,
            Overlap::BufferOne => 1,
            Overlap::Allow => 2,
        }
    }

    /// The inverse of [`Self::code`].
    pub fn from_code(code: i64) -> Option<Self> {
        Overlap::ALL.into_iter().find(|o| o.code() == code)
    }
}

impl std::fmt::Display for Overlap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Overlap::Skip => "skip",
            Overlap::BufferOne => "buffer-one",
            Overlap::Allow => "allow",
        })
    }
}

/// The most bytes a schedule's name may have: the ids of its runs add `@` and the fire time
/// (at most 40 bytes), and stay within [`crate::MAX_ID_BYTES`].
pub const MAX_NAME_BYTES: usize = 960;

/// Why a schedule could not be created or changed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    /// The cron expression does not parse.
    #[error("bad cron expression {expression:?}: {reason}")]
    BadCron {
        /// The expression.
        expression: String,
        /// What the parser said.
        reason: String,
    },
    /// The cron expression parses, but matches no time after now (`0 0 30 2 *`, the 30th of
    /// February): the schedule would never fire.
    #[error("{0} never fires")]
    NeverFires(String),
    /// No IANA time zone has this name (names are case-sensitive: `Europe/Paris`).
    #[error("unknown time zone {0:?}: give an IANA name such as \"Europe/Paris\" or \"UTC\"")]
    UnknownZone(String),
    /// The interval is shorter than [`MIN_INTERVAL`], or longer than a store keeps
    /// (`i64::MAX` milliseconds).
    #[error(
        "the interval {interval:?} is shorter than the shortest, 1 s, or longer than the longest, i64::MAX ms"
    )]
    BadInterval {
        /// The interval given.
        interval: Duration,
    },
    /// A schedule has this name already: delete it first ([`crate::Client::delete_schedule`]).
    /// Nothing was changed.
    #[error("a schedule named {0:?} exists already")]
    Exists(String),
    /// No schedule has this name.
    #[error("no schedule named {0:?}")]
    NotFound(String),
    /// The schedule's name is empty, `.` or `..` (which no path of the console can name),
    /// holds `@` (which separates the name from the fire time in the ids of its runs) or a
    /// NUL character, or is longer than [`MAX_NAME_BYTES`] (so
    /// that the ids of its runs are ids a run may have: see [`crate::check_name`]).
    #[error(
        "bad schedule name {:?}: it must be non-empty, not . or .., free of '@' and NUL, and at most 960 bytes",
        crate::runtime::shortened(.0)
    )]
    BadName(String),
    /// The input of its runs does not encode, or is larger than the limit of an input.
    #[error("cannot store the input of schedule {name:?}: {reason}")]
    Input {
        /// The schedule.
        name: String,
        /// Why.
        reason: String,
    },
    /// The schedule names a version of its workflow older than the newest registered: new
    /// runs start on the newest version (as [`crate::RuntimeError::NotNewest`] says of a
    /// start), so a schedule made now is made for that one.
    #[error(
        "version {version} of workflow {name:?} is not the newest registered ({newest}): schedule the newest"
    )]
    NotNewest {
        /// The workflow.
        name: String,
        /// The version the schedule named.
        version: u32,
        /// The newest registered.
        newest: u32,
    },
    /// A stored schedule cannot be read back (its spec does not compile with this program).
    #[error("schedule {name:?} is unreadable: {reason}")]
    Unreadable {
        /// The schedule.
        name: String,
        /// Why.
        reason: String,
    },
    /// The schedule took a fire time ([`crate::Client::trigger_schedule`],
    /// [`crate::Client::backfill_schedule`]), but the runtime of the client that asked cannot
    /// make its run: the version of the workflow the schedule starts is no longer registered,
    /// its input does not make a first state, or the run's id is refused. The next look of a
    /// worker pauses the schedule, saying so, and drops the fire time. Fix the code or the
    /// input ([`crate::Client::set_schedule_input`]), resume the schedule, then trigger or
    /// backfill again. (A client of no runtime never answers this: its call succeeds, and a
    /// worker pauses the schedule later.)
    #[error(
        "schedule {name:?} took the fire time, but its run cannot be made: {reason} (a worker's next look pauses the schedule)"
    )]
    RunRefused {
        /// The schedule.
        name: String,
        /// Why.
        reason: String,
    },
    /// A backfill refused ([`crate::Client::backfill_schedule`]): nothing was started.
    #[error("cannot backfill schedule {name:?}: {reason}")]
    Backfill {
        /// The schedule.
        name: String,
        /// Why.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ScheduleError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::ScheduleExists(name) => ScheduleError::Exists(name),
            StoreError::ScheduleNotFound(name) => ScheduleError::NotFound(name),
            e => ScheduleError::Store(e),
        }
    }
}

/// The id of the run a schedule starts for a fire time: the schedule's name, `@`, and the fire
/// time in UTC (RFC 3339, with milliseconds only when there are some).
///
/// ```
/// assert_eq!(
///     workflow_rt::schedule::run_id("nightly", 1_796_263_200_000),
///     "nightly@2026-12-03T02:00:00Z"
/// );
/// ```
pub fn run_id(schedule: &str, fire_ms: u64) -> String {
    const _: () = assert!(MAX_NAME_BYTES + 40 <= crate::MAX_ID_BYTES);
    format!("{schedule}@{}", format_ms(fire_ms))
}

/// A time in milliseconds since the Unix epoch, as RFC 3339 in UTC.
pub(crate) fn format_ms(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| format!("{ms}ms"))
}

/// What one look at a schedule decides (see [`plan`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Plan {
    /// Fire times whose runs start now, oldest first.
    pub start: Vec<u64>,
    /// How many fire times the overlap policy skipped.
    pub skipped: u64,
    /// How many fire times were older than the catch-up window (not started).
    pub missed: u64,
    /// The fire time kept by [`Overlap::BufferOne`] after this look.
    pub buffered: Option<u64>,
    /// The last fire time considered.
    pub cursor_ms: u64,
    /// The first fire time after `cursor_ms`.
    pub next_fire_ms: Option<u64>,
}

impl Plan {
    /// Whether the plan changes the schedule's row.
    pub(crate) fn changes(&self, s: &ScheduleRecord) -> bool {
        !self.start.is_empty()
            || self.skipped > 0
            || self.missed > 0
            || self.buffered != s.buffered_ms
            || self.cursor_ms != s.cursor_ms
            || self.next_fire_ms != s.next_fire_ms
    }

    /// The schedule's row after the plan, at `now_ms` (the version is the one the plan was
    /// made from: the store's compare-and-set bumps it).
    pub(crate) fn apply(&self, s: &ScheduleRecord, now_ms: u64) -> ScheduleRecord {
        let mut next = s.clone();
        next.cursor_ms = self.cursor_ms;
        next.next_fire_ms = self.next_fire_ms;
        next.buffered_ms = self.buffered;
        next.starting = self.start.clone();
        if let Some(&last) = self.start.last() {
            next.last_run_id = Some(run_id(&s.name, last));
        }
        next.started = s.started.saturating_add(self.start.len() as u64);
        next.skipped = s.skipped.saturating_add(self.skipped);
        next.missed = s.missed.saturating_add(self.missed);
        next.updated_at_ms = now_ms;
        next
    }
}

/// The decision of one look at schedule `s` at `now_ms`, the same in the runtime and in the
/// test driver: which fire times start, which are skipped or kept, which were missed.
///
/// `last_running` says whether the run the schedule started last has not finished. A buffered
/// fire time starts once it has; then the fire times in `(cursor, now]` are taken in order:
/// those older than the catch-up window are missed, the others start unless a run of the
/// schedule is still running (a run started by this look counts), in which case the overlap
/// policy decides. At most `limit` runs start; the rest wait for the next look.
pub(crate) fn plan(
    spec: &Compiled,
    s: &ScheduleRecord,
    now_ms: u64,
    last_running: bool,
    limit: usize,
) -> Plan {
    let mut p = Plan {
        buffered: s.buffered_ms,
        cursor_ms: s.cursor_ms,
        ..Plan::default()
    };
    let mut running = last_running;
    if let Some(b) = p.buffered
        && !running
    {
        p.start.push(b);
        p.buffered = None;
        running = true;
    }
    let catch_up_ms = s.catch_up_ms.max(MIN_CATCH_UP.as_millis() as u64);
    let window_start = now_ms.saturating_sub(catch_up_ms);
    let (missed, last_missed) = spec.skip_before(p.cursor_ms, window_start.min(now_ms));
    if let Some(last) = last_missed {
        p.missed = missed;
        p.cursor_ms = last;
    }
    let mut next = spec.next_after(p.cursor_ms);
    while let Some(t) = next.filter(|&t| t <= now_ms) {
        if p.start.len() >= limit {
            break;
        }
        let skips_the_rest = running
            && match s.overlap {
                Overlap::Skip => true,
                Overlap::BufferOne => p.buffered.is_some(),
                Overlap::Allow => false,
            };
        if skips_the_rest {
            // Every fire time left up to now is skipped: counted, not walked one by one (a
            // second-by-second schedule after a month without a worker has millions).
            let (n, last) = spec.skip_before(p.cursor_ms, now_ms.saturating_add(1));
            p.skipped = p.skipped.saturating_add(n);
            if let Some(last) = last {
                p.cursor_ms = last;
            }
            next = spec.next_after(p.cursor_ms);
            break;
        }
        let start = match s.overlap {
            Overlap::Allow => true,
            Overlap::Skip => !running,
            Overlap::BufferOne => {
                if running {
                    p.buffered = Some(t);
                }
                !running
            }
        };
        if start {
            p.start.push(t);
            running = true;
        }
        p.cursor_ms = t;
        next = spec.next_after(t);
    }
    p.next_fire_ms = next;
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(spec: &ScheduleSpec, overlap: Overlap, created: u64) -> ScheduleRecord {
        let spec = spec.clone().anchored_or(created);
        ScheduleRecord {
            name: "s".into(),
            workflow: "wf".into(),
            workflow_version: None,
            note: None,
            input: vec![],
            next_fire_ms: spec.next_after(created).expect("spec"),
            spec,
            overlap,
            catch_up_ms: 60_000,
            run_timeout_ms: None,
            paused: false,
            cursor_ms: created,
            buffered_ms: None,
            starting: vec![],
            last_run_id: None,
            started: 0,
            skipped: 0,
            missed: 0,
            version: 1,
            created_at_ms: created,
            updated_at_ms: created,
        }
    }

    #[test]
    fn interval_fire_times_count_from_the_anchor() {
        let spec = ScheduleSpec::every(Duration::from_secs(10)).anchored_at_ms(5_000);
        let c = spec.compile().expect("spec");
        assert_eq!(c.next_after(0), Some(5_000));
        assert_eq!(c.next_after(5_000), Some(15_000));
        assert_eq!(c.next_after(14_999), Some(15_000));
        assert_eq!(c.skip_before(5_000, 45_000), (3, Some(35_000)));
        assert_eq!(c.skip_before(5_000, 15_000), (0, None));
        assert_eq!(c.next_after(u64::MAX - 1), None, "no overflow");
    }

    #[test]
    fn a_look_after_downtime_misses_what_is_past_the_window() {
        let spec = ScheduleSpec::every(Duration::from_secs(1));
        let s = record(&spec, Overlap::Allow, 0);
        let c = s.spec.compile().expect("spec");
        // Down for 100 s, a window of 60 s: fire times 1..=39 s are missed, 40..=100 start.
        let p = plan(&c, &s, 100_000, false, 1000);
        assert_eq!(p.missed, 39);
        assert_eq!(p.start, (40..=100).map(|s| s * 1000).collect::<Vec<_>>());
        assert_eq!(p.cursor_ms, 100_000);
        assert_eq!(p.next_fire_ms, Some(101_000));
        // A limit leaves the rest for the next look.
        let p = plan(&c, &s, 100_000, false, 5);
        assert_eq!(p.start.len(), 5);
        assert_eq!(p.next_fire_ms, Some(45_000));
    }

    #[test]
    fn overlap_policies() {
        let spec = ScheduleSpec::every(Duration::from_secs(1));
        let mut s = record(&spec, Overlap::Skip, 0);
        let c = s.spec.compile().expect("spec");
        let p = plan(&c, &s, 3_000, false, 100);
        assert_eq!((p.start, p.skipped, p.cursor_ms), (vec![1_000], 2, 3_000));
        let p = plan(&c, &s, 3_000, true, 100);
        assert_eq!((p.skipped, p.cursor_ms), (3, 3_000));
        s.overlap = Overlap::BufferOne;
        let p = plan(&c, &s, 3_000, true, 100);
        assert_eq!(
            (p.buffered, p.skipped, p.cursor_ms),
            (Some(1_000), 2, 3_000)
        );
        let s2 = p.apply(&s, 3_000);
        let p = plan(&c, &s2, 3_500, false, 100);
        assert_eq!((p.start, p.buffered), (vec![1_000], None));
        s.overlap = Overlap::Allow;
        let p = plan(&c, &s, 3_000, true, 100);
        assert_eq!(p.start, vec![1_000, 2_000, 3_000]);
    }

    #[test]
    fn a_fire_time_reached_late_within_the_shortest_window_starts() {
        let spec = ScheduleSpec::every(Duration::from_secs(1));
        let mut s = record(&spec, Overlap::Allow, 0);
        s.catch_up_ms = 0;
        let c = s.spec.compile().expect("spec");
        // The worker woke a millisecond after the fire time (and, later, 9 s after it).
        let p = plan(&c, &s, 1_001, false, 10);
        assert_eq!((p.start, p.missed), (vec![1_000], 0));
        let p = plan(&c, &s, 10_500, false, 100);
        assert_eq!((p.start.len(), p.missed), (10, 0));
        let p = plan(&c, &s, 20_000, false, 100);
        assert_eq!((p.start.first(), p.missed), (Some(&10_000), 9));
    }

    #[test]
    fn skipped_fire_times_are_counted_not_walked() {
        // Every second, a run still going, thirty days without a look.
        let spec = ScheduleSpec::cron("* * * * * *");
        let mut s = record(&spec, Overlap::Skip, 0);
        s.catch_up_ms = 365 * 86_400_000;
        let c = s.spec.compile().expect("spec");
        let month = 30 * 86_400_000;
        let p = plan(&c, &s, month, true, 100);
        assert!(p.skipped >= MISSED_WALK, "{}", p.skipped);
        assert_eq!((p.cursor_ms, p.next_fire_ms), (month, Some(month + 1_000)));
        s.overlap = Overlap::BufferOne;
        let p = plan(&c, &s, month, true, 100);
        assert_eq!((p.buffered, p.cursor_ms), (Some(1_000), month));
    }
}
