//! SQLite's page cache as the store installs it (see `workflow-rt/src/store/sqlite/pcache.rs`):
//! in this test binary the store is the first to use SQLite, so every connection of the
//! process, the store's and the plain ones below, goes through it. B-tree balancing, a
//! database grown and rolled back, rows changed by another connection (the cache dropped: a
//! truncation to nothing), and a database reopened: the contents are what was committed, and
//! SQLite finds nothing wrong with the file. The same with a cache of a few pages (pages
//! recycled, dirty pages spilled) and with a database in memory (a cache that keeps every
//! page). In debug builds every truncation the cache skips checks that no page is past the
//! limit (see `pcache.rs`), so the workload here checks each skip.

use std::collections::BTreeMap;

use rusqlite::{Connection, params};
use workflow_rt::store::SqliteStore;

/// A key that scatters inserts across the B-tree (splits out of order, pages reused from the
/// free list), from a simple generator so that a failure replays.
fn key(n: u64) -> String {
    let mixed = n.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
    format!("k{mixed:016x}")
}

fn check(conn: &Connection, model: &BTreeMap<String, Vec<u8>>) {
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(ok, "ok");
    let mut stmt = conn
        .prepare("SELECT k, v FROM t ORDER BY k")
        .expect("prepare");
    let rows: BTreeMap<String, Vec<u8>> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(rows.len(), model.len());
    assert!(rows == *model, "the rows differ from what was committed");
}

#[test]
fn pages_split_rolled_back_and_reread_through_the_store_s_page_cache() {
    workload("PRAGMA cache_size=-65536;", 30, true);
}

/// The same with a cache of twelve pages: pages are recycled at nearly every fetch, and a
/// transaction larger than the cache spills its dirty pages (the cache refuses a page while
/// nine tenths of it are pinned, and SQLite writes some out and asks again).
#[test]
fn a_small_cache_recycles_and_spills_pages() {
    workload("PRAGMA cache_size=12;", 8, true);
}

/// A database in memory: its cache is not purgeable, and keeps every page.
#[test]
fn a_database_in_memory_keeps_every_page() {
    workload("", 8, false);
}

/// Rounds of inserts that split pages out of order, deletes, a grown transaction rolled back
/// and (on a file) another connection's updates, checked against a model; `pragmas` set the
/// cache up, `on_file` says whether the database is a file (else in memory).
fn workload(pragmas: &str, rounds: u64, on_file: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    // The store first: it installs the page cache before SQLite is first used.
    let _store = SqliteStore::open(dir.path().join("store.db")).expect("open the store");

    let path = dir.path().join("plain.db");
    let conn = if on_file {
        Connection::open(&path).expect("open")
    } else {
        Connection::open_in_memory().expect("open in memory")
    };
    let journal = if on_file {
        "PRAGMA journal_mode=WAL;"
    } else {
        ""
    };
    conn.execute_batch(&format!(
        "{journal} {pragmas} \
         CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;"
    ))
    .expect("schema");
    let mut model = BTreeMap::new();
    let mut n = 0u64;
    for round in 0..rounds {
        conn.execute_batch("BEGIN").expect("begin");
        for _ in 0..1_000 {
            n += 1;
            let v = vec![(n % 251) as u8; 40 + (n % 300) as usize];
            conn.execute("INSERT INTO t (k, v) VALUES (?1, ?2)", params![key(n), v])
                .expect("insert");
            model.insert(key(n), v);
        }
        // Free pages for later splits to reuse, out of order.
        for d in (round * 1_000..round * 1_000 + 1_000).step_by(3) {
            if let Some(k) = model.keys().nth((d as usize * 7) % model.len()).cloned() {
                conn.execute("DELETE FROM t WHERE k = ?1", [&k])
                    .expect("delete");
                model.remove(&k);
            }
        }
        conn.execute_batch("COMMIT").expect("commit");

        // Grown, then rolled back.
        conn.execute_batch("BEGIN").expect("begin");
        for m in 0..2_000u64 {
            conn.execute(
                "INSERT INTO t (k, v) VALUES (?1, ?2)",
                params![format!("rolled-back-{round}-{m}"), vec![0xAAu8; 900]],
            )
            .expect("insert");
        }
        conn.execute_batch("ROLLBACK").expect("rollback");

        // Another connection changes rows: the first one's cache must be dropped before it
        // reads again.
        if on_file {
            let other = Connection::open(&path).expect("open another");
            for k in model.keys().step_by(97).cloned().collect::<Vec<_>>() {
                let v = vec![round as u8; 64];
                other
                    .execute("UPDATE t SET v = ?2 WHERE k = ?1", params![k, v])
                    .expect("update");
                model.insert(k, v);
            }
            drop(other);
        }
        if round % 5 == 4 {
            check(&conn, &model);
        }
    }
    check(&conn, &model);
    if on_file {
        drop(conn);
        let conn = Connection::open(&path).expect("reopen");
        check(&conn, &model);
    }
}
