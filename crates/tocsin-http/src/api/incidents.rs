//! `/api/v1/incidents`: list, show, acknowledge, resolve, notes, escalate,
//! reassign and notifications.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use tocsin_api::{self as wire, IncidentQuery, Items, NoteRequest, Page, ReassignRequest};
use tocsin_core::escalation::EscalationState;
use tocsin_core::incident::{Incident, IncidentStatus};
use tocsin_core::timeline::TimelineEntry;
use tocsin_store::{EscalationRow, IncidentFilter, NotificationRow};

use super::alerts::alert;
use super::params::{self, Params, RawParams};
use super::{item_list, page};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::openapi::errors::{BadRequest, Conflict, Forbidden, NotFound, Unauthenticated};
use crate::state::AppState;

pub(crate) fn incident(i: Incident) -> wire::Incident {
    let Incident {
        id,
        service_id,
        title,
        severity,
        status,
        created_at,
        acknowledged_at,
        acknowledged_by,
        resolved_at,
        resolved_by,
        alert_count,
        held_back,
    } = i;
    wire::Incident {
        id,
        service_id,
        title,
        severity,
        status,
        created_at,
        acknowledged_at,
        acknowledged_by,
        resolved_at,
        resolved_by,
        alert_count,
        held_back: held_back.iter().map(wire::HeldBack::from).collect(),
    }
}

fn timeline_entry(e: TimelineEntry) -> wire::TimelineEntry {
    let TimelineEntry { id, incident_id, at, kind, actor, payload } = e;
    wire::TimelineEntry { id, incident_id, at, kind, actor, payload }
}

/// The escalation as a responder needs it; `None` when the stored state
/// cannot be read.
fn escalation(row: EscalationRow) -> Option<wire::Escalation> {
    let state: EscalationState = serde_json::from_value(row.state).ok()?;
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    Some(wire::Escalation {
        policy: row.policy_id,
        status: state.status,
        // Counted from 1, as people count them and as timeline payloads do.
        level: count(state.level.saturating_add(1)),
        pass: state.pass.saturating_add(1),
        passes: state.policy.repeat.saturating_add(1),
        levels: count(state.policy.levels.len()),
        next_step_at: state.next_due,
    })
}

fn notification(n: NotificationRow) -> wire::Notification {
    let NotificationRow {
        id,
        incident_id,
        user_id,
        contact_method,
        channel,
        episode,
        idempotency_key,
        status,
        attempts,
        due_at,
        created_at,
        sent_at,
        last_error,
    } = n;
    wire::Notification {
        id,
        incident_id,
        user_id,
        contact_method,
        channel,
        episode,
        idempotency_key,
        status,
        attempts,
        due_at,
        created_at,
        sent_at,
        last_error,
    }
}

/// List incidents, newest first.
///
/// Requires role `viewer` or higher.
#[utoipa::path(
    get,
    path = "/incidents",
    operation_id = "list_incidents",
    tag = "incidents",
    params(IncidentQuery),
    responses(
        (status = 200, description = "One page of incidents", body = Page<wire::Incident>),
        BadRequest,
        Unauthenticated,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    raw: RawParams,
) -> Result<Json<Page<wire::Incident>>, ApiError> {
    let p = Params::from(raw)?;
    let filter = IncidentFilter {
        statuses: p
            .parsed("status", "one of triggered, acknowledged, resolved", IncidentStatus::parse)?
            .into_iter()
            .collect(),
        service: p.text("service", 64)?,
        since: p.timestamp("since")?,
        until: None,
        before_id: p.cursor()?,
        limit: p.limit()?,
    };
    Ok(Json(page(state.app.list_incidents(&caller, &filter).await?, incident)))
}

/// An incident with its alerts, timeline and where paging stands.
///
/// Requires role `viewer` or higher.
#[utoipa::path(
    get,
    path = "/incidents/{id}",
    operation_id = "get_incident",
    tag = "incidents",
    params(("id" = i64, Path, description = "Incident id")),
    responses(
        (status = 200, description = "The incident", body = wire::IncidentDetail),
        Unauthenticated,
        NotFound,
    )
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<wire::IncidentDetail>, ApiError> {
    let id = params::id(&id, "incident")?;
    let detail = state.app.incident(&caller, id).await?;
    Ok(Json(wire::IncidentDetail {
        incident: incident(detail.incident),
        alerts: detail.alerts.into_iter().map(alert).collect(),
        timeline: detail.timeline.into_iter().map(timeline_entry).collect(),
        escalation: detail.escalation.and_then(escalation),
    }))
}

/// Acknowledge a triggered incident.
///
/// Paging stops; the acknowledgement timeout starts. Requires role `responder`
/// or higher. 409 unless the incident is triggered.
#[utoipa::path(
    post,
    path = "/incidents/{id}/acknowledge",
    operation_id = "acknowledge_incident",
    tag = "incidents",
    params(("id" = i64, Path, description = "Incident id")),
    responses(
        (status = 200, description = "The acknowledged incident", body = wire::Incident),
        Unauthenticated,
        Forbidden,
        NotFound,
        Conflict,
    )
)]
pub async fn acknowledge(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<wire::Incident>, ApiError> {
    let id = params::id(&id, "incident")?;
    Ok(Json(incident(state.app.acknowledge(&caller, id).await?)))
}

/// Resolve an open incident and every alert in it that is still open.
///
/// Requires role `responder` or higher. 409 when already resolved.
#[utoipa::path(
    post,
    path = "/incidents/{id}/resolve",
    operation_id = "resolve_incident",
    tag = "incidents",
    params(("id" = i64, Path, description = "Incident id")),
    responses(
        (status = 200, description = "The resolved incident", body = wire::Incident),
        Unauthenticated,
        Forbidden,
        NotFound,
        Conflict,
    )
)]
pub async fn resolve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<wire::Incident>, ApiError> {
    let id = params::id(&id, "incident")?;
    Ok(Json(incident(state.app.resolve(&caller, id).await?)))
}

/// Add a note to the incident's timeline.
///
/// Requires role `responder` or higher.
#[utoipa::path(
    post,
    path = "/incidents/{id}/notes",
    operation_id = "add_note",
    tag = "incidents",
    params(("id" = i64, Path, description = "Incident id")),
    request_body = NoteRequest,
    responses(
        (status = 201, description = "The new timeline entry", body = wire::TimelineEntry),
        BadRequest,
        Unauthenticated,
        Forbidden,
        NotFound,
    )
)]
pub async fn add_note(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<wire::TimelineEntry>), ApiError> {
    let id = params::id(&id, "incident")?;
    let request: NoteRequest = params::json_body(body).await?;
    let entry = state.app.add_note(&caller, id, &request.text).await?;
    Ok((StatusCode::CREATED, Json(timeline_entry(entry))))
}

/// Escalate now: page the next level at once.
///
/// Requires role `responder` or higher. Accepted (202): the engine pages,
/// woken by the commit. 409 when the incident is resolved.
#[utoipa::path(
    post,
    path = "/incidents/{id}/escalate",
    operation_id = "escalate_incident",
    tag = "incidents",
    params(("id" = i64, Path, description = "Incident id")),
    responses(
        (status = 202, description = "Escalation requested", body = wire::Escalated),
        Unauthenticated,
        Forbidden,
        NotFound,
        Conflict,
    )
)]
pub async fn escalate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<wire::Escalated>), ApiError> {
    let id = params::id(&id, "incident")?;
    state.app.escalate(&caller, id).await?;
    Ok((StatusCode::ACCEPTED, Json(wire::Escalated { incident: id, escalation: wire::Requested::Requested })))
}

/// Page these users or schedules in place of the current level.
///
/// Requires role `responder` or higher. Accepted (202): the engine pages.
/// An unknown target is a 400 naming it (`targets[0].user`); 409 when the
/// incident is resolved.
#[utoipa::path(
    post,
    path = "/incidents/{id}/reassign",
    operation_id = "reassign_incident",
    tag = "incidents",
    params(("id" = i64, Path, description = "Incident id")),
    request_body = ReassignRequest,
    responses(
        (status = 202, description = "Reassignment requested", body = wire::Reassigned),
        BadRequest,
        Unauthenticated,
        Forbidden,
        NotFound,
        Conflict,
    )
)]
pub async fn reassign(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<wire::Reassigned>), ApiError> {
    let id = params::id(&id, "incident")?;
    let request: ReassignRequest = params::json_body(body).await?;
    let targets = state.app.reassign(&caller, id, request.targets).await?;
    Ok((StatusCode::ACCEPTED, Json(wire::Reassigned { incident: id, reassigned_to: targets })))
}

/// Every notification sent (or tried) for the incident, oldest first.
///
/// Requires role `viewer` or higher.
#[utoipa::path(
    get,
    path = "/incidents/{id}/notifications",
    operation_id = "list_notifications",
    tag = "incidents",
    params(("id" = i64, Path, description = "Incident id")),
    responses(
        (status = 200, description = "The notifications", body = Items<wire::Notification>),
        Unauthenticated,
        NotFound,
    )
)]
pub async fn notifications(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Items<wire::Notification>>, ApiError> {
    let id = params::id(&id, "incident")?;
    let items = state.app.incident_notifications(&caller, id).await?;
    Ok(Json(item_list(items, notification)))
}
