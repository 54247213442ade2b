//! `/api/v1/schedules`: who is on call, from the schedules in config plus
//! the overrides created at run time (`App::schedule`). The
//! answers come from the domain's final-schedule function, the same one the
//! engine will page from.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use tocsin_core::schedule::{self, MAX_RANGE_DAYS};

use super::params::{Params, RawParams};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let items: Vec<Value> = state
        .app
        .read_directory(&caller)?
        .schedules
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "time_zone": s.time_zone.name(),
                "layers": s.layers.iter().map(|l| json!({"id": l.id, "users": l.users})).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(json!({"items": items, "next_cursor": null})))
}

/// `?at=` (default now): the users on call then; empty in a gap.
pub async fn oncall(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    raw: RawParams,
) -> Result<Json<Value>, ApiError> {
    let at = Params::from(raw)?.timestamp("at")?.unwrap_or_else(|| state.now());
    let schedule = state.app.schedule(&caller, &id, at).await?;
    let users: Vec<String> = schedule::on_call_at(&schedule, at).into_iter().collect();
    Ok(Json(json!({"schedule": schedule.id, "at": at, "users": users})))
}

/// `?from=&to=`: who is on call across a range; gaps are absent.
pub async fn segments(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    raw: RawParams,
) -> Result<Json<Value>, ApiError> {
    let p = Params::from(raw)?;
    let from = p.timestamp("from")?.ok_or_else(|| ApiError::validation("from", "is required"))?;
    let to = p.timestamp("to")?.ok_or_else(|| ApiError::validation("to", "is required"))?;
    if to <= from {
        return Err(ApiError::validation("to", "must be after `from`"));
    }
    let schedule = state.app.schedule(&caller, &id, from).await?;
    let segments = schedule::final_schedule(&schedule, from, to)
        .map_err(|_| ApiError::validation("to", format!("the range may span at most {MAX_RANGE_DAYS} days")))?;
    let items: Vec<Value> = segments.iter().map(|s| json!({"start": s.start, "end": s.end, "user": s.user})).collect();
    Ok(Json(json!({"items": items})))
}
