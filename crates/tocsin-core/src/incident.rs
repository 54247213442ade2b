//! The incident lifecycle: triggered → acknowledged → resolved.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::event::Severity;

/// Where an incident stands: triggered → acknowledged → resolved.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Triggered,
    Acknowledged,
    Resolved,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Triggered => "triggered",
            IncidentStatus::Acknowledged => "acknowledged",
            IncidentStatus::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "triggered" => IncidentStatus::Triggered,
            "acknowledged" => IncidentStatus::Acknowledged,
            "resolved" => IncidentStatus::Resolved,
            _ => return None,
        })
    }

    /// Acknowledge: only a triggered incident can be acknowledged.
    pub fn acknowledge(self) -> Result<IncidentStatus, CoreError> {
        match self {
            IncidentStatus::Triggered => Ok(IncidentStatus::Acknowledged),
            from => Err(CoreError::InvalidTransition { action: "acknowledge", from: from.as_str() }),
        }
    }

    /// Resolve: any open incident can be resolved.
    pub fn resolve(self) -> Result<IncidentStatus, CoreError> {
        match self {
            IncidentStatus::Triggered | IncidentStatus::Acknowledged => Ok(IncidentStatus::Resolved),
            from => Err(CoreError::InvalidTransition { action: "resolve", from: from.as_str() }),
        }
    }

    /// Re-trigger: an acknowledgement that timed out returns the incident to
    /// triggered, so it pages again and shows as unhandled.
    pub fn retrigger(self) -> Result<IncidentStatus, CoreError> {
        match self {
            IncidentStatus::Acknowledged => Ok(IncidentStatus::Triggered),
            from => Err(CoreError::InvalidTransition { action: "retrigger", from: from.as_str() }),
        }
    }

    pub fn is_open(self) -> bool {
        self != IncidentStatus::Resolved
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: i64,
    pub service_id: String,
    pub title: String,
    pub severity: Severity,
    pub status: IncidentStatus,
    pub created_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub alert_count: i64,
    /// Why it did not page (see [`crate::holdback`]); empty when it paged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_back: Vec<crate::holdback::HeldBack>,
}

/// Whether an incident resolves itself after one of its alerts resolved:
/// only when none of its alerts is still open.
pub fn resolves_with_alerts(status: IncidentStatus, open_alerts_left: i64) -> bool {
    status.is_open() && open_alerts_left == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use IncidentStatus::*;

    #[test]
    fn lifecycle() {
        assert_eq!(Triggered.acknowledge(), Ok(Acknowledged));
        assert!(Acknowledged.acknowledge().is_err());
        assert!(Resolved.acknowledge().is_err());
        assert_eq!(Triggered.resolve(), Ok(Resolved));
        assert_eq!(Acknowledged.resolve(), Ok(Resolved));
        assert!(Resolved.resolve().is_err());
        assert_eq!(Acknowledged.retrigger(), Ok(Triggered));
        assert!(Triggered.retrigger().is_err());
        assert!(Resolved.retrigger().is_err());
    }

    #[test]
    fn auto_resolve_waits_for_last_alert() {
        assert!(!resolves_with_alerts(Triggered, 1));
        assert!(resolves_with_alerts(Acknowledged, 0));
        assert!(!resolves_with_alerts(Resolved, 0));
    }
}
