//! Passwords, invitations and login sessions end to end: the CLI and the
//! API against a running server, logins through its application layer (the
//! web pages' way in), and the admin password set at start.

use crate::cli::tocsin;
use crate::harness::*;
use std::process::Stdio;
use tocsin_app::{AppError, Credentials};
use tokio::io::AsyncWriteExt;

fn login<'a>(user: &'a str, password: &'a str) -> Credentials<'a> {
    Credentials { user, password, address: Some("192.0.2.9".parse().unwrap()), user_agent: Some("it") }
}

/// `tocsin users set-password USER` with `input` on standard input.
async fn set_password_via_cli(s: &TestServer, user: &str, input: &str) -> (bool, String, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .args(["users", "set-password", user])
        .env("TOCSIN_URL", &s.url)
        .env("TOCSIN_TOKEN", ADMIN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).await.unwrap();
    let out = child.wait_with_output().await.unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_set_with_the_cli_logs_in() {
    let s = TestServer::start().await;
    let app = s.running().app().clone();
    let (ok, out, err) = set_password_via_cli(&s, "bob", "bob's long password\n").await;
    assert!(ok, "{out}{err}");
    assert_eq!(out, "Password set for bob; their login sessions have ended.\n");
    let logged = app.login(login("bob", "bob's long password")).await.unwrap();
    let active = app.session(&logged.secret).await.unwrap();
    assert_eq!(active.principal.user_id(), Some("bob"));

    // The trailing newline was not part of it, and a new password ends the session.
    assert!(matches!(app.login(login("bob", "bob's long password\n")).await, Err(AppError::Unauthenticated(_))));
    let (ok, _, err) = set_password_via_cli(&s, "bob", "short\n").await;
    assert!(!ok && err.contains("field: password"), "{err}");
    let (ok, _, _) = set_password_via_cli(&s, "bob", "another long one\r\n").await;
    assert!(ok);
    assert!(matches!(app.session(&logged.secret).await, Err(AppError::Unauthenticated(_))));
    app.login(login("bob", "another long one")).await.unwrap();

    // Only admins set passwords.
    let bobs = user_token(&s, "bob", "responder").await;
    let denied = s.client(&bobs).set_password("alice", "alice's long password").await.unwrap_err();
    assert_eq!(denied.status(), Some(403), "{denied}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_sessions_and_throttling_over_the_api() {
    let s = TestServer::start().await;
    let app = s.running().app().clone();
    let admin = s.admin();

    let err = admin.set_password("nobody", "a long enough one").await.unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
    let (status, v) = s
        .api(reqwest::Method::PUT, "/users/alice/password", Some(ADMIN), Some(serde_json::json!({"password": "alice"})))
        .await;
    assert_eq!((status, v["error"]["field"].as_str()), (400, Some("password")), "{v}");

    let (ok, out, err) = tocsin(&s, &["users", "invite", "alice"]).await;
    assert!(ok, "{err}");
    let url = out.lines().map(str::trim).find(|l| l.contains("/invite/")).unwrap().to_string();
    assert!(url.starts_with(&format!("{}/invite/tcsi_", s.url)), "{out}");
    let invitation = admin.invite_user("alice").await.unwrap();
    assert_eq!(invitation.user, "alice");
    let token = invitation.url.rsplit('/').next().unwrap().to_string();
    let first = url.rsplit('/').next().unwrap();
    assert!(matches!(app.invitation(first).await, Err(AppError::Unauthenticated(_))), "replaced by the newer one");
    assert_eq!(app.invitation(&token).await.unwrap().expires_at, invitation.expires_at);
    let logged = app.accept_invitation(&token, "alice's long password", None, Some("browser")).await.unwrap();

    // Alice sees the session through the API (never as current) and ends it.
    let alices = s.client(&user_token(&s, "alice", "viewer").await);
    let sessions = alices.my_sessions().await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!((sessions[0].id, sessions[0].current), (logged.session.id, false));
    assert_eq!(sessions[0].user_agent.as_deref(), Some("browser"));
    assert!(admin.my_sessions().await.unwrap().is_empty(), "the admin's own list");
    let bobs = s.client(&user_token(&s, "bob", "responder").await);
    assert_eq!(bobs.end_session(logged.session.id).await.unwrap_err().status(), Some(404));
    alices.end_session(logged.session.id).await.unwrap();
    assert!(matches!(app.session(&logged.secret).await, Err(AppError::Unauthenticated(_))));
    assert_eq!(alices.end_session(logged.session.id).await.unwrap_err().status(), Some(404));

    // Five failures lock the account; the sixth try is refused unchecked.
    for _ in 0..5 {
        let wrong = app.login(login("alice", "not her password")).await;
        assert!(matches!(wrong, Err(AppError::Unauthenticated("wrong username or password"))), "{wrong:?}");
    }
    let locked = app.login(login("alice", "alice's long password")).await.unwrap_err();
    let AppError::Throttled { retry_after } = locked else { panic!("{locked:?}") };
    assert!(retry_after <= std::time::Duration::from_secs(30) && retry_after.as_secs() >= 29, "{retry_after:?}");
    let response = axum::response::IntoResponse::into_response(tocsin_http::error::ApiError::from(locked));
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "30");

    // Every one of these is in the audit log, and no password is.
    let audit = admin.audit_log(0, Some(500)).await.unwrap();
    let count = |action: &str| audit.iter().filter(|e| e.record.action == action).count();
    assert_eq!(count("session.login_failed"), 5);
    assert_eq!((count("invitation.created"), count("invitation.accepted")), (2, 1));
    assert_eq!((count("session.login"), count("session.ended")), (1, 1));
    let text = serde_json::to_string(&audit).unwrap();
    assert!(!text.contains("long password") && !text.contains("not her password"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_password_comes_from_the_environment_or_is_generated_once() {
    let mut s = TestServer::start().await;
    let generated = s.running().created_admin_password.clone().expect("a first start gives admin a password");
    assert_eq!(generated.len(), 20);
    s.running().app().login(login("admin", &generated)).await.unwrap();
    s.restart().await;
    assert_eq!(s.running().created_admin_password, None, "shown once, never replaced");
    s.running().app().login(login("admin", &generated)).await.unwrap();
    s.stop().await;

    // TOCSIN_ADMIN_PASSWORD is authoritative, and must be long enough.
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDb::create().await;
    let cfg = |password: &str| tocsin::serve::ServeConfig {
        listen: "127.0.0.1:0".into(),
        health_listen: None,
        data_dir: dir.path().join("data"),
        config: Some(example_config()),
        database_url: pg.as_ref().map(|p| p.url.clone()),
        tls: None,
        admin_token: Some(ADMIN.into()),
        admin_password: Some(password.into()),
        sessions: Default::default(),
        secret_key: None,
        limits: Default::default(),
        connections: Default::default(),
        overload: Default::default(),
        clock: std::sync::Arc::new(tocsin_core::clock::SystemClock),
        run_engine: false,
        engine_lease: tocsin::serve::DEFAULT_ENGINE_LEASE,
    };
    let short = tocsin::serve::start(cfg("too short")).await.err().expect("a short password stops the start");
    assert!(format!("{short:#}").contains("TOCSIN_ADMIN_PASSWORD must be at least 10 characters"), "{short:#}");
    let running = tocsin::serve::start(cfg("the operator's choice")).await.unwrap();
    assert_eq!(running.created_admin_password, None);
    let logged = running.app().login(login("admin", "the operator's choice")).await.unwrap();
    running.shutdown().await.unwrap();
    // The same value again keeps the stored password and its sessions.
    let running = tocsin::serve::start(cfg("the operator's choice")).await.unwrap();
    running.app().session(&logged.secret).await.unwrap();
    running.shutdown().await.unwrap();
    // A different value replaces it.
    let running = tocsin::serve::start(cfg("a newer choice!")).await.unwrap();
    assert!(running.app().session(&logged.secret).await.is_err());
    assert!(running.app().login(login("admin", "the operator's choice")).await.is_err());
    running.app().login(login("admin", "a newer choice!")).await.unwrap();
    running.shutdown().await.unwrap();
    if let Some(pg) = pg {
        pg.drop_db().await;
    }
}
