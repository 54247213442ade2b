//! Overrides created through the API and CLI, and the iCalendar feeds.
//!
//! examples/tocsin.yaml: `primary` in America/New_York, alice then bob weekly
//! from Mon 2026-03-02 09:00, active weekdays 09:00–17:00 (14:00Z–22:00Z in
//! March before DST), with a config override for bob
//! 2026-03-06T18:00Z–2026-03-09T09:00Z.

use std::collections::BTreeSet;

use crate::harness::*;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use tocsin_core::ical::feed_window;

/// The override `examples/tocsin.yaml` declares on `primary`.
fn declared_override() -> Value {
    json!({
        "id": null,
        "schedule": "primary",
        "user": "bob",
        "start": "2026-03-06T18:00:00Z",
        "end": "2026-03-09T09:00:00Z",
        "source": "config",
        "created_at": null,
        "created_by": null,
    })
}

async fn add_override(s: &TestServer, token: &str, user: &str, start: &str, end: &str) -> Value {
    let body = json!({"user": user, "start": start, "end": end});
    let (status, v) = s.api(Method::POST, "/schedules/primary/overrides", Some(token), Some(body)).await;
    assert_eq!(status, 201, "{v}");
    v
}

async fn segments(s: &TestServer, from: &str, to: &str) -> Value {
    let (status, v) = s.get(&format!("/schedules/primary/segments?from={from}&to={to}")).await;
    assert_eq!(status, 200, "{v}");
    v["items"].clone()
}

async fn oncall(s: &TestServer, at: &str) -> (Value, Value) {
    let (status, schedule) = s.get(&format!("/schedules/primary/oncall?at={at}")).await;
    assert_eq!(status, 200, "{schedule}");
    let (status, service) = s.get(&format!("/services/checkout/oncall?at={at}")).await;
    assert_eq!(status, 200, "{service}");
    (schedule["users"].clone(), service["users"].clone())
}

fn seg(start: &str, end: &str, user: &str) -> Value {
    json!({"start": start, "end": end, "user": user})
}

const DAY_FROM: &str = "2026-03-03T00:00:00Z";
const DAY_TO: &str = "2026-03-04T00:00:00Z";
/// Tuesday's office hours, 09:00–17:00 EST.
const OPEN: &str = "2026-03-03T14:00:00Z";
const CLOSE: &str = "2026-03-03T22:00:00Z";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overrides_change_every_answer_and_revert_when_deleted() {
    let (s, clock) = TestServer::start_at(at(2026, 3, 1, 12, 0, 0)).await;
    let responder = user_token(&s, "bob", "responder").await;
    let noon = "2026-03-03T15:00:00Z";
    assert_eq!(oncall(&s, noon).await, (json!(["alice"]), json!([{"user": "alice", "via_schedule": "primary"}])));
    let baseline = segments(&s, DAY_FROM, DAY_TO).await;
    assert_eq!(baseline, json!([seg(OPEN, CLOSE, "alice")]));

    let bob = add_override(&s, &responder, "bob", "2026-03-03T12:00:00Z", "2026-03-03T18:00:00Z").await;
    assert_eq!(bob["schedule"], "primary");
    assert_eq!(bob["user"], "bob");
    assert_eq!(bob["start"], "2026-03-03T12:00:00Z");
    assert_eq!(bob["end"], "2026-03-03T18:00:00Z");
    assert_eq!(bob["created_at"], "2026-03-01T12:00:00Z");
    assert_eq!(bob["created_by"], "user:bob");
    assert_eq!(oncall(&s, noon).await, (json!(["bob"]), json!([{"user": "bob", "via_schedule": "primary"}])));
    assert_eq!(
        segments(&s, DAY_FROM, DAY_TO).await,
        json!([
            seg("2026-03-03T12:00:00Z", "2026-03-03T18:00:00Z", "bob"),
            seg("2026-03-03T18:00:00Z", CLOSE, "alice"),
        ]),
        "an override covers a gap too"
    );

    // A later, overlapping override wins where they overlap. (alice is a
    // manager: a responder such as bob changes only their own overrides.)
    let manager = user_token(&s, "alice", "manager").await;
    let alice = add_override(&s, &manager, "alice", "2026-03-03T16:00:00Z", "2026-03-03T17:00:00Z").await;
    assert!(alice["id"].as_i64().unwrap() > bob["id"].as_i64().unwrap());
    assert_eq!(oncall(&s, "2026-03-03T16:30:00Z").await.0, json!(["alice"]));
    assert_eq!(oncall(&s, "2026-03-03T17:30:00Z").await.0, json!(["bob"]));
    assert_eq!(
        segments(&s, DAY_FROM, DAY_TO).await,
        json!([
            seg("2026-03-03T12:00:00Z", "2026-03-03T16:00:00Z", "bob"),
            seg("2026-03-03T16:00:00Z", "2026-03-03T17:00:00Z", "alice"),
            seg("2026-03-03T17:00:00Z", "2026-03-03T18:00:00Z", "bob"),
            seg("2026-03-03T18:00:00Z", CLOSE, "alice"),
        ])
    );

    // Listing: the one config declares first, then run-time ones oldest
    // first (their order of precedence); ended ones only with include_past.
    let (status, list) = s.get("/schedules/primary/overrides").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["items"], json!([declared_override(), bob, alice]));
    assert_eq!((bob["source"].as_str(), bob["id"].is_i64()), (Some("api"), true));
    clock.set(at(2026, 3, 3, 17, 30, 0));
    let (_, list) = s.get("/schedules/primary/overrides").await;
    assert_eq!(list["items"], json!([declared_override(), bob]), "alice's override has ended");
    let (_, list) = s.get("/schedules/primary/overrides?include_past=true").await;
    assert_eq!(list["items"], json!([declared_override(), bob, alice]));
    // Answers without ?at= use the server's clock, and see the override too.
    let (_, now) = s.get("/schedules/primary/oncall").await;
    assert_eq!(now["users"], json!(["bob"]));

    // Deleting reverts, and a second delete is a 404.
    let path = format!("/schedules/primary/overrides/{}", bob["id"]);
    let (status, _) = s.api(Method::DELETE, &path, Some(&responder), None).await;
    assert_eq!(status, 204);
    let (status, v) = s.api(Method::DELETE, &path, Some(&responder), None).await;
    assert_eq!((status, v["error"]["code"].clone()), (404, json!("not_found")));
    assert_eq!(oncall(&s, noon).await.0, json!(["alice"]));
    let path = format!("/schedules/primary/overrides/{}", alice["id"]);
    let (status, _) = s.api(Method::DELETE, &path, Some(ADMIN), None).await;
    assert_eq!(status, 204);
    assert_eq!(segments(&s, DAY_FROM, DAY_TO).await, baseline);
    assert_eq!(oncall(&s, noon).await, (json!(["alice"]), json!([{"user": "alice", "via_schedule": "primary"}])));
    let (_, list) = s.get("/schedules/primary/overrides?include_past=true").await;
    assert_eq!(list["items"], json!([declared_override()]), "only the one config declares is left");

    let (_, audit) = s.get("/audit").await;
    let entries: Vec<(String, String)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["record"]["action"].as_str().unwrap().starts_with("schedule.override"))
        .map(|e| (e["record"]["action"].as_str().unwrap().into(), e["record"]["target"].as_str().unwrap().into()))
        .collect();
    let create = ("schedule.override.create".to_string(), "schedule:primary".to_string());
    let delete = ("schedule.override.delete".to_string(), "schedule:primary".to_string());
    assert_eq!(entries, [create.clone(), create, delete.clone(), delete]);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responders_change_their_own_overrides_and_managers_anyones() {
    let (s, _clock) = TestServer::start_at(at(2026, 3, 1, 12, 0, 0)).await;
    // In the example config bob is a responder and alice a manager.
    let bob = user_token(&s, "bob", "responder").await;
    let alice = user_token(&s, "alice", "manager").await;
    let alice_as_responder = user_token(&s, "alice", "responder").await;
    let shift = |user: &str| json!({"user": user, "start": "2026-03-03T14:00:00Z", "end": "2026-03-03T18:00:00Z"});
    let create = |token: String, user: &str| {
        let body = shift(user);
        let s = &s;
        async move { s.api(Method::POST, "/schedules/primary/overrides", Some(&token), Some(body)).await }
    };

    let (status, v) = create(bob.clone(), "alice").await;
    assert_eq!((status, v["error"]["code"].clone()), (403, json!("forbidden")), "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("need manager"), "{v}");
    let (status, v) = create(alice_as_responder.clone(), "bob").await;
    assert_eq!(status, 403, "a token carrying responder is a responder: {v}");
    let (status, _) = s.get("/schedules/primary/overrides").await;
    assert_eq!(status, 200);

    let (status, own) = create(bob.clone(), "bob").await;
    assert_eq!(status, 201, "a responder takes a shift themselves: {own}");
    let (status, for_bob) = create(alice.clone(), "bob").await;
    assert_eq!(status, 201, "a manager puts someone else on call: {for_bob}");
    let (status, for_alice) = create(alice.clone(), "alice").await;
    assert_eq!(status, 201, "{for_alice}");

    let delete = |token: String, o: &Value| {
        let path = format!("/schedules/primary/overrides/{}", o["id"]);
        let s = &s;
        async move { s.api(Method::DELETE, &path, Some(&token), None).await.0 }
    };
    assert_eq!(delete(bob.clone(), &for_alice).await, 403, "not someone else's shift");
    assert_eq!(delete(bob.clone(), &for_bob).await, 204, "bob's own shift, whoever created it");
    assert_eq!(delete(alice.clone(), &own).await, 204, "a manager removes anyone's");
    assert_eq!(delete(bob.clone(), &own).await, 404);
    let (_, list) = s.get("/schedules/primary/overrides").await;
    let users: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["id"].as_i64().map(|_| o["user"].as_str().unwrap()))
        .collect();
    assert_eq!(users, ["alice"]);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn override_validation_and_roles() {
    let (s, _clock) = TestServer::start_at(at(2026, 3, 1, 12, 0, 0)).await;
    let viewer = user_token(&s, "bob", "viewer").await;
    let ok = json!({"user": "bob", "start": "2026-03-03T14:00:00Z", "end": "2026-03-03T18:00:00Z"});

    let (status, v) = s.api(Method::POST, "/schedules/primary/overrides", Some(&viewer), Some(ok.clone())).await;
    assert_eq!((status, v["error"]["code"].clone()), (403, json!("forbidden")), "a viewer cannot create");
    let (status, _) = s.api(Method::POST, "/schedules/primary/overrides", None, Some(ok.clone())).await;
    assert_eq!(status, 401);
    let (status, v) = s.api(Method::GET, "/schedules/primary/overrides", Some(&viewer), None).await;
    assert_eq!((status, v["items"].clone()), (200, json!([declared_override()])), "a viewer can read");
    let (status, _) = s.api(Method::DELETE, "/schedules/primary/overrides/1", Some(&viewer), None).await;
    assert_eq!(status, 403, "a viewer cannot delete");

    for (body, field) in [
        (json!({"start": "2026-03-03T14:00:00Z", "end": "2026-03-03T18:00:00Z"}), "user"),
        (json!({"user": "zed", "start": "2026-03-03T14:00:00Z", "end": "2026-03-03T18:00:00Z"}), "user"),
        (json!({"user": 7, "start": "2026-03-03T14:00:00Z", "end": "2026-03-03T18:00:00Z"}), "user"),
        (json!({"user": "bob", "start": "friday 18:00", "end": "2026-03-03T18:00:00Z"}), "start"),
        (json!({"user": "bob", "end": "2026-03-03T18:00:00Z"}), "start"),
        (json!({"user": "bob", "start": "2026-03-03T14:00:00Z", "end": "2026-03-03"}), "end"),
        (json!({"user": "bob", "start": "2026-03-03T14:00:00Z", "end": "2026-03-03T14:00:00Z"}), "end"),
        (json!({"user": "bob", "start": "2026-03-03T14:00:00Z", "end": "2026-03-03T13:00:00Z"}), "end"),
        (json!({"user": "bob", "start": "2026-03-03T14:00:00Z", "end": "2027-04-08T14:00:00Z"}), "end"),
        (json!(["bob"]), "body"),
    ] {
        let (status, v) = s.api(Method::POST, "/schedules/primary/overrides", Some(ADMIN), Some(body.clone())).await;
        assert_eq!((status, v["error"]["field"].clone()), (400, json!(field)), "{body}: {v}");
    }
    let (status, v) = s.post("/api/v1/schedules/primary/overrides", "{").await;
    assert_eq!(status, 401, "{v}");
    let long = json!({"user": "bob", "start": "2026-03-03T14:00:00Z", "end": "2027-04-07T14:00:00Z"});
    let (status, v) = s.api(Method::POST, "/schedules/primary/overrides", Some(ADMIN), Some(long)).await;
    assert_eq!(status, 201, "exactly 400 days is allowed: {v}");

    let (status, _) = s.api(Method::POST, "/schedules/nope/overrides", Some(ADMIN), Some(ok)).await;
    assert_eq!(status, 404);
    let (status, _) = s.get("/schedules/nope/overrides").await;
    assert_eq!(status, 404);
    let (status, _) = s.api(Method::DELETE, "/schedules/nope/overrides/1", Some(ADMIN), None).await;
    assert_eq!(status, 404);
    let (status, _) = s.api(Method::DELETE, "/schedules/primary/overrides/abc", Some(ADMIN), None).await;
    assert_eq!(status, 404);
    let (status, v) = s.get("/schedules/primary/overrides?include_past=maybe").await;
    assert_eq!((status, v["error"]["field"].clone()), (400, json!("include_past")));

    let (_, doc) = s.get("/openapi.json").await;
    for path in ["/schedules/{id}/overrides", "/schedules/{id}/overrides/{override_id}", "/users/{id}/ical-token"] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing from OpenAPI");
    }
    assert_eq!(doc["paths"]["/users/{id}/ical"]["get"]["security"], json!([{"feed_token": []}]));
    s.stop().await;
}

/// One VEVENT's UID, DTSTART, DTEND and SUMMARY.
type Event = (String, String, String, String);

/// GETs a feed without a bearer token: status, content type, cache control,
/// body.
async fn fetch(s: &TestServer, path: &str) -> (u16, String, String, String) {
    let r = s.http.get(format!("{}{path}", s.url)).send().await.unwrap();
    let header = |name: &str| r.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let (ctype, cache) = (header("content-type"), header("cache-control"));
    (r.status().as_u16(), ctype, cache, r.text().await.unwrap())
}

async fn feed(s: &TestServer, path: &str) -> (String, Vec<Event>) {
    let (status, ctype, cache, body) = fetch(s, path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ctype, "text/calendar; charset=utf-8");
    assert_eq!(cache, "private, max-age=300");
    assert!(body.starts_with("BEGIN:VCALENDAR\r\n") && body.ends_with("END:VCALENDAR\r\n"), "{body}");
    assert!(body.split("\r\n").all(|l| l.len() <= 75 && !l.contains('\n')), "{body}");
    let mut events = Vec::new();
    for block in body.split("BEGIN:VEVENT\r\n").skip(1) {
        let get = |key: &str| {
            block.split("\r\n").find_map(|l| l.strip_prefix(&format!("{key}:"))).unwrap_or_default().to_string()
        };
        events.push((get("UID"), get("DTSTART"), get("DTEND"), get("SUMMARY")));
    }
    (body, events)
}

async fn feed_404(s: &TestServer, path: &str) {
    let (status, _, _, body) = fetch(s, path).await;
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    assert_eq!((status, v["error"]["code"].clone()), (404, json!("not_found")), "{path}: {body}");
}

fn ical_time(t: &str) -> String {
    DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc).format("%Y%m%dT%H%M%SZ").to_string()
}

fn unix(t: &str) -> i64 {
    DateTime::parse_from_rfc3339(t).unwrap().timestamp()
}

/// The events a feed should hold: the API's segments over the feed window.
async fn expected_events(s: &TestServer, now: DateTime<Utc>, only: Option<&str>) -> Vec<Event> {
    let (from, to) = feed_window(now);
    let fmt = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let names = [("alice", "Alice Example"), ("bob", "Bob Example")];
    segments(s, &fmt(from), &fmt(to))
        .await
        .as_array()
        .unwrap()
        .iter()
        .filter(|seg| only.is_none_or(|u| seg["user"] == u))
        .map(|seg| {
            let (start, end, user) =
                (seg["start"].as_str().unwrap(), seg["end"].as_str().unwrap(), seg["user"].as_str().unwrap());
            let name = names.iter().find(|(id, _)| *id == user).unwrap().1;
            (
                format!("primary-{user}-{}@tocsin", unix(start)),
                ical_time(start),
                ical_time(end),
                format!("On call: primary ({name})"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ical_feeds_follow_segments_with_stable_uids() {
    let start = at(2026, 3, 1, 12, 0, 0);
    let (s, clock) = TestServer::start_at(start).await;
    let responder = user_token(&s, "bob", "responder").await;
    add_override(&s, &responder, "bob", "2026-03-03T16:00:00Z", "2026-03-03T18:00:00Z").await;

    // People issue their own feed tokens, admins anyone's; only for users that exist.
    let (status, _) = s.api(Method::POST, "/users/alice/ical-token", Some(&responder), None).await;
    assert_eq!(status, 403);
    let (status, own) = s.api(Method::POST, "/users/bob/ical-token", Some(&responder), None).await;
    assert_eq!((status, own["user"].as_str()), (201, Some("bob")), "{own}");
    let (status, _) = s.api(Method::POST, "/users/zed/ical-token", Some(ADMIN), None).await;
    assert_eq!(status, 404);

    let (status, issued) = s.api(Method::POST, "/users/alice/ical-token", Some(ADMIN), None).await;
    assert_eq!(status, 201, "{issued}");
    let alice_token = issued["token"].as_str().unwrap().to_string();
    assert!(alice_token.starts_with("tcs_") && alice_token.len() == 68, "{alice_token}");
    assert_eq!(issued["user"], "alice");
    let user_url = format!("/api/v1/users/alice/ical?token={alice_token}");
    let schedule_url = format!("/api/v1/schedules/primary/ical?token={alice_token}");
    let weekend_url = format!("/api/v1/schedules/weekend/ical?token={alice_token}");
    assert_eq!(
        issued["urls"],
        json!({"user": user_url, "schedules": {"primary": schedule_url, "weekend": weekend_url}})
    );

    // The user feed: alice's segments, with the run-time override cutting hers.
    let (body, alice_events) = feed(&s, &user_url).await;
    assert_eq!(alice_events, expected_events(&s, start, Some("alice")).await);
    assert!(alice_events.iter().any(|e| e.2 == "20260303T160000Z"), "the override ends a shift: {body}");
    assert!(body.contains("X-WR-CALNAME:On call: Alice Example\r\n"), "{body}");
    assert!(body.contains("DTSTAMP:20260301T120000Z\r\n"), "{body}");
    assert!(alice_events.len() > 10, "half a year of weekly shifts: {body}");

    // The schedule feed: everyone, including the config override and the stored one.
    let (_, all_events) = feed(&s, &schedule_url).await;
    assert_eq!(all_events, expected_events(&s, start, None).await);
    for uid in ["primary-bob-1772553600@tocsin", "primary-bob-1772820000@tocsin"] {
        assert!(all_events.iter().any(|e| e.0 == uid), "{uid} missing");
    }

    // Later the same day: identical apart from DTSTAMP. Two days later: every
    // shift keeps its UID (the window only grew at its end).
    clock.advance(Duration::hours(5));
    let (later, again) = feed(&s, &user_url).await;
    assert_eq!(again, alice_events);
    assert_eq!(later.replace("DTSTAMP:20260301T170000Z", "DTSTAMP:20260301T120000Z"), body);
    clock.advance(Duration::days(2));
    let (_, much_later) = feed(&s, &schedule_url).await;
    let uids: BTreeSet<&String> = much_later.iter().map(|e| &e.0).collect();
    assert!(all_events.iter().all(|e| uids.contains(&e.0)), "a UID changed between refreshes");

    // Tokens: another user's token cannot read alice's feed, and an unknown
    // user looks exactly like that; schedule feeds take any user's token.
    let (_, bob_issued) = s.api(Method::POST, "/users/bob/ical-token", Some(ADMIN), None).await;
    let bob_token = bob_issued["token"].as_str().unwrap();
    feed_404(&s, &format!("/api/v1/users/alice/ical?token={bob_token}")).await;
    feed_404(&s, &format!("/api/v1/users/zed/ical?token={bob_token}")).await;
    feed(&s, &format!("/api/v1/users/bob/ical?token={bob_token}")).await;
    feed(&s, &format!("/api/v1/schedules/primary/ical?token={bob_token}")).await;
    feed_404(&s, &format!("/api/v1/schedules/nope/ical?token={bob_token}")).await;
    feed_404(&s, "/api/v1/users/alice/ical").await;
    feed_404(&s, "/api/v1/users/alice/ical?token=tcs_guess").await;
    feed_404(&s, &format!("/api/v1/schedules/primary/ical?token={ADMIN}")).await;
    let r = s.http.get(format!("{}/api/v1/users/alice/ical", s.url)).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404, "feeds ignore bearer tokens");

    // Rotating invalidates the old link.
    let (status, rotated) = s.api(Method::POST, "/users/alice/ical-token", Some(ADMIN), None).await;
    assert_eq!(status, 201);
    let new_token = rotated["token"].as_str().unwrap();
    assert_ne!(new_token, alice_token);
    feed_404(&s, &user_url).await;
    feed_404(&s, &schedule_url).await;
    feed(&s, &format!("/api/v1/users/alice/ical?token={new_token}")).await;

    let (_, audit) = s.get("/audit").await;
    let rotations =
        audit["items"].as_array().unwrap().iter().filter(|e| e["record"]["action"] == "user.ical_token.rotate").count();
    assert_eq!(rotations, 4, "bob's own, alice's, bob's by the admin, alice's again");
    assert!(!audit.to_string().contains(new_token), "the audit log never holds a feed token");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overrides_and_feed_links_via_cli() {
    let (s, _clock) = TestServer::start_at(at(2026, 3, 1, 12, 0, 0)).await;
    let (ok, out, err) = crate::cli::tocsin(
        &s,
        &[
            "oncall",
            "override",
            "add",
            "--schedule",
            "primary",
            "--user",
            "bob",
            "--start",
            "2026-03-03T14:00:00Z",
            "--end",
            "2026-03-03T18:00:00Z",
            "-o",
            "json",
        ],
    )
    .await;
    assert!(ok, "{out}{err}");
    let created: Value = serde_json::from_str(&out).unwrap();
    let id = created["id"].as_i64().unwrap().to_string();
    let (ok, out, err) = crate::cli::tocsin(&s, &["oncall", "override", "list", "--schedule", "primary"]).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("-   bob   2026-03-06T18:00:00Z  2026-03-09T09:00:00Z  config"), "declared in config: {out}");
    let (ok, out, err) =
        crate::cli::tocsin(&s, &["oncall", "--schedule", "primary", "--at", "2026-03-03T15:00:00Z"]).await;
    assert!(ok && out.contains("bob"), "{out}{err}");
    let (ok, out, err) = crate::cli::tocsin(&s, &["oncall", "override", "list", "--schedule", "primary"]).await;
    assert!(ok && out.contains("2026-03-03T14:00:00Z") && out.contains("bob"), "{out}{err}");
    let (ok, out, err) = crate::cli::tocsin(&s, &["oncall", "override", "remove", "--schedule", "primary", &id]).await;
    assert!(ok && out.contains(&format!("Removed override {id}")), "{out}{err}");
    let (ok, _, err) = crate::cli::tocsin(&s, &["oncall", "override", "remove", "--schedule", "primary", &id]).await;
    assert!(!ok && err.contains("404"), "{err}");
    let (ok, out, err) = crate::cli::tocsin(
        &s,
        &[
            "oncall",
            "override",
            "add",
            "--schedule",
            "primary",
            "--user",
            "zed",
            "--start",
            "2026-03-03T14:00:00Z",
            "--end",
            "2026-03-03T18:00:00Z",
        ],
    )
    .await;
    assert!(!ok && err.contains("user"), "{out}{err}");

    let (ok, out, err) = crate::cli::tocsin(&s, &["oncall", "ical-token", "--user", "alice"]).await;
    assert!(ok, "{out}{err}");
    let url = out.lines().find_map(|l| l.strip_prefix("shifts of alice")).unwrap().trim().to_string();
    assert!(url.starts_with(&format!("{}/api/v1/users/alice/ical?token=tcs_", s.url)), "{out}");
    let r = s.http.get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("BEGIN:VEVENT"));
    s.stop().await;
}
