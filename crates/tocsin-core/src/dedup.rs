//! Folding an event into the alert it belongs to.
//!
//! An alert is identified by (service, dedup key) while it is open; once
//! resolved, the same key opens a new alert. Acknowledge and resolve only
//! ever touch an open alert: for an unknown key they are accepted and ignored,
//! as PagerDuty does.

use crate::alert::AlertStatus;
use crate::event::EventAction;

/// What an event does to the open alert with its key (if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    /// No open alert: open one.
    Open,
    /// Same open alert seen again: count it, refresh its content.
    Repeat,
    /// Open, triggered alert acknowledged.
    Acknowledge,
    /// Open alert resolved.
    Resolve,
    /// Nothing to do; the reason is kept for logs and metrics.
    Ignore(IgnoreReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    /// Acknowledge or resolve for a key with no open alert.
    NoOpenAlert,
    /// Acknowledge of an alert that is already acknowledged.
    AlreadyAcknowledged,
}

/// Decides what `action` does given the status of the open alert with the
/// same key (`None` when there is no open alert).
pub fn fold(open: Option<AlertStatus>, action: EventAction) -> Fold {
    let open = open.filter(|s| s.is_open());
    match (open, action) {
        (None, EventAction::Trigger) => Fold::Open,
        (None, _) => Fold::Ignore(IgnoreReason::NoOpenAlert),
        (Some(_), EventAction::Trigger) => Fold::Repeat,
        (Some(AlertStatus::Acknowledged), EventAction::Acknowledge) => Fold::Ignore(IgnoreReason::AlreadyAcknowledged),
        (Some(_), EventAction::Acknowledge) => Fold::Acknowledge,
        (Some(_), EventAction::Resolve) => Fold::Resolve,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AlertStatus::*;
    use EventAction::*;

    #[test]
    fn trigger_opens_or_repeats() {
        assert_eq!(fold(None, Trigger), Fold::Open);
        assert_eq!(fold(Some(Triggered), Trigger), Fold::Repeat);
        assert_eq!(fold(Some(Acknowledged), Trigger), Fold::Repeat);
        assert_eq!(fold(Some(Resolved), Trigger), Fold::Open);
    }

    #[test]
    fn ack_and_resolve_need_an_open_alert() {
        assert_eq!(fold(None, Acknowledge), Fold::Ignore(IgnoreReason::NoOpenAlert));
        assert_eq!(fold(None, Resolve), Fold::Ignore(IgnoreReason::NoOpenAlert));
        assert_eq!(fold(Some(Resolved), Resolve), Fold::Ignore(IgnoreReason::NoOpenAlert));
        assert_eq!(fold(Some(Triggered), Acknowledge), Fold::Acknowledge);
        assert_eq!(fold(Some(Acknowledged), Acknowledge), Fold::Ignore(IgnoreReason::AlreadyAcknowledged));
        assert_eq!(fold(Some(Acknowledged), Resolve), Fold::Resolve);
        assert_eq!(fold(Some(Triggered), Resolve), Fold::Resolve);
    }
}
