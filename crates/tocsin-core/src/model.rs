//! Catalog entities declared as code: teams, users, services, integrations.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub team: Option<String>,
}

/// The wire format an integration key accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationKind {
    Pagerduty,
    Alertmanager,
    Prometheus,
    Generic,
}

impl IntegrationKind {
    pub const ALL: [IntegrationKind; 4] = [
        IntegrationKind::Pagerduty,
        IntegrationKind::Alertmanager,
        IntegrationKind::Prometheus,
        IntegrationKind::Generic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationKind::Pagerduty => "pagerduty",
            IntegrationKind::Alertmanager => "alertmanager",
            IntegrationKind::Prometheus => "prometheus",
            IntegrationKind::Generic => "generic",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An inbound key bound to a service, as declared in config. The key is a
/// secret: storage keeps only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationSpec {
    pub id: String,
    pub service_id: String,
    pub kind: IntegrationKind,
    pub key: String,
}

/// Everything config-as-code declares, validated and ready to apply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    pub teams: Vec<Team>,
    pub users: Vec<User>,
    pub services: Vec<Service>,
    pub integrations: Vec<IntegrationSpec>,
}
