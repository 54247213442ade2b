//! Token bucket: a steady rate with room for bursts. Pure: the caller
//! passes the current instant.

use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    last: Option<DateTime<Utc>>,
}

impl TokenBucket {
    /// `per_second` refill rate; `capacity` the largest burst.
    pub fn new(per_second: f64, capacity: f64) -> Self {
        Self { capacity, per_second, tokens: capacity, last: None }
    }

    /// Takes `n` tokens if available at `now`; otherwise takes none.
    pub fn try_take(&mut self, now: DateTime<Utc>, n: f64) -> bool {
        if let Some(last) = self.last {
            let elapsed = (now - last).num_microseconds().unwrap_or(i64::MAX).max(0) as f64 / 1e6;
            self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        }
        self.last = Some(now);
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn refills_at_rate_and_caps_bursts() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap();
        let mut b = TokenBucket::new(10.0, 20.0);
        assert!(b.try_take(t0, 20.0));
        assert!(!b.try_take(t0, 1.0));
        assert!(b.try_take(t0 + Duration::milliseconds(100), 1.0));
        assert!(!b.try_take(t0 + Duration::milliseconds(100), 1.0));
        // A long pause refills only up to capacity.
        assert!(b.try_take(t0 + Duration::hours(1), 20.0));
        assert!(!b.try_take(t0 + Duration::hours(1), 1.0));
    }
}
