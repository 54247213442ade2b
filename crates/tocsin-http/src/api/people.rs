//! `/api/v1/me`, `/users` and `/teams`: who is calling and who exists.
//! Contact addresses appear only for their owner and for managers and admins.

use axum::Json;
use axum::extract::{Path, State};
use tocsin_api::{self as wire, Page};
use tocsin_app::{Me, Person, TeamInfo};
use tocsin_core::notify::rules::{ContactKind, ContactMethod};

use super::one_page;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::openapi::errors::{NotFound, Unauthenticated};
use crate::state::AppState;

fn contact_method(m: ContactMethod) -> wire::ContactMethod {
    let kind = match m.kind {
        ContactKind::Webhook { url } => wire::ContactKind::Webhook { url },
        ContactKind::Slack { url } => wire::ContactKind::Slack { url },
        ContactKind::Email { address } => wire::ContactKind::Email { address },
    };
    wire::ContactMethod { id: m.id, kind }
}

fn person(p: Person) -> wire::Person {
    let Person { id, name, role, teams, time_zone, email, contact_methods } = p;
    let contact_methods = contact_methods.map(|methods| methods.into_iter().map(contact_method).collect());
    wire::Person { id, name, role, teams, time_zone, email, contact_methods }
}

fn team_info(t: TeamInfo) -> wire::Team {
    let TeamInfo { id, name, members, services } = t;
    wire::Team { id, name, members, services }
}

/// The caller's account and the role this request acts with.
///
/// Requires role `viewer` or higher.
#[utoipa::path(
    get,
    path = "/me",
    operation_id = "me",
    tag = "people",
    responses((status = 200, description = "The caller", body = wire::Me), Unauthenticated, NotFound)
)]
pub async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<wire::Me>, ApiError> {
    let Me { person: p, acting_role } = state.app.me(&caller).await?;
    Ok(Json(wire::Me { person: person(p), acting_role }))
}

/// Every account: `admin` and the users config declares.
///
/// Requires role `viewer` or higher.
#[utoipa::path(
    get,
    path = "/users",
    operation_id = "list_users",
    tag = "people",
    responses((status = 200, description = "Every account", body = Page<wire::Person>), Unauthenticated)
)]
pub async fn users(State(state): State<AppState>, caller: Caller) -> Result<Json<Page<wire::Person>>, ApiError> {
    Ok(Json(one_page(state.app.users(&caller).await?, person)))
}

/// One account.
///
/// Requires role `viewer` or higher.
#[utoipa::path(
    get,
    path = "/users/{id}",
    operation_id = "get_user",
    tag = "people",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, description = "The account", body = wire::Person), Unauthenticated, NotFound)
)]
pub async fn user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<wire::Person>, ApiError> {
    Ok(Json(person(state.app.user(&caller, &id).await?)))
}

/// The teams config declares.
///
/// Requires role `viewer` or higher.
#[utoipa::path(
    get,
    path = "/teams",
    operation_id = "list_teams",
    tag = "people",
    responses((status = 200, description = "Every team", body = Page<wire::Team>), Unauthenticated)
)]
pub async fn teams(State(state): State<AppState>, caller: Caller) -> Result<Json<Page<wire::Team>>, ApiError> {
    Ok(Json(one_page(state.app.teams(&caller).await?, team_info)))
}

/// One team.
///
/// Requires role `viewer` or higher.
#[utoipa::path(
    get,
    path = "/teams/{id}",
    operation_id = "get_team",
    tag = "people",
    params(("id" = String, Path, description = "Team id")),
    responses((status = 200, description = "The team", body = wire::Team), Unauthenticated, NotFound)
)]
pub async fn team(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<wire::Team>, ApiError> {
    Ok(Json(team_info(state.app.team(&caller, &id).await?)))
}
