//! The engine's kinds of work, and what becomes of an item whose handler
//! fails.
//!
//! Kinds are stored as text (`incident.opened`), so that a node of an older
//! version meets kinds it does not know without misreading them: it leaves
//! them for a node that does. A failing item is tried again later, each time
//! later (exponential backoff with jitter, capped), and after
//! [`MAX_ATTEMPTS`] it becomes a dead letter that waits for a person.

use std::time::Duration;

use crate::notify::backoff::RetryPolicy;

/// One kind of outbox item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WorkKind {
    /// A new incident: its escalation starts.
    IncidentOpened,
    IncidentAcknowledged,
    IncidentResolved,
    /// "Escalate now", asked for by a person.
    IncidentEscalate,
    /// Page other targets instead of the current level, asked for by a person.
    IncidentReassign,
    /// An escalation's timer (next level, repeat, acknowledgement timeout).
    EscalationTimer,
    /// Send one notification.
    NotifySend,
    /// Send what a contact method's rate limit held, as one message.
    NotifyBundle,
    /// Send a test page a person asked for through one of their methods.
    NotifyTest,
    /// Summarise the alerts that joined a group's incident since it paged
    /// (one per `group_interval`, not one page per alert).
    IncidentGroupUpdate,
}

impl WorkKind {
    /// Every kind this version knows.
    pub const ALL: [WorkKind; 10] = [
        WorkKind::IncidentOpened,
        WorkKind::IncidentAcknowledged,
        WorkKind::IncidentResolved,
        WorkKind::IncidentEscalate,
        WorkKind::IncidentReassign,
        WorkKind::EscalationTimer,
        WorkKind::NotifySend,
        WorkKind::NotifyBundle,
        WorkKind::NotifyTest,
        WorkKind::IncidentGroupUpdate,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkKind::IncidentOpened => "incident.opened",
            WorkKind::IncidentAcknowledged => "incident.acknowledged",
            WorkKind::IncidentResolved => "incident.resolved",
            WorkKind::IncidentEscalate => "incident.escalate",
            WorkKind::IncidentReassign => "incident.reassign",
            WorkKind::EscalationTimer => "escalation.timer",
            WorkKind::NotifySend => "notify.send",
            WorkKind::NotifyBundle => "notify.bundle",
            WorkKind::NotifyTest => "notify.test",
            WorkKind::IncidentGroupUpdate => "incident.group_update",
        }
    }

    /// The kind a stored name means; `None` for a kind this version does
    /// not know (queued by a newer one).
    pub fn parse(name: &str) -> Option<WorkKind> {
        WorkKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// A change to an incident that starts, moves or stops its paging.
    pub fn is_incident_change(self) -> bool {
        matches!(
            self,
            WorkKind::IncidentOpened
                | WorkKind::IncidentAcknowledged
                | WorkKind::IncidentResolved
                | WorkKind::IncidentEscalate
                | WorkKind::IncidentReassign
        )
    }
}

impl std::fmt::Display for WorkKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Attempts at an item, the first included, before it becomes a dead letter.
pub const MAX_ATTEMPTS: i64 = ATTEMPTS as i64;
const ATTEMPTS: u32 = 10;

/// The bounds of the wait after each failure: 1 s doubling, at most 10 min.
/// With [`MAX_ATTEMPTS`] an item keeps failing for at most about 8.5 min
/// (1 + 2 + … + 256 s) before a person is asked to look at it.
pub const RETRY: RetryPolicy = RetryPolicy {
    initial: Duration::from_secs(1),
    max: Duration::from_secs(600),
    multiplier: 2.0,
    max_attempts: ATTEMPTS,
};

/// What becomes of an item whose handler failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again after this long.
    RetryIn(Duration),
    /// Never claimed again until a person puts it back.
    Dead,
}

/// After the failure of attempt number `attempts` (1 = the first): wait
/// between half of and the whole `RETRY.cap(attempts - 1)` ("equal
/// jitter", so that the waits always grow while items that failed together
/// spread out), chosen by `random`; dead after [`MAX_ATTEMPTS`].
pub fn after_failure(attempts: i64, random: u64) -> AfterFailure {
    if attempts >= MAX_ATTEMPTS {
        return AfterFailure::Dead;
    }
    let failed = u32::try_from(attempts.saturating_sub(1).max(0)).unwrap_or(u32::MAX);
    let cap = RETRY.cap(failed);
    let half = cap / 2;
    let spread = (u128::from(random) * (half.as_nanos() + 1)) >> 64;
    AfterFailure::RetryIn(half + Duration::from_nanos(u64::try_from(spread).unwrap_or(u64::MAX)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_unknown_ones_stay_unknown() {
        for kind in WorkKind::ALL {
            assert_eq!(WorkKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(WorkKind::parse("incident.snoozed"), None);
        assert_eq!(WorkKind::parse(""), None);
    }

    #[test]
    fn waits_grow_within_their_bounds_and_the_tenth_failure_is_final() {
        let mut last_cap = Duration::ZERO;
        for attempts in 1..MAX_ATTEMPTS {
            let cap = Duration::from_secs(1 << (attempts - 1));
            for random in [0, u64::MAX / 3, u64::MAX] {
                let AfterFailure::RetryIn(wait) = after_failure(attempts, random) else {
                    panic!("attempt {attempts} is retried");
                };
                assert!(wait >= cap / 2 && wait <= cap, "attempt {attempts}: {wait:?} within [{:?}, {cap:?}]", cap / 2);
                assert!(wait >= last_cap / 2, "never shorter than the previous lower bound");
            }
            last_cap = cap;
        }
        assert_eq!(after_failure(MAX_ATTEMPTS, 0), AfterFailure::Dead);
        assert_eq!(after_failure(MAX_ATTEMPTS + 5, 0), AfterFailure::Dead);
        assert_eq!(after_failure(20, 7), AfterFailure::Dead);
    }

    #[test]
    fn waits_are_capped_at_ten_minutes() {
        let capped = RetryPolicy { max_attempts: 100, ..RETRY };
        assert_eq!(capped.cap(30), Duration::from_secs(600));
        assert_eq!(after_failure(0, 0), after_failure(1, 0), "a count below one is the first attempt");
    }
}
