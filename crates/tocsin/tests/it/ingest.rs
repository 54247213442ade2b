//! Every wire format through the real HTTP stack, with the captured fixtures.

use crate::harness::*;
use serde_json::{Value, json};

async fn alerts_with_key(s: &TestServer, key: &str) -> Vec<Value> {
    let (status, page) = s.get(&format!("/alerts?dedup_key={key}")).await;
    assert_eq!(status, 200);
    page["items"].as_array().unwrap().clone()
}

async fn incident(s: &TestServer, id: i64) -> Value {
    let (status, v) = s.get(&format!("/incidents/{id}")).await;
    assert_eq!(status, 200, "{v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagerduty_trigger_repeat_ack_resolve() {
    let s = TestServer::start().await;
    let (status, v) = s.post("/v2/enqueue", body(&pd_trigger(PD_KEY, "disk-db-1", "Disk full on db-1"))).await;
    assert_eq!(status, 202);
    assert_eq!(v, json!({"status": "success", "message": "Event processed", "dedup_key": "disk-db-1"}));

    let (status, _) = s.post("/v2/enqueue", body(&pd_trigger(PD_KEY, "disk-db-1", "Disk 99% full on db-1"))).await;
    assert_eq!(status, 202);
    let alerts = alerts_with_key(&s, "disk-db-1").await;
    assert_eq!(alerts.len(), 1, "a repeat folds into the open alert");
    assert_eq!(alerts[0]["occurrences"], 2);
    assert_eq!(alerts[0]["summary"], "Disk 99% full on db-1");
    assert_eq!(alerts[0]["status"], "triggered");
    let incident_id = alerts[0]["incident_id"].as_i64().unwrap();

    let (status, _) = s.post("/v2/enqueue", body(&pd_action(PD_KEY, "disk-db-1", "acknowledge"))).await;
    assert_eq!(status, 202);
    assert_eq!(incident(&s, incident_id).await["status"], "acknowledged");

    let (status, _) = s.post("/v2/enqueue", body(&pd_action(PD_KEY, "disk-db-1", "resolve"))).await;
    assert_eq!(status, 202);
    let inc = incident(&s, incident_id).await;
    assert_eq!(inc["status"], "resolved");
    assert_eq!(inc["resolved_by"], "integration:checkout-pagerduty");
    // Paging entries (the engine runs alongside) are covered by the paging tests.
    let lifecycle = ["opened", "alert_acknowledged", "acknowledged", "alert_resolved", "resolved"];
    let kinds: Vec<&str> = inc["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .filter(|k| lifecycle.contains(k))
        .collect();
    assert_eq!(kinds, lifecycle);

    // After resolve, the same key opens a new alert and a new incident.
    s.post("/v2/enqueue", body(&pd_trigger(PD_KEY, "disk-db-1", "Disk full again"))).await;
    let alerts = alerts_with_key(&s, "disk-db-1").await;
    assert_eq!(alerts.len(), 2);
    assert_ne!(alerts[0]["incident_id"], json!(incident_id));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagerduty_generates_dedup_key_and_scopes_keys_per_service() {
    let s = TestServer::start().await;
    let mut trigger = pd_trigger(PD_KEY, "", "No key given");
    trigger.as_object_mut().unwrap().remove("dedup_key");
    let (status, v) = s.post("/v2/enqueue", body(&trigger)).await;
    assert_eq!(status, 202);
    let generated = v["dedup_key"].as_str().unwrap().to_string();
    assert_eq!(generated.len(), 32);
    assert!(generated.chars().all(|c| c.is_ascii_hexdigit()));
    // The generated key resolves the alert it named.
    s.post("/v2/enqueue", body(&pd_action(PD_KEY, &generated, "resolve"))).await;
    assert_eq!(alerts_with_key(&s, &generated).await[0]["status"], "resolved");

    // Ack / resolve of a key that was never triggered: accepted, no effect.
    let (status, _) = s.post("/v2/enqueue", body(&pd_action(PD_KEY, "never-seen", "acknowledge"))).await;
    assert_eq!(status, 202);
    assert!(alerts_with_key(&s, "never-seen").await.is_empty());

    // Same dedup key through another service's key is another alert; a resolve
    // through one service leaves the other's alert open.
    s.post("/v2/enqueue", body(&pd_trigger(PD_KEY, "shared", "checkout"))).await;
    s.post("/v2/enqueue", body(&pd_trigger(SEARCH_PD_KEY, "shared", "search"))).await;
    s.post("/v2/enqueue", body(&pd_action(SEARCH_PD_KEY, "shared", "resolve"))).await;
    let alerts = alerts_with_key(&s, "shared").await;
    assert_eq!(alerts.len(), 2);
    let by_service = |svc: &str| alerts.iter().find(|a| a["service_id"] == svc).unwrap()["status"].clone();
    assert_eq!(by_service("checkout"), "triggered");
    assert_eq!(by_service("search"), "resolved");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagerduty_rejects_bad_input_with_its_error_shape() {
    let s = TestServer::start().await;
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "truncated JSON",
            br#"{"routing_key":"6f1d3c0e9b2a4f7c8d5e1a2b3c4d5e6f","event_action":"trig"#.to_vec(),
            400,
            "body",
        ),
        ("invalid UTF-8", b"{\"routing_key\":\"\xff\xfe\"}".to_vec(), 400, "body"),
        ("not an object", b"[1,2,3]".to_vec(), 400, "body"),
        (
            "missing routing_key",
            body(&json!({"event_action": "trigger", "payload": {"summary": "x", "source": "y", "severity": "info"}})),
            400,
            "routing_key",
        ),
        (
            "bad severity",
            body(
                &json!({"routing_key": PD_KEY, "event_action": "trigger", "payload": {"summary": "x", "source": "y", "severity": "urgent"}}),
            ),
            400,
            "payload.severity",
        ),
        (
            "wrong type",
            body(
                &json!({"routing_key": PD_KEY, "event_action": "trigger", "payload": {"summary": 42, "source": "y", "severity": "info"}}),
            ),
            400,
            "payload.summary",
        ),
        (
            "summary too long",
            body(
                &json!({"routing_key": PD_KEY, "event_action": "trigger", "payload": {"summary": "x".repeat(1025), "source": "y", "severity": "info"}}),
            ),
            400,
            "payload.summary",
        ),
        ("dedup_key too long", body(&pd_trigger(PD_KEY, &"k".repeat(256), "x")), 400, "dedup_key"),
        ("unknown key", body(&pd_trigger("ffffffffffffffffffffffffffffffff", "a", "x")), 404, "routing_key"),
        ("alertmanager key on PD endpoint", body(&pd_trigger(AM_KEY, "a", "x")), 404, "routing_key"),
    ];
    for (name, bytes, want, field) in cases {
        let (status, v) = s.post("/v2/enqueue", bytes).await;
        assert_eq!(status, want, "{name}: {v}");
        assert_eq!(v["status"], "invalid event", "{name}: {v}");
        let errors = v["errors"].as_array().unwrap();
        assert!(errors.iter().any(|e| e.as_str().unwrap().starts_with(field)), "{name}: {v}");
    }
    // The unknown-key answer is identical for a key of another kind: nothing leaks.
    let (_, a) = s.post("/v2/enqueue", body(&pd_trigger("ffffffffffffffffffffffffffffffff", "a", "x"))).await;
    let (_, b) = s.post("/v2/enqueue", body(&pd_trigger(AM_KEY, "a", "x"))).await;
    assert_eq!(a, b);

    let huge = vec![b' '; 600 * 1024];
    let (status, v) = s.post("/v2/enqueue", huge).await;
    assert_eq!(status, 413, "{v}");
    assert_eq!(v["status"], "invalid event");
    // Nothing above created an alert.
    let (_, page) = s.get("/alerts").await;
    assert_eq!(page["items"], json!([]));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagerduty_change_events_land_on_the_service() {
    let s = TestServer::start().await;
    let change = json!({"routing_key": PD_KEY, "payload": {"summary": "Deploy v1.2.3", "source": "ci", "custom_details": {"sha": "abc"}},
        "links": [{"href": "https://ci.example/1", "text": "build"}]});
    let (status, v) = s.post("/v2/change/enqueue", body(&change)).await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v, json!({"status": "success", "message": "Change event processed"}));
    let (_, changes) = s.get("/services/checkout/changes").await;
    assert_eq!(changes["items"][0]["summary"], "Deploy v1.2.3");
    assert_eq!(changes["items"][0]["details"]["sha"], "abc");
    let (_, incidents) = s.get("/incidents").await;
    assert_eq!(incidents["items"], json!([]), "a change event is not an alert");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_webhook_fixtures() {
    let s = TestServer::start().await;
    let path = format!("/integrations/alertmanager/{AM_KEY}");
    let (status, v) = s.post(&path, fixture("alertmanager/webhook-v4-firing.json")).await;
    assert_eq!(status, 200, "{v}");
    let (status, _) = s.post(&path, fixture("alertmanager/webhook-v4-firing-second-instance.json")).await;
    assert_eq!(status, 200);
    let web1 = alerts_with_key(&s, "b1c11497b32ce15e").await;
    assert_eq!(web1.len(), 1);
    assert_eq!(web1[0]["summary"], "5xx ratio above 2%");
    assert_eq!(web1[0]["severity"], "critical");
    assert_eq!(web1[0]["labels"]["instance"], "web-1");
    assert_eq!(web1[0]["kind"], "alertmanager");
    let (_, open) = s.get("/incidents?status=triggered").await;
    assert_eq!(open["items"].as_array().unwrap().len(), 2, "two instances, two incidents");

    let (status, _) = s.post(&path, fixture("alertmanager/webhook-v4-resolved.json")).await;
    assert_eq!(status, 200);
    let web1 = alerts_with_key(&s, "b1c11497b32ce15e").await;
    assert_eq!(web1[0]["status"], "resolved");
    assert_eq!(incident(&s, web1[0]["incident_id"].as_i64().unwrap()).await["status"], "resolved");
    // Alertmanager re-sends notifications: a repeated resolve changes nothing.
    let (status, v) = s.post(&path, fixture("alertmanager/webhook-v4-resolved.json")).await;
    assert_eq!(status, 200);
    assert_eq!(v["outcomes"][0]["effect"], "ignored");
    assert_eq!(alerts_with_key(&s, "b1c11497b32ce15e").await.len(), 1);

    let (status, v) =
        s.post(&path, b"{\"version\":\"4\",\"alerts\":[{\"status\":\"firing\",\"labels\":{}}]}".to_vec()).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], "validation_failed");
    assert!(v["error"]["field"].as_str().unwrap().starts_with("alerts[0]"), "{v}");
    let (status, _) =
        s.post("/integrations/alertmanager/not-a-key", fixture("alertmanager/webhook-v4-firing.json")).await;
    assert_eq!(status, 404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_push_fixtures_are_idempotent_and_resolve_by_ends_at() {
    // The fixtures were captured at 16:36:12 with endsAt 16:36:22 (firing) and
    // 16:36:20 (resolved); the server's clock is set to match.
    let (s, clock) = TestServer::start_at(at(2026, 11, 27, 16, 36, 13)).await;
    let path = format!("/integrations/prometheus/{PROM_KEY}/api/v2/alerts");
    let (status, v) = s.post(&path, fixture("prometheus/api-v2-alerts-firing.json")).await;
    assert_eq!((status, v), (200, serde_json::Value::Null), "Alertmanager's API answers an empty 200");
    clock.advance(chrono::Duration::seconds(2));
    // Prometheus re-sends firing alerts: one alert, counted twice.
    s.post(&path, fixture("prometheus/api-v2-alerts-firing.json")).await;
    let alerts = alerts_with_key(&s, "86818cd2f66d417d").await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["occurrences"], 2);
    assert_eq!(alerts[0]["status"], "triggered");
    assert_eq!(alerts[0]["expires_at"], "2026-11-27T16:36:22.667Z");
    assert_eq!(alerts[0]["labels"]["cluster"], "eu-1");

    clock.set(at(2026, 11, 27, 16, 36, 21));
    s.post(&path, fixture("prometheus/api-v2-alerts-resolved.json")).await;
    let alerts = alerts_with_key(&s, "86818cd2f66d417d").await;
    assert_eq!(alerts[0]["status"], "resolved");
    // Resolved alerts are re-sent for 15 minutes; nothing new opens.
    s.post(&path, fixture("prometheus/api-v2-alerts-resolved.json")).await;
    // A stale firing batch arriving after its endsAt does not reopen it.
    clock.set(at(2026, 11, 27, 16, 36, 23));
    s.post(&path, fixture("prometheus/api-v2-alerts-firing.json")).await;
    assert_eq!(alerts_with_key(&s, "86818cd2f66d417d").await.len(), 1);

    // The same push authorised by a bearer token instead of the path.
    clock.set(at(2026, 11, 27, 16, 36, 13));
    let r = s
        .http
        .post(format!("{}/api/v2/alerts", s.url))
        .bearer_auth(PROM_KEY)
        .body(fixture("prometheus/api-v2-alerts-firing.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(alerts_with_key(&s, "86818cd2f66d417d").await.len(), 2);
    let r = s.http.post(format!("{}/api/v2/alerts", s.url)).bearer_auth("wrong").body("[]").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_webhook() {
    let s = TestServer::start().await;
    let path = format!("/integrations/generic/{GENERIC_KEY}");
    let (status, v) = s
        .post(&path, body(&json!({"summary": "Queue depth high", "severity": "warning", "details": {"depth": 9000}})))
        .await;
    assert_eq!(status, 202, "{v}");
    let key = v["dedup_key"].as_str().unwrap().to_string();
    assert_eq!(v["effect"], "opened");
    let (status, v) = s.post(&path, body(&json!({"action": "resolve", "dedup_key": key}))).await;
    assert_eq!((status, v["effect"].clone()), (202, json!("resolved")));
    let (status, v) = s.post(&path, body(&json!({"action": "resolve"}))).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["field"], "dedup_key");
    let (status, v) = s.post(&path, body(&json!({"summary": "x", "severity": "loud"}))).await;
    assert_eq!((status, v["error"]["field"].clone()), (400, json!("severity")));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_answers_429_and_stores_nothing_extra() {
    let s = TestServer::start_with(Options {
        limits: tocsin_http::IngestLimits { events_per_second: 0.001, burst: 3.0 },
        ..Options::default()
    })
    .await;
    let mut statuses = Vec::new();
    for i in 0..5 {
        let (status, v) = s.post("/v2/enqueue", body(&pd_trigger(PD_KEY, &format!("rl-{i}"), "x"))).await;
        if status == 429 {
            assert_eq!(v["status"], "invalid event");
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [202, 202, 202, 429, 429]);
    let (_, page) = s.get("/alerts").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_bad_bodies_with_4xx_and_stores_nothing() {
    let s = TestServer::start().await;
    let endpoints = [
        (format!("/integrations/alertmanager/{AM_KEY}"), 4 * 1024 * 1024),
        (format!("/integrations/prometheus/{PROM_KEY}/api/v2/alerts"), 4 * 1024 * 1024),
        (format!("/integrations/generic/{GENERIC_KEY}"), 256 * 1024),
    ];
    for (path, limit) in &endpoints {
        let bad: Vec<(&str, Vec<u8>)> = vec![
            ("truncated", b"{\"alerts\": [".to_vec()),
            ("invalid UTF-8", b"[{\"labels\":{\"a\":\"\xc3\x28\"}}]".to_vec()),
            ("wrong type", br#"{"alerts": 7, "summary": 7}"#.to_vec()),
            ("empty", Vec::new()),
            ("deep", format!("{}{}", "[".repeat(100), "]".repeat(100)).into_bytes()),
        ];
        for (name, bytes) in bad {
            let (status, v) = s.post(path, bytes).await;
            assert_eq!(status, 400, "{path} {name}: {v}");
            assert_eq!(v["error"]["code"], "validation_failed", "{path} {name}");
            assert!(v["error"]["field"].is_string(), "{path} {name}: the error names a field");
        }
        let (status, v) = s.post(path, vec![b' '; limit + 1]).await;
        assert_eq!((status, v["error"]["code"].clone()), (413, json!("payload_too_large")), "{path}");
    }
    // An oversized API body is refused too.
    let (status, _) = s
        .api(reqwest::Method::POST, "/incidents/1/notes", Some(ADMIN), Some(json!({"text": "x".repeat(70_000)})))
        .await;
    assert_eq!(status, 413);
    let (_, page) = s.get("/alerts").await;
    assert_eq!(page["items"], json!([]));
    s.stop().await;
}

/// The value of `tocsin_events_rejected_total` for one source and reason.
async fn rejected(s: &TestServer, source: &str, reason: &str) -> u64 {
    let text = s.http.get(format!("{}/metrics", s.url)).send().await.unwrap().text().await.unwrap();
    let labels = [format!("source=\"{source}\""), format!("reason=\"{reason}\"")];
    text.lines()
        .filter(|l| l.starts_with("tocsin_events_rejected_total{") && labels.iter().all(|x| l.contains(x.as_str())))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_character_is_counted_as_invalid_input_not_as_a_storage_failure() {
    let s = TestServer::start().await;
    let (invalid, storage) =
        (rejected(&s, "alertmanager", "invalid").await, rejected(&s, "alertmanager", "storage").await);
    let hostile = json!({
        "version": "4", "status": "firing", "receiver": "tocsin", "groupKey": "{}:{}",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "DiskFull", "instance": "nul-1"},
            "annotations": {"summary": "disk\u{0}full"},
            "startsAt": "2026-03-02T09:00:00Z"
        }]
    });
    let (status, v) = s.post(&format!("/integrations/alertmanager/{AM_KEY}"), body(&hostile)).await;
    assert_eq!(status, 400, "{v}");
    assert!(v.to_string().contains("NUL"), "{v}");
    assert_eq!(rejected(&s, "alertmanager", "storage").await, storage, "bad input is not a storage failure");
    assert!(rejected(&s, "alertmanager", "invalid").await > invalid, "bad input is counted as invalid");
    s.stop().await;
}
