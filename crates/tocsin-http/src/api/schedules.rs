//! `/api/v1/schedules`: who is on call, from the schedules in config plus
//! the overrides created at run time (`App::schedule`). The
//! answers come from the domain's final-schedule function, the same one the
//! engine will page from.

use axum::Json;
use axum::extract::{Path, State};
use tocsin_api::{self as wire, AtQuery, Items, Page, SegmentsQuery};
use tocsin_core::schedule::{self, MAX_RANGE_DAYS};

use super::params::{Params, RawParams};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::openapi::errors::{BadRequest, NotFound, Unauthenticated};
use crate::state::AppState;

/// The schedules declared in config.
///
/// Requires role `viewer` or higher.
#[utoipa::path(
    get,
    path = "/schedules",
    operation_id = "list_schedules",
    tag = "schedules",
    responses((status = 200, description = "Every schedule", body = Page<wire::Schedule>), Unauthenticated)
)]
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Page<wire::Schedule>>, ApiError> {
    let items = state.app.read_directory(&caller)?.schedules.iter().map(schedule_summary).collect();
    Ok(Json(Page { items, next_cursor: None }))
}

fn schedule_summary(s: &schedule::Schedule) -> wire::Schedule {
    wire::Schedule {
        id: s.id.clone(),
        time_zone: s.time_zone.name().to_string(),
        layers: s.layers.iter().map(|l| wire::ScheduleLayer { id: l.id.clone(), users: l.users.clone() }).collect(),
    }
}

/// One schedule declared in config: its zone and layers.
///
/// Requires role `viewer` or higher.
#[utoipa::path(
    get,
    path = "/schedules/{id}",
    operation_id = "get_schedule",
    tag = "schedules",
    params(("id" = String, Path, description = "Schedule id")),
    responses((status = 200, description = "The schedule", body = wire::Schedule), Unauthenticated, NotFound)
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<wire::Schedule>, ApiError> {
    let directory = state.app.read_directory(&caller)?;
    let schedule = directory.schedule(&id).ok_or_else(|| ApiError::not_found("schedule"))?;
    Ok(Json(schedule_summary(schedule)))
}

/// The users on call at an instant; empty in a gap.
///
/// Requires role `viewer` or higher.
#[utoipa::path(
    get,
    path = "/schedules/{id}/oncall",
    operation_id = "schedule_oncall",
    tag = "schedules",
    params(("id" = String, Path, description = "Schedule id"), AtQuery),
    responses(
        (status = 200, description = "Who is on call", body = wire::OnCall),
        BadRequest,
        Unauthenticated,
        NotFound,
    )
)]
pub async fn oncall(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    raw: RawParams,
) -> Result<Json<wire::OnCall>, ApiError> {
    let at = Params::from(raw)?.timestamp("at")?.unwrap_or_else(|| state.now());
    let schedule = state.app.schedule(&caller, &id, at).await?;
    let users = schedule::on_call_at(&schedule, at).into_iter().collect();
    Ok(Json(wire::OnCall { schedule: schedule.id, at, users }))
}

/// Who is on call across `[from, to)`; gaps are absent.
///
/// Requires role `viewer` or higher.
#[utoipa::path(
    get,
    path = "/schedules/{id}/segments",
    operation_id = "schedule_segments",
    tag = "schedules",
    params(("id" = String, Path, description = "Schedule id"), SegmentsQuery),
    responses(
        (status = 200, description = "The segments, in order", body = Items<wire::Segment>),
        BadRequest,
        Unauthenticated,
        NotFound,
    )
)]
pub async fn segments(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    raw: RawParams,
) -> Result<Json<Items<wire::Segment>>, ApiError> {
    let p = Params::from(raw)?;
    let from = p.timestamp("from")?.ok_or_else(|| ApiError::validation("from", "is required"))?;
    let to = p.timestamp("to")?.ok_or_else(|| ApiError::validation("to", "is required"))?;
    if to <= from {
        return Err(ApiError::validation("to", "must be after `from`"));
    }
    let schedule = state.app.schedule(&caller, &id, from).await?;
    let segments = schedule::final_schedule(&schedule, from, to)
        .map_err(|_| ApiError::validation("to", format!("the range may span at most {MAX_RANGE_DAYS} days")))?;
    let items = segments.into_iter().map(|s| wire::Segment { start: s.start, end: s.end, user: s.user }).collect();
    Ok(Json(Items { items }))
}
