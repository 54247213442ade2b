//! The audit log: every change (and every secret read), hash-chained.

use async_trait::async_trait;
use serde::Serialize;
use tocsin_core::audit::AuditRecord;

use crate::Result;

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Entries after `after_id`, oldest first; `limit` is clamped to a page.
    async fn audit_log(&self, after_id: i64, limit: i64) -> Result<Vec<AuditEntry>>;
    /// Appends one entry on its own: for reads worth a trace, such as a
    /// server secret shown to an admin.
    async fn record_audit(&self, record: AuditRecord) -> Result<()>;
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub record: AuditRecord,
    pub prev_hash: String,
    pub hash: String,
}
