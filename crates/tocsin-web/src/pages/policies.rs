//! `/escalation-policies`: each policy's levels, whom each pages now, and
//! the services that use it.

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use tocsin_core::escalation::Target;

use crate::Web;
use crate::format;
use crate::pages::home::OnCallLine;
use crate::pages::{name_of, zone};
use crate::render::{Chrome, WebError, page};
use crate::session::Viewer;

pub(crate) struct TargetLine {
    href: String,
    label: String,
    /// For a schedule: who it pages now.
    now: Option<OnCallLine>,
}

pub(crate) struct LevelLine {
    number: usize,
    targets: Vec<TargetLine>,
    after: String,
}

pub(crate) struct PolicyLine {
    id: String,
    repeat: u32,
    levels: Vec<LevelLine>,
    services: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "policies.html")]
struct PoliciesPage {
    chrome: Chrome,
    policies: Vec<PolicyLine>,
}

pub(crate) async fn list(State(web): State<Web>, viewer: Viewer, headers: HeaderMap) -> Response {
    let app = &web.app;
    let policies = match app.policies(viewer.principal()).await {
        Ok(p) => p,
        Err(e) => return WebError::from(e).into_response(),
    };
    let directory = app.directory();
    let zone = zone(&directory, &viewer, &headers);
    let policies = policies
        .into_iter()
        .map(|p| PolicyLine {
            id: p.id,
            repeat: p.repeat,
            levels: p
                .levels
                .iter()
                .enumerate()
                .map(|(i, level)| LevelLine {
                    number: i + 1,
                    targets: level
                        .targets
                        .iter()
                        .map(|t| match &t.target {
                            Target::User(u) => {
                                TargetLine { href: format!("/users/{u}"), label: name_of(&directory, u), now: None }
                            }
                            Target::Schedule(s) => TargetLine {
                                href: format!("/schedules/{s}"),
                                label: format!("on call in {s}"),
                                now: t.on_call.as_ref().map(|o| OnCallLine::new(o, &directory, zone)),
                            },
                        })
                        .collect(),
                    after: format::span(level.escalate_after.num_seconds().unsigned_abs()),
                })
                .collect(),
            services: p
                .services
                .iter()
                .map(|s| (s.clone(), directory.service(s).map_or_else(|| s.clone(), |svc| svc.name.clone())))
                .collect(),
        })
        .collect();
    page(&PoliciesPage { chrome: Chrome::new(&web, &viewer, "policies"), policies })
}
