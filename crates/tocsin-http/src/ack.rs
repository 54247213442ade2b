//! One-click acknowledgement from a page, without logging in.
//!
//! `GET /ack/{id}?token=…` only shows a confirmation page: mail scanners and
//! chat link previews fetch links, and fetching must never acknowledge.
//! `POST /ack/{id}` with the token acknowledges, as the user the token was
//! issued to. A token is signed, expires, and names one incident (see
//! `tocsin_core::notify::ack_link`). Every rejection looks the same.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tocsin_app::AppError;
use tocsin_core::incident::{Incident, IncidentStatus};
use tocsin_core::notify::ack_link::{self, AckClaim, MAX_TOKEN_LEN};
use tocsin_core::notify::render::text::html;

use crate::error::read_body;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/ack/{id}", get(confirm).post(acknowledge))
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

pub async fn confirm(State(state): State<AppState>, Path(id): Path<String>, Query(q): Query<TokenQuery>) -> Response {
    let Some((claim, token)) = check(&state, &id, q.token.as_deref()) else { return invalid() };
    let Some(who) = state.app.account(&claim.user_id) else { return invalid() };
    let incident = match state.app.incident(&who, claim.incident_id).await {
        Ok(detail) => detail.incident,
        Err(AppError::Unavailable(_)) => return unavailable(),
        Err(_) => return invalid(),
    };
    let body = match incident.status {
        IncidentStatus::Triggered => format!(
            "<p>Acknowledge this incident as <strong>{user}</strong>? Paging stops for everyone.</p>\
             <form method=\"post\" action=\"/ack/{id}\"><input type=\"hidden\" name=\"token\" value=\"{token}\">\
             <button type=\"submit\">Acknowledge</button></form>",
            user = html(&claim.user_id),
            id = incident.id,
            token = html(&token),
        ),
        _ => already(&incident),
    };
    page(StatusCode::OK, &incident_heading(&incident), &body)
}

pub async fn acknowledge(State(state): State<AppState>, Path(id): Path<String>, body: Body) -> Response {
    let Ok(bytes) = read_body(body, 2 * MAX_TOKEN_LEN).await else { return invalid() };
    let token = form_token(&bytes);
    let Some((claim, _)) = check(&state, &id, token.as_deref()) else { return invalid() };
    // The link acts as the paged person, as long as they still have an account.
    let Some(who) = state.app.account(&claim.user_id) else { return invalid() };
    match state.app.acknowledge(&who, claim.incident_id).await {
        Ok(incident) => page(
            StatusCode::OK,
            &incident_heading(&incident),
            &format!("<p>Acknowledged as <strong>{}</strong>. Paging has stopped.</p>", html(&claim.user_id)),
        ),
        Err(AppError::InvalidTransition(_)) => match state.app.incident(&who, claim.incident_id).await {
            Ok(detail) => page(StatusCode::CONFLICT, &incident_heading(&detail.incident), &already(&detail.incident)),
            Err(AppError::Unavailable(_)) => unavailable(),
            Err(_) => invalid(),
        },
        Err(AppError::Unavailable(_)) => unavailable(),
        Err(_) => invalid(),
    }
}

/// The claim and the token text when the token is valid for this incident now.
fn check(state: &AppState, id: &str, token: Option<&str>) -> Option<(AckClaim, String)> {
    let id: i64 = id.parse().ok()?;
    let token = token?;
    match ack_link::verify(&state.ack_secret, token, id, state.now()) {
        Ok(claim) => Some((claim, token.to_string())),
        Err(err) => {
            tracing::info!(incident = id, error = %err, "acknowledge link rejected");
            None
        }
    }
}

/// `token=<value>` from a form body. Tokens use only `[0-9a-f.-]`, which
/// form encoding leaves as they are, so no decoding is needed.
fn form_token(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|pair| pair.strip_prefix("token=")).map(str::to_string)
}

fn incident_heading(incident: &Incident) -> String {
    format!("#{} {}", incident.id, incident.title)
}

fn already(incident: &Incident) -> String {
    match incident.status {
        IncidentStatus::Acknowledged => format!(
            "<p>Already acknowledged{}.</p>",
            incident.acknowledged_by.as_deref().map(|by| format!(" by {}", html(by))).unwrap_or_default()
        ),
        IncidentStatus::Resolved => "<p>This incident is resolved.</p>".to_string(),
        IncidentStatus::Triggered => String::new(),
    }
}

fn invalid() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Link not valid",
        "<p>This acknowledge link is invalid or has expired. Acknowledge from the API or CLI instead.</p>",
    )
}

fn unavailable() -> Response {
    page(StatusCode::SERVICE_UNAVAILABLE, "Try again", "<p>Storage is unavailable; try again in a moment.</p>")
}

/// A small self-contained page. The token is in the URL, so no referrer
/// leaves it, nothing caches it, and no other site may frame the button.
fn page(status: StatusCode, heading: &str, body: &str) -> Response {
    let doc = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title} · Tocsin</title></head>\
         <body><h1>{title}</h1>{body}</body></html>\n",
        title = html(heading),
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'; form-action 'self'; frame-ancestors 'none'"),
        ],
        doc,
    )
        .into_response()
}
