//! Flapping: an alert that fires and resolves more than `max_changes` times
//! within `within` is marked flapping, and then pages at most once per
//! `within` instead of on every firing.
//!
//! The state per alert is the instants of its last `max_changes + 1`
//! transitions (fired or resolved) and when it last paged, so it stays small
//! whatever the alert does. A transition at `t` counts at `now` while
//! `now - t < within`. The alert stops flapping once the oldest of those
//! transitions leaves the window ([`FlapState::flapping_until`]).

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};

use crate::CoreError;

/// Default: four changes (fire, resolve, fire, resolve) in ten minutes is
/// still a real problem coming and going; a fifth means the alert is
/// oscillating around its threshold and each page is noise.
pub const DEFAULT_MAX_CHANGES: u32 = 4;
/// Default window for [`DEFAULT_MAX_CHANGES`].
pub const DEFAULT_WITHIN: Duration = Duration::minutes(10);
/// Highest configurable limit, which bounds the state per alert.
pub const MAX_MAX_CHANGES: u32 = 1_000;
/// Longest configurable window.
pub const MAX_WITHIN: Duration = Duration::days(1);

/// How many state changes within how long make an alert flapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlapPolicy {
    pub max_changes: u32,
    pub within: Duration,
}

impl Default for FlapPolicy {
    fn default() -> Self {
        Self { max_changes: DEFAULT_MAX_CHANGES, within: DEFAULT_WITHIN }
    }
}

impl FlapPolicy {
    /// `flapping: off`: an alert pages every time it fires.
    pub const OFF: FlapPolicy = FlapPolicy { max_changes: u32::MAX, within: Duration::zero() };

    pub fn is_off(&self) -> bool {
        *self == Self::OFF
    }

    /// `field` (for example `services[0].flapping`) prefixes the names in errors.
    pub fn validate(&self, field: &str) -> Result<(), CoreError> {
        if self.max_changes == 0 || self.max_changes > MAX_MAX_CHANGES {
            return Err(CoreError::invalid(
                format!("{field}.max_changes"),
                format!("must be between 1 and {MAX_MAX_CHANGES}"),
            ));
        }
        if self.within <= Duration::zero() || self.within > MAX_WITHIN {
            return Err(CoreError::invalid(format!("{field}.within"), "must be greater than zero and at most 1d"));
        }
        Ok(())
    }

    fn capacity(&self) -> usize {
        usize::try_from(self.max_changes).unwrap_or(usize::MAX).saturating_add(1)
    }
}

/// Which way the alert changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Fired,
    Resolved,
}

/// What to do with one transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlapDecision {
    /// More than `max_changes` transitions within the window, this one included.
    pub flapping: bool,
    /// Whether this transition may notify: a firing pages unless the alert is
    /// flapping and already paged within the window; a resolution notifies
    /// only when the alert is not flapping (its resolutions are noise too).
    pub may_page: bool,
}

/// The recent transitions of one alert and its last page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlapState {
    /// Latest transitions, oldest first, at most `max_changes + 1`.
    recent: VecDeque<DateTime<Utc>>,
    /// When a firing of this alert last paged.
    last_paged_at: Option<DateTime<Utc>>,
}

impl FlapState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a transition at `now`; a firing that may page counts as the
    /// page, so the next one within the window is held back.
    pub fn observe_transition(
        &mut self,
        policy: &FlapPolicy,
        now: DateTime<Utc>,
        transition: Transition,
    ) -> FlapDecision {
        let now = self.recent.back().map_or(now, |last| now.max(*last));
        self.recent.push_back(now);
        while self.recent.len() > policy.capacity() {
            self.recent.pop_front();
        }
        let flapping = self.is_flapping(policy, now);
        let may_page = match transition {
            Transition::Resolved => !flapping,
            Transition::Fired => !flapping || self.last_paged_at.is_none_or(|last| now - last >= policy.within),
        };
        if transition == Transition::Fired && may_page {
            self.last_paged_at = Some(now);
        }
        FlapDecision { flapping, may_page }
    }

    /// Whether more than `max_changes` transitions lie in `(now - within, now]`.
    pub fn is_flapping(&self, policy: &FlapPolicy, now: DateTime<Utc>) -> bool {
        self.recent.len() >= policy.capacity()
            && self.recent.front().is_some_and(|oldest| now - *oldest < policy.within)
    }

    /// When the alert stops flapping unless it changes again; `None` when it
    /// is not flapping at `now`. This is what an explanation shows as
    /// "flapping until".
    pub fn flapping_until(&self, policy: &FlapPolicy, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.is_flapping(policy, now) {
            return None;
        }
        self.recent.front()?.checked_add_signed(policy.within)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Transition::{Fired, Resolved};

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-05-01T10:00:00Z").unwrap().with_timezone(&Utc) + Duration::minutes(minutes)
    }

    fn decision(flapping: bool, may_page: bool) -> FlapDecision {
        FlapDecision { flapping, may_page }
    }

    #[test]
    fn default_is_four_changes_in_ten_minutes() {
        assert_eq!(FlapPolicy::default(), FlapPolicy { max_changes: 4, within: Duration::minutes(10) });
        assert_eq!(FlapPolicy::default().validate("f"), Ok(()));
    }

    #[test]
    fn the_fifth_change_in_the_window_is_flapping_and_pages_are_held() {
        let p = FlapPolicy::default();
        let mut s = FlapState::new();
        assert_eq!(s.observe_transition(&p, at(0), Fired), decision(false, true));
        assert_eq!(s.observe_transition(&p, at(1), Resolved), decision(false, true));
        assert_eq!(s.observe_transition(&p, at(2), Fired), decision(false, true));
        assert_eq!(s.observe_transition(&p, at(3), Resolved), decision(false, true));
        // Fifth change: flapping; it paged at 2 min, so this firing is held.
        assert_eq!(s.observe_transition(&p, at(4), Fired), decision(true, false));
        assert_eq!(s.observe_transition(&p, at(5), Resolved), decision(true, false));
        assert_eq!(s.flapping_until(&p, at(5)), Some(at(11)));
    }

    #[test]
    fn a_flapping_alert_pages_once_per_window() {
        let p = FlapPolicy::default();
        let mut s = FlapState::new();
        let mut pages = Vec::new();
        // Fires every minute and resolves half a minute later, for an hour.
        for m in 0..60 {
            let fired = s.observe_transition(&p, at(m), Fired);
            if fired.may_page {
                pages.push(m);
            }
            s.observe_transition(&p, at(m) + Duration::seconds(30), Resolved);
        }
        assert_eq!(pages, vec![0, 1, 11, 21, 31, 41, 51]);
    }

    #[test]
    fn changes_exactly_a_window_apart_do_not_count_together() {
        let p = FlapPolicy { max_changes: 2, within: Duration::minutes(10) };
        let mut s = FlapState::new();
        s.observe_transition(&p, at(0), Fired);
        s.observe_transition(&p, at(5), Resolved);
        let mut edge = s.clone();
        assert!(!edge.observe_transition(&p, at(10), Fired).flapping);
        assert!(s.observe_transition(&p, at(9), Fired).flapping);
        assert_eq!(s.flapping_until(&p, at(9)), Some(at(10)));
        assert!(s.is_flapping(&p, at(9) + Duration::seconds(59)));
        assert!(!s.is_flapping(&p, at(10)));
        assert_eq!(s.flapping_until(&p, at(10)), None);
    }

    #[test]
    fn calm_alert_stops_flapping_and_pages_again() {
        let p = FlapPolicy::default();
        let mut s = FlapState::new();
        for m in 0..5 {
            s.observe_transition(&p, at(m), if m % 2 == 0 { Fired } else { Resolved });
        }
        assert!(s.is_flapping(&p, at(4)));
        assert_eq!(s.observe_transition(&p, at(30), Resolved), decision(false, true));
        assert_eq!(s.observe_transition(&p, at(40), Fired), decision(false, true));
        assert_eq!(s.recent.len(), 5);
    }

    #[test]
    fn validation_names_the_field() {
        let field = |p: FlapPolicy| match p.validate("services[0].flapping") {
            Err(CoreError::Invalid { field, .. }) => field,
            other => format!("{other:?}"),
        };
        assert_eq!(field(FlapPolicy { max_changes: 0, ..FlapPolicy::default() }), "services[0].flapping.max_changes");
        assert_eq!(
            field(FlapPolicy { max_changes: 1_001, ..FlapPolicy::default() }),
            "services[0].flapping.max_changes"
        );
        assert_eq!(
            field(FlapPolicy { within: Duration::zero(), ..FlapPolicy::default() }),
            "services[0].flapping.within"
        );
    }
}
