//! Persistence behind domain-shaped interfaces, one per aggregate
//! ([`CatalogStore`], [`IntakeStore`], [`IncidentStore`], [`AccountStore`],
//! [`ScheduleStore`], [`OutboxStore`], [`PagingStore`], [`AuditStore`],
//! [`SecretStore`], [`MaintenanceStore`], [`SessionStore`], [`TestPageStore`],
//! [`SilenceStore`], [`HeartbeatStore`]),
//! gathered by [`Store`]. An embedded SQLite implementation (the default) and
//! a PostgreSQL one (for several equal nodes) run the same SQL where the
//! dialects agree and the same conformance suite (`tests/conformance.rs`).
//!
//! A successful return from any mutating call means the change is committed
//! durably (SQLite WAL with `synchronous=FULL`; PostgreSQL commit).

mod accounts;
mod audit;
mod batcher;
mod catalog;
mod codec;
pub mod fault;
pub mod health;
mod heartbeats;
mod incidents;
mod intake;
mod maintenance;
mod outbox;
mod page;
mod paging;
pub mod postgres;
mod schedules;
mod secrets;
mod sessions;
mod silences;
pub mod sqlite;
pub mod supervise;
mod test_pages;
mod wal_sync;

pub use accounts::{AccountStore, NewToken, TokenAuth, TokenInfo};
pub use audit::{AuditEntry, AuditStore, AuditVerification, ShardCheck};
pub use catalog::{
    CatalogChanges, CatalogStore, ConfigSource, ConfigVersion, IntegrationRef, IntegrationView, ServiceView,
    StoredConfig,
};
pub use heartbeats::{HeartbeatRef, HeartbeatRow, HeartbeatStore, Missed, Ping};
pub use incidents::{AlertFilter, IncidentFilter, IncidentStore};
pub use intake::{ChangeRecord, IngestBatch, IngestOutcome, IntakeNoise, IntakeStore, ReleaseSweep};
pub use maintenance::{DbStats, MaintenanceStore, Prune, Pruned, TableStats};
pub use outbox::{
    DELIVER_NOW, DeadLetter, FOLLOW_UP, Failed, INCIDENT_CHANGE, Lane, OutboxItem, OutboxStore, priorities, priority,
};
pub use page::{DEFAULT_PAGE, MAX_PAGE, Page, cursor};
pub use paging::{
    EngineStep, EscalationRow, EscalationWrite, HeldSummary, NewNotification, NewWork, NotificationRow,
    NotificationUpdate, PagingStore, StepTimeline,
};
pub use schedules::{NewOverride, ScheduleOverride, ScheduleStore, merge_overrides};
pub use secrets::{ACK_LINK, SecretStore, ServerSecrets, WEBHOOK_SIGNING};
pub use sessions::{
    InvitationRow, LoginFailure, NewInvitation, NewSession, SessionPrune, SessionRow, SessionStore, SessionsPruned,
};
pub use silences::SilenceStore;
pub use test_pages::{NewTestPage, TestPage, TestPageStatus, TestPageStore, TestPageUpdate};

use async_trait::async_trait;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Domain(#[from] tocsin_core::CoreError),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the store is shutting down")]
    Closed,
    /// The database cannot be used now (no answer in time, or a write
    /// interrupted); the sender should retry.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database location cannot be used (an unsupported URL, or a
    /// PostgreSQL server that cannot be reached); the message says why.
    #[error("{0}")]
    Location(String),
    /// A server secret cannot be sealed or opened (a missing or wrong secret
    /// key); the message says which and what to set.
    #[error("{0}")]
    Secret(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything Tocsin keeps. Object-safe so the server holds an
/// `Arc<dyn Store>`; a part that needs one aggregate takes that trait
/// (`&dyn IncidentStore`, or `Arc<dyn PagingStore>` by upcasting).
#[async_trait]
pub trait Store:
    CatalogStore
    + IntakeStore
    + IncidentStore
    + AccountStore
    + ScheduleStore
    + OutboxStore
    + PagingStore
    + AuditStore
    + SecretStore
    + MaintenanceStore
    + SessionStore
    + TestPageStore
    + SilenceStore
    + HeartbeatStore
    + Send
    + Sync
{
    /// Which backend this is, for logs and `/readyz`.
    fn backend(&self) -> &'static str;
    /// Cheap round trip to the database.
    async fn ping(&self) -> Result<()>;
    /// Whether reads, writes and the group-commit writer work now, for
    /// `/readyz` (writes: see [`health`]). Answers within a few seconds
    /// whatever the database does.
    async fn readiness(&self) -> health::StoreReadiness;
    /// Internal fault injection for Tocsin's own fault tests (see [`fault`]).
    fn faults(&self) -> &fault::FaultInjection;
    /// A handle that is notified after every commit that queued engine work.
    fn work_signal(&self) -> Arc<tokio::sync::Notify>;
    /// Waits for in-flight writes and closes the connections.
    async fn close(&self);
}

/// Where a store lives, as [`Location::parse`] reads a URL or a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A `postgres://` or `postgresql://` URL, as given.
    Postgres(String),
    /// A SQLite database file.
    Sqlite(std::path::PathBuf),
}

/// How long [`open`] waits for a first PostgreSQL connection before saying
/// the server does not answer.
const PG_PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl Location {
    /// Reads a database URL or a plain path:
    /// - `postgres://…` / `postgresql://…`: PostgreSQL;
    /// - `sqlite:///abs/file.db`, `sqlite://relative.db`, `sqlite:relative.db`:
    ///   that SQLite file (`sqlite:` URLs carry no options: Tocsin sets its
    ///   own, and an in-memory database would lose everything on restart);
    /// - anything else without a `scheme://`: a path to a SQLite file.
    ///
    /// # Errors
    /// [`StoreError::Location`] for other schemes and unusable `sqlite:` URLs.
    pub fn parse(url_or_path: &str) -> Result<Location> {
        if url_or_path.starts_with("postgres://") || url_or_path.starts_with("postgresql://") {
            return Ok(Location::Postgres(url_or_path.to_string()));
        }
        if let Some(rest) = url_or_path.strip_prefix("sqlite:") {
            // sqlite:///abs → /abs; sqlite://rel → rel; sqlite:rel → rel.
            let path = rest.strip_prefix("//").unwrap_or(rest);
            let bad = |why: &str| Err(StoreError::Location(format!("SQLite URL `{url_or_path}`: {why}")));
            if path.contains('?') {
                return bad(
                    "options after `?` are not supported (Tocsin sets WAL and synchronous=FULL itself); give only the file, as in sqlite:///var/lib/tocsin/tocsin.db",
                );
            }
            if path.is_empty() || path == ":memory:" || path.starts_with("file::memory:") {
                return bad(
                    "an in-memory database would lose everything on restart; name a file, as in sqlite:///var/lib/tocsin/tocsin.db",
                );
            }
            return Ok(Location::Sqlite(std::path::PathBuf::from(path)));
        }
        if let Some((scheme, _)) = url_or_path.split_once("://")
            && !scheme.is_empty()
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            return Err(StoreError::Location(format!(
                "unsupported database URL scheme `{scheme}://`: use postgres://… for PostgreSQL, or sqlite:///path/to/file.db (or a plain file path) for SQLite"
            )));
        }
        Ok(Location::Sqlite(std::path::PathBuf::from(url_or_path)))
    }
}

impl std::fmt::Display for Location {
    /// A description for error messages; never shows a PostgreSQL password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Postgres(_) => f.write_str("the PostgreSQL database"),
            Location::Sqlite(path) => write!(f, "the SQLite database {}", path.display()),
        }
    }
}

/// Opens the store a URL or path names (see [`Location::parse`]), running
/// migrations.
///
/// For PostgreSQL one connection is tried first, on its own and with a
/// short timeout, so an unreachable server is reported with its cause
/// (connection refused, authentication failed, no such database) rather
/// than as a pool that timed out.
pub async fn open(url_or_path: &str) -> Result<Arc<dyn Store>> {
    match Location::parse(url_or_path)? {
        Location::Postgres(url) => {
            probe_postgres(&url).await?;
            Ok(Arc::new(postgres::PgStore::connect(&url).await?))
        }
        Location::Sqlite(path) => Ok(Arc::new(sqlite::SqliteStore::open(&path).await?)),
    }
}

/// The size and row counts of the database a URL or path names (see
/// [`Location::parse`]), read without migrating or writing anything, so it
/// can look at a database a server is using.
pub async fn stats(url_or_path: &str) -> Result<DbStats> {
    match Location::parse(url_or_path)? {
        Location::Postgres(url) => {
            probe_postgres(&url).await?;
            postgres::stats(&url).await
        }
        Location::Sqlite(path) => sqlite::stats(&path).await,
    }
}

/// Connects once, alone, to tell why PostgreSQL cannot be used: the
/// server's own message (`database "x" does not exist`, `password
/// authentication failed for user "y"`) or the network's (connection
/// refused, no answer).
async fn probe_postgres(url: &str) -> Result<()> {
    use sqlx::{ConnectOptions, postgres::PgConnectOptions};
    use std::str::FromStr;
    let options =
        PgConnectOptions::from_str(url).map_err(|e| StoreError::Location(format!("invalid PostgreSQL URL: {e}")))?;
    let server = format!("{}:{}", options.get_host(), options.get_port());
    let cause = match tokio::time::timeout(PG_PROBE_TIMEOUT, options.connect()).await {
        Ok(Ok(probe)) => {
            let _ = sqlx::Connection::close(probe).await;
            return Ok(());
        }
        Ok(Err(sqlx::Error::Database(e))) => e.message().to_string(),
        Ok(Err(sqlx::Error::Io(e))) => e.to_string(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {} s (is the host reachable?)", PG_PROBE_TIMEOUT.as_secs()),
    };
    Err(StoreError::Location(format!("cannot connect to {server}: {cause}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn locations_read_urls_and_paths() {
        let sqlite = |p: &str| Some(Location::Sqlite(PathBuf::from(p)));
        let parse = |u: &str| Location::parse(u).ok();
        assert_eq!(parse("sqlite:///var/lib/tocsin/t.db"), sqlite("/var/lib/tocsin/t.db"));
        assert_eq!(parse("sqlite://relative.db"), sqlite("relative.db"));
        assert_eq!(parse("sqlite:relative.db"), sqlite("relative.db"));
        assert_eq!(parse("sqlite:data/t.db"), sqlite("data/t.db"));
        assert_eq!(parse("./data/tocsin.db"), sqlite("./data/tocsin.db"));
        assert_eq!(parse("/abs/tocsin.db"), sqlite("/abs/tocsin.db"));
        for url in ["postgres://u@h/db", "postgresql://u:p@h:5432/db?sslmode=require"] {
            assert_eq!(parse(url), Some(Location::Postgres(url.to_string())));
        }
    }

    #[test]
    fn unusable_urls_are_refused_with_the_reason() {
        for (url, needle) in [
            ("sqlite::memory:", "in-memory"),
            ("sqlite://", "in-memory"),
            ("sqlite:///t.db?mode=rwc", "options"),
            ("mysql://u@h/db", "unsupported database URL scheme `mysql://`"),
        ] {
            match Location::parse(url) {
                Err(StoreError::Location(message)) => assert!(message.contains(needle), "{url}: {message}"),
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn descriptions_hide_postgres_credentials() {
        let pg = Location::parse("postgres://tocsin:hunter2@db/tocsin").unwrap();
        assert_eq!(pg.to_string(), "the PostgreSQL database");
    }
}
