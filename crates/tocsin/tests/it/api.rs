//! The REST API: auth and roles, incidents, pagination and filters, tokens,
//! health, metrics and the OpenAPI document.

use crate::harness::*;
use reqwest::Method;
use serde_json::{Value, json};

async fn open_incident(s: &TestServer, key: &str) -> i64 {
    let (status, _) = s.post("/v2/enqueue", body(&pd_trigger(PD_KEY, key, &format!("incident {key}")))).await;
    assert_eq!(status, 202);
    let (_, page) = s.get(&format!("/alerts?dedup_key={key}")).await;
    page["items"][0]["incident_id"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_and_roles() {
    let s = TestServer::start().await;
    let id = open_incident(&s, "auth").await;
    let (status, v) = s.api(Method::GET, "/incidents", None, None).await;
    assert_eq!((status, v["error"]["code"].clone()), (401, json!("unauthenticated")));
    let (status, _) = s.api(Method::GET, "/incidents", Some("tcs_not_a_real_token"), None).await;
    assert_eq!(status, 401);

    // bob is a responder in the example config; a token may carry less.
    let viewer = user_token(&s, "bob", "viewer").await;
    let responder = user_token(&s, "bob", "responder").await;
    let (status, _) = s.api(Method::GET, "/incidents", Some(&viewer), None).await;
    assert_eq!(status, 200);
    let (status, v) = s.api(Method::POST, &format!("/incidents/{id}/acknowledge"), Some(&viewer), None).await;
    assert_eq!((status, v["error"]["code"].clone()), (403, json!("forbidden")), "a viewer cannot acknowledge");
    let (status, v) = s.api(Method::POST, &format!("/incidents/{id}/acknowledge"), Some(&responder), None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["acknowledged_by"], "user:bob", "the person, never the token's name");
    let (_, detail) = s.get(&format!("/incidents/{id}")).await;
    let ack = detail["timeline"].as_array().unwrap().iter().find(|e| e["kind"] == "acknowledged").unwrap().clone();
    assert_eq!(ack["actor"], "user:bob");

    // Listing never shows secrets; revoking locks the token out.
    let (_, list) = s.get("/tokens").await;
    let text = list.to_string();
    assert!(!text.contains(&viewer) && !text.contains(ADMIN));
    let viewer_id =
        list["items"].as_array().unwrap().iter().find(|t| t["name"] == "bob-viewer").unwrap()["id"].as_i64().unwrap();
    let (status, _) = s.api(Method::DELETE, &format!("/tokens/{viewer_id}"), Some(ADMIN), None).await;
    assert_eq!(status, 204);
    let (status, _) = s.api(Method::GET, "/incidents", Some(&viewer), None).await;
    assert_eq!(status, 401);
    let (status, _) = s.api(Method::DELETE, &format!("/tokens/{viewer_id}"), Some(ADMIN), None).await;
    assert_eq!(status, 404);
    let (status, v) = s.api(Method::POST, "/tokens", Some(ADMIN), Some(json!({"name": "x", "role": "root"}))).await;
    assert_eq!((status, v["error"]["field"].clone()), (400, json!("role")));

    // Every mutation above is in the audit log, by the person who made it.
    let (_, audit) = s.get("/audit").await;
    let entries = audit["items"].as_array().unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e["record"]["action"].as_str().unwrap()).collect();
    for want in ["config.apply", "token.create", "incident.open", "incident.acknowledge", "token.revoke"] {
        assert!(actions.contains(&want), "{want} missing from {actions:?}");
    }
    let acked = entries.iter().find(|e| e["record"]["action"] == "incident.acknowledge").unwrap();
    assert_eq!(acked["record"]["actor"], "user:bob");
    let revoked = entries.iter().find(|e| e["record"]["action"] == "token.revoke").unwrap();
    assert_eq!(revoked["record"]["actor"], "user:admin");
    s.stop().await;
}

/// Who may issue which tokens: admins anything for anyone; others only for
/// themselves, at most their own role; viewers none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_issued_within_ones_own_role() {
    let s = TestServer::start().await;
    let bob = user_token(&s, "bob", "responder").await;
    let bob_viewer = user_token(&s, "bob", "viewer").await;
    let create = |token: String, body: Value| {
        let s = &s;
        async move { s.api(Method::POST, "/tokens", Some(&token), Some(body)).await }
    };

    let (status, v) = create(bob_viewer.clone(), json!({"name": "mine", "role": "viewer"})).await;
    assert_eq!((status, v["error"]["code"].clone()), (403, json!("forbidden")), "a viewer cannot create tokens");
    let (status, v) = create(bob.clone(), json!({"name": "x", "role": "manager"})).await;
    assert_eq!(status, 403, "above one's own role: {v}");
    let (status, v) = create(bob.clone(), json!({"name": "x", "role": "viewer", "user": "alice"})).await;
    assert_eq!(status, 403, "for someone else: {v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("only admins"), "{v}");
    let (status, mine) = create(bob.clone(), json!({"name": "laptop", "role": "responder", "expires_in": "30d"})).await;
    assert_eq!(status, 201, "{mine}");
    assert_eq!((mine["user_id"].clone(), mine["created_by"].clone()), (json!("bob"), json!("user:bob")));
    assert!(mine["expires_at"].is_string(), "{mine}");
    let (status, v) = create(bob.clone(), json!({"name": "x", "role": "viewer", "expires_in": "soon"})).await;
    assert_eq!((status, v["error"]["field"].clone()), (400, json!("expires_in")));

    // An admin issues anything, but no more than the owner's role.
    let (status, v) = create(ADMIN.into(), json!({"name": "x", "role": "admin", "user": "bob"})).await;
    assert_eq!((status, v["error"]["field"].clone()), (400, json!("role")), "{v}");
    let (status, v) = create(ADMIN.into(), json!({"name": "x", "role": "viewer", "user": "zed"})).await;
    assert_eq!((status, v["error"]["field"].clone()), (400, json!("user")), "{v}");

    // People see and revoke their own tokens; others' are not found.
    let (status, list) = s.api(Method::GET, "/tokens", Some(&bob), None).await;
    assert_eq!(status, 200);
    let owners: Vec<&str> = list["items"].as_array().unwrap().iter().map(|t| t["user_id"].as_str().unwrap()).collect();
    assert!(owners.len() == 3 && owners.iter().all(|o| *o == "bob"), "{owners:?}");
    let (status, _) = s.api(Method::GET, "/tokens?user=alice", Some(&bob), None).await;
    assert_eq!(status, 403);
    let (_, all) = s.get("/tokens").await;
    let admin_token = all["items"].as_array().unwrap().iter().find(|t| t["user_id"] == "admin").unwrap()["id"].clone();
    let (status, _) = s.api(Method::DELETE, &format!("/tokens/{admin_token}"), Some(&bob), None).await;
    assert_eq!(status, 404);
    let (status, _) = s.api(Method::DELETE, &format!("/tokens/{}", mine["id"]), Some(&bob), None).await;
    assert_eq!(status, 204);

    // Use is recorded.
    let used = list["items"].as_array().unwrap().iter().find(|t| t["name"] == "bob-responder").unwrap().clone();
    assert!(used["last_used_at"].is_string(), "bob used this token before listing: {used}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_answers_for_every_role() {
    let s = TestServer::start().await;
    let (status, me) = s.get("/me").await;
    assert_eq!(status, 200);
    assert_eq!(
        (me["id"].clone(), me["role"].clone(), me["acting_role"].clone()),
        (json!("admin"), json!("admin"), json!("admin"))
    );
    for role in ["viewer", "responder"] {
        let token = user_token(&s, "bob", role).await;
        let (status, me) = s.api(Method::GET, "/me", Some(&token), None).await;
        assert_eq!(status, 200);
        assert_eq!(
            (me["id"].as_str(), me["role"].as_str(), me["acting_role"].as_str()),
            (Some("bob"), Some("responder"), Some(role))
        );
        assert_eq!(me["teams"], json!(["payments"]));
        assert_eq!(me["email"], "bob@example.com", "one's own address is visible");
    }
    let alice = user_token(&s, "alice", "manager").await;
    let (_, me) = s.api(Method::GET, "/me", Some(&alice), None).await;
    assert_eq!((me["role"].as_str(), me["acting_role"].as_str()), (Some("manager"), Some("manager")));

    // Contact addresses: only for their owner, managers and admins.
    let bob = user_token(&s, "bob", "responder").await;
    let (_, alice_seen_by_bob) = s.api(Method::GET, "/users/alice", Some(&bob), None).await;
    assert_eq!(
        (alice_seen_by_bob["email"].clone(), alice_seen_by_bob["contact_methods"].clone()),
        (json!(null), json!(null))
    );
    let (_, bob_seen_by_alice) = s.api(Method::GET, "/users/bob", Some(&alice), None).await;
    assert_eq!(bob_seen_by_alice["contact_methods"][0]["address"], "bob@example.com", "alice manages");
    let (_, bob_seen_by_admin) = s.get("/users/bob").await;
    assert_eq!(bob_seen_by_admin["contact_methods"][0]["address"], "bob@example.com");
    let (status, users) = s.api(Method::GET, "/users", Some(&alice), None).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = users["items"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["admin", "alice", "bob"]);
    let (status, teams) = s.api(Method::GET, "/teams", Some(&alice), None).await;
    assert_eq!(status, 200);
    assert_eq!(teams["items"][0]["members"], json!(["alice", "bob"]));
    let (status, _) = s.get("/teams/nope").await;
    assert_eq!(status, 404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_actions_and_conflicts() {
    let s = TestServer::start().await;
    let id = open_incident(&s, "actions").await;
    let (status, _) = s.api(Method::POST, &format!("/incidents/{id}/acknowledge"), Some(ADMIN), None).await;
    assert_eq!(status, 200);
    let (status, v) = s.api(Method::POST, &format!("/incidents/{id}/acknowledge"), Some(ADMIN), None).await;
    assert_eq!((status, v["error"]["code"].clone()), (409, json!("invalid_transition")));

    let (status, v) = s
        .api(Method::POST, &format!("/incidents/{id}/notes"), Some(ADMIN), Some(json!({"text": "rolled back v42"})))
        .await;
    assert_eq!(status, 201);
    assert_eq!(v["kind"], "note");
    assert_eq!(v["payload"]["text"], "rolled back v42");
    for (bad, field) in
        [(json!({"text": ""}), "text"), (json!({}), "text"), (json!({"text": 5}), "text"), (json!([1]), "body")]
    {
        let (status, v) = s.api(Method::POST, &format!("/incidents/{id}/notes"), Some(ADMIN), Some(bad)).await;
        assert_eq!((status, v["error"]["field"].clone()), (400, json!(field)));
    }

    let (status, v) = s.api(Method::POST, &format!("/incidents/{id}/resolve"), Some(ADMIN), None).await;
    assert_eq!((status, v["status"].clone(), v["resolved_by"].clone()), (200, json!("resolved"), json!("user:admin")));
    let (_, detail) = s.get(&format!("/incidents/{id}")).await;
    assert_eq!(detail["alerts"][0]["status"], "resolved", "resolving an incident resolves its alerts");
    let (status, _) = s.api(Method::POST, &format!("/incidents/{id}/resolve"), Some(ADMIN), None).await;
    assert_eq!(status, 409);

    for path in ["/incidents/999999", "/incidents/abc", "/alerts/0", "/services/nope"] {
        let (status, v) = s.get(path).await;
        assert_eq!((status, v["error"]["code"].clone()), (404, json!("not_found")), "{path}");
    }
    let (status, _) = s.api(Method::POST, "/incidents/999999/acknowledge", Some(ADMIN), None).await;
    assert_eq!(status, 404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_and_filters() {
    let s = TestServer::start().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(open_incident(&s, &format!("page-{i}")).await);
    }
    s.post("/v2/enqueue", body(&pd_trigger(SEARCH_PD_KEY, "search-1", "search is slow"))).await;
    s.api(Method::POST, &format!("/incidents/{}/acknowledge", ids[1]), Some(ADMIN), None).await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/incidents?service=checkout&limit=2&cursor={c}"),
            None => "/incidents?service=checkout&limit=2".to_string(),
        };
        let (status, page) = s.get(&q).await;
        assert_eq!(status, 200);
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|i| i["id"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    let (_, acked) = s.get("/incidents?status=acknowledged").await;
    assert_eq!(
        acked["items"].as_array().unwrap().iter().map(|i| i["id"].as_i64().unwrap()).collect::<Vec<_>>(),
        [ids[1]]
    );
    let (_, search) = s.get("/incidents?service=search").await;
    assert_eq!(search["items"].as_array().unwrap().len(), 1);
    let (_, future) = s.get("/incidents?since=2999-01-01T00:00:00Z").await;
    assert_eq!(future["items"], json!([]));
    let (_, triggered_alerts) = s.get("/alerts?status=triggered&service=checkout").await;
    assert_eq!(triggered_alerts["items"].as_array().unwrap().len(), 5);

    for (q, field) in [
        ("/incidents?status=open", "status"),
        ("/incidents?limit=0", "limit"),
        ("/incidents?limit=501", "limit"),
        ("/incidents?cursor=zzz", "cursor"),
        ("/incidents?since=yesterday", "since"),
        ("/alerts?status=firing", "status"),
    ] {
        let (status, v) = s.get(q).await;
        assert_eq!((status, v["error"]["field"].clone()), (400, json!(field)), "{q}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_health_metrics_and_openapi() {
    let s = TestServer::start().await;
    open_incident(&s, "svc").await;
    let (_, services) = s.get("/services").await;
    let checkout = services["items"].as_array().unwrap().iter().find(|x| x["id"] == "checkout").unwrap().clone();
    assert_eq!(checkout["name"], "Checkout API");
    assert_eq!(checkout["open_incidents"], 1);
    assert!(!services.to_string().contains(PD_KEY), "integration keys are secrets");
    let pd = checkout["integrations"].as_array().unwrap().iter().find(|i| i["kind"] == "pagerduty").unwrap().clone();
    assert_eq!(pd["key_hint"], "…5e6f");

    let health: Value = s.http.get(format!("{}/healthz", s.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    let ready = s.http.get(format!("{}/readyz", s.url)).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    let metrics = s.http.get(format!("{}/metrics", s.url)).send().await.unwrap().text().await.unwrap();
    for needle in [
        "tocsin_events_received_total{source=\"pagerduty\"}",
        "tocsin_events_accepted_total{source=\"pagerduty\"}",
        "tocsin_ingest_duration_seconds_bucket{source=\"pagerduty\"",
        "tocsin_open_incidents",
        "tocsin_store_ingest_phase_seconds_count{phase=\"write\"}",
        "tocsin_store_ingest_phase_seconds_count{phase=\"commit\"}",
    ] {
        assert!(metrics.contains(needle), "{needle} missing from /metrics");
    }

    let (status, doc) = s.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/incidents",
        "/incidents/{id}/acknowledge",
        "/incidents/{id}/escalate",
        "/incidents/{id}/reassign",
        "/incidents/{id}/notifications",
        "/notifications/webhook-secret",
        "/alerts",
        "/services",
        "/tokens",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing from OpenAPI");
    }
    let (status, _) = s.api(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, 401);
    let r = s.http.get(format!("{}/nope", s.url)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_answer_who_is_on_call() {
    // examples/tocsin.yaml: `primary` in America/New_York, alice then bob weekly
    // from Mon 2026-03-02 09:00, active weekdays 09:00–17:00, and bob overriding
    // 2026-03-06T18:00Z–2026-03-09T09:00Z. DST starts 2026-03-08.
    let s = TestServer::start().await;
    let (status, list) = s.get("/schedules").await;
    assert_eq!(status, 200);
    assert_eq!(list["items"][0]["id"], "primary");
    assert_eq!(list["items"][0]["time_zone"], "America/New_York");

    for (at, users) in [
        ("2026-03-03T15:00:00Z", json!(["alice"])), // Tue 10:00 EST, alice's week
        ("2026-03-07T12:00:00Z", json!(["bob"])),   // Saturday: the override
        ("2026-03-04T01:00:00Z", json!([])),        // Tue 20:00 EST: office hours are over
        ("2026-03-09T11:00:00Z", json!([])),        // Mon 07:00 EDT: override over, window not open
        ("2026-03-10T15:00:00Z", json!(["bob"])),   // Tue 11:00 EDT, bob's week
        ("2026-03-14T15:00:00Z", json!([])),        // Saturday without override: a gap
    ] {
        let (status, v) = s.get(&format!("/schedules/primary/oncall?at={at}")).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["users"], users, "at {at}");
    }

    let (status, v) = s.get("/schedules/primary/segments?from=2026-03-06T00:00:00Z&to=2026-03-10T00:00:00Z").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["items"],
        json!([
            {"start": "2026-03-06T14:00:00Z", "end": "2026-03-06T18:00:00Z", "user": "alice"},
            {"start": "2026-03-06T18:00:00Z", "end": "2026-03-09T09:00:00Z", "user": "bob"},
            {"start": "2026-03-09T13:00:00Z", "end": "2026-03-09T21:00:00Z", "user": "bob"},
        ])
    );

    for (q, field) in [
        ("/schedules/primary/segments?from=2026-03-06T00:00:00Z", "to"),
        ("/schedules/primary/segments?from=2026-03-06T00:00:00Z&to=2026-03-05T00:00:00Z", "to"),
        ("/schedules/primary/segments?from=2026-01-01T00:00:00Z&to=2028-01-01T00:00:00Z", "to"),
        ("/schedules/primary/oncall?at=tomorrow", "at"),
    ] {
        let (status, v) = s.get(q).await;
        assert_eq!((status, v["error"]["field"].clone()), (400, json!(field)), "{q}");
    }
    let (status, _) = s.get("/schedules/nope/oncall").await;
    assert_eq!(status, 404);
    let (status, _) = s.api(Method::GET, "/schedules", None, None).await;
    assert_eq!(status, 401);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_name_who_their_policy_pages_first() {
    // checkout uses checkout-primary, whose first level is the `primary` schedule.
    let s = TestServer::start().await;
    let (status, v) = s.get("/services/checkout/oncall?at=2026-03-07T12:00:00Z").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["escalation_policy"], "checkout-primary");
    assert_eq!(v["users"], json!([{"user": "bob", "via_schedule": "primary"}]));
    let (_, v) = s.get("/services/checkout/oncall?at=2026-03-03T15:00:00Z").await;
    assert_eq!(v["users"], json!([{"user": "alice", "via_schedule": "primary"}]));
    let (_, v) = s.get("/services/checkout/oncall?at=2026-03-14T15:00:00Z").await;
    assert_eq!(v["users"], json!([]), "the schedule has a gap on Saturdays");
    let (_, v) = s.get("/services/search/oncall").await;
    assert_eq!((v["escalation_policy"].clone(), v["users"].clone()), (Value::Null, json!([])));
    let (status, _) = s.get("/services/nope/oncall").await;
    assert_eq!(status, 404);
    s.stop().await;
}
