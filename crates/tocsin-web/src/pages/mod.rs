//! One module per area of the site. Handlers turn a request into one
//! application-layer call and its answer into a template; none decides who
//! may do what.

mod account;
mod audit;
mod home;
mod incidents;
mod login;
mod policies;
mod schedules;
mod service_noise;
mod services;
mod silences;
mod users;

use axum::Router;
use axum::routing::{get, post};

use crate::Web;

/// Pages that need a signed-in viewer (the session layer is added around
/// them by the caller).
pub(crate) fn signed_in_routes() -> Router<Web> {
    Router::new()
        .route("/", get(home::show))
        .route("/test-page", post(home::send_test_page))
        .route("/incidents", get(incidents::list))
        .route("/incidents/acknowledge", post(incidents::acknowledge_selected))
        .route("/incidents/{id}", get(incidents::show))
        .route("/incidents/{id}/acknowledge", post(incidents::acknowledge))
        .route("/incidents/{id}/resolve", post(incidents::resolve))
        .route("/incidents/{id}/escalate", post(incidents::escalate))
        .route("/incidents/{id}/reassign", post(incidents::reassign))
        .route("/incidents/{id}/notes", post(incidents::add_note))
        .route("/services", get(services::list))
        .route("/services/{id}", get(services::show))
        .route("/schedules", get(schedules::list))
        .route("/schedules/{id}", get(schedules::show))
        .route("/schedules/{id}/overrides", post(schedules::add_override))
        .route("/schedules/{id}/overrides/{override_id}/remove", post(schedules::remove_override))
        .route("/escalation-policies", get(policies::list))
        .route("/silences", get(silences::list).post(silences::add))
        .route("/silences/{id}/expire", post(silences::expire))
        .route("/users", get(users::list))
        .route("/users/{id}", get(users::show))
        .route("/audit", get(audit::list))
        .route("/account", get(account::show))
        .route("/account/sessions/{id}/end", post(account::end_session))
        .route("/account/calendar-feed", post(account::calendar_feed))
        .route("/logout", post(login::logout))
}

/// Pages anyone may open: logging in and accepting an invitation.
pub(crate) fn public_routes() -> Router<Web> {
    Router::new()
        .route("/login", get(login::form).post(login::submit))
        .route("/invite/{token}", get(login::invitation).post(login::accept_invitation))
}

/// The zone this viewer reads times in (see [`crate::format::viewer_zone`]).
pub(crate) fn zone(
    directory: &tocsin_core::directory::Directory,
    viewer: &crate::session::Viewer,
    headers: &axum::http::HeaderMap,
) -> chrono_tz::Tz {
    crate::format::viewer_zone(headers, directory.user(viewer.user_id()).and_then(|u| u.time_zone))
}

/// A timeline entry's kind as a heading word: `ack_timeout` → `Ack timeout`.
pub(crate) fn kind_label(kind: &str) -> String {
    let words = kind.replace('_', " ");
    let mut chars = words.chars();
    chars.next().map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

/// A user's display name from the directory, or the id when not declared.
pub(crate) fn name_of(directory: &tocsin_core::directory::Directory, user: &str) -> String {
    directory.user(user).map_or_else(|| user.to_string(), |u| u.name.clone())
}
