//! `/api/v1/notifications/webhook-secret`: the key webhooks are signed
//! with, for admins setting up receivers that verify `Tocsin-Signature`.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use tocsin_core::audit::AuditRecord;
use tocsin_core::auth::Role;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Admin only. Every read is written to the audit log (never the secret
/// itself) before the secret is returned.
pub async fn webhook_secret(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin, "read the webhook signing secret")?;
    let secret = state.webhook_secret.clone().ok_or_else(|| ApiError::not_found("webhook signing secret"))?;
    state
        .store
        .record_audit(AuditRecord {
            at: state.now(),
            actor: caller.actor(),
            action: "secret.read".into(),
            target: "secret:webhook_signing".into(),
            details: json!({"source": secret.source}),
        })
        .await?;
    Ok(Json(json!({
        "secret": secret.value,
        "source": secret.source,
        "header": "Tocsin-Signature",
        "scheme": "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\" keyed by the secret's UTF-8 bytes>",
    })))
}
