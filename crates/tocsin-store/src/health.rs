//! Whether the store can read and write now, for `/readyz` and `/metrics`.
//!
//! Reads are checked by a round trip. Writes are checked by what writes do:
//! the outcome of every group commit is recorded, and when none happened in
//! the last second a real one-row commit (`health_probe`, migration 0010)
//! stands in. A rolled-back write would not do: a full disk or a read-only
//! file only fails when the commit appends to SQLite's WAL (or PostgreSQL's).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::StoreError;

/// One part's state: `error` says why it is not ok.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub ok: bool,
    pub error: Option<String>,
}

impl Check {
    pub fn ok() -> Self {
        Self { ok: true, error: None }
    }

    pub fn failed(error: impl Into<String>) -> Self {
        Self { ok: false, error: Some(error.into()) }
    }

    fn from_result(result: &Result<(), String>) -> Self {
        match result {
            Ok(()) => Self::ok(),
            Err(e) => Self::failed(e.clone()),
        }
    }
}

/// The store's parts as readiness reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreReadiness {
    pub database_read: Check,
    pub database_write: Check,
    /// The group-commit writer task (supervised; see [`crate::supervise`]).
    pub ingest_writer: Check,
}

/// How long a write outcome answers for the write check before a probe.
pub(crate) const WRITE_FRESH: Duration = Duration::from_secs(1);
/// Longest a readiness check waits for the database: health must answer
/// quickly even while the database does not.
pub(crate) const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The latest write outcome (a commit or a probe) and when it happened.
#[derive(Default)]
pub(crate) struct WriteHealth {
    last: Mutex<Option<(Instant, Result<(), String>)>>,
    /// One probe at a time; concurrent checks wait for it and share it.
    pub(crate) probing: tokio::sync::Mutex<()>,
}

impl WriteHealth {
    /// Records a write's outcome. Errors that say nothing about the
    /// database (a conflict, invalid input) are not recorded.
    pub(crate) fn record(&self, result: Result<(), &StoreError>) {
        match result {
            Ok(()) => self.set(Ok(())),
            Err(err) if is_unavailable(err) => self.record_failure(err),
            Err(_) => {}
        }
    }

    /// Records a failure whatever its kind: no connection to write on, or a
    /// probe that could not commit, always means writes fail.
    pub(crate) fn record_failure(&self, err: &StoreError) {
        metrics::counter!("tocsin_database_errors_total", "op" => "write").increment(1);
        self.set(Err(describe(err)));
    }

    fn set(&self, outcome: Result<(), String>) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), outcome));
    }

    /// The latest outcome, if recent enough to answer for now.
    pub(crate) fn fresh(&self) -> Option<Check> {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match &*last {
            Some((at, outcome)) if at.elapsed() < WRITE_FRESH => Some(Check::from_result(outcome)),
            _ => None,
        }
    }
}

/// Whether `err` means the database cannot be used now (as opposed to a
/// refusal of this particular request): connections lost or refused, pool
/// timeouts, a full disk, a read-only file, the server shutting down.
/// Connections that fail this way are closed rather than reused.
pub fn is_unavailable(err: &StoreError) -> bool {
    let StoreError::Database(err) = err else {
        return matches!(err, StoreError::Unavailable(_));
    };
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            if db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some() {
                // SQLSTATE classes: connection (08), resources such as a full
                // disk (53), operator intervention such as a shutdown or a
                // terminated backend (57), system errors (58); read only (25006).
                ["08", "53", "57", "58"].iter().any(|class| code.starts_with(class)) || code == "25006"
            } else {
                // SQLite's extended result code; the primary code is its low
                // byte: BUSY, LOCKED, NOMEM, READONLY, IOERR, FULL, CANTOPEN,
                // PROTOCOL.
                code.parse::<i32>().is_ok_and(|n| matches!(n & 0xff, 5..=8 | 10 | 13..=15))
            }
        }
        _ => false,
    }
}

/// The database's own words where it has some ("database or disk is full").
pub(crate) fn describe(err: &StoreError) -> String {
    match err {
        StoreError::Database(sqlx::Error::Database(db)) => db.message().to_string(),
        StoreError::Database(sqlx::Error::PoolTimedOut) => "no database connection within the timeout".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_and_io_failures_are_unavailability() {
        assert!(is_unavailable(&StoreError::Database(sqlx::Error::PoolTimedOut)));
        assert!(is_unavailable(&StoreError::Database(sqlx::Error::Io(std::io::Error::other("reset")))));
        assert!(is_unavailable(&StoreError::Unavailable("writer stopped".into())));
        assert!(!is_unavailable(&StoreError::Database(sqlx::Error::RowNotFound)));
        assert!(!is_unavailable(&StoreError::NotFound));
        assert!(!is_unavailable(&StoreError::Conflict("taken".into())));
    }

    #[test]
    fn recent_outcomes_answer_and_old_ones_do_not() {
        let health = WriteHealth::default();
        assert_eq!(health.fresh(), None);
        health.record(Err(&StoreError::Database(sqlx::Error::PoolTimedOut)));
        assert_eq!(health.fresh(), Some(Check::failed("no database connection within the timeout")));
        health.record(Err(&StoreError::Conflict("ignored".into())));
        assert!(!health.fresh().is_some_and(|c| c.ok), "a conflict says nothing about the database");
        health.record(Ok(()));
        assert_eq!(health.fresh(), Some(Check::ok()));
        *health.last.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now() - WRITE_FRESH - Duration::from_millis(1), Ok(())));
        assert_eq!(health.fresh(), None);
    }
}
