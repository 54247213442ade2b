//! Append-only record of what happened to an incident.

mod describe;

pub use describe::describe;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    Opened,
    AlertAdded,
    AlertAcknowledged,
    AlertResolved,
    Acknowledged,
    Resolved,
    Note,
    /// A person was paged by the escalation policy (one entry per person).
    Paged,
    /// The escalation moved on to a later level or pass.
    Escalated,
    /// A level's schedule had nobody on call, or a level reached nobody.
    NobodyPaged,
    /// A notification reached its channel.
    Notified,
    /// A contact method failed for good; the payload names the fallback.
    NotificationFailed,
    /// The acknowledgement timed out: the incident is triggered again.
    AckTimeout,
    /// Every level of every pass was paged and nobody acknowledged.
    EscalationExhausted,
    /// Someone asked to page the next level now.
    EscalatedByHand,
    /// Someone paged specific people in place of the current level.
    Reassigned,
    /// The alerts that joined a grouped incident since it paged, summed up
    /// once per `group_interval`.
    GroupUpdate,
    /// A quiet incident starts paging: nothing holds its re-sent alert back
    /// any more.
    Released,
}

impl TimelineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TimelineKind::Opened => "opened",
            TimelineKind::AlertAdded => "alert_added",
            TimelineKind::AlertAcknowledged => "alert_acknowledged",
            TimelineKind::AlertResolved => "alert_resolved",
            TimelineKind::Acknowledged => "acknowledged",
            TimelineKind::Resolved => "resolved",
            TimelineKind::Note => "note",
            TimelineKind::Paged => "paged",
            TimelineKind::Escalated => "escalated",
            TimelineKind::NobodyPaged => "nobody_paged",
            TimelineKind::Notified => "notified",
            TimelineKind::NotificationFailed => "notification_failed",
            TimelineKind::AckTimeout => "ack_timeout",
            TimelineKind::EscalationExhausted => "escalation_exhausted",
            TimelineKind::EscalatedByHand => "escalated_by_hand",
            TimelineKind::Reassigned => "reassigned",
            TimelineKind::GroupUpdate => "group_update",
            TimelineKind::Released => "released",
        }
    }
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

/// Who did something, rendered as `kind:name` in timelines and the audit log.
pub mod actor {
    pub const SYSTEM: &str = "system";

    /// A person, however they acted (token, signed link, session).
    pub fn user(id: &str) -> String {
        format!("user:{id}")
    }

    pub fn integration(id: &str) -> String {
        format!("integration:{id}")
    }

    /// A heartbeat monitor, opening and resolving its own alert.
    pub fn heartbeat(id: &str) -> String {
        format!("heartbeat:{id}")
    }
}
