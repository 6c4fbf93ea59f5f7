//! A page cache for SQLite: one per connection, with no lock shared between connections, and
//! no walk of its pages for the truncations that would discard nothing.
//!
//! SQLite's default cache (`pcache1`), as `libsqlite3-sys` builds it (with
//! `SQLITE_ENABLE_MEMORY_MANAGEMENT`), puts the pages of every connection of the process in one
//! group behind one mutex, taken at every page fetched and let go: about 36 times per run
//! finished after its timer, by the writer on one core and the readers on the other, so that
//! the mutex moved between the cores all the time. With a million timers firing, the cache's
//! work and its lock came to about 7% of the process's CPU time (`perf`), part of it in the
//! kernel, waiting for the lock. Here each connection's cache is its own: SQLite uses a cache
//! from one thread at a time (the connection's), so nothing in it is locked.
//!
//! At the end of every transaction SQLite's pager also truncates its page cache to the
//! database's size (`xTruncate(size + 1)`: discard the pages past the end). B-tree balancing
//! gives a page, for a moment, the number of the page that holds the lock byte (`PENDING_BYTE`,
//! 1 GiB: page 262 145 of 4 KiB), while it puts new pages in order (`balance_nonroot`); a cache
//! that keeps only the largest number it ever held (as `pcache1` does) then walks every page at
//! every such commit: a tenth of the writer's time with a million sleeping runs, measured with
//! `perf`. This cache keeps the largest page number it has handed out and whether a page may
//! sit at the lock byte's number ([`Keys`]), and walks its pages only when a page may be past
//! the limit.
//!
//! What SQLite asks of a cache (the `sqlite3_pcache_methods2` documentation), as `pcache1`
//! does it: a page fetched is pinned until unpinned; a purgeable cache (a database file's)
//! keeps at most its size in pages unless more are pinned, recycling the least recently
//! unpinned page, and refuses a page (`createFlag` 1) when nine tenths of its size are pinned,
//! so that SQLite spills dirty pages first; a cache of a temporary or in-memory database
//! (not purgeable) keeps every page. A new page's first 8 bytes of extra space are zero (SQLite
//! reads them to tell a new page). Freed pages are kept for reuse while they and the pages held
//! stay within the cache's size (a reader's cache is emptied whenever another connection
//! wrote, and filled again at its next read).
//!
//! A page cache is configured for the whole process (`SQLITE_CONFIG_PCACHE2`), and only before
//! SQLite is initialized: [`install`] does it once, at the first store opened, when SQLite is
//! not yet in use; when it is (the process opened a database before), SQLite's cache stays as
//! it is, and commits only cost what they did. SQLite asks that no other thread use it while
//! `sqlite3_config` runs: every store goes through [`install`] (a `OnceLock`) before its first
//! connection, so the store's own threads never do; another library of the process that
//! opened its first SQLite database at that very moment would race with it.
//!
//! Being the process's, the cache serves every connection of it, the application's own as
//! well. Its pages come from Rust's allocator, outside SQLite's accounting of its memory:
//! `sqlite3_hard_heap_limit64`, `sqlite3_soft_heap_limit64`, `sqlite3_release_memory` and
//! SQLite's memory statistics do not see them (each connection's `cache_size` bounds them, as
//! it bounds `pcache1`'s).

use std::alloc::Layout;
use std::collections::HashMap;
use std::ffi::{c_int, c_uint, c_void};
use std::hash::{BuildHasherDefault, Hasher};
use std::ptr;
use std::sync::OnceLock;

use rusqlite::ffi;

/// SQLite's lock byte (`PENDING_BYTE`): the page that holds it never holds data.
const PENDING_BYTE: u32 = 0x4000_0000;

/// Freed pages a cache keeps for reuse, whatever its size, as long as it holds no more pages
/// than this (a cache that is not purgeable has no size).
const KEPT_FREE: usize = 16;

/// A page: SQLite's view of it first (its buffer and extra space, both in the same
/// allocation, after this header), then the cache's.
#[repr(C)]
struct Page {
    base: ffi::sqlite3_pcache_page,
    key: c_uint,
    pinned: bool,
    /// The neighbours in the cache's list of unpinned pages (purgeable caches only): toward
    /// the most recently unpinned (`newer`) and the least (`older`).
    newer: *mut Page,
    older: *mut Page,
}

/// Page numbers hash to themselves, spread by a multiplication: they are dense and small.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A connection's cache.
struct Cache {
    /// The layout of a page's allocation: header, buffer, extra space.
    layout: Layout,
    page_size: usize,
    purgeable: bool,
    /// The most pages kept (unpinned pages past it are freed); SQLite sets it.
    max: usize,
    pages: HashMap<c_uint, *mut Page, BuildHasherDefault<KeyHasher>>,
    pinned: usize,
    /// The list of unpinned pages of a purgeable cache: the most recently unpinned at
    /// `newest`, the next to recycle at `oldest`.
    newest: *mut Page,
    oldest: *mut Page,
    /// Allocations of freed pages, for reuse.
    free: Vec<*mut Page>,
    keys: Keys,
}

/// What a cache knows of the page numbers it may hold, to tell a truncation that would
/// discard nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Keys {
    /// The largest page number handed out (fetched, or given by a rekey) since the last
    /// truncation, the lock byte's page aside.
    max: c_uint,
    /// The number of the page that holds the lock byte, at the cache's page size.
    lock_page: c_uint,
    /// Whether a page may have that number (balancing gives it for a moment).
    at_lock_page: bool,
}

impl Keys {
    fn new(page_size: c_int) -> Self {
        let size = c_uint::try_from(page_size).unwrap_or(0).max(512);
        Keys {
            max: 0,
            lock_page: PENDING_BYTE / size + 1,
            at_lock_page: false,
        }
    }

    /// A page numbered `key` may be in the cache (fetched, or rekeyed to it).
    fn note(&mut self, key: c_uint) {
        if key == self.lock_page {
            self.at_lock_page = true;
        } else {
            self.max = self.max.max(key);
        }
    }

    /// The page at `old` now has the number `new`.
    fn rekeyed(&mut self, old: c_uint, new: c_uint) {
        if old == self.lock_page && new != self.lock_page {
            self.at_lock_page = false;
        }
        self.note(new);
    }

    /// Whether a truncation to `limit` (discard every page numbered `limit` or more) may
    /// discard a page.
    fn may_discard(&self, limit: c_uint) -> bool {
        self.max >= limit || (self.at_lock_page && self.lock_page >= limit)
    }

    /// The cache was truncated to `limit`.
    fn truncated(&mut self, limit: c_uint) {
        self.max = self.max.min(limit.saturating_sub(1));
        if self.lock_page >= limit {
            self.at_lock_page = false;
        }
    }
}

impl Cache {
    fn new(page_size: c_int, extra: c_int, purgeable: bool) -> Option<Cache> {
        let page_size_bytes = usize::try_from(page_size).ok().filter(|&n| n > 0)?;
        let extra_bytes = usize::try_from(extra).ok()?;
        let size = std::mem::size_of::<Page>()
            .checked_add(page_size_bytes)?
            .checked_add(extra_bytes.max(8))?;
        let layout = Layout::from_size_align(size, std::mem::align_of::<Page>().max(8)).ok()?;
        Some(Cache {
            layout,
            page_size: page_size_bytes,
            purgeable,
            max: 0,
            pages: HashMap::default(),
            pinned: 0,
            newest: ptr::null_mut(),
            oldest: ptr::null_mut(),
            free: Vec::new(),
            keys: Keys::new(page_size),
        })
    }

    /// A page pinned at `key` and counted, its extra space's first 8 bytes zero: a freed
    /// page's allocation, or a new one (null if there is no memory).
    fn alloc(&mut self, key: c_uint) -> *mut Page {
        // Room in the map first: without memory, SQLite is told so (a null page), where a
        // failed allocation inside the map would end the process.
        if self.pages.try_reserve(1).is_err() {
            return ptr::null_mut();
        }
        let page = match self.free.pop() {
            Some(p) => p,
            None => {
                // SAFETY: the layout's size is not zero (it holds the header).
                let p = unsafe { std::alloc::alloc(self.layout) }.cast::<Page>();
                if p.is_null() {
                    return p;
                }
                p
            }
        };
        // SAFETY: `page` is an allocation of `self.layout`: the header, then the buffer, then
        // the extra space (at least 8 bytes), all within it.
        unsafe {
            let buf = page.cast::<u8>().add(std::mem::size_of::<Page>());
            let extra = buf.add(self.page_size);
            ptr::write_bytes(extra, 0, 8);
            page.write(Page {
                base: ffi::sqlite3_pcache_page {
                    pBuf: buf.cast::<c_void>(),
                    pExtra: extra.cast::<c_void>(),
                },
                key,
                pinned: true,
                newer: ptr::null_mut(),
                older: ptr::null_mut(),
            });
        }
        self.pages.insert(key, page);
        self.pinned += 1;
        self.keys.note(key);
        page
    }

    /// Gives the allocation of `page` (out of the map and the list already) back: kept for
    /// reuse while the cache has room for it, freed otherwise.
    fn release(&mut self, page: *mut Page) {
        if self.pages.len() + self.free.len() < self.max.max(KEPT_FREE)
            && self.free.try_reserve(1).is_ok()
        {
            self.free.push(page);
        } else {
            // SAFETY: `page` was allocated with `self.layout` and is no longer referenced.
            unsafe { std::alloc::dealloc(page.cast::<u8>(), self.layout) }
        }
    }

    /// Takes `page` (unpinned, of a purgeable cache) off the list of unpinned pages.
    ///
    /// # Safety
    /// `page` is on the list.
    unsafe fn unlink(&mut self, page: *mut Page) {
        // SAFETY: the list's pages are live pages of this cache.
        unsafe {
            let (newer, older) = ((*page).newer, (*page).older);
            if newer.is_null() {
                self.newest = older;
            } else {
                (*newer).older = older;
            }
            if older.is_null() {
                self.oldest = newer;
            } else {
                (*older).newer = newer;
            }
            (*page).newer = ptr::null_mut();
            (*page).older = ptr::null_mut();
        }
    }

    /// Puts `page` (just unpinned, of a purgeable cache) on the list, as the newest.
    ///
    /// # Safety
    /// `page` is a live page of this cache, not on the list.
    unsafe fn push_newest(&mut self, page: *mut Page) {
        // SAFETY: as the caller promises; `self.newest` is null or a live page.
        unsafe {
            (*page).older = self.newest;
            (*page).newer = ptr::null_mut();
            if self.newest.is_null() {
                self.oldest = page;
            } else {
                (*self.newest).newer = page;
            }
        }
        self.newest = page;
    }

    /// Takes `page` out of the cache: off the map, off the list if unpinned, uncounted if
    /// pinned. Its allocation is the caller's.
    ///
    /// # Safety
    /// `page` is a live page of this cache.
    unsafe fn remove(&mut self, page: *mut Page) {
        // SAFETY: as the caller promises.
        unsafe {
            self.pages.remove(&(*page).key);
            if (*page).pinned {
                self.pinned -= 1;
            } else if self.purgeable {
                self.unlink(page);
            }
        }
    }

    /// Frees the least recently unpinned pages while the cache holds more than `max`.
    fn enforce(&mut self, max: usize) {
        while self.pages.len() > max && !self.oldest.is_null() {
            let page = self.oldest;
            // SAFETY: the list's pages are live pages of this cache.
            unsafe { self.remove(page) };
            self.release(page);
        }
    }

    fn fetch(&mut self, key: c_uint, create: c_int) -> *mut Page {
        if let Some(&page) = self.pages.get(&key) {
            // SAFETY: the map's pages are live pages of this cache.
            unsafe {
                if !(*page).pinned {
                    if self.purgeable {
                        self.unlink(page);
                    }
                    (*page).pinned = true;
                    self.pinned += 1;
                }
            }
            return page;
        }
        if create == 0 {
            return ptr::null_mut();
        }
        // Nearly full of pinned pages: SQLite spills its dirty pages and asks again with
        // `createFlag` 2. (A cache that is not purgeable has no size: `pcache1` refuses
        // every such request too.)
        if create == 1 && self.pinned >= nine_tenths(self.max) {
            return ptr::null_mut();
        }
        // Full: recycle the least recently unpinned page.
        if self.purgeable && !self.oldest.is_null() && self.pages.len() + 1 >= self.max {
            let page = self.oldest;
            // SAFETY: the list's pages are live pages of this cache.
            unsafe { self.remove(page) };
            self.release(page);
        }
        self.alloc(key)
    }

    fn unpin(&mut self, page: *mut Page, discard: bool) {
        // SAFETY: SQLite unpins pages this cache handed out, pinned.
        unsafe {
            if !(*page).pinned {
                return;
            }
            if discard || (self.purgeable && self.pages.len() > self.max) {
                self.remove(page);
                self.release(page);
                return;
            }
            (*page).pinned = false;
            self.pinned -= 1;
            if self.purgeable {
                self.push_newest(page);
            }
        }
    }

    fn rekey(&mut self, page: *mut Page, old: c_uint, new: c_uint) {
        // A page at `new` already is discarded (SQLite drops it before it asks; it is never
        // pinned).
        if let Some(&other) = self.pages.get(&new)
            && other != page
        {
            // SAFETY: the map's pages are live pages of this cache.
            unsafe { self.remove(other) };
            self.release(other);
        }
        self.pages.remove(&old);
        // SAFETY: SQLite rekeys pages this cache handed out.
        unsafe { (*page).key = new };
        self.pages.insert(new, page);
        self.keys.rekeyed(old, new);
    }

    fn truncate(&mut self, limit: c_uint) {
        if !self.keys.may_discard(limit) {
            debug_assert!(
                self.pages.keys().all(|&k| k < limit),
                "a truncation to {limit} skipped with a page past it ({:?})",
                self.keys
            );
            return;
        }
        let mut past: Vec<*mut Page> = Vec::new();
        let listed = past.try_reserve(self.pages.len()).is_ok();
        if listed {
            past.extend(
                self.pages
                    .iter()
                    .filter(|&(&k, _)| k >= limit)
                    .map(|(_, &p)| p),
            );
        }
        // Without memory for the list, one page at a time, each found by a walk.
        loop {
            let page = if listed {
                past.pop()
            } else {
                self.pages
                    .iter()
                    .find(|&(&k, _)| k >= limit)
                    .map(|(_, &p)| p)
            };
            let Some(page) = page else { break };
            // SAFETY: the map's pages are live pages of this cache; pinned ones are unpinned
            // by the truncation (SQLite's contract).
            unsafe { self.remove(page) };
            self.release(page);
        }
        self.keys.truncated(limit);
    }

    fn set_size(&mut self, n: c_int) {
        if self.purgeable {
            self.max = usize::try_from(n).unwrap_or(0);
            self.enforce(self.max);
            self.trim_free();
        }
    }

    /// Frees the kept allocations past what the cache may hold.
    fn trim_free(&mut self) {
        // (Pinned pages may hold the cache past its size with nothing kept: then it stops.)
        while self.pages.len() + self.free.len() > self.max.max(KEPT_FREE) {
            let Some(p) = self.free.pop() else { break };
            // SAFETY: a kept allocation of `self.layout`, referenced nowhere else.
            unsafe { std::alloc::dealloc(p.cast::<u8>(), self.layout) }
        }
    }

    /// Frees every unpinned page of a purgeable cache, and every kept allocation.
    fn shrink(&mut self) {
        if self.purgeable {
            self.enforce(0);
        }
        self.free_kept();
    }

    /// Frees every kept allocation.
    fn free_kept(&mut self) {
        for p in self.free.drain(..) {
            // SAFETY: a kept allocation of `self.layout`, referenced nowhere else.
            unsafe { std::alloc::dealloc(p.cast::<u8>(), self.layout) }
        }
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        for (_, page) in self.pages.drain() {
            // SAFETY: every page of the map is an allocation of `self.layout`; SQLite destroys
            // a cache once it uses none of its pages.
            unsafe { std::alloc::dealloc(page.cast::<u8>(), self.layout) }
        }
        self.free_kept();
    }
}

/// Nine tenths of `n`, rounded down, without overflow.
fn nine_tenths(n: usize) -> usize {
    n / 10 * 9 + n % 10 * 9 / 10
}

/// Installs the cache (once per process), if SQLite is not initialized yet. Whether it is in
/// use.
pub(super) fn install() -> bool {
    static DONE: OnceLock<bool> = OnceLock::new();
    *DONE.get_or_init(|| {
        let ours = ffi::sqlite3_pcache_methods2 {
            iVersion: 1,
            pArg: ptr::null_mut(),
            // SQLite installs its own cache in place of one without `xInit`.
            xInit: Some(init),
            xShutdown: Some(shutdown),
            xCreate: Some(create),
            xCachesize: Some(cachesize),
            xPagecount: Some(pagecount),
            xFetch: Some(fetch),
            xUnpin: Some(unpin),
            xRekey: Some(rekey),
            xTruncate: Some(truncate),
            xDestroy: Some(destroy),
            xShrink: Some(shrink),
        };
        // SAFETY: `sqlite3_config` is called before SQLite is initialized (it refuses
        // otherwise, with SQLITE_MISUSE, and changes nothing), and copies the methods.
        unsafe {
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_PCACHE2, &raw const ours) == ffi::SQLITE_OK
        }
    })
}

/// The cache behind SQLite's handle.
///
/// # Safety
/// `p` is a handle [`create`] returned and [`destroy`] has not freed; SQLite uses a cache from
/// one thread at a time.
unsafe fn cache<'a>(p: *mut ffi::sqlite3_pcache) -> &'a mut Cache {
    // SAFETY: as the caller promises.
    unsafe { &mut *p.cast::<Cache>() }
}

unsafe extern "C" fn init(_: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn shutdown(_: *mut c_void) {}

unsafe extern "C" fn create(
    page_size: c_int,
    extra: c_int,
    purgeable: c_int,
) -> *mut ffi::sqlite3_pcache {
    match Cache::new(page_size, extra, purgeable != 0) {
        Some(c) => Box::into_raw(Box::new(c)).cast(),
        None => ptr::null_mut(),
    }
}

unsafe extern "C" fn cachesize(p: *mut ffi::sqlite3_pcache, n: c_int) {
    // SAFETY: SQLite passes a cache `create` made.
    unsafe { cache(p) }.set_size(n);
}

unsafe extern "C" fn pagecount(p: *mut ffi::sqlite3_pcache) -> c_int {
    // SAFETY: as above.
    c_int::try_from(unsafe { cache(p) }.pages.len()).unwrap_or(c_int::MAX)
}

unsafe extern "C" fn fetch(
    p: *mut ffi::sqlite3_pcache,
    key: c_uint,
    create: c_int,
) -> *mut ffi::sqlite3_pcache_page {
    // SAFETY: as above.
    unsafe { cache(p) }.fetch(key, create).cast()
}

unsafe extern "C" fn unpin(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    discard: c_int,
) {
    // SAFETY: as above; `page` is one of its pages (a `Page`, whose first field it is).
    unsafe { cache(p) }.unpin(page.cast(), discard != 0);
}

unsafe extern "C" fn rekey(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    old: c_uint,
    new: c_uint,
) {
    // SAFETY: as above.
    unsafe { cache(p) }.rekey(page.cast(), old, new);
}

unsafe extern "C" fn truncate(p: *mut ffi::sqlite3_pcache, limit: c_uint) {
    // SAFETY: as above.
    unsafe { cache(p) }.truncate(limit);
}

unsafe extern "C" fn destroy(p: *mut ffi::sqlite3_pcache) {
    // SAFETY: `p` came from `create` (a boxed `Cache`), and SQLite destroys a cache once.
    drop(unsafe { Box::from_raw(p.cast::<Cache>()) });
}

unsafe extern "C" fn shrink(p: *mut ffi::sqlite3_pcache) {
    // SAFETY: as above.
    unsafe { cache(p) }.shrink();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The share of a cache's size that may be pinned before a page is refused (so that
    /// SQLite spills first) is nine tenths rounded down, as `pcache1` has it, for any size,
    /// the largest too (where `n * 9` would overflow).
    #[test]
    fn nine_tenths_rounds_down_without_overflow() {
        for n in 0..100_000usize {
            assert_eq!(nine_tenths(n), n * 9 / 10, "{n}");
        }
        let most = usize::MAX;
        assert_eq!(
            u128::try_from(nine_tenths(most)).expect("fits"),
            u128::try_from(most).expect("fits") * 9 / 10
        );
    }

    /// A truncation to the database's size is passed on only when a page past it may be in
    /// the cache; the lock byte's page, given for a moment while balancing, does not count
    /// once it is given back, and counts while it is held.
    #[test]
    fn a_truncation_is_passed_on_only_when_it_may_discard_a_page() {
        let mut k = Keys::new(4096);
        assert_eq!(k.lock_page, 262_145);
        assert!(!k.may_discard(1), "an empty cache");
        for key in [1, 7, 80_000, 3] {
            k.note(key);
        }
        assert!(!k.may_discard(80_001), "all pages below the limit");
        assert!(k.may_discard(80_000), "page 80 000 is at the limit");
        assert!(k.may_discard(0) && k.may_discard(1));

        // Balancing swaps two pages through the lock byte's number.
        k.rekeyed(80_000, 262_145);
        assert!(
            k.may_discard(80_001),
            "a page sits at the lock byte's number"
        );
        assert!(!k.may_discard(262_146), "... which is below this limit");
        k.rekeyed(7, 80_000);
        k.rekeyed(262_145, 7);
        assert!(!k.at_lock_page);
        assert!(!k.may_discard(80_001), "the swap left no page past the end");

        // A page past the end (the database shrank, or a rolled-back growth).
        k.note(90_000);
        assert!(k.may_discard(80_001));
        k.truncated(80_001);
        assert_eq!(k.max, 80_000);
        assert!(!k.may_discard(80_001));
        k.truncated(0);
        assert_eq!(k.max, 0);
        assert!(!k.may_discard(1));
        // A fetch of the lock byte's page (never done by SQLite) counts.
        k.note(262_145);
        assert!(k.may_discard(5));
        k.truncated(262_145);
        assert!(!k.may_discard(5));
    }

    /// Random fetches, rekeys and truncations, against the set of keys they leave: a
    /// truncation is never skipped while a key at or past its limit is in the set.
    #[test]
    fn no_truncation_is_skipped_that_would_discard_a_key() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |n: u32| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % u64::from(n)) as u32
        };
        for _ in 0..200 {
            // A small page size puts the lock byte's page among the keys drawn.
            let mut k = Keys::new(65_536);
            let lock = k.lock_page;
            let mut set = std::collections::BTreeSet::new();
            for _ in 0..400 {
                let draw = |n: &mut dyn FnMut(u32) -> u32| {
                    if n(8) == 0 { lock } else { 1 + n(lock + 40) }
                };
                match next(10) {
                    0..=4 => {
                        let key = draw(&mut next);
                        set.insert(key);
                        k.note(key);
                    }
                    5..=6 => {
                        // A rekey to a free key, as SQLite does.
                        let Some(&old) = set.iter().nth(next(set.len().max(1) as u32) as usize)
                        else {
                            continue;
                        };
                        let new = draw(&mut next);
                        if set.contains(&new) {
                            continue;
                        }
                        set.remove(&old);
                        set.insert(new);
                        k.rekeyed(old, new);
                    }
                    7 => {
                        // A page dropped (unpinned with discard, or evicted).
                        if let Some(&key) = set.iter().nth(next(set.len().max(1) as u32) as usize) {
                            set.remove(&key);
                        }
                    }
                    _ => {
                        let limit = draw(&mut next).saturating_sub(next(3));
                        let discards = set.range(limit..).next().is_some();
                        assert!(
                            !discards || k.may_discard(limit),
                            "skipped a truncation to {limit} over {set:?} ({k:?})"
                        );
                        if k.may_discard(limit) {
                            set.retain(|&key| key < limit);
                            k.truncated(limit);
                        }
                    }
                }
            }
        }
    }

    /// A cache made smaller than the pages it has pinned keeps them and returns (it looped
    /// for ever, looking for kept allocations to free, when it held none).
    #[test]
    fn a_cache_resized_below_its_pinned_pages_keeps_them() {
        let mut c = Cache::new(512, 8, true).expect("cache");
        c.set_size(100);
        let pages: Vec<*mut Page> = (1..=40).map(|k| c.fetch(k, 2)).collect();
        assert!(pages.iter().all(|p| !p.is_null()));
        c.set_size(10);
        assert_eq!((c.pages.len(), c.pinned, c.free.len()), (40, 40, 0));
        for p in pages {
            c.unpin(p, false);
        }
        assert_eq!(c.pages.len(), 10, "unpinned down to the size");
    }

    /// Page sizes other than 4 KiB put the lock byte on another page; a size SQLite never
    /// gives is taken as its smallest.
    #[test]
    fn the_lock_byte_s_page_follows_the_page_size() {
        assert_eq!(Keys::new(512).lock_page, 2_097_153);
        assert_eq!(Keys::new(65_536).lock_page, 16_385);
        assert_eq!(Keys::new(0).lock_page, 2_097_153);
        assert_eq!(Keys::new(-1).lock_page, 2_097_153);
    }

    /// What a model of the cache says: the pages held, pinned or not, with the byte each
    /// page's buffer was filled with.
    #[derive(Default)]
    struct Model {
        pages: std::collections::BTreeMap<c_uint, (bool, u8)>,
    }

    /// Random fetches, unpins, rekeys, truncations and resizes of a cache, against a model:
    /// a page held keeps its contents, a pinned page is never dropped, a new page's extra
    /// space starts with 8 zero bytes, a purgeable cache holds no more unpinned pages than its
    /// size allows, and the count of pages is the model's.
    #[test]
    fn a_cache_keeps_what_sqlite_asks_it_to_keep() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |n: u32| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % u64::from(n.max(1))) as u32
        };
        for round in 0..60 {
            let purgeable = round % 3 != 0;
            let mut c = Cache::new(512, 24, purgeable).expect("cache");
            c.set_size(8 + next(40) as c_int);
            let mut m = Model::default();
            let mut fill = 0u8;
            for _ in 0..3_000 {
                match next(12) {
                    0..=4 => {
                        let key = 1 + next(80);
                        let create = next(3) as c_int;
                        let page = c.fetch(key, create);
                        match m.pages.get_mut(&key) {
                            Some((pinned, byte)) => {
                                assert!(!page.is_null(), "page {key} held but not found");
                                // SAFETY: a page the cache handed out.
                                let buf = unsafe { (*page).base.pBuf.cast::<u8>() };
                                assert_eq!(unsafe { *buf.add(100) }, *byte, "page {key}'s bytes");
                                *pinned = true;
                            }
                            None if page.is_null() => {
                                assert!(create != 2, "a page refused with createFlag 2");
                            }
                            None => {
                                assert!(create != 0, "a page made with createFlag 0");
                                // SAFETY: a page the cache handed out: its buffer and extra.
                                unsafe {
                                    let extra = (*page).base.pExtra.cast::<u8>();
                                    assert_eq!(std::slice::from_raw_parts(extra, 8), [0; 8]);
                                    fill = fill.wrapping_add(1);
                                    let buf = (*page).base.pBuf.cast::<u8>();
                                    ptr::write_bytes(buf, fill, 512);
                                    ptr::write_bytes(extra, 0xAB, 24);
                                }
                                m.pages.insert(key, (true, fill));
                            }
                        }
                    }
                    5..=7 => {
                        let pinned: Vec<c_uint> = m
                            .pages
                            .iter()
                            .filter(|(_, p)| p.0)
                            .map(|(&k, _)| k)
                            .collect();
                        if let Some(&key) = pinned.get(next(pinned.len() as u32) as usize) {
                            let page = c.pages[&key];
                            let discard = next(5) == 0;
                            c.unpin(page, discard);
                            if discard {
                                m.pages.remove(&key);
                            } else {
                                m.pages.get_mut(&key).expect("held").0 = false;
                            }
                        }
                    }
                    8 => {
                        // SQLite's move: the page at the new number is dropped first.
                        let keys: Vec<c_uint> = m.pages.keys().copied().collect();
                        if let Some(&old) = keys.get(next(keys.len() as u32) as usize) {
                            let new = 1 + next(80);
                            if new != old && !m.pages.get(&new).is_some_and(|p| p.0) {
                                let page = c.pages[&old];
                                c.rekey(page, old, new);
                                let v = m.pages.remove(&old).expect("held");
                                m.pages.insert(new, v);
                            }
                        }
                    }
                    9 => {
                        let limit = next(90);
                        c.truncate(limit);
                        m.pages.retain(|&k, _| k < limit);
                    }
                    10 => c.set_size(4 + next(40) as c_int),
                    _ => {
                        c.shrink();
                        if purgeable {
                            m.pages.retain(|_, p| p.0);
                        }
                    }
                }
                // Pages the cache dropped on its own are unpinned ones of a purgeable cache.
                let held: std::collections::BTreeSet<c_uint> = c.pages.keys().copied().collect();
                m.pages.retain(|k, p| {
                    assert!(held.contains(k) || (purgeable && !p.0), "page {k} lost");
                    held.contains(k)
                });
                assert_eq!(held.len(), m.pages.len(), "pages held beyond the model's");
                let pinned = m.pages.values().filter(|p| p.0).count();
                assert_eq!(c.pinned, pinned);
                if purgeable {
                    assert!(
                        m.pages.len() <= c.max.max(pinned + 1),
                        "{} pages held, {pinned} pinned, size {}",
                        m.pages.len(),
                        c.max
                    );
                }
            }
        }
    }
}
