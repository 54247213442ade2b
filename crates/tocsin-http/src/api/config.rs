//! `/api/v1/config`: config as code without restarts. `plan` says what a
//! file would change against the version in force; `POST /config` applies
//! it as the next numbered version (admin); `GET /config` names the version
//! in force.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use serde_json::{Value, json};
use tocsin_app::{AppliedConfig, ConfigPlan};
use tocsin_store::{ConfigSource, ConfigVersion};

use super::params;
use crate::auth::Caller;
use crate::error::{ApiError, read_body};
use crate::state::AppState;

/// A config file of the largest accepted size, JSON-escaped, fits.
const MAX_CONFIG_BODY: usize = 2 * tocsin_config::MAX_FILE_BYTES + 4096;

/// `{"file": "tocsin.yaml", "source": "<YAML text>"}`.
async fn source(body: Body) -> Result<ConfigSource, ApiError> {
    let map = params::json_object(&read_body(body, MAX_CONFIG_BODY).await?)?;
    let file = params::optional_text(&map, "file", 1024)?.unwrap_or_else(|| "config".to_string());
    let text = match map.get("source") {
        Some(Value::String(text)) => text.clone(),
        Some(_) => return Err(ApiError::validation("source", "must be a string")),
        None => return Err(ApiError::validation("source", "is required")),
    };
    Ok(ConfigSource { file, text })
}

fn version_json(v: &ConfigVersion) -> Value {
    json!({
        "version": v.version,
        "file": v.file,
        "summary": v.summary,
        "applied_at": v.applied_at,
        "applied_by": v.applied_by,
    })
}

pub async fn status(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let current = state.app.config_status(&caller).await?.ok_or_else(|| ApiError::not_found("applied config"))?;
    Ok(Json(version_json(&current)))
}

pub async fn plan(State(state): State<AppState>, caller: Caller, body: Body) -> Result<Json<Value>, ApiError> {
    let source = source(body).await?;
    let ConfigPlan { current_version, diff, warnings } = state.app.plan_config(&caller, &source).await?;
    Ok(Json(json!({
        "current_version": current_version,
        "summary": diff.summary(),
        "changes": diff,
        "warnings": warnings,
    })))
}

pub async fn apply(State(state): State<AppState>, caller: Caller, body: Body) -> Result<Json<Value>, ApiError> {
    let source = source(body).await?;
    let AppliedConfig { version, diff, warnings, created } = state.app.apply_config(&caller, &source).await?;
    let mut body = version_json(&version);
    body["created"] = json!(created);
    body["changes"] = json!(diff);
    body["warnings"] = json!(warnings);
    Ok(Json(body))
}
