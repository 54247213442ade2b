use super::*;
use crate::escalation::{Level, Policy, start};
use crate::model::User;
use crate::notify::rules::ContactMethod;
use crate::schedule::{Layer, Turn};
use chrono::{Duration, NaiveDate, TimeZone};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 3, 12, 0, 0).unwrap()
}

fn user(id: &str, methods: &[(&str, ContactKind)], rules: &[(&str, i64)]) -> User {
    User {
        id: id.into(),
        name: id.into(),
        email: format!("{id}@example.com"),
        role: Default::default(),
        time_zone: None,
        contact_methods: methods.iter().map(|(m, k)| ContactMethod { id: (*m).into(), kind: k.clone() }).collect(),
        notification_rules: rules
            .iter()
            .map(|(m, s)| Rule { contact_method: (*m).into(), after: Duration::seconds(*s) })
            .collect(),
    }
}

fn directory() -> Directory {
    let hook = ContactKind::Webhook { url: "http://127.0.0.1:9/hook".into() };
    let mail = ContactKind::Email { address: "alice@example.com".into() };
    Directory {
        users: vec![
            user("alice", &[("alice-hook", hook), ("alice-mail", mail)], &[("alice-hook", 0), ("alice-mail", 120)]),
            user("bob", &[], &[]),
            user("carol", &[("carol-slack", ContactKind::Slack { url: "http://127.0.0.1:9/s".into() })], &[]),
        ],
        ..Directory::default()
    }
}

/// alice on call every day from 09:00 UTC; nobody outside 09:00–17:00.
fn primary() -> Schedule {
    let start = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap().and_hms_opt(9, 0, 0).unwrap();
    Schedule {
        id: "primary".into(),
        time_zone: chrono_tz::UTC,
        layers: vec![Layer {
            id: "day".into(),
            users: vec!["alice".into()],
            time_zone: None,
            start,
            turn: Turn::Days(1),
            handoff: start.time(),
            restrictions: vec![crate::schedule::Restriction::Daily {
                from: start.time(),
                to: chrono::NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
            }],
            end: None,
        }],
        overrides: vec![],
    }
}

fn policy() -> Policy {
    Policy {
        id: "p".into(),
        repeat: 0,
        levels: vec![
            Level {
                targets: vec![Target::Schedule("primary".into()), Target::User("alice".into())],
                escalate_after: Duration::minutes(5),
            },
            Level { targets: vec![Target::User("carol".into())], escalate_after: Duration::minutes(10) },
        ],
    }
}

fn kinds(e: &Effects) -> Vec<&'static str> {
    e.timeline.iter().map(|(k, _)| k.as_str()).collect()
}

#[test]
fn opening_pages_each_person_once_with_their_rules_timed_from_now() {
    let (_, actions) = start(policy(), None, t0()).unwrap();
    let e = effects(&actions, &directory(), &[primary()], Cause::Opened, t0());
    assert_eq!(kinds(&e), ["paged"]);
    assert_eq!(e.timeline[0].1["via_schedule"], "primary");
    assert_eq!(
        e.notices,
        [
            Notice { user: "alice".into(), contact_method: "alice-hook".into(), channel: "webhook", due_at: t0() },
            Notice {
                user: "alice".into(),
                contact_method: "alice-mail".into(),
                channel: "email",
                due_at: t0() + Duration::minutes(2)
            },
        ]
    );
    assert_eq!(e.timers, [TimerRow { due_at: t0() + Duration::minutes(5), generation: 1, timer: Timer::Escalate }]);
    assert!(!e.retrigger);
}

#[test]
fn a_schedule_gap_is_recorded_and_direct_targets_still_paged() {
    let night = Utc.with_ymd_and_hms(2026, 3, 3, 23, 0, 0).unwrap();
    let (_, actions) = start(policy(), None, night).unwrap();
    let e = effects(&actions, &directory(), &[primary()], Cause::Opened, night);
    assert_eq!(kinds(&e), ["nobody_paged", "paged"]);
    assert_eq!(e.timeline[0].1["schedule"], "primary");
    assert_eq!((e.timeline[0].1["level"].clone(), e.timeline[0].1["pass"].clone()), (1.into(), 1.into()));
    assert_eq!(e.notices.len(), 2);
}

#[test]
fn a_level_that_reaches_nobody_says_so() {
    let mut p = policy();
    p.levels[0].targets = vec![Target::Schedule("primary".into())];
    let night = Utc.with_ymd_and_hms(2026, 3, 3, 23, 0, 0).unwrap();
    let (_, actions) = start(p, None, night).unwrap();
    let e = effects(&actions, &directory(), &[primary()], Cause::Opened, night);
    assert_eq!(kinds(&e), ["nobody_paged", "nobody_paged"]);
    assert!(e.notices.is_empty());
    assert_eq!(e.timers.len(), 1, "escalation continues to the next level");
}

#[test]
fn a_timer_escalation_is_marked_and_a_user_without_methods_is_reported() {
    let (mut state, _) = start(policy(), None, t0()).unwrap();
    state.policy.levels[1].targets = vec![Target::User("bob".into())];
    let later = t0() + Duration::minutes(5);
    let actions = crate::escalation::on_due(&mut state, 1, later);
    let e = effects(&actions, &directory(), &[primary()], Cause::Timer, later);
    assert_eq!(kinds(&e), ["escalated", "paged", "notification_failed"]);
    // People count from 1: the second level of the first pass.
    assert_eq!(e.timeline[0].1, serde_json::json!({"level": 2, "pass": 1}));
    assert_eq!(e.timeline[1].1["level"], 2);
    assert_eq!(e.timeline[1].1["pass"], 1);
    assert!(e.notices.is_empty());
}

#[test]
fn without_rules_every_method_fires_at_once() {
    let (mut state, _) = start(policy(), None, t0()).unwrap();
    let later = t0() + Duration::minutes(5);
    let actions = crate::escalation::on_due(&mut state, 1, later);
    let e = effects(&actions, &directory(), &[primary()], Cause::Timer, later);
    assert_eq!(
        e.notices,
        [Notice { user: "carol".into(), contact_method: "carol-slack".into(), channel: "slack", due_at: later }]
    );
}

#[test]
fn exhaustion_and_ack_timeout_reach_the_timeline() {
    let (mut state, _) = start(policy(), Some(Duration::minutes(30)), t0()).unwrap();
    let ack = crate::escalation::on_acknowledge(&mut state, t0());
    let e = effects(&ack, &directory(), &[primary()], Cause::Opened, t0());
    assert!(e.timeline.is_empty() && e.notices.is_empty());
    assert_eq!(e.timers[0].timer, Timer::AckTimeout);
    let g = state.generation;
    let fired = crate::escalation::on_ack_timeout(&mut state, g, t0() + Duration::minutes(30));
    let e = effects(&fired, &directory(), &[primary()], Cause::Timer, t0() + Duration::minutes(30));
    assert!(e.retrigger);
    assert_eq!(kinds(&e), ["ack_timeout", "paged"]);

    let mut p = policy();
    p.levels.truncate(1);
    let (mut state, _) = start(p, None, t0()).unwrap();
    let done = crate::escalation::on_due(&mut state, 1, t0() + Duration::minutes(5));
    let e = effects(&done, &directory(), &[primary()], Cause::Timer, t0() + Duration::minutes(5));
    assert_eq!(kinds(&e), ["escalation_exhausted"]);
}
