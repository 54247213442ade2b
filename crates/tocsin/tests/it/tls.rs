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
    // Plain HTTP to the TLS port does not get through.
    let plain = reqwest::Client::new().get(format!("http://127.0.0.1:{}/healthz", running.addr.port())).send().await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));
    running.shutdown().await.unwrap();
    if let Some(pg) = pg {
        pg.drop_db().await;
    }
}
