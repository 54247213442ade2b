//! `/api/v1/notifications/webhook-secret`: the key webhooks are signed
//! with, for admins setting up receivers that verify `Tocsin-Signature`;
//! `/api/v1/notifications/ack-key/rotate`: a new acknowledge-link key.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Admin only; every read is audited (`App::webhook_secret`).
pub async fn webhook_secret(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let secret = state.app.webhook_secret(&caller).await?;
    Ok(Json(json!({
        "secret": secret.value,
        "source": secret.source,
        "header": "Tocsin-Signature",
        "scheme": "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\" keyed by the secret's UTF-8 bytes>",
    })))
}

/// Admin only: every acknowledge link sent so far is refused from now on
/// (`App::rotate_ack_key`, audited as `secret.rotate`). 204.
pub async fn rotate_ack_key(State(state): State<AppState>, caller: Caller) -> Result<StatusCode, ApiError> {
    state.app.rotate_ack_key(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}
