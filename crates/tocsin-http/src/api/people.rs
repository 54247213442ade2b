//! `/api/v1/me`, `/users` and `/teams`: who is calling and who exists.
//! Contact addresses appear only for their owner and for admins.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use tocsin_app::{Me, Person, TeamInfo};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

pub async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<Me>, ApiError> {
    Ok(Json(state.app.me(&caller).await?))
}

pub async fn users(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"items": state.app.users(&caller).await?, "next_cursor": null})))
}

pub async fn user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Person>, ApiError> {
    Ok(Json(state.app.user(&caller, &id).await?))
}

pub async fn teams(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"items": state.app.teams(&caller).await?, "next_cursor": null})))
}

pub async fn team(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<TeamInfo>, ApiError> {
    Ok(Json(state.app.team(&caller, &id).await?))
}
