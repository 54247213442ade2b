//! `/api/v1/config`: config as code without restarts. `plan` says what a
//! file would change against the version in force; `POST /config` applies
//! it as the next numbered version (admin); `GET /config` names the version
//! in force.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use tocsin_api::{self as wire, ConfigRequest};
use tocsin_core::catalog_diff::{CatalogDiff, SectionDiff};
use tocsin_store::{ConfigSource, ConfigVersion};

use super::params;
use crate::auth::Caller;
use crate::error::{ApiError, read_body};
use crate::openapi::errors::{BadRequest, Forbidden, InvalidConfig, NotFound, Unauthenticated};
use crate::state::AppState;

/// A config file of the largest accepted size, JSON-escaped, fits.
const MAX_CONFIG_BODY: usize = 2 * tocsin_config::MAX_FILE_BYTES + 4096;

async fn source(body: Body) -> Result<ConfigSource, ApiError> {
    let request: ConfigRequest = params::parse_json(&read_body(body, MAX_CONFIG_BODY).await?)?;
    let file = request.file.filter(|f| !f.trim().is_empty()).unwrap_or_else(|| "config".to_string());
    if file.chars().count() > 1024 {
        return Err(ApiError::validation("file", "at most 1024 characters"));
    }
    Ok(ConfigSource { file, text: request.source })
}

fn version(v: ConfigVersion) -> wire::ConfigVersion {
    let ConfigVersion { version, file, summary, applied_at, applied_by } = v;
    wire::ConfigVersion { version, file, summary, applied_at, applied_by }
}

fn section(s: SectionDiff) -> wire::SectionChanges {
    let SectionDiff { added, changed, removed } = s;
    wire::SectionChanges { added, changed, removed }
}

fn changes(d: CatalogDiff) -> wire::ConfigChanges {
    let CatalogDiff {
        teams,
        users,
        services,
        integrations,
        schedules,
        escalation_policies,
        notifications_changed,
        retention_changed,
        routed_integrations,
        heartbeats,
        routes_changed,
        inhibit_rules_changed,
    } = d;
    wire::ConfigChanges {
        teams: section(teams),
        users: section(users),
        services: section(services),
        integrations: section(integrations),
        schedules: section(schedules),
        escalation_policies: section(escalation_policies),
        notifications_changed,
        retention_changed,
        routed_integrations: section(routed_integrations),
        heartbeats: section(heartbeats),
        routes_changed,
        inhibit_rules_changed,
    }
}

/// The config version in force.
///
/// Requires role `viewer` or higher. 404 before any config was applied.
#[utoipa::path(
    get,
    path = "/config",
    operation_id = "get_config",
    tag = "config",
    responses(
        (status = 200, description = "The version in force", body = wire::ConfigVersion),
        Unauthenticated,
        NotFound,
    )
)]
pub async fn status(State(state): State<AppState>, caller: Caller) -> Result<Json<wire::ConfigVersion>, ApiError> {
    let current = state.app.config_status(&caller).await?.ok_or_else(|| ApiError::not_found("applied config"))?;
    Ok(Json(version(current)))
}

/// What applying a config file would change against the version in force.
///
/// Changes nothing. Requires role `admin`.
#[utoipa::path(
    post,
    path = "/config/plan",
    operation_id = "plan_config",
    tag = "config",
    request_body = ConfigRequest,
    responses(
        (status = 200, description = "The changes", body = wire::ConfigPlan),
        BadRequest,
        Unauthenticated,
        Forbidden,
        InvalidConfig,
    )
)]
pub async fn plan(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<Json<wire::ConfigPlan>, ApiError> {
    let source = source(body).await?;
    let plan = state.app.plan_config(&caller, &source).await?;
    Ok(Json(wire::ConfigPlan {
        current_version: plan.current_version,
        summary: plan.diff.summary(),
        changes: changes(plan.diff),
        warnings: plan.warnings,
    }))
}

/// Apply a config file as the next version.
///
/// Every server serves it within seconds; the same text as the version in
/// force stores nothing new. A file that does not validate changes nothing.
/// Requires role `admin`; audited as `config.apply`.
#[utoipa::path(
    post,
    path = "/config",
    operation_id = "apply_config",
    tag = "config",
    request_body = ConfigRequest,
    responses(
        (status = 200, description = "The version now in force", body = wire::AppliedConfig),
        BadRequest,
        Unauthenticated,
        Forbidden,
        InvalidConfig,
    )
)]
pub async fn apply(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<Json<wire::AppliedConfig>, ApiError> {
    let source = source(body).await?;
    let applied = state.app.apply_config(&caller, &source).await?;
    Ok(Json(wire::AppliedConfig {
        version: version(applied.version),
        created: applied.created,
        changes: changes(applied.diff),
        warnings: applied.warnings,
    }))
}
