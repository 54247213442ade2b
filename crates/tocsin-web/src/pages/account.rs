//! `/account`: my sessions (end any of them) and my calendar feed link.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use tocsin_app::SessionInfo;

use crate::Web;
use crate::format;
use crate::pages::zone;
use crate::render::{Chrome, WebError, page, see_other, url_encode};
use crate::session::Viewer;

pub(crate) struct SessionView {
    id: i64,
    current: bool,
    started: String,
    last_seen: String,
    expires: String,
    address: String,
    agent: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    user: String,
    sessions: Vec<SessionView>,
    feed_url: Option<String>,
}

/// A browser's product from its user agent, enough to tell sessions apart.
fn browser(agent: &str) -> String {
    let product = ["Firefox/", "Edg/", "Chrome/", "Safari/", "curl/"]
        .iter()
        .find(|p| agent.contains(*p))
        .map(|p| p.trim_end_matches('/'));
    let platform = ["Android", "iPhone", "iPad", "Windows", "Mac OS X", "Linux"].iter().find(|p| agent.contains(*p));
    match (product, platform) {
        (Some(b), Some(p)) => format!("{b} on {p}"),
        (Some(b), None) => b.to_string(),
        _ => agent.chars().take(60).collect(),
    }
}

async fn account_page(
    web: &Web,
    viewer: &Viewer,
    headers: &HeaderMap,
    feed_url: Option<String>,
) -> Result<AccountPage, WebError> {
    let app = &web.app;
    let sessions = app.my_sessions(viewer.principal(), Some(viewer.session.session_id)).await?;
    let directory = app.directory();
    let zone = zone(&directory, viewer, headers);
    let now = app.now();
    let view = |s: &SessionInfo| SessionView {
        id: s.id,
        current: s.current,
        started: format::instant(s.created_at, zone),
        last_seen: format::relative(s.last_seen_at, now),
        expires: format::instant(s.idle_expires_at.min(s.expires_at), zone),
        address: s.address.clone().unwrap_or_else(|| "unknown address".into()),
        agent: s.user_agent.as_deref().map_or_else(|| "unknown browser".into(), browser),
    };
    Ok(AccountPage {
        chrome: Chrome::new(web, viewer, "account"),
        user: viewer.user_id().to_string(),
        sessions: sessions.iter().map(view).collect(),
        feed_url,
    })
}

pub(crate) async fn show(State(web): State<Web>, viewer: Viewer, headers: HeaderMap) -> Response {
    match account_page(&web, &viewer, &headers, None).await {
        Ok(p) => page(&p),
        Err(e) => e.into_response(),
    }
}

pub(crate) async fn end_session(State(web): State<Web>, viewer: Viewer, Path(id): Path<i64>) -> Response {
    match web.app.end_session(viewer.principal(), id).await {
        // Ending the session this page came in on is logging out.
        Ok(()) if id == viewer.session.session_id => see_other("/login?logged_out=1"),
        Ok(()) => see_other("/account"),
        Err(e) => WebError::from(e).into_response(),
    }
}

/// Issues a new calendar feed link (the previous one stops working) and
/// shows it once.
pub(crate) async fn calendar_feed(State(web): State<Web>, viewer: Viewer, headers: HeaderMap) -> Response {
    let user = viewer.user_id().to_string();
    let issued = match web.app.rotate_feed_token(viewer.principal(), &user).await {
        Ok(issued) => issued,
        Err(e) => return WebError::from(e).into_response(),
    };
    let url =
        format!("{}/api/v1/users/{}/ical?token={}", web.app.public_url(), url_encode(&user), url_encode(&issued.token));
    match account_page(&web, &viewer, &headers, Some(url)).await {
        Ok(p) => page(&p),
        Err(e) => e.into_response(),
    }
}
