//! How long Tocsin keeps the bulky parts of finished incidents.
//!
//! Incident records, their timelines and the audit log are kept forever:
//! they are the history people and auditors come back to. What grows with
//! traffic and is rarely read once an incident is over is pruned after an
//! age: the raw details senders attached to alerts, and the record of each
//! notification delivery with the engine's finished work items.

use chrono::{DateTime, Duration, Utc};

/// Alert details are kept for a month after their incident resolved: long
/// enough for a postmortem.
pub const DEFAULT_ALERT_PAYLOADS: Duration = Duration::days(30);
/// Delivery records are kept for a quarter: long enough to answer "was I
/// paged for that?" after a typical review cycle.
pub const DEFAULT_DELIVERY_ATTEMPTS: Duration = Duration::days(90);

/// Ages after which data of resolved incidents is pruned; `None` keeps it
/// forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Alert details (the sender's payload) of incidents resolved longer ago.
    pub alert_payloads: Option<Duration>,
    /// Notifications of incidents resolved longer ago, and engine work
    /// finished longer ago.
    pub delivery_attempts: Option<Duration>,
}

impl Default for Retention {
    fn default() -> Self {
        Self { alert_payloads: Some(DEFAULT_ALERT_PAYLOADS), delivery_attempts: Some(DEFAULT_DELIVERY_ATTEMPTS) }
    }
}

/// The instants at or before which data is old enough to prune.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    pub alert_payloads: Option<DateTime<Utc>>,
    pub delivery_attempts: Option<DateTime<Utc>>,
}

impl Cutoffs {
    /// Whether nothing is to be pruned at all.
    pub fn is_off(&self) -> bool {
        self.alert_payloads.is_none() && self.delivery_attempts.is_none()
    }
}

impl Retention {
    /// Everything kept forever.
    pub const OFF: Retention = Retention { alert_payloads: None, delivery_attempts: None };

    /// What is old enough at `now`. An age too large to subtract (no
    /// instant is that old) prunes nothing.
    pub fn cutoffs(&self, now: DateTime<Utc>) -> Cutoffs {
        let before = |age: Option<Duration>| age.and_then(|age| now.checked_sub_signed(age));
        Cutoffs { alert_payloads: before(self.alert_payloads), delivery_attempts: before(self.delivery_attempts) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn cutoffs_are_now_minus_each_age_and_off_keeps_everything() {
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).single().unwrap();
        let cut = Retention::default().cutoffs(now);
        assert_eq!(cut.alert_payloads, Some(now - Duration::days(30)));
        assert_eq!(cut.delivery_attempts, Some(now - Duration::days(90)));
        assert!(!cut.is_off());
        assert!(Retention::OFF.cutoffs(now).is_off());
        let one = Retention { alert_payloads: None, delivery_attempts: Some(Duration::hours(1)) };
        assert_eq!(
            one.cutoffs(now),
            Cutoffs { alert_payloads: None, delivery_attempts: Some(now - Duration::hours(1)) }
        );
    }

    #[test]
    fn an_age_beyond_the_calendar_prunes_nothing() {
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).single().unwrap();
        let huge = Retention { alert_payloads: Some(Duration::MAX), delivery_attempts: None };
        assert!(huge.cutoffs(now).is_off());
    }
}
