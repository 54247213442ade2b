//! The catalog: config as code made to match, and services as the API shows them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::BTreeMap;

use tocsin_core::model::{Catalog, IntegrationKind};

use serde_json::json;

use super::{DbRow, StoreImpl, WriteTx, audit_record, begin_write};
use crate::codec::{from_us, parse_enum, to_us};
use crate::{
    CatalogChanges, CatalogStore, ConfigSource, ConfigVersion, IntegrationRef, IntegrationView, Result, ServiceView,
    StoreError, StoredConfig,
};

pub(super) fn key_hint(key: &str) -> String {
    let tail: String = key.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    format!("…{tail}")
}

impl StoreImpl {
    /// Active services with their enabled integrations: all of them, or the
    /// one named by `only`.
    async fn services(&self, only: Option<&str>) -> Result<Vec<ServiceView>> {
        let rows = sqlx::query(
            "SELECT s.id, s.name, s.description, s.team_id, \
             (SELECT COUNT(*) FROM incidents i WHERE i.service_id = s.id AND i.status <> 'resolved') AS open_incidents \
             FROM services s WHERE s.active AND ($1 IS NULL OR s.id = $1) ORDER BY s.id",
        )
        .bind(only)
        .fetch_all(&self.read)
        .await?;
        let integrations = sqlx::query(
            "SELECT id, service_id, kind, key_hint FROM integrations WHERE enabled AND ($1 IS NULL OR service_id = $1) \
             ORDER BY id",
        )
        .bind(only)
        .fetch_all(&self.read)
        .await?;
        let mut by_service: BTreeMap<String, Vec<IntegrationView>> = BTreeMap::new();
        for r in &integrations {
            by_service.entry(r.try_get("service_id")?).or_default().push(IntegrationView {
                id: r.try_get("id")?,
                kind: parse_enum("integrations.kind", &r.try_get::<String, _>("kind")?, IntegrationKind::parse)?,
                key_hint: r.try_get("key_hint")?,
            });
        }
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                Ok(ServiceView {
                    integrations: by_service.remove(&id).unwrap_or_default(),
                    id,
                    name: r.try_get("name")?,
                    description: r.try_get("description")?,
                    team: r.try_get("team_id")?,
                    open_incidents: r.try_get("open_incidents")?,
                })
            })
            .collect()
    }
}

/// Makes the stored catalog match `catalog` inside `w`.
async fn write_catalog(w: &mut WriteTx<'_>, catalog: &Catalog, now: DateTime<Utc>) -> Result<CatalogChanges> {
    let mut changes = CatalogChanges::default();
    for team in &catalog.teams {
        sqlx::query("INSERT INTO teams (id, name) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET name = excluded.name")
            .bind(&team.id)
            .bind(&team.name)
            .execute(&mut *w.tx)
            .await?;
        changes.teams += 1;
    }
    // Accounts not declared any more stop acting (their tokens with
    // them); the built-in admin always stays.
    sqlx::query("UPDATE users SET active = FALSE WHERE id <> 'admin'").execute(&mut *w.tx).await?;
    for user in &catalog.users {
        sqlx::query(
            "INSERT INTO users (id, name, email, role, active) VALUES ($1, $2, $3, $4, TRUE) \
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email, \
                 role = excluded.role, active = TRUE",
        )
        .bind(&user.id)
        .bind(&user.name)
        .bind(&user.email)
        .bind(user.role.as_str())
        .execute(&mut *w.tx)
        .await?;
        changes.users += 1;
    }
    sqlx::query("DELETE FROM team_members").execute(&mut *w.tx).await?;
    for team in &catalog.teams {
        for member in &team.members {
            sqlx::query("INSERT INTO team_members (team_id, user_id) VALUES ($1, $2)")
                .bind(&team.id)
                .bind(member)
                .execute(&mut *w.tx)
                .await?;
        }
    }
    sqlx::query("UPDATE integrations SET enabled = FALSE").execute(&mut *w.tx).await?;
    sqlx::query("UPDATE services SET active = FALSE").execute(&mut *w.tx).await?;
    for service in &catalog.services {
        sqlx::query(
            "INSERT INTO services (id, name, description, team_id, active) VALUES ($1, $2, $3, $4, TRUE) \
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description, \
                 team_id = excluded.team_id, active = TRUE",
        )
        .bind(&service.id)
        .bind(&service.name)
        .bind(&service.description)
        .bind(&service.team)
        .execute(&mut *w.tx)
        .await?;
        changes.services += 1;
    }
    for integration in &catalog.integrations {
        // A key that moved to another integration id frees its hash first.
        let hash = tocsin_core::auth::hash_secret(&integration.key);
        sqlx::query("DELETE FROM integrations WHERE key_hash = $1 AND id <> $2")
            .bind(&hash)
            .bind(&integration.id)
            .execute(&mut *w.tx)
            .await?;
        sqlx::query(
                "INSERT INTO integrations (id, service_id, kind, key_hash, key_hint, enabled) VALUES ($1, $2, $3, $4, $5, TRUE) \
                 ON CONFLICT (id) DO UPDATE SET service_id = excluded.service_id, kind = excluded.kind, \
                 key_hash = excluded.key_hash, key_hint = excluded.key_hint, enabled = TRUE",
            )
            .bind(&integration.id)
            .bind(&integration.service_id)
            .bind(integration.kind.as_str())
            .bind(&hash)
            .bind(key_hint(&integration.key))
            .execute(&mut *w.tx)
            .await?;
        changes.integrations += 1;
    }
    // Routed integrations keep no history: alerts name theirs by id.
    sqlx::query("DELETE FROM routed_integrations").execute(&mut *w.tx).await?;
    for integration in &catalog.routed_integrations {
        sqlx::query(
            "INSERT INTO routed_integrations (id, kind, key_hash, key_hint, route, enabled) VALUES ($1, $2, $3, $4, $5, TRUE)",
        )
        .bind(&integration.id)
        .bind(integration.kind.as_str())
        .bind(tocsin_core::auth::hash_secret(&integration.key))
        .bind(key_hint(&integration.key))
        .bind(&integration.route)
        .execute(&mut *w.tx)
        .await?;
        changes.integrations += 1;
    }
    let inactive: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM services WHERE NOT active").fetch_one(&mut *w.tx).await?;
    changes.services_inactive = usize::try_from(inactive).unwrap_or(0);
    let disabled: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM integrations WHERE NOT enabled").fetch_one(&mut *w.tx).await?;
    changes.integrations_disabled = usize::try_from(disabled).unwrap_or(0);
    super::heartbeats::write_heartbeats(w, &catalog.heartbeats, now).await?;
    Ok(changes)
}

fn version_from_row(r: &DbRow) -> Result<ConfigVersion> {
    Ok(ConfigVersion {
        version: r.try_get("version")?,
        file: r.try_get("file")?,
        summary: r.try_get("summary")?,
        applied_at: from_us(r.try_get("applied_at")?)?,
        applied_by: r.try_get("applied_by")?,
    })
}

#[async_trait]
impl CatalogStore for StoreImpl {
    async fn apply_catalog(&self, catalog: &Catalog, who: &str, now: DateTime<Utc>) -> Result<CatalogChanges> {
        let mut w = begin_write(&self.write).await?;
        w.lock_names(["config"]).await?;
        let changes = write_catalog(&mut w, catalog, now).await?;
        let details = serde_json::to_value(&changes).unwrap_or_default();
        w.audit(audit_record(now, who, "config.apply", "catalog".to_string(), details)).await?;
        w.commit(&self.signal).await?;
        Ok(changes)
    }

    async fn apply_config_version(
        &self,
        catalog: &Catalog,
        source: &ConfigSource,
        summary: &str,
        who: &str,
        now: DateTime<Utc>,
    ) -> Result<ConfigVersion> {
        // The config lock is held from here to commit, so two nodes applying
        // at once get consecutive numbers and never interleave catalog rows.
        let mut w = begin_write(&self.write).await?;
        w.lock_names(["config"]).await?;
        let changes = write_catalog(&mut w, catalog, now).await?;
        let latest: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM config_versions").fetch_one(&mut *w.tx).await?;
        let version = latest.unwrap_or(0) + 1;
        sqlx::query(
            "INSERT INTO config_versions (version, file, source, summary, applied_at, applied_by) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(version)
        .bind(&source.file)
        .bind(&source.text)
        .bind(summary)
        .bind(to_us(now))
        .bind(who)
        .execute(&mut *w.tx)
        .await?;
        let details = json!({"version": version, "file": source.file, "summary": summary, "rows": changes});
        w.audit(audit_record(now, who, "config.apply", format!("config:{version}"), details)).await?;
        w.commit(&self.signal).await?;
        Ok(ConfigVersion {
            version,
            file: source.file.clone(),
            summary: summary.to_string(),
            applied_at: now,
            applied_by: who.to_string(),
        })
    }

    async fn latest_config_version(&self) -> Result<i64> {
        let latest: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM config_versions").fetch_one(&self.read).await?;
        Ok(latest.unwrap_or(0))
    }

    async fn config_version(&self, version: i64) -> Result<Option<StoredConfig>> {
        let row = sqlx::query("SELECT * FROM config_versions WHERE version = $1")
            .bind(version)
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| Ok(StoredConfig { info: version_from_row(&r)?, text: r.try_get("source")? })).transpose()
    }

    async fn find_integration(&self, key_hash: &str) -> Result<Option<IntegrationRef>> {
        let row = sqlx::query("SELECT id, service_id, kind FROM integrations WHERE key_hash = $1 AND enabled")
            .bind(key_hash)
            .fetch_optional(&self.read)
            .await?;
        let found = row
            .map(|r| {
                Ok::<_, StoreError>(IntegrationRef {
                    id: r.try_get("id")?,
                    service_id: r.try_get("service_id")?,
                    kind: parse_enum("integrations.kind", &r.try_get::<String, _>("kind")?, IntegrationKind::parse)?,
                    route: None,
                })
            })
            .transpose()?;
        if found.is_some() {
            return Ok(found);
        }
        let row = sqlx::query("SELECT id, kind, route FROM routed_integrations WHERE key_hash = $1 AND enabled")
            .bind(key_hash)
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| {
            Ok(IntegrationRef {
                id: r.try_get("id")?,
                service_id: String::new(),
                kind: parse_enum("routed_integrations.kind", &r.try_get::<String, _>("kind")?, IntegrationKind::parse)?,
                route: Some(r.try_get("route")?),
            })
        })
        .transpose()
    }

    async fn list_services(&self) -> Result<Vec<ServiceView>> {
        self.services(None).await
    }

    async fn get_service(&self, id: &str) -> Result<Option<ServiceView>> {
        Ok(self.services(Some(id)).await?.pop())
    }
}
