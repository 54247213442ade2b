//! iCalendar feeds of on-call shifts, for calendar apps that subscribe to a
//! URL. Such apps cannot send a bearer token, so the feeds authenticate by a
//! per-user secret in the `token` query parameter instead: issued by its
//! user or an admin, shown once, stored only as its hash, replaced (and the old link
//! invalidated) by issuing again. Every failure is the same 404, so a feed URL
//! reveals nothing about which users or schedules exist.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use tocsin_api::{FeedQuery, IcalToken, IcalUrls};
use tocsin_app::AppError;
use tocsin_core::access::Principal;
use tocsin_core::directory::Directory;
use tocsin_core::ical::{FeedEvent, calendar, feed_window};
use tocsin_core::schedule::{Schedule, final_schedule};

use super::params::{Params, RawParams};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::openapi::errors::{Forbidden, NotFound, Unauthenticated};
use crate::state::AppState;

/// Calendar apps poll (typically every few minutes to hours); letting the
/// client cache for five minutes bounds the load without making an override
/// take long to show up. `private`: the URL carries a secret, so shared
/// caches must not keep it.
const FEED_CACHE_CONTROL: &str = "private, max-age=300";

fn feed_not_found() -> ApiError {
    ApiError::not_found("calendar feed")
}

/// The reader a feed token stands for; a missing, malformed or unknown token
/// is the same 404 as everything else a feed can get wrong.
async fn feed_reader(state: &AppState, raw: RawParams) -> Result<Principal, ApiError> {
    let token = Params::from(raw).ok().and_then(|p| p.text("token", 256).ok().flatten()).ok_or_else(feed_not_found)?;
    state.app.feed_reader(&token).await.map_err(|e| match e {
        AppError::Unavailable(_) => e.into(),
        _ => feed_not_found(),
    })
}

/// `/api/v1/users/{id}/ical?token=…` and one such URL per schedule.
fn feed_urls(directory: &Directory, user: &str, token: &str) -> IcalUrls {
    let schedules: BTreeMap<String, String> = directory
        .schedules
        .iter()
        .map(|s| (s.id.clone(), format!("/api/v1/schedules/{}/ical?token={token}", s.id)))
        .collect();
    IcalUrls { user: format!("/api/v1/users/{user}/ical?token={token}"), schedules }
}

/// Issue a user's calendar feed token, invalidating the previous one.
///
/// The token is shown this once, with the feed URLs relative to the server root.
///
/// Requires role `viewer` for one's own token, `admin` for anyone else's.
#[utoipa::path(
    post,
    path = "/users/{id}/ical-token",
    operation_id = "issue_ical_token",
    tag = "calendar feeds",
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 201, description = "The feed token and URLs", body = IcalToken),
        Unauthenticated,
        Forbidden,
        NotFound,
    )
)]
pub async fn issue_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<IcalToken>), ApiError> {
    let issued = state.app.rotate_feed_token(&caller, &id).await?;
    let urls = feed_urls(&state.app.directory(), &issued.user, &issued.token);
    Ok((StatusCode::CREATED, Json(IcalToken { user: issued.user, token: issued.token, urls })))
}

/// The shifts of `schedule` over the feed window, optionally only `user`'s.
fn events(
    directory: &Directory,
    schedule: &Schedule,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    user: Option<&str>,
) -> Result<Vec<FeedEvent>, ApiError> {
    let segments = final_schedule(schedule, from, to).map_err(|e| {
        tracing::error!(error = %e, "feed window rejected");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
    })?;
    Ok(segments
        .into_iter()
        .filter(|s| user.is_none_or(|u| s.user == u))
        .map(|s| FeedEvent {
            schedule_id: schedule.id.clone(),
            user_name: directory.user(&s.user).map_or_else(|| s.user.clone(), |u| u.name.clone()),
            user_id: s.user,
            start: s.start,
            end: s.end,
        })
        .collect())
}

fn calendar_response(name: &str, events: &[FeedEvent], now: DateTime<Utc>) -> Response {
    let body = calendar(name, events, now);
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/calendar; charset=utf-8"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(FEED_CACHE_CONTROL));
    response
}

/// One user's shifts across every schedule, as iCalendar.
///
/// Authenticated by that user's feed token in `token`, not a bearer token.
/// A missing or wrong token is a 404, like an unknown user.
/// `Cache-Control: private, max-age=300`.
#[utoipa::path(
    get,
    path = "/users/{id}/ical",
    operation_id = "user_feed",
    tag = "calendar feeds",
    params(("id" = String, Path, description = "User id"), FeedQuery),
    security(("feed_token" = [])),
    responses(
        (status = 200, description = "An RFC 5545 calendar", body = String, content_type = "text/calendar"),
        NotFound,
    )
)]
pub async fn user_feed(
    State(state): State<AppState>,
    Path(id): Path<String>,
    raw: RawParams,
) -> Result<Response, ApiError> {
    let reader = feed_reader(&state, raw).await?;
    if reader.user_id() != Some(id.as_str()) {
        return Err(feed_not_found());
    }
    let now = state.now();
    let window = feed_window(now);
    let (directory, schedules) = state.app.schedules(&reader, window.0).await?;
    let user = directory.user(&id).ok_or_else(feed_not_found)?;
    let mut all = Vec::new();
    for schedule in &schedules {
        all.extend(events(&directory, schedule, window, Some(&id))?);
    }
    all.sort_by(|a, b| (a.start, &a.schedule_id).cmp(&(b.start, &b.schedule_id)));
    Ok(calendar_response(&format!("On call: {}", user.name), &all, now))
}

/// Everyone's shifts on one schedule, as iCalendar.
///
/// Authenticated by any user's feed token in `token`, not a bearer token.
/// A missing or wrong token is a 404, like an unknown schedule.
/// `Cache-Control: private, max-age=300`.
#[utoipa::path(
    get,
    path = "/schedules/{id}/ical",
    operation_id = "schedule_feed",
    tag = "calendar feeds",
    params(("id" = String, Path, description = "Schedule id"), FeedQuery),
    security(("feed_token" = [])),
    responses(
        (status = 200, description = "An RFC 5545 calendar", body = String, content_type = "text/calendar"),
        NotFound,
    )
)]
pub async fn schedule_feed(
    State(state): State<AppState>,
    Path(id): Path<String>,
    raw: RawParams,
) -> Result<Response, ApiError> {
    let reader = feed_reader(&state, raw).await?;
    let now = state.now();
    let window = feed_window(now);
    let (directory, schedules) = state.app.schedules(&reader, window.0).await?;
    let schedule = schedules.iter().find(|s| s.id == id).ok_or_else(feed_not_found)?;
    let events = events(&directory, schedule, window, None)?;
    Ok(calendar_response(&format!("On call: {id}"), &events, now))
}
