//! The catalog: teams, users, services and integrations, as config as code
//! declares them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tocsin_core::model::{Catalog, IntegrationKind};

use crate::Result;

#[async_trait]
pub trait CatalogStore: Send + Sync {
    /// Makes the stored catalog match `catalog`: upserts what is declared,
    /// deactivates services and disables integrations that are not. Heartbeat
    /// monitors not declared are deleted; declared ones keep their last ping.
    async fn apply_catalog(&self, catalog: &Catalog, actor: &str, now: DateTime<Utc>) -> Result<CatalogChanges>;
    /// [`apply_catalog`](Self::apply_catalog) and record `source` as the
    /// next config version, in one transaction; audited with the version.
    async fn apply_config_version(
        &self,
        catalog: &Catalog,
        source: &ConfigSource,
        summary: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<ConfigVersion>;
    /// The newest applied config version; 0 when none was ever applied.
    async fn latest_config_version(&self) -> Result<i64>;
    /// One applied version with its source text.
    async fn config_version(&self, version: i64) -> Result<Option<StoredConfig>>;
    /// The enabled integration whose key hashes to `key_hash`.
    async fn find_integration(&self, key_hash: &str) -> Result<Option<IntegrationRef>>;
    async fn list_services(&self) -> Result<Vec<ServiceView>>;
    async fn get_service(&self, id: &str) -> Result<Option<ServiceView>>;
}

/// A config file as it was applied: its name (to label errors) and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSource {
    pub file: String,
    pub text: String,
}

/// One applied config version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigVersion {
    pub version: i64,
    pub file: String,
    /// What it changed against the version before, in one line.
    pub summary: String,
    pub applied_at: DateTime<Utc>,
    pub applied_by: String,
}

/// A version and the text it was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredConfig {
    pub info: ConfigVersion,
    pub text: String,
}

/// An enabled integration, resolved from its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationRef {
    pub id: String,
    /// Empty for an integration bound to no service (see `route`).
    pub service_id: String,
    pub kind: IntegrationKind,
    /// For an integration bound to no service: the top-level route its
    /// events enter the routing tree at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CatalogChanges {
    pub teams: usize,
    pub users: usize,
    pub services: usize,
    pub integrations: usize,
    /// Services kept for history but no longer declared.
    pub services_inactive: usize,
    /// Integrations whose keys no longer open anything.
    pub integrations_disabled: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationView {
    pub id: String,
    pub kind: IntegrationKind,
    /// Last four characters of the key, to tell keys apart without revealing them.
    pub key_hint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub team: Option<String>,
    pub integrations: Vec<IntegrationView>,
    pub open_incidents: i64,
}
