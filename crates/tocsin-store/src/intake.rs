//! Intake: events folded into alerts and incidents (group commit), change
//! events, and the expiry of alerts whose sender went quiet.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;
use tocsin_core::event::{ChangeEvent, Event, Link};
use tocsin_core::noise::NoiseRules;

use crate::{IntegrationRef, Result};

#[async_trait]
pub trait IntakeStore: Send + Sync {
    /// Folds a batch of events from one integration into alerts and
    /// incidents; returns one outcome per event, in order. Concurrent calls
    /// share a transaction (group commit).
    async fn ingest(&self, batch: IngestBatch) -> Result<Vec<IngestOutcome>>;
    /// Records a change event on its service's timeline.
    async fn record_change(&self, origin: &IntegrationRef, change: &ChangeEvent, at: DateTime<Utc>) -> Result<i64>;
    async fn list_changes(&self, service_id: &str, limit: i64) -> Result<Vec<ChangeRecord>>;
    /// Resolves open alerts whose `expires_at` has passed (Alertmanager-style
    /// senders stopped re-sending); returns how many it resolved.
    async fn expire_alerts(&self, now: DateTime<Utc>, limit: i64) -> Result<usize>;
    /// Releases the quiet incidents, among the next `limit` after incident
    /// `after`, that nothing holds back any more at `now` (a silence ended,
    /// a window closed, an inhibiting alert resolved) though no sender
    /// re-sent their alerts: they page from now on.
    async fn release_quiet_incidents(
        &self,
        now: DateTime<Utc>,
        rules: &NoiseRules,
        after: i64,
        limit: i64,
    ) -> Result<ReleaseSweep>;
}

/// One slice of the sweep over quiet incidents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseSweep {
    /// The incidents it released.
    pub released: Vec<i64>,
    /// Where the next slice starts; `None` when this slice reached the end.
    pub last_incident: Option<i64>,
}

/// Events from one request, received at one instant.
#[derive(Debug, Clone)]
pub struct IngestBatch {
    pub origin: IntegrationRef,
    pub events: Vec<Event>,
    pub received_at: DateTime<Utc>,
    pub noise: IntakeNoise,
}

/// The noise control a batch is written under: the applied config's rules
/// (shared by every batch of one config version) and, for an integration
/// bound to no service, the top-level route its events start at.
/// The default controls nothing and routes nowhere.
#[derive(Debug, Clone, Default)]
pub struct IntakeNoise {
    pub rules: Arc<NoiseRules>,
    pub route: Option<String>,
}

/// What one event did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngestOutcome {
    pub dedup_key: String,
    /// `opened`, `repeated`, `acknowledged`, `resolved`, `ignored`, or
    /// `unrouted` (a routed integration's event no route took).
    pub effect: &'static str,
    pub alert_id: Option<i64>,
    pub incident_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeRecord {
    pub id: i64,
    pub service_id: String,
    pub at: DateTime<Utc>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub summary: String,
    pub source: Option<String>,
    pub actor: String,
    pub details: serde_json::Value,
    pub links: Vec<Link>,
}
