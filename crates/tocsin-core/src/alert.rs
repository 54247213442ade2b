//! The deduplicated state of one signal.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::event::{Link, Severity};
use crate::model::IntegrationKind;

/// Where an alert stands; once resolved, the same key opens a new alert.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Triggered,
    Acknowledged,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Triggered => "triggered",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "triggered" => AlertStatus::Triggered,
            "acknowledged" => AlertStatus::Acknowledged,
            "resolved" => AlertStatus::Resolved,
            _ => return None,
        })
    }

    pub fn is_open(self) -> bool {
        self != AlertStatus::Resolved
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: i64,
    pub service_id: String,
    pub integration_id: String,
    pub kind: IntegrationKind,
    pub dedup_key: String,
    pub status: AlertStatus,
    pub summary: String,
    pub severity: Severity,
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
    /// Why it did not page (see [`crate::holdback`]); empty when it paged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_back: Vec<crate::holdback::HeldBack>,
}
