//! Who a policy pages: the targets of its first level, with schedule targets
//! resolved to whoever the schedule has on call at an instant.

use chrono::{DateTime, Utc};

use crate::escalation::{Level, Policy, Target};
use crate::schedule::{Schedule, on_call_at};

/// One person a page would reach, and the schedule that put them there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Responder {
    pub user: String,
    pub via_schedule: Option<String>,
}

/// The people the policy's first level pages at `at`, each once, in target
/// order. A schedule in a gap contributes nobody; an unknown schedule id
/// (config validation prevents it) contributes nobody too.
pub fn first_responders(policy: &Policy, schedules: &[Schedule], at: DateTime<Utc>) -> Vec<Responder> {
    policy.levels.first().map(|level| level_responders(level, schedules, at)).unwrap_or_default()
}

/// The people one level pages at `at`, each once, in target order (the same
/// resolution the engine uses when it pages).
pub fn level_responders(level: &Level, schedules: &[Schedule], at: DateTime<Utc>) -> Vec<Responder> {
    let mut out: Vec<Responder> = Vec::new();
    for target in &level.targets {
        let found = match target {
            Target::User(user) => Some(Responder { user: user.clone(), via_schedule: None }),
            Target::Schedule(id) => schedules
                .iter()
                .find(|s| &s.id == id)
                .and_then(|s| on_call_at(s, at))
                .map(|user| Responder { user, via_schedule: Some(id.clone()) }),
        };
        if let Some(r) = found
            && !out.iter().any(|o| o.user == r.user)
        {
            out.push(r);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::schedule::{Layer, Turn};
    use chrono::{Duration, NaiveDate, TimeZone};

    fn daily(users: &[&str]) -> Schedule {
        let start = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap().and_hms_opt(9, 0, 0).unwrap();
        Schedule {
            id: "primary".into(),
            time_zone: chrono_tz::UTC,
            layers: vec![Layer {
                id: "l".into(),
                users: users.iter().map(|u| u.to_string()).collect(),
                time_zone: None,
                start,
                turn: Turn::Days(1),
                handoff: start.time(),
                restrictions: vec![],
                end: None,
            }],
            overrides: vec![],
        }
    }

    fn policy(targets: Vec<Target>) -> Policy {
        Policy { id: "p".into(), repeat: 0, levels: vec![Level { targets, escalate_after: Duration::minutes(5) }] }
    }

    #[test]
    fn resolves_schedules_and_dedups_users() {
        let at = Utc.with_ymd_and_hms(2026, 1, 6, 12, 0, 0).single().unwrap(); // day 2: bob
        let p =
            policy(vec![Target::Schedule("primary".into()), Target::User("bob".into()), Target::User("carol".into())]);
        let got = first_responders(&p, &[daily(&["alice", "bob"])], at);
        assert_eq!(
            got,
            [
                Responder { user: "bob".into(), via_schedule: Some("primary".into()) },
                Responder { user: "carol".into(), via_schedule: None },
            ]
        );
    }

    #[test]
    fn a_schedule_in_a_gap_pages_nobody() {
        let before_anchor = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap();
        let p = policy(vec![Target::Schedule("primary".into())]);
        assert!(first_responders(&p, &[daily(&["alice"])], before_anchor).is_empty());
        assert!(first_responders(&p, &[], before_anchor).is_empty(), "unknown schedule");
    }
}
