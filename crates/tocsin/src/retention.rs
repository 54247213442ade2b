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
use tocsin_store::{MaintenanceStore, Prune, Pruned, StoreError};
use tokio::sync::watch;

/// Rows of each kind one batch removes at most.
pub const BATCH: i64 = 500;
/// Between batches while a backlog lasts.
pub const PAUSE: Duration = Duration::from_secs(1);
/// Between batches once nothing old enough is left.
pub const INTERVAL: Duration = Duration::from_secs(600);

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

/// Prunes until `stop` changes: a batch at once, then as described in the
/// module docs. A failed batch is logged and tried again an interval later.
pub async fn run(
    store: Arc<dyn MaintenanceStore>,
    directory: LiveDirectory,
    clock: Arc<dyn Clock>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let retention = directory.current().retention;
        let wait = match prune_batch(&*store, &retention, clock.now()).await {
            Ok(pruned) if pruned.full(BATCH) => PAUSE,
            Ok(_) => INTERVAL,
            Err(e) => {
                tracing::warn!(error = %e, "retention: pruning failed; trying again later");
                INTERVAL
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
    }
}
