//! Values that cross the [`Store`](crate::Store) boundary.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tocsin_core::auth::Role;
use tocsin_core::event::{Event, Link};
use tocsin_core::model::IntegrationKind;

/// An enabled integration, resolved from its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationRef {
    pub id: String,
    pub service_id: String,
    pub kind: IntegrationKind,
}

/// Events from one request, received at one instant.
#[derive(Debug, Clone)]
pub struct IngestBatch {
    pub origin: IntegrationRef,
    pub events: Vec<Event>,
    pub received_at: DateTime<Utc>,
}

/// What one event did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngestOutcome {
    pub dedup_key: String,
    /// `opened`, `repeated`, `acknowledged`, `resolved` or `ignored`.
    pub effect: &'static str,
    pub alert_id: Option<i64>,
    pub incident_id: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CatalogChanges {
    pub teams: usize,
    pub users: usize,
    pub services: usize,
    pub integrations: usize,
    /// Services kept for history but no longer declared.
    pub services_inactive: usize,
    /// Integrations whose keys no longer open anything.
    pub integrations_disabled: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationView {
    pub id: String,
    pub kind: IntegrationKind,
    /// Last four characters of the key, to tell keys apart without revealing them.
    pub key_hint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub team: Option<String>,
    pub integrations: Vec<IntegrationView>,
    pub open_incidents: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeRecord {
    pub id: i64,
    pub service_id: String,
    pub at: DateTime<Utc>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub summary: String,
    pub source: Option<String>,
    pub actor: String,
    pub details: serde_json::Value,
    pub links: Vec<Link>,
}

/// A page of results, newest first. `next_cursor` is opaque to clients.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

pub const MAX_PAGE: i64 = 500;
pub const DEFAULT_PAGE: i64 = 50;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentFilter {
    pub status: Option<tocsin_core::incident::IncidentStatus>,
    pub service: Option<String>,
    pub since: Option<DateTime<Utc>>,
    /// Return only items older than this id (from `next_cursor`).
    pub before_id: Option<i64>,
    pub limit: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    pub status: Option<tocsin_core::alert::AlertStatus>,
    pub service: Option<String>,
    pub dedup_key: Option<String>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// Encodes and decodes page cursors. Cursors are opaque strings so the
/// scheme can change without breaking clients.
pub mod cursor {
    pub fn encode(id: i64) -> String {
        format!("b{id}")
    }

    pub fn decode(s: &str) -> Option<i64> {
        s.strip_prefix('b')?.parse().ok().filter(|id: &i64| *id > 0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub name: String,
    pub role: Role,
    /// The account the token acts as.
    pub user_id: String,
    pub secret_hash: String,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    /// The most this token may do; its owner's role may limit it further.
    pub role: Role,
    /// The account the token acts as.
    pub user_id: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub revoked_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Recorded at most once a minute per token.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A live token and the current role of the account it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAuth {
    pub token: TokenInfo,
    pub user_role: Role,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxItem {
    pub id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    pub due_at: DateTime<Utc>,
    pub attempts: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub record: tocsin_core::audit::AuditRecord,
    pub prev_hash: String,
    pub hash: String,
}

/// An override to create: `user_id` takes `schedule_id` during `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOverride {
    pub schedule_id: String,
    pub user_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// A live override created at run time. Ids grow with creation, so they
/// order overlapping overrides (the later one wins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduleOverride {
    pub id: i64,
    pub schedule_id: String,
    pub user_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

impl From<&ScheduleOverride> for tocsin_core::directory::StoredOverride {
    fn from(o: &ScheduleOverride) -> Self {
        Self { id: o.id, user: o.user_id.clone(), start: o.start, end: o.end }
    }
}

/// `schedule` with those of `stored` that belong to it, as every on-call
/// answer and every page must see it.
pub fn merge_overrides(
    schedule: &tocsin_core::schedule::Schedule,
    stored: &[ScheduleOverride],
) -> tocsin_core::schedule::Schedule {
    tocsin_core::directory::with_stored_overrides(
        schedule,
        stored.iter().filter(|o| o.schedule_id == schedule.id).map(Into::into),
    )
}
