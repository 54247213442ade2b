//! Pruning what retention lets go, in the background.
//!
//! Each batch is one short transaction that removes at most [`BATCH`] rows
//! of each kind and records what it removed in the audit log, so ingestion
//! never waits long behind it and no deletion goes unrecorded. A backlog
//! (a first start on an old database, or a shorter age just applied) is
//! worked off batch after batch with a [`PAUSE`] between them; after that,
//! one batch every [`INTERVAL`] keeps up. The ages are read from the config
//! in force before every batch, so an applied change holds from the next.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tocsin_core::clock::Clock;
use tocsin_core::directory::LiveDirectory;
use tocsin_core::retention::Retention;
use tocsin_store::{MaintenanceStore, Prune, Pruned, SessionPrune, SessionStore, SessionsPruned, StoreError};
use tokio::sync::watch;

/// Rows of each kind one batch removes at most.
pub const BATCH: i64 = 500;
/// Between batches while a backlog lasts.
pub const PAUSE: Duration = Duration::from_secs(1);
/// Between batches once nothing old enough is left.
pub const INTERVAL: Duration = Duration::from_secs(600);
/// Finished test pages older than this are deleted, except each contact
/// method's newest, which its owner's home page shows.
pub const TEST_PAGE_DAYS: i64 = 30;

/// Runs one pruning batch for `retention` at `now` and counts it in the
/// metrics.
pub async fn prune_batch(
    store: &dyn MaintenanceStore,
    retention: &Retention,
    now: DateTime<Utc>,
) -> Result<Pruned, StoreError> {
    let cutoffs = retention.cutoffs(now);
    if cutoffs.is_off() {
        return Ok(Pruned::default());
    }
    let request = Prune {
        at: now,
        alert_payloads_before: cutoffs.alert_payloads,
        delivery_attempts_before: cutoffs.delivery_attempts,
        limit: BATCH,
    };
    let pruned = store.prune(&request).await?;
    for (what, n) in [
        ("alert_payloads", pruned.alert_payloads),
        ("notifications", pruned.notifications),
        ("finished_work", pruned.finished_work),
    ] {
        metrics::counter!("tocsin_retention_pruned_total", "what" => what).increment(n);
    }
    if pruned.total() > 0 {
        tracing::info!(
            alert_payloads = pruned.alert_payloads,
            notifications = pruned.notifications,
            finished_work = pruned.finished_work,
            "retention: pruned data of long-resolved incidents"
        );
    }
    Ok(pruned)
}

/// How long ended and expired login sessions, used and expired invitations
/// and settled login throttle states are kept (for the audit log's sake,
/// it records every one of them anyway).
pub const LOGINS_KEPT: chrono::Duration = chrono::Duration::days(1);

/// Runs one batch that deletes login data older than [`LOGINS_KEPT`]:
/// sessions ended or expired (idle for `idle`, or past their absolute
/// expiry), invitations used or expired, throttle states long settled.
pub async fn prune_logins_batch(
    store: &dyn SessionStore,
    idle: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<SessionsPruned, StoreError> {
    let before = now - LOGINS_KEPT;
    let last_seen_before = before.checked_sub_signed(idle).unwrap_or(DateTime::<Utc>::MIN_UTC);
    let pruned = store.prune_sessions(&SessionPrune { at: now, before, last_seen_before, limit: BATCH }).await?;
    for (what, n) in
        [("sessions", pruned.sessions), ("invitations", pruned.invitations), ("login_throttle", pruned.throttles)]
    {
        metrics::counter!("tocsin_retention_pruned_total", "what" => what).increment(n);
    }
    Ok(pruned)
}

/// Prunes until `stop` changes: a batch at once, then as described in the
/// module docs. A failed batch is logged and tried again an interval later.
pub async fn run(
    store: Arc<dyn tocsin_store::Store>,
    directory: LiveDirectory,
    clock: Arc<dyn Clock>,
    session_idle: chrono::Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let retention = directory.current().retention;
        let mut wait = match prune_batch(&*store, &retention, clock.now()).await {
            Ok(pruned) if pruned.full(BATCH) => PAUSE,
            Ok(_) => INTERVAL,
            Err(e) => {
                tracing::warn!(error = %e, "retention: pruning failed; trying again later");
                INTERVAL
            }
        };
        // Test pages a month old go, but never a method's newest.
        match store.prune_test_pages(clock.now() - chrono::Duration::days(TEST_PAGE_DAYS), BATCH).await {
            Ok(n) => {
                metrics::counter!("tocsin_retention_pruned_total", "what" => "test_pages").increment(n);
                if n >= u64::try_from(BATCH).unwrap_or(u64::MAX) {
                    wait = PAUSE;
                }
            }
            Err(e) => tracing::warn!(error = %e, "retention: pruning test pages failed; trying again later"),
        }
        match prune_logins_batch(&*store, session_idle, clock.now()).await {
            Ok(pruned) if pruned.full(BATCH) => wait = PAUSE,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention: pruning login sessions failed; trying again later"),
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
    }
}
