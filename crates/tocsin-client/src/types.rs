//! Wire types of the `/api/v1` REST API.
//!
//! Unknown fields are ignored so that an older client keeps working against a
//! newer server; fields the contract marks as required are required.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// One page of a cursor-paginated listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back as `cursor` to get the next page; `None` on the last page.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: i64,
    pub service_id: String,
    pub title: String,
    pub severity: String,
    /// `triggered`, `acknowledged` or `resolved`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub alert_count: i64,
}

/// `GET /api/v1/incidents/{id}`: the incident plus its alerts and timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentDetail {
    #[serde(flatten)]
    pub incident: Incident,
    pub alerts: Vec<Alert>,
    pub timeline: Vec<TimelineEntry>,
    /// Where paging stands; `None` when the service has no policy.
    #[serde(default)]
    pub escalation: Option<Escalation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    pub policy: String,
    /// `active`, `acknowledged`, `resolved` or `exhausted`.
    pub status: String,
    /// The level paged most recently in the current pass, counted from 1.
    pub level: u64,
    /// The current pass, counted from 1.
    pub pass: u64,
    pub passes: u64,
    pub levels: u64,
    pub next_step_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: i64,
    pub service_id: String,
    #[serde(deserialize_with = "string_or_number")]
    pub integration_id: String,
    /// `pagerduty`, `alertmanager`, `prometheus` or `generic`.
    pub kind: String,
    pub dedup_key: String,
    /// `triggered`, `acknowledged` or `resolved`.
    pub status: String,
    pub summary: String,
    pub severity: String,
    pub source: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub details: serde_json::Value,
    pub links: Vec<Link>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub occurrences: i64,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub incident_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub href: String,
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub id: i64,
    pub incident_id: i64,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub actor: String,
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub team: Option<String>,
    pub integrations: Vec<IntegrationSummary>,
    pub open_incidents: i64,
}

/// An integration as listed on its service; the secret key is never returned,
/// only a hint such as `"…5e6f"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegrationSummary {
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    pub kind: String,
    pub key_hint: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Answer to `POST /api/v1/tokens`; `token` is the secret, shown only once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub token: String,
}

/// Answer to `GET /api/v1/notifications/webhook-secret`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSecret {
    /// The HMAC-SHA256 key (its UTF-8 bytes) of `Tocsin-Signature`.
    pub secret: String,
    /// `config` or `generated`.
    pub source: String,
    /// The header that carries the signature.
    #[serde(default)]
    pub header: String,
    /// How the signature is computed.
    #[serde(default)]
    pub scheme: String,
}

/// Filters for `GET /api/v1/incidents`. `None` fields are not sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IncidentQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// RFC 3339 timestamp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// Filters for `GET /api/v1/alerts`. `None` fields are not sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AlertQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dedup_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// The body of every non-2xx answer from `/api/v1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub field: Option<String>,
}

/// Integration ids are not pinned down as numbers or strings by the contract;
/// accept either and keep the text.
fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        S(String),
        N(i64),
    }
    Ok(match Id::deserialize(d)? {
        Id::S(s) => s,
        Id::N(n) => n.to_string(),
    })
}

/// A schedule as listed by `GET /api/v1/schedules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub id: String,
    pub time_zone: String,
    pub layers: Vec<ScheduleLayer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleLayer {
    pub id: String,
    pub users: Vec<String>,
}

/// Who a schedule has on call at an instant; empty in a gap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnCall {
    pub schedule: String,
    pub at: DateTime<Utc>,
    pub users: Vec<String>,
}

/// An override created at run time: `user` takes `schedule` during
/// `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    /// `None` for an override declared in config.
    pub id: Option<i64>,
    pub schedule: String,
    pub user: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// `config` (declared in the applied config) or `api` (created at run time).
    pub source: String,
    pub created_at: Option<DateTime<Utc>>,
    pub created_by: Option<String>,
}

/// `POST /api/v1/users/{id}/ical-token`: the feed secret (shown once) and
/// the feed URLs, relative to the server root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IcalToken {
    pub user: String,
    pub token: String,
    pub urls: IcalUrls,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IcalUrls {
    /// The user's shifts across all schedules.
    pub user: String,
    /// Schedule id → that whole schedule's feed.
    #[serde(default)]
    pub schedules: BTreeMap<String, String>,
}

/// One notification of an incident and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub id: i64,
    pub incident_id: i64,
    pub user_id: String,
    pub contact_method: String,
    pub channel: String,
    /// `pending`, `held`, `sent`, `failed` or `cancelled`.
    pub status: String,
    pub attempts: i64,
    pub due_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// A list answer: `{"items": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Items<T> {
    pub items: Vec<T>,
}

/// Ids added, changed and removed in one section of the config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionChanges {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

/// What a config file changes, section by section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigChanges {
    pub teams: SectionChanges,
    pub users: SectionChanges,
    pub services: SectionChanges,
    pub integrations: SectionChanges,
    pub schedules: SectionChanges,
    pub escalation_policies: SectionChanges,
    pub notifications_changed: bool,
}

/// `POST /api/v1/config/plan`: what applying a file would change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigPlan {
    pub current_version: i64,
    pub summary: String,
    pub changes: ConfigChanges,
    pub warnings: Vec<String>,
}

/// `GET /api/v1/config`: the version in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigVersion {
    pub version: i64,
    pub file: String,
    pub summary: String,
    pub applied_at: DateTime<Utc>,
    pub applied_by: String,
}

/// `POST /api/v1/config`: the version now in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedConfig {
    #[serde(flatten)]
    pub version: ConfigVersion,
    /// False when the file equals the version in force (nothing stored).
    pub created: bool,
    pub changes: ConfigChanges,
    pub warnings: Vec<String>,
}
