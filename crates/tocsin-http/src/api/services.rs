//! `/api/v1/services`: the catalog as declared in config.

use axum::Json;
use axum::extract::{Path, State};
use tocsin_api::{self as wire, AtQuery, Page};
use tocsin_core::directory::Directory;
use tocsin_core::oncall::Responder;
use tocsin_store::{ChangeRecord, IntegrationView, ServiceView};

use super::alerts::link;
use super::one_page;
use super::params::{Params, RawParams};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::openapi::errors::{BadRequest, NotFound, Unauthenticated};
use crate::state::AppState;

fn service(s: ServiceView, directory: &Directory) -> wire::Service {
    let ServiceView { id, name, description, team, integrations, open_incidents } = s;
    let depends_on = directory.service(&id).map(|s| s.depends_on.clone()).unwrap_or_default();
    let dependents = directory.dependents(&id);
    let integrations = integrations
        .into_iter()
        .map(|i| {
            let IntegrationView { id, kind, key_hint } = i;
            wire::IntegrationSummary { id, kind, key_hint }
        })
        .collect();
    wire::Service { id, name, description, team, integrations, open_incidents, depends_on, dependents }
}

fn change(c: ChangeRecord) -> wire::Change {
    let ChangeRecord { id, service_id, at, occurred_at, summary, source, actor, details, links } = c;
    let links = links.into_iter().map(link).collect();
    wire::Change { id, service_id, at, occurred_at, summary, source, actor, details, links }
}

pub(crate) fn responder(r: &Responder) -> wire::Responder {
    wire::Responder { user: r.user.clone(), via_schedule: r.via_schedule.clone() }
}

/// The services declared in config.
///
/// Requires role `viewer` or higher.
#[utoipa::path(
    get,
    path = "/services",
    operation_id = "list_services",
    tag = "services",
    responses((status = 200, description = "Every service", body = Page<wire::Service>), Unauthenticated)
)]
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Page<wire::Service>>, ApiError> {
    let directory = state.app.directory();
    Ok(Json(one_page(state.app.services(&caller).await?, |s| service(s, &directory))))
}

/// One service.
///
/// Requires role `viewer` or higher.
#[utoipa::path(
    get,
    path = "/services/{id}",
    operation_id = "get_service",
    tag = "services",
    params(("id" = String, Path, description = "Service id")),
    responses((status = 200, description = "The service", body = wire::Service), Unauthenticated, NotFound)
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<wire::Service>, ApiError> {
    Ok(Json(service(state.app.service(&caller, &id).await?, &state.app.directory())))
}

/// Change events (deploys) recorded for a service, newest first.
///
/// Requires role `viewer` or higher.
#[utoipa::path(
    get,
    path = "/services/{id}/changes",
    operation_id = "list_service_changes",
    tag = "services",
    params(("id" = String, Path, description = "Service id")),
    responses(
        (status = 200, description = "The latest change events", body = Page<wire::Change>),
        Unauthenticated,
        NotFound,
    )
)]
pub async fn changes(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Page<wire::Change>>, ApiError> {
    Ok(Json(one_page(state.app.service_changes(&caller, &id).await?, change)))
}

/// Whom the service's escalation policy pages first at an instant.
///
/// Requires role `viewer` or higher.
#[utoipa::path(
    get,
    path = "/services/{id}/oncall",
    operation_id = "service_oncall",
    tag = "services",
    params(("id" = String, Path, description = "Service id"), AtQuery),
    responses(
        (status = 200, description = "The first responders", body = wire::ServiceOnCall),
        BadRequest,
        Unauthenticated,
        NotFound,
    )
)]
pub async fn oncall(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    raw: RawParams,
) -> Result<Json<wire::ServiceOnCall>, ApiError> {
    let at = Params::from(raw)?.timestamp("at")?.unwrap_or_else(|| state.now());
    state.app.service(&caller, &id).await?;
    let (directory, schedules) = state.app.schedules(&caller, at).await?;
    let policy = directory.service_policy(&id);
    let responders = match policy {
        Some(p) => tocsin_core::oncall::first_responders(p, &schedules, at),
        None => Vec::new(),
    };
    Ok(Json(wire::ServiceOnCall {
        service: id,
        escalation_policy: policy.map(|p| p.id.clone()),
        at,
        users: responders.iter().map(responder).collect(),
    }))
}
