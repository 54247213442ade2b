//! The background engine: it claims due work from the durable outbox (pages,
//! escalation timers, notifications; see [`paging`]), resolves alerts
//! whose senders stopped re-sending them, and opens an incident for each
//! heartbeat monitor whose pings stopped.
//!
//! All due work lives in the database, so a restart loses nothing: work that
//! fell due while the process was down is claimed on the first tick. The
//! engine never reads the wall clock directly; it takes a [`Clock`].
//!
//! Work is shared fairly: each claim takes turns between lanes (services,
//! and contact methods for bundles), each lane's pages under way and
//! incident changes before its follow-ups (see
//! [`tocsin_store::OutboxStore::claim_outbox`]); the engine works on one
//! claim for at most [`EngineConfig::slice`] before it hands back what it
//! has not started and claims again, so newly due work of a quiet service
//! (a first page) waits about one slice, whatever the backlog elsewhere;
//! and each lane may hold only so many of the delivery slots, so a storm's
//! deliveries queued on their contact method's rate limit never keep
//! another lane's page from starting. A stop request is honoured between
//! items.
//!
//! Work is typed: each [`Handler`] declares the kinds it does, and a node
//! claims only those, so an item a newer version queued waits for a node
//! that knows it. A handler that fails (an error, a panic, a payload it
//! cannot read) fails its item, which is tried again later, each time later;
//! after [`work::MAX_ATTEMPTS`] it is a dead letter until a person puts it
//! back. Items a handler had nothing to do for are completed together, one
//! statement per claim.

pub mod channels;
pub mod paging;
mod test_pages;
mod unwind;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tocsin_core::clock::Clock;
use tocsin_core::directory::LiveDirectory;
use tocsin_core::work::{self, AfterFailure};
use tocsin_store::{Failed, OutboxItem, OutboxStore, Store, StoreError};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Identifies this node's claims on outbox rows.
    pub worker_id: String,
    /// How long a claim is exclusive; after that another node may take it.
    pub lease: Duration,
    /// Longest sleep between ticks when nothing is due (expiry sweeps).
    pub idle_interval: std::time::Duration,
    /// Most items one claim takes.
    pub batch: i64,
    /// Longest the engine works on one claim before it hands back the items
    /// it has not started and claims again: about how long new work of one
    /// service can wait behind another service's backlog.
    pub slice: std::time::Duration,
    /// How long a stopping engine waits for deliveries already under way;
    /// the rest are abandoned and handed back, to be retried.
    pub stop_grace: std::time::Duration,
    /// How often the quiet incidents are swept for those whose holds ended
    /// (a silence expired, a window closed): at most this late they page.
    pub release_interval: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            worker_id: format!("node-{}", std::process::id()),
            lease: Duration::seconds(60),
            idle_interval: std::time::Duration::from_secs(5),
            batch: 64,
            slice: std::time::Duration::from_millis(100),
            stop_grace: std::time::Duration::from_secs(5),
            release_interval: Duration::seconds(10),
        }
    }
}

pub use tocsin_core::work::WorkKind;

/// What a handler made of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Its outcome is written, and the item completed in the same
    /// transaction.
    Completed,
    /// There was nothing to do, and nothing was written: the engine completes
    /// the item along with the claim's other such items, in one statement.
    NothingToDo,
}

/// Does the work of some kinds of outbox item.
#[async_trait]
pub trait Handler: Send + Sync {
    /// The kinds it does; a node claims only kinds one of its handlers does.
    fn kinds(&self) -> &'static [WorkKind];
    /// Whether items of `kind` wait on other people's servers: they run in
    /// the background, so many at once, rather than one after another in
    /// claim order.
    fn is_delivery(&self, _kind: WorkKind) -> bool {
        false
    }
    /// Does one item `worker` claimed. An error (or a panic) fails the item:
    /// it is retried with backoff, and in the end kept as a dead letter.
    async fn handle(&self, item: &OutboxItem, worker: &str, now: DateTime<Utc>) -> Result<Handled, StoreError>;
}

/// What one tick did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickReport {
    pub expired_alerts: usize,
    /// Heartbeat monitors that missed their deadline and opened an alert.
    pub missed_heartbeats: usize,
    /// Quiet incidents released because their holds ended.
    pub released_incidents: usize,
    pub processed: Vec<String>,
}

pub struct Engine {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: EngineConfig,
    /// Who does each kind of work this node knows.
    handlers: HashMap<WorkKind, Arc<dyn Handler>>,
    /// The kinds this node claims: those with a handler.
    kinds: Vec<WorkKind>,
    /// Deliveries in flight. They wait on other people's servers, so the
    /// loop hands them off and goes on: a receiver that hangs for its whole
    /// timeout must not hold back anyone else's page.
    deliveries: std::sync::Mutex<JoinSet<()>>,
    delivery_slots: Arc<Semaphore>,
    /// Each lane's share of the delivery slots, so that one service's storm
    /// (its deliveries queued on its contact method's rate limit) cannot take
    /// them all.
    lane_slots: std::sync::Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Notified whenever a delivery finishes (and frees its slots).
    delivery_done: Arc<Notify>,
    /// The outbox items of the deliveries in flight, to hand back should the
    /// engine stop without waiting for them.
    in_flight: Arc<std::sync::Mutex<HashSet<i64>>>,
    /// The applied config, whose noise rules judge the quiet incidents;
    /// `None`: this engine does not release them.
    noise: Option<LiveDirectory>,
    /// Where the sweep over quiet incidents stands.
    release: std::sync::Mutex<ReleaseSweepState>,
}

/// The sweep over quiet incidents: the next slice starts after incident
/// `after`, not before `next_at`.
#[derive(Debug, Default)]
struct ReleaseSweepState {
    after: i64,
    next_at: Option<DateTime<Utc>>,
}

/// Most quiet incidents one slice of the release sweep judges.
const QUIET_INCIDENTS_PER_SLICE: i64 = 500;

/// What became of a claimed item the engine tried to start.
enum Start {
    Done,
    /// A delivery whose lane has every delivery slot it may hold.
    LaneBusy(i64),
    /// A delivery that found no free slot before the slice ended or the
    /// engine stopped.
    NoSlot(i64),
    /// A kind without a handler here (claimed only by a mistake).
    Unhandled(i64),
}

/// Most heartbeat monitors one pass opens alerts for; more wait for the next
/// pass, which follows at once (their commit wakes the engine).
const HEARTBEATS_PER_PASS: i64 = 100;
/// Most deliveries in flight at once per node; beyond it the loop waits.
const MAX_DELIVERIES: usize = 64;
/// Most deliveries of one lane in flight at once per node.
const MAX_LANE_DELIVERIES: usize = 16;

/// A stop request the engine honours between items; `None` never stops.
type Stop<'a> = Option<&'a watch::Receiver<bool>>;

fn stopping(stop: Stop<'_>) -> bool {
    stop.is_some_and(|s| *s.borrow())
}

/// Resolves once `stop` asks to stop; never for `None`.
async fn stopped(stop: Stop<'_>) {
    match stop {
        Some(stop) => {
            let mut stop = stop.clone();
            if stop.wait_for(|s| *s).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

impl Engine {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: EngineConfig) -> Self {
        Self {
            store,
            clock,
            config,
            handlers: HashMap::new(),
            kinds: Vec::new(),
            deliveries: std::sync::Mutex::new(JoinSet::new()),
            delivery_slots: Arc::new(Semaphore::new(MAX_DELIVERIES)),
            lane_slots: std::sync::Mutex::new(HashMap::new()),
            delivery_done: Arc::new(Notify::new()),
            in_flight: Arc::default(),
            noise: None,
            release: std::sync::Mutex::default(),
        }
    }

    /// Releases quiet incidents whose holds ended, judged by the noise rules
    /// of `directory`'s applied config.
    pub fn with_noise(mut self, directory: LiveDirectory) -> Self {
        self.noise = Some(directory);
        self
    }

    /// Pages people: escalation policies and notification delivery.
    pub fn with_paging(self, paging: paging::Paging) -> Self {
        self.with_handler(Arc::new(paging))
    }

    /// Lets `handler` do the kinds it declares (in place of any handler
    /// registered for them before); this node then claims them.
    pub fn with_handler(mut self, handler: Arc<dyn Handler>) -> Self {
        for kind in handler.kinds() {
            self.handlers.insert(*kind, handler.clone());
        }
        self.kinds = self.handlers.keys().copied().collect();
        self.kinds.sort_unstable();
        self
    }

    /// The kinds of work this node does.
    pub fn kinds(&self) -> &[WorkKind] {
        &self.kinds
    }

    /// Does everything due at the clock's instant and waits until it is
    /// done, deliveries included (and whatever they queue for now, such as a
    /// fall-through to the next contact method). Tests with a manual clock
    /// call this after each move of the clock.
    pub async fn tick(&self) -> Result<TickReport, StoreError> {
        let mut report = TickReport::default();
        loop {
            let pass = self.pass(None).await?;
            let drained = self.drain().await;
            report.expired_alerts += pass.expired_alerts;
            report.missed_heartbeats += pass.missed_heartbeats;
            report.released_incidents += pass.released_incidents;
            let idle = pass.processed.is_empty() && drained == 0;
            report.processed.extend(pass.processed);
            if idle {
                return Ok(report);
            }
        }
    }

    /// One pass: resolve expired alerts, open the alerts of heartbeat
    /// monitors whose deadline passed, then claim everything due now, a
    /// slice at a time. Escalation steps run here, in claim order (an
    /// incident's open comes before its acknowledgement); deliveries are
    /// handed off and may still be running when the pass returns. Returns
    /// early, handing back what it has not started, when `stop` asks.
    async fn pass(&self, stop: Stop<'_>) -> Result<TickReport, StoreError> {
        let now = self.clock.now();
        let mut report =
            TickReport { expired_alerts: self.store.expire_alerts(now, 1000).await?, ..Default::default() };
        if report.expired_alerts > 0 {
            metrics::counter!("tocsin_alerts_expired_total").increment(report.expired_alerts as u64);
        }
        report.missed_heartbeats = self.missed_heartbeats(now).await?;
        report.released_incidents = self.release_quiet(now).await?;
        while !stopping(stop) {
            let now = self.clock.now();
            let items = self
                .store
                .claim_outbox(&self.config.worker_id, &self.kinds, now, now + self.config.lease, self.config.batch)
                .await?;
            if items.is_empty() {
                return Ok(report);
            }
            let slice_end = tokio::time::Instant::now() + self.config.slice;
            let (mut started, mut handed_back, mut nothing_to_do) = (0, Vec::new(), Vec::new());
            let mut items = items.into_iter().peekable();
            while let Some(item) = items.next() {
                if stopping(stop) || tokio::time::Instant::now() >= slice_end {
                    // Hand back the rest, so that the next claim puts newly
                    // due work of other lanes first.
                    handed_back.push(item.id);
                    handed_back.extend(items.by_ref().map(|i| i.id));
                    break;
                }
                if item.kind == WorkKind::IncidentOpened {
                    // New incidents page independently of one another: each
                    // is its own incident's first item, so they run at once
                    // and their steps share commits.
                    let mut opened = vec![item];
                    while let Some(next) = items.next_if(|i| i.kind == WorkKind::IncidentOpened) {
                        opened.push(next);
                    }
                    match self.start_opened(opened, &mut report, &mut nothing_to_do).await {
                        Ok(n) => started += n,
                        Err(err) => {
                            self.complete_nothing_to_do(&nothing_to_do).await;
                            return Err(err);
                        }
                    }
                    continue;
                }
                let start = self.start(item, slice_end, stop, &mut report, &mut nothing_to_do).await;
                let start = match start {
                    Ok(start) => start,
                    Err(err) => {
                        self.complete_nothing_to_do(&nothing_to_do).await;
                        return Err(err);
                    }
                };
                match start {
                    Start::Done => started += 1,
                    // Its lane has all the deliveries it may: other lanes'
                    // work goes on.
                    Start::LaneBusy(id) | Start::Unhandled(id) => handed_back.push(id),
                    Start::NoSlot(id) => {
                        handed_back.push(id);
                        handed_back.extend(items.by_ref().map(|i| i.id));
                    }
                }
            }
            self.complete_nothing_to_do(&nothing_to_do).await;
            if !handed_back.is_empty()
                && let Err(err) = self.store.release_outbox(&handed_back, &self.config.worker_id).await
            {
                tracing::warn!(error = %err, "could not hand back claimed work; it is retried after its lease");
            }
            if started == 0 && !handed_back.is_empty() {
                // Everything due waits for a delivery slot: wait for one.
                tokio::select! {
                    _ = self.delivery_done.notified() => {}
                    _ = tokio::time::sleep_until(slice_end) => {}
                    _ = stopped(stop) => {}
                }
            }
        }
        Ok(report)
    }

    /// Completes, in one statement, the items of a claim whose handlers had
    /// nothing to do. Should it fail, they are done again after their lease.
    async fn complete_nothing_to_do(&self, ids: &[i64]) {
        if ids.is_empty() {
            return;
        }
        if let Err(err) = self.store.complete_outbox_many(ids, &self.config.worker_id, self.clock.now()).await {
            tracing::warn!(error = %err, items = ids.len(), "could not complete items; they are done again after their lease");
        }
    }

    /// Does one claimed item, or says why it cannot start now. Items with
    /// nothing to do are added to `nothing_to_do`, to be completed together.
    async fn start(
        &self,
        item: OutboxItem,
        slice_end: tokio::time::Instant,
        stop: Stop<'_>,
        report: &mut TickReport,
        nothing_to_do: &mut Vec<i64>,
    ) -> Result<Start, StoreError> {
        let Some(handler) = self.handlers.get(&item.kind).cloned() else {
            return Ok(Start::Unhandled(item.id));
        };
        if item.attempts > work::MAX_ATTEMPTS {
            // Claimed again and again without an outcome: whatever did it
            // died each time (a crash, an OOM kill). Running it again would
            // likely take this node down too.
            let error = "no outcome after repeated attempts: the node doing it stopped each time";
            fail(&*self.store, &self.config.worker_id, self.clock.now(), &item, error).await?;
            return Ok(Start::Done);
        }
        if handler.is_delivery(item.kind) {
            let Ok(in_lane) = self.lane_slots(&item.lane).try_acquire_owned() else {
                return Ok(Start::LaneBusy(item.id));
            };
            let overall = tokio::select! {
                slot = self.delivery_slots.clone().acquire_owned() => slot.ok(),
                _ = tokio::time::sleep_until(slice_end) => None,
                _ = stopped(stop) => None,
            };
            let Some(overall) = overall else { return Ok(Start::NoSlot(item.id)) };
            report.processed.push(item.kind.to_string());
            self.hand_off(handler, item, [in_lane, overall]);
            return Ok(Start::Done);
        }
        report.processed.push(item.kind.to_string());
        tracing::debug!(id = item.id, kind = %item.kind, "outbox item");
        metrics::counter!("tocsin_engine_items_total", "kind" => item.kind.as_str()).increment(1);
        let result = unwind::caught(handler.handle(&item, &self.config.worker_id, self.clock.now())).await;
        finish(&*self.store, &self.config.worker_id, self.clock.now(), &item, result, Some(nothing_to_do)).await?;
        Ok(Start::Done)
    }

    /// Does claimed `incident.opened` items side by side (each its own
    /// incident's first item, so no order among them matters); returns how
    /// many it did. Like [`Self::start`], each outcome is settled as it would
    /// be alone.
    async fn start_opened(
        &self,
        items: Vec<OutboxItem>,
        report: &mut TickReport,
        nothing_to_do: &mut Vec<i64>,
    ) -> Result<usize, StoreError> {
        let Some(handler) = self.handlers.get(&WorkKind::IncidentOpened).cloned() else {
            let ids: Vec<i64> = items.iter().map(|i| i.id).collect();
            self.store.release_outbox(&ids, &self.config.worker_id).await?;
            return Ok(0);
        };
        let now = self.clock.now();
        let mut running = JoinSet::new();
        let mut started = 0;
        for (n, item) in items.iter().enumerate() {
            started += 1;
            if item.attempts > work::MAX_ATTEMPTS {
                let error = "no outcome after repeated attempts: the node doing it stopped each time";
                fail(&*self.store, &self.config.worker_id, now, item, error).await?;
                continue;
            }
            report.processed.push(item.kind.to_string());
            metrics::counter!("tocsin_engine_items_total", "kind" => item.kind.as_str()).increment(1);
            let (handler, item, worker) = (handler.clone(), item.clone(), self.config.worker_id.clone());
            running.spawn(async move { (n, unwind::caught(handler.handle(&item, &worker, now)).await) });
        }
        let mut results = Vec::with_capacity(items.len());
        while let Some(joined) = running.join_next().await {
            match joined {
                Ok(done) => results.push(done),
                Err(err) => {
                    tracing::error!(error = %err, "an incident.opened task failed; its item is retried after its lease")
                }
            }
        }
        results.sort_by_key(|(n, _)| *n);
        for (n, result) in results {
            if let Some(item) = items.get(n) {
                finish(&*self.store, &self.config.worker_id, self.clock.now(), item, result, Some(nothing_to_do))
                    .await?;
            }
        }
        Ok(started)
    }

    /// `lane`'s share of the delivery slots.
    fn lane_slots(&self, lane: &str) -> Arc<Semaphore> {
        let mut lanes = self.lane_slots.lock().unwrap_or_else(|e| e.into_inner());
        lanes.entry(lane.to_string()).or_insert_with(|| Arc::new(Semaphore::new(MAX_LANE_DELIVERIES))).clone()
    }

    /// Starts one delivery in the background; it holds `slots` until done.
    fn hand_off(&self, handler: Arc<dyn Handler>, item: OutboxItem, slots: [OwnedSemaphorePermit; 2]) {
        let (store, clock, worker) = (self.store.clone(), self.clock.clone(), self.config.worker_id.clone());
        let (done, in_flight) = (self.delivery_done.clone(), self.in_flight.clone());
        in_flight.lock().unwrap_or_else(|e| e.into_inner()).insert(item.id);
        let mut deliveries = self.deliveries.lock().unwrap_or_else(|e| e.into_inner());
        while deliveries.try_join_next().is_some() {}
        deliveries.spawn(async move {
            metrics::counter!("tocsin_engine_items_total", "kind" => item.kind.as_str()).increment(1);
            let result = unwind::caught(handler.handle(&item, &worker, clock.now())).await;
            if let Err(err) = finish(&*store, &worker, clock.now(), &item, result, None).await {
                tracing::error!(id = item.id, error = %err, "could not complete a delivery item");
            }
            in_flight.lock().unwrap_or_else(|e| e.into_inner()).remove(&item.id);
            drop(slots);
            done.notify_one();
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

    /// Runs passes until `shutdown` turns true. Wakes on commit (the store's
    /// work signal), at the next due time, or after the idle interval.
    ///
    /// A stop is honoured between items, even in the middle of a backlog:
    /// claimed items not started are handed back, deliveries under way get
    /// [`EngineConfig::stop_grace`] to finish, and anything left stays in the
    /// outbox for the next start or another node.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let signal = self.store.work_signal();
        while !*shutdown.borrow() {
            if let Err(err) = self.pass(Some(&shutdown)).await {
                tracing::error!(error = %err, "engine pass failed");
            }
            if *shutdown.borrow() {
                break;
            }
            let wait = self.sleep_for().await;
            tokio::select! {
                _ = signal.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
        self.stop_deliveries().await;
        tracing::info!("engine stopped");
    }

    /// Waits up to the stop grace for the deliveries in flight, then
    /// abandons the rest and hands their items back, to be retried by the
    /// next start or another node (with the same idempotency key, should one
    /// have been sent after all).
    async fn stop_deliveries(&self) {
        let mut set = std::mem::take(&mut *self.deliveries.lock().unwrap_or_else(|e| e.into_inner()));
        let grace = tokio::time::sleep(self.config.stop_grace);
        tokio::pin!(grace);
        loop {
            tokio::select! {
                joined = set.join_next() => match joined {
                    None => return,
                    Some(Err(err)) if !err.is_cancelled() => tracing::error!(error = %err, "delivery task failed"),
                    Some(_) => {}
                },
                _ = &mut grace => {
                    tracing::warn!(
                        deliveries = set.len(),
                        "stopping without waiting for deliveries still under way; they are retried later"
                    );
                    set.shutdown().await;
                    let abandoned: Vec<i64> =
                        std::mem::take(&mut *self.in_flight.lock().unwrap_or_else(|e| e.into_inner())).into_iter().collect();
                    if let Err(err) = self.store.release_outbox(&abandoned, &self.config.worker_id).await {
                        tracing::warn!(error = %err, "could not hand back abandoned deliveries; retried after their leases");
                    }
                    return;
                }
            }
        }
    }

    /// Opens an alert for each heartbeat monitor overdue at `now` (the
    /// store re-checks each under its row lock, so nodes checking at once
    /// open it once); the incident it opens is paged like any other.
    async fn missed_heartbeats(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let missed = self.store.open_missed_heartbeats(now, HEARTBEATS_PER_PASS).await?;
        for m in &missed {
            tracing::info!(heartbeat = %m.heartbeat, service = %m.service_id, incident = ?m.incident_id, "heartbeat missed");
        }
        if !missed.is_empty() {
            metrics::counter!("tocsin_heartbeats_missed_total").increment(missed.len() as u64);
        }
        Ok(missed.len())
    }

    /// One slice of the sweep over quiet incidents, when one is due: those
    /// nothing holds back any more page from now on. A full sweep starts at
    /// most every `release_interval`; its slices follow pass by pass.
    async fn release_quiet(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let Some(directory) = &self.noise else { return Ok(0) };
        let after = {
            let state = self.release.lock().unwrap_or_else(|e| e.into_inner());
            if state.next_at.is_some_and(|at| now < at) {
                return Ok(0);
            }
            state.after
        };
        let rules = directory.current().noise_rules();
        let sweep = self.store.release_quiet_incidents(now, &rules, after, QUIET_INCIDENTS_PER_SLICE).await?;
        {
            let mut state = self.release.lock().unwrap_or_else(|e| e.into_inner());
            match sweep.last_incident {
                Some(last) => *state = ReleaseSweepState { after: last, next_at: None },
                None => *state = ReleaseSweepState { after: 0, next_at: Some(now + self.config.release_interval) },
            }
        }
        for id in &sweep.released {
            tracing::info!(incident = id, "quiet incident released: nothing holds it back any more");
        }
        if !sweep.released.is_empty() {
            metrics::counter!("tocsin_incidents_released_total").increment(sweep.released.len() as u64);
        }
        Ok(sweep.released.len())
    }

    /// How long to sleep when nothing is due now: until the next outbox
    /// item or the next heartbeat deadline, whichever comes first, and at
    /// most the idle interval (which also bounds how late a deadline that
    /// moved earlier, by a config apply, is noticed).
    async fn sleep_for(&self) -> std::time::Duration {
        let idle = self.config.idle_interval;
        let now = self.clock.now();
        let outbox = self.store.next_outbox_due(&self.kinds).await.ok().flatten();
        let heartbeat = self.store.next_heartbeat_deadline().await.ok().flatten();
        [outbox, heartbeat].into_iter().flatten().map(|due| until(now, due)).fold(idle, std::cmp::Ord::min)
    }
}

/// Settles an item after its handler ran (`Err` with a message when it
/// panicked): completed in its own step already, nothing to do (completed
/// now, or added to `nothing_to_do` to be completed with others), or failed.
async fn finish(
    store: &dyn OutboxStore,
    worker: &str,
    now: DateTime<Utc>,
    item: &OutboxItem,
    result: Result<Result<Handled, StoreError>, String>,
    nothing_to_do: Option<&mut Vec<i64>>,
) -> Result<(), StoreError> {
    match result {
        Ok(Ok(Handled::Completed)) => Ok(()),
        Ok(Ok(Handled::NothingToDo)) => match nothing_to_do {
            Some(batch) => {
                batch.push(item.id);
                Ok(())
            }
            None => store.complete_outbox(item.id, worker, now).await,
        },
        Ok(Err(err)) => fail(store, worker, now, item, &err.to_string()).await,
        Err(panic) => fail(store, worker, now, item, &panic).await,
    }
}

/// A failed attempt: the item is due again after a backoff that grows with
/// its attempts, or, after [`work::MAX_ATTEMPTS`], it is a dead letter.
async fn fail(
    store: &dyn OutboxStore,
    worker: &str,
    now: DateTime<Utc>,
    item: &OutboxItem,
    error: &str,
) -> Result<(), StoreError> {
    let kind = item.kind.as_str();
    metrics::counter!("tocsin_outbox_failures_total", "kind" => kind).increment(1);
    match work::after_failure(item.attempts, paging::random_u64()) {
        AfterFailure::RetryIn(wait) => {
            let at = now + Duration::from_std(wait).unwrap_or(Duration::seconds(1));
            tracing::warn!(id = item.id, kind, attempts = item.attempts, retry_at = %at, error, "outbox item failed; retried later");
            store.fail_outbox(item.id, worker, error, Failed::RetryAt(at)).await
        }
        AfterFailure::Dead => {
            tracing::error!(
                id = item.id,
                kind,
                attempts = item.attempts,
                error,
                "outbox item failed too often and is now a dead letter; see `tocsin engine dead-letters`"
            );
            store.fail_outbox(item.id, worker, error, Failed::DeadAt(now)).await
        }
    }
}

fn until(now: DateTime<Utc>, due: DateTime<Utc>) -> std::time::Duration {
    (due - now).to_std().unwrap_or(std::time::Duration::ZERO)
}
