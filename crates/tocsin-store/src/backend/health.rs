//! Readiness: a read round trip, the write check (recent commits or a real
//! one-row commit) and the group-commit writer task.

use sqlx::Pool;

use super::{Db, StoreImpl};
use crate::codec::to_us;
use crate::health::{CHECK_TIMEOUT, Check, StoreReadiness, describe, is_unavailable};
use crate::{Result, StoreError};

impl StoreImpl {
    pub(super) async fn check_readiness(&self) -> StoreReadiness {
        let (database_read, database_write) = tokio::join!(self.check_read(), self.check_write());
        let ingest_writer = match self.batcher.status().problem() {
            None => Check::ok(),
            Some(problem) => Check::failed(problem),
        };
        for (component, check) in [("database_read", &database_read), ("database_write", &database_write)] {
            metrics::gauge!("tocsin_component_up", "component" => component).set(if check.ok { 1.0 } else { 0.0 });
        }
        StoreReadiness { database_read, database_write, ingest_writer }
    }

    async fn check_read(&self) -> Check {
        let ping = async { sqlx::query("SELECT 1").execute(&self.read).await.map_err(StoreError::from) };
        match within_check_timeout(ping).await {
            Ok(_) => Check::ok(),
            Err(err) => {
                metrics::counter!("tocsin_database_errors_total", "op" => "read").increment(1);
                Check::failed(describe(&err))
            }
        }
    }

    /// The latest write's outcome while it is fresh, else a probe; one probe
    /// at a time, shared by concurrent checks.
    async fn check_write(&self) -> Check {
        let health = &self.shared.write_health;
        if let Some(check) = health.fresh() {
            return check;
        }
        let _probing = health.probing.lock().await;
        if let Some(check) = health.fresh() {
            return check;
        }
        match within_check_timeout(probe(&self.write)).await {
            Ok(()) => {
                health.record(Ok(()));
                Check::ok()
            }
            Err(err) => {
                health.record_failure(&err);
                Check::failed(describe(&err))
            }
        }
    }
}

async fn within_check_timeout<T>(check: impl Future<Output = Result<T>>) -> Result<T> {
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(result) => result,
        Err(_) => {
            Err(StoreError::Unavailable(format!("no answer from the database within {} s", CHECK_TIMEOUT.as_secs())))
        }
    }
}

/// One committed write of one row: fails exactly when commits fail (a full
/// disk, a read-only file, a lost server). A connection that failed this way
/// is closed, so the next write opens a fresh one (a SQLite connection opened
/// while the file system was read-only stays read-only).
async fn probe(pool: &Pool<Db>) -> Result<()> {
    let mut conn = pool.acquire().await?;
    let result = sqlx::query("UPDATE health_probe SET at = $1 WHERE singleton = 1")
        .bind(to_us(chrono::Utc::now()))
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .map_err(StoreError::from);
    if let Err(err) = &result
        && is_unavailable(err)
    {
        conn.close_on_drop();
    }
    result
}
