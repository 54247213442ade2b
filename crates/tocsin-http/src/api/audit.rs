//! `/api/v1/audit`: the hash-chained audit log, admin only.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::params::{Params, RawParams};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Oldest first; `after` is the last id already seen.
pub async fn list(State(state): State<AppState>, caller: Caller, raw: RawParams) -> Result<Json<Value>, ApiError> {
    let p = Params::from(raw)?;
    let after =
        p.parsed("after", "a non-negative integer", |v| v.parse::<i64>().ok().filter(|n| *n >= 0))?.unwrap_or(0);
    let items = state.app.audit_log(&caller, after, p.limit()?).await?;
    Ok(Json(json!({"items": items})))
}
