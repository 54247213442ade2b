//! Services and escalation policies as config declares them, and whom they
//! page.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tocsin_core::escalation::Target;
use tocsin_core::model::IntegrationKind;
use utoipa::{IntoParams, ToSchema};

use crate::Link;

/// Something that has incidents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// The owning team's id.
    pub team: Option<String>,
    pub integrations: Vec<IntegrationSummary>,
    /// Triggered or acknowledged incidents now.
    pub open_incidents: i64,
    /// The dependency graph's edges at this service: the services it
    /// depends on (config `depends_on`; while one has an open incident,
    /// this service's new alerts join it rather than page) ...
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// ... and the services that depend on it.
    #[serde(default)]
    pub dependents: Vec<String>,
}

/// An integration as listed on its service. The key is a secret and is never
/// returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IntegrationSummary {
    pub id: String,
    pub kind: IntegrationKind,
    /// The key's last four characters (`…5e6f`), to tell keys apart.
    pub key_hint: String,
}

/// A change event (a deploy, a config push) recorded for a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Change {
    pub id: i64,
    pub service_id: String,
    /// When Tocsin received it.
    pub at: DateTime<Utc>,
    /// When the sender says it happened.
    pub occurred_at: Option<DateTime<Utc>>,
    pub summary: String,
    pub source: Option<String>,
    pub actor: String,
    pub details: serde_json::Value,
    pub links: Vec<Link>,
}

/// A person a policy level pages, and the schedule that put them there
/// (`null` when the level names the person directly).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Responder {
    pub user: String,
    pub via_schedule: Option<String>,
}

/// Whom a service's escalation policy pages first at an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ServiceOnCall {
    pub service: String,
    /// `null` when the service pages nobody.
    pub escalation_policy: Option<String>,
    pub at: DateTime<Utc>,
    pub users: Vec<Responder>,
}

/// An escalation policy: levels paged in turn until someone acknowledges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EscalationPolicy {
    pub id: String,
    /// Extra passes over all levels after the first.
    pub repeat: u32,
    pub levels: Vec<PolicyLevel>,
    /// Ids of the services that use this policy.
    pub services: Vec<String>,
}

/// One step of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyLevel {
    pub targets: Vec<Target>,
    /// How long this level has to acknowledge before the next is paged
    /// (`5m`, `1h30m`).
    pub escalate_after: String,
}

/// For every level of a policy, the people it would page at an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyOnCall {
    pub escalation_policy: String,
    pub at: DateTime<Utc>,
    pub levels: Vec<LevelOnCall>,
}

/// Whom one level would page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LevelOnCall {
    /// From 1: level 1 is the policy's first level.
    pub level: u32,
    pub escalate_after: String,
    /// Empty when the level's schedules have a gap.
    pub users: Vec<Responder>,
}

/// The instant an on-call question is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AtQuery {
    /// RFC 3339; the server's now when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}
