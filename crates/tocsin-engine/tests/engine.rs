//! The engine against a real SQLite store with a manual clock.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration, TimeZone, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;
use tocsin_core::auth::hash_secret;
use tocsin_core::clock::{Clock, ManualClock};
use tocsin_core::event::{Event, EventAction, Severity};
use tocsin_core::model::{Catalog, IntegrationKind, IntegrationSpec, Service};
use tocsin_engine::{Engine, EngineConfig, Handled, Handler, WorkKind};
use tocsin_store::{IngestBatch, OutboxItem, Store, StoreError};

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

/// Does incident changes by doing nothing, as paging does for a service
/// without an escalation policy.
struct NothingToDo;

#[async_trait::async_trait]
impl Handler for NothingToDo {
    fn kinds(&self) -> &'static [WorkKind] {
        &[WorkKind::IncidentOpened, WorkKind::IncidentAcknowledged, WorkKind::IncidentResolved]
    }

    async fn handle(&self, _: &OutboxItem, _: &str, _: chrono::DateTime<Utc>) -> Result<Handled, StoreError> {
        Ok(Handled::NothingToDo)
    }
}

/// An engine that does incident changes (by doing nothing).
fn engine(store: &Arc<dyn Store>, clock: &Arc<ManualClock>, worker: &str) -> Engine {
    Engine::new(store.clone(), clock.clone(), config(worker)).with_handler(Arc::new(NothingToDo))
}

async fn ingest(store: &Arc<dyn Store>, events: Vec<Event>, at: chrono::DateTime<Utc>) {
    let origin = store.find_integration(&hash_secret(KEY)).await.unwrap().unwrap();
    store.ingest(IngestBatch { origin, events, received_at: at, noise: Default::default() }).await.unwrap();
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
        noise: Default::default(),
    };
    store.ingest(batch).await.unwrap();
    let engine = engine(&store, &clock, "n1");

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
        .ingest(IngestBatch {
            origin,
            events: vec![firing("a", t0 + Duration::hours(1))],
            received_at: t0,
            noise: Default::default(),
        })
        .await
        .unwrap();

    // A node claims the work and dies before finishing it.
    let claimed =
        store.claim_outbox("dead", &WorkKind::ALL, clock.now(), clock.now() + Duration::seconds(30), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let survivor = engine(&store, &clock, "alive");
    assert!(survivor.tick().await.unwrap().processed.is_empty(), "the lease still holds");
    clock.advance(Duration::seconds(31));
    assert_eq!(survivor.tick().await.unwrap().processed, ["incident.opened"]);
    assert_eq!(store.next_outbox_due(&WorkKind::ALL).await.unwrap(), None);
}

/// Fails every item of its kind: with an error, or by panicking.
struct Broken {
    panics: bool,
}

#[async_trait::async_trait]
impl Handler for Broken {
    fn kinds(&self) -> &'static [WorkKind] {
        &[WorkKind::IncidentOpened]
    }

    async fn handle(&self, item: &OutboxItem, _: &str, _: chrono::DateTime<Utc>) -> Result<Handled, StoreError> {
        if self.panics {
            panic!("handler bug on item {}", item.id);
        }
        Err(StoreError::Corrupt(format!("item {} cannot be read", item.id)))
    }
}

/// A handler that keeps failing (an error or a panic) has its item tried
/// again later, each time later, and after ten attempts the item is a dead
/// letter with its last error; the engine does not spin on it meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_items_back_off_then_become_dead_letters() {
    for panics in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_service(&dir).await;
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).single().unwrap();
        let clock = Arc::new(ManualClock::new(t0));
        ingest(&store, vec![firing("a", t0 + Duration::days(1))], t0).await;
        let engine = Engine::new(store.clone(), clock.clone(), config("n1")).with_handler(Arc::new(Broken { panics }));

        let mut waits = Vec::new();
        for attempt in 1..=tocsin_core::work::MAX_ATTEMPTS {
            assert_eq!(engine.tick().await.unwrap().processed, ["incident.opened"], "attempt {attempt}");
            assert!(engine.tick().await.unwrap().processed.is_empty(), "not again before its backoff");
            match store.next_outbox_due(engine.kinds()).await.unwrap() {
                Some(due) => {
                    waits.push(due - clock.now());
                    clock.set(due);
                }
                None => assert_eq!(attempt, tocsin_core::work::MAX_ATTEMPTS, "dead only after the last attempt"),
            }
        }
        // Waits between half of and the whole of 1 s, 2 s, 4 s, … 256 s.
        assert_eq!(waits.len(), 9);
        for (n, wait) in waits.iter().enumerate() {
            let cap = Duration::seconds(1 << n);
            assert!(*wait >= cap / 2 && *wait <= cap, "wait {n}: {wait} in [{}, {cap}]", cap / 2);
        }
        assert!(waits.windows(2).all(|w| w[1] >= w[0]), "waits grow: {waits:?}");

        clock.advance(Duration::hours(1));
        assert!(engine.tick().await.unwrap().processed.is_empty(), "a dead letter is never claimed");
        let dead = store.dead_letters(None, 10).await.unwrap().items;
        assert_eq!(dead.len(), 1);
        assert_eq!((dead[0].kind.as_str(), dead[0].attempts), ("incident.opened", 10));
        let error = dead[0].last_error.clone().unwrap_or_default();
        let expected = if panics { "panicked: handler bug on item" } else { "cannot be read" };
        assert!(error.contains(expected), "{error}");
        assert_eq!(store.dead_letter_count().await.unwrap(), 1);
    }
}

/// Items whose handlers have nothing to do cost no transaction each: a
/// claim's worth of them is completed by one statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_with_nothing_to_do_are_completed_together() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_service(&dir).await;
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).single().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let events = (0..50).map(|i| firing(&format!("k{i}"), t0 + Duration::days(1))).collect();
    ingest(&store, events, t0).await;
    // A slice long enough that the claim is never cut short.
    let config = EngineConfig { slice: std::time::Duration::from_secs(60), ..config("n1") };
    let engine = Engine::new(store.clone(), clock.clone(), config).with_handler(Arc::new(NothingToDo));

    let writes = store.outbox_writes();
    assert_eq!(engine.tick().await.unwrap().processed.len(), 50);
    assert_eq!(store.next_outbox_due(&WorkKind::ALL).await.unwrap(), None, "all of them done");
    assert_eq!(store.outbox_writes() - writes, 1, "fifty items, one write");
}

/// A node claims only the kinds it has handlers for: the rest waits, not
/// completed and not counted as attempted, for a node that knows them, and
/// does not keep this node awake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinds_without_a_handler_are_left_for_another_node() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_service(&dir).await;
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).single().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    ingest(&store, vec![firing("a", t0 + Duration::days(1))], t0).await;
    let incident = store.list_incidents(&Default::default()).await.unwrap().items[0].id;
    store.acknowledge_incident(incident, "user:alice", t0).await.unwrap();

    /// Knows acknowledgements only, like an older version meeting a newer one's kinds.
    struct AcksOnly;
    #[async_trait::async_trait]
    impl Handler for AcksOnly {
        fn kinds(&self) -> &'static [WorkKind] {
            &[WorkKind::IncidentAcknowledged]
        }
        async fn handle(&self, _: &OutboxItem, _: &str, _: chrono::DateTime<Utc>) -> Result<Handled, StoreError> {
            Ok(Handled::NothingToDo)
        }
    }
    let older = Engine::new(store.clone(), clock.clone(), config("older")).with_handler(Arc::new(AcksOnly));
    assert_eq!(older.tick().await.unwrap().processed, ["incident.acknowledged"], "behind the open it cannot do");
    assert_eq!(store.next_outbox_due(older.kinds()).await.unwrap(), None, "nothing left for it");

    let newer = engine(&store, &clock, "newer");
    let claimed = store.claim_outbox("newer", newer.kinds(), t0, t0 + Duration::seconds(30), 10).await.unwrap();
    assert_eq!(claimed.iter().map(|i| (i.kind, i.attempts)).collect::<Vec<_>>(), [(WorkKind::IncidentOpened, 1)]);
}

/// An item whose every attempt ended with its node (a crash while doing
/// it) gets no further attempt once its attempts are used up: it becomes a
/// dead letter instead of taking down node after node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_that_kills_its_node_every_time_becomes_a_dead_letter() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_service(&dir).await;
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).single().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    ingest(&store, vec![firing("a", t0 + Duration::days(1))], t0).await;
    for n in 0..tocsin_core::work::MAX_ATTEMPTS {
        let lease = clock.now() + Duration::seconds(30);
        let claimed =
            store.claim_outbox(&format!("crashed-{n}"), &WorkKind::ALL, clock.now(), lease, 10).await.unwrap();
        assert_eq!(claimed.len(), 1, "claim {n}");
        clock.advance(Duration::seconds(31));
    }
    let survivor = engine(&store, &clock, "alive");
    assert!(survivor.tick().await.unwrap().processed.is_empty(), "not run again");
    let dead = store.dead_letters(None, 10).await.unwrap().items;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, tocsin_core::work::MAX_ATTEMPTS + 1);
    assert!(dead[0].last_error.as_deref().unwrap_or_default().contains("no outcome"), "{dead:?}");
}
