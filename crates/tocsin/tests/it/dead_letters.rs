//! Work the engine cannot do: retried later and later, then kept as a dead
//! letter that admins see (API, CLI, `/metrics`) and put back; and work
//! with nothing to do, which costs no write of its own.

use reqwest::Method;
use std::sync::Arc;
use tocsin_core::clock::{Clock, ManualClock};
use tocsin_core::work::{MAX_ATTEMPTS, WorkKind};
use tocsin_store::{EngineStep, Lane, NewWork};

use crate::cli::{tocsin, tocsin_as};
use crate::harness::*;

async fn server_at(t: chrono::DateTime<chrono::Utc>) -> (TestServer, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(t));
    let s = TestServer::start_with(Options { clock: clock.clone(), run_engine: false, ..Options::default() }).await;
    (s, clock)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_work_backs_off_then_waits_for_an_admin() {
    let (s, clock) = server_at(at(2026, 3, 3, 10, 0, 0)).await;
    let (status, _) = s.post("/v2/enqueue", body(&pd_trigger(SEARCH_PD_KEY, "dl-1", "search is slow"))).await;
    assert_eq!(status, 202);
    s.tick().await;
    let (_, incidents) = s.get("/incidents").await;
    let incident = incidents["items"][0]["id"].as_i64().unwrap();
    // An escalation timer without its generation: paging cannot read it.
    let store = s.store();
    let timer = NewWork::new(
        WorkKind::EscalationTimer,
        serde_json::json!({"incident_id": incident}),
        clock.now(),
        Lane::Incident(incident),
    );
    store.apply_step(&EngineStep { at: clock.now(), outbox: vec![timer], ..Default::default() }).await.unwrap();

    let mut waits = Vec::new();
    for attempt in 1..=MAX_ATTEMPTS {
        assert_eq!(s.tick().await.processed, ["escalation.timer"], "attempt {attempt}");
        if let Some(due) = store.next_outbox_due(&WorkKind::ALL).await.unwrap() {
            waits.push((due - clock.now()).num_milliseconds());
            clock.set(due);
        }
    }
    assert_eq!(waits.len(), 9, "retried nine times, then dead: {waits:?}");
    for (n, wait) in waits.iter().enumerate() {
        let cap = 1000 << n;
        assert!((cap / 2..=cap).contains(wait), "wait {n}: {wait} ms in [{}, {cap}]", cap / 2);
    }
    assert!(s.tick().await.processed.is_empty());

    // Admins see it, with what went wrong.
    let (status, page) = s.get("/engine/dead-letters").await;
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    let dead = &items[0];
    assert_eq!(
        (dead["kind"].as_str(), dead["lane"].as_str(), dead["attempts"].as_i64()),
        (Some("escalation.timer"), Some("search"), Some(10))
    );
    assert_eq!(dead["payload"], serde_json::json!({"incident_id": incident}));
    assert!(dead["last_error"].as_str().unwrap().contains("no readable generation"), "{dead}");
    assert_eq!(dead["dead_at"].as_str().unwrap(), clock.now().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
    let id = dead["id"].as_i64().unwrap();
    let metrics = s.http.get(format!("{}/metrics", s.url)).send().await.unwrap().text().await.unwrap();
    // The gauge is shared by every server of this test binary: its value
    // is this server's only while no other test renders its metrics.
    assert!(metrics.lines().any(|l| l.starts_with("tocsin_outbox_dead_letters ")), "{metrics}");
    assert!(metrics.contains("tocsin_outbox_failures_total{kind=\"escalation.timer\"}"), "{metrics}");

    // Responders neither see nor retry them.
    let responder = user_token(&s, "alice", "responder").await;
    let (status, _) = s.api(Method::GET, "/engine/dead-letters", Some(&responder), None).await;
    assert_eq!(status, 403);
    let (status, _) = s.api(Method::POST, &format!("/engine/dead-letters/{id}/retry"), Some(&responder), None).await;
    assert_eq!(status, 403);
    let (ok, _, err) = tocsin_as(&s, &responder, &["engine", "dead-letters"]).await;
    assert!(!ok && err.contains("403"), "{err}");

    // The CLI lists it, and puts it back: due now, attempts reset, audited.
    let (ok, out, err) = tocsin(&s, &["engine", "dead-letters"]).await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ID") && lines[0].contains("LAST ERROR"), "{out}");
    assert!(
        lines[1].starts_with(&id.to_string())
            && lines[1].contains("escalation.timer")
            && lines[1].contains("no readable generation"),
        "{out}"
    );
    let (ok, out, err) = tocsin(&s, &["engine", "retry", &id.to_string()]).await;
    assert!(ok, "{err}");
    assert_eq!(out, format!("Dead letter {id} (escalation.timer) is due again.\n"));
    let (ok, out, _) = tocsin(&s, &["engine", "dead-letters"]).await;
    assert!(ok && out == "No dead letters.\n", "{out}");
    let (status, _) = s.api(Method::POST, &format!("/engine/dead-letters/{id}/retry"), Some(ADMIN), None).await;
    assert_eq!(status, 404, "no longer a dead letter");
    let (_, audit) = s.get("/audit?limit=500").await;
    let retried: Vec<_> =
        audit["items"].as_array().unwrap().iter().filter(|e| e["record"]["action"] == "outbox.retry").collect();
    assert_eq!(retried.len(), 1, "{audit}");
    assert_eq!(retried[0]["record"]["target"], format!("outbox:{id}"));
    assert_eq!(store.next_outbox_due(&WorkKind::ALL).await.unwrap(), Some(clock.now()));
    assert_eq!(s.tick().await.processed, ["escalation.timer"], "tried again at once");
    let (_, page) = s.get("/engine/dead-letters").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 0, "one failure is not yet a dead letter");
    s.stop().await;
}

/// Incidents on a service without an escalation policy give paging nothing
/// to do: their opened and resolved items are completed a claim at a time,
/// not one transaction each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_with_nothing_to_do_costs_no_write_of_its_own() {
    let (s, _clock) = server_at(at(2026, 3, 3, 10, 0, 0)).await;
    for i in 0..25 {
        let key = format!("quiet-{i}");
        let (status, _) = s.post("/v2/enqueue", body(&pd_trigger(SEARCH_PD_KEY, &key, "search is slow"))).await;
        assert_eq!(status, 202);
        let (status, _) = s.post("/v2/enqueue", body(&pd_action(SEARCH_PD_KEY, &key, "resolve"))).await;
        assert_eq!(status, 202);
    }
    let store = s.store();
    let writes = store.outbox_writes();
    let report = s.tick().await;
    assert_eq!(report.processed.len(), 50, "{report:?}");
    assert_eq!(store.next_outbox_due(&WorkKind::ALL).await.unwrap(), None, "all done");
    // One write per claim; the engine may cut a claim short after a slice
    // (100 ms) and claim the rest again, so a slow database takes a few.
    let spent = store.outbox_writes() - writes;
    assert!(spent <= 5, "fifty items with nothing to do cost {spent} writes");
    s.stop().await;
}
