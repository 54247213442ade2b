//! `/api/v1/incidents`: list, show, acknowledge, resolve, notes.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use tocsin_core::alert::Alert;
use tocsin_core::auth::Role;
use tocsin_core::incident::{Incident, IncidentStatus};
use tocsin_core::timeline::TimelineEntry;
use tocsin_store::{IncidentFilter, Page};

use super::params::{self, Params, RawParams};
use crate::auth::Caller;
use crate::error::{ApiError, read_body};
use crate::state::AppState;

/// Longest note accepted on a timeline.
const MAX_NOTE_CHARS: usize = 10_000;

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    raw: RawParams,
) -> Result<Json<Page<Incident>>, ApiError> {
    caller.require(Role::Viewer, "list incidents")?;
    let p = Params::from(raw)?;
    let filter = IncidentFilter {
        status: p.parsed("status", "one of triggered, acknowledged, resolved", IncidentStatus::parse)?,
        service: p.text("service", 64)?,
        since: p.timestamp("since")?,
        before_id: p.cursor()?,
        limit: p.limit()?,
    };
    Ok(Json(state.store.list_incidents(&filter).await?))
}

#[derive(Serialize)]
pub struct IncidentDetail {
    #[serde(flatten)]
    incident: Incident,
    alerts: Vec<Alert>,
    timeline: Vec<TimelineEntry>,
}

pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<IncidentDetail>, ApiError> {
    caller.require(Role::Viewer, "read incidents")?;
    let id = params::id(&id, "incident")?;
    let incident = state.store.get_incident(id).await?.ok_or_else(|| ApiError::not_found("incident"))?;
    let alerts = state.store.incident_alerts(id).await?;
    let timeline = state.store.incident_timeline(id).await?;
    Ok(Json(IncidentDetail { incident, alerts, timeline }))
}

pub async fn acknowledge(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Incident>, ApiError> {
    caller.require(Role::Responder, "acknowledge incidents")?;
    let id = params::id(&id, "incident")?;
    let incident =
        state.store.acknowledge_incident(id, &caller.actor(), state.now()).await.map_err(not_found_as_incident)?;
    Ok(Json(incident))
}

pub async fn resolve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Incident>, ApiError> {
    caller.require(Role::Responder, "resolve incidents")?;
    let id = params::id(&id, "incident")?;
    let incident =
        state.store.resolve_incident(id, &caller.actor(), state.now()).await.map_err(not_found_as_incident)?;
    Ok(Json(incident))
}

pub async fn add_note(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<TimelineEntry>), ApiError> {
    caller.require(Role::Responder, "add notes")?;
    let id = params::id(&id, "incident")?;
    let bytes = read_body(body, params::MAX_API_BODY).await?;
    let text = params::required_text(&params::json_object(&bytes)?, "text", MAX_NOTE_CHARS)?;
    let entry = state.store.add_note(id, &caller.actor(), &text, state.now()).await.map_err(not_found_as_incident)?;
    Ok((StatusCode::CREATED, Json(entry)))
}

fn not_found_as_incident(err: tocsin_store::StoreError) -> ApiError {
    match err {
        tocsin_store::StoreError::NotFound => ApiError::not_found("incident"),
        other => other.into(),
    }
}
