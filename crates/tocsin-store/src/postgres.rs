//! PostgreSQL, for several equal nodes sharing one database. Writers lock
//! only what they decide on (rows `FOR UPDATE`, advisory locks for dedup keys
//! and config versions) and append to whichever audit shard is free, so
//! nodes write at once; the engine claims work with leases, by an update that
//! takes only rows still unclaimed, so two nodes never get the same item.

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
    /// The engine's relaxed writes (see `begin_relaxed`): this transaction's
    /// commit does not wait for the WAL flush.
    pub const BEGIN_RELAXED: &str = "BEGIN; SET LOCAL synchronous_commit = off";
    /// A read-only transaction that sees one snapshot throughout.
    pub const BEGIN_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
    pub const NAME: &str = "postgres";
    /// Reserves `$1` incident and alert ids from the identity sequences, so
    /// nodes ingesting at once never pick the same ids.
    pub const RESERVE_IDS: Option<&str> = Some(
        "SELECT nextval(pg_get_serial_sequence('incidents', 'id')), nextval(pg_get_serial_sequence('alerts', 'id')) \
         FROM generate_series(1, $1)",
    );
    /// Appended to a read whose rows the transaction will change.
    pub const LOCK_ROWS: &str = " FOR UPDATE";
    /// The same, for the read that joins incidents (`i`) to a list of ids.
    pub const LOCK_INCIDENT_ROWS: &str = " FOR UPDATE OF i";
    /// The planner picks the index from statistics.
    pub const ALERTS_BY_KEY: &str = "";
    /// The first audit head no other transaction holds.
    pub const TAKE_FREE_AUDIT_HEAD: &str =
        "SELECT shard, hash FROM audit_heads ORDER BY shard LIMIT 1 FOR UPDATE SKIP LOCKED";
    /// When every head is held: wait for one, spread by connection.
    pub const WAIT_FOR_AUDIT_HEAD: &str = "SELECT shard, hash FROM audit_heads \
         WHERE shard = pg_backend_pid() % (SELECT COUNT(*) FROM audit_heads) FOR UPDATE";

    /// Takes transaction-scoped advisory locks, in the order given (sorted
    /// by the caller).
    pub async fn lock_keys(conn: &mut sqlx::PgConnection, keys: &[i64]) -> crate::Result<()> {
        if !keys.is_empty() {
            sqlx::query("SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS t(k)")
                .bind(keys)
                .execute(conn)
                .await?;
        }
        Ok(())
    }
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
        Self::from_pools(pool.clone(), pool, None).await
    }
}
