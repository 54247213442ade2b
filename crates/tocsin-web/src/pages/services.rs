//! `/services` and `/services/{id}`: state, open incidents, the policy, who
//! is on call now, how to send to each integration, and what can hold its
//! pages back (`service_noise`).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use tocsin_core::incident::IncidentStatus;
use tocsin_core::model::IntegrationKind;
use tocsin_core::oncall::first_responders;
use tocsin_store::ServiceView;

use crate::Web;
use crate::format;
use crate::pages::incidents::Row;
use crate::pages::service_noise::{self, NoiseCard};
use crate::pages::zone;
use crate::render::{Chrome, WebError, page};
use crate::session::Viewer;

#[derive(Template)]
#[template(path = "services.html")]
struct ListPage {
    chrome: Chrome,
    services: Vec<ServiceView>,
}

pub(crate) async fn list(State(web): State<Web>, viewer: Viewer) -> Response {
    match web.app.services(viewer.principal()).await {
        Ok(services) => page(&ListPage { chrome: Chrome::new(&web, &viewer, "services"), services }),
        Err(e) => WebError::from(e).into_response(),
    }
}

/// How to send an alert to one integration, ready to copy (with a
/// placeholder where the key goes: keys are shown only when created).
pub(crate) struct IntegrationExample {
    pub id: String,
    pub kind: &'static str,
    pub key_hint: String,
    pub example: String,
}

fn example(base: &str, kind: IntegrationKind) -> String {
    match kind {
        IntegrationKind::Pagerduty => format!(
            "curl -X POST {base}/v2/enqueue -H 'Content-Type: application/json' -d '{{\"routing_key\":\"$KEY\",\"event_action\":\"trigger\",\"dedup_key\":\"disk-db-1\",\"payload\":{{\"summary\":\"Disk full on db-1\",\"source\":\"db-1\",\"severity\":\"critical\"}}}}'"
        ),
        IntegrationKind::Alertmanager => format!(
            "# alertmanager.yml\nreceivers:\n  - name: tocsin\n    webhook_configs:\n      - url: {base}/integrations/alertmanager/$KEY"
        ),
        IntegrationKind::Prometheus => format!(
            "curl -X POST {base}/integrations/prometheus/$KEY/api/v2/alerts -H 'Content-Type: application/json' -d '[{{\"labels\":{{\"alertname\":\"DiskFull\",\"instance\":\"db-1\"}},\"annotations\":{{\"summary\":\"Disk full on db-1\"}}}}]'"
        ),
        IntegrationKind::Generic => format!(
            "curl -X POST {base}/integrations/generic/$KEY -H 'Content-Type: application/json' -d '{{\"summary\":\"Disk full on db-1\",\"dedup_key\":\"disk-db-1\",\"severity\":\"critical\"}}'"
        ),
        // Heartbeat keys are declared under `heartbeats`, not as a service's
        // integration, so a service page never lists one; a job pings so.
        IntegrationKind::Heartbeat => format!("curl -fsS {base}/integrations/heartbeat/$KEY"),
    }
}

#[derive(Template)]
#[template(path = "service.html")]
struct ServicePage {
    chrome: Chrome,
    service: ServiceView,
    policy: Option<String>,
    on_call: Vec<(String, Option<String>)>,
    incidents: Vec<Row>,
    integrations: Vec<IntegrationExample>,
    ack_timeout: String,
    noise: Option<NoiseCard>,
}

pub(crate) async fn show(
    State(web): State<Web>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match service_page(&web, &viewer, &headers, &id).await {
        Ok(p) => page(&p),
        Err(e) => e.into_response(),
    }
}

async fn service_page(web: &Web, viewer: &Viewer, headers: &HeaderMap, id: &str) -> Result<ServicePage, WebError> {
    let app = &web.app;
    let who = viewer.principal();
    let service = app.service(who, id).await?;
    let now = app.now();
    let (directory, schedules) = app.schedules(who, now).await?;
    let zone = zone(&directory, viewer, headers);
    let configured = directory.service(id);
    let policy = directory.service_policy(id);
    let on_call = policy
        .map(|p| first_responders(p, &schedules, now))
        .unwrap_or_default()
        .into_iter()
        .map(|r| (directory.user(&r.user).map_or(r.user.clone(), |u| u.name.clone()), r.via_schedule))
        .collect();
    let filter = crate::pages::incidents::filter(
        vec![IncidentStatus::Triggered, IncidentStatus::Acknowledged],
        Some(id.to_string()),
        None,
        None,
        50,
    );
    let open = app.list_incidents(who, &filter).await?;
    let heartbeats = app.heartbeats(who).await?;
    let noise = configured.map(|s| service_noise::card(&directory, s, &heartbeats, now, zone));
    let base = app.public_url();
    Ok(ServicePage {
        chrome: Chrome::new(web, viewer, "services"),
        policy: policy.map(|p| p.id.clone()),
        on_call,
        incidents: open.items.iter().map(|i| Row::new(i, &service.name, now, zone)).collect(),
        integrations: service
            .integrations
            .iter()
            .map(|i| IntegrationExample {
                id: i.id.clone(),
                kind: i.kind.as_str(),
                key_hint: i.key_hint.clone(),
                example: example(&base, i.kind),
            })
            .collect(),
        ack_timeout: match configured.map(|s| s.ack_timeout) {
            Some(Some(d)) => format::span(d.num_seconds().unsigned_abs()),
            Some(None) => "off".into(),
            None => "default".into(),
        },
        noise,
        service,
    })
}
