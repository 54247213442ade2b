//! The backend-independent half of a store, compiled once per backend.
//!
//! `sqlite.rs` and `postgres.rs` each define `Db` (the sqlx database type)
//! and a `dialect` module with the few statements whose text differs, then
//! declare this directory as their `backend` module (`#[path]`). That keeps
//! one copy of the logic while every query is type-checked against each
//! concrete backend (sqlx's `Any` driver cannot carry our types; generic
//! code over `sqlx::Database` drowns in trait bounds).
//!
//! This file holds the store itself and what every aggregate shares: write
//! transactions (named locks, audit shards, timeline, outbox) and paging of
//! lists. Each
//! aggregate's trait is implemented in its own file.

mod accounts;
mod audit;
mod bulk;
mod catalog;
mod health;
mod heartbeats;
mod incidents;
mod intake;
mod maintenance;
mod noise;
mod outbox;
mod paging;
mod release;
mod schedules;
mod secrets;
mod sessions;
mod silences;
mod steps;
mod test_pages;

pub(super) use maintenance::stats;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Pool;
use std::sync::Arc;
use tokio::sync::Notify;

use tocsin_core::audit::{AuditRecord, chain_hash};
use tocsin_core::timeline::{TimelineEntry, TimelineKind};
use tocsin_core::work::WorkKind;

use self::bulk::{Binds, CHUNK, Script, values_list};
use super::{Db, dialect};
use crate::batcher::Batcher;
use crate::codec::to_us;
use crate::fault::FaultInjection;
use crate::health::{StoreReadiness, WriteHealth};
use crate::{DEFAULT_PAGE, Lane, MAX_PAGE, Page, Result, Store, cursor};

type DbRow = <Db as sqlx::Database>::Row;
type Tx<'c> = sqlx::Transaction<'c, Db>;
type Conn = <Db as sqlx::Database>::Connection;

/// A store over one database: a pool for reads, a pool for writes (one
/// connection on SQLite, where there is only ever one writer), and the
/// group-commit queue for ingestion.
///
/// Every write, the group commit's included, takes its connection from the
/// write pool for the length of one transaction. A connection the database
/// dropped is therefore replaced at the next write (sqlx tests a returned
/// connection and, on PostgreSQL, an idle one before handing it out), and
/// SQLite never has a second write connection.
pub struct StoreImpl {
    read: Pool<Db>,
    write: Pool<Db>,
    batcher: Batcher,
    signal: Arc<Notify>,
    shared: Arc<Shared>,
    /// Writes that finished outbox items (see `OutboxStore::outbox_writes`).
    outbox_writes: Arc<std::sync::atomic::AtomicU64>,
    /// Engine steps, group-committed.
    steps: steps::Steps,
    /// Background tasks of this store (the step writer, SQLite's checkpointer),
    /// stopped at close.
    tasks: std::sync::Mutex<Vec<tokio::task::AbortHandle>>,
    /// Pools of those tasks, closed at close with the others: a connection
    /// left to close later may touch a database file that is gone by then.
    task_pools: std::sync::Mutex<Vec<Pool<Db>>>,
}

/// What the store and its group-commit writer both hold.
pub(crate) struct Shared {
    write_health: WriteHealth,
    faults: FaultInjection,
}

impl StoreImpl {
    /// `wal`: the log the group commit syncs itself after committing without
    /// waiting for the disk; `None`: commits wait for the disk.
    pub(super) async fn from_pools(
        read: Pool<Db>,
        write: Pool<Db>,
        wal: Option<crate::wal_sync::WalFile>,
    ) -> Result<Self> {
        let signal = Arc::new(Notify::new());
        let shared = Arc::new(Shared { write_health: WriteHealth::default(), faults: FaultInjection::default() });
        let writer = Arc::new(intake::Writer::new(write.clone(), signal.clone(), shared.clone(), wal));
        let outbox_writes = Arc::new(std::sync::atomic::AtomicU64::default());
        let (steps, step_writer) = steps::Steps::start(write.clone(), signal.clone(), outbox_writes.clone());
        let store = Self {
            read,
            write,
            batcher: Batcher::start(writer),
            signal,
            shared,
            outbox_writes,
            steps,
            tasks: Default::default(),
            task_pools: Default::default(),
        };
        store.keep_task(step_writer);
        Ok(store)
    }

    /// Keeps `task` running until the store closes.
    pub(super) fn keep_task(&self, task: tokio::task::AbortHandle) {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner()).push(task);
    }

    /// Closes `pool` (a task's own) when the store closes.
    #[allow(dead_code, reason = "only the SQLite backend has such a pool")]
    pub(super) fn keep_pool(&self, pool: Pool<Db>) {
        self.task_pools.lock().unwrap_or_else(|e| e.into_inner()).push(pool);
    }
}

// ---------------------------------------------------------------------------
// Write transactions. Nothing serialises them as a whole: each locks what it
// reads to decide (rows `FOR UPDATE`, or a named lock for what has no row
// yet), and its audit entries go to whichever audit shard is free when it
// commits (see `append_audit`).

struct WriteTx<'c> {
    tx: Tx<'c>,
    audit: Vec<AuditRecord>,
    queued_work: bool,
}

async fn begin_write(pool: &Pool<Db>) -> Result<WriteTx<'static>> {
    Ok(WriteTx::new(pool.begin_with(dialect::BEGIN_WRITE).await?))
}

/// A write transaction for the engine's own bookkeeping (claims,
/// completions, escalation steps, expiry, releases), committed without
/// waiting for the disk. Each follows from a durable fact (an outbox row, a
/// deadline) and is redone from it should it be lost, which only a power cut
/// or a kernel crash can do: a process that dies loses nothing, the commit
/// is in the OS's cache, and the next durable commit takes it to disk with
/// its own. The worst a lost one costs is a page sent twice (with the same
/// idempotency key), never one not sent; and the engine's many small
/// transactions stop queueing for fsyncs in front of ingestion.
async fn begin_relaxed(pool: &Pool<Db>) -> Result<WriteTx<'static>> {
    Ok(WriteTx::new(pool.begin_with(dialect::BEGIN_RELAXED).await?))
}

/// A write transaction on `conn`, begun by `begin` (`BEGIN_WRITE` or
/// `BEGIN_RELAXED`).
async fn begin_on<'c>(conn: &'c mut Conn, begin: &'static str) -> Result<WriteTx<'c>> {
    Ok(WriteTx::new(sqlx::Connection::begin_with(conn, begin).await?))
}

impl<'c> WriteTx<'c> {
    fn new(tx: Tx<'c>) -> Self {
        Self { tx, audit: Vec::new(), queued_work: false }
    }

    /// Takes named locks, held to commit, for decisions about rows that may
    /// not exist yet (an alert's dedup key, the next config version). Taken
    /// in one sorted order, so two transactions never wait on each other in
    /// a cycle. SQLite has one writer and needs none.
    async fn lock_names<S: AsRef<str>>(&mut self, names: impl IntoIterator<Item = S>) -> Result<()> {
        let mut keys: Vec<i64> = names.into_iter().map(|n| lock_key(n.as_ref())).collect();
        keys.sort_unstable();
        keys.dedup();
        dialect::lock_keys(&mut self.tx, &keys).await
    }

    /// Queues an audit entry; entries are chained and written at commit.
    async fn audit(&mut self, record: AuditRecord) -> Result<()> {
        self.audit.push(record);
        Ok(())
    }

    async fn timeline(
        &mut self,
        incident_id: i64,
        at: DateTime<Utc>,
        kind: TimelineKind,
        actor: &str,
        payload: serde_json::Value,
    ) -> Result<TimelineEntry> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO timeline (incident_id, at, kind, actor, payload) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(incident_id)
        .bind(to_us(at))
        .bind(kind.as_str())
        .bind(actor)
        .bind(payload.to_string())
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(TimelineEntry { id, incident_id, at, kind: kind.as_str().to_string(), actor: actor.to_string(), payload })
    }

    /// Queues engine work in `lane` (see [`crate::outbox`]); its priority
    /// follows from its kind and when it is due.
    async fn enqueue(
        &mut self,
        kind: WorkKind,
        payload: serde_json::Value,
        due_at: DateTime<Utc>,
        now: DateTime<Utc>,
        lane: &Lane,
    ) -> Result<()> {
        let priority = crate::outbox::priority(kind, due_at, now);
        let insert = match lane {
            // The incident's service, read in the same statement.
            Lane::Incident(id) => sqlx::query(
                "INSERT INTO outbox (kind, payload, due_at, created_at, priority, lane) VALUES ($1, $2, $3, $4, $5, \
                 COALESCE((SELECT service_id FROM incidents WHERE id = $6), ''))",
            )
            .bind(kind.as_str())
            .bind(payload.to_string())
            .bind(to_us(due_at))
            .bind(to_us(now))
            .bind(priority)
            .bind(*id),
            Lane::ContactMethod(method) => sqlx::query(
                "INSERT INTO outbox (kind, payload, due_at, created_at, priority, lane) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(kind.as_str())
            .bind(payload.to_string())
            .bind(to_us(due_at))
            .bind(to_us(now))
            .bind(priority)
            .bind(Lane::contact_method(method)),
        };
        insert.execute(&mut *self.tx).await?;
        self.queued_work = true;
        Ok(())
    }

    async fn commit(mut self, signal: &Notify) -> Result<()> {
        if !self.audit.is_empty() {
            append_audit(&mut self.tx, &self.audit).await?;
        }
        self.tx.commit().await?;
        if self.queued_work {
            signal.notify_one();
        }
        Ok(())
    }
}

/// A stable 64-bit key for a named lock (FNV-1a).
fn lock_key(name: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(h.to_ne_bytes())
}

/// Appends a transaction's audit entries to one shard's chain. The head is
/// taken last, just before commit, so a transaction holds it only for the
/// inserts and the commit and never waits for anything else while holding
/// it. On PostgreSQL a transaction takes the first head no other holds
/// (`SKIP LOCKED`) and only waits when all are held.
async fn append_audit(tx: &mut Tx<'_>, records: &[AuditRecord]) -> Result<()> {
    let free: Option<(i32, String)> = sqlx::query_as(dialect::TAKE_FREE_AUDIT_HEAD).fetch_optional(&mut **tx).await?;
    let (shard, mut head) = match free {
        Some(h) => h,
        None => sqlx::query_as(dialect::WAIT_FOR_AUDIT_HEAD).fetch_one(&mut **tx).await?,
    };
    let mut script = Script::default();
    for chunk in records.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO audit_log (shard, at, actor, action, target, details, prev_hash, hash) VALUES {}",
            values_list(chunk.len(), 8)
        );
        let mut q = Binds::new(sql);
        for record in chunk {
            let hash = chain_hash(&head, record);
            q = q
                .bind(i64::from(shard))
                .bind(to_us(record.at))
                .bind(record.actor.clone())
                .bind(record.action.clone())
                .bind(record.target.clone())
                .bind(record.details.to_string())
                .bind(std::mem::replace(&mut head, hash.clone()))
                .bind(hash);
        }
        script.push(q);
    }
    // In the same round trip as the inserts (one script on SQLite), so its
    // parameters are numbered within this statement.
    let mut sql = String::from("UPDATE audit_heads SET hash = ");
    dialect::push_param(&mut sql, 1);
    sql.push_str(" WHERE shard = ");
    dialect::push_param(&mut sql, 2);
    script.push(Binds::new(sql).bind(head).bind(i64::from(shard)));
    script.run(tx).await
}

fn audit_record(
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    target: String,
    details: serde_json::Value,
) -> AuditRecord {
    AuditRecord { at, actor: actor.to_string(), action: action.to_string(), target, details }
}

// ---------------------------------------------------------------------------
// Lists

fn page<T>(mut items: Vec<T>, limit: i64, id_of: impl Fn(&T) -> i64) -> Page<T> {
    let limit = usize::try_from(limit).unwrap_or(0);
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|t| cursor::encode(id_of(t)))
    } else {
        None
    };
    Page { items, next_cursor }
}

fn clamp_limit(limit: i64) -> i64 {
    if limit <= 0 { DEFAULT_PAGE } else { limit.min(MAX_PAGE) }
}

#[async_trait]
impl Store for StoreImpl {
    fn backend(&self) -> &'static str {
        dialect::NAME
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    async fn readiness(&self) -> StoreReadiness {
        self.check_readiness().await
    }

    fn faults(&self) -> &FaultInjection {
        &self.shared.faults
    }

    fn work_signal(&self) -> Arc<Notify> {
        self.signal.clone()
    }

    async fn close(&self) {
        for task in self.tasks.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            task.abort();
        }
        self.batcher.shutdown().await;
        let pools = std::mem::take(&mut *self.task_pools.lock().unwrap_or_else(|e| e.into_inner()));
        for pool in pools {
            pool.close().await;
        }
        self.write.close().await;
        self.read.close().await;
    }
}
