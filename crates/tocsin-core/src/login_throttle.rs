//! Login throttling: per account and per address, a pure rule over a small
//! stored state per scope, so every node applies the same limits from the
//! same rows.
//!
//! - Account (`user:<id>`): after [`ACCOUNT_FREE_FAILURES`] consecutive
//!   failures the account is locked for 30 s, doubling with every further
//!   failure up to 15 min. A success clears it.
//! - Address (`addr:<ip>`, IPv6 by its /64, which one host usually has
//!   whole): more than [`ADDRESS_MAX_FAILURES`] failures within 10 min lock
//!   it for 10 min. Successes do not clear it (one good account must not
//!   unlock guessing at the others).

use chrono::{DateTime, Duration, Utc};
use std::net::IpAddr;

/// Consecutive failures an account takes before the first lock.
pub const ACCOUNT_FREE_FAILURES: u32 = 5;
/// The first account lock; each further failure doubles it.
pub const ACCOUNT_FIRST_LOCK: Duration = Duration::seconds(30);
/// The longest account lock.
pub const ACCOUNT_MAX_LOCK: Duration = Duration::minutes(15);
/// Failures an address may have within [`ADDRESS_WINDOW`]; one more locks it.
pub const ADDRESS_MAX_FAILURES: u32 = 20;
pub const ADDRESS_WINDOW: Duration = Duration::minutes(10);
pub const ADDRESS_LOCK: Duration = Duration::minutes(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    Account,
    Address,
}

/// What failures are counted against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub kind: ScopeKind,
    /// `user:<id>` or `addr:<ip>` (`addr:<prefix>::/64` for IPv6).
    pub key: String,
}

impl Scope {
    pub fn account(user_id: &str) -> Self {
        Scope { kind: ScopeKind::Account, key: format!("user:{user_id}") }
    }

    pub fn address(ip: IpAddr) -> Self {
        let key = match ip {
            IpAddr::V4(v4) => format!("addr:{v4}"),
            // An IPv4 address written as IPv6 is that IPv4 address.
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => format!("addr:{v4}"),
                None => {
                    let s = v6.segments();
                    let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                    format!("addr:{net}/64")
                }
            },
        };
        Scope { kind: ScopeKind::Address, key }
    }
}

/// What is stored per scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleState {
    /// Accounts: consecutive failures. Addresses: failures in the window.
    pub failures: u32,
    /// When the counted failures began.
    pub window_start: DateTime<Utc>,
    pub locked_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Refused without checking the password; try again after this.
    Locked {
        retry_after: Duration,
    },
}

/// Whether a scope in `state` may try to log in at `now`.
pub fn check(state: Option<&ThrottleState>, now: DateTime<Utc>) -> Verdict {
    match state.and_then(|s| s.locked_until) {
        Some(until) if now < until => Verdict::Locked { retry_after: until - now },
        _ => Verdict::Allowed,
    }
}

/// The state after a failed login at `now`.
pub fn after_failure(kind: ScopeKind, state: Option<&ThrottleState>, now: DateTime<Utc>) -> ThrottleState {
    match kind {
        ScopeKind::Account => {
            let failures = state.map_or(0, |s| s.failures).saturating_add(1);
            let window_start = state.map_or(now, |s| s.window_start);
            let locked_until = (failures >= ACCOUNT_FREE_FAILURES).then(|| now + account_lock(failures));
            ThrottleState { failures, window_start, locked_until }
        }
        ScopeKind::Address => {
            let current = state.filter(|s| now - s.window_start < ADDRESS_WINDOW);
            let failures = current.map_or(0, |s| s.failures).saturating_add(1);
            let window_start = current.map_or(now, |s| s.window_start);
            let locked_until = (failures > ADDRESS_MAX_FAILURES).then(|| now + ADDRESS_LOCK);
            ThrottleState { failures, window_start, locked_until }
        }
    }
}

/// How long the `failures`-th consecutive failure locks an account.
fn account_lock(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(ACCOUNT_FREE_FAILURES).min(16);
    (ACCOUNT_FIRST_LOCK * (1i32 << doublings)).min(ACCOUNT_MAX_LOCK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap()
    }

    fn fail_n(kind: ScopeKind, n: u32, at: DateTime<Utc>) -> Option<ThrottleState> {
        let mut state = None;
        for _ in 0..n {
            state = Some(after_failure(kind, state.as_ref(), at));
        }
        state
    }

    #[test]
    fn scopes_name_accounts_and_addresses() {
        assert_eq!(Scope::account("alice").key, "user:alice");
        assert_eq!(Scope::address("192.0.2.7".parse().unwrap()).key, "addr:192.0.2.7");
        let a = Scope::address("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = Scope::address("2001:db8:1:2:bbbb::9".parse().unwrap());
        assert_eq!(a, b, "one /64 is one address");
        assert_eq!(a.key, "addr:2001:db8:1:2::/64");
        assert_ne!(a, Scope::address("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(Scope::address("::ffff:192.0.2.7".parse().unwrap()).key, "addr:192.0.2.7");
    }

    #[test]
    fn accounts_lock_after_five_failures_for_30s_doubling_to_15_min() {
        let four = fail_n(ScopeKind::Account, 4, t0());
        assert_eq!(check(four.as_ref(), t0()), Verdict::Allowed);
        let five = fail_n(ScopeKind::Account, 5, t0());
        assert_eq!(five.unwrap().locked_until, Some(t0() + Duration::seconds(30)));
        assert_eq!(check(five.as_ref(), t0()), Verdict::Locked { retry_after: Duration::seconds(30) });
        let almost = t0() + Duration::seconds(30) - Duration::microseconds(1);
        assert_eq!(check(five.as_ref(), almost), Verdict::Locked { retry_after: Duration::microseconds(1) });
        assert_eq!(check(five.as_ref(), t0() + Duration::seconds(30)), Verdict::Allowed);

        let locks: Vec<i64> = (5..=11).map(|n| account_lock(n).num_seconds()).collect();
        assert_eq!(locks, [30, 60, 120, 240, 480, 900, 900]);
        assert_eq!(account_lock(u32::MAX), ACCOUNT_MAX_LOCK);
        // The sixth failure, after the first lock ended, locks for 60 s.
        let later = t0() + Duration::seconds(31);
        let six = after_failure(ScopeKind::Account, five.as_ref(), later);
        assert_eq!((six.failures, six.locked_until), (6, Some(later + Duration::seconds(60))));
        assert_eq!(six.window_start, t0());
    }

    #[test]
    fn addresses_lock_after_more_than_twenty_failures_in_ten_minutes() {
        let twenty = fail_n(ScopeKind::Address, 20, t0());
        assert_eq!(check(twenty.as_ref(), t0()), Verdict::Allowed);
        assert_eq!(twenty.unwrap().locked_until, None);
        let last = t0() + ADDRESS_WINDOW - Duration::microseconds(1);
        let locked = after_failure(ScopeKind::Address, twenty.as_ref(), last);
        assert_eq!((locked.failures, locked.locked_until), (21, Some(last + ADDRESS_LOCK)));
        // The 21st failure exactly ten minutes after the first starts a new window.
        let fresh = after_failure(ScopeKind::Address, twenty.as_ref(), t0() + ADDRESS_WINDOW);
        assert_eq!((fresh.failures, fresh.window_start, fresh.locked_until), (1, t0() + ADDRESS_WINDOW, None));
    }
}
