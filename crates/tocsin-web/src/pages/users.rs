//! `/users` and `/users/{id}`: who people are, their teams, where they are
//! on call now and next, and (for themselves and managers) how they are
//! reached.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use tocsin_app::Person;
use tocsin_core::notify::rules::ContactKind;
use tocsin_core::schedule::final_schedule;

use crate::Web;
use crate::format;
use crate::pages::zone;
use crate::render::{Chrome, WebError, page};
use crate::session::Viewer;

/// How far ahead shifts are looked for.
const SHIFT_HORIZON_DAYS: i64 = 14;
/// Most upcoming shifts listed.
const SHIFTS_SHOWN: usize = 10;

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

pub(crate) struct Shift {
    pub schedule: String,
    pub start: String,
    pub end: String,
    pub now: bool,
}

pub(crate) struct Method {
    pub id: String,
    pub kind: &'static str,
    pub address: String,
}

pub(crate) fn methods(person: &Person) -> Option<Vec<Method>> {
    person.contact_methods.as_ref().map(|methods| {
        methods
            .iter()
            .map(|m| {
                let (kind, address) = match &m.kind {
                    ContactKind::Webhook { url } => ("webhook", url.clone()),
                    ContactKind::Slack { url } => ("Slack", url.clone()),
                    ContactKind::Email { address } => ("email", address.clone()),
                };
                Method { id: m.id.clone(), kind, address }
            })
            .collect()
    })
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    chrome: Chrome,
    person: Person,
    role: &'static str,
    shifts: Vec<Shift>,
    methods: Option<Vec<Method>>,
}

pub(crate) async fn show(
    State(web): State<Web>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let app = &web.app;
    let who = viewer.principal();
    let result = async {
        let person = app.user(who, &id).await?;
        let now = app.now();
        let (directory, schedules) = app.schedules(who, now).await?;
        Ok::<_, tocsin_app::AppError>((person, directory, schedules, now))
    }
    .await;
    let (person, directory, schedules, now) = match result {
        Ok(found) => found,
        Err(e) => return WebError::from(e).into_response(),
    };
    let zone = zone(&directory, &viewer, &headers);
    let shifts = upcoming_shifts(&schedules, &person.id, now, zone);
    page(&UserPage {
        chrome: Chrome::new(&web, &viewer, "users"),
        role: person.role.as_str(),
        methods: methods(&person),
        person,
        shifts,
    })
}

/// `user`'s shifts over the next two weeks across every schedule, soonest
/// first (a shift under way first of all).
pub(crate) fn upcoming_shifts(
    schedules: &[tocsin_core::schedule::Schedule],
    user: &str,
    now: chrono::DateTime<chrono::Utc>,
    zone: chrono_tz::Tz,
) -> Vec<Shift> {
    let mut found: Vec<(chrono::DateTime<chrono::Utc>, Shift)> = schedules
        .iter()
        .flat_map(|s| {
            final_schedule(s, now, now + Duration::days(SHIFT_HORIZON_DAYS))
                .unwrap_or_default()
                .into_iter()
                .filter(|seg| seg.user == user)
                .map(|seg| {
                    (
                        seg.start,
                        Shift {
                            schedule: s.id.clone(),
                            start: format::instant(seg.start, zone),
                            end: format::instant(seg.end, zone),
                            now: seg.start <= now,
                        },
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    found.sort_by_key(|(start, _)| *start);
    found.into_iter().take(SHIFTS_SHOWN).map(|(_, s)| s).collect()
}
