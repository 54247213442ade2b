//! `/api/v1/tokens`: API tokens, admin only. The secret is shown once, on
//! creation; only its hash is stored.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use tocsin_core::auth::{Role, format_token, hash_secret};
use tocsin_store::NewToken;

use super::params;
use crate::auth::Caller;
use crate::error::{ApiError, read_body};
use crate::state::{AppState, random_bytes};

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Admin, "create tokens")?;
    let map = params::json_object(&read_body(body, params::MAX_API_BODY).await?)?;
    let name = params::required_text(&map, "name", 100)?;
    let role_text = params::required_text(&map, "role", 20)?;
    let role = Role::parse(&role_text)
        .ok_or_else(|| ApiError::validation("role", "must be one of viewer, responder, manager, admin"))?;
    let secret = format_token(&random_bytes());
    let new = NewToken { name, role, secret_hash: hash_secret(&secret) };
    let info = state.store.create_token(&new, &caller.actor(), state.now()).await?;
    Ok((StatusCode::CREATED, Json(json!({"id": info.id, "name": info.name, "role": info.role, "token": secret}))))
}

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin, "list tokens")?;
    Ok(Json(json!({"items": state.store.list_tokens().await?, "next_cursor": null})))
}

pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin, "revoke tokens")?;
    let id = params::id(&id, "token")?;
    if state.store.revoke_token(id, &caller.actor(), state.now()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("token"))
    }
}
