//! The decoded states of running workflows, kept between steps so that a step needs no load
//! from the store: bounded, the least recently used out first.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use foldhash::{HashMap, HashSet};

use super::engine::{Inner, lock};
use super::registry::{ErasedState, ErasedWorkflow};
use crate::context::{CtxState, WorkflowCtx};
use crate::durable::Pending;
use crate::store::{HistoryEntry, ParentLink};

/// A running workflow as its last step left it, decoded.
pub(crate) struct Cached {
    pub(super) workflow: Arc<dyn ErasedWorkflow>,
    /// The bytes of its snapshot and wait as last stored (its first snapshot's before its
    /// first step): what the
    /// cache counts against its byte bound, a measure of the state's size that costs nothing
    /// to take (the decoded state itself has no size to read).
    pub(super) bytes: usize,
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
    /// The store's own key of the run, as its record gave it: handed back with each commit.
    pub(super) run_key: Option<u64>,
}

/// Decoded states by workflow id, at most `capacity` of them (none when it is 0) and at most
/// `max_bytes` in all (each counted as [`Cached::bytes`] plus [`ENTRY_BYTES`]): a state is
/// taken out while its workflow steps and put back after, as the most recently used; past
/// either bound the least recently used go. A state larger than the whole byte bound is not
/// kept.
pub(crate) struct StateCache {
    capacity: usize,
    max_bytes: usize,
    inner: Mutex<Lru>,
}

/// What an entry costs beyond its state's bytes: the entry, its context, its wait, its key.
pub(crate) const ENTRY_BYTES: usize = 512;

fn cost(c: &Cached) -> usize {
    c.bytes.saturating_add(ENTRY_BYTES)
}

#[derive(Default)]
struct Lru {
    /// Each entry with its last use.
    entries: HashMap<String, (Box<Cached>, u64)>,
    /// Ids by last use, oldest first.
    by_use: BTreeMap<u64, String>,
    clock: u64,
    /// The cost of every entry held.
    bytes: usize,
    /// Ids whose state was dropped lately ([`StateCache::forget`]), oldest first, at most
    /// [`FORGOTTEN`]: see [`StateCache::put_if_absent`]. Held as their hashes (by the hasher of
    /// `entries`), which cost no allocation: two ids of one hash only make a new run's state
    /// be loaded from the store at its first step rather than taken from here.
    forgotten: VecDeque<u64>,
    forgotten_set: HashSet<u64>,
}

/// How many ids dropped lately the cache remembers ([`StateCache::put_if_absent`]): the
/// window it covers is the time between a run's creation and the priming of its state, a
/// few hundred microseconds, in which far fewer runs end.
const FORGOTTEN: usize = 1024;

impl Lru {
    /// The hash `forgotten` holds `id` by.
    fn hash_of(&self, id: &str) -> u64 {
        use std::hash::BuildHasher;
        self.entries.hasher().hash_one(id)
    }

    fn remove(&mut self, id: &str) -> Option<Box<Cached>> {
        let (c, used) = self.entries.remove(id)?;
        self.by_use.remove(&used);
        self.bytes = self.bytes.saturating_sub(cost(&c));
        Some(c)
    }
}

impl StateCache {
    pub(crate) fn new(capacity: usize, max_bytes: usize) -> Self {
        StateCache {
            capacity,
            max_bytes,
            inner: Mutex::default(),
        }
    }

    /// Takes the state of `id` out, for its driver.
    pub(crate) fn take(&self, id: &str) -> Option<Box<Cached>> {
        lock(&self.inner).remove(id)
    }

    /// Puts the state of `id` in as the most recently used, evicting the least recently used
    /// past the bounds.
    pub(crate) fn put(&self, id: String, c: Box<Cached>) {
        let mut lru = lock(&self.inner);
        let freed = self.put_locked(&mut lru, id, c);
        // Freed outside the lock.
        drop(lru);
        drop(freed);
    }

    /// [`StateCache::put`] with the lock held; gives back what it took out, to be freed once
    /// the lock is let go. (The boxes as the map held them: unboxed, each state would be
    /// moved again.)
    #[allow(clippy::vec_box)]
    fn put_locked(&self, lru: &mut Lru, id: String, c: Box<Cached>) -> Vec<Box<Cached>> {
        let size = cost(&c);
        // The state it replaces goes whatever happens: it is older than this one.
        let replaced = lru.remove(&id);
        if self.capacity == 0 || size > self.max_bytes {
            return replaced.into_iter().chain([c]).collect();
        }
        let mut evicted: Vec<Box<Cached>> = replaced.into_iter().collect();
        while lru.entries.len() >= self.capacity || lru.bytes.saturating_add(size) > self.max_bytes
        {
            let Some((_, oldest)) = lru.by_use.pop_first() else {
                break;
            };
            // (Its `by_use` entry is gone already; `remove` finds none to take.)
            evicted.extend(lru.remove(&oldest));
        }
        lru.clock += 1;
        let now = lru.clock;
        lru.bytes = lru.bytes.saturating_add(size);
        lru.by_use.insert(now, id.clone());
        lru.entries.insert(id, (c, now));
        evicted
    }

    /// [`StateCache::put`], unless a state of `id` is held already, or was dropped lately.
    ///
    /// For the state of a new run, primed once its creation is committed: a driver woken by
    /// the store's notice of the run may have stepped it from the store before this, and
    /// either kept a newer state (held) or seen the run end and dropped its state (dropped
    /// lately). The primed state would then be older than the store's, and the next wake of
    /// the run would step it again from its start, a step whose commit conflicts. When this
    /// keeps nothing, the run's next step loads it from the store.
    pub(crate) fn put_if_absent(&self, id: String, c: Box<Cached>) {
        let mut lru = lock(&self.inner);
        // Looked at and put under one lock: a state dropped in between would be missed.
        let forgotten = lru.forgotten_set.contains(&lru.hash_of(&id));
        let freed = if forgotten || lru.entries.contains_key(&id) {
            vec![c]
        } else {
            self.put_locked(&mut lru, id, c)
        };
        drop(lru);
        drop(freed);
    }

    /// Drops the state of `id`, if held, and remembers that it did (see
    /// [`StateCache::put_if_absent`]).
    pub(crate) fn forget(&self, id: &str) {
        let mut lru = lock(&self.inner);
        let dropped = lru.remove(id);
        let hash = lru.hash_of(id);
        if self.capacity > 0 && !lru.forgotten_set.contains(&hash) {
            if lru.forgotten.len() >= FORGOTTEN
                && let Some(oldest) = lru.forgotten.pop_front()
            {
                lru.forgotten_set.remove(&oldest);
            }
            lru.forgotten.push_back(hash);
            lru.forgotten_set.insert(hash);
        }
        drop(lru);
        drop(dropped);
    }

    #[cfg(test)]
    fn ids(&self) -> Vec<String> {
        lock(&self.inner).by_use.values().cloned().collect()
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        lock(&self.inner).bytes
    }
}

impl Inner {
    /// Remembers the decoded state of a workflow that was just started at `version` (what the
    /// store's `create_workflow` returned), so that its first step needs no load. `bytes`: its
    /// first snapshot's, as stored (what the state counts in the cache's bound).
    pub(crate) fn prime(
        &self,
        id: &str,
        workflow: Arc<dyn ErasedWorkflow>,
        state: ErasedState,
        ctx: CtxState,
        version: u64,
        bytes: usize,
    ) {
        let cached = Box::new(Cached {
            workflow,
            bytes,
            version,
            step: 0,
            ctx: WorkflowCtx::new(id, ctx),
            state,
            pending: None,
            seen_upto: 0,
            migrated: None,
            // (A run started from outside has no parent; a child is created by its parent's
            // commit, and loaded from the store at its first step.)
            parent: None,
            run_key: None,
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
        fn encode_state(&self, _: &ErasedState, _: u64, _: &CtxState) -> Result<Vec<u8>, String> {
            Err("none".into())
        }
        fn continued(&self, _: &[u8], _: &CtxState, _: u64) -> Result<Vec<u8>, String> {
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
        sized(version, 0)
    }

    fn sized(version: u64, bytes: usize) -> Box<Cached> {
        Box::new(Cached {
            workflow: Arc::new(Nothing),
            bytes,
            version,
            step: 0,
            ctx: WorkflowCtx::new("x", CtxState::default()),
            state: Box::new(()),
            pending: None,
            seen_upto: 0,
            migrated: None,
            parent: None,
            run_key: None,
        })
    }

    #[test]
    fn the_least_recently_used_goes_first() {
        let cache = StateCache::new(2, usize::MAX);
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

    /// A state primed for a run whose state a driver dropped lately (the run ended) is not
    /// kept: it would be older than the store's. One primed for a run never seen is.
    #[test]
    fn a_state_dropped_lately_is_not_primed_again() {
        let cache = StateCache::new(FORGOTTEN * 2, usize::MAX);
        cache.put_if_absent("a".into(), entry(1));
        assert_eq!(cache.take("a").expect("primed").version, 1);
        cache.forget("a");
        cache.put_if_absent("a".into(), entry(1));
        assert!(cache.take("a").is_none(), "dropped lately: not primed");
        // A state a driver puts is kept all the same.
        cache.put("a".into(), entry(3));
        assert_eq!(cache.take("a").expect("put").version, 3);
        // Remembered for the last FORGOTTEN ids only.
        for i in 0..FORGOTTEN {
            cache.forget(&format!("other-{i}"));
        }
        cache.put_if_absent("a".into(), entry(5));
        assert_eq!(cache.take("a").expect("primed").version, 5);
    }

    #[test]
    fn a_capacity_of_zero_keeps_nothing() {
        let cache = StateCache::new(0, usize::MAX);
        cache.put("a".into(), entry(1));
        assert!(cache.take("a").is_none());
    }

    #[test]
    fn the_byte_bound_evicts_the_least_recently_used() {
        // Room for 3 000 bytes of state plus three entries' overhead.
        let cache = StateCache::new(100, 3_000 + 3 * ENTRY_BYTES);
        cache.put("a".into(), sized(1, 1_000));
        cache.put("b".into(), sized(1, 1_000));
        cache.put("c".into(), sized(1, 1_000));
        assert_eq!(cache.ids(), vec!["a", "b", "c"]);
        assert_eq!(cache.bytes(), 3_000 + 3 * ENTRY_BYTES);
        // `a` used again; `d` needs the room of two: `b` and `c` go, oldest first.
        let a = cache.take("a").expect("a");
        cache.put("a".into(), a);
        cache.put("d".into(), sized(1, 1_500));
        assert_eq!(cache.ids(), vec!["a", "d"]);
        assert_eq!(cache.bytes(), 2_500 + 2 * ENTRY_BYTES);
        // A state that grew is counted at its new size when put back.
        let mut d = cache.take("d").expect("d");
        assert_eq!(cache.bytes(), 1_000 + ENTRY_BYTES);
        d.bytes = 2_000;
        cache.put("d".into(), d);
        assert_eq!(cache.ids(), vec!["a", "d"]);
        assert_eq!(cache.bytes(), 3_000 + 2 * ENTRY_BYTES);
        // Larger than the whole bound: not kept, and nothing else evicted for it; the state it
        // replaces goes.
        cache.put("a".into(), sized(2, 10_000));
        assert_eq!(cache.ids(), vec!["d"]);
        assert_eq!(cache.bytes(), 2_000 + ENTRY_BYTES);
        cache.forget("d");
        assert_eq!(cache.bytes(), 0);
    }
}
