//! `/schedules` and `/schedules/{id}`: who is on call, the next two weeks
//! as a timeline (layers, overrides, final) in a zone the viewer picks,
//! and overrides created and removed from the page.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use tocsin_app::AppError;
use tocsin_core::access::{Action, Resource};
use tocsin_core::schedule::on_call_at;
use tocsin_store::NewOverride;

use crate::Web;
use crate::format;
use crate::pages::zone;
use crate::render::{Chrome, WebError, page, page_with_status, see_other, status_of, url_encode};
use crate::session::Viewer;
use crate::timeline::{self, Timeline, start_of_day};

/// How far ahead the page shows.
const DAYS_SHOWN: i64 = 14;

/// Zones offered besides the viewer's and the schedule's own.
const COMMON_ZONES: &[&str] = &[
    "UTC",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Kyiv",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
];

pub(crate) struct ScheduleSummary {
    id: String,
    time_zone: String,
    on_call: Option<String>,
    until: Option<String>,
    layers: usize,
}

#[derive(Template)]
#[template(path = "schedules.html")]
struct ListPage {
    chrome: Chrome,
    schedules: Vec<ScheduleSummary>,
}

pub(crate) async fn list(State(web): State<Web>, viewer: Viewer, headers: HeaderMap) -> Response {
    let app = &web.app;
    let now = app.now();
    let (directory, schedules) = match app.schedules(viewer.principal(), now).await {
        Ok(found) => found,
        Err(e) => return WebError::from(e).into_response(),
    };
    let zone = zone(&directory, &viewer, &headers);
    let name = |id: &str| directory.user(id).map_or_else(|| id.to_string(), |u| u.name.clone());
    let schedules = schedules
        .iter()
        .map(|s| {
            let segments =
                tocsin_core::schedule::final_schedule(s, now, now + Duration::days(DAYS_SHOWN)).unwrap_or_default();
            let current = segments.first().filter(|seg| seg.start <= now);
            ScheduleSummary {
                id: s.id.clone(),
                time_zone: s.time_zone.name().to_string(),
                on_call: on_call_at(s, now).map(|u| name(&u)),
                until: current.map(|seg| format::instant(seg.end, zone)),
                layers: s.layers.len(),
            }
        })
        .collect();
    page(&ListPage { chrome: Chrome::new(&web, &viewer, "schedules"), schedules })
}

pub(crate) struct OverrideView {
    id: Option<i64>,
    who: String,
    start: String,
    end: String,
    by: String,
    removable: bool,
}

#[derive(Template)]
#[template(path = "schedule.html")]
struct SchedulePage {
    chrome: Chrome,
    id: String,
    home_zone: String,
    zone: String,
    zones: Vec<String>,
    on_call: Option<String>,
    timeline: Timeline,
    window: String,
    overrides: Vec<OverrideView>,
    people: Vec<(String, String)>,
    can_override: bool,
    form: OverrideForm,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ZoneQuery {
    tz: Option<String>,
}

pub(crate) async fn show(
    State(web): State<Web>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ZoneQuery>,
) -> Response {
    match schedule_page(&web, &viewer, &headers, &id, q.tz.as_deref(), OverrideForm::default(), None).await {
        Ok(p) => page(&p),
        Err(e) => e.into_response(),
    }
}

fn parse_zone(value: &str) -> Result<Tz, WebError> {
    value
        .parse::<Tz>()
        .map_err(|_| WebError::new(StatusCode::BAD_REQUEST, format!("tz: `{value}` is not an IANA time zone")))
}

async fn schedule_page(
    web: &Web,
    viewer: &Viewer,
    headers: &HeaderMap,
    id: &str,
    tz: Option<&str>,
    form: OverrideForm,
    error: Option<String>,
) -> Result<SchedulePage, WebError> {
    let app = &web.app;
    let who = viewer.principal();
    let now = app.now();
    let directory = app.read_directory(who)?;
    let zone = match tz.filter(|t| !t.is_empty()) {
        Some(t) => parse_zone(t)?,
        None => zone(&directory, viewer, headers),
    };
    let from = start_of_day(now, zone);
    let to = timeline::days_later(from, DAYS_SHOWN, zone);
    let schedule = app.schedule(who, id, from).await?;
    let overrides = app.list_overrides(who, id, false).await?;
    let name = |user: &str| directory.user(user).map_or_else(|| user.to_string(), |u| u.name.clone());
    let timeline = timeline::build(&schedule, from, to, zone, now, &name)
        .map_err(|e| WebError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let mut zones: Vec<String> = COMMON_ZONES.iter().map(|z| (*z).to_string()).collect();
    for extra in [zone.name(), schedule.time_zone.name()] {
        if !zones.iter().any(|z| z == extra) {
            zones.insert(0, extra.to_string());
        }
    }
    let mut views: Vec<OverrideView> = overrides
        .stored
        .iter()
        .map(|o| OverrideView {
            id: Some(o.id),
            who: name(&o.user_id),
            start: format::instant(o.start, zone),
            end: format::instant(o.end, zone),
            by: format::actor(&o.created_by).to_string(),
            removable: app.can(who, Action::ManageOverride, Resource::Override { schedule: id, user: &o.user_id }),
        })
        .collect();
    views.extend(overrides.declared.iter().filter(|o| o.end > now).map(|o| OverrideView {
        id: None,
        who: name(&o.user),
        start: format::instant(o.start, zone),
        end: format::instant(o.end, zone),
        by: "config".into(),
        removable: false,
    }));
    // Whom the viewer may put on call: everyone for managers, themselves
    // for responders, nobody for viewers (the rule is access::authorize's).
    let people: Vec<(String, String)> = directory
        .users
        .iter()
        .filter(|u| app.can(who, Action::ManageOverride, Resource::Override { schedule: id, user: &u.id }))
        .map(|u| (u.id.clone(), u.name.clone()))
        .collect();
    let form = if form.start.is_empty() {
        // A sensible default: tonight 18:00 to tomorrow 09:00, local.
        let local = now.with_timezone(&zone).date_naive();
        let start = local.and_hms_opt(18, 0, 0).map(|t| t.format("%Y-%m-%dT%H:%M").to_string()).unwrap_or_default();
        let end = (local + Duration::days(1))
            .and_hms_opt(9, 0, 0)
            .map(|t| t.format("%Y-%m-%dT%H:%M").to_string())
            .unwrap_or_default();
        OverrideForm {
            who: viewer.user_id().to_string(),
            start,
            end,
            tz: zone.name().to_string(),
            _csrf: String::new(),
        }
    } else {
        form
    };
    Ok(SchedulePage {
        chrome: Chrome::new(web, viewer, "schedules"),
        id: schedule.id.clone(),
        home_zone: schedule.time_zone.name().to_string(),
        zone: zone.name().to_string(),
        zones,
        on_call: on_call_at(&schedule, now).map(|u| name(&u)),
        window: format!("{} – {}", format::instant(from, zone), format::instant(to, zone)),
        timeline,
        overrides: views,
        can_override: !people.is_empty(),
        people,
        form,
        error,
    })
}

/// The add-override form: local wall times in the zone the page showed.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct OverrideForm {
    #[serde(default)]
    who: String,
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: String,
    #[serde(default)]
    tz: String,
    #[serde(default)]
    _csrf: String,
}

/// `2026-12-01T18:00` in `zone` → UTC; a wall time skipped by a DST change
/// is refused (naming the field), an ambiguous one takes the earlier.
fn local_instant(field: &str, value: &str, zone: Tz) -> Result<DateTime<Utc>, AppError> {
    let naive = NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| AppError::invalid(field, "a date and time such as 2026-12-01T18:00"))?;
    zone.from_local_datetime(&naive).earliest().map(|t| t.with_timezone(&Utc)).ok_or_else(|| {
        AppError::invalid(field, format!("{value} does not exist in {} (the clocks skip it)", zone.name()))
    })
}

pub(crate) async fn add_override(
    State(web): State<Web>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<OverrideForm>,
) -> Response {
    let zone = match parse_zone(&form.tz) {
        Ok(z) => z,
        Err(e) => return e.into_response(),
    };
    let result = async {
        let start = local_instant("start", &form.start, zone)?;
        let end = local_instant("end", &form.end, zone)?;
        let new = NewOverride { schedule_id: id.clone(), user_id: form.who.clone(), start, end };
        web.app.create_override(viewer.principal(), new).await
    }
    .await;
    match result {
        Ok(_) => see_other(&format!("/schedules/{}?tz={}", url_encode(&id), url_encode(zone.name()))),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_) | AppError::Forbidden(_))) => {
            let status = status_of(&e);
            match schedule_page(&web, &viewer, &headers, &id, Some(zone.name()), form, Some(e.to_string())).await {
                Ok(p) => page_with_status(status, &p),
                Err(e) => e.into_response(),
            }
        }
        Err(e) => WebError::from(e).into_response(),
    }
}

pub(crate) async fn remove_override(
    State(web): State<Web>,
    viewer: Viewer,
    Path((id, override_id)): Path<(String, i64)>,
    Query(q): Query<ZoneQuery>,
) -> Response {
    match web.app.delete_override(viewer.principal(), &id, override_id).await {
        Ok(()) => {
            let tz = q.tz.as_deref().map(|t| format!("?tz={}", url_encode(t))).unwrap_or_default();
            see_other(&format!("/schedules/{}{tz}", url_encode(&id)))
        }
        Err(e) => WebError::from(e).into_response(),
    }
}
