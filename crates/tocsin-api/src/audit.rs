//! The hash-chained audit log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// One audit log entry. `hash` is SHA-256 over `prev_hash` and the record;
/// `prev_hash` is the hash of the entry before it in the same shard, so an
/// edited or deleted entry breaks a link (`GET /audit/verify` names it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    /// Which of the log's hash chains the entry is in: nodes sharing one
    /// database append to different chains at once.
    #[serde(default)]
    pub shard: i32,
    pub record: AuditRecord,
    pub prev_hash: String,
    pub hash: String,
}

/// Who changed what, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditRecord {
    pub at: DateTime<Utc>,
    pub actor: String,
    /// Such as `incident.acknowledge`, `token.create`, `config.apply`.
    pub action: String,
    /// Such as `incident:42`, `schedule:primary`.
    pub target: String,
    pub details: serde_json::Value,
}

/// Where to continue reading the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// The last id already seen; entries after it come back, oldest first.
    #[param(minimum = 0)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<i64>,
    /// At most this many entries; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// What checking every audit chain found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditVerification {
    /// Every link and every head checked out.
    pub ok: bool,
    /// Each chain, in shard order.
    pub shards: Vec<AuditShardCheck>,
    /// The first broken link (lowest shard), when not `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_broken: Option<AuditBrokenLink>,
}

/// One chain: how many entries checked out (up to its first break).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditShardCheck {
    pub shard: i32,
    pub checked: u64,
    pub broken: bool,
}

/// Where a chain stops following from itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditBrokenLink {
    pub shard: i32,
    /// The entry whose link is wrong; absent when the shard's head does not
    /// name its last entry (entries deleted from the end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// `prev_hash` (an entry before this one was deleted or moved), `hash`
    /// (this entry was changed) or `head`.
    pub field: String,
    pub expected: String,
    pub found: String,
}
