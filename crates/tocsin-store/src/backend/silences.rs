//! Silences: one row each, matchers kept as their strings (JSON list).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::Row;
use tocsin_core::matchers::Matchers;
use tocsin_core::silence::Silence;

use super::{DbRow, StoreImpl, WriteTx, audit_record, begin_write};
use crate::codec::{from_us, to_us};
use crate::{Result, SilenceStore, StoreError};

pub(super) const COLUMNS: &str =
    "SELECT id, matchers, starts_at, ends_at, created_by, comment, updated_at FROM silences";

pub(super) fn silence_from_row(r: &DbRow) -> Result<Silence> {
    let text: String = r.try_get("matchers")?;
    let matchers: Matchers =
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("silences.matchers: {e}")))?;
    Ok(Silence {
        id: r.try_get("id")?,
        matchers,
        starts_at: from_us(r.try_get("starts_at")?)?,
        ends_at: from_us(r.try_get("ends_at")?)?,
        created_by: r.try_get("created_by")?,
        comment: r.try_get("comment")?,
        updated_at: from_us(r.try_get("updated_at")?)?,
    })
}

fn matchers_text(s: &Silence) -> Result<String> {
    serde_json::to_string(&s.matchers).map_err(|e| StoreError::Corrupt(format!("silences.matchers: {e}")))
}

fn details(s: &Silence) -> serde_json::Value {
    json!({
        "matchers": s.matchers.to_string(),
        "starts_at": s.starts_at.to_rfc3339(),
        "ends_at": s.ends_at.to_rfc3339(),
        "comment": s.comment,
    })
}

#[async_trait]
impl SilenceStore for StoreImpl {
    async fn create_silence(&self, s: &Silence, actor: &str, at: DateTime<Utc>) -> Result<()> {
        let mut w = begin_write(&self.write).await?;
        let taken: Option<String> =
            sqlx::query_scalar("SELECT id FROM silences WHERE id = $1").bind(&s.id).fetch_optional(&mut *w.tx).await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!("silence {} exists", s.id)));
        }
        sqlx::query(
            "INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&s.id)
        .bind(matchers_text(s)?)
        .bind(to_us(s.starts_at))
        .bind(to_us(s.ends_at))
        .bind(&s.created_by)
        .bind(&s.comment)
        .bind(to_us(s.updated_at))
        .execute(&mut *w.tx)
        .await?;
        bump_version(&mut w).await?;
        w.audit(audit_record(at, actor, "silence.create", format!("silence:{}", s.id), details(s))).await?;
        w.commit(&self.signal).await
    }

    async fn update_silence(&self, s: &Silence, actor: &str, at: DateTime<Utc>) -> Result<()> {
        write_changed(self, s, actor, at, "silence.update").await
    }

    async fn expire_silence(&self, s: &Silence, actor: &str, at: DateTime<Utc>) -> Result<()> {
        write_changed(self, s, actor, at, "silence.expire").await
    }

    async fn get_silence(&self, id: &str) -> Result<Option<Silence>> {
        let sql = sqlx::AssertSqlSafe(format!("{COLUMNS} WHERE id = $1"));
        let row = sqlx::query(sql).bind(id).fetch_optional(&self.read).await?;
        row.as_ref().map(silence_from_row).transpose()
    }

    async fn list_silences(&self, limit: i64) -> Result<Vec<Silence>> {
        let sql = sqlx::AssertSqlSafe(format!("{COLUMNS} ORDER BY starts_at DESC, id LIMIT $1"));
        let rows = sqlx::query(sql).bind(limit.clamp(1, 10_000)).fetch_all(&self.read).await?;
        rows.iter().map(silence_from_row).collect()
    }

    async fn active_silences(&self, at: DateTime<Utc>) -> Result<Vec<Silence>> {
        let sql = sqlx::AssertSqlSafe(format!("{COLUMNS} WHERE ends_at > $1 AND starts_at <= $1 ORDER BY id"));
        let rows = sqlx::query(sql).bind(to_us(at)).fetch_all(&self.read).await?;
        rows.iter().map(silence_from_row).collect()
    }
}

/// Writes the silence's new matchers, range and comment over its row.
/// Tells every node's ingestion that its cached silences are stale.
async fn bump_version(w: &mut WriteTx<'_>) -> Result<()> {
    sqlx::query("UPDATE silences_version SET n = n + 1 WHERE id = 1").execute(&mut *w.tx).await?;
    Ok(())
}

async fn write_changed(store: &StoreImpl, s: &Silence, actor: &str, at: DateTime<Utc>, action: &str) -> Result<()> {
    let mut w = begin_write(&store.write).await?;
    let n = sqlx::query(
        "UPDATE silences SET matchers = $2, starts_at = $3, ends_at = $4, comment = $5, updated_at = $6 WHERE id = $1",
    )
    .bind(&s.id)
    .bind(matchers_text(s)?)
    .bind(to_us(s.starts_at))
    .bind(to_us(s.ends_at))
    .bind(&s.comment)
    .bind(to_us(s.updated_at))
    .execute(&mut *w.tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    bump_version(&mut w).await?;
    w.audit(audit_record(at, actor, action, format!("silence:{}", s.id), details(s))).await?;
    w.commit(&store.signal).await
}
