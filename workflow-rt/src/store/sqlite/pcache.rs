//! SQLite's page cache, without the truncations that would discard nothing.
//!
//! At the end of every transaction SQLite's pager truncates its page cache to the database's
//! size (`xTruncate(size + 1)`: discard the pages past the end). The default cache (`pcache1`)
//! does that work only when a page past the end was ever in the cache (its `iMaxKey`), and then
//! walks its hash table: the buckets from the limit to that page, or, when they are more than
//! the table holds, every bucket and every page in it. B-tree balancing gives a page, for a
//! moment, the number of the page that holds the lock byte (`PENDING_BYTE`, 1 GiB: page 262 145
//! of 4 KiB), while it puts new pages in order (`balance_nonroot`), and that raises `iMaxKey`
//! past the end of any smaller database. So every commit whose inserts split pages out of order
//! walked every page of the writer's cache (64 MiB, up to 16 384 pages, a cache miss each): a
//! tenth of the writer's time with a million sleeping runs, measured with `perf`.
//!
//! This cache is SQLite's own, through its methods, with the largest page number it has handed
//! out kept beside it, and whether a page may sit at the lock byte's number. A truncation is
//! passed on unless every page is below the limit (then it would discard nothing). Everything
//! else is passed on as it is.
//!
//! A page cache is configured for the whole process (`SQLITE_CONFIG_PCACHE2`), and only before
//! SQLite is initialized: [`install`] does it once, at the first store opened, when SQLite is
//! not yet in use; when it is (the process opened a database before), SQLite's cache stays as
//! it is, and commits only cost what they did. SQLite asks that no other thread use it while
//! `sqlite3_config` runs: every store goes through [`install`] (a `OnceLock`) before its first
//! connection, so the store's own threads never do; another library of the process that
//! opened its first SQLite database at that very moment would race with it.

use std::ffi::{c_int, c_uint};
use std::sync::OnceLock;

use rusqlite::ffi;

/// SQLite's own page cache methods, as they were before [`install`].
static INNER: OnceLock<Methods> = OnceLock::new();

/// Page cache methods: function pointers, and SQLite's argument for its own `xInit` (which
/// SQLite passes back, and never frees).
struct Methods(ffi::sqlite3_pcache_methods2);

// SAFETY: the methods are functions callable from any thread (SQLite's page cache is
// thread-safe across caches), and `pArg` is only handed back to them.
unsafe impl Send for Methods {}
// SAFETY: as above; the struct is never changed once stored.
unsafe impl Sync for Methods {}

/// SQLite's lock byte (`PENDING_BYTE`): the page that holds it never holds data.
const PENDING_BYTE: u32 = 0x4000_0000;

/// A cache: SQLite's own, and what is known of the page numbers in it.
struct Cache {
    inner: *mut ffi::sqlite3_pcache,
    keys: Keys,
}

/// What a cache knows of the page numbers it may hold, to tell a truncation that would
/// discard nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Keys {
    /// The largest page number handed out (fetched, or given by a rekey) since the last
    /// truncation passed on, the lock byte's page aside.
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

/// SQLite's own methods. Set before SQLite can create a cache through this module's (in
/// [`install`]); the empty set otherwise, which creates no cache.
fn methods() -> &'static ffi::sqlite3_pcache_methods2 {
    static NONE: Methods = Methods(ffi::sqlite3_pcache_methods2 {
        iVersion: 0,
        pArg: std::ptr::null_mut(),
        xInit: None,
        xShutdown: None,
        xCreate: None,
        xCachesize: None,
        xPagecount: None,
        xFetch: None,
        xUnpin: None,
        xRekey: None,
        xTruncate: None,
        xDestroy: None,
        xShrink: None,
    });
    &INNER.get().unwrap_or(&NONE).0
}

/// Installs the cache (once per process), if SQLite is not initialized yet. Whether it is in
/// use.
pub(super) fn install() -> bool {
    static DONE: OnceLock<bool> = OnceLock::new();
    *DONE.get_or_init(|| {
        // SAFETY: `sqlite3_config` is called before SQLite is initialized (it refuses
        // otherwise, with SQLITE_MISUSE, and changes nothing); it copies the methods it is
        // given, which call SQLite's own, held in `INNER` from before then.
        unsafe {
            let mut inner = std::mem::MaybeUninit::<ffi::sqlite3_pcache_methods2>::zeroed();
            if ffi::sqlite3_config(ffi::SQLITE_CONFIG_GETPCACHE2, inner.as_mut_ptr())
                != ffi::SQLITE_OK
            {
                return false;
            }
            let inner = inner.assume_init();
            if inner.xCreate.is_none()
                || inner.xFetch.is_none()
                || inner.xRekey.is_none()
                || inner.xTruncate.is_none()
                || inner.xDestroy.is_none()
            {
                return false;
            }
            let inner = &INNER.get_or_init(|| Methods(inner)).0;
            let ours = ffi::sqlite3_pcache_methods2 {
                iVersion: inner.iVersion,
                pArg: inner.pArg,
                xInit: inner.xInit,
                xShutdown: inner.xShutdown,
                xCreate: Some(create),
                xCachesize: Some(cachesize),
                xPagecount: Some(pagecount),
                xFetch: Some(fetch),
                xUnpin: Some(unpin),
                xRekey: Some(rekey),
                xTruncate: Some(truncate),
                xDestroy: Some(destroy),
                xShrink: inner.xShrink.map(|_| shrink as unsafe extern "C" fn(_)),
            };
            // SQLite copies the methods.
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

unsafe extern "C" fn create(
    page_size: c_int,
    extra: c_int,
    purgeable: c_int,
) -> *mut ffi::sqlite3_pcache {
    let Some(create) = methods().xCreate else {
        return std::ptr::null_mut();
    };
    // SAFETY: SQLite's own method, with SQLite's arguments.
    let inner = unsafe { create(page_size, extra, purgeable) };
    if inner.is_null() {
        return inner;
    }
    Box::into_raw(Box::new(Cache {
        inner,
        keys: Keys::new(page_size),
    }))
    .cast()
}

unsafe extern "C" fn cachesize(p: *mut ffi::sqlite3_pcache, n: c_int) {
    if let Some(f) = methods().xCachesize {
        // SAFETY: SQLite's own method, on the cache it created.
        unsafe { f(cache(p).inner, n) }
    }
}

unsafe extern "C" fn pagecount(p: *mut ffi::sqlite3_pcache) -> c_int {
    match methods().xPagecount {
        // SAFETY: as above.
        Some(f) => unsafe { f(cache(p).inner) },
        None => 0,
    }
}

unsafe extern "C" fn fetch(
    p: *mut ffi::sqlite3_pcache,
    key: c_uint,
    create: c_int,
) -> *mut ffi::sqlite3_pcache_page {
    // SAFETY: as above.
    let c = unsafe { cache(p) };
    let Some(f) = methods().xFetch else {
        return std::ptr::null_mut();
    };
    // SAFETY: as above.
    let page = unsafe { f(c.inner, key, create) };
    if !page.is_null() {
        c.keys.note(key);
    }
    page
}

unsafe extern "C" fn unpin(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    discard: c_int,
) {
    if let Some(f) = methods().xUnpin {
        // SAFETY: as above.
        unsafe { f(cache(p).inner, page, discard) }
    }
}

unsafe extern "C" fn rekey(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    old: c_uint,
    new: c_uint,
) {
    // SAFETY: as above.
    let c = unsafe { cache(p) };
    if let Some(f) = methods().xRekey {
        // SAFETY: as above.
        unsafe { f(c.inner, page, old, new) }
    }
    c.keys.rekeyed(old, new);
}

unsafe extern "C" fn truncate(p: *mut ffi::sqlite3_pcache, limit: c_uint) {
    // SAFETY: as above.
    let c = unsafe { cache(p) };
    if !c.keys.may_discard(limit) {
        // In debug builds (the tests') the truncation is done all the same, and must have
        // discarded nothing: SQLite's own cache truncates exactly, and counts its pages.
        #[cfg(debug_assertions)]
        if let (Some(count), Some(f)) = (methods().xPagecount, methods().xTruncate) {
            // SAFETY: as above.
            let (before, after) = unsafe {
                let before = count(c.inner);
                f(c.inner, limit);
                (before, count(c.inner))
            };
            debug_assert_eq!(
                before, after,
                "a skipped truncation to {limit} would have discarded pages ({:?})",
                c.keys
            );
        }
        return;
    }
    if let Some(f) = methods().xTruncate {
        // SAFETY: as above.
        unsafe { f(c.inner, limit) }
    }
    c.keys.truncated(limit);
}

unsafe extern "C" fn destroy(p: *mut ffi::sqlite3_pcache) {
    // SAFETY: `p` came from `create` (a boxed `Cache`), and SQLite destroys a cache once.
    let c = unsafe { Box::from_raw(p.cast::<Cache>()) };
    if let Some(f) = methods().xDestroy {
        // SAFETY: SQLite's own method, on the cache it created.
        unsafe { f(c.inner) }
    }
}

unsafe extern "C" fn shrink(p: *mut ffi::sqlite3_pcache) {
    if let Some(f) = methods().xShrink {
        // SAFETY: as above.
        unsafe { f(cache(p).inner) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Page sizes other than 4 KiB put the lock byte on another page; a size SQLite never
    /// gives is taken as its smallest.
    #[test]
    fn the_lock_byte_s_page_follows_the_page_size() {
        assert_eq!(Keys::new(512).lock_page, 2_097_153);
        assert_eq!(Keys::new(65_536).lock_page, 16_385);
        assert_eq!(Keys::new(0).lock_page, 2_097_153);
        assert_eq!(Keys::new(-1).lock_page, 2_097_153);
    }
}
