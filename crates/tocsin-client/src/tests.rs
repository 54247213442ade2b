//! Client tests against a small real axum server serving canned responses.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};

use super::*;

/// What the server saw: `METHOD uri`, the Authorization header, the body.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    line: String,
    auth: Option<String>,
    body: String,
}

type Log = Arc<Mutex<Vec<Seen>>>;

async fn record(State(log): State<Log>, req: Request) -> Request {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    log.lock().unwrap().push(Seen {
        line: format!("{} {}", parts.method, parts.uri),
        auth: parts.headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap().to_string()),
        body: String::from_utf8_lossy(&bytes).into_owned(),
    });
    Request::from_parts(parts, axum::body::Body::from(bytes))
}

fn json_response(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

fn incident_json(id: i64) -> Value {
    json!({
        "id": id,
        "service_id": "checkout",
        "title": "5xx ratio above 2%",
        "severity": "critical",
        "status": "triggered",
        "created_at": "2026-11-27T16:27:55Z",
        "acknowledged_at": null,
        "acknowledged_by": null,
        "resolved_at": null,
        "resolved_by": null,
        "alert_count": 2,
        "some_future_field": true
    })
}

fn alert_json() -> Value {
    json!({
        "id": 9, "service_id": "checkout", "integration_id": "am", "kind": "alertmanager",
        "dedup_key": "b1c11497b32ce15e", "status": "triggered", "summary": "5xx ratio above 2%",
        "severity": "critical", "source": null,
        "labels": {"alertname": "HighErrorRate", "instance": "web-1"},
        "details": {"runbook_url": "https://runbooks.example/checkout-5xx"},
        "links": [{"href": "http://prometheus:9090/graph", "text": null}],
        "first_seen": "2026-11-27T16:27:55.630764172Z",
        "last_seen": "2026-11-27T17:27:55+01:00",
        "occurrences": 3, "acknowledged_at": null, "resolved_at": null,
        "expires_at": null, "incident_id": 42
    })
}

fn override_json() -> Value {
    json!({"id": 3, "schedule": "primary", "user": "bob", "start": "2026-03-06T18:00:00Z",
        "end": "2026-03-09T09:00:00Z", "source": "api", "created_at": "2026-03-01T12:00:00Z", "created_by": "user:bob"})
}

async fn start() -> (String, Log) {
    let log: Log = Arc::default();
    let app = Router::new()
        .route(
            "/api/v1/incidents",
            get(|| async {
                json_response(StatusCode::OK, json!({"items": [incident_json(42)], "next_cursor": "abc"}))
            }),
        )
        .route(
            "/api/v1/incidents/{id}",
            get(|| async {
                let mut v = incident_json(42);
                v["alerts"] = json!([alert_json()]);
                v["timeline"] = json!([{
                    "id": 1, "incident_id": 42, "at": "2026-11-27T16:27:56Z",
                    "kind": "note", "actor": "alice", "payload": {"text": "looking"}
                }]);
                json_response(StatusCode::OK, v)
            }),
        )
        .route(
            "/api/v1/incidents/{id}/acknowledge",
            post(|| async {
                json_response(
                    StatusCode::FORBIDDEN,
                    json!({"error": {"code": "forbidden",
                        "message": "role viewer cannot acknowledge incidents", "field": null}}),
                )
            }),
        )
        .route(
            "/api/v1/incidents/{id}/notes",
            post(|| async {
                json_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"error": {"code": "validation_failed",
                        "message": "must not be empty", "field": "text"}}),
                )
            }),
        )
        .route(
            "/api/v1/alerts",
            get(|| async {
                (
                    StatusCode::BAD_GATEWAY,
                    [(header::CONTENT_TYPE, "text/html")],
                    "<html><body>\n<h1>502 Bad Gateway</h1>\n</body></html>\n",
                )
            }),
        )
        .route(
            "/api/v1/services",
            get(|| async {
                json_response(
                    StatusCode::OK,
                    json!({"items": [{"id": "checkout", "name": "Checkout", "description": null,
                        "team": "payments",
                        "integrations": [{"id": "am", "kind": "alertmanager", "key_hint": "…5e6f"}],
                        "open_incidents": 1}], "next_cursor": null}),
                )
            }),
        )
        .route(
            "/api/v1/services/{id}",
            get(|| async {
                json_response(
                    StatusCode::NOT_FOUND,
                    json!({"error": {"code": "not_found", "message": "no such service"}}),
                )
            }),
        )
        .route(
            "/api/v1/tokens",
            get(|| async { json_response(StatusCode::OK, json!({"items": [{"id": 1}]})) }).post(|| async {
                json_response(
                    StatusCode::CREATED,
                    json!({"id": 5, "name": "ci", "role": "viewer", "user_id": "alice",
                        "created_at": "2026-11-27T16:27:55Z", "created_by": "user:alice", "revoked_at": null,
                        "expires_at": null, "last_used_at": null, "token": "tcs_secret"}),
                )
            }),
        )
        .route(
            "/api/v1/schedules/{id}/overrides",
            get(|| async { json_response(StatusCode::OK, json!({"items": [override_json()], "next_cursor": null})) })
                .post(|| async { json_response(StatusCode::CREATED, override_json()) }),
        )
        .route("/api/v1/schedules/{id}/overrides/{oid}", axum::routing::delete(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/api/v1/users/{id}/ical-token",
            post(|| async {
                json_response(
                    StatusCode::CREATED,
                    json!({"user": "alice", "token": "tcs_feed", "urls": {
                        "user": "/api/v1/users/alice/ical?token=tcs_feed",
                        "schedules": {"primary": "/api/v1/schedules/primary/ical?token=tcs_feed"}}}),
                )
            }),
        )
        .route("/api/v1/tokens/{id}", axum::routing::delete(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/v2/enqueue",
            post(|body: Bytes| async move {
                if body.starts_with(b"{") {
                    json_response(
                        StatusCode::ACCEPTED,
                        json!({"status": "success", "message": "Event processed",
                            "dedup_key": "srv-generated"}),
                    )
                } else {
                    (StatusCode::BAD_REQUEST, "not json").into_response()
                }
            }),
        )
        .route(
            "/slow",
            any(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                StatusCode::OK
            }),
        )
        .layer(axum::middleware::map_request_with_state(log.clone(), record));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), log)
}

#[tokio::test]
async fn list_incidents_decodes_and_sends_filters_and_token() {
    let (base, log) = start().await;
    let c = Client::new(&base, Some("tcs_abc")).unwrap();
    let q = IncidentQuery {
        status: Some("triggered".into()),
        service: Some("check out".into()),
        limit: Some(10),
        ..Default::default()
    };
    let page = c.list_incidents(&q).await.unwrap();
    assert_eq!(page.next_cursor.as_deref(), Some("abc"));
    assert_eq!(page.items.len(), 1);
    let i = &page.items[0];
    assert_eq!(i.id, 42);
    assert_eq!((i.status, i.severity), (IncidentStatus::Triggered, Severity::Critical));
    assert_eq!(i.alert_count, 2);
    assert_eq!(i.created_at.to_rfc3339(), "2026-11-27T16:27:55+00:00");
    assert_eq!(i.acknowledged_at, None);

    let seen = log.lock().unwrap().clone();
    assert_eq!(seen[0].line, "GET /api/v1/incidents?status=triggered&service=check+out&limit=10");
    assert_eq!(seen[0].auth.as_deref(), Some("Bearer tcs_abc"));
}

#[tokio::test]
async fn get_incident_decodes_flattened_detail() {
    let (base, _log) = start().await;
    let c = Client::new(&base, None).unwrap();
    let d = c.get_incident(42).await.unwrap();
    assert_eq!(d.incident.id, 42);
    assert_eq!(d.alerts.len(), 1);
    let a = &d.alerts[0];
    assert_eq!((a.integration_id.as_str(), a.kind), ("am", IntegrationKind::Alertmanager));
    assert_eq!(a.labels["instance"], "web-1");
    assert_eq!(a.links[0].text, None);
    assert_eq!(a.incident_id, Some(42));
    // Offsets are normalised to UTC.
    assert_eq!(a.last_seen.to_rfc3339(), "2026-11-27T16:27:55+00:00");
    assert_eq!(d.timeline[0].payload["text"], "looking");
}

#[tokio::test]
async fn error_body_becomes_api_error() {
    let (base, log) = start().await;
    let c = Client::new(&base, Some("tcs_viewer")).unwrap();
    let err = c.acknowledge(7).await.unwrap_err();
    match &err {
        ClientError::Api { status, code, message, field } => {
            assert_eq!(*status, 403);
            assert_eq!(code, "forbidden");
            assert_eq!(message, "role viewer cannot acknowledge incidents");
            assert_eq!(*field, None);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(err.to_string(), "403 forbidden: role viewer cannot acknowledge incidents");
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen[0].line, "POST /api/v1/incidents/7/acknowledge");
    assert_eq!(seen[0].body, "{}");

    let err = c.add_note(7, "").await.unwrap_err();
    assert_eq!(err.status(), Some(422));
    assert!(matches!(&err, ClientError::Api { field: Some(f), .. } if f == "text"));
    assert_eq!(err.to_string(), "422 validation_failed: must not be empty (field: text)");
    assert_eq!(log.lock().unwrap()[1].body, r#"{"text":""}"#);

    // `field` may be absent altogether.
    let err = c.get_service("a/b c").await.unwrap_err();
    assert_eq!(err.to_string(), "404 not_found: no such service");
    assert_eq!(log.lock().unwrap()[2].line, "GET /api/v1/services/a%2Fb%20c");
}

#[tokio::test]
async fn non_json_error_becomes_http_code() {
    let (base, _log) = start().await;
    let c = Client::new(&base, None).unwrap();
    let err = c.list_alerts(&AlertQuery::default()).await.unwrap_err();
    match &err {
        ClientError::Api { status, code, message, field } => {
            assert_eq!(*status, 502);
            assert_eq!(code, "http_502");
            assert_eq!(message, "<html><body> <h1>502 Bad Gateway</h1> </body></html>");
            assert_eq!(*field, None);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!err.to_string().contains('\n'));
}

#[tokio::test]
async fn services_tokens_and_revoke() {
    let (base, log) = start().await;
    let c = Client::new(&base, Some("t")).unwrap();
    let services = c.list_services().await.unwrap();
    assert_eq!(services[0].integrations[0].key_hint, "…5e6f");
    assert_eq!(services[0].team.as_deref(), Some("payments"));

    let created = c.create_token("ci", "viewer").await.unwrap();
    assert_eq!((created.token.as_str(), created.info.role), ("tcs_secret", Role::Viewer));
    assert_eq!(log.lock().unwrap()[1].body, r#"{"name":"ci","role":"viewer"}"#);
    let err = c.create_token("ci", "god").await.unwrap_err();
    assert!(matches!(err, ClientError::InvalidInput(_)), "{err:?}");
    assert_eq!(log.lock().unwrap().len(), 2, "nothing is sent");

    c.revoke_token(5).await.unwrap();
    assert_eq!(log.lock().unwrap()[2].line, "DELETE /api/v1/tokens/5");

    // A 2xx with the wrong shape is a decode error naming the request.
    let err = c.list_tokens().await.unwrap_err();
    assert!(matches!(err, ClientError::Decode(_)), "{err:?}");
    assert!(err.to_string().starts_with("unexpected response: GET /api/v1/tokens: missing field `name`"), "{err}");
}

#[tokio::test]
async fn send_raw_returns_status_and_body_without_token() {
    let (base, log) = start().await;
    let c = Client::new(&base, Some("tcs_should_not_leak")).unwrap();
    let (status, body) = c.send_raw("/v2/enqueue", json!({"routing_key": "k"})).await.unwrap();
    assert_eq!(status, 202);
    assert_eq!(body["dedup_key"], "srv-generated");
    assert_eq!(log.lock().unwrap()[0].auth, None);

    // Non-2xx is not an error; a non-JSON body comes back as {"raw": …}.
    let (status, body) = c.send_raw_bytes("v2/enqueue", b"garbage".to_vec()).await.unwrap();
    assert_eq!(status, 400);
    assert_eq!(body, json!({"raw": "not json"}));

    let (status, body) = c.send_raw("/nowhere", json!([])).await.unwrap();
    assert_eq!(status, 404);
    assert_eq!(body, json!({"raw": ""}));
}

#[tokio::test]
async fn connection_refused_is_one_line() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let c = Client::new(&format!("http://{addr}"), None).unwrap();
    let err = c.list_services().await.unwrap_err();
    assert!(matches!(err, ClientError::Http(_)), "{err:?}");
    assert_eq!(err.to_string(), format!("cannot connect to http://{addr}: connection refused"));
}

#[tokio::test]
async fn timeout_is_one_line() {
    let (base, _log) = start().await;
    let c = Client::with_timeouts(&base, None, Duration::from_millis(200), Duration::from_secs(1)).unwrap();
    let err = c.send_raw("/slow", json!({})).await.unwrap_err();
    assert_eq!(err.to_string(), format!("request to {base} timed out"));
}

#[test]
fn base_url_validation_and_prefix() {
    for bad in ["localhost:8080", "ftp://x", "not a url", "", "http://"] {
        let err = Client::new(bad, None).unwrap_err();
        assert!(matches!(err, ClientError::InvalidUrl(_)), "{bad}: {err:?}");
        assert!(err.to_string().starts_with("invalid URL: "), "{err}");
    }
    let c = Client::new(" http://h:1/tocsin?x=1#f ", Some("  ")).unwrap();
    assert!(!c.has_token());
    assert_eq!(c.api(&["incidents", "7"]).unwrap().as_str(), "http://h:1/tocsin/api/v1/incidents/7");
    assert_eq!(c.raw_url("/v2/enqueue").unwrap().as_str(), "http://h:1/tocsin/v2/enqueue");
    let c = Client::new("http://h:1/", None).unwrap();
    assert_eq!(c.api(&["tokens"]).unwrap().as_str(), "http://h:1/api/v1/tokens");
    assert_eq!(c.raw_url("integrations/generic/k").unwrap().as_str(), "http://h:1/integrations/generic/k");
    assert!(!format!("{c:?}").contains("tcs_"));
}

#[tokio::test]
async fn overrides_and_feed_tokens() {
    let (base, log) = start().await;
    let c = Client::new(&format!("{base}/"), Some("t")).unwrap();
    let start = DateTime::parse_from_rfc3339("2026-03-06T18:00:00Z").unwrap().with_timezone(&Utc);
    let end = DateTime::parse_from_rfc3339("2026-03-09T09:00:00.5Z").unwrap().with_timezone(&Utc);
    let created = c.create_override("primary", "bob", start, end).await.unwrap();
    assert_eq!((created.id, created.user.as_str(), created.start), (Some(3), "bob", start));
    assert_eq!(log.lock().unwrap()[0].line, "POST /api/v1/schedules/primary/overrides");
    let sent: Value = serde_json::from_str(&log.lock().unwrap()[0].body).unwrap();
    assert_eq!(sent, json!({"user": "bob", "start": "2026-03-06T18:00:00Z", "end": "2026-03-09T09:00:00.500Z"}));
    assert_eq!(c.list_overrides("primary", false).await.unwrap(), std::slice::from_ref(&created));
    c.list_overrides("primary", true).await.unwrap();
    assert_eq!(log.lock().unwrap()[2].line, "GET /api/v1/schedules/primary/overrides?include_past=true");
    c.delete_override("primary", 3).await.unwrap();
    assert_eq!(log.lock().unwrap()[3].line, "DELETE /api/v1/schedules/primary/overrides/3");

    let issued = c.issue_ical_token("alice").await.unwrap();
    assert_eq!(issued.urls.schedules["primary"], "/api/v1/schedules/primary/ical?token=tcs_feed");
    assert_eq!(c.absolute_url(&issued.urls.user).unwrap(), format!("{base}/api/v1/users/alice/ical?token=tcs_feed"));
}
