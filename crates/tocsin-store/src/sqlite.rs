//! The embedded default: one SQLite file in WAL mode with `synchronous=FULL`,
//! so a commit survives power loss, one write connection (SQLite has one
//! writer anyway) and a few read connections that never block on it.
//!
//! Two kinds of write relax the level: ingestion commits, which the group
//! commit makes durable by syncing the log itself before it answers
//! (`crate::wal_sync`), and the engine's own bookkeeping (`begin_relaxed`).
//! A connection of its own checkpoints the log.

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
    /// The engine's relaxed writes (see `begin_relaxed`): in WAL mode
    /// `NORMAL` commits without syncing the log. The level cannot change
    /// inside a transaction, so it is set before; releasing the connection
    /// puts `FULL` back.
    pub const BEGIN_RELAXED: &str = "PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE";
    /// A read-only transaction that sees one snapshot throughout.
    pub const BEGIN_SNAPSHOT: &str = "BEGIN";
    pub const NAME: &str = "sqlite";
    /// Ids come after the largest stored ones: there is one writer.
    pub const RESERVE_IDS: Option<&str> = None;
    /// The one writer holds the database lock from `BEGIN IMMEDIATE` to
    /// commit; rows need no locks of their own.
    pub const LOCK_ROWS: &str = "";
    /// The same, for the read that joins incidents (`i`) to a list of ids.
    pub const LOCK_INCIDENT_ROWS: &str = "";
    /// Reads of one identity's alert history go through `alerts_by_key`:
    /// without statistics SQLite may take `alerts_by_service_time` and read
    /// every alert of the service for each key.
    pub const ALERTS_BY_KEY: &str = " INDEXED BY alerts_by_key";
    /// One writer, so one chain is enough: shard 0.
    pub const TAKE_FREE_AUDIT_HEAD: &str = "SELECT shard, hash FROM audit_heads WHERE shard = 0";
    pub const WAIT_FOR_AUDIT_HEAD: &str = TAKE_FREE_AUDIT_HEAD;

    /// Named locks are for several writers; SQLite has one.
    pub async fn lock_keys(_conn: &mut sqlx::SqliteConnection, _keys: &[i64]) -> crate::Result<()> {
        Ok(())
    }

    /// Retention drops alert details by deleting and re-inserting the rows
    /// (SQLite merges emptied pages on delete, never on update).
    pub const PRUNE_BY_REWRITE: bool = true;

    /// Pages in use and free, and each table's pages with its indexes from
    /// `dbstat` (compiled into the bundled SQLite; `None` if missing).
    pub async fn sizes(pool: &sqlx::Pool<super::Db>) -> crate::Result<crate::maintenance::Sizes> {
        let page_size: i64 = sqlx::query_scalar("PRAGMA page_size").fetch_one(pool).await?;
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(pool).await?;
        let free: i64 = sqlx::query_scalar("PRAGMA freelist_count").fetch_one(pool).await?;
        let bytes = |n: i64| u64::try_from(n.saturating_mul(page_size)).unwrap_or(0);
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .fetch_all(pool)
        .await?;
        let by_table: std::collections::HashMap<String, i64> = sqlx::query_as(
            "SELECT m.tbl_name, SUM(d.pgsize) FROM dbstat d JOIN sqlite_master m ON m.name = d.name GROUP BY m.tbl_name",
        )
        .fetch_all(pool)
        .await
        .map(|rows: Vec<(String, i64)>| rows.into_iter().collect())
        .unwrap_or_default();
        let dbstat = !by_table.is_empty();
        let tables = names
            .into_iter()
            .map(|name| {
                let size = dbstat.then(|| by_table.get(&name).copied().map_or(0, |n| u64::try_from(n).unwrap_or(0)));
                (name, size)
            })
            .collect();
        Ok(crate::maintenance::Sizes { used_bytes: bytes(pages - free), free_bytes: Some(bytes(free)), tables })
    }
}

impl backend::StoreImpl {
    /// Opens (creating if needed) the database file and runs migrations.
    /// The file and its `-wal` and `-shm` companions are readable by their
    /// owner only (see [`owner_only`]).
    pub async fn open(path: &Path) -> Result<Self> {
        owner_only(path)?;
        let base = SqliteConnectOptions::new()
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // Connections are local and never go stale: skip the ping sqlx would
        // otherwise send before every acquire. One write connection for every
        // write, group commit included: SQLite has one writer anyway, and a
        // second connection would only wait on the file lock. Writers wait
        // for it as long as SQLite would wait for the lock.
        let write = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            // A COMMIT that failed (disk full, read-only file) can leave sqlx
            // counting a transaction SQLite already ended, and such a
            // connection refuses every later `BEGIN IMMEDIATE`: the only write
            // connection would be stuck after the fault is gone. The ping
            // settles the rollback queued when the transaction was dropped;
            // a connection still counted inside a transaction is closed, and
            // the next write opens a fresh one.
            //
            // The same statement puts back the durable default that a relaxed
            // engine write (`BEGIN_RELAXED`) lowered; inside a transaction it
            // fails, and the connection is closed as above.
            .after_release(|conn, _| {
                Box::pin(async move {
                    let restored = sqlx::query("PRAGMA synchronous = FULL").execute(&mut *conn).await;
                    Ok(restored.is_ok() && !sqlx::Connection::is_in_transaction(conn))
                })
            })
            .connect_with(base.clone().create_if_missing(true).pragma("wal_autocheckpoint", WRITER_CHECKPOINT_PAGES))
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        let read = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(4)
            .connect_with(base.clone().read_only(true))
            .await?;
        // Read-write (a checkpoint writes the database file), but it never
        // writes a transaction: the write connection stays the only writer.
        let checkpoints = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .min_connections(1)
            .connect_with(base.pragma("wal_autocheckpoint", "0"))
            .await?;
        let store = Self::from_pools(read, write, Some(crate::wal_sync::WalFile::of(path))).await?;
        store.keep_task(tokio::spawn(checkpoint_wal(checkpoints.clone())).abort_handle());
        store.keep_pool(checkpoints);
        Ok(store)
    }
}

/// How often the checkpointer copies committed pages from the write-ahead
/// log into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// The log size (in pages) at which the writer checkpoints by itself:
/// SQLite's default, a backstop for when the checkpointer falls behind. A
/// larger log also grows SQLite's shared-memory index into new mapped
/// chunks, which a file system gone read-only answers with SIGBUS.
const WRITER_CHECKPOINT_PAGES: &str = "1000";

/// Checkpoints the write-ahead log on a connection of its own, so that the
/// copy and the fsync of the database file happen beside the writer rather
/// than inside a commit someone waits for (SQLite's automatic checkpoint runs
/// in the commit that crosses the threshold). `PASSIVE` never blocks the
/// writer or readers; what it cannot copy yet waits for the next round.
async fn checkpoint_wal(pool: sqlx::SqlitePool) {
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let done: std::result::Result<(i64, i64, i64), _> =
            sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&pool).await;
        match done {
            Ok((_, log, copied)) => {
                metrics::counter!("tocsin_store_wal_checkpoints_total", "outcome" => "ok").increment(1);
                metrics::gauge!("tocsin_store_wal_pages").set(log as f64);
                metrics::gauge!("tocsin_store_wal_pages_not_checkpointed").set((log - copied).max(0) as f64);
            }
            Err(err) => {
                metrics::counter!("tocsin_store_wal_checkpoints_total", "outcome" => "failed").increment(1);
                tracing::warn!(error = %err, "WAL checkpoint failed; the writer checkpoints once the log is large");
            }
        }
    }
}

/// A read-only connection pool on an existing database file, for looking
/// at it beside a running server: no migrations, no writes, no file created.
async fn open_read_only(path: &Path) -> Result<sqlx::SqlitePool> {
    if !path.is_file() {
        return Err(crate::StoreError::Location(format!("there is no database file at {}", path.display())));
    }
    let options = SqliteConnectOptions::new().filename(path).read_only(true).busy_timeout(Duration::from_secs(10));
    Ok(SqlitePoolOptions::new().max_connections(1).connect_with(options).await?)
}

/// The size and row counts of the database file at `path`, read-only.
pub async fn stats(path: &Path) -> Result<crate::DbStats> {
    let pool = open_read_only(path).await?;
    let stats = backend::stats(&pool).await;
    pool.close().await;
    stats
}

/// Writes a consistent copy of the database at `db` into `target`, which
/// must not exist or be empty, while other connections go on writing:
/// `VACUUM INTO` reads one snapshot (WAL readers never block writers) and
/// writes a compact copy without the write-ahead log. The caller makes it
/// durable and puts it in place.
pub async fn backup(db: &Path, target: &Path) -> Result<()> {
    let pool = open_read_only(db).await?;
    let target = target
        .to_str()
        .ok_or_else(|| crate::StoreError::Location(format!("{} is not a UTF-8 path", target.display())))?;
    let done = sqlx::query("VACUUM INTO $1").bind(target).execute(&pool).await;
    pool.close().await;
    done.map(|_| ()).map_err(Into::into)
}

/// The database holds every incident, token hash and (unless a secret key
/// seals them) the signing keys, so only its owner may read it. A new file is
/// created here with mode 0600 before SQLite opens it, and SQLite gives the
/// `-wal` and `-shm` files it creates the database file's mode. An existing
/// file (or leftover `-wal`/`-shm`) that group or others may read is
/// restricted to its owner, with a warning naming the mode it had.
#[cfg(unix)]
fn owner_only(path: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let failed = |what: &str, file: &Path, e: std::io::Error| {
        crate::StoreError::Location(format!("cannot {what} {}: {e}", file.display()))
    };
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(failed("create", path, e)),
    }
    let mut companions = [path.as_os_str().to_owned(), path.as_os_str().to_owned(), path.as_os_str().to_owned()];
    companions[1].push("-wal");
    companions[2].push("-shm");
    for file in companions.iter().map(Path::new) {
        let Ok(meta) = std::fs::metadata(file) else { continue };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode & 0o700))
                .map_err(|e| failed("restrict the permissions of", file, e))?;
            tracing::warn!(
                file = %file.display(),
                mode = format!("{mode:03o}"),
                "the database file was readable by others; it is now readable by its owner only"
            );
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn owner_only(_path: &Path) -> Result<()> {
    Ok(())
}
