//! When to try a failed delivery again, and which failures are worth it.
//!
//! Delivery is at-least-once: transient failures (timeouts, connection
//! errors, 5xx, 408, 429) are retried with exponential backoff and jitter;
//! anything else is permanent, and the caller falls through to the user's
//! next contact method (see [`super::rules::fallback_after_failure`]).
//!
//! Jitter is "full jitter" (AWS Architecture Blog, "Exponential Backoff And
//! Jitter"): the delay is uniform in `[0, cap(attempt)]`, where
//! `cap(attempt) = min(max, initial * multiplier^attempt)`. It spreads the
//! retries of many notifications that failed together (a receiver restart)
//! better than equal or no jitter, and unlike "decorrelated jitter" it needs
//! no memory of the previous delay, so the outbox row only stores the attempt
//! count. The randomness is an argument: the same `random` gives the same
//! delay.

use std::time::Duration;

use chrono::{DateTime, Utc};
use thiserror::Error;

/// Exponential backoff with full jitter. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Upper bound of the first retry's delay.
    pub initial: Duration,
    /// Upper bound of every delay, including one asked for by `Retry-After`.
    pub max: Duration,
    /// Growth of the bound per attempt; values below 1 (and NaN) count as 1 so
    /// the bound never shrinks.
    pub multiplier: f64,
    /// Total attempts including the first; 0 and 1 both mean "never retry".
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    /// 2 s doubling up to 2 min, 8 attempts: a page keeps trying for about
    /// four minutes in the worst case (bounds 2+4+8+16+32+64+120 s) before
    /// the method counts as failed and the next one is tried, which keeps a
    /// dead channel from delaying a person by much more than a rule step.
    fn default() -> Self {
        Self { initial: Duration::from_secs(2), max: Duration::from_secs(120), multiplier: 2.0, max_attempts: 8 }
    }
}

/// A policy value that cannot be what its author meant.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RetryPolicyError {
    #[error("initial delay must be positive")]
    ZeroInitial,
    #[error("max delay must be at least the initial delay")]
    MaxBelowInitial,
    #[error("multiplier must be a finite number of at least 1")]
    BadMultiplier,
}

impl RetryPolicy {
    /// Rejects policies whose intent is unclear. [`next_delay`](Self::next_delay)
    /// is total even for invalid policies; this is for config validation.
    pub fn validate(&self) -> Result<(), RetryPolicyError> {
        if self.initial.is_zero() {
            return Err(RetryPolicyError::ZeroInitial);
        }
        if self.max < self.initial {
            return Err(RetryPolicyError::MaxBelowInitial);
        }
        if !self.multiplier.is_finite() || self.multiplier < 1.0 {
            return Err(RetryPolicyError::BadMultiplier);
        }
        Ok(())
    }

    /// `min(max, initial * multiplier^attempt)`: the largest delay after the
    /// failure of attempt number `attempt` (0 = the first try). Non-decreasing
    /// in `attempt`.
    pub fn cap(&self, attempt: u32) -> Duration {
        let factor = self.multiplier.max(1.0);
        let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
        let scaled = self.initial.as_secs_f64() * factor.powi(exponent);
        let grown = Duration::try_from_secs_f64(scaled).unwrap_or(Duration::MAX);
        grown.max(self.initial).min(self.max)
    }

    /// The delay before the next try after attempt number `attempt`
    /// (0 = the first try) failed, or `None` when `attempt + 1` attempts have
    /// used up `max_attempts`. Uniform in `[0, cap(attempt)]`, chosen by
    /// `random` (any `u64`, e.g. from the OS RNG at the edge).
    pub fn next_delay(&self, attempt: u32, random: u64) -> Option<Duration> {
        if attempt.saturating_add(1) >= self.max_attempts {
            return None;
        }
        Some(jitter(self.cap(attempt), random))
    }

    /// Like [`next_delay`](Self::next_delay), but never sooner than a
    /// receiver's `Retry-After` (see [`parse_retry_after`]). The wait is still
    /// bounded by `max`: a page must not stall behind a receiver that asks for
    /// an hour; retrying early costs an attempt, and once the attempts are used
    /// up the caller falls through to the next contact method.
    pub fn next_delay_with_retry_after(
        &self,
        attempt: u32,
        random: u64,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        let jittered = self.next_delay(attempt, random)?;
        Some(match retry_after {
            Some(asked) => jittered.max(asked.min(self.max)),
            None => jittered,
        })
    }
}

/// A uniform pick in `[0, cap]` from `random`, without modulo bias worth the
/// name: `random / 2^64` scaled to `cap + 1` nanoseconds. Caps beyond
/// `u64::MAX` nanoseconds (584 years) are clamped so the product fits u128.
fn jitter(cap: Duration, random: u64) -> Duration {
    let cap_ns = cap.as_nanos().min(u128::from(u64::MAX));
    let pick = (u128::from(random) * (cap_ns + 1)) >> 64;
    Duration::from_nanos(u64::try_from(pick).unwrap_or(u64::MAX))
}

/// What to do with a delivery after one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// The receiver took it; done.
    Delivered,
    /// Transient; try again after the policy's delay.
    Retry,
    /// Retrying will not help; fall through to the next contact method.
    Permanent,
}

/// How an attempt failed before any HTTP status arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportFailure {
    Timeout,
    Connect,
    Other,
}

/// Classifies a response status.
///
/// 2xx is delivered. 408 (request timeout), 429 (rate limited) and 5xx are
/// transient. Other 4xx mean the request or the receiver's configuration is
/// wrong, which no retry fixes. 3xx is permanent too: the delivery client
/// does not follow redirects (a signed page must not go where nobody
/// configured it to), so a redirect means a URL to fix. Anything
/// else (1xx, out of range) is an odd answer from a server, which might be
/// passing; it is retried, and the retry budget still bounds it.
pub fn classify_http(status: u16) -> Delivery {
    match status {
        200..=299 => Delivery::Delivered,
        408 | 429 | 500..=599 => Delivery::Retry,
        300..=499 => Delivery::Permanent,
        _ => Delivery::Retry,
    }
}

/// Timeouts, refused connections and other transport errors are all
/// retried: they say nothing about whether the next try will work, and the
/// caller cannot know whether a timed-out request arrived, which the
/// idempotency key makes harmless.
pub fn classify_transport(kind: TransportFailure) -> Delivery {
    match kind {
        TransportFailure::Timeout | TransportFailure::Connect | TransportFailure::Other => Delivery::Retry,
    }
}

/// Parses a `Retry-After` header (RFC 9110 §10.2.3): delay-seconds or an
/// HTTP-date, relative to `now`. A date in the past means "now" (zero).
/// Anything else is `None`, and the caller uses its own backoff.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than u64 holds is still "a very long time".
        return Some(value.parse::<u64>().map_or(Duration::MAX, Duration::from_secs));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn policy() -> RetryPolicy {
        RetryPolicy::default()
    }

    #[test]
    fn caps_grow_exponentially_then_flatten() {
        let caps: Vec<u64> = (0..9).map(|a| policy().cap(a).as_secs()).collect();
        assert_eq!(caps, [2, 4, 8, 16, 32, 64, 120, 120, 120]);
        assert_eq!(policy().cap(u32::MAX), Duration::from_secs(120));
    }

    #[test]
    fn jitter_spans_zero_to_cap() {
        assert_eq!(policy().next_delay(0, 0), Some(Duration::ZERO));
        assert_eq!(policy().next_delay(0, u64::MAX), Some(Duration::from_secs(2)));
        assert_eq!(policy().next_delay(0, 1 << 63), Some(Duration::from_secs(1)));
        assert_eq!(policy().next_delay(3, 1 << 62), Some(Duration::from_secs(4)));
    }

    #[test]
    fn attempts_run_out() {
        let p = policy();
        assert!(p.next_delay(6, 7).is_some());
        assert_eq!(p.next_delay(7, 7), None);
        assert_eq!(p.next_delay(u32::MAX, 7), None);
        let once = RetryPolicy { max_attempts: 1, ..p };
        assert_eq!(once.next_delay(0, 7), None);
        let never = RetryPolicy { max_attempts: 0, ..p };
        assert_eq!(never.next_delay(0, 7), None);
    }

    #[test]
    fn retry_after_raises_the_delay_up_to_max() {
        let p = policy();
        assert_eq!(p.next_delay_with_retry_after(0, 0, Some(Duration::from_secs(30))), Some(Duration::from_secs(30)));
        assert_eq!(
            p.next_delay_with_retry_after(0, u64::MAX, Some(Duration::from_secs(1))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            p.next_delay_with_retry_after(0, 0, Some(Duration::from_secs(3600))),
            Some(Duration::from_secs(120))
        );
        assert_eq!(p.next_delay_with_retry_after(0, 0, None), Some(Duration::ZERO));
        assert_eq!(p.next_delay_with_retry_after(7, 0, Some(Duration::from_secs(1))), None);
    }

    #[test]
    fn odd_policies_do_not_break_next_delay() {
        let shrinking = RetryPolicy { multiplier: 0.5, ..policy() };
        assert_eq!(shrinking.cap(5), Duration::from_secs(2));
        assert_eq!(shrinking.validate(), Err(RetryPolicyError::BadMultiplier));
        let nan = RetryPolicy { multiplier: f64::NAN, ..policy() };
        assert_eq!(nan.cap(5), Duration::from_secs(2));
        let inf = RetryPolicy { multiplier: f64::INFINITY, ..policy() };
        assert_eq!(inf.cap(1), Duration::from_secs(120));
        assert_eq!(inf.validate(), Err(RetryPolicyError::BadMultiplier));
        let inverted = RetryPolicy { initial: Duration::from_secs(10), max: Duration::from_secs(5), ..policy() };
        assert_eq!(inverted.cap(0), Duration::from_secs(5));
        assert_eq!(inverted.validate(), Err(RetryPolicyError::MaxBelowInitial));
        assert_eq!(RetryPolicy { initial: Duration::ZERO, ..policy() }.validate(), Err(RetryPolicyError::ZeroInitial));
        let huge = RetryPolicy { initial: Duration::MAX, max: Duration::MAX, ..policy() };
        assert!(huge.next_delay(3, u64::MAX).is_some());
        assert_eq!(policy().validate(), Ok(()));
    }

    #[test]
    fn http_statuses_are_classified() {
        use Delivery::*;
        let cases = [
            (200, Delivered),
            (202, Delivered),
            (204, Delivered),
            (299, Delivered),
            (408, Retry),
            (429, Retry),
            (500, Retry),
            (502, Retry),
            (503, Retry),
            (599, Retry),
            (400, Permanent),
            (401, Permanent),
            (403, Permanent),
            (404, Permanent),
            (410, Permanent),
            (413, Permanent),
            (422, Permanent),
            (301, Permanent),
            (100, Retry),
            (0, Retry),
            (600, Retry),
        ];
        for (status, want) in cases {
            assert_eq!(classify_http(status), want, "{status}");
        }
        for kind in [TransportFailure::Timeout, TransportFailure::Connect, TransportFailure::Other] {
            assert_eq!(classify_transport(kind), Retry);
        }
    }

    #[test]
    fn retry_after_parses_seconds_and_http_dates() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap();
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("99999999999999999999999", now), Some(Duration::MAX));
        assert_eq!(parse_retry_after("Thu, 01 Jan 2026 00:01:30 GMT", now), Some(Duration::from_secs(90)));
        assert_eq!(parse_retry_after("Wed, 31 Dec 2025 23:00:00 GMT", now), Some(Duration::ZERO));
        for bad in ["", "-5", "1.5", "soon", "120s"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn delay_never_exceeds_cap_or_max(
            initial_ms in 1u64..100_000,
            extra_ms in 0u64..10_000_000,
            multiplier in 1.0f64..10.0,
            attempt in 0u32..200,
            random in any::<u64>(),
        ) {
            let p = RetryPolicy {
                initial: Duration::from_millis(initial_ms),
                max: Duration::from_millis(initial_ms + extra_ms),
                multiplier,
                max_attempts: u32::MAX,
            };
            let d = p.next_delay(attempt, random).unwrap();
            prop_assert!(d <= p.cap(attempt));
            prop_assert!(p.cap(attempt) <= p.max);
            prop_assert!(p.cap(attempt) >= p.initial);
            prop_assert!(p.cap(attempt) <= p.cap(attempt.saturating_add(1)));
            prop_assert_eq!(p.next_delay(attempt, random), Some(d));
        }

        #[test]
        fn larger_random_never_gives_a_shorter_delay(attempt in 0u32..10, a in any::<u64>(), b in any::<u64>()) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(policy().next_delay(attempt, lo) <= policy().next_delay(attempt, hi));
        }

        #[test]
        fn any_policy_any_input_never_panics(
            initial in any::<u64>(),
            max in any::<u64>(),
            multiplier in any::<f64>(),
            attempt in any::<u32>(),
            random in any::<u64>(),
            retry_after in proptest::option::of(any::<u64>()),
        ) {
            let p = RetryPolicy {
                initial: Duration::from_nanos(initial),
                max: Duration::from_nanos(max),
                multiplier,
                max_attempts: u32::MAX,
            };
            let _ = p.next_delay_with_retry_after(attempt, random, retry_after.map(Duration::from_secs));
            let _ = p.validate();
        }

        #[test]
        fn retry_after_never_panics(s in ".*", now in -100_000_000_000i64..100_000_000_000) {
            let now = DateTime::from_timestamp(now, 0).unwrap_or_default();
            let _ = parse_retry_after(&s, now);
        }
    }
}
