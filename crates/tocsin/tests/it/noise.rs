//! Noise control through HTTP, on the example config: a routed Prometheus
//! key (`route: payments`) sends alerts to `checkout` and `receipts`;
//! `receipts` groups by `alertname, cluster`, depends on `checkout` and has
//! maintenance windows; a global inhibition rule mutes non-critical alerts
//! of a datacenter while `DatacenterDown` fires there; `search` keeps the
//! default storm and flap limits. Every held-back alert says why, in the
//! API and on the incident.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::harness::{ADMIN, Options, PD_KEY, PROM_KEY, SEARCH_PD_KEY, TestServer, at, body, pd_action, pd_trigger};

const ROUTED_KEY: &str = "prom-routed-0123456789abcdef";

fn prom_alert(labels: Value, starts: DateTime<Utc>) -> Value {
    json!({"labels": labels, "annotations": {"summary": "test"}, "startsAt": starts.to_rfc3339(),
           "endsAt": (starts + Duration::hours(1)).to_rfc3339()})
}

async fn push(s: &TestServer, key: &str, alerts: Vec<Value>) {
    let (status, out) = s.post(&format!("/integrations/prometheus/{key}/api/v2/alerts"), body(&json!(alerts))).await;
    assert_eq!(status, 200, "{out}");
}

async fn alerts_where(s: &TestServer, query: &str) -> Vec<Value> {
    let (status, page) = s.get(&format!("/alerts?limit=200&{query}")).await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().cloned().unwrap_or_default()
}

async fn alert_named(s: &TestServer, name: &str) -> Value {
    let all = alerts_where(s, "").await;
    all.into_iter().find(|a| a["labels"]["alertname"] == name).unwrap_or_else(|| panic!("no alert named {name}"))
}

async fn incident(s: &TestServer, id: &Value) -> Value {
    let (status, i) = s.get(&format!("/incidents/{id}")).await;
    assert_eq!(status, 200, "{i}");
    i
}

/// Adds a silence of `name="value"` through Alertmanager's API; its id.
async fn add_silence(s: &TestServer, name: &str, value: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let silence = json!({
        "matchers": [{"name": name, "value": value, "isRegex": false, "isEqual": true}],
        "startsAt": from.to_rfc3339(), "endsAt": to.to_rfc3339(), "createdBy": "alice", "comment": "test"
    });
    let r = s.http.post(format!("{}/api/v2/silences", s.url)).bearer_auth(ADMIN).json(&silence).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.json::<Value>().await.unwrap()["silenceID"].as_str().unwrap().to_string()
}

fn instant(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a time: {v}"))).unwrap().to_utc()
}

fn kinds(held: &Value) -> Vec<String> {
    held.as_array()
        .map(|h| h.iter().map(|r| r["kind"].as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_grouping_dependencies_silences_inhibition_and_windows() {
    // A Monday morning: no maintenance window is open.
    let t0 = at(2026, 4, 6, 10, 0, 0);
    let (s, clock) = TestServer::start_at(t0).await;

    // Routing: `job=~receipts|mailer` goes to receipts, and both alerts fall
    // in one group (same alertname and cluster): one incident, two alerts.
    let group = json!({"alertname": "QueueBacklog", "team": "payments", "cluster": "c1"});
    let mut a = group.clone();
    a["job"] = json!("receipts");
    let mut b = group.clone();
    b["job"] = json!("mailer");
    push(&s, ROUTED_KEY, vec![prom_alert(a, t0)]).await;
    push(&s, ROUTED_KEY, vec![prom_alert(b, t0)]).await;
    let grouped = alerts_where(&s, "service=receipts").await;
    assert_eq!(grouped.len(), 2, "{grouped:?}");
    assert_eq!(grouped[0]["incident_id"], grouped[1]["incident_id"]);
    let first = grouped.iter().find(|a| a["labels"]["job"] == "receipts").unwrap();
    let second = grouped.iter().find(|a| a["labels"]["job"] == "mailer").unwrap();
    assert!(first["held_back"].as_array().unwrap().is_empty(), "the first alert opened the incident");
    assert_eq!(kinds(&second["held_back"]), ["grouped"]);
    assert_eq!(instant(&second["held_back"][0]["details"]["next_update_at"]), t0 + Duration::minutes(5));
    assert!(second["held_back"][0]["text"].as_str().unwrap().starts_with("held back: grouped into incident"));
    let receipts_incident = incident(&s, &first["incident_id"]).await;
    assert_eq!(receipts_incident["alert_count"], 2);

    // Routing sets severity (`severity="page"` → critical) on checkout.
    let page = json!({"alertname": "ErrorRate", "team": "payments", "severity": "page"});
    push(&s, ROUTED_KEY, vec![prom_alert(page, t0)]).await;
    let error_rate = alert_named(&s, "ErrorRate").await;
    assert_eq!(
        (error_rate["service_id"].as_str(), error_rate["severity"].as_str()),
        (Some("checkout"), Some("critical"))
    );
    let checkout_incident = error_rate["incident_id"].clone();

    // Dependencies: checkout has an open incident, so a new receipts alert
    // (another group) attaches to it as likely caused by it.
    let mail = json!({"alertname": "MailBounce", "team": "payments", "job": "mailer", "cluster": "c1"});
    push(&s, ROUTED_KEY, vec![prom_alert(mail, t0)]).await;
    let bounce = alert_named(&s, "MailBounce").await;
    assert_eq!(bounce["service_id"], "receipts");
    assert_eq!(bounce["incident_id"], checkout_incident);
    assert_eq!(kinds(&bounce["held_back"]), ["depends_on"]);
    assert_eq!(bounce["held_back"][0]["details"]["service"], "checkout");

    // The API shows the dependency graph both ways.
    let (_, receipts) = s.get("/services/receipts").await;
    assert_eq!(receipts["depends_on"], json!(["checkout"]));
    let (_, checkout) = s.get("/services/checkout").await;
    assert_eq!(checkout["dependents"], json!(["receipts"]));

    // Nothing routes `team="other"`: no alert is stored for it.
    push(&s, ROUTED_KEY, vec![prom_alert(json!({"alertname": "Elsewhere", "team": "other"}), t0)]).await;
    assert!(alerts_where(&s, "").await.iter().all(|a| a["labels"]["alertname"] != "Elsewhere"));

    // A silence: the alert is recorded and its incident pages nobody.
    let silence_id = add_silence(&s, "alertname", "KnownFlake", t0, t0 + Duration::hours(2)).await;
    push(&s, PROM_KEY, vec![prom_alert(json!({"alertname": "KnownFlake"}), t0)]).await;
    let flake = alert_named(&s, "KnownFlake").await;
    assert_eq!(kinds(&flake["held_back"]), ["silenced"]);
    assert_eq!(flake["held_back"][0]["details"]["silence_id"], silence_id.as_str());
    let quiet = incident(&s, &flake["incident_id"]).await;
    assert_eq!(kinds(&quiet["held_back"]), ["silenced"]);
    assert!(quiet["escalation"].is_null(), "a silenced incident pages nobody: {quiet}");
    // Once the silence is expired, the next re-send releases the incident:
    // it says so and pages.
    let r = reqwest::Client::new()
        .delete(format!("{}/api/v2/silence/{silence_id}", s.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    push(&s, PROM_KEY, vec![prom_alert(json!({"alertname": "KnownFlake"}), t0)]).await;
    let released = incident(&s, &flake["incident_id"]).await;
    assert!(released["held_back"].as_array().unwrap().is_empty(), "{released}");
    assert!(released["timeline"].as_array().unwrap().iter().any(|e| e["kind"] == "released"));
    // Its escalation starts (at 06:00 in New York the primary schedule has
    // nobody on call, which the timeline says; the next level follows).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let i = incident(&s, &flake["incident_id"]).await;
        let paging =
            i["timeline"].as_array().unwrap().iter().any(|e| e["kind"] == "paged" || e["kind"] == "nobody_paged");
        if paging && !i["escalation"].is_null() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the released incident's escalation never started: {i}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Inhibition: DatacenterDown in fra mutes a warning there, not in ams.
    let down = json!({"alertname": "DatacenterDown", "datacenter": "fra", "severity": "critical"});
    push(&s, PROM_KEY, vec![prom_alert(down, t0)]).await;
    let fra = json!({"alertname": "DiskFra", "datacenter": "fra", "severity": "warning"});
    let ams = json!({"alertname": "DiskAms", "datacenter": "ams", "severity": "warning"});
    push(&s, PROM_KEY, vec![prom_alert(fra, t0), prom_alert(ams, t0)]).await;
    let source = alert_named(&s, "DatacenterDown").await;
    let muted = alert_named(&s, "DiskFra").await;
    assert_eq!(kinds(&muted["held_back"]), ["inhibited"]);
    assert_eq!(muted["held_back"][0]["details"]["by_alert"], source["id"]);
    assert!(alert_named(&s, "DiskAms").await["held_back"].as_array().unwrap().is_empty());

    // A maintenance window (Tuesdays 14:00–15:00 Berlin): recorded, quiet,
    // and the incident says which window.
    clock.set(at(2026, 4, 7, 12, 30, 0));
    let deploy = json!({"alertname": "DeployNoise", "team": "payments", "job": "receipts", "cluster": "c9"});
    push(&s, ROUTED_KEY, vec![prom_alert(deploy, at(2026, 4, 7, 12, 30, 0))]).await;
    let noise = alert_named(&s, "DeployNoise").await;
    let held = incident(&s, &noise["incident_id"]).await;
    assert_eq!(kinds(&held["held_back"]), ["maintenance"]);
    assert_eq!(held["held_back"][0]["details"]["window_id"], "tuesday-deploys");
    // Nobody was paged for the quiet incident.
    for id in [&held["id"]] {
        let (_, pages) = s.get(&format!("/incidents/{id}/notifications")).await;
        assert_eq!(pages["items"].as_array().map_or(0, Vec::len), 0, "{pages}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storms_collapse_and_flapping_alerts_page_once() {
    let t0 = at(2026, 4, 6, 10, 0, 0);
    let (s, clock) = TestServer::start_at(t0).await;
    // Flapping (default: more than 4 changes within 10 min): fire, resolve,
    // fire, resolve, fire; the third fire is the fifth change.
    for n in 0..3 {
        clock.set(t0 + Duration::seconds(n * 10));
        let (status, _) = s.post("/v2/enqueue", body(&pd_trigger(SEARCH_PD_KEY, "flappy", "flaps"))).await;
        assert_eq!(status, 202);
        if n < 2 {
            clock.set(t0 + Duration::seconds(n * 10 + 5));
            let (status, _) = s.post("/v2/enqueue", body(&pd_action(SEARCH_PD_KEY, "flappy", "resolve"))).await;
            assert_eq!(status, 202);
        }
    }
    let flaps = alerts_where(&s, "dedup_key=flappy").await;
    assert_eq!(flaps.len(), 3);
    let last = flaps.iter().find(|a| a["status"] == "triggered").unwrap();
    assert_eq!(kinds(&last["held_back"]), ["flapping"]);
    assert_eq!(instant(&last["held_back"][0]["details"]["until"]), t0 + Duration::seconds(10) + Duration::minutes(10));

    // A storm (default: more than 20 new alerts within 1 min), two minutes
    // later: 20 incidents page on their own, the 21st opens the storm
    // incident and the other 9 join it.
    let t1 = t0 + Duration::minutes(2);
    clock.set(t1);
    for n in 0..30 {
        let (status, _) = s.post("/v2/enqueue", body(&pd_trigger(SEARCH_PD_KEY, &format!("storm-{n}"), "boom"))).await;
        assert_eq!(status, 202);
    }
    let (_, list) = s.get("/incidents?service=search&limit=100").await;
    let opened: Vec<&Value> =
        list["items"].as_array().unwrap().iter().filter(|i| instant(&i["created_at"]) >= t1).collect();
    assert_eq!(opened.len(), 21, "{list}");
    let storm = opened.iter().find(|i| i["title"].as_str().unwrap().starts_with("Alert storm on search")).unwrap();
    assert_eq!(storm["alert_count"], 10);
    let joined = alerts_where(&s, "dedup_key=storm-29").await;
    assert_eq!(joined[0]["incident_id"], storm["id"]);
    assert_eq!(kinds(&joined[0]["held_back"]), ["storm"]);
    s.stop().await;
}

/// A sender that sends once (PagerDuty) never re-sends: when the silence or
/// window holding its alert back ends, the engine releases the incident.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_incidents_page_when_their_silence_or_window_ends_without_a_resend() {
    let t0 = at(2026, 4, 6, 10, 0, 0);
    let clock = std::sync::Arc::new(tocsin_core::clock::ManualClock::new(t0));
    let s = TestServer::start_with(Options { clock: clock.clone(), run_engine: false, ..Options::default() }).await;
    add_silence(&s, "source", "db-1", t0, t0 + Duration::minutes(30)).await;
    let (status, _) = s.post("/v2/enqueue", body(&pd_trigger(PD_KEY, "failover", "replica lag"))).await;
    assert_eq!(status, 202);
    let alert = alerts_where(&s, "dedup_key=failover").await.remove(0);
    assert_eq!(kinds(&alert["held_back"]), ["silenced"]);
    s.tick().await;
    let quiet = incident(&s, &alert["incident_id"]).await;
    assert!(quiet["escalation"].is_null(), "{quiet}");

    // Still silenced a minute before its end: nothing moves.
    clock.set(t0 + Duration::minutes(29));
    assert_eq!(s.tick().await.released_incidents, 0);
    assert_eq!(kinds(&incident(&s, &alert["incident_id"]).await["held_back"]), ["silenced"]);

    // The silence ends: released by the system, and its escalation starts.
    clock.set(t0 + Duration::minutes(30));
    assert_eq!(s.tick().await.released_incidents, 1);
    let released = incident(&s, &alert["incident_id"]).await;
    assert!(released["held_back"].as_array().unwrap().is_empty(), "{released}");
    let timeline = released["timeline"].as_array().unwrap();
    let entry = timeline.iter().find(|e| e["kind"] == "released").unwrap_or_else(|| panic!("{released}"));
    assert_eq!(entry["actor"], "system");
    assert!(!released["escalation"].is_null(), "the released incident pages: {released}");
    assert!(timeline.iter().any(|e| e["kind"] == "paged" || e["kind"] == "nobody_paged"), "{released}");
    assert!(alerts_where(&s, "dedup_key=failover").await[0]["held_back"].as_array().unwrap().is_empty());
    let (_, audit) = s.get("/audit?limit=50").await;
    assert!(audit["items"].as_array().unwrap().iter().any(|e| e["record"]["action"] == "incident.release"), "{audit}");

    // receipts' window, Tuesdays 14:00–15:00 in Berlin: an alert in it is
    // quiet until the window closes.
    let t1 = at(2026, 4, 7, 12, 30, 0);
    clock.set(t1);
    let deploy = json!({"alertname": "DeployNoise", "team": "payments", "job": "receipts", "cluster": "c9"});
    push(&s, ROUTED_KEY, vec![prom_alert(deploy, t1)]).await;
    let noise = alert_named(&s, "DeployNoise").await;
    assert_eq!(kinds(&noise["held_back"]), ["maintenance"]);
    clock.set(at(2026, 4, 7, 12, 59, 59));
    assert_eq!(s.tick().await.released_incidents, 0);
    // The sweep just ran (at 12:59:59); the next one, 10 s later, finds the
    // window closed.
    clock.set(at(2026, 4, 7, 13, 0, 0));
    assert_eq!(s.tick().await.released_incidents, 0, "a sweep starts at most every 10 s");
    clock.set(at(2026, 4, 7, 13, 0, 9));
    assert_eq!(s.tick().await.released_incidents, 1);
    let released = incident(&s, &noise["incident_id"]).await;
    assert!(released["held_back"].as_array().unwrap().is_empty(), "{released}");
    s.stop().await;
}
