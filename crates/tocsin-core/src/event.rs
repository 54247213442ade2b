//! One normalized inbound signal, whatever wire format carried it.
//!
//! Wire adapters (PagerDuty, Alertmanager, Prometheus, generic JSON) parse
//! their bodies into [`Event`]s; nothing past the adapter knows wire formats.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::model::IntegrationKind;

/// What the sender wants done with the alert named by the dedup key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventAction {
    Trigger,
    Acknowledge,
    Resolve,
}

/// Severity on PagerDuty's four-step scale, which every other format maps onto.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    /// Parses the exact lowercase spelling used on the wire and in storage.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "critical" => Severity::Critical,
            "error" => Severity::Error,
            "warning" => Severity::Warning,
            "info" => Severity::Info,
            _ => return None,
        })
    }

    /// Maps the loose severity labels seen on Prometheus rules
    /// (`page`, `high`, `warn`, …) onto the scale; unknown values are `warning`.
    pub fn from_label(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "critical" | "crit" | "page" | "p1" | "sev1" | "fatal" | "emergency" => Severity::Critical,
            "error" | "err" | "high" | "major" | "p2" | "sev2" => Severity::Error,
            "info" | "informational" | "low" | "none" | "p4" | "p5" | "debug" => Severity::Info,
            _ => Severity::Warning,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub href: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A parsed inbound signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub action: EventAction,
    /// Identity of the alert within its service: the sender's dedup key or
    /// the label-set fingerprint.
    pub dedup_key: String,
    pub summary: String,
    pub severity: Severity,
    pub source: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Free-form context kept verbatim (custom details, annotations, …).
    pub details: serde_json::Value,
    pub links: Vec<Link>,
    /// When the sender says the condition began, if it says.
    pub occurred_at: Option<DateTime<Utc>>,
    /// For Alertmanager-style senders: the alert resolves by itself at this
    /// instant unless a resend pushes it further out.
    pub expires_at: Option<DateTime<Utc>>,
}

impl Event {
    /// A bare resolve of the alert with `dedup_key`: what a sender that
    /// went quiet, or a monitor that recovered, amounts to.
    pub fn resolve(dedup_key: String) -> Self {
        Event {
            action: EventAction::Resolve,
            dedup_key,
            summary: String::new(),
            severity: Severity::Info,
            source: None,
            labels: BTreeMap::new(),
            details: serde_json::Value::Null,
            links: Vec::new(),
            occurred_at: None,
            expires_at: None,
        }
    }

    /// Text that PostgreSQL cannot store (NUL characters) is refused on every
    /// backend alike, naming the field.
    pub fn check_storable(&self) -> Result<(), crate::CoreError> {
        no_nul("dedup_key", &self.dedup_key)?;
        no_nul("summary", &self.summary)?;
        self.source.as_deref().map_or(Ok(()), |s| no_nul("source", s))
    }
}

impl ChangeEvent {
    /// See [`Event::check_storable`].
    pub fn check_storable(&self) -> Result<(), crate::CoreError> {
        no_nul("summary", &self.summary)?;
        self.source.as_deref().map_or(Ok(()), |s| no_nul("source", s))
    }
}

/// Refuses text containing U+0000.
pub fn no_nul(field: &str, text: &str) -> Result<(), crate::CoreError> {
    if text.contains('\0') { Err(crate::CoreError::invalid(field, "must not contain NUL characters")) } else { Ok(()) }
}

/// A change event (deploy, config push): context on the service timeline,
/// never an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeEvent {
    pub summary: String,
    pub source: Option<String>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub details: serde_json::Value,
    pub links: Vec<Link>,
}

/// Which integration an event came through; resolved from the key before
/// the event reaches the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub integration_id: String,
    pub service_id: String,
    pub kind: IntegrationKind,
}
