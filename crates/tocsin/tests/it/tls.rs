//! Native HTTPS from PEM files.

use crate::harness::*;
use std::sync::Arc;
use tocsin::serve::{ServeConfig, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_from_pem_files() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed_certificate(dir.path());
    let pg = PgDb::create().await;
    let running = start(ServeConfig {
        listen: "127.0.0.1:0".into(),
        health_listen: None,
        data_dir: dir.path().join("data"),
        config: Some(example_config()),
        database_url: pg.as_ref().map(|p| p.url.clone()),
        tls: Some((cert.clone(), key)),
        admin_token: Some(ADMIN.into()),
        admin_password: None,
        sessions: Default::default(),
        secret_key: None,
        limits: Default::default(),
        connections: Default::default(),
        overload: Default::default(),
        clock: Arc::new(tocsin_core::clock::SystemClock),
        run_engine: true,
        engine_lease: tocsin::serve::DEFAULT_ENGINE_LEASE,
    })
    .await
    .unwrap();
    assert!(running.tls);
    let root = reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap();
    let http = reqwest::Client::builder().add_root_certificate(root).build().unwrap();
    let url = format!("https://localhost:{}", running.addr.port());
    let r = http.post(format!("{url}/v2/enqueue")).json(&pd_trigger(PD_KEY, "tls-1", "over TLS")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 202);
    // Behind TLS the web pages' cookies are Secure: the login form's and the
    // session's.
    let password = running.created_admin_password.clone().expect("a first start prints admin's password");
    let browser = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = browser.get(format!("{url}/login")).send().await.unwrap();
    let login_cookie = form.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
    assert!(login_cookie.contains("; Secure"), "{login_cookie}");
    let token = login_cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_string();
    let r = browser
        .post(format!("{url}/login"))
        .header("cookie", format!("tocsin_login={token}"))
        .form(&[("_csrf", token.as_str()), ("username", "admin"), ("password", password.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("tocsin_session="))
        .unwrap();
    assert!(session.contains("; Secure") && session.contains("HttpOnly"), "{session}");
    // Plain HTTP to the TLS port does not get through.
    let plain = reqwest::Client::new().get(format!("http://127.0.0.1:{}/healthz", running.addr.port())).send().await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));
    running.shutdown().await.unwrap();
    if let Some(pg) = pg {
        pg.drop_db().await;
    }
}
