//! Which code steps a stored run: the registered code of its own version and fingerprint, after
//! the migrations registered from its version; and finding the runs that no code can step.

use std::borrow::Cow;
use std::sync::Arc;

use super::engine::Inner;
use super::registry::{ErasedState, ErasedWorkflow};
use crate::durable::Pending;
use crate::snapshot::Snapshot;
use crate::store::{StoreError, WorkflowStatus, WorkflowSummary};

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
    ) -> Result<Ready, String> {
        let mut snapshot = Snapshot::decode(bytes).map_err(|e| e.to_string())?;
        let mut envelope: Cow<'_, [u8]> = Cow::Borrowed(bytes);
        let mut moves: Vec<String> = Vec::new();
        // Versions strictly increase along a chain (the builder checks it), so this ends.
        while let Some(m) = self.workflows.migration(name, snapshot.version) {
            if !m.accepts_from(snapshot.fingerprint) {
                break;
            }
            match m.migrate(&snapshot, pending).map_err(|e| e.to_string())? {
                None => break,
                Some(done) => {
                    moves.push(format!(
                        "{name} v{} ({}) -> v{} ({})",
                        snapshot.version,
                        done.from_state,
                        m.to().0,
                        done.to_state
                    ));
                    snapshot = Snapshot::decode(&done.envelope).map_err(|e| e.to_string())?;
                    envelope = Cow::Owned(done.envelope);
                }
            }
        }
        let Some(workflow) = self
            .workflows
            .code(name, snapshot.version, snapshot.fingerprint)
            .cloned()
        else {
            return Err(self.no_code(name, &snapshot));
        };
        let (snapshot, state) = workflow.restore(&envelope).map_err(|e| e.to_string())?;
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
            for summary in self.store.list_workflows(Some(status)).await? {
                if !self.workflows.knows(&summary.name) {
                    continue;
                }
                let rec = match self.store.load_workflow(&summary.id).await {
                    Ok(rec) => rec,
                    Err(StoreError::NotFound(_)) => continue,
                    Err(e) => return Err(e),
                };
                let snapshot = match Snapshot::decode(&rec.snapshot) {
                    Ok(s) => s,
                    Err(e) => {
                        out.push((summary, e.to_string()));
                        continue;
                    }
                };
                if !self.workflows.can_continue(
                    &summary.name,
                    snapshot.version,
                    snapshot.fingerprint,
                ) {
                    let reason = self.no_code(&summary.name, &snapshot);
                    out.push((summary, reason));
                }
            }
        }
        Ok(out)
    }

    /// Parks at once every running run that [`Inner::stranded`] finds, so that none waits for
    /// its next event to be found out. Runs at start.
    pub(crate) async fn park_stranded(&self) -> Result<usize, StoreError> {
        let mut parked = 0;
        for (summary, reason) in self.stranded().await? {
            if summary.status != WorkflowStatus::Running {
                continue;
            }
            let rec = match self.store.load_workflow(&summary.id).await {
                Ok(rec) => rec,
                Err(StoreError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            self.park(
                &summary.name,
                &summary.id,
                rec.version,
                reason,
                rec.parent.as_ref(),
            )
            .await?;
            parked += 1;
        }
        Ok(parked)
    }
}
