//! Config as code: plan and apply a file against the version in force.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /config/plan` and `POST /config`: a config file as YAML text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConfigRequest {
    /// The file's name, to label errors (`file:line:column`); default `config`.
    #[serde(default)]
    pub file: Option<String>,
    /// The whole YAML text.
    pub source: String,
}

/// Ids added, changed and removed in one section of the config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SectionChanges {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

/// What a config file changes, section by section. Integration keys are
/// never shown: a new key shows as a changed integration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConfigChanges {
    pub teams: SectionChanges,
    pub users: SectionChanges,
    pub services: SectionChanges,
    pub integrations: SectionChanges,
    pub schedules: SectionChanges,
    pub escalation_policies: SectionChanges,
    /// The `notifications` settings differ (they take effect at restart).
    pub notifications_changed: bool,
    /// The `retention` settings differ (in force within a pruning interval).
    #[serde(default)]
    pub retention_changed: bool,
    /// Top-level integrations, routed by `routes` instead of belonging to a
    /// service.
    #[serde(default)]
    pub routed_integrations: SectionChanges,
    /// Dead-man monitors.
    #[serde(default)]
    pub heartbeats: SectionChanges,
    /// The routing tree differs.
    #[serde(default)]
    pub routes_changed: bool,
    /// The inhibition rules differ.
    #[serde(default)]
    pub inhibit_rules_changed: bool,
}

/// What applying a file would change; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConfigPlan {
    /// The version in force; 0 before any.
    pub current_version: i64,
    /// The changes in one line.
    pub summary: String,
    pub changes: ConfigChanges,
    pub warnings: Vec<String>,
}

/// One applied config version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConfigVersion {
    pub version: i64,
    pub file: String,
    /// What it changed against the version before, in one line.
    pub summary: String,
    pub applied_at: DateTime<Utc>,
    /// `user:<id>`, or `system` for `serve --config`.
    pub applied_by: String,
}

/// `POST /config`: the version now in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AppliedConfig {
    #[serde(flatten)]
    pub version: ConfigVersion,
    /// False when the text equals the version in force: nothing was stored.
    pub created: bool,
    pub changes: ConfigChanges,
    pub warnings: Vec<String>,
}

/// `GET /notifications/webhook-secret`: the key webhooks are signed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookSecret {
    pub secret: String,
    /// `config` (`notifications.webhook_secret`) or `generated` (kept in the database).
    pub source: String,
    /// The header deliveries carry: `Tocsin-Signature`.
    pub header: String,
    /// How the signature is made.
    pub scheme: String,
}
