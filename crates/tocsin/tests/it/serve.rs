//! Starting a server: what a failed start leaves behind, what the real
//! binary logs, and how database URLs are read.

use crate::harness::*;
use std::sync::Arc;
use tocsin::serve::{ServeConfig, start};

fn serve_config(dir: &std::path::Path, listen: &str, pg: Option<&PgDb>) -> ServeConfig {
    ServeConfig {
        listen: listen.into(),
        health_listen: None,
        data_dir: dir.join("data"),
        config: Some(example_config()),
        database_url: pg.map(|p| p.url.clone()),
        tls: None,
        admin_token: None,
        limits: Default::default(),
        connections: Default::default(),
        overload: Default::default(),
        clock: Arc::new(tocsin_core::clock::SystemClock),
        run_engine: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_first_start_leaves_no_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDb::create().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();

    let failed = start(serve_config(dir.path(), &port, pg.as_ref())).await;
    let error = format!("{:#}", failed.err().expect("the port is taken"));
    assert!(error.contains("cannot listen on"), "{error}");

    let running = start(serve_config(dir.path(), "127.0.0.1:0", pg.as_ref())).await.unwrap();
    let token = running.created_admin_token.clone().expect("the first start that listens creates the admin token");
    assert!(token.starts_with("tcs_"), "{token}");
    let tokens = tocsin_client::Client::new(&format!("http://{}", running.addr), Some(&token))
        .unwrap()
        .list_tokens()
        .await
        .unwrap();
    assert_eq!(tokens.len(), 1, "only the token that was shown exists: {tokens:?}");
    running.shutdown().await.unwrap();
    if let Some(pg) = pg {
        pg.drop_db().await;
    }
}

/// Runs `tocsin serve` with stdout and stderr piped (as under a service
/// manager or `| tee`), stops it with SIGTERM once it listens, and returns
/// everything it wrote to both.
async fn serve_piped(data_dir: &std::path::Path, config: &std::path::Path, pg: Option<&PgDb>) -> String {
    use std::process::Stdio;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tocsin"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .arg("--config")
        .arg(config)
        .env("TOCSIN_ADMIN_TOKEN", ADMIN)
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .env_remove("TOCSIN_DATABASE_URL")
        .env_remove("TOCSIN_LOG_FORMAT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(pg) = pg {
        cmd.arg("--database-url").arg(&pg.url);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let errors = tokio::spawn(async move {
        let mut text = String::new();
        stderr.read_to_string(&mut text).await.unwrap();
        text
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut out = String::new();
    while !out.contains("tocsin listening on") {
        let read = stdout.read_line(&mut out).await.unwrap();
        assert!(read > 0, "the server exited before listening: {out}");
    }
    let pid = child.id().unwrap().to_string();
    assert!(tokio::process::Command::new("kill").args(["-TERM", &pid]).status().await.unwrap().success());
    stdout.read_to_string(&mut out).await.unwrap();
    assert!(child.wait().await.unwrap().success(), "{out}");
    out + &errors.await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piped_logs_are_plain_text_with_a_readable_config_summary() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDb::create().await;
    let data = dir.path().join("data");

    let first = serve_piped(&data, &example_config(), pg.as_ref()).await;
    assert!(!first.contains('\x1b'), "no terminal escape codes in piped output: {first:?}");
    assert!(
        first.contains(&format!(
            "config applied: version 1 from {}: teams: 1 added; users: 2 added; services: 2 added; \
             integrations: 5 added; schedules: 2 added; escalation_policies: 1 added; notifications: changed",
            example_config().display()
        )),
        "{first}"
    );
    assert!(!first.contains("CatalogChanges"), "no Rust debug output: {first}");

    // The same data with an edited file: one service renamed, one gone with
    // its integration, one integration given a new key.
    let text = std::fs::read_to_string(example_config()).unwrap();
    let search = text.find("\n  # `description` and `team` are optional").unwrap();
    let notifications = text.find("\n# How notifications leave the server").unwrap();
    let edited = format!("{}\n{}", &text[..search], &text[notifications..])
        .replace("name: Checkout API", "name: Checkout")
        .replace("key: am-checkout-0123456789abcdef", "key: am-checkout-rotated-0123456789");
    let config = dir.path().join("edited.yaml");
    std::fs::write(&config, edited).unwrap();
    let second = serve_piped(&data, &config, pg.as_ref()).await;
    assert!(!second.contains('\x1b'), "{second:?}");
    assert!(
        second.contains(&format!(
            "config applied: version 2 from {}: services: 1 changed, 1 removed; integrations: 1 changed, 1 removed",
            config.display()
        )),
        "{second}"
    );
    if let Some(pg) = pg {
        pg.drop_db().await;
    }
}

/// `tocsin migrate` with these arguments in `dir`: success, stdout, stderr.
async fn migrate(dir: &std::path::Path, database_url: &str) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .args(["migrate", "--data-dir", "default-data", "--database-url", database_url])
        .current_dir(dir)
        .env_remove("TOCSIN_DATA_DIR")
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_urls_open_the_file_they_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("elsewhere").join("custom.db");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let url = format!("sqlite://{}", file.display());
    assert!(url.starts_with("sqlite:///"), "{url}");
    let mut cfg = serve_config(dir.path(), "127.0.0.1:0", None);
    cfg.database_url = Some(url.clone());
    cfg.admin_token = Some(ADMIN.into());
    let running = start(cfg).await.unwrap();
    assert_eq!(running.store.backend(), "sqlite");
    let http = reqwest::Client::new();
    let sent = http
        .post(format!("http://{}/v2/enqueue", running.addr))
        .json(&pd_trigger(PD_KEY, "url-1", "stored where the URL says"))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status().as_u16(), 202);
    running.shutdown().await.unwrap();
    assert!(!dir.path().join("data").join("tocsin.db").exists(), "the data directory's default file is not used");
    let store = tocsin_store::open(file.to_str().unwrap()).await.unwrap();
    let incidents = store.list_incidents(&Default::default()).await.unwrap();
    assert_eq!(incidents.items[0].title, "stored where the URL says");
    store.close().await;

    // Relative forms are relative to the working directory.
    for (url, name) in [("sqlite:relative.db", "relative.db"), ("sqlite://other.db", "other.db")] {
        let (ok, out, err) = migrate(dir.path(), url).await;
        assert!(ok && out.contains("migrations applied (sqlite)"), "{url}: {out}{err}");
        assert!(dir.path().join(name).is_file(), "{url} makes {name}");
    }
    assert!(!dir.path().join("default-data").exists());
    // What cannot work is refused with a SQLite-specific reason.
    let (ok, _, err) = migrate(dir.path(), "sqlite::memory:").await;
    assert!(!ok && err.contains("SQLite URL") && err.contains("in-memory"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_postgres_is_reported_with_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = migrate(dir.path(), "postgres://postgres@127.0.0.1:1/tocsin").await;
    assert!(!ok);
    assert!(err.contains("127.0.0.1:1") && err.to_lowercase().contains("refused"), "{err}");
    assert!(!err.contains("timed out"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // With a real server: a database that does not exist says so.
    let Some(admin_url) = std::env::var("TOCSIN_TEST_PG_URL").ok().filter(|u| !u.is_empty()) else { return };
    let base = admin_url.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
    let (ok, _, err) = migrate(dir.path(), &format!("{base}/tocsin_no_such_database")).await;
    assert!(!ok);
    assert!(err.contains("database \"tocsin_no_such_database\" does not exist"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_right_after_the_listening_line_shuts_down_cleanly() {
    // A supervisor may signal as soon as it reads the line; the server must
    // already be handling SIGTERM then (each run races it anew).
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDb::create().await;
    for run in 0..10 {
        let out = serve_piped(&dir.path().join("data"), &example_config(), pg.as_ref()).await;
        assert!(out.contains("shutting down: draining requests"), "run {run}: {out}");
    }
    if let Some(pg) = pg {
        pg.drop_db().await;
    }
}
