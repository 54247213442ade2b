//! `/api/v1/services`: the catalog as declared in config.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use tocsin_core::auth::Role;
use tocsin_store::ServiceView;

use super::params::{Params, RawParams};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer, "list services")?;
    let items = state.store.list_services().await?;
    Ok(Json(json!({"items": items, "next_cursor": null})))
}

pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ServiceView>, ApiError> {
    caller.require(Role::Viewer, "read services")?;
    Ok(Json(state.store.get_service(&id).await?.ok_or_else(|| ApiError::not_found("service"))?))
}

/// Change events (deploys) recorded for a service, newest first.
pub async fn changes(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer, "read services")?;
    state.store.get_service(&id).await?.ok_or_else(|| ApiError::not_found("service"))?;
    let items = state.store.list_changes(&id, 100).await?;
    Ok(Json(json!({"items": items, "next_cursor": null})))
}

/// `?at=` (default now): who the service's escalation policy pages first.
pub async fn oncall(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    raw: RawParams,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer, "read services")?;
    let at = Params::from(raw)?.timestamp("at")?.unwrap_or_else(|| state.now());
    state.store.get_service(&id).await?.ok_or_else(|| ApiError::not_found("service"))?;
    let policy = state.directory.service_policy(&id);
    let responders = match policy {
        Some(p) => tocsin_core::oncall::first_responders(p, &state.effective_schedules(at).await?, at),
        None => Vec::new(),
    };
    let users: Vec<Value> =
        responders.iter().map(|r| json!({"user": r.user, "via_schedule": r.via_schedule})).collect();
    Ok(Json(json!({
        "service": id,
        "escalation_policy": policy.map(|p| p.id.clone()),
        "at": at,
        "users": users,
    })))
}
