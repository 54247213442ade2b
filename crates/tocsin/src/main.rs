//! `tocsin`: the server (`serve`, `migrate`), the database on its host
//! (`db stats`, `backup`), config tooling (`config validate|plan|apply`) and
//! an API client for people and scripts.

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tocsin::connections::ConnectionLimits;
use tocsin::serve::{ServeConfig, open_store, start};
use tocsin_http::{IngestLimits, OverloadLimits};

mod cli;

#[derive(Parser)]
#[command(
    name = "tocsin",
    version,
    about = "Incident management: alerts in, the right human paged, incidents to closure"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// A client command with subcommands: where the server is and who we are
/// (`--url`, `--token`, `--output`, also after the subcommand), then what
/// to do.
#[derive(clap::Args)]
struct WithClient<C: Subcommand> {
    #[command(flatten)]
    opts: cli::ClientOpts,
    #[command(subcommand)]
    command: C,
}

/// A client command without subcommands, and the client options.
#[derive(clap::Args)]
struct WithClientArgs<A: clap::Args> {
    #[command(flatten)]
    opts: cli::ClientOpts,
    #[command(flatten)]
    args: A,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate(StorageArgs),
    /// The database itself, on the server's host (no API token needed).
    #[command(subcommand)]
    Db(DbCmd),
    /// Copy the embedded SQLite database to FILE while the server runs
    /// (PostgreSQL: use pg_dump).
    Backup(BackupArgs),
    /// Config-as-code tooling.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// List, show, acknowledge, resolve and annotate incidents (TOCSIN_URL, TOCSIN_TOKEN).
    Incidents(WithClient<cli::IncidentsCmd>),
    /// Alerts: the deduplicated signals behind incidents.
    Alerts(WithClient<cli::AlertsCmd>),
    /// Services, with their integrations and who they page first.
    Services(WithClient<cli::ServicesCmd>),
    /// Schedules and who is on call on them (see also `oncall`).
    Schedules(WithClient<cli::SchedulesCmd>),
    /// Escalation policies and whom each level pages.
    #[command(alias = "escalation-policies")]
    Policies(WithClient<cli::PoliciesCmd>),
    /// Who this token acts as, with which role.
    Whoami(WithClientArgs<NoArgs>),
    /// The people who can be paged and can act.
    Users(WithClient<cli::UsersCmd>),
    /// Teams and their members.
    Teams(WithClient<cli::TeamsCmd>),
    /// Create, list and revoke API tokens: your own, or anyone's as an admin.
    Tokens(WithClient<cli::TokensCmd>),
    /// The audit log of every change (admin).
    Audit(WithClient<cli::AuditCmd>),
    /// Notification settings: the webhook signing secret and the acknowledge-link key (admin).
    Notifications(WithClient<cli::NotificationsCmd>),
    /// Work the engine gave up on after too many failures, and putting it back (admin).
    Engine(WithClient<cli::EngineCmd>),
    /// Heartbeat (dead-man) monitors: their last ping, deadline and state.
    Heartbeats(WithClient<cli::HeartbeatsCmd>),
    /// Silences: add, list and expire (Alertmanager's API v2, as amtool).
    #[command(alias = "silences")]
    Silence(WithClient<cli::SilenceCmd>),
    /// Send a test event of any supported format to an integration key.
    Send(WithClientArgs<cli::SendArgs>),
    /// Who is on call now (or at --at), per schedule; overrides and calendar feed links.
    Oncall(WithClientArgs<cli::OncallArgs>),
}

#[derive(clap::Args)]
struct StorageArgs {
    /// Directory holding the embedded SQLite database.
    #[arg(long, env = "TOCSIN_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// A postgres:// URL selects PostgreSQL instead of the embedded database;
    /// sqlite:///abs/file.db or sqlite:relative.db another SQLite file.
    #[arg(long, env = "TOCSIN_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

#[derive(Subcommand)]
enum DbCmd {
    /// Size of the database and rows (and bytes) per table. Opens the
    /// database that `serve` with the same --data-dir or --database-url
    /// uses, read-only, so it is safe beside a running server.
    Stats(StorageArgs),
}

#[derive(clap::Args)]
struct BackupArgs {
    /// Where to write the copy; written to a temporary file beside it first
    /// and renamed when complete, readable by its owner only.
    file: PathBuf,
    /// Replace FILE if it exists.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    storage: StorageArgs,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TOCSIN_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Also serve /healthz, /readyz and /metrics (plain HTTP) on this address,
    /// from a thread of their own, so probes answer however busy the server is.
    #[arg(long, env = "TOCSIN_HEALTH_LISTEN")]
    health_listen: Option<String>,
    #[command(flatten)]
    storage: StorageArgs,
    /// Config-as-code YAML file applied at start.
    #[arg(long, env = "TOCSIN_CONFIG")]
    config: Option<PathBuf>,
    /// PEM certificate chain; with --tls-key, serve HTTPS.
    #[arg(long, env = "TOCSIN_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "TOCSIN_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Sustained ingestion rate allowed per integration, in events per second.
    #[arg(long, env = "TOCSIN_INGEST_RATE", default_value_t = IngestLimits::default().events_per_second)]
    ingest_rate: f64,
    /// Connections held open at once; at the cap, the one idle or waiting
    /// for headers longest is closed to let a new one in.
    #[arg(long, env = "TOCSIN_MAX_CONNECTIONS", default_value_t = ConnectionLimits::default().max_connections,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    max_connections: usize,
    /// Time a client has to send a request's headers (TLS handshake included).
    #[arg(long, env = "TOCSIN_HEADER_TIMEOUT", default_value = "10s", value_parser = positive_duration)]
    header_timeout: Duration,
    /// Time a kept-alive connection may wait for its next request.
    #[arg(long, env = "TOCSIN_IDLE_TIMEOUT", default_value = "60s", value_parser = positive_duration)]
    idle_timeout: Duration,
    /// Requests handled at once (health, readiness, metrics excepted); more get 503.
    #[arg(long, env = "TOCSIN_MAX_REQUESTS", default_value_t = OverloadLimits::default().max_requests,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    max_requests: usize,
    /// Request-body bytes held in memory at once (`64MiB`, `512KiB`, bytes); more get 503.
    #[arg(long, env = "TOCSIN_BODY_BUDGET", default_value = "64MiB", value_parser = byte_size)]
    body_budget: usize,
    /// Time a client has to send a request body once it is being read; slower gets 408.
    #[arg(long, env = "TOCSIN_BODY_TIMEOUT", default_value = "30s", value_parser = positive_duration)]
    body_timeout: Duration,
    /// How long a node's claim on engine work (a page being sent, an
    /// escalation step) lasts; when a node dies, another node takes its work
    /// over after this. At least 15s, longer than one delivery attempt.
    #[arg(long, env = "TOCSIN_ENGINE_LEASE", default_value = "60s", value_parser = engine_lease)]
    engine_lease: Duration,
    /// Log format: `text` for people, `json` for log pipelines.
    #[arg(long, env = "TOCSIN_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// File holding the key (64 hex digits) that encrypts the signing keys
    /// kept in the database; or set TOCSIN_SECRET_KEY. Without either they
    /// are stored unencrypted.
    #[arg(long, env = "TOCSIN_SECRET_KEY_FILE")]
    secret_key_file: Option<PathBuf>,
    /// A login session unused for this long ends.
    #[arg(long, env = "TOCSIN_SESSION_IDLE", default_value = "24h", value_parser = positive_duration)]
    session_idle: Duration,
    /// A login session ends this long after login, however much it is used.
    #[arg(long, env = "TOCSIN_SESSION_LIFETIME", default_value = "14d", value_parser = positive_duration)]
    session_lifetime: Duration,
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Check a config file without a server; errors name file, line and path.
    Validate {
        /// The config file (YAML) to check.
        file: PathBuf,
        /// Output format: `table` (one line per error or warning, for
        /// people) or `json` (`{"valid": …, "errors"/"warnings": […]}`).
        #[arg(long, short = 'o', value_enum, default_value = "table")]
        output: cli::Output,
    },
    /// Show what applying FILE would change on the running server; changes nothing.
    Plan(WithClientArgs<ConfigFile>),
    /// Apply FILE to the running server as the next config version (admin).
    Apply(WithClientArgs<ConfigFile>),
}

/// A command that takes nothing but the client options.
#[derive(clap::Args)]
struct NoArgs {}

#[derive(clap::Args)]
struct ConfigFile {
    /// The config file (YAML); one that does not validate changes nothing.
    file: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            // One line: the outermost context and its causes.
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("error: {}", chain.join(": "));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Incidents(c) => cli::run_incidents(&c.opts, c.command).await.map(|()| ExitCode::SUCCESS),
        Command::Alerts(c) => cli::run_alerts(&c.opts, c.command).await.map(|()| ExitCode::SUCCESS),
        Command::Services(c) => cli::run_services(&c.opts, c.command).await.map(|()| ExitCode::SUCCESS),
        Command::Schedules(c) => cli::run_schedules(&c.opts, c.command).await.map(|()| ExitCode::SUCCESS),
        Command::Policies(c) => cli::run_policies(&c.opts, c.command).await.map(|()| ExitCode::SUCCESS),
        Command::Whoami(c) => cli::run_whoami(&c.opts).await.map(|()| ExitCode::SUCCESS),
        Command::Users(c) => cli::run_users(&c.opts, c.command).await.map(|()| ExitCode::SUCCESS),
        Command::Silence(c) => cli::run_silence(&c.opts, c.command).await.map(|()| ExitCode::SUCCESS),
        Command::Heartbeats(c) => cli::run_heartbeats(&c.opts, c.command).await.map(|()| ExitCode::SUCCESS),
        Command::Teams(c) => cli::run_teams(&c.opts, c.command).await.map(|()| ExitCode::SUCCESS),
        Command::Tokens(c) => cli::run_tokens(&c.opts, c.command).await.map(|()| ExitCode::SUCCESS),
        Command::Audit(c) => cli::run_audit(&c.opts, c.command).await,
        Command::Notifications(c) => cli::run_notifications(&c.opts, c.command).await.map(|()| ExitCode::SUCCESS),
        Command::Engine(c) => cli::run_engine(&c.opts, c.command).await.map(|()| ExitCode::SUCCESS),
        Command::Send(c) => cli::run_send(&c.opts, c.args).await.map(|()| ExitCode::SUCCESS),
        Command::Oncall(c) => cli::run_oncall(&c.opts, c.args).await.map(|()| ExitCode::SUCCESS),
        Command::Migrate(args) => {
            init_logging("text");
            let store = open_store(args.database_url.as_deref(), &args.data_dir).await?;
            println!("migrations applied ({})", store.backend());
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Db(DbCmd::Stats(args)) => {
            cli::run_db_stats(args.database_url.as_deref(), &args.data_dir).await.map(|()| ExitCode::SUCCESS)
        }
        Command::Backup(args) => {
            let storage = &args.storage;
            cli::run_backup(storage.database_url.as_deref(), &storage.data_dir, &args.file, args.force)
                .await
                .map(|()| ExitCode::SUCCESS)
        }
        Command::Config(ConfigCmd::Validate { file, output }) => Ok(exit(cli::run_validate(&file, output)?)),
        Command::Config(ConfigCmd::Plan(c)) => Ok(exit(cli::run_config_plan(&c.opts, &c.args.file).await?)),
        Command::Config(ConfigCmd::Apply(c)) => Ok(exit(cli::run_config_apply(&c.opts, &c.args.file).await?)),
    }
}

fn exit(success: bool) -> ExitCode {
    if success { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// A positive duration such as `10s`, `1m30s`.
fn positive_duration(s: &str) -> Result<Duration, String> {
    let d = tocsin_core::duration::parse_positive_duration(s).map_err(|e| e.to_string())?;
    d.to_std().map_err(|e| e.to_string())
}

fn engine_lease(s: &str) -> Result<Duration, String> {
    let d = positive_duration(s)?;
    if d < tocsin::serve::MIN_ENGINE_LEASE {
        return Err(format!("must be at least {}s", tocsin::serve::MIN_ENGINE_LEASE.as_secs()));
    }
    Ok(d)
}

/// A size in bytes: `1048576`, `512KiB`, `64MiB`, `1GiB` (`K`, `M`, `G` and
/// `KB`, `MB`, `GB` mean the same powers of 1024). At least 1 KiB.
fn byte_size(s: &str) -> Result<usize, String> {
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(digits);
    let number: u64 = number.parse().map_err(|_| format!("`{s}` is not a size such as 64MiB"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("`{s}`: the unit must be one of KiB, MiB, GiB")),
    };
    let bytes = number.checked_mul(scale).and_then(|n| usize::try_from(n).ok()).ok_or(format!("`{s}` is too large"))?;
    if bytes < 1024 {
        return Err(format!("`{s}` is less than 1KiB"));
    }
    Ok(bytes)
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into());
    // Colour only for a person at a terminal: logs that go to a file, a pipe
    // or a log collector get plain text (and so with NO_COLOR set).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour);
    let _ = if format == "json" { builder.json().try_init() } else { builder.try_init() };
}

async fn serve(args: ServeArgs) -> Result<ExitCode> {
    init_logging(&args.log_format);
    if !args.ingest_rate.is_finite() || args.ingest_rate <= 0.0 {
        anyhow::bail!("--ingest-rate must be positive");
    }
    if args.max_requests >= args.max_connections {
        tracing::warn!(
            max_requests = args.max_requests,
            max_connections = args.max_connections,
            "--max-requests is not below --max-connections: a server full of busy connections cannot make room for a health check"
        );
    }
    let cfg = ServeConfig {
        listen: args.listen,
        health_listen: args.health_listen,
        data_dir: args.storage.data_dir,
        config: args.config,
        database_url: args.storage.database_url,
        tls: args.tls_cert.zip(args.tls_key),
        admin_token: std::env::var("TOCSIN_ADMIN_TOKEN").ok().filter(|t| !t.is_empty()),
        admin_password: std::env::var("TOCSIN_ADMIN_PASSWORD").ok().filter(|p| !p.is_empty()),
        sessions: tocsin_app::SessionPolicy {
            idle: chrono::Duration::from_std(args.session_idle).unwrap_or(chrono::Duration::MAX),
            lifetime: chrono::Duration::from_std(args.session_lifetime).unwrap_or(chrono::Duration::MAX),
        },
        secret_key: tocsin::serve::load_secret_key(
            std::env::var("TOCSIN_SECRET_KEY").ok().as_deref(),
            args.secret_key_file.as_deref(),
        )?,
        limits: IngestLimits { events_per_second: args.ingest_rate, burst: args.ingest_rate * 2.0 },
        connections: ConnectionLimits {
            max_connections: args.max_connections,
            header_timeout: args.header_timeout,
            idle_timeout: args.idle_timeout,
        },
        overload: OverloadLimits {
            max_requests: args.max_requests,
            body_budget: args.body_budget,
            body_timeout: args.body_timeout,
        },
        clock: std::sync::Arc::new(tocsin_core::clock::SystemClock),
        run_engine: true,
        engine_lease: args.engine_lease,
    };
    // Handlers first: a supervisor may send SIGTERM as soon as it reads the
    // "listening" line, and that must drain the server, not kill it.
    let stop = shutdown_signal()?;
    let mut hangups = Hangups::install()?;
    let running = start(cfg).await?;
    if let Some(token) = &running.created_admin_token {
        println!("Created the first admin API token. It is shown only once; store it now:\n\n    {token}\n");
    }
    if let Some(password) = &running.created_admin_password {
        println!(
            "Created a password for the `admin` user (web login). It is shown only once; store it now:\n\n    {password}\n"
        );
    }
    if let Some(health) = running.health_addr {
        println!("tocsin health checks on http://{health}");
    }
    println!("tocsin listening on {}://{}", if running.tls { "https" } else { "http" }, running.addr);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = hangups.recv() => reload(&running).await,
        }
    }
    tracing::info!("shutting down: draining requests, stopping the engine, flushing the database");
    running.shutdown().await?;
    Ok(ExitCode::SUCCESS)
}

/// SIGHUP: apply the `--config` file again. A file that does not validate
/// is logged and changes nothing.
async fn reload(running: &tocsin::serve::Running) {
    match running.reload_config().await {
        Ok(Some(applied)) if applied.created => {
            tracing::info!("SIGHUP: config applied, version {}: {}", applied.version.version, applied.version.summary);
        }
        Ok(Some(applied)) => tracing::info!("SIGHUP: config file unchanged, version {}", applied.version.version),
        Ok(None) => tracing::warn!("SIGHUP: no --config file to apply"),
        Err(e) => tracing::error!("SIGHUP: config not applied, the running version stays: {e:#}"),
    }
}

/// SIGHUPs, installed before the server starts so that none kills it.
struct Hangups {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Hangups {
    #[cfg(unix)]
    fn install() -> Result<Self> {
        let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .map_err(|e| anyhow::anyhow!("cannot handle SIGHUP: {e}"))?;
        Ok(Self { signal })
    }

    #[cfg(not(unix))]
    fn install() -> Result<Self> {
        Ok(Self {})
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        if self.signal.recv().await.is_some() {
            return;
        }
        std::future::pending::<()>().await
    }
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT). The handlers are installed when
/// this is called, not when the future is first polled.
#[cfg(unix)]
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(|e| anyhow::anyhow!("cannot handle SIGTERM: {e}"))?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| anyhow::anyhow!("cannot handle SIGINT: {e}"))?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[test]
    fn sizes_read_with_binary_units() {
        assert_eq!(byte_size("64MiB"), Ok(64 << 20));
        assert_eq!(byte_size("512k"), Ok(512 << 10));
        assert_eq!(byte_size("1GB"), Ok(1 << 30));
        assert_eq!(byte_size("4096"), Ok(4096));
        assert!(byte_size("12").unwrap_err().contains("less than 1KiB"));
        assert!(byte_size("1.5MiB").is_err());
        assert!(byte_size("10 parsecs").unwrap_err().contains("unit"));
        assert!(byte_size("").is_err());
    }

    #[test]
    fn clap_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    /// Every command, depth first, with its path (`tocsin incidents show`).
    fn commands(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Command)>) {
        let path = format!("{path} {}", cmd.get_name()).trim().to_string();
        out.push((path.clone(), cmd.clone()));
        for sub in cmd.get_subcommands() {
            commands(sub, &path, out);
        }
    }

    fn all_commands() -> Vec<(String, clap::Command)> {
        let mut cmd = Cli::command();
        cmd.build();
        let mut out = Vec::new();
        commands(&cmd, "", &mut out);
        out
    }

    #[test]
    fn client_options_only_on_client_commands() {
        let clients = [
            "incidents",
            "alerts",
            "services",
            "schedules",
            "policies",
            "whoami",
            "users",
            "teams",
            "tokens",
            "audit",
            "notifications",
            "engine",
            "send",
            "oncall",
            "silence",
            "heartbeats",
        ];
        for (path, cmd) in all_commands() {
            if path.split(' ').any(|word| word == "help") {
                continue;
            }
            let has = |id: &str| cmd.get_arguments().any(|a| a.get_id().as_str() == id);
            let words: Vec<&str> = path.split(' ').collect();
            let talks_to_a_server = words.get(1).is_some_and(|w| clients.contains(w))
                || ["tocsin config plan", "tocsin config apply"].contains(&path.as_str());
            if talks_to_a_server {
                for id in ["url", "token", "output"] {
                    assert!(has(id), "`{path}` lacks --{id}");
                }
            } else {
                // `config validate` has an --output of its own.
                let client_only: &[&str] =
                    if path == "tocsin config validate" { &["url", "token"] } else { &["url", "token", "output"] };
                for id in client_only {
                    assert!(!has(id), "`{path}` lists the client option --{id}");
                }
            }
        }
        let mut serve = Cli::command();
        let help = serve.find_subcommand_mut("serve").unwrap().render_long_help().to_string();
        assert!(!help.contains("--token") && !help.contains("--url") && !help.contains("--output"), "{help}");
    }

    #[test]
    fn every_positional_argument_has_help() {
        for (path, cmd) in all_commands() {
            for arg in cmd.get_positionals() {
                assert!(arg.get_help().is_some(), "`{path}`: <{}> has no help text", arg.get_id());
            }
        }
    }

    #[test]
    fn client_options_go_before_or_after_the_subcommand() {
        for args in [
            &["tocsin", "incidents", "list", "--status", "triggered", "-o", "json", "--url", "http://h:1"][..],
            &["tocsin", "incidents", "-o", "json", "--url", "http://h:1", "list", "--status", "triggered"][..],
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            let Command::Incidents(c) = cli.command else { panic!("{args:?}") };
            assert_eq!((c.opts.output, c.opts.url.as_str()), (cli::Output::Json, "http://h:1"));
            assert!(matches!(c.command, cli::IncidentsCmd::List { status: Some(ref s), .. } if s == "triggered"));
        }
        let cli =
            Cli::try_parse_from(["tocsin", "oncall", "--url", "http://h:2", "override", "list", "--schedule", "p"])
                .unwrap();
        let Command::Oncall(c) = cli.command else { panic!() };
        assert_eq!(c.opts.url, "http://h:2");
        assert!(Cli::try_parse_from(["tocsin", "serve", "--token", "x"]).is_err());
        assert!(Cli::try_parse_from(["tocsin", "--url", "http://h:1", "incidents", "list"]).is_err());
    }

    #[test]
    fn token_role_is_checked() {
        assert!(Cli::try_parse_from(["tocsin", "tokens", "create", "--name", "x", "--role", "god"]).is_err());
        let cli = Cli::try_parse_from(["tocsin", "tokens", "create", "--name", "ci", "--role", "responder"]).unwrap();
        let Command::Tokens(c) = cli.command else { panic!() };
        assert!(matches!(c.command, cli::TokensCmd::Create { ref role, .. } if role == "responder"));
    }
}
