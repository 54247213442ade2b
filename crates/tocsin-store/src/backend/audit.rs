//! Reading the audit log; writes go through every write transaction, and
//! `record_audit` writes an entry that belongs to no other change.

use async_trait::async_trait;
use sqlx::Row;

use tocsin_core::audit::AuditRecord;

use super::{StoreImpl, begin_write, clamp_limit};
use crate::codec::{from_us, json_from};
use crate::{AuditEntry, AuditStore, Result};

#[async_trait]
impl AuditStore for StoreImpl {
    async fn audit_log(&self, after_id: i64, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query("SELECT * FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(after_id)
            .bind(clamp_limit(limit))
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get("id")?,
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
            })
            .collect()
    }

    async fn record_audit(&self, record: AuditRecord) -> Result<()> {
        let mut w = begin_write(&self.write).await?;
        w.audit(record).await?;
        w.commit(&self.signal).await
    }
}
