//! Rows the engine reads and writes while paging people.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tocsin_core::audit::AuditRecord;
use tocsin_core::timeline::TimelineKind;

/// One incident's escalation as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EscalationRow {
    pub incident_id: i64,
    pub policy_id: String,
    /// `tocsin_core::escalation::EscalationState` as JSON.
    pub state: serde_json::Value,
    /// Grows whenever paging stops (acknowledge, resolve): notifications of
    /// an earlier episode are not sent.
    pub episode: i64,
    /// Bumped by every write; updates name the version they read.
    pub version: i64,
}

/// A notification and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotificationRow {
    pub id: i64,
    pub incident_id: i64,
    pub user_id: String,
    pub contact_method: String,
    pub channel: String,
    pub episode: i64,
    pub idempotency_key: String,
    /// `pending`, `held`, `sent`, `failed` or `cancelled`.
    pub status: String,
    pub attempts: i64,
    pub due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    pub incident_id: i64,
    pub user_id: String,
    pub contact_method: String,
    pub channel: String,
    pub episode: i64,
    pub idempotency_key: String,
    pub due_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NotificationUpdate {
    pub id: i64,
    pub status: String,
    pub attempts: i64,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// The escalation row a step writes.
#[derive(Debug, Clone, PartialEq)]
pub enum EscalationWrite {
    Insert {
        incident_id: i64,
        policy_id: String,
        status: String,
        state: serde_json::Value,
        episode: i64,
    },
    /// Applies only if the row still has `expected_version`.
    Update {
        incident_id: i64,
        status: String,
        state: serde_json::Value,
        episode: i64,
        expected_version: i64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepTimeline {
    pub incident_id: i64,
    pub kind: TimelineKind,
    pub actor: String,
    pub payload: serde_json::Value,
}

/// Everything one engine step changes, written in one transaction. The
/// step fails with [`crate::StoreError::Conflict`], changing nothing, when
/// the escalation row moved on or the outbox claim was lost meanwhile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineStep {
    pub at: DateTime<Utc>,
    /// Outbox item (id, worker) this step completes.
    pub complete: Option<(i64, String)>,
    pub escalation: Option<EscalationWrite>,
    /// Incident to return from acknowledged to triggered (ack timeout).
    pub retrigger: Option<i64>,
    /// (incident id, episode): paging stopped, so that incident's
    /// notifications of earlier episodes still `pending` or `held` become
    /// `cancelled` now rather than when they fall due.
    pub cancel_before_episode: Option<(i64, i64)>,
    pub timeline: Vec<StepTimeline>,
    pub audit: Vec<AuditRecord>,
    /// Each gets an outbox `notify.send` item at its due time.
    pub notifications: Vec<NewNotification>,
    pub notification_updates: Vec<NotificationUpdate>,
    /// Further outbox items: (kind, payload, due).
    pub outbox: Vec<(String, serde_json::Value, DateTime<Utc>)>,
    /// New send history of one contact method's rate-limit window.
    pub method_window: Option<(String, Vec<DateTime<Utc>>)>,
}
