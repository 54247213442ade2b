//! PostgreSQL, for several equal nodes sharing one database. Writers take the
//! audit-head row lock first, which serialises them across nodes; the engine
//! claims work with leases, by an update that takes only rows still
//! unclaimed, so two nodes never get the same item.

use sqlx::postgres::PgPoolOptions;
use std::time::Duration;

use crate::Result;

// The backend-independent code, compiled here against this backend's `Db`
// and `dialect` (and once more by the other backend).
#[path = "backend/mod.rs"]
#[allow(clippy::duplicate_mod, reason = "compiled once per backend on purpose")]
mod backend;

type Db = sqlx::Postgres;

pub type PgStore = backend::StoreImpl;

/// Longest a request waits for a connection before it is answered 503: long
/// enough for a busy pool, short enough that a sender retries soon.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

mod dialect {
    pub fn push_param(sql: &mut String, n: usize) {
        sql.push('$');
        sql.push_str(&n.to_string());
    }
    /// Whether one query string may carry several statements with binds.
    pub const MULTI_STATEMENT_QUERIES: bool = false;
    /// Write transactions take the write lock up front (SQLite: a deferred
    /// transaction that reads and then writes can fail when another writer
    /// committed in between).
    pub const BEGIN_WRITE: &str = "BEGIN";
    pub const NAME: &str = "postgres";
    /// Moves identity sequences past ids that bulk inserts assigned explicitly.
    pub const SYNC_ID_SEQUENCES: Option<&str> = Some(
        "SELECT setval(pg_get_serial_sequence('incidents', 'id'), $1), setval(pg_get_serial_sequence('alerts', 'id'), $2)",
    );
    pub const LOCK_AUDIT_HEAD: &str = "SELECT hash FROM audit_head WHERE singleton = 1 FOR UPDATE";
    /// Retention drops alert details with an update (vacuum reclaims space).
    pub const PRUNE_BY_REWRITE: bool = false;

    /// The database's size on disk and each table's with its indexes and
    /// TOAST data. Free space is PostgreSQL's own business (vacuum).
    pub async fn sizes(pool: &sqlx::Pool<super::Db>) -> crate::Result<crate::maintenance::Sizes> {
        let used: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())").fetch_one(pool).await?;
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT tablename::text, pg_total_relation_size(format('%I.%I', schemaname, tablename)::regclass) \
             FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename",
        )
        .fetch_all(pool)
        .await?;
        let tables = rows.into_iter().map(|(name, bytes)| (name, Some(u64::try_from(bytes).unwrap_or(0)))).collect();
        Ok(crate::maintenance::Sizes { used_bytes: u64::try_from(used).unwrap_or(0), free_bytes: None, tables })
    }
}

/// The size and row counts of the database at `url`, without migrating it.
pub async fn stats(url: &str) -> Result<crate::DbStats> {
    let pool = PgPoolOptions::new().max_connections(1).acquire_timeout(Duration::from_secs(10)).connect(url).await?;
    let stats = backend::stats(&pool).await;
    pool.close().await;
    stats
}

impl backend::StoreImpl {
    /// Connects and runs migrations (under sqlx's advisory lock, so nodes
    /// starting together migrate once).
    pub async fn connect(url: &str) -> Result<Self> {
        // A connection the server dropped (a restart, a failover,
        // `pg_terminate_backend`) fails the ping sqlx sends before handing out
        // an idle one, and is replaced. While the server refuses connections,
        // a request waits at most `ACQUIRE_TIMEOUT` and is answered 503.
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .test_before_acquire(true)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Self::from_pools(pool.clone(), pool).await
    }
}
