//! Paging end to end: incidents opened through the PagerDuty endpoint are
//! escalated by the engine and delivered to real receivers on loopback (an
//! HTTP recorder and an SMTP sink). A manual clock drives every scenario;
//! the engine runs when the test ticks it, except where the test is about
//! the engine waking by itself.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use tocsin_core::clock::{Clock, ManualClock};
use tocsin_testkit::{HttpRecorder, Recorded, SmtpSink};

use crate::harness::*;

const SECRET: &str = "paging-test-webhook-secret";
const WAIT: StdDuration = StdDuration::from_secs(10);

/// 10:00 UTC on a Tuesday: alice is on call (the schedule covers 09:00–17:00).
fn day() -> DateTime<Utc> {
    at(2026, 3, 3, 10, 0, 0)
}

struct Rig {
    s: TestServer,
    clock: Arc<ManualClock>,
    hooks: HttpRecorder,
    smtp: SmtpSink,
    /// Holds the config file, read at start and at every restart.
    _config_dir: tempfile::TempDir,
}

fn config(hooks: &HttpRecorder, smtp: &SmtpSink, repeat: u32, ack_timeout: &str, rate: &str) -> String {
    format!(
        r#"
users:
  - id: alice
    name: Alice Example
    email: alice@example.com
    contact_methods:
      - {{ id: alice-hook, kind: webhook, url: "{alice}" }}
      - {{ id: alice-mail, kind: email, address: alice@example.com }}
    notification_rules:
      - {{ contact_method: alice-hook, after: 0s }}
      - {{ contact_method: alice-mail, after: 2m }}
  - id: bob
    name: Bob Example
    email: bob@example.com
    contact_methods:
      - {{ id: bob-hook, kind: webhook, url: "{bob}" }}
  - id: carol
    name: Carol Example
    email: carol@example.com
    contact_methods:
      - {{ id: carol-slack, kind: slack, url: "{carol}" }}
schedules:
  - id: primary
    time_zone: UTC
    layers:
      - id: days
        users: [alice]
        start: "2026-03-02T09:00:00"
        turn: 1d
        restrictions: [{{ kind: daily, from: "09:00", to: "17:00" }}]
escalation_policies:
  - id: two-level
    repeat: {repeat}
    levels:
      - {{ targets: [{{ schedule: primary }}], escalate_after: 5m }}
      - {{ targets: [{{ user: bob }}], escalate_after: 10m }}
services:
  - id: checkout
    name: Checkout API
    escalation_policy: two-level
    ack_timeout: {ack_timeout}
    integrations:
      - {{ kind: pagerduty, key: {PD_KEY} }}
notifications:
  smtp: {{ host: 127.0.0.1, port: {port}, from: "tocsin@example.com" }}
  webhook_secret: "{SECRET}"
  rate_limit: {rate}
"#,
        alice = hooks.url("/alice"),
        bob = hooks.url("/bob"),
        carol = hooks.url("/carol"),
        port = smtp.port(),
    )
}

impl Rig {
    async fn start(repeat: u32, ack_timeout: &str) -> Rig {
        Self::start_with(repeat, ack_timeout, "{ messages: 100, window: 10m }", false).await
    }

    async fn start_with(repeat: u32, ack_timeout: &str, rate: &str, run_engine: bool) -> Rig {
        Self::start_edited(repeat, ack_timeout, rate, run_engine, |text| text).await
    }

    /// Like [`Rig::start_with`], with the config text passed through `edit`.
    async fn start_edited(
        repeat: u32,
        ack_timeout: &str,
        rate: &str,
        run_engine: bool,
        edit: impl FnOnce(String) -> String,
    ) -> Rig {
        let hooks = HttpRecorder::start().await;
        let smtp = SmtpSink::start().await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tocsin.yaml");
        std::fs::write(&path, edit(config(&hooks, &smtp, repeat, ack_timeout, rate))).unwrap();
        let clock = Arc::new(ManualClock::new(day()));
        let s = TestServer::start_with(Options {
            clock: clock.clone(),
            config: Some(path),
            run_engine,
            ..Options::default()
        })
        .await;
        Rig { s, clock, hooks, smtp, _config_dir: dir }
    }

    /// Opens an incident through the PagerDuty endpoint; returns its id.
    async fn trigger(&self, key: &str, summary: &str) -> i64 {
        let (status, _) = self.s.post("/v2/enqueue", body(&pd_trigger(PD_KEY, key, summary))).await;
        assert_eq!(status, 202);
        let (_, alerts) = self.s.get(&format!("/alerts?dedup_key={key}")).await;
        alerts["items"][0]["incident_id"].as_i64().unwrap()
    }

    /// Moves the clock and runs everything that fell due.
    async fn advance(&self, by: Duration) {
        self.clock.advance(by);
        self.s.tick().await;
    }

    async fn incident(&self, id: i64) -> Value {
        self.s.get(&format!("/incidents/{id}")).await.1
    }

    async fn kinds(&self, id: i64) -> Vec<String> {
        let inc = self.incident(id).await;
        inc["timeline"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect()
    }

    async fn notifications(&self, id: i64) -> Vec<Value> {
        let (status, v) = self.s.get(&format!("/incidents/{id}/notifications")).await;
        assert_eq!(status, 200);
        v["items"].as_array().unwrap().clone()
    }

    fn paths(&self) -> Vec<String> {
        self.hooks.requests().iter().map(|r| r.path.clone()).collect()
    }
}

fn count(kinds: &[String], kind: &str) -> usize {
    kinds.iter().filter(|k| *k == kind).count()
}

/// The acknowledge link a webhook page carries.
fn ack_link(page: &Recorded) -> String {
    page.body_json().unwrap()["links"]["acknowledge"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_reaches_webhook_then_email_and_the_link_acknowledges() {
    let r = Rig::start(0, "30m").await;
    let id = r.trigger("disk-db-1", "Disk full on db-1").await;
    r.s.tick().await;

    // The webhook at 0 s: signed, with an idempotency key, about this incident.
    let pages = r.hooks.wait_for(1, WAIT).await.unwrap();
    let page = &pages[0];
    assert_eq!(page.path, "/alice");
    let key = page.header("idempotency-key").unwrap().to_string();
    assert!(key.starts_with("tcn_") && key.len() > 20, "{key}");
    tocsin_core::notify::signature::verify(
        SECRET.as_bytes(),
        page.header("tocsin-signature").unwrap(),
        &page.body,
        r.clock.now(),
        Duration::minutes(5),
    )
    .unwrap();
    let payload = page.body_json().unwrap();
    assert_eq!(payload["incident"]["id"], id);
    assert_eq!(payload["incident"]["title"], "Disk full on db-1");
    assert_eq!(payload["incident"]["service"]["name"], "Checkout API");
    assert_eq!(payload["idempotency_key"], key.as_str());

    // The email rule fires two minutes after the page, not before.
    r.advance(Duration::seconds(119)).await;
    assert!(r.smtp.messages().is_empty(), "email is not due before 2m");
    r.advance(Duration::seconds(1)).await;
    let mail = r.smtp.wait_for(1, WAIT).await.unwrap().remove(0);
    assert_eq!(mail.to, ["alice@example.com"]);
    assert!(mail.subject().unwrap().contains("Disk full on db-1"), "{:?}", mail.subject());
    let link = ack_link(page);
    assert!(link.starts_with(&format!("{}/ack/{id}?token=", r.s.url)), "{link}");
    assert!(mail.text_part().unwrap().contains("/ack/"), "the text part carries an acknowledge link");
    assert!(mail.html_part().unwrap().contains("/ack/"), "the HTML part carries an acknowledge link");

    // GET only shows a confirmation page: link previews must not acknowledge.
    let confirm = r.s.http.get(&link).send().await.unwrap();
    assert_eq!(confirm.status(), 200);
    assert_eq!(confirm.headers()["cache-control"], "no-store");
    let html = confirm.text().await.unwrap();
    assert!(html.contains("<form method=\"post\""), "{html}");
    assert_eq!(r.incident(id).await["status"], "triggered");

    // POST acknowledges as alice, without any API token.
    let token = link.split("token=").nth(1).unwrap();
    let done =
        r.s.http
            .post(format!("{}/ack/{id}", r.s.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
            .await
            .unwrap();
    assert_eq!(done.status(), 200);
    let inc = r.incident(id).await;
    assert_eq!(inc["status"], "acknowledged");
    assert_eq!(inc["acknowledged_by"], "user:alice");

    // A forged token and the same token on another incident are refused alike.
    let forged =
        r.s.http
            .post(format!("{}/ack/{id}", r.s.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("token=1.00.1.ff")
            .send()
            .await
            .unwrap();
    assert_eq!(forged.status(), 404);
    let other = r.s.http.get(format!("{}/ack/{}?token={token}", r.s.url, id + 1)).send().await.unwrap();
    assert_eq!(other.status(), 404);

    // Acknowledged: the next level is never paged.
    r.advance(Duration::minutes(6)).await;
    assert_eq!(r.paths(), ["/alice"]);
    let kinds = r.kinds(id).await;
    assert_eq!(count(&kinds, "paged"), 1, "{kinds:?}");
    assert_eq!(count(&kinds, "notified"), 2, "{kinds:?}");
    r.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_read_the_generated_webhook_secret_that_signs_deliveries() {
    // No webhook_secret in config: the server generates and keeps one.
    let no_secret = |text: String| text.replace(&format!("  webhook_secret: \"{SECRET}\"\n"), "");
    let r = Rig::start_edited(0, "30m", "{ messages: 100, window: 10m }", false, no_secret).await;
    r.trigger("signed", "Signed page").await;
    r.s.tick().await;
    let page = r.hooks.wait_for(1, WAIT).await.unwrap().remove(0);

    let read = r.s.admin().webhook_secret().await.unwrap();
    assert_eq!(read.source, "generated");
    assert_eq!(read.header, "Tocsin-Signature");
    assert_ne!(read.secret, SECRET);
    let signature = page.header("tocsin-signature").unwrap();
    tocsin_core::notify::signature::verify(
        read.secret.as_bytes(),
        signature,
        &page.body,
        r.clock.now(),
        Duration::minutes(5),
    )
    .expect("the secret an admin reads verifies a real delivery");

    // The CLI prints the same secret alone on stdout.
    let (ok, out, err) = crate::cli::tocsin(&r.s, &["notifications", "webhook-secret"]).await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), read.secret);
    assert!(err.contains("generated by the server"), "{err}");

    // Anyone below admin is refused, and is not audited as having read it.
    let (_, created) =
        r.s.api(Method::POST, "/tokens", Some(ADMIN), Some(json!({"name": "oncall", "role": "responder"}))).await;
    let responder = created["token"].as_str().unwrap();
    let (status, v) = r.s.api(Method::GET, "/notifications/webhook-secret", Some(responder), None).await;
    assert_eq!(status, 403, "{v}");
    assert!(!v.to_string().contains(&read.secret));
    let (status, _) = r.s.api(Method::GET, "/notifications/webhook-secret", None, None).await;
    assert_eq!(status, 401);

    // Each admin read is audited, without the secret.
    let (_, audit) = r.s.get("/audit").await;
    let reads: Vec<&Value> =
        audit["items"].as_array().unwrap().iter().filter(|e| e["record"]["action"] == "secret.read").collect();
    assert_eq!(reads.len(), 2, "{audit}");
    assert_eq!(reads[0]["record"]["target"], "secret:webhook_signing");
    assert_eq!(reads[0]["record"]["actor"], "user:admin");
    assert!(!audit.to_string().contains(&read.secret), "the audit log never holds the secret");
    r.s.stop().await;

    // A secret set in config is the one read back.
    let r = Rig::start(0, "30m").await;
    let read = r.s.admin().webhook_secret().await.unwrap();
    assert_eq!((read.secret.as_str(), read.source.as_str()), (SECRET, "config"));
    r.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_levels_with_a_repeat_then_exhaustion() {
    let r = Rig::start(1, "30m").await;
    let id = r.trigger("cpu", "CPU saturated").await;
    r.s.tick().await;
    assert_eq!(r.paths(), ["/alice"]);
    let escalation = &r.incident(id).await["escalation"];
    assert_eq!(
        escalation,
        &json!({"policy": "two-level", "status": "active", "level": 1, "pass": 1, "passes": 2, "levels": 2,
                "next_step_at": "2026-03-03T10:05:00Z"})
    );
    r.advance(Duration::minutes(5)).await;
    assert_eq!(r.paths(), ["/alice", "/bob"], "level 2 after level 1's 5m");
    let (ok, out, _) = crate::cli::tocsin(&r.s, &["incidents", "show", &id.to_string()]).await;
    assert!(
        ok && out.contains("active, level 2 of 2, pass 1 of 2 (two-level); next step at 2026-03-03T10:15:00Z"),
        "{out}"
    );
    // The timeline counts levels the same way, and reads as text.
    assert!(out.contains("  paged      alice, on call in primary (level 1, pass 1)\n"), "{out}");
    assert!(out.contains("  escalated  to level 2, pass 1\n"), "{out}");
    assert!(out.contains("  paged      bob (level 2, pass 1)\n"), "{out}");
    assert!(!out.contains("{\""), "no raw JSON in the timeline: {out}");
    let timeline = r.incident(id).await["timeline"].clone();
    let paged: Vec<&Value> = timeline.as_array().unwrap().iter().filter(|e| e["kind"] == "paged").collect();
    assert_eq!((paged[1]["payload"]["level"].clone(), paged[1]["payload"]["pass"].clone()), (json!(2), json!(1)));
    r.advance(Duration::minutes(9)).await;
    assert_eq!(r.paths(), ["/alice", "/bob"], "level 2 waits its own 10m");
    r.advance(Duration::minutes(1)).await;
    assert_eq!(r.paths(), ["/alice", "/bob", "/alice"], "the repeat pass starts at level 1");
    r.advance(Duration::minutes(5)).await;
    assert_eq!(r.paths(), ["/alice", "/bob", "/alice", "/bob"]);
    r.advance(Duration::minutes(10)).await;
    let kinds = r.kinds(id).await;
    assert_eq!(count(&kinds, "paged"), 4, "{kinds:?}");
    assert_eq!(count(&kinds, "escalated"), 3, "{kinds:?}");
    assert_eq!(kinds.last().map(String::as_str), Some("escalation_exhausted"), "{kinds:?}");
    r.advance(Duration::hours(1)).await;
    assert_eq!(r.hooks.requests().len(), 4, "nothing after exhaustion");
    // alice's email rule fired for both of her pages.
    assert_eq!(r.smtp.messages().len(), 2);
    r.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledging_or_resolving_cancels_pending_notifications_at_once() {
    let r = Rig::start(0, "30m").await;
    let acked = r.trigger("ack-me", "Acknowledge me").await;
    let resolved = r.trigger("resolve-me", "Resolve me").await;
    r.s.tick().await;
    // alice's webhook went out at once; her email rule (2m) is still pending.
    for id in [acked, resolved] {
        let statuses: Vec<(Value, Value)> =
            r.notifications(id).await.iter().map(|n| (n["contact_method"].clone(), n["status"].clone())).collect();
        assert_eq!(statuses, [(json!("alice-hook"), json!("sent")), (json!("alice-mail"), json!("pending"))]);
    }

    let (status, _) = r.s.api(Method::POST, &format!("/incidents/{acked}/acknowledge"), Some(ADMIN), None).await;
    assert_eq!(status, 200);
    let (status, _) = r.s.api(Method::POST, &format!("/incidents/{resolved}/resolve"), Some(ADMIN), None).await;
    assert_eq!(status, 200);
    // The engine handles both right away; the clock has not moved, so the
    // email is nowhere near its due time.
    r.s.tick().await;
    for id in [acked, resolved] {
        let statuses: Vec<Value> = r.notifications(id).await.iter().map(|n| n["status"].clone()).collect();
        assert_eq!(statuses, [json!("sent"), json!("cancelled")], "incident {id}");
    }
    let (ok, out, err) = crate::cli::tocsin(&r.s, &["incidents", "notifications", &acked.to_string()]).await;
    assert!(ok, "{err}");
    let mail = out.lines().find(|l| l.contains("alice-mail")).unwrap_or_default();
    assert!(mail.contains("cancelled"), "{out}");

    // When the email would have been due, nothing is sent and nothing changes.
    r.advance(Duration::minutes(3)).await;
    assert!(r.smtp.messages().is_empty(), "a cancelled notification is never sent");
    for id in [acked, resolved] {
        let statuses: Vec<Value> = r.notifications(id).await.iter().map(|n| n["status"].clone()).collect();
        assert_eq!(statuses, [json!("sent"), json!("cancelled")], "incident {id}");
    }
    r.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_timeout_retriggers_and_pages_again() {
    let r = Rig::start(0, "30m").await;
    let id = r.trigger("mem", "Memory pressure").await;
    r.s.tick().await;
    r.advance(Duration::minutes(1)).await;
    let (status, _) = r.s.api(Method::POST, &format!("/incidents/{id}/acknowledge"), Some(ADMIN), None).await;
    assert_eq!(status, 200);
    r.s.tick().await;
    // The pending email (due at 2m) belongs to the acknowledged page: dropped.
    r.advance(Duration::minutes(29)).await;
    assert_eq!(r.paths(), ["/alice"]);
    assert!(r.smtp.messages().is_empty(), "an acknowledged page sends nothing more");
    assert_eq!(r.incident(id).await["status"], "acknowledged");
    r.advance(Duration::minutes(1)).await;
    let inc = r.incident(id).await;
    assert_eq!(inc["status"], "triggered", "the acknowledgement timed out");
    assert_eq!(r.paths(), ["/alice", "/alice"], "paging starts over at level 1");
    assert!(r.kinds(id).await.contains(&"ack_timeout".to_string()));
    let cancelled = r.notifications(id).await.into_iter().filter(|n| n["status"] == "cancelled").count();
    assert_eq!(cancelled, 1, "the first page's email was dropped");
    r.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_during_escalation_cancels_everything() {
    let r = Rig::start(2, "30m").await;
    let id = r.trigger("net", "Packet loss").await;
    r.s.tick().await;
    r.advance(Duration::minutes(5)).await;
    assert_eq!(r.paths(), ["/alice", "/bob"]);
    assert_eq!(r.smtp.messages().len(), 1, "alice's email went at 2m");
    let (status, _) = r.s.api(Method::POST, &format!("/incidents/{id}/resolve"), Some(ADMIN), None).await;
    assert_eq!(status, 200);
    r.s.tick().await;
    r.advance(Duration::hours(2)).await;
    assert_eq!(r.paths(), ["/alice", "/bob"], "nothing is paged after resolve (two more passes were left)");
    assert_eq!(r.smtp.messages().len(), 1);
    let kinds = r.kinds(id).await;
    assert_eq!(kinds.last().map(String::as_str), Some("resolved"), "{kinds:?}");
    r.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_on_call_is_recorded_and_escalation_goes_on() {
    let r = Rig::start(0, "30m").await;
    r.clock.set(at(2026, 3, 3, 22, 0, 0));
    let id = r.trigger("night", "Night-time alert").await;
    r.s.tick().await;
    assert!(r.hooks.requests().is_empty());
    let inc = r.incident(id).await;
    let gap = inc["timeline"].as_array().unwrap().iter().find(|e| e["kind"] == "nobody_paged").unwrap().clone();
    assert_eq!(gap["payload"]["schedule"], "primary");
    r.advance(Duration::minutes(5)).await;
    assert_eq!(r.paths(), ["/bob"], "the next level is paged on time");
    r.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_fails_twice_then_succeeds_gets_one_page() {
    let r = Rig::start(0, "30m").await;
    r.hooks.fail_next(2, 503);
    let id = r.trigger("flaky", "Flaky receiver").await;
    r.s.tick().await;
    assert_eq!(r.hooks.requests().len(), 1);
    // Backoff: at most 2 s, then at most 4 s (full jitter); 10 s covers both.
    r.advance(Duration::seconds(10)).await;
    r.advance(Duration::seconds(10)).await;
    let attempts = r.hooks.requests();
    assert_eq!(attempts.len(), 3);
    let keys: Vec<&str> = attempts.iter().map(|a| a.header("idempotency-key").unwrap()).collect();
    assert!(keys.iter().all(|k| *k == keys[0]), "every retry carries the same key: {keys:?}");
    let hook = r.notifications(id).await.into_iter().find(|n| n["contact_method"] == "alice-hook").unwrap();
    assert_eq!(hook["status"], "sent");
    assert_eq!(hook["attempts"], 3);
    assert!(hook["last_error"].as_str().unwrap().contains("503"), "{hook}");
    r.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_failure_falls_through_to_the_next_method_at_once() {
    let r = Rig::start(0, "30m").await;
    r.hooks.fail_next(1, 404);
    let id = r.trigger("gone", "Webhook gone").await;
    r.s.tick().await;
    r.s.tick().await;
    let mails = r.smtp.wait_for(1, WAIT).await.unwrap();
    assert_eq!(mails[0].to, ["alice@example.com"], "email goes now, not at 2m");
    r.advance(Duration::minutes(3)).await;
    assert_eq!(r.smtp.messages().len(), 1, "and is not sent a second time at 2m");
    let inc = r.incident(id).await;
    let failed =
        inc["timeline"].as_array().unwrap().iter().find(|e| e["kind"] == "notification_failed").unwrap().clone();
    assert_eq!(failed["payload"]["contact_method"], "alice-hook");
    assert_eq!(failed["payload"]["fallback"], "alice-mail");
    assert!(failed["payload"]["reason"].as_str().unwrap().contains("404"), "{failed}");
    r.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_between_two_levels_pages_the_second_once() {
    let mut r = Rig::start(0, "30m").await;
    let id = r.trigger("restart", "Restart me").await;
    r.s.tick().await;
    assert_eq!(r.paths(), ["/alice"]);
    r.s.restart().await;
    // The server was down while level 2 fell due: it fires right after start.
    r.clock.advance(Duration::minutes(7));
    r.s.tick().await;
    assert_eq!(r.paths(), ["/alice", "/bob"]);
    r.s.restart().await;
    r.s.tick().await;
    assert_eq!(r.paths(), ["/alice", "/bob"], "nothing is sent twice after a restart");
    assert_eq!(count(&r.kinds(id).await, "paged"), 2);
    r.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalate_now_and_reassign_through_the_api() {
    let r = Rig::start(0, "off").await;
    let id = r.trigger("manual", "Manual escalation").await;
    r.s.tick().await;
    let viewer = r.s.admin().create_token("viewer", "viewer").await.unwrap().token;
    let (status, _) = r.s.api(Method::POST, &format!("/incidents/{id}/escalate"), Some(&viewer), None).await;
    assert_eq!(status, 403);
    let (status, _) = r.s.api(Method::POST, &format!("/incidents/{id}/escalate"), Some(ADMIN), None).await;
    assert_eq!(status, 202);
    r.s.tick().await;
    assert_eq!(r.paths(), ["/alice", "/bob"], "level 2 at once, not after 5m");

    let bad = json!({"targets": [{"user": "nobody"}]});
    let (status, v) = r.s.api(Method::POST, &format!("/incidents/{id}/reassign"), Some(ADMIN), Some(bad)).await;
    assert_eq!((status, v["error"]["field"].as_str()), (400, Some("targets[0].user")));
    let carol = json!({"targets": [{"user": "carol"}]});
    let (status, _) = r.s.api(Method::POST, &format!("/incidents/{id}/reassign"), Some(ADMIN), Some(carol)).await;
    assert_eq!(status, 202);
    r.s.tick().await;
    assert_eq!(r.paths(), ["/alice", "/bob", "/carol"]);
    let slack = r.hooks.requests().pop().unwrap().body_json().unwrap();
    assert!(slack.to_string().contains("Manual escalation"), "{slack}");

    let kinds = r.kinds(id).await;
    for kind in ["escalated_by_hand", "reassigned"] {
        assert!(kinds.contains(&kind.to_string()), "{kind} in {kinds:?}");
    }
    let (status, _) = r.s.api(Method::POST, "/incidents/999/escalate", Some(ADMIN), None).await;
    assert_eq!(status, 404);
    r.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_is_bundled_by_the_rate_limit() {
    let r = Rig::start_with(0, "30m", "{ messages: 2, window: 10m }", false).await;
    for i in 0..5 {
        r.trigger(&format!("storm-{i}"), &format!("Storm alert {i}")).await;
    }
    r.s.tick().await;
    assert_eq!(r.hooks.requests().len(), 2, "two pages, the rest held");
    r.advance(Duration::minutes(10)).await;
    let all = r.hooks.requests();
    let bundles: Vec<Value> =
        all[2..].iter().map(|p| p.body_json().unwrap()).filter(|b| b["incidents"].is_array()).collect();
    assert_eq!(bundles.len(), 1, "one bundle: {:?}", all.iter().map(|p| p.body_text()).collect::<Vec<_>>());
    assert_eq!(bundles[0]["incidents"].as_array().unwrap().len(), 3);
    for listed in bundles[0]["incidents"].as_array().unwrap() {
        let id = listed["incident"]["id"].as_i64().unwrap();
        assert_eq!(listed["links"]["incident"], format!("{}/incidents/{id}", r.s.url), "{listed}");
    }
    r.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_wakes_on_commit_without_a_tick() {
    let r = Rig::start_with(0, "30m", "{ messages: 100, window: 10m }", true).await;
    r.trigger("wake", "Wake up").await;
    let pages = r.hooks.wait_for(1, WAIT).await.unwrap();
    assert_eq!(pages[0].path, "/alice");
    r.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_escalates_reassigns_and_lists_notifications() {
    let r = Rig::start(0, "30m").await;
    let id = r.trigger("cli-page", "Paged from the CLI").await;
    r.s.tick().await;
    let id_text = id.to_string();
    let (ok, out, err) = crate::cli::tocsin(&r.s, &["incidents", "escalate", &id_text]).await;
    assert!(ok && out.contains("requested"), "{out}{err}");
    r.s.tick().await;
    let (ok, out, err) = crate::cli::tocsin(&r.s, &["incidents", "reassign", &id_text, "--user", "carol"]).await;
    assert!(ok && out.contains("carol"), "{out}{err}");
    r.s.tick().await;
    assert_eq!(r.paths(), ["/alice", "/bob", "/carol"]);
    let (ok, out, _) = crate::cli::tocsin(&r.s, &["incidents", "notifications", &id_text]).await;
    assert!(ok, "{out}");
    for expected in ["alice-hook", "alice-mail", "bob-hook", "carol-slack", "sent", "pending"] {
        assert!(out.contains(expected), "{expected} in:\n{out}");
    }
    let (ok, _, err) = crate::cli::tocsin(&r.s, &["incidents", "reassign", &id_text]).await;
    assert!(!ok, "a reassignment needs a target: {err}");
    r.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalating_an_acknowledged_incident_triggers_it_again() {
    let r = Rig::start(0, "off").await;
    let id = r.trigger("help", "Need help").await;
    r.s.tick().await;
    let (status, _) = r.s.api(Method::POST, &format!("/incidents/{id}/acknowledge"), Some(ADMIN), None).await;
    assert_eq!(status, 200);
    r.s.tick().await;
    let (status, _) = r.s.api(Method::POST, &format!("/incidents/{id}/escalate"), Some(ADMIN), None).await;
    assert_eq!(status, 202);
    r.s.tick().await;
    assert_eq!(r.paths(), ["/alice", "/bob"], "the responder asked for help: level 2 is paged");
    let inc = r.incident(id).await;
    assert_eq!(inc["status"], "triggered", "bob has not acknowledged");
    assert_eq!(inc["acknowledged_by"], Value::Null);
    r.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_answers_whom_each_level_pages() {
    let r = Rig::start(1, "30m").await;
    let (status, list) = r.s.get("/escalation_policies").await;
    assert_eq!(status, 200);
    assert_eq!(list["items"][0]["id"], "two-level");
    assert_eq!(list["items"][0]["services"], json!(["checkout"]));
    assert_eq!(list["items"][0]["levels"][1]["escalate_after"], "10m");
    let (status, day) = r.s.get("/escalation_policies/two-level/oncall?at=2026-03-03T10:00:00Z").await;
    assert_eq!(status, 200);
    assert_eq!((day["levels"][0]["level"].clone(), day["levels"][1]["level"].clone()), (json!(1), json!(2)));
    assert_eq!(day["levels"][0]["users"], json!([{"user": "alice", "via_schedule": "primary"}]));
    assert_eq!(day["levels"][1]["users"], json!([{"user": "bob", "via_schedule": null}]));
    let (_, night) = r.s.get("/escalation_policies/two-level/oncall?at=2026-03-03T22:00:00Z").await;
    assert_eq!(night["levels"][0]["users"], json!([]), "a gap pages nobody at level 1");
    let (status, _) = r.s.get("/escalation_policies/nope/oncall").await;
    assert_eq!(status, 404);
    r.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_hangs_does_not_hold_back_other_pages() {
    // alice's webhook accepts connections and never answers (until the test
    // closes them); bob's records requests.
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hang_addr = hang.local_addr().unwrap();
    let (accepted_tx, mut accepted) = tokio::sync::mpsc::unbounded_channel();
    let hanging = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hang.accept().await {
            held.push(socket);
            let _ = accepted_tx.send(());
        }
    });
    let hooks = HttpRecorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tocsin.yaml");
    std::fs::write(
        &path,
        format!(
            r#"
users:
  - {{ id: alice, name: Alice, email: alice@example.com, contact_methods: [{{ id: alice-hook, kind: webhook, url: "http://{hang_addr}/alice" }}] }}
  - {{ id: bob, name: Bob, email: bob@example.com, contact_methods: [{{ id: bob-hook, kind: webhook, url: "{bob}" }}] }}
escalation_policies:
  - {{ id: to-alice, levels: [{{ targets: [{{ user: alice }}], escalate_after: 5m }}] }}
  - {{ id: to-bob, levels: [{{ targets: [{{ user: bob }}], escalate_after: 5m }}] }}
services:
  - {{ id: checkout, name: Checkout, escalation_policy: to-alice, integrations: [{{ kind: pagerduty, key: {PD_KEY} }}] }}
  - {{ id: search, name: Search, escalation_policy: to-bob, integrations: [{{ kind: pagerduty, key: {SEARCH_PD_KEY} }}] }}
"#,
            bob = hooks.url("/bob"),
        ),
    )
    .unwrap();
    let clock = Arc::new(ManualClock::new(day()));
    let s = TestServer::start_with(Options { clock, config: Some(path), ..Options::default() }).await;
    let (status, _) = s.post("/v2/enqueue", body(&pd_trigger(PD_KEY, "stuck", "Alice's receiver hangs"))).await;
    assert_eq!(status, 202);
    tokio::time::timeout(WAIT, accepted.recv()).await.unwrap().unwrap();
    // alice's delivery is now waiting on its 10 s timeout; bob's page must not.
    let (status, _) = s.post("/v2/enqueue", body(&pd_trigger(SEARCH_PD_KEY, "other", "Search is down"))).await;
    assert_eq!(status, 202);
    let pages = hooks.wait_for(1, StdDuration::from_secs(3)).await.unwrap();
    assert_eq!(pages[0].path, "/bob");
    hanging.abort(); // closes alice's connection so shutdown need not wait
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_token_dies_with_its_user() {
    let mut r = Rig::start(0, "30m").await;
    let issued = r.s.admin().issue_ical_token("carol").await.unwrap();
    let http = r.s.http.clone();
    let feed = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.unwrap().status().as_u16() }
    };
    let schedule_feed = format!("{}/api/v1/schedules/primary/ical?token={}", r.s.url, issued.token);
    assert_eq!(feed(schedule_feed.clone()).await, 200);
    // carol leaves: the same config without her, applied at restart.
    let path = r._config_dir.path().join("tocsin.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find("  - id: carol").unwrap();
    let end = text.find("schedules:").unwrap();
    std::fs::write(&path, format!("{}{}", &text[..start], &text[end..])).unwrap();
    r.s.restart().await;
    assert_eq!(feed(schedule_feed).await, 404, "a removed user's link opens nothing");
    r.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_the_acknowledge_page_show_invisible_characters() {
    let r = Rig::start(0, "30m").await;
    let title = "Refund \u{202E}000,01$\u{202C} approved\u{200B}";
    let id = r.trigger("bidi", title).await;
    assert_eq!(r.incident(id).await["title"], title, "the incident keeps what was sent");
    r.s.tick().await;
    let page = r.hooks.wait_for(1, WAIT).await.unwrap().remove(0);
    let shown = "Refund [U+202E]000,01$[U+202C] approved[U+200B]";
    assert_eq!(page.body_json().unwrap()["incident"]["title"], shown);
    r.advance(Duration::minutes(2)).await;
    let mail = r.smtp.wait_for(1, WAIT).await.unwrap().remove(0);
    for part in [mail.subject().unwrap(), mail.text_part().unwrap(), mail.html_part().unwrap()] {
        assert!(part.contains(shown) && !part.contains('\u{202E}'), "{part}");
    }
    let html = r.s.http.get(ack_link(&page)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(shown), "{html}");
    let invisible = ['\u{202E}', '\u{202C}', '\u{200B}'];
    assert!(!html.contains(invisible), "{html}");
    r.s.stop().await;
}

/// POSTs the token of `link` to the acknowledge page it names (the form's
/// button); returns the status and the page.
async fn press(s: &TestServer, link: &str) -> (u16, String) {
    let (path, token) = link.split_once("?token=").unwrap();
    let r = s
        .http
        .post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// GETs the confirmation page of `link`.
async fn open_link(s: &TestServer, link: &str) -> (u16, String) {
    let r = s.http.get(link).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// How many times the incident's timeline says it was acknowledged.
async fn acknowledgements(r: &Rig, id: i64) -> usize {
    count(&r.kinds(id).await, "acknowledged")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_link_says_already_acknowledged_and_one_from_before_a_retrigger_is_out_of_date() {
    let r = Rig::start(0, "30m").await;
    let id = r.trigger("replay", "Replayed link").await;
    r.s.tick().await;
    let first = ack_link(&r.hooks.wait_for(1, WAIT).await.unwrap()[0]);
    assert!(first.contains("token=v2."), "{first}");

    let (status, html) = press(&r.s, &first).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Acknowledged as <strong>alice</strong>"), "{html}");
    r.s.tick().await;

    // Used again: says so and does nothing.
    let (status, html) = press(&r.s, &first).await;
    assert_eq!(status, 409, "{html}");
    assert!(html.contains("Already acknowledged by user:alice"), "{html}");
    assert_eq!(acknowledgements(&r, id).await, 1);
    let (status, html) = open_link(&r.s, &first).await;
    assert!(status == 200 && html.contains("Already acknowledged") && !html.contains("<form"), "{html}");

    // The acknowledgement times out: the incident pages again, a new episode.
    r.advance(Duration::minutes(30)).await;
    assert_eq!(r.incident(id).await["status"], "triggered");
    let pages = r.hooks.wait_for(2, WAIT).await.unwrap();
    let second = ack_link(&pages[1]);
    assert_ne!(second, first);

    // The first page's link no longer acknowledges anything.
    let (status, html) = press(&r.s, &first).await;
    assert_eq!(status, 409, "{html}");
    assert!(html.contains("This link is out of date"), "{html}");
    assert_eq!(r.incident(id).await["status"], "triggered", "the old link acknowledged nothing");
    assert_eq!(acknowledgements(&r, id).await, 1);
    let (status, html) = open_link(&r.s, &first).await;
    assert!(status == 200 && html.contains("out of date") && !html.contains("<form"), "{html}");

    // The newest page's link does.
    let (status, html) = open_link(&r.s, &second).await;
    assert!(status == 200 && html.contains("<form method=\"post\""), "{html}");
    let (status, html) = press(&r.s, &second).await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(r.incident(id).await["status"], "acknowledged");
    assert_eq!(acknowledgements(&r, id).await, 2);
    r.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_the_ack_key_refuses_every_earlier_link_on_every_node() {
    let r = Rig::start(0, "30m").await;
    let id = r.trigger("rotate", "Rotate the key").await;
    r.s.tick().await;
    let old = ack_link(&r.hooks.wait_for(1, WAIT).await.unwrap()[0]);
    assert_eq!(open_link(&r.s, &old).await.0, 200, "valid before the rotation");

    // Admins only.
    let bob = user_token(&r.s, "bob", "responder").await;
    let (status, v) = r.s.api(Method::POST, "/notifications/ack-key/rotate", Some(&bob), None).await;
    assert_eq!((status, v["error"]["code"].as_str()), (403, Some("forbidden")), "{v}");
    assert_eq!(open_link(&r.s, &old).await.0, 200, "a refused rotation changes nothing");

    let (ok, out, err) = crate::cli::tocsin(&r.s, &["notifications", "rotate-ack-key"]).await;
    assert!(ok && out.contains("rotated"), "{out}{err}");

    // Refused here and on another node of the same database alike.
    let other = r.s.second_node().await;
    let elsewhere = old.replace(&r.s.url, &format!("http://{}", other.addr));
    for link in [&old, &elsewhere] {
        let (status, html) = open_link(&r.s, link).await;
        assert!(status == 404 && html.contains("invalid or has expired"), "{link}: {html}");
        assert_eq!(press(&r.s, link).await.0, 404, "{link}");
    }
    other.shutdown().await.unwrap();
    assert_eq!(r.incident(id).await["status"], "triggered");

    // Pages sent from now on carry links under the new key (level 2, bob).
    r.advance(Duration::minutes(5)).await;
    let pages = r.hooks.wait_for(2, WAIT).await.unwrap();
    assert_eq!(pages[1].path, "/bob");
    let (status, html) = press(&r.s, &ack_link(&pages[1])).await;
    assert!(status == 200 && html.contains("Acknowledged as <strong>bob</strong>"), "{html}");

    let (_, audit) = r.s.get("/audit").await;
    let rotations: Vec<&Value> =
        audit["items"].as_array().unwrap().iter().filter(|e| e["record"]["action"] == "secret.rotate").collect();
    assert_eq!(rotations.len(), 1, "{audit}");
    assert_eq!(rotations[0]["record"]["actor"], "user:admin");
    assert_eq!(rotations[0]["record"]["target"], "secret:ack_link");
    r.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_dies_with_its_user() {
    let mut r = Rig::start(0, "30m").await;
    let id = r.trigger("gone", "Carol leaves").await;
    r.s.tick().await;
    let carol = json!({"targets": [{"user": "carol"}]});
    let (status, _) = r.s.api(Method::POST, &format!("/incidents/{id}/reassign"), Some(ADMIN), Some(carol)).await;
    assert_eq!(status, 202);
    r.s.tick().await;
    let slack = r.hooks.wait_for(2, WAIT).await.unwrap()[1].body_json().unwrap().to_string();
    let start = slack.find(&format!("{}/ack/", r.s.url)).unwrap();
    let link = slack[start..].split('"').next().unwrap().to_string();
    assert_eq!(open_link(&r.s, &link).await.0, 200);

    // carol leaves: the same config without her, applied at restart.
    let path = r._config_dir.path().join("tocsin.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let (from, to) = (text.find("  - id: carol").unwrap(), text.find("schedules:").unwrap());
    std::fs::write(&path, format!("{}{}", &text[..from], &text[to..])).unwrap();
    r.s.restart().await;
    assert_eq!(open_link(&r.s, &link).await.0, 404);
    assert_eq!(press(&r.s, &link).await.0, 404);
    assert_eq!(r.incident(id).await["status"], "triggered");
    r.s.stop().await;
}

/// A Prometheus alert body: `n` new alerts on the storm service, each its
/// own label set and so its own incident.
fn storm_alerts(from: usize, n: usize) -> Vec<u8> {
    let alerts: Vec<Value> = (from..from + n)
        .map(|i| {
            json!({
                "labels": {"alertname": "DiskFull", "instance": format!("host-{i}"), "severity": "critical"},
                "annotations": {"summary": format!("Disk full on host-{i}")},
                "startsAt": "2026-03-03T09:59:00Z",
                "endsAt": "2026-03-04T10:00:00Z",
            })
        })
        .collect();
    body(&Value::Array(alerts))
}

const STORM_KEY: &str = "prom-storm-0123456789abcdef";

/// Two services, each paging its own person through its own receiver, and
/// the default rate limit (10 messages per 10 minutes per contact method).
fn two_services(storm: &HttpRecorder, quiet: &HttpRecorder) -> String {
    format!(
        r#"
users:
  - {{ id: sam, name: Sam, email: sam@example.com, contact_methods: [{{ id: sam-hook, kind: webhook, url: "{storm}" }}] }}
  - {{ id: quinn, name: Quinn, email: quinn@example.com, contact_methods: [{{ id: quinn-hook, kind: webhook, url: "{quiet}" }}] }}
escalation_policies:
  - {{ id: to-sam, levels: [{{ targets: [{{ user: sam }}], escalate_after: 5m }}] }}
  - {{ id: to-quinn, levels: [{{ targets: [{{ user: quinn }}], escalate_after: 5m }}] }}
services:
  # A storm of pages, not an alert storm: every alert opens its incident.
  - {{ id: storm, name: Storm, escalation_policy: to-sam, storm: {{ max_new_alerts: 10000, within: 1m }},
      integrations: [{{ kind: prometheus, key: {STORM_KEY} }}] }}
  - {{ id: quiet, name: Quiet, escalation_policy: to-quinn, integrations: [{{ kind: pagerduty, key: {SEARCH_PD_KEY} }}] }}
"#,
        storm = storm.url("/sam"),
        quiet = quiet.url("/quinn"),
    )
}

/// The audit's finding: 10,000 alerts pushed to one service's Prometheus
/// integration delayed another service's first page by minutes, because
/// the engine worked through the outbox in one global order. A new
/// incident's first page must go out within a second whatever the backlog
/// of other services, while the storm's own pages are bundled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_on_one_service_does_not_delay_another_services_first_page() {
    let (storm, quiet) = (HttpRecorder::start().await, HttpRecorder::start().await);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tocsin.yaml");
    std::fs::write(&path, two_services(&storm, &quiet)).unwrap();
    let clock = Arc::new(ManualClock::new(day()));
    let s = TestServer::start_with(Options { clock, config: Some(path), ..Options::default() }).await;

    let push = format!("/integrations/prometheus/{STORM_KEY}/api/v2/alerts");
    for batch in 0..10 {
        let (status, v) = s.post(&push, storm_alerts(batch * 1000, 1000)).await;
        assert_eq!(status, 200, "{v}");
    }
    // The engine is working through the storm.
    storm.wait_for(1, WAIT).await.unwrap();

    let asked = std::time::Instant::now();
    let (status, _) = s.post("/v2/enqueue", body(&pd_trigger(SEARCH_PD_KEY, "quiet-1", "Search is down"))).await;
    assert_eq!(status, 202);
    let paged = quiet.wait_for(1, StdDuration::from_secs(1)).await;
    let waited = asked.elapsed();
    assert!(paged.is_ok(), "the quiet service's on-call was not paged within 1 s of the trigger ({waited:?})");
    let page = paged.unwrap().remove(0).body_json().unwrap();
    assert_eq!(page["incident"]["title"], "Search is down");

    // The storm's own pages: as many as the rate limit allows, the rest held.
    assert!(storm.requests().len() <= 10, "the rate limit allows 10 messages: {}", storm.requests().len());
    s.stop().await;
}

/// Two services with real receivers, one message per contact method per
/// 10 minutes (so a storm's pages are held for bundles), a manual clock
/// and an engine the test ticks. The temporary directory holds the config.
async fn bundling_storm_rig() -> (HttpRecorder, HttpRecorder, tempfile::TempDir, Arc<ManualClock>, TestServer) {
    let (storm, quiet) = (HttpRecorder::start().await, HttpRecorder::start().await);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tocsin.yaml");
    let config = two_services(&storm, &quiet) + "notifications:\n  rate_limit: { messages: 1, window: 10m }\n";
    std::fs::write(&path, config).unwrap();
    let clock = Arc::new(ManualClock::new(day()));
    let options = Options { clock: clock.clone(), config: Some(path), run_engine: false, ..Options::default() };
    let s = TestServer::start_with(options).await;
    (storm, quiet, dir, clock, s)
}

/// A bundle after a storm lists its oldest incidents and counts the rest,
/// so no engine step grows with the storm; every held page is recorded as
/// sent with it, a chunk per step, and a page held after the bundle gets
/// the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_bundle_lists_the_oldest_and_records_every_page() {
    let (storm, _quiet, _dir, clock, s) = bundling_storm_rig().await;
    let push = format!("/integrations/prometheus/{STORM_KEY}/api/v2/alerts");
    let (status, v) = s.post(&push, storm_alerts(0, 250)).await;
    assert_eq!(status, 200, "{v}");
    s.tick().await;
    assert_eq!(storm.requests().len(), 1, "one page, 249 held");

    // Held after the bundle was queued: sent with it all the same.
    clock.advance(Duration::minutes(5));
    let (status, _) = s.post(&push, storm_alerts(250, 1)).await;
    assert_eq!(status, 200);
    s.tick().await;
    assert_eq!(storm.requests().len(), 1);

    clock.advance(Duration::minutes(5));
    s.tick().await;
    let pages = storm.requests();
    assert_eq!(pages.len(), 2, "one bundle when the window frees");
    let bundle = pages[1].body_json().unwrap();
    assert_eq!(bundle["summary"], "250 incidents (100 listed) for Storm");
    assert_eq!(bundle["incidents"].as_array().unwrap().len(), 100);
    assert_eq!(bundle["unlisted_incidents"], 150);
    assert_eq!(pages[1].header("idempotency-key").map(|k| k.ends_with(".bundle")), Some(true));

    // Every page of the storm is recorded as sent, listed or not.
    let (_, list) = s.get("/incidents?service=storm&limit=500").await;
    let incidents = list["items"].as_array().unwrap();
    assert_eq!(incidents.len(), 251);
    for incident in incidents {
        let id = incident["id"].as_i64().unwrap();
        let (_, notes) = s.get(&format!("/incidents/{id}/notifications")).await;
        assert_eq!(notes["items"][0]["status"], "sent", "incident {id}: {notes}");
    }
    let last = incidents.iter().map(|i| i["id"].as_i64().unwrap()).max().unwrap();
    let (_, detail) = s.get(&format!("/incidents/{last}")).await;
    let notified = detail["timeline"].as_array().unwrap().iter().find(|e| e["kind"] == "notified").unwrap().clone();
    assert_eq!(notified["payload"]["bundled"], true, "{notified}");

    // Held after the bundle went: the next bundle, when the window frees again.
    let (status, _) = s.post(&push, storm_alerts(251, 1)).await;
    assert_eq!(status, 200);
    s.tick().await;
    assert_eq!(storm.requests().len(), 2);
    clock.advance(Duration::minutes(10));
    s.tick().await;
    let pages = storm.requests();
    assert_eq!(pages.len(), 3);
    assert_eq!(
        pages[2].body_json().unwrap()["incident"]["title"],
        "Disk full on host-251",
        "a bundle of one is a page"
    );
    s.stop().await;
}

/// A storm's bundle that fails for good fails every page it counted, listed
/// or not, each on its own incident's timeline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_bundle_that_fails_for_good_fails_every_page_it_counted() {
    let (storm, _quiet, _dir, clock, s) = bundling_storm_rig().await;
    let (status, _) =
        s.post(&format!("/integrations/prometheus/{STORM_KEY}/api/v2/alerts"), storm_alerts(0, 120)).await;
    assert_eq!(status, 200);
    s.tick().await;
    storm.set_status(404);
    clock.advance(Duration::minutes(10));
    s.tick().await;
    let pages = storm.requests();
    assert_eq!(pages.len(), 2, "the first page and one bundle");
    assert_eq!(pages[1].body_json().unwrap()["unlisted_incidents"], 19);

    let (_, list) = s.get("/incidents?service=storm&limit=500").await;
    let mut statuses = std::collections::BTreeMap::new();
    for incident in list["items"].as_array().unwrap() {
        let id = incident["id"].as_i64().unwrap();
        let (_, notes) = s.get(&format!("/incidents/{id}/notifications")).await;
        *statuses.entry(notes["items"][0]["status"].as_str().unwrap().to_string()).or_insert(0) += 1;
        if notes["items"][0]["status"] == "failed" {
            let (_, detail) = s.get(&format!("/incidents/{id}")).await;
            let kinds: Vec<&str> =
                detail["timeline"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
            assert!(kinds.contains(&"notification_failed"), "incident {id}: {kinds:?}");
        }
    }
    assert_eq!(statuses, std::collections::BTreeMap::from([("failed".to_string(), 119), ("sent".to_string(), 1)]));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_links_to_its_incident() {
    // Level 2 pages carol on Slack, so one incident reaches all three channels.
    let carol_second = |text: String| text.replace("{ user: bob }", "{ user: carol }");
    let r = Rig::start_edited(0, "30m", "{ messages: 100, window: 10m }", false, carol_second).await;
    let id = r.trigger("linked", "Linked page").await;
    let link = format!("{}/incidents/{id}", r.s.url);
    r.s.tick().await;

    let hook = r.hooks.wait_for(1, WAIT).await.unwrap().remove(0).body_json().unwrap();
    assert_eq!(hook["links"]["incident"], link.as_str(), "{hook}");

    r.advance(Duration::minutes(2)).await;
    let mail = r.smtp.wait_for(1, WAIT).await.unwrap().remove(0);
    assert!(mail.text_part().unwrap().contains(&format!("Open the incident:\n{link}\n")), "{:?}", mail.text_part());
    assert!(mail.html_part().unwrap().contains(&format!("<a href=\"{link}\">Open the incident</a>")));

    r.advance(Duration::minutes(3)).await;
    let slack = r.hooks.requests().into_iter().find(|p| p.path == "/carol").expect("carol is paged on Slack");
    let buttons = slack.body_json().unwrap()["blocks"][2]["elements"].clone();
    let open = buttons.as_array().unwrap().iter().find(|b| b["action_id"] == "open_incident").cloned();
    assert_eq!(open.map(|b| b["url"].clone()), Some(Value::from(link.as_str())), "{buttons}");
    r.s.stop().await;
}

mod test_pages {
    use super::*;
    use tocsin_app::TestPageStatus;
    use tocsin_core::access::Principal;
    use tocsin_core::auth::Role;

    fn person(id: &str) -> Principal {
        Principal::user(id, Role::Responder)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_test_page_arrives_by_webhook_and_email_and_is_recorded_sent() {
        let r = Rig::start(0, "30m").await;
        let app = r.s.running().app();
        let hook = app.send_test_page(&person("alice"), "alice", "alice-hook").await.unwrap();
        let mail = app.send_test_page(&person("alice"), "alice", "alice-mail").await.unwrap();
        assert_eq!(hook.status, TestPageStatus::Queued);
        r.s.tick().await;

        let got = r.hooks.wait_for(1, WAIT).await.unwrap().remove(0);
        assert_eq!(got.path, "/alice");
        assert_eq!(got.header("idempotency-key"), Some(format!("tct_{}", hook.id).as_str()));
        tocsin_core::notify::signature::verify(
            SECRET.as_bytes(),
            got.header("tocsin-signature").unwrap(),
            &got.body,
            r.clock.now(),
            Duration::minutes(5),
        )
        .unwrap();
        let body = got.body_json().unwrap();
        assert_eq!(body["event"], "test.page");
        assert_eq!(body["message"], "Test page from Tocsin for Alice Example (alice): no action is needed.");
        let email = r.smtp.wait_for(1, WAIT).await.unwrap().remove(0);
        assert_eq!(email.to, ["alice@example.com"]);
        assert!(email.subject().unwrap().contains("Test page from Tocsin for Alice Example"), "{:?}", email.subject());
        assert!(email.text_part().unwrap().contains("no action is needed"));

        for id in [hook.id, mail.id] {
            let page = app.test_page(&person("alice"), id).await.unwrap();
            assert_eq!((page.status, page.attempts, page.sent_at), (TestPageStatus::Sent, 1, Some(r.clock.now())));
            assert_eq!(page.last_error, None);
        }
        assert_eq!(app.test_pages(&person("alice"), "alice").await.unwrap().len(), 2);
        r.s.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_receiver_fails_the_test_page_with_its_error() {
        let r = Rig::start(0, "30m").await;
        let app = r.s.running().app();

        // Refused outright: failed at once, with the receiver's answer.
        r.hooks.fail_next(1, 404);
        let refused = app.send_test_page(&person("bob"), "bob", "bob-hook").await.unwrap();
        r.s.tick().await;
        let page = app.test_page(&person("bob"), refused.id).await.unwrap();
        assert_eq!((page.status, page.attempts), (TestPageStatus::Failed, 1));
        assert!(page.last_error.as_deref().unwrap().contains("404"), "{:?}", page.last_error);

        // Down for a while: three attempts, then failed.
        r.hooks.set_status(503);
        r.advance(Duration::minutes(1)).await;
        let down = app.send_test_page(&person("bob"), "bob", "bob-hook").await.unwrap();
        r.s.tick().await;
        let page = app.test_page(&person("bob"), down.id).await.unwrap();
        assert_eq!((page.status, page.attempts), (TestPageStatus::Queued, 1), "retried");
        assert!(page.last_error.as_deref().unwrap().contains("503"), "{:?}", page.last_error);
        r.advance(Duration::minutes(3)).await;
        r.advance(Duration::minutes(3)).await;
        let page = app.test_page(&person("bob"), down.id).await.unwrap();
        assert_eq!((page.status, page.attempts), (TestPageStatus::Failed, 3));
        let error = page.last_error.unwrap();
        assert!(error.starts_with("gave up after 3 attempts") && error.contains("503"), "{error}");
        assert_eq!(r.paths(), ["/bob"; 4], "one refused, three down");
        r.advance(Duration::minutes(5)).await;
        assert_eq!(r.paths().len(), 4, "nothing more after giving up");
        r.s.stop().await;
    }
}
