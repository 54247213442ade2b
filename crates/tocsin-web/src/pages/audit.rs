//! `/audit`: the audit log, newest first (admins; the application layer
//! refuses everyone else).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::Web;
use crate::format;
use crate::pages::zone;
use crate::render::{Chrome, WebError, page};
use crate::session::Viewer;

const PAGE_SIZE: i64 = 100;

pub(crate) struct EntryView {
    id: i64,
    at: String,
    actor: String,
    action: String,
    target: String,
    details: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    entries: Vec<EntryView>,
    older: Option<i64>,
}

#[derive(Deserialize)]
pub(crate) struct AuditQuery {
    before: Option<i64>,
}

pub(crate) async fn list(
    State(web): State<Web>,
    viewer: Viewer,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Response {
    let app = &web.app;
    let entries = match app.recent_audit(viewer.principal(), q.before, PAGE_SIZE).await {
        Ok(entries) => entries,
        Err(e) => return WebError::from(e).into_response(),
    };
    let directory = app.directory();
    let zone = zone(&directory, &viewer, &headers);
    let older = (entries.len() as i64 == PAGE_SIZE).then(|| entries.last().map(|e| e.id)).flatten();
    let entries = entries
        .into_iter()
        .map(|e| EntryView {
            id: e.id,
            at: format::instant(e.record.at, zone),
            actor: e.record.actor,
            action: e.record.action,
            target: e.record.target,
            details: match &e.record.details {
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            },
        })
        .collect();
    page(&AuditPage { chrome: Chrome::new(&web, &viewer, "audit"), entries, older })
}
