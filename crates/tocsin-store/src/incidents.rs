//! Incidents and their alerts: reads, and what people do to an incident.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tocsin_core::alert::{Alert, AlertStatus};
use tocsin_core::incident::{Incident, IncidentStatus};
use tocsin_core::timeline::TimelineEntry;

use crate::{Page, Result};

#[async_trait]
pub trait IncidentStore: Send + Sync {
    /// One page of incidents matching `filter`, newest (largest id) first.
    /// Every combination of filters reads through an index.
    async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Page<Incident>>;
    /// How many incidents match `filter` (its cursor and limit ignored),
    /// counting no further than `at_most + 1`: a list can say "more than
    /// 1,000" without counting a million rows.
    async fn count_incidents(&self, filter: &IncidentFilter, at_most: i64) -> Result<i64>;
    async fn get_incident(&self, id: i64) -> Result<Option<Incident>>;
    async fn incident_alerts(&self, incident_id: i64) -> Result<Vec<Alert>>;
    /// The incident's first `limit` alerts, oldest first: what a page shows
    /// of a storm's incident without reading all of it.
    async fn incident_alerts_first(&self, incident_id: i64, limit: i64) -> Result<Vec<Alert>>;
    /// Open incidents (triggered or acknowledged) that `user_id` was sent a
    /// notification about or acknowledged (as `user:<id>`), newest first, at
    /// most `limit`.
    async fn user_open_incidents(&self, user_id: &str, limit: i64) -> Result<Vec<Incident>>;
    async fn incident_timeline(&self, incident_id: i64) -> Result<Vec<TimelineEntry>>;
    async fn acknowledge_incident(&self, id: i64, actor: &str, at: DateTime<Utc>) -> Result<Incident>;
    /// Acknowledges the incident only while its paging is still in
    /// `episode` (the escalation row's), checked in the same transaction:
    /// [`crate::StoreError::Conflict`] when it was paged again since (or has
    /// no escalation), the usual transition error when it is not triggered.
    async fn acknowledge_incident_in_episode(
        &self,
        id: i64,
        episode: i64,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Incident>;
    /// Resolves the incident and every alert in it that is still open.
    async fn resolve_incident(&self, id: i64, actor: &str, at: DateTime<Utc>) -> Result<Incident>;
    async fn add_note(&self, id: i64, actor: &str, text: &str, at: DateTime<Utc>) -> Result<TimelineEntry>;
    async fn list_alerts(&self, filter: &AlertFilter) -> Result<Page<Alert>>;
    async fn get_alert(&self, id: i64) -> Result<Option<Alert>>;
    async fn open_incident_count(&self) -> Result<i64>;
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentFilter {
    /// Any of these; empty means every status ("open" is triggered and
    /// acknowledged).
    pub statuses: Vec<IncidentStatus>,
    pub service: Option<String>,
    /// Created at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Created before this instant.
    pub until: Option<DateTime<Utc>>,
    /// Return only items older than this id (from `next_cursor`).
    pub before_id: Option<i64>,
    pub limit: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    pub status: Option<AlertStatus>,
    pub service: Option<String>,
    pub dedup_key: Option<String>,
    pub before_id: Option<i64>,
    pub limit: i64,
}
