//! Starting servers for tests and talking to them.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use tempfile::TempDir;
use tocsin::connections::ConnectionLimits;
use tocsin::serve::{Running, ServeConfig, start};
use tocsin_core::clock::{Clock, ManualClock, SystemClock};
use tocsin_http::{IngestLimits, OverloadLimits};

pub const ADMIN: &str = "tcs_test_admin_0123456789abcdef0123456789";
pub const PD_KEY: &str = "6f1d3c0e9b2a4f7c8d5e1a2b3c4d5e6f";
pub const SEARCH_PD_KEY: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
pub const AM_KEY: &str = "am-checkout-0123456789abcdef";
pub const PROM_KEY: &str = "prom-checkout-0123456789abcdef";
pub const GENERIC_KEY: &str = "generic-checkout-0123456789ab";

pub fn example_config() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/tocsin.yaml"))
}

/// A self-signed certificate for `localhost` and 127.0.0.1, as PEM files in
/// `dir`: (certificate, key).
pub fn self_signed_certificate(dir: &std::path::Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is needed to make a test certificate (.ci/run installs it)");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    (cert, key)
}

pub fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../../fixtures/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

pub fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).single().unwrap()
}

/// A fresh PostgreSQL database for one test, when `TOCSIN_TEST_PG_URL` is set.
pub struct PgDb {
    admin_url: String,
    pub name: String,
    pub url: String,
}

impl PgDb {
    pub async fn create() -> Option<PgDb> {
        let admin_url = std::env::var("TOCSIN_TEST_PG_URL").ok().filter(|u| !u.is_empty())?;
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("TOCSIN_TEST_PG_URL is set but PostgreSQL is unreachable: {e}"));
        let mut rnd = [0u8; 8];
        getrandom::fill(&mut rnd).unwrap();
        let name = format!("tocsin_it_{}", hex(&rnd));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
        let base = admin_url.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin_url.clone());
        Some(PgDb { url: format!("{base}/{name}"), admin_url, name })
    }

    pub async fn drop_db(&self) {
        use sqlx::Connection;
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)))
                .execute(&mut conn)
                .await;
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub struct TestServer {
    running: Option<Running>,
    cfg: ServeConfig,
    pub url: String,
    pub dir: TempDir,
    pub pg: Option<PgDb>,
    pub http: reqwest::Client,
}

pub struct Options {
    pub clock: Arc<dyn Clock>,
    pub limits: IngestLimits,
    /// Config file to apply; the example file when `None`.
    pub config: Option<PathBuf>,
    /// Background engine; off means the test drives it with [`TestServer::tick`].
    pub run_engine: bool,
    pub connections: ConnectionLimits,
    pub overload: OverloadLimits,
    /// TLS certificate and key files.
    pub tls: Option<(PathBuf, PathBuf)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            limits: IngestLimits::default(),
            config: None,
            run_engine: true,
            connections: ConnectionLimits::default(),
            overload: OverloadLimits::default(),
            tls: None,
        }
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(Options::default()).await
    }

    /// A server whose clock only moves when the test moves it.
    pub async fn start_at(t: DateTime<Utc>) -> (TestServer, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(t));
        let server = Self::start_with(Options { clock: clock.clone(), ..Options::default() }).await;
        (server, clock)
    }

    pub async fn start_with(opts: Options) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let pg = PgDb::create().await;
        let cfg = ServeConfig {
            listen: "127.0.0.1:0".into(),
            health_listen: None,
            data_dir: dir.path().join("data"),
            config: Some(opts.config.unwrap_or_else(example_config)),
            database_url: pg.as_ref().map(|p| p.url.clone()),
            tls: opts.tls,
            admin_token: Some(ADMIN.into()),
            admin_password: None,
            sessions: Default::default(),
            secret_key: None,
            limits: opts.limits,
            connections: opts.connections,
            overload: opts.overload,
            clock: opts.clock,
            run_engine: opts.run_engine,
            engine_lease: tocsin::serve::DEFAULT_ENGINE_LEASE,
        };
        let running = start(cfg.clone()).await.unwrap();
        let url = format!("{}://{}", if running.tls { "https" } else { "http" }, running.addr);
        TestServer { running: Some(running), cfg, url, dir, pg, http: reqwest::Client::new() }
    }

    /// Stops the server cleanly and starts it again on the same database
    /// (and the same port, so links it handed out stay valid).
    pub async fn restart(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await.unwrap();
        }
        let mut cfg = self.cfg.clone();
        cfg.listen = self.url.trim_start_matches("http://").to_string();
        let running = start(cfg).await.unwrap();
        self.running = Some(running);
    }

    /// Another node on the same database (the same SQLite file, or the same
    /// PostgreSQL database), started without a config file: it serves the
    /// version in force. Its engine does not run.
    pub async fn second_node(&self) -> Running {
        let cfg = ServeConfig { listen: "127.0.0.1:0".into(), config: None, run_engine: false, ..self.cfg.clone() };
        start(cfg).await.unwrap()
    }

    /// Runs the engine once at the clock's current instant and waits for
    /// everything due to be done.
    pub async fn tick(&self) -> tocsin_engine::TickReport {
        self.running.as_ref().unwrap().tick().await.unwrap()
    }

    /// The running server, for tests that reach past the API (store, app).
    pub fn running(&self) -> &Running {
        self.running.as_ref().unwrap()
    }

    /// The server's store, for what no API shows (the engine's queue).
    pub fn store(&self) -> Arc<dyn tocsin_store::Store> {
        self.running.as_ref().unwrap().store.clone()
    }

    /// The address the server listens on.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.running.as_ref().unwrap().addr
    }

    pub fn client(&self, token: &str) -> tocsin_client::Client {
        tocsin_client::Client::new(&self.url, Some(token)).unwrap()
    }

    pub fn admin(&self) -> tocsin_client::Client {
        self.client(ADMIN)
    }

    /// POSTs raw bytes; returns status and the body parsed as JSON (Null if empty).
    pub async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}/api/v1{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.api(reqwest::Method::GET, path, Some(ADMIN), None).await
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await.unwrap();
        }
        if let Some(pg) = &self.pg {
            pg.drop_db().await;
        }
    }
}

/// A PagerDuty Events v2 trigger body.
pub fn pd_trigger(key: &str, dedup: &str, summary: &str) -> Value {
    serde_json::json!({
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": dedup,
        "payload": {"summary": summary, "source": "db-1", "severity": "critical"}
    })
}

pub fn pd_action(key: &str, dedup: &str, action: &str) -> Value {
    serde_json::json!({"routing_key": key, "event_action": action, "dedup_key": dedup})
}

pub fn body(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// A new API token for `user` with `role`, issued by the admin.
pub async fn user_token(s: &TestServer, user: &str, role: &str) -> String {
    let request = json!({"name": format!("{user}-{role}"), "role": role, "user": user});
    let (status, v) = s.api(reqwest::Method::POST, "/tokens", Some(ADMIN), Some(request)).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!((v["user_id"].as_str(), v["role"].as_str()), (Some(user), Some(role)), "{v}");
    v["token"].as_str().unwrap().to_string()
}

/// Reads a `tocsin serve` child's stdout until its "listening" line and
/// returns the URL it names; the rest of its stdout is drained in the
/// background so the child never blocks on a full pipe.
pub async fn listening_url(child: &mut tokio::process::Child) -> String {
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next_line().await.unwrap().expect("server exited before listening");
        if let Some(url) = line.strip_prefix("tocsin listening on ") {
            break url.trim().to_string();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    url
}
