//! `/api/v1/schedules/{id}/overrides`: overrides created at run time ("take
//! my shift Friday 18:00–Monday 09:00"). They rank above the ones the config
//! declares; among themselves the one created last wins. Every on-call answer
//! includes them (`AppState::effective_schedule`).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use tocsin_core::auth::Role;
use tocsin_core::schedule::MAX_RANGE_DAYS;
use tocsin_store::{NewOverride, ScheduleOverride};

use super::params::{self, Params, RawParams};
use crate::auth::Caller;
use crate::error::{ApiError, read_body};
use crate::state::AppState;

/// Longest override, in days: the longest range one segments query answers,
/// so an override is always visible whole.
pub const MAX_OVERRIDE_DAYS: i64 = MAX_RANGE_DAYS;

/// The wire shape of an override.
pub fn to_json(o: &ScheduleOverride) -> Value {
    json!({
        "id": o.id,
        "schedule": o.schedule_id,
        "user": o.user_id,
        "start": o.start,
        "end": o.end,
        "created_at": o.created_at,
        "created_by": o.created_by,
    })
}

fn known_schedule(state: &AppState, id: &str) -> Result<(), ApiError> {
    state.directory.schedule(id).map(|_| ()).ok_or_else(|| ApiError::not_found("schedule"))
}

/// `{user, start, end}` → 201 with the override.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Responder, "create schedule overrides")?;
    known_schedule(&state, &id)?;
    let map = params::json_object(&read_body(body, params::MAX_API_BODY).await?)?;
    let user = params::required_text(&map, "user", 64)?;
    if state.directory.user(&user).is_none() {
        return Err(ApiError::validation("user", format!("unknown user `{user}`")));
    }
    let start = params::required_timestamp(&map, "start")?;
    let end = params::required_timestamp(&map, "end")?;
    check_interval(start, end)?;
    let new = NewOverride { schedule_id: id, user_id: user, start, end };
    let created = state.store.create_override(&new, &caller.actor(), state.now()).await?;
    Ok((StatusCode::CREATED, Json(to_json(&created))))
}

fn check_interval(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<(), ApiError> {
    if end <= start {
        return Err(ApiError::validation("end", "must be after `start`"));
    }
    if end - start > TimeDelta::days(MAX_OVERRIDE_DAYS) {
        return Err(ApiError::validation("end", format!("an override may last at most {MAX_OVERRIDE_DAYS} days")));
    }
    Ok(())
}

/// Live overrides that have not ended yet, or with `?include_past=true` also
/// those that have; ordered by id (creation).
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    raw: RawParams,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer, "read schedules")?;
    let include_past = Params::from(raw)?.flag("include_past")?;
    known_schedule(&state, &id)?;
    let ending_after = if include_past { DateTime::<Utc>::MIN_UTC } else { state.now() };
    let items: Vec<Value> = state.store.list_overrides(Some(&id), ending_after).await?.iter().map(to_json).collect();
    Ok(Json(json!({"items": items, "next_cursor": null})))
}

/// 204, or 404 when the schedule has no live override with that id.
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, override_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Responder, "delete schedule overrides")?;
    known_schedule(&state, &id)?;
    let override_id = params::id(&override_id, "override")?;
    if state.store.delete_override(&id, override_id, &caller.actor(), state.now()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("override"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn intervals_name_end() {
        let t = |d: u32| Utc.with_ymd_and_hms(2026, 3, d, 0, 0, 0).single().unwrap_or_default();
        assert_eq!(check_interval(t(2), t(3)), Ok(()));
        assert_eq!(check_interval(t(3), t(3)).map_err(|e| e.field), Err(Some("end".to_string())));
        assert_eq!(check_interval(t(3), t(2)).map_err(|e| e.field), Err(Some("end".to_string())));
        let long = t(1) + TimeDelta::days(MAX_OVERRIDE_DAYS) + TimeDelta::seconds(1);
        assert_eq!(check_interval(t(1), long).map_err(|e| e.field), Err(Some("end".to_string())));
        assert_eq!(check_interval(t(1), t(1) + TimeDelta::days(MAX_OVERRIDE_DAYS)), Ok(()));
    }
}
