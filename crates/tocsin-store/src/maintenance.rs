//! Keeping the database in shape: pruning what retention lets go, and
//! reporting how big it is.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::Result;

#[async_trait]
pub trait MaintenanceStore: Send + Sync {
    /// Prunes, in one transaction, at most `limit` rows of each kind that
    /// [`Prune`] names as old enough, and records one audit entry (actor
    /// `system`) when anything was removed. Call again while a kind comes
    /// back full: batches stay small so that writers never wait long.
    async fn prune(&self, request: &Prune) -> Result<Pruned>;
    /// The database's size and each table's rows and (where the backend
    /// tells) bytes.
    async fn stats(&self) -> Result<DbStats>;
}

/// One pruning batch: what is old enough, and how much to take at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prune {
    /// When the batch runs (the audit entry's instant, and when details
    /// were dropped).
    pub at: DateTime<Utc>,
    /// Alert details are dropped when the alert and its incident resolved
    /// at or before this; `None` keeps them.
    pub alert_payloads_before: Option<DateTime<Utc>>,
    /// Finished notifications of incidents resolved at or before this, and
    /// engine work finished at or before this, are deleted; `None` keeps them.
    pub delivery_attempts_before: Option<DateTime<Utc>>,
    /// Rows of each kind per batch.
    pub limit: i64,
}

/// What one batch removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    /// Alerts whose details were dropped.
    pub alert_payloads: u64,
    /// Notifications deleted.
    pub notifications: u64,
    /// Finished engine work items deleted.
    pub finished_work: u64,
}

impl Pruned {
    pub fn total(&self) -> u64 {
        self.alert_payloads + self.notifications + self.finished_work
    }

    /// Whether some kind filled its batch, so more may be waiting.
    pub fn full(&self, limit: i64) -> bool {
        let limit = u64::try_from(limit).unwrap_or(0);
        limit > 0 && [self.alert_payloads, self.notifications, self.finished_work].iter().any(|&n| n >= limit)
    }
}

/// How big the database is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DbStats {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Bytes the data takes: on SQLite the pages in use (free pages left out,
    /// the write-ahead log included as it will be checkpointed); on
    /// PostgreSQL the database's size on disk.
    pub used_bytes: u64,
    /// SQLite: bytes of free pages inside the file, reused before it grows.
    pub free_bytes: Option<u64>,
    /// Every table, by name.
    pub tables: Vec<TableStats>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableStats {
    pub name: String,
    pub rows: u64,
    /// The table with its indexes (SQLite: when built with `dbstat`;
    /// PostgreSQL: `pg_total_relation_size`).
    pub bytes: Option<u64>,
}

/// What a backend reports about its size (each backend's `dialect::sizes`).
pub(crate) struct Sizes {
    pub(crate) used_bytes: u64,
    pub(crate) free_bytes: Option<u64>,
    /// Every table by name, with its bytes when known.
    pub(crate) tables: Vec<(String, Option<u64>)>,
}
