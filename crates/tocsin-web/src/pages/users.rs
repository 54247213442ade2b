//! `/users` and `/users/{id}`: who people are, their teams, where they are
//! on call now and next, and (for themselves and managers) how they are
//! reached.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use tocsin_app::Person;

use crate::Web;
use crate::pages::home::{MethodLine, OnCallLine, ShiftLine};
use crate::pages::zone;
use crate::render::{Chrome, WebError, page};
use crate::session::Viewer;

#[derive(Template)]
#[template(path = "users.html")]
struct ListPage {
    chrome: Chrome,
    people: Vec<Person>,
}

pub(crate) async fn list(State(web): State<Web>, viewer: Viewer) -> Response {
    match web.app.users(viewer.principal()).await {
        Ok(people) => page(&ListPage { chrome: Chrome::new(&web, &viewer, "users"), people }),
        Err(e) => WebError::from(e).into_response(),
    }
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    chrome: Chrome,
    person: Person,
    role: &'static str,
    schedules: Vec<String>,
    on_call: Vec<OnCallLine>,
    shifts: Vec<ShiftLine>,
    methods: Option<Vec<MethodLine>>,
}

pub(crate) async fn show(
    State(web): State<Web>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let app = &web.app;
    let detail = match app.user_detail(viewer.principal(), &id).await {
        Ok(detail) => detail,
        Err(e) => return WebError::from(e).into_response(),
    };
    let directory = app.directory();
    let zone = zone(&directory, &viewer, &headers);
    let now = app.now();
    page(&UserPage {
        chrome: Chrome::new(&web, &viewer, "users"),
        role: detail.person.role.as_str(),
        schedules: detail.schedules.clone(),
        on_call: detail.on_call_now.iter().map(|o| OnCallLine::new(o, &directory, zone)).collect(),
        shifts: detail.next_shifts.iter().map(|s| ShiftLine::new(s, now, zone)).collect(),
        methods: detail.contact_methods.as_ref().map(|ms| ms.iter().map(|m| MethodLine::new(m, now)).collect()),
        person: detail.person,
    })
}
