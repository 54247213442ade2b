//! Random schedules in zones with DST (including a 30-minute shift) and
//! without, over ranges that often straddle a transition.

use super::*;
use proptest::prelude::*;

const ZONES: [Tz; 5] = [NY, BERLIN, LORD_HOWE, Tz::UTC, Tz::Asia__Kathmandu];
const USERS: [&str; 4] = ["alice", "bob", "carol", "dave"];

fn base() -> DateTime<Utc> {
    utc("2026-01-01T00:00:00Z")
}

/// Minutes of the day, biased towards times that fall in DST gaps and
/// folds somewhere (01:30–02:30) and towards midnight.
fn time_of_day() -> impl Strategy<Value = NaiveTime> {
    prop_oneof![
        prop::sample::select(vec!["00:00", "01:30", "01:45", "02:00", "02:15", "02:30", "09:00", "23:30"]).prop_map(hm),
        (0u32..1440).prop_map(|m| NaiveTime::from_hms_opt(m / 60, m % 60, 0).unwrap()),
    ]
}

fn weekday() -> impl Strategy<Value = Weekday> {
    (0u8..7).prop_map(|d| Weekday::try_from(d).unwrap())
}

fn restriction() -> impl Strategy<Value = Restriction> {
    prop_oneof![
        (time_of_day(), time_of_day()).prop_map(|(from, to)| Restriction::Daily { from, to }),
        (weekday(), time_of_day(), weekday(), time_of_day())
            .prop_map(|(fd, ft, td, tt)| Restriction::Weekly { from: (fd, ft), to: (td, tt) }),
    ]
}

fn turn() -> impl Strategy<Value = Turn> {
    prop_oneof![(1u32..30).prop_map(Turn::Hours), (1u32..8).prop_map(Turn::Days), (1u32..3).prop_map(Turn::Weeks)]
}

fn a_layer() -> impl Strategy<Value = Layer> {
    (
        prop::sample::subsequence(USERS.to_vec(), 1..=4),
        prop::option::weighted(0.3, prop::sample::select(ZONES.to_vec())),
        0i64..240,
        time_of_day(),
        turn(),
        prop::collection::vec(restriction(), 0..3),
        prop::option::weighted(0.2, 1i64..400 * 24),
    )
        .prop_map(|(users, time_zone, day, time, turn, restrictions, end_hours)| {
            // Mostly before the ranges below, so that layers are usually running.
            let date = NaiveDate::from_ymd_opt(2025, 9, 1).unwrap() + TimeDelta::days(day);
            Layer {
                id: "l".into(),
                users: users.into_iter().map(str::to_owned).collect(),
                time_zone,
                start: NaiveDateTime::new(date, time),
                turn,
                handoff: time,
                restrictions,
                end: end_hours.map(|h| NaiveDateTime::new(date, time).and_utc() + TimeDelta::hours(h)),
            }
        })
}

fn an_override() -> impl Strategy<Value = Override> {
    (prop::sample::select(USERS.to_vec()), 0i64..365 * 24 * 60, 1i64..7 * 24 * 60, 0u64..5).prop_map(
        |(user, start, len, created_seq)| {
            let start = base() + TimeDelta::minutes(start);
            Override { user: user.into(), start, end: start + TimeDelta::minutes(len), created_seq }
        },
    )
}

fn a_schedule() -> impl Strategy<Value = Schedule> {
    (
        prop::sample::select(ZONES.to_vec()),
        prop::collection::vec(a_layer(), 1..4),
        prop::collection::vec(an_override(), 0..4),
    )
        .prop_map(|(time_zone, layers, overrides)| Schedule { id: "s".into(), time_zone, layers, overrides })
}

/// A range start, often a few days before one of 2026's transitions in the
/// zones above.
fn range_start() -> impl Strategy<Value = DateTime<Utc>> {
    let near = ["2026-03-05", "2026-03-26", "2026-04-02", "2026-10-01", "2026-10-22", "2026-10-29"];
    prop_oneof![
        (prop::sample::select(near.to_vec()), 0i64..6 * 24 * 60)
            .prop_map(|(d, m)| utc(&format!("{d}T00:00:00Z")) + TimeDelta::minutes(m)),
        (0i64..365 * 24 * 60).prop_map(|m| base() + TimeDelta::minutes(m)),
    ]
}

fn a_range() -> impl Strategy<Value = (DateTime<Utc>, DateTime<Utc>)> {
    (range_start(), 1i64..21 * 24 * 60).prop_map(|(from, len)| (from, from + TimeDelta::minutes(len)))
}

fn merge(parts: Vec<Segment>) -> Vec<Segment> {
    let mut out = Vec::new();
    for seg in parts {
        push_merged(&mut out, seg.start, seg.end, &seg.user);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    /// Every instant of the range maps to the segment containing it, and a
    /// segment's neighbours (just before its start, at its end) belong to
    /// someone else or nobody, so merging is maximal.
    #[test]
    fn coverage(s in a_schedule(), (from, to) in a_range(), probes in prop::collection::vec(0.0f64..1.0, 24)) {
        let segs = final_schedule(&s, from, to).unwrap();
        let span = (to - from).num_seconds() as f64;
        let mut points: Vec<DateTime<Utc>> =
            probes.iter().map(|p| from + TimeDelta::seconds((p * span) as i64)).collect();
        for seg in &segs {
            points.extend([seg.start, seg.end - TimeDelta::nanoseconds(1)]);
        }
        for t in points.into_iter().filter(|t| from <= *t && *t < to) {
            let want = segs.iter().find(|seg| seg.start <= t && t < seg.end).map(|seg| seg.user.clone());
            prop_assert_eq!(on_call_at(&s, t), want, "at {}", t);
        }
        for seg in &segs {
            let before = seg.start - TimeDelta::nanoseconds(1);
            if from <= before {
                prop_assert_ne!(on_call_at(&s, before), Some(seg.user.clone()), "before {:?}", seg);
            }
            if seg.end < to {
                prop_assert_ne!(on_call_at(&s, seg.end), Some(seg.user.clone()), "after {:?}", seg);
            }
        }
    }

    /// Splitting a range anywhere and merging the halves changes nothing.
    #[test]
    fn splitting_never_changes_the_answer(s in a_schedule(), (from, to) in a_range(), cut in 0.0f64..1.0) {
        let at = from + TimeDelta::seconds(((to - from).num_seconds() as f64 * cut) as i64);
        let mut halves = final_schedule(&s, from, at).unwrap();
        halves.extend(final_schedule(&s, at, to).unwrap());
        prop_assert_eq!(merge(halves), final_schedule(&s, from, to).unwrap());
    }

    /// Segments are sorted, disjoint, non-empty and inside the range, and
    /// touching segments never share a user.
    #[test]
    fn segments_are_well_formed(s in a_schedule(), (from, to) in a_range()) {
        let segs = final_schedule(&s, from, to).unwrap();
        for seg in &segs {
            prop_assert!(from <= seg.start && seg.start < seg.end && seg.end <= to, "{:?}", seg);
        }
        for pair in segs.windows(2) {
            let [a, b] = pair else { continue };
            prop_assert!(a.end <= b.start, "{:?} {:?}", a, b);
            prop_assert!(a.end < b.start || a.user != b.user, "unmerged {:?} {:?}", a, b);
        }
    }

    /// A daily rotation hands off at its wall time every day; on a day that
    /// time does not exist it hands off when the gap ends (where the local
    /// time is later and the offset just changed).
    #[test]
    fn daily_handoffs_keep_their_wall_time(
        tz in prop::sample::select(ZONES.to_vec()), time in time_of_day(), (from, to) in a_range()
    ) {
        let start = NaiveDateTime::new(NaiveDate::from_ymd_opt(2025, 12, 1).unwrap(), time);
        let mut l = layer(&["alice", "bob"], "2025-12-01T00:00:00", Turn::Days(1));
        (l.start, l.handoff) = (start, time);
        let s = schedule(tz, vec![l]);
        for seg in final_schedule(&s, from, to).unwrap().iter().skip(1) {
            let local = seg.start.with_timezone(&tz);
            if local.time() != time {
                let just_before = (seg.start - TimeDelta::seconds(1)).with_timezone(&tz);
                prop_assert!(local.time() > time && just_before.offset().fix() != local.offset().fix(), "{:?}", seg);
            }
        }
    }
}
