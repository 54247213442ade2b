//! What the engine keeps while paging people: escalation state,
//! notifications, rate-limit windows and server secrets.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tocsin_core::audit::AuditRecord;
use tocsin_core::timeline::TimelineKind;
use tocsin_core::work::WorkKind;

use crate::{Lane, Result};

#[async_trait]
pub trait PagingStore: Send + Sync {
    async fn get_escalation(&self, incident_id: i64) -> Result<Option<EscalationRow>>;
    /// Escalations not resolved yet, newest incident first, at most `limit`
    /// (read through `escalations_open`, whatever the history holds).
    async fn open_escalations(&self, limit: i64) -> Result<Vec<EscalationRow>>;
    /// Writes one engine step atomically (see [`EngineStep`]).
    async fn apply_step(&self, step: &EngineStep) -> Result<()>;
    async fn get_notification(&self, id: i64) -> Result<Option<NotificationRow>>;
    async fn incident_notifications(&self, incident_id: i64) -> Result<Vec<NotificationRow>>;
    /// Up to `limit` notifications held by the rate limit of
    /// `contact_method` with ids up to `through_id`, oldest first.
    async fn held_notifications(
        &self,
        contact_method: &str,
        through_id: i64,
        limit: i64,
    ) -> Result<Vec<NotificationRow>>;
    /// How many notifications the rate limit of `contact_method` holds and
    /// the newest one's id (an index-only count, read once per bundle).
    async fn held_summary(&self, contact_method: &str) -> Result<HeldSummary>;
    /// Whether `contact_method` holds a notification with an id above
    /// `after_id` (one index probe, whatever is held).
    async fn held_after(&self, contact_method: &str, after_id: i64) -> Result<bool>;
    /// A still-pending notification of this page through this method, due
    /// after `after` (the fallback of a failed method sends it early).
    async fn pending_notification(
        &self,
        incident_id: i64,
        user_id: &str,
        contact_method: &str,
        episode: i64,
        after: DateTime<Utc>,
    ) -> Result<Option<NotificationRow>>;
    async fn method_window(&self, contact_method: &str) -> Result<Vec<DateTime<Utc>>>;
    /// The secret stored under `name`, storing `generated` first if there is
    /// none yet (the first node to ask wins; every node then reads the same).
    async fn server_secret(&self, name: &str, generated: &str, at: DateTime<Utc>) -> Result<String>;
    /// Queues engine work about an open incident on behalf of a person
    /// (escalate now, reassign), audited as `action`.
    async fn request_incident_work(
        &self,
        incident_id: i64,
        kind: WorkKind,
        payload: serde_json::Value,
        actor: &str,
        action: &str,
        at: DateTime<Utc>,
    ) -> Result<()>;
}

/// What one contact method's rate limit holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeldSummary {
    pub count: i64,
    /// The newest held notification's id; 0 when none is held.
    pub last_id: i64,
}

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

/// An outbox item a step queues.
#[derive(Debug, Clone, PartialEq)]
pub struct NewWork {
    pub kind: WorkKind,
    pub payload: serde_json::Value,
    pub due_at: DateTime<Utc>,
    /// Whose work it is (see [`crate::outbox`]).
    pub lane: Lane,
}

impl NewWork {
    pub fn new(kind: WorkKind, payload: serde_json::Value, due_at: DateTime<Utc>, lane: Lane) -> Self {
        Self { kind, payload, due_at, lane }
    }
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
    /// Incident whose pending group update this step sends: a later alert
    /// joining it schedules the next one.
    pub group_update_sent: Option<i64>,
    /// (incident id, episode): paging stopped, so that incident's
    /// notifications of earlier episodes still `pending` or `held` become
    /// `cancelled` now rather than when they fall due.
    pub cancel_before_episode: Option<(i64, i64)>,
    pub timeline: Vec<StepTimeline>,
    pub audit: Vec<AuditRecord>,
    /// Each gets an outbox `notify.send` item at its due time.
    pub notifications: Vec<NewNotification>,
    pub notification_updates: Vec<NotificationUpdate>,
    /// Further outbox items.
    pub outbox: Vec<NewWork>,
    /// New send history of one contact method's rate-limit window.
    pub method_window: Option<(String, Vec<DateTime<Utc>>)>,
}
