//! The schedule timeline: layers, overrides and the final schedule over a
//! window, laid out as SVG shapes, plus the final schedule as rows with its
//! gaps. Pure: the page passes the schedule, the window, the zone and now.

use chrono::{DateTime, Duration, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use tocsin_core::schedule::{Schedule, Segment, final_schedule};

use crate::format;

/// SVG user units: the label column, then the chart.
const WIDTH: f64 = 1000.0;
const LABEL_WIDTH: f64 = 120.0;
const CHART_WIDTH: f64 = WIDTH - LABEL_WIDTH - 10.0;
const AXIS_HEIGHT: f64 = 34.0;
const LANE_HEIGHT: f64 = 26.0;
const LANE_GAP: f64 = 10.0;
/// Colour classes for people (`c0`…`c7`), assigned in order of first
/// appearance so neighbours differ.
const COLOURS: usize = 8;

pub(crate) struct Bar {
    pub x: String,
    pub width: String,
    pub class: String,
    /// Shown inside the bar when it is wide enough.
    pub label: String,
    pub show_label: bool,
    /// Tooltip and accessible text: who, from, to.
    pub title: String,
}

pub(crate) struct Lane {
    pub name: String,
    pub y: String,
    pub text_y: String,
    pub bars: Vec<Bar>,
}

pub(crate) struct Mark {
    pub x: String,
    pub label: String,
}

pub(crate) struct Svg {
    pub view_box: String,
    pub lanes: Vec<Lane>,
    pub days: Vec<Mark>,
    pub dst: Vec<Mark>,
    pub now: Option<String>,
    pub axis_y: String,
    pub chart_bottom: String,
}

/// One row of the final schedule: someone, or nobody (a gap).
pub(crate) struct FinalRow {
    pub start: String,
    pub end: String,
    pub who: Option<String>,
}

pub(crate) struct Timeline {
    pub svg: Svg,
    /// Each person's colour class and name, in order of appearance.
    pub legend: Vec<(String, String)>,
    pub rows: Vec<FinalRow>,
    pub dst_changes: Vec<String>,
    pub gaps: usize,
}

/// Local midnight of `t`'s day in `zone` (the next instant that exists,
/// where a DST change skips midnight).
pub(crate) fn start_of_day(t: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
    let date = t.with_timezone(&zone).date_naive();
    local_to_utc(date.and_time(NaiveTime::MIN), zone)
}

/// Local midnight `days` calendar days after `day_start`'s day: a window
/// of whole local days, 23 or 25 hours long where the clocks change.
pub(crate) fn days_later(day_start: DateTime<Utc>, days: i64, zone: Tz) -> DateTime<Utc> {
    let date = day_start.with_timezone(&zone).date_naive() + Duration::days(days);
    local_to_utc(date.and_time(NaiveTime::MIN), zone)
}

fn local_to_utc(local: chrono::NaiveDateTime, zone: Tz) -> DateTime<Utc> {
    let mut probe = local;
    for _ in 0..4 {
        if let Some(t) = zone.from_local_datetime(&probe).earliest() {
            return t.with_timezone(&Utc);
        }
        probe += Duration::minutes(30);
    }
    Utc.from_utc_datetime(&local)
}

/// Instants in `[from, to)` where `zone`'s UTC offset changes, with the
/// change (`+1 h`, `−30 min`), found at quarter-hour resolution (zones
/// change on the hour or half hour).
pub(crate) fn offset_changes(from: DateTime<Utc>, to: DateTime<Utc>, zone: Tz) -> Vec<(DateTime<Utc>, i64)> {
    let offset = |t: DateTime<Utc>| i64::from(zone.offset_from_utc_datetime(&t.naive_utc()).fix().local_minus_utc());
    let mut out = Vec::new();
    let mut t = from;
    let mut before = offset(t);
    while t < to {
        let next = t + Duration::minutes(15);
        let after = offset(next);
        if after != before {
            out.push((next, after - before));
            before = after;
        }
        t = next;
    }
    out
}

fn shift_label(seconds: i64) -> String {
    let sign = if seconds >= 0 { "+" } else { "−" };
    let minutes = seconds.abs() / 60;
    if minutes % 60 == 0 { format!("{sign}{} h", minutes / 60) } else { format!("{sign}{minutes} min") }
}

struct Scale {
    from: DateTime<Utc>,
    span: f64,
}

impl Scale {
    fn x(&self, t: DateTime<Utc>) -> f64 {
        let offset = (t - self.from).num_seconds() as f64;
        LABEL_WIDTH + (offset / self.span).clamp(0.0, 1.0) * CHART_WIDTH
    }
}

fn num(v: f64) -> String {
    format!("{v:.1}")
}

/// Builds the timeline of `schedule` over `[from, to)` as seen in `zone`.
/// `names` turns user ids into the names shown.
pub(crate) fn build(
    schedule: &Schedule,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    zone: Tz,
    now: DateTime<Utc>,
    names: &dyn Fn(&str) -> String,
) -> Result<Timeline, tocsin_core::CoreError> {
    let scale = Scale { from, span: (to - from).num_seconds().max(1) as f64 };
    let mut colours: Vec<String> = Vec::new();
    let mut colour = |user: &str| {
        let index = colours.iter().position(|u| u == user).unwrap_or_else(|| {
            colours.push(user.to_string());
            colours.len() - 1
        });
        format!("seg c{}", index % COLOURS)
    };

    let mut lanes: Vec<(String, Vec<Bar>)> = Vec::new();
    let bar = |s: &Segment, class: String| {
        let (x0, x1) = (scale.x(s.start), scale.x(s.end));
        let name = names(&s.user);
        Bar {
            x: num(x0),
            width: num((x1 - x0).max(1.0)),
            class,
            show_label: x1 - x0 > 8.0 * name.chars().count() as f64,
            title: format!("{name}: {} – {}", format::instant(s.start, zone), format::instant(s.end, zone)),
            label: name,
        }
    };

    for (index, layer) in schedule.layers.iter().enumerate() {
        let alone = Schedule { layers: vec![layer.clone()], overrides: Vec::new(), ..schedule.clone() };
        let segments = final_schedule(&alone, from, to)?;
        let bars = segments.iter().map(|s| bar(s, colour(&s.user))).collect();
        let name = if layer.id.is_empty() { format!("Layer {}", index + 1) } else { layer.id.clone() };
        lanes.push((name, bars));
    }
    let overrides: Vec<Segment> = schedule
        .overrides
        .iter()
        .filter(|o| o.start < to && from < o.end)
        .map(|o| Segment { start: o.start.max(from), end: o.end.min(to), user: o.user.clone() })
        .collect();
    lanes.push(("Overrides".into(), overrides.iter().map(|s| bar(s, "seg over".into())).collect()));

    let segments = final_schedule(schedule, from, to)?;
    let mut final_bars: Vec<Bar> = segments.iter().map(|s| bar(s, colour(&s.user))).collect();
    // Gaps: nobody on call. Drawn as their own shapes and listed as rows.
    let mut rows = Vec::new();
    let mut cursor = from;
    let mut gaps = 0;
    let gap_row = |start: DateTime<Utc>, end: DateTime<Utc>| FinalRow {
        start: format::instant(start, zone),
        end: format::instant(end, zone),
        who: None,
    };
    for s in &segments {
        if s.start > cursor {
            gaps += 1;
            rows.push(gap_row(cursor, s.start));
            final_bars.push(gap_bar(&scale, cursor, s.start, zone));
        }
        rows.push(FinalRow {
            start: format::instant(s.start, zone),
            end: format::instant(s.end, zone),
            who: Some(names(&s.user)),
        });
        cursor = s.end;
    }
    if cursor < to {
        gaps += 1;
        rows.push(gap_row(cursor, to));
        final_bars.push(gap_bar(&scale, cursor, to, zone));
    }
    lanes.push(("Final".into(), final_bars));
    let legend = colours.iter().enumerate().map(|(i, user)| (format!("c{}", i % COLOURS), names(user))).collect();

    let mut days = Vec::new();
    let mut day = start_of_day(from, zone);
    while day < to {
        if day >= from {
            days.push(Mark { x: num(scale.x(day)), label: day.with_timezone(&zone).format("%a %-d").to_string() });
        }
        let local_next = day.with_timezone(&zone).date_naive() + Duration::days(1);
        day = local_to_utc(local_next.and_time(NaiveTime::MIN), zone);
    }
    let changes = offset_changes(from, to, zone);
    let dst = changes
        .iter()
        .map(|(t, shift)| Mark { x: num(scale.x(*t)), label: format!("clocks {}", shift_label(*shift)) })
        .collect();
    let dst_changes = changes
        .iter()
        .map(|(t, shift)| format!("{}: clocks change {}", format::instant(*t, zone), shift_label(*shift)))
        .collect();

    let lane_count = lanes.len() as f64;
    let height = AXIS_HEIGHT + lane_count * (LANE_HEIGHT + LANE_GAP);
    let lanes = lanes
        .into_iter()
        .enumerate()
        .map(|(i, (name, bars))| {
            let y = AXIS_HEIGHT + i as f64 * (LANE_HEIGHT + LANE_GAP);
            Lane { name, y: num(y), text_y: num(y + LANE_HEIGHT / 2.0 + 4.0), bars }
        })
        .collect();
    Ok(Timeline {
        svg: Svg {
            view_box: format!("0 0 {WIDTH} {}", num(height)),
            lanes,
            days,
            dst,
            now: (from <= now && now < to).then(|| num(scale.x(now))),
            axis_y: num(AXIS_HEIGHT - 6.0),
            chart_bottom: num(height - LANE_GAP / 2.0),
        },
        legend,
        rows,
        dst_changes,
        gaps,
    })
}

fn gap_bar(scale: &Scale, start: DateTime<Utc>, end: DateTime<Utc>, zone: Tz) -> Bar {
    let (x0, x1) = (scale.x(start), scale.x(end));
    Bar {
        x: num(x0),
        width: num((x1 - x0).max(1.0)),
        class: "gap".into(),
        label: "nobody".into(),
        show_label: false,
        title: format!("Nobody on call: {} – {}", format::instant(start, zone), format::instant(end, zone)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, Weekday};
    use tocsin_core::schedule::{Layer, Override, Restriction, Turn};

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    fn schedule() -> Schedule {
        let start = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap().and_hms_opt(9, 0, 0).unwrap();
        Schedule {
            id: "primary".into(),
            time_zone: chrono_tz::America::New_York,
            layers: vec![Layer {
                id: "weekdays".into(),
                users: vec!["alice".into(), "bob".into()],
                time_zone: None,
                start,
                turn: Turn::Weeks(1),
                handoff: start.time(),
                restrictions: vec![Restriction::Weekly {
                    from: (Weekday::Mon, NaiveTime::from_hms_opt(9, 0, 0).unwrap()),
                    to: (Weekday::Fri, NaiveTime::from_hms_opt(17, 0, 0).unwrap()),
                }],
                end: None,
            }],
            overrides: vec![Override {
                user: "carol".into(),
                start: at(2026, 3, 10, 15),
                end: at(2026, 3, 10, 18),
                created_seq: 1,
            }],
        }
    }

    #[test]
    fn new_yorks_spring_change_is_marked_once_with_its_shift() {
        // 2026-03-08 02:00 EST → 03:00 EDT, i.e. 07:00 UTC.
        let changes = offset_changes(at(2026, 3, 5, 0), at(2026, 3, 19, 0), chrono_tz::America::New_York);
        assert_eq!(changes, vec![(at(2026, 3, 8, 7), 3600)]);
        let autumn = offset_changes(at(2026, 10, 29, 0), at(2026, 11, 5, 0), chrono_tz::America::New_York);
        assert_eq!(autumn, vec![(at(2026, 11, 1, 6), -3600)]);
        assert!(offset_changes(at(2026, 3, 5, 0), at(2026, 3, 19, 0), Tz::UTC).is_empty());
    }

    #[test]
    fn day_starts_follow_local_midnight_across_the_change() {
        let zone = chrono_tz::America::New_York;
        let from = start_of_day(at(2026, 3, 7, 12), zone);
        assert_eq!(from, at(2026, 3, 7, 5));
        let names = |u: &str| u.to_string();
        let to = days_later(from, 3, zone);
        assert_eq!(to - from, Duration::hours(71), "the spring change makes the three days an hour short");
        let t = build(&schedule(), from, to, zone, from, &names).unwrap();
        let days: Vec<&str> = t.svg.days.iter().map(|d| d.label.as_str()).collect();
        assert_eq!(days, ["Sat 7", "Sun 8", "Mon 9"]);
        assert_eq!(t.dst_changes.len(), 1);
        assert!(t.dst_changes[0].contains("clocks change +1 h"), "{:?}", t.dst_changes);
    }

    #[test]
    fn final_rows_list_people_and_gaps_in_order() {
        let zone = chrono_tz::America::New_York;
        let from = at(2026, 3, 9, 4); // Monday 00:00 EDT
        let names = |u: &str| u.to_uppercase();
        let t = build(&schedule(), from, from + Duration::days(2), zone, from, &names).unwrap();
        let rows: Vec<(Option<&str>, &str)> = t.rows.iter().map(|r| (r.who.as_deref(), r.start.as_str())).collect();
        // The weekday window opens Monday 09:00; carol's override on
        // Tuesday 11:00–14:00 EDT sits inside the rotation's turn.
        assert_eq!(
            rows,
            vec![
                (None, "Mon 9 Mar, 00:00 EDT"),
                (Some("BOB"), "Mon 9 Mar, 09:00 EDT"),
                (Some("CAROL"), "Tue 10 Mar, 11:00 EDT"),
                (Some("BOB"), "Tue 10 Mar, 14:00 EDT"),
            ]
        );
        assert_eq!(t.gaps, 1);
        let lanes: Vec<&str> = t.svg.lanes.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(lanes, ["weekdays", "Overrides", "Final"]);
        assert_eq!(t.svg.lanes[1].bars.len(), 1);
        assert!(t.svg.lanes[2].bars.iter().any(|b| b.class == "gap"));
    }
}
