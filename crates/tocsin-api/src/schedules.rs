//! Schedules, who is on call, run-time overrides and calendar feeds.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A schedule as config declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Schedule {
    pub id: String,
    /// IANA name, such as `America/New_York`.
    pub time_zone: String,
    pub layers: Vec<ScheduleLayer>,
}

/// One rotation of a schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScheduleLayer {
    pub id: String,
    /// In rotation order.
    pub users: Vec<String>,
}

/// Who a schedule has on call at an instant; empty in a gap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OnCall {
    pub schedule: String,
    pub at: DateTime<Utc>,
    pub users: Vec<String>,
}

/// One person on call during `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Segment {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub user: String,
}

/// The range of `GET /schedules/{id}/segments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SegmentsQuery {
    /// Range start (RFC 3339).
    pub from: DateTime<Utc>,
    /// Range end, after `from` and at most 400 days later.
    pub to: DateTime<Utc>,
}

/// An override created at run time: `user` takes `schedule` during
/// `[start, end)`. Among overlapping overrides the newest wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Override {
    /// `null` for an override declared in config (a new config version
    /// removes it); the id to delete a run-time one by.
    pub id: Option<i64>,
    pub schedule: String,
    pub user: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// `config` (declared in the applied config) or `api` (created at run
    /// time; these rank above the declared ones).
    pub source: OverrideSource,
    /// `null` for one declared in config.
    pub created_at: Option<DateTime<Utc>>,
    /// The actor who created it (`user:<id>`); `null` for one declared in config.
    pub created_by: Option<String>,
}

/// Where an override comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OverrideSource {
    Config,
    Api,
}

impl OverrideSource {
    pub fn as_str(self) -> &'static str {
        match self {
            OverrideSource::Config => "config",
            OverrideSource::Api => "api",
        }
    }
}

/// `POST /schedules/{id}/overrides`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OverrideRequest {
    /// A user id from config.
    pub user: String,
    #[serde(deserialize_with = "crate::time::rfc3339")]
    pub start: DateTime<Utc>,
    /// After `start`, at most 400 days later.
    #[serde(deserialize_with = "crate::time::rfc3339")]
    pub end: DateTime<Utc>,
}

/// Options of `GET /schedules/{id}/overrides`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OverridesQuery {
    /// Also overrides that have ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_past: Option<bool>,
}

/// A user's calendar feed token, shown once, and the feed URLs (relative to
/// the server root) that carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IcalToken {
    pub user: String,
    pub token: String,
    pub urls: IcalUrls,
}

/// Calendar feed URLs, relative to the server root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IcalUrls {
    /// The user's shifts across all schedules.
    pub user: String,
    /// Schedule id → everyone's shifts on that schedule.
    #[serde(default)]
    pub schedules: BTreeMap<String, String>,
}

/// How a calendar app authenticates: a feed token in the URL, since it
/// cannot send a bearer token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// A feed token from `POST /users/{id}/ical-token`.
    pub token: String,
}
