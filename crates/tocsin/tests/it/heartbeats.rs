//! Heartbeat monitors end to end, with a manual clock and the engine running
//! by itself: the example config's `nightly-receipts` (1d, grace 1h) is
//! pinged by GET and POST, misses its deadline and gets an incident on
//! `receipts`, which the next ping resolves; unknown keys answer like
//! unknown integrations; the API and the CLI list the monitor.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use std::time::{Duration as StdDuration, Instant};
use tocsin_client::{HeartbeatStatus, IncidentQuery, IncidentStatus, IntegrationKind};

use crate::cli::tocsin_as;
use crate::harness::*;

const KEY: &str = "hb-receipts-0123456789abcdef";

async fn ping(s: &TestServer, method: reqwest::Method, key: &str, body: &'static str) -> (u16, Value) {
    let r = s.http.request(method, format!("{}/integrations/heartbeat/{key}", s.url)).body(body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, serde_json::from_str(&r.text().await.unwrap()).unwrap_or(Value::Null))
}

fn instant(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap_or_else(|| panic!("not an instant: {v}")).parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_heartbeat_opens_an_incident_and_the_next_ping_resolves_it() {
    let t0 = at(2026, 3, 2, 1, 0, 0);
    let (s, clock) = TestServer::start_at(t0).await;
    let admin = s.admin();

    // Before the first ping: waiting, due a day and an hour after it was set up.
    let listed = admin.list_heartbeats().await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let hb = &listed[0];
    assert_eq!((hb.id.as_str(), hb.service.as_str()), ("nightly-receipts", "receipts"));
    assert_eq!((hb.interval.as_str(), hb.grace.as_str(), hb.key_hint.as_str()), ("1d", "1h", "…cdef"));
    assert_eq!(
        (hb.state, hb.last_ping_at, hb.deadline),
        (HeartbeatStatus::Waiting, None, Some(t0 + Duration::hours(25)))
    );

    // A GET ping and a POST ping with a body (ignored).
    let (status, v) = ping(&s, reqwest::Method::GET, KEY, "").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["heartbeat"], "nightly-receipts");
    assert_eq!(instant(&v["next_deadline"]), t0 + Duration::hours(25));
    clock.advance(Duration::hours(1));
    let (status, v) = ping(&s, reqwest::Method::POST, KEY, "backup done: 1.2 GB\n").await;
    assert_eq!(status, 200, "{v}");
    let last_ping = t0 + Duration::hours(1);
    assert_eq!(instant(&v["next_deadline"]), last_ping + Duration::hours(25));
    assert!(v.get("resolved_incident").is_none(), "{v}");
    let hb = admin.list_heartbeats().await.unwrap().remove(0);
    assert_eq!((hb.state, hb.last_ping_at, hb.open_incident), (HeartbeatStatus::Up, Some(last_ping), None));

    // Unknown keys answer exactly as unknown integration keys do.
    let (status, unknown_integration) = s.post("/integrations/generic/hb-no-such-key-0000", "{}").await;
    assert_eq!(status, 404);
    for key in ["hb-no-such-key-0000".to_string(), "k".repeat(300)] {
        for method in [reqwest::Method::GET, reqwest::Method::POST] {
            let (status, v) = ping(&s, method.clone(), &key, "").await;
            assert_eq!((status, &v), (404, &unknown_integration), "{method} {}", key.len());
        }
    }
    // An integration key is no heartbeat key.
    assert_eq!(ping(&s, reqwest::Method::GET, GENERIC_KEY, "").await.0, 404);

    // One second before the deadline nothing happens; past it, the engine
    // (running by itself) opens an incident on `receipts`.
    let deadline = last_ping + Duration::hours(25);
    clock.set(deadline - Duration::seconds(1));
    assert_eq!(s.tick().await.missed_heartbeats, 0);
    clock.set(deadline + Duration::minutes(1));
    let query = IncidentQuery { service: Some("receipts".into()), ..Default::default() };
    let waited = Instant::now();
    let incident = loop {
        let page = admin.list_incidents(&query).await.unwrap();
        if let Some(found) = page.items.into_iter().find(|i| i.title.starts_with("Heartbeat nightly-receipts missed")) {
            break found;
        }
        assert!(waited.elapsed() < StdDuration::from_secs(30), "no incident 30 s after the deadline passed");
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    };
    assert_eq!(
        incident.title,
        "Heartbeat nightly-receipts missed: no ping since 2026-03-02T02:00:00Z (interval 1d, grace 1h)"
    );
    assert_eq!((incident.status, incident.created_at), (IncidentStatus::Triggered, deadline + Duration::minutes(1)));
    let detail = admin.get_incident(incident.id).await.unwrap();
    assert_eq!(detail.alerts.len(), 1);
    let alert = &detail.alerts[0];
    assert_eq!((alert.kind, alert.dedup_key.as_str()), (IntegrationKind::Heartbeat, "heartbeat:nightly-receipts"));
    assert_eq!(alert.labels.get("heartbeat").map(String::as_str), Some("nightly-receipts"));
    assert_eq!(detail.timeline[0].actor, "heartbeat:nightly-receipts");
    let hb = admin.list_heartbeats().await.unwrap().remove(0);
    assert_eq!((hb.state, hb.open_incident), (HeartbeatStatus::Overdue, Some(incident.id)));

    // A viewer reads the same through the CLI.
    let viewer = user_token(&s, "bob", "viewer").await;
    let (ok, out, err) = tocsin_as(&s, &viewer, &["heartbeats", "list"]).await;
    assert!(ok, "{out}{err}");
    assert!(out.starts_with("ID "), "{out}");
    let row = out.lines().find(|l| l.starts_with("nightly-receipts ")).unwrap_or_else(|| panic!("{out}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    let incident_id = incident.id.to_string();
    assert_eq!(
        cells,
        [
            "nightly-receipts",
            "receipts",
            "overdue",
            "1d",
            "1h",
            "2026-03-02T02:00:00Z",
            "2026-03-03T03:00:00Z",
            &incident_id
        ]
    );
    let (ok, out, err) = tocsin_as(&s, &viewer, &["heartbeats", "list", "-o", "json"]).await;
    assert!(ok, "{err}");
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((json[0]["state"].as_str(), json[0]["open_incident"].as_i64()), (Some("overdue"), Some(incident.id)));

    // Later checks open nothing more.
    clock.advance(Duration::hours(2));
    assert_eq!(s.tick().await.missed_heartbeats, 0);

    // The next ping resolves the incident, committed before its answer.
    let (status, v) = ping(&s, reqwest::Method::GET, KEY, "").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["resolved_incident"].as_i64(), Some(incident.id));
    let resolved = admin.get_incident(incident.id).await.unwrap().incident;
    assert_eq!(
        (resolved.status, resolved.resolved_by.as_deref()),
        (IncidentStatus::Resolved, Some("heartbeat:nightly-receipts"))
    );
    let hb = admin.list_heartbeats().await.unwrap().remove(0);
    assert_eq!((hb.state, hb.open_incident), (HeartbeatStatus::Up, None));
    let open = admin.list_incidents(&IncidentQuery { status: Some("triggered".into()), ..query }).await.unwrap();
    assert!(open.items.is_empty(), "{:?}", open.items);

    s.stop().await;
}
