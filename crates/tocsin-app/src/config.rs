//! Config as code without restarts. Every applied file is stored as a
//! numbered version; the newest is in force on every node, which rebuilds
//! its directory from the stored text when it sees a higher number.

use tocsin_core::access::{Action, Principal, Resource};
use tocsin_core::catalog_diff::CatalogDiff;
use tocsin_core::directory::Directory;
use tocsin_core::model::Catalog;
use tocsin_store::{ConfigSource, ConfigVersion};

use crate::App;
use crate::error::{AppError, Result};

/// What applying a file would change, against the version in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigPlan {
    /// The version in force; 0 when none was ever applied.
    pub current_version: i64,
    pub diff: CatalogDiff,
    pub warnings: Vec<String>,
}

/// The version a successful apply put in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedConfig {
    pub version: ConfigVersion,
    pub diff: CatalogDiff,
    pub warnings: Vec<String>,
    /// False when the text was the same as the version in force: nothing
    /// new was stored.
    pub created: bool,
}

/// The warning for changes that running servers pick up only at their next
/// start. A server applying its file as it starts leaves it out: for it the
/// settings are in force at once.
pub const RESTART_NOTICE: &str = "notifications settings changed (SMTP relay, public URL, signing secret, link lifetime \
     or rate limit): they take effect when each server restarts";

/// What is worth a second look: a file that declares nothing, and changes
/// that the running servers pick up only at their next start.
fn warnings(source: &ConfigSource, catalog: &Catalog, diff: &CatalogDiff) -> Vec<String> {
    let mut warnings: Vec<String> =
        tocsin_config::warnings(&source.file, catalog).iter().map(ToString::to_string).collect();
    if diff.notifications_changed {
        warnings.push(RESTART_NOTICE.to_string());
    }
    warnings
}

fn parse(source: &ConfigSource) -> Result<Catalog> {
    tocsin_config::parse(&source.file, &source.text).map_err(AppError::InvalidConfig)
}

impl App {
    /// The version in force and its catalog (empty before any).
    async fn stored_catalog(&self) -> Result<(i64, Option<String>, Catalog)> {
        let version = self.store.latest_config_version().await?;
        if version == 0 {
            return Ok((0, None, Catalog::default()));
        }
        let stored = self.store.config_version(version).await?.ok_or(AppError::NotFound("config version"))?;
        let source = ConfigSource { file: stored.info.file.clone(), text: stored.text.clone() };
        Ok((version, Some(stored.text), parse(&source)?))
    }

    /// What applying `source` would change; changes nothing.
    pub async fn plan_config(&self, who: &Principal, source: &ConfigSource) -> Result<ConfigPlan> {
        self.allow(who, Action::ApplyConfig, Resource::All)?;
        let catalog = parse(source)?;
        let (current_version, _, current) = self.stored_catalog().await?;
        let diff = CatalogDiff::between(&current, &catalog);
        Ok(ConfigPlan { current_version, warnings: warnings(source, &catalog, &diff), diff })
    }

    /// Validates `source` and, when it differs from the version in force,
    /// stores it as the next version, makes the database match and puts it
    /// in force here (other nodes follow within their poll interval). A file
    /// that does not validate changes nothing.
    pub async fn apply_config(&self, who: &Principal, source: &ConfigSource) -> Result<AppliedConfig> {
        self.allow(who, Action::ApplyConfig, Resource::All)?;
        let catalog = parse(source)?;
        let (current_version, current_text, current) = self.stored_catalog().await?;
        let diff = CatalogDiff::between(&current, &catalog);
        let warnings = warnings(source, &catalog, &diff);
        if current_text.as_deref() == Some(source.text.as_str()) {
            let stored = self.store.config_version(current_version).await?;
            let version = stored.ok_or(AppError::NotFound("config version"))?.info;
            self.put_in_force(&catalog, version.version);
            return Ok(AppliedConfig { version, diff, warnings, created: false });
        }
        let version =
            self.store.apply_config_version(&catalog, source, &diff.summary(), &who.actor(), self.now()).await?;
        self.put_in_force(&catalog, version.version);
        tracing::info!("config applied: version {} from {}: {}", version.version, source.file, version.summary);
        Ok(AppliedConfig { version, diff, warnings, created: true })
    }

    /// The version in force, if any.
    pub async fn config_status(&self, who: &Principal) -> Result<Option<ConfigVersion>> {
        self.allow(who, Action::Read, Resource::All)?;
        let latest = self.store.latest_config_version().await?;
        Ok(self.store.config_version(latest).await?.map(|stored| stored.info))
    }

    /// Puts the newest stored version in force here if it is newer than the
    /// one this node serves; true when it did. Nodes call this on a short
    /// interval, so a version applied through any node reaches all.
    pub async fn refresh_config(&self) -> Result<bool> {
        let latest = self.store.latest_config_version().await?;
        if latest <= self.directory().version {
            return Ok(false);
        }
        let (version, _, catalog) = self.stored_catalog().await?;
        self.put_in_force(&catalog, version);
        tracing::info!(version, "config version now in force");
        Ok(true)
    }

    /// Never moves a node back to an older version than it serves.
    fn put_in_force(&self, catalog: &Catalog, version: i64) {
        if version >= self.directory().version {
            self.directory.replace(Directory::from_catalog(catalog).at_version(version));
        }
    }
}
