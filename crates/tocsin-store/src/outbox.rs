//! The engine's work queue: items leased to a worker, completed once.
//!
//! Every item has a *lane* and a *priority*. The lane is whose work it is:
//! the service of the incident it concerns, or one contact method for the
//! bundles of that method. The priority orders work within a lane:
//! [`DELIVER_NOW`] (a notification due the moment it was queued: a page
//! already decided), then [`INCIDENT_CHANGE`] (an incident opened,
//! acknowledged, resolved, escalated or reassigned by hand; one priority
//! for all of them, so an incident's changes keep their order), then
//! [`FOLLOW_UP`] (escalation timers, notification rules with a delay,
//! retries, bundles). [`OutboxStore::claim_outbox`] shares each claim
//! between lanes round-robin, so a storm on one service never queues
//! another service's first page behind it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::Result;

/// A notification due the moment it was queued: finish pages under way
/// before starting new ones.
pub const DELIVER_NOW: i64 = 0;
/// A change to an incident that starts, moves or stops its paging.
pub const INCIDENT_CHANGE: i64 = 1;
/// Work that follows up on a page already under way.
pub const FOLLOW_UP: i64 = 2;

/// The priority of an item of `kind`, due at `due_at`, queued at `queued_at`.
pub fn priority(kind: &str, due_at: DateTime<Utc>, queued_at: DateTime<Utc>) -> i64 {
    match kind {
        "notify.send" if due_at <= queued_at => DELIVER_NOW,
        "incident.opened"
        | "incident.acknowledged"
        | "incident.resolved"
        | "incident.escalate"
        | "incident.reassign" => INCIDENT_CHANGE,
        _ => FOLLOW_UP,
    }
}

/// Whose work an item is, for sharing claims fairly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lane {
    /// The lane of the service this incident belongs to.
    Incident(i64),
    /// One contact method's bundles.
    ContactMethod(String),
}

impl Lane {
    /// The stored lane of a contact method's work (service ids never contain
    /// `:`, so the two kinds of lane never meet).
    pub fn contact_method(id: &str) -> String {
        format!("contact_method:{id}")
    }
}

#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Leases up to `limit` due, unfinished items to `worker` until
    /// `lease_until`. Items whose lease ran out are claimable again, so a
    /// dead worker's work is picked up.
    ///
    /// The claim is shared between lanes round-robin: every lane with due
    /// work gets a turn, then every lane its second turn, and so on; a lane
    /// takes its turns in priority order, then oldest first (so an
    /// incident's open comes before its acknowledgement). Items come back
    /// in that order, the order to do them in: a new page on a quiet service
    /// is among the first items of a claim, however much is due elsewhere.
    ///
    /// The cost does not grow with the backlog: lanes are found by a skip
    /// scan of an index and each lane is read from its own index range.
    async fn claim_outbox(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxItem>>;
    /// Gives back items `worker` claimed but has not started, so that they
    /// can be claimed again at once (by this node's next claim or another
    /// node) instead of when the lease runs out.
    async fn release_outbox(&self, ids: &[i64], worker: &str) -> Result<()>;
    async fn complete_outbox(&self, id: i64, worker: &str, now: DateTime<Utc>) -> Result<()>;
    /// Earliest due time of unfinished work, so the engine can sleep until then.
    async fn next_outbox_due(&self) -> Result<Option<DateTime<Utc>>>;
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxItem {
    pub id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    pub due_at: DateTime<Utc>,
    pub attempts: i64,
    /// The service id, or `contact_method:<id>`; empty for work of nobody's.
    pub lane: String,
    /// [`DELIVER_NOW`], [`INCIDENT_CHANGE`] or [`FOLLOW_UP`].
    pub priority: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn pages_under_way_come_first_then_incident_changes_then_follow_ups() {
        let t = Utc.with_ymd_and_hms(2026, 3, 3, 10, 0, 0).single().unwrap();
        assert_eq!(priority("notify.send", t, t), DELIVER_NOW, "a page due as it is queued");
        for kind in ["incident.opened", "incident.acknowledged", "incident.resolved", "incident.escalate"] {
            assert_eq!(priority(kind, t, t), INCIDENT_CHANGE, "{kind}");
        }
        assert_eq!(priority("notify.send", t + Duration::minutes(2), t), FOLLOW_UP, "a later rule or a retry");
        assert_eq!(priority("escalation.timer", t, t), FOLLOW_UP);
        assert_eq!(priority("notify.bundle", t, t), FOLLOW_UP);
    }
}
