//! The decoded states of running workflows, kept between steps so that a step needs no load
//! from the store: bounded, the least recently used out first.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use super::engine::{Inner, lock};
use super::registry::{ErasedState, ErasedWorkflow};
use crate::context::{CtxState, WorkflowCtx};
use crate::durable::Pending;
use crate::store::{HistoryEntry, ParentLink};

/// A running workflow as its last step left it, decoded.
pub(crate) struct Cached {
    pub(super) workflow: Arc<dyn ErasedWorkflow>,
    pub(super) version: u64,
    pub(super) step: u64,
    /// The workflow's context, as the last step left it (kept, not rebuilt, between steps).
    pub(super) ctx: WorkflowCtx,
    pub(super) state: ErasedState,
    pub(super) pending: Option<Pending>,
    pub(super) seen_upto: u64,
    /// A migration of a run that had not taken its first step: recorded in the history by the
    /// commit of that step, which writes the migrated snapshot.
    pub(super) migrated: Option<HistoryEntry>,
    /// The parent of a child run: told when the run ends.
    pub(super) parent: Option<ParentLink>,
}

/// Decoded states by workflow id, at most `capacity` of them (none when it is 0): a state is
/// taken out while its workflow steps and put back after, as the most recently used; past the
/// capacity the least recently used goes.
pub(crate) struct StateCache {
    capacity: usize,
    inner: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    /// Each entry with its last use.
    entries: HashMap<String, (Box<Cached>, u64)>,
    /// Ids by last use, oldest first.
    by_use: BTreeMap<u64, String>,
    clock: u64,
}

impl StateCache {
    pub(crate) fn new(capacity: usize) -> Self {
        StateCache {
            capacity,
            inner: Mutex::default(),
        }
    }

    /// Takes the state of `id` out, for its driver.
    pub(crate) fn take(&self, id: &str) -> Option<Box<Cached>> {
        let mut lru = lock(&self.inner);
        let (c, used) = lru.entries.remove(id)?;
        lru.by_use.remove(&used);
        Some(c)
    }

    /// Puts the state of `id` in as the most recently used, evicting the least recently used
    /// past the capacity.
    pub(crate) fn put(&self, id: String, c: Box<Cached>) {
        if self.capacity == 0 {
            return;
        }
        let mut lru = lock(&self.inner);
        lru.clock += 1;
        let now = lru.clock;
        if let Some((_, used)) = lru.entries.remove(&id) {
            lru.by_use.remove(&used);
        }
        while lru.entries.len() >= self.capacity {
            let Some((_, oldest)) = lru.by_use.pop_first() else {
                break;
            };
            lru.entries.remove(&oldest);
        }
        lru.by_use.insert(now, id.clone());
        lru.entries.insert(id, (c, now));
    }

    /// [`StateCache::put`], unless a state of `id` is held already.
    pub(crate) fn put_if_absent(&self, id: String, c: Box<Cached>) {
        if lock(&self.inner).entries.contains_key(&id) {
            return;
        }
        self.put(id, c);
    }

    /// Drops the state of `id`, if held.
    pub(crate) fn forget(&self, id: &str) {
        self.take(id);
    }

    #[cfg(test)]
    fn ids(&self) -> Vec<String> {
        lock(&self.inner).by_use.values().cloned().collect()
    }
}

impl Inner {
    /// Remembers the decoded state of a workflow that was just started at `version` (what the
    /// store's `create_workflow` returned), so that its first step needs no load.
    pub(crate) fn prime(
        &self,
        id: &str,
        workflow: Arc<dyn ErasedWorkflow>,
        state: ErasedState,
        ctx: CtxState,
        version: u64,
        parent: Option<ParentLink>,
    ) {
        let cached = Box::new(Cached {
            workflow,
            version,
            step: 0,
            ctx: WorkflowCtx::new(id, ctx),
            state,
            pending: None,
            seen_upto: 0,
            migrated: None,
            parent,
        });
        // The run's first step may have run already, from the store: a driver woken by the
        // store's notice of the new run (before this) steps it and keeps a newer state, which
        // this one must not replace (the next step would then start from the start again,
        // and its commit conflict with the first).
        self.cache.put_if_absent(id.to_string(), cached);
    }

    /// Keeps the decoded state for this driver's next step, unless every step is to start from
    /// the store ([`crate::Builder::restore_every_step`]).
    pub(super) fn keep(&self, cached: &mut Option<Box<Cached>>, c: Box<Cached>) {
        if !self.config.restore_every_step {
            *cached = Some(c);
        }
    }

    pub(crate) fn forget(&self, id: &str) {
        self.cache.forget(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;
    impl ErasedWorkflow for Nothing {
        fn name(&self) -> &'static str {
            "nothing"
        }
        fn version(&self) -> u32 {
            1
        }
        fn fingerprint(&self) -> u64 {
            0
        }
        fn layout(&self) -> &'static crate::Layout {
            static LAYOUT: crate::Layout = crate::Layout::fixed(0);
            &LAYOUT
        }
        fn activities(&self) -> &'static [&'static str] {
            &[]
        }
        fn description(&self) -> &'static crate::workflow::Description {
            static DESCRIPTION: crate::workflow::Description = crate::workflow::Description {
                workflow: "nothing",
                version: 1,
                states: &[],
                transitions: &[],
                layout: || {
                    static LAYOUT: crate::Layout = crate::Layout::fixed(0);
                    &LAYOUT
                },
            };
            &DESCRIPTION
        }
        fn restore(
            &self,
            _: &[u8],
        ) -> Result<(crate::snapshot::Snapshot, ErasedState), crate::snapshot::SnapshotError>
        {
            Err(crate::snapshot::SnapshotError::Corrupt("none".into()))
        }
        fn step(
            &self,
            _: &mut ErasedState,
            _: &WorkflowCtx,
            _: Option<crate::durable::Resolution>,
            _: u64,
            step: u64,
            _: usize,
        ) -> Result<super::super::registry::ErasedStepped, crate::step::StepFailure> {
            Err(crate::step::StepFailure::Unsaved {
                step,
                reason: "none".into(),
            })
        }
        fn state_json(&self, _: &crate::snapshot::Snapshot) -> Result<serde_json::Value, String> {
            Err("none".into())
        }
        fn state_name(&self, _: &ErasedState) -> Option<&'static str> {
            None
        }
        fn keys(&self) -> &super::super::telemetry::WorkflowKeys {
            static KEYS: std::sync::LazyLock<super::super::telemetry::WorkflowKeys> =
                std::sync::LazyLock::new(|| super::super::telemetry::WorkflowKeys::new("nothing"));
            &KEYS
        }
        fn first_snapshot(&self, _: &str, _: &[u8], _: u64) -> Result<Vec<u8>, String> {
            Err("no code".into())
        }
        fn output_json(&self, _: &[u8]) -> Result<serde_json::Value, String> {
            Err("none".into())
        }
        fn encode_state(&self, _: &ErasedState, _: u64, _: CtxState) -> Result<Vec<u8>, String> {
            Err("none".into())
        }
        fn first_run(
            &self,
            _: &str,
            _: &[u8],
            _: u64,
        ) -> Result<(Vec<u8>, ErasedState, CtxState), String> {
            Err("none".into())
        }
    }

    fn entry(version: u64) -> Box<Cached> {
        Box::new(Cached {
            workflow: Arc::new(Nothing),
            version,
            step: 0,
            ctx: WorkflowCtx::new("x", CtxState::default()),
            state: Box::new(()),
            pending: None,
            seen_upto: 0,
            migrated: None,
            parent: None,
        })
    }

    #[test]
    fn the_least_recently_used_goes_first() {
        let cache = StateCache::new(2);
        cache.put("a".into(), entry(1));
        cache.put("b".into(), entry(2));
        // `a` is used (taken by its driver and put back): `b` is now the oldest.
        let a = cache.take("a").expect("a");
        cache.put("a".into(), a);
        cache.put("c".into(), entry(3));
        assert_eq!(cache.ids(), vec!["a".to_string(), "c".to_string()]);
        assert!(cache.take("b").is_none());
        // Putting an id again replaces it without evicting another.
        cache.put("c".into(), entry(4));
        assert_eq!(cache.ids(), vec!["a".to_string(), "c".to_string()]);
        assert_eq!(cache.take("c").expect("c").version, 4);
        cache.forget("a");
        assert!(cache.ids().is_empty());
    }

    #[test]
    fn a_capacity_of_zero_keeps_nothing() {
        let cache = StateCache::new(0);
        cache.put("a".into(), entry(1));
        assert!(cache.take("a").is_none());
    }
}
