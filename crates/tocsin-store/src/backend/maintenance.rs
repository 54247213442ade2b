//! Retention and database statistics.
//!
//! Each pruning batch finds its rows through an index that holds only what
//! may still be pruned (migration 0009), so it costs the same however much
//! was pruned before; rows it skips are the few of incidents still open.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{AssertSqlSafe, Pool};

use tocsin_core::timeline::actor;

use super::{Db, StoreImpl, Tx, audit_record, begin_write, dialect};
use crate::codec::to_us;
use crate::{DbStats, MaintenanceStore, Prune, Pruned, Result, TableStats};

/// Resolved alerts whose incident resolved at or before `$1` and whose
/// details are still there, oldest first, at most `$2`.
const OLD_PAYLOADS: &str = "SELECT a.id FROM alerts a JOIN incidents i ON i.id = a.incident_id \
       WHERE a.details_pruned_at IS NULL AND a.status = 'resolved' AND a.resolved_at <= $1 \
         AND i.status = 'resolved' AND i.resolved_at <= $1 \
       ORDER BY a.resolved_at LIMIT $2";

/// Deletes finished notifications (sent, failed, cancelled) of incidents
/// resolved before the cutoff. Pending and held ones still have work
/// pointing at them and are never touched.
const PRUNE_NOTIFICATIONS: &str = "DELETE FROM notifications WHERE id IN ( \
       SELECT n.id FROM notifications n JOIN incidents i ON i.id = n.incident_id \
       WHERE n.created_at <= $1 AND n.status IN ('sent', 'failed', 'cancelled') \
         AND i.status = 'resolved' AND i.resolved_at <= $1 \
       ORDER BY n.created_at LIMIT $2)";

/// Deletes engine work finished before the cutoff; unfinished work (queued,
/// leased) has no `done_at` and is never touched.
const PRUNE_FINISHED_WORK: &str = "DELETE FROM outbox WHERE id IN ( \
       SELECT id FROM outbox WHERE done_at IS NOT NULL AND done_at <= $1 ORDER BY done_at LIMIT $2)";

#[async_trait]
impl MaintenanceStore for StoreImpl {
    async fn prune(&self, p: &Prune) -> Result<Pruned> {
        if p.limit <= 0 || (p.alert_payloads_before.is_none() && p.delivery_attempts_before.is_none()) {
            return Ok(Pruned::default());
        }
        let mut w = begin_write(&self.write).await?;
        let mut pruned = Pruned::default();
        if let Some(before) = p.alert_payloads_before {
            pruned.alert_payloads = drop_payloads(&mut w.tx, before, p).await?;
        }
        if let Some(before) = p.delivery_attempts_before {
            let done = sqlx::query(PRUNE_NOTIFICATIONS).bind(to_us(before)).bind(p.limit).execute(&mut *w.tx).await?;
            pruned.notifications = done.rows_affected();
            let done = sqlx::query(PRUNE_FINISHED_WORK).bind(to_us(before)).bind(p.limit).execute(&mut *w.tx).await?;
            pruned.finished_work = done.rows_affected();
        }
        if pruned.total() == 0 {
            // Nothing changed: end the transaction without an audit entry.
            w.tx.rollback().await?;
            return Ok(pruned);
        }
        let details = json!({
            "alert_payloads": pruned.alert_payloads,
            "notifications": pruned.notifications,
            "finished_work": pruned.finished_work,
            "alert_payloads_before": p.alert_payloads_before,
            "delivery_attempts_before": p.delivery_attempts_before,
        });
        w.audit(audit_record(p.at, actor::SYSTEM, "retention.prune", "database".to_string(), details)).await?;
        w.commit(&self.signal).await?;
        Ok(pruned)
    }

    async fn stats(&self) -> Result<DbStats> {
        stats(&self.read).await
    }
}

/// Drops the details of the alerts [`OLD_PAYLOADS`] finds; the alert row
/// (summary, labels, links, counts, instants) stays.
///
/// SQLite never merges pages that an `UPDATE` leaves nearly empty, so
/// shrinking rows in place would free nothing: the file would keep its
/// size and new rows would still go to new pages. It does merge on
/// `DELETE`, so there the rows are deleted and written back without their
/// details (same ids, one transaction), which returns the pages to the free
/// list for new rows to reuse. No table references `alerts` by a foreign
/// key (a cascading one would make this delete more than it means to).
/// PostgreSQL updates in place; vacuum reclaims the old row versions.
async fn drop_payloads(tx: &mut Tx<'_>, before: DateTime<Utc>, p: &Prune) -> Result<u64> {
    let at = to_us(p.at);
    if !dialect::PRUNE_BY_REWRITE {
        let sql = format!("UPDATE alerts SET details = '{{}}', details_pruned_at = $3 WHERE id IN ({OLD_PAYLOADS})");
        let done =
            sqlx::query(AssertSqlSafe(sql)).bind(to_us(before)).bind(p.limit).bind(at).execute(&mut **tx).await?;
        return Ok(done.rows_affected());
    }
    let copy = format!("CREATE TEMP TABLE retention_alerts AS SELECT * FROM alerts WHERE id IN ({OLD_PAYLOADS})");
    sqlx::query("DROP TABLE IF EXISTS temp.retention_alerts").execute(&mut **tx).await?;
    sqlx::query(AssertSqlSafe(copy)).bind(to_us(before)).bind(p.limit).execute(&mut **tx).await?;
    sqlx::query("UPDATE temp.retention_alerts SET details = '{}', details_pruned_at = $1")
        .bind(at)
        .execute(&mut **tx)
        .await?;
    let done =
        sqlx::query("DELETE FROM alerts WHERE id IN (SELECT id FROM temp.retention_alerts)").execute(&mut **tx).await?;
    sqlx::query("INSERT INTO alerts SELECT * FROM temp.retention_alerts").execute(&mut **tx).await?;
    sqlx::query("DROP TABLE temp.retention_alerts").execute(&mut **tx).await?;
    Ok(done.rows_affected())
}

/// The statistics of the database `pool` reads from: sizes as the backend
/// reports them, and an exact row count of every table.
pub(crate) async fn stats(pool: &Pool<Db>) -> Result<DbStats> {
    let sizes = dialect::sizes(pool).await?;
    let mut tables = Vec::with_capacity(sizes.tables.len());
    for (name, bytes) in sizes.tables {
        // The name comes from the catalog; quoting keeps it one identifier.
        let sql = format!("SELECT COUNT(*) FROM \"{}\"", name.replace('"', "\"\""));
        let rows: i64 = sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(pool).await?;
        tables.push(TableStats { name, rows: u64::try_from(rows).unwrap_or(0), bytes });
    }
    Ok(DbStats { backend: dialect::NAME, used_bytes: sizes.used_bytes, free_bytes: sizes.free_bytes, tables })
}
