//! The hash-chained audit log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// One audit log entry. `hash` is SHA-256 over `prev_hash` and the record,
/// so an edited or deleted entry breaks every hash after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
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
