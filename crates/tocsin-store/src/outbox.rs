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
use tocsin_core::work::WorkKind;

use crate::{Page, Result};

/// A notification due the moment it was queued: finish pages under way
/// before starting new ones.
pub const DELIVER_NOW: i64 = 0;
/// A change to an incident that starts, moves or stops its paging.
pub const INCIDENT_CHANGE: i64 = 1;
/// Work that follows up on a page already under way.
pub const FOLLOW_UP: i64 = 2;

/// The priority of an item of `kind`, due at `due_at`, queued at `queued_at`.
pub fn priority(kind: WorkKind, due_at: DateTime<Utc>, queued_at: DateTime<Utc>) -> i64 {
    match kind {
        // A test page has someone watching for it.
        WorkKind::NotifySend | WorkKind::NotifyTest if due_at <= queued_at => DELIVER_NOW,
        k if k.is_incident_change() => INCIDENT_CHANGE,
        _ => FOLLOW_UP,
    }
}

/// Every priority an item of `kind` can have: where a claim looks for it.
pub fn priorities(kind: WorkKind) -> &'static [i64] {
    match kind {
        WorkKind::NotifySend | WorkKind::NotifyTest => &[DELIVER_NOW, FOLLOW_UP],
        k if k.is_incident_change() => &[INCIDENT_CHANGE],
        _ => &[FOLLOW_UP],
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

/// What becomes of a claimed item whose handler failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// Claimable again from this instant.
    RetryAt(DateTime<Utc>),
    /// A dead letter from this instant: never claimed until put back.
    DeadAt(DateTime<Utc>),
}

#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Leases up to `limit` due, unfinished items of `kinds` to `worker`
    /// until `lease_until`. Items whose lease ran out are claimable again,
    /// so a dead worker's work is picked up. Items of other kinds (queued by
    /// a newer version) are left untouched, for a node that knows them;
    /// they hold back nothing behind them.
    ///
    /// The claim is shared between lanes round-robin: every lane with due
    /// work gets a turn, then every lane its second turn, and so on; a lane
    /// takes its turns in priority order, then oldest first (so an
    /// incident's open comes before its acknowledgement). Items come back
    /// in that order, the order to do them in: a new page on a quiet service
    /// is among the first items of a claim, however much is due elsewhere.
    ///
    /// The cost does not grow with the backlog: lanes are found by a skip
    /// scan of an index and each lane is read from its own index ranges,
    /// one per priority and kind.
    async fn claim_outbox(
        &self,
        worker: &str,
        kinds: &[WorkKind],
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxItem>>;
    /// Gives back items `worker` claimed but has not started, so that they
    /// can be claimed again at once (by this node's next claim or another
    /// node) instead of when the lease runs out.
    async fn release_outbox(&self, ids: &[i64], worker: &str) -> Result<()>;
    async fn complete_outbox(&self, id: i64, worker: &str, now: DateTime<Utc>) -> Result<()>;
    /// Completes the items of `ids` that `worker` holds, in one statement
    /// (per thousand): items whose handlers had nothing to write cost no
    /// transaction of their own. Returns how many it completed.
    async fn complete_outbox_many(&self, ids: &[i64], worker: &str, now: DateTime<Utc>) -> Result<u64>;
    /// Records that `worker`'s attempt at item `id` failed with `error`:
    /// the lease is released and the item is due again later, or is a dead
    /// letter. Nothing happens when `worker` no longer holds it.
    async fn fail_outbox(&self, id: i64, worker: &str, error: &str, outcome: Failed) -> Result<()>;
    /// Earliest due time of unfinished work of `kinds`, so the engine can
    /// sleep until then.
    async fn next_outbox_due(&self, kinds: &[WorkKind]) -> Result<Option<DateTime<Utc>>>;
    /// Dead letters, newest first, with ids below `before_id`.
    async fn dead_letters(&self, before_id: Option<i64>, limit: i64) -> Result<Page<DeadLetter>>;
    async fn dead_letter_count(&self) -> Result<i64>;
    /// Puts dead letter `id` back, due `now` with no attempts counted, and
    /// audits it as `outbox.retry` by `who`. [`crate::StoreError::NotFound`]
    /// when `id` is not a dead letter.
    async fn retry_dead_letter(&self, id: i64, who: &str, now: DateTime<Utc>) -> Result<DeadLetter>;
    /// Writes that finished outbox items (a step, a completion, a failure)
    /// since the store was opened: what handling the queue costs.
    fn outbox_writes(&self) -> u64;
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    pub id: i64,
    pub kind: WorkKind,
    pub payload: serde_json::Value,
    pub due_at: DateTime<Utc>,
    /// Attempts so far, this one included (a claim counts one).
    pub attempts: i64,
    /// The service id, or `contact_method:<id>`; empty for work of nobody's.
    pub lane: String,
    /// [`DELIVER_NOW`], [`INCIDENT_CHANGE`] or [`FOLLOW_UP`].
    pub priority: i64,
}

/// An item that failed too often and waits for a person.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub id: i64,
    /// As stored: a kind this version may not know.
    pub kind: String,
    pub lane: String,
    pub payload: serde_json::Value,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// When it was first queued.
    pub created_at: DateTime<Utc>,
    /// When it became a dead letter; `None` once put back.
    pub dead_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn pages_under_way_come_first_then_incident_changes_then_follow_ups() {
        let t = Utc.with_ymd_and_hms(2026, 3, 3, 10, 0, 0).single().unwrap();
        assert_eq!(priority(WorkKind::NotifySend, t, t), DELIVER_NOW, "a page due as it is queued");
        for kind in [
            WorkKind::IncidentOpened,
            WorkKind::IncidentAcknowledged,
            WorkKind::IncidentResolved,
            WorkKind::IncidentEscalate,
            WorkKind::IncidentReassign,
        ] {
            assert_eq!(priority(kind, t, t), INCIDENT_CHANGE, "{kind}");
        }
        let later = t + Duration::minutes(2);
        assert_eq!(priority(WorkKind::NotifySend, later, t), FOLLOW_UP, "a later rule or a retry");
        assert_eq!(priority(WorkKind::EscalationTimer, t, t), FOLLOW_UP);
        assert_eq!(priority(WorkKind::NotifyBundle, t, t), FOLLOW_UP);
    }

    #[test]
    fn a_claim_looks_for_every_kind_where_its_priority_puts_it() {
        let t = Utc.with_ymd_and_hms(2026, 3, 3, 10, 0, 0).single().unwrap();
        for kind in WorkKind::ALL {
            for due in [t - Duration::seconds(1), t, t + Duration::minutes(5)] {
                assert!(priorities(kind).contains(&priority(kind, due, t)), "{kind} due {due}");
            }
        }
    }
}
