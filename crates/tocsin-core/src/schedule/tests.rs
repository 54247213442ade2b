//! Hand-computed expectations (every UTC instant below was worked out from
//! the zone's published rules, not from this code) and property tests.

use super::*;
use chrono::Weekday::{Fri, Mon};
use chrono::{NaiveDate, Offset};
use chrono_tz::Tz;

const NY: Tz = Tz::America__New_York;
const BERLIN: Tz = Tz::Europe__Berlin;
const LORD_HOWE: Tz = Tz::Australia__Lord_Howe;

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn hm(s: &str) -> NaiveTime {
    NaiveTime::parse_from_str(s, "%H:%M").unwrap()
}

/// A layer whose handoff agrees with its start, as validation requires.
fn layer(users: &[&str], start: &str, turn: Turn) -> Layer {
    let start: NaiveDateTime = start.parse().unwrap();
    Layer {
        id: "l".into(),
        users: users.iter().map(|u| (*u).to_owned()).collect(),
        time_zone: None,
        start,
        turn,
        handoff: start.time(),
        restrictions: Vec::new(),
        end: None,
    }
}

fn schedule(tz: Tz, layers: Vec<Layer>) -> Schedule {
    Schedule { id: "s".into(), time_zone: tz, layers, overrides: Vec::new() }
}

fn daily(from: &str, to: &str) -> Restriction {
    Restriction::Daily { from: hm(from), to: hm(to) }
}

fn weekly(from: (Weekday, &str), to: (Weekday, &str)) -> Restriction {
    Restriction::Weekly { from: (from.0, hm(from.1)), to: (to.0, hm(to.1)) }
}

fn over(user: &str, start: &str, end: &str, created_seq: u64) -> Override {
    Override { user: user.into(), start: utc(start), end: utc(end), created_seq }
}

fn segments(s: &Schedule, from: &str, to: &str) -> Vec<Segment> {
    assert_eq!(validate(s), Ok(()));
    final_schedule(s, utc(from), utc(to)).unwrap()
}

fn expect(rows: &[(&str, &str, &str)]) -> Vec<Segment> {
    rows.iter().map(|(start, end, user)| Segment { start: utc(start), end: utc(end), user: (*user).into() }).collect()
}

/// A two-user daily rotation: its segments are exactly its turns, so the
/// segment starts are the handoff instants.
fn daily_pair(tz: Tz, start: &str) -> Schedule {
    schedule(tz, vec![layer(&["alice", "bob"], start, Turn::Days(1))])
}

fn handoffs(s: &Schedule, from: &str, to: &str) -> Vec<DateTime<Utc>> {
    segments(s, from, to).iter().skip(1).map(|seg| seg.start).collect()
}

fn instants(rows: &[&str]) -> Vec<DateTime<Utc>> {
    rows.iter().map(|r| utc(r)).collect()
}

// --- Wall-time rule -------------------------------------------------------

#[test]
fn wall_time_rule_single_ambiguous_nonexistent() {
    let at = |tz, s: &str| wall::resolve(tz, s.parse().unwrap());
    assert_eq!(at(NY, "2026-03-07T02:30:00"), Some(utc("2026-03-07T07:30:00Z")));
    // Spring forward: 02:00–03:00 does not exist; the gap ends at 03:00 EDT.
    assert_eq!(at(NY, "2026-03-08T02:30:00"), Some(utc("2026-03-08T07:00:00Z")));
    assert_eq!(at(NY, "2026-03-08T02:00:00"), Some(utc("2026-03-08T07:00:00Z")));
    // Fall back: 01:00–02:00 happens twice; the first (EDT) occurrence.
    assert_eq!(at(NY, "2026-11-01T01:30:00"), Some(utc("2026-11-01T05:30:00Z")));
    // Lord Howe moves by 30 minutes: 02:00–02:30 skipped, 01:30–02:00 twice.
    assert_eq!(at(LORD_HOWE, "2026-10-04T02:15:00"), Some(utc("2026-10-03T15:30:00Z")));
    assert_eq!(at(LORD_HOWE, "2026-04-05T01:45:00"), Some(utc("2026-04-04T14:45:00Z")));
    // A whole skipped day: Samoa jumped from 2011-12-29 to 2011-12-31.
    assert_eq!(at(Tz::Pacific__Apia, "2011-12-30T09:00:00"), Some(utc("2011-12-30T10:00:00Z")));
}

// --- Rotations across DST ---------------------------------------------------

#[test]
fn weekly_rotation_with_weekday_restriction_across_new_york_spring_forward() {
    let mut l = layer(&["alice", "bob"], "2026-03-02T09:00:00", Turn::Weeks(1));
    l.restrictions = vec![weekly((Mon, "09:00"), (Fri, "17:00"))];
    let s = schedule(NY, vec![l]);
    assert_eq!(
        segments(&s, "2026-03-01T00:00:00Z", "2026-03-21T00:00:00Z"),
        expect(&[
            ("2026-03-02T14:00:00Z", "2026-03-06T22:00:00Z", "alice"), // EST
            ("2026-03-09T13:00:00Z", "2026-03-13T21:00:00Z", "bob"),   // EDT from 03-08
            ("2026-03-16T13:00:00Z", "2026-03-20T21:00:00Z", "alice"),
        ])
    );
}

#[test]
fn contract_example_with_override_across_the_weekend() {
    let mut l = layer(&["alice", "bob"], "2026-03-02T09:00:00", Turn::Weeks(1));
    l.restrictions = vec![weekly((Mon, "09:00"), (Fri, "17:00"))];
    let mut s = schedule(NY, vec![l]);
    s.overrides = vec![over("carol", "2026-03-06T18:00:00Z", "2026-03-09T09:00:00Z", 1)];
    assert_eq!(
        segments(&s, "2026-03-02T00:00:00Z", "2026-03-14T00:00:00Z"),
        expect(&[
            ("2026-03-02T14:00:00Z", "2026-03-06T18:00:00Z", "alice"),
            ("2026-03-06T18:00:00Z", "2026-03-09T09:00:00Z", "carol"),
            // 09:00Z–13:00Z on Monday: the override ended, the window is not open yet.
            ("2026-03-09T13:00:00Z", "2026-03-13T21:00:00Z", "bob"),
        ])
    );
}

#[test]
fn daily_handoff_keeps_new_york_wall_time_across_both_transitions() {
    let spring = daily_pair(NY, "2026-03-06T09:00:00");
    assert_eq!(
        segments(&spring, "2026-03-06T00:00:00Z", "2026-03-10T00:00:00Z"),
        expect(&[
            ("2026-03-06T14:00:00Z", "2026-03-07T14:00:00Z", "alice"),
            ("2026-03-07T14:00:00Z", "2026-03-08T13:00:00Z", "bob"), // a 23-hour day
            ("2026-03-08T13:00:00Z", "2026-03-09T13:00:00Z", "alice"),
            ("2026-03-09T13:00:00Z", "2026-03-10T00:00:00Z", "bob"),
        ])
    );
    let fall = daily_pair(NY, "2026-10-30T09:00:00");
    assert_eq!(
        handoffs(&fall, "2026-10-30T00:00:00Z", "2026-11-03T00:00:00Z"),
        instants(&["2026-10-31T13:00:00Z", "2026-11-01T14:00:00Z", "2026-11-02T14:00:00Z"])
    );
}

#[test]
fn daily_handoff_keeps_berlin_wall_time_across_both_transitions() {
    let spring = daily_pair(BERLIN, "2026-03-27T09:00:00");
    assert_eq!(
        handoffs(&spring, "2026-03-27T00:00:00Z", "2026-03-31T00:00:00Z"),
        instants(&["2026-03-28T08:00:00Z", "2026-03-29T07:00:00Z", "2026-03-30T07:00:00Z"])
    );
    let fall = daily_pair(BERLIN, "2026-10-23T09:00:00");
    assert_eq!(
        handoffs(&fall, "2026-10-23T00:00:00Z", "2026-10-27T00:00:00Z"),
        instants(&["2026-10-24T07:00:00Z", "2026-10-25T08:00:00Z", "2026-10-26T08:00:00Z"])
    );
}

#[test]
fn daily_handoff_keeps_lord_howe_wall_time_across_half_hour_shifts() {
    // DST ends 2026-04-05 (+11:00 → +10:30), starts 2026-10-04 (+10:30 → +11:00).
    let autumn = daily_pair(LORD_HOWE, "2026-04-03T09:00:00");
    assert_eq!(
        segments(&autumn, "2026-04-02T00:00:00Z", "2026-04-05T22:30:00Z"),
        expect(&[
            ("2026-04-02T22:00:00Z", "2026-04-03T22:00:00Z", "alice"),
            ("2026-04-03T22:00:00Z", "2026-04-04T22:30:00Z", "bob"), // 24.5 hours
            ("2026-04-04T22:30:00Z", "2026-04-05T22:30:00Z", "alice"),
        ])
    );
    let spring = daily_pair(LORD_HOWE, "2026-10-02T09:00:00");
    assert_eq!(
        handoffs(&spring, "2026-10-01T00:00:00Z", "2026-10-05T00:00:00Z"),
        instants(&["2026-10-02T22:30:00Z", "2026-10-03T22:00:00Z", "2026-10-04T22:00:00Z"])
    );
}

#[test]
fn handoff_at_a_nonexistent_wall_time_happens_when_the_gap_ends() {
    let s = daily_pair(NY, "2026-03-07T02:30:00");
    assert_eq!(
        handoffs(&s, "2026-03-07T00:00:00Z", "2026-03-10T00:00:00Z"),
        instants(&["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"])
    );
    assert_eq!(on_call_at(&s, utc("2026-03-08T06:59:59Z")).as_deref(), Some("alice"));
    assert_eq!(on_call_at(&s, utc("2026-03-08T07:00:00Z")).as_deref(), Some("bob"));

    let lh = daily_pair(LORD_HOWE, "2026-10-03T02:15:00");
    assert_eq!(
        handoffs(&lh, "2026-10-02T00:00:00Z", "2026-10-05T00:00:00Z"),
        instants(&["2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"])
    );
}

#[test]
fn handoff_at_an_ambiguous_wall_time_uses_its_first_occurrence() {
    let s = daily_pair(NY, "2026-10-31T01:30:00");
    assert_eq!(
        segments(&s, "2026-10-31T00:00:00Z", "2026-11-03T00:00:00Z"),
        expect(&[
            ("2026-10-31T05:30:00Z", "2026-11-01T05:30:00Z", "alice"), // 01:30 EDT both days
            ("2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z", "bob"),   // 25 hours, to 01:30 EST
            ("2026-11-02T06:30:00Z", "2026-11-03T00:00:00Z", "alice"),
        ])
    );
    let lh = daily_pair(LORD_HOWE, "2026-04-04T01:45:00");
    assert_eq!(
        handoffs(&lh, "2026-04-03T00:00:00Z", "2026-04-06T00:00:00Z"),
        instants(&["2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"])
    );
}

#[test]
fn anchor_at_a_nonexistent_time_starts_when_the_gap_ends() {
    let s = schedule(NY, vec![layer(&["alice"], "2026-03-08T02:30:00", Turn::Days(1))]);
    assert_eq!(
        segments(&s, "2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z"),
        expect(&[("2026-03-08T07:00:00Z", "2026-03-09T00:00:00Z", "alice")])
    );
}

#[test]
fn hourly_turns_keep_their_length_and_shift_on_the_wall_clock() {
    // 09:00 / 21:00 EST become 10:00 / 22:00 EDT: turns are 12 absolute hours.
    let s = schedule(NY, vec![layer(&["alice", "bob"], "2026-03-07T09:00:00", Turn::Hours(12))]);
    assert_eq!(
        handoffs(&s, "2026-03-07T14:00:00Z", "2026-03-09T03:00:00Z"),
        instants(&["2026-03-08T02:00:00Z", "2026-03-08T14:00:00Z", "2026-03-09T02:00:00Z"])
    );
}

#[test]
fn distant_anchor_counts_turns_since_the_anchor() {
    // 2026-01-05 to 2026-03-08 is 62 days: turn 62 of three users is carol's.
    let s = schedule(NY, vec![layer(&["alice", "bob", "carol"], "2026-01-05T09:00:00", Turn::Days(1))]);
    assert_eq!(on_call_at(&s, utc("2026-03-08T12:59:59Z")).as_deref(), Some("bob"));
    assert_eq!(on_call_at(&s, utc("2026-03-08T13:00:00Z")).as_deref(), Some("carol"));
    // Two-week turns: 2026-01-05 + 8 weeks = 2026-03-02, turn 4 → bob.
    let w = schedule(NY, vec![layer(&["alice", "bob", "carol"], "2026-01-05T09:00:00", Turn::Weeks(2))]);
    assert_eq!(on_call_at(&w, utc("2026-03-02T13:59:59Z")).as_deref(), Some("alice"));
    assert_eq!(on_call_at(&w, utc("2026-03-02T14:00:00Z")).as_deref(), Some("bob"));
}

// --- Restrictions, layers, overrides -----------------------------------------

#[test]
fn daily_restriction_wraps_midnight_including_a_short_night() {
    let mut l = layer(&["alice"], "2026-03-01T00:00:00", Turn::Days(1));
    l.restrictions = vec![daily("22:00", "06:00")];
    let s = schedule(NY, vec![l]);
    assert_eq!(
        segments(&s, "2026-03-07T05:00:00Z", "2026-03-09T04:00:00Z"),
        expect(&[
            ("2026-03-07T05:00:00Z", "2026-03-07T11:00:00Z", "alice"), // tail of Friday's night
            ("2026-03-08T03:00:00Z", "2026-03-08T10:00:00Z", "alice"), // 22:00 EST → 06:00 EDT: 7 hours
            ("2026-03-09T02:00:00Z", "2026-03-09T04:00:00Z", "alice"),
        ])
    );
}

#[test]
fn restriction_edges_at_nonexistent_and_ambiguous_times_follow_the_wall_time_rule() {
    let mut l = layer(&["alice"], "2026-03-01T00:00:00", Turn::Days(1));
    l.restrictions = vec![daily("02:30", "06:00"), daily("01:30", "01:45")];
    let s = schedule(NY, vec![l]);
    // 02:30 does not exist on 2026-03-08: the window opens when the gap ends.
    assert_eq!(
        segments(&s, "2026-03-08T06:00:00Z", "2026-03-08T12:00:00Z"),
        expect(&[
            ("2026-03-08T06:30:00Z", "2026-03-08T06:45:00Z", "alice"), // 01:30–01:45 EST
            ("2026-03-08T07:00:00Z", "2026-03-08T10:00:00Z", "alice"), // 03:00–06:00 EDT
        ])
    );
    // 01:30–01:45 happens twice on 2026-11-01: the window is its first
    // occurrence only, from 01:30 EDT to the first 01:45.
    assert_eq!(
        segments(&s, "2026-11-01T05:00:00Z", "2026-11-01T12:00:00Z"),
        expect(&[
            ("2026-11-01T05:30:00Z", "2026-11-01T05:45:00Z", "alice"),
            ("2026-11-01T07:30:00Z", "2026-11-01T11:00:00Z", "alice"), // 02:30–06:00 EST
        ])
    );
}

#[test]
fn weekly_restriction_wraps_the_week() {
    let mut l = layer(&["alice"], "2026-03-02T00:00:00", Turn::Weeks(1));
    l.restrictions = vec![weekly((Fri, "17:00"), (Mon, "09:00"))];
    let s = schedule(Tz::UTC, vec![l]);
    assert_eq!(
        segments(&s, "2026-03-02T00:00:00Z", "2026-03-16T00:00:00Z"),
        expect(&[
            ("2026-03-02T00:00:00Z", "2026-03-02T09:00:00Z", "alice"),
            ("2026-03-06T17:00:00Z", "2026-03-09T09:00:00Z", "alice"),
            ("2026-03-13T17:00:00Z", "2026-03-16T00:00:00Z", "alice"),
        ])
    );
}

#[test]
fn restrictions_never_shift_whose_turn_it_is() {
    // Handoff at 12:00 inside a 06:00–18:00 window: the turn changes mid-window,
    // and each day's window shows whoever's turn the rotation has reached.
    let mut l = layer(&["alice", "bob"], "2026-03-02T12:00:00", Turn::Days(1));
    l.restrictions = vec![daily("06:00", "18:00")];
    let s = schedule(Tz::UTC, vec![l]);
    assert_eq!(
        segments(&s, "2026-03-02T00:00:00Z", "2026-03-04T00:00:00Z"),
        expect(&[
            ("2026-03-02T12:00:00Z", "2026-03-02T18:00:00Z", "alice"),
            ("2026-03-03T06:00:00Z", "2026-03-03T12:00:00Z", "alice"),
            ("2026-03-03T12:00:00Z", "2026-03-03T18:00:00Z", "bob"),
        ])
    );
}

#[test]
fn later_layer_covers_nights_and_earlier_layer_shows_through_its_holes() {
    let base = layer(&["alice", "bob"], "2026-03-02T09:00:00", Turn::Weeks(1));
    let mut nights = layer(&["carol"], "2026-03-01T00:00:00", Turn::Days(1));
    nights.restrictions = vec![daily("22:00", "06:00")];
    let s = schedule(NY, vec![base.clone(), nights.clone()]);
    assert_eq!(
        segments(&s, "2026-03-02T14:00:00Z", "2026-03-04T14:00:00Z"),
        expect(&[
            ("2026-03-02T14:00:00Z", "2026-03-03T03:00:00Z", "alice"),
            ("2026-03-03T03:00:00Z", "2026-03-03T11:00:00Z", "carol"),
            ("2026-03-03T11:00:00Z", "2026-03-04T03:00:00Z", "alice"),
            ("2026-03-04T03:00:00Z", "2026-03-04T11:00:00Z", "carol"),
            ("2026-03-04T11:00:00Z", "2026-03-04T14:00:00Z", "alice"),
        ])
    );
    // Listed the other way round, the unrestricted layer hides the night layer.
    let swapped = schedule(NY, vec![nights, base]);
    assert_eq!(
        segments(&swapped, "2026-03-02T14:00:00Z", "2026-03-04T14:00:00Z"),
        expect(&[("2026-03-02T14:00:00Z", "2026-03-04T14:00:00Z", "alice")])
    );
}

#[test]
fn overlapping_overrides_the_later_created_wins_regardless_of_list_order() {
    let mut s = schedule(Tz::UTC, vec![layer(&["alice"], "2026-03-01T00:00:00", Turn::Days(1))]);
    s.overrides = vec![
        over("erin", "2026-03-02T12:00:00Z", "2026-03-02T16:00:00Z", 2),
        over("frank", "2026-03-02T11:00:00Z", "2026-03-02T11:30:00Z", 3),
        over("dave", "2026-03-02T10:00:00Z", "2026-03-02T14:00:00Z", 1),
        over("gina", "2026-03-02T09:00:00Z", "2026-03-02T13:00:00Z", 0), // always beaten or outside
    ];
    assert_eq!(
        segments(&s, "2026-03-02T08:00:00Z", "2026-03-02T18:00:00Z"),
        expect(&[
            ("2026-03-02T08:00:00Z", "2026-03-02T09:00:00Z", "alice"),
            ("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z", "gina"),
            ("2026-03-02T10:00:00Z", "2026-03-02T11:00:00Z", "dave"),
            ("2026-03-02T11:00:00Z", "2026-03-02T11:30:00Z", "frank"),
            ("2026-03-02T11:30:00Z", "2026-03-02T12:00:00Z", "dave"),
            ("2026-03-02T12:00:00Z", "2026-03-02T16:00:00Z", "erin"),
            ("2026-03-02T16:00:00Z", "2026-03-02T18:00:00Z", "alice"),
        ])
    );
}

#[test]
fn overrides_with_equal_sequence_the_later_listed_wins_and_overrides_fill_gaps() {
    let mut s = schedule(Tz::UTC, Vec::new());
    s.overrides = vec![
        over("dave", "2026-03-02T10:00:00Z", "2026-03-02T12:00:00Z", 5),
        over("erin", "2026-03-02T11:00:00Z", "2026-03-02T13:00:00Z", 5),
    ];
    assert_eq!(
        segments(&s, "2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z"),
        expect(&[
            ("2026-03-02T10:00:00Z", "2026-03-02T11:00:00Z", "dave"),
            ("2026-03-02T11:00:00Z", "2026-03-02T13:00:00Z", "erin"),
        ])
    );
}

#[test]
fn layer_is_a_gap_before_its_anchor_and_from_its_end() {
    let mut l = layer(&["alice", "bob"], "2026-03-02T09:00:00", Turn::Days(1));
    l.end = Some(utc("2026-03-03T20:00:00Z"));
    let s = schedule(Tz::UTC, vec![l]);
    assert_eq!(
        segments(&s, "2026-03-01T00:00:00Z", "2026-03-05T00:00:00Z"),
        expect(&[
            ("2026-03-02T09:00:00Z", "2026-03-03T09:00:00Z", "alice"),
            ("2026-03-03T09:00:00Z", "2026-03-03T20:00:00Z", "bob"),
        ])
    );
    assert_eq!(on_call_at(&s, utc("2026-03-02T08:59:59Z")), None);
    assert_eq!(on_call_at(&s, utc("2026-03-03T20:00:00Z")), None);
}

#[test]
fn layer_zone_overrides_the_schedule_zone() {
    let mut l = layer(&["alice", "bob"], "2026-03-02T09:00:00", Turn::Days(1));
    l.time_zone = Some(BERLIN);
    let s = schedule(NY, vec![l]);
    assert_eq!(handoffs(&s, "2026-03-02T00:00:00Z", "2026-03-03T12:00:00Z"), instants(&["2026-03-03T08:00:00Z"]));
}

// --- Ranges and validation --------------------------------------------------

#[test]
fn range_edges_empty_reversed_and_too_long() {
    let s = daily_pair(Tz::UTC, "2026-03-02T09:00:00");
    let t = utc("2026-03-05T00:00:00Z");
    assert_eq!(final_schedule(&s, t, t), Ok(Vec::new()));
    assert_eq!(final_schedule(&s, t, t - TimeDelta::hours(1)), Ok(Vec::new()));
    let longest = t + TimeDelta::days(MAX_RANGE_DAYS);
    assert_eq!(final_schedule(&s, t, longest).map(|v| v.len()), Ok(MAX_RANGE_DAYS as usize + 1));
    let err = final_schedule(&s, t, longest + TimeDelta::seconds(1)).unwrap_err();
    assert!(matches!(err, CoreError::Invalid { ref field, .. } if field == "to"), "{err}");
}

#[test]
fn invalid_layers_contribute_nothing() {
    let empty = layer(&[], "2026-03-02T09:00:00", Turn::Days(1));
    let zero = layer(&["bob"], "2026-03-02T09:00:00", Turn::Hours(0));
    let s = schedule(Tz::UTC, vec![layer(&["alice"], "2026-03-02T09:00:00", Turn::Days(1)), empty, zero]);
    assert_eq!(on_call_at(&s, utc("2026-03-03T00:00:00Z")).as_deref(), Some("alice"));
}

#[test]
fn extreme_instants_and_anchors_do_not_panic() {
    let edges = [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC];
    for start in [NaiveDateTime::MIN, NaiveDateTime::MAX, "2026-03-08T02:30:00".parse().unwrap()] {
        for turn in [Turn::Hours(u32::MAX), Turn::Days(u32::MAX), Turn::Weeks(1), Turn::Hours(1)] {
            let mut l = layer(&["alice", "bob"], "2026-03-02T09:00:00", turn);
            l.start = start;
            l.restrictions = vec![daily("22:00", "06:00"), weekly((Fri, "17:00"), (Mon, "09:00"))];
            let s = schedule(LORD_HOWE, vec![l]);
            for at in edges {
                let _ = on_call_at(&s, at);
                let _ = final_schedule(&s, at, at + (TimeDelta::days(3) * if at == edges[0] { 1 } else { -1 }));
            }
            let _ = final_schedule(&s, edges[0], edges[0] + TimeDelta::days(MAX_RANGE_DAYS));
            let _ = final_schedule(&s, edges[1] - TimeDelta::days(MAX_RANGE_DAYS), edges[1]);
        }
    }
}

#[test]
fn validation_names_each_offending_field() {
    let mut l = layer(&[], "2026-03-02T09:00:00", Turn::Weeks(0));
    l.handoff = hm("10:00");
    l.restrictions = vec![daily("09:00", "17:00"), daily("08:00", "08:00"), weekly((Mon, "09:00"), (Mon, "09:00"))];
    l.end = Some(utc("2026-03-02T14:00:00Z")); // 09:00 EST: the anchor itself
    let mut s = schedule(NY, vec![layer(&["alice"], "2026-03-02T09:00:00", Turn::Days(1)), l]);
    s.overrides = vec![over("carol", "2026-03-06T18:00:00Z", "2026-03-06T18:00:00Z", 1)];
    let fields: Vec<String> = problems(&s)
        .into_iter()
        .map(|e| match e {
            CoreError::Invalid { field, .. } => field,
            other => panic!("unexpected {other}"),
        })
        .collect();
    assert_eq!(
        fields,
        [
            "layers[1].users",
            "layers[1].turn",
            "layers[1].handoff",
            "layers[1].restrictions[1]",
            "layers[1].restrictions[2]",
            "layers[1].end",
            "overrides[0].end"
        ]
    );
    assert!(matches!(validate(&s), Err(CoreError::Invalid { field, .. }) if field == "layers[1].users"));
}

mod properties;
