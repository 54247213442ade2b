//! Append-only record of what happened to an incident.

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

    pub fn token(name: &str) -> String {
        format!("token:{name}")
    }

    pub fn integration(id: &str) -> String {
        format!("integration:{id}")
    }
}
