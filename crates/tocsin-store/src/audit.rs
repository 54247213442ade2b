//! The audit log: every change (and every secret read), hash-chained in
//! shards (see [`tocsin_core::audit`]).

use async_trait::async_trait;
use serde::Serialize;
use tocsin_core::audit::{AuditRecord, Break};

use crate::Result;

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Entries after `after_id`, oldest first; `limit` is clamped to a page.
    async fn audit_log(&self, after_id: i64, limit: i64) -> Result<Vec<AuditEntry>>;
    /// Entries before `before_id` (all when `None`), newest first: what a
    /// person reading the log wants to see first.
    async fn recent_audit(&self, before_id: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>>;
    /// Appends one entry on its own: for reads worth a trace, such as a
    /// server secret shown to an admin.
    async fn record_audit(&self, record: AuditRecord) -> Result<()>;
    /// Walks every shard's chain in one consistent snapshot and checks each
    /// link and each head.
    async fn verify_audit(&self) -> Result<AuditVerification>;
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    /// The chain (of several, so nodes append at once) this entry is in.
    pub shard: i32,
    pub record: AuditRecord,
    pub prev_hash: String,
    pub hash: String,
}

/// What checking the audit chains found, shard by shard.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditVerification {
    pub shards: Vec<ShardCheck>,
}

impl AuditVerification {
    /// The first broken link, by shard.
    pub fn first_break(&self) -> Option<(i32, &Break)> {
        self.shards.iter().find_map(|s| s.broken.as_ref().map(|b| (s.shard, b)))
    }
}

/// One shard: how many entries checked out before the first break, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardCheck {
    pub shard: i32,
    pub checked: u64,
    pub broken: Option<Break>,
}
