//! REST API under `/api/v1`: JSON, snake_case, RFC 3339 UTC timestamps,
//! cursor pagination, bearer-token auth with roles.
//!
//! Handlers answer with the wire types of `tocsin-api` and read request
//! bodies into them; each handler file converts the application's values.

mod accounts;
mod alerts;
mod audit;
mod config;
mod engine;
mod heartbeats;
mod ical;
mod incidents;
mod notifications;
mod overrides;
pub(crate) mod params;
mod people;
mod policies;
mod schedules;
mod services;
mod tokens;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::openapi::{self, ApiDoc};
use crate::state::AppState;

/// The route table of `/api/v1`: the router and the OpenAPI document both
/// come from it, so every path and method served is documented. One
/// `routes!` per path (handlers of one path share it).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(incidents::list))
        .routes(routes!(incidents::show))
        .routes(routes!(incidents::acknowledge))
        .routes(routes!(incidents::resolve))
        .routes(routes!(incidents::add_note))
        .routes(routes!(incidents::escalate))
        .routes(routes!(incidents::reassign))
        .routes(routes!(incidents::notifications))
        .routes(routes!(alerts::list))
        .routes(routes!(alerts::show))
        .routes(routes!(services::list))
        .routes(routes!(services::show))
        .routes(routes!(services::changes))
        .routes(routes!(services::oncall))
        .routes(routes!(heartbeats::list))
        .routes(routes!(policies::list))
        .routes(routes!(policies::show))
        .routes(routes!(policies::oncall))
        .routes(routes!(schedules::list))
        .routes(routes!(schedules::show))
        .routes(routes!(schedules::oncall))
        .routes(routes!(schedules::segments))
        .routes(routes!(overrides::list, overrides::create))
        .routes(routes!(overrides::delete))
        .routes(routes!(ical::schedule_feed))
        .routes(routes!(people::me))
        .routes(routes!(people::users))
        .routes(routes!(people::user))
        .routes(routes!(people::teams))
        .routes(routes!(people::team))
        .routes(routes!(ical::issue_token))
        .routes(routes!(ical::user_feed))
        .routes(routes!(accounts::set_password))
        .routes(routes!(accounts::invite))
        .routes(routes!(accounts::my_sessions))
        .routes(routes!(accounts::end_session))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::revoke))
        .routes(routes!(notifications::webhook_secret))
        .routes(routes!(notifications::rotate_ack_key))
        .routes(routes!(audit::list))
        .routes(routes!(engine::list))
        .routes(routes!(engine::retry))
        .routes(routes!(audit::verify))
        .routes(routes!(config::status, config::apply))
        .routes(routes!(config::plan))
        .routes(routes!(openapi::document))
        .layer(axum::extract::DefaultBodyLimit::max(params::MAX_API_BODY))
}

/// A page of the store's as a page on the wire.
fn page<T, W>(p: tocsin_store::Page<T>, convert: impl FnMut(T) -> W) -> tocsin_api::Page<W> {
    tocsin_api::Page { items: p.items.into_iter().map(convert).collect(), next_cursor: p.next_cursor }
}

/// A whole listing that has no further pages.
fn one_page<T, W>(items: Vec<T>, convert: impl FnMut(T) -> W) -> tocsin_api::Page<W> {
    tocsin_api::Page { items: items.into_iter().map(convert).collect(), next_cursor: None }
}

/// A whole list, answered as `{"items": [...]}`.
fn item_list<T, W>(items: Vec<T>, convert: impl FnMut(T) -> W) -> tocsin_api::Items<W> {
    tocsin_api::Items { items: items.into_iter().map(convert).collect() }
}
