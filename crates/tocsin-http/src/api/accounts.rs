//! `/api/v1/users/{id}/password`, `/users/{id}/invitations` and
//! `/me/sessions`: passwords for the web pages' login, set by an admin or
//! through a one-time invitation, and the caller's own login sessions.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use tocsin_api::{self as wire, Items, PasswordRequest};
use tocsin_app::SessionInfo;

use super::item_list;
use super::params;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::openapi::errors::{BadRequest, Forbidden, NotFound, Unauthenticated};
use crate::state::AppState;

fn session(s: SessionInfo) -> wire::Session {
    let SessionInfo {
        id,
        user_id,
        created_at,
        last_seen_at,
        idle_expires_at,
        expires_at,
        address,
        user_agent,
        current,
    } = s;
    wire::Session { id, user_id, created_at, last_seen_at, idle_expires_at, expires_at, address, user_agent, current }
}

/// Set a user's password; the user's login sessions end.
///
/// Requires role `admin`.
#[utoipa::path(
    put,
    path = "/users/{id}/password",
    operation_id = "set_password",
    tag = "accounts",
    params(("id" = String, Path, description = "User id")),
    request_body = PasswordRequest,
    responses((status = 204, description = "Set"), BadRequest, Unauthenticated, Forbidden, NotFound)
)]
pub async fn set_password(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let PasswordRequest { password } = params::json_body(body).await?;
    state.app.set_password(&caller, &id, &password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create a one-time link with which the user sets their password.
///
/// Valid for 24 hours; the user's older unused links stop working.
///
/// Requires role `admin`.
#[utoipa::path(
    post,
    path = "/users/{id}/invitations",
    operation_id = "invite_user",
    tag = "accounts",
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 201, description = "The link, shown this once", body = wire::Invitation),
        Unauthenticated,
        Forbidden,
        NotFound,
    )
)]
pub async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<wire::Invitation>), ApiError> {
    let invitation = state.app.invite(&caller, &id).await?;
    let body = wire::Invitation { user: invitation.user_id, url: invitation.url, expires_at: invitation.expires_at };
    Ok((StatusCode::CREATED, Json(body)))
}

/// The caller's login sessions that are still valid, oldest first.
///
/// Requires role `viewer` or higher.
#[utoipa::path(
    get,
    path = "/me/sessions",
    operation_id = "my_sessions",
    tag = "accounts",
    responses((status = 200, description = "The sessions", body = Items<wire::Session>), Unauthenticated)
)]
pub async fn my_sessions(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Items<wire::Session>>, ApiError> {
    Ok(Json(item_list(state.app.my_sessions(&caller, None).await?, session)))
}

/// End one of the caller's login sessions (an admin: anyone's).
///
/// Requires role `viewer` or higher; others' sessions are not found.
#[utoipa::path(
    delete,
    path = "/me/sessions/{id}",
    operation_id = "end_session",
    tag = "accounts",
    params(("id" = i64, Path, description = "Session id")),
    responses((status = 204, description = "Ended"), Unauthenticated, NotFound)
)]
pub async fn end_session(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = params::id(&id, "session")?;
    state.app.end_session(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
