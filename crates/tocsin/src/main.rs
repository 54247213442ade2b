//! `tocsin`: the server (`serve`, `migrate`), config tooling
//! (`config validate`) and an API client for people and scripts.

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tocsin::serve::{ServeConfig, open_store, start};
use tocsin_http::IngestLimits;

mod cli;

#[derive(Parser)]
#[command(
    name = "tocsin",
    version,
    about = "Incident management: alerts in, the right human paged, incidents to closure"
)]
struct Cli {
    #[command(flatten)]
    client: cli::ClientOpts,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate(StorageArgs),
    /// Config-as-code tooling.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// List, show, acknowledge, resolve and annotate incidents (TOCSIN_URL, TOCSIN_TOKEN).
    #[command(subcommand)]
    Incidents(cli::IncidentsCmd),
    /// Create, list and revoke API tokens (admin).
    #[command(subcommand)]
    Tokens(cli::TokensCmd),
    /// Notification settings: the webhook signing secret (admin).
    #[command(subcommand)]
    Notifications(cli::NotificationsCmd),
    /// Send a test event of any supported format to an integration key.
    Send(cli::SendArgs),
    /// Who is on call now (or at --at), per schedule; overrides and calendar feed links.
    Oncall(cli::OncallArgs),
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

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TOCSIN_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
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
    /// Log format: `text` for people, `json` for log pipelines.
    #[arg(long, env = "TOCSIN_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Check a config file without a server; errors name file, line and path.
    Validate { file: PathBuf },
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
        Command::Incidents(cmd) => cli::run_incidents(&cli.client, cmd).await.map(|()| ExitCode::SUCCESS),
        Command::Tokens(cmd) => cli::run_tokens(&cli.client, cmd).await.map(|()| ExitCode::SUCCESS),
        Command::Notifications(cmd) => cli::run_notifications(&cli.client, cmd).await.map(|()| ExitCode::SUCCESS),
        Command::Send(args) => cli::run_send(&cli.client, args).await.map(|()| ExitCode::SUCCESS),
        Command::Oncall(args) => cli::run_oncall(&cli.client, args).await.map(|()| ExitCode::SUCCESS),
        Command::Migrate(args) => {
            init_logging("text");
            let store = open_store(args.database_url.as_deref(), &args.data_dir).await?;
            println!("migrations applied ({})", store.backend());
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCmd::Validate { file }) => match tocsin_config::load(&file) {
            Ok(catalog) => {
                for warning in tocsin_config::warnings(&file.display().to_string(), &catalog) {
                    eprintln!("{warning}");
                }
                println!(
                    "{}: ok ({} teams, {} users, {} services, {} integrations, {} schedules, {} escalation policies)",
                    file.display(),
                    catalog.teams.len(),
                    catalog.users.len(),
                    catalog.services.len(),
                    catalog.integrations.len(),
                    catalog.schedules.len(),
                    catalog.escalation_policies.len()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(errors) => {
                eprintln!("{errors}");
                Ok(ExitCode::FAILURE)
            }
        },
    }
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
    let cfg = ServeConfig {
        listen: args.listen,
        data_dir: args.storage.data_dir,
        config: args.config,
        database_url: args.storage.database_url,
        tls: args.tls_cert.zip(args.tls_key),
        admin_token: std::env::var("TOCSIN_ADMIN_TOKEN").ok().filter(|t| !t.is_empty()),
        limits: IngestLimits { events_per_second: args.ingest_rate, burst: args.ingest_rate * 2.0 },
        clock: std::sync::Arc::new(tocsin_core::clock::SystemClock),
        run_engine: true,
    };
    let running = start(cfg).await?;
    if let Some(token) = &running.created_admin_token {
        println!("Created the first admin API token. It is shown only once; store it now:\n\n    {token}\n");
    }
    println!("tocsin listening on {}://{}", if running.tls { "https" } else { "http" }, running.addr);
    shutdown_signal().await;
    tracing::info!("shutting down: draining requests, stopping the engine, flushing the database");
    running.shutdown().await?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
