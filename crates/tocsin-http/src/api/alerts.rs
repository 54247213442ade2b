//! `/api/v1/alerts`: the deduplicated signals behind incidents.

use axum::Json;
use axum::extract::{Path, State};
use tocsin_api::{self as wire, AlertQuery, Page};
use tocsin_core::alert::{Alert, AlertStatus};
use tocsin_core::event::Link;
use tocsin_store::AlertFilter;

use super::page;
use super::params::{self, Params, RawParams};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::openapi::errors::{BadRequest, NotFound, Unauthenticated};
use crate::state::AppState;

pub(crate) fn alert(a: Alert) -> wire::Alert {
    let Alert {
        id,
        service_id,
        integration_id,
        kind,
        dedup_key,
        status,
        summary,
        severity,
        source,
        labels,
        details,
        links,
        first_seen,
        last_seen,
        occurrences,
        acknowledged_at,
        resolved_at,
        expires_at,
        incident_id,
        held_back,
    } = a;
    wire::Alert {
        id,
        service_id,
        integration_id,
        kind,
        dedup_key,
        status,
        summary,
        severity,
        source,
        labels,
        details,
        links: links.into_iter().map(link).collect(),
        first_seen,
        last_seen,
        occurrences,
        acknowledged_at,
        resolved_at,
        expires_at,
        incident_id,
        held_back: held_back.iter().map(wire::HeldBack::from).collect(),
    }
}

pub(crate) fn link(l: Link) -> wire::Link {
    wire::Link { href: l.href, text: l.text }
}

/// List alerts, newest first.
///
/// Requires role `viewer` or higher.
#[utoipa::path(
    get,
    path = "/alerts",
    operation_id = "list_alerts",
    tag = "alerts",
    params(AlertQuery),
    responses(
        (status = 200, description = "One page of alerts", body = Page<wire::Alert>),
        BadRequest,
        Unauthenticated,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    raw: RawParams,
) -> Result<Json<Page<wire::Alert>>, ApiError> {
    let p = Params::from(raw)?;
    let filter = AlertFilter {
        status: p.parsed("status", "one of triggered, acknowledged, resolved", AlertStatus::parse)?,
        service: p.text("service", 64)?,
        dedup_key: p.text("dedup_key", 255)?,
        before_id: p.cursor()?,
        limit: p.limit()?,
    };
    Ok(Json(page(state.app.list_alerts(&caller, &filter).await?, alert)))
}

/// One alert.
///
/// Requires role `viewer` or higher.
#[utoipa::path(
    get,
    path = "/alerts/{id}",
    operation_id = "get_alert",
    tag = "alerts",
    params(("id" = i64, Path, description = "Alert id")),
    responses((status = 200, description = "The alert", body = wire::Alert), Unauthenticated, NotFound)
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<wire::Alert>, ApiError> {
    let id = params::id(&id, "alert")?;
    Ok(Json(alert(state.app.alert(&caller, id).await?)))
}
