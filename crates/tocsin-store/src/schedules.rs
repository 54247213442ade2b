//! Schedule overrides created at run time, on top of the applied config.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tocsin_core::directory::{StoredOverride, with_stored_overrides};
use tocsin_core::schedule::Schedule;

use crate::Result;

#[async_trait]
pub trait ScheduleStore: Send + Sync {
    /// Stores an override; `end` must be after `start`. Audited as
    /// `schedule.override.create`.
    async fn create_override(&self, new: &NewOverride, actor: &str, at: DateTime<Utc>) -> Result<ScheduleOverride>;
    /// Live (not deleted) overrides of one schedule (or all schedules when None) that end after `ending_after`, ordered by id.
    async fn list_overrides(
        &self,
        schedule_id: Option<&str>,
        ending_after: DateTime<Utc>,
    ) -> Result<Vec<ScheduleOverride>>;
    /// false when no live override of that schedule has that id.
    async fn delete_override(&self, schedule_id: &str, id: i64, actor: &str, at: DateTime<Utc>) -> Result<bool>;
}

/// An override to create: `user_id` takes `schedule_id` during `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOverride {
    pub schedule_id: String,
    pub user_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// A live override created at run time. Ids grow with creation, so they
/// order overlapping overrides (the later one wins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduleOverride {
    pub id: i64,
    pub schedule_id: String,
    pub user_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

impl From<&ScheduleOverride> for StoredOverride {
    fn from(o: &ScheduleOverride) -> Self {
        Self { id: o.id, user: o.user_id.clone(), start: o.start, end: o.end }
    }
}

/// `schedule` with those of `stored` that belong to it, as every on-call
/// answer and every page must see it.
pub fn merge_overrides(schedule: &Schedule, stored: &[ScheduleOverride]) -> Schedule {
    with_stored_overrides(schedule, stored.iter().filter(|o| o.schedule_id == schedule.id).map(Into::into))
}
