use super::*;
use crate::clock::{Clock, ManualClock};
use chrono::TimeZone;
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).single().unwrap()
}

fn mins(n: i64) -> Duration {
    Duration::minutes(n)
}

fn user(id: &str) -> Target {
    Target::User(id.to_owned())
}

fn schedule(id: &str) -> Target {
    Target::Schedule(id.to_owned())
}

/// The contract's `checkout-primary`: schedule `primary` for 5m, then carol
/// for 10m, two extra passes.
fn checkout_primary() -> Policy {
    Policy {
        id: "checkout-primary".into(),
        repeat: 2,
        levels: vec![
            Level { targets: vec![schedule("primary")], escalate_after: mins(5) },
            Level { targets: vec![user("carol")], escalate_after: mins(10) },
        ],
    }
}

fn page(level: usize, pass: u32) -> Action {
    let targets = checkout_primary().levels[level].targets.clone();
    Action::Page { level, pass, targets }
}

fn escalate_at(due: DateTime<Utc>, generation: u64) -> Action {
    Action::ScheduleNext { due, generation, timer: Timer::Escalate }
}

/// Fires the current escalation timer, whatever its due time.
fn due(s: &mut EscalationState, now: DateTime<Utc>) -> Vec<Action> {
    let generation = s.generation;
    on_due(s, generation, now)
}

/// Fires the current timer as an ack timeout.
fn ack_times_out(s: &mut EscalationState, now: DateTime<Utc>) -> Vec<Action> {
    let generation = s.generation;
    on_ack_timeout(s, generation, now)
}

fn is_page(a: &Action) -> bool {
    matches!(a, Action::Page { .. })
}

fn started(ack_timeout: Option<Duration>) -> EscalationState {
    start(checkout_primary(), ack_timeout, t0()).unwrap().0
}

// ---- validate ----

#[test]
fn validate_accepts_the_contract_policy() {
    assert_eq!(validate(&checkout_primary()), Ok(()));
}

#[test]
fn validate_names_the_offending_field() {
    let field = |p: &Policy| match validate(p) {
        Err(CoreError::Invalid { field, .. }) => field,
        other => panic!("expected Invalid, got {other:?}"),
    };
    let mut p = checkout_primary();
    p.levels.clear();
    assert_eq!(field(&p), "levels");

    let mut p = checkout_primary();
    p.levels[1].targets.clear();
    assert_eq!(field(&p), "levels[1].targets");

    let mut p = checkout_primary();
    p.levels[1].targets.push(user(" "));
    assert_eq!(field(&p), "levels[1].targets[1]");

    let mut p = checkout_primary();
    p.levels[1].escalate_after = Duration::zero();
    assert_eq!(field(&p), "levels[1].escalate_after");
    assert_eq!(validate(&p).unwrap_err().to_string(), "levels[1].escalate_after: must be greater than zero, got `0s`");

    let mut p = checkout_primary();
    p.levels[0].escalate_after = mins(-5);
    assert_eq!(field(&p), "levels[0].escalate_after");

    let mut p = checkout_primary();
    p.id = String::new();
    assert_eq!(field(&p), "id");
}

#[test]
fn start_rejects_invalid_policy_and_ack_timeout() {
    let mut p = checkout_primary();
    p.levels.clear();
    assert!(start(p, None, t0()).is_err());
    let err = start(checkout_primary(), Some(Duration::zero()), t0()).unwrap_err();
    assert!(matches!(err, CoreError::Invalid { ref field, .. } if field == "ack_timeout"), "{err}");
}

#[test]
fn targets_serialize_in_the_contract_shape() {
    let json = serde_json::to_value(vec![schedule("primary"), user("carol")]).unwrap();
    assert_eq!(json, serde_json::json!([{ "schedule": "primary" }, { "user": "carol" }]));
}

// ---- one rule at a time ----

#[test]
fn start_pages_level_zero_and_schedules_level_one() {
    let (state, actions) = start(checkout_primary(), None, t0()).unwrap();
    assert_eq!(actions, vec![page(0, 0), escalate_at(t0() + mins(5), state.generation)]);
    assert_eq!((state.status, state.pass, state.level), (EscState::Active, 0, 0));
    assert_eq!(state.next_due, Some(t0() + mins(5)));
}

#[test]
fn due_pages_the_next_level_with_its_own_delay() {
    let mut s = started(None);
    let g = s.generation;
    let actions = on_due(&mut s, g, t0() + mins(5));
    assert_eq!(actions, vec![page(1, 0), escalate_at(t0() + mins(15), s.generation)]);
    assert!(s.generation != g);
}

#[test]
fn after_the_last_level_the_next_pass_starts_at_level_zero() {
    let mut s = started(None);
    due(&mut s, t0() + mins(5));
    let actions = due(&mut s, t0() + mins(15));
    assert_eq!(actions, vec![page(0, 1), escalate_at(t0() + mins(20), s.generation)]);
}

#[test]
fn exhausted_after_the_last_pass() {
    let mut p = checkout_primary();
    p.repeat = 0;
    let (mut s, _) = start(p, None, t0()).unwrap();
    due(&mut s, t0() + mins(5));
    assert_eq!(due(&mut s, t0() + mins(15)), vec![Action::Exhausted]);
    assert_eq!((s.status, s.next_due), (EscState::Exhausted, None));
}

#[test]
fn stale_generation_is_ignored_and_leaves_state_untouched() {
    let mut s = started(None);
    let stale = s.generation;
    escalate_now(&mut s, t0() + mins(1));
    let before = s.clone();
    assert!(on_due(&mut s, stale, t0() + mins(5)).is_empty());
    assert!(ack_times_out(&mut s, t0() + mins(5)).is_empty(), "wrong timer kind");
    assert_eq!(s, before);
}

#[test]
fn a_current_timer_is_honoured_even_if_the_clock_lags() {
    let mut s = started(None);
    let actions = due(&mut s, t0() + mins(4));
    assert_eq!(actions.first(), Some(&page(1, 0)));
}

#[test]
fn acknowledge_stops_escalation() {
    let mut s = started(None);
    let g = s.generation;
    assert_eq!(on_acknowledge(&mut s, t0() + mins(2)), vec![Action::Cancelled]);
    assert_eq!((s.status, s.next_due), (EscState::Acknowledged, None));
    assert!(on_due(&mut s, g, t0() + mins(5)).is_empty());
}

#[test]
fn acknowledge_with_timeout_schedules_it() {
    let mut s = started(Some(mins(30)));
    let actions = on_acknowledge(&mut s, t0() + mins(2));
    let timeout = Action::ScheduleNext { due: t0() + mins(32), generation: s.generation, timer: Timer::AckTimeout };
    assert_eq!(actions, vec![timeout]);
}

#[test]
fn a_second_acknowledge_does_not_push_the_timeout_back() {
    let mut s = started(Some(mins(30)));
    on_acknowledge(&mut s, t0() + mins(2));
    let before = s.clone();
    assert!(on_acknowledge(&mut s, t0() + mins(20)).is_empty());
    assert_eq!(s, before);
}

#[test]
fn ack_timeout_retriggers_from_level_zero_pass_zero() {
    let mut s = started(Some(mins(30)));
    due(&mut s, t0() + mins(5));
    due(&mut s, t0() + mins(15)); // pass 1
    on_acknowledge(&mut s, t0() + mins(16));
    let actions = ack_times_out(&mut s, t0() + mins(46));
    assert_eq!(actions, vec![Action::ReTriggered, page(0, 0), escalate_at(t0() + mins(51), s.generation)]);
    assert_eq!((s.status, s.pass, s.level), (EscState::Active, 0, 0));
}

#[test]
fn acknowledging_an_exhausted_escalation_counts() {
    let mut p = checkout_primary();
    p.repeat = 0;
    p.levels.truncate(1);
    let (mut s, _) = start(p, Some(mins(30)), t0()).unwrap();
    due(&mut s, t0() + mins(5));
    assert_eq!(s.status, EscState::Exhausted);
    let actions = on_acknowledge(&mut s, t0() + mins(6));
    assert!(matches!(actions.as_slice(), [Action::ScheduleNext { timer: Timer::AckTimeout, .. }]));
    assert_eq!(s.status, EscState::Acknowledged);
}

#[test]
fn resolve_cancels_and_is_final() {
    let mut s = started(Some(mins(30)));
    let g = s.generation;
    assert_eq!(on_resolve(&mut s, t0() + mins(1)), vec![Action::Cancelled]);
    assert_eq!((s.status, s.next_due), (EscState::Resolved, None));
    let before = s.clone();
    assert!(on_due(&mut s, g, t0() + mins(5)).is_empty());
    assert!(on_acknowledge(&mut s, t0() + mins(6)).is_empty());
    assert!(escalate_now(&mut s, t0() + mins(7)).is_empty());
    assert!(reassign(&mut s, vec![user("dave")], t0() + mins(8)).unwrap().is_empty());
    assert!(on_resolve(&mut s, t0() + mins(9)).is_empty());
    assert_eq!(s, before);
}

#[test]
fn escalate_now_takes_the_next_step_immediately() {
    let mut s = started(None);
    let actions = escalate_now(&mut s, t0() + mins(1));
    assert_eq!(actions, vec![page(1, 0), escalate_at(t0() + mins(11), s.generation)]);
}

#[test]
fn escalate_now_resumes_an_acknowledged_escalation() {
    let mut s = started(Some(mins(30)));
    on_acknowledge(&mut s, t0() + mins(1));
    let ack_timer = s.generation;
    let actions = escalate_now(&mut s, t0() + mins(2));
    assert_eq!(actions, vec![page(1, 0), escalate_at(t0() + mins(12), s.generation)]);
    assert_eq!(s.status, EscState::Active);
    assert!(on_ack_timeout(&mut s, ack_timer, t0() + mins(31)).is_empty());
}

#[test]
fn escalate_now_with_nothing_left() {
    let mut p = checkout_primary();
    p.repeat = 0;
    let (mut s, _) = start(p, None, t0()).unwrap();
    escalate_now(&mut s, t0() + mins(1));
    // Active on the last step: escalating now is exhaustion, now.
    assert_eq!(escalate_now(&mut s, t0() + mins(2)), vec![Action::Exhausted]);
    // Exhausted: nothing to do.
    let before = s.clone();
    assert!(escalate_now(&mut s, t0() + mins(3)).is_empty());
    assert_eq!(s, before);
    // Acknowledged with no step left: the acknowledgement stands.
    on_acknowledge(&mut s, t0() + mins(4));
    let before = s.clone();
    assert!(escalate_now(&mut s, t0() + mins(5)).is_empty());
    assert_eq!(s, before);
}

#[test]
fn reassign_pages_the_new_targets_and_restarts_the_clock() {
    let mut s = started(None);
    due(&mut s, t0() + mins(5)); // level 1 (10m)
    let old = s.generation;
    let actions = reassign(&mut s, vec![user("dave")], t0() + mins(8)).unwrap();
    let expected = vec![
        Action::Page { level: 1, pass: 0, targets: vec![user("dave")] },
        escalate_at(t0() + mins(18), s.generation),
    ];
    assert_eq!(actions, expected);
    assert!(on_due(&mut s, old, t0() + mins(15)).is_empty());
    // Then escalation continues with the policy's next step.
    assert_eq!(due(&mut s, t0() + mins(18)).first(), Some(&page(0, 1)));
}

#[test]
fn reassign_reactivates_acknowledged_and_exhausted() {
    let mut s = started(Some(mins(30)));
    on_acknowledge(&mut s, t0() + mins(1));
    let actions = reassign(&mut s, vec![user("dave")], t0() + mins(2)).unwrap();
    assert_eq!(s.status, EscState::Active);
    assert_eq!(actions.get(1), Some(&escalate_at(t0() + mins(7), s.generation)));

    let mut p = checkout_primary();
    p.repeat = 0;
    p.levels.truncate(1);
    let (mut s, _) = start(p, None, t0()).unwrap();
    due(&mut s, t0() + mins(5));
    assert_eq!(s.status, EscState::Exhausted);
    reassign(&mut s, vec![user("dave")], t0() + mins(6)).unwrap();
    assert_eq!(s.status, EscState::Active);
    // The new assignee gets the level's delay, then it is exhausted again.
    assert_eq!(due(&mut s, t0() + mins(11)), vec![Action::Exhausted]);
}

#[test]
fn reassign_needs_targets() {
    let mut s = started(None);
    let before = s.clone();
    let err = reassign(&mut s, Vec::new(), t0()).unwrap_err();
    assert!(matches!(err, CoreError::Invalid { ref field, .. } if field == "targets"), "{err}");
    assert!(reassign(&mut s, vec![user("")], t0()).is_err());
    assert_eq!(s, before);
}

#[test]
fn huge_delays_saturate_instead_of_panicking() {
    let mut p = checkout_primary();
    p.levels[0].escalate_after = Duration::MAX;
    let (s, actions) = start(p, Some(Duration::MAX), DateTime::<Utc>::MAX_UTC).unwrap();
    assert_eq!(s.next_due, Some(DateTime::<Utc>::MAX_UTC));
    assert_eq!(actions.len(), 2);
}

#[test]
fn a_damaged_state_never_panics() {
    let mut s = started(None);
    s.level = 99;
    s.pass = u32::MAX;
    s.generation = u64::MAX;
    assert_eq!(on_due(&mut s, u64::MAX, t0()), vec![Action::Exhausted]);
    assert_eq!(s.generation, 0);

    let mut s = started(None);
    s.policy.levels.clear();
    let actions = reassign(&mut s, vec![user("dave")], t0()).unwrap();
    assert_eq!(actions.last(), Some(&Action::Exhausted));
    assert!(escalate_now(&mut s, t0()).is_empty());
}

#[test]
fn state_round_trips_through_json() {
    let mut s = started(Some(mins(30)));
    due(&mut s, t0() + mins(5));
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(serde_json::from_str::<EscalationState>(&json).unwrap(), s);
    let action = escalate_at(t0(), 7);
    let json = serde_json::to_value(&action).unwrap();
    assert_eq!(json["kind"], "schedule_next");
    assert_eq!(json["timer"], "escalate");
    assert_eq!(serde_json::from_value::<Action>(json).unwrap(), action);
}

// ---- scenarios, driven like the engine drives them ----

/// A stand-in for the engine: keeps every timer it was ever asked to store
/// (stale ones included, as outbox rows would be) and fires them in due
/// order as a manual clock moves.
struct Sim {
    clock: ManualClock,
    state: EscalationState,
    timers: Vec<(DateTime<Utc>, u64, Timer)>,
    /// Everything observable, with the instant it happened.
    log: Vec<(DateTime<Utc>, Action)>,
}

impl Sim {
    fn new(policy: Policy, ack_timeout: Option<Duration>) -> Self {
        let clock = ManualClock::new(t0());
        let (state, actions) = start(policy, ack_timeout, clock.now()).unwrap();
        let mut sim = Sim { clock, state, timers: Vec::new(), log: Vec::new() };
        sim.record(actions);
        sim
    }

    fn record(&mut self, actions: Vec<Action>) {
        let now = self.clock.now();
        for action in actions {
            if let Action::ScheduleNext { due, generation, timer } = action {
                self.timers.push((due, generation, timer));
            } else {
                self.log.push((now, action));
            }
        }
    }

    /// Moves the clock to `to`, firing every timer that falls due on the way
    /// at its due time.
    fn run_until(&mut self, to: DateTime<Utc>) {
        while let Some(i) = self.next_timer(to) {
            let (due, generation, timer) = self.timers.remove(i);
            self.clock.set(due);
            let actions = on_timer(&mut self.state, timer, generation, due);
            self.record(actions);
        }
        self.clock.set(to);
    }

    /// The engine coming back at `at` after being down: every row that fell
    /// due meanwhile is claimed at once and fired at `at`.
    fn restart_at(&mut self, at: DateTime<Utc>) {
        self.clock.set(at);
        while let Some(i) = self.next_timer(at) {
            let (_, generation, timer) = self.timers.remove(i);
            let actions = on_timer(&mut self.state, timer, generation, at);
            self.record(actions);
        }
    }

    fn next_timer(&self, until: DateTime<Utc>) -> Option<usize> {
        let due = self.timers.iter().enumerate().filter(|(_, (due, ..))| *due <= until);
        due.min_by_key(|(_, (due, ..))| *due).map(|(i, _)| i)
    }

    fn at(&mut self, offset: Duration, event: impl FnOnce(&mut EscalationState, DateTime<Utc>) -> Vec<Action>) {
        self.run_until(t0() + offset);
        let actions = event(&mut self.state, self.clock.now());
        self.record(actions);
    }

    /// The log as (minutes after t0, action).
    fn timeline(&self) -> Vec<(i64, Action)> {
        self.log.iter().map(|(at, action)| ((*at - t0()).num_minutes(), action.clone())).collect()
    }
}

#[test]
fn scenario_two_levels_with_repeat_until_exhausted() {
    let mut sim = Sim::new(checkout_primary(), Some(mins(30)));
    sim.run_until(t0() + Duration::hours(3));
    assert_eq!(
        sim.timeline(),
        vec![
            (0, page(0, 0)),
            (5, page(1, 0)),
            (15, page(0, 1)),
            (20, page(1, 1)),
            (30, page(0, 2)),
            (35, page(1, 2)),
            (45, Action::Exhausted),
        ]
    );
    assert_eq!(sim.state.status, EscState::Exhausted);
}

#[test]
fn scenario_ack_in_the_middle_stops_paging() {
    let mut sim = Sim::new(checkout_primary(), None);
    sim.at(mins(7), on_acknowledge);
    sim.run_until(t0() + Duration::hours(3));
    assert_eq!(sim.timeline(), vec![(0, page(0, 0)), (5, page(1, 0)), (7, Action::Cancelled)]);
    assert_eq!(sim.state.status, EscState::Acknowledged);
}

#[test]
fn scenario_ack_timeout_repages_from_the_start() {
    let mut sim = Sim::new(checkout_primary(), Some(mins(30)));
    sim.at(mins(7), on_acknowledge);
    sim.run_until(t0() + mins(45));
    assert_eq!(
        sim.timeline(),
        vec![(0, page(0, 0)), (5, page(1, 0)), (37, Action::ReTriggered), (37, page(0, 0)), (42, page(1, 0)),]
    );
    // The stale timer of the first walk (level 1 → pass 1 at 15m) did nothing.
    assert_eq!(sim.state.pass, 0);
}

#[test]
fn scenario_resolve_during_escalation_cancels_everything() {
    let mut sim = Sim::new(checkout_primary(), Some(mins(30)));
    sim.at(mins(6), on_resolve);
    sim.run_until(t0() + Duration::days(1));
    assert_eq!(sim.timeline(), vec![(0, page(0, 0)), (5, page(1, 0)), (6, Action::Cancelled)]);
}

#[test]
fn scenario_resolve_after_ack_cancels_the_ack_timeout() {
    let mut sim = Sim::new(checkout_primary(), Some(mins(30)));
    sim.at(mins(2), on_acknowledge);
    sim.at(mins(10), on_resolve);
    sim.run_until(t0() + Duration::days(1));
    assert_eq!(sim.timeline(), vec![(0, page(0, 0)), (10, Action::Cancelled)]);
}

#[test]
fn scenario_restart_between_two_levels_fires_once_promptly() {
    let mut sim = Sim::new(checkout_primary(), None);
    // Down from t0+1m to t0+50m: level 1 (5m), pass 1 (15m, 20m), pass 2
    // (30m, 35m) and exhaustion (45m) all fell due meanwhile.
    sim.restart_at(t0() + mins(50));
    assert_eq!(sim.timeline(), vec![(0, page(0, 0)), (50, page(1, 0))]);
    // The walk carries on from there, each level with its full delay.
    sim.run_until(t0() + mins(62));
    assert_eq!(sim.timeline(), vec![(0, page(0, 0)), (50, page(1, 0)), (60, page(0, 1))]);
}

#[test]
fn scenario_escalate_now_then_reassign() {
    let mut sim = Sim::new(checkout_primary(), None);
    sim.at(mins(1), escalate_now);
    sim.at(mins(3), |s, now| reassign(s, vec![user("dave")], now).unwrap());
    sim.run_until(t0() + mins(14));
    assert_eq!(
        sim.timeline(),
        vec![
            (0, page(0, 0)),
            (1, page(1, 0)),
            (3, Action::Page { level: 1, pass: 0, targets: vec![user("dave")] }),
            (13, page(0, 1)),
        ]
    );
}

// ---- property: any sequence of calls ----

#[derive(Debug, Clone)]
enum Op {
    /// Fire the `n`th timer ever scheduled (current or stale).
    Fire(usize),
    /// Fire with a made-up generation.
    FireBogus(u64, bool),
    Ack,
    Resolve,
    EscalateNow,
    Reassign(bool),
    /// Let time pass.
    Wait(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0usize..64).prop_map(Op::Fire),
        1 => (any::<u64>(), any::<bool>()).prop_map(|(g, t)| Op::FireBogus(g, t)),
        2 => Just(Op::Ack),
        1 => Just(Op::Resolve),
        1 => Just(Op::EscalateNow),
        1 => any::<bool>().prop_map(Op::Reassign),
        2 => (-60i64..7_200).prop_map(Op::Wait),
    ]
}

fn policy() -> impl Strategy<Value = Policy> {
    let level = (1usize..3, 1i64..3_600).prop_map(|(n, secs)| Level {
        targets: (0..n).map(|i| user(&format!("u{i}"))).collect(),
        escalate_after: Duration::seconds(secs),
    });
    (0u32..4, proptest::collection::vec(level, 1..4)).prop_map(|(repeat, levels)| Policy {
        id: "p".into(),
        repeat,
        levels,
    })
}

fn apply(state: &mut EscalationState, op: &Op, timers: &[(u64, Timer)], now: DateTime<Utc>) -> Vec<Action> {
    match op {
        Op::Fire(n) => match timers.get(n % timers.len().max(1)) {
            Some((generation, timer)) => on_timer(state, *timer, *generation, now),
            None => Vec::new(),
        },
        Op::FireBogus(generation, escalate) => {
            let timer = if *escalate { Timer::Escalate } else { Timer::AckTimeout };
            on_timer(state, timer, *generation, now)
        }
        Op::Ack => on_acknowledge(state, now),
        Op::Resolve => on_resolve(state, now),
        Op::EscalateNow => escalate_now(state, now),
        Op::Reassign(empty) => {
            let targets = if *empty { Vec::new() } else { vec![user("dave")] };
            reassign(state, targets, now).unwrap_or_default()
        }
        Op::Wait(_) => Vec::new(),
    }
}

fn collect(actions: &[Action], timers: &mut Vec<(u64, Timer)>) {
    for a in actions {
        if let Action::ScheduleNext { generation, timer, .. } = a {
            timers.push((*generation, *timer));
        }
    }
}

fn check_invariants(state: &EscalationState) -> Result<(), TestCaseError> {
    match state.status {
        EscState::Active => {
            prop_assert!(state.next_due.is_some());
            prop_assert!(state.level < state.policy.levels.len());
            prop_assert!(state.pass <= state.policy.repeat);
        }
        EscState::Resolved | EscState::Exhausted => prop_assert!(state.next_due.is_none()),
        EscState::Acknowledged => prop_assert_eq!(state.next_due.is_some(), state.ack_timeout.is_some()),
    }
    Ok(())
}

proptest! {
    #[test]
    fn any_sequence_is_safe_and_resolved_is_final(
        policy in policy(),
        ack_timeout in proptest::option::of(1i64..7_200),
        ops in proptest::collection::vec(op(), 0..60),
    ) {
        let mut now = t0();
        let (mut state, actions) = start(policy, ack_timeout.map(Duration::seconds), now).unwrap();
        let mut timers: Vec<(u64, Timer)> = Vec::new();
        collect(&actions, &mut timers);
        for op in &ops {
            if let Op::Wait(secs) = op {
                now += Duration::seconds(*secs);
            }
            let before = state.clone();
            let actions = apply(&mut state, op, &timers, now);
            check_invariants(&state)?;
            // Ignored means untouched; applied means a new generation.
            if actions.is_empty() {
                prop_assert_eq!(&state, &before);
            } else {
                prop_assert_ne!(state.generation, before.generation);
            }
            // After resolve, nothing pages and nothing changes.
            if before.status == EscState::Resolved {
                prop_assert!(actions.is_empty());
                prop_assert!(!actions.iter().any(is_page));
            }
            // At most one page and one timer per call; a timer belongs to the
            // state's current generation and its pending due time.
            prop_assert!(actions.iter().filter(|a| is_page(a)).count() <= 1);
            let schedules: Vec<_> = actions.iter().filter_map(|a| match a {
                Action::ScheduleNext { due, generation, .. } => Some((*due, *generation)),
                _ => None,
            }).collect();
            prop_assert!(schedules.len() <= 1);
            if let Some((due, generation)) = schedules.first() {
                prop_assert_eq!(*generation, state.generation);
                prop_assert_eq!(Some(*due), state.next_due);
            }
            collect(&actions, &mut timers);
        }
        let json = serde_json::to_string(&state).unwrap();
        prop_assert_eq!(serde_json::from_str::<EscalationState>(&json).unwrap(), state);
    }
}

#[test]
fn upcoming_names_the_level_and_instant_the_pending_timer_pages() {
    let mut s = started(Some(mins(30)));
    let next = upcoming(&s).unwrap();
    assert_eq!((next.level, next.pass, next.at, next.cause), (1, 0, t0() + mins(5), NextCause::Escalate));
    assert_eq!(next.targets, [user("carol")]);

    due(&mut s, t0() + mins(5));
    let next = upcoming(&s).unwrap();
    assert_eq!((next.level, next.pass, next.at, next.cause), (0, 1, t0() + mins(15), NextCause::Repeat));
    assert_eq!(next.targets, [schedule("primary")]);

    on_acknowledge(&mut s, t0() + mins(6));
    let next = upcoming(&s).unwrap();
    assert_eq!((next.level, next.pass, next.at, next.cause), (0, 0, t0() + mins(36), NextCause::AckTimeout));

    on_resolve(&mut s, t0() + mins(7));
    assert_eq!(upcoming(&s), None);
}

#[test]
fn upcoming_is_none_when_only_exhaustion_or_nothing_is_pending() {
    let mut s = started(None);
    for at in [5, 15, 20, 30, 35] {
        due(&mut s, t0() + mins(at));
    }
    // Pass 2, level 1: its timer only exhausts the escalation.
    assert_eq!((s.pass, s.level, s.status), (2, 1, EscState::Active));
    assert_eq!(upcoming(&s), None);
    due(&mut s, t0() + mins(45));
    assert_eq!(s.status, EscState::Exhausted);
    assert_eq!(upcoming(&s), None);

    let mut acked = started(None);
    on_acknowledge(&mut acked, t0());
    assert_eq!(upcoming(&acked), None, "no ack timeout: nothing pending");
}
