//! The engine against a real SQLite store with a manual clock.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration, TimeZone, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;
use tocsin_core::auth::hash_secret;
use tocsin_core::clock::{Clock, ManualClock};
use tocsin_core::event::{Event, EventAction, Severity};
use tocsin_core::model::{Catalog, IntegrationKind, IntegrationSpec, Service};
use tocsin_engine::{Engine, EngineConfig};
use tocsin_store::{IngestBatch, Store};

const KEY: &str = "prom-engine-test-key-0001";

async fn store_with_service(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    let store = tocsin_store::open(dir.path().join("t.db").to_str().unwrap()).await.unwrap();
    let catalog = Catalog {
        services: vec![Service {
            id: "api".into(),
            name: "API".into(),
            description: None,
            team: None,
            ..Default::default()
        }],
        integrations: vec![IntegrationSpec {
            id: "api-prom".into(),
            service_id: "api".into(),
            kind: IntegrationKind::Prometheus,
            key: KEY.into(),
        }],
        ..Default::default()
    };
    store.apply_catalog(&catalog, "test", Utc::now()).await.unwrap();
    store
}

fn firing(key: &str, expires: chrono::DateTime<Utc>) -> Event {
    Event {
        action: EventAction::Trigger,
        dedup_key: key.into(),
        summary: "latency high".into(),
        severity: Severity::Warning,
        source: None,
        labels: BTreeMap::from([("alertname".to_string(), "Latency".to_string())]),
        details: serde_json::json!({}),
        links: vec![],
        occurred_at: None,
        expires_at: Some(expires),
    }
}

fn config(worker: &str) -> EngineConfig {
    EngineConfig { worker_id: worker.into(), lease: Duration::seconds(30), ..EngineConfig::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tick_expires_alerts_whose_sender_went_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_service(&dir).await;
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).single().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let origin = store.find_integration(&hash_secret(KEY)).await.unwrap().unwrap();
    let batch = IngestBatch {
        origin,
        events: vec![firing("a", t0 + Duration::minutes(5)), firing("b", t0 + Duration::minutes(10))],
        received_at: t0,
    };
    store.ingest(batch).await.unwrap();
    let engine = Engine::new(store.clone(), clock.clone(), config("n1"));

    let report = engine.tick().await.unwrap();
    assert_eq!(report.expired_alerts, 0);
    assert_eq!(report.processed, ["incident.opened", "incident.opened"]);

    clock.advance(Duration::minutes(6));
    let report = engine.tick().await.unwrap();
    assert_eq!(report.expired_alerts, 1, "only the alert whose endsAt passed");
    assert_eq!(report.processed, ["incident.resolved"]);
    let open = store.open_incident_count().await.unwrap();
    assert_eq!(open, 1);

    clock.advance(Duration::minutes(5));
    assert_eq!(engine.tick().await.unwrap().expired_alerts, 1);
    assert_eq!(store.open_incident_count().await.unwrap(), 0);
    assert_eq!(engine.tick().await.unwrap(), Default::default(), "nothing left to do");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_claimed_by_a_dead_node_is_picked_up_after_its_lease() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_service(&dir).await;
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).single().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let origin = store.find_integration(&hash_secret(KEY)).await.unwrap().unwrap();
    store
        .ingest(IngestBatch { origin, events: vec![firing("a", t0 + Duration::hours(1))], received_at: t0 })
        .await
        .unwrap();

    // A node claims the work and dies before finishing it.
    let claimed = store.claim_outbox("dead", clock.now(), clock.now() + Duration::seconds(30), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let survivor = Engine::new(store.clone(), clock.clone(), config("alive"));
    assert!(survivor.tick().await.unwrap().processed.is_empty(), "the lease still holds");
    clock.advance(Duration::seconds(31));
    assert_eq!(survivor.tick().await.unwrap().processed, ["incident.opened"]);
    assert_eq!(store.next_outbox_due().await.unwrap(), None);
}
