//! `/escalation-policies`: each policy's levels, whom each pages now, and
//! the services that use it.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use tocsin_core::escalation::Target;
use tocsin_core::oncall::level_responders;

use crate::Web;
use crate::format;
use crate::render::{Chrome, WebError, page};
use crate::session::Viewer;

pub(crate) struct LevelView {
    number: usize,
    targets: Vec<(String, String)>,
    now: Vec<String>,
    after: String,
}

pub(crate) struct PolicyView {
    id: String,
    repeat: u32,
    levels: Vec<LevelView>,
    services: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "policies.html")]
struct PoliciesPage {
    chrome: Chrome,
    policies: Vec<PolicyView>,
}

pub(crate) async fn list(State(web): State<Web>, viewer: Viewer) -> Response {
    let app = &web.app;
    let now = app.now();
    let (directory, schedules) = match app.schedules(viewer.principal(), now).await {
        Ok(found) => found,
        Err(e) => return WebError::from(e).into_response(),
    };
    let name = |id: &str| directory.user(id).map_or_else(|| id.to_string(), |u| u.name.clone());
    let policies = directory
        .policies
        .iter()
        .map(|p| PolicyView {
            id: p.id.clone(),
            repeat: p.repeat,
            levels: p
                .levels
                .iter()
                .enumerate()
                .map(|(i, level)| LevelView {
                    number: i + 1,
                    targets: level
                        .targets
                        .iter()
                        .map(|t| match t {
                            Target::User(u) => (format!("/users/{u}"), name(u)),
                            Target::Schedule(s) => (format!("/schedules/{s}"), format!("on call in {s}")),
                        })
                        .collect(),
                    now: level_responders(level, &schedules, now).iter().map(|r| name(&r.user)).collect(),
                    after: format::span(level.escalate_after.num_seconds().unsigned_abs()),
                })
                .collect(),
            services: directory
                .services
                .iter()
                .filter(|s| s.escalation_policy.as_deref() == Some(p.id.as_str()))
                .map(|s| (s.id.clone(), s.name.clone()))
                .collect(),
        })
        .collect();
    page(&PoliciesPage { chrome: Chrome::new(&web, &viewer, "policies"), policies })
}
