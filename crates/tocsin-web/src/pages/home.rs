//! `/`: what an on-call person needs first: my open incidents, who is on
//! call for my teams and until when, my next shifts, and my contact methods
//! with a test page for each.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono_tz::Tz;
use serde::Deserialize;
use tocsin_app::{AppError, ContactMethodView, OnCallNow, Shift, TestPage, TestPageStatus};
use tocsin_core::directory::Directory;

use crate::Web;
use crate::format;
use crate::pages::incidents::Row;
use crate::pages::zone;
use crate::render::{Chrome, WebError, page, page_with_status, see_other, status_of};
use crate::session::Viewer;

/// A schedule's on-call person now, formatted.
pub(crate) struct OnCallLine {
    pub schedule: String,
    pub who: Option<String>,
    pub until: Option<String>,
}

impl OnCallLine {
    pub fn new(o: &OnCallNow, directory: &Directory, zone: Tz) -> Self {
        OnCallLine {
            schedule: o.schedule.clone(),
            who: o.user.as_deref().map(|u| super::name_of(directory, u)),
            until: o.until.map(|t| format::instant(t, zone)),
        }
    }
}

pub(crate) struct TeamView {
    name: String,
    schedules: Vec<OnCallLine>,
}

pub(crate) struct ShiftLine {
    pub schedule: String,
    pub start: String,
    pub end: String,
    pub now: bool,
}

impl ShiftLine {
    pub fn new(s: &Shift, now: chrono::DateTime<chrono::Utc>, zone: Tz) -> Self {
        ShiftLine {
            schedule: s.schedule.clone(),
            start: format::instant(s.start, zone),
            end: s.end.map_or_else(|| "beyond two weeks".into(), |t| format::instant(t, zone)),
            now: s.start <= now,
        }
    }
}

/// A contact method with its latest test page as a word and a time.
pub(crate) struct MethodLine {
    pub id: String,
    pub channel: &'static str,
    pub address: String,
    pub test: Option<String>,
    pub test_class: &'static str,
}

impl MethodLine {
    pub fn new(m: &ContactMethodView, now: chrono::DateTime<chrono::Utc>) -> Self {
        let (test, test_class) = match &m.last_test {
            None => (None, ""),
            Some(t) => (Some(test_outcome(t, now)), test_class(t.status)),
        };
        MethodLine { id: m.method.id.clone(), channel: m.channel, address: m.address.clone(), test, test_class }
    }
}

fn test_outcome(t: &TestPage, now: chrono::DateTime<chrono::Utc>) -> String {
    match t.status {
        TestPageStatus::Queued => format!("queued {}", format::relative(t.requested_at, now)),
        TestPageStatus::Sent => {
            format!("sent {}", format::relative(t.sent_at.unwrap_or(t.requested_at), now))
        }
        TestPageStatus::Failed => format!("failed: {}", t.last_error.as_deref().unwrap_or("unknown error")),
    }
}

fn test_class(status: TestPageStatus) -> &'static str {
    match status {
        TestPageStatus::Queued => "pending",
        TestPageStatus::Sent => "ok",
        TestPageStatus::Failed => "bad",
    }
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    name: String,
    incidents: Vec<Row>,
    teams: Vec<TeamView>,
    shifts: Vec<ShiftLine>,
    methods: Vec<MethodLine>,
    /// A test page was just asked for: the section refreshes until it is
    /// sent or failed.
    testing: bool,
    error: Option<String>,
}

async fn home_page(
    web: &Web,
    viewer: &Viewer,
    headers: &HeaderMap,
    error: Option<String>,
) -> Result<HomePage, WebError> {
    let app = &web.app;
    let home = app.home(viewer.principal()).await?;
    let directory = app.directory();
    let zone = zone(&directory, viewer, headers);
    let now = app.now();
    let service_name = |id: &str| directory.service(id).map_or_else(|| id.to_string(), |s| s.name.clone());
    let methods: Vec<MethodLine> = home.contact_methods.iter().map(|m| MethodLine::new(m, now)).collect();
    Ok(HomePage {
        chrome: Chrome::new(web, viewer, "home"),
        name: super::name_of(&directory, &home.user_id),
        incidents: home.my_incidents.iter().map(|i| Row::new(i, &service_name(&i.service_id), now, zone)).collect(),
        teams: home
            .on_call
            .iter()
            .map(|t| TeamView {
                name: t.team_name.clone(),
                schedules: t.schedules.iter().map(|o| OnCallLine::new(o, &directory, zone)).collect(),
            })
            .collect(),
        shifts: home.next_shifts.iter().map(|s| ShiftLine::new(s, now, zone)).collect(),
        testing: home
            .contact_methods
            .iter()
            .any(|m| m.last_test.as_ref().is_some_and(|t| t.status == TestPageStatus::Queued)),
        methods,
        error,
    })
}

pub(crate) async fn show(State(web): State<Web>, viewer: Viewer, headers: HeaderMap) -> Response {
    match home_page(&web, &viewer, &headers, None).await {
        Ok(p) => page(&p),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
pub(crate) struct TestPageForm {
    #[serde(default)]
    method: String,
}

/// Sends a test page to one of my contact methods; the home page then shows
/// it queued and, as it refreshes, sent or failed.
pub(crate) async fn send_test_page(
    State(web): State<Web>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<TestPageForm>,
) -> Response {
    let user = viewer.user_id().to_string();
    match web.app.send_test_page(viewer.principal(), &user, &form.method).await {
        Ok(_) => see_other("/#methods-h"),
        Err(e @ (AppError::Conflict(_) | AppError::Invalid { .. } | AppError::NotFound(_))) => {
            let status = status_of(&e);
            match home_page(&web, &viewer, &headers, Some(e.to_string())).await {
                Ok(p) => page_with_status(status, &p),
                Err(e) => e.into_response(),
            }
        }
        Err(e) => WebError::from(e).into_response(),
    }
}
