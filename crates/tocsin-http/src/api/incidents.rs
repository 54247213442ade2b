//! `/api/v1/incidents`: list, show, acknowledge, resolve, notes.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use tocsin_app::{MAX_NOTE_CHARS, MAX_REASSIGN_TARGETS};
use tocsin_core::alert::Alert;
use tocsin_core::escalation::{EscState, EscalationState, Target};
use tocsin_core::incident::{Incident, IncidentStatus};
use tocsin_core::timeline::TimelineEntry;
use tocsin_store::{EscalationRow, IncidentFilter, Page};

use super::params::{self, Params, RawParams};
use crate::auth::Caller;
use crate::error::{ApiError, read_body};
use crate::state::AppState;

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    raw: RawParams,
) -> Result<Json<Page<Incident>>, ApiError> {
    let p = Params::from(raw)?;
    let filter = IncidentFilter {
        status: p.parsed("status", "one of triggered, acknowledged, resolved", IncidentStatus::parse)?,
        service: p.text("service", 64)?,
        since: p.timestamp("since")?,
        before_id: p.cursor()?,
        limit: p.limit()?,
    };
    Ok(Json(state.app.list_incidents(&caller, &filter).await?))
}

#[derive(Serialize)]
pub struct IncidentDetail {
    #[serde(flatten)]
    incident: Incident,
    alerts: Vec<Alert>,
    timeline: Vec<TimelineEntry>,
    /// Where paging stands; `null` when the service has no policy.
    escalation: Option<EscalationView>,
}

/// The escalation as a responder needs it: which step, and what happens next.
#[derive(Serialize)]
pub struct EscalationView {
    policy: String,
    /// `active`, `acknowledged`, `resolved` or `exhausted`.
    status: EscState,
    /// The level paged most recently in the current pass, and that pass,
    /// both counted from 1 as people count them (and as timeline payloads
    /// do): level 1 is the policy's first level.
    level: usize,
    pass: u32,
    /// Passes in all (`repeat` + 1) and levels per pass.
    passes: u32,
    levels: usize,
    /// When the next step (escalation or ack timeout) is due; `null` if none.
    next_step_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn escalation_view(row: EscalationRow) -> Option<EscalationView> {
    let state: EscalationState = serde_json::from_value(row.state).ok()?;
    Some(EscalationView {
        policy: row.policy_id,
        status: state.status,
        level: state.level.saturating_add(1),
        pass: state.pass.saturating_add(1),
        passes: state.policy.repeat.saturating_add(1),
        levels: state.policy.levels.len(),
        next_step_at: state.next_due,
    })
}

pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<IncidentDetail>, ApiError> {
    let id = params::id(&id, "incident")?;
    let detail = state.app.incident(&caller, id).await?;
    Ok(Json(IncidentDetail {
        incident: detail.incident,
        alerts: detail.alerts,
        timeline: detail.timeline,
        escalation: detail.escalation.and_then(escalation_view),
    }))
}

pub async fn acknowledge(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Incident>, ApiError> {
    let id = params::id(&id, "incident")?;
    Ok(Json(state.app.acknowledge(&caller, id).await?))
}

pub async fn resolve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Incident>, ApiError> {
    let id = params::id(&id, "incident")?;
    Ok(Json(state.app.resolve(&caller, id).await?))
}

pub async fn add_note(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<TimelineEntry>), ApiError> {
    let id = params::id(&id, "incident")?;
    let bytes = read_body(body, params::MAX_API_BODY).await?;
    let text = params::required_text(&params::json_object(&bytes)?, "text", MAX_NOTE_CHARS)?;
    Ok((StatusCode::CREATED, Json(state.app.add_note(&caller, id, &text).await?)))
}

/// "Escalate now": the engine pages the next level at once. Answers 202: the
/// page happens in the engine, which the commit wakes immediately.
pub async fn escalate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let id = params::id(&id, "incident")?;
    state.app.escalate(&caller, id).await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({"incident": id, "escalation": "requested"}))))
}

/// Pages the given users or schedules in place of the current level.
/// Body: `{"targets": [{"user": "carol"}, {"schedule": "primary"}]}`.
pub async fn reassign(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let id = params::id(&id, "incident")?;
    let bytes = read_body(body, params::MAX_API_BODY).await?;
    let object = params::json_object(&bytes)?;
    let targets = state.app.reassign(&caller, id, parse_targets(object.get("targets"))?).await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({"incident": id, "reassigned_to": targets}))))
}

/// The shape of `targets`; whether each exists is the application's check.
fn parse_targets(value: Option<&serde_json::Value>) -> Result<Vec<Target>, ApiError> {
    let Some(list) = value.and_then(|v| v.as_array()) else {
        return Err(ApiError::validation("targets", "a list of {\"user\": id} or {\"schedule\": id}"));
    };
    if list.is_empty() || list.len() > MAX_REASSIGN_TARGETS {
        return Err(ApiError::validation("targets", format!("between 1 and {MAX_REASSIGN_TARGETS} targets")));
    }
    list.iter()
        .enumerate()
        .map(|(i, t)| {
            let field = format!("targets[{i}]");
            let user = t.get("user").and_then(|v| v.as_str());
            let schedule = t.get("schedule").and_then(|v| v.as_str());
            match (user, schedule) {
                (Some(u), None) => Ok(Target::User(u.to_string())),
                (None, Some(s)) => Ok(Target::Schedule(s.to_string())),
                _ => Err(ApiError::validation(field, "exactly one of `user` or `schedule`")),
            }
        })
        .collect()
}

/// Every notification sent (or tried) for the incident, oldest first.
pub async fn notifications(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = params::id(&id, "incident")?;
    let items = state.app.incident_notifications(&caller, id).await?;
    Ok(Json(serde_json::json!({ "items": items })))
}
