//! `/silences`: what is muted now, what will be, what was; add one from
//! matchers (Alertmanager's syntax) and expire any.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tocsin_app::AppError;
use tocsin_core::access::{Action, Resource};
use tocsin_core::matchers::Matchers;
use tocsin_core::silence::{Silence, SilenceDraft, SilenceState};

use crate::Web;
use crate::format;
use crate::pages::zone;
use crate::render::{Chrome, WebError, page, page_with_status, see_other, status_of};
use crate::session::Viewer;

/// How long a new silence lasts unless the form says otherwise.
const DEFAULT_HOURS: i64 = 2;

pub(crate) struct SilenceLine {
    id: String,
    state: &'static str,
    state_class: &'static str,
    matchers: String,
    from: String,
    until: String,
    by: String,
    comment: String,
    can_expire: bool,
}

#[derive(Template)]
#[template(path = "silences.html")]
struct SilencesPage {
    chrome: Chrome,
    silences: Vec<SilenceLine>,
    can_manage: bool,
    form: SilenceForm,
    error: Option<String>,
}

/// The add form as posted: matchers text, how long, why.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SilenceForm {
    #[serde(default)]
    matchers: String,
    #[serde(default)]
    hours: String,
    #[serde(default)]
    comment: String,
}

async fn silences_page(
    web: &Web,
    viewer: &Viewer,
    headers: &HeaderMap,
    form: SilenceForm,
    error: Option<String>,
) -> Result<SilencesPage, WebError> {
    let app = &web.app;
    let who = viewer.principal();
    let silences = app.silences(who).await?;
    let directory = app.directory();
    let zone = zone(&directory, viewer, headers);
    let now = app.now();
    let can_manage = app.can(who, Action::ManageSilences, Resource::All);
    let line = |s: &Silence| {
        let state = s.state(now);
        SilenceLine {
            id: s.id.clone(),
            state: state.as_str(),
            state_class: match state {
                SilenceState::Active => "acknowledged",
                SilenceState::Pending => "pending",
                SilenceState::Expired => "muted",
            },
            matchers: s.matchers.to_string(),
            from: format::instant(s.starts_at, zone),
            until: format::instant(s.ends_at, zone),
            by: s.created_by.clone(),
            comment: s.comment.clone(),
            can_expire: can_manage && state != SilenceState::Expired,
        }
    };
    // In force and coming first, then the ended ones.
    let mut lines: Vec<(bool, SilenceLine)> =
        silences.iter().map(|s| (s.state(now) == SilenceState::Expired, line(s))).collect();
    lines.sort_by_key(|(expired, _)| *expired);
    let form = if form.hours.is_empty() { SilenceForm { hours: DEFAULT_HOURS.to_string(), ..form } } else { form };
    Ok(SilencesPage {
        chrome: Chrome::new(web, viewer, "silences"),
        silences: lines.into_iter().map(|(_, l)| l).collect(),
        can_manage,
        form,
        error,
    })
}

pub(crate) async fn list(State(web): State<Web>, viewer: Viewer, headers: HeaderMap) -> Response {
    match silences_page(&web, &viewer, &headers, SilenceForm::default(), None).await {
        Ok(p) => page(&p),
        Err(e) => e.into_response(),
    }
}

fn draft(form: &SilenceForm, by: &str, now: chrono::DateTime<chrono::Utc>) -> Result<SilenceDraft, AppError> {
    let matchers = Matchers::parse(form.matchers.trim()).map_err(|e| AppError::invalid("matchers", e.to_string()))?;
    let hours: f64 =
        form.hours.trim().parse().map_err(|_| AppError::invalid("hours", "a number of hours, such as 2 or 0.5"))?;
    if !(hours > 0.0 && hours <= 24.0 * 366.0) {
        return Err(AppError::invalid("hours", "more than 0 and at most a year"));
    }
    Ok(SilenceDraft {
        matchers,
        starts_at: now,
        ends_at: now + chrono::Duration::seconds((hours * 3600.0) as i64),
        created_by: by.to_string(),
        comment: form.comment.trim().to_string(),
    })
}

pub(crate) async fn add(
    State(web): State<Web>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<SilenceForm>,
) -> Response {
    let result = match draft(&form, viewer.user_id(), web.app.now()) {
        Ok(d) => web.app.put_silence(viewer.principal(), None, d).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => see_other("/silences"),
        Err(e @ (AppError::Invalid { .. } | AppError::Forbidden(_) | AppError::Conflict(_))) => {
            let status = status_of(&e);
            match silences_page(&web, &viewer, &headers, form, Some(e.to_string())).await {
                Ok(p) => page_with_status(status, &p),
                Err(e) => e.into_response(),
            }
        }
        Err(e) => WebError::from(e).into_response(),
    }
}

pub(crate) async fn expire(State(web): State<Web>, viewer: Viewer, Path(id): Path<String>) -> Response {
    match web.app.expire_silence(viewer.principal(), &id).await {
        Ok(_) => see_other("/silences"),
        Err(e) => WebError::from(e).into_response(),
    }
}
