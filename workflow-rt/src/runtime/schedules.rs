//! Schedules in the runtime: creating and changing them from a [`Client`], and firing them
//! from a worker (the decision itself is [`crate::schedule::plan`], which the test driver
//! shares).

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::client::Client;
use super::engine::Inner;
use super::registry::no_panic;
use super::telemetry;
use crate::schedule::{
    self, DEFAULT_CATCH_UP, MIN_CATCH_UP, Overlap, ScheduleError, ScheduleSpec, format_ms, run_id,
};
use crate::store::schedules::first_version;
use crate::store::{HistoryEntry, HistoryKind, NewWorkflow, ScheduleRecord, StoreError};
use crate::workflow::Workflow;

/// The most runs one look at a schedule starts; more due (after a long downtime with a wide
/// catch-up window and [`Overlap::Allow`]) wait for the next look.
const STARTS_PER_LOOK: usize = 100;

/// How many fire times [`ScheduleInfo::next_fire_times_ms`] lists.
const NEXT_FIRE_TIMES: usize = 5;

/// A schedule as [`Client::describe_schedule`] and [`Client::list_schedules`] show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScheduleInfo {
    /// Its name.
    pub name: String,
    /// The workflow it starts.
    pub workflow: String,
    /// The version of the workflow it starts (`None`: the newest registered; a schedule
    /// stored before schedules kept the version).
    pub workflow_version: Option<u32>,
    /// When it fires.
    pub spec: ScheduleSpec,
    /// What a fire time does while the last run has not finished.
    pub overlap: Overlap,
    /// How old a missed fire time may be and still start.
    pub catch_up: Duration,
    /// The execution timeout of each run it starts ([`NewSchedule::run_timeout`]).
    pub run_timeout: Option<Duration>,
    /// Paused: it starts nothing.
    pub paused: bool,
    /// Why a worker paused it, if one did: a fire time whose run could not be made.
    pub note: Option<String>,
    /// Its next fire times, in milliseconds since the Unix epoch; none while it is paused (it
    /// fires from the first fire time after it is resumed).
    pub next_fire_times_ms: Vec<u64>,
    /// The id of the run it started last.
    pub last_run_id: Option<String>,
    /// The fire time kept by [`Overlap::BufferOne`] until the last run ends.
    pub buffered_ms: Option<u64>,
    /// How many runs it started.
    pub started: u64,
    /// How many fire times its overlap policy skipped.
    pub skipped: u64,
    /// How many fire times were older than the catch-up window when a worker came to them.
    pub missed: u64,
    /// When it was created, in milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// When it last changed, in milliseconds since the Unix epoch.
    pub updated_at_ms: u64,
}

impl ScheduleInfo {
    fn of(s: ScheduleRecord) -> ScheduleInfo {
        let mut next_fire_times_ms = Vec::new();
        if let (false, Some(first), Ok(spec)) = (s.paused, s.next_fire_ms, s.spec.compile()) {
            next_fire_times_ms.push(first);
            while next_fire_times_ms.len() < NEXT_FIRE_TIMES {
                let last = next_fire_times_ms[next_fire_times_ms.len() - 1];
                match spec.next_after(last) {
                    Some(t) => next_fire_times_ms.push(t),
                    None => break,
                }
            }
        }
        ScheduleInfo {
            name: s.name,
            workflow: s.workflow,
            workflow_version: s.workflow_version,
            spec: s.spec,
            overlap: s.overlap,
            catch_up: Duration::from_millis(s.catch_up_ms),
            run_timeout: s.run_timeout_ms.map(Duration::from_millis),
            paused: s.paused,
            note: s.note,
            next_fire_times_ms,
            last_run_id: s.last_run_id,
            buffered_ms: s.buffered_ms,
            started: s.started,
            skipped: s.skipped,
            missed: s.missed,
            created_at_ms: s.created_at_ms,
            updated_at_ms: s.updated_at_ms,
        }
    }
}

/// A schedule to create: returned by [`Client::schedule`], created when awaited (or by
/// [`NewSchedule::create`]).
#[must_use = "a schedule is created when this is awaited"]
pub struct NewSchedule<W: Workflow> {
    client: Client,
    name: String,
    spec: ScheduleSpec,
    input: W::Input,
    overlap: Overlap,
    catch_up: Duration,
    run_timeout: Option<Duration>,
    paused: bool,
    _workflow: PhantomData<fn() -> W>,
}

impl<W: Workflow> std::fmt::Debug for NewSchedule<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSchedule")
            .field("name", &self.name)
            .field("workflow", &W::NAME)
            .field("spec", &self.spec)
            .field("overlap", &self.overlap)
            .field("catch_up", &self.catch_up)
            .field("run_timeout", &self.run_timeout)
            .field("paused", &self.paused)
            .finish_non_exhaustive()
    }
}

impl<W: Workflow> NewSchedule<W> {
    /// What a fire time does while the schedule's last run has not finished (default
    /// [`Overlap::Skip`]).
    pub fn overlap(mut self, overlap: Overlap) -> Self {
        self.overlap = overlap;
        self
    }

    /// How old a fire time missed while no worker ran may be and still start (default
    /// [`DEFAULT_CATCH_UP`], one minute; at least [`MIN_CATCH_UP`], ten seconds, which a
    /// shorter window is taken as); older ones are skipped and counted as missed.
    pub fn catch_up(mut self, window: Duration) -> Self {
        self.catch_up = window.max(MIN_CATCH_UP);
        self
    }

    /// Gives each run the schedule starts an execution timeout, as
    /// [`StartOptions::timeout`](crate::StartOptions::timeout) gives a run one, counted from
    /// the run's start (Temporal's schedule action's workflow execution timeout): past it the
    /// run is stopped outright. At least [`crate::MIN_TIMEOUT`], a second. Default: none.
    /// With [`Overlap::Skip`] or [`Overlap::BufferOne`], a run that hangs then holds the
    /// schedule's next fire times back no longer than this: give it a margin below the
    /// interval between fire times (the run starts when a worker looks at its fire time, and
    /// its stop takes a step), or the fire time at its end may find it still running.
    pub fn run_timeout(mut self, limit: Duration) -> Self {
        self.run_timeout = Some(limit.max(crate::MIN_TIMEOUT));
        self
    }

    /// Creates the schedule paused ([`Client::resume_schedule`] starts it).
    pub fn paused(mut self, paused: bool) -> Self {
        self.paused = paused;
        self
    }

    /// Creates the schedule. A bad spec ([`ScheduleError::BadCron`],
    /// [`ScheduleError::UnknownZone`], [`ScheduleError::BadInterval`],
    /// [`ScheduleError::NeverFires`]), a bad name, an input that does not encode or is over
    /// [`Limits::max_input_bytes`](crate::Limits::max_input_bytes), or a name taken
    /// ([`ScheduleError::Exists`]) store nothing, nor a workflow version older than the newest
    /// registered ([`ScheduleError::NotNewest`]).
    pub async fn create(self) -> Result<ScheduleInfo, ScheduleError> {
        let client = self.client;
        let name = self.name;
        if name.contains('@')
            || crate::schedule::MAX_NAME_BYTES < name.len()
            || super::error::check_name(&name).is_err()
        {
            return Err(ScheduleError::BadName(name));
        }
        if let Some(newest) = client.workflows.newest(W::NAME)
            && newest > W::VERSION
        {
            return Err(ScheduleError::NotNewest {
                name: W::NAME.to_string(),
                version: W::VERSION,
                newest,
            });
        }
        let now = client.clock.now_ms();
        let spec = self.spec.anchored_or(now);
        let next_fire_ms = spec.compile()?.next_after(now);
        if next_fire_ms.is_none() {
            return Err(ScheduleError::NeverFires(spec.to_string()));
        }
        let input = encode_input(&name, &self.input, client.limits.max_input_bytes)?;
        let record = ScheduleRecord {
            name,
            workflow: W::NAME.to_string(),
            workflow_version: Some(W::VERSION),
            note: None,
            input,
            spec,
            overlap: self.overlap,
            // At most what every store keeps (a signed 64-bit number).
            catch_up_ms: u64::try_from(self.catch_up.as_millis())
                .unwrap_or(u64::MAX)
                .min(i64::MAX as u64),
            run_timeout_ms: self.run_timeout.map(stored_ms),
            paused: self.paused,
            cursor_ms: now,
            next_fire_ms,
            buffered_ms: None,
            starting: Vec::new(),
            last_run_id: None,
            started: 0,
            skipped: 0,
            missed: 0,
            version: first_version(now),
            created_at_ms: now,
            updated_at_ms: now,
        };
        client.store.create_schedule(record.clone()).await?;
        tracing::info!(schedule = %record.name, workflow = W::NAME, spec = %record.spec, "schedule created");
        if let Some(rt) = client.runtime() {
            rt.schedule_wakeup.notify_one();
        }
        Ok(ScheduleInfo::of(record))
    }
}

impl<W: Workflow> IntoFuture for NewSchedule<W> {
    type Output = Result<ScheduleInfo, ScheduleError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.create())
    }
}

impl Client {
    /// A schedule named `name` that starts workflow `W` with `input` at the fire times of
    /// `spec`, each run under the id [`run_id`]`(name, fire time)`; created when awaited. Every
    /// runtime on the store that has `W` registered fires it (see [`crate::schedule`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use workflow_rt::prelude::*;
    /// use workflow_rt::schedule::{Overlap, ScheduleError, ScheduleSpec};
    /// use workflow_rt::{Client, MemoryStore};
    ///
    /// #[workflow]
    /// async fn report(ctx: WorkflowCtx, team: String) -> String {
    ///     format!("report for {team}")
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = Client::new(MemoryStore::new());
    /// let nightly = ScheduleSpec::cron("0 2 * * *").in_zone("Europe/Paris");
    /// let info = client
    ///     .schedule("nightly", nightly, report, "ops".to_string())
    ///     .overlap(Overlap::Skip)
    ///     .catch_up(Duration::from_secs(6 * 3600))
    ///     .await?;
    /// assert_eq!(info.next_fire_times_ms.len(), 5);
    /// // A name is taken once; a bad zone stores nothing.
    /// let again = client.schedule("nightly", ScheduleSpec::cron("0 3 * * *"), report, "ops".into());
    /// assert!(matches!(again.await, Err(ScheduleError::Exists(_))));
    /// let bad = ScheduleSpec::cron("0 2 * * *").in_zone("Mars/Olympus");
    /// let e = client.schedule("other", bad, report, "ops".into()).await.unwrap_err();
    /// assert!(matches!(e, ScheduleError::UnknownZone(_)));
    /// assert_eq!(client.list_schedules().await?.len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn schedule<W: Workflow>(
        &self,
        name: impl Into<String>,
        spec: ScheduleSpec,
        _workflow: W,
        input: W::Input,
    ) -> NewSchedule<W> {
        NewSchedule {
            client: self.clone(),
            name: name.into(),
            spec,
            input,
            overlap: Overlap::default(),
            catch_up: DEFAULT_CATCH_UP,
            run_timeout: None,
            paused: false,
            _workflow: PhantomData,
        }
    }

    /// Schedule `name`, with its next fire times and where it stands.
    pub async fn describe_schedule(&self, name: &str) -> Result<ScheduleInfo, ScheduleError> {
        Ok(ScheduleInfo::of(self.store.load_schedule(name).await?))
    }

    /// Every schedule, by name.
    pub async fn list_schedules(&self) -> Result<Vec<ScheduleInfo>, ScheduleError> {
        let all = self.store.list_schedules().await?;
        Ok(all.into_iter().map(ScheduleInfo::of).collect())
    }

    /// Pauses schedule `name`: it starts nothing until resumed (runs it started go on). Pausing
    /// a paused schedule changes nothing.
    pub async fn pause_schedule(&self, name: &str) -> Result<(), ScheduleError> {
        self.change_schedule(name, |s, _| {
            let changed = !s.paused;
            s.paused = true;
            Ok(changed)
        })
        .await?;
        tracing::info!(schedule = name, "schedule paused");
        Ok(())
    }

    /// Resumes schedule `name`: it fires from its first fire time after now (the fire times of
    /// the pause are not caught up). Resuming a schedule that is not paused changes nothing.
    pub async fn resume_schedule(&self, name: &str) -> Result<(), ScheduleError> {
        self.change_schedule(name, |s, now| {
            if !s.paused {
                return Ok(false);
            }
            let spec = compiled(s)?;
            s.paused = false;
            s.note = None;
            s.cursor_ms = s.cursor_ms.max(now);
            s.next_fire_ms = spec.next_after(s.cursor_ms);
            Ok(true)
        })
        .await?;
        tracing::info!(schedule = name, "schedule resumed");
        if let Some(rt) = self.runtime() {
            rt.schedule_wakeup.notify_one();
        }
        Ok(())
    }

    /// Deletes schedule `name`: it starts nothing more; the runs it started are left as they
    /// are. (A fire time taken by a worker that died before it created the run is not started
    /// once the schedule is gone; pause the schedule first, and delete it once its runs are
    /// there, to be sure.)
    pub async fn delete_schedule(&self, name: &str) -> Result<(), ScheduleError> {
        self.store.delete_schedule(name).await?;
        tracing::info!(schedule = name, "schedule deleted");
        Ok(())
    }

    /// Starts a run of schedule `name` now, out of its fire times (Temporal's "trigger
    /// immediately"), under the id [`run_id`]`(name, now)` (or a millisecond or a few later,
    /// when a fire time of the schedule or a run has that one), paused or not. The schedule's
    /// overlap policy decides as for a fire time: while its last run has not finished,
    /// [`Overlap::Skip`] starts nothing (counted as skipped), [`Overlap::BufferOne`] keeps
    /// the trigger for when that run ends (unless a fire time is kept already: then it is
    /// skipped; a kept trigger waits, as the schedule's own fire times do, while the schedule
    /// is paused), and [`Overlap::Allow`] starts the run. The triggered run becomes the
    /// schedule's last run, which its next fire times look at. The run itself is created by a worker
    /// that runs the schedule's workflow, at its next look at the schedule (at once for this
    /// client's own runtime).
    ///
    /// ```
    /// use workflow_rt::prelude::*;
    /// use workflow_rt::schedule::{ScheduleSpec, Triggered};
    ///
    /// #[workflow]
    /// async fn report(ctx: WorkflowCtx, team: String) -> String {
    ///     format!("report for {team}")
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let rt = Runtime::builder(MemoryStore::new()).workflow(report).build().await?;
    /// let client = rt.client();
    /// client
    ///     .schedule("nightly", ScheduleSpec::cron("0 2 * * *"), report, "ops".into())
    ///     .await?;
    /// let Triggered::Started { run_id } = client.trigger_schedule("nightly").await? else {
    ///     unreachable!("nothing runs yet")
    /// };
    /// assert_eq!(rt.handle(report, &run_id).result().await?, "report for ops");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn trigger_schedule(&self, name: &str) -> Result<Triggered, ScheduleError> {
        for _ in 0..64 {
            let mut s = self.store.load_schedule(name).await?;
            let spec = compiled(&s)?;
            let now = self.clock.now_ms();
            // A fire time of its own, whose run id no other run has or will have: past the
            // fire times the schedule keeps, the one of its spec still to come at this very
            // millisecond, and any whose run is there.
            let mut fire = now;
            loop {
                let taken = s.starting.contains(&fire)
                    || s.buffered_ms == Some(fire)
                    || (fire > s.cursor_ms && spec.next_after(fire - 1) == Some(fire))
                    || self.made(&run_id(&s.name, fire)).await?;
                if !taken {
                    break;
                }
                fire += 1;
            }
            let last_running = match &s.last_run_id {
                _ if s.overlap == Overlap::Allow => false,
                None => false,
                Some(id) => match self.store.load_workflow(id).await {
                    Ok(run) => !run.status.is_finished(),
                    Err(StoreError::NotFound(_)) => false,
                    Err(e) => return Err(e.into()),
                },
            };
            let mut start = None;
            let triggered = match s.overlap {
                Overlap::BufferOne if last_running && s.buffered_ms.is_none() => {
                    s.buffered_ms = Some(fire);
                    Triggered::Buffered {
                        run_id: run_id(&s.name, fire),
                    }
                }
                Overlap::Skip | Overlap::BufferOne if last_running => {
                    s.skipped = s.skipped.saturating_add(1);
                    Triggered::Skipped
                }
                _ => {
                    let id = run_id(&s.name, fire);
                    s.starting.push(fire);
                    s.last_run_id = Some(id.clone());
                    s.started = s.started.saturating_add(1);
                    start = Some(fire);
                    Triggered::Started { run_id: id }
                }
            };
            s.updated_at_ms = now;
            match self.store.update_schedule(s.clone()).await {
                Ok(_) => {
                    tracing::info!(schedule = name, outcome = ?triggered, "schedule triggered");
                    if let Some(reason) = self.start_now(&s, start.as_slice(), now).await {
                        // The worker's next look pauses the schedule, saying so.
                        return Err(ScheduleError::RunRefused {
                            name: name.to_string(),
                            reason,
                        });
                    }
                    return Ok(triggered);
                }
                Err(StoreError::ScheduleConflict { .. }) => {
                    tokio::time::sleep(Duration::from_millis(1)).await
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ScheduleError::Store(StoreError::ScheduleConflict {
            name: name.to_string(),
            expected: 0,
        }))
    }

    /// Starts the runs of schedule `name` for its fire times in `(after, until]` (Temporal's
    /// "backfill"): one per fire time, under [`run_id`]`(name, fire time)`, for each whose
    /// run is not in the store, so that a backfill repeated over the same range starts nothing
    /// twice, and a fire time whose run the schedule made keeps it. The range ends at now at
    /// the latest, and, while the schedule is active, at the last fire time it has looked at
    /// (the later ones are its own to start, or skip). An interval's fire times start at its
    /// anchor: the schedule's creation, or the update that gave it the interval, unless
    /// [`ScheduleSpec::anchored_at`] says otherwise. Every run in the range is started, whatever the
    /// overlap policy (as Temporal's backfill with "allow all"), paused or not; they are not
    /// the schedule's last run, which its own fire times go on to look at. At most
    /// [`MAX_BACKFILL`] fire times at once ([`ScheduleError::Backfill`]: a range with more
    /// starts nothing). Returns the ids of the runs, oldest first; a worker that runs the
    /// schedule's workflow creates them at its next look.
    pub async fn backfill_schedule(
        &self,
        name: &str,
        after: std::time::SystemTime,
        until: std::time::SystemTime,
    ) -> Result<Vec<String>, ScheduleError> {
        let ms = |t: std::time::SystemTime| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        };
        let after_ms = ms(after);
        for _ in 0..64 {
            let mut s = self.store.load_schedule(name).await?;
            // Up to now, and, while the schedule is active, up to the last fire time it has
            // looked at: those after it are its own to start (or skip, or miss).
            let now = self.clock.now_ms();
            let until_ms = match s.paused {
                true => ms(until).min(now),
                false => ms(until).min(now).min(s.cursor_ms),
            };
            let spec = compiled(&s)?;
            let mut fires = Vec::new();
            let mut t = after_ms;
            while let Some(next) = spec.next_after(t).filter(|&n| n <= until_ms) {
                if fires.len() == MAX_BACKFILL {
                    return Err(ScheduleError::Backfill {
                        name: s.name,
                        reason: format!(
                            "the range holds more than {MAX_BACKFILL} fire times: backfill it in parts"
                        ),
                    });
                }
                fires.push(next);
                t = next;
            }
            let ids: Vec<String> = fires.iter().map(|&f| run_id(&s.name, f)).collect();
            // Those whose run is neither there nor to start already.
            let mut new: Vec<u64> = Vec::new();
            for (&f, id) in fires.iter().zip(&ids) {
                if !s.starting.contains(&f) && !self.made(id).await? {
                    new.push(f);
                }
            }
            if new.is_empty() {
                return Ok(ids);
            }
            s.started = s.started.saturating_add(new.len() as u64);
            s.starting.extend(&new);
            s.updated_at_ms = now;
            match self.store.update_schedule(s.clone()).await {
                Ok(_) => {
                    tracing::info!(schedule = name, runs = new.len(), "schedule backfilled");
                    if let Some(reason) = self.start_now(&s, &new, now).await {
                        return Err(ScheduleError::RunRefused {
                            name: name.to_string(),
                            reason,
                        });
                    }
                    return Ok(ids);
                }
                Err(StoreError::ScheduleConflict { .. }) => {
                    tokio::time::sleep(Duration::from_millis(1)).await
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ScheduleError::Store(StoreError::ScheduleConflict {
            name: name.to_string(),
            expected: 0,
        }))
    }

    /// Has the runtime this client belongs to, if any, create the runs of schedule `s` for
    /// `fire_times`, stored in its row to start: when it runs the schedule's workflow, they
    /// exist once the call that stored them returns. (Otherwise, or if that fails, a worker's
    /// next look at the schedule creates them, and clears them from the row.)
    /// Returns why, if such a run cannot be made (from the schedule's input, by this code).
    async fn start_now(&self, s: &ScheduleRecord, fire_times: &[u64], now: u64) -> Option<String> {
        let rt = self.runtime()?;
        let mut refused = None;
        if !fire_times.is_empty()
            && rt.workflows.knows(&s.workflow)
            && let Started::Never(reason) = rt.start_scheduled(s, fire_times, now).await
        {
            refused = Some(reason);
        }
        rt.schedule_wakeup.notify_one();
        refused
    }

    /// Whether the run under `id` is in the store.
    async fn made(&self, id: &str) -> Result<bool, ScheduleError> {
        match self.store.load_workflow(id).await {
            Ok(_) => Ok(true),
            Err(StoreError::NotFound(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Changes schedule `name` as `update` says: its spec (it then fires from its first fire
    /// time after now; the fire times between are not caught up), its overlap policy, its
    /// catch-up window, its runs' timeout (for the runs it starts after). What `update` leaves alone stays as it is, and so do the runs the
    /// schedule started, its counts and its last run. A bad spec changes nothing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use workflow_rt::prelude::*;
    /// use workflow_rt::schedule::{Overlap, ScheduleSpec, ScheduleUpdate};
    /// # use workflow_rt::{Client, MemoryStore};
    /// # #[workflow]
    /// # async fn report(ctx: WorkflowCtx, team: String) -> String { team }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let client = Client::new(MemoryStore::new());
    /// client
    ///     .schedule("nightly", ScheduleSpec::cron("0 2 * * *"), report, "ops".into())
    ///     .await?;
    /// let info = client
    ///     .update_schedule(
    ///         "nightly",
    ///         ScheduleUpdate::new()
    ///             .spec(ScheduleSpec::cron("30 3 * * *").in_zone("Europe/Paris"))
    ///             .overlap(Overlap::BufferOne),
    ///     )
    ///     .await?;
    /// assert_eq!(info.spec.cron_expression(), Some("30 3 * * *"));
    /// assert_eq!(info.overlap, Overlap::BufferOne);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn update_schedule(
        &self,
        name: &str,
        update: ScheduleUpdate,
    ) -> Result<ScheduleInfo, ScheduleError> {
        self.change_schedule(name, |s, now| {
            if let Some(spec) = &update.spec {
                let spec = spec.clone().anchored_or(now);
                let next = spec.compile()?.next_after(now);
                if next.is_none() {
                    return Err(ScheduleError::NeverFires(spec.to_string()));
                }
                s.spec = spec;
                s.cursor_ms = s.cursor_ms.max(now);
                s.next_fire_ms = next;
            }
            if let Some(overlap) = update.overlap {
                s.overlap = overlap;
                if overlap != Overlap::BufferOne && s.buffered_ms.take().is_some() {
                    s.skipped = s.skipped.saturating_add(1);
                }
            }
            if let Some(window) = update.catch_up {
                s.catch_up_ms = stored_ms(window.max(MIN_CATCH_UP));
            }
            if let Some(limit) = update.run_timeout {
                s.run_timeout_ms = limit.map(|t| stored_ms(t.max(crate::MIN_TIMEOUT)));
            }
            Ok(true)
        })
        .await?;
        tracing::info!(schedule = name, "schedule updated");
        if let Some(rt) = self.runtime() {
            rt.schedule_wakeup.notify_one();
        }
        self.describe_schedule(name).await
    }

    /// Changes the input of the runs schedule `name` starts from now on to `input`, for
    /// workflow `W`, which must be the schedule's ([`ScheduleError::Input`] otherwise, and
    /// for an input that does not encode or is over the limit of an input); the schedule then
    /// starts `W`'s version (a schedule made before a new version was deployed moves to it; a
    /// schedule of a newer version than `W`'s is [`ScheduleError::NotNewest`]). Runs it
    /// started keep theirs; fire times taken or kept whose runs are not made yet get the new
    /// input. A schedule that a worker paused because its runs could not be made stays
    /// paused: resume it.
    pub async fn set_schedule_input<W: Workflow>(
        &self,
        name: &str,
        _workflow: W,
        input: W::Input,
    ) -> Result<(), ScheduleError> {
        if let Some(newest) = self.workflows.newest(W::NAME)
            && newest > W::VERSION
        {
            return Err(ScheduleError::NotNewest {
                name: W::NAME.to_string(),
                version: W::VERSION,
                newest,
            });
        }
        let bytes = encode_input(name, &input, self.limits.max_input_bytes)?;
        self.change_schedule(name, |s, _| {
            if s.workflow != W::NAME {
                return Err(ScheduleError::Input {
                    name: s.name.clone(),
                    reason: format!(
                        "the schedule starts workflow {:?}, not {:?}",
                        s.workflow,
                        W::NAME
                    ),
                });
            }
            if let Some(v) = s.workflow_version
                && v > W::VERSION
            {
                return Err(ScheduleError::NotNewest {
                    name: W::NAME.to_string(),
                    version: W::VERSION,
                    newest: v,
                });
            }
            s.input.clone_from(&bytes);
            s.workflow_version = Some(W::VERSION);
            // A schedule a worker paused as its runs could not be made (from this input,
            // say) stays paused: resume it.
            Ok(true)
        })
        .await?;
        tracing::info!(
            schedule = name,
            workflow = W::NAME,
            "schedule input changed"
        );
        Ok(())
    }

    /// Applies `change` to schedule `name` by compare-and-set, again on a conflict with a worker
    /// firing it; `change` says whether it changed anything.
    async fn change_schedule(
        &self,
        name: &str,
        change: impl Fn(&mut ScheduleRecord, u64) -> Result<bool, ScheduleError>,
    ) -> Result<(), ScheduleError> {
        for _ in 0..64 {
            let mut s = self.store.load_schedule(name).await?;
            let now = self.clock.now_ms();
            if !change(&mut s, now)? {
                return Ok(());
            }
            s.updated_at_ms = now;
            match self.store.update_schedule(s).await {
                Ok(_) => return Ok(()),
                Err(StoreError::ScheduleConflict { .. }) => {
                    tokio::time::sleep(Duration::from_millis(1)).await
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ScheduleError::Store(StoreError::ScheduleConflict {
            name: name.to_string(),
            expected: 0,
        }))
    }
}

impl Inner {
    /// One look at schedule `s`, which the store listed as due: starts the runs of the fire
    /// times taken by an earlier look that may not exist yet, decides ([`schedule::plan`]),
    /// claims the decision by compare-and-set on the schedule's row, starts the runs it
    /// decided, and clears them from the row. A conflict (another worker, a client) reloads the
    /// schedule and decides again; any other failure leaves the schedule for the next look.
    pub(crate) async fn fire_schedule(self: &Arc<Self>, mut s: ScheduleRecord) {
        let mut as_listed = true;
        for _ in 0..16 {
            if self.is_shut_down() {
                return;
            }
            // Fire times still to start in the row as listed: read it again first. Listed with
            // many others, it may be seconds old, and a run another worker started and cleared
            // since (then purged, perhaps) would be started again.
            if std::mem::take(&mut as_listed) && !s.starting.is_empty() {
                match self.store.load_schedule(&s.name).await {
                    Ok(fresh) => s = fresh,
                    Err(StoreError::ScheduleNotFound(_)) => return,
                    Err(e) => {
                        tracing::warn!(schedule = %s.name, error = %e, "cannot read a schedule again");
                        return;
                    }
                }
            }
            // Compiled from the row as read each time: a schedule deleted and created again
            // meanwhile under the name may have another spec.
            let spec = match s.spec.compile() {
                Ok(spec) => spec,
                Err(e) => {
                    tracing::warn!(schedule = %s.name, error = %e, "cannot fire an unreadable schedule");
                    return;
                }
            };
            let now = self.clock.now_ms();
            // Made for a version newer than this runtime's: the workers that have it fire it,
            // and this one claims nothing. If none has for a while past its fire time (a deploy
            // rolled back), it is paused, saying so.
            if let Some(v) = s.workflow_version
                && self.workflows.is_newer(&s.workflow, v)
            {
                let waited = s
                    .next_fire_ms
                    .is_some_and(|t| now.saturating_sub(t) >= super::engine::NEWER_CODE_GRACE_MS);
                if waited && !s.paused {
                    let reason = format!(
                        "it starts version {v} of workflow {:?}, newer than this runtime's, and no \
                         worker with that version fired it within {} s of its fire time: deploy \
                         that code, then resume the schedule",
                        s.workflow,
                        super::engine::NEWER_CODE_GRACE_MS / 1000
                    );
                    self.pause_refused(s, None, reason, now).await;
                }
                return;
            }
            if !s.starting.is_empty() {
                match self.start_scheduled(&s, &s.starting, now).await {
                    Started::All => {}
                    Started::Later => return,
                    Started::Never(reason) => {
                        return self.pause_refused(s, None, reason, now).await;
                    }
                }
            }
            if s.paused {
                // Paused after a look took fire times whose runs it did not create (its
                // worker died): created above; now the row says so.
                if s.starting.is_empty() {
                    return;
                }
                let mut done = s.clone();
                done.starting.clear();
                match self.store.update_schedule(done).await {
                    Ok(_) | Err(StoreError::ScheduleNotFound(_)) => return,
                    Err(StoreError::ScheduleConflict { .. }) => {
                        match self.store.load_schedule(&s.name).await {
                            Ok(fresh) => s = fresh,
                            Err(_) => return,
                        }
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(schedule = %s.name, error = %e, "cannot clear the runs a schedule started");
                        return;
                    }
                }
            }
            let last_running = match &s.last_run_id {
                // Nothing waits on the last run: no need to look at it.
                _ if s.overlap == Overlap::Allow && s.buffered_ms.is_none() => false,
                None => false,
                Some(id) => match self.store.load_workflow(id).await {
                    Ok(run) => !run.status.is_finished(),
                    // Purged: finished.
                    Err(StoreError::NotFound(_)) => false,
                    Err(e) => {
                        tracing::warn!(schedule = %s.name, error = %e, "cannot read the schedule's last run");
                        return;
                    }
                },
            };
            let plan = schedule::plan(&spec, &s, now, last_running, STARTS_PER_LOOK);
            if !plan.changes(&s) && s.starting.is_empty() {
                return;
            }
            let claimed = plan.apply(&s, now);
            match self.store.update_schedule(claimed.clone()).await {
                Ok(version) => {
                    let newly_buffered = plan.buffered.is_some() && plan.buffered != s.buffered_ms;
                    telemetry::schedule_fired(
                        &s.name,
                        plan.start.len(),
                        plan.skipped,
                        newly_buffered,
                        plan.missed,
                    );
                    let mut done = claimed;
                    done.version = version;
                    let started = match plan.start.is_empty() {
                        true => Started::Later,
                        false => self.start_scheduled(&done, &plan.start, now).await,
                    };
                    if let Started::Never(reason) = started {
                        let before = s.last_run_id.clone();
                        return self.pause_refused(done, before, reason, now).await;
                    }
                    if matches!(started, Started::All) {
                        done.starting.clear();
                        match self.store.update_schedule(done).await {
                            // Changed meanwhile: whoever changed it saw `starting` and acted
                            // on it (starting a run that exists starts nothing).
                            Ok(_)
                            | Err(StoreError::ScheduleConflict { .. })
                            | Err(StoreError::ScheduleNotFound(_)) => {}
                            Err(e) => {
                                tracing::warn!(schedule = %s.name, error = %e, "cannot clear the runs a schedule started")
                            }
                        }
                    }
                    return;
                }
                Err(StoreError::ScheduleConflict { .. }) => {
                    match self.store.load_schedule(&s.name).await {
                        Ok(fresh) => s = fresh,
                        Err(_) => return,
                    }
                }
                Err(StoreError::ScheduleNotFound(_)) => return,
                Err(e) => {
                    tracing::warn!(schedule = %s.name, error = %e, "cannot claim a schedule's fire times");
                    return;
                }
            }
        }
    }

    /// Pauses schedule `s` (at the version read) with `reason` as its note, dropping the fire
    /// times it took: their runs cannot be made, by this worker or any with the same code, and
    /// a look at each poll would fail again. They are not counted as started, and the last
    /// run is the one before them (`last_before`, when known). Resumed
    /// ([`Client::resume_schedule`]) once the code is fixed, it fires from then on. (Changed
    /// meanwhile: the next look sees it.)
    async fn pause_refused(
        &self,
        s: ScheduleRecord,
        last_before: Option<String>,
        reason: String,
        now: u64,
    ) {
        let note = match s.starting.first() {
            Some(&fire) => format!(
                "the run of fire time {} could not be made: {reason}",
                format_ms(fire)
            ),
            None => reason,
        };
        tracing::warn!(schedule = %s.name, note = %note, "schedule paused");
        let mut paused = s;
        // Those of its fire times whose runs are not in the store (one made by an earlier
        // look stays counted, and the last run if it is one).
        let mut not_made: Vec<String> = Vec::new();
        let mut newest_made: Option<(u64, String)> = None;
        for &t in &paused.starting {
            let id = run_id(&paused.name, t);
            if self.made(&id).await {
                if newest_made.as_ref().is_none_or(|(at, _)| t > *at) {
                    newest_made = Some((t, id));
                }
            } else {
                not_made.push(id);
            }
        }
        paused.started = paused.started.saturating_sub(not_made.len() as u64);
        if paused
            .last_run_id
            .as_ref()
            .is_some_and(|id| not_made.contains(id))
        {
            // The newest of those made, or the one before them all.
            paused.last_run_id = newest_made.map(|(_, id)| id).or(last_before);
        }
        paused.paused = true;
        paused.note = Some(note);
        paused.starting.clear();
        paused.updated_at_ms = now;
        match self.store.update_schedule(paused).await {
            Ok(_)
            | Err(StoreError::ScheduleConflict { .. })
            | Err(StoreError::ScheduleNotFound(_)) => {}
            Err(e) => tracing::warn!(error = %e, "cannot pause a schedule"),
        }
    }

    /// Whether the run under `id` is in the store (taken as not, if the store cannot say).
    async fn made(&self, id: &str) -> bool {
        self.store.load_workflow(id).await.is_ok()
    }

    /// Whether the runs of schedule `s` for `fire_times` are all in the store.
    async fn all_made(&self, s: &ScheduleRecord, fire_times: &[u64]) -> bool {
        for &fire in fire_times {
            if !self.made(&run_id(&s.name, fire)).await {
                return false;
            }
        }
        true
    }

    /// Starts the runs of schedule `s` for `fire_times` (a run that exists already is left as
    /// it is: another worker, or an earlier look, started it), on the version of its workflow
    /// the schedule names.
    async fn start_scheduled(
        self: &Arc<Self>,
        s: &ScheduleRecord,
        fire_times: &[u64],
        now: u64,
    ) -> Started {
        let newest = self.workflows.newest(&s.workflow);
        let version = s.workflow_version.or(newest);
        let code = version
            .and_then(|v| self.workflows.version(&s.workflow, v))
            .cloned();
        let Some(code) = code else {
            // Runs made already (by a look whose worker stopped before it cleared them from
            // the row) need no code.
            if self.all_made(s, fire_times).await {
                return Started::All;
            }
            return match (version, newest) {
                // This runtime moved past that version: a worker that still has it may start
                // the run, but none should be counted on.
                (Some(v), Some(n)) if v < n => Started::Never(format!(
                    "version {v} of workflow {:?}, which its input was encoded for, is not \
                     registered (this runtime has up to version {n}): register it, or delete \
                     the schedule and create it again for the new version",
                    s.workflow
                )),
                // Newer code on another worker, or a workflow of another runtime: theirs.
                _ => {
                    tracing::debug!(schedule = %s.name, workflow = %s.workflow, "the schedule's workflow version is not registered here");
                    Started::Later
                }
            };
        };
        for &fire in fire_times {
            let id = run_id(&s.name, fire);
            // A name stored before the rule on names (see `ScheduleError::BadName`).
            if let Err(reason) = super::error::check_name(&id) {
                return Started::Never(format!("the id of its run {id:?} is refused: {reason}"));
            }
            let snapshot = match code.first_snapshot(&id, &s.input, now) {
                Ok(b) => b,
                // The input does not make a first state for this code: no look will do better.
                Err(e) => return Started::Never(e),
            };
            let new = NewWorkflow {
                id: id.clone(),
                name: s.workflow.clone(),
                input: s.input.clone(),
                snapshot,
                now_ms: now,
                history: HistoryEntry::new(
                    now,
                    HistoryKind::Started,
                    match s.run_timeout_ms {
                        Some(t) => format!(
                            "started {} by schedule {:?} for {}, to be stopped if it runs past \
                             {t} ms",
                            s.workflow,
                            s.name,
                            format_ms(fire)
                        ),
                        None => format!(
                            "started {} by schedule {:?} for {}",
                            s.workflow,
                            s.name,
                            format_ms(fire)
                        ),
                    },
                ),
                parent: None,
                parent_version: None,
                signals: Vec::new(),
                // Its execution timeout, as a start's (`StartOptions::timeout`).
                timers: super::compose::timeout_timers(now, s.run_timeout_ms),
            };
            match self.store.create_workflow(new).await {
                Ok(_) => {
                    telemetry::run_started(code.name(), &id);
                    if s.run_timeout_ms.is_some() {
                        // Its timeout is a timer the timer loop does not know of yet.
                        self.timer_wakeup.notify_one();
                    }
                    tracing::info!(schedule = %s.name, workflow_id = %id, fire_time = %format_ms(fire), "schedule started a run");
                    self.wake(&id, Vec::new());
                }
                Err(StoreError::AlreadyExists(_)) => {}
                Err(e) => {
                    tracing::warn!(schedule = %s.name, workflow_id = %id, error = %e, "cannot start a scheduled run");
                    return Started::Later;
                }
            }
        }
        Started::All
    }
}

/// The input of schedule `name`'s runs, encoded, at most `limit` bytes.
fn encode_input<T: Serialize>(
    name: &str,
    input: &T,
    limit: usize,
) -> Result<Vec<u8>, ScheduleError> {
    let bytes = no_panic("encoding the input", || {
        postcard::to_stdvec(input).map_err(|e| e.to_string())
    })
    .map_err(|reason| ScheduleError::Input {
        name: name.to_string(),
        reason,
    })?;
    if bytes.len() > limit {
        return Err(ScheduleError::Input {
            name: name.to_string(),
            reason: format!(
                "it is {} bytes, over the limit of {limit} bytes (see Builder::limits)",
                bytes.len()
            ),
        });
    }
    Ok(bytes)
}

/// What [`Client::trigger_schedule`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Triggered {
    /// The run is to start now, under this id.
    Started {
        /// The run's id.
        run_id: String,
    },
    /// The schedule's last run has not finished, and its policy ([`Overlap::BufferOne`])
    /// keeps the trigger: the run starts under this id when that one ends.
    Buffered {
        /// The id the run will have.
        run_id: String,
    },
    /// The schedule's last run has not finished, and its policy skips what comes meanwhile:
    /// nothing is started (counted in [`ScheduleInfo::skipped`]).
    Skipped,
}

/// A schedule's spec, compiled (a stored one that does not compile is
/// [`ScheduleError::Unreadable`]).
fn compiled(s: &ScheduleRecord) -> Result<schedule::Compiled, ScheduleError> {
    s.spec.compile().map_err(|e| ScheduleError::Unreadable {
        name: s.name.clone(),
        reason: e.to_string(),
    })
}

/// The most fire times one [`Client::backfill_schedule`] starts.
pub const MAX_BACKFILL: usize = 1000;

/// What [`Client::update_schedule`] changes; what it does not name stays as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScheduleUpdate {
    spec: Option<ScheduleSpec>,
    overlap: Option<Overlap>,
    catch_up: Option<Duration>,
    run_timeout: Option<Option<Duration>>,
}

impl ScheduleUpdate {
    /// Changes nothing, until told.
    pub fn new() -> Self {
        ScheduleUpdate::default()
    }

    /// A new spec: the schedule fires from its first fire time after now.
    pub fn spec(mut self, spec: ScheduleSpec) -> Self {
        self.spec = Some(spec);
        self
    }

    /// A new overlap policy (a fire time kept by [`Overlap::BufferOne`] is dropped when the
    /// policy is another).
    pub fn overlap(mut self, overlap: Overlap) -> Self {
        self.overlap = Some(overlap);
        self
    }

    /// A new catch-up window (at least [`MIN_CATCH_UP`], which a shorter one is taken as).
    pub fn catch_up(mut self, window: Duration) -> Self {
        self.catch_up = Some(window);
        self
    }

    /// A new execution timeout for the runs it starts from now on
    /// ([`NewSchedule::run_timeout`]; at least [`crate::MIN_TIMEOUT`]), or none (`None`).
    /// Runs it started keep theirs.
    pub fn run_timeout(mut self, limit: Option<Duration>) -> Self {
        self.run_timeout = Some(limit);
        self
    }
}

/// A duration in milliseconds, at most what every store keeps (a signed 64-bit number).
fn stored_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis())
        .unwrap_or(u64::MAX)
        .min(i64::MAX as u64)
}

/// What [`Inner::start_scheduled`] did.
enum Started {
    /// Every run is there.
    All,
    /// Not all: the fire times stay taken, for the next look (here or on another worker).
    Later,
    /// A run that cannot be made, by this worker or any with its code: why.
    Never(String),
}
