//! Heartbeat monitors: config declares them (written by the catalog's
//! apply), jobs ping them, and the engine opens an incident for each one
//! whose pings stopped (`tocsin_core::heartbeat` decides when).
//!
//! A missed deadline and the ping that ends it go through the intake's own
//! planning, inside the transaction that reads and updates the monitor's
//! row: the monitor's decision and the ping cannot cross (a ping that
//! commits first moves the deadline the monitor then re-reads), and a ping
//! is never recorded without the resolve it calls for.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tocsin_core::heartbeat::{Heartbeat, HeartbeatState};

use crate::Result;

#[async_trait]
pub trait HeartbeatStore: Send + Sync {
    /// The monitor whose key hashes to `key_hash`.
    async fn find_heartbeat(&self, key_hash: &str) -> Result<Option<HeartbeatRef>>;
    /// Records a ping of monitor `id` at `at` (an older ping than the latest
    /// moves nothing) and, when the monitor's alert is open, resolves it in
    /// the same transaction. `None` when there is no such monitor (config
    /// removed it since its key was looked up).
    async fn ping_heartbeat(&self, id: &str, at: DateTime<Utc>) -> Result<Option<Ping>>;
    /// Opens an alert (and so an incident) for each monitor, at most
    /// `limit`, whose deadline has come by `now` with no alert open for the
    /// current silence; the rows are locked while deciding, so monitors
    /// checked on several nodes at once open each alert once.
    async fn open_missed_heartbeats(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Missed>>;
    /// The earliest deadline of a monitor whose alert is not open: when the
    /// engine next has something to check.
    async fn next_heartbeat_deadline(&self) -> Result<Option<DateTime<Utc>>>;
    /// Every monitor, by id.
    async fn list_heartbeats(&self) -> Result<Vec<HeartbeatRow>>;
}

/// A monitor, resolved from its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatRef {
    pub id: String,
    pub service_id: String,
}

/// What a ping did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    pub heartbeat: String,
    /// When the monitor is overdue without another ping.
    pub deadline: DateTime<Utc>,
    /// The incident of the alert the ping resolved, if it resolved one.
    pub resolved_incident: Option<i64>,
}

/// A monitor whose deadline passed, and the incident its alert is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missed {
    pub heartbeat: String,
    pub service_id: String,
    pub incident_id: Option<i64>,
}

/// A stored monitor. `state.open_incident` says whether the monitor opened
/// an alert that no ping has resolved yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatRow {
    pub heartbeat: Heartbeat,
    pub state: HeartbeatState,
    /// Last four characters of the key.
    pub key_hint: String,
    /// When the monitor opened its alert, while that is open.
    pub missed_at: Option<DateTime<Utc>>,
    /// The unresolved incident holding the monitor's alert, if any.
    pub open_incident: Option<i64>,
}
