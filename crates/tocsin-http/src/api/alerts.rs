//! `/api/v1/alerts`: the deduplicated signals behind incidents.

use axum::Json;
use axum::extract::{Path, State};
use tocsin_core::alert::{Alert, AlertStatus};
use tocsin_store::{AlertFilter, Page};

use super::params::{self, Params, RawParams};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    raw: RawParams,
) -> Result<Json<Page<Alert>>, ApiError> {
    let p = Params::from(raw)?;
    let filter = AlertFilter {
        status: p.parsed("status", "one of triggered, acknowledged, resolved", AlertStatus::parse)?,
        service: p.text("service", 64)?,
        dedup_key: p.text("dedup_key", 255)?,
        before_id: p.cursor()?,
        limit: p.limit()?,
    };
    Ok(Json(state.app.list_alerts(&caller, &filter).await?))
}

pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Alert>, ApiError> {
    let id = params::id(&id, "alert")?;
    Ok(Json(state.app.alert(&caller, id).await?))
}
