#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Storage conformance suite: every behaviour of the [`Store`] trait, run
//! against whichever backend the environment selects.
//!
//! * `TOCSIN_TEST_PG_URL` set (non-empty), e.g.
//!   `postgres://postgres@127.0.0.1:5432/postgres`: each test creates a fresh
//!   database `tocsin_t_<random hex>` on that server, runs against it and drops
//!   it in [`TestStore::finish`]. An unreachable server fails the test; it
//!   never skips.
//! * Otherwise: each test uses a fresh SQLite file in its own temporary
//!   directory.
//!
//! All instants are fixed (see [`t`]) and carry microseconds, the precision
//! the store keeps, so timestamps are asserted exactly.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use sqlx::{AssertSqlSafe, Connection};
use tempfile::TempDir;

use tocsin_core::CoreError;
use tocsin_core::alert::{Alert, AlertStatus};
use tocsin_core::audit::{self, AuditRecord, GENESIS};
use tocsin_core::auth::{Role, hash_secret};
use tocsin_core::event::{ChangeEvent, Event, EventAction, Link, Severity};
use tocsin_core::incident::{Incident, IncidentStatus};
use tocsin_core::model::{Catalog, IntegrationKind, IntegrationSpec, Service, Team, User};
use tocsin_core::secret_box::SecretKey;
use tocsin_core::timeline::{TimelineEntry, TimelineKind};
use tocsin_core::work::WorkKind;
use tocsin_store::{ACK_LINK, ServerSecrets, WEBHOOK_SIGNING};
use tocsin_store::{
    AlertFilter, AuditEntry, CatalogChanges, ChangeRecord, DELIVER_NOW, EngineStep, EscalationRow, EscalationWrite,
    FOLLOW_UP, HeldSummary, INCIDENT_CHANGE, IncidentFilter, IngestBatch, IngestOutcome, IntegrationRef,
    IntegrationView, Lane, NewNotification, NewOverride, NewToken, NewWork, NotificationRow, NotificationUpdate,
    OutboxItem, ScheduleOverride, ServiceView, StepTimeline, Store, StoreError, TokenAuth, TokenInfo, cursor,
};
use tocsin_store::{DeadLetter, Failed, NewTestPage, Page, TestPageStatus, TestPageUpdate};

// ===========================================================================
// Backend selection and lifecycle
// ===========================================================================

const PG_ENV: &str = "TOCSIN_TEST_PG_URL";

/// Every kind of work: what a node of this version claims.
const ALL: &[WorkKind] = &WorkKind::ALL;

/// How long connecting to the PostgreSQL server named by [`PG_ENV`] may take
/// before the test fails.
const PG_CONNECT_TIMEOUT: StdDuration = StdDuration::from_secs(30);

/// What must be cleaned up after a test.
enum Backend {
    /// The temporary directory holding the database file; removed on drop.
    Sqlite { dir: TempDir },
    /// A per-test database on a shared server, dropped by [`TestStore::finish`].
    Postgres { admin_url: String, database: String },
}

/// An open store on a fresh, empty database, plus what is needed to reopen
/// and clean it up. Derefs to `dyn Store`.
struct TestStore {
    store: Arc<dyn Store>,
    /// What `tocsin_store::open` was given: a file path or a URL.
    location: String,
    backend: Backend,
}

impl std::ops::Deref for TestStore {
    type Target = dyn Store;

    fn deref(&self) -> &Self::Target {
        &*self.store
    }
}

impl TestStore {
    fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres { .. })
    }

    /// Another handle on the same store, for spawned tasks.
    fn handle(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Closes the store and opens the same database again.
    async fn reopen(&mut self) {
        self.store.close().await;
        self.store = open_store(&self.location).await;
    }

    /// Closes the store and removes the database. Call at the end of every
    /// test; a test that panics before this leaks its PostgreSQL database.
    async fn finish(self) {
        self.store.close().await;
        match self.backend {
            Backend::Sqlite { dir } => drop(dir),
            Backend::Postgres { admin_url, database } => {
                let mut conn = pg_admin_connect(&admin_url).await;
                sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")))
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("dropping test database {database}: {e}"));
                conn.close().await.ok();
            }
        }
    }
}

/// A fresh store on the backend the environment selects (see the module docs).
async fn backend() -> TestStore {
    match std::env::var(PG_ENV) {
        Ok(url) if !url.trim().is_empty() => postgres_backend(url.trim()).await,
        Ok(_) | Err(std::env::VarError::NotPresent) => sqlite_backend().await,
        Err(e) => panic!("{PG_ENV} is not valid: {e}"),
    }
}

async fn sqlite_backend() -> TestStore {
    let dir = tempfile::tempdir().expect("creating a temporary directory");
    let path = dir.path().join("tocsin.db");
    let location = path.to_str().expect("temporary path is UTF-8").to_string();
    let store = open_store(&location).await;
    TestStore { store, location, backend: Backend::Sqlite { dir } }
}

async fn postgres_backend(admin_url: &str) -> TestStore {
    let database = format!("tocsin_t_{}", random_hex());
    let mut conn = pg_admin_connect(admin_url).await;
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("creating test database {database}: {e}"));
    conn.close().await.ok();
    let location = with_database(admin_url, &database);
    let store = open_store(&location).await;
    TestStore { store, location, backend: Backend::Postgres { admin_url: admin_url.to_string(), database } }
}

/// A plain connection to the server named by [`PG_ENV`]; panics (never skips)
/// when it cannot be reached. The URL is not printed, as it may hold a password.
async fn pg_admin_connect(admin_url: &str) -> sqlx::PgConnection {
    match tokio::time::timeout(PG_CONNECT_TIMEOUT, sqlx::PgConnection::connect(admin_url)).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => panic!("{PG_ENV} is set but the PostgreSQL server it names is unreachable: {e}"),
        Err(_) => {
            panic!("{PG_ENV} is set but connecting to the PostgreSQL server timed out after {PG_CONNECT_TIMEOUT:?}")
        }
    }
}

async fn open_store(location: &str) -> Arc<dyn Store> {
    tocsin_store::open(location).await.unwrap_or_else(|e| panic!("opening the store: {e}"))
}

/// `url` with its database name replaced by `database` (query string kept).
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..].find('/').map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// 16 random hex digits for unique database names.
fn random_hex() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("OS randomness");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ===========================================================================
// Fixtures
// ===========================================================================

/// The fixed instant `secs` seconds after the suite's epoch
/// (2026-03-01T12:00:00.123456Z; the microseconds check precision).
fn t(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).single().unwrap()
        + Duration::microseconds(123_456)
        + Duration::seconds(secs)
}

const KEY_API_PD: &str = "pd-key-api-7f3a";
const KEY_API_AM: &str = "am-key-api-91bc";
const KEY_DB: &str = "gen-key-db-0d4e";
const KEY_WEB: &str = "prom-key-web-55aa";

const CONFIG_ACTOR: &str = "config:test";

fn team(id: &str, name: &str) -> Team {
    Team { id: id.into(), name: name.into(), members: Vec::new() }
}

fn service(id: &str, name: &str, description: Option<&str>, team: Option<&str>) -> Service {
    Service {
        id: id.into(),
        name: name.into(),
        description: description.map(Into::into),
        team: team.map(Into::into),
        ..Default::default()
    }
}

fn integration(id: &str, service_id: &str, kind: IntegrationKind, key: &str) -> IntegrationSpec {
    IntegrationSpec { id: id.into(), service_id: service_id.into(), kind, key: key.into() }
}

/// Three services with four integrations among them.
fn catalog_v1() -> Catalog {
    Catalog {
        teams: vec![team("ops", "Operations")],
        users: vec![User {
            id: "alice".into(),
            name: "Alice".into(),
            email: "alice@example.com".into(),
            ..Default::default()
        }],
        services: vec![
            service("svc-api", "API", Some("Public HTTP API"), Some("ops")),
            service("svc-db", "Database", None, Some("ops")),
            service("svc-web", "Web", None, None),
        ],
        integrations: vec![
            integration("int-api-pd", "svc-api", IntegrationKind::Pagerduty, KEY_API_PD),
            integration("int-api-am", "svc-api", IntegrationKind::Alertmanager, KEY_API_AM),
            integration("int-db", "svc-db", IntegrationKind::Generic, KEY_DB),
            integration("int-web", "svc-web", IntegrationKind::Prometheus, KEY_WEB),
        ],
        ..Default::default()
    }
}

/// `catalog_v1` without `svc-web` (and its integration), and with the
/// PagerDuty key of `svc-api` moved to a new integration id.
fn catalog_v2() -> Catalog {
    Catalog {
        services: vec![
            service("svc-api", "API", Some("Public HTTP API"), Some("ops")),
            service("svc-db", "Database", None, Some("ops")),
        ],
        integrations: vec![
            integration("int-api-events", "svc-api", IntegrationKind::Generic, KEY_API_PD),
            integration("int-api-am", "svc-api", IntegrationKind::Alertmanager, KEY_API_AM),
            integration("int-db", "svc-db", IntegrationKind::Generic, KEY_DB),
        ],
        ..catalog_v1()
    }
}

/// Integrations of `catalog_v1`, resolved from their keys.
struct Fixture {
    /// `int-api-pd` on `svc-api`.
    api: IntegrationRef,
    /// `int-api-am` on `svc-api`.
    api_am: IntegrationRef,
    /// `int-db` on `svc-db`.
    db: IntegrationRef,
}

/// A fresh store with `catalog_v1` applied at `t(-3600)`.
async fn with_catalog() -> (TestStore, Fixture) {
    let ts = backend().await;
    ts.apply_catalog(&catalog_v1(), CONFIG_ACTOR, t(-3600)).await.unwrap();
    let fixture = Fixture {
        api: resolve_key(&ts, KEY_API_PD).await,
        api_am: resolve_key(&ts, KEY_API_AM).await,
        db: resolve_key(&ts, KEY_DB).await,
    };
    (ts, fixture)
}

/// The integration a key opens; panics if it opens none.
async fn resolve_key(store: &TestStore, key: &str) -> IntegrationRef {
    store.find_integration(&hash_secret(key)).await.unwrap().unwrap_or_else(|| panic!("key {key} resolves to nothing"))
}

// --- events ---

/// An event with fixed, recognisable content.
fn event(action: EventAction, key: &str, summary: &str) -> Event {
    Event {
        action,
        dedup_key: key.into(),
        summary: summary.into(),
        severity: Severity::Error,
        source: Some("host-1".into()),
        labels: BTreeMap::from([("env".to_string(), "prod".to_string())]),
        details: json!({"mount": "/var", "used_pct": 91}),
        links: vec![Link { href: "https://runbooks.example/disk".into(), text: Some("runbook".into()) }],
        occurred_at: None,
        expires_at: None,
    }
}

fn trigger(key: &str, summary: &str) -> Event {
    event(EventAction::Trigger, key, summary)
}

fn ack(key: &str) -> Event {
    event(EventAction::Acknowledge, key, "")
}

fn resolve(key: &str) -> Event {
    event(EventAction::Resolve, key, "")
}

/// A trigger that expires at `expires_at` unless re-sent.
fn expiring(key: &str, expires_at: DateTime<Utc>) -> Event {
    Event { expires_at: Some(expires_at), ..trigger(key, "expiring alert") }
}

/// Ingests one batch and returns its outcomes.
async fn ingest(
    store: &TestStore,
    origin: &IntegrationRef,
    events: Vec<Event>,
    at: DateTime<Utc>,
) -> Vec<IngestOutcome> {
    store
        .ingest(IngestBatch { origin: origin.clone(), events, received_at: at, noise: Default::default() })
        .await
        .unwrap()
}

/// Ingests a single event and returns its outcome.
async fn ingest_one(store: &TestStore, origin: &IntegrationRef, event: Event, at: DateTime<Utc>) -> IngestOutcome {
    let mut outcomes = ingest(store, origin, vec![event], at).await;
    assert_eq!(outcomes.len(), 1, "one outcome per event");
    outcomes.remove(0)
}

/// Opens an alert for `key` and returns `(alert_id, incident_id)`.
async fn open(store: &TestStore, origin: &IntegrationRef, key: &str, at: DateTime<Utc>) -> (i64, i64) {
    let outcome = ingest_one(store, origin, trigger(key, &format!("{key} is failing")), at).await;
    assert_eq!(outcome.effect, "opened", "{outcome:?}");
    (outcome.alert_id.unwrap(), outcome.incident_id.unwrap())
}

fn outcome(key: &str, effect: &'static str, alert_id: Option<i64>, incident_id: Option<i64>) -> IngestOutcome {
    IngestOutcome { dedup_key: key.into(), effect, alert_id, incident_id }
}

// --- reading back ---

async fn alert(store: &TestStore, id: i64) -> Alert {
    store.get_alert(id).await.unwrap().unwrap_or_else(|| panic!("alert {id} not found"))
}

async fn incident(store: &TestStore, id: i64) -> Incident {
    store.get_incident(id).await.unwrap().unwrap_or_else(|| panic!("incident {id} not found"))
}

async fn timeline_kinds(store: &TestStore, incident_id: i64) -> Vec<String> {
    store.incident_timeline(incident_id).await.unwrap().into_iter().map(|e| e.kind).collect()
}

async fn incident_ids(store: &TestStore, filter: IncidentFilter) -> Vec<i64> {
    let page = store.list_incidents(&filter).await.unwrap();
    assert_eq!(page.next_cursor, None, "expected a single page for {filter:?}");
    page.items.into_iter().map(|i| i.id).collect()
}

async fn alert_ids(store: &TestStore, filter: AlertFilter) -> Vec<i64> {
    let page = store.list_alerts(&filter).await.unwrap();
    assert_eq!(page.next_cursor, None, "expected a single page for {filter:?}");
    page.items.into_iter().map(|a| a.id).collect()
}

async fn audit_entries(store: &TestStore) -> Vec<AuditEntry> {
    store.audit_log(0, 500).await.unwrap()
}

async fn audit_with_action(store: &TestStore, action: &str) -> Vec<AuditEntry> {
    audit_entries(store).await.into_iter().filter(|e| e.record.action == action).collect()
}

/// Asserts the entries form unbroken hash chains from [`GENESIS`], one per
/// shard (writers on several nodes append to different shards at once).
fn assert_chain(entries: &[AuditEntry]) {
    assert!(!entries.is_empty(), "audit log is empty");
    for pair in entries.windows(2) {
        assert!(pair[1].id > pair[0].id, "audit ids must increase: {} then {}", pair[0].id, pair[1].id);
    }
    let shards: std::collections::BTreeSet<i32> = entries.iter().map(|e| e.shard).collect();
    for shard in shards {
        let chain: Vec<&AuditEntry> = entries.iter().filter(|e| e.shard == shard).collect();
        assert_eq!(chain[0].prev_hash, GENESIS, "shard {shard}: first entry must follow the genesis hash");
        for pair in chain.windows(2) {
            assert_eq!(pair[1].prev_hash, pair[0].hash, "entry {} does not follow entry {}", pair[1].id, pair[0].id);
        }
        assert_eq!(audit::verify(chain.iter().map(|e| (&e.record, e.hash.as_str()))), Ok(()), "shard {shard}");
    }
}

/// Asserts the store's own check finds every chain and head intact, having
/// checked `entries` entries in all.
async fn assert_verifies(store: &TestStore, entries: usize) {
    let v = store.verify_audit().await.unwrap();
    assert_eq!(v.first_break(), None, "{v:?}");
    assert_eq!(v.shards.len(), 16, "every shard is checked");
    assert_eq!(v.shards.iter().map(|s| s.checked).sum::<u64>(), entries as u64, "{v:?}");
}

fn assert_invalid_transition<T: std::fmt::Debug>(result: Result<T, StoreError>, action: &str, from: &str) {
    match result {
        Err(StoreError::Domain(CoreError::InvalidTransition { action: a, from: f })) if a == action && f == from => {}
        other => panic!("expected InvalidTransition {{ {action}, {from} }}, got {other:?}"),
    }
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(matches!(result, Err(StoreError::NotFound)), "expected NotFound, got {result:?}");
}

// ===========================================================================
// 1. Catalog
// ===========================================================================

fn view(id: &str, kind: IntegrationKind, key: &str) -> IntegrationView {
    IntegrationView { id: id.into(), kind, key_hint: format!("…{}", &key[key.len() - 4..]) }
}

fn api_view(integrations: Vec<IntegrationView>, open_incidents: i64) -> ServiceView {
    ServiceView {
        id: "svc-api".into(),
        name: "API".into(),
        description: Some("Public HTTP API".into()),
        team: Some("ops".into()),
        integrations,
        open_incidents,
    }
}

fn db_view(open_incidents: i64) -> ServiceView {
    ServiceView {
        id: "svc-db".into(),
        name: "Database".into(),
        description: None,
        team: Some("ops".into()),
        integrations: vec![view("int-db", IntegrationKind::Generic, KEY_DB)],
        open_incidents,
    }
}

fn web_view() -> ServiceView {
    ServiceView {
        id: "svc-web".into(),
        name: "Web".into(),
        description: None,
        team: None,
        integrations: vec![view("int-web", IntegrationKind::Prometheus, KEY_WEB)],
        open_incidents: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_apply_lists_services_and_resolves_keys() {
    let ts = backend().await;
    let changes = ts.apply_catalog(&catalog_v1(), CONFIG_ACTOR, t(0)).await.unwrap();
    assert_eq!(
        changes,
        CatalogChanges {
            teams: 1,
            users: 1,
            services: 3,
            integrations: 4,
            services_inactive: 0,
            integrations_disabled: 0
        }
    );

    let api_integrations = vec![
        view("int-api-am", IntegrationKind::Alertmanager, KEY_API_AM),
        view("int-api-pd", IntegrationKind::Pagerduty, KEY_API_PD),
    ];
    assert_eq!(api_integrations[1].key_hint, "…7f3a");
    assert_eq!(ts.list_services().await.unwrap(), vec![api_view(api_integrations.clone(), 0), db_view(0), web_view()]);
    assert_eq!(ts.get_service("svc-db").await.unwrap(), Some(db_view(0)));
    assert_eq!(ts.get_service("svc-nope").await.unwrap(), None);

    // Keys are looked up by hash only; the key itself opens nothing.
    assert_eq!(
        ts.find_integration(&hash_secret(KEY_API_PD)).await.unwrap(),
        Some(IntegrationRef {
            id: "int-api-pd".into(),
            service_id: "svc-api".into(),
            kind: IntegrationKind::Pagerduty,
            route: None
        })
    );
    assert_eq!(
        ts.find_integration(&hash_secret(KEY_WEB)).await.unwrap(),
        Some(IntegrationRef {
            id: "int-web".into(),
            service_id: "svc-web".into(),
            kind: IntegrationKind::Prometheus,
            route: None
        })
    );
    assert_eq!(ts.find_integration(KEY_API_PD).await.unwrap(), None);
    assert_eq!(ts.find_integration(&hash_secret("no-such-key")).await.unwrap(), None);

    // Open incidents are counted per service.
    let db = resolve_key(&ts, KEY_DB).await;
    open(&ts, &db, "db-down", t(1)).await;
    assert_eq!(ts.get_service("svc-db").await.unwrap(), Some(db_view(1)));

    // Nothing in the service listing reveals a key.
    let listing = serde_json::to_string(&ts.list_services().await.unwrap()).unwrap();
    for key in [KEY_API_PD, KEY_API_AM, KEY_DB, KEY_WEB] {
        assert!(!listing.contains(key), "listing reveals {key}");
        assert!(!listing.contains(&hash_secret(key)), "listing reveals the hash of {key}");
    }

    ts.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_reapply_deactivates_removed_and_moves_keys() {
    let ts = backend().await;
    let v1 = ts.apply_catalog(&catalog_v1(), CONFIG_ACTOR, t(0)).await.unwrap();
    let v2 = ts.apply_catalog(&catalog_v2(), CONFIG_ACTOR, t(10)).await.unwrap();
    // int-web is disabled; int-api-pd gave its key away and is gone.
    assert_eq!(
        v2,
        CatalogChanges {
            teams: 1,
            users: 1,
            services: 2,
            integrations: 3,
            services_inactive: 1,
            integrations_disabled: 1
        }
    );

    let api_integrations = vec![
        view("int-api-am", IntegrationKind::Alertmanager, KEY_API_AM),
        view("int-api-events", IntegrationKind::Generic, KEY_API_PD),
    ];
    assert_eq!(ts.list_services().await.unwrap(), vec![api_view(api_integrations, 0), db_view(0)]);
    assert_eq!(ts.get_service("svc-web").await.unwrap(), None);
    assert_eq!(ts.find_integration(&hash_secret(KEY_WEB)).await.unwrap(), None, "removed service's key still opens");
    assert_eq!(
        ts.find_integration(&hash_secret(KEY_API_PD)).await.unwrap(),
        Some(IntegrationRef {
            id: "int-api-events".into(),
            service_id: "svc-api".into(),
            kind: IntegrationKind::Generic,
            route: None
        }),
        "a moved key resolves to its new integration"
    );

    // Declaring v1 again brings the service back and moves the key home.
    let v3 = ts.apply_catalog(&catalog_v1(), CONFIG_ACTOR, t(20)).await.unwrap();
    assert_eq!(v3, v1);
    assert_eq!(ts.get_service("svc-web").await.unwrap(), Some(web_view()));
    assert_eq!(resolve_key(&ts, KEY_WEB).await.id, "int-web");
    assert_eq!(resolve_key(&ts, KEY_API_PD).await.id, "int-api-pd");

    // Every apply is audited with its counts.
    let applies = audit_with_action(&ts, "config.apply").await;
    let got: Vec<_> = applies
        .iter()
        .map(|e| (e.record.at, e.record.actor.as_str(), e.record.target.as_str(), &e.record.details))
        .collect();
    let (d1, d2, d3) =
        (serde_json::to_value(&v1).unwrap(), serde_json::to_value(&v2).unwrap(), serde_json::to_value(&v3).unwrap());
    assert_eq!(
        got,
        vec![
            (t(0), CONFIG_ACTOR, "catalog", &d1),
            (t(10), CONFIG_ACTOR, "catalog", &d2),
            (t(20), CONFIG_ACTOR, "catalog", &d3)
        ]
    );

    ts.finish().await;
}

// ===========================================================================
// 2. Dedup
// ===========================================================================

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_opens_alert_and_incident_then_repeats() {
    let (ts, fx) = with_catalog().await;

    let first = ingest_one(&ts, &fx.api, trigger("disk-full", "Disk /var 91% full"), t(0)).await;
    assert_eq!(first.effect, "opened");
    assert_eq!(first.dedup_key, "disk-full");
    let (alert_id, incident_id) = (first.alert_id.unwrap(), first.incident_id.unwrap());

    let opened = Alert {
        id: alert_id,
        service_id: "svc-api".into(),
        integration_id: "int-api-pd".into(),
        kind: IntegrationKind::Pagerduty,
        dedup_key: "disk-full".into(),
        status: AlertStatus::Triggered,
        summary: "Disk /var 91% full".into(),
        severity: Severity::Error,
        source: Some("host-1".into()),
        labels: BTreeMap::from([("env".to_string(), "prod".to_string())]),
        details: json!({"mount": "/var", "used_pct": 91}),
        links: vec![Link { href: "https://runbooks.example/disk".into(), text: Some("runbook".into()) }],
        first_seen: t(0),
        last_seen: t(0),
        occurrences: 1,
        acknowledged_at: None,
        resolved_at: None,
        expires_at: None,
        incident_id: Some(incident_id),
        held_back: Vec::new(),
    };
    assert_eq!(alert(&ts, alert_id).await, opened);
    let expected_incident = Incident {
        id: incident_id,
        service_id: "svc-api".into(),
        title: "Disk /var 91% full".into(),
        severity: Severity::Error,
        status: IncidentStatus::Triggered,
        created_at: t(0),
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
        resolved_by: None,
        alert_count: 1,
        held_back: Vec::new(),
    };
    assert_eq!(incident(&ts, incident_id).await, expected_incident);
    assert_eq!(ts.incident_alerts(incident_id).await.unwrap(), vec![opened.clone()]);

    let timeline = ts.incident_timeline(incident_id).await.unwrap();
    assert_eq!(timeline.len(), 1);
    assert_eq!(
        (timeline[0].incident_id, timeline[0].at, timeline[0].kind.as_str(), timeline[0].actor.as_str()),
        (incident_id, t(0), "opened", "integration:int-api-pd")
    );
    assert_eq!(
        timeline[0].payload,
        json!({"alert_id": alert_id, "dedup_key": "disk-full", "summary": "Disk /var 91% full", "severity": "error", "integration": "int-api-pd"})
    );

    // The same key again: counted, content refreshed, first_seen kept.
    let repeat = Event {
        severity: Severity::Critical,
        details: json!({"mount": "/var", "used_pct": 97}),
        ..trigger("disk-full", "Disk /var 97% full")
    };
    assert_eq!(
        ingest_one(&ts, &fx.api, repeat, t(5)).await,
        outcome("disk-full", "repeated", Some(alert_id), Some(incident_id))
    );
    assert_eq!(
        alert(&ts, alert_id).await,
        Alert {
            summary: "Disk /var 97% full".into(),
            severity: Severity::Critical,
            details: json!({"mount": "/var", "used_pct": 97}),
            last_seen: t(5),
            occurrences: 2,
            ..opened.clone()
        }
    );
    assert_eq!(incident(&ts, incident_id).await, expected_incident, "a repeat leaves the incident alone");
    assert_eq!(timeline_kinds(&ts, incident_id).await, ["opened"]);

    // Dedup is per service, not per integration: another integration of
    // svc-api with the same key repeats the same alert.
    assert_eq!(
        ingest_one(&ts, &fx.api_am, trigger("disk-full", "Disk /var 98% full"), t(6)).await,
        outcome("disk-full", "repeated", Some(alert_id), Some(incident_id))
    );
    let after = alert(&ts, alert_id).await;
    assert_eq!((after.occurrences, after.first_seen, after.last_seen), (3, t(0), t(6)));

    // A different key opens a second incident.
    let (other_alert, other_incident) = open(&ts, &fx.api, "cpu-high", t(7)).await;
    assert_ne!(other_alert, alert_id);
    assert_ne!(other_incident, incident_id);

    // The same key on a different service is a different alert.
    let on_db = ingest_one(&ts, &fx.db, trigger("disk-full", "Disk /var 91% full"), t(8)).await;
    assert_eq!(on_db.effect, "opened");
    let (db_alert, db_incident) = (on_db.alert_id.unwrap(), on_db.incident_id.unwrap());
    assert_eq!(HashSet::from([alert_id, other_alert, db_alert]).len(), 3);
    assert_eq!(HashSet::from([incident_id, other_incident, db_incident]).len(), 3);
    assert_eq!(alert(&ts, db_alert).await.service_id, "svc-db");
    assert_eq!(alert(&ts, alert_id).await.occurrences, 3, "the svc-api alert is untouched");

    assert_eq!(ts.open_incident_count().await.unwrap(), 3);
    let open_counts: Vec<_> = ts.list_services().await.unwrap().into_iter().map(|s| (s.id, s.open_incidents)).collect();
    assert_eq!(open_counts, [("svc-api".to_string(), 2), ("svc-db".to_string(), 1), ("svc-web".to_string(), 0)]);

    ts.finish().await;
}

// ===========================================================================
// 3. Acknowledge and resolve by event
// ===========================================================================

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledge_and_resolve_events_follow_the_lifecycle() {
    let (ts, fx) = with_catalog().await;
    let (alert_id, incident_id) = open(&ts, &fx.api, "k", t(0)).await;

    assert_eq!(
        ingest_one(&ts, &fx.api, ack("k"), t(10)).await,
        outcome("k", "acknowledged", Some(alert_id), Some(incident_id))
    );
    let a = alert(&ts, alert_id).await;
    assert_eq!((a.status, a.acknowledged_at, a.resolved_at), (AlertStatus::Acknowledged, Some(t(10)), None));
    let i = incident(&ts, incident_id).await;
    assert_eq!(
        (i.status, i.acknowledged_at, i.acknowledged_by.as_deref()),
        (IncidentStatus::Acknowledged, Some(t(10)), Some("integration:int-api-pd"))
    );

    // A second ack changes nothing.
    assert_eq!(ingest_one(&ts, &fx.api, ack("k"), t(11)).await.effect, "ignored");
    assert_eq!(alert(&ts, alert_id).await.acknowledged_at, Some(t(10)));
    assert_eq!(incident(&ts, incident_id).await, i);

    // Ack and resolve for a key with no open alert are accepted and ignored.
    assert_eq!(ingest_one(&ts, &fx.api, ack("unknown"), t(12)).await, outcome("unknown", "ignored", None, None));
    assert_eq!(ingest_one(&ts, &fx.api, resolve("unknown"), t(12)).await, outcome("unknown", "ignored", None, None));
    assert_eq!(
        ts.list_alerts(&AlertFilter { dedup_key: Some("unknown".into()), ..Default::default() }).await.unwrap().items,
        []
    );

    assert_eq!(
        ingest_one(&ts, &fx.api, resolve("k"), t(20)).await,
        outcome("k", "resolved", Some(alert_id), Some(incident_id))
    );
    let a = alert(&ts, alert_id).await;
    assert_eq!((a.status, a.acknowledged_at, a.resolved_at), (AlertStatus::Resolved, Some(t(10)), Some(t(20))));
    assert_eq!(
        incident(&ts, incident_id).await,
        Incident {
            status: IncidentStatus::Resolved,
            resolved_at: Some(t(20)),
            resolved_by: Some("integration:int-api-pd".into()),
            ..i.clone()
        }
    );

    let timeline = ts.incident_timeline(incident_id).await.unwrap();
    let got: Vec<_> = timeline.iter().map(|e| (e.kind.as_str(), e.at, e.actor.as_str())).collect();
    let who = "integration:int-api-pd";
    assert_eq!(
        got,
        [
            ("opened", t(0), who),
            ("alert_acknowledged", t(10), who),
            ("acknowledged", t(10), who),
            ("alert_resolved", t(20), who),
            ("resolved", t(20), who)
        ]
    );
    assert_eq!(timeline[1].payload, json!({"alert_id": alert_id, "dedup_key": "k"}));
    assert_eq!(timeline[3].payload, json!({"alert_id": alert_id, "dedup_key": "k"}));
    assert_eq!(timeline[4].payload, json!({"reason": "all alerts resolved"}));
    assert!(timeline.windows(2).all(|w| w[0].id < w[1].id), "timeline ids increase");

    // Resolved is final for the alert: resolve again is ignored…
    assert_eq!(ingest_one(&ts, &fx.api, resolve("k"), t(21)).await, outcome("k", "ignored", None, None));
    // …and a new trigger opens a new alert and a new incident.
    let (alert2, incident2) = open(&ts, &fx.api, "k", t(30)).await;
    assert_ne!(alert2, alert_id);
    assert_ne!(incident2, incident_id);
    let a2 = alert(&ts, alert2).await;
    assert_eq!((a2.status, a2.occurrences, a2.first_seen), (AlertStatus::Triggered, 1, t(30)));
    assert_eq!(alert(&ts, alert_id).await.status, AlertStatus::Resolved);
    assert_eq!(incident(&ts, incident_id).await.status, IncidentStatus::Resolved);
    assert_eq!(
        alert_ids(&ts, AlertFilter { dedup_key: Some("k".into()), ..Default::default() }).await,
        [alert2, alert_id]
    );
    assert_eq!(ts.open_incident_count().await.unwrap(), 1);

    ts.finish().await;
}

// ===========================================================================
// 4. Order within a batch
// ===========================================================================

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_in_one_batch_apply_in_order() {
    let (ts, fx) = with_catalog().await;
    let outcomes = ingest(
        &ts,
        &fx.api,
        vec![trigger("flap", "flapping"), ack("other"), resolve("flap"), trigger("flap", "flapping")],
        t(0),
    )
    .await;
    let effects: Vec<_> = outcomes.iter().map(|o| (o.dedup_key.as_str(), o.effect)).collect();
    assert_eq!(effects, [("flap", "opened"), ("other", "ignored"), ("flap", "resolved"), ("flap", "opened")]);
    assert_eq!((outcomes[2].alert_id, outcomes[2].incident_id), (outcomes[0].alert_id, outcomes[0].incident_id));
    assert_ne!(outcomes[3].alert_id, outcomes[0].alert_id);
    assert_ne!(outcomes[3].incident_id, outcomes[0].incident_id);

    let (first, second) = (outcomes[0].alert_id.unwrap(), outcomes[3].alert_id.unwrap());
    assert_eq!(
        alert_ids(&ts, AlertFilter { dedup_key: Some("flap".into()), ..Default::default() }).await,
        [second, first]
    );
    assert_eq!(alert(&ts, first).await.status, AlertStatus::Resolved);
    assert_eq!(alert(&ts, second).await.status, AlertStatus::Triggered);
    assert_eq!(incident(&ts, outcomes[0].incident_id.unwrap()).await.status, IncidentStatus::Resolved);
    assert_eq!(ts.open_incident_count().await.unwrap(), 1);

    ts.finish().await;
}

// ===========================================================================
// 5. Manual transitions and notes
// ===========================================================================

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_acknowledge_resolve_and_notes() {
    let (ts, fx) = with_catalog().await;
    let (alert_id, incident_id) = open(&ts, &fx.api, "k1", t(0)).await;
    let opened = incident(&ts, incident_id).await;

    let acked = ts.acknowledge_incident(incident_id, "user:alice", t(10)).await.unwrap();
    assert_eq!(
        acked,
        Incident {
            status: IncidentStatus::Acknowledged,
            acknowledged_at: Some(t(10)),
            acknowledged_by: Some("user:alice".into()),
            ..opened.clone()
        }
    );
    assert_eq!(incident(&ts, incident_id).await, acked);
    assert_invalid_transition(
        ts.acknowledge_incident(incident_id, "user:alice", t(11)).await,
        "acknowledge",
        "acknowledged",
    );

    let resolved = ts.resolve_incident(incident_id, "user:bob", t(20)).await.unwrap();
    assert_eq!(
        resolved,
        Incident {
            status: IncidentStatus::Resolved,
            resolved_at: Some(t(20)),
            resolved_by: Some("user:bob".into()),
            ..acked.clone()
        }
    );
    assert_eq!(incident(&ts, incident_id).await, resolved);
    // Its open alert is resolved with it.
    let a = alert(&ts, alert_id).await;
    assert_eq!((a.status, a.resolved_at), (AlertStatus::Resolved, Some(t(20))));

    // Refused transitions change nothing and write nothing.
    let audit_before = audit_entries(&ts).await.len();
    assert_invalid_transition(
        ts.acknowledge_incident(incident_id, "user:alice", t(21)).await,
        "acknowledge",
        "resolved",
    );
    assert_invalid_transition(ts.resolve_incident(incident_id, "user:alice", t(21)).await, "resolve", "resolved");
    assert_eq!(incident(&ts, incident_id).await, resolved);
    assert_eq!(audit_entries(&ts).await.len(), audit_before);

    let timeline = ts.incident_timeline(incident_id).await.unwrap();
    let got: Vec<_> = timeline.iter().map(|e| (e.kind.as_str(), e.at, e.actor.as_str(), e.payload.clone())).collect();
    assert_eq!(
        got,
        [
            ("opened", t(0), "integration:int-api-pd", timeline[0].payload.clone()),
            ("acknowledged", t(10), "user:alice", json!({})),
            ("resolved", t(20), "user:bob", json!({"reason": "resolved by hand"})),
        ]
    );

    // The alert is closed: its key opens a new incident.
    assert_eq!(ingest_one(&ts, &fx.api, resolve("k1"), t(22)).await, outcome("k1", "ignored", None, None));
    let (_, reopened) = open(&ts, &fx.api, "k1", t(23)).await;
    assert_ne!(reopened, incident_id);

    // A triggered incident resolves directly, with its acknowledged alert.
    let (alert2, incident2) = open(&ts, &fx.db, "k2", t(30)).await;
    ingest_one(&ts, &fx.db, ack("k2"), t(31)).await;
    let i2 = ts.resolve_incident(incident2, "user:alice", t(32)).await.unwrap();
    assert_eq!(
        (i2.status, i2.resolved_at, i2.resolved_by.as_deref()),
        (IncidentStatus::Resolved, Some(t(32)), Some("user:alice"))
    );
    let a2 = alert(&ts, alert2).await;
    assert_eq!((a2.status, a2.resolved_at), (AlertStatus::Resolved, Some(t(32))));
    assert_eq!(
        alert_ids(&ts, AlertFilter { status: Some(AlertStatus::Resolved), ..Default::default() }).await,
        [alert2, alert_id]
    );

    // Notes land on the timeline, on open and resolved incidents alike.
    let note = ts.add_note(incident_id, "user:alice", "rolled back v1.2.3", t(40)).await.unwrap();
    assert_eq!(
        (note.incident_id, note.at, note.kind.as_str(), note.actor.as_str(), &note.payload),
        (incident_id, t(40), "note", "user:alice", &json!({"text": "rolled back v1.2.3"}))
    );
    assert_eq!(ts.incident_timeline(incident_id).await.unwrap().last(), Some(&note));
    let notes = audit_with_action(&ts, "incident.note").await;
    assert_eq!(notes.len(), 1);
    assert_eq!(
        (notes[0].record.at, notes[0].record.actor.as_str(), notes[0].record.target.clone(), &notes[0].record.details),
        (t(40), "user:alice", format!("incident:{incident_id}"), &json!({"timeline_id": note.id}))
    );

    // Unknown incidents.
    let missing = 9_999_999;
    assert_not_found(ts.acknowledge_incident(missing, "user:alice", t(50)).await);
    assert_not_found(ts.resolve_incident(missing, "user:alice", t(50)).await);
    assert_not_found(ts.add_note(missing, "user:alice", "hello", t(50)).await);
    assert_eq!(ts.get_incident(missing).await.unwrap(), None);
    assert_eq!(ts.get_alert(missing).await.unwrap(), None);
    assert_eq!(ts.incident_timeline(missing).await.unwrap(), []);
    assert_eq!(ts.incident_alerts(missing).await.unwrap(), []);

    ts.finish().await;
}

// ===========================================================================
// 6. Expiry
// ===========================================================================

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expire_alerts_resolves_only_what_expired() {
    let (ts, fx) = with_catalog().await;
    let (alert_a, incident_a) = {
        let o = ingest_one(&ts, &fx.api_am, expiring("exp-a", t(60)), t(0)).await;
        (o.alert_id.unwrap(), o.incident_id.unwrap())
    };
    let alert_b = ingest_one(&ts, &fx.api_am, expiring("exp-b", t(600)), t(0)).await.alert_id.unwrap();
    let alert_c = ingest_one(&ts, &fx.api_am, expiring("exp-c", t(60)), t(0)).await.alert_id.unwrap();
    let (alert_forever, _) = open(&ts, &fx.api_am, "no-expiry", t(0)).await;

    // A resend pushes exp-c's expiry out.
    assert_eq!(ingest_one(&ts, &fx.api_am, expiring("exp-c", t(300)), t(30)).await.effect, "repeated");
    assert_eq!(alert(&ts, alert_c).await.expires_at, Some(t(300)));

    // Nothing has expired yet.
    assert_eq!(ts.expire_alerts(t(59), 100).await.unwrap(), 0);

    assert_eq!(ts.expire_alerts(t(120), 100).await.unwrap(), 1);
    let a = alert(&ts, alert_a).await;
    assert_eq!((a.status, a.resolved_at), (AlertStatus::Resolved, Some(t(120))));
    let i = incident(&ts, incident_a).await;
    assert_eq!(
        (i.status, i.resolved_at, i.resolved_by.as_deref()),
        (IncidentStatus::Resolved, Some(t(120)), Some("integration:int-api-am"))
    );
    assert_eq!(timeline_kinds(&ts, incident_a).await, ["opened", "alert_resolved", "resolved"]);
    for id in [alert_b, alert_c, alert_forever] {
        assert_eq!(alert(&ts, id).await.status, AlertStatus::Triggered, "alert {id} must not expire at t(120)");
    }

    // Sweeping again finds nothing new.
    assert_eq!(ts.expire_alerts(t(120), 100).await.unwrap(), 0);

    // exp-c expires at its pushed-out time, exp-b later; `limit` caps a sweep.
    assert_eq!(ts.expire_alerts(t(301), 100).await.unwrap(), 1);
    assert_eq!(alert(&ts, alert_c).await.status, AlertStatus::Resolved);
    assert_eq!(alert(&ts, alert_b).await.status, AlertStatus::Triggered);
    let late = ingest_one(&ts, &fx.api_am, expiring("exp-d", t(700)), t(400)).await.alert_id.unwrap();
    assert_eq!(ts.expire_alerts(t(1000), 1).await.unwrap(), 1);
    assert_eq!(alert(&ts, alert_b).await.status, AlertStatus::Resolved, "the earliest expiry goes first");
    assert_eq!(alert(&ts, late).await.status, AlertStatus::Triggered);
    assert_eq!(ts.expire_alerts(t(1000), 1).await.unwrap(), 1);
    assert_eq!(alert(&ts, late).await.status, AlertStatus::Resolved);

    assert_eq!(ts.expire_alerts(t(1_000_000), 100).await.unwrap(), 0);
    assert_eq!(alert(&ts, alert_forever).await.status, AlertStatus::Triggered);
    assert_eq!(ts.open_incident_count().await.unwrap(), 1);

    ts.finish().await;
}

// ===========================================================================
// 7. Listing and pagination
// ===========================================================================

/// Follows `next_cursor` from the first page to the last; returns the ids
/// of every page.
async fn incident_pages(store: &TestStore, filter: IncidentFilter) -> Vec<Vec<i64>> {
    let mut pages = Vec::new();
    let mut filter = filter;
    loop {
        let page = store.list_incidents(&filter).await.unwrap();
        pages.push(page.items.iter().map(|i| i.id).collect());
        match page.next_cursor {
            Some(c) => filter.before_id = Some(cursor::decode(&c).unwrap_or_else(|| panic!("bad cursor {c:?}"))),
            None => return pages,
        }
        assert!(pages.len() <= 100, "pagination does not terminate");
    }
}

/// Like [`incident_pages`] for alerts.
async fn alert_pages(store: &TestStore, filter: AlertFilter) -> Vec<Vec<i64>> {
    let mut pages = Vec::new();
    let mut filter = filter;
    loop {
        let page = store.list_alerts(&filter).await.unwrap();
        pages.push(page.items.iter().map(|a| a.id).collect());
        match page.next_cursor {
            Some(c) => filter.before_id = Some(cursor::decode(&c).unwrap_or_else(|| panic!("bad cursor {c:?}"))),
            None => return pages,
        }
        assert!(pages.len() <= 100, "pagination does not terminate");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_paginates_newest_first_and_filters() {
    let (ts, fx) = with_catalog().await;
    // k0..k6 ten seconds apart; even ones on svc-api, odd ones on svc-db.
    let mut alerts = Vec::new();
    let mut incidents = Vec::new();
    for n in 0..7 {
        let origin = if n % 2 == 0 { &fx.api } else { &fx.db };
        let (a, i) = open(&ts, origin, &format!("k{n}"), t(10 * n)).await;
        alerts.push(a);
        incidents.push(i);
    }
    let newest_first = |ids: &[i64], pick: &[usize]| -> Vec<i64> { pick.iter().rev().map(|&n| ids[n]).collect() };
    let all: Vec<i64> = newest_first(&incidents, &[0, 1, 2, 3, 4, 5, 6]);
    assert!(all.windows(2).all(|w| w[0] > w[1]), "later incidents have larger ids");

    // First page: three newest, with a cursor.
    let first = ts.list_incidents(&IncidentFilter { limit: 3, ..Default::default() }).await.unwrap();
    assert_eq!(first.items.iter().map(|i| i.id).collect::<Vec<_>>(), all[..3]);
    assert_eq!(first.items.iter().map(|i| i.created_at).collect::<Vec<_>>(), [t(60), t(50), t(40)]);
    assert!(first.next_cursor.is_some());

    // Following cursors yields every incident exactly once.
    let pages = incident_pages(&ts, IncidentFilter { limit: 3, ..Default::default() }).await;
    assert_eq!(pages, [all[..3].to_vec(), all[3..6].to_vec(), all[6..].to_vec()]);
    // A page that is exactly full has no cursor; limit 0 means the default page size.
    assert_eq!(incident_pages(&ts, IncidentFilter { limit: 7, ..Default::default() }).await, vec![all.clone()]);
    assert_eq!(incident_pages(&ts, IncidentFilter { limit: 0, ..Default::default() }).await, vec![all.clone()]);

    // Status filter.
    ts.resolve_incident(incidents[2], "user:alice", t(100)).await.unwrap();
    ts.acknowledge_incident(incidents[3], "user:alice", t(100)).await.unwrap();
    let by_status = |status| IncidentFilter { statuses: vec![status], ..Default::default() };
    assert_eq!(
        incident_ids(&ts, by_status(IncidentStatus::Triggered)).await,
        newest_first(&incidents, &[0, 1, 4, 5, 6])
    );
    assert_eq!(incident_ids(&ts, by_status(IncidentStatus::Acknowledged)).await, [incidents[3]]);
    assert_eq!(incident_ids(&ts, by_status(IncidentStatus::Resolved)).await, [incidents[2]]);

    // Service filter, alone, with status, and paginated.
    let svc = |s: &str| IncidentFilter { service: Some(s.into()), ..Default::default() };
    assert_eq!(incident_ids(&ts, svc("svc-db")).await, newest_first(&incidents, &[1, 3, 5]));
    assert_eq!(
        incident_ids(&ts, IncidentFilter { statuses: vec![IncidentStatus::Triggered], ..svc("svc-api") }).await,
        newest_first(&incidents, &[0, 4, 6])
    );
    assert_eq!(
        incident_pages(&ts, IncidentFilter { limit: 2, ..svc("svc-api") }).await,
        [newest_first(&incidents, &[4, 6]), newest_first(&incidents, &[0, 2])]
    );
    assert_eq!(incident_ids(&ts, svc("svc-web")).await, Vec::<i64>::new());

    // Since: created at or after.
    let since = |at| IncidentFilter { since: Some(at), ..Default::default() };
    assert_eq!(incident_ids(&ts, since(t(35))).await, newest_first(&incidents, &[4, 5, 6]));
    assert_eq!(incident_ids(&ts, since(t(61))).await, Vec::<i64>::new());
    assert_eq!(
        incident_ids(&ts, IncidentFilter { since: Some(t(15)), ..svc("svc-db") }).await,
        newest_first(&incidents, &[3, 5])
    );

    // Alerts: pagination and filters.
    let all_alerts = newest_first(&alerts, &[0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(
        alert_pages(&ts, AlertFilter { limit: 3, ..Default::default() }).await,
        [all_alerts[..3].to_vec(), all_alerts[3..6].to_vec(), all_alerts[6..].to_vec()]
    );
    assert_eq!(alert_ids(&ts, AlertFilter { dedup_key: Some("k3".into()), ..Default::default() }).await, [alerts[3]]);
    assert_eq!(
        alert_ids(&ts, AlertFilter { dedup_key: Some("k9".into()), ..Default::default() }).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        alert_ids(&ts, AlertFilter { status: Some(AlertStatus::Resolved), ..Default::default() }).await,
        [alerts[2]]
    );
    assert_eq!(
        alert_ids(&ts, AlertFilter { status: Some(AlertStatus::Triggered), ..Default::default() }).await,
        newest_first(&alerts, &[0, 1, 3, 4, 5, 6]),
        "acknowledging an incident by hand leaves its alert triggered"
    );
    assert_eq!(
        alert_ids(&ts, AlertFilter { service: Some("svc-db".into()), ..Default::default() }).await,
        newest_first(&alerts, &[1, 3, 5])
    );
    // One service's alerts in several statuses (k2 resolved, the rest
    // triggered) come newest first across statuses, page by page.
    assert_eq!(
        alert_pages(&ts, AlertFilter { service: Some("svc-api".into()), limit: 2, ..Default::default() }).await,
        [newest_first(&alerts, &[4, 6]), newest_first(&alerts, &[0, 2])]
    );
    assert_eq!(
        alert_ids(
            &ts,
            AlertFilter { service: Some("svc-api".into()), status: Some(AlertStatus::Triggered), ..Default::default() }
        )
        .await,
        newest_first(&alerts, &[0, 4, 6])
    );
    assert_eq!(
        alert_ids(
            &ts,
            AlertFilter { service: Some("svc-api".into()), dedup_key: Some("k3".into()), ..Default::default() }
        )
        .await,
        Vec::<i64>::new()
    );

    ts.finish().await;
}

// ===========================================================================
// 8. API tokens
// ===========================================================================

fn new_token(name: &str, role: Role, user: &str, secret_hash: &str) -> NewToken {
    NewToken { name: name.into(), role, user_id: user.into(), secret_hash: secret_hash.into(), expires_at: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_create_authenticate_revoke() {
    let ts = backend().await;
    let ci_hash = hash_secret("tcs_ci_secret");
    let ci = ts.create_token(&new_token("ci", Role::Responder, "admin", &ci_hash), "user:admin", t(0)).await.unwrap();
    assert_eq!(
        ci,
        TokenInfo {
            id: ci.id,
            name: "ci".into(),
            role: Role::Responder,
            user_id: "admin".into(),
            created_at: t(0),
            created_by: "user:admin".into(),
            revoked_at: None,
            expires_at: None,
            last_used_at: None,
        }
    );
    let dash_hash = hash_secret("tcs_dashboard_secret");
    let dash =
        ts.create_token(&new_token("dashboard", Role::Viewer, "admin", &dash_hash), "user:admin", t(1)).await.unwrap();
    assert_ne!(dash.id, ci.id);

    // The built-in admin account exists from the first start.
    let auth = |token: &TokenInfo| Some(TokenAuth { token: token.clone(), user_role: Role::Admin });
    assert_eq!(ts.authenticate(&ci_hash, t(2)).await.unwrap(), auth(&ci));
    assert_eq!(ts.authenticate(&dash_hash, t(2)).await.unwrap(), auth(&dash));
    assert_eq!(ts.authenticate(&hash_secret("tcs_wrong"), t(2)).await.unwrap(), None);
    assert_eq!(ts.list_tokens(None).await.unwrap(), [ci.clone(), dash.clone()]);
    assert_eq!(ts.get_token(ci.id).await.unwrap(), Some(ci.clone()));
    assert_eq!(ts.active_token_count().await.unwrap(), 2);

    // A second token with the same secret is refused and leaves no trace.
    let dup = ts.create_token(&new_token("copy", Role::Admin, "admin", &ci_hash), "user:admin", t(2)).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "expected Conflict, got {dup:?}");
    assert_eq!(ts.list_tokens(None).await.unwrap(), [ci.clone(), dash.clone()]);

    assert!(ts.revoke_token(ci.id, "user:admin", t(10)).await.unwrap());
    assert!(!ts.revoke_token(ci.id, "user:admin", t(11)).await.unwrap(), "revoking twice");
    assert!(!ts.revoke_token(9_999_999, "user:admin", t(11)).await.unwrap(), "revoking an unknown id");
    assert_eq!(ts.authenticate(&ci_hash, t(11)).await.unwrap(), None);
    assert_eq!(ts.authenticate(&dash_hash, t(11)).await.unwrap(), auth(&dash));
    assert_eq!(
        ts.list_tokens(None).await.unwrap(),
        [TokenInfo { revoked_at: Some(t(10)), ..ci.clone() }, dash.clone()]
    );
    assert_eq!(ts.active_token_count().await.unwrap(), 1);

    // A revoked secret is not reusable either, and is found as revoked.
    assert_eq!(ts.token_by_secret(&ci_hash).await.unwrap(), Some(TokenInfo { revoked_at: Some(t(10)), ..ci.clone() }));
    assert_eq!(ts.token_by_secret(&dash_hash).await.unwrap(), Some(dash.clone()));
    assert_eq!(ts.token_by_secret(&hash_secret("tcs_wrong")).await.unwrap(), None);
    let reuse = ts.create_token(&new_token("again", Role::Viewer, "admin", &ci_hash), "user:admin", t(12)).await;
    assert!(matches!(reuse, Err(StoreError::Conflict(_))), "expected Conflict, got {reuse:?}");

    // Audit: two creations and one revocation, nothing for the refusals.
    let got: Vec<_> = audit_entries(&ts)
        .await
        .into_iter()
        .map(|e| (e.record.action, e.record.target, e.record.at, e.record.actor, e.record.details))
        .collect();
    let created = |name: &str, role: &str| json!({"name": name, "role": role, "user": "admin", "expires_at": null});
    assert_eq!(
        got,
        [
            ("token.create".into(), format!("token:{}", ci.id), t(0), "user:admin".into(), created("ci", "responder")),
            (
                "token.create".into(),
                format!("token:{}", dash.id),
                t(1),
                "user:admin".into(),
                created("dashboard", "viewer")
            ),
            ("token.revoke".into(), format!("token:{}", ci.id), t(10), "user:admin".into(), json!({})),
        ]
    );

    ts.finish().await;
}

/// Tokens act as their account: with its current role, only while config
/// declares it, only until they expire; use is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_belong_to_accounts() {
    let ts = backend().await;
    let mut catalog = catalog_v1();
    catalog.users[0].role = Role::Manager;
    catalog.teams[0].members = vec!["alice".into()];
    ts.apply_catalog(&catalog, CONFIG_ACTOR, t(0)).await.unwrap();

    let hash = hash_secret("tcs_alice");
    let token =
        ts.create_token(&new_token("laptop", Role::Responder, "alice", &hash), "user:alice", t(1)).await.unwrap();
    let expiring = NewToken { expires_at: Some(t(5)), ..new_token("ci", Role::Viewer, "alice", &hash_secret("tcs_e")) };
    let expiring = ts.create_token(&expiring, "user:admin", t(1)).await.unwrap();
    assert_eq!(expiring.expires_at, Some(t(5)));
    let admins = ts.create_token(&new_token("root", Role::Admin, "admin", &hash_secret("tcs_r")), "system", t(1)).await;
    let admins = admins.unwrap();

    let found = ts.authenticate(&hash, t(2)).await.unwrap().unwrap();
    assert_eq!((found.token.user_id.as_str(), found.user_role), ("alice", Role::Manager));
    assert!(ts.authenticate(&hash_secret("tcs_e"), t(4)).await.unwrap().is_some());
    assert_eq!(ts.authenticate(&hash_secret("tcs_e"), t(5)).await.unwrap(), None, "expired at expires_at");
    assert_eq!(ts.list_tokens(Some("alice")).await.unwrap(), [token.clone(), expiring.clone()]);
    assert_eq!(ts.list_tokens(Some("admin")).await.unwrap(), [admins]);

    // Use is recorded, and never moves back in time.
    ts.touch_token(token.id, t(3)).await.unwrap();
    ts.touch_token(token.id, t(2)).await.unwrap();
    assert_eq!(ts.get_token(token.id).await.unwrap().unwrap().last_used_at, Some(t(3)));

    // A role change in config applies to existing tokens at once.
    catalog.users[0].role = Role::Viewer;
    ts.apply_catalog(&catalog, CONFIG_ACTOR, t(6)).await.unwrap();
    assert_eq!(ts.authenticate(&hash, t(6)).await.unwrap().unwrap().user_role, Role::Viewer);

    // Removed from config: the account's tokens stop working; admin's do not.
    catalog.users.clear();
    catalog.teams[0].members.clear();
    ts.apply_catalog(&catalog, CONFIG_ACTOR, t(7)).await.unwrap();
    assert_eq!(ts.authenticate(&hash, t(7)).await.unwrap(), None);
    assert!(ts.authenticate(&hash_secret("tcs_r"), t(7)).await.unwrap().is_some());

    // Declared again: they work again (nothing was revoked).
    catalog.users = catalog_v1().users;
    ts.apply_catalog(&catalog, CONFIG_ACTOR, t(8)).await.unwrap();
    assert_eq!(ts.authenticate(&hash, t(8)).await.unwrap().unwrap().user_role, Role::Responder);

    ts.finish().await;
}

// ===========================================================================
// 9. Engine outbox
// ===========================================================================

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_leases_reclaims_and_completes() {
    let (ts, fx) = with_catalog().await;
    let signal = ts.work_signal();
    assert_eq!(ts.next_outbox_due(ALL).await.unwrap(), None);

    let (_, incident_id) = open(&ts, &fx.api, "k", t(0)).await;
    tokio::time::timeout(StdDuration::from_secs(5), signal.notified())
        .await
        .expect("the work signal fires after a commit that queued work");
    assert_eq!(ts.next_outbox_due(ALL).await.unwrap(), Some(t(0)));

    // Not due yet.
    assert_eq!(ts.claim_outbox("worker-a", ALL, t(-1), t(29), 10).await.unwrap(), []);

    let claimed = ts.claim_outbox("worker-a", ALL, t(1), t(31), 10).await.unwrap();
    let item = OutboxItem {
        id: claimed.first().map_or(0, |i| i.id),
        kind: WorkKind::IncidentOpened,
        payload: json!({"incident_id": incident_id}),
        due_at: t(0),
        attempts: 1,
        lane: "svc-api".into(),
        priority: INCIDENT_CHANGE,
    };
    assert_eq!(claimed, vec![item.clone()]);

    // Leased to A: B gets nothing until the lease runs out…
    assert_eq!(ts.claim_outbox("worker-b", ALL, t(10), t(40), 10).await.unwrap(), []);
    assert_eq!(ts.claim_outbox("worker-b", ALL, t(30), t(60), 10).await.unwrap(), []);
    // …then B takes it over.
    assert_eq!(
        ts.claim_outbox("worker-b", ALL, t(32), t(62), 10).await.unwrap(),
        [OutboxItem { attempts: 2, ..item.clone() }]
    );

    // A's late completion does nothing: the item is B's now.
    ts.complete_outbox(item.id, "worker-a", t(33)).await.unwrap();
    assert_eq!(ts.next_outbox_due(ALL).await.unwrap(), Some(t(62)), "claimable again when B's lease ends");
    assert_eq!(ts.claim_outbox("worker-a", ALL, t(34), t(64), 10).await.unwrap(), [], "still leased to B");

    ts.complete_outbox(item.id, "worker-b", t(35)).await.unwrap();
    assert_eq!(ts.next_outbox_due(ALL).await.unwrap(), None);
    assert_eq!(ts.claim_outbox("worker-c", ALL, t(100_000), t(100_030), 10).await.unwrap(), []);
    // Completing again is harmless.
    ts.complete_outbox(item.id, "worker-b", t(36)).await.unwrap();
    assert_eq!(ts.next_outbox_due(ALL).await.unwrap(), None);

    // `limit` caps a claim; items come oldest first.
    let (_, ix) = open(&ts, &fx.api, "x", t(100)).await;
    let (_, iy) = open(&ts, &fx.api, "y", t(101)).await;
    let (_, iz) = open(&ts, &fx.api, "z", t(102)).await;
    assert_eq!(ts.next_outbox_due(ALL).await.unwrap(), Some(t(100)));
    let payloads = |items: &[OutboxItem]| {
        items.iter().map(|i| (i.kind.to_string(), i.payload.clone(), i.due_at, i.attempts)).collect::<Vec<_>>()
    };
    let opened = |id: i64, at| ("incident.opened".to_string(), json!({"incident_id": id}), at, 1);
    let first = ts.claim_outbox("w", ALL, t(200), t(230), 2).await.unwrap();
    assert_eq!(payloads(&first), [opened(ix, t(100)), opened(iy, t(101))]);
    let rest = ts.claim_outbox("w", ALL, t(200), t(230), 2).await.unwrap();
    assert_eq!(payloads(&rest), [opened(iz, t(102))]);
    for item in first.iter().chain(&rest) {
        ts.complete_outbox(item.id, "w", t(201)).await.unwrap();
    }
    assert_eq!(ts.next_outbox_due(ALL).await.unwrap(), None);

    // Manual transitions queue their own work.
    ts.acknowledge_incident(iz, "user:alice", t(300)).await.unwrap();
    ts.resolve_incident(iz, "user:alice", t(301)).await.unwrap();
    let later = ts.claim_outbox("w", ALL, t(400), t(430), 10).await.unwrap();
    assert_eq!(
        payloads(&later),
        [
            ("incident.acknowledged".to_string(), json!({"incident_id": iz}), t(300), 1),
            ("incident.resolved".to_string(), json!({"incident_id": iz}), t(301), 1)
        ]
    );

    ts.finish().await;
}

/// A claim is shared between lanes (services, and contact methods for
/// bundles) round-robin, each lane taking its turns in priority order, so
/// one service's backlog never queues another's first page behind it.
/// Released items are claimable again at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_claims_take_turns_between_lanes() {
    let (ts, fx) = with_catalog().await;
    let mut storm = Vec::new();
    for i in 0..5 {
        storm.push(open(&ts, &fx.api, &format!("storm-{i}"), t(i)).await.1);
    }
    let (_, quiet) = open(&ts, &fx.db, "quiet", t(10)).await;
    ts.apply_step(&EngineStep {
        at: t(3),
        outbox: vec![
            NewWork::new(WorkKind::EscalationTimer, json!({"incident_id": quiet}), t(5), Lane::Incident(quiet)),
            NewWork::new(
                WorkKind::NotifyBundle,
                json!({"contact_method": "hook"}),
                t(1),
                Lane::ContactMethod("hook".into()),
            ),
        ],
        ..Default::default()
    })
    .await
    .unwrap();
    let summary = |items: &[OutboxItem]| {
        items.iter().map(|i| (i.kind.to_string(), i.lane.clone(), i.priority, i.due_at)).collect::<Vec<_>>()
    };
    let item = |kind: &str, lane: &str, priority, due| (kind.to_string(), lane.to_string(), priority, due);
    let opened = |lane, due| item("incident.opened", lane, INCIDENT_CHANGE, due);

    // First turn of every lane: the storm's oldest, the quiet service's new
    // incident (due after five of the storm's), the bundle.
    let first = ts.claim_outbox("w", ALL, t(20), t(80), 3).await.unwrap();
    assert_eq!(
        summary(&first),
        [
            opened("svc-api", t(0)),
            opened("svc-db", t(10)),
            item("notify.bundle", "contact_method:hook", FOLLOW_UP, t(1))
        ]
    );
    // Next turns: the storm's next, the quiet service's timer, and only
    // then the storm's third.
    let second = ts.claim_outbox("w", ALL, t(20), t(80), 3).await.unwrap();
    assert_eq!(
        summary(&second),
        [opened("svc-api", t(1)), item("escalation.timer", "svc-db", FOLLOW_UP, t(5)), opened("svc-api", t(2))]
    );

    // Released items (not started) are claimable again at once, and their
    // claim is not counted as an attempt; another worker cannot release them.
    ts.release_outbox(&[second[2].id], "someone-else").await.unwrap();
    ts.release_outbox(&[second[0].id, second[2].id], "w").await.unwrap();
    let third = ts.claim_outbox("v", ALL, t(21), t(81), 10).await.unwrap();
    assert_eq!(
        summary(&third),
        [opened("svc-api", t(1)), opened("svc-api", t(2)), opened("svc-api", t(3)), opened("svc-api", t(4))]
    );
    assert_eq!(third.iter().map(|i| i.attempts).collect::<Vec<_>>(), [1, 1, 1, 1]);
    assert_eq!(ts.claim_outbox("w", ALL, t(22), t(82), 10).await.unwrap(), [], "everything is leased");

    // A notification due as it is queued goes before other work of its
    // lane; a later one follows up.
    drain_outbox(&ts).await;
    ts.apply_step(&EngineStep {
        at: t(30),
        notifications: vec![
            new_notification(quiet, "alice", "hook", 0, t(30)),
            new_notification(quiet, "alice", "email", 0, t(90)),
        ],
        ..Default::default()
    })
    .await
    .unwrap();
    let sends = ts.claim_outbox("w", ALL, t(90), t(150), 10).await.unwrap();
    assert_eq!(
        sends.iter().map(|i| (i.kind.as_str(), i.lane.as_str(), i.priority)).collect::<Vec<_>>(),
        [("notify.send", "svc-db", DELIVER_NOW), ("notify.send", "svc-db", FOLLOW_UP)]
    );

    // However many lanes have work, each gets its turn.
    drain_outbox(&ts).await;
    let bundles: Vec<NewWork> = (0..250)
        .map(|i| {
            let method = format!("m{i:03}");
            NewWork::new(WorkKind::NotifyBundle, json!({"contact_method": method}), t(100), Lane::ContactMethod(method))
        })
        .collect();
    ts.apply_step(&EngineStep { at: t(100), outbox: bundles, ..Default::default() }).await.unwrap();
    let all = ts.claim_outbox("w", ALL, t(100), t(160), 300).await.unwrap();
    let lanes: HashSet<&str> = all.iter().map(|i| i.lane.as_str()).collect();
    assert_eq!((all.len(), lanes.len()), (250, 250));
    ts.finish().await;
}

/// `next_outbox_due` exists so the engine can sleep until work is due
/// (`Engine::sleep_for`). Work leased to another worker cannot be claimed
/// before its lease runs out, so the next due time must not be earlier than
/// that; otherwise every other node spins without sleeping for the length of
/// the lease (60 s by default) whenever one node dies holding a lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_next_due_waits_for_leases() {
    let (ts, fx) = with_catalog().await;
    open(&ts, &fx.api, "k", t(0)).await;
    assert_eq!(ts.claim_outbox("worker-a", ALL, t(1), t(61), 10).await.unwrap().len(), 1);
    assert_eq!(ts.claim_outbox("worker-b", ALL, t(2), t(62), 10).await.unwrap(), []);
    let due = ts.next_outbox_due(ALL).await.unwrap();
    assert_eq!(due, Some(t(61)), "the only unfinished item is leased until t(61), so nothing is claimable before then");
    ts.finish().await;
}

/// Runs `sql` on a connection of its own, as another version of Tocsin
/// sharing the database would.
async fn execute_elsewhere(ts: &TestStore, sql: String) {
    if ts.is_postgres() {
        let mut conn = sqlx::PgConnection::connect(&ts.location).await.unwrap();
        sqlx::query(AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
        conn.close().await.ok();
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", ts.location)).await.unwrap();
        sqlx::query(AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
        conn.close().await.ok();
    }
}

/// Work of a kind this version does not know (queued by a newer one during
/// a rolling upgrade) is neither claimed nor completed, and does not hold
/// back known work behind it in its lane; a node that knows only some kinds
/// likewise leaves the others, untouched, for nodes that know them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_leaves_unknown_kinds_for_a_node_that_knows_them() {
    let (ts, fx) = with_catalog().await;
    let mut newer = Vec::new();
    for i in 0..5 {
        newer.push(open(&ts, &fx.api, &format!("newer-{i}"), t(i)).await.1);
    }
    let (_, known) = open(&ts, &fx.api, "known", t(10)).await;
    // The oldest work of the lane, of the same priority, is of a kind only a
    // newer version knows.
    let ids: Vec<String> = newer.iter().map(|id| format!("'{{\"incident_id\":{id}}}'")).collect();
    execute_elsewhere(
        &ts,
        format!("UPDATE outbox SET kind = 'incident.snoozed' WHERE payload IN ({})", ids.join(", ")),
    )
    .await;

    let claimed = ts.claim_outbox("old", ALL, t(20), t(80), 1).await.unwrap();
    assert_eq!(outbox_summary(&claimed), [("incident.opened".to_string(), json!({"incident_id": known}), t(10), 1)]);
    ts.complete_outbox(claimed[0].id, "old", t(21)).await.unwrap();
    assert_eq!(ts.claim_outbox("old", ALL, t(22), t(82), 10).await.unwrap(), []);
    assert_eq!(ts.next_outbox_due(ALL).await.unwrap(), None, "nothing this version can do");
    assert_eq!(ts.dead_letter_count().await.unwrap(), 0);

    // A node that knows only acknowledgements takes one behind an open.
    let (_, opened) = open(&ts, &fx.db, "opened", t(30)).await;
    ts.acknowledge_incident(opened, "user:alice", t(31)).await.unwrap();
    let acks = ts.claim_outbox("acks", &[WorkKind::IncidentAcknowledged], t(40), t(100), 10).await.unwrap();
    assert_eq!(
        outbox_summary(&acks),
        [("incident.acknowledged".to_string(), json!({"incident_id": opened}), t(31), 1)]
    );
    assert_eq!(ts.next_outbox_due(&[WorkKind::IncidentAcknowledged]).await.unwrap(), Some(t(100)), "its lease");
    assert_eq!(ts.claim_outbox("none", &[], t(40), t(100), 10).await.unwrap(), [], "no kinds, no work");

    // The newer version's work is still there, never attempted.
    execute_elsewhere(&ts, "UPDATE outbox SET kind = 'incident.opened' WHERE kind = 'incident.snoozed'".into()).await;
    let all = ts.claim_outbox("new", ALL, t(41), t(101), 10).await.unwrap();
    let mut summary = outbox_summary(&all);
    summary.sort_by_key(|(_, _, due, _)| *due);
    let expected: Vec<_> = newer
        .iter()
        .zip(0..)
        .map(|(id, i)| ("incident.opened".to_string(), json!({"incident_id": id}), t(i), 1))
        .chain([("incident.opened".to_string(), json!({"incident_id": opened}), t(30), 1)])
        .collect();
    assert_eq!(summary, expected);
    ts.finish().await;
}

/// A failed attempt releases the lease and makes the item due again when
/// the engine says (its backoff), keeping its last error; a dead letter is
/// never claimed, listed newest first until someone puts it back (due now,
/// attempts reset, audited).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_failures_retry_later_then_dead_letters_wait_for_a_person() {
    let (ts, fx) = with_catalog().await;
    let (_, inc) = open(&ts, &fx.api, "fails", t(0)).await;
    let claimed = ts.claim_outbox("w", ALL, t(1), t(61), 10).await.unwrap();
    let id = claimed[0].id;

    ts.fail_outbox(id, "someone-else", "not theirs", Failed::RetryAt(t(2))).await.unwrap();
    assert_eq!(ts.next_outbox_due(ALL).await.unwrap(), Some(t(61)), "still leased to w");
    ts.fail_outbox(id, "w", "database said no", Failed::RetryAt(t(5))).await.unwrap();
    assert_eq!(ts.next_outbox_due(ALL).await.unwrap(), Some(t(5)), "lease released, due after its backoff");
    assert_eq!(ts.claim_outbox("w", ALL, t(4), t(64), 10).await.unwrap(), [], "not before");
    let again = ts.claim_outbox("v", ALL, t(5), t(65), 10).await.unwrap();
    assert_eq!(outbox_summary(&again), [("incident.opened".to_string(), json!({"incident_id": inc}), t(5), 2)]);

    ts.fail_outbox(id, "v", "still broken", Failed::DeadAt(t(6))).await.unwrap();
    assert_eq!(ts.next_outbox_due(ALL).await.unwrap(), None);
    assert_eq!(ts.claim_outbox("w", ALL, t(100_000), t(100_060), 10).await.unwrap(), []);
    ts.complete_outbox(id, "v", t(7)).await.unwrap();
    ts.fail_outbox(id, "v", "again", Failed::RetryAt(t(8))).await.unwrap();
    let dead = DeadLetter {
        id,
        kind: "incident.opened".into(),
        lane: "svc-api".into(),
        payload: json!({"incident_id": inc}),
        attempts: 2,
        last_error: Some("still broken".into()),
        created_at: t(0),
        dead_at: Some(t(6)),
    };
    assert_eq!(ts.dead_letters(None, 10).await.unwrap(), Page { items: vec![dead.clone()], next_cursor: None });
    assert_eq!(ts.dead_letter_count().await.unwrap(), 1);

    // Pages, newest first.
    let mut more = Vec::new();
    for i in 0..2 {
        open(&ts, &fx.db, &format!("more-{i}"), t(10 + i)).await;
        let item = ts.claim_outbox("w", ALL, t(20), t(80), 1).await.unwrap().remove(0);
        ts.fail_outbox(item.id, "w", &format!("broken {i}"), Failed::DeadAt(t(20 + i))).await.unwrap();
        more.push(item.id);
    }
    let first = ts.dead_letters(None, 2).await.unwrap();
    assert_eq!(first.items.iter().map(|d| d.id).collect::<Vec<_>>(), [more[1], more[0]]);
    let before = cursor::decode(first.next_cursor.as_deref().unwrap());
    let second = ts.dead_letters(before, 2).await.unwrap();
    assert_eq!((second.items, second.next_cursor), (vec![dead.clone()], None));

    // Put back: due now, no attempts, audited; only once.
    let audit_before = audit_entries(&ts).await;
    let back = ts.retry_dead_letter(id, "user:admin", t(200)).await.unwrap();
    assert_eq!(back, DeadLetter { attempts: 0, dead_at: None, ..dead });
    assert_eq!(ts.dead_letter_count().await.unwrap(), 2);
    assert_eq!(ts.next_outbox_due(ALL).await.unwrap(), Some(t(200)));
    assert_not_found(ts.retry_dead_letter(id, "user:admin", t(201)).await);
    assert_not_found(ts.retry_dead_letter(id + 1000, "user:admin", t(201)).await);
    let audit_after = audit_entries(&ts).await;
    assert_eq!(audit_after.len(), audit_before.len() + 1, "one audit entry");
    let entry = &audit_after.last().unwrap().record;
    assert_eq!(
        (entry.at, entry.actor.as_str(), entry.action.as_str(), entry.target.clone()),
        (t(200), "user:admin", "outbox.retry", format!("outbox:{id}"))
    );
    assert_chain(&audit_after);
    let claimed = ts.claim_outbox("w", ALL, t(200), t(260), 10).await.unwrap();
    assert_eq!(outbox_summary(&claimed), [("incident.opened".to_string(), json!({"incident_id": inc}), t(200), 1)]);
    ts.finish().await;
}

/// Items whose handlers had nothing to write are completed together: one
/// statement for a claim's worth, and only the claims the worker holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_completes_many_items_at_once() {
    let (ts, fx) = with_catalog().await;
    for i in 0..450 {
        ts.apply_step(&EngineStep {
            at: t(0),
            outbox: vec![NewWork::new(
                WorkKind::NotifyBundle,
                json!({"contact_method": format!("m{i}")}),
                t(0),
                Lane::ContactMethod(format!("m{}", i % 7)),
            )],
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let (_, inc) = open(&ts, &fx.api, "mine", t(0)).await;
    let mine = ts.claim_outbox("w", ALL, t(1), t(61), 1000).await.unwrap();
    assert_eq!(mine.len(), 451);
    let ids: Vec<i64> = mine.iter().map(|i| i.id).collect();

    let writes = ts.outbox_writes();
    assert_eq!(ts.complete_outbox_many(&ids, "someone-else", t(2)).await.unwrap(), 0, "not theirs");
    assert_eq!(ts.next_outbox_due(ALL).await.unwrap(), Some(t(61)));
    let writes_between = ts.outbox_writes();
    let done = ts.complete_outbox_many(&[ids.as_slice(), &[ids[0] + 100_000]].concat(), "w", t(3)).await.unwrap();
    assert_eq!(done, 451);
    assert_eq!(ts.outbox_writes() - writes_between, 1, "one transaction for all of them (a statement per 200 items)");
    assert!(writes_between > writes);
    assert_eq!(ts.next_outbox_due(ALL).await.unwrap(), None);
    assert_eq!(ts.complete_outbox_many(&ids, "w", t(4)).await.unwrap(), 0, "completing again changes nothing");
    assert_eq!(ts.complete_outbox_many(&[], "w", t(4)).await.unwrap(), 0);
    assert!(ts.incident_notifications(inc).await.unwrap().is_empty());
    ts.finish().await;
}

// ===========================================================================
// 10. Audit chain
// ===========================================================================

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_is_one_verified_hash_chain() {
    let (ts, fx) = with_catalog().await;
    open(&ts, &fx.api, "a", t(0)).await;
    ingest_one(&ts, &fx.api, ack("a"), t(1)).await;
    ingest_one(&ts, &fx.api, resolve("a"), t(2)).await;
    let (_, i) = open(&ts, &fx.db, "b", t(3)).await;
    ts.acknowledge_incident(i, "user:alice", t(4)).await.unwrap();
    ts.resolve_incident(i, "user:alice", t(5)).await.unwrap();
    assert_invalid_transition(ts.resolve_incident(i, "user:alice", t(6)).await, "resolve", "resolved");
    ts.add_note(i, "user:alice", "post-mortem scheduled", t(7)).await.unwrap();
    let token =
        ts.create_token(&new_token("ci", Role::Admin, "admin", &hash_secret("s")), "token:root", t(8)).await.unwrap();
    ts.revoke_token(token.id, "token:root", t(9)).await.unwrap();
    let change =
        ChangeEvent { summary: "deploy".into(), source: None, occurred_at: None, details: json!({}), links: vec![] };
    ts.record_change(&fx.api, &change, t(10)).await.unwrap();
    ts.expire_alerts(t(11), 100).await.unwrap(); // nothing to expire: no entry

    let entries = audit_entries(&ts).await;
    assert_chain(&entries);
    let got: Vec<_> = entries.iter().map(|e| (e.record.action.as_str(), e.record.at)).collect();
    assert_eq!(
        got,
        [
            ("config.apply", t(-3600)),
            ("incident.open", t(0)),
            ("incident.acknowledge", t(1)),
            ("incident.resolve", t(2)),
            ("incident.open", t(3)),
            ("incident.acknowledge", t(4)),
            ("incident.resolve", t(5)),
            ("incident.note", t(7)),
            ("token.create", t(8)),
            ("token.revoke", t(9)),
            ("service.change", t(10)),
        ]
    );
    assert_eq!(entries[1].record.actor, "integration:int-api-pd");
    assert_eq!(entries[5].record.actor, "user:alice");

    // Reading in pages returns the same entries.
    assert_eq!(ts.audit_log(entries[3].id, 3).await.unwrap(), entries[4..7]);
    assert_eq!(ts.audit_log(entries[10].id, 500).await.unwrap(), []);
    // Newest first, in pages going back.
    let newest: Vec<_> = entries.iter().rev().cloned().collect();
    assert_eq!(ts.recent_audit(None, 3).await.unwrap(), newest[..3]);
    assert_eq!(ts.recent_audit(Some(entries[3].id), 500).await.unwrap(), newest[newest.len() - 3..]);

    // A forged record no longer verifies.
    let mut forged = entries.clone();
    forged[5].record.actor = "user:mallory".into();
    assert_eq!(audit::verify(forged.iter().map(|e| (&e.record, e.hash.as_str()))), Err(5));
    assert_verifies(&ts, entries.len()).await;

    ts.finish().await;
}

/// A plain connection to the test's database, for changing rows behind the
/// store's back.
async fn raw_sql(ts: &TestStore, statements: &[String]) {
    if ts.is_postgres() {
        let mut conn = sqlx::PgConnection::connect(&ts.location).await.unwrap();
        for s in statements {
            sqlx::query(AssertSqlSafe(s.clone())).execute(&mut conn).await.unwrap();
        }
        conn.close().await.unwrap();
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite:{}", ts.location)).await.unwrap();
        for s in statements {
            sqlx::query(AssertSqlSafe(s.clone())).execute(&mut conn).await.unwrap();
        }
        conn.close().await.unwrap();
    }
}

/// Tampering with the stored log is found and named: an edited entry (its
/// own hash), a deleted one (the next entry's link) and entries deleted from
/// the end (the head).
#[tokio::test]
async fn audit_verify_names_the_first_broken_link() {
    let (ts, fx) = with_catalog().await;
    for (n, key) in ["a", "b", "c", "d"].iter().enumerate() {
        open(&ts, &fx.api, key, t(i64::try_from(n).unwrap())).await;
    }
    let entries = audit_entries(&ts).await;
    assert_eq!(entries.len(), 5);
    assert!(entries.iter().all(|e| e.shard == 0), "one writer at a time uses the first shard");
    assert_verifies(&ts, 5).await;
    let id = |i: usize| entries[i].id;

    // Edited details: that entry's hash no longer follows from it.
    raw_sql(&ts, &[format!("UPDATE audit_log SET details = '{{\"forged\":true}}' WHERE id = {}", id(2))]).await;
    let v = ts.verify_audit().await.unwrap();
    let (shard, b) = v.first_break().unwrap();
    assert_eq!((shard, b.id, b.field, b.found.as_str()), (0, Some(id(2)), "hash", entries[2].hash.as_str()));
    assert_eq!(v.shards[0].checked, 2, "the entries before the break checked out");

    // Put it back, then delete an entry: the next one's link is broken.
    let details = entries[2].record.details.to_string();
    raw_sql(
        &ts,
        &[
            format!("UPDATE audit_log SET details = '{details}' WHERE id = {}", id(2)),
            format!("DELETE FROM audit_log WHERE id = {}", id(1)),
        ],
    )
    .await;
    let v = ts.verify_audit().await.unwrap();
    let (_, b) = v.first_break().unwrap();
    assert_eq!((b.id, b.field), (Some(id(2)), "prev_hash"));
    assert_eq!((b.expected.as_str(), b.found.as_str()), (entries[0].hash.as_str(), entries[1].hash.as_str()));

    // Delete everything after the first entry: no link is left to break,
    // but the head still names the last entry there was.
    raw_sql(&ts, &[format!("DELETE FROM audit_log WHERE id >= {}", id(1))]).await;
    let v = ts.verify_audit().await.unwrap();
    let (_, b) = v.first_break().unwrap();
    assert_eq!((b.id, b.field), (None, "head"));
    assert_eq!((b.expected.as_str(), b.found.as_str()), (entries[0].hash.as_str(), entries[4].hash.as_str()));

    ts.finish().await;
}

// ===========================================================================
// 11. Group commit under concurrency
// ===========================================================================

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_ingest_of_distinct_keys() {
    let (ts, fx) = with_catalog().await;
    let tasks: Vec<_> = (0..50)
        .map(|n| {
            let (store, origin) = (ts.handle(), fx.api.clone());
            tokio::spawn(async move {
                store
                    .ingest(IngestBatch {
                        origin,
                        events: vec![trigger(&format!("key-{n}"), "load")],
                        received_at: t(n),
                        noise: Default::default(),
                    })
                    .await
            })
        })
        .collect();
    let mut incidents = HashSet::new();
    let mut alerts = HashSet::new();
    for (n, task) in tasks.into_iter().enumerate() {
        let outcomes = task.await.unwrap().unwrap();
        assert_eq!(outcomes.len(), 1);
        assert_eq!((outcomes[0].dedup_key.clone(), outcomes[0].effect), (format!("key-{n}"), "opened"));
        incidents.insert(outcomes[0].incident_id.unwrap());
        alerts.insert(outcomes[0].alert_id.unwrap());
    }
    assert_eq!(incidents.len(), 50, "every ingest got its own incident id");
    assert_eq!(alerts.len(), 50, "every ingest got its own alert id");
    let listed: HashSet<i64> = ts
        .list_incidents(&IncidentFilter { limit: 500, ..Default::default() })
        .await
        .unwrap()
        .items
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(listed, incidents);
    assert_eq!(ts.open_incident_count().await.unwrap(), 50);
    for id in &incidents {
        assert_eq!(timeline_kinds(&ts, *id).await, ["opened"]);
    }
    assert_chain(&audit_entries(&ts).await);
    assert_eq!(audit_with_action(&ts, "incident.open").await.len(), 50);

    ts.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_triggers_of_one_key_open_once() {
    let (ts, fx) = with_catalog().await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, origin) = (ts.handle(), fx.api.clone());
            tokio::spawn(async move {
                store
                    .ingest(IngestBatch {
                        origin,
                        events: vec![trigger("same", "same")],
                        received_at: t(0),
                        noise: Default::default(),
                    })
                    .await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.extend(task.await.unwrap().unwrap());
    }
    assert_eq!(outcomes.iter().filter(|o| o.effect == "opened").count(), 1);
    assert_eq!(outcomes.iter().filter(|o| o.effect == "repeated").count(), 19);
    let alert_ids: HashSet<_> = outcomes.iter().map(|o| o.alert_id).collect();
    let incident_ids: HashSet<_> = outcomes.iter().map(|o| o.incident_id).collect();
    assert_eq!((alert_ids.len(), incident_ids.len()), (1, 1));
    let alert_id = outcomes[0].alert_id.unwrap();
    assert_eq!(alert(&ts, alert_id).await.occurrences, 20);
    assert_eq!(
        ts.list_alerts(&AlertFilter { dedup_key: Some("same".into()), ..Default::default() })
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(ts.open_incident_count().await.unwrap(), 1);

    ts.finish().await;
}

/// A batch that cannot be written (its service does not exist) fails alone,
/// whether or not it shared a group commit with others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_batch_does_not_fail_its_neighbours() {
    let (ts, fx) = with_catalog().await;
    let ghost = IntegrationRef {
        id: "int-ghost".into(),
        service_id: "svc-ghost".into(),
        kind: IntegrationKind::Generic,
        route: None,
    };
    let tasks: Vec<_> = (0..21)
        .map(|n| {
            let store = ts.handle();
            let origin = if n == 10 { ghost.clone() } else { fx.api.clone() };
            tokio::spawn(async move {
                store
                    .ingest(IngestBatch {
                        origin,
                        events: vec![trigger(&format!("n-{n}"), "x")],
                        received_at: t(0),
                        noise: Default::default(),
                    })
                    .await
            })
        })
        .collect();
    for (n, task) in tasks.into_iter().enumerate() {
        let result = task.await.unwrap();
        if n == 10 {
            assert!(
                matches!(result, Err(StoreError::Database(_))),
                "ghost batch: expected a database error, got {result:?}"
            );
        } else {
            assert_eq!(result.unwrap()[0].effect, "opened", "batch {n}");
        }
    }
    assert_eq!(ts.open_incident_count().await.unwrap(), 20);
    assert_chain(&audit_entries(&ts).await);

    ts.finish().await;
}

/// Every kind of writer, running at once (and, on PostgreSQL, from two
/// nodes), appends to one unbroken audit chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_keep_one_audit_chain() {
    let (ts, fx) = with_catalog().await;
    let (_, incident_id) = open(&ts, &fx.api, "base", t(0)).await;
    let node_b = if ts.is_postgres() { open_store(&ts.location).await } else { ts.handle() };
    let nodes = [ts.handle(), node_b.clone()];

    let mut tasks = Vec::new();
    for n in 0..60i64 {
        let store = nodes[usize::from(n % 2 == 1)].clone();
        let (api, db) = (fx.api.clone(), fx.db.clone());
        tasks.push(tokio::spawn(async move {
            match n % 4 {
                0 => store.add_note(incident_id, "user:alice", &format!("note {n}"), t(n)).await.map(drop),
                1 => {
                    let change = ChangeEvent {
                        summary: format!("deploy {n}"),
                        source: None,
                        occurred_at: None,
                        details: json!({}),
                        links: vec![],
                    };
                    store.record_change(&db, &change, t(n)).await.map(drop)
                }
                2 => {
                    let new = new_token(&format!("tok-{n}"), Role::Viewer, "admin", &hash_secret(&format!("s{n}")));
                    store.create_token(&new, "token:root", t(n)).await.map(drop)
                }
                _ => store
                    .ingest(IngestBatch {
                        origin: api,
                        events: vec![trigger(&format!("c-{n}"), "x")],
                        received_at: t(n),
                        noise: Default::default(),
                    })
                    .await
                    .map(drop),
            }
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }

    let entries = audit_entries(&ts).await;
    assert_chain(&entries);
    let count = |action: &str| entries.iter().filter(|e| e.record.action == action).count();
    assert_eq!(
        (count("incident.note"), count("service.change"), count("token.create"), count("incident.open")),
        (15, 15, 15, 16)
    );
    assert_eq!(ts.incident_timeline(incident_id).await.unwrap().len(), 16, "opened + 15 notes");
    assert_eq!(ts.active_token_count().await.unwrap(), 15);

    if ts.is_postgres() {
        node_b.close().await;
    }
    ts.finish().await;
}

/// Several nodes share one PostgreSQL database: dedup and outbox claims must
/// hold across them, not only within one process. (SQLite is single-node by
/// design — one process owns the file — so there this test only checks that
/// a second store can open the same file after the first closed; see
/// [`data_survives_close_and_reopen`].)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_sharing_a_database_dedup_and_claim_once() {
    let (ts, fx) = with_catalog().await;
    if !ts.is_postgres() {
        ts.finish().await;
        return;
    }
    let node_b = open_store(&ts.location).await;
    let nodes = [ts.handle(), node_b.clone()];

    // 20 triggers of one key, alternating between the nodes.
    let tasks: Vec<_> = (0..20)
        .map(|n| {
            let (store, origin) = (nodes[n % 2].clone(), fx.api.clone());
            tokio::spawn(async move {
                store
                    .ingest(IngestBatch {
                        origin,
                        events: vec![trigger("shared", "shared")],
                        received_at: t(0),
                        noise: Default::default(),
                    })
                    .await
            })
        })
        .collect();
    let mut effects = Vec::new();
    for task in tasks {
        effects.extend(task.await.unwrap().unwrap().into_iter().map(|o| (o.effect, o.alert_id.unwrap())));
    }
    assert_eq!(effects.iter().filter(|(e, _)| *e == "opened").count(), 1, "{effects:?}");
    assert_eq!(effects.iter().map(|(_, a)| *a).collect::<HashSet<_>>().len(), 1);
    assert_eq!(alert(&ts, effects[0].1).await.occurrences, 20);

    // Distinct keys from both nodes; then both nodes claim concurrently:
    // every item goes to exactly one of them.
    for n in 0..10 {
        let batch = IngestBatch {
            origin: fx.api.clone(),
            events: vec![trigger(&format!("n-{n}"), "x")],
            received_at: t(1),
            noise: Default::default(),
        };
        assert_eq!(nodes[n % 2].ingest(batch).await.unwrap()[0].effect, "opened");
    }
    let claims: Vec<_> = (0..2)
        .map(|n| {
            let store = nodes[n].clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    let items = store.claim_outbox(&format!("node-{n}"), ALL, t(10), t(70), 2).await.unwrap();
                    if items.is_empty() {
                        return got;
                    }
                    got.extend(items.into_iter().map(|i| i.id));
                }
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for task in claims {
        claimed.extend(task.await.unwrap());
    }
    assert_eq!(claimed.len(), 11, "one incident.opened per incident: {claimed:?}");
    assert_eq!(claimed.iter().collect::<HashSet<_>>().len(), 11, "an item was claimed twice: {claimed:?}");
    assert_chain(&audit_entries(&ts).await);

    node_b.close().await;
    ts.finish().await;
}

/// Two nodes (two pools on one PostgreSQL database) ingest overlapping
/// batches of the same keys at once, each batch naming its keys in its own
/// order: every key gets one alert and one incident, every trigger is
/// counted, nothing deadlocks, and the audit chains verify afterwards. On
/// SQLite (one node) the same load runs through one store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_ingesting_the_same_keys_open_each_once() {
    let (ts, fx) = with_catalog().await;
    let node_b = if ts.is_postgres() { open_store(&ts.location).await } else { ts.handle() };
    let nodes = [ts.handle(), node_b.clone()];
    const KEYS: usize = 12;
    const BATCHES: usize = 40;

    let tasks: Vec<_> = (0..BATCHES)
        .map(|n| {
            let (store, origin) = (nodes[n % 2].clone(), fx.api.clone());
            // Forward on one node, backward on the other, rotated per batch.
            let mut keys: Vec<String> = (0..KEYS).map(|k| format!("k{:02}", (k + n) % KEYS)).collect();
            if n % 2 == 1 {
                keys.reverse();
            }
            tokio::spawn(async move {
                let events = keys.iter().map(|k| trigger(k, "shared")).collect();
                store.ingest(IngestBatch { origin, events, received_at: t(0), noise: Default::default() }).await
            })
        })
        .collect();
    let mut opened = BTreeMap::<String, (i64, i64)>::new();
    let mut alert_of = BTreeMap::<String, HashSet<i64>>::new();
    for task in tasks {
        for o in task.await.unwrap().unwrap() {
            alert_of.entry(o.dedup_key.clone()).or_default().insert(o.alert_id.unwrap());
            if o.effect == "opened" {
                let before = opened.insert(o.dedup_key.clone(), (o.alert_id.unwrap(), o.incident_id.unwrap()));
                assert_eq!(before, None, "{} opened twice", o.dedup_key);
            } else {
                assert_eq!(o.effect, "repeated");
            }
        }
    }
    assert_eq!(opened.len(), KEYS, "every key opened exactly once");
    for (key, alerts) in &alert_of {
        assert_eq!(alerts.len(), 1, "{key}: every event went to one alert");
        assert_eq!(alert(&ts, opened[key].0).await.occurrences, BATCHES as i64, "{key}");
    }
    assert_eq!(ts.open_incident_count().await.unwrap(), KEYS as i64);
    let incidents: HashSet<i64> = opened.values().map(|(_, i)| *i).collect();
    assert_eq!(incidents.len(), KEYS);

    // Both nodes also write other audited changes at once.
    let tasks: Vec<_> = incidents
        .iter()
        .enumerate()
        .map(|(n, id)| {
            let (store, id) = (nodes[n % 2].clone(), *id);
            tokio::spawn(async move {
                store.add_note(id, "user:alice", "looking", t(1)).await.unwrap();
                store.acknowledge_incident(id, "user:alice", t(2)).await.unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let entries = audit_entries(&ts).await;
    assert_eq!(entries.len(), 1 + 3 * KEYS, "config, then open, note and acknowledge per incident");
    assert_chain(&entries);
    assert_verifies(&ts, entries.len()).await;
    // And the other node sees the same.
    assert_eq!(node_b.verify_audit().await.unwrap().first_break(), None);

    if ts.is_postgres() {
        node_b.close().await;
    }
    ts.finish().await;
}

// ===========================================================================
// 12. Durability and shutdown
// ===========================================================================

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_close_and_reopen() {
    let (mut ts, fx) = with_catalog().await;
    let (alert_id, incident_id) = open(&ts, &fx.api, "durable", t(0)).await;
    ingest_one(&ts, &fx.api, trigger("durable", "again"), t(1)).await;
    let token =
        ts.create_token(&new_token("ci", Role::Admin, "admin", &hash_secret("s")), "token:root", t(2)).await.unwrap();
    let before = (
        alert(&ts, alert_id).await,
        incident(&ts, incident_id).await,
        ts.incident_timeline(incident_id).await.unwrap(),
    );
    let audit_before = audit_entries(&ts).await;
    let services_before = ts.list_services().await.unwrap();

    let old = ts.handle();
    ts.reopen().await;

    // The closed handle refuses new work.
    let refused = old
        .ingest(IngestBatch {
            origin: fx.api.clone(),
            events: vec![trigger("late", "late")],
            received_at: t(3),
            noise: Default::default(),
        })
        .await;
    assert!(matches!(refused, Err(StoreError::Closed)), "expected Closed, got {refused:?}");
    drop(old);

    let after = (
        alert(&ts, alert_id).await,
        incident(&ts, incident_id).await,
        ts.incident_timeline(incident_id).await.unwrap(),
    );
    assert_eq!(after, before);
    assert_eq!(after.0.occurrences, 2);
    assert_eq!(ts.authenticate(&hash_secret("s"), t(3)).await.unwrap().map(|a| a.token), Some(token));
    assert_eq!(ts.list_services().await.unwrap(), services_before);
    assert_eq!(resolve_key(&ts, KEY_API_PD).await, fx.api);
    assert_eq!(ts.next_outbox_due(ALL).await.unwrap(), Some(t(0)));

    // Dedup and the audit chain carry on where they left off.
    assert_eq!(ingest_one(&ts, &fx.api, trigger("durable", "third"), t(4)).await.effect, "repeated");
    let (_, next) = open(&ts, &fx.api, "fresh", t(5)).await;
    assert!(next > incident_id);
    let audit_after = audit_entries(&ts).await;
    assert_eq!(audit_after[..audit_before.len()], audit_before[..]);
    assert_eq!(audit_after.len(), audit_before.len() + 1);
    assert_chain(&audit_after);

    ts.finish().await;
}

/// `close` waits for in-flight ingestion: whatever reported success is there
/// after reopening, and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_waits_for_in_flight_ingestion() {
    let (mut ts, fx) = with_catalog().await;
    let tasks: Vec<_> = (0..30)
        .map(|n| {
            let (store, origin) = (ts.handle(), fx.api.clone());
            tokio::spawn(async move {
                store
                    .ingest(IngestBatch {
                        origin,
                        events: vec![trigger(&format!("f-{n}"), "x")],
                        received_at: t(n),
                        noise: Default::default(),
                    })
                    .await
            })
        })
        .collect();
    tokio::task::yield_now().await;
    ts.reopen().await;
    let mut committed = HashSet::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(outcomes) => {
                committed.insert(outcomes[0].incident_id.unwrap());
            }
            Err(StoreError::Closed) => {}
            Err(e) => panic!("unexpected error while closing: {e}"),
        }
    }
    let stored: HashSet<i64> = ts
        .list_incidents(&IncidentFilter { limit: 500, ..Default::default() })
        .await
        .unwrap()
        .items
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(stored, committed);
    assert_chain(&audit_entries(&ts).await);

    ts.finish().await;
}

// ===========================================================================
// 13. Change events
// ===========================================================================

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_change_round_trips() {
    let (ts, fx) = with_catalog().await;
    let deploy = ChangeEvent {
        summary: "deploy api v1.2.3".into(),
        source: Some("ci".into()),
        occurred_at: Some(t(-60)),
        details: json!({"sha": "abc123", "env": "prod"}),
        links: vec![Link { href: "https://ci.example/runs/42".into(), text: Some("run 42".into()) }],
    };
    let flag = ChangeEvent {
        summary: "flag checkout_v2 on".into(),
        source: None,
        occurred_at: None,
        details: json!({}),
        links: vec![],
    };
    let id1 = ts.record_change(&fx.api, &deploy, t(0)).await.unwrap();
    let id2 = ts.record_change(&fx.api_am, &flag, t(10)).await.unwrap();
    let id3 = ts.record_change(&fx.db, &deploy, t(20)).await.unwrap();
    assert_eq!(HashSet::from([id1, id2, id3]).len(), 3);

    let rec1 = ChangeRecord {
        id: id1,
        service_id: "svc-api".into(),
        at: t(0),
        occurred_at: Some(t(-60)),
        summary: "deploy api v1.2.3".into(),
        source: Some("ci".into()),
        actor: "integration:int-api-pd".into(),
        details: json!({"sha": "abc123", "env": "prod"}),
        links: vec![Link { href: "https://ci.example/runs/42".into(), text: Some("run 42".into()) }],
    };
    let rec2 = ChangeRecord {
        id: id2,
        service_id: "svc-api".into(),
        at: t(10),
        occurred_at: None,
        summary: "flag checkout_v2 on".into(),
        source: None,
        actor: "integration:int-api-am".into(),
        details: json!({}),
        links: vec![],
    };
    assert_eq!(ts.list_changes("svc-api", 50).await.unwrap(), [rec2.clone(), rec1.clone()]);
    assert_eq!(ts.list_changes("svc-api", 1).await.unwrap(), [rec2]);
    assert_eq!(
        ts.list_changes("svc-db", 50).await.unwrap(),
        [ChangeRecord { id: id3, service_id: "svc-db".into(), at: t(20), actor: "integration:int-db".into(), ..rec1 }]
    );
    assert_eq!(ts.list_changes("svc-web", 50).await.unwrap(), []);

    // Changes are context, never alerts or incidents.
    assert_eq!(ts.open_incident_count().await.unwrap(), 0);
    assert_eq!(ts.list_alerts(&AlertFilter::default()).await.unwrap().items, []);

    let audited: Vec<_> = audit_with_action(&ts, "service.change")
        .await
        .into_iter()
        .map(|e| (e.record.target, e.record.actor, e.record.details))
        .collect();
    assert_eq!(
        audited,
        [
            (
                "service:svc-api".into(),
                "integration:int-api-pd".into(),
                json!({"change_id": id1, "summary": "deploy api v1.2.3"})
            ),
            (
                "service:svc-api".into(),
                "integration:int-api-am".into(),
                json!({"change_id": id2, "summary": "flag checkout_v2 on"})
            ),
            (
                "service:svc-db".into(),
                "integration:int-db".into(),
                json!({"change_id": id3, "summary": "deploy api v1.2.3"})
            ),
        ]
    );

    ts.finish().await;
}

// ===========================================================================
// Both backends accept the same text
// ===========================================================================

/// Text is stored as given on both backends. A NUL character is valid in a
/// Rust string and in JSON (`"\u0000"`) and the intake adapters let it
/// through, so the store must not accept it on SQLite but fail on
/// PostgreSQL (whose TEXT cannot hold NUL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_with_nul_characters_is_refused_alike_on_every_backend() {
    // PostgreSQL text cannot hold U+0000; both backends refuse it the same way,
    // naming the field, and store nothing.
    let (ts, fx) = with_catalog().await;
    let event = Event { source: Some("host\u{0}1".into()), ..trigger("nul-key", "disk full") };
    let result = ts
        .ingest(IngestBatch {
            origin: fx.api.clone(),
            events: vec![event],
            received_at: t(0),
            noise: Default::default(),
        })
        .await;
    match result {
        Err(StoreError::Domain(CoreError::Invalid { field, .. })) => assert_eq!(field, "source"),
        other => panic!("expected a validation error, got {other:?}"),
    }
    let result = ts
        .ingest(IngestBatch {
            origin: fx.api.clone(),
            events: vec![trigger("nul\u{0}key", "x")],
            received_at: t(0),
            noise: Default::default(),
        })
        .await;
    assert!(
        matches!(result, Err(StoreError::Domain(CoreError::Invalid { ref field, .. })) if field == "dedup_key"),
        "{result:?}"
    );
    let change = ChangeEvent {
        summary: "deploy\u{0}".into(),
        source: None,
        occurred_at: None,
        details: json!({}),
        links: vec![],
    };
    let result = ts.record_change(&fx.api, &change, t(1)).await;
    assert!(matches!(result, Err(StoreError::Domain(CoreError::Invalid { .. }))), "{result:?}");
    assert_eq!(ts.list_alerts(&AlertFilter { limit: 50, ..Default::default() }).await.unwrap().items.len(), 0);
    ts.finish().await;
}

// ===========================================================================
// Schedule overrides and iCalendar feed tokens
// ===========================================================================

fn new_override(schedule: &str, user: &str, start: i64, end: i64) -> NewOverride {
    NewOverride { schedule_id: schedule.into(), user_id: user.into(), start: t(start), end: t(end) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overrides_create_list_delete() {
    let mut ts = backend().await;
    let a = ts.create_override(&new_override("primary", "alice", 0, 3600), "token:root", t(-10)).await.unwrap();
    assert_eq!(
        a,
        ScheduleOverride {
            id: a.id,
            schedule_id: "primary".into(),
            user_id: "alice".into(),
            start: t(0),
            end: t(3600),
            created_at: t(-10),
            created_by: "token:root".into(),
        }
    );
    let b = ts.create_override(&new_override("primary", "bob", 1800, 7200), "token:ops", t(-5)).await.unwrap();
    let c = ts.create_override(&new_override("secondary", "carol", 0, 600), "token:ops", t(-1)).await.unwrap();
    assert!(a.id < b.id && b.id < c.id, "ids order creation: {a:?} {b:?} {c:?}");

    // Filtered by schedule and by end (strictly after), ordered by id.
    assert_eq!(ts.list_overrides(Some("primary"), t(0)).await.unwrap(), [a.clone(), b.clone()]);
    assert_eq!(ts.list_overrides(Some("primary"), t(3599)).await.unwrap(), [a.clone(), b.clone()]);
    assert_eq!(ts.list_overrides(Some("primary"), t(3600)).await.unwrap(), std::slice::from_ref(&b));
    assert_eq!(ts.list_overrides(Some("primary"), t(7200)).await.unwrap(), []);
    assert_eq!(ts.list_overrides(None, t(0)).await.unwrap(), [a.clone(), b.clone(), c.clone()]);
    assert_eq!(ts.list_overrides(Some("nope"), t(0)).await.unwrap(), []);

    // Deleting needs the right schedule and a live override; it happens once.
    assert!(!ts.delete_override("secondary", a.id, "token:ops", t(10)).await.unwrap());
    assert!(!ts.delete_override("primary", c.id + 100, "token:ops", t(10)).await.unwrap());
    assert!(ts.delete_override("primary", a.id, "token:ops", t(10)).await.unwrap());
    assert!(!ts.delete_override("primary", a.id, "token:ops", t(11)).await.unwrap());
    assert_eq!(ts.list_overrides(Some("primary"), t(0)).await.unwrap(), std::slice::from_ref(&b));

    // A reversed or empty interval is refused, naming `end`, and stores nothing.
    for (start, end) in [(100, 100), (100, 50)] {
        let result = ts.create_override(&new_override("primary", "alice", start, end), "token:ops", t(12)).await;
        assert!(
            matches!(result, Err(StoreError::Domain(CoreError::Invalid { ref field, .. })) if field == "end"),
            "{result:?}"
        );
    }
    let result = ts.create_override(&new_override("primary", "al\u{0}ice", 0, 10), "token:ops", t(12)).await;
    assert!(matches!(result, Err(StoreError::Domain(CoreError::Invalid { .. }))), "{result:?}");

    // Every mutation is audited against the schedule, in one chain.
    let created = audit_with_action(&ts, "schedule.override.create").await;
    assert_eq!(created.len(), 3);
    assert_eq!(created[0].record.target, "schedule:primary");
    assert_eq!(created[0].record.actor, "token:root");
    assert_eq!(created[0].record.details["id"], json!(a.id));
    assert_eq!(created[0].record.details["user"], json!("alice"));
    assert_eq!(created[2].record.target, "schedule:secondary");
    let deleted = audit_with_action(&ts, "schedule.override.delete").await;
    assert_eq!(deleted.len(), 1, "failed deletes leave no audit entry");
    assert_eq!(deleted[0].record.target, "schedule:primary");
    assert_eq!(deleted[0].record.details, json!({"id": a.id}));
    assert_chain(&audit_entries(&ts).await);

    // Ids keep growing after a reopen, even past deleted rows.
    ts.reopen().await;
    assert_eq!(ts.list_overrides(None, t(0)).await.unwrap(), [b.clone(), c.clone()]);
    let d = ts.create_override(&new_override("primary", "alice", 0, 60), "token:ops", t(20)).await.unwrap();
    assert!(d.id > c.id);
    ts.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ical_tokens_rotate_and_resolve() {
    let ts = backend().await;
    let first = hash_secret("tcs_feed_alice_1");
    assert_eq!(ts.ical_token_user(&first).await.unwrap(), None);
    ts.set_ical_token("alice", &first, "token:root", t(0)).await.unwrap();
    assert_eq!(ts.ical_token_user(&first).await.unwrap().as_deref(), Some("alice"));

    let bob = hash_secret("tcs_feed_bob");
    ts.set_ical_token("bob", &bob, "token:root", t(1)).await.unwrap();
    assert_eq!(ts.ical_token_user(&bob).await.unwrap().as_deref(), Some("bob"));

    // Rotating replaces: the old secret stops resolving, other users keep theirs.
    let second = hash_secret("tcs_feed_alice_2");
    ts.set_ical_token("alice", &second, "token:ops", t(2)).await.unwrap();
    assert_eq!(ts.ical_token_user(&first).await.unwrap(), None);
    assert_eq!(ts.ical_token_user(&second).await.unwrap().as_deref(), Some("alice"));
    assert_eq!(ts.ical_token_user(&bob).await.unwrap().as_deref(), Some("bob"));

    let rotations = audit_with_action(&ts, "user.ical_token.rotate").await;
    let summary: Vec<(String, String, serde_json::Value)> = rotations
        .iter()
        .map(|e| (e.record.target.clone(), e.record.actor.clone(), e.record.details["replaced"].clone()))
        .collect();
    assert_eq!(
        summary,
        [
            ("user:alice".to_string(), "token:root".to_string(), json!(false)),
            ("user:bob".to_string(), "token:root".to_string(), json!(false)),
            ("user:alice".to_string(), "token:ops".to_string(), json!(true)),
        ]
    );
    assert!(
        !rotations.iter().any(|e| e.record.details.to_string().contains(&second)),
        "the audit log never holds the secret's hash"
    );
    assert_chain(&audit_entries(&ts).await);
    ts.finish().await;
}

// ===========================================================================
// Paging store: escalations, notifications, rate-limit windows, secrets
// ===========================================================================

const SYSTEM: &str = "system";

fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(matches!(result, Err(StoreError::Conflict(_))), "expected Conflict, got {result:?}");
}

/// Claims and completes every unfinished outbox item, so that later checks
/// see only the work queued after this.
async fn drain_outbox(store: &TestStore) {
    let far = t(10_000_000);
    loop {
        let items = store.claim_outbox("drain", ALL, far, far + Duration::seconds(30), 100).await.unwrap();
        if items.is_empty() {
            break;
        }
        for item in items {
            store.complete_outbox(item.id, "drain", far).await.unwrap();
        }
    }
    assert_eq!(store.next_outbox_due(ALL).await.unwrap(), None, "outbox drained");
}

/// Outbox items as `(kind, payload, due_at, attempts)`, ids left out.
fn outbox_summary(items: &[OutboxItem]) -> Vec<(String, serde_json::Value, DateTime<Utc>, i64)> {
    items.iter().map(|i| (i.kind.to_string(), i.payload.clone(), i.due_at, i.attempts)).collect()
}

fn insert_escalation(incident_id: i64, policy_id: &str, state: serde_json::Value, episode: i64) -> EscalationWrite {
    EscalationWrite::Insert { incident_id, policy_id: policy_id.into(), status: "active".into(), state, episode }
}

fn update_escalation(
    incident_id: i64,
    state: serde_json::Value,
    episode: i64,
    expected_version: i64,
) -> EscalationWrite {
    EscalationWrite::Update { incident_id, status: "active".into(), state, episode, expected_version }
}

fn step_timeline(incident_id: i64, kind: TimelineKind, payload: serde_json::Value) -> StepTimeline {
    StepTimeline { incident_id, kind, actor: SYSTEM.into(), payload }
}

fn new_notification(
    incident_id: i64,
    user: &str,
    method: &str,
    episode: i64,
    due_at: DateTime<Utc>,
) -> NewNotification {
    NewNotification {
        incident_id,
        user_id: user.into(),
        contact_method: method.into(),
        channel: format!("{method}-channel"),
        episode,
        idempotency_key: format!("{incident_id}/{user}/{method}/{episode}/{}", due_at.timestamp_micros()),
        due_at,
    }
}

/// The row `new` becomes when a step at `created_at` stores it as `id`.
fn stored(id: i64, new: &NewNotification, created_at: DateTime<Utc>) -> NotificationRow {
    NotificationRow {
        id,
        incident_id: new.incident_id,
        user_id: new.user_id.clone(),
        contact_method: new.contact_method.clone(),
        channel: new.channel.clone(),
        episode: new.episode,
        idempotency_key: new.idempotency_key.clone(),
        status: "pending".into(),
        attempts: 0,
        due_at: new.due_at,
        created_at,
        sent_at: None,
        last_error: None,
    }
}

fn notification_update(
    id: i64,
    status: &str,
    attempts: i64,
    sent_at: Option<DateTime<Utc>>,
    last_error: Option<&str>,
) -> NotificationUpdate {
    NotificationUpdate { id, status: status.into(), attempts, sent_at, last_error: last_error.map(Into::into) }
}

/// A step at `at` that writes one of everything about `incident_id` except
/// the escalation row, outbox completion and retrigger: a timeline entry,
/// an audit record, a notification due at `at`, an outbox item and a `hook`
/// rate-limit window. `tag` keeps its keys unique.
fn side_effects(incident_id: i64, at: DateTime<Utc>, tag: &str) -> EngineStep {
    let mut notification = new_notification(incident_id, "alice", "hook", 1, at);
    notification.idempotency_key = format!("side-effect/{tag}");
    EngineStep {
        at,
        timeline: vec![step_timeline(incident_id, TimelineKind::Paged, json!({"user": "alice", "tag": tag}))],
        audit: vec![AuditRecord {
            at,
            actor: SYSTEM.into(),
            action: "escalation.test".into(),
            target: format!("incident:{incident_id}"),
            details: json!({"tag": tag}),
        }],
        notifications: vec![notification],
        outbox: vec![NewWork::new(
            WorkKind::EscalationTimer,
            json!({"incident_id": incident_id, "tag": tag}),
            at,
            Lane::Incident(incident_id),
        )],
        method_window: Some(("hook".into(), vec![at])),
        ..Default::default()
    }
}

/// Everything a step can change that concerns `incident_id`.
#[derive(Debug, PartialEq)]
struct PagingSnapshot {
    escalation: Option<EscalationRow>,
    incident: Incident,
    timeline: Vec<TimelineEntry>,
    notifications: Vec<NotificationRow>,
    audit: Vec<AuditEntry>,
    next_outbox_due: Option<DateTime<Utc>>,
    hook_window: Vec<DateTime<Utc>>,
}

async fn paging_snapshot(store: &TestStore, incident_id: i64) -> PagingSnapshot {
    PagingSnapshot {
        escalation: store.get_escalation(incident_id).await.unwrap(),
        incident: incident(store, incident_id).await,
        timeline: store.incident_timeline(incident_id).await.unwrap(),
        notifications: store.incident_notifications(incident_id).await.unwrap(),
        audit: audit_entries(store).await,
        next_outbox_due: store.next_outbox_due(ALL).await.unwrap(),
        hook_window: store.method_window("hook").await.unwrap(),
    }
}

/// Asserts that a refused step wrote none of what [`side_effects`] carries.
async fn assert_no_side_effects(store: &TestStore, incident_id: i64, tag: &str, before: &PagingSnapshot) {
    let after = paging_snapshot(store, incident_id).await;
    assert!(
        !after.timeline.iter().any(|e| e.payload.get("tag") == Some(&json!(tag))),
        "timeline entry of refused step {tag} was written: {:?}",
        after.timeline
    );
    assert!(
        !after.notifications.iter().any(|n| n.idempotency_key == format!("side-effect/{tag}")),
        "notification of refused step {tag} was written: {:?}",
        after.notifications
    );
    assert!(
        !after.audit.iter().any(|e| e.record.action == "escalation.test" && e.record.details["tag"] == json!(tag)),
        "audit record of refused step {tag} was written"
    );
    assert_eq!(&after, before, "refused step {tag} changed something");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledging_in_an_episode_refuses_a_later_one() {
    let (ts, fx) = with_catalog().await;
    let (_, inc) = open(&ts, &fx.api, "episode-ack", t(0)).await;
    drain_outbox(&ts).await;
    // No escalation yet: nothing was paged, so no episode is current.
    let refused = ts.acknowledge_incident_in_episode(inc, 0, "user:alice", t(1)).await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))), "{refused:?}");
    ts.apply_step(&EngineStep {
        at: t(2),
        escalation: Some(insert_escalation(inc, "pol-api", json!({"level": 0}), 2)),
        ..Default::default()
    })
    .await
    .unwrap();
    let before = ts.incident_timeline(inc).await.unwrap();
    for stale in [0, 1, 3] {
        let refused = ts.acknowledge_incident_in_episode(inc, stale, "user:alice", t(3)).await;
        assert!(matches!(refused, Err(StoreError::Conflict(_))), "episode {stale}: {refused:?}");
    }
    assert_eq!(ts.incident_timeline(inc).await.unwrap(), before, "a refused acknowledgement writes nothing");
    assert_eq!(incident(&ts, inc).await.status, IncidentStatus::Triggered);

    let acked = ts.acknowledge_incident_in_episode(inc, 2, "user:alice", t(4)).await.unwrap();
    assert_eq!((acked.status, acked.acknowledged_by.as_deref()), (IncidentStatus::Acknowledged, Some("user:alice")));
    assert_eq!(audit_with_action(&ts, "incident.acknowledge").await.len(), 1);
    // Settled: the transition error, whatever the episode.
    for episode in [2, 3] {
        let again = ts.acknowledge_incident_in_episode(inc, episode, "user:bob", t(5)).await;
        assert!(matches!(again, Err(StoreError::Domain(CoreError::InvalidTransition { .. }))), "{again:?}");
    }
    assert_not_found(ts.acknowledge_incident_in_episode(inc + 1000, 2, "user:alice", t(6)).await);
    ts.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_escalation_insert_creates_once() {
    let (ts, fx) = with_catalog().await;
    let (_, inc) = open(&ts, &fx.api, "esc-insert", t(0)).await;
    let (_, other) = open(&ts, &fx.db, "esc-other", t(1)).await;
    drain_outbox(&ts).await;
    assert_eq!(ts.get_escalation(inc).await.unwrap(), None);

    let state = json!({"level": 0, "pass": 0, "targets": ["alice"]});
    ts.apply_step(&EngineStep {
        at: t(5),
        escalation: Some(insert_escalation(inc, "pol-api", state.clone(), 1)),
        timeline: vec![step_timeline(inc, TimelineKind::Paged, json!({"user": "alice"}))],
        ..Default::default()
    })
    .await
    .unwrap();
    let row =
        EscalationRow { incident_id: inc, policy_id: "pol-api".into(), state: state.clone(), episode: 1, version: 1 };
    assert_eq!(ts.get_escalation(inc).await.unwrap(), Some(row.clone()));
    assert_eq!(ts.get_escalation(other).await.unwrap(), None, "only the named incident has a row");
    let timeline = ts.incident_timeline(inc).await.unwrap();
    let last = timeline.last().unwrap();
    assert_eq!(
        (last.incident_id, last.at, last.kind.as_str(), last.actor.as_str(), &last.payload),
        (inc, t(5), "paged", SYSTEM, &json!({"user": "alice"}))
    );

    // A second insert for the same incident is refused whole.
    let before = paging_snapshot(&ts, inc).await;
    let again = EngineStep {
        escalation: Some(insert_escalation(inc, "pol-other", json!({"level": 3}), 7)),
        ..side_effects(inc, t(6), "dup-insert")
    };
    assert_conflict(ts.apply_step(&again).await);
    assert_no_side_effects(&ts, inc, "dup-insert", &before).await;
    assert_eq!(ts.get_escalation(inc).await.unwrap(), Some(row), "the first row is kept");
    assert_eq!(ts.incident_notifications(inc).await.unwrap(), []);
    assert_eq!(ts.next_outbox_due(ALL).await.unwrap(), None);
    assert_eq!(ts.method_window("hook").await.unwrap(), Vec::<DateTime<Utc>>::new());

    // Another incident gets its own row, with the episode it was given.
    ts.apply_step(&EngineStep {
        at: t(7),
        escalation: Some(insert_escalation(other, "pol-db", json!({"level": 1}), 3)),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(
        ts.get_escalation(other).await.unwrap(),
        Some(EscalationRow {
            incident_id: other,
            policy_id: "pol-db".into(),
            state: json!({"level": 1}),
            episode: 3,
            version: 1
        })
    );
    ts.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_escalation_update_needs_the_version_it_read() {
    let (ts, fx) = with_catalog().await;
    let (_, inc) = open(&ts, &fx.api, "esc-update", t(0)).await;
    let (_, bare) = open(&ts, &fx.db, "esc-bare", t(1)).await;
    drain_outbox(&ts).await;
    ts.apply_step(&EngineStep {
        at: t(5),
        escalation: Some(insert_escalation(inc, "pol-api", json!({"level": 0}), 1)),
        ..Default::default()
    })
    .await
    .unwrap();

    ts.apply_step(&EngineStep {
        at: t(10),
        escalation: Some(update_escalation(inc, json!({"level": 1}), 1, 1)),
        timeline: vec![step_timeline(inc, TimelineKind::Escalated, json!({"level": 1}))],
        ..Default::default()
    })
    .await
    .unwrap();
    let row = |state: serde_json::Value, episode, version| EscalationRow {
        incident_id: inc,
        policy_id: "pol-api".into(),
        state,
        episode,
        version,
    };
    assert_eq!(ts.get_escalation(inc).await.unwrap(), Some(row(json!({"level": 1}), 1, 2)));
    assert_eq!(timeline_kinds(&ts, inc).await.last().map(String::as_str), Some("escalated"));

    ts.apply_step(&EngineStep {
        at: t(11),
        escalation: Some(update_escalation(inc, json!({"level": 0, "stopped": true}), 2, 2)),
        ..Default::default()
    })
    .await
    .unwrap();
    let current = row(json!({"level": 0, "stopped": true}), 2, 3);
    assert_eq!(ts.get_escalation(inc).await.unwrap(), Some(current.clone()));

    // A stale version (someone else wrote in between) is refused whole, and
    // so is a version not reached yet.
    for (tag, version) in [("stale", 2), ("ahead", 4)] {
        let before = paging_snapshot(&ts, inc).await;
        let step = EngineStep {
            escalation: Some(update_escalation(inc, json!({"level": 9}), 5, version)),
            ..side_effects(inc, t(12), tag)
        };
        assert_conflict(ts.apply_step(&step).await);
        assert_no_side_effects(&ts, inc, tag, &before).await;
        assert_eq!(ts.get_escalation(inc).await.unwrap(), Some(current.clone()));
        assert_eq!(ts.incident_notifications(inc).await.unwrap(), [], "{tag}: notifications written");
        assert_eq!(ts.next_outbox_due(ALL).await.unwrap(), None, "{tag}: outbox written");
        assert!(!timeline_kinds(&ts, inc).await.contains(&"paged".to_string()), "{tag}: timeline written");
    }

    // Updating an incident that has no escalation row is refused too.
    let before = paging_snapshot(&ts, bare).await;
    let step = EngineStep {
        escalation: Some(update_escalation(bare, json!({"level": 0}), 1, 1)),
        ..side_effects(bare, t(13), "no-row")
    };
    assert_conflict(ts.apply_step(&step).await);
    assert_no_side_effects(&ts, bare, "no-row", &before).await;
    assert_eq!(ts.get_escalation(bare).await.unwrap(), None);

    // The right version still applies afterwards.
    ts.apply_step(&EngineStep {
        at: t(14),
        escalation: Some(update_escalation(inc, json!({"level": 2}), 2, 3)),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(ts.get_escalation(inc).await.unwrap(), Some(row(json!({"level": 2}), 2, 4)));
    ts.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_step_completes_only_a_claim_it_holds() {
    let (ts, fx) = with_catalog().await;
    let (_, inc) = open(&ts, &fx.api, "complete", t(0)).await;

    // A claims the item, its lease runs out and B takes it over.
    let claimed = ts.claim_outbox("worker-a", ALL, t(1), t(31), 10).await.unwrap();
    assert_eq!(claimed.len(), 1, "{claimed:?}");
    let item = claimed[0].clone();
    let taken = ts.claim_outbox("worker-b", ALL, t(32), t(62), 10).await.unwrap();
    assert_eq!(taken.iter().map(|i| i.id).collect::<Vec<_>>(), [item.id]);

    // A's late step is refused whole.
    let before = paging_snapshot(&ts, inc).await;
    assert_eq!(before.next_outbox_due, Some(t(62)));
    let late = EngineStep {
        complete: Some((item.id, "worker-a".into())),
        escalation: Some(insert_escalation(inc, "pol-api", json!({"level": 0}), 1)),
        ..side_effects(inc, t(40), "lost-lease")
    };
    assert_conflict(ts.apply_step(&late).await);
    assert_no_side_effects(&ts, inc, "lost-lease", &before).await;
    assert_eq!(ts.get_escalation(inc).await.unwrap(), None);
    assert_eq!(ts.claim_outbox("worker-c", ALL, t(41), t(71), 10).await.unwrap(), [], "still leased to B");

    // An item that does not exist cannot be completed either.
    let before = paging_snapshot(&ts, inc).await;
    let unknown =
        EngineStep { complete: Some((item.id + 1000, "worker-b".into())), ..side_effects(inc, t(41), "unknown") };
    assert_conflict(ts.apply_step(&unknown).await);
    assert_no_side_effects(&ts, inc, "unknown", &before).await;

    // B, which holds the claim, completes it together with its writes.
    ts.apply_step(&EngineStep {
        at: t(42),
        complete: Some((item.id, "worker-b".into())),
        escalation: Some(insert_escalation(inc, "pol-api", json!({"level": 0}), 1)),
        outbox: vec![NewWork::new(WorkKind::EscalationTimer, json!({"incident_id": inc}), t(300), Lane::Incident(inc))],
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(ts.get_escalation(inc).await.map(|e| e.map(|e| e.version)).unwrap(), Some(1));
    assert_eq!(ts.next_outbox_due(ALL).await.unwrap(), Some(t(300)), "the completed item is no longer due");
    assert_eq!(ts.claim_outbox("worker-c", ALL, t(299), t(329), 10).await.unwrap(), [], "completed item claimed again");

    // Completing it again is refused: the claim is gone.
    let before = paging_snapshot(&ts, inc).await;
    let twice = EngineStep { complete: Some((item.id, "worker-b".into())), ..side_effects(inc, t(43), "twice") };
    assert_conflict(ts.apply_step(&twice).await);
    assert_no_side_effects(&ts, inc, "twice", &before).await;

    let rest = ts.claim_outbox("worker-c", ALL, t(300), t(330), 10).await.unwrap();
    assert_eq!(outbox_summary(&rest), [("escalation.timer".to_string(), json!({"incident_id": inc}), t(300), 1)]);
    ts.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_notifications_are_queued_updated_and_found() {
    let (ts, fx) = with_catalog().await;
    let (_, inc) = open(&ts, &fx.api, "page-1", t(0)).await;
    let (_, inc2) = open(&ts, &fx.db, "page-2", t(1)).await;
    drain_outbox(&ts).await;
    assert_eq!(ts.incident_notifications(inc).await.unwrap(), []);

    let a = new_notification(inc, "alice", "hook", 1, t(10));
    let b = new_notification(inc, "alice", "email", 1, t(20));
    let c = new_notification(inc, "bob", "hook", 1, t(30));
    let d = new_notification(inc2, "alice", "hook", 1, t(35));
    ts.apply_step(&EngineStep { at: t(5), notifications: vec![a.clone(), b.clone(), c.clone()], ..Default::default() })
        .await
        .unwrap();
    ts.apply_step(&EngineStep { at: t(6), notifications: vec![d.clone()], ..Default::default() }).await.unwrap();

    let rows = ts.incident_notifications(inc).await.unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    let (ia, ib, ic) = (rows[0].id, rows[1].id, rows[2].id);
    assert!(ia < ib && ib < ic, "ids follow creation: {rows:?}");
    assert_eq!(rows, [stored(ia, &a, t(5)), stored(ib, &b, t(5)), stored(ic, &c, t(5))]);
    let rows2 = ts.incident_notifications(inc2).await.unwrap();
    assert_eq!(rows2.len(), 1, "{rows2:?}");
    let id_d = rows2[0].id;
    assert!(id_d > ic);
    assert_eq!(rows2, [stored(id_d, &d, t(6))]);
    assert_eq!(ts.get_notification(ib).await.unwrap(), Some(stored(ib, &b, t(5))));
    assert_eq!(ts.get_notification(id_d).await.unwrap(), Some(stored(id_d, &d, t(6))));
    assert_eq!(ts.get_notification(id_d + 1000).await.unwrap(), None);

    // Each notification is a `notify.send` item due when the notification is.
    let send = |id: i64, due| ("notify.send".to_string(), json!({"notification_id": id}), due, 1);
    assert_eq!(ts.next_outbox_due(ALL).await.unwrap(), Some(t(10)));
    assert_eq!(ts.claim_outbox("w", ALL, t(10) - Duration::microseconds(1), t(100), 10).await.unwrap(), []);
    assert_eq!(outbox_summary(&ts.claim_outbox("w", ALL, t(10), t(100), 10).await.unwrap()), [send(ia, t(10))]);
    assert_eq!(outbox_summary(&ts.claim_outbox("w", ALL, t(29), t(100), 10).await.unwrap()), [send(ib, t(20))]);
    assert_eq!(
        outbox_summary(&ts.claim_outbox("w", ALL, t(35), t(100), 10).await.unwrap()),
        [send(ic, t(30)), send(id_d, t(35))]
    );

    // Updates change status, attempts, sent_at and last_error, and nothing else.
    ts.apply_step(&EngineStep {
        at: t(40),
        notification_updates: vec![
            notification_update(ia, "failed", 1, None, Some("gateway timeout")),
            notification_update(ib, "held", 0, None, None),
            notification_update(ic, "held", 0, None, None),
            notification_update(id_d, "held", 0, None, None),
        ],
        ..Default::default()
    })
    .await
    .unwrap();
    let failed_a = NotificationRow {
        status: "failed".into(),
        attempts: 1,
        last_error: Some("gateway timeout".into()),
        ..stored(ia, &a, t(5))
    };
    assert_eq!(ts.get_notification(ia).await.unwrap(), Some(failed_a));
    let sent_at = t(41) + Duration::microseconds(7);
    ts.apply_step(&EngineStep {
        at: t(41),
        notification_updates: vec![notification_update(ia, "sent", 2, Some(sent_at), None)],
        ..Default::default()
    })
    .await
    .unwrap();
    let sent_a = NotificationRow { status: "sent".into(), attempts: 2, sent_at: Some(sent_at), ..stored(ia, &a, t(5)) };
    assert_eq!(ts.get_notification(ia).await.unwrap(), Some(sent_a.clone()));
    let held =
        |id, new: &NewNotification, created| NotificationRow { status: "held".into(), ..stored(id, new, created) };
    assert_eq!(ts.incident_notifications(inc).await.unwrap(), [sent_a.clone(), held(ib, &b, t(5)), held(ic, &c, t(5))]);

    // Held notifications of one method, oldest first, up to an id and a
    // count; their number and the newest id; whether any is newer than an id.
    assert_eq!(ts.held_notifications("hook", i64::MAX, 10).await.unwrap(), [held(ic, &c, t(5)), held(id_d, &d, t(6))]);
    assert_eq!(ts.held_notifications("hook", i64::MAX, 1).await.unwrap(), [held(ic, &c, t(5))]);
    assert_eq!(ts.held_notifications("hook", id_d - 1, 10).await.unwrap(), [held(ic, &c, t(5))]);
    assert_eq!(ts.held_notifications("email", i64::MAX, 10).await.unwrap(), [held(ib, &b, t(5))]);
    assert_eq!(ts.held_notifications("voice", i64::MAX, 10).await.unwrap(), []);
    assert_eq!(ts.held_summary("hook").await.unwrap(), HeldSummary { count: 2, last_id: id_d });
    assert_eq!(ts.held_summary("email").await.unwrap(), HeldSummary { count: 1, last_id: ib });
    assert_eq!(ts.held_summary("voice").await.unwrap(), HeldSummary { count: 0, last_id: 0 });
    assert!(ts.held_after("hook", 0).await.unwrap());
    assert!(ts.held_after("hook", id_d - 1).await.unwrap());
    assert!(!ts.held_after("hook", id_d).await.unwrap());
    assert!(!ts.held_after("voice", 0).await.unwrap());
    ts.apply_step(&EngineStep {
        at: t(42),
        notification_updates: vec![notification_update(ic, "sent", 1, Some(t(42)), None)],
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(ts.held_notifications("hook", i64::MAX, 10).await.unwrap(), [held(id_d, &d, t(6))]);

    // Pending notifications of one page, due after a given instant.
    let g = new_notification(inc, "alice", "hook", 1, t(50));
    let e = new_notification(inc, "alice", "hook", 1, t(60));
    let f = new_notification(inc, "alice", "hook", 2, t(70));
    ts.apply_step(&EngineStep {
        at: t(45),
        notifications: vec![g.clone(), e.clone(), f.clone()],
        ..Default::default()
    })
    .await
    .unwrap();
    let rows = ts.incident_notifications(inc).await.unwrap();
    assert_eq!(rows.len(), 6, "{rows:?}");
    let (ig, ie, i_f) = (rows[3].id, rows[4].id, rows[5].id);
    ts.apply_step(&EngineStep {
        at: t(46),
        notification_updates: vec![notification_update(ig, "cancelled", 0, None, None)],
        ..Default::default()
    })
    .await
    .unwrap();
    let pending = |user: &'static str, method: &'static str, episode: i64, after: i64| {
        let ts = &ts;
        async move { ts.pending_notification(inc, user, method, episode, t(after)).await.unwrap() }
    };
    // A (sent) and G (cancelled) are not pending; E is.
    assert_eq!(pending("alice", "hook", 1, 0).await, Some(stored(ie, &e, t(45))));
    assert_eq!(pending("alice", "hook", 1, 59).await, Some(stored(ie, &e, t(45))));
    assert_eq!(pending("alice", "hook", 1, 60).await, None, "due at `after` is not due after it");
    assert_eq!(pending("alice", "hook", 2, 0).await, Some(stored(i_f, &f, t(45))));
    assert_eq!(pending("alice", "hook", 3, 0).await, None);
    assert_eq!(pending("alice", "email", 1, 0).await, None, "B is held, not pending");
    assert_eq!(pending("bob", "hook", 1, 0).await, None, "C was sent");
    assert_eq!(pending("carol", "hook", 1, 0).await, None);
    assert_eq!(
        ts.pending_notification(inc2, "alice", "hook", 1, t(0)).await.unwrap(),
        None,
        "D is held, and E belongs to another incident"
    );

    // A step whose notifications cannot all be stored (a reused idempotency
    // key) writes none of them, nor anything else it carries.
    let before = paging_snapshot(&ts, inc).await;
    let mut step = side_effects(inc, t(47), "dup-key");
    step.notifications.push(e.clone());
    assert!(ts.apply_step(&step).await.is_err(), "a reused idempotency key is refused");
    assert_no_side_effects(&ts, inc, "dup-key", &before).await;
    ts.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_a_stopped_episode_cancels_its_queued_notifications() {
    let (ts, fx) = with_catalog().await;
    let (_, inc) = open(&ts, &fx.api, "stop-1", t(0)).await;
    let (_, other) = open(&ts, &fx.db, "stop-2", t(1)).await;
    drain_outbox(&ts).await;
    let queued = [
        new_notification(inc, "alice", "hook", 0, t(10)),
        new_notification(inc, "alice", "email", 0, t(20)),
        new_notification(inc, "bob", "hook", 0, t(30)),
        new_notification(inc, "bob", "email", 1, t(40)),
        new_notification(other, "alice", "hook", 0, t(50)),
    ];
    ts.apply_step(&EngineStep { at: t(5), notifications: queued.to_vec(), ..Default::default() }).await.unwrap();
    let ids: Vec<i64> = ts.incident_notifications(inc).await.unwrap().iter().map(|n| n.id).collect();
    ts.apply_step(&EngineStep {
        at: t(6),
        notification_updates: vec![
            notification_update(ids[0], "sent", 1, Some(t(6)), None),
            notification_update(ids[2], "held", 0, None, None),
        ],
        ..Default::default()
    })
    .await
    .unwrap();

    // Paging of episode 0 stops: its pending and held rows are cancelled,
    // what was sent stays sent, and a later episode and other incidents are
    // left alone.
    ts.apply_step(&EngineStep { at: t(7), cancel_before_episode: Some((inc, 1)), ..Default::default() }).await.unwrap();
    let statuses: Vec<(String, i64, String)> = ts
        .incident_notifications(inc)
        .await
        .unwrap()
        .into_iter()
        .map(|n| (n.contact_method, n.episode, n.status))
        .collect();
    let row = |method: &str, episode, status: &str| (method.to_string(), episode, status.to_string());
    assert_eq!(
        statuses,
        [row("hook", 0, "sent"), row("email", 0, "cancelled"), row("hook", 0, "cancelled"), row("email", 1, "pending")]
    );
    assert_eq!(ts.incident_notifications(other).await.unwrap()[0].status, "pending");
    assert_eq!(ts.held_notifications("hook", i64::MAX, 10).await.unwrap(), []);
    ts.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_retrigger_returns_an_acknowledged_incident_to_triggered() {
    let (ts, fx) = with_catalog().await;
    let (_, inc) = open(&ts, &fx.api, "retrigger", t(0)).await;
    let acked = ts.acknowledge_incident(inc, "user:alice", t(10)).await.unwrap();
    assert_eq!(
        (acked.status, acked.acknowledged_at, acked.acknowledged_by.as_deref()),
        (IncidentStatus::Acknowledged, Some(t(10)), Some("user:alice"))
    );
    drain_outbox(&ts).await;

    ts.apply_step(&EngineStep {
        at: t(20),
        retrigger: Some(inc),
        timeline: vec![step_timeline(inc, TimelineKind::AckTimeout, json!({}))],
        outbox: vec![NewWork::new(WorkKind::EscalationTimer, json!({"incident_id": inc}), t(25), Lane::Incident(inc))],
        ..Default::default()
    })
    .await
    .unwrap();
    let retriggered =
        Incident { status: IncidentStatus::Triggered, acknowledged_at: None, acknowledged_by: None, ..acked.clone() };
    assert_eq!(incident(&ts, inc).await, retriggered);
    assert_eq!(timeline_kinds(&ts, inc).await.last().map(String::as_str), Some("ack_timeout"));

    // On a triggered incident the retrigger fails, and with it everything
    // else in the step, including the completion and the escalation row.
    let tick = ts.claim_outbox("w", ALL, t(25), t(85), 10).await.unwrap();
    assert_eq!(tick.len(), 1, "{tick:?}");
    let before = paging_snapshot(&ts, inc).await;
    assert_eq!(before.next_outbox_due, Some(t(85)));
    let step = EngineStep {
        complete: Some((tick[0].id, "w".into())),
        escalation: Some(insert_escalation(inc, "pol-api", json!({"level": 0}), 1)),
        retrigger: Some(inc),
        ..side_effects(inc, t(30), "triggered")
    };
    assert_invalid_transition(ts.apply_step(&step).await, "retrigger", "triggered");
    assert_no_side_effects(&ts, inc, "triggered", &before).await;
    assert_eq!(ts.get_escalation(inc).await.unwrap(), None);
    assert_eq!(incident(&ts, inc).await, retriggered);

    // The claim survived the refused step.
    ts.apply_step(&EngineStep { at: t(31), complete: Some((tick[0].id, "w".into())), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(ts.next_outbox_due(ALL).await.unwrap(), None);

    // Nor does a resolved incident come back; a missing one is not found.
    let resolved = ts.resolve_incident(inc, "user:alice", t(40)).await.unwrap();
    drain_outbox(&ts).await;
    let before = paging_snapshot(&ts, inc).await;
    let step = EngineStep { retrigger: Some(inc), ..side_effects(inc, t(41), "resolved") };
    assert_invalid_transition(ts.apply_step(&step).await, "retrigger", "resolved");
    assert_no_side_effects(&ts, inc, "resolved", &before).await;
    assert_eq!(incident(&ts, inc).await, resolved);
    let step = EngineStep { retrigger: Some(inc + 1000), ..side_effects(inc, t(42), "missing") };
    assert_not_found(ts.apply_step(&step).await);
    assert_no_side_effects(&ts, inc, "missing", &before).await;
    ts.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_method_window_is_stored_per_method_and_replaced() {
    let ts = backend().await;
    assert_eq!(ts.method_window("hook").await.unwrap(), Vec::<DateTime<Utc>>::new());

    let first = vec![t(1), t(2) + Duration::microseconds(1), t(3) - Duration::microseconds(123_456)];
    ts.apply_step(&EngineStep { at: t(3), method_window: Some(("hook".into(), first.clone())), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(ts.method_window("hook").await.unwrap(), first);
    assert_eq!(ts.method_window("email").await.unwrap(), Vec::<DateTime<Utc>>::new());

    ts.apply_step(&EngineStep { at: t(4), method_window: Some(("email".into(), vec![t(4)])), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(ts.method_window("email").await.unwrap(), [t(4)]);
    assert_eq!(ts.method_window("hook").await.unwrap(), first, "another method's window is its own");

    // A step without a window leaves windows alone.
    ts.apply_step(&EngineStep { at: t(5), ..Default::default() }).await.unwrap();
    assert_eq!(ts.method_window("hook").await.unwrap(), first);

    // A later window replaces the earlier one, down to empty.
    let second = vec![t(3) - Duration::microseconds(123_456), t(6) + Duration::microseconds(999)];
    ts.apply_step(&EngineStep { at: t(6), method_window: Some(("hook".into(), second.clone())), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(ts.method_window("hook").await.unwrap(), second);
    ts.apply_step(&EngineStep { at: t(7), method_window: Some(("hook".into(), vec![])), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(ts.method_window("hook").await.unwrap(), Vec::<DateTime<Utc>>::new());
    assert_eq!(ts.method_window("email").await.unwrap(), [t(4)]);
    ts.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_server_secret_first_value_wins() {
    let mut ts = backend().await;
    assert_eq!(ts.server_secret("ack-link", "secret-one", t(0)).await.unwrap(), "secret-one");
    assert_eq!(ts.server_secret("ack-link", "secret-two", t(1)).await.unwrap(), "secret-one");
    assert_eq!(ts.server_secret("other", "secret-three", t(2)).await.unwrap(), "secret-three");
    assert_eq!(ts.server_secret("ack-link", "secret-four", t(3)).await.unwrap(), "secret-one");

    // Two nodes asking at once read the same value.
    let (h1, h2) = (ts.handle(), ts.handle());
    let one = tokio::spawn(async move { h1.server_secret("race", "from-one", t(4)).await.unwrap() });
    let two = tokio::spawn(async move { h2.server_secret("race", "from-two", t(4)).await.unwrap() });
    let (one, two) = (one.await.unwrap(), two.await.unwrap());
    assert_eq!(one, two);
    assert!(one == "from-one" || one == "from-two", "{one}");

    ts.reopen().await;
    assert_eq!(ts.server_secret("ack-link", "secret-five", t(5)).await.unwrap(), "secret-one");
    assert_eq!(ts.server_secret("race", "again", t(5)).await.unwrap(), one);
    ts.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_read_and_replaced_with_an_audit_record() {
    let ts = backend().await;
    assert_eq!(ts.read_secret("ack_link").await.unwrap(), None);
    assert!(!ts.replace_secret("ack_link", None, "x", "user:root", "secret.rotate", t(0)).await.unwrap());
    ts.server_secret("ack_link", "one", t(0)).await.unwrap();
    assert_eq!(ts.read_secret("ack_link").await.unwrap().as_deref(), Some("one"));
    let stale = ts.replace_secret("ack_link", Some("zero"), "two", "system", "secret.seal", t(1)).await.unwrap();
    assert!(!stale, "only when it still holds the expected value");
    assert!(ts.replace_secret("ack_link", Some("one"), "two", "system", "secret.seal", t(1)).await.unwrap());
    assert!(ts.replace_secret("ack_link", None, "three", "user:root", "secret.rotate", t(2)).await.unwrap());
    assert_eq!(ts.read_secret("ack_link").await.unwrap().as_deref(), Some("three"));
    assert_eq!(ts.server_secret("ack_link", "four", t(3)).await.unwrap(), "three", "a stored value stays");
    let audit: Vec<(String, String, String)> = audit_entries(&ts)
        .await
        .into_iter()
        .map(|e| (e.record.actor, e.record.action, e.record.target))
        .filter(|(_, action, _)| action.starts_with("secret."))
        .collect();
    let row = |actor: &str, action: &str| (actor.to_string(), action.to_string(), "secret:ack_link".to_string());
    assert_eq!(audit, [row("system", "secret.seal"), row("user:root", "secret.rotate")]);
    let text = format!("{:?}", audit_entries(&ts).await);
    assert!(!text.contains("two") && !text.contains("three"), "no value reaches the audit log: {text}");
    ts.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_secrets_are_sealed_with_a_key_and_need_it_back() {
    let mut ts = backend().await;
    let key = SecretKey::parse(&"5a".repeat(32)).unwrap();
    let wrong = SecretKey::parse(&"a5".repeat(32)).unwrap();
    let sealed = ServerSecrets::new(ts.handle(), Some(key.clone()));
    let ack = sealed.ensure(ACK_LINK, t(0)).await.unwrap();
    assert_eq!(ack.len(), 64, "{ack}");
    let raw = ts.read_secret(ACK_LINK).await.unwrap().unwrap();
    assert!(raw.starts_with("sealed.v1.") && !raw.contains(&ack) && !raw.contains(&ack[..12]), "{raw}");
    assert_eq!(sealed.ensure(ACK_LINK, t(1)).await.unwrap(), ack, "the stored value is kept");
    assert_eq!(sealed.get(ACK_LINK).await.unwrap(), ack);
    ts.reopen().await;
    let sealed = ServerSecrets::new(ts.handle(), Some(key.clone()));
    assert_eq!(sealed.get(ACK_LINK).await.unwrap(), ack, "round trip through the database");

    let message = |r: Result<String, StoreError>| match r {
        Err(StoreError::Secret(m)) => m,
        other => panic!("expected a secret error, got {other:?}"),
    };
    let wrong_key = message(ServerSecrets::new(ts.handle(), Some(wrong)).ensure(ACK_LINK, t(2)).await);
    assert!(wrong_key.contains("`ack_link`") && wrong_key.contains("not the one it was encrypted with"), "{wrong_key}");
    let no_key = message(ServerSecrets::new(ts.handle(), None).get(ACK_LINK).await);
    assert!(no_key.contains("no secret key is configured") && no_key.contains("TOCSIN_SECRET_KEY"), "{no_key}");

    // A value stored plain before a key was configured is sealed in place.
    let plain = ServerSecrets::new(ts.handle(), None).ensure(WEBHOOK_SIGNING, t(3)).await.unwrap();
    assert_eq!(ts.read_secret(WEBHOOK_SIGNING).await.unwrap().as_deref(), Some(plain.as_str()));
    assert_eq!(sealed.ensure(WEBHOOK_SIGNING, t(4)).await.unwrap(), plain);
    let raw = ts.read_secret(WEBHOOK_SIGNING).await.unwrap().unwrap();
    assert!(raw.starts_with("sealed.v1.") && !raw.contains(&plain), "{raw}");
    // A sealed value moved under another name does not open.
    ts.replace_secret(WEBHOOK_SIGNING, None, &ts.read_secret(ACK_LINK).await.unwrap().unwrap(), "x", "x", t(5))
        .await
        .unwrap();
    assert!(matches!(sealed.get(WEBHOOK_SIGNING).await, Err(StoreError::Secret(_))));

    // Rotation: a new value, sealed, audited.
    sealed.rotate(ACK_LINK, "user:root", t(6)).await.unwrap();
    let rotated = sealed.get(ACK_LINK).await.unwrap();
    assert_ne!(rotated, ack);
    assert!(ts.read_secret(ACK_LINK).await.unwrap().unwrap().starts_with("sealed.v1."));
    ts.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_request_incident_work_queues_audited_work() {
    let (ts, fx) = with_catalog().await;
    let (_, inc) = open(&ts, &fx.api, "work", t(0)).await;
    let (_, done) = open(&ts, &fx.db, "work-done", t(1)).await;
    ts.resolve_incident(done, "user:alice", t(2)).await.unwrap();
    drain_outbox(&ts).await;

    let audit_before = audit_entries(&ts).await;
    ts.request_incident_work(
        inc,
        WorkKind::IncidentEscalate,
        json!({"level": 2, "note": "by hand"}),
        "user:alice",
        "incident.escalate",
        t(50),
    )
    .await
    .unwrap();
    let work = ts.claim_outbox("w", ALL, t(50), t(80), 10).await.unwrap();
    assert_eq!(
        outbox_summary(&work),
        [(
            "incident.escalate".to_string(),
            json!({"level": 2, "note": "by hand", "incident_id": inc, "actor": "user:alice"}),
            t(50),
            1
        )]
    );
    let audit_after = audit_entries(&ts).await;
    assert_eq!(audit_after.len(), audit_before.len() + 1, "one audit entry");
    let entry = &audit_after.last().unwrap().record;
    assert_eq!(
        (entry.at, entry.actor.as_str(), entry.action.as_str(), entry.target.as_str()),
        (t(50), "user:alice", "incident.escalate", format!("incident:{inc}").as_str())
    );
    assert_chain(&audit_after);

    // An acknowledged incident is still open.
    ts.acknowledge_incident(inc, "user:alice", t(60)).await.unwrap();
    drain_outbox(&ts).await;
    ts.request_incident_work(
        inc,
        WorkKind::IncidentReassign,
        json!({"users": ["bob"]}),
        "user:carol",
        "incident.reassign",
        t(61),
    )
    .await
    .unwrap();
    let work = ts.claim_outbox("w", ALL, t(61), t(91), 10).await.unwrap();
    assert_eq!(
        outbox_summary(&work),
        [(
            "incident.reassign".to_string(),
            json!({"users": ["bob"], "incident_id": inc, "actor": "user:carol"}),
            t(61),
            1
        )]
    );
    assert_eq!(audit_with_action(&ts, "incident.reassign").await.len(), 1);
    drain_outbox(&ts).await;

    // Resolved: refused as a conflict; missing: not found. Neither queues
    // nor audits anything.
    let audit_before = audit_entries(&ts).await;
    let result = ts
        .request_incident_work(done, WorkKind::IncidentEscalate, json!({}), "user:alice", "incident.escalate", t(70))
        .await;
    assert_conflict(result);
    let result = ts
        .request_incident_work(
            inc + 1000,
            WorkKind::IncidentEscalate,
            json!({}),
            "user:alice",
            "incident.escalate",
            t(71),
        )
        .await;
    assert_not_found(result);
    assert_eq!(ts.next_outbox_due(ALL).await.unwrap(), None);
    assert_eq!(audit_entries(&ts).await, audit_before);
    ts.finish().await;
}

// ===========================================================================
// Reads for pages: filters, counts, a person's incidents, test pages
// ===========================================================================

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_filters_by_several_statuses_and_a_time_window() {
    let (ts, fx) = with_catalog().await;
    // k0..k7 ten seconds apart; even ones on svc-api, odd ones on svc-db.
    let mut incidents = Vec::new();
    for n in 0..8 {
        let origin = if n % 2 == 0 { &fx.api } else { &fx.db };
        incidents.push(open(&ts, origin, &format!("k{n}"), t(10 * n)).await.1);
    }
    let pick = |ns: &[usize]| -> Vec<i64> { ns.iter().rev().map(|&n| incidents[n]).collect() };
    ts.acknowledge_incident(incidents[1], "user:alice", t(100)).await.unwrap();
    ts.acknowledge_incident(incidents[6], "user:alice", t(100)).await.unwrap();
    ts.resolve_incident(incidents[2], "user:alice", t(100)).await.unwrap();
    ts.resolve_incident(incidents[5], "user:alice", t(100)).await.unwrap();

    let open = || IncidentFilter {
        statuses: vec![IncidentStatus::Triggered, IncidentStatus::Acknowledged],
        ..Default::default()
    };
    assert_eq!(incident_ids(&ts, open()).await, pick(&[0, 1, 3, 4, 6, 7]));
    // Newest first across both statuses, page by page, each once.
    assert_eq!(incident_pages(&ts, IncidentFilter { limit: 4, ..open() }).await, [pick(&[3, 4, 6, 7]), pick(&[0, 1])]);
    assert_eq!(
        incident_pages(&ts, IncidentFilter { limit: 2, ..open() }).await,
        [pick(&[6, 7]), pick(&[3, 4]), pick(&[0, 1])]
    );
    // A repeated status, or all three, is the same as listing them once / none.
    let every = IncidentFilter {
        statuses: vec![IncidentStatus::Resolved, IncidentStatus::Triggered, IncidentStatus::Acknowledged],
        ..Default::default()
    };
    assert_eq!(incident_ids(&ts, every).await, pick(&[0, 1, 2, 3, 4, 5, 6, 7]));
    let twice =
        IncidentFilter { statuses: vec![IncidentStatus::Resolved, IncidentStatus::Resolved], ..Default::default() };
    assert_eq!(incident_ids(&ts, twice).await, pick(&[2, 5]));

    // Service with several statuses, and a window [since, until).
    let db_open = || IncidentFilter { service: Some("svc-db".into()), ..open() };
    assert_eq!(incident_ids(&ts, db_open()).await, pick(&[1, 3, 7]));
    assert_eq!(incident_ids(&ts, IncidentFilter { until: Some(t(30)), ..db_open() }).await, pick(&[1]));
    assert_eq!(
        incident_ids(&ts, IncidentFilter { since: Some(t(10)), until: Some(t(70)), ..open() }).await,
        pick(&[1, 3, 4, 6])
    );
    let window = |since, until| IncidentFilter { since: Some(since), until: Some(until), ..Default::default() };
    assert_eq!(incident_ids(&ts, window(t(20), t(21))).await, pick(&[2]));
    assert_eq!(incident_ids(&ts, window(t(21), t(21))).await, Vec::<i64>::new());
    assert_eq!(
        incident_pages(&ts, IncidentFilter { limit: 2, ..window(t(0), t(50)) }).await,
        [pick(&[3, 4]), pick(&[1, 2]), pick(&[0])]
    );

    // Counts stop at the bound plus one, and ignore the cursor and limit.
    assert_eq!(ts.count_incidents(&open(), 1_000).await.unwrap(), 6);
    assert_eq!(ts.count_incidents(&open(), 3).await.unwrap(), 4, "more than 3");
    assert_eq!(ts.count_incidents(&IncidentFilter { limit: 1, before_id: Some(1), ..open() }, 10).await.unwrap(), 6);
    assert_eq!(ts.count_incidents(&db_open(), 10).await.unwrap(), 3);
    assert_eq!(ts.count_incidents(&window(t(20), t(50)), 10).await.unwrap(), 3);
    assert_eq!(ts.count_incidents(&IncidentFilter::default(), 0).await.unwrap(), 1);
    ts.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_open_incidents_and_an_incidents_first_alerts() {
    let (ts, fx) = with_catalog().await;
    let (a0, paged) = open(&ts, &fx.api, "paged", t(0)).await;
    let (_, acked) = open(&ts, &fx.api, "acked", t(1)).await;
    let (_, other) = open(&ts, &fx.api, "other", t(2)).await;
    let (_, gone) = open(&ts, &fx.db, "gone", t(3)).await;
    let step = EngineStep {
        at: t(5),
        notifications: vec![
            new_notification(paged, "bob", "bob-hook", 0, t(5)),
            new_notification(gone, "bob", "bob-hook", 0, t(5)),
            new_notification(other, "carol", "carol-hook", 0, t(5)),
        ],
        ..Default::default()
    };
    ts.apply_step(&step).await.unwrap();
    ts.acknowledge_incident(acked, "user:bob", t(6)).await.unwrap();
    ts.resolve_incident(gone, "user:carol", t(7)).await.unwrap();

    let ids = |v: Vec<Incident>| v.into_iter().map(|i| i.id).collect::<Vec<_>>();
    assert_eq!(ids(ts.user_open_incidents("bob", 50).await.unwrap()), [acked, paged], "resolved ones are left out");
    assert_eq!(ids(ts.user_open_incidents("bob", 1).await.unwrap()), [acked]);
    assert_eq!(ids(ts.user_open_incidents("carol", 50).await.unwrap()), [other]);
    assert_eq!(ids(ts.user_open_incidents("alice", 50).await.unwrap()), Vec::<i64>::new());

    let first: Vec<i64> = ts.incident_alerts_first(paged, 5).await.unwrap().iter().map(|a| a.id).collect();
    assert_eq!(first, [a0]);
    assert_eq!(ts.incident_alerts_first(paged, 5).await.unwrap(), ts.incident_alerts(paged).await.unwrap());
    assert!(ts.incident_alerts_first(paged, 0).await.unwrap().is_empty());
    ts.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_escalations_are_listed_newest_first() {
    let (ts, fx) = with_catalog().await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let id = open(&ts, &fx.api, &format!("e{n}"), t(n)).await.1;
        let step = EngineStep {
            at: t(n),
            escalation: Some(insert_escalation(id, "p", json!({"n": n}), 0)),
            ..Default::default()
        };
        ts.apply_step(&step).await.unwrap();
        ids.push(id);
    }
    let resolved = EngineStep {
        at: t(10),
        escalation: Some(EscalationWrite::Update {
            incident_id: ids[1],
            status: "resolved".into(),
            state: json!({"n": 1}),
            episode: 1,
            expected_version: 1,
        }),
        ..Default::default()
    };
    ts.apply_step(&resolved).await.unwrap();
    let listed: Vec<i64> = ts.open_escalations(10).await.unwrap().iter().map(|e| e.incident_id).collect();
    assert_eq!(listed, [ids[2], ids[0]]);
    let first = ts.open_escalations(1).await.unwrap();
    assert_eq!((first.len(), first[0].state.clone()), (1, json!({"n": 2})));
    ts.finish().await;
}

fn new_test_page(user: &str, method: &str) -> NewTestPage {
    NewTestPage { user_id: user.into(), contact_method: method.into(), channel: "webhook".into() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_pages_queue_work_at_most_once_a_minute_per_method() {
    let (ts, _fx) = with_catalog().await;
    drain_outbox(&ts).await;
    let minute = Duration::minutes(1);
    let first = ts.request_test_page(&new_test_page("alice", "alice-hook"), "user:alice", t(0), t(0) - minute).await;
    let first = first.unwrap();
    assert_eq!(
        (first.status, first.attempts, first.requested_at, first.requested_by.as_str()),
        (TestPageStatus::Queued, 0, t(0), "user:alice")
    );
    assert_eq!(ts.get_test_page(first.id).await.unwrap(), Some(first.clone()));
    let audit = audit_with_action(&ts, "test_page.sent").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(
        (audit[0].record.actor.as_str(), audit[0].record.target.as_str()),
        ("user:alice", "contact_method:alice-hook")
    );

    // Within the minute: refused, nothing written; another method is free.
    let again = ts.request_test_page(&new_test_page("alice", "alice-hook"), "user:alice", t(30), t(30) - minute).await;
    assert_conflict(again);
    let mail = ts.request_test_page(&new_test_page("alice", "alice-mail"), "user:carol", t(30), t(30) - minute).await;
    let mail = mail.unwrap();
    assert_eq!(audit_with_action(&ts, "test_page.sent").await.len(), 2);

    // The engine's work: one notify.test per page, in the method's lane.
    let items = ts.claim_outbox("w", ALL, t(30), t(60), 10).await.unwrap();
    let mut work = outbox_summary(&items);
    work.sort_by_key(|w| w.1.to_string());
    assert_eq!(
        work,
        [
            ("notify.test".to_string(), json!({"test_page_id": first.id}), t(0), 1),
            ("notify.test".to_string(), json!({"test_page_id": mail.id}), t(30), 1),
        ]
    );
    let item = items.iter().find(|i| i.payload == json!({"test_page_id": first.id})).unwrap();

    // A failed attempt with a retry, recorded with the claim's completion.
    let retry = TestPageUpdate {
        id: first.id,
        status: TestPageStatus::Queued,
        attempts: 1,
        sent_at: None,
        last_error: Some("503".into()),
    };
    ts.record_test_page(&retry, Some((item.id, "w".into())), Some(t(40)), t(31)).await.unwrap();
    assert_conflict(ts.record_test_page(&retry, Some((item.id, "w".into())), None, t(31)).await);
    let next = ts.claim_outbox("w", ALL, t(40), t(70), 10).await.unwrap();
    assert_eq!(outbox_summary(&next), [("notify.test".to_string(), json!({"test_page_id": first.id}), t(40), 1)]);
    let sent = TestPageUpdate {
        id: first.id,
        status: TestPageStatus::Sent,
        attempts: 2,
        sent_at: Some(t(41)),
        last_error: None,
    };
    ts.record_test_page(&sent, Some((next[0].id, "w".into())), None, t(41)).await.unwrap();
    let got = ts.get_test_page(first.id).await.unwrap().unwrap();
    assert_eq!((got.status, got.attempts, got.sent_at, got.last_error), (TestPageStatus::Sent, 2, Some(t(41)), None));
    assert_not_found(ts.record_test_page(&TestPageUpdate { id: 999_999, ..sent.clone() }, None, None, t(42)).await);

    // After the minute, the next one goes; the newest per method is listed.
    let later = ts.request_test_page(&new_test_page("alice", "alice-hook"), "user:alice", t(61), t(1)).await.unwrap();
    ts.request_test_page(&new_test_page("bob", "bob-hook"), "user:bob", t(61), t(1)).await.unwrap();
    let latest: Vec<(String, i64)> =
        ts.latest_test_pages("alice").await.unwrap().into_iter().map(|p| (p.contact_method, p.id)).collect();
    assert_eq!(latest, [("alice-hook".to_string(), later.id), ("alice-mail".to_string(), mail.id)]);
    assert_eq!(ts.latest_test_pages("nobody").await.unwrap(), []);
    assert_eq!(ts.get_test_page(999_999).await.unwrap(), None);

    // Pruning keeps each method's newest (and anything still queued): only
    // the first alice-hook page, finished and superseded, goes.
    assert_eq!(ts.prune_test_pages(t(0), 100).await.unwrap(), 0, "only what was requested before the cutoff");
    assert_eq!(ts.prune_test_pages(t(62), 100).await.unwrap(), 1);
    assert_eq!(ts.get_test_page(first.id).await.unwrap(), None);
    assert_eq!(ts.latest_test_pages("alice").await.unwrap().len(), 2);
    assert_eq!(ts.prune_test_pages(t(1000), 100).await.unwrap(), 0);
    ts.finish().await;
}

// ===========================================================================
// Misc
// ===========================================================================

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_name_ping_and_empty_batches() {
    let (ts, fx) = with_catalog().await;
    assert_eq!(ts.backend(), if ts.is_postgres() { "postgres" } else { "sqlite" });
    ts.ping().await.unwrap();
    assert_eq!(ingest(&ts, &fx.api, vec![], t(0)).await, []);
    assert_eq!(ts.open_incident_count().await.unwrap(), 0);
    ts.finish().await;
}

#[test]
fn with_database_replaces_only_the_database_name() {
    assert_eq!(with_database("postgres://u@h:5432/postgres", "x"), "postgres://u@h:5432/x");
    assert_eq!(with_database("postgres://u:p@h/postgres?sslmode=disable", "x"), "postgres://u:p@h/x?sslmode=disable");
    assert_eq!(with_database("postgresql://h:5432", "x"), "postgresql://h:5432/x");
}

// ===========================================================================
// Retention and statistics
// ===========================================================================

mod retention {
    use super::*;
    use tocsin_store::{Prune, Pruned};

    /// Claims every item due by `at` and completes it at `at`; returns how many.
    async fn finish_work_due(store: &TestStore, at: DateTime<Utc>) -> u64 {
        let mut done = 0;
        loop {
            let items = store.claim_outbox("retention", ALL, at, at + Duration::seconds(30), 100).await.unwrap();
            if items.is_empty() {
                return done;
            }
            for item in items {
                store.complete_outbox(item.id, "retention", at).await.unwrap();
                done += 1;
            }
        }
    }

    async fn rows(store: &TestStore, table: &str) -> u64 {
        let stats = store.stats().await.unwrap();
        stats.tables.iter().find(|t| t.name == table).unwrap_or_else(|| panic!("no table {table}")).rows
    }

    async fn notification_ids(store: &TestStore, incident_id: i64) -> Vec<i64> {
        store.incident_notifications(incident_id).await.unwrap().into_iter().map(|n| n.id).collect()
    }

    fn prune(at: DateTime<Utc>, before: DateTime<Utc>, limit: i64) -> Prune {
        Prune { at, alert_payloads_before: Some(before), delivery_attempts_before: Some(before), limit }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn prune_takes_exactly_the_old_data_of_resolved_incidents() {
        let (ts, fx) = with_catalog().await;
        // Two incidents resolved long ago, one resolved lately, one still open.
        let (old_a, inc_a) = open(&ts, &fx.api, "old-a", t(0)).await;
        let (old_b, inc_b) = open(&ts, &fx.api, "old-b", t(0)).await;
        let (recent, inc_recent) = open(&ts, &fx.api, "recent", t(0)).await;
        let (firing, inc_firing) = open(&ts, &fx.api, "firing", t(0)).await;
        // Pages: sent for each, plus one still pending for an old incident.
        let mut step = EngineStep { at: t(10), ..Default::default() };
        for inc in [inc_a, inc_b, inc_recent, inc_firing] {
            step.notifications.push(new_notification(inc, "alice", "hook", 1, t(10)));
        }
        step.notifications.push(new_notification(inc_a, "alice", "mail", 1, t(20)));
        ts.apply_step(&step).await.unwrap();
        let mut sent = EngineStep { at: t(11), ..Default::default() };
        for inc in [inc_a, inc_b, inc_recent, inc_firing] {
            let hook = store_notification(&ts, inc, "hook").await;
            sent.notification_updates.push(notification_update(hook, "sent", 1, Some(t(11)), None));
        }
        ts.apply_step(&sent).await.unwrap();
        let early_work = finish_work_due(&ts, t(15)).await;
        assert!(early_work >= 8, "4 incidents opened and 4 pages sent: {early_work}");
        ingest_one(&ts, &fx.api, resolve("old-a"), t(100)).await;
        ingest_one(&ts, &fx.api, resolve("old-b"), t(100)).await;
        ingest_one(&ts, &fx.api, trigger("firing", "still failing"), t(200)).await;
        ingest_one(&ts, &fx.api, resolve("recent"), t(5_000)).await;
        let late_work = finish_work_due(&ts, t(5_000)).await;
        assert!(late_work >= 3, "three incidents resolved: {late_work}");
        assert_eq!(incident(&ts, inc_a).await.status, IncidentStatus::Resolved);

        let outbox_before = rows(&ts, "outbox").await;
        let notifications_before = rows(&ts, "notifications").await;
        let alerts_before = [alert(&ts, old_a).await, alert(&ts, old_b).await];
        let audit_before = audit_entries(&ts).await.len();
        // Batches of one: each kind comes back full while more is waiting.
        let mut total = Pruned::default();
        let mut batches = 0;
        loop {
            let pruned = ts.prune(&prune(t(6_000), t(1_000), 1)).await.unwrap();
            if pruned.total() == 0 {
                break;
            }
            assert!(pruned.full(1), "{pruned:?}");
            total.alert_payloads += pruned.alert_payloads;
            total.notifications += pruned.notifications;
            total.finished_work += pruned.finished_work;
            batches += 1;
            assert!(batches <= 100, "pruning does not end");
        }
        assert_eq!(
            total,
            Pruned { alert_payloads: 2, notifications: 2, finished_work: early_work },
            "the old incidents' payloads and sent pages, and the work finished before the cutoff"
        );

        // The old incidents keep everything but their alerts' details.
        for ((alert_id, inc), before) in [(old_a, inc_a), (old_b, inc_b)].into_iter().zip(alerts_before) {
            assert_ne!(before.details, json!({}));
            assert_eq!(alert(&ts, alert_id).await, Alert { details: json!({}), ..before }, "only the details go");
            assert_eq!(incident(&ts, inc).await.status, IncidentStatus::Resolved);
            assert_eq!(timeline_kinds(&ts, inc).await, ["opened", "alert_resolved", "resolved"]);
        }
        let pending: Vec<String> =
            ts.incident_notifications(inc_a).await.unwrap().into_iter().map(|n| n.status).collect();
        assert_eq!(pending, ["pending"], "a page still pending is never pruned");
        assert!(notification_ids(&ts, inc_b).await.is_empty());
        // The recent and the open incident keep all of it.
        for (alert_id, inc) in [(recent, inc_recent), (firing, inc_firing)] {
            assert_eq!(alert(&ts, alert_id).await.details, json!({"mount": "/var", "used_pct": 91}));
            assert_eq!(notification_ids(&ts, inc).await.len(), 1);
        }
        assert_eq!(rows(&ts, "outbox").await, outbox_before - early_work);
        assert_eq!(rows(&ts, "notifications").await, notifications_before - 2);

        // One audit entry per batch that removed something, by the system.
        let audit = audit_entries(&ts).await;
        assert_eq!(audit.len(), audit_before + batches);
        let pruning = audit_with_action(&ts, "retention.prune").await;
        assert_eq!(pruning.len(), batches);
        assert!(pruning.iter().all(|e| e.record.actor == SYSTEM && e.record.at == t(6_000)));
        let sum = |key: &str| pruning.iter().map(|e| e.record.details[key].as_u64().unwrap()).sum::<u64>();
        assert_eq!((sum("alert_payloads"), sum("notifications"), sum("finished_work")), (2, 2, early_work));
        assert_chain(&audit);

        // Once the recent incident is old enough too, its share goes; a
        // kind that is off is left alone.
        let payloads_only = Prune { delivery_attempts_before: None, ..prune(t(9_000), t(8_000), 100) };
        let pruned = ts.prune(&payloads_only).await.unwrap();
        assert_eq!(pruned, Pruned { alert_payloads: 1, notifications: 0, finished_work: 0 });
        assert_eq!(notification_ids(&ts, inc_recent).await.len(), 1);
        assert_eq!(alert(&ts, firing).await.details, json!({"mount": "/var", "used_pct": 91}));
        let off =
            Prune { alert_payloads_before: None, delivery_attempts_before: None, ..prune(t(9_000), t(8_000), 100) };
        assert_eq!(ts.prune(&off).await.unwrap(), Pruned::default());
        ts.finish().await;
    }

    async fn store_notification(store: &TestStore, incident_id: i64, method: &str) -> i64 {
        let all = store.incident_notifications(incident_id).await.unwrap();
        all.into_iter().find(|n| n.contact_method == method).unwrap_or_else(|| panic!("no {method} page")).id
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stats_count_every_table_and_a_resend_adds_no_rows() {
        let (ts, fx) = with_catalog().await;
        open(&ts, &fx.api, "resent", t(0)).await;
        let before = ts.stats().await.unwrap();
        assert_eq!(before.backend, ts.backend());
        assert!(before.used_bytes > 0);
        assert_eq!(before.free_bytes.is_some(), !ts.is_postgres());
        let names: Vec<&str> = before.tables.iter().map(|t| t.name.as_str()).collect();
        for table in ["alerts", "incidents", "timeline", "audit_log", "outbox", "notifications"] {
            assert!(names.contains(&table), "{table} missing from {names:?}");
        }
        let count = |stats: &tocsin_store::DbStats, table: &str| {
            stats.tables.iter().find(|t| t.name == table).map(|t| (t.rows, t.bytes.is_some())).unwrap()
        };
        assert_eq!(count(&before, "alerts"), (1, true));
        assert_eq!(count(&before, "incidents"), (1, true));
        // A re-sent alert that is still firing updates its row and nothing else.
        for i in 1..=20 {
            ingest_one(&ts, &fx.api, trigger("resent", "still failing"), t(i)).await;
        }
        let after = ts.stats().await.unwrap();
        let counts = |s: &tocsin_store::DbStats| s.tables.iter().map(|t| (t.name.clone(), t.rows)).collect::<Vec<_>>();
        assert_eq!(counts(&after), counts(&before), "re-sends added rows");
        ts.finish().await;
    }
}

// ===========================================================================
// Passwords, login sessions, invitations, login throttling
// ===========================================================================

mod logins {
    use super::*;
    use tocsin_core::login_throttle::{Scope, ThrottleState};
    use tocsin_store::{LoginFailure, NewInvitation, NewSession, SessionPrune, SessionRow, SessionsPruned};

    fn new_session(user: &str, secret: &str, expires_at: DateTime<Utc>) -> NewSession {
        NewSession {
            user_id: user.into(),
            secret_hash: hash_secret(secret),
            expires_at,
            address: Some("192.0.2.7".into()),
            user_agent: Some("browser/1".into()),
        }
    }

    fn failure(user: &str, scopes: Vec<Scope>) -> LoginFailure {
        LoginFailure { user: user.into(), address: Some("192.0.2.7".into()), reason: "wrong password".into(), scopes }
    }

    async fn actions(ts: &TestStore) -> Vec<(String, String, String, serde_json::Value)> {
        audit_entries(ts)
            .await
            .into_iter()
            .filter(|e| e.record.actor != CONFIG_ACTOR)
            .map(|e| (e.record.action, e.record.actor, e.record.target, e.record.details))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn passwords_and_sessions_are_stored_ended_and_audited() {
        let (ts, _) = with_catalog().await;
        assert_eq!(ts.password_hash("alice").await.unwrap(), None);
        assert_eq!(ts.set_password("alice", "$argon2id$one", None, "user:admin", t(0)).await.unwrap(), 0);
        assert_eq!(ts.password_hash("alice").await.unwrap().as_deref(), Some("$argon2id$one"));

        let one = ts.login(&new_session("alice", "tcss_one", t(1000)), &[Scope::account("alice")], t(1)).await.unwrap();
        assert_eq!(
            one,
            SessionRow {
                id: one.id,
                user_id: "alice".into(),
                created_at: t(1),
                last_seen_at: t(1),
                expires_at: t(1000),
                ended_at: None,
                address: Some("192.0.2.7".into()),
                user_agent: Some("browser/1".into()),
            }
        );
        let dup = ts.login(&new_session("alice", "tcss_one", t(1000)), &[], t(2)).await;
        assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
        let two = ts.login(&new_session("alice", "tcss_two", t(1000)), &[], t(2)).await.unwrap();
        assert_eq!(ts.session_by_secret(&hash_secret("tcss_one")).await.unwrap(), Some(one.clone()));
        assert_eq!(ts.session_by_secret(&hash_secret("tcss_nope")).await.unwrap(), None);

        // Use is recorded and never moves back.
        ts.touch_session(one.id, t(5)).await.unwrap();
        ts.touch_session(one.id, t(4)).await.unwrap();
        assert_eq!(ts.get_session(one.id).await.unwrap().unwrap().last_seen_at, t(5));
        let ids = |rows: Vec<SessionRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(ts.open_sessions("alice", t(6)).await.unwrap()), [one.id, two.id]);
        assert_eq!(ids(ts.open_sessions("alice", t(1000)).await.unwrap()), Vec::<i64>::new(), "absolutely expired");

        assert!(ts.end_session(one.id, "session.logout", "user:alice", t(7)).await.unwrap());
        assert!(!ts.end_session(one.id, "session.logout", "user:alice", t(8)).await.unwrap(), "ending twice");
        assert_eq!(ts.get_session(one.id).await.unwrap().unwrap().ended_at, Some(t(7)));
        ts.touch_session(one.id, t(9)).await.unwrap();
        assert_eq!(ts.get_session(one.id).await.unwrap().unwrap().last_seen_at, t(5), "an ended session stays ended");

        // A new password ends every other session of the user.
        let three = ts.login(&new_session("alice", "tcss_three", t(1000)), &[], t(10)).await.unwrap();
        assert_eq!(ts.set_password("alice", "$argon2id$two", Some(three.id), "system", t(11)).await.unwrap(), 1);
        assert_eq!(ids(ts.open_sessions("alice", t(12)).await.unwrap()), [three.id]);
        assert_eq!(ts.get_session(two.id).await.unwrap().unwrap().ended_at, Some(t(11)));

        let got = actions(&ts).await;
        let expected = [
            ("password.set", "user:admin", "user:alice".to_string(), json!({"sessions_ended": 0})),
            (
                "session.login",
                "user:alice",
                format!("session:{}", one.id),
                json!({"address": "192.0.2.7", "user_agent": "browser/1", "expires_at": t(1000)}),
            ),
            (
                "session.login",
                "user:alice",
                format!("session:{}", two.id),
                json!({"address": "192.0.2.7", "user_agent": "browser/1", "expires_at": t(1000)}),
            ),
            ("session.logout", "user:alice", format!("session:{}", one.id), json!({"user": "alice"})),
            (
                "session.login",
                "user:alice",
                format!("session:{}", three.id),
                json!({"address": "192.0.2.7", "user_agent": "browser/1", "expires_at": t(1000)}),
            ),
            ("password.set", "system", "user:alice".to_string(), json!({"sessions_ended": 1})),
        ];
        let expected: Vec<_> = expected.into_iter().map(|(a, b, c, d)| (a.to_string(), b.to_string(), c, d)).collect();
        assert_eq!(got, expected);
        assert_verifies(&ts, audit_entries(&ts).await.len()).await;
        ts.finish().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_failures_all_count_and_a_login_clears_the_account() {
        let (ts, _) = with_catalog().await;
        let account = Scope::account("alice");
        let address = Scope::address("192.0.2.7".parse().unwrap());
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let store = ts.handle();
            let f = failure("alice", vec![account.clone(), address.clone()]);
            tasks.push(tokio::spawn(async move { store.login_failed(&f, t(0)).await.unwrap() }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let states = ts.throttle_states(&[account.clone(), address.clone()]).await.unwrap();
        let failures: Vec<(String, u32)> = states.iter().map(|(k, s)| (k.clone(), s.failures)).collect();
        assert_eq!(failures, [("user:alice".to_string(), 8), ("addr:192.0.2.7".to_string(), 8)]);
        assert_eq!(
            states[0].1,
            ThrottleState { failures: 8, window_start: t(0), locked_until: Some(t(0) + Duration::seconds(240)) }
        );
        let logged = audit_with_action(&ts, "session.login_failed").await;
        assert_eq!(logged.len(), 8);
        assert_eq!(logged[0].record.actor, "anonymous");
        assert_eq!(logged[0].record.details["reason"], "wrong password");
        assert_eq!(logged[7].record.details["locked"][0]["scope"], "user:alice");

        ts.login(&new_session("alice", "tcss_x", t(100)), std::slice::from_ref(&account), t(1)).await.unwrap();
        let left: Vec<String> =
            ts.throttle_states(&[account, address]).await.unwrap().into_iter().map(|s| s.0).collect();
        assert_eq!(left, ["addr:192.0.2.7"], "a success clears the account, not the address");
        ts.finish().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn invitations_replace_older_ones_and_are_accepted_once() {
        let (ts, _) = with_catalog().await;
        let invite = |token: &str, expires_at| NewInvitation {
            token_hash: hash_secret(token),
            user_id: "alice".into(),
            expires_at,
        };
        ts.create_invitation(&invite("tcsi_old", t(100)), "user:admin", t(0)).await.unwrap();
        ts.create_invitation(&invite("tcsi_new", t(100)), "user:admin", t(1)).await.unwrap();
        assert_eq!(ts.invitation(&hash_secret("tcsi_old")).await.unwrap(), None, "replaced");
        let stored = ts.invitation(&hash_secret("tcsi_new")).await.unwrap().unwrap();
        assert_eq!((stored.user_id.as_str(), stored.created_by.as_str()), ("alice", "user:admin"));
        assert_eq!((stored.created_at, stored.expires_at, stored.used_at), (t(1), t(100), None));

        let old = ts.login(&new_session("alice", "tcss_before", t(1000)), &[], t(2)).await.unwrap();
        // Expired at its expiry: nothing changes.
        let late = new_session("alice", "tcss_l", t(900));
        assert_eq!(ts.accept_invitation(&hash_secret("tcsi_new"), "$p", &late, t(100)).await.unwrap(), None);
        assert_eq!(ts.password_hash("alice").await.unwrap(), None);

        // Two acceptances at once: exactly one wins.
        let mut tasks = Vec::new();
        for i in 0..2 {
            let store = ts.handle();
            let session = new_session("alice", &format!("tcss_accept{i}"), t(900));
            tasks.push(tokio::spawn(async move {
                store.accept_invitation(&hash_secret("tcsi_new"), "$argon2id$invited", &session, t(50)).await.unwrap()
            }));
        }
        let mut won = Vec::new();
        for task in tasks {
            won.extend(task.await.unwrap());
        }
        assert_eq!(won.len(), 1, "{won:?}");
        assert_eq!(ts.password_hash("alice").await.unwrap().as_deref(), Some("$argon2id$invited"));
        assert_eq!(ts.get_session(old.id).await.unwrap().unwrap().ended_at, Some(t(50)));
        assert_eq!(ts.open_sessions("alice", t(51)).await.unwrap(), won);
        assert_eq!(ts.invitation(&hash_secret("tcsi_new")).await.unwrap().unwrap().used_at, Some(t(50)));

        let got: Vec<String> = actions(&ts).await.into_iter().map(|(a, ..)| a).collect();
        assert_eq!(
            got,
            [
                "invitation.created",
                "invitation.created",
                "session.login",
                "invitation.accepted",
                "password.set",
                "session.login"
            ]
        );
        assert_eq!(audit_with_action(&ts, "invitation.created").await[1].record.details["replaced"], 1);
        ts.finish().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn retention_deletes_what_ended_or_expired_before_the_cutoffs() {
        let (ts, _) = with_catalog().await;
        let ended = ts.login(&new_session("alice", "tcss_ended", t(10_000)), &[], t(0)).await.unwrap();
        ts.end_session(ended.id, "session.logout", "user:alice", t(10)).await.unwrap();
        let expired = ts.login(&new_session("alice", "tcss_expired", t(20)), &[], t(0)).await.unwrap();
        let idle = ts.login(&new_session("alice", "tcss_idle", t(10_000)), &[], t(0)).await.unwrap();
        let live = ts.login(&new_session("alice", "tcss_live", t(10_000)), &[], t(0)).await.unwrap();
        ts.touch_session(live.id, t(100)).await.unwrap();
        let invite = |token: &str, expires_at| NewInvitation {
            token_hash: hash_secret(token),
            user_id: "alice".into(),
            expires_at,
        };
        ts.create_invitation(&invite("tcsi_expired", t(20)), "system", t(0)).await.unwrap();
        ts.login_failed(&failure("bob", vec![Scope::account("bob")]), t(0)).await.unwrap();
        let before = ts.session_by_secret(&hash_secret("tcss_live")).await.unwrap();

        let prune = SessionPrune { at: t(200), before: t(30), last_seen_before: t(50), limit: 10 };
        let pruned = ts.prune_sessions(&prune).await.unwrap();
        assert_eq!(pruned, SessionsPruned { sessions: 3, invitations: 1, throttles: 1 });
        for gone in [ended.id, expired.id, idle.id] {
            assert_eq!(ts.get_session(gone).await.unwrap(), None);
        }
        assert_eq!(ts.session_by_secret(&hash_secret("tcss_live")).await.unwrap(), before);
        assert_eq!(ts.invitation(&hash_secret("tcsi_expired")).await.unwrap(), None);
        assert!(ts.throttle_states(&[Scope::account("bob")]).await.unwrap().is_empty());
        let audited = audit_with_action(&ts, "retention.prune").await;
        assert_eq!(audited.len(), 1);
        assert_eq!(audited[0].record.details["sessions"], 3);
        // Nothing left: no audit entry.
        assert_eq!(ts.prune_sessions(&prune).await.unwrap(), SessionsPruned::default());
        assert_eq!(audit_with_action(&ts, "retention.prune").await.len(), 1);
        ts.finish().await;
    }
}

// ===========================================================================
// Silences
// ===========================================================================

fn silence(id: &str, matchers: &str, from: i64, to: i64) -> tocsin_core::silence::Silence {
    tocsin_core::silence::Silence {
        id: id.into(),
        matchers: tocsin_core::matchers::Matchers::parse(matchers).unwrap(),
        starts_at: t(from),
        ends_at: t(to),
        created_by: "alice".into(),
        comment: "deploy of \"checkout\"".into(),
        updated_at: t(0),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silences_are_stored_updated_expired_and_audited() {
    let (ts, _fx) = with_catalog().await;
    let deploy = silence("6a1f-deploy", r#"{service="checkout", alertname=~"Disk.*|Latency"}"#, 0, 3600);
    ts.create_silence(&deploy, "user:alice", t(0)).await.unwrap();
    assert_conflict(ts.create_silence(&deploy, "user:alice", t(0)).await);
    let later = silence("7b2e-later", r#"{cluster!="eu-1"}"#, 7200, 9000);
    ts.create_silence(&later, "user:bob", t(1)).await.unwrap();

    // Read back exactly, matchers included (regexes still compiled).
    let got = ts.get_silence("6a1f-deploy").await.unwrap().unwrap();
    assert_eq!(got, deploy);
    let labels: BTreeMap<String, String> =
        [("service", "checkout"), ("alertname", "DiskFull")].into_iter().map(|(k, v)| (k.into(), v.into())).collect();
    assert!(got.matchers.matches(&labels));
    assert_eq!(ts.get_silence("nope").await.unwrap(), None);

    // In force: started and not ended.
    let ids = |v: Vec<tocsin_core::silence::Silence>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(ids(ts.active_silences(t(10)).await.unwrap()), ["6a1f-deploy"]);
    assert_eq!(ids(ts.active_silences(t(3600)).await.unwrap()), Vec::<String>::new(), "the end is exclusive");
    assert_eq!(ids(ts.active_silences(t(7200)).await.unwrap()), ["7b2e-later"]);
    assert_eq!(ids(ts.list_silences(100).await.unwrap()), ["7b2e-later", "6a1f-deploy"], "newest start first");

    // Updated in place, then expired: both written and audited.
    let mut longer = deploy.clone();
    longer.ends_at = t(5400);
    longer.comment = "deploy takes longer".into();
    longer.updated_at = t(20);
    ts.update_silence(&longer, "user:alice", t(20)).await.unwrap();
    assert_eq!(ts.get_silence("6a1f-deploy").await.unwrap().unwrap(), longer);
    let mut ended = longer.clone();
    ended.expire(t(30)).unwrap();
    ts.expire_silence(&ended, "user:bob", t(30)).await.unwrap();
    assert_eq!(ts.get_silence("6a1f-deploy").await.unwrap().unwrap().ends_at, t(30));
    assert_eq!(ids(ts.active_silences(t(40)).await.unwrap()), Vec::<String>::new());
    assert_not_found(ts.update_silence(&silence("missing", r#"{a="b"}"#, 0, 10), "user:bob", t(40)).await);

    assert_eq!(audit_with_action(&ts, "silence.create").await.len(), 2);
    let update = audit_with_action(&ts, "silence.update").await;
    assert_eq!((update.len(), update[0].record.target.as_str()), (1, "silence:6a1f-deploy"));
    assert_eq!(update[0].record.details["comment"], "deploy takes longer");
    let expire = audit_with_action(&ts, "silence.expire").await;
    assert_eq!((expire.len(), expire[0].record.actor.as_str()), (1, "user:bob"));
    ts.finish().await;
}

#[path = "conformance/heartbeats.rs"]
mod heartbeats;
