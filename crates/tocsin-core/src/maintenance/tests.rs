use super::*;
use chrono::Weekday;

const BERLIN: Tz = Tz::Europe__Berlin;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn spec(f: impl FnOnce(&mut TimeIntervalSpec)) -> TimeIntervalSpec {
    let mut s = TimeIntervalSpec { time_zone: Some("Europe/Berlin".into()), ..TimeIntervalSpec::default() };
    f(&mut s);
    s
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn times(start: &str, end: &str) -> TimeRangeSpec {
    TimeRangeSpec { start: start.into(), end: end.into() }
}

fn recurring(s: TimeIntervalSpec) -> MaintenanceWindow {
    MaintenanceWindow { id: "w".into(), kind: WindowKind::Recurring(TimeInterval::parse("w", &s).unwrap()) }
}

fn tuesday_deploys() -> MaintenanceWindow {
    recurring(spec(|s| {
        s.weekdays = strings(&["tuesday"]);
        s.times = vec![times("14:00", "15:00")];
    }))
}

fn field_of(err: CoreError) -> String {
    match err {
        CoreError::Invalid { field, .. } => field,
        other => format!("{other:?}"),
    }
}

#[test]
fn calendar_facts_the_tests_rely_on() {
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap().weekday();
    assert_eq!(day("2026-01-06"), Weekday::Tue);
    assert_eq!(day("2026-07-07"), Weekday::Tue);
    assert_eq!(day("2026-03-29"), Weekday::Sun);
    assert_eq!(day("2026-10-25"), Weekday::Sun);
}

#[test]
fn recurring_window_is_half_open_in_winter_time() {
    let w = tuesday_deploys();
    // 14:00 CET is 13:00Z.
    assert!(!w.active_at(utc("2026-01-06T12:59:59Z")));
    assert!(w.active_at(utc("2026-01-06T13:00:00Z")));
    assert!(w.active_at(utc("2026-01-06T13:59:59.999Z")));
    assert!(!w.active_at(utc("2026-01-06T14:00:00Z")));
    // Same local hour on a Wednesday.
    assert!(!w.active_at(utc("2026-01-07T13:30:00Z")));
}

#[test]
fn recurring_window_follows_summer_time() {
    let w = tuesday_deploys();
    // 14:00 CEST is 12:00Z.
    assert!(!w.active_at(utc("2026-07-07T11:59:59Z")));
    assert!(w.active_at(utc("2026-07-07T12:00:00Z")));
    assert!(!w.active_at(utc("2026-07-07T13:00:00Z")));
}

#[test]
fn weekday_is_the_local_one() {
    // 23:30Z on Monday is 00:30 Tuesday in Berlin.
    let w = recurring(spec(|s| s.weekdays = strings(&["tuesday"])));
    assert!(!w.active_at(utc("2026-01-05T22:59:59Z")));
    assert!(w.active_at(utc("2026-01-05T23:00:00Z")));
}

#[test]
fn end_of_day_range_covers_the_last_minute_only() {
    let w = recurring(spec(|s| {
        s.weekdays = strings(&["monday"]);
        s.times = vec![times("23:00", "24:00")];
    }));
    // Monday 2026-01-05, 23:59:59 CET = 22:59:59Z; Tuesday 00:00 is outside.
    assert!(w.active_at(utc("2026-01-05T22:59:59Z")));
    assert!(!w.active_at(utc("2026-01-05T23:00:00Z")));
    assert_eq!(w.next_change(utc("2026-01-05T22:30:00Z")), Some(utc("2026-01-05T23:00:00Z")));
}

#[test]
fn spring_forward_gap_inside_a_window() {
    // Berlin jumps from 02:00 to 03:00 CEST at 01:00Z on 2026-03-29.
    let gap_only = recurring(spec(|s| {
        s.weekdays = strings(&["sunday"]);
        s.times = vec![times("02:00", "03:00")];
    }));
    for t in ["2026-03-29T00:59:59Z", "2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z"] {
        assert!(!gap_only.active_at(utc(t)), "{t}");
    }
    // So it next opens on the following Sunday, 02:00 CEST = 00:00Z.
    assert_eq!(gap_only.next_change(utc("2026-03-29T00:00:00Z")), Some(utc("2026-04-05T00:00:00Z")));

    // A window from 02:30 opens at the jump, because 03:00 lies inside it.
    let straddling = recurring(spec(|s| {
        s.weekdays = strings(&["sunday"]);
        s.times = vec![times("02:30", "04:00")];
    }));
    assert!(!straddling.active_at(utc("2026-03-29T00:59:59Z")));
    assert!(straddling.active_at(utc("2026-03-29T01:00:00Z")));
    assert_eq!(straddling.next_change(utc("2026-03-29T00:30:00Z")), Some(utc("2026-03-29T01:00:00Z")));
    // It closes at 04:00 CEST = 02:00Z.
    assert_eq!(straddling.next_change(utc("2026-03-29T01:00:00Z")), Some(utc("2026-03-29T02:00:00Z")));
}

#[test]
fn fall_back_repeated_hour_is_covered_twice() {
    // Berlin goes from 03:00 CEST back to 02:00 CET at 01:00Z on 2026-10-25;
    // 02:00-03:00 local happens from 00:00Z to 02:00Z.
    let w = recurring(spec(|s| {
        s.weekdays = strings(&["sunday"]);
        s.times = vec![times("02:00", "03:00")];
    }));
    assert!(!w.active_at(utc("2026-10-24T23:59:59Z")));
    assert!(w.active_at(utc("2026-10-25T00:00:00Z")));
    assert!(w.active_at(utc("2026-10-25T01:00:00Z")));
    assert!(w.active_at(utc("2026-10-25T01:59:59Z")));
    assert!(!w.active_at(utc("2026-10-25T02:00:00Z")));
    // The transition at 01:00Z changes nothing, so the next change is the end.
    assert_eq!(w.next_change(utc("2026-10-25T00:00:00Z")), Some(utc("2026-10-25T02:00:00Z")));
}

#[test]
fn next_change_opens_and_closes_weekly() {
    let w = tuesday_deploys();
    let start = utc("2026-01-01T00:00:00Z");
    let opens = w.next_change(start);
    assert_eq!(opens, Some(utc("2026-01-06T13:00:00Z")));
    assert_eq!(w.next_change(utc("2026-01-06T13:00:00Z")), Some(utc("2026-01-06T14:00:00Z")));
    // Asking in the middle of a second lands on the whole boundary.
    assert_eq!(w.next_change(utc("2026-01-06T13:20:00.5Z")), Some(utc("2026-01-06T14:00:00Z")));
    // Across the spring-forward the local 14:00 moves to 12:00Z.
    assert_eq!(w.next_change(utc("2026-03-25T00:00:00Z")), Some(utc("2026-03-31T12:00:00Z")));
    // Every answer really is a change, and nothing changes before it.
    let mut t = start;
    for _ in 0..20 {
        let next = w.next_change(t).unwrap();
        assert_ne!(w.active_at(next), w.active_at(t));
        let just_before = next - Duration::seconds(1);
        assert_eq!(w.active_at(just_before), w.active_at(t));
        t = next;
    }
}

#[test]
fn days_of_month_count_from_the_end() {
    let last_day = recurring(spec(|s| s.days_of_month = strings(&["-1"])));
    // Local dates in Berlin: 2026-02-28 starts at 2026-02-27T23:00Z.
    assert!(!last_day.active_at(utc("2026-02-27T22:59:59Z")));
    assert!(last_day.active_at(utc("2026-02-27T23:00:00Z")));
    assert!(last_day.active_at(utc("2024-02-28T23:00:00Z"))); // 29 February 2024
    assert!(!last_day.active_at(utc("2024-02-27T23:00:00Z")));
    // A 31-day month with a spring-forward still ends on the 31st.
    assert!(last_day.active_at(utc("2026-03-31T10:00:00Z")));
    assert!(!last_day.active_at(utc("2026-03-30T10:00:00Z")));

    let last_three = recurring(spec(|s| s.days_of_month = strings(&["-3:-1"])));
    assert!(last_three.active_at(utc("2026-04-28T10:00:00Z")));
    assert!(!last_three.active_at(utc("2026-04-27T10:00:00Z")));

    let mixed = recurring(spec(|s| s.days_of_month = strings(&["25:-1"])));
    assert!(mixed.active_at(utc("2026-02-25T10:00:00Z")));
    assert!(mixed.active_at(utc("2026-02-28T10:00:00Z")));
    assert!(!mixed.active_at(utc("2026-02-24T10:00:00Z")));
}

#[test]
fn days_beyond_a_short_month_do_not_spill_over() {
    let late = recurring(spec(|s| s.days_of_month = strings(&["29:31"])));
    assert!(!late.active_at(utc("2026-02-28T10:00:00Z")));
    assert!(!late.active_at(utc("2026-03-01T10:00:00Z")));
    assert!(late.active_at(utc("2026-03-29T10:00:00Z")));
    assert!(late.active_at(utc("2024-02-29T10:00:00Z")));
    let all = recurring(spec(|s| s.days_of_month = strings(&["1:31"])));
    assert!(all.active_at(utc("2026-02-28T10:00:00Z")));
    let first_far_back = recurring(spec(|s| s.days_of_month = strings(&["-31:-28"])));
    // In February (28 days) -31 resolves before the 1st: 1 to 1.
    assert!(first_far_back.active_at(utc("2026-02-01T10:00:00Z")));
    assert!(!first_far_back.active_at(utc("2026-02-02T10:00:00Z")));
}

#[test]
fn months_years_and_fields_combine() {
    let w = recurring(spec(|s| {
        s.months = strings(&["january:March", "12"]);
        s.years = strings(&["2026:2027"]);
        s.weekdays = strings(&["Monday:friday"]);
    }));
    assert!(w.active_at(utc("2026-01-05T10:00:00Z"))); // Monday in January 2026
    assert!(!w.active_at(utc("2026-01-04T10:00:00Z"))); // Sunday
    assert!(!w.active_at(utc("2026-04-06T10:00:00Z"))); // April
    assert!(w.active_at(utc("2027-12-01T10:00:00Z"))); // Wednesday in December 2027
    assert!(!w.active_at(utc("2028-01-03T10:00:00Z"))); // 2028
    assert!(!w.active_at(utc("2025-12-01T10:00:00Z"))); // 2025
}

#[test]
fn an_empty_interval_is_always_active_and_never_changes() {
    let w = MaintenanceWindow { id: "w".into(), kind: WindowKind::Recurring(TimeInterval::always(BERLIN)) };
    assert!(w.active_at(utc("2026-01-01T00:00:00Z")));
    assert_eq!(w.next_change(utc("2026-01-01T00:00:00Z")), None);
}

#[test]
fn next_change_is_bounded_but_reaches_a_year_ahead() {
    let next_year = recurring(spec(|s| s.years = strings(&["2028"])));
    // Midnight of 2028-01-01 in Berlin is 23:00Z the day before.
    assert_eq!(next_year.next_change(utc("2026-06-01T00:00:00Z")), Some(utc("2027-12-31T23:00:00Z")));
    assert_eq!(next_year.next_change(utc("2028-06-01T00:00:00Z")), Some(utc("2028-12-31T23:00:00Z")));
    let far = recurring(spec(|s| s.years = strings(&["2040"])));
    assert_eq!(far.next_change(utc("2026-06-01T00:00:00Z")), None);
    let leap_day = recurring(spec(|s| {
        s.months = strings(&["february"]);
        s.days_of_month = strings(&["29"]);
    }));
    assert_eq!(leap_day.next_change(utc("2025-01-01T00:00:00Z")), Some(utc("2028-02-28T23:00:00Z")));
}

#[test]
fn one_off_window_is_half_open() {
    let w = MaintenanceWindow {
        id: "migration".into(),
        kind: WindowKind::OneOff { start: utc("2026-05-01T10:00:00Z"), end: utc("2026-05-01T12:00:00Z") },
    };
    assert!(!w.active_at(utc("2026-05-01T09:59:59Z")));
    assert!(w.active_at(utc("2026-05-01T10:00:00Z")));
    assert!(!w.active_at(utc("2026-05-01T12:00:00Z")));
    assert_eq!(w.next_change(utc("2026-05-01T09:00:00Z")), Some(utc("2026-05-01T10:00:00Z")));
    assert_eq!(w.next_change(utc("2026-05-01T10:00:00Z")), Some(utc("2026-05-01T12:00:00Z")));
    assert_eq!(w.next_change(utc("2026-05-01T12:00:00Z")), None);
}

#[test]
fn window_at_names_the_first_active_window() {
    let one_off = |id: &str, start: &str, end: &str| MaintenanceWindow {
        id: id.into(),
        kind: WindowKind::OneOff { start: utc(start), end: utc(end) },
    };
    let windows = vec![
        one_off("a", "2026-05-01T10:00:00Z", "2026-05-01T11:00:00Z"),
        one_off("b", "2026-05-01T10:30:00Z", "2026-05-01T12:00:00Z"),
    ];
    assert_eq!(window_at(&windows, utc("2026-05-01T09:00:00Z")), None);
    assert_eq!(window_at(&windows, utc("2026-05-01T10:45:00Z")), Some("a"));
    assert_eq!(window_at(&windows, utc("2026-05-01T11:00:00Z")), Some("b"));
    assert_eq!(window_at(&[], utc("2026-05-01T11:00:00Z")), None);
}

#[test]
fn parses_times() {
    assert_eq!(parse_time_of_day("f", "00:00"), Ok(0));
    assert_eq!(parse_time_of_day("f", "14:05"), Ok(845));
    assert_eq!(parse_time_of_day("f", "23:59"), Ok(1_439));
    assert_eq!(parse_time_of_day("f", "24:00"), Ok(1_440));
    for bad in ["24:01", "25:00", "9:00", "09:60", "0900", "09:00:00", "", "+9:00", "ab:cd", "09:0５"] {
        assert!(parse_time_of_day("f", bad).is_err(), "{bad}");
    }
    assert_eq!(parse_time_range("t", "14:00", "15:00"), Ok(TimeRange { start_minute: 840, end_minute: 900 }));
    assert_eq!(parse_time_range("t", "22:00", "24:00"), Ok(TimeRange { start_minute: 1_320, end_minute: 1_440 }));
    assert_eq!(field_of(parse_time_range("t", "15:00", "15:00").unwrap_err()), "t");
    assert_eq!(field_of(parse_time_range("t", "22:00", "02:00").unwrap_err()), "t");
    assert_eq!(field_of(parse_time_range("t", "x", "02:00").unwrap_err()), "t.start");
    assert_eq!(field_of(parse_time_range("t", "01:00", "24:30").unwrap_err()), "t.end");
}

#[test]
fn parses_ranges_like_alertmanager() {
    let r = |begin, end| InclusiveRange { begin, end };
    assert_eq!(parse_weekday_range("f", "monday:friday"), Ok(r(1, 5)));
    assert_eq!(parse_weekday_range("f", "SUNDAY"), Ok(r(0, 0)));
    assert!(parse_weekday_range("f", "saturday:sunday").is_err());
    assert!(parse_weekday_range("f", "1").is_err());
    assert!(parse_weekday_range("f", "monday: friday").is_err());
    assert!(parse_weekday_range("f", "monday:tuesday:friday").is_err());
    assert!(parse_weekday_range("f", "").is_err());
    assert_eq!(parse_month_range("f", "january:march"), Ok(r(1, 3)));
    assert_eq!(parse_month_range("f", "1:3"), Ok(r(1, 3)));
    assert_eq!(parse_month_range("f", "may:12"), Ok(r(5, 12)));
    assert!(parse_month_range("f", "13").is_err());
    assert!(parse_month_range("f", "0").is_err());
    assert!(parse_month_range("f", "march:january").is_err());
    assert_eq!(parse_year_range("f", "2026:2027"), Ok(r(2026, 2027)));
    assert!(parse_year_range("f", "2027:2026").is_err());
    assert!(parse_year_range("f", "-5").is_err());
    assert_eq!(parse_day_of_month_range("f", "1:5"), Ok(r(1, 5)));
    assert_eq!(parse_day_of_month_range("f", "-3:-1"), Ok(r(-3, -1)));
    assert_eq!(parse_day_of_month_range("f", "25:-1"), Ok(r(25, -1)));
    for bad in ["0", "32", "-32", "-1:5", "5:1", "-1:-3", "28:-3", "x", "1:"] {
        assert!(parse_day_of_month_range("f", bad).is_err(), "{bad}");
    }
    assert!(parse_weekday_range("f", &"monday".repeat(10)).is_err());
}

#[test]
fn parse_errors_name_the_field() {
    let err =
        |s: TimeIntervalSpec| field_of(TimeInterval::parse("services[0].maintenance_windows[1]", &s).unwrap_err());
    assert_eq!(
        err(spec(|s| s.weekdays = strings(&["monday", "funday"]))),
        "services[0].maintenance_windows[1].weekdays[1]"
    );
    assert_eq!(
        err(spec(|s| s.times = vec![times("14:00", "15:00"), times("16:00", "1600")])),
        "services[0].maintenance_windows[1].times[1].end"
    );
    assert_eq!(
        err(spec(|s| s.time_zone = Some("Mars/Olympus".into()))),
        "services[0].maintenance_windows[1].time_zone"
    );
    assert_eq!(err(spec(|s| s.days_of_month = strings(&["0"]))), "services[0].maintenance_windows[1].days_of_month[0]");
    assert_eq!(err(spec(|s| s.months = strings(&["smarch"]))), "services[0].maintenance_windows[1].months[0]");
    assert_eq!(err(spec(|s| s.years = strings(&["soon"]))), "services[0].maintenance_windows[1].years[0]");
    assert_eq!(
        err(spec(|s| s.weekdays = vec!["monday".to_owned(); MAX_RANGES + 1])),
        "services[0].maintenance_windows[1].weekdays"
    );
    let message = TimeInterval::parse("w", &spec(|s| s.time_zone = Some("Mars/Olympus".into()))).unwrap_err();
    assert!(message.to_string().contains("Mars/Olympus"));
}

#[test]
fn zone_defaults_to_utc() {
    let i = TimeInterval::parse("w", &TimeIntervalSpec { times: vec![times("14:00", "15:00")], ..Default::default() });
    let w = MaintenanceWindow { id: "w".into(), kind: WindowKind::Recurring(i.unwrap()) };
    assert!(w.active_at(utc("2026-01-06T14:00:00Z")));
    assert!(!w.active_at(utc("2026-01-06T13:59:59Z")));
}

#[test]
fn spec_reads_the_config_contract_and_alertmanager_spellings() {
    let contract: TimeIntervalSpec = serde_json::from_str(
        r#"{"weekdays":["tuesday"],"times":[{"start":"14:00","end":"15:00"}],"time_zone":"Europe/Berlin"}"#,
    )
    .unwrap();
    let am: TimeIntervalSpec = serde_json::from_str(
        r#"{"weekdays":["tuesday"],"times":[{"start_time":"14:00","end_time":"15:00"}],"location":"Europe/Berlin"}"#,
    )
    .unwrap();
    assert_eq!(contract, am);
    assert!(serde_json::from_str::<TimeIntervalSpec>(r#"{"weekday":["tuesday"]}"#).is_err());
}

#[test]
fn validation() {
    let ok = tuesday_deploys();
    assert_eq!(ok.validate("w"), Ok(()));
    let mut bad_id = ok.clone();
    bad_id.id = "has space".into();
    assert_eq!(field_of(bad_id.validate("w").unwrap_err()), "w.id");
    bad_id.id = String::new();
    assert_eq!(field_of(bad_id.validate("w").unwrap_err()), "w.id");
    let backwards = MaintenanceWindow {
        id: "m".into(),
        kind: WindowKind::OneOff { start: utc("2026-05-01T12:00:00Z"), end: utc("2026-05-01T12:00:00Z") },
    };
    assert_eq!(field_of(backwards.validate("w").unwrap_err()), "w.end");
    let mut interval = TimeInterval::always(BERLIN);
    interval.weekdays.push(InclusiveRange { begin: 5, end: 1 });
    let hand_built = MaintenanceWindow { id: "m".into(), kind: WindowKind::Recurring(interval) };
    assert_eq!(field_of(hand_built.validate("w").unwrap_err()), "w.weekdays[0]");
}

/// Every answer of `next_change` against a minute-by-minute scan, over the
/// weeks of DST changes in Berlin (whole hour) and Lord Howe (half hour),
/// for windows whose edges touch the jumps.
#[test]
fn next_change_agrees_with_a_minute_scan_across_dst() {
    let zoned = |zone: &str, f: &dyn Fn(&mut TimeIntervalSpec)| {
        let mut s = TimeIntervalSpec { time_zone: Some(zone.to_owned()), ..TimeIntervalSpec::default() };
        f(&mut s);
        recurring(s)
    };
    let shapes: [&dyn Fn(&mut TimeIntervalSpec); 4] = [
        &|s| s.times = vec![times("02:00", "03:00")],
        &|s| s.times = vec![times("01:30", "02:30"), times("23:00", "24:00")],
        &|s| {
            s.weekdays = strings(&["saturday", "sunday"]);
            s.times = vec![times("01:59", "02:01"), times("02:29", "02:31")];
        },
        &|s| s.days_of_month = strings(&["-1"]),
    ];
    let weeks = [
        ("Europe/Berlin", "2026-03-25T00:00:00Z"),
        ("Europe/Berlin", "2026-10-21T00:00:00Z"),
        ("Australia/Lord_Howe", "2026-04-01T00:00:00Z"),
        ("Australia/Lord_Howe", "2026-09-30T00:00:00Z"),
    ];
    for (zone, week_start) in weeks {
        for shape in shapes {
            let w = zoned(zone, shape);
            let start = utc(week_start);
            let end = start + Duration::days(8);
            let scan = |from: DateTime<Utc>| {
                let state = w.active_at(from);
                let mut t = from + Duration::minutes(1);
                while t < end + Duration::days(40) {
                    if w.active_at(t) != state {
                        return Some(t);
                    }
                    t += Duration::minutes(1);
                }
                None
            };
            let mut t = start;
            while t < end {
                assert_eq!(w.next_change(t), scan(t), "{zone} {t}");
                t += Duration::minutes(113);
            }
        }
    }
}
