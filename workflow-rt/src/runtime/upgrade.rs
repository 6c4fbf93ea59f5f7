//! Which code steps a stored run: the registered code of its own version and fingerprint, after
//! the migrations registered from its version; and finding the runs that no code can step.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use super::engine::Inner;
use super::registry::{ErasedState, ErasedWorkflow};
use crate::durable::Pending;
use crate::snapshot::{Snapshot, SnapshotError};
use crate::store::{RunQuery, StoreError, WorkflowStatus, WorkflowSummary};

/// A run ready to step, maybe after migrations.
pub(super) struct Ready {
    pub workflow: Arc<dyn ErasedWorkflow>,
    pub snapshot: Snapshot,
    pub state: ErasedState,
    /// The migrated envelope and what the history says of the migrations, if any ran.
    pub migrated: Option<(Vec<u8>, String)>,
}

impl Inner {
    /// The code that steps the run of workflow `name` whose stored envelope is `bytes` and
    /// which waits on `pending`, after running the migrations registered from its version (in
    /// memory: the caller commits the new envelope). `Err`: why the run cannot go on.
    pub(super) fn prepare(
        &self,
        name: &str,
        bytes: &[u8],
        pending: Option<&Pending>,
    ) -> Result<Ready, NotReady> {
        let mut snapshot = Snapshot::decode(bytes).map_err(not_decoded)?;
        let mut envelope: Cow<'_, [u8]> = Cow::Borrowed(bytes);
        let mut moves: Vec<String> = Vec::new();
        // Versions strictly increase along a chain (the builder checks it), so this ends.
        while let Some(m) = self.workflows.migration(name, snapshot.version) {
            if !m.accepts_from(snapshot.fingerprint) {
                break;
            }
            match m
                .migrate(&snapshot, pending)
                .map_err(|e| NotReady::NoCode(e.to_string()))?
            {
                None => break,
                Some(done) => {
                    moves.push(format!(
                        "{name} v{} ({}) -> v{} ({})",
                        snapshot.version,
                        done.from_state,
                        m.to().0,
                        done.to_state
                    ));
                    snapshot = Snapshot::decode(&done.envelope).map_err(not_decoded)?;
                    envelope = Cow::Owned(done.envelope);
                }
            }
        }
        let Some(workflow) = self
            .workflows
            .code(name, snapshot.version, snapshot.fingerprint)
            .cloned()
        else {
            let reason = self.no_code(name, &snapshot);
            return Err(match self.workflows.is_newer(name, snapshot.version) {
                true => NotReady::Newer(reason),
                false => NotReady::NoCode(reason),
            });
        };
        let (snapshot, state) = workflow
            .restore(&envelope)
            .map_err(|e| NotReady::NoCode(e.to_string()))?;
        let migrated = (!moves.is_empty()).then(|| {
            (
                envelope.into_owned(),
                format!("migrated {}", moves.join(", then ")),
            )
        });
        Ok(Ready {
            workflow,
            snapshot,
            state,
            migrated,
        })
    }

    /// Why no registered code can step a run at `snapshot`'s version and fingerprint.
    fn no_code(&self, name: &str, snapshot: &Snapshot) -> String {
        if let Some(newest) = self
            .workflows
            .newest(name)
            .filter(|&n| snapshot.version > n)
        {
            return format!(
                "{name} v{} was written by newer code than this runtime's (it has up to v{newest}), \
                 and no runtime with v{} stepped it within {} s: deploy that code (a runtime with \
                 it steps the run), or a migration, then unpark the run",
                snapshot.version,
                snapshot.version,
                super::engine::NEWER_CODE_GRACE_MS / 1000
            );
        }
        let mut reason = format!(
            "no code of {name} v{} (fingerprint {:016x}) is registered, and no migration from it: \
             register that version's code (keep the old function and add `.workflow(..)` for it) \
             or a migration from v{} (`.migrate(old, new, ..)`), then unpark the run",
            snapshot.version, snapshot.fingerprint, snapshot.version
        );
        if let Some(w) = self.workflows.version(name, snapshot.version) {
            reason.push_str(&format!(
                "; the registered v{} has fingerprint {:016x}: its persisted layout changed \
                 without a version bump",
                snapshot.version,
                w.fingerprint()
            ));
        }
        reason
    }

    /// The runs of this runtime's workflows that no registered code can step and no
    /// registered migration can move (running or parked), with the reason.
    pub(crate) async fn stranded(&self) -> Result<Vec<(WorkflowSummary, String)>, StoreError> {
        let mut out = Vec::new();
        for status in [WorkflowStatus::Running, WorkflowStatus::Parked] {
            let mut after = None;
            loop {
                let (found, next) = self.stranded_page(status, after).await?;
                out.extend(found.into_iter().map(|s| (s.summary, s.reason)));
                match next {
                    Some(n) => after = Some(n),
                    None => break,
                }
            }
        }
        Ok(out)
    }

    /// The stranded runs among one page of the runs of status `status` after id `after`
    /// (two reads: the page, then its runs' records), and the cursor of the next page.
    async fn stranded_page(
        &self,
        status: WorkflowStatus,
        after: Option<String>,
    ) -> Result<(Vec<Stranded>, Option<String>), StoreError> {
        let mut query = RunQuery::new().status(status).limit(RunQuery::MAX_LIMIT);
        if let Some(a) = after {
            query = query.after(a);
        }
        let page = self.store.list_runs(query).await?;
        let ids: Vec<String> = page
            .runs
            .iter()
            .filter(|s| self.workflows.knows(&s.name))
            .map(|s| s.id.clone())
            .collect();
        let records = if ids.is_empty() {
            Vec::new()
        } else {
            self.store.load_workflows(&ids).await?
        };
        // By id: a page holds up to a thousand runs, and a search of the page for each record
        // compared half a million ids per page.
        let by_id: foldhash::HashMap<&str, &WorkflowSummary> =
            page.runs.iter().map(|s| (s.id.as_str(), s)).collect();
        let mut out = Vec::new();
        for rec in records {
            // Changed status since the page was read: the next walk sees it.
            if rec.status != status {
                continue;
            }
            let Some(&summary) = by_id.get(rec.id.as_str()) else {
                continue;
            };
            let (reason, newer) = match Snapshot::decode(&rec.snapshot) {
                Ok(snapshot) => {
                    if self.workflows.can_continue(
                        &summary.name,
                        snapshot.version,
                        snapshot.fingerprint,
                    ) {
                        continue;
                    }
                    (
                        self.no_code(&summary.name, &snapshot),
                        self.workflows.is_newer(&summary.name, snapshot.version),
                    )
                }
                Err(e) => (e.to_string(), written_by_a_newer_build(&e)),
            };
            out.push(Stranded {
                summary: summary.clone(),
                reason,
                version: rec.version,
                newer,
            });
        }
        Ok((out, page.next))
    }

    /// Parks every running run that [`Inner::stranded`] would find, so that none waits for
    /// its next event to be found out, from the run after id `after`, `pages` pages of runs
    /// at most (a page is [`RunQuery::MAX_LIMIT`] runs), `pause` between two pages. Returns how many it parked and, if it
    /// stopped before the last run, where to go on from. Runs at start.
    pub(crate) async fn park_stranded(
        &self,
        mut after: Option<String>,
        pages: usize,
        pause: Duration,
    ) -> Result<(usize, Option<String>), StoreError> {
        let mut parked = 0;
        for page in 0..pages {
            if self.is_shut_down() {
                break;
            }
            if page > 0 && !pause.is_zero() {
                paced(pause, || self.queued() > 0 && !self.is_shut_down()).await;
            }
            let (found, next) = self.stranded_page(WorkflowStatus::Running, after).await?;
            // A run written by newer code is another worker's (a rolling deploy): a step that
            // meets it leaves it to them for a while, then parks it.
            for s in found.into_iter().filter(|s| !s.newer) {
                match self
                    .park(&s.summary.name, &s.summary.id, s.version, s.reason)
                    .await
                {
                    Ok(()) => parked += 1,
                    // Stepped (or purged) since it was read: its next step parks it if it
                    // still has no code.
                    Err(StoreError::Conflict { .. } | StoreError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            match next {
                Some(n) => after = Some(n),
                None => return Ok((parked, None)),
            }
        }
        Ok((parked, after))
    }
}

/// How many pauses the walk for stranded runs waits between two pages, at most, while steps
/// wait for a driver.
const BUSY_PAUSES: u32 = 10;

/// Waits `pause`, and while `busy()` says steps wait for a driver, more pauses, up to
/// [`BUSY_PAUSES`] in all.
///
/// The walk for stranded runs reads a page of runs and their records (every running run, in
/// a store of a million sleeping ones): housekeeping, which a busy runtime's steps need the
/// CPU for more. A million timers firing, a page every 100 ms: about 3% of the process's CPU
/// time (`perf`), for runs that the steps were about to meet anyway. Slowed rather than
/// stopped, so that it ends under any load (a run met by a step first is parked by the step).
async fn paced(pause: Duration, busy: impl Fn() -> bool) {
    for _ in 0..BUSY_PAUSES {
        tokio::time::sleep(pause).await;
        if !busy() {
            return;
        }
    }
}

/// A run no registered code can step, as read.
struct Stranded {
    summary: WorkflowSummary,
    reason: String,
    version: u64,
    /// At a version newer than this runtime's.
    newer: bool,
}

/// Why [`Inner::prepare`] cannot step a run.
/// Why a snapshot that does not decode cannot go on here: one in an envelope format newer than
/// this build's was written by a newer build of the library on another worker (a rolling
/// deploy), and is left to it as a run of a newer version is.
fn not_decoded(e: SnapshotError) -> NotReady {
    match written_by_a_newer_build(&e) {
        true => NotReady::Newer(format!("{e}: written by a newer build of workflow-rt")),
        false => NotReady::NoCode(e.to_string()),
    }
}

/// Whether `e` says the snapshot is in a format newer than this build reads.
fn written_by_a_newer_build(e: &SnapshotError) -> bool {
    matches!(e, SnapshotError::UnsupportedFormat { found, supported } if found > supported)
}

pub(super) enum NotReady {
    /// The run is at a version of its workflow newer than this runtime's: written by newer
    /// code on another worker. Why, as for a park.
    Newer(String),
    /// Nothing registered can step it: why.
    NoCode(String),
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// The walk's pause between pages: one while steps keep up, up to ten while they wait.
    #[tokio::test(start_paused = true)]
    async fn the_walk_slows_while_steps_wait() {
        let pause = Duration::from_millis(100);
        let took = |busy_looks: u32| async move {
            let looks = AtomicU32::new(0);
            let start = tokio::time::Instant::now();
            paced(pause, || looks.fetch_add(1, Ordering::Relaxed) < busy_looks).await;
            start.elapsed()
        };
        assert_eq!(took(0).await, pause, "steps keep up");
        assert_eq!(took(3).await, pause * 4, "busy for three looks");
        assert_eq!(took(u32::MAX).await, pause * BUSY_PAUSES, "busy throughout");
    }
}
