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
use tocsin_store::{OutboxItem, OutboxStore, Store, StoreError};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

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
    /// Deliveries in flight. They wait on other people's servers, so the
    /// loop hands them off and goes on: a receiver that hangs for its whole
    /// timeout must not hold back anyone else's page.
    deliveries: std::sync::Mutex<JoinSet<()>>,
    delivery_slots: Arc<Semaphore>,
}

/// Most deliveries in flight at once per node; beyond it the loop waits.
const MAX_DELIVERIES: usize = 64;

impl Engine {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: EngineConfig) -> Self {
        Self {
            store,
            clock,
            config,
            paging: None,
            deliveries: std::sync::Mutex::new(JoinSet::new()),
            delivery_slots: Arc::new(Semaphore::new(MAX_DELIVERIES)),
        }
    }

    /// Pages people: escalation policies and notification delivery.
    pub fn with_paging(mut self, paging: paging::Paging) -> Self {
        self.paging = Some(Arc::new(paging));
        self
    }

    /// Does everything due at the clock's instant and waits until it is
    /// done, deliveries included (and whatever they queue for now, such as a
    /// fall-through to the next contact method). Tests with a manual clock
    /// call this after each move of the clock.
    pub async fn tick(&self) -> Result<TickReport, StoreError> {
        let mut report = TickReport::default();
        loop {
            let pass = self.pass().await?;
            let drained = self.drain().await;
            report.expired_alerts += pass.expired_alerts;
            let idle = pass.processed.is_empty() && drained == 0;
            report.processed.extend(pass.processed);
            if idle {
                return Ok(report);
            }
        }
    }

    /// One pass: resolve expired alerts, then claim everything due now.
    /// Escalation steps run here, in claim order (an incident's open comes
    /// before its acknowledgement); deliveries are handed off and may still
    /// be running when the pass returns.
    async fn pass(&self) -> Result<TickReport, StoreError> {
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
                return Ok(report);
            }
            for item in items {
                report.processed.push(item.kind.clone());
                if paging::Paging::is_delivery(&item.kind)
                    && let Some(paging) = self.paging.clone()
                {
                    self.hand_off(paging, item).await;
                    continue;
                }
                let result = self.handle(&item).await;
                finish(&*self.store, &self.config.worker_id, self.clock.now(), &item, result).await?;
            }
        }
    }

    /// Starts one delivery in the background, waiting for a free slot first.
    async fn hand_off(&self, paging: Arc<paging::Paging>, item: OutboxItem) {
        let Ok(slot) = self.delivery_slots.clone().acquire_owned().await else { return };
        let (store, clock, worker) = (self.store.clone(), self.clock.clone(), self.config.worker_id.clone());
        let mut deliveries = self.deliveries.lock().unwrap_or_else(|e| e.into_inner());
        while deliveries.try_join_next().is_some() {}
        deliveries.spawn(async move {
            let result = paging.handle(&item, &worker, clock.now()).await;
            if let Err(err) = finish(&*store, &worker, clock.now(), &item, result).await {
                tracing::error!(id = item.id, error = %err, "could not complete a delivery item");
            }
            drop(slot);
        });
    }

    /// Waits for every delivery in flight; returns how many there were.
    async fn drain(&self) -> usize {
        let mut set = std::mem::take(&mut *self.deliveries.lock().unwrap_or_else(|e| e.into_inner()));
        let mut drained = 0;
        while let Some(joined) = set.join_next().await {
            drained += 1;
            if let Err(err) = joined {
                tracing::error!(error = %err, "delivery task failed");
            }
        }
        drained
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

    /// Runs passes until `shutdown` turns true. Wakes on commit (the store's
    /// work signal), at the next due time, or after the idle interval.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let signal = self.store.work_signal();
        loop {
            if *shutdown.borrow() {
                break;
            }
            if let Err(err) = self.pass().await {
                tracing::error!(error = %err, "engine pass failed");
            }
            let wait = self.sleep_for().await;
            tokio::select! {
                _ = signal.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
        // Deliveries already started finish (each is bounded by its timeout);
        // anything not started stays in the outbox for the next start.
        self.drain().await;
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

/// Completes an item paging did not complete itself. A failed item stays
/// leased and is retried once the lease runs out.
async fn finish(
    store: &dyn OutboxStore,
    worker: &str,
    now: DateTime<Utc>,
    item: &OutboxItem,
    result: Result<bool, StoreError>,
) -> Result<(), StoreError> {
    match result {
        Ok(true) => Ok(()),
        Ok(false) => store.complete_outbox(item.id, worker, now).await,
        Err(err) => {
            tracing::error!(id = item.id, kind = %item.kind, error = %err, "outbox item failed; retried after its lease");
            Ok(())
        }
    }
}

fn until(now: DateTime<Utc>, due: DateTime<Utc>) -> std::time::Duration {
    (due - now).to_std().unwrap_or(std::time::Duration::ZERO)
}
