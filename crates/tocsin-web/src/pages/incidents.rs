//! `/incidents` (filters, live table, bulk acknowledge) and
//! `/incidents/{id}` (summary, alerts, paging trail, timeline, actions).

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use tocsin_app::{AppError, IncidentActions, NextCause};
use tocsin_core::alert::Alert;
use tocsin_core::escalation::Target;
use tocsin_core::incident::{Incident, IncidentStatus};
use tocsin_store::IncidentFilter;

use crate::Web;
use crate::format;
use crate::render::{Chrome, WebError, page, page_with_status, see_other, status_of};
use crate::session::Viewer;

/// Incidents per page of the list.
const PAGE_SIZE: i64 = 50;
/// Most entries of the paging trail an incident page lists (the latest).
const PAGES_SHOWN: usize = 200;
/// Most incidents one "Acknowledge selected" may carry.
const MAX_SELECTED: usize = 100;

/// The list's filters as the query string carries them.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ListQuery {
    status: Option<String>,
    service: Option<String>,
    since: Option<String>,
    /// The page cursor of "Older incidents".
    before: Option<String>,
    /// Set by htmx polling: answer with the table alone.
    fragment: Option<String>,
    /// Outcome of a bulk acknowledge, shown once after the redirect.
    acknowledged: Option<usize>,
    failed: Option<usize>,
}

struct Choice {
    value: &'static str,
    label: &'static str,
}

const STATUSES: &[Choice] = &[
    Choice { value: "open", label: "Open" },
    Choice { value: "triggered", label: "Triggered" },
    Choice { value: "acknowledged", label: "Acknowledged" },
    Choice { value: "resolved", label: "Resolved" },
    Choice { value: "any", label: "Any" },
];

const SINCE: &[Choice] = &[
    Choice { value: "", label: "Any time" },
    Choice { value: "1h", label: "Last hour" },
    Choice { value: "24h", label: "Last 24 hours" },
    Choice { value: "7d", label: "Last 7 days" },
    Choice { value: "30d", label: "Last 30 days" },
];

fn since_duration(value: &str) -> Option<Duration> {
    Some(match value {
        "1h" => Duration::hours(1),
        "24h" => Duration::hours(24),
        "7d" => Duration::days(7),
        "30d" => Duration::days(30),
        _ => return None,
    })
}

/// The store's filter for these statuses (any when empty), service, start
/// and page.
pub(crate) fn filter(
    statuses: Vec<IncidentStatus>,
    service: Option<String>,
    since: Option<DateTime<Utc>>,
    before_id: Option<i64>,
    limit: i64,
) -> IncidentFilter {
    IncidentFilter { statuses, service, since, until: None, before_id, limit }
}

/// One row of the table, formatted.
pub(crate) struct Row {
    pub id: i64,
    pub title: String,
    pub service: String,
    pub severity: &'static str,
    pub status: &'static str,
    pub status_class: &'static str,
    pub opened: String,
    pub opened_exact: String,
    pub alerts: i64,
    pub acknowledged_by: Option<String>,
    /// Why it pages nobody, as sentences; empty when it pages.
    pub held_back: Vec<String>,
}

impl Row {
    pub fn new(i: &Incident, service_name: &str, now: DateTime<Utc>, zone: Tz) -> Self {
        Row {
            id: i.id,
            title: i.title.clone(),
            service: service_name.to_string(),
            severity: i.severity.as_str(),
            status: format::status_label(i.status),
            status_class: format::status_class(i.status),
            opened: format::relative(i.created_at, now),
            opened_exact: format::instant(i.created_at, zone),
            alerts: i.alert_count,
            acknowledged_by: i.acknowledged_by.as_deref().map(|a| format::actor(a).to_string()),
            held_back: held_back(&i.held_back, zone),
        }
    }
}

pub(crate) struct Table {
    rows: Vec<Row>,
    /// The query string of this view, for polling and paging links.
    query: String,
    next: Option<String>,
    can_acknowledge: bool,
    filtered: bool,
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct ListPage {
    chrome: Chrome,
    table: Table,
    status: String,
    service: String,
    since: String,
    services: Vec<(String, String)>,
    statuses: &'static [Choice],
    since_choices: &'static [Choice],
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "incidents_table.html")]
struct TableFragment {
    table: Table,
}

pub(crate) async fn list(
    State(web): State<Web>,
    viewer: Viewer,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    match list_page(&web, &viewer, &headers, q).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn list_page(web: &Web, viewer: &Viewer, headers: &HeaderMap, q: ListQuery) -> Result<Response, WebError> {
    let app = &web.app;
    let who = viewer.principal();
    let status = q.status.clone().unwrap_or_else(|| "open".into());
    let (statuses, bad_status) = match status.as_str() {
        "open" => (vec![IncidentStatus::Triggered, IncidentStatus::Acknowledged], false),
        "triggered" => (vec![IncidentStatus::Triggered], false),
        "acknowledged" => (vec![IncidentStatus::Acknowledged], false),
        "resolved" => (vec![IncidentStatus::Resolved], false),
        "any" => (vec![], false),
        _ => (vec![], true),
    };
    if bad_status {
        return Err(WebError::new(
            StatusCode::BAD_REQUEST,
            "status: one of open, triggered, acknowledged, resolved, any",
        ));
    }
    let since = q.since.clone().unwrap_or_default();
    if !since.is_empty() && since_duration(&since).is_none() {
        return Err(WebError::new(StatusCode::BAD_REQUEST, "since: one of 1h, 24h, 7d, 30d"));
    }
    let before = match q.before.as_deref().filter(|b| !b.is_empty()) {
        None => None,
        Some(c) => Some(
            tocsin_store::cursor::decode(c)
                .ok_or_else(|| WebError::new(StatusCode::BAD_REQUEST, "before: not a page of this list"))?,
        ),
    };
    let service = q.service.clone().filter(|s| !s.is_empty());
    let now = app.now();
    let directory = app.read_directory(who)?;
    let filter = filter(statuses, service.clone(), since_duration(&since).map(|d| now - d), before, PAGE_SIZE);
    let found = app.list_incidents(who, &filter).await?;
    let zone = format::viewer_zone(headers, directory.user(viewer.user_id()).and_then(|u| u.time_zone));
    let service_name = |id: &str| directory.service(id).map_or_else(|| id.to_string(), |s| s.name.clone());
    let rows = found.items.iter().map(|i| Row::new(i, &service_name(&i.service_id), now, zone)).collect();
    let query = serde_urlencoded::to_string([
        ("status", status.as_str()),
        ("service", service.as_deref().unwrap_or("")),
        ("since", since.as_str()),
    ])
    .unwrap_or_default();
    let next = found.next_cursor.map(|c| format!("{query}&before={c}"));
    let table = Table {
        rows,
        query: query.clone(),
        next,
        can_acknowledge: app.can(who, tocsin_core::access::Action::Acknowledge, tocsin_core::access::Resource::All),
        filtered: status != "any" || service.is_some() || !since.is_empty(),
    };
    if q.fragment.as_deref() == Some("table") {
        return Ok(page(&TableFragment { table }));
    }
    let notice = match (q.acknowledged, q.failed) {
        (Some(n), Some(f)) if f > 0 => {
            Some(format!("Acknowledged {n}; {f} could not be acknowledged (already acknowledged or resolved)."))
        }
        (Some(n), _) => Some(format!("Acknowledged {n}.")),
        _ => None,
    };
    let services = directory.services.iter().map(|s| (s.id.clone(), s.name.clone())).collect();
    Ok(page(&ListPage {
        chrome: Chrome::new(web, viewer, "incidents"),
        table,
        status,
        service: service.unwrap_or_default(),
        since,
        services,
        statuses: STATUSES,
        since_choices: SINCE,
        notice,
    }))
}

/// "Acknowledge selected": the checked `ids` of the list, then back to the
/// list with how many were acknowledged.
pub(crate) async fn acknowledge_selected(State(web): State<Web>, viewer: Viewer, body: Bytes) -> Response {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let mut ids = Vec::new();
    for (key, value) in &pairs {
        if key == "ids" {
            match value.parse::<i64>() {
                Ok(id) => ids.push(id),
                Err(_) => {
                    return WebError::new(StatusCode::BAD_REQUEST, format!("ids: `{value}` is not an incident number"))
                        .into_response();
                }
            }
        }
    }
    if ids.is_empty() {
        return WebError::new(StatusCode::BAD_REQUEST, "ids: select at least one incident").into_response();
    }
    if ids.len() > MAX_SELECTED {
        return WebError::new(StatusCode::BAD_REQUEST, format!("ids: at most {MAX_SELECTED} at once")).into_response();
    }
    let outcomes = match web.app.acknowledge_many(viewer.principal(), &ids).await {
        Ok(outcomes) => outcomes,
        Err(e) => return WebError::from(e).into_response(),
    };
    let done = outcomes.iter().filter(|(_, r)| r.is_ok()).count();
    let failed = outcomes.len() - done;
    let back = pairs.iter().find(|(k, _)| k == "back").map(|(_, v)| v.as_str()).unwrap_or("");
    let back = if back.starts_with("status=") { back } else { "" };
    see_other(&format!("/incidents?{back}&acknowledged={done}&failed={failed}"))
}

// ---- one incident ----

pub(crate) struct AlertView {
    pub summary: String,
    pub status: &'static str,
    pub severity: &'static str,
    pub source: Option<String>,
    pub labels: Vec<(String, String)>,
    pub links: Vec<(String, String)>,
    pub first_seen: String,
    pub last_seen: String,
    pub occurrences: i64,
    pub held_back: Vec<String>,
}

/// Reasons a page was held back, as sentences in the viewer's zone.
fn held_back(reasons: &[tocsin_core::holdback::HeldBack], zone: Tz) -> Vec<String> {
    reasons.iter().map(|h| h.describe(&tocsin_core::holdback::Facts::new(zone))).collect()
}

impl AlertView {
    fn new(a: &Alert, zone: Tz) -> Self {
        AlertView {
            summary: a.summary.clone(),
            status: a.status.as_str(),
            severity: a.severity.as_str(),
            source: a.source.clone(),
            labels: a.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            // Only http(s) links become anchors; anything else is shown as text.
            links: a.links.iter().map(|l| (l.href.clone(), l.text.clone().unwrap_or_else(|| l.href.clone()))).collect(),
            first_seen: format::instant(a.first_seen, zone),
            last_seen: format::instant(a.last_seen, zone),
            occurrences: a.occurrences,
            held_back: held_back(&a.held_back, zone),
        }
    }

    pub fn is_web_link(href: &str) -> bool {
        href.starts_with("https://") || href.starts_with("http://")
    }
}

pub(crate) struct PageView {
    pub who: String,
    pub method: String,
    pub channel: String,
    pub status: String,
    pub status_class: &'static str,
    pub queued: String,
    pub sent: Option<String>,
    pub error: Option<String>,
    pub attempts: i64,
}

pub(crate) struct EntryView {
    pub kind: String,
    pub at: String,
    pub actor: String,
    pub text: String,
    pub note: bool,
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage {
    chrome: Chrome,
    incident: Row,
    actions: IncidentActions,
    alerts: Vec<AlertView>,
    alerts_more: i64,
    pages: Vec<PageView>,
    pages_hidden: usize,
    next_step: Option<String>,
    timeline: Vec<EntryView>,
    acknowledged: Option<String>,
    resolved: Option<String>,
    reassign_choices: Vec<(String, String)>,
    error: Option<String>,
    note: String,
}

pub(crate) async fn show(State(web): State<Web>, viewer: Viewer, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    match incident_page(&web, &viewer, &headers, id, None, String::new()).await {
        Ok(page) => crate::render::page(&page),
        Err(e) => e.into_response(),
    }
}

async fn incident_page(
    web: &Web,
    viewer: &Viewer,
    headers: &HeaderMap,
    id: i64,
    error: Option<String>,
    note: String,
) -> Result<IncidentPage, WebError> {
    let app = &web.app;
    let who = viewer.principal();
    let detail = app.incident(who, id).await?;
    let directory = app.read_directory(who)?;
    let zone = format::viewer_zone(headers, directory.user(viewer.user_id()).and_then(|u| u.time_zone));
    let now = app.now();
    let service_name = directory
        .service(&detail.incident.service_id)
        .map_or_else(|| detail.incident.service_id.clone(), |s| s.name.clone());
    let name_of = |user: &str| directory.user(user).map_or_else(|| user.to_string(), |u| u.name.clone());
    // The latest pages; a storm's thousands would bury the page.
    let pages_hidden = detail.notifications.len().saturating_sub(PAGES_SHOWN);
    let pages = detail.notifications[pages_hidden..]
        .iter()
        .map(|n| PageView {
            who: name_of(&n.user_id),
            method: n.contact_method.clone(),
            channel: n.channel.clone(),
            status_class: match n.status.as_str() {
                "sent" => "ok",
                "failed" => "bad",
                "cancelled" => "muted",
                _ => "pending",
            },
            status: n.status.clone(),
            queued: format::instant(n.created_at, zone),
            sent: n.sent_at.map(|t| format::instant(t, zone)),
            error: n.last_error.clone(),
            attempts: n.attempts,
        })
        .collect();
    let timeline = detail
        .timeline
        .iter()
        .map(|e| EntryView {
            at: format::instant(e.at, zone),
            actor: format::actor(&e.actor).to_string(),
            kind: crate::pages::kind_label(&e.kind),
            text: tocsin_core::timeline::describe(&e.kind, &e.payload),
            note: e.kind == "note",
        })
        .collect();
    let reassign_choices = directory
        .users
        .iter()
        .map(|u| (format!("user:{}", u.id), u.name.clone()))
        .chain(directory.schedules.iter().map(|s| (format!("schedule:{}", s.id), format!("On call in {}", s.id))))
        .collect();
    let i = &detail.incident;
    Ok(IncidentPage {
        chrome: Chrome::new(web, viewer, "incidents"),
        actions: app.incident_actions(who, i),
        acknowledged: i.acknowledged_at.map(|t| {
            format!("{} by {}", format::instant(t, zone), i.acknowledged_by.as_deref().map_or("", format::actor))
        }),
        resolved: i
            .resolved_at
            .map(|t| format!("{} by {}", format::instant(t, zone), i.resolved_by.as_deref().map_or("", format::actor))),
        incident: Row::new(i, &service_name, now, zone),
        alerts_more: (detail.alerts_total - detail.alerts.len() as i64).max(0),
        alerts: detail.alerts.iter().map(|a| AlertView::new(a, zone)).collect(),
        pages,
        pages_hidden,
        next_step: detail.next_step.as_ref().map(|step| {
            let who: Vec<String> = detail.next_responders.iter().map(|r| name_of(&r.user)).collect();
            let whom = if who.is_empty() { "nobody on call".to_string() } else { who.join(", ") };
            let what = match step.cause {
                NextCause::Escalate => format!("level {} pages {whom}", step.level + 1),
                NextCause::Repeat => format!("pass {}: level {} pages {whom} again", step.pass + 1, step.level + 1),
                NextCause::AckTimeout => format!("the acknowledgement runs out; level {} pages {whom}", step.level + 1),
            };
            format!("{} ({}): {what}", format::instant(step.at, zone), format::relative(step.at, now))
        }),
        timeline,
        reassign_choices,
        error,
        note,
    })
}

/// The outcome of an action on the incident page: back to the page, or the
/// page again with the reason it could not be done.
async fn after_action(
    web: &Web,
    viewer: &Viewer,
    headers: &HeaderMap,
    id: i64,
    result: Result<(), AppError>,
    note: String,
) -> Response {
    match result {
        Ok(()) => see_other(&format!("/incidents/{id}")),
        Err(e @ (AppError::InvalidTransition(_) | AppError::Conflict(_) | AppError::Invalid { .. })) => {
            let status = status_of(&e);
            match incident_page(web, viewer, headers, id, Some(e.to_string()), note).await {
                Ok(page) => page_with_status(status, &page),
                Err(e) => e.into_response(),
            }
        }
        Err(e) => WebError::from(e).into_response(),
    }
}

pub(crate) async fn acknowledge(
    State(web): State<Web>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let result = web.app.acknowledge(viewer.principal(), id).await.map(|_| ());
    after_action(&web, &viewer, &headers, id, result, String::new()).await
}

pub(crate) async fn resolve(
    State(web): State<Web>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let result = web.app.resolve(viewer.principal(), id).await.map(|_| ());
    after_action(&web, &viewer, &headers, id, result, String::new()).await
}

pub(crate) async fn escalate(
    State(web): State<Web>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let result = web.app.escalate(viewer.principal(), id).await;
    after_action(&web, &viewer, &headers, id, result, String::new()).await
}

#[derive(Deserialize)]
pub(crate) struct NoteForm {
    #[serde(default)]
    note: String,
}

pub(crate) async fn add_note(
    State(web): State<Web>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<NoteForm>,
) -> Response {
    let result = web.app.add_note(viewer.principal(), id, &form.note).await.map(|_| ());
    let keep = if result.is_err() { form.note } else { String::new() };
    after_action(&web, &viewer, &headers, id, result, keep).await
}

#[derive(Deserialize)]
pub(crate) struct ReassignForm {
    #[serde(default)]
    target: String,
}

pub(crate) async fn reassign(
    State(web): State<Web>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<ReassignForm>,
) -> Response {
    let target = match form.target.split_once(':') {
        Some(("user", id)) if !id.is_empty() => Target::User(id.to_string()),
        Some(("schedule", id)) if !id.is_empty() => Target::Schedule(id.to_string()),
        _ => {
            let e = AppError::invalid("target", "choose a person or a schedule");
            return after_action(&web, &viewer, &headers, id, Err(e), String::new()).await;
        }
    };
    let result = web.app.reassign(viewer.principal(), id, vec![target]).await.map(|_| ());
    after_action(&web, &viewer, &headers, id, result, String::new()).await
}
