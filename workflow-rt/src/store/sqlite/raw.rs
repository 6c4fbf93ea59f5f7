//! The writer's own prepared statements, for the statements every step runs.
//!
//! `rusqlite` looks a cached statement up by its text at each use (a hash of the SQL and an
//! LRU move, and the same again to put it back), and copies every text and blob it binds
//! (`SQLITE_TRANSIENT`: a `malloc`, a copy and a `free` per value). On the thread every write
//! goes through, a step's commit binds the workflow's id five to eight times, its snapshot and
//! its task's input and options: together about a seventh of the writer's time in the
//! concurrent benchmark. The statements here are prepared once, when the writer starts, and
//! bind their values in place (`SQLITE_STATIC`), which SQLite allows as long as the values
//! outlive the statement's use: [`Held`] binds, runs to the end, resets and clears the
//! bindings within one call, so nothing it bound is read after the call returns.
//!
//! This is the one place in the crate with `unsafe` code; each block says what it relies on.

use std::ffi::{CStr, c_int};
use std::ptr::NonNull;

use rusqlite::{Connection, ffi};

use super::Db;
use crate::store::StoreError;

/// A value to bind.
#[derive(Debug, Clone, Copy)]
pub(super) enum Arg<'a> {
    /// An integer.
    Int(i64),
    /// A text value.
    Text(&'a str),
    /// A blob.
    Blob(&'a [u8]),
    /// SQL `NULL`.
    Null,
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(s: &'a str) -> Self {
        Arg::Text(s)
    }
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(b: &'a [u8]) -> Self {
        Arg::Blob(b)
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        v.map_or(Arg::Null, Arg::Text)
    }
}

impl<'a> From<Option<&'a [u8]>> for Arg<'a> {
    fn from(v: Option<&'a [u8]>) -> Self {
        v.map_or(Arg::Null, Arg::Blob)
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Arg::Null, Arg::Int)
    }
}

impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Int(i64::from(v))
    }
}

/// A statement prepared on the writer's connection, kept for the connection's life.
///
/// Not `Send` (it holds raw pointers): it lives on the writer's thread, beside the
/// [`Connection`] it was prepared on, and must be dropped before it ([`Statements`] is a field
/// declared before the connection in the writer's state).
pub(super) struct Held {
    stmt: NonNull<ffi::sqlite3_stmt>,
    db: NonNull<ffi::sqlite3>,
}

impl Held {
    /// Prepares `sql` (one statement) on `conn`.
    pub(super) fn prepare(conn: &Connection, sql: &str) -> Result<Held, StoreError> {
        // SAFETY: the handle is the connection's own, valid while `conn` is; it is used on
        // this thread only.
        let db = unsafe { conn.handle() };
        let db = NonNull::new(db).ok_or_else(|| StoreError::backend("the connection is closed"))?;
        let len = c_int::try_from(sql.len())
            .map_err(|_| StoreError::backend("a statement's text is too long"))?;
        let mut stmt = std::ptr::null_mut();
        // SAFETY: `sql` is valid for `len` bytes (it need not end with a NUL when its length
        // is given); `stmt` receives the statement or stays null.
        let code = unsafe {
            ffi::sqlite3_prepare_v3(
                db.as_ptr(),
                sql.as_ptr().cast(),
                len,
                ffi::SQLITE_PREPARE_PERSISTENT,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        if code != ffi::SQLITE_OK {
            return Err(error(db, code)).db();
        }
        let stmt = NonNull::new(stmt)
            .ok_or_else(|| StoreError::backend(format!("no statement in {sql}")))?;
        Ok(Held { stmt, db })
    }

    /// Binds `args` to `?1`, `?2`, ..., runs the statement to its end, and returns how many
    /// rows it changed.
    pub(super) fn execute(&self, args: &[Arg<'_>]) -> Result<usize, StoreError> {
        self.run(args, |_| ())?;
        // SAFETY: the connection is open (the statement holds it).
        let n = unsafe { ffi::sqlite3_changes64(self.db.as_ptr()) };
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Binds `args`, runs the statement, and returns the first column of its first row as an
    /// integer (`None` if it returns no row, or `NULL`).
    pub(super) fn query_i64(&self, args: &[Arg<'_>]) -> Result<Option<i64>, StoreError> {
        let mut first = None;
        self.run(args, |stmt| {
            if first.is_none() {
                // SAFETY: the statement has a row (called from `run` on `SQLITE_ROW`) and at
                // least one column (the statements asked this of all select one).
                first = Some(unsafe {
                    (ffi::sqlite3_column_type(stmt, 0) != ffi::SQLITE_NULL)
                        .then(|| ffi::sqlite3_column_int64(stmt, 0))
                });
            }
        })?;
        Ok(first.flatten())
    }

    /// Binds `args`, steps through every row (`row` sees each), then resets the statement and
    /// clears its bindings, whatever happened: nothing bound stays referenced after this
    /// returns.
    fn run(
        &self,
        args: &[Arg<'_>],
        mut row: impl FnMut(*mut ffi::sqlite3_stmt),
    ) -> Result<(), StoreError> {
        let stmt = self.stmt.as_ptr();
        let outcome = self.bind(args).and_then(|()| {
            loop {
                // SAFETY: a valid statement, its parameters bound to values that live until the
                // reset below.
                match unsafe { ffi::sqlite3_step(stmt) } {
                    ffi::SQLITE_ROW => row(stmt),
                    ffi::SQLITE_DONE => break Ok(()),
                    code => break Err(error(self.db, code)).db(),
                }
            }
        });
        // SAFETY: a valid statement. After these two calls it holds no pointer to `args`.
        unsafe {
            ffi::sqlite3_reset(stmt);
            ffi::sqlite3_clear_bindings(stmt);
        }
        outcome
    }

    fn bind(&self, args: &[Arg<'_>]) -> Result<(), StoreError> {
        let stmt = self.stmt.as_ptr();
        for (i, arg) in args.iter().enumerate() {
            let at = c_int::try_from(i + 1).unwrap_or(c_int::MAX);
            // SAFETY: a valid statement; texts and blobs are bound as `SQLITE_STATIC`, which
            // holds because `run` resets and clears the statement before the borrowed values
            // can go away. A length that does not fit a C int is refused before the call.
            let code = unsafe {
                match *arg {
                    Arg::Int(v) => ffi::sqlite3_bind_int64(stmt, at, v),
                    Arg::Null => ffi::sqlite3_bind_null(stmt, at),
                    Arg::Text(s) => ffi::sqlite3_bind_text(
                        stmt,
                        at,
                        s.as_ptr().cast(),
                        length(s.len())?,
                        ffi::SQLITE_STATIC(),
                    ),
                    Arg::Blob(b) => ffi::sqlite3_bind_blob(
                        stmt,
                        at,
                        b.as_ptr().cast(),
                        length(b.len())?,
                        ffi::SQLITE_STATIC(),
                    ),
                }
            };
            if code != ffi::SQLITE_OK {
                return Err(error(self.db, code)).db();
            }
        }
        Ok(())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // SAFETY: the statement is valid and finalized once; the connection is still open
        // (see the type's docs).
        unsafe {
            ffi::sqlite3_finalize(self.stmt.as_ptr());
        }
    }
}

/// A value's length as SQLite takes it.
fn length(n: usize) -> Result<c_int, StoreError> {
    c_int::try_from(n)
        .map_err(|_| StoreError::backend(format!("a value of {n} bytes is too big for SQLite")))
}

/// The error SQLite reported for `code`, with its message.
fn error(db: NonNull<ffi::sqlite3>, code: c_int) -> rusqlite::Error {
    // SAFETY: an open connection; `sqlite3_errmsg` returns a NUL-terminated string it owns,
    // copied here at once.
    let message = unsafe {
        let m = ffi::sqlite3_errmsg(db.as_ptr());
        (!m.is_null()).then(|| CStr::from_ptr(m).to_string_lossy().into_owned())
    };
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), message)
}

/// The statements a step's commit runs, prepared once per writer connection.
pub(super) struct Statements {
    /// `BEGIN IMMEDIATE`.
    pub begin: Held,
    /// `COMMIT`.
    pub commit: Held,
    /// The integer key of run `?1` (its id).
    pub run_key: Held,
    /// The fence on a result taken from a worker: `?1` run key, `?2` seq, `?3` attempt,
    /// `?4` owner, `?5` scheduled version.
    pub task_held: Held,
    /// The compare-and-set of a step that suspends.
    pub suspend: Held,
    /// The compare-and-set of a step that suspends, fenced on the one call whose result it
    /// took straight from a worker: `?10` seq, `?11` attempt, `?12` owner.
    pub suspend_fenced: Held,
    /// The compare-and-set of a step that finishes.
    pub finish: Held,
    /// `?1` event id, `?2` run key.
    pub delete_event: Held,
    /// `?1` run key, `?2` seq.
    pub delete_task: Held,
    /// `?1` run key, `?2` seq.
    pub delete_timer: Held,
    /// The 13 columns of a task.
    pub insert_task: Held,
    /// The row of task `?14` of run key `?1` made another task's: `?2` to `?13` its key's
    /// seq and other columns, as `insert_task` numbers them.
    pub replace_task: Held,
    /// `?1` run key, `?2` seq, `?3` fire time.
    pub insert_timer: Held,
    /// `?1` workflow, `?2` at, `?3` kind, `?4` detail.
    pub insert_history: Held,
    /// A finished run's tasks, timers and events: `?1` run key.
    pub drop_tasks: Held,
    /// See `drop_tasks`.
    pub drop_timers: Held,
    /// See `drop_tasks`.
    pub drop_events: Held,
    /// Whether a run's inbox holds a signal (sent, never received: recorded when the run
    /// ends): `?1` run key.
    pub any_signal: Held,
}

/// The compare-and-set of a step that suspends (`?1` run key, `?2` expected version, `?3`
/// snapshot, `?4` pending, `?5` now, `?6` history entries, `?7` last event seen, `?8` keep
/// ready, `?9` the run's id); [`Statements::suspend_fenced`] adds a condition to it.
const SUSPEND: &str = "UPDATE workflows SET snapshot = ?3, pending = ?4, version = version + 1, \
     updated_at = ?5, history_len = history_len + ?6, \
     ready = ?8 OR EXISTS (SELECT 1 FROM events WHERE rid = ?1 AND id > ?7) \
     WHERE rid = ?1 AND version = ?2 AND id = ?9";

impl Statements {
    /// Prepares them on the writer's connection (the schema must exist).
    pub(super) fn prepare(conn: &Connection) -> Result<Statements, StoreError> {
        let p = |sql: &str| Held::prepare(conn, sql);
        Ok(Statements {
            begin: p("BEGIN IMMEDIATE")?,
            commit: p("COMMIT")?,
            run_key: p("SELECT rid FROM workflows WHERE id = ?1")?,
            task_held: p(
                "SELECT 1 FROM tasks WHERE rid = ?1 AND seq = ?2 AND attempt = ?3 AND lease_owner = ?4 \
                 AND scheduled_version = ?5",
            )?,
            suspend: p(SUSPEND)?,
            suspend_fenced: p(&format!("{SUSPEND} AND EXISTS ({})", super::TASK_HELD_AT))?,
            finish: p(
                "UPDATE workflows SET status = ?3, snapshot = ?4, output = ?5, pending = NULL, \
                 version = version + 1, updated_at = ?6, history_len = history_len + ?7, ready = 0 \
                 WHERE rid = ?1 AND version = ?2 AND id = ?8",
            )?,
            delete_event: p("DELETE FROM events WHERE id = ?1 AND rid = ?2")?,
            delete_task: p("DELETE FROM tasks WHERE rid = ?1 AND seq = ?2")?,
            delete_timer: p("DELETE FROM timers WHERE rid = ?1 AND seq = ?2")?,
            insert_task: p(super::INSERT_TASK)?,
            replace_task: p(super::REPLACE_TASK)?,
            insert_timer: p(
                "INSERT OR REPLACE INTO timers (rid, seq, fire_at) VALUES (?1, ?2, ?3)",
            )?,
            insert_history: p(super::INSERT_HISTORY)?,
            drop_tasks: p("DELETE FROM tasks WHERE rid = ?1")?,
            drop_timers: p("DELETE FROM timers WHERE rid = ?1")?,
            drop_events: p("DELETE FROM events WHERE rid = ?1")?,
            any_signal: p(&format!(
                "SELECT 1 FROM events WHERE rid = ?1 AND kind = {} LIMIT 1",
                crate::store::rows::EVENT_SIGNAL
            ))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Connection {
        let c = Connection::open_in_memory().expect("open");
        c.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB, n INTEGER NOT NULL)")
            .expect("create");
        c
    }

    #[test]
    fn binds_in_place_and_counts_the_rows_it_changed() {
        let c = table();
        let insert =
            Held::prepare(&c, "INSERT INTO t (k, v, n) VALUES (?1, ?2, ?3)").expect("prepare");
        for i in 0..3i64 {
            // Values that go away right after the call: the statement must not keep them.
            let key = format!("key-{i}");
            let value = vec![u8::try_from(i).expect("small"); 3];
            let n = insert
                .execute(&[key.as_str().into(), value.as_slice().into(), i.into()])
                .expect("insert");
            assert_eq!(n, 1);
        }
        let update = Held::prepare(&c, "UPDATE t SET n = n + 10 WHERE n >= ?1").expect("prepare");
        assert_eq!(update.execute(&[1i64.into()]).expect("update"), 2);
        let rows: Vec<(String, Option<Vec<u8>>, i64)> = c
            .prepare("SELECT k, v, n FROM t ORDER BY k")
            .expect("select")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("read");
        assert_eq!(
            rows,
            vec![
                ("key-0".into(), Some(vec![0; 3]), 0),
                ("key-1".into(), Some(vec![1; 3]), 11),
                ("key-2".into(), Some(vec![2; 3]), 12),
            ]
        );
    }

    #[test]
    fn reads_the_first_column_of_the_first_row_or_none() {
        let c = table();
        c.execute_batch("INSERT INTO t VALUES ('a', NULL, 7), ('b', x'', 9)")
            .expect("rows");
        let q = Held::prepare(&c, "SELECT n FROM t WHERE k >= ?1 ORDER BY k").expect("prepare");
        assert_eq!(q.query_i64(&["a".into()]).expect("a"), Some(7));
        assert_eq!(q.query_i64(&["b".into()]).expect("b"), Some(9));
        assert_eq!(q.query_i64(&["c".into()]).expect("c"), None);
        let v = Held::prepare(&c, "SELECT v FROM t WHERE k = ?1").expect("prepare");
        assert_eq!(
            v.query_i64(&["a".into()]).expect("null"),
            None,
            "NULL reads as none"
        );
        let none: Option<&str> = None;
        assert_eq!(
            q.query_i64(&[none.into()]).expect("null key"),
            None,
            "a NULL parameter matches nothing"
        );
    }

    #[test]
    fn an_error_is_typed_and_leaves_the_statement_usable() {
        let c = table();
        let insert =
            Held::prepare(&c, "INSERT INTO t (k, v, n) VALUES (?1, ?2, ?3)").expect("prepare");
        insert
            .execute(&["a".into(), Arg::Null, 1i64.into()])
            .expect("first");
        let e = insert
            .execute(&["a".into(), Arg::Null, 2i64.into()])
            .expect_err("a duplicate key");
        assert!(e.to_string().contains("UNIQUE"), "{e}");
        let e = insert
            .execute(&["b".into(), Arg::Null, Arg::Null])
            .expect_err("a NULL where none may be");
        assert!(e.to_string().contains("NOT NULL"), "{e}");
        assert_eq!(
            insert
                .execute(&["b".into(), Arg::Null, 3i64.into()])
                .expect("after the errors"),
            1
        );
        assert!(Held::prepare(&c, "SELECT nothing FROM nowhere").is_err());
        assert!(Held::prepare(&c, "").is_err(), "no statement");
    }
}
