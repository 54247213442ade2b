//! `/api/v1/schedules/{id}/overrides`: overrides created at run time ("take
//! my shift Friday 18:00–Monday 09:00"). They rank above the ones the config
//! declares; among themselves the one created last wins. Every on-call answer
//! includes them (`App::schedule`).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::SubsecRound;
use tocsin_api::{self as wire, OverrideRequest, OverrideSource, OverridesQuery, Page};
use tocsin_core::schedule::Override;
use tocsin_store::{NewOverride, ScheduleOverride};

use super::params::{self, Params, RawParams};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::openapi::errors::{BadRequest, Forbidden, NotFound, Unauthenticated};
use crate::state::AppState;

fn schedule_override(o: ScheduleOverride) -> wire::Override {
    let ScheduleOverride { id, schedule_id, user_id, start, end, created_at, created_by } = o;
    wire::Override {
        id: Some(id),
        schedule: schedule_id,
        user: user_id,
        start,
        end,
        source: OverrideSource::Api,
        created_at: Some(created_at),
        created_by: Some(created_by),
    }
}

/// An override declared in config: no id (a config version without it
/// removes it) and no creator.
fn declared_override(schedule: &str, o: Override) -> wire::Override {
    let Override { user, start, end, created_seq: _ } = o;
    wire::Override {
        id: None,
        schedule: schedule.to_string(),
        user,
        start,
        end,
        source: OverrideSource::Config,
        created_at: None,
        created_by: None,
    }
}

/// Create an override: `user` takes the schedule during `[start, end)`.
///
/// The newest override wins where overrides overlap. Requires role
/// `responder` or higher.
#[utoipa::path(
    post,
    path = "/schedules/{id}/overrides",
    operation_id = "create_override",
    tag = "schedules",
    params(("id" = String, Path, description = "Schedule id")),
    request_body = OverrideRequest,
    responses(
        (status = 201, description = "The override", body = wire::Override),
        BadRequest,
        Unauthenticated,
        Forbidden,
        NotFound,
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<wire::Override>), ApiError> {
    let request: OverrideRequest = params::json_body(body).await?;
    // At the precision the store keeps, so this answer is what a later read returns.
    let new = NewOverride {
        schedule_id: id,
        user_id: request.user,
        start: request.start.trunc_subsecs(6),
        end: request.end.trunc_subsecs(6),
    };
    let created = state.app.create_override(&caller, new).await?;
    Ok((StatusCode::CREATED, Json(schedule_override(created))))
}

/// The overrides of a schedule that have not ended yet.
///
/// Those config declares come first (file order), then the run-time ones
/// oldest first, which is their order of precedence.
///
/// With `include_past`, also those that have. Requires role `viewer` or higher.
#[utoipa::path(
    get,
    path = "/schedules/{id}/overrides",
    operation_id = "list_overrides",
    tag = "schedules",
    params(("id" = String, Path, description = "Schedule id"), OverridesQuery),
    responses(
        (status = 200, description = "The overrides", body = Page<wire::Override>),
        BadRequest,
        Unauthenticated,
        NotFound,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    raw: RawParams,
) -> Result<Json<Page<wire::Override>>, ApiError> {
    let include_past = Params::from(raw)?.flag("include_past")?;
    let list = state.app.list_overrides(&caller, &id, include_past).await?;
    let declared = list.declared.into_iter().map(|o| declared_override(&id, o));
    let items = declared.chain(list.stored.into_iter().map(schedule_override)).collect();
    Ok(Json(Page { items, next_cursor: None }))
}

/// Delete an override.
///
/// Requires role `responder` or higher. 404 when the schedule has no live
/// override with that id.
#[utoipa::path(
    delete,
    path = "/schedules/{id}/overrides/{override_id}",
    operation_id = "delete_override",
    tag = "schedules",
    params(
        ("id" = String, Path, description = "Schedule id"),
        ("override_id" = i64, Path, description = "Override id"),
    ),
    responses((status = 204, description = "Deleted"), Unauthenticated, Forbidden, NotFound)
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, override_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let override_id = params::id(&override_id, "override")?;
    state.app.delete_override(&caller, &id, override_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
