//! Heartbeat monitors: written by config apply, moved by pings, and a
//! missed deadline opening one alert (and incident) that the next ping
//! resolves, through the intake's planning.

use super::*;
use tocsin_core::heartbeat::HeartbeatState;
use tocsin_core::model::HeartbeatSpec;
use tocsin_store::{HeartbeatRef, HeartbeatRow, Missed};

const KEY_NIGHTLY: &str = "hb-key-nightly-0001";
const KEY_HOURLY: &str = "hb-key-hourly-0002";
const KEY_NEW: &str = "hb-key-rotated-0003";

fn heartbeat(id: &str, service: &str, key: &str, interval_secs: i64, grace_secs: i64) -> HeartbeatSpec {
    HeartbeatSpec {
        id: id.into(),
        service: service.into(),
        key: key.into(),
        interval: Duration::seconds(interval_secs),
        grace: Duration::seconds(grace_secs),
    }
}

/// `catalog_v1` with two monitors: `nightly` on `svc-api` (1h + 5m) and
/// `hourly` on `svc-db` (1h, no grace).
fn with_heartbeats(heartbeats: Vec<HeartbeatSpec>) -> Catalog {
    Catalog { heartbeats, ..catalog_v1() }
}

fn two_monitors() -> Vec<HeartbeatSpec> {
    vec![heartbeat("nightly", "svc-api", KEY_NIGHTLY, 3600, 300), heartbeat("hourly", "svc-db", KEY_HOURLY, 3600, 0)]
}

async fn monitors(ts: &TestStore) -> Vec<HeartbeatRow> {
    ts.list_heartbeats().await.unwrap()
}

async fn monitor(ts: &TestStore, id: &str) -> HeartbeatRow {
    monitors(ts).await.into_iter().find(|h| h.heartbeat.id == id).unwrap_or_else(|| panic!("no monitor {id}"))
}

async fn found(ts: &TestStore, key: &str) -> Option<HeartbeatRef> {
    ts.find_heartbeat(&hash_secret(key)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_apply_writes_monitors_and_keeps_their_last_ping() {
    let ts = backend().await;
    ts.apply_catalog(&with_heartbeats(two_monitors()), CONFIG_ACTOR, t(0)).await.unwrap();
    let listed = monitors(&ts).await;
    assert_eq!(listed.iter().map(|h| h.heartbeat.id.as_str()).collect::<Vec<_>>(), ["hourly", "nightly"], "by id");
    let nightly = monitor(&ts, "nightly").await;
    assert_eq!(nightly.heartbeat, two_monitors()[0].heartbeat());
    assert_eq!(nightly.state, HeartbeatState::new(t(0)));
    assert_eq!((nightly.key_hint.as_str(), nightly.missed_at, nightly.open_incident), ("…0001", None, None));
    assert_eq!(
        found(&ts, KEY_NIGHTLY).await,
        Some(HeartbeatRef { id: "nightly".into(), service_id: "svc-api".into() })
    );
    assert_eq!(found(&ts, "hb-key-unknown-9999").await, None);
    assert_eq!(ts.find_integration(&hash_secret(KEY_NIGHTLY)).await.unwrap(), None, "not an integration key");
    assert_eq!(ts.next_heartbeat_deadline().await.unwrap(), Some(t(3600)), "hourly first: created + interval");

    let ping = ts.ping_heartbeat("nightly", t(600)).await.unwrap().unwrap();
    assert_eq!((ping.heartbeat.as_str(), ping.deadline, ping.resolved_incident), ("nightly", t(4500), None));
    // A ping older than the latest moves nothing back.
    assert_eq!(ts.ping_heartbeat("nightly", t(500)).await.unwrap().unwrap().deadline, t(4500));
    assert_eq!(ts.ping_heartbeat("ghost", t(600)).await.unwrap(), None);

    // Again with nightly's grace and key changed, hourly gone and its key
    // moved to a new monitor.
    let changed = vec![
        heartbeat("nightly", "svc-db", KEY_NEW, 3600, 600),
        heartbeat("weekly", "svc-api", KEY_HOURLY, 7 * 86_400, 3600),
    ];
    ts.apply_catalog(&with_heartbeats(changed.clone()), CONFIG_ACTOR, t(1000)).await.unwrap();
    let nightly = monitor(&ts, "nightly").await;
    assert_eq!(nightly.heartbeat, changed[0].heartbeat());
    assert_eq!(nightly.state.last_ping, Some(t(600)), "kept");
    assert_eq!(nightly.state.created_at, t(0), "kept");
    assert_eq!(found(&ts, KEY_NEW).await.map(|h| h.service_id), Some("svc-db".into()));
    assert_eq!(found(&ts, KEY_NIGHTLY).await, None, "the old key opens nothing");
    assert_eq!(found(&ts, KEY_HOURLY).await.map(|h| h.id), Some("weekly".into()));
    assert_eq!(monitor(&ts, "weekly").await.state, HeartbeatState::new(t(1000)));
    assert_eq!(monitors(&ts).await.len(), 2, "hourly deleted");
    // The deadline follows the new grace from the kept ping.
    assert_eq!(ts.next_heartbeat_deadline().await.unwrap(), Some(t(600 + 3600 + 600)));

    // Two monitors swapping keys in one apply.
    let swapped = vec![
        heartbeat("nightly", "svc-db", KEY_HOURLY, 3600, 600),
        heartbeat("weekly", "svc-api", KEY_NEW, 604_800, 3600),
    ];
    ts.apply_catalog(&with_heartbeats(swapped), CONFIG_ACTOR, t(2000)).await.unwrap();
    assert_eq!(found(&ts, KEY_HOURLY).await.map(|h| h.id), Some("nightly".into()));
    assert_eq!(found(&ts, KEY_NEW).await.map(|h| h.id), Some("weekly".into()));
    assert_eq!(monitor(&ts, "nightly").await.state.last_ping, Some(t(600)));

    // Without the section, no monitors.
    ts.apply_catalog(&catalog_v1(), CONFIG_ACTOR, t(3000)).await.unwrap();
    assert_eq!(monitors(&ts).await, Vec::new());
    assert_eq!(ts.next_heartbeat_deadline().await.unwrap(), None);
    ts.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_deadline_opens_one_incident_and_the_next_ping_resolves_it() {
    let ts = backend().await;
    ts.apply_catalog(&with_heartbeats(two_monitors()), CONFIG_ACTOR, t(0)).await.unwrap();
    ts.ping_heartbeat("hourly", t(3000)).await.unwrap();
    ts.ping_heartbeat("nightly", t(100)).await.unwrap();
    drain_outbox(&ts).await;

    // nightly is due at 100 + 3600 + 300.
    assert_eq!(ts.open_missed_heartbeats(t(3999), 100).await.unwrap(), Vec::new(), "not yet");
    let missed = ts.open_missed_heartbeats(t(4000), 100).await.unwrap();
    let incident_id = missed[0].incident_id.expect("an incident");
    assert_eq!(
        missed,
        [Missed { heartbeat: "nightly".into(), service_id: "svc-api".into(), incident_id: Some(incident_id) }]
    );
    let opened = incident(&ts, incident_id).await;
    assert_eq!(
        (opened.service_id.as_str(), opened.status, opened.severity),
        ("svc-api", IncidentStatus::Triggered, Severity::Critical)
    );
    assert_eq!(opened.created_at, t(4000));
    let summary = format!(
        "Heartbeat nightly missed: no ping since {} (interval 1h, grace 5m)",
        t(100).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    assert_eq!(opened.title, summary);
    let filter = AlertFilter { dedup_key: Some("heartbeat:nightly".into()), ..Default::default() };
    let alerts = ts.list_alerts(&filter).await.unwrap().items;
    assert_eq!(alerts.len(), 1);
    assert_eq!((alerts[0].kind, alerts[0].integration_id.as_str()), (IntegrationKind::Heartbeat, "nightly"));
    assert_eq!(alerts[0].labels, BTreeMap::from([("heartbeat".to_string(), "nightly".to_string())]));
    let audited = audit_with_action(&ts, "incident.open").await;
    assert_eq!(audited.last().map(|e| e.record.actor.as_str()), Some("heartbeat:nightly"));
    let queued = ts.claim_outbox("w", ALL, t(4000), t(4030), 10).await.unwrap();
    assert_eq!(outbox_summary(&queued), [("incident.opened".into(), json!({"incident_id": incident_id}), t(4000), 1)]);
    for item in queued {
        ts.complete_outbox(item.id, "w", t(4000)).await.unwrap();
    }

    // Open once: later checks leave it be, and it no longer sets the next deadline.
    assert_eq!(ts.open_missed_heartbeats(t(9000), 100).await.unwrap().len(), 1, "only hourly, now due too");
    assert_eq!(ts.open_missed_heartbeats(t(20_000), 100).await.unwrap(), Vec::new());
    assert_eq!(ts.next_heartbeat_deadline().await.unwrap(), None, "both open");
    let nightly = monitor(&ts, "nightly").await;
    assert_eq!((nightly.missed_at, nightly.open_incident), (Some(t(4000)), Some(incident_id)));
    assert!(nightly.state.open_incident);

    // The next ping resolves it, in the same commit.
    let ping = ts.ping_heartbeat("nightly", t(21_000)).await.unwrap().unwrap();
    assert_eq!((ping.deadline, ping.resolved_incident), (t(21_000 + 3900), Some(incident_id)));
    let resolved = incident(&ts, incident_id).await;
    assert_eq!(
        (resolved.status, resolved.resolved_by.as_deref()),
        (IncidentStatus::Resolved, Some("heartbeat:nightly"))
    );
    assert_eq!(resolved.resolved_at, Some(t(21_000)));
    let nightly = monitor(&ts, "nightly").await;
    assert_eq!((nightly.missed_at, nightly.open_incident, nightly.state.open_incident), (None, None, false));
    assert_eq!(ts.ping_heartbeat("nightly", t(21_001)).await.unwrap().unwrap().resolved_incident, None);
    assert_eq!(ts.next_heartbeat_deadline().await.unwrap(), Some(t(21_001 + 3900)));

    // Missing again opens a new incident.
    let again = ts.open_missed_heartbeats(t(30_000), 100).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_ne!(again[0].incident_id, Some(incident_id));
    ts.finish().await;
}

/// An incident a person resolved while pings are still missing is not
/// opened again at once; the next ping ends the silence without a resolve
/// to do, and the next miss opens a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_resolved_by_hand_stays_resolved_until_the_next_miss() {
    let ts = backend().await;
    ts.apply_catalog(&with_heartbeats(two_monitors()[..1].to_vec()), CONFIG_ACTOR, t(0)).await.unwrap();
    let missed = ts.open_missed_heartbeats(t(3900), 100).await.unwrap();
    let incident_id = missed[0].incident_id.unwrap();
    ts.resolve_incident(incident_id, "user:alice", t(4000)).await.unwrap();
    assert_eq!(monitor(&ts, "nightly").await.open_incident, None);
    assert_eq!(ts.open_missed_heartbeats(t(5000), 100).await.unwrap(), Vec::new());
    let ping = ts.ping_heartbeat("nightly", t(6000)).await.unwrap().unwrap();
    assert_eq!(ping.resolved_incident, None);
    let next = ts.open_missed_heartbeats(t(6000 + 3900), 100).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_ne!(next[0].incident_id, Some(incident_id));
    ts.finish().await;
}

/// Checks running at once (several nodes' engines on PostgreSQL) open each
/// monitor's alert once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checks_open_each_missed_monitor_once() {
    let ts = backend().await;
    let many: Vec<HeartbeatSpec> =
        (0..10).map(|n| heartbeat(&format!("job-{n}"), "svc-api", &format!("hb-key-job-{n:04}"), 60, 0)).collect();
    ts.apply_catalog(&with_heartbeats(many), CONFIG_ACTOR, t(0)).await.unwrap();
    let node_b = if ts.is_postgres() { open_store(&ts.location).await } else { ts.handle() };
    let nodes = [ts.handle(), node_b.clone()];
    let tasks: Vec<_> = (0..8)
        .map(|n| {
            let store = nodes[n % 2].clone();
            tokio::spawn(async move { store.open_missed_heartbeats(t(60), 100).await })
        })
        .collect();
    let mut opened = Vec::new();
    for task in tasks {
        opened.extend(task.await.unwrap().unwrap());
    }
    opened.sort_by(|a, b| a.heartbeat.cmp(&b.heartbeat));
    let ids: Vec<&str> = opened.iter().map(|m| m.heartbeat.as_str()).collect();
    assert_eq!(ids, (0..10).map(|n| format!("job-{n}")).collect::<Vec<_>>(), "each once");
    let incidents: HashSet<Option<i64>> = opened.iter().map(|m| m.incident_id).collect();
    assert_eq!(incidents.len(), 10);
    assert_eq!(ts.open_incident_count().await.unwrap(), 10);
    if ts.is_postgres() {
        node_b.close().await;
    }
    ts.finish().await;
}

/// A ping and a check of one overdue monitor at the same moment: whichever
/// commits first, the monitor ends without an open incident (the check
/// re-reads the ping's deadline, or the ping resolves what the check
/// opened).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_racing_a_check_never_leaves_an_incident_open() {
    let ts = backend().await;
    ts.apply_catalog(&with_heartbeats(two_monitors()[..1].to_vec()), CONFIG_ACTOR, t(0)).await.unwrap();
    for round in 0..10_i64 {
        let at = t(100_000 * (round + 1));
        let (a, b) = (ts.handle(), ts.handle());
        let check = tokio::spawn(async move { a.open_missed_heartbeats(at, 100).await });
        let ping = tokio::spawn(async move { b.ping_heartbeat("nightly", at).await });
        check.await.unwrap().unwrap();
        ping.await.unwrap().unwrap();
        let nightly = monitor(&ts, "nightly").await;
        assert_eq!((nightly.open_incident, nightly.missed_at), (None, None), "round {round}");
    }
    assert_eq!(ts.open_incident_count().await.unwrap(), 0);
    ts.finish().await;
}
