//! `/api/v1/services`: the catalog as declared in config.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use tocsin_store::ServiceView;

use super::params::{Params, RawParams};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let items = state.app.services(&caller).await?;
    Ok(Json(json!({"items": items, "next_cursor": null})))
}

pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ServiceView>, ApiError> {
    Ok(Json(state.app.service(&caller, &id).await?))
}

/// Change events (deploys) recorded for a service, newest first.
pub async fn changes(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let items = state.app.service_changes(&caller, &id).await?;
    Ok(Json(json!({"items": items, "next_cursor": null})))
}

/// `?at=` (default now): who the service's escalation policy pages first.
pub async fn oncall(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    raw: RawParams,
) -> Result<Json<Value>, ApiError> {
    let at = Params::from(raw)?.timestamp("at")?.unwrap_or_else(|| state.now());
    state.app.service(&caller, &id).await?;
    let (directory, schedules) = state.app.schedules(&caller, at).await?;
    let policy = directory.service_policy(&id);
    let responders = match policy {
        Some(p) => tocsin_core::oncall::first_responders(p, &schedules, at),
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
