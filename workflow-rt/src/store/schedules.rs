//! The schedules' rows (see [`crate::schedule`]).

use crate::schedule::{Overlap, ScheduleSpec};

/// A schedule as stored: what it starts and when, where it stands, and the compare-and-set
/// token of its row.
///
/// A look at a schedule that fires it ([`Store::update_schedule`](super::Store::update_schedule))
/// moves `cursor_ms` past the fire times it took and records the ones whose runs it starts in
/// `starting`, in the same compare-and-set; the runs are then created, and `starting` cleared.
/// A worker that dies in between leaves `starting` for the next look, which creates them again
/// (a run that exists is not started twice).
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRecord {
    /// The schedule's name, unique in the store.
    pub name: String,
    /// The workflow it starts ([`crate::Workflow::NAME`]).
    pub workflow: String,
    /// The version of that workflow it starts ([`crate::Workflow::VERSION`]), the one its
    /// input was encoded for; `None` for a schedule stored before schedules kept it, which
    /// starts the newest registered.
    pub workflow_version: Option<u32>,
    /// The encoded input of every run.
    pub input: Vec<u8>,
    /// When it fires (an interval always with its anchor).
    pub spec: ScheduleSpec,
    /// What a fire time does while the last run has not finished.
    pub overlap: Overlap,
    /// How old a missed fire time may be and still start, in milliseconds.
    pub catch_up_ms: u64,
    /// The execution timeout of each run it starts, in milliseconds
    /// ([`crate::StartOptions::timeout`]); `None`: none (and for a schedule stored before
    /// schedules kept it).
    pub run_timeout_ms: Option<u64>,
    /// Paused: it starts nothing.
    pub paused: bool,
    /// Why it is paused, when a worker paused it: a fire time whose run could not be made
    /// (its input does not decode for the workflow's code, ...). Cleared when it is resumed.
    pub note: Option<String>,
    /// The last fire time taken (started, skipped, kept or missed), or the creation (or resume)
    /// time: the next fire time is the first after it.
    pub cursor_ms: u64,
    /// The first fire time after `cursor_ms`; `None` if there is none.
    pub next_fire_ms: Option<u64>,
    /// The fire time kept by [`Overlap::BufferOne`] until the last run finishes.
    pub buffered_ms: Option<u64>,
    /// Fire times taken whose runs may not be created yet, oldest first.
    pub starting: Vec<u64>,
    /// The id of the run started last.
    pub last_run_id: Option<String>,
    /// How many runs it started.
    pub started: u64,
    /// How many fire times the overlap policy skipped.
    pub skipped: u64,
    /// How many fire times were missed: older than the catch-up window when a worker came to
    /// them.
    pub missed: u64,
    /// Bumped by every change; the compare-and-set token. A schedule created by
    /// [`Client::schedule`](crate::Client::schedule) starts it at its creation time in
    /// milliseconds times 2^20, so that a writer holding the row of a schedule deleted and
    /// created again under its name is refused, not taken for the new one's.
    pub version: u64,
    /// When it was created, in milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// When it last changed, in milliseconds since the Unix epoch.
    pub updated_at_ms: u64,
}

/// The [`ScheduleRecord::version`] of a schedule created at `created_at_ms`: the time in its
/// high bits, so that the versions of one created later under the same name start past all
/// an earlier one's (a million changes a millisecond apart at least).
pub(crate) fn first_version(created_at_ms: u64) -> u64 {
    created_at_ms.min(1 << 42).saturating_mul(1 << 20).max(1)
}

/// A schedule's row as the SQL stores keep it, one field a column.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(super) mod sql {
    use super::ScheduleRecord;
    use crate::schedule::{Overlap, ScheduleSpec};
    use crate::store::StoreError;
    use crate::store::rows::{corrupt, int, uint};

    /// The columns, in the order of [`Row`]'s fields.
    pub(in crate::store) const COLUMNS: &str = "name, workflow, input, cron, every_ms, anchor_ms, \
         zone, overlap, catch_up_ms, paused, cursor_ms, next_fire, buffered, starting, \
         last_run_id, started, skipped, missed, version, created_at, updated_at, \
         workflow_version, note, run_timeout_ms";

    /// The columns' values.
    pub(in crate::store) struct Row {
        pub name: String,
        pub workflow: String,
        pub input: Vec<u8>,
        pub cron: Option<String>,
        pub every_ms: Option<i64>,
        pub anchor_ms: Option<i64>,
        pub zone: String,
        pub overlap: i64,
        pub catch_up_ms: i64,
        pub paused: bool,
        pub cursor_ms: i64,
        pub next_fire: Option<i64>,
        pub buffered: Option<i64>,
        pub starting: Option<String>,
        pub last_run_id: Option<String>,
        pub started: i64,
        pub skipped: i64,
        pub missed: i64,
        pub version: i64,
        pub created_at: i64,
        pub updated_at: i64,
        pub workflow_version: Option<i64>,
        pub note: Option<String>,
        pub run_timeout_ms: Option<i64>,
    }

    impl Row {
        pub(in crate::store) fn of(s: &ScheduleRecord) -> Row {
            let starting = (!s.starting.is_empty()).then(|| {
                s.starting
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            });
            Row {
                name: s.name.clone(),
                workflow: s.workflow.clone(),
                input: s.input.clone(),
                cron: s.spec.cron_expression().map(str::to_string),
                every_ms: s
                    .spec
                    .interval()
                    .map(|d| int(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))),
                anchor_ms: s.spec.anchor_ms().map(int),
                zone: s.spec.zone().to_string(),
                overlap: s.overlap.code(),
                catch_up_ms: int(s.catch_up_ms),
                paused: s.paused,
                cursor_ms: int(s.cursor_ms),
                next_fire: s.next_fire_ms.map(int),
                buffered: s.buffered_ms.map(int),
                starting,
                last_run_id: s.last_run_id.clone(),
                started: int(s.started),
                skipped: int(s.skipped),
                missed: int(s.missed),
                version: int(s.version),
                created_at: int(s.created_at_ms),
                updated_at: int(s.updated_at_ms),
                workflow_version: s.workflow_version.map(i64::from),
                note: s.note.clone(),
                run_timeout_ms: s.run_timeout_ms.map(int),
            }
        }

        pub(in crate::store) fn into_record(self) -> Result<ScheduleRecord, StoreError> {
            let what = |c: &str| format!("column {c} of schedule {:?}", self.name);
            let spec = match (&self.cron, self.every_ms) {
                (Some(cron), None) => ScheduleSpec::cron(cron.clone()),
                (None, Some(ms)) => {
                    let spec = ScheduleSpec::every(std::time::Duration::from_millis(uint(ms)));
                    match self.anchor_ms {
                        Some(a) => spec.anchored_at_ms(uint(a)),
                        None => spec,
                    }
                }
                _ => return Err(corrupt(&what("cron/every_ms"), "exactly one must be set")),
            }
            .in_zone(self.zone.clone());
            let overlap = Overlap::from_code(self.overlap)
                .ok_or_else(|| corrupt(&what("overlap"), self.overlap))?;
            let starting = match &self.starting {
                None => Vec::new(),
                Some(s) => s
                    .split(',')
                    .map(|t| t.trim().parse::<u64>())
                    .collect::<Result<_, _>>()
                    .map_err(|e| corrupt(&what("starting"), e))?,
            };
            let workflow_version = self
                .workflow_version
                .map(|v| u32::try_from(v).map_err(|e| corrupt(&what("workflow_version"), e)))
                .transpose()?;
            Ok(ScheduleRecord {
                name: self.name,
                workflow: self.workflow,
                workflow_version,
                note: self.note,
                input: self.input,
                spec,
                overlap,
                catch_up_ms: uint(self.catch_up_ms),
                run_timeout_ms: self.run_timeout_ms.map(uint),
                paused: self.paused,
                cursor_ms: uint(self.cursor_ms),
                next_fire_ms: self.next_fire.map(uint),
                buffered_ms: self.buffered.map(uint),
                starting,
                last_run_id: self.last_run_id,
                started: uint(self.started),
                skipped: uint(self.skipped),
                missed: uint(self.missed),
                version: uint(self.version),
                created_at_ms: uint(self.created_at),
                updated_at_ms: uint(self.updated_at),
            })
        }
    }
}
