//! What every handler can reach.

use chrono::{DateTime, SubsecRound, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tocsin_core::clock::Clock;
use tocsin_core::directory::Directory;
use tocsin_core::ratelimit::TokenBucket;
use tocsin_core::schedule::Schedule;
use tocsin_store::{IntegrationRef, Store, StoreError, merge_overrides};

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub limits: IngestLimits,
    buckets: Arc<Mutex<HashMap<String, TokenBucket>>>,
    integrations: Arc<Mutex<HashMap<String, CachedKey>>>,
    /// Users, schedules, policies and services as declared in the applied
    /// config (shared with the engine).
    pub directory: Arc<Directory>,
    /// Key that signs and checks one-click acknowledge links.
    pub ack_secret: Arc<Vec<u8>>,
    /// Key the engine signs webhooks with, which admins may read so that
    /// receivers can verify signatures; `None` when not provided.
    pub webhook_secret: Option<Arc<WebhookSecret>>,
}

/// The webhook signing key and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSecret {
    pub value: String,
    /// `config` (`notifications.webhook_secret`) or `generated` (by the
    /// server on its first start, kept in the database).
    pub source: &'static str,
}

/// A key lookup result (including "no such key") and when it was made.
type CachedKey = (Option<IntegrationRef>, Instant);

/// How long a key lookup is reused. Config changes reach every node within
/// this time; unknown keys are cached too, so guessing costs no queries.
const INTEGRATION_TTL: Duration = Duration::from_secs(10);
/// Bound on cached lookups, so random keys cannot grow memory without limit.
const MAX_CACHED_KEYS: usize = 10_000;

/// Per-integration ingestion rate limit: a sustained rate and a burst.
#[derive(Debug, Clone, Copy)]
pub struct IngestLimits {
    pub events_per_second: f64,
    pub burst: f64,
}

impl Default for IngestLimits {
    fn default() -> Self {
        Self { events_per_second: 20_000.0, burst: 40_000.0 }
    }
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, limits: IngestLimits) -> Self {
        Self {
            store,
            clock,
            limits,
            buckets: Arc::new(Mutex::new(HashMap::new())),
            integrations: Arc::new(Mutex::new(HashMap::new())),
            directory: Arc::new(Directory::default()),
            ack_secret: Arc::new(random_bytes().to_vec()),
            webhook_secret: None,
        }
    }

    /// Lets admins read the webhook signing key (shared with the engine).
    pub fn with_webhook_secret(mut self, secret: WebhookSecret) -> Self {
        self.webhook_secret = Some(Arc::new(secret));
        self
    }

    /// Serves this directory (from the applied config).
    pub fn with_directory(mut self, directory: Arc<Directory>) -> Self {
        self.directory = directory;
        self
    }

    /// Checks acknowledge links with this key (shared with the engine).
    pub fn with_ack_secret(mut self, secret: Vec<u8>) -> Self {
        self.ack_secret = Arc::new(secret);
        self
    }

    /// The enabled integration whose key hashes to `key_hash`, from a short
    /// cache in front of the store (one database read per key per TTL).
    pub async fn integration(&self, key_hash: &str) -> Result<Option<IntegrationRef>, StoreError> {
        if let Some((found, at)) = self.integrations.lock().unwrap_or_else(|e| e.into_inner()).get(key_hash)
            && at.elapsed() < INTEGRATION_TTL
        {
            return Ok(found.clone());
        }
        let found = self.store.find_integration(key_hash).await?;
        let mut cache = self.integrations.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_CACHED_KEYS {
            cache.clear();
        }
        cache.insert(key_hash.to_string(), (found.clone(), Instant::now()));
        Ok(found)
    }

    /// Schedule `id` as on-call answers must see it: the config's schedule
    /// plus the overrides created at run time. Only overrides ending after
    /// `since` are read; earlier ones cannot affect any instant from `since`
    /// on. `None` when the config declares no such schedule.
    pub async fn effective_schedule(&self, id: &str, since: DateTime<Utc>) -> Result<Option<Schedule>, StoreError> {
        let Some(schedule) = self.directory.schedule(id) else { return Ok(None) };
        let stored = self.store.list_overrides(Some(id), since).await?;
        Ok(Some(merge_overrides(schedule, &stored)))
    }

    /// Every configured schedule with its run-time overrides (see
    /// [`AppState::effective_schedule`]), in config order, from one read.
    pub async fn effective_schedules(&self, since: DateTime<Utc>) -> Result<Vec<Schedule>, StoreError> {
        let stored = self.store.list_overrides(None, since).await?;
        Ok(self.directory.schedules.iter().map(|s| merge_overrides(s, &stored)).collect())
    }

    /// The current instant at the precision the store keeps (microseconds),
    /// so what a response shows is exactly what a later read returns.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now().trunc_subsecs(6)
    }

    /// Whether `integration_id` may submit `events` more events now.
    pub fn admit(&self, integration_id: &str, events: usize) -> bool {
        let now = self.now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets
            .entry(integration_id.to_string())
            .or_insert_with(|| TokenBucket::new(self.limits.events_per_second, self.limits.burst));
        bucket.try_take(now, events as f64)
    }
}

/// 32 bytes from the operating system's CSPRNG.
pub fn random_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    // getrandom only fails when the OS has no entropy source at all, in
    // which case there is nothing sensible to continue with.
    if getrandom::fill(&mut bytes).is_err() {
        tracing::error!("operating system random source failed");
        std::process::abort();
    }
    bytes
}
