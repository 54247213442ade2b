//! `/api/v1/tokens`: API tokens. Each belongs to a user and acts as that
//! user with at most its role; admins issue tokens for anyone, everybody
//! else for themselves. The secret is shown once, on creation.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use tocsin_app::{MAX_TOKEN_NAME_CHARS, TokenRequest};
use tocsin_core::auth::Role;
use tocsin_core::duration::parse_positive_duration;

use super::params::{self, Params, RawParams};
use crate::auth::Caller;
use crate::error::{ApiError, read_body};
use crate::state::AppState;

/// `{name, role, user?, expires_in?}` → 201 with the token's secret.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let map = params::json_object(&read_body(body, params::MAX_API_BODY).await?)?;
    let name = params::required_text(&map, "name", MAX_TOKEN_NAME_CHARS)?;
    let role_text = params::required_text(&map, "role", 20)?;
    let role = Role::parse(&role_text)
        .ok_or_else(|| ApiError::validation("role", "must be one of viewer, responder, manager, admin"))?;
    let user = params::optional_text(&map, "user", 64)?;
    let expires_in = params::optional_text(&map, "expires_in", 32)?
        .map(|text| parse_positive_duration(&text).map_err(|e| ApiError::validation("expires_in", e.to_string())))
        .transpose()?;
    let issued = state.app.create_token(&caller, TokenRequest { name, role, user, expires_in }).await?;
    let mut body = json!(issued.info);
    body["token"] = json!(issued.secret);
    Ok((StatusCode::CREATED, Json(body)))
}

/// `?user=`: one user's tokens; without it, everyone's for an admin and the
/// caller's own for anybody else.
pub async fn list(State(state): State<AppState>, caller: Caller, raw: RawParams) -> Result<Json<Value>, ApiError> {
    let user = Params::from(raw)?.text("user", 64)?;
    let items = state.app.list_tokens(&caller, user.as_deref()).await?;
    Ok(Json(json!({"items": items, "next_cursor": null})))
}

pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = params::id(&id, "token")?;
    state.app.revoke_token(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
