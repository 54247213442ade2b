//! Incidents, their alerts, timelines, escalation and notifications.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::de::Error;
use serde::{Deserialize, Deserializer, Serialize};
use tocsin_core::alert::AlertStatus;
use tocsin_core::escalation::{EscState, Target};
use tocsin_core::event::Severity;
use tocsin_core::incident::IncidentStatus;
use tocsin_core::model::IntegrationKind;
use utoipa::{IntoParams, ToSchema};

/// A problem on one service, grouping the alerts that signal it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Incident {
    pub id: i64,
    pub service_id: String,
    pub title: String,
    pub severity: Severity,
    pub status: IncidentStatus,
    pub created_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Who acknowledged: an actor such as `user:<id>`, `integration:<id>` or
    /// `heartbeat:<id>`.
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub alert_count: i64,
    /// Why it pages nobody (silence, maintenance window, inhibition,
    /// flapping); empty when it pages.
    #[serde(default)]
    pub held_back: Vec<HeldBack>,
}

/// Why a page was held back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HeldBack {
    /// `silenced`, `maintenance`, `inhibited`, `depends_on`, `storm`,
    /// `flapping` or `grouped`.
    pub kind: String,
    /// What it names: `silence_id`, `window_id`, `rule` (from 0) and
    /// `by_alert`, `service` and `incident_id`, `until`, `next_update_at`.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// The reason as a sentence for people (times in UTC).
    pub text: String,
}

impl From<&tocsin_core::holdback::HeldBack> for HeldBack {
    fn from(h: &tocsin_core::holdback::HeldBack) -> Self {
        let mut details = serde_json::to_value(h).unwrap_or_default();
        let kind = details
            .as_object_mut()
            .and_then(|o| o.remove("kind"))
            .and_then(|k| k.as_str().map(str::to_string))
            .unwrap_or_default();
        let text = h.describe(&tocsin_core::holdback::Facts::new(chrono_tz::UTC));
        Self { kind, details, text }
    }
}

/// An incident with everything a responder reads about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IncidentDetail {
    #[serde(flatten)]
    pub incident: Incident,
    pub alerts: Vec<Alert>,
    /// Oldest first.
    pub timeline: Vec<TimelineEntry>,
    /// Where paging stands; `null` when the service has no escalation policy.
    pub escalation: Option<Escalation>,
}

/// An incident's escalation as a responder needs it: which step, and what
/// happens next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Escalation {
    /// The escalation policy's id.
    pub policy: String,
    pub status: EscState,
    /// The level paged most recently in the current pass, from 1.
    pub level: u32,
    /// The current pass over the levels, from 1.
    pub pass: u32,
    /// Passes in all (the policy's `repeat` + 1).
    pub passes: u32,
    /// Levels per pass.
    pub levels: u32,
    /// When the next step (escalation or acknowledgement timeout) is due;
    /// `null` when none is pending.
    pub next_step_at: Option<DateTime<Utc>>,
}

/// The deduplicated state of one signal (one dedup key while open).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Alert {
    pub id: i64,
    pub service_id: String,
    /// The integration it arrived through, or the heartbeat monitor that
    /// opened it.
    pub integration_id: String,
    /// The wire format it arrived in, or `heartbeat`.
    pub kind: IntegrationKind,
    /// The sender's dedup key, or the Alertmanager fingerprint.
    pub dedup_key: String,
    pub status: AlertStatus,
    pub summary: String,
    pub severity: Severity,
    pub source: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Whatever the sender attached, as sent; `{}` once retention dropped
    /// it (`retention.alert_payloads` after the incident resolved).
    pub details: serde_json::Value,
    pub links: Vec<Link>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// How many events this alert has absorbed.
    pub occurrences: i64,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// When the alert resolves itself unless re-sent (Alertmanager `endsAt`).
    pub expires_at: Option<DateTime<Utc>>,
    pub incident_id: Option<i64>,
    /// Why it did not page on its own (held back, or joined an incident
    /// that had paged); empty when it opened an incident that paged.
    #[serde(default)]
    pub held_back: Vec<HeldBack>,
}

/// A link a sender attached to an alert or change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Link {
    pub href: String,
    /// Absent when the sender gave none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// One thing that happened to an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TimelineEntry {
    pub id: i64,
    pub incident_id: i64,
    pub at: DateTime<Utc>,
    /// `opened`, `alert_added`, `acknowledged`, `resolved`, `note`, `paged`,
    /// `escalated`, `notified`, `reassigned`, ...
    pub kind: String,
    /// `user:<id>`, `integration:<id>`, `heartbeat:<id>` or `system`.
    pub actor: String,
    /// Depends on `kind`; a note's text is `payload.text`.
    pub payload: serde_json::Value,
}

/// A notification of one person about an incident, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Notification {
    pub id: i64,
    pub incident_id: i64,
    pub user_id: String,
    /// The id of the person's contact method.
    pub contact_method: String,
    /// `webhook`, `slack` or `email`.
    pub channel: String,
    /// The paging episode it belongs to; acknowledging or resolving starts a
    /// new one, and queued notifications of an earlier episode are dropped.
    pub episode: i64,
    /// Sent with every attempt, so a receiver can drop repeats.
    pub idempotency_key: String,
    /// `pending`, `held`, `sent`, `failed` or `cancelled`.
    pub status: String,
    pub attempts: i64,
    pub due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// `POST /incidents/{id}/notes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NoteRequest {
    /// The note; surrounding whitespace is dropped.
    #[schema(min_length = 1, max_length = 10000)]
    pub text: String,
}

/// `POST /incidents/{id}/reassign`: page these in place of the current level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReassignRequest {
    /// Declared users and schedules.
    #[schema(min_items = 1, max_items = 20)]
    #[serde(deserialize_with = "targets")]
    pub targets: Vec<Target>,
}

/// Reads `[{"user": id} | {"schedule": id}, ...]`, saying so when an entry
/// is neither (serde's own message for that is about maps and keys).
fn targets<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Target>, D::Error> {
    #[derive(Deserialize)]
    struct Entry {
        user: Option<String>,
        schedule: Option<String>,
    }
    struct OneTarget(Target);
    impl<'de> Deserialize<'de> for OneTarget {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            match Entry::deserialize(d)? {
                Entry { user: Some(user), schedule: None } => Ok(OneTarget(Target::User(user))),
                Entry { user: None, schedule: Some(schedule) } => Ok(OneTarget(Target::Schedule(schedule))),
                _ => Err(D::Error::custom("exactly one of `user` or `schedule`")),
            }
        }
    }
    Ok(Vec::<OneTarget>::deserialize(d)?.into_iter().map(|t| t.0).collect())
}

/// The answer to "escalate now": accepted, the engine pages at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Escalated {
    pub incident: i64,
    pub escalation: Requested,
}

/// A request the engine has accepted and carries out next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Requested {
    Requested,
}

/// The answer to a reassignment: accepted, the engine pages these at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Reassigned {
    pub incident: i64,
    pub reassigned_to: Vec<Target>,
}

/// Filters of `GET /incidents`; `None` is not sent. Values are text so a
/// client can pass on what a person typed: the server checks them and names
/// the parameter at fault.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentQuery {
    /// Only incidents in this status.
    #[param(value_type = Option<IncidentStatus>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Only incidents of this service (id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Only incidents created at or after this instant (RFC 3339).
    #[param(value_type = Option<DateTime<Utc>>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// `next_cursor` of the previous page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Page size; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// Filters of `GET /alerts`; `None` is not sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// Only alerts in this status.
    #[param(value_type = Option<AlertStatus>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Only alerts of this service (id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Only alerts with this dedup key (or Alertmanager fingerprint).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dedup_key: Option<String>,
    /// `next_cursor` of the previous page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Page size; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}
