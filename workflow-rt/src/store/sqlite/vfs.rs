//! A VFS over SQLite's own (`unix`) that writes a commit's frames to the write-ahead log in
//! one system call.
//!
//! SQLite writes each frame of the log as two writes, its 24-byte header and its page: a step
//! that changes four pages makes eight `pwrite` calls before its sync. Each costs about 3 us of
//! the thread's time on the machine the benchmark's figures come from (a Python probe of the
//! same pattern: eight writes and a sync 120 us, the same bytes in one write and a sync 94 us,
//! three runs each), on the path from one step to the next, and on the writer's, for every
//! page of a batch. Here the writes to a log that follow one another in the file are kept in
//! memory and written as one, when anything else is asked of the file: its sync, a read,
//! its size, a truncation, a write elsewhere, its close (or past 128 KiB).
//!
//! That is only right when every frame a connection writes belongs to a commit that syncs
//! the log before other connections can see it: SQLite writes a commit's frames, then (with
//! `synchronous=FULL` or `EXTRA`) syncs the log, then publishes the frames in the
//! shared-memory index, which other connections read the log by. So only the store's writing
//! connection opens its files through this VFS, at `FULL` or `EXTRA` and with
//! `cache_spill=OFF` (no pages go to the log before the commit: kept and then rolled back,
//! they could be written later over another connection's frames). On a device without
//! powersafe overwrite, where SQLite pads a commit to a sector boundary with frames it may
//! write after the sync, nothing is kept. A frame kept in memory when the process dies was
//! never acknowledged, as if its write had not happened: recovery ends the log at the last
//! whole commit, as it does after a torn write.
//!
//! Other files (the database, the shared-memory index) are SQLite's own, opened by SQLite's
//! VFS in place (the VFS's file objects are large enough for either). The VFS's other methods
//! are the `unix` VFS's, which never read the VFS they are given (checked in its source).

use std::ffi::{CStr, c_int, c_void};
use std::sync::OnceLock;

use rusqlite::ffi;

/// The name the VFS is registered under.
pub(super) const NAME: &CStr = c"workflow-rt-wal";

/// The most bytes kept, and written at once: SQLite's `unix` VFS writes at most 128 KiB less
/// one byte per call (it masks a write's length with `0x1ffff`, as its writes are pages).
const MOST: usize = 0x1ffff;

/// A log opened through the VFS: SQLite's file object, what is kept, and SQLite's own file
/// object (the `unix` VFS's) after it, in the same allocation.
#[repr(C)]
struct LogFile {
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
    kept: Vec<u8>,
    /// Where `kept` goes in the file.
    at: i64,
    /// Whether writes are kept at all: not on a device without powersafe overwrite, where
    /// SQLite pads a commit to a sector boundary with frames it may write after the sync.
    keep: bool,
    /// Frames written since the log last started over, and which pages they hold.
    counts: Tally,
}

/// The frames this connection wrote to a log since it last started over, and how many
/// distinct pages they hold, counted up to [`DISTINCT_MOST`].
///
/// A log started over shows in two ways: this connection writes its header again (at its
/// start), or, when another connection started it over, this connection's next frame lies
/// at or before its last one (the place of a frame in the log follows from its offset and
/// the page's size). Either way the counts start anew; so does a commit written again over
/// its own frames after its sync failed, which is then not counted twice.
#[derive(Debug, Default)]
struct Tally {
    frames: u32,
    pages: foldhash::HashSet<u32>,
    /// The place in the log (from 1) of the last frame this connection wrote.
    place: i64,
    /// The offset and page number of the frame header just written, whose page comes next.
    header: Option<(i64, u32)>,
}

/// The most distinct pages [`Tally`] tells apart: a log holding this many is not "hot" (see
/// [`LogCounts::hot`]) whatever its length.
const DISTINCT_MOST: usize = 4096;

/// The size of a log's header, before its first frame.
const LOG_HEADER: i64 = 32;

/// The size of a frame's header, before its page.
const FRAME_HEADER: i64 = 24;

impl Tally {
    /// Counts what a write of `bytes` at `offset` is: the log's header (this connection
    /// started it over), a frame's header (24 bytes, its page number first) or the page that
    /// follows it.
    fn saw(&mut self, bytes: &[u8], offset: i64) {
        let len = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        match (len, offset) {
            (LOG_HEADER, 0) => {
                self.start_over();
            }
            (FRAME_HEADER, LOG_HEADER..) => {
                let page = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                self.header = Some((offset, page));
            }
            _ => {
                let Some((at, page)) = self.header.take() else {
                    return;
                };
                if at + FRAME_HEADER != offset {
                    return;
                }
                let place = (at - LOG_HEADER) / (len + FRAME_HEADER) + 1;
                if place <= self.place {
                    self.start_over();
                }
                self.place = place;
                self.frames = self.frames.saturating_add(1);
                // (Without memory to spare, the page goes uncounted: the log then looks
                // hotter than it is, which costs at most an early checkpoint.)
                if self.pages.len() < DISTINCT_MOST && self.pages.try_reserve(1).is_ok() {
                    self.pages.insert(page);
                }
            }
        }
    }

    /// The log started over: nothing counted.
    fn start_over(&mut self) {
        self.frames = 0;
        self.pages.clear();
        self.place = 0;
        self.header = None;
    }
}

/// What a connection's write-ahead log holds since it last started over (as this connection
/// wrote it: frames other connections wrote are not counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LogCounts {
    /// Frames written.
    pub(super) frames: u32,
    /// Distinct pages among them (at most [`DISTINCT_MOST`]).
    pub(super) distinct: u32,
}

impl LogCounts {
    /// Whether the log is worth starting over before SQLite's own checkpoint would: at least
    /// `frames` frames that hold each of their pages `again` times on average.
    ///
    /// SQLite finds a page's frames in the log through a hash table per 4 096 frames, with
    /// open addressing: the frames of one page sit side by side from where its number hashes
    /// to, and a frame added for a page (or a read looking for it) walks past all of its
    /// earlier ones. A log rewriting the same few pages (one workflow stepping: its row, its
    /// task, the task index, the history's last page) walks a thousand entries a frame by the
    /// end of a table: a quarter of the instructions of such a step (callgrind, 2 000 steps
    /// of one workflow). A checkpoint then copies few pages into the database.
    pub(super) fn hot(self, frames: u32, again: u32) -> bool {
        usize::try_from(self.distinct).is_ok_and(|d| d < DISTINCT_MOST)
            && self.frames >= frames
            && u64::from(self.distinct) * u64::from(again) <= u64::from(self.frames)
    }
}

/// The counts of the log `conn` writes through this VFS (`None` if it has none, or another
/// VFS's).
pub(super) fn log_counts(conn: &rusqlite::Connection) -> Option<LogCounts> {
    // SAFETY: the connection's handle is valid while it is borrowed, and no other thread uses
    // it meanwhile (`&Connection` is not `Sync`); SQLite hands back its log's file object,
    // which is a `LogFile` when its methods are this VFS's (see `open`), read between SQLite's
    // calls on it.
    unsafe {
        let file = pointer::<ffi::sqlite3_file>(conn, ffi::SQLITE_FCNTL_JOURNAL_POINTER)?;
        if !std::ptr::eq((*file).pMethods, &METHODS) {
            return None;
        }
        let log = &*file.cast::<LogFile>();
        Some(LogCounts {
            frames: log.counts.frames,
            distinct: u32::try_from(log.counts.pages.len()).unwrap_or(u32::MAX),
        })
    }
}

/// The object `conn`'s main database names for `op`, a `file_control` that hands back a
/// pointer (`None` if it fails or hands back none).
///
/// # Safety
/// `op` hands back a pointer to a `T`.
unsafe fn pointer<T>(conn: &rusqlite::Connection, op: c_int) -> Option<*mut T> {
    let mut out: *mut T = std::ptr::null_mut();
    // SAFETY: the connection's handle is valid while it is borrowed; SQLite writes one
    // pointer through the argument, as `op` says.
    let rc = unsafe {
        ffi::sqlite3_file_control(conn.handle(), c"main".as_ptr(), op, (&raw mut out).cast())
    };
    (rc == ffi::SQLITE_OK && !out.is_null()).then_some(out)
}

/// Where SQLite's own file object starts in the allocation: past a [`LogFile`], aligned to 8.
const REAL_AT: usize = std::mem::size_of::<LogFile>().next_multiple_of(8);

// SQLite's file objects are 8-aligned (its allocations, and `szOsFile` in the structures it
// embeds them in), which is as much as a `LogFile` and the root's file object at `REAL_AT` need.
const _: () = assert!(std::mem::align_of::<LogFile>() <= 8);

/// Whether the VFS can go over `root`, SQLite's default VFS: only over `unix` itself, whose
/// other methods never read the VFS they are given and whose writes take up to [`MOST`]
/// bytes, as this VFS assumes (checked in its source). Over another default (a VFS that
/// wraps `unix` to checksum or encrypt pages, say) the writer opens its files as the other
/// connections do, through that VFS, and its writes go one by one.
///
/// # Safety
/// `root` is null or a registered VFS.
unsafe fn can_wrap(root: *const ffi::sqlite3_vfs) -> bool {
    // SAFETY: a registered VFS's name is a C string that lives as long as it does.
    unsafe {
        !root.is_null()
            && (*root).xOpen.is_some()
            && !(*root).zName.is_null()
            && CStr::from_ptr((*root).zName) == c"unix"
    }
}

/// The VFS, registered on first use (`None` if SQLite has no default VFS or refused it).
pub(super) fn registered() -> Option<&'static CStr> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let done = *DONE.get_or_init(|| {
        // SAFETY: `sqlite3_vfs_find` returns SQLite's default VFS, which lives as long as the
        // process; the copy made of it is leaked, so it too lives as long as the process, as
        // `sqlite3_vfs_register` requires.
        unsafe {
            if ffi::sqlite3_initialize() != ffi::SQLITE_OK {
                return false;
            }
            let root = ffi::sqlite3_vfs_find(std::ptr::null());
            if !can_wrap(root) {
                return false;
            }
            let Ok(root_size) = usize::try_from((*root).szOsFile) else {
                return false;
            };
            let Ok(size) = c_int::try_from(REAL_AT + root_size) else {
                return false;
            };
            let mut vfs = *root;
            vfs.szOsFile = size;
            vfs.pNext = std::ptr::null_mut();
            vfs.zName = NAME.as_ptr();
            vfs.pAppData = root.cast();
            vfs.xOpen = Some(open);
            ffi::sqlite3_vfs_register(Box::into_raw(Box::new(vfs)), 0) == ffi::SQLITE_OK
        }
    });
    done.then_some(NAME)
}

/// The `unix` VFS this one is over.
///
/// # Safety
/// `vfs` is this VFS.
unsafe fn root(vfs: *mut ffi::sqlite3_vfs) -> *mut ffi::sqlite3_vfs {
    // SAFETY: `registered` set `pAppData` to the root VFS.
    unsafe { (*vfs).pAppData.cast() }
}

unsafe extern "C" fn open(
    vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: SQLite gives a file object of `szOsFile` bytes, which holds a `LogFile` and the
    // root's file object after it, or the root's file object alone; the root's `xOpen` is
    // called as SQLite would call it.
    unsafe {
        let root = root(vfs);
        let Some(root_open) = (*root).xOpen else {
            return ffi::SQLITE_ERROR;
        };
        if flags & ffi::SQLITE_OPEN_WAL == 0 {
            return root_open(root, name, file, flags, out_flags);
        }
        let real = file.cast::<u8>().add(REAL_AT).cast::<ffi::sqlite3_file>();
        (*file).pMethods = std::ptr::null();
        let rc = root_open(root, name, real, flags, out_flags);
        if rc != ffi::SQLITE_OK || (*real).pMethods.is_null() {
            return rc;
        }
        // SQLite pads by what the database file says (its `psow` parameter), not the log.
        let db = ffi::sqlite3_database_file_object(name);
        let keep = !db.is_null()
            && !(*db).pMethods.is_null()
            && (*(*db).pMethods)
                .xDeviceCharacteristics
                .is_some_and(|f| f(db) & ffi::SQLITE_IOCAP_POWERSAFE_OVERWRITE != 0);
        std::ptr::write(
            file.cast::<LogFile>(),
            LogFile {
                base: ffi::sqlite3_file { pMethods: &METHODS },
                real,
                kept: Vec::new(),
                at: 0,
                keep,
                counts: Tally::default(),
            },
        );
        rc
    }
}

/// The log's `LogFile` and SQLite's own file object and methods.
///
/// # Safety
/// `file` was opened by [`open`] as a log.
unsafe fn parts<'a>(
    file: *mut ffi::sqlite3_file,
) -> (
    &'a mut LogFile,
    *mut ffi::sqlite3_file,
    &'a ffi::sqlite3_io_methods,
) {
    // SAFETY: a log's file object is a `LogFile` (see `open`), whose `real` the root VFS
    // opened.
    unsafe {
        let log = &mut *file.cast::<LogFile>();
        let real = log.real;
        (log, real, &*(*real).pMethods)
    }
}

/// Writes what is kept, in one write.
///
/// # Safety
/// As [`parts`].
unsafe fn write_kept(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: see `parts`; `kept` is at most `MOST` bytes, which fits a `c_int`.
    unsafe {
        let (log, real, methods) = parts(file);
        if log.kept.is_empty() {
            return ffi::SQLITE_OK;
        }
        let Some(write) = methods.xWrite else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        let len = c_int::try_from(log.kept.len()).unwrap_or(c_int::MAX);
        #[cfg(test)]
        tests::count(|c| c.written += 1);
        let rc = write(real, log.kept.as_ptr().cast(), len, log.at);
        log.kept.clear();
        rc
    }
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: see `parts`; after the root's `xClose` the `LogFile` is dropped in place (SQLite
    // frees the memory) and never used again.
    unsafe {
        let written = write_kept(file);
        let (_, real, methods) = parts(file);
        let closed = methods.xClose.map_or(ffi::SQLITE_OK, |close| close(real));
        std::ptr::drop_in_place(file.cast::<LogFile>());
        if written != ffi::SQLITE_OK {
            written
        } else {
            closed
        }
    }
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: see `parts`; SQLite gives `amount` readable bytes at `buf`.
    unsafe {
        let Ok(len) = usize::try_from(amount) else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        #[cfg(test)]
        tests::count(|c| c.asked += 1);
        let follows = {
            let (log, _, _) = parts(file);
            log.kept.is_empty()
                || (i64::try_from(log.kept.len()).is_ok_and(|n| log.at + n == offset)
                    && log.kept.len() + len <= MOST)
        };
        if !follows {
            let rc = write_kept(file);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
        }
        let (log, _, _) = parts(file);
        log.counts
            .saw(std::slice::from_raw_parts(buf.cast::<u8>(), len), offset);
        // Without memory to keep it in, written as it comes (after what is kept, which
        // `follows` it).
        let room = log.keep && len <= MOST && log.kept.try_reserve(len).is_ok();
        if !room {
            let rc = write_kept(file);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
        }
        let (log, real, methods) = parts(file);
        if !room {
            // Not kept, larger than a write may be (never for SQLite's frames: a page is at
            // most 64 KiB), or no memory to keep it in: written as it comes.
            #[cfg(test)]
            tests::count(|c| c.written += 1);
            return match methods.xWrite {
                Some(write) => write(real, buf, amount, offset),
                None => ffi::SQLITE_IOERR_WRITE,
            };
        }
        if log.kept.is_empty() {
            log.at = offset;
        }
        log.kept
            .extend_from_slice(std::slice::from_raw_parts(buf.cast::<u8>(), len));
        ffi::SQLITE_OK
    }
}

/// Methods that write what is kept first, then call SQLite's own.
macro_rules! after_kept {
    ($name:ident, $field:ident, ($($arg:ident: $ty:ty),*)) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            // SAFETY: see `parts`; the arguments are SQLite's, passed on.
            unsafe {
                let rc = write_kept(file);
                if rc != ffi::SQLITE_OK {
                    return rc;
                }
                let (_, real, methods) = parts(file);
                match methods.$field {
                    Some(f) => f(real $(, $arg)*),
                    None => ffi::SQLITE_IOERR,
                }
            }
        }
    };
}

after_kept!(read, xRead, (buf: *mut c_void, amount: c_int, offset: i64));
after_kept!(truncate, xTruncate, (size: i64));
after_kept!(sync, xSync, (flags: c_int));
after_kept!(file_size, xFileSize, (size: *mut i64));
after_kept!(file_control, xFileControl, (op: c_int, arg: *mut c_void));

/// Methods that only call SQLite's own (a log is never locked, nor mapped as shared memory).
macro_rules! passed_on {
    ($name:ident, $field:ident, ($($arg:ident: $ty:ty),*) -> $ret:ty, $none:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> $ret {
            // SAFETY: see `parts`; the arguments are SQLite's, passed on.
            unsafe {
                let (_, real, methods) = parts(file);
                match methods.$field {
                    Some(f) => f(real $(, $arg)*),
                    None => $none,
                }
            }
        }
    };
}

passed_on!(lock, xLock, (level: c_int) -> c_int, ffi::SQLITE_OK);
passed_on!(unlock, xUnlock, (level: c_int) -> c_int, ffi::SQLITE_OK);
passed_on!(check_reserved, xCheckReservedLock, (out: *mut c_int) -> c_int, ffi::SQLITE_OK);
passed_on!(sector_size, xSectorSize, () -> c_int, 4096);
passed_on!(device_characteristics, xDeviceCharacteristics, () -> c_int, 0);
passed_on!(shm_map, xShmMap, (page: c_int, size: c_int, extend: c_int, out: *mut *mut c_void) -> c_int, ffi::SQLITE_IOERR);
passed_on!(shm_lock, xShmLock, (offset: c_int, n: c_int, flags: c_int) -> c_int, ffi::SQLITE_IOERR);
passed_on!(shm_unmap, xShmUnmap, (delete: c_int) -> c_int, ffi::SQLITE_OK);

unsafe extern "C" fn shm_barrier(file: *mut ffi::sqlite3_file) {
    // SAFETY: see `parts`.
    unsafe {
        let (_, real, methods) = parts(file);
        if let Some(f) = methods.xShmBarrier {
            f(real);
        }
    }
}

/// Version 2: no memory-mapped reads of a log (SQLite reads a log with `xRead` anyway).
static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 2,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: None,
    xUnfetch: None,
};

/// The bytes kept, not yet written, of the log `conn` writes through this VFS (`None` if it
/// has none, or another VFS's). Between transactions there are none: a commit's sync writes
/// them.
#[cfg(debug_assertions)]
pub(super) fn kept_len(conn: &rusqlite::Connection) -> Option<usize> {
    // SAFETY: as in `log_counts`.
    unsafe {
        let file = pointer::<ffi::sqlite3_file>(conn, ffi::SQLITE_FCNTL_JOURNAL_POINTER)?;
        if !std::ptr::eq((*file).pMethods, &METHODS) {
            return None;
        }
        Some((*file.cast::<LogFile>()).kept.len())
    }
}

/// The name of the VFS connection `c` opened its main database through (for tests).
#[cfg(test)]
pub(super) fn name_of(c: &rusqlite::Connection) -> Option<String> {
    // SAFETY: the connection's handle is valid while it is borrowed; `zName` is a C string of
    // the VFS, which lives as long as the process.
    unsafe {
        pointer::<ffi::sqlite3_vfs>(c, ffi::SQLITE_FCNTL_VFS_POINTER)
            .map(|vfs| CStr::from_ptr((*vfs).zName).to_string_lossy().into_owned())
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::path::Path;

    use rusqlite::Connection;

    use super::*;

    /// Writes to logs asked by SQLite and made to the file, on this thread.
    #[derive(Clone, Copy, Default, Debug, PartialEq)]
    pub(super) struct Counts {
        pub asked: usize,
        pub written: usize,
    }

    thread_local! {
        static COUNTS: Cell<Counts> = Cell::new(Counts::default());
    }

    pub(super) fn count(f: impl FnOnce(&mut Counts)) {
        COUNTS.with(|c| {
            let mut n = c.get();
            f(&mut n);
            c.set(n);
        });
    }

    /// The counts of what `f` did on this thread.
    fn counted(f: impl FnOnce()) -> Counts {
        COUNTS.with(|c| c.set(Counts::default()));
        f();
        COUNTS.with(Cell::get)
    }

    fn open(path: &str, spill: bool) -> Connection {
        let c = Connection::open_with_flags_and_vfs(
            path,
            rusqlite::OpenFlags::default(),
            registered().expect("the VFS"),
        )
        .expect("open");
        c.execute_batch(&format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_spill={spill};
             CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v BLOB);"
        ))
        .expect("set up");
        c
    }

    fn sum(c: &Connection) -> (i64, i64) {
        c.query_row(
            "SELECT COUNT(*), COALESCE(SUM(length(v)), 0) FROM t",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("sum")
    }

    fn file(dir: &Path, name: &str) -> String {
        dir.join(name).to_str().expect("utf-8").to_string()
    }

    /// A commit of several pages asks for two writes a frame and makes one; what it wrote is
    /// read by another connection, and by this one after a reopen.
    #[test]
    fn a_commits_frames_reach_the_log_in_one_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = file(dir.path(), "one.db");
        let c = open(&path, false);
        let n = counted(|| {
            c.execute("INSERT INTO t (v) VALUES (?1)", [vec![7u8; 20_000]])
                .expect("insert");
        });
        assert!(n.asked >= 10, "five pages or more, two writes each: {n:?}");
        assert_eq!(n.written, 1, "{n:?}");
        let other = Connection::open(&path).expect("open");
        assert_eq!(sum(&other), (1, 20_000));
        // Commits larger than one write may be are written in pieces of at most 128 KiB.
        let n = counted(|| {
            c.execute("INSERT INTO t (v) VALUES (?1)", [vec![8u8; 400_000]])
                .expect("insert");
        });
        assert!((4..n.asked / 8).contains(&n.written), "{n:?}");
        assert_eq!(sum(&other), (2, 420_000));
        drop((c, other));
        assert_eq!(sum(&open(&path, false)), (2, 420_000));
    }

    /// With `cache_spill=OFF` (as the store's writer has it), a transaction rolled back wrote
    /// nothing to the log, so nothing of it is kept to be written later over the frames of
    /// a commit of another connection. With spills (a small cache), it would write.
    #[test]
    fn a_transaction_rolled_back_leaves_nothing_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = file(dir.path(), "back.db");
        for spill in [false, true] {
            let c = open(&path, spill);
            c.execute_batch("PRAGMA cache_size=16;").expect("cache");
            let n = counted(|| {
                c.execute_batch("BEGIN").expect("begin");
                for _ in 0..50 {
                    c.execute("INSERT INTO t (v) VALUES (?1)", [vec![9u8; 4000]])
                        .expect("insert");
                }
                c.execute_batch("ROLLBACK").expect("rollback");
            });
            if spill {
                assert!(n.asked > 0, "a small cache spills: {n:?}");
            } else {
                assert_eq!(n, Counts::default());
            }
            let other = Connection::open(&path).expect("open");
            other
                .execute("INSERT INTO t (v) VALUES (?1)", [vec![1u8; 10]])
                .expect("insert");
            c.execute("INSERT INTO t (v) VALUES (?1)", [vec![2u8; 10]])
                .expect("insert");
            drop(c);
            let rows = if spill { 4 } else { 2 };
            assert_eq!(sum(&other), (rows, 10 * rows));
            assert_eq!(
                other
                    .query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
                    .expect("check"),
                "ok"
            );
        }
    }

    /// On a file without powersafe overwrite (`psow=0`), where SQLite pads a commit to a
    /// sector boundary, writes go through as they come.
    #[test]
    fn without_powersafe_overwrite_writes_go_through() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = format!("file:{}?psow=0", file(dir.path(), "psow.db"));
        let c = Connection::open_with_flags_and_vfs(
            &path,
            rusqlite::OpenFlags::default() | rusqlite::OpenFlags::SQLITE_OPEN_URI,
            registered().expect("the VFS"),
        )
        .expect("open");
        c.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB);",
        )
        .expect("set up");
        let n = counted(|| {
            c.execute("INSERT INTO t (v) VALUES (?1)", [vec![7u8; 20_000]])
                .expect("insert");
        });
        assert!(n.asked >= 10, "{n:?}");
        assert_eq!(n.written, n.asked, "{n:?}");
        assert_eq!(sum(&c), (1, 20_000));
    }

    /// Frame `place` (from 1) of page `page` in a log of 4 KiB pages, as SQLite writes it:
    /// its header, then its page.
    fn frame(t: &mut Tally, place: i64, page: u32) {
        let at = LOG_HEADER + (place - 1) * (4096 + FRAME_HEADER);
        let mut header = [0u8; 24];
        header[..4].copy_from_slice(&page.to_be_bytes());
        t.saw(&header, at);
        t.saw(&[0u8; 4096], at + FRAME_HEADER);
    }

    fn counts(t: &Tally) -> (u32, usize) {
        (t.frames, t.pages.len())
    }

    /// Frames and their distinct pages are counted from the log's header on; a header
    /// written again starts them over.
    #[test]
    fn a_tally_counts_frames_and_pages_since_the_log_started_over() {
        let mut t = Tally::default();
        t.saw(&[0u8; 32], 0);
        for place in 1..=100 {
            frame(&mut t, place, (place % 4) as u32 + 1);
        }
        assert_eq!(counts(&t), (100, 4));
        t.saw(&[0u8; 32], 0);
        assert_eq!(counts(&t), (0, 0));
        frame(&mut t, 1, 9);
        assert_eq!(counts(&t), (1, 1));
    }

    /// Another connection started the log over (and wrote its header, which this one does
    /// not see): this connection's next frame lies before its last, and the counts start
    /// over there, where before they went on growing for as long as the other connection
    /// was the one to start the log over.
    #[test]
    fn a_tally_starts_over_when_another_connection_started_the_log_over() {
        let mut t = Tally::default();
        t.saw(&[0u8; 32], 0);
        for place in 1..=2_000 {
            frame(&mut t, place, 7);
        }
        assert_eq!(counts(&t), (2_000, 1));
        // The other connection wrote frames 1 to 4 of the new log.
        frame(&mut t, 5, 8);
        frame(&mut t, 6, 9);
        assert_eq!(counts(&t), (2, 2));
    }

    /// A commit whose sync failed is written again over its own frames: counted once.
    #[test]
    fn a_tally_counts_a_commit_written_again_once() {
        let mut t = Tally::default();
        t.saw(&[0u8; 32], 0);
        for place in 1..=3 {
            frame(&mut t, place, 1);
        }
        // Frames 4 and 5, whose sync fails, then again.
        frame(&mut t, 4, 2);
        frame(&mut t, 5, 3);
        frame(&mut t, 4, 2);
        frame(&mut t, 5, 3);
        let (frames, pages) = counts(&t);
        assert!(frames <= 5 && pages <= 3, "{frames} frames, {pages} pages");
    }

    /// A log holding as many distinct pages as are told apart is never hot, however long.
    #[test]
    fn a_log_of_as_many_pages_as_are_counted_is_not_hot() {
        let most = u32::try_from(DISTINCT_MOST).expect("fits");
        let at = |distinct| LogCounts {
            frames: 1_000_000,
            distinct,
        };
        assert!(at(most - 1).hot(1024, 64));
        assert!(!at(most).hot(1024, 64));
        let mut t = Tally::default();
        t.saw(&[0u8; 32], 0);
        for place in 1..=i64::from(most) + 10 {
            frame(&mut t, place, u32::try_from(place).expect("fits"));
        }
        assert_eq!(t.pages.len(), DISTINCT_MOST);
    }

    /// The VFS goes over SQLite's `unix` VFS only: not over another (here `unix-dotfile`,
    /// one of SQLite's own; a VFS that wraps `unix` to checksum or encrypt its pages is
    /// another too), nor over none.
    #[test]
    fn the_vfs_goes_over_unix_only() {
        // SAFETY: `sqlite3_vfs_find` returns a registered VFS or null.
        unsafe {
            assert_eq!(ffi::sqlite3_initialize(), ffi::SQLITE_OK);
            assert!(can_wrap(ffi::sqlite3_vfs_find(c"unix".as_ptr())));
            let dotfile = ffi::sqlite3_vfs_find(c"unix-dotfile".as_ptr());
            assert!(!dotfile.is_null(), "SQLite registers unix-dotfile on Unix");
            assert!(!can_wrap(dotfile));
            assert!(!can_wrap(std::ptr::null()));
        }
    }
}
