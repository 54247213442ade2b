//! `/api/v1/notifications/webhook-secret`: the key webhooks are signed
//! with, for admins setting up receivers that verify `Tocsin-Signature`;
//! `/api/v1/notifications/ack-key/rotate`: a new acknowledge-link key.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use tocsin_api as wire;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::openapi::errors::{Forbidden, NotFound, Unauthenticated};
use crate::state::AppState;

/// The key outgoing webhooks are signed with.
///
/// Requires role `admin`; every read is audited as `secret.read` (never
/// with the secret).
#[utoipa::path(
    get,
    path = "/notifications/webhook-secret",
    operation_id = "get_webhook_secret",
    tag = "notifications",
    responses(
        (status = 200, description = "The signing key", body = wire::WebhookSecret),
        Unauthenticated,
        Forbidden,
        NotFound,
    )
)]
pub async fn webhook_secret(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<wire::WebhookSecret>, ApiError> {
    let secret = state.app.webhook_secret(&caller).await?;
    Ok(Json(wire::WebhookSecret {
        secret: secret.value,
        source: secret.source.to_string(),
        header: "Tocsin-Signature".into(),
        scheme: "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\" keyed by the secret's UTF-8 bytes>".into(),
    }))
}

/// Rotate the acknowledge-link key: every link sent so far is refused.
///
/// Requires role `admin`; audited as `secret.rotate`. Pages sent from now
/// on carry links signed with the new key, on every node.
#[utoipa::path(
    post,
    path = "/notifications/ack-key/rotate",
    operation_id = "rotate_ack_key",
    tag = "notifications",
    responses((status = 204, description = "Rotated"), Unauthenticated, Forbidden)
)]
pub async fn rotate_ack_key(State(state): State<AppState>, caller: Caller) -> Result<StatusCode, ApiError> {
    state.app.rotate_ack_key(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}
