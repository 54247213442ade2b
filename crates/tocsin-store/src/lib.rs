//! Persistence behind domain-shaped interfaces, one per aggregate
//! ([`CatalogStore`], [`IntakeStore`], [`IncidentStore`], [`AccountStore`],
//! [`ScheduleStore`], [`OutboxStore`], [`PagingStore`], [`AuditStore`]),
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
mod incidents;
mod intake;
mod outbox;
mod page;
mod paging;
pub mod postgres;
mod schedules;
pub mod sqlite;

pub use accounts::{AccountStore, NewToken, TokenAuth, TokenInfo};
pub use audit::{AuditEntry, AuditStore};
pub use catalog::{
    CatalogChanges, CatalogStore, ConfigSource, ConfigVersion, IntegrationRef, IntegrationView, ServiceView,
    StoredConfig,
};
pub use incidents::{AlertFilter, IncidentFilter, IncidentStore};
pub use intake::{ChangeRecord, IngestBatch, IngestOutcome, IntakeStore};
pub use outbox::{OutboxItem, OutboxStore};
pub use page::{DEFAULT_PAGE, MAX_PAGE, Page, cursor};
pub use paging::{
    EngineStep, EscalationRow, EscalationWrite, NewNotification, NotificationRow, NotificationUpdate, PagingStore,
    StepTimeline,
};
pub use schedules::{NewOverride, ScheduleOverride, ScheduleStore, merge_overrides};

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
    + Send
    + Sync
{
    /// Which backend this is, for logs and `/readyz`.
    fn backend(&self) -> &'static str;
    /// Cheap round trip to the database.
    async fn ping(&self) -> Result<()>;
    /// A handle that is notified after every commit that queued engine work.
    fn work_signal(&self) -> Arc<tokio::sync::Notify>;
    /// Waits for in-flight writes and closes the connections.
    async fn close(&self);
}

/// Opens the store a URL names: `postgres://` / `postgresql://` selects
/// PostgreSQL; anything else is a path to the SQLite file.
pub async fn open(url_or_path: &str) -> Result<Arc<dyn Store>> {
    if url_or_path.starts_with("postgres://") || url_or_path.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect(url_or_path).await?))
    } else {
        Ok(Arc::new(sqlite::SqliteStore::open(std::path::Path::new(url_or_path)).await?))
    }
}
