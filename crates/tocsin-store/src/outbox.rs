//! The engine's work queue: items leased to a worker, completed once.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::Result;

#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Leases up to `limit` due, unfinished items to `worker` until
    /// `lease_until`. Items whose lease ran out are claimable again, so a
    /// dead worker's work is picked up.
    async fn claim_outbox(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxItem>>;
    async fn complete_outbox(&self, id: i64, worker: &str, now: DateTime<Utc>) -> Result<()>;
    /// Earliest due time of unfinished work, so the engine can sleep until then.
    async fn next_outbox_due(&self) -> Result<Option<DateTime<Utc>>>;
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxItem {
    pub id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    pub due_at: DateTime<Utc>,
    pub attempts: i64,
}
