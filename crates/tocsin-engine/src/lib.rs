//! The background engine: it claims due work from the durable outbox (pages,
//! escalation timers, notifications; see [`paging`]) and resolves alerts
//! whose senders stopped re-sending them.
//!
//! All due work lives in the database, so a restart loses nothing: work that
//! fell due while the process was down is claimed on the first tick. The
//! engine never reads the wall clock directly; it takes a [`Clock`].

pub mod channels;
pub mod paging;

use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;
use tocsin_core::clock::Clock;
use tocsin_store::{OutboxItem, Store, StoreError};
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Identifies this node's claims on outbox rows.
    pub worker_id: String,
    /// How long a claim is exclusive; after that another node may take it.
    pub lease: Duration,
    /// Longest sleep between ticks when nothing is due (expiry sweeps).
    pub idle_interval: std::time::Duration,
    pub batch: i64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            worker_id: format!("node-{}", std::process::id()),
            lease: Duration::seconds(60),
            idle_interval: std::time::Duration::from_secs(5),
            batch: 100,
        }
    }
}

/// What one tick did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickReport {
    pub expired_alerts: usize,
    pub processed: Vec<String>,
}

pub struct Engine {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: EngineConfig,
    paging: Option<Arc<paging::Paging>>,
}

impl Engine {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: EngineConfig) -> Self {
        Self { store, clock, config, paging: None }
    }

    /// Pages people: escalation policies and notification delivery.
    pub fn with_paging(mut self, paging: paging::Paging) -> Self {
        self.paging = Some(Arc::new(paging));
        self
    }

    /// One pass: resolve expired alerts, then work off everything due now.
    pub async fn tick(&self) -> Result<TickReport, StoreError> {
        let now = self.clock.now();
        let mut report =
            TickReport { expired_alerts: self.store.expire_alerts(now, 1000).await?, ..Default::default() };
        if report.expired_alerts > 0 {
            metrics::counter!("tocsin_alerts_expired_total").increment(report.expired_alerts as u64);
        }
        loop {
            let now = self.clock.now();
            let items = self
                .store
                .claim_outbox(&self.config.worker_id, now, now + self.config.lease, self.config.batch)
                .await?;
            if items.is_empty() {
                break;
            }
            // Escalation steps run in claim order (an incident's open comes
            // before its acknowledgement); deliveries wait on the network, so
            // they run side by side.
            let mut deliveries = tokio::task::JoinSet::new();
            for item in items {
                report.processed.push(item.kind.clone());
                if paging::Paging::is_delivery(&item.kind)
                    && let Some(paging) = self.paging.clone()
                {
                    let worker = self.config.worker_id.clone();
                    let clock = self.clock.clone();
                    deliveries.spawn(async move {
                        let result = paging.handle(&item, &worker, clock.now()).await;
                        (item, result)
                    });
                    continue;
                }
                let result = self.handle(&item).await;
                self.finish(&item, result).await?;
            }
            while let Some(joined) = deliveries.join_next().await {
                match joined {
                    Ok((item, result)) => self.finish(&item, result).await?,
                    Err(err) => tracing::error!(error = %err, "delivery task failed"),
                }
            }
        }
        Ok(report)
    }

    /// Handles one item; `Ok(true)` when paging completed it in its own step.
    async fn handle(&self, item: &OutboxItem) -> Result<bool, StoreError> {
        tracing::debug!(id = item.id, kind = %item.kind, "outbox item");
        metrics::counter!("tocsin_engine_items_total", "kind" => item.kind.clone()).increment(1);
        match &self.paging {
            Some(paging) => paging.handle(item, &self.config.worker_id, self.clock.now()).await,
            None => Ok(false),
        }
    }

    /// Completes an item paging did not complete itself. A failed item stays
    /// leased and is retried once the lease runs out.
    async fn finish(&self, item: &OutboxItem, result: Result<bool, StoreError>) -> Result<(), StoreError> {
        match result {
            Ok(true) => Ok(()),
            Ok(false) => self.store.complete_outbox(item.id, &self.config.worker_id, self.clock.now()).await,
            Err(err) => {
                tracing::error!(id = item.id, kind = %item.kind, error = %err, "outbox item failed; retried after its lease");
                Ok(())
            }
        }
    }

    /// Runs ticks until `shutdown` turns true. Wakes on commit (the store's
    /// work signal), at the next due time, or after the idle interval.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let signal = self.store.work_signal();
        loop {
            if *shutdown.borrow() {
                break;
            }
            if let Err(err) = self.tick().await {
                tracing::error!(error = %err, "engine tick failed");
            }
            let wait = self.sleep_for().await;
            tokio::select! {
                _ = signal.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!("engine stopped");
    }

    async fn sleep_for(&self) -> std::time::Duration {
        let idle = self.config.idle_interval;
        match self.store.next_outbox_due().await {
            Ok(Some(due)) => until(self.clock.now(), due).min(idle),
            _ => idle,
        }
    }
}

fn until(now: DateTime<Utc>, due: DateTime<Utc>) -> std::time::Duration {
    (due - now).to_std().unwrap_or(std::time::Duration::ZERO)
}
