//! REST API under `/api/v1`: JSON, snake_case, RFC 3339 UTC timestamps,
//! cursor pagination, bearer-token auth with roles.

mod alerts;
mod audit;
mod config;
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

use axum::Router;
use axum::routing::{delete, get, post};

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/incidents", get(incidents::list))
        .route("/incidents/{id}", get(incidents::show))
        .route("/incidents/{id}/acknowledge", post(incidents::acknowledge))
        .route("/incidents/{id}/resolve", post(incidents::resolve))
        .route("/incidents/{id}/notes", post(incidents::add_note))
        .route("/incidents/{id}/escalate", post(incidents::escalate))
        .route("/incidents/{id}/reassign", post(incidents::reassign))
        .route("/incidents/{id}/notifications", get(incidents::notifications))
        .route("/alerts", get(alerts::list))
        .route("/alerts/{id}", get(alerts::show))
        .route("/services", get(services::list))
        .route("/services/{id}", get(services::show))
        .route("/services/{id}/changes", get(services::changes))
        .route("/services/{id}/oncall", get(services::oncall))
        .route("/escalation_policies", get(policies::list))
        .route("/escalation_policies/{id}/oncall", get(policies::oncall))
        .route("/schedules", get(schedules::list))
        .route("/schedules/{id}/oncall", get(schedules::oncall))
        .route("/schedules/{id}/segments", get(schedules::segments))
        .route("/schedules/{id}/overrides", get(overrides::list).post(overrides::create))
        .route("/schedules/{id}/overrides/{override_id}", delete(overrides::delete))
        .route("/schedules/{id}/ical", get(ical::schedule_feed))
        .route("/me", get(people::me))
        .route("/users", get(people::users))
        .route("/users/{id}", get(people::user))
        .route("/teams", get(people::teams))
        .route("/teams/{id}", get(people::team))
        .route("/users/{id}/ical-token", post(ical::issue_token))
        .route("/users/{id}/ical", get(ical::user_feed))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", delete(tokens::revoke))
        .route("/notifications/webhook-secret", get(notifications::webhook_secret))
        .route("/notifications/ack-key/rotate", post(notifications::rotate_ack_key))
        .route("/audit", get(audit::list))
        .route("/config", get(config::status).post(config::apply))
        .route("/config/plan", post(config::plan))
        .route("/openapi.json", get(crate::openapi::document))
        .layer(axum::extract::DefaultBodyLimit::max(params::MAX_API_BODY))
}
