#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Logging in, sessions and invitations over a real SQLite file, with a
//! clock the tests move.

use chrono::{DateTime, Duration, TimeZone, Utc};
use std::net::IpAddr;
use std::sync::Arc;
use tempfile::TempDir;
use tocsin_core::access::Principal;
use tocsin_core::auth::Role;
use tocsin_core::clock::{Clock, ManualClock};
use tocsin_core::directory::{Directory, LiveDirectory};
use tocsin_store::Store;

use super::*;

const CONFIG: &str = "
users:
  - { id: alice, name: Alice, email: alice@example.com, role: responder }
  - { id: vic, name: Vic, email: vic@example.com, role: viewer }
";
const PASSWORD: &str = "correct horse battery";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).single().unwrap()
}

struct Fixture {
    app: App,
    clock: Arc<ManualClock>,
    _dir: TempDir,
}

async fn fixture() -> Fixture {
    let dir = TempDir::new().unwrap();
    let store: Arc<dyn Store> = tocsin_store::open(dir.path().join("t.db").to_str().unwrap()).await.unwrap();
    let catalog = tocsin_config::parse("t.yaml", CONFIG).unwrap();
    store.apply_catalog(&catalog, "system", t0()).await.unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let app = App::new(store, clock.clone(), LiveDirectory::new(Directory::from_catalog(&catalog)))
        .with_session_policy(SessionPolicy { idle: Duration::hours(1), lifetime: Duration::hours(3) })
        .with_public_url("https://tocsin.example.com/".into());
    app.set_password(&Principal::System, "alice", PASSWORD).await.unwrap();
    Fixture { app, clock, _dir: dir }
}

fn address() -> Option<IpAddr> {
    Some("192.0.2.7".parse().unwrap())
}

fn creds<'a>(user: &'a str, password: &'a str) -> Credentials<'a> {
    Credentials { user, password, address: address(), user_agent: Some("test-browser/1.0") }
}

async fn audit_actions(app: &App) -> Vec<(String, serde_json::Value)> {
    let entries = app.audit_log(&Principal::System, 0, 1000).await.unwrap();
    entries.into_iter().map(|e| (e.record.action, e.record.details)).collect()
}

fn unauthenticated<T: std::fmt::Debug>(r: Result<T>) -> &'static str {
    match r {
        Err(AppError::Unauthenticated(m)) => m,
        other => panic!("expected Unauthenticated, got {other:?}"),
    }
}

#[tokio::test]
async fn sessions_end_when_idle_and_at_their_lifetime() {
    let f = fixture().await;
    let logged = f.app.login(creds("alice", PASSWORD)).await.unwrap();
    assert!(logged.secret.starts_with("tcss_"));
    assert_eq!(logged.session.user_id, "alice");
    assert_eq!(logged.session.expires_at, t0() + Duration::hours(3));
    assert_eq!(logged.session.idle_expires_at, t0() + Duration::hours(1));
    assert_eq!(logged.session.address.as_deref(), Some("192.0.2.7"));

    let active = f.app.session(&logged.secret).await.unwrap();
    assert_eq!(active.principal, Principal::user("alice", Role::Responder));
    assert_eq!(active.session_id, logged.session.id);

    // Used within the idle time, it lives on, but not past its lifetime.
    for _ in 0..3 {
        f.clock.advance(Duration::minutes(59));
        f.app.session(&logged.secret).await.unwrap();
    }
    assert_eq!(f.clock.now(), t0() + Duration::minutes(177));
    f.clock.set(t0() + Duration::hours(3) - Duration::seconds(1));
    f.app.session(&logged.secret).await.unwrap();
    f.clock.set(t0() + Duration::hours(3));
    unauthenticated(f.app.session(&logged.secret).await);

    // Unused for the idle time, a session ends.
    let idle = f.app.login(creds("alice", PASSWORD)).await.unwrap();
    f.clock.advance(Duration::hours(1) - Duration::seconds(1));
    f.app.session(&idle.secret).await.unwrap();
    f.clock.advance(Duration::hours(1));
    unauthenticated(f.app.session(&idle.secret).await);

    // Junk and unknown secrets are refused alike.
    unauthenticated(f.app.session("nonsense").await);
    unauthenticated(f.app.session(&format!("tcss_{}", "0".repeat(64))).await);
}

#[tokio::test]
async fn use_is_recorded_at_most_once_a_minute() {
    let f = fixture().await;
    let logged = f.app.login(creds("alice", PASSWORD)).await.unwrap();
    f.clock.advance(Duration::seconds(59));
    f.app.session(&logged.secret).await.unwrap();
    let row = f.app.store().get_session(logged.session.id).await.unwrap().unwrap();
    assert_eq!(row.last_seen_at, t0());
    f.clock.advance(Duration::seconds(1));
    f.app.session(&logged.secret).await.unwrap();
    let row = f.app.store().get_session(logged.session.id).await.unwrap().unwrap();
    assert_eq!(row.last_seen_at, t0() + Duration::seconds(60));
}

#[tokio::test]
async fn wrong_and_unknown_look_the_same_and_are_audited_without_the_password() {
    let f = fixture().await;
    let wrong = unauthenticated(f.app.login(creds("alice", "not the password")).await);
    let unknown = unauthenticated(f.app.login(creds("mallory", PASSWORD)).await);
    let no_password = unauthenticated(f.app.login(creds("vic", PASSWORD)).await);
    assert_eq!([wrong, unknown, no_password], ["wrong username or password"; 3]);
    let long_name = "x".repeat(300);
    unauthenticated(f.app.login(creds(&long_name, PASSWORD)).await);

    let failed: Vec<serde_json::Value> = audit_actions(&f.app)
        .await
        .into_iter()
        .filter(|(action, _)| action == "session.login_failed")
        .map(|(_, details)| details)
        .collect();
    let reasons: Vec<&str> = failed.iter().map(|d| d["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["wrong password", "unknown user", "no password set", "unknown user"]);
    assert_eq!(failed[0]["user"], "alice");
    assert_eq!(failed[0]["address"], "192.0.2.7");
    assert_eq!(failed[3]["user"].as_str().unwrap().chars().count(), 100, "typed names are shortened");
    let everything = serde_json::to_string(&audit_actions(&f.app).await).unwrap();
    assert!(!everything.contains("not the password") && !everything.contains(PASSWORD));
}

#[tokio::test]
async fn five_failures_lock_the_account_for_30s_and_a_success_clears_it() {
    let f = fixture().await;
    for _ in 0..5 {
        unauthenticated(f.app.login(creds("alice", "wrong password!")).await);
    }
    // Locked: even the right password is not checked.
    match f.app.login(creds("alice", PASSWORD)).await {
        Err(AppError::Throttled { retry_after }) => assert_eq!(retry_after, std::time::Duration::from_secs(30)),
        other => panic!("expected Throttled, got {other:?}"),
    }
    // From another address too: the account is what is locked.
    let elsewhere = Credentials { address: Some("198.51.100.1".parse().unwrap()), ..creds("alice", PASSWORD) };
    assert!(matches!(f.app.login(elsewhere).await, Err(AppError::Throttled { .. })));
    f.clock.advance(Duration::seconds(29));
    assert!(matches!(f.app.login(creds("alice", PASSWORD)).await, Err(AppError::Throttled { .. })));
    f.clock.advance(Duration::seconds(1));
    f.app.login(creds("alice", PASSWORD)).await.unwrap();

    // The success cleared the count: four failures do not lock again.
    for _ in 0..4 {
        unauthenticated(f.app.login(creds("alice", "wrong password!")).await);
    }
    f.app.login(creds("alice", PASSWORD)).await.unwrap();
}

#[tokio::test]
async fn an_address_with_over_twenty_failures_in_ten_minutes_is_locked() {
    let f = fixture().await;
    for i in 0..21 {
        unauthenticated(f.app.login(creds(&format!("guess{i}"), "whatever-it-is")).await);
    }
    match f.app.login(creds("alice", PASSWORD)).await {
        Err(AppError::Throttled { retry_after }) => assert_eq!(retry_after, std::time::Duration::from_secs(600)),
        other => panic!("expected Throttled, got {other:?}"),
    }
    // Another address is not affected; the IPv6 /64 counts as one.
    let other = Credentials { address: Some("2001:db8::1".parse().unwrap()), ..creds("alice", PASSWORD) };
    f.app.login(other).await.unwrap();
    f.clock.advance(Duration::minutes(10));
    f.app.login(creds("alice", PASSWORD)).await.unwrap();
}

#[tokio::test]
async fn a_user_removed_from_config_loses_their_sessions() {
    let f = fixture().await;
    let logged = f.app.login(creds("alice", PASSWORD)).await.unwrap();
    f.app.session(&logged.secret).await.unwrap();
    let without_alice = tocsin_config::parse("t.yaml", "users:\n  - { id: vic, name: Vic, email: v@example.com }\n");
    f.app.live_directory().replace(Directory::from_catalog(&without_alice.unwrap()));
    unauthenticated(f.app.session(&logged.secret).await);
    unauthenticated(f.app.login(creds("alice", PASSWORD)).await);
    // A role change applies to open sessions at once.
    let promoted =
        tocsin_config::parse("t.yaml", "users:\n  - { id: alice, name: A, email: a@e.com, role: manager }\n");
    f.app.live_directory().replace(Directory::from_catalog(&promoted.unwrap()));
    assert_eq!(f.app.session(&logged.secret).await.unwrap().principal, Principal::user("alice", Role::Manager));
}

#[tokio::test]
async fn csrf_tokens_are_stable_per_session_and_differ_between_sessions() {
    let f = fixture().await;
    let one = f.app.login(creds("alice", PASSWORD)).await.unwrap();
    let two = f.app.login(creds("alice", PASSWORD)).await.unwrap();
    let a = f.app.session(&one.secret).await.unwrap().csrf_token;
    f.clock.advance(Duration::minutes(5));
    assert_eq!(f.app.session(&one.secret).await.unwrap().csrf_token, a);
    let b = f.app.session(&two.secret).await.unwrap().csrf_token;
    assert_ne!(a, b);
    assert_eq!(a.len(), 64);
}

#[tokio::test]
async fn people_list_and_end_their_own_sessions_admins_anyones() {
    let f = fixture().await;
    let alice = Principal::user("alice", Role::Responder);
    let one = f.app.login(creds("alice", PASSWORD)).await.unwrap();
    let two = f.app.login(creds("alice", PASSWORD)).await.unwrap();
    let mine = f.app.my_sessions(&alice, Some(two.session.id)).await.unwrap();
    let listed: Vec<(i64, bool)> = mine.iter().map(|s| (s.id, s.current)).collect();
    assert_eq!(listed, [(one.session.id, false), (two.session.id, true)]);
    assert_eq!(mine[0].user_agent.as_deref(), Some("test-browser/1.0"));

    let vic = Principal::user("vic", Role::Viewer);
    assert!(matches!(f.app.end_session(&vic, one.session.id).await, Err(AppError::NotFound("session"))));
    assert!(f.app.my_sessions(&vic, None).await.unwrap().is_empty());
    f.app.end_session(&alice, one.session.id).await.unwrap();
    unauthenticated(f.app.session(&one.secret).await);
    assert!(matches!(f.app.end_session(&alice, one.session.id).await, Err(AppError::NotFound("session"))));
    f.app.end_session(&Principal::user("admin", Role::Admin), two.session.id).await.unwrap();
    assert!(f.app.my_sessions(&alice, None).await.unwrap().is_empty());

    let three = f.app.login(creds("alice", PASSWORD)).await.unwrap();
    f.app.logout(&three.secret).await.unwrap();
    f.app.logout(&three.secret).await.unwrap();
    unauthenticated(f.app.session(&three.secret).await);

    let actions: Vec<String> = audit_actions(&f.app).await.into_iter().map(|(a, _)| a).collect();
    let ended: Vec<&str> =
        actions.iter().map(String::as_str).filter(|a| a.starts_with("session.") && *a != "session.login").collect();
    assert_eq!(ended, ["session.ended", "session.ended", "session.logout"]);
}

#[tokio::test]
async fn only_admins_set_passwords_which_follow_the_policy_and_end_sessions() {
    let f = fixture().await;
    let alice = Principal::user("alice", Role::Responder);
    let admin = Principal::user("admin", Role::Admin);
    assert!(matches!(f.app.set_password(&alice, "alice", "another password").await, Err(AppError::Forbidden(_))));
    match f.app.set_password(&admin, "alice", "short").await {
        Err(AppError::Invalid { field, .. }) => assert_eq!(field, "password"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert!(matches!(f.app.set_password(&admin, "nobody", "another password").await, Err(AppError::NotFound("user"))));

    let logged = f.app.login(creds("alice", PASSWORD)).await.unwrap();
    f.app.set_password(&admin, "alice", "another password").await.unwrap();
    unauthenticated(f.app.session(&logged.secret).await);
    unauthenticated(f.app.login(creds("alice", PASSWORD)).await);
    f.app.login(creds("alice", "another password")).await.unwrap();
    assert!(f.app.password_verifies("alice", "another password").await.unwrap());
    assert!(!f.app.password_verifies("vic", "another password").await.unwrap());
}

#[tokio::test]
async fn invitations_are_single_use_and_last_24_hours() {
    let f = fixture().await;
    let admin = Principal::user("admin", Role::Admin);
    assert!(matches!(
        f.app.invite(&Principal::user("alice", Role::Responder), "vic").await,
        Err(AppError::Forbidden(_))
    ));
    assert!(matches!(f.app.invite(&admin, "nobody").await, Err(AppError::NotFound("user"))));

    let first = f.app.invite(&admin, "vic").await.unwrap();
    assert_eq!(first.url, format!("https://tocsin.example.com/invite/{}", first.token));
    assert_eq!(first.expires_at, t0() + Duration::hours(24));
    assert_eq!(
        f.app.invitation(&first.token).await.unwrap(),
        InvitationInfo { user_id: "vic".into(), expires_at: first.expires_at }
    );
    f.clock.advance(Duration::hours(24) - Duration::seconds(1));
    f.app.invitation(&first.token).await.unwrap();
    f.clock.advance(Duration::seconds(1));
    assert_eq!(unauthenticated(f.app.invitation(&first.token).await), "invitation is invalid, used or expired");
    unauthenticated(f.app.accept_invitation(&first.token, "vic's new password", None, None).await);

    // A new invitation replaces an older unused one.
    let second = f.app.invite(&admin, "vic").await.unwrap();
    let third = f.app.invite(&admin, "vic").await.unwrap();
    unauthenticated(f.app.invitation(&second.token).await);
    match f.app.accept_invitation(&third.token, "vic", None, None).await {
        Err(AppError::Invalid { field, .. }) => assert_eq!(field, "password"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    let logged = f.app.accept_invitation(&third.token, "vic's new password", address(), Some("ua")).await.unwrap();
    assert_eq!(f.app.session(&logged.secret).await.unwrap().principal, Principal::user("vic", Role::Viewer));
    unauthenticated(f.app.accept_invitation(&third.token, "vic's new password", None, None).await);
    unauthenticated(f.app.invitation(&third.token).await);
    f.app.login(creds("vic", "vic's new password")).await.unwrap();

    let actions: Vec<String> = audit_actions(&f.app).await.into_iter().map(|(a, _)| a).collect();
    for action in ["invitation.created", "invitation.accepted", "password.set", "session.login"] {
        assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
    }
}
