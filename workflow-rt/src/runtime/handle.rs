use std::marker::PhantomData;

use serde::Serialize;

use super::{Runtime, RuntimeError, WorkflowState};
use crate::signal::IntoSignal;
use crate::workflow::Workflow;

/// A run of workflow `W`: wait for its result, signal it, look at it, cancel it.
///
/// [`Runtime::start`](crate::Runtime::start) returns one; [`Runtime::handle`](crate::Runtime::handle)
/// makes one for a run started elsewhere (by another process, before a restart).
///
/// ```
/// use workflow_rt::prelude::*;
/// use workflow_rt::{MemoryStore, WorkflowStatus};
///
/// const APPROVE: Signal<bool> = Signal::new("approve");
///
/// #[workflow]
/// async fn expense(ctx: WorkflowCtx, cents: u64) -> u64 {
///     if ctx.signal(APPROVE).await { cents } else { 0 }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let rt = Runtime::builder(MemoryStore::new()).workflow(expense).build().await?;
/// rt.start(expense, "exp-7", 1250).await?;
/// // Later, or in another process: a handle from the id alone.
/// let run = rt.handle(expense, "exp-7");
/// assert_eq!(run.state().await?.status, WorkflowStatus::Running);
/// run.signal(APPROVE, true).await?; // a signal of another type does not compile
/// assert_eq!(run.result().await?, 1250);
/// rt.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub struct Handle<W> {
    rt: Runtime,
    id: String,
    _workflow: PhantomData<fn() -> W>,
}

impl<W> Clone for Handle<W> {
    fn clone(&self) -> Self {
        Handle {
            rt: self.rt.clone(),
            id: self.id.clone(),
            _workflow: PhantomData,
        }
    }
}

impl<W> std::fmt::Debug for Handle<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").field("id", &self.id).finish()
    }
}

impl<W: Workflow> Handle<W> {
    pub(crate) fn new(rt: Runtime, id: String) -> Self {
        Handle {
            rt,
            id,
            _workflow: PhantomData,
        }
    }

    /// The workflow's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Waits for the workflow to finish and returns its output. A parked or cancelled
    /// workflow is an error at once (a parked one will not finish without a person).
    pub async fn result(&self) -> Result<W::Output, RuntimeError> {
        self.rt.client().result_of::<W>(&self.id, true).await
    }

    /// Sends it a signal (see [`Runtime::signal`]).
    pub async fn signal<T: Serialize>(
        &self,
        signal: impl IntoSignal<T>,
        payload: T,
    ) -> Result<(), RuntimeError> {
        self.rt.signal(&self.id, signal, payload).await
    }

    /// Where it stands (see [`Runtime::state`]).
    pub async fn state(&self) -> Result<WorkflowState, RuntimeError> {
        self.rt.state(&self.id).await
    }

    /// Asks it to cancel (see [`Runtime::cancel`]).
    pub async fn cancel(&self) -> Result<(), RuntimeError> {
        self.rt.cancel(&self.id).await
    }

    /// Stops it outright (see [`Runtime::terminate`]).
    pub async fn terminate(&self) -> Result<(), RuntimeError> {
        self.rt.terminate(&self.id).await
    }
}
