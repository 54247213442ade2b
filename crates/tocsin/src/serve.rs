//! Starting and stopping one Tocsin server.

use anyhow::{Context, Result, bail};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tocsin_app::{App, SessionPolicy, WebhookSecret};
use tocsin_core::access::Principal;
use tocsin_core::auth::{Role, format_token, hash_secret};
use tocsin_core::clock::Clock;
use tocsin_core::directory::{Directory, LiveDirectory};
use tocsin_core::model::ADMIN_USER;
use tocsin_core::notify::backoff::RetryPolicy;
use tocsin_core::notify::ratelimit::RateLimiter;
use tocsin_core::secret_box::SecretKey;
use tocsin_engine::channels::Channels;
use tocsin_engine::paging::{Paging, PagingSettings};
use tocsin_engine::{Engine, EngineConfig};
use tocsin_http::{AppState, IngestLimits, OverloadLimits};
use tocsin_store::supervise::{GiveUp, Policy, supervise};
use tocsin_store::{ACK_LINK, AccountStore, ConfigSource, NewToken, ServerSecrets, Store, WEBHOOK_SIGNING};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::connections::{ConnectionLimits, Gate};

/// File name of the embedded database inside the data directory.
pub const SQLITE_FILE: &str = "tocsin.db";

/// Longest one notification attempt (HTTP request or SMTP session) may take.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// Shortest engine lease: a claim must outlast the longest delivery attempt,
/// or a slow receiver would get the same page from a second node.
pub const MIN_ENGINE_LEASE: Duration = Duration::from_secs(15);

/// How long a node's claim on engine work lasts unless it finishes sooner:
/// when a node dies, another takes its work over after this.
pub const DEFAULT_ENGINE_LEASE: Duration = Duration::from_secs(60);

/// How long shutdown waits for in-flight requests before closing them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct ServeConfig {
    pub listen: String,
    /// A second, plain-HTTP listener for `/healthz`, `/readyz` and
    /// `/metrics` only, on its own thread (see [`crate::probes`]).
    pub health_listen: Option<String>,
    pub data_dir: PathBuf,
    pub config: Option<PathBuf>,
    pub database_url: Option<String>,
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Ensures an admin token with this secret exists (for automation).
    pub admin_token: Option<String>,
    /// The `admin` user's password (`TOCSIN_ADMIN_PASSWORD`): set at start
    /// unless the stored one already is this. Without it, a password is
    /// generated once, when `admin` has none.
    pub admin_password: Option<String>,
    /// How long login sessions last.
    pub sessions: SessionPolicy,
    /// Seals the signing keys kept in the database (see
    /// [`load_secret_key`]); `None` stores them unencrypted.
    pub secret_key: Option<SecretKey>,
    pub limits: IngestLimits,
    /// Open connections, header and idle timeouts (see [`crate::connections`]).
    pub connections: ConnectionLimits,
    /// Requests and body bytes in flight, body deadline (see [`tocsin_http::overload`]).
    pub overload: OverloadLimits,
    /// The system clock in production; tests pass one they control.
    pub clock: Arc<dyn Clock>,
    /// Run the engine in the background (always, in production). Tests with
    /// a manual clock turn it off and call [`Running::tick`] after each move
    /// of the clock, so every step happens at an instant they chose.
    pub run_engine: bool,
    /// How long a claim on engine work lasts (at least [`MIN_ENGINE_LEASE`]);
    /// another node takes over a dead node's work after it.
    pub engine_lease: Duration,
}

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    /// Where the health listener listens, when there is one.
    pub health_addr: Option<SocketAddr>,
    pub store: Arc<dyn Store>,
    /// The admin token created on first start, to be shown once.
    pub created_admin_token: Option<String>,
    /// The `admin` user's password generated on first start, to be shown once.
    pub created_admin_password: Option<String>,
    /// Whether the listener speaks HTTPS.
    pub tls: bool,
    handle: axum_server::Handle<SocketAddr>,
    server: JoinHandle<std::io::Result<()>>,
    health: Option<crate::probes::HealthListener>,
    engine: Arc<Engine>,
    engine_task: Option<JoinHandle<()>>,
    retention_task: Option<JoinHandle<()>>,
    config_task: JoinHandle<()>,
    stop_engine: watch::Sender<bool>,
    app: App,
    config: Option<PathBuf>,
}

/// How often a node checks for a config version applied elsewhere; every
/// node serves a new version within this (plus one read) of its commit.
const CONFIG_POLL: Duration = Duration::from_secs(2);

/// Reads, validates and applies the config file at `path` as the system;
/// `starting` when this server has yet to read the notification settings.
async fn apply_file(app: &App, path: &std::path::Path, starting: bool) -> Result<tocsin_app::AppliedConfig> {
    let text = tocsin_config::read_source(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let source = ConfigSource { file: path.display().to_string(), text };
    let applied = app.apply_config(&Principal::System, &source).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    for warning in &applied.warnings {
        if !(starting && warning == tocsin_app::RESTART_NOTICE) {
            tracing::warn!(file = %path.display(), "{warning}");
        }
    }
    Ok(applied)
}

/// Puts versions applied through other nodes in force here, until stopped.
async fn follow_config(app: App, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(CONFIG_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if let Err(e) = app.refresh_config().await {
            tracing::warn!(error = %e, "cannot check for a newer config version");
        }
    }
}

/// Opens the store that the flags select (a `postgres://` or `sqlite:` URL,
/// or a file path; see [`tocsin_store::Location`]), creating the data
/// directory for the embedded default (see [`data_dir`]).
pub async fn open_store(database_url: Option<&str>, data_dir: &std::path::Path) -> Result<Arc<dyn Store>> {
    let target = match database_url {
        Some(url) => url.to_string(),
        None => {
            self::data_dir(data_dir)?;
            data_dir.join(SQLITE_FILE).to_string_lossy().into_owned()
        }
    };
    let location = tocsin_store::Location::parse(&target).context("--database-url")?;
    tocsin_store::open(&target).await.with_context(|| format!("cannot open {location}"))
}

/// Creates the data directory readable by its owner only (0700, on Unix).
/// A directory that already exists keeps its mode, since an operator may
/// have chosen it (a mount point, a directory shared with backups); when
/// others may enter it, a warning says so. The database files inside are
/// owner-only whatever the directory allows (see `tocsin_store::sqlite`).
fn data_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let existed = dir.is_dir();
        builder.mode(0o700);
        builder.create(dir).with_context(|| format!("cannot create data directory {}", dir.display()))?;
        let mode = std::fs::metadata(dir).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
        if existed && mode & 0o077 != 0 {
            tracing::warn!(
                dir = %dir.display(),
                mode = format!("{mode:03o}"),
                "the data directory is open to other users; `chmod 700` it (the database files in it are owner-only)"
            );
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        builder.create(dir).with_context(|| format!("cannot create data directory {}", dir.display()))
    }
}

/// The key that seals server secrets in the database: `TOCSIN_SECRET_KEY`
/// (`env`) or the contents of `--secret-key-file` (`file`), 64 hex digits
/// either way; at most one of them. `None` when neither is set.
pub fn load_secret_key(env: Option<&str>, file: Option<&Path>) -> Result<Option<SecretKey>> {
    let (text, from) = match (env.filter(|v| !v.trim().is_empty()), file) {
        (Some(_), Some(_)) => bail!("set either TOCSIN_SECRET_KEY or --secret-key-file, not both"),
        (Some(value), None) => (value.to_string(), "TOCSIN_SECRET_KEY".to_string()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --secret-key-file {}", path.display()))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
                if mode & 0o077 != 0 {
                    tracing::warn!(
                        file = %path.display(),
                        mode = format!("{mode:03o}"),
                        "the secret key file is readable by other users; `chmod 600` it"
                    );
                }
            }
            (text, format!("--secret-key-file {}", path.display()))
        }
        (None, None) => return Ok(None),
    };
    SecretKey::parse(&text).map(Some).map_err(|e| anyhow::anyhow!("{from}: {e}"))
}

pub async fn start(cfg: ServeConfig) -> Result<Running> {
    let clock = cfg.clock.clone();
    let store = open_store(cfg.database_url.as_deref(), &cfg.data_dir).await?;

    // The version in force is the newest stored one; `--config` applies its
    // file first when that differs (a restart with the same file stores
    // nothing new).
    let app = App::new(store.clone(), clock.clone(), LiveDirectory::default());
    if let Some(path) = &cfg.config {
        apply_file(&app, path, true).await?;
    }
    app.refresh_config().await.map_err(|e| anyhow::anyhow!("cannot load the applied config: {e}"))?;
    let _ = tocsin_http::metrics::handle();

    let listener = crate::connections::bind(&cfg.listen).with_context(|| format!("cannot listen on {}", cfg.listen))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let health_listener = match &cfg.health_listen {
        Some(at) => Some(crate::connections::bind(at).with_context(|| format!("cannot listen on {at}"))?),
        None => None,
    };

    let directory = app.live_directory().clone();
    let scheme = if cfg.tls.is_some() { "https" } else { "http" };
    let configured_url = directory.current().notifications.public_url.clone();
    let public_url = configured_url.clone().unwrap_or_else(|| format!("{scheme}://{addr}"));
    let secure_cookies = public_url.starts_with("https://");
    if configured_url.is_none() && addr.ip().is_unspecified() {
        tracing::warn!(%public_url, "notifications.public_url is not set: acknowledge links in pages point at the wildcard listen address, which no browser can reach");
    }
    let secrets = ServerSecrets::new(store.clone(), cfg.secret_key.clone());
    let (paging, webhook_secret) =
        paging_settings(&secrets, &directory.current(), public_url.clone(), clock.now()).await?;
    let app = app
        .with_webhook_secret(webhook_secret)
        .with_secrets(secrets)
        .with_public_url(public_url)
        .with_session_policy(cfg.sessions);
    let state = AppState::new(app.clone(), cfg.limits).with_overload(cfg.overload).with_secure_cookies(secure_cookies);
    let health_router = tocsin_http::health_router(state.clone());
    let router = tocsin_http::router(state.clone());
    let tls = match &cfg.tls {
        Some((cert, key)) => Some(
            axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .with_context(|| format!("cannot load TLS certificate {} / key {}", cert.display(), key.display()))?,
        ),
        None => None,
    };
    let channels = Channels::new(directory.current().notifications.smtp.clone(), NOTIFY_TIMEOUT)
        .map_err(|e| anyhow::anyhow!("cannot set up notification channels: {e:?}"))?;

    let handle = axum_server::Handle::<SocketAddr>::new();
    // Every connection passes the gate, beneath TLS when there is TLS.
    let gate = Gate::start("main", cfg.connections);
    let health_cap = if health_listener.is_some() { crate::probes::HEALTH_CONNECTIONS } else { 0 };
    crate::connections::check_open_file_limit(cfg.connections.max_connections + health_cap);
    let mut server = axum_server::from_tcp(listener)?
        .handle(handle.clone())
        .accept_error_handler(crate::connections::accept_error_handler("main"));
    server.http_builder().http1().max_buf_size(crate::connections::READ_BUFFER);
    let serving: Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> = match tls {
        Some(tls) => {
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls)
                .handshake_timeout(cfg.connections.header_timeout)
                .acceptor(gate);
            Box::pin(server.acceptor(acceptor).serve(router.into_make_service_with_connect_info::<SocketAddr>()))
        }
        None => Box::pin(server.acceptor(gate).serve(router.into_make_service_with_connect_info::<SocketAddr>())),
    };

    let health = match health_listener {
        Some(listener) => Some(crate::probes::start(listener, health_router, cfg.connections)?),
        None => None,
    };

    // Last before serving: a start that fails earlier leaves behind no admin
    // token that nobody was ever shown.
    let created_admin_token = bootstrap_admin(&*store, cfg.admin_token.as_deref(), clock.now()).await?;
    let created_admin_password = bootstrap_admin_password(&app, cfg.admin_password.as_deref()).await?;
    let server = tokio::spawn(serving);

    let (stop_engine, stopped) = watch::channel(false);
    let lease = chrono::Duration::from_std(cfg.engine_lease.max(MIN_ENGINE_LEASE)).unwrap_or(chrono::Duration::MAX);
    let engine_config = EngineConfig { lease, ..EngineConfig::default() };
    let engine = Engine::new(store.clone(), clock, engine_config)
        .with_noise(directory.clone())
        .with_paging(Paging::new(store.clone(), directory, channels, paging));
    let engine = Arc::new(engine);
    // Both are supervised: a panic is logged and the task started again;
    // one that keeps panicking exits the process (see `tocsin_store::supervise`).
    let engine_task = cfg.run_engine.then(|| {
        let (engine, stopped) = (engine.clone(), stopped.clone());
        let (task, status) =
            supervise("engine", Policy::default(), GiveUp::exit_process(), move || engine.clone().run(stopped.clone()));
        state.watch_task("engine", status);
        task
    });
    let retention_task = cfg.run_engine.then(|| {
        let (store, directory, clock, stopped) =
            (store.clone(), app.live_directory().clone(), cfg.clock.clone(), stopped.clone());
        let idle = cfg.sessions.idle;
        let (task, status) = supervise("retention", Policy::default(), GiveUp::exit_process(), move || {
            crate::retention::run(store.clone(), directory.clone(), clock.clone(), idle, stopped.clone())
        });
        state.watch_task("retention", status);
        task
    });
    let config_task = {
        let app = app.clone();
        let (task, status) = supervise("config_follower", Policy::default(), GiveUp::exit_process(), move || {
            follow_config(app.clone(), stopped.clone())
        });
        state.watch_task("config_follower", status);
        task
    };
    tracing::info!(%addr, tls = cfg.tls.is_some(), backend = store.backend(), health = ?health.as_ref().map(|h| h.addr), "tocsin listening");
    Ok(Running {
        addr,
        health_addr: health.as_ref().map(|h| h.addr),
        store,
        created_admin_token,
        created_admin_password,
        tls: cfg.tls.is_some(),
        handle,
        server,
        health,
        engine,
        engine_task,
        retention_task,
        config_task,
        stop_engine,
        app,
        config: cfg.config.clone(),
    })
}

impl Running {
    /// Applies the `--config` file again (SIGHUP). A file that does not
    /// validate changes nothing and the error says why.
    pub async fn reload_config(&self) -> Result<Option<tocsin_app::AppliedConfig>> {
        match &self.config {
            Some(path) => apply_file(&self.app, path, false).await.map(Some),
            None => Ok(None),
        }
    }

    /// The application layer this server runs, for tests that act directly.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// Runs one engine pass now: everything due at the clock's instant,
    /// deliveries included, is done when this returns.
    pub async fn tick(&self) -> Result<tocsin_engine::TickReport> {
        Ok(self.engine.tick().await?)
    }

    /// Stops accepting, lets in-flight requests finish, stops the engine and
    /// flushes the store. The engine stops at once, in the middle of a
    /// backlog if need be (whatever it has not done stays queued in the
    /// database), while the requests drain.
    pub async fn shutdown(self) -> Result<()> {
        self.handle.graceful_shutdown(Some(DRAIN_TIMEOUT));
        let _ = self.stop_engine.send(true);
        let served = self.server.await;
        if let Some(health) = self.health {
            health.stop().await;
        }
        if let Some(task) = self.engine_task {
            let _ = task.await;
        }
        let _ = self.config_task.await;
        if let Some(task) = self.retention_task {
            let _ = task.await;
        }
        self.store.close().await;
        match served {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(e.into()),
        }
    }
}

/// With `TOCSIN_ADMIN_TOKEN`, makes sure that secret is an admin token, unless
/// an admin revoked it: a revoked token is never brought back (that would
/// undo the revocation at every restart) and never stops a start (that would
/// let any admin arrange an outage at the next deploy); the log says so.
/// Without it, creates an admin token when no token exists yet and returns
/// its secret.
async fn bootstrap_admin(
    store: &dyn AccountStore,
    fixed: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<String>> {
    if let Some(secret) = fixed {
        if secret.len() < 16 {
            bail!("TOCSIN_ADMIN_TOKEN must be at least 16 characters");
        }
        let hash = hash_secret(secret);
        if store.authenticate(&hash, now).await?.is_some() {
            return Ok(None);
        }
        match store.token_by_secret(&hash).await? {
            Some(token) if token.revoked_at.is_some() => tracing::warn!(
                token = token.id,
                revoked_at = ?token.revoked_at,
                "the configured TOCSIN_ADMIN_TOKEN was revoked and is not re-enabled; \
                 set a new secret in TOCSIN_ADMIN_TOKEN, or unset it"
            ),
            Some(token) => tracing::warn!(
                token = token.id,
                "the configured TOCSIN_ADMIN_TOKEN cannot be used (expired, or its account is not active) \
                 and is not re-enabled; set a new secret in TOCSIN_ADMIN_TOKEN, or unset it"
            ),
            None => {
                let new = NewToken {
                    name: "admin (TOCSIN_ADMIN_TOKEN)".into(),
                    role: Role::Admin,
                    user_id: ADMIN_USER.into(),
                    secret_hash: hash,
                    expires_at: None,
                };
                store.create_token(&new, "system", now).await?;
            }
        }
        return Ok(None);
    }
    if store.active_token_count().await? > 0 {
        return Ok(None);
    }
    let secret = format_token(&random_token_bytes()?);
    let new = NewToken {
        name: "admin".into(),
        role: Role::Admin,
        user_id: ADMIN_USER.into(),
        secret_hash: hash_secret(&secret),
        expires_at: None,
    };
    store.create_token(&new, "system", now).await?;
    Ok(Some(secret))
}

/// Characters of generated passwords: no 0/O, 1/l/I, so one read off a
/// screen is typed right.
const PASSWORD_ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
const GENERATED_PASSWORD_CHARS: usize = 20;

/// With `TOCSIN_ADMIN_PASSWORD`, makes it the `admin` user's password (the
/// environment is authoritative: a password changed since is set back at
/// the next start); a stored password that already is this one is left
/// alone, so its sessions stay. Without it, gives `admin` a generated
/// password when it has none and returns it, to be shown once.
async fn bootstrap_admin_password(app: &App, fixed: Option<&str>) -> Result<Option<String>> {
    if let Some(password) = fixed {
        if password.len() < tocsin_core::password::MIN_PASSWORD_BYTES {
            bail!("TOCSIN_ADMIN_PASSWORD must be at least {} characters", tocsin_core::password::MIN_PASSWORD_BYTES);
        }
        tocsin_core::password::check_password(ADMIN_USER, password)
            .map_err(|e| anyhow::anyhow!("TOCSIN_ADMIN_PASSWORD: {e}"))?;
        if !app.password_verifies(ADMIN_USER, password).await.map_err(|e| anyhow::anyhow!("{e}"))? {
            app.set_password(&Principal::System, ADMIN_USER, password).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            tracing::info!("the admin user's password was set from TOCSIN_ADMIN_PASSWORD");
        }
        return Ok(None);
    }
    if app.has_password(ADMIN_USER).await.map_err(|e| anyhow::anyhow!("{e}"))? {
        return Ok(None);
    }
    let password = generate_password()?;
    app.set_password(&Principal::System, ADMIN_USER, &password).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Some(password))
}

/// [`GENERATED_PASSWORD_CHARS`] characters of [`PASSWORD_ALPHABET`], each
/// uniformly chosen (random bytes past the last whole multiple of the
/// alphabet's size are drawn again).
fn generate_password() -> Result<String> {
    let n = PASSWORD_ALPHABET.len();
    let limit = 256 - 256 % n;
    let mut out = String::with_capacity(GENERATED_PASSWORD_CHARS);
    while out.len() < GENERATED_PASSWORD_CHARS {
        for byte in random_token_bytes()? {
            let b = usize::from(byte);
            if b < limit && out.len() < GENERATED_PASSWORD_CHARS {
                out.push(char::from(PASSWORD_ALPHABET[b % n]));
            }
        }
    }
    Ok(out)
}

/// Signing keys and limits for paging, and the webhook key as admins may
/// read it. Keys not set in config are generated once and kept in the
/// database, so every node and every restart agrees.
///
/// With a secret key they are stored sealed; a sealed key and a missing or
/// wrong secret key fail the start, with a message saying which.
async fn paging_settings(
    secrets: &ServerSecrets,
    directory: &Directory,
    public_url: String,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(PagingSettings, WebhookSecret)> {
    let n = &directory.notifications;
    if !secrets.sealed() {
        tracing::info!(
            "signing keys are stored unencrypted in the database; set TOCSIN_SECRET_KEY or --secret-key-file to encrypt them"
        );
    }
    secrets.ensure(ACK_LINK, now).await?;
    let readable = match &n.webhook_secret {
        Some(secret) => WebhookSecret { value: secret.clone(), source: "config" },
        None => WebhookSecret { value: secrets.ensure(WEBHOOK_SIGNING, now).await?, source: "generated" },
    };
    let webhook_secret = readable.value.clone();
    let limiter = RateLimiter::new(n.rate_limit.messages, n.rate_limit.window)
        .map_err(|e| anyhow::anyhow!("notifications.rate_limit: {e}"))?;
    let settings = PagingSettings {
        public_url,
        webhook_secret: webhook_secret.into_bytes(),
        secrets: secrets.clone(),
        ack_link_ttl: n.ack_link_ttl,
        retry: RetryPolicy::default(),
        limiter,
    };
    Ok((settings, readable))
}

fn random_token_bytes() -> Result<[u8; 32]> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn generated_passwords_are_long_unambiguous_and_different() {
        let a = generate_password().unwrap();
        let b = generate_password().unwrap();
        assert_eq!(a.len(), GENERATED_PASSWORD_CHARS);
        assert!(a.bytes().all(|c| PASSWORD_ALPHABET.contains(&c)), "{a}");
        assert!(!PASSWORD_ALPHABET.iter().any(|c| b"01lIOo".contains(c)));
        assert_ne!(a, b);
        assert!(tocsin_core::password::check_password(ADMIN_USER, &a).is_ok());
    }
}
