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
        admin_password: None,
        sessions: Default::default(),
        secret_key: None,
        limits: Default::default(),
        connections: Default::default(),
        overload: Default::default(),
        clock: Arc::new(tocsin_core::clock::SystemClock),
        run_engine: false,
        engine_lease: tocsin::serve::DEFAULT_ENGINE_LEASE,
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
            "config applied: version 1 from {}: teams: 1 added; users: 2 added; services: 3 added; \
             integrations: 5 added; routed_integrations: 1 added; schedules: 2 added; escalation_policies: 1 added; \
             heartbeats: 1 added; routes: changed; inhibit_rules: changed; notifications: changed",
            example_config().display()
        )),
        "{first}"
    );
    assert!(!first.contains("CatalogChanges"), "no Rust debug output: {first}");
    assert!(!first.contains("take effect when each server restarts"), "a starting server uses them at once: {first}");

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_admin_token_from_the_environment_stays_revoked_and_the_server_starts() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDb::create().await;
    let mut cfg = serve_config(dir.path(), "127.0.0.1:0", pg.as_ref());
    cfg.admin_token = Some(ADMIN.into());
    let running = start(cfg.clone()).await.unwrap();
    let admin = tocsin_client::Client::new(&format!("http://{}", running.addr), Some(ADMIN)).unwrap();
    let tokens = admin.list_tokens().await.unwrap();
    let bootstrap = tokens.iter().find(|t| t.name.contains("TOCSIN_ADMIN_TOKEN")).unwrap();
    admin.revoke_token(bootstrap.id).await.unwrap();
    running.shutdown().await.unwrap();

    // The next deploy, with the same environment, starts; the token stays dead.
    let running = start(cfg).await.unwrap();
    let admin = tocsin_client::Client::new(&format!("http://{}", running.addr), Some(ADMIN)).unwrap();
    match admin.list_tokens().await {
        Err(tocsin_client::ClientError::Api { status: 401, .. }) => {}
        other => panic!("the revoked token must stay refused: {other:?}"),
    }
    running.shutdown().await.unwrap();

    // The real binary says why the configured token does not work.
    let out = serve_piped(&dir.path().join("data"), &example_config(), pg.as_ref()).await;
    assert!(out.contains("TOCSIN_ADMIN_TOKEN") && out.contains("revoked") && out.contains("not re-enabled"), "{out}");
    assert!(out.contains("WARN"), "{out}");
    if let Some(pg) = pg {
        pg.drop_db().await;
    }
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

/// On the embedded database whatever the environment selects: the files are
/// what this is about.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_and_database_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cfg = serve_config(dir.path(), "127.0.0.1:0", None);
    let data = dir.path().join("data");
    let db = data.join("tocsin.db");
    let companions = [data.join("tocsin.db-wal"), data.join("tocsin.db-shm")];

    let running = start(cfg.clone()).await.unwrap();
    assert_eq!(mode(&data), 0o700, "a new data directory");
    assert_eq!(mode(&db), 0o600, "a new database");
    for file in &companions {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    running.shutdown().await.unwrap();

    // Files left readable by others (an older version, a restore) are
    // restricted at the next start; the directory is the operator's and is
    // left as it is.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let running = start(cfg).await.unwrap();
    assert_eq!(mode(&db), 0o600);
    for file in &companions {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    assert_eq!(mode(&data), 0o755);
    running.shutdown().await.unwrap();
}

/// The `server_secrets` table as stored, read past Tocsin.
async fn raw_secrets(data: &std::path::Path, pg: Option<&PgDb>) -> Vec<(String, String)> {
    use sqlx::Connection;
    let query = "SELECT name, value FROM server_secrets ORDER BY name";
    match pg {
        Some(pg) => {
            let mut conn = sqlx::PgConnection::connect(&pg.url).await.unwrap();
            sqlx::query_as(query).fetch_all(&mut conn).await.unwrap()
        }
        None => {
            let url = format!("sqlite://{}", data.join("tocsin.db").display());
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query_as(query).fetch_all(&mut conn).await.unwrap()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_keys_are_stored_encrypted_with_the_secret_key_and_need_it() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDb::create().await;
    let data = dir.path().join("data");
    let key = tocsin_core::secret_box::SecretKey::parse(&"3c".repeat(32)).unwrap();
    let mut cfg = serve_config(dir.path(), "127.0.0.1:0", pg.as_ref());
    cfg.admin_token = Some(ADMIN.into());

    // First without a key: stored as plain text, as before.
    let running = start(cfg.clone()).await.unwrap();
    let admin = tocsin_client::Client::new(&format!("http://{}", running.addr), Some(ADMIN)).unwrap();
    let webhook = admin.webhook_secret().await.unwrap().secret;
    running.shutdown().await.unwrap();
    let raw = raw_secrets(&data, pg.as_ref()).await;
    assert!(raw.iter().any(|(name, value)| name == "webhook_signing" && *value == webhook), "{raw:?}");

    // With a key, every stored secret is sealed in place and keeps its value.
    cfg.secret_key = Some(key.clone());
    let running = start(cfg.clone()).await.unwrap();
    let admin = tocsin_client::Client::new(&format!("http://{}", running.addr), Some(ADMIN)).unwrap();
    assert_eq!(admin.webhook_secret().await.unwrap().secret, webhook, "receivers keep verifying");
    running.shutdown().await.unwrap();
    let raw = raw_secrets(&data, pg.as_ref()).await;
    assert_eq!(raw.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["ack_link", "webhook_signing"]);
    for (name, value) in &raw {
        assert!(value.starts_with("sealed.v1.") && !value.contains(&webhook[..16]), "{name}: {value}");
    }

    // A wrong key or none at all fails the start and says why.
    let mut wrong = cfg.clone();
    wrong.secret_key = Some(tocsin_core::secret_box::SecretKey::parse(&"c3".repeat(32)).unwrap());
    let error = format!("{:#}", start(wrong).await.err().expect("a wrong key fails the start"));
    assert!(error.contains("cannot decrypt the stored `ack_link` secret") && error.contains("not the one"), "{error}");
    let mut none = cfg.clone();
    none.secret_key = None;
    let error = format!("{:#}", start(none).await.err().expect("a missing key fails the start"));
    assert!(error.contains("encrypted, but no secret key is configured"), "{error}");

    // The right key again: everything as it was.
    let running = start(cfg).await.unwrap();
    let admin = tocsin_client::Client::new(&format!("http://{}", running.addr), Some(ADMIN)).unwrap();
    assert_eq!(admin.webhook_secret().await.unwrap().secret, webhook);
    running.shutdown().await.unwrap();
    if let Some(pg) = pg {
        pg.drop_db().await;
    }
}

#[test]
fn the_secret_key_comes_from_the_environment_or_a_file() {
    use tocsin::serve::load_secret_key;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("key");
    let hex = "3c".repeat(32);
    std::fs::write(&file, format!("{hex}\n")).unwrap();
    let key = tocsin_core::secret_box::SecretKey::parse(&hex).unwrap();
    assert_eq!(load_secret_key(None, None).unwrap(), None);
    assert_eq!(load_secret_key(Some(""), None).unwrap(), None);
    assert_eq!(load_secret_key(Some(&hex), None).unwrap(), Some(key.clone()));
    assert_eq!(load_secret_key(None, Some(&file)).unwrap(), Some(key));
    let both = load_secret_key(Some(&hex), Some(&file)).unwrap_err().to_string();
    assert!(both.contains("not both"), "{both}");
    let short = load_secret_key(Some("abc"), None).unwrap_err().to_string();
    assert!(short.starts_with("TOCSIN_SECRET_KEY: ") && short.contains("64 hex digits"), "{short}");
    let missing = format!("{:#}", load_secret_key(None, Some(&dir.path().join("nope"))).unwrap_err());
    assert!(missing.contains("cannot read --secret-key-file"), "{missing}");
}
