#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The application layer called directly, over a real SQLite file: the same
//! rules the HTTP tests see through the API, without HTTP in between.

use chrono::{DateTime, TimeZone, Utc};
use std::sync::Arc;
use tempfile::TempDir;
use tocsin_core::access::Principal;
use tocsin_core::auth::{Role, hash_secret};
use tocsin_core::clock::ManualClock;
use tocsin_core::directory::{Directory, LiveDirectory};
use tocsin_core::event::{Event, EventAction, Severity};
use tocsin_store::{IngestBatch, Store};

use crate::{App, AppError, TokenRequest};

const KEY: &str = "app-test-key-0123456789";

const CONFIG: &str = "
teams:
  - { id: ops, name: Ops, members: [alice, vic] }
users:
  - { id: alice, name: Alice, email: alice@example.com, role: responder }
  - { id: vic, name: Vic, email: vic@example.com, role: viewer }
services:
  - id: api
    name: API
    team: ops
    integrations:
      - { kind: pagerduty, key: app-test-key-0123456789 }
";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).single().unwrap()
}

struct Fixture {
    app: App,
    _dir: TempDir,
}

async fn fixture() -> Fixture {
    let dir = TempDir::new().unwrap();
    let store: Arc<dyn Store> = tocsin_store::open(dir.path().join("t.db").to_str().unwrap()).await.unwrap();
    let catalog = tocsin_config::parse("t.yaml", CONFIG).unwrap();
    store.apply_catalog(&catalog, "system", t0()).await.unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let app = App::new(store, clock, LiveDirectory::new(Directory::from_catalog(&catalog)));
    Fixture { app, _dir: dir }
}

/// Opens an incident through the store, as ingestion does.
async fn open_incident(app: &App) -> i64 {
    let origin = app.store().find_integration(&hash_secret(KEY)).await.unwrap().unwrap();
    let event = Event {
        action: EventAction::Trigger,
        summary: "Disk full".into(),
        severity: Severity::Critical,
        ..Event::resolve("disk".into())
    };
    let out = app
        .store()
        .ingest(IngestBatch { origin, events: vec![event], received_at: t0(), noise: Default::default() })
        .await
        .unwrap();
    out[0].incident_id.unwrap()
}

fn alice() -> Principal {
    Principal::user("alice", Role::Responder)
}

#[tokio::test]
async fn acknowledging_records_the_person_in_timeline_and_audit() {
    let f = fixture().await;
    let id = open_incident(&f.app).await;
    let incident = f.app.acknowledge(&alice(), id).await.unwrap();
    assert_eq!(incident.acknowledged_by.as_deref(), Some("user:alice"));
    let detail = f.app.incident(&alice(), id).await.unwrap();
    let entry = detail.timeline.iter().find(|e| e.kind == "acknowledged").unwrap();
    assert_eq!(entry.actor, "user:alice");
    let audit = f.app.audit_log(&Principal::System, 0, 100).await.unwrap();
    let acked = audit.iter().find(|e| e.record.action == "incident.acknowledge").unwrap();
    assert_eq!(acked.record.actor, "user:alice");

    // Acknowledging twice is a state error, not a permission one.
    assert!(matches!(f.app.acknowledge(&alice(), id).await, Err(AppError::InvalidTransition(_))));
    assert!(matches!(f.app.acknowledge(&alice(), 999).await, Err(AppError::NotFound("incident"))));
}

#[tokio::test]
async fn viewers_read_but_do_not_act() {
    let f = fixture().await;
    let id = open_incident(&f.app).await;
    let vic = Principal::user("vic", Role::Viewer);
    assert!(f.app.incident(&vic, id).await.is_ok());
    for result in [f.app.acknowledge(&vic, id).await.err(), f.app.resolve(&vic, id).await.err()] {
        assert!(matches!(result, Some(AppError::Forbidden(_))), "{result:?}");
    }
    assert!(matches!(f.app.add_note(&vic, id, "hi").await, Err(AppError::Forbidden(_))));
    assert!(matches!(f.app.audit_log(&vic, 0, 10).await, Err(AppError::Forbidden(_))));
}

#[tokio::test]
async fn tokens_act_as_their_owner_within_its_role() {
    let f = fixture().await;
    let request = |role, user: Option<&str>| TokenRequest {
        name: "t".into(),
        role,
        user: user.map(Into::into),
        expires_in: None,
    };
    let denied = f.app.create_token(&alice(), request(Role::Responder, Some("vic"))).await;
    assert!(matches!(denied, Err(AppError::Forbidden(_))), "{denied:?}");
    let denied = f.app.create_token(&alice(), request(Role::Admin, None)).await;
    assert!(matches!(denied, Err(AppError::Forbidden(_))), "{denied:?}");
    let vic = Principal::user("vic", Role::Viewer);
    assert!(matches!(f.app.create_token(&vic, request(Role::Viewer, None)).await, Err(AppError::Forbidden(_))));

    let issued = f.app.create_token(&alice(), request(Role::Viewer, None)).await.unwrap();
    assert_eq!((issued.info.user_id.as_str(), issued.info.created_by.as_str()), ("alice", "user:alice"));
    let acting = f.app.authenticate(&issued.secret).await.unwrap();
    assert_eq!(acting, Principal::user("alice", Role::Viewer), "the token's role, not the account's");
    assert!(matches!(f.app.authenticate("tcs_nope").await, Err(AppError::Unauthenticated(_))));

    // The owner lists and revokes it; nobody else but an admin sees it.
    assert_eq!(f.app.list_tokens(&alice(), None).await.unwrap().len(), 1);
    assert!(matches!(f.app.revoke_token(&vic, issued.info.id).await, Err(AppError::NotFound("token"))));
    f.app.revoke_token(&alice(), issued.info.id).await.unwrap();
    assert!(matches!(f.app.authenticate(&issued.secret).await, Err(AppError::Unauthenticated(_))));
}

#[tokio::test]
async fn people_see_their_own_contact_details_only() {
    let f = fixture().await;
    let vic = Principal::user("vic", Role::Viewer);
    let me = f.app.me(&vic).await.unwrap();
    assert_eq!((me.person.id.as_str(), me.person.teams.as_slice()), ("vic", ["ops".to_string()].as_slice()));
    assert_eq!(me.person.email.as_deref(), Some("vic@example.com"));
    let alice_seen = f.app.user(&vic, "alice").await.unwrap();
    assert_eq!((alice_seen.email, alice_seen.contact_methods), (None, None));
    let users: Vec<String> = f.app.users(&vic).await.unwrap().into_iter().map(|p| p.id).collect();
    assert_eq!(users, ["admin", "alice", "vic"]);
    let team = f.app.team(&vic, "ops").await.unwrap();
    assert_eq!((team.members, team.services), (vec!["alice".to_string(), "vic".into()], vec!["api".to_string()]));

    // Signed links act for accounts that still exist, with their role.
    assert_eq!(f.app.account("alice"), Some(alice()));
    assert_eq!(f.app.account("admin"), Some(Principal::user("admin", Role::Admin)));
    assert_eq!(f.app.account("mallory"), None);
}
