//! The engine's work queue: claims are leases, so a dead worker's items
//! come back.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{StoreImpl, dialect};
use crate::codec::{from_us, json_from, opt_from_us, to_us};
use crate::{OutboxItem, OutboxStore, Result};

#[async_trait]
impl OutboxStore for StoreImpl {
    async fn claim_outbox(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxItem>> {
        let rows = sqlx::query(dialect::CLAIM_OUTBOX)
            .bind(worker)
            .bind(to_us(lease_until))
            .bind(to_us(now))
            .bind(limit)
            .fetch_all(&self.write)
            .await?;
        let mut items = rows
            .iter()
            .map(|r| {
                Ok(OutboxItem {
                    id: r.try_get("id")?,
                    kind: r.try_get("kind")?,
                    payload: json_from("outbox.payload", &r.try_get::<String, _>("payload")?)?,
                    due_at: from_us(r.try_get("due_at")?)?,
                    attempts: r.try_get("attempts")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        items.sort_by_key(|i| (i.due_at, i.id));
        Ok(items)
    }

    async fn complete_outbox(&self, id: i64, worker: &str, now: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "UPDATE outbox SET done_at = $1, lease_until = NULL WHERE id = $2 AND claimed_by = $3 AND done_at IS NULL",
        )
        .bind(to_us(now))
        .bind(id)
        .bind(worker)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn next_outbox_due(&self) -> Result<Option<DateTime<Utc>>> {
        // A leased item becomes claimable when its lease runs out, not before.
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until > due_at THEN lease_until ELSE due_at END) \
             FROM outbox WHERE done_at IS NULL",
        )
        .fetch_one(&self.read)
        .await?;
        opt_from_us(due)
    }
}
