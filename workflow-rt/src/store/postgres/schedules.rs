//! The `schedules` table of [`super::PostgresStore`]: one row a schedule, changed by
//! compare-and-set on its `version` (one conditional `UPDATE`).

use tokio_postgres::types::ToSql;

use super::{Db, PostgresStore};
use crate::store::rows::{int, uint};
use crate::store::schedules::sql::{COLUMNS, Row};
use crate::store::{ScheduleRecord, StoreError};

fn raw(r: &tokio_postgres::Row) -> Result<Row, StoreError> {
    Ok(Row {
        name: r.try_get(0).db()?,
        workflow: r.try_get(1).db()?,
        input: r.try_get(2).db()?,
        cron: r.try_get(3).db()?,
        every_ms: r.try_get(4).db()?,
        anchor_ms: r.try_get(5).db()?,
        zone: r.try_get(6).db()?,
        overlap: r.try_get(7).db()?,
        catch_up_ms: r.try_get(8).db()?,
        paused: r.try_get(9).db()?,
        cursor_ms: r.try_get(10).db()?,
        next_fire: r.try_get(11).db()?,
        buffered: r.try_get(12).db()?,
        starting: r.try_get(13).db()?,
        last_run_id: r.try_get(14).db()?,
        started: r.try_get(15).db()?,
        skipped: r.try_get(16).db()?,
        missed: r.try_get(17).db()?,
        version: r.try_get(18).db()?,
        created_at: r.try_get(19).db()?,
        updated_at: r.try_get(20).db()?,
        workflow_version: r.try_get(21).db()?,
        note: r.try_get(22).db()?,
        run_timeout_ms: r.try_get(23).db()?,
    })
}

fn record(r: &tokio_postgres::Row) -> Result<ScheduleRecord, StoreError> {
    raw(r)?.into_record()
}

/// The row's values, in the order of [`COLUMNS`] (`$1` to `$24`).
fn values(r: &Row) -> [&(dyn ToSql + Sync); 24] {
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

impl PostgresStore {
    pub(super) async fn create_schedule_row(&self, s: &ScheduleRecord) -> Result<(), StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "INSERT INTO schedules ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
                 $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24) \
                 ON CONFLICT (name) DO NOTHING"
            ))
            .await
            .db()?;
        let row = Row::of(s);
        let n = client.execute(&stmt, &values(&row)).await.db()?;
        if n == 0 {
            return Err(StoreError::ScheduleExists(s.name.clone()));
        }
        Ok(())
    }

    pub(super) async fn load_schedule_row(
        &self,
        name: &str,
    ) -> Result<Option<ScheduleRecord>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!("SELECT {COLUMNS} FROM schedules WHERE name = $1"))
            .await
            .db()?;
        client
            .query_opt(&stmt, &[&name])
            .await
            .db()?
            .as_ref()
            .map(record)
            .transpose()
    }

    pub(super) async fn list_schedule_rows(&self) -> Result<Vec<ScheduleRecord>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!("SELECT {COLUMNS} FROM schedules ORDER BY name"))
            .await
            .db()?;
        client
            .query(&stmt, &[])
            .await
            .db()?
            .iter()
            .map(record)
            .collect()
    }

    pub(super) async fn update_schedule_row(&self, s: &ScheduleRecord) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE schedules SET workflow = $2, input = $3, cron = $4, every_ms = $5, \
                 anchor_ms = $6, zone = $7, overlap = $8, catch_up_ms = $9, paused = $10, \
                 cursor_ms = $11, next_fire = $12, buffered = $13, starting = $14, \
                 last_run_id = $15, started = $16, skipped = $17, missed = $18, version = $19, \
                 created_at = $20, updated_at = $21, workflow_version = $22, note = $23, \
                 run_timeout_ms = $24 WHERE name = $1 AND version = $25",
            )
            .await
            .db()?;
        let mut next = s.clone();
        next.version = s.version + 1;
        let row = Row::of(&next);
        let expected = int(s.version);
        let mut params: Vec<&(dyn ToSql + Sync)> = values(&row).to_vec();
        params.push(&expected);
        if client.execute(&stmt, &params).await.db()? == 1 {
            return Ok(next.version);
        }
        let exists = client
            .query_opt("SELECT version FROM schedules WHERE name = $1", &[&s.name])
            .await
            .db()?;
        Err(match exists {
            None => StoreError::ScheduleNotFound(s.name.clone()),
            Some(_) => StoreError::ScheduleConflict {
                name: s.name.clone(),
                expected: s.version,
            },
        })
    }

    pub(super) async fn delete_schedule_row(&self, name: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        let n = client
            .execute("DELETE FROM schedules WHERE name = $1", &[&name])
            .await
            .db()?;
        if n == 0 {
            return Err(StoreError::ScheduleNotFound(name.to_string()));
        }
        Ok(())
    }

    pub(super) async fn due_schedule_rows(
        &self,
        names: &[String],
        now_ms: u64,
        limit: usize,
    ) -> Result<Vec<ScheduleRecord>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM schedules WHERE workflow = ANY($1) \
                 AND (starting IS NOT NULL OR (NOT paused AND (next_fire <= $2 OR buffered IS NOT NULL))) \
                 ORDER BY next_fire NULLS LAST, name LIMIT $3"
            ))
            .await
            .db()?;
        let limit = limit.min(i64::MAX as usize) as i64;
        client
            .query(&stmt, &[&names, &int(now_ms), &limit])
            .await
            .db()?
            .iter()
            .map(record)
            .collect()
    }

    pub(super) async fn next_schedule_row_due(
        &self,
        names: &[String],
    ) -> Result<Option<u64>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT min(next_fire) FROM schedules WHERE NOT paused AND workflow = ANY($1)",
            )
            .await
            .db()?;
        let row = client.query_one(&stmt, &[&names]).await.db()?;
        Ok(row.try_get::<_, Option<i64>>(0).db()?.map(uint))
    }
}
