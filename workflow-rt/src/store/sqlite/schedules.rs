//! The `schedules` table of [`super::SqliteStore`]: one row a schedule, changed by
//! compare-and-set on its `version`.

use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension, params};

use super::Db;
use crate::store::rows::{int, uint};
use crate::store::schedules::sql::{COLUMNS, Row};
use crate::store::{ScheduleRecord, StoreError};

fn raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        name: r.get(0)?,
        workflow: r.get(1)?,
        input: r.get(2)?,
        cron: r.get(3)?,
        every_ms: r.get(4)?,
        anchor_ms: r.get(5)?,
        zone: r.get(6)?,
        overlap: r.get(7)?,
        catch_up_ms: r.get(8)?,
        paused: r.get(9)?,
        cursor_ms: r.get(10)?,
        next_fire: r.get(11)?,
        buffered: r.get(12)?,
        starting: r.get(13)?,
        last_run_id: r.get(14)?,
        started: r.get(15)?,
        skipped: r.get(16)?,
        missed: r.get(17)?,
        version: r.get(18)?,
        created_at: r.get(19)?,
        updated_at: r.get(20)?,
        workflow_version: r.get(21)?,
        note: r.get(22)?,
        run_timeout_ms: r.get(23)?,
    })
}

/// The row's values, in the order of [`COLUMNS`] (`?1` to `?24`).
fn values(r: &Row) -> [&dyn ToSql; 24] {
    [
        &r.name,
        &r.workflow,
        &r.input,
        &r.cron,
        &r.every_ms,
        &r.anchor_ms,
        &r.zone,
        &r.overlap,
        &r.catch_up_ms,
        &r.paused,
        &r.cursor_ms,
        &r.next_fire,
        &r.buffered,
        &r.starting,
        &r.last_run_id,
        &r.started,
        &r.skipped,
        &r.missed,
        &r.version,
        &r.created_at,
        &r.updated_at,
        &r.workflow_version,
        &r.note,
        &r.run_timeout_ms,
    ]
}

fn query(
    conn: &Connection,
    sql: &str,
    params: &[&dyn ToSql],
) -> Result<Vec<ScheduleRecord>, StoreError> {
    let rows: Vec<Row> = conn
        .prepare_cached(sql)
        .db()?
        .query_map(params, raw)
        .db()?
        .collect::<Result<_, _>>()
        .db()?;
    rows.into_iter().map(Row::into_record).collect()
}

pub(super) fn load(conn: &Connection, name: &str) -> Result<Option<ScheduleRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM schedules WHERE name = ?1");
    let row = conn
        .prepare_cached(&sql)
        .db()?
        .query_row([name], raw)
        .optional()
        .db()?;
    row.map(Row::into_record).transpose()
}

pub(super) fn create(conn: &Connection, s: &ScheduleRecord) -> Result<(), StoreError> {
    // Checked before anything is written: a refusal leaves the batch's other operations to
    // commit.
    if version_of(conn, &s.name)?.is_some() {
        return Err(StoreError::ScheduleExists(s.name.clone()));
    }
    let row = Row::of(s);
    let sql = format!(
        "INSERT INTO schedules ({COLUMNS}) VALUES \
         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, \
         ?22, ?23, ?24)"
    );
    conn.prepare_cached(&sql).db()?.execute(values(&row)).db()?;
    Ok(())
}

fn version_of(conn: &Connection, name: &str) -> Result<Option<u64>, StoreError> {
    let v: Option<i64> = conn
        .prepare_cached("SELECT version FROM schedules WHERE name = ?1")
        .db()?
        .query_row([name], |r| r.get(0))
        .optional()
        .db()?;
    Ok(v.map(uint))
}

pub(super) fn update(conn: &Connection, s: &ScheduleRecord) -> Result<u64, StoreError> {
    match version_of(conn, &s.name)? {
        None => return Err(StoreError::ScheduleNotFound(s.name.clone())),
        Some(v) if v != s.version => {
            return Err(StoreError::ScheduleConflict {
                name: s.name.clone(),
                expected: s.version,
            });
        }
        Some(_) => {}
    }
    let mut next = s.clone();
    next.version = s.version + 1;
    let row = Row::of(&next);
    let sql = "UPDATE schedules SET workflow = ?2, input = ?3, cron = ?4, every_ms = ?5, \
               anchor_ms = ?6, zone = ?7, overlap = ?8, catch_up_ms = ?9, paused = ?10, \
               cursor_ms = ?11, next_fire = ?12, buffered = ?13, starting = ?14, \
               last_run_id = ?15, started = ?16, skipped = ?17, missed = ?18, version = ?19, \
               created_at = ?20, updated_at = ?21, workflow_version = ?22, note = ?23, \
               run_timeout_ms = ?24 \
               WHERE name = ?1";
    conn.prepare_cached(sql).db()?.execute(values(&row)).db()?;
    Ok(next.version)
}

pub(super) fn delete(conn: &Connection, name: &str) -> Result<(), StoreError> {
    let n = conn
        .prepare_cached("DELETE FROM schedules WHERE name = ?1")
        .db()?
        .execute([name])
        .db()?;
    if n == 0 {
        return Err(StoreError::ScheduleNotFound(name.to_string()));
    }
    Ok(())
}

pub(super) fn list(conn: &Connection) -> Result<Vec<ScheduleRecord>, StoreError> {
    query(
        conn,
        &format!("SELECT {COLUMNS} FROM schedules ORDER BY name"),
        &[],
    )
}

/// `names`: the workflows' names as a JSON array.
pub(super) fn due(
    conn: &Connection,
    names: &str,
    now_ms: u64,
    limit: usize,
) -> Result<Vec<ScheduleRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM schedules WHERE workflow IN (SELECT value FROM json_each(?1)) \
         AND (starting IS NOT NULL OR (paused = 0 AND (next_fire <= ?2 OR buffered IS NOT NULL))) \
         ORDER BY coalesce(next_fire, ?3), name LIMIT ?4"
    );
    let limit = limit.min(i64::MAX as usize) as i64;
    query(conn, &sql, params![names, int(now_ms), i64::MAX, limit])
}

pub(super) fn next_due(conn: &Connection, names: &str) -> Result<Option<u64>, StoreError> {
    let at: Option<i64> = conn
        .prepare_cached(
            "SELECT min(next_fire) FROM schedules WHERE paused = 0 \
             AND workflow IN (SELECT value FROM json_each(?1))",
        )
        .db()?
        .query_row([names], |r| r.get(0))
        .db()?;
    Ok(at.map(uint))
}
