//! One-click acknowledgement from a page, without logging in.
//!
//! `GET /ack/{id}?token=…` only shows a confirmation page: mail scanners and
//! chat link previews fetch links, and fetching must never acknowledge.
//! `POST /ack/{id}` with the token acknowledges, as the user the token was
//! issued to. A token is signed, expires, and names one incident and the
//! paging episode its page belonged to (see `tocsin_core::notify::ack_link`
//! and `tocsin_app::App::ack_link`): a link from before the incident was
//! paged again says it is out of date, one used already says the incident is
//! acknowledged. Every other rejection looks the same.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tocsin_app::{AppError, LinkState};
use tocsin_core::incident::{Incident, IncidentStatus};
use tocsin_core::notify::ack_link::MAX_TOKEN_LEN;
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
    let (Ok(id), Some(token)) = (id.parse::<i64>(), q.token) else { return invalid() };
    let link = match state.app.ack_link(&token, id).await {
        Ok(link) => link,
        Err(e) => return refused(e),
    };
    let incident = &link.incident;
    let body = match link.state {
        LinkState::Usable => format!(
            "<p>Acknowledge this incident as <strong>{user}</strong>? Paging stops for everyone.</p>\
             <form method=\"post\" action=\"/ack/{id}\"><input type=\"hidden\" name=\"token\" value=\"{token}\">\
             <button type=\"submit\">Acknowledge</button></form>",
            user = html(&link.user_id),
            id = incident.id,
            token = html(&token),
        ),
        LinkState::OutOfDate => out_of_date(),
        LinkState::Settled | LinkState::Acknowledged => already(incident),
    };
    page(StatusCode::OK, &incident_heading(incident), &body)
}

pub async fn acknowledge(State(state): State<AppState>, Path(id): Path<String>, body: Body) -> Response {
    let Ok(bytes) = read_body(body, 2 * MAX_TOKEN_LEN).await else { return invalid() };
    let (Ok(id), Some(token)) = (id.parse::<i64>(), form_token(&bytes)) else { return invalid() };
    let link = match state.app.acknowledge_by_link(&token, id).await {
        Ok(link) => link,
        Err(e) => return refused(e),
    };
    let heading = incident_heading(&link.incident);
    match link.state {
        LinkState::Acknowledged => page(
            StatusCode::OK,
            &heading,
            &format!("<p>Acknowledged as <strong>{}</strong>. Paging has stopped.</p>", html(&link.user_id)),
        ),
        LinkState::OutOfDate => page(StatusCode::CONFLICT, &heading, &out_of_date()),
        LinkState::Settled | LinkState::Usable => page(StatusCode::CONFLICT, &heading, &already(&link.incident)),
    }
}

/// A refused link: storage trouble says "try again", a role that may not
/// acknowledge says so, and everything else looks the same.
fn refused(err: AppError) -> Response {
    match err {
        AppError::Unavailable(_) => unavailable(),
        AppError::Forbidden(denied) => {
            page(StatusCode::FORBIDDEN, "Not allowed", &format!("<p>{}.</p>", html(&denied.0)))
        }
        _ => invalid(),
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

fn out_of_date() -> String {
    "<p>This link is out of date: the incident was paged again after it was sent. \
     Use the link in the newest page, or acknowledge from the API or CLI.</p>"
        .to_string()
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
