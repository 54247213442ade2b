//! `/`: what an on-call person needs first: my open incidents, who is on
//! call for my teams and until when, my next shifts, and my contact methods
//! with a test page for each.

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use tocsin_core::incident::IncidentStatus;
use tocsin_core::oncall::first_responders;

use crate::Web;
use crate::pages::incidents::Row;
use crate::pages::users::{Method, Shift, upcoming_shifts};
use crate::pages::zone;
use crate::render::{Chrome, WebError, page, see_other};
use crate::session::Viewer;

pub(crate) struct OnCallView {
    team: String,
    service: String,
    who: Vec<String>,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    name: String,
    incidents: Vec<Row>,
    on_call: Vec<OnCallView>,
    shifts: Vec<Shift>,
    methods: Vec<Method>,
}

pub(crate) async fn show(State(web): State<Web>, viewer: Viewer, headers: HeaderMap) -> Response {
    let app = &web.app;
    let who = viewer.principal();
    let result = async {
        let now = app.now();
        let (directory, schedules) = app.schedules(who, now).await?;
        let filter = crate::pages::incidents::filter(
            vec![IncidentStatus::Triggered, IncidentStatus::Acknowledged],
            None,
            None,
            None,
            20,
        );
        let open = app.list_incidents(who, &filter).await?;
        let me = app.user(who, viewer.user_id()).await.ok();
        Ok::<_, tocsin_app::AppError>((directory, schedules, open, me, now))
    }
    .await;
    let (directory, schedules, open, me, now) = match result {
        Ok(found) => found,
        Err(e) => return WebError::from(e).into_response(),
    };
    let zone = zone(&directory, &viewer, &headers);
    let name = |id: &str| directory.user(id).map_or_else(|| id.to_string(), |u| u.name.clone());
    let service_name = |id: &str| directory.service(id).map_or_else(|| id.to_string(), |s| s.name.clone());
    let teams = directory.teams_of(viewer.user_id());
    let on_call = directory
        .services
        .iter()
        .filter(|s| s.team.as_ref().is_some_and(|t| teams.contains(t)))
        .map(|s| OnCallView {
            team: s.team.clone().unwrap_or_default(),
            service: s.name.clone(),
            who: directory
                .service_policy(&s.id)
                .map(|p| first_responders(p, &schedules, now))
                .unwrap_or_default()
                .iter()
                .map(|r| name(&r.user))
                .collect(),
        })
        .collect();
    page(&HomePage {
        chrome: Chrome::new(&web, &viewer, "home"),
        name: me.as_ref().map_or_else(|| viewer.user_id().to_string(), |p| p.name.clone()),
        incidents: open.items.iter().map(|i| Row::new(i, &service_name(&i.service_id), now, zone)).collect(),
        on_call,
        shifts: upcoming_shifts(&schedules, viewer.user_id(), now, zone),
        methods: me.as_ref().and_then(crate::pages::users::methods).unwrap_or_default(),
    })
}

pub(crate) async fn send_test_page(State(_web): State<Web>, _viewer: Viewer) -> Response {
    see_other("/")
}
