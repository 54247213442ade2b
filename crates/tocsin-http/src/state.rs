//! What every handler can reach.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tocsin_app::App;
use tocsin_core::ratelimit::TokenBucket;
use tocsin_store::supervise::TaskStatus;
use tocsin_store::{IntegrationRef, Store, StoreError};

use crate::overload::{Overload, OverloadLimits};

#[derive(Clone)]
pub struct AppState {
    /// Every action and read goes through the application layer.
    pub app: App,
    pub limits: IngestLimits,
    buckets: Arc<Mutex<HashMap<String, TokenBucket>>>,
    integrations: Arc<Mutex<HashMap<String, CachedKey>>>,
    /// Heartbeat key lookups, cached like integration keys.
    pub(crate) heartbeat_keys: crate::heartbeat::HeartbeatKeys,
    /// Requests and body bytes in flight, against their limits.
    pub(crate) overload: Overload,
    /// Supervised background tasks `/readyz` reports on (the engine, the
    /// config follower), registered once they are started.
    tasks: Arc<Mutex<Vec<(&'static str, TaskStatus)>>>,
    /// Web page cookies carry `Secure` (served over TLS, directly or behind
    /// a proxy at an `https://` public URL).
    pub secure_cookies: bool,
}

/// A key lookup result (including "no such key"), when it was made, and the
/// config version in force then.
type CachedKey = (Option<IntegrationRef>, Instant, i64);

/// How long a key lookup is reused. A new config version empties the cache
/// at once (keys come from config); the time bound covers anything else that
/// changes integrations. Unknown keys are cached too, so guessing costs no
/// queries.
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
    pub fn new(app: App, limits: IngestLimits) -> Self {
        Self {
            app,
            limits,
            buckets: Arc::new(Mutex::new(HashMap::new())),
            integrations: Arc::new(Mutex::new(HashMap::new())),
            heartbeat_keys: Default::default(),
            overload: Overload::new(OverloadLimits::default()),
            tasks: Arc::new(Mutex::new(Vec::new())),
            secure_cookies: false,
        }
    }

    /// Reports on a supervised task in `/readyz` from now on.
    pub fn watch_task(&self, name: &'static str, status: TaskStatus) {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner()).push((name, status));
    }

    pub(crate) fn tasks(&self) -> Vec<(&'static str, TaskStatus)> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Marks web page cookies `Secure`.
    pub fn with_secure_cookies(mut self, secure: bool) -> Self {
        self.secure_cookies = secure;
        self
    }

    /// Sheds requests beyond these limits (the defaults otherwise).
    pub fn with_overload(mut self, limits: OverloadLimits) -> Self {
        self.overload = Overload::new(limits);
        self
    }

    /// The store, for ingestion and health checks, which act for an
    /// integration key or for nobody rather than for a person.
    pub fn store(&self) -> &Arc<dyn Store> {
        self.app.store()
    }

    /// The enabled integration whose key hashes to `key_hash`, from a short
    /// cache in front of the store (one database read per key per TTL).
    pub async fn integration(&self, key_hash: &str) -> Result<Option<IntegrationRef>, StoreError> {
        let version = self.app.directory().version;
        if let Some((found, at, seen_in)) = self.integrations.lock().unwrap_or_else(|e| e.into_inner()).get(key_hash)
            && at.elapsed() < INTEGRATION_TTL
            && *seen_in == version
        {
            return Ok(found.clone());
        }
        let found = self.store().find_integration(key_hash).await?;
        let mut cache = self.integrations.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_CACHED_KEYS {
            cache.clear();
        }
        cache.insert(key_hash.to_string(), (found.clone(), Instant::now(), version));
        Ok(found)
    }

    /// The current instant at the precision the store keeps.
    pub fn now(&self) -> DateTime<Utc> {
        self.app.now()
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
