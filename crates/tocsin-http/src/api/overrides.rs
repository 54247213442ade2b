//! `/api/v1/schedules/{id}/overrides`: overrides created at run time ("take
//! my shift Friday 18:00–Monday 09:00"). They rank above the ones the config
//! declares; among themselves the one created last wins. Every on-call answer
//! includes them (`App::schedule`).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use tocsin_core::schedule::Override;
use tocsin_store::{NewOverride, ScheduleOverride};

use super::params::{self, Params, RawParams};
use crate::auth::Caller;
use crate::error::{ApiError, read_body};
use crate::state::AppState;

/// The wire shape of an override.
pub fn to_json(o: &ScheduleOverride) -> Value {
    json!({
        "id": o.id,
        "schedule": o.schedule_id,
        "user": o.user_id,
        "start": o.start,
        "end": o.end,
        "source": "api",
        "created_at": o.created_at,
        "created_by": o.created_by,
    })
}

/// An override declared in config: no id (it is removed by applying a
/// config without it), and `source: "config"`.
fn declared_json(schedule: &str, o: &Override) -> Value {
    json!({
        "id": null,
        "schedule": schedule,
        "user": o.user,
        "start": o.start,
        "end": o.end,
        "source": "config",
        "created_at": null,
        "created_by": null,
    })
}

/// `{user, start, end}` → 201 with the override.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let map = params::json_object(&read_body(body, params::MAX_API_BODY).await?)?;
    let user = params::required_text(&map, "user", 64)?;
    let start = params::required_timestamp(&map, "start")?;
    let end = params::required_timestamp(&map, "end")?;
    let new = NewOverride { schedule_id: id, user_id: user, start, end };
    let created = state.app.create_override(&caller, new).await?;
    Ok((StatusCode::CREATED, Json(to_json(&created))))
}

/// Overrides that have not ended yet, or with `?include_past=true` also
/// those that have: the ones config declares first, then the run-time ones
/// by id (creation), which is their order of precedence.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    raw: RawParams,
) -> Result<Json<Value>, ApiError> {
    let include_past = Params::from(raw)?.flag("include_past")?;
    let list = state.app.list_overrides(&caller, &id, include_past).await?;
    let declared = list.declared.iter().map(|o| declared_json(&id, o));
    let items: Vec<Value> = declared.chain(list.stored.iter().map(to_json)).collect();
    Ok(Json(json!({"items": items, "next_cursor": null})))
}

/// 204, or 404 when the schedule has no live override with that id.
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, override_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let override_id = params::id(&override_id, "override")?;
    state.app.delete_override(&caller, &id, override_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
