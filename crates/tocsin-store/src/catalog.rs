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
    /// deactivates services and disables integrations that are not.
    async fn apply_catalog(&self, catalog: &Catalog, actor: &str, now: DateTime<Utc>) -> Result<CatalogChanges>;
    /// The enabled integration whose key hashes to `key_hash`.
    async fn find_integration(&self, key_hash: &str) -> Result<Option<IntegrationRef>>;
    async fn list_services(&self) -> Result<Vec<ServiceView>>;
    async fn get_service(&self, id: &str) -> Result<Option<ServiceView>>;
}

/// An enabled integration, resolved from its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationRef {
    pub id: String,
    pub service_id: String,
    pub kind: IntegrationKind,
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
