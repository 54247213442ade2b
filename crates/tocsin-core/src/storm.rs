//! Alert storms: when a service receives more than `max_new_alerts` new
//! alerts within `within`, the rest collapse into one storm incident with one
//! page that says how many alerts it holds, instead of a page each.
//!
//! The count is a sliding window over the last `max_new_alerts + 1` arrival
//! instants, so the state per service is small and bounded whatever the
//! rate. An alert at `t` counts at `now` while `now - t < within`.
//!
//! The first `max_new_alerts` alerts of a burst are handled normally (they
//! are not a storm yet); the one that exceeds the limit starts the storm.
//! The storm lasts while the window holds more than `max_new_alerts`; it is
//! over at [`StormState::ends_at`], which later alerts push back.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};

use crate::CoreError;

/// Default limit: a single failure rarely raises more than a handful of new
/// alerts on one service in a minute, while a cascade (a partition, a bad
/// deploy, a monitoring restart) raises dozens, and past that point separate
/// pages only bury the one that matters.
pub const DEFAULT_MAX_NEW_ALERTS: u32 = 20;
/// Default window for [`DEFAULT_MAX_NEW_ALERTS`].
pub const DEFAULT_WITHIN: Duration = Duration::minutes(1);
/// Highest configurable limit, which bounds the state to this many instants.
pub const MAX_MAX_NEW_ALERTS: u32 = 10_000;
/// Longest configurable window.
pub const MAX_WITHIN: Duration = Duration::days(1);

/// How many new alerts within how long make a storm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StormPolicy {
    pub max_new_alerts: u32,
    pub within: Duration,
}

impl Default for StormPolicy {
    fn default() -> Self {
        Self { max_new_alerts: DEFAULT_MAX_NEW_ALERTS, within: DEFAULT_WITHIN }
    }
}

impl StormPolicy {
    /// `storm: off`: no limit; every new alert is handled on its own.
    pub const OFF: StormPolicy = StormPolicy { max_new_alerts: u32::MAX, within: Duration::zero() };

    pub fn is_off(&self) -> bool {
        *self == Self::OFF
    }

    /// `field` (for example `services[0].storm`) prefixes the names in errors.
    pub fn validate(&self, field: &str) -> Result<(), CoreError> {
        if self.max_new_alerts == 0 || self.max_new_alerts > MAX_MAX_NEW_ALERTS {
            return Err(CoreError::invalid(
                format!("{field}.max_new_alerts"),
                format!("must be between 1 and {MAX_MAX_NEW_ALERTS}"),
            ));
        }
        if self.within <= Duration::zero() || self.within > MAX_WITHIN {
            return Err(CoreError::invalid(format!("{field}.within"), "must be greater than zero and at most 1d"));
        }
        Ok(())
    }

    fn capacity(&self) -> usize {
        usize::try_from(self.max_new_alerts).unwrap_or(usize::MAX).saturating_add(1)
    }
}

/// What intake does with one new alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StormDecision {
    /// No storm: handle the alert as usual.
    Normal,
    /// This alert exceeded the limit: open the storm incident and page once,
    /// saying `alerts` arrived within the window.
    StormStarted { alerts: u32 },
    /// Collapse the alert into the open storm incident, which now holds
    /// `alerts` alerts.
    InStorm { alerts: u64 },
    /// The storm was over before this alert (its end had not been processed
    /// yet): close out the storm incident, which held `storm_alerts`, and
    /// handle this alert as usual.
    Ended { storm_alerts: u64 },
}

/// The sliding window and the current storm of one service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StormState {
    /// The latest arrivals, oldest first, at most `max_new_alerts + 1`.
    recent: VecDeque<DateTime<Utc>>,
    /// Alerts in the current storm; `None` when there is none.
    storm_alerts: Option<u64>,
}

impl StormState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a storm is open (its end may be due; see [`Self::end_if_over`]).
    pub fn in_storm(&self) -> bool {
        self.storm_alerts.is_some()
    }

    /// Counts a new alert at `now` and decides what it is.
    pub fn observe(&mut self, policy: &StormPolicy, now: DateTime<Utc>) -> StormDecision {
        // Arrivals are kept in order; a clock that steps back counts as now.
        let now = self.recent.back().map_or(now, |last| now.max(*last));
        self.recent.push_back(now);
        while self.recent.len() > policy.capacity() {
            self.recent.pop_front();
        }
        let over_limit = self.over_limit(policy, now);
        match (self.storm_alerts, over_limit) {
            (Some(n), true) => {
                let n = n.saturating_add(1);
                self.storm_alerts = Some(n);
                StormDecision::InStorm { alerts: n }
            }
            (Some(n), false) => {
                self.storm_alerts = None;
                StormDecision::Ended { storm_alerts: n }
            }
            (None, true) => {
                let alerts = policy.max_new_alerts.saturating_add(1);
                self.storm_alerts = Some(u64::from(alerts));
                StormDecision::StormStarted { alerts }
            }
            (None, false) => StormDecision::Normal,
        }
    }

    /// When the open storm is over unless more alerts arrive: when the
    /// oldest of the last `max_new_alerts + 1` leaves the window. `None`
    /// without a storm.
    pub fn ends_at(&self, policy: &StormPolicy) -> Option<DateTime<Utc>> {
        self.storm_alerts?;
        self.recent.front()?.checked_add_signed(policy.within)
    }

    /// Ends the storm if it is over at `now` and returns how many alerts it
    /// held: for the timer set at [`Self::ends_at`].
    pub fn end_if_over(&mut self, policy: &StormPolicy, now: DateTime<Utc>) -> Option<u64> {
        let alerts = self.storm_alerts?;
        if self.over_limit(policy, now) {
            return None;
        }
        self.storm_alerts = None;
        Some(alerts)
    }

    /// More than `max_new_alerts` arrivals in `(now - within, now]`.
    fn over_limit(&self, policy: &StormPolicy, now: DateTime<Utc>) -> bool {
        self.recent.len() >= policy.capacity()
            && self.recent.front().is_some_and(|oldest| now - *oldest < policy.within)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn small() -> StormPolicy {
        StormPolicy { max_new_alerts: 3, within: Duration::seconds(60) }
    }

    fn at(s: i64) -> DateTime<Utc> {
        utc("2026-05-01T10:00:00Z") + Duration::seconds(s)
    }

    #[test]
    fn default_is_twenty_a_minute() {
        assert_eq!(StormPolicy::default(), StormPolicy { max_new_alerts: 20, within: Duration::minutes(1) });
        assert_eq!(StormPolicy::default().validate("s"), Ok(()));
    }

    #[test]
    fn the_alert_over_the_limit_starts_the_storm() {
        let p = small();
        let mut s = StormState::new();
        for i in 0..3 {
            assert_eq!(s.observe(&p, at(i)), StormDecision::Normal);
        }
        assert!(!s.in_storm());
        assert_eq!(s.observe(&p, at(3)), StormDecision::StormStarted { alerts: 4 });
        assert_eq!(s.observe(&p, at(4)), StormDecision::InStorm { alerts: 5 });
        assert_eq!(s.observe(&p, at(5)), StormDecision::InStorm { alerts: 6 });
        assert!(s.in_storm());
    }

    #[test]
    fn the_window_is_half_open() {
        let p = small();
        let mut s = StormState::new();
        for i in 0..3 {
            s.observe(&p, at(i));
        }
        // The first alert is exactly `within` old at 60 s: out of the window.
        let mut later = s.clone();
        assert_eq!(later.observe(&p, at(60)), StormDecision::Normal);
        assert_eq!(s.observe(&p, at(59)), StormDecision::StormStarted { alerts: 4 });
    }

    #[test]
    fn a_slow_stream_never_storms_and_state_stays_bounded() {
        let p = small();
        let mut s = StormState::new();
        for i in 0..1_000 {
            assert_eq!(s.observe(&p, at(i * 20)), StormDecision::Normal);
        }
        assert_eq!(s.recent.len(), 4);
    }

    #[test]
    fn storm_ends_when_the_window_drops_to_the_limit() {
        let p = small();
        let mut s = StormState::new();
        for i in 0..5 {
            s.observe(&p, at(i));
        }
        // The last four arrived at 1..=4 s; the oldest leaves at 61 s.
        assert_eq!(s.ends_at(&p), Some(at(61)));
        assert_eq!(s.end_if_over(&p, at(60)), None);
        assert_eq!(s.end_if_over(&p, at(61)), Some(5));
        assert!(!s.in_storm());
        assert_eq!(s.ends_at(&p), None);
        assert_eq!(s.end_if_over(&p, at(62)), None);
    }

    #[test]
    fn alerts_keep_a_storm_going() {
        let p = small();
        let mut s = StormState::new();
        for i in 0..4 {
            s.observe(&p, at(i * 10));
        }
        assert_eq!(s.ends_at(&p), Some(at(60)));
        assert_eq!(s.observe(&p, at(59)), StormDecision::InStorm { alerts: 5 });
        assert_eq!(s.ends_at(&p), Some(at(70)));
    }

    #[test]
    fn an_alert_after_an_unprocessed_end_closes_the_storm() {
        let p = small();
        let mut s = StormState::new();
        for i in 0..4 {
            s.observe(&p, at(i));
        }
        assert_eq!(s.observe(&p, at(200)), StormDecision::Ended { storm_alerts: 4 });
        assert!(!s.in_storm());
        assert_eq!(s.observe(&p, at(201)), StormDecision::Normal);
    }

    #[test]
    fn a_new_burst_starts_a_new_storm() {
        let p = small();
        let mut s = StormState::new();
        for i in 0..4 {
            s.observe(&p, at(i));
        }
        assert_eq!(s.end_if_over(&p, at(100)), Some(4));
        for i in 0..3 {
            assert_eq!(s.observe(&p, at(200 + i)), StormDecision::Normal);
        }
        assert_eq!(s.observe(&p, at(203)), StormDecision::StormStarted { alerts: 4 });
    }

    #[test]
    fn a_clock_stepping_back_counts_as_now() {
        let p = small();
        let mut s = StormState::new();
        s.observe(&p, at(100));
        s.observe(&p, at(50));
        assert_eq!(s.recent.back(), Some(&at(100)));
    }

    #[test]
    fn validation_names_the_field() {
        let field = |p: StormPolicy| match p.validate("services[0].storm") {
            Err(CoreError::Invalid { field, .. }) => field,
            other => format!("{other:?}"),
        };
        assert_eq!(field(StormPolicy { max_new_alerts: 0, ..small() }), "services[0].storm.max_new_alerts");
        assert_eq!(field(StormPolicy { max_new_alerts: 10_001, ..small() }), "services[0].storm.max_new_alerts");
        assert_eq!(field(StormPolicy { within: Duration::zero(), ..small() }), "services[0].storm.within");
        assert_eq!(field(StormPolicy { within: Duration::days(2), ..small() }), "services[0].storm.within");
        assert_eq!(StormPolicy { max_new_alerts: 1, within: Duration::days(1) }.validate("s"), Ok(()));
    }
}
