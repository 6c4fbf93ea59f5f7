//! [`ScheduleSim`]: a schedule's fire times over virtual time, decided as the runtime decides
//! them, without a store or a runtime.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::DEFAULT_START_MS;
use crate::schedule::{self, DEFAULT_CATCH_UP, Overlap, ScheduleError, ScheduleSpec, run_id};
use crate::store::ScheduleRecord;

/// Runs a schedule over virtual time and tells which runs it starts, when, under which ids,
/// and which fire times its overlap policy skipped or its catch-up window missed: the same
/// decisions as a runtime's (both call one function), so a schedule's spec, overlap policy
/// and catch-up window can be unit-tested in microseconds.
///
/// The virtual worker looks at the schedule at each fire time, when the run it started last
/// ends (for [`Overlap::BufferOne`]), and when it comes back from a downtime
/// ([`ScheduleSim::down`]); each run lasts [`ScheduleSim::run_time`]. Run a started run's
/// workflow with [`TestRun`](super::TestRun) under its id to test what it does.
///
/// ```
/// use std::time::Duration;
/// use workflow_rt::schedule::{Overlap, ScheduleSpec};
/// use workflow_rt::testing::ScheduleSim;
///
/// // Every minute; runs take 90 s; the worker is down from 10 to 15 minutes.
/// let ticks = ScheduleSim::new("sync", ScheduleSpec::every(Duration::from_secs(60)))
///     .overlap(Overlap::Skip)
///     .run_time(Duration::from_secs(90))
///     .down(Duration::from_secs(600), Duration::from_secs(900))
///     .run_for(Duration::from_secs(1200))?;
/// assert_eq!(
///     &ticks.run_ids()[..3],
///     ["sync@2024-01-01T00:01:00Z", "sync@2024-01-01T00:03:00Z", "sync@2024-01-01T00:05:00Z"]
/// );
/// // Back at 15 min: 14 min is within the one-minute catch-up window, 10 to 13 are missed.
/// assert_eq!(ticks.missed, 4);
/// assert!(ticks.run_ids().contains(&"sync@2024-01-01T00:14:00Z"));
/// # Ok::<(), workflow_rt::schedule::ScheduleError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ScheduleSim {
    name: String,
    spec: ScheduleSpec,
    overlap: Overlap,
    catch_up: Duration,
    start_ms: u64,
    run_time: Duration,
    run_timeout: Option<Duration>,
    down: Vec<(Duration, Duration)>,
}

/// A run a [`ScheduleSim`] started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledRun {
    /// Its id ([`run_id`]).
    pub id: String,
    /// The fire time it is for, in milliseconds since the Unix epoch.
    pub fire_ms: u64,
    /// When it was started (later than its fire time after a downtime, or when it was
    /// buffered).
    pub started_at_ms: u64,
}

/// What a [`ScheduleSim`] saw.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScheduleTicks {
    /// The runs started, in order.
    pub runs: Vec<ScheduledRun>,
    /// The fire times the overlap policy skipped.
    pub skipped: Vec<u64>,
    /// How many fire times were older than the catch-up window when the worker came back.
    pub missed: u64,
    /// The fire time kept by [`Overlap::BufferOne`] at the end, if any.
    pub buffered: Option<u64>,
}

impl ScheduleTicks {
    /// The ids of the runs started, in order.
    pub fn run_ids(&self) -> Vec<&str> {
        self.runs.iter().map(|r| r.id.as_str()).collect()
    }

    /// The fire times whose runs started, in order.
    pub fn fire_times(&self) -> Vec<u64> {
        self.runs.iter().map(|r| r.fire_ms).collect()
    }
}

impl ScheduleSim {
    /// Schedule `name` with `spec`, created at [`DEFAULT_START_MS`], with the defaults of
    /// [`Client::schedule`](crate::Client::schedule) and runs that end as they start.
    pub fn new(name: impl Into<String>, spec: ScheduleSpec) -> Self {
        ScheduleSim {
            name: name.into(),
            spec,
            overlap: Overlap::default(),
            catch_up: DEFAULT_CATCH_UP,
            start_ms: DEFAULT_START_MS,
            run_time: Duration::ZERO,
            run_timeout: None,
            down: Vec::new(),
        }
    }

    /// When the schedule is created (and the virtual clock starts).
    pub fn start_at(mut self, time: SystemTime) -> Self {
        self.start_ms = time
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        self
    }

    /// When the schedule is created, in milliseconds since the Unix epoch.
    pub fn start_at_ms(mut self, ms: u64) -> Self {
        self.start_ms = ms;
        self
    }

    /// The overlap policy.
    pub fn overlap(mut self, overlap: Overlap) -> Self {
        self.overlap = overlap;
        self
    }

    /// The catch-up window.
    pub fn catch_up(mut self, window: Duration) -> Self {
        self.catch_up = window;
        self
    }

    /// How long each run lasts (zero by default: a run has ended when the next fire time
    /// comes, whatever it is).
    pub fn run_time(mut self, time: Duration) -> Self {
        self.run_time = time;
        self
    }

    /// Each run's execution timeout ([`NewSchedule::run_timeout`](crate::schedule::NewSchedule::run_timeout);
    /// at least [`crate::MIN_TIMEOUT`]): a run that would last longer is stopped then, and the
    /// schedule's overlap policy sees it ended after that time (a fire time at the very end of
    /// the timeout finds it still running, as the runtime's stop comes with a step after it).
    pub fn run_timeout(mut self, limit: Duration) -> Self {
        self.run_timeout = Some(limit.max(crate::MIN_TIMEOUT));
        self
    }

    /// No worker runs from `from` to `to` after the start: the fire times in between are
    /// caught up at `to`, within the catch-up window.
    pub fn down(mut self, from: Duration, to: Duration) -> Self {
        self.down.push((from, to));
        self
    }

    /// Runs the schedule for `length` of virtual time. A bad spec is the error creating the
    /// schedule would give.
    pub fn run_for(&self, length: Duration) -> Result<ScheduleTicks, ScheduleError> {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let start = self.start_ms;
        let end = start.saturating_add(ms(length));
        let spec = self.spec.clone().anchored_or(start);
        let compiled = spec.compile()?;
        let next_fire_ms = compiled.next_after(start);
        if next_fire_ms.is_none() {
            return Err(ScheduleError::NeverFires(spec.to_string()));
        }
        let down: Vec<(u64, u64)> = self
            .down
            .iter()
            .map(|&(a, b)| (start.saturating_add(ms(a)), start.saturating_add(ms(b))))
            .collect();
        let mut s = ScheduleRecord {
            name: self.name.clone(),
            workflow: String::new(),
            workflow_version: None,
            note: None,
            input: Vec::new(),
            spec,
            overlap: self.overlap,
            catch_up_ms: ms(self.catch_up),
            run_timeout_ms: self.run_timeout.map(ms),
            paused: false,
            cursor_ms: start,
            next_fire_ms,
            buffered_ms: None,
            starting: Vec::new(),
            last_run_id: None,
            started: 0,
            skipped: 0,
            missed: 0,
            version: 1,
            created_at_ms: start,
            updated_at_ms: start,
        };
        let mut ticks = ScheduleTicks::default();
        let mut last_end: Option<u64> = None;
        let mut now = start;
        loop {
            // The next look: a fire time, or the end of the last run while a fire time waits.
            let wanted = [
                s.next_fire_ms,
                s.buffered_ms.and(last_end).map(|e| e.max(now)),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(mut at) = wanted else { break };
            // A worker that is down looks when it is back.
            while let Some(&(_, back)) = down.iter().find(|&&(a, b)| a <= at && at < b) {
                at = back;
            }
            if at > end || at < now {
                break;
            }
            now = at;
            let running = last_end.is_some_and(|e| e > now);
            let plan = schedule::plan(&compiled, &s, now, running, usize::MAX);
            for &fire in &plan.start {
                ticks.runs.push(ScheduledRun {
                    id: run_id(&self.name, fire),
                    fire_ms: fire,
                    started_at_ms: now,
                });
                let lasts = match self.run_timeout {
                    Some(limit) => self.run_time.min(limit),
                    None => self.run_time,
                };
                // A run cut short by its timeout is stopped by a step after the timeout's end:
                // a fire time at that very end still finds it running.
                let cut_short = u64::from(lasts < self.run_time);
                last_end = Some(now.saturating_add(ms(lasts)).saturating_add(cut_short));
            }
            if plan.skipped > 0 {
                // The plan counts them; the fire times are those of the window it looked at
                // that it neither started nor kept.
                let catch_up = s.catch_up_ms.max(schedule::MIN_CATCH_UP.as_millis() as u64);
                let mut t = s
                    .cursor_ms
                    .max(now.saturating_sub(catch_up).saturating_sub(1));
                let mut seen = Vec::new();
                while let Some(next) = compiled.next_after(t).filter(|&x| x <= plan.cursor_ms) {
                    if !plan.start.contains(&next) && plan.buffered != Some(next) {
                        seen.push(next);
                    }
                    t = next;
                }
                let from = seen.len().saturating_sub(plan.skipped as usize);
                ticks.skipped.extend(&seen[from..]);
            }
            ticks.missed += plan.missed;
            let changed = plan.changes(&s);
            s = plan.apply(&s, now);
            s.starting.clear();
            if !changed && s.buffered_ms.is_some() && last_end.is_none_or(|e| e <= now) {
                // Nothing can change any more at this time.
                break;
            }
        }
        ticks.buffered = s.buffered_ms;
        Ok(ticks)
    }
}
