//! The embedded default: one SQLite file in WAL mode with `synchronous=FULL`,
//! so a commit survives power loss, one write connection (SQLite has one
//! writer anyway) and a few read connections that never block on it.

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::time::Duration;

use crate::Result;

// The backend-independent code, compiled here against this backend's `Db`
// and `dialect` (and once more by the other backend).
#[path = "backend/mod.rs"]
#[allow(clippy::duplicate_mod, reason = "compiled once per backend on purpose")]
mod backend;

type Db = sqlx::Sqlite;

pub type SqliteStore = backend::StoreImpl;

mod dialect {
    /// Bulk statements use anonymous `?` parameters: SQLite resolves a named
    /// one (`$n`) by walking every parameter name, which is quadratic in
    /// statements with thousands of them. Parameters are bound in order.
    pub fn push_param(sql: &mut String, _n: usize) {
        sql.push('?');
    }
    /// Whether one query string may carry several statements with binds.
    pub const MULTI_STATEMENT_QUERIES: bool = true;
    /// Write transactions take the write lock up front (SQLite: a deferred
    /// transaction that reads and then writes can fail when another writer
    /// committed in between).
    pub const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
    pub const NAME: &str = "sqlite";
    /// Moves identity sequences past ids that bulk inserts assigned explicitly.
    pub const SYNC_ID_SEQUENCES: Option<&str> = None;
    pub const LOCK_AUDIT_HEAD: &str = "SELECT hash FROM audit_head WHERE singleton = 1";
}

impl backend::StoreImpl {
    /// Opens (creating if needed) the database file and runs migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        let base = SqliteConnectOptions::new()
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // Connections are local and never go stale: skip the ping sqlx would
        // otherwise send before every acquire.
        let write = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .min_connections(1)
            .connect_with(base.clone().create_if_missing(true))
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        let read = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(4)
            .connect_with(base.read_only(true))
            .await?;
        Self::from_pools(read, write).await
    }
}
