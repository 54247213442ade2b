//! The engine's dead letters: work that failed too often.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// An outbox item whose handler failed too often. It is never tried again
/// until someone puts it back (`POST /engine/dead-letters/{id}/retry`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeadLetter {
    pub id: i64,
    /// Such as `incident.opened`, `notify.send`.
    pub kind: String,
    /// Whose work it is: a service id, or `contact_method:<id>`.
    pub lane: String,
    /// What the work is about, as queued.
    pub payload: serde_json::Value,
    /// Attempts made; reset to 0 when it is put back.
    pub attempts: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the work was first queued.
    pub queued_at: DateTime<Utc>,
    /// When it became a dead letter; `null` once put back.
    pub dead_at: Option<DateTime<Utc>>,
}

/// Which page of dead letters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLettersQuery {
    /// `next_cursor` of the previous page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Page size; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}
