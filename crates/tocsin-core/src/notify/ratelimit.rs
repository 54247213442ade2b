//! Per-contact-method rate limit that bundles instead of dropping, so an
//! alert storm reaches a person as a few summaries rather than a flood, and
//! never as silence.
//!
//! The limit is a sliding window: at most `per_window` sends in any
//! `window`. A page that would exceed it is held, and everything held is sent
//! as one bundle (see [`super::render::bundle`]) at the instant the oldest send
//! leaves the window. This is not [`crate::ratelimit::TokenBucket`] on
//! purpose: a bucket answers "yes or no now", but bundling needs "when
//! exactly can the next message go", and the window's state (the send
//! instants) is a plain list the store can persist as it is.

use std::collections::VecDeque;

use chrono::{DateTime, TimeDelta, Utc};
use thiserror::Error;

/// The limit for one contact method: `per_window` sends per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimiter {
    per_window: u32,
    window: TimeDelta,
}

/// A limit that would hold every page forever or never hold any.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RateLimitError {
    #[error("a rate limit must allow at least one message per window")]
    ZeroPerWindow,
    #[error("a rate limit window must be positive")]
    NonPositiveWindow,
}

/// The send history of one contact method: the instants of the sends still
/// inside the window (at most `per_window` of them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MethodWindow {
    pub sent: VecDeque<DateTime<Utc>>,
}

/// The decision for one page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Send it now; the send has been recorded.
    Send,
    /// Hold it and send it with everything else held for this method as one
    /// bundle at `until` (then call [`RateLimiter::admit`] again, which will
    /// answer [`Admit::Send`] and record the bundle as one send).
    Bundle { until: DateTime<Utc> },
}

impl RateLimiter {
    pub fn new(per_window: u32, window: TimeDelta) -> Result<Self, RateLimitError> {
        if per_window == 0 {
            return Err(RateLimitError::ZeroPerWindow);
        }
        if window <= TimeDelta::zero() {
            return Err(RateLimitError::NonPositiveWindow);
        }
        Ok(Self { per_window, window })
    }

    pub fn per_window(&self) -> u32 {
        self.per_window
    }

    pub fn window(&self) -> TimeDelta {
        self.window
    }

    /// Decides whether a message for this method may go at `now`, recording
    /// it in `state` if so.
    ///
    /// Sends at or before `now - window` have left the window and are
    /// forgotten. Below the limit the answer is [`Admit::Send`]; at the limit
    /// it is [`Admit::Bundle`] with `until` = oldest remaining send + window,
    /// which is always after `now`, and the same for every page held in the
    /// meantime, so they all join one bundle. A clock that stepped backwards
    /// only makes the wait longer, never negative.
    pub fn admit(&self, state: &mut MethodWindow, now: DateTime<Utc>) -> Admit {
        let horizon = now.checked_sub_signed(self.window);
        state.sent.retain(|t| horizon.is_none_or(|h| *t > h));
        let limit = usize::try_from(self.per_window).unwrap_or(usize::MAX);
        if state.sent.len() < limit {
            state.sent.push_back(now);
            return Admit::Send;
        }
        let oldest = state.sent.iter().min().copied().unwrap_or(now);
        let until = oldest.checked_add_signed(self.window).unwrap_or(DateTime::<Utc>::MAX_UTC);
        Admit::Bundle { until }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap() + TimeDelta::seconds(secs)
    }

    fn limiter() -> RateLimiter {
        RateLimiter::new(3, TimeDelta::minutes(1)).unwrap()
    }

    #[test]
    fn sends_up_to_the_limit_then_bundles_until_a_slot_frees() {
        let l = limiter();
        let mut w = MethodWindow::default();
        assert_eq!(l.admit(&mut w, t(0)), Admit::Send);
        assert_eq!(l.admit(&mut w, t(10)), Admit::Send);
        assert_eq!(l.admit(&mut w, t(20)), Admit::Send);
        // The storm: every further page is held for the same bundle.
        assert_eq!(l.admit(&mut w, t(21)), Admit::Bundle { until: t(60) });
        assert_eq!(l.admit(&mut w, t(59)), Admit::Bundle { until: t(60) });
        // At `until` the bundle goes and takes the freed slot.
        assert_eq!(l.admit(&mut w, t(60)), Admit::Send);
        assert_eq!(l.admit(&mut w, t(61)), Admit::Bundle { until: t(70) });
        assert_eq!(w.sent, [t(10), t(20), t(60)]);
    }

    #[test]
    fn a_quiet_window_forgets_everything() {
        let l = limiter();
        let mut w = MethodWindow::default();
        for s in [0, 1, 2] {
            assert_eq!(l.admit(&mut w, t(s)), Admit::Send);
        }
        assert_eq!(l.admit(&mut w, t(3600)), Admit::Send);
        assert_eq!(w.sent, [t(3600)]);
    }

    #[test]
    fn a_clock_stepping_back_never_gives_a_past_until() {
        let l = limiter();
        let mut w = MethodWindow { sent: [t(100), t(101), t(102)].into() };
        assert_eq!(l.admit(&mut w, t(50)), Admit::Bundle { until: t(160) });
    }

    #[test]
    fn invalid_limits_are_rejected() {
        assert_eq!(RateLimiter::new(0, TimeDelta::minutes(1)), Err(RateLimitError::ZeroPerWindow));
        assert_eq!(RateLimiter::new(1, TimeDelta::zero()), Err(RateLimitError::NonPositiveWindow));
        assert_eq!(limiter().per_window(), 3);
        assert_eq!(limiter().window(), TimeDelta::minutes(1));
    }

    #[test]
    fn extreme_instants_do_not_overflow() {
        let l = limiter();
        let mut w = MethodWindow::default();
        assert_eq!(l.admit(&mut w, DateTime::<Utc>::MIN_UTC), Admit::Send);
        let mut w = MethodWindow { sent: [DateTime::<Utc>::MAX_UTC; 3].into() };
        assert_eq!(l.admit(&mut w, DateTime::<Utc>::MAX_UTC), Admit::Bundle { until: DateTime::<Utc>::MAX_UTC });
    }

    proptest! {
        /// Whatever the arrival pattern, no window ever holds more sends than
        /// the limit, and a held page is always told a future instant.
        #[test]
        fn never_more_than_the_limit_in_any_window(
            per in 1u32..5,
            window_s in 1i64..120,
            gaps in proptest::collection::vec(0i64..60, 1..80),
        ) {
            let l = RateLimiter::new(per, TimeDelta::seconds(window_s)).unwrap();
            let mut w = MethodWindow::default();
            let mut sends = Vec::new();
            let mut now = t(0);
            for gap in gaps {
                now += TimeDelta::seconds(gap);
                match l.admit(&mut w, now) {
                    Admit::Send => sends.push(now),
                    Admit::Bundle { until } => prop_assert!(until > now),
                }
                prop_assert!(w.sent.len() <= per as usize);
            }
            for (i, s) in sends.iter().enumerate() {
                let in_window = sends.iter().skip(i).filter(|x| **x - *s < TimeDelta::seconds(window_s)).count();
                prop_assert!(in_window <= per as usize);
            }
        }
    }
}
