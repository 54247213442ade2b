#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The reads and actions behind the web pages, over a real SQLite file with
//! a manual clock: what a principal may do, bulk acknowledge, incident
//! detail, home, policies, people and test pages.

use chrono::{DateTime, Duration, TimeZone, Utc};
use std::sync::Arc;
use tempfile::TempDir;
use tocsin_core::access::{Action, Principal, Resource};
use tocsin_core::auth::{Role, hash_secret};
use tocsin_core::clock::ManualClock;
use tocsin_core::directory::{Directory, LiveDirectory};
use tocsin_core::escalation::{self, EscalationState, NextCause, Target};
use tocsin_core::event::{Event, EventAction, Severity};
use tocsin_core::incident::IncidentStatus;
use tocsin_store::{EngineStep, EscalationWrite, IngestBatch, NewNotification, Store, TestPageStatus};

use crate::{App, AppError, IncidentActions, OnCallNow, Shift};

const API_KEY: &str = "reads-test-api-key-0123";
const QUIET_KEY: &str = "reads-test-quiet-key-0123";

const CONFIG: &str = r#"
teams:
  - { id: ops, name: Ops, members: [alice, bob, vic] }
  - { id: web, name: Web, members: [mia] }
users:
  - id: alice
    name: Alice
    email: alice@example.com
    role: responder
    contact_methods:
      - { id: alice-hook, kind: webhook, url: "http://127.0.0.1:9/alice" }
      - { id: alice-mail, kind: email, address: alice@example.com }
  - id: bob
    name: Bob
    email: bob@example.com
    role: responder
    contact_methods:
      - { id: bob-hook, kind: webhook, url: "http://127.0.0.1:9/bob" }
  - { id: mia, name: Mia, email: mia@example.com, role: manager }
  - { id: vic, name: Vic, email: vic@example.com, role: viewer }
schedules:
  - id: primary
    time_zone: UTC
    layers:
      - { id: days, users: [alice, bob], start: "2026-03-02T09:00:00", turn: 1d }
escalation_policies:
  - id: two-level
    repeat: 1
    levels:
      - { targets: [{ schedule: primary }], escalate_after: 5m }
      - { targets: [{ user: bob }], escalate_after: 10m }
services:
  - id: api
    name: API
    team: ops
    escalation_policy: two-level
    integrations:
      - { kind: pagerduty, key: reads-test-api-key-0123 }
  - id: quiet
    name: Quiet
    integrations:
      - { kind: generic, key: reads-test-quiet-key-0123 }
"#;

/// Monday 10:00 UTC: alice has the first daily turn, until Tuesday 09:00.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).single().unwrap()
}

fn at(day: u32, hour: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, min, 0).single().unwrap()
}

struct Fixture {
    app: App,
    clock: Arc<ManualClock>,
    directory: Directory,
    _dir: TempDir,
}

async fn fixture() -> Fixture {
    let dir = TempDir::new().unwrap();
    let store: Arc<dyn Store> = tocsin_store::open(dir.path().join("t.db").to_str().unwrap()).await.unwrap();
    let catalog = tocsin_config::parse("t.yaml", CONFIG).unwrap();
    store.apply_catalog(&catalog, "system", t0()).await.unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let directory = Directory::from_catalog(&catalog);
    let app = App::new(store, clock.clone(), LiveDirectory::new(directory.clone()));
    Fixture { app, clock, directory, _dir: dir }
}

fn who(id: &str, role: Role) -> Principal {
    Principal::user(id, role)
}

fn alice() -> Principal {
    who("alice", Role::Responder)
}

fn vic() -> Principal {
    who("vic", Role::Viewer)
}

fn mia() -> Principal {
    who("mia", Role::Manager)
}

/// Opens an incident through the store, as ingestion does.
async fn open_incident(app: &App, key: &str, dedup: &str) -> i64 {
    let origin = app.store().find_integration(&hash_secret(key)).await.unwrap().unwrap();
    let event = Event {
        action: EventAction::Trigger,
        summary: format!("{dedup} is down"),
        severity: Severity::Critical,
        ..Event::resolve(dedup.into())
    };
    let out = app
        .store()
        .ingest(IngestBatch { origin, events: vec![event], received_at: t0(), noise: Default::default() })
        .await
        .unwrap();
    out[0].incident_id.unwrap()
}

/// Stores the escalation the engine would start for `id` at `t0`, moved on
/// by `steps` escalation timers, and the notifications in `paged`.
async fn escalate(f: &Fixture, id: i64, steps: usize, paged: &[&str]) -> EscalationState {
    let policy = f.directory.policy("two-level").unwrap().clone();
    let (mut state, _) = escalation::start(policy, Some(Duration::minutes(30)), t0()).unwrap();
    for _ in 0..steps {
        let (generation, due) = (state.generation, state.next_due.unwrap());
        escalation::on_due(&mut state, generation, due);
    }
    let notifications = paged
        .iter()
        .map(|user| NewNotification {
            incident_id: id,
            user_id: user.to_string(),
            contact_method: format!("{user}-hook"),
            channel: "webhook".into(),
            episode: 0,
            idempotency_key: format!("{id}-{user}"),
            due_at: t0(),
        })
        .collect();
    let step = EngineStep {
        at: t0(),
        escalation: Some(EscalationWrite::Insert {
            incident_id: id,
            policy_id: "two-level".into(),
            status: state.status.as_str().into(),
            state: serde_json::to_value(&state).unwrap(),
            episode: 0,
        }),
        notifications,
        ..EngineStep::default()
    };
    f.app.store().apply_step(&step).await.unwrap();
    state
}

#[tokio::test]
async fn incident_actions_follow_the_role_the_state_and_the_policy() {
    let f = fixture().await;
    let id = open_incident(&f.app, API_KEY, "api").await;
    let incident = f.app.store().get_incident(id).await.unwrap().unwrap();
    let all = IncidentActions { acknowledge: true, resolve: true, escalate: true, reassign: true, add_note: true };
    assert_eq!(f.app.incident_actions(&alice(), &incident), all);
    assert_eq!(f.app.incident_actions(&vic(), &incident), IncidentActions::default(), "a viewer only reads");

    let acked = f.app.acknowledge(&alice(), id).await.unwrap();
    assert_eq!(f.app.incident_actions(&alice(), &acked), IncidentActions { acknowledge: false, ..all });
    let resolved = f.app.resolve(&alice(), id).await.unwrap();
    let note_only = IncidentActions { add_note: true, ..IncidentActions::default() };
    assert_eq!(f.app.incident_actions(&alice(), &resolved), note_only);

    // Nothing escalates or reassigns an incident whose service pages nobody.
    let quiet = open_incident(&f.app, QUIET_KEY, "quiet").await;
    let quiet = f.app.store().get_incident(quiet).await.unwrap().unwrap();
    assert_eq!(f.app.incident_actions(&alice(), &quiet), IncidentActions { escalate: false, reassign: false, ..all });

    assert!(!f.app.can(&vic(), Action::ReadAudit, Resource::All));
    assert!(f.app.can(&who("root", Role::Admin), Action::ReadAudit, Resource::All));
    let own = Resource::Override { schedule: "primary", user: "alice" };
    let bobs = Resource::Override { schedule: "primary", user: "bob" };
    assert!(f.app.can(&alice(), Action::ManageOverride, own));
    assert!(!f.app.can(&alice(), Action::ManageOverride, bobs));
    assert!(f.app.can(&mia(), Action::ManageOverride, bobs));
}

#[tokio::test]
async fn acknowledging_many_reports_each_incident() {
    let f = fixture().await;
    let a = open_incident(&f.app, API_KEY, "a").await;
    let b = open_incident(&f.app, API_KEY, "b").await;
    let c = open_incident(&f.app, QUIET_KEY, "c").await;
    f.app.acknowledge(&alice(), b).await.unwrap();

    let out = f.app.acknowledge_many(&alice(), &[a, b, 999, a, c]).await.unwrap();
    let ids: Vec<i64> = out.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, [a, b, 999, c], "in the order given, each once");
    assert_eq!(out[0].1.as_ref().unwrap().acknowledged_by.as_deref(), Some("user:alice"));
    assert!(matches!(out[1].1, Err(AppError::InvalidTransition(_))), "{:?}", out[1].1);
    assert!(matches!(out[2].1, Err(AppError::NotFound("incident"))), "{:?}", out[2].1);
    assert_eq!(out[3].1.as_ref().unwrap().status, IncidentStatus::Acknowledged);
    let stored = f.app.store().get_incident(c).await.unwrap().unwrap();
    assert_eq!(stored.status, IncidentStatus::Acknowledged);

    let field = |r: Result<_, AppError>| match r {
        Err(AppError::Invalid { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(field(f.app.acknowledge_many(&alice(), &[]).await), "ids");
    let many: Vec<i64> = (1..=101).collect();
    assert_eq!(field(f.app.acknowledge_many(&alice(), &many).await), "ids");
    let d = open_incident(&f.app, API_KEY, "d").await;
    let denied = f.app.acknowledge_many(&vic(), &[d]).await.unwrap();
    assert!(matches!(denied[0].1, Err(AppError::Forbidden(_))), "{denied:?}");
}

#[tokio::test]
async fn incident_detail_shows_the_next_step_and_the_paging_trail() {
    let f = fixture().await;
    let id = open_incident(&f.app, API_KEY, "api").await;
    escalate(&f, id, 0, &["alice"]).await;
    let detail = f.app.incident(&vic(), id).await.unwrap();
    let next = detail.next_step.clone().unwrap();
    assert_eq!((next.level, next.pass, next.at, next.cause), (1, 0, t0() + Duration::minutes(5), NextCause::Escalate));
    assert_eq!(next.targets, [Target::User("bob".into())]);
    assert_eq!(detail.next_responders.iter().map(|r| r.user.as_str()).collect::<Vec<_>>(), ["bob"]);
    assert_eq!(detail.notifications.len(), 1);
    let n = &detail.notifications[0];
    assert_eq!((n.user_id.as_str(), n.contact_method.as_str(), n.status.as_str()), ("alice", "alice-hook", "pending"));
    assert_eq!((detail.alerts.len(), detail.alerts_total), (1, 1));

    // Level 1 of the last pass: what follows is exhaustion, no next step.
    let last = open_incident(&f.app, API_KEY, "last").await;
    escalate(&f, last, 3, &[]).await;
    assert_eq!(f.app.incident(&vic(), last).await.unwrap().next_step, None);

    // Level 0 again on the second pass: the schedule's person then (bob
    // has Tuesday's turn; the repeat falls on Monday, alice's).
    let repeat = open_incident(&f.app, API_KEY, "repeat").await;
    escalate(&f, repeat, 1, &[]).await;
    let detail = f.app.incident(&vic(), repeat).await.unwrap();
    assert_eq!(detail.next_step.as_ref().map(|s| s.cause), Some(NextCause::Repeat));
    assert_eq!(detail.next_responders.iter().map(|r| r.user.as_str()).collect::<Vec<_>>(), ["alice"]);

    let quiet = open_incident(&f.app, QUIET_KEY, "quiet").await;
    let detail = f.app.incident(&vic(), quiet).await.unwrap();
    assert_eq!((detail.next_step, detail.notifications.len()), (None, 0));
}

#[tokio::test]
async fn home_lists_my_incidents_on_call_shifts_and_contact_methods() {
    let f = fixture().await;
    let paged = open_incident(&f.app, API_KEY, "paged").await;
    escalate(&f, paged, 1, &["alice"]).await; // now at bob's level, but alice was paged
    let targeted = open_incident(&f.app, API_KEY, "targeted").await;
    escalate(&f, targeted, 0, &[]).await; // primary: alice, not paged yet
    let bobs = open_incident(&f.app, API_KEY, "bobs").await;
    escalate(&f, bobs, 1, &["bob"]).await;
    let acked = open_incident(&f.app, QUIET_KEY, "acked").await;
    f.app.acknowledge(&alice(), acked).await.unwrap();
    let resolved = open_incident(&f.app, API_KEY, "resolved").await;
    escalate(&f, resolved, 0, &["alice"]).await;
    f.app.resolve(&who("bob", Role::Responder), resolved).await.unwrap();
    f.app.send_test_page(&alice(), "alice", "alice-mail").await.unwrap();

    let home = f.app.home(&alice()).await.unwrap();
    let ids: Vec<i64> = home.my_incidents.iter().map(|i| i.id).collect();
    assert_eq!(ids, [acked, targeted, paged], "newest first");
    assert_eq!(home.on_call.len(), 1);
    assert_eq!((home.on_call[0].team.as_str(), home.on_call[0].team_name.as_str()), ("ops", "Ops"));
    assert_eq!(
        home.on_call[0].schedules,
        [OnCallNow { schedule: "primary".into(), user: Some("alice".into()), until: Some(at(3, 9, 0)) }]
    );
    assert_eq!(home.next_shifts.len(), 8, "every other day for 14 days, and the start of the 16th's");
    assert_eq!(home.next_shifts[7].end, None, "beyond the horizon");
    assert_eq!(home.next_shifts[0], Shift { schedule: "primary".into(), start: t0(), end: Some(at(3, 9, 0)) });
    assert_eq!(home.next_shifts[1], Shift { schedule: "primary".into(), start: at(4, 9, 0), end: Some(at(5, 9, 0)) });
    let methods: Vec<(&str, &str, &str)> =
        home.contact_methods.iter().map(|m| (m.method.id.as_str(), m.channel, m.address.as_str())).collect();
    assert_eq!(
        methods,
        [("alice-hook", "webhook", "http://127.0.0.1:9/alice"), ("alice-mail", "email", "alice@example.com")]
    );
    assert_eq!(home.contact_methods[0].last_test, None);
    assert_eq!(home.contact_methods[1].last_test.as_ref().map(|t| t.status), Some(TestPageStatus::Queued));

    // Bob's home: his paged incident, and the one now at his level though
    // not paged yet; the one targeting alice is not his.
    let bob = f.app.home(&who("bob", Role::Responder)).await.unwrap();
    assert_eq!(bob.my_incidents.iter().map(|i| i.id).collect::<Vec<_>>(), [bobs, paged]);
    // Mia's team has no services, so no schedules; she has no shifts.
    let mia_home = f.app.home(&mia()).await.unwrap();
    assert_eq!(mia_home.on_call[0].schedules, []);
    assert!(mia_home.next_shifts.is_empty() && mia_home.contact_methods.is_empty());
    assert!(matches!(f.app.home(&Principal::System).await, Err(AppError::NotFound("user"))));
}

#[tokio::test]
async fn policies_show_levels_with_who_is_on_call_and_their_services() {
    let f = fixture().await;
    f.clock.advance(Duration::days(1)); // Tuesday 10:00: bob's turn
    let policies = f.app.policies(&vic()).await.unwrap();
    assert_eq!(policies.len(), 1);
    let p = &policies[0];
    assert_eq!((p.id.as_str(), p.repeat, p.services.as_slice()), ("two-level", 1, ["api".to_string()].as_slice()));
    assert_eq!(p.levels[0].escalate_after, Duration::minutes(5));
    assert_eq!(p.levels[0].targets[0].target, Target::Schedule("primary".into()));
    assert_eq!(
        p.levels[0].targets[0].on_call,
        Some(OnCallNow { schedule: "primary".into(), user: Some("bob".into()), until: Some(at(4, 9, 0)) })
    );
    assert_eq!(
        (p.levels[1].targets[0].target.clone(), p.levels[1].targets[0].on_call.clone()),
        (Target::User("bob".into()), None)
    );
    assert_eq!(f.app.policy(&vic(), "two-level").await.unwrap(), *p);
    assert!(matches!(f.app.policy(&vic(), "nope").await, Err(AppError::NotFound("policy"))));
}

#[tokio::test]
async fn a_persons_page_shows_contact_methods_only_to_them_and_managers() {
    let f = fixture().await;
    let page = f.app.user_detail(&vic(), "alice").await.unwrap();
    assert_eq!(page.person.name, "Alice");
    assert_eq!(page.teams.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["ops"]);
    assert_eq!(page.schedules, ["primary"]);
    assert_eq!(
        page.on_call_now,
        [OnCallNow { schedule: "primary".into(), user: Some("alice".into()), until: Some(at(3, 9, 0)) }]
    );
    assert_eq!(page.next_shifts.len(), 8);
    assert_eq!((page.contact_methods, page.person.email), (None, None), "a viewer reading someone else");

    f.app.send_test_page(&alice(), "alice", "alice-hook").await.unwrap();
    for reader in [alice(), mia(), who("root", Role::Admin)] {
        let page = f.app.user_detail(&reader, "alice").await.unwrap();
        let methods = page.contact_methods.unwrap();
        assert_eq!(methods.len(), 2, "{reader:?}");
        assert_eq!(methods[0].last_test.as_ref().map(|t| t.contact_method.as_str()), Some("alice-hook"));
        assert_eq!(page.person.email.as_deref(), Some("alice@example.com"));
    }
    let bob = f.app.user_detail(&vic(), "bob").await.unwrap();
    assert!(bob.on_call_now.is_empty(), "bob's turn is tomorrow");
    assert_eq!(bob.next_shifts[0].start, at(3, 9, 0));
    let vic_page = f.app.user_detail(&vic(), "vic").await.unwrap();
    assert!(vic_page.schedules.is_empty() && vic_page.next_shifts.is_empty());
    assert_eq!(vic_page.contact_methods, Some(vec![]), "one's own, even without any");
    assert!(matches!(f.app.user_detail(&vic(), "nobody").await, Err(AppError::NotFound("user"))));
}

#[tokio::test]
async fn test_pages_are_ones_own_once_a_minute_and_audited() {
    let f = fixture().await;
    let sent = f.app.send_test_page(&alice(), "alice", "alice-hook").await.unwrap();
    assert_eq!(
        (sent.user_id.as_str(), sent.contact_method.as_str(), sent.channel.as_str(), sent.status),
        ("alice", "alice-hook", "webhook", TestPageStatus::Queued)
    );
    assert_eq!(f.app.test_page(&alice(), sent.id).await.unwrap(), sent);

    f.clock.advance(Duration::seconds(59));
    let again = f.app.send_test_page(&alice(), "alice", "alice-hook").await;
    assert!(matches!(&again, Err(AppError::Conflict(m)) if m.contains("alice-hook")), "{again:?}");
    f.clock.advance(Duration::seconds(1));
    let later = f.app.send_test_page(&alice(), "alice", "alice-hook").await.unwrap();

    // Someone else's methods: managers and admins only.
    assert!(matches!(f.app.send_test_page(&alice(), "bob", "bob-hook").await, Err(AppError::Forbidden(_))));
    let for_bob = f.app.send_test_page(&mia(), "bob", "bob-hook").await.unwrap();
    assert_eq!(for_bob.requested_by, "user:mia");
    assert!(matches!(f.app.test_page(&alice(), for_bob.id).await, Err(AppError::Forbidden(_))));
    assert!(matches!(f.app.test_page(&alice(), 999).await, Err(AppError::NotFound("test page"))));

    let field = |r: Result<_, AppError>| match r {
        Err(AppError::Invalid { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(field(f.app.send_test_page(&alice(), "alice", "bob-hook").await), "contact_method");
    assert_eq!(field(f.app.send_test_page(&alice(), "alice", &"x".repeat(201)).await), "contact_method");
    let root = who("root", Role::Admin);
    assert!(matches!(f.app.send_test_page(&root, "nobody", "m").await, Err(AppError::NotFound("user"))));

    let latest = f.app.test_pages(&alice(), "alice").await.unwrap();
    assert_eq!(latest.iter().map(|t| t.id).collect::<Vec<_>>(), [later.id]);
    assert!(matches!(f.app.test_pages(&vic(), "alice").await, Err(AppError::Forbidden(_))));
    let audit = f.app.audit_log(&root, 0, 100).await.unwrap();
    let actors: Vec<&str> =
        audit.iter().filter(|e| e.record.action == "test_page.sent").map(|e| e.record.actor.as_str()).collect();
    assert_eq!(actors, ["user:alice", "user:alice", "user:mia"]);
}
