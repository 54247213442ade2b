//! Persistence behind one domain-shaped interface, [`Store`], with an
//! embedded SQLite implementation (the default) and a PostgreSQL one (for
//! several equal nodes). Both run the same SQL where the dialects agree and
//! the same conformance suite (`tests/conformance.rs`).
//!
//! A successful return from any mutating call means the change is committed
//! durably (SQLite WAL with `synchronous=FULL`; PostgreSQL commit).

mod batcher;
mod codec;
mod paging_types;
pub mod postgres;
pub mod sqlite;
mod types;

pub use paging_types::*;
pub use types::*;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tocsin_core::alert::Alert;
use tocsin_core::event::ChangeEvent;
use tocsin_core::incident::Incident;
use tocsin_core::model::Catalog;
use tocsin_core::timeline::TimelineEntry;

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
    /// The database location cannot be used (an unsupported URL, or a
    /// PostgreSQL server that cannot be reached); the message says why.
    #[error("{0}")]
    Location(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What the engine keeps while paging people: escalation state,
/// notifications, rate-limit windows and server secrets.
#[async_trait]
pub trait PagingStore: Send + Sync + 'static {
    async fn get_escalation(&self, incident_id: i64) -> Result<Option<EscalationRow>>;
    /// Writes one engine step atomically (see [`EngineStep`]).
    async fn apply_step(&self, step: &EngineStep) -> Result<()>;
    async fn get_notification(&self, id: i64) -> Result<Option<NotificationRow>>;
    async fn incident_notifications(&self, incident_id: i64) -> Result<Vec<NotificationRow>>;
    /// Notifications held by the rate limit of `contact_method`, oldest first.
    async fn held_notifications(&self, contact_method: &str) -> Result<Vec<NotificationRow>>;
    /// A still-pending notification of this page through this method, due
    /// after `after` (the fallback of a failed method sends it early).
    async fn pending_notification(
        &self,
        incident_id: i64,
        user_id: &str,
        contact_method: &str,
        episode: i64,
        after: DateTime<Utc>,
    ) -> Result<Option<NotificationRow>>;
    async fn method_window(&self, contact_method: &str) -> Result<Vec<DateTime<Utc>>>;
    /// The secret stored under `name`, storing `generated` first if there is
    /// none yet (the first node to ask wins; every node then reads the same).
    async fn server_secret(&self, name: &str, generated: &str, at: DateTime<Utc>) -> Result<String>;
    /// Appends one audit entry on its own: for reads worth a trace, such as
    /// a server secret shown to an admin.
    async fn record_audit(&self, record: tocsin_core::audit::AuditRecord) -> Result<()>;
    /// Queues engine work about an open incident on behalf of a person
    /// (escalate now, reassign), audited as `action`.
    async fn request_incident_work(
        &self,
        incident_id: i64,
        kind: &str,
        payload: serde_json::Value,
        actor: &str,
        action: &str,
        at: DateTime<Utc>,
    ) -> Result<()>;
}

/// Everything Tocsin keeps. Object-safe so the server holds an `Arc<dyn Store>`.
#[async_trait]
pub trait Store: PagingStore {
    /// Which backend this is, for logs and `/readyz`.
    fn backend(&self) -> &'static str;
    /// Cheap round trip to the database.
    async fn ping(&self) -> Result<()>;
    /// A handle that is notified after every commit that queued engine work.
    fn work_signal(&self) -> Arc<tokio::sync::Notify>;

    // --- catalog (config as code) ---
    /// Makes the stored catalog match `catalog`: upserts what is declared,
    /// deactivates services and disables integrations that are not.
    async fn apply_catalog(&self, catalog: &Catalog, actor: &str, now: DateTime<Utc>) -> Result<CatalogChanges>;
    /// The enabled integration whose key hashes to `key_hash`.
    async fn find_integration(&self, key_hash: &str) -> Result<Option<IntegrationRef>>;
    async fn list_services(&self) -> Result<Vec<ServiceView>>;
    async fn get_service(&self, id: &str) -> Result<Option<ServiceView>>;

    // --- ingestion ---
    /// Folds a batch of events from one integration into alerts and
    /// incidents; returns one outcome per event, in order. Concurrent calls
    /// share a transaction (group commit).
    async fn ingest(&self, batch: IngestBatch) -> Result<Vec<IngestOutcome>>;
    /// Records a change event on its service's timeline.
    async fn record_change(&self, origin: &IntegrationRef, change: &ChangeEvent, at: DateTime<Utc>) -> Result<i64>;
    async fn list_changes(&self, service_id: &str, limit: i64) -> Result<Vec<ChangeRecord>>;
    /// Resolves open alerts whose `expires_at` has passed (Alertmanager-style
    /// senders stopped re-sending); returns how many it resolved.
    async fn expire_alerts(&self, now: DateTime<Utc>, limit: i64) -> Result<usize>;

    // --- incidents and alerts ---
    async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Page<Incident>>;
    async fn get_incident(&self, id: i64) -> Result<Option<Incident>>;
    async fn incident_alerts(&self, incident_id: i64) -> Result<Vec<Alert>>;
    async fn incident_timeline(&self, incident_id: i64) -> Result<Vec<TimelineEntry>>;
    async fn acknowledge_incident(&self, id: i64, actor: &str, at: DateTime<Utc>) -> Result<Incident>;
    /// Resolves the incident and every alert in it that is still open.
    async fn resolve_incident(&self, id: i64, actor: &str, at: DateTime<Utc>) -> Result<Incident>;
    async fn add_note(&self, id: i64, actor: &str, text: &str, at: DateTime<Utc>) -> Result<TimelineEntry>;
    async fn list_alerts(&self, filter: &AlertFilter) -> Result<Page<Alert>>;
    async fn get_alert(&self, id: i64) -> Result<Option<Alert>>;
    async fn open_incident_count(&self) -> Result<i64>;

    // --- API tokens ---
    async fn create_token(&self, new: &NewToken, actor: &str, at: DateTime<Utc>) -> Result<TokenInfo>;
    async fn authenticate(&self, secret_hash: &str) -> Result<Option<TokenInfo>>;
    async fn list_tokens(&self) -> Result<Vec<TokenInfo>>;
    /// Returns false when no active token has this id.
    async fn revoke_token(&self, id: i64, actor: &str, at: DateTime<Utc>) -> Result<bool>;
    async fn active_token_count(&self) -> Result<i64>;

    // --- schedule overrides created at run time ---
    /// Stores an override; `end` must be after `start`. Audited as
    /// `schedule.override.create`.
    async fn create_override(&self, new: &NewOverride, actor: &str, at: DateTime<Utc>) -> Result<ScheduleOverride>;
    /// Live (not deleted) overrides of one schedule (or all schedules when None) that end after `ending_after`, ordered by id.
    async fn list_overrides(
        &self,
        schedule_id: Option<&str>,
        ending_after: DateTime<Utc>,
    ) -> Result<Vec<ScheduleOverride>>;
    /// false when no live override of that schedule has that id.
    async fn delete_override(&self, schedule_id: &str, id: i64, actor: &str, at: DateTime<Utc>) -> Result<bool>;

    // --- iCalendar feed tokens ---
    /// Sets the user's feed token (its SHA-256), replacing any previous one,
    /// so rotating invalidates the old link. Audited as `user.ical_token.rotate`.
    async fn set_ical_token(&self, user_id: &str, token_hash: &str, actor: &str, at: DateTime<Utc>) -> Result<()>;
    /// The user whose feed token hashes to `token_hash`.
    async fn ical_token_user(&self, token_hash: &str) -> Result<Option<String>>;

    // --- engine outbox ---
    /// Leases up to `limit` due, unfinished items to `worker` until
    /// `lease_until`. Items whose lease ran out are claimable again, so a
    /// dead worker's work is picked up.
    async fn claim_outbox(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxItem>>;
    async fn complete_outbox(&self, id: i64, worker: &str, now: DateTime<Utc>) -> Result<()>;
    /// Earliest due time of unfinished work, so the engine can sleep until then.
    async fn next_outbox_due(&self) -> Result<Option<DateTime<Utc>>>;

    // --- audit ---
    async fn audit_log(&self, after_id: i64, limit: i64) -> Result<Vec<AuditEntry>>;

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
