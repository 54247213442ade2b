//! Heartbeat (dead-man) monitors: jobs ping them, and a missed deadline
//! opens an incident on their service.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tocsin_core::heartbeat::HeartbeatStatus;
use utoipa::ToSchema;

/// A heartbeat monitor as config declares it, with its pings. The key is a
/// secret and is never returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Heartbeat {
    pub id: String,
    /// The service whose incident a missed deadline opens.
    pub service: String,
    /// How often the job promises to ping (`1h`, `1d`).
    pub interval: String,
    /// Slack after a missed ping before it counts as missing (`5m`, `0s`).
    pub grace: String,
    /// The key's last four characters (`…cdef`), to tell keys apart.
    pub key_hint: String,
    /// The latest ping; `null` before the first.
    pub last_ping_at: Option<DateTime<Utc>>,
    /// When the monitor is overdue without another ping: the last ping (or,
    /// before the first, when the monitor was set up) plus interval and grace.
    pub deadline: Option<DateTime<Utc>>,
    /// `waiting` before the first ping, `up`, or `overdue` once the deadline
    /// has passed.
    pub state: HeartbeatStatus,
    /// The unresolved incident a missed deadline opened; the next ping
    /// resolves it.
    pub open_incident: Option<i64>,
}
