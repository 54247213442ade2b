//! Reading and checking the audit log; writes go through every write
//! transaction, and `record_audit` writes an entry that belongs to no other
//! change.

use async_trait::async_trait;
use sqlx::Row;

use tocsin_core::audit::{AuditRecord, ChainCheck};

use super::{DbRow, StoreImpl, begin_write, clamp_limit, dialect};
use crate::codec::{from_us, json_from};
use crate::{AuditEntry, AuditStore, AuditVerification, Result, ShardCheck};

/// Entries read per query while verifying.
const VERIFY_PAGE: i64 = 1000;

fn entry_from_row(r: &DbRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: r.try_get("id")?,
        shard: r.try_get("shard")?,
        record: AuditRecord {
            at: from_us(r.try_get("at")?)?,
            actor: r.try_get("actor")?,
            action: r.try_get("action")?,
            target: r.try_get("target")?,
            details: json_from("audit_log.details", &r.try_get::<String, _>("details")?)?,
        },
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

#[async_trait]
impl AuditStore for StoreImpl {
    async fn audit_log(&self, after_id: i64, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query("SELECT * FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(after_id)
            .bind(clamp_limit(limit))
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(entry_from_row).collect()
    }

    async fn recent_audit(&self, before_id: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query("SELECT * FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT $2")
            .bind(before_id.unwrap_or(i64::MAX))
            .bind(clamp_limit(limit))
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(entry_from_row).collect()
    }

    async fn record_audit(&self, record: AuditRecord) -> Result<()> {
        let mut w = begin_write(&self.write).await?;
        w.audit(record).await?;
        w.commit(&self.signal).await
    }

    async fn verify_audit(&self) -> Result<AuditVerification> {
        // One snapshot for heads and entries, so writes committed meanwhile
        // are either wholly seen or not at all.
        let mut tx = self.read.begin_with(dialect::BEGIN_SNAPSHOT).await?;
        let heads: Vec<(i32, String)> =
            sqlx::query_as("SELECT shard, hash FROM audit_heads ORDER BY shard").fetch_all(&mut *tx).await?;
        let mut shards = Vec::with_capacity(heads.len());
        for (shard, head) in heads {
            let mut check = ChainCheck::default();
            let mut after = 0_i64;
            let mut broken = None;
            'pages: loop {
                let rows = sqlx::query("SELECT * FROM audit_log WHERE shard = $1 AND id > $2 ORDER BY id LIMIT $3")
                    .bind(shard)
                    .bind(after)
                    .bind(VERIFY_PAGE)
                    .fetch_all(&mut *tx)
                    .await?;
                for row in &rows {
                    let e = entry_from_row(row)?;
                    if let Err(b) = check.next(e.id, &e.record, &e.prev_hash, &e.hash) {
                        broken = Some(b);
                        break 'pages;
                    }
                    after = e.id;
                }
                if i64::try_from(rows.len()).unwrap_or(0) < VERIFY_PAGE {
                    break;
                }
            }
            let checked = check.checked();
            if broken.is_none() {
                broken = check.finish(&head).err();
            }
            shards.push(ShardCheck { shard, checked, broken });
        }
        tx.rollback().await?;
        Ok(AuditVerification { shards })
    }
}
