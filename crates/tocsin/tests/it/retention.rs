//! Retention with a real server: re-sent alerts leave the database the size
//! it is, and pruning drops the payloads of long-resolved incidents, with
//! an audit entry and a metric.

use crate::harness::*;
use chrono::Duration;
use serde_json::{Value, json};
use std::sync::Arc;
use tocsin::retention::{BATCH, prune_batch};
use tocsin_core::clock::{Clock, ManualClock};
use tocsin_core::retention::Retention;
use tocsin_store::{DbStats, MaintenanceStore, Pruned};

const ALERTS: usize = 40;

/// One Alertmanager notification about `ALERTS` disks, each with a sizeable
/// description, all `status`.
fn disks(status: &str) -> Vec<u8> {
    let alerts: Vec<Value> = (0..ALERTS)
        .map(|i| {
            json!({
                "status": status,
                "labels": {"alertname": "DiskFull", "instance": format!("host-{i:03}"), "severity": "critical"},
                "annotations": {"summary": format!("disk full on host-{i:03}"), "description": "x".repeat(1500)},
                "startsAt": "2026-03-02T08:59:00Z",
                "endsAt": if status == "resolved" { "2026-03-02T10:00:00Z" } else { "0001-01-01T00:00:00Z" },
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": format!("{:016x}", i + 1),
            })
        })
        .collect();
    body(&json!({"version": "4", "status": status, "receiver": "tocsin", "alerts": alerts}))
}

fn rows(stats: &DbStats) -> Vec<(String, u64)> {
    stats.tables.iter().map(|t| (t.name.clone(), t.rows)).collect()
}

/// Batches until nothing more is old enough, as the background task does.
async fn prune_all(store: &dyn MaintenanceStore, retention: &Retention, clock: &ManualClock) -> Pruned {
    let mut total = Pruned::default();
    loop {
        let pruned = prune_batch(store, retention, clock.now()).await.unwrap();
        total.alert_payloads += pruned.alert_payloads;
        total.notifications += pruned.notifications;
        total.finished_work += pruned.finished_work;
        if !pruned.full(BATCH) {
            return total;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resent_alerts_add_nothing_and_old_payloads_are_pruned() {
    let clock = Arc::new(ManualClock::new(at(2026, 3, 2, 9, 0, 0)));
    let s = TestServer::start_with(Options { clock: clock.clone(), run_engine: false, ..Options::default() }).await;
    let store = s.running().store.clone();
    let path = format!("/integrations/alertmanager/{AM_KEY}");
    let empty = store.stats().await.unwrap();
    assert_eq!(s.post(&path, disks("firing")).await.0, 200);
    let opened = store.stats().await.unwrap();

    // Alertmanager re-sends firing alerts on every group interval.
    let mut used = Vec::new();
    for round in 1..=30 {
        clock.advance(Duration::minutes(1));
        assert_eq!(s.post(&path, disks("firing")).await.0, 200);
        let now = store.stats().await.unwrap();
        assert_eq!(rows(&now), rows(&opened), "re-send {round} added rows");
        if let Some(pg) = &s.pg {
            // What autovacuum does in production, now rather than when
            // its thresholds say: the row versions re-sends left behind
            // become room for the next ones.
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&pg.url).await.unwrap();
            sqlx::query("VACUUM alerts").execute(&mut conn).await.unwrap();
            conn.close().await.unwrap();
        }
        let now = store.stats().await.unwrap();
        used.push(now.used_bytes);
    }
    println!("bytes in use: {} after opening, then per re-send {used:?}", opened.used_bytes);
    // Rows are rewritten in place (PostgreSQL: beside the old version, in
    // the room the fill factor and vacuum leave): once settled (PostgreSQL
    // takes a few re-sends to reach the pages its row versions cycle
    // through), not one more page over the next twenty.
    let settled = used[9];
    assert!(used[10..].iter().all(|&b| b <= settled), "the database grew under re-sends: {used:?}");
    // The oldest alert: it opened an incident of its own (the ones past the
    // storm limit joined the storm incident).
    let alert = s.admin().list_alerts(&Default::default()).await.unwrap().items.pop().unwrap();
    assert_eq!(alert.occurrences, 31);

    clock.advance(Duration::minutes(1));
    assert_eq!(s.post(&path, disks("resolved")).await.0, 200);
    let resolved = store.stats().await.unwrap();
    let retention = s.running().app().live_directory().current().retention;
    assert_eq!(retention, Retention::default(), "the example config keeps payloads 30 days");
    assert_eq!(prune_all(&*store, &retention, &clock).await, Pruned::default(), "not old enough yet");

    clock.advance(Duration::days(30));
    let pruned = prune_all(&*store, &retention, &clock).await;
    assert_eq!(pruned.alert_payloads, ALERTS as u64);
    let after = store.stats().await.unwrap();
    assert_eq!(rows(&after).len(), rows(&resolved).len());
    println!("bytes in use: {} resolved, {} after pruning", resolved.used_bytes, after.used_bytes);
    if s.pg.is_none() {
        // About 1.6 KB of details per alert went; most of it comes back as free pages.
        let freed = resolved.used_bytes.saturating_sub(after.used_bytes);
        assert!(freed >= (ALERTS as u64) * 1000, "only {freed} bytes freed");
    }

    // The freed pages take the next wave: it adds its incidents, timelines
    // and audit entries, but its payloads fit where the old ones were.
    assert_eq!(s.post(&path, disks("firing")).await.0, 200);
    clock.advance(Duration::minutes(5));
    assert_eq!(s.post(&path, disks("resolved")).await.0, 200);
    let second = store.stats().await.unwrap();
    let first_wave = resolved.used_bytes - empty.used_bytes;
    let second_wave = second.used_bytes.saturating_sub(resolved.used_bytes);
    println!("bytes added: {first_wave} by the first wave, {second_wave} by the second after pruning");
    if s.pg.is_none() {
        assert!(second_wave * 3 < first_wave * 2, "pruned pages were not reused: {first_wave} then {second_wave}");
    }

    // The alert stays, without its details; the incident and its timeline stay.
    let alert = s.admin().get_alert(alert.id).await.unwrap();
    assert_eq!(alert.details, json!({}));
    assert_eq!(alert.occurrences, 31);
    let incident = s.admin().get_incident(alert.incident_id.unwrap()).await.unwrap();
    let kinds: Vec<&str> = incident.timeline.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["opened", "alert_resolved", "resolved"]);
    let mut audit = Vec::new();
    loop {
        let after = audit.last().map_or(0, |e: &tocsin_client::AuditEntry| e.id);
        let page = s.admin().audit_log(after, Some(100)).await.unwrap();
        if page.is_empty() {
            break;
        }
        audit.extend(page);
    }
    let pruning: Vec<_> = audit.iter().filter(|e| e.record.action == "retention.prune").collect();
    assert_eq!(pruning.len(), 1, "one batch, one audit entry");
    assert_eq!(
        (pruning[0].record.actor.as_str(), &pruning[0].record.details["alert_payloads"]),
        ("system", &json!(40))
    );
    let metrics = s.http.get(format!("{}/metrics", s.url)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("tocsin_retention_pruned_total{what=\"alert_payloads\"}"), "{metrics}");
    s.stop().await;
}
