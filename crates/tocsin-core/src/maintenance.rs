//! Maintenance windows: stretches of time in which a service's alerts are
//! recorded but do not page, so the incident can say why nobody was woken.
//!
//! A window is either one-off (two instants) or recurring. Recurring windows
//! follow Alertmanager's time intervals, so a definition copied from an
//! Alertmanager config means the same thing here:
//! - `times`: `"HH:MM"` ranges within a day, start inclusive, end exclusive,
//!   end may be `"24:00"`; a range cannot cross midnight (write two);
//! - `weekdays`: names or ranges such as `monday:friday` (case-insensitive);
//! - `days_of_month`: `1`..`31` or `-31`..`-1`, where `-1` is the month's last
//!   day, and ranges such as `1:5` or `-3:-1`;
//! - `months`: names or numbers, and ranges such as `january:march` or `1:3`;
//! - `years`: ranges such as `2026:2027`;
//! - `time_zone`: an IANA zone, UTC when absent.
//!
//! A field left empty matches everything; all non-empty fields must match.
//!
//! DST follows Alertmanager too: the instant is converted to local time and
//! the fields are checked against that, so a window whose local times do not
//! exist on a spring-forward day is simply not active then (or active from
//! the jump, if the time after the jump falls inside it), and a window over a
//! repeated hour is active through both passes.
//!
//! One deliberate difference: Alertmanager counts a month's days from the
//! elapsed hours between two local midnights, which gives 30 for a 31-day
//! month that contains a spring-forward (so its `-1` means the 30th there).
//! Here a month has its calendar length, so `-1` is always the last day.

use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use crate::CoreError;

/// Most ranges one field of a time interval may list: far more than any
/// real window needs, small enough to keep evaluation and search cheap.
pub const MAX_RANGES: usize = 64;
/// Longest window id.
pub const MAX_ID_LEN: usize = 128;
/// Longest single range string (`"wednesday:saturday"` is 18).
const MAX_RANGE_LEN: usize = 32;
/// Longest time zone name in the tz database is about 32 characters.
const MAX_ZONE_LEN: usize = 64;
/// How far [`MaintenanceWindow::next_change`] looks ahead: a little over
/// four years, so a window on 29 February is still found; the engine asks
/// again at the horizon for anything rarer.
pub const NEXT_CHANGE_HORIZON: Duration = Duration::days(1_500);

const MINUTES_PER_DAY: u16 = 1_440;

/// A named stretch of time in which alerts do not page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceWindow {
    pub id: String,
    pub kind: WindowKind,
}

/// One-off windows are instants (a planned migration); recurring ones are
/// calendar rules in a zone (every Tuesday's deploy hour).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowKind {
    /// Active from `start` (inclusive) to `end` (exclusive).
    OneOff {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    Recurring(TimeInterval),
}

/// Minutes of a local day, `[start_minute, end_minute)`, `end_minute` up to
/// 1440 (`"24:00"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start_minute: u16,
    pub end_minute: u16,
}

/// An inclusive range of weekdays (0 = Sunday .. 6 = Saturday, as in
/// Alertmanager), days of the month (negative counts from the end), months
/// (1 = January) or years.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InclusiveRange {
    pub begin: i32,
    pub end: i32,
}

/// Alertmanager's time interval, parsed and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeInterval {
    pub times: Vec<TimeRange>,
    pub weekdays: Vec<InclusiveRange>,
    pub days_of_month: Vec<InclusiveRange>,
    pub months: Vec<InclusiveRange>,
    pub years: Vec<InclusiveRange>,
    pub time_zone: Tz,
}

/// A time interval as written in config, before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeIntervalSpec {
    #[serde(default)]
    pub times: Vec<TimeRangeSpec>,
    #[serde(default)]
    pub weekdays: Vec<String>,
    #[serde(default)]
    pub days_of_month: Vec<String>,
    #[serde(default)]
    pub months: Vec<String>,
    #[serde(default)]
    pub years: Vec<String>,
    /// Alertmanager calls it `location`; both spellings are accepted.
    #[serde(default, alias = "location")]
    pub time_zone: Option<String>,
}

/// `{ start: "14:00", end: "15:00" }`; Alertmanager's `start_time` and
/// `end_time` are accepted so its definitions paste in unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRangeSpec {
    #[serde(alias = "start_time")]
    pub start: String,
    #[serde(alias = "end_time")]
    pub end: String,
}

/// Weekday names as config writes them, Sunday first (Alertmanager's order).
pub const WEEKDAYS: [&str; 7] = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];
/// Month names as config writes them, January first.
pub const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

impl MaintenanceWindow {
    /// Whether the window holds pages back at instant `t`.
    pub fn active_at(&self, t: DateTime<Utc>) -> bool {
        match &self.kind {
            WindowKind::OneOff { start, end } => *start <= t && t < *end,
            WindowKind::Recurring(interval) => interval.contains(t),
        }
    }

    /// The first instant after `t` at which [`Self::active_at`] gives a
    /// different answer than at `t`: when the window opens or closes next,
    /// so the engine can re-evaluate held-back alerts then. `None` when it
    /// never changes again, or not within [`NEXT_CHANGE_HORIZON`] for a
    /// recurring window (ask again at `t + NEXT_CHANGE_HORIZON`).
    pub fn next_change(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.kind {
            WindowKind::OneOff { start, end } => {
                if t < *start {
                    Some(*start)
                } else if t < *end {
                    Some(*end)
                } else {
                    None
                }
            }
            WindowKind::Recurring(interval) => interval.next_change(t),
        }
    }

    /// Checks a window built in code (config goes through the parsers, which
    /// check the same rules). `field` prefixes the names in errors.
    pub fn validate(&self, field: &str) -> Result<(), CoreError> {
        validate_id(&format!("{field}.id"), &self.id)?;
        match &self.kind {
            WindowKind::OneOff { start, end } => {
                if start >= end {
                    return Err(CoreError::invalid(format!("{field}.end"), "must be after start"));
                }
                Ok(())
            }
            WindowKind::Recurring(interval) => interval.validate(field),
        }
    }
}

/// The id of the first window in `windows` (config order) active at `t`.
pub fn window_at(windows: &[MaintenanceWindow], t: DateTime<Utc>) -> Option<&str> {
    windows.iter().find(|w| w.active_at(t)).map(|w| w.id.as_str())
}

fn validate_id(field: &str, id: &str) -> Result<(), CoreError> {
    if id.is_empty() {
        return Err(CoreError::invalid(field, "must not be empty"));
    }
    if id.len() > MAX_ID_LEN {
        return Err(CoreError::invalid(field, format!("must be at most {MAX_ID_LEN} bytes")));
    }
    if !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err(CoreError::invalid(field, "may contain only letters, digits, `-`, `_` and `.`"));
    }
    Ok(())
}

impl TimeInterval {
    /// An interval with no fields: active at every instant.
    pub fn always(time_zone: Tz) -> Self {
        Self {
            times: Vec::new(),
            weekdays: Vec::new(),
            days_of_month: Vec::new(),
            months: Vec::new(),
            years: Vec::new(),
            time_zone,
        }
    }

    /// Parses and validates a config entry; `field` (for example
    /// `services[0].maintenance_windows[1]`) prefixes the names in errors.
    pub fn parse(field: &str, spec: &TimeIntervalSpec) -> Result<Self, CoreError> {
        let time_zone = match &spec.time_zone {
            Some(name) => parse_time_zone(&format!("{field}.time_zone"), name)?,
            None => Tz::UTC,
        };
        Ok(Self {
            times: parse_list(field, "times", &spec.times, |f, r| parse_time_range(f, &r.start, &r.end))?,
            weekdays: parse_list(field, "weekdays", &spec.weekdays, |f, s| parse_weekday_range(f, s))?,
            days_of_month: parse_list(field, "days_of_month", &spec.days_of_month, |f, s| {
                parse_day_of_month_range(f, s)
            })?,
            months: parse_list(field, "months", &spec.months, |f, s| parse_month_range(f, s))?,
            years: parse_list(field, "years", &spec.years, |f, s| parse_year_range(f, s))?,
            time_zone,
        })
    }

    /// Checks the rules [`Self::parse`] enforces, for intervals built in code.
    pub fn validate(&self, field: &str) -> Result<(), CoreError> {
        check_count(field, "times", self.times.len())?;
        check_count(field, "weekdays", self.weekdays.len())?;
        check_count(field, "days_of_month", self.days_of_month.len())?;
        check_count(field, "months", self.months.len())?;
        check_count(field, "years", self.years.len())?;
        for (i, r) in self.times.iter().enumerate() {
            check_time_range(&format!("{field}.times[{i}]"), *r)?;
        }
        for (i, r) in self.weekdays.iter().enumerate() {
            check_ordered_range(&format!("{field}.weekdays[{i}]"), *r, 0, 6, "a weekday")?;
        }
        for (i, r) in self.days_of_month.iter().enumerate() {
            check_day_of_month_range(&format!("{field}.days_of_month[{i}]"), *r)?;
        }
        for (i, r) in self.months.iter().enumerate() {
            check_ordered_range(&format!("{field}.months[{i}]"), *r, 1, 12, "a month")?;
        }
        for (i, r) in self.years.iter().enumerate() {
            check_ordered_range(&format!("{field}.years[{i}]"), *r, 1, 9_999, "a year")?;
        }
        Ok(())
    }

    /// Whether `t`, read as local time in the interval's zone, matches every
    /// non-empty field.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        let Some(local) = local_time(self.time_zone, t) else {
            return false;
        };
        self.date_matches(local.date()) && self.minute_matches(minute_of_day(local))
    }

    fn date_matches(&self, date: NaiveDate) -> bool {
        let weekday = i32::try_from(date.weekday().num_days_from_sunday()).unwrap_or(0);
        let month = i32::try_from(date.month()).unwrap_or(0);
        let day = i32::try_from(date.day()).unwrap_or(0);
        let days_in_month = days_in_month(date);
        any_or_empty(&self.weekdays, |r| r.begin <= weekday && weekday <= r.end)
            && any_or_empty(&self.days_of_month, |r| {
                let resolve = |d: i32| if d < 0 { days_in_month + d + 1 } else { d };
                resolve(r.begin) <= day && day <= resolve(r.end)
            })
            && any_or_empty(&self.months, |r| r.begin <= month && month <= r.end)
            && any_or_empty(&self.years, |r| r.begin <= date.year() && date.year() <= r.end)
    }

    fn minute_matches(&self, minute: u16) -> bool {
        any_or_empty(&self.times, |r| r.start_minute <= minute && minute < r.end_minute)
    }

    /// Walks from `t` over the only instants at which the answer can change:
    /// the local minutes where a time range starts or ends, local midnights
    /// (the date fields change) and UTC offset transitions (local time jumps).
    fn next_change(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let initial = self.contains(t);
        let horizon = t.checked_add_signed(NEXT_CHANGE_HORIZON)?;
        let mut at = t;
        loop {
            at = self.next_candidate(at)?;
            if at > horizon {
                return None;
            }
            if self.contains(at) != initial {
                return Some(at);
            }
        }
    }

    /// The next instant after `at` worth evaluating: the next range boundary
    /// or midnight in local time, or an offset transition before it.
    fn next_candidate(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let tz = self.time_zone;
        let local = local_time(tz, at)?;
        // tz transitions fall on whole seconds, so dropping the fraction
        // keeps `at`'s offset and makes every later candidate whole.
        let whole = at.checked_sub_signed(Duration::nanoseconds(i64::from(local.nanosecond())))?;
        let second_of_day = i64::from(local.num_seconds_from_midnight());
        let next_boundary = if self.date_matches(local.date()) {
            self.times
                .iter()
                .flat_map(|r| [r.start_minute, r.end_minute])
                .map(|m| i64::from(m) * 60)
                .filter(|s| *s > second_of_day)
                .min()
                .unwrap_or(i64::from(MINUTES_PER_DAY) * 60)
        } else {
            // The date fields fail all day: only midnight can change that.
            i64::from(MINUTES_PER_DAY) * 60
        };
        let candidate = whole.checked_add_signed(Duration::seconds(next_boundary - second_of_day))?;
        let offset = offset_secs(tz, whole);
        if offset_secs(tz, candidate) == offset {
            return Some(candidate);
        }
        // The offset changed on the way: local time jumped at the
        // transition, which is itself a candidate. Bisect whole seconds.
        let (mut lo, mut hi) = (whole, candidate);
        while hi - lo > Duration::seconds(1) {
            let mid = lo + (hi - lo) / 2;
            let mid = mid.checked_sub_signed(Duration::nanoseconds(i64::from(mid.nanosecond())))?;
            if offset_secs(tz, mid) == offset {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(hi)
    }
}

fn any_or_empty<T>(items: &[T], f: impl Fn(&T) -> bool) -> bool {
    items.is_empty() || items.iter().any(f)
}

/// The wall time in `tz` at `t`; `None` outside chrono's range (where
/// chrono's own conversion would panic).
fn local_time(tz: Tz, t: DateTime<Utc>) -> Option<NaiveDateTime> {
    let utc = t.naive_utc();
    utc.checked_add_offset(tz.offset_from_utc_datetime(&utc).fix())
}

fn offset_secs(tz: Tz, t: DateTime<Utc>) -> i32 {
    tz.offset_from_utc_datetime(&t.naive_utc()).fix().local_minus_utc()
}

fn minute_of_day(local: NaiveDateTime) -> u16 {
    u16::try_from(local.hour() * 60 + local.minute()).unwrap_or(0)
}

/// Calendar length of `date`'s month (28 to 31).
fn days_in_month(date: NaiveDate) -> i32 {
    let (y, m) = if date.month() == 12 { (date.year() + 1, 1) } else { (date.year(), date.month() + 1) };
    NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|next| next.pred_opt())
        .and_then(|last| i32::try_from(last.day()).ok())
        .unwrap_or(31)
}

fn parse_list<T, U>(
    field: &str,
    name: &str,
    items: &[T],
    parse: impl Fn(&str, &T) -> Result<U, CoreError>,
) -> Result<Vec<U>, CoreError> {
    check_count(field, name, items.len())?;
    items.iter().enumerate().map(|(i, item)| parse(&format!("{field}.{name}[{i}]"), item)).collect()
}

fn check_count(field: &str, name: &str, len: usize) -> Result<(), CoreError> {
    if len > MAX_RANGES {
        return Err(CoreError::invalid(format!("{field}.{name}"), format!("at most {MAX_RANGES} entries")));
    }
    Ok(())
}

/// An IANA zone name such as `Europe/Berlin`.
pub fn parse_time_zone(field: &str, s: &str) -> Result<Tz, CoreError> {
    if s.len() > MAX_ZONE_LEN {
        return Err(CoreError::invalid(field, format!("must be at most {MAX_ZONE_LEN} bytes")));
    }
    Tz::from_str(s).map_err(|_| {
        CoreError::invalid(field, format!("unknown time zone `{s}`; use an IANA name such as `Europe/Berlin`"))
    })
}

/// `"HH:MM"` with two-digit hours `00`..`23` and minutes `00`..`59`, or
/// `"24:00"` (the end of the day), as minutes since midnight.
pub fn parse_time_of_day(field: &str, s: &str) -> Result<u16, CoreError> {
    let bad =
        || CoreError::invalid(field, format!("`{s}` is not a time; write `HH:MM`, for example `14:00` or `24:00`"));
    let bytes = s.as_bytes();
    if bytes.len() != 5 || bytes[2] != b':' || !bytes.iter().enumerate().all(|(i, b)| i == 2 || b.is_ascii_digit()) {
        return Err(bad());
    }
    let hours: u16 = s[..2].parse().map_err(|_| bad())?;
    let minutes: u16 = s[3..].parse().map_err(|_| bad())?;
    if (hours < 24 && minutes < 60) || (hours == 24 && minutes == 0) { Ok(hours * 60 + minutes) } else { Err(bad()) }
}

/// A range within a day; the start must come before the end (a range that
/// crosses midnight is two ranges, as in Alertmanager).
pub fn parse_time_range(field: &str, start: &str, end: &str) -> Result<TimeRange, CoreError> {
    let start_minute = parse_time_of_day(&format!("{field}.start"), start)?;
    let end_minute = parse_time_of_day(&format!("{field}.end"), end)?;
    let range = TimeRange { start_minute, end_minute };
    check_time_range(field, range)?;
    Ok(range)
}

fn check_time_range(field: &str, r: TimeRange) -> Result<(), CoreError> {
    if r.end_minute > MINUTES_PER_DAY {
        return Err(CoreError::invalid(format!("{field}.end"), "must be at most 24:00"));
    }
    if r.start_minute >= r.end_minute {
        return Err(CoreError::invalid(
            field,
            "start must be before end; split a range that crosses midnight in two, ending at 24:00 and starting at 00:00",
        ));
    }
    Ok(())
}

/// Splits `a:b` into its ends, or `a` into `(a, a)`.
fn split_range<'a>(field: &str, s: &'a str) -> Result<(&'a str, &'a str), CoreError> {
    if s.is_empty() {
        return Err(CoreError::invalid(field, "must not be empty"));
    }
    if s.len() > MAX_RANGE_LEN {
        return Err(CoreError::invalid(field, format!("must be at most {MAX_RANGE_LEN} bytes")));
    }
    let mut parts = s.split(':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(a), None, _) => Ok((a, a)),
        (Some(a), Some(b), None) => Ok((a, b)),
        _ => Err(CoreError::invalid(field, format!("`{s}` is not a range; write one value or `start:end`"))),
    }
}

fn parse_int(field: &str, s: &str, what: &str) -> Result<i32, CoreError> {
    s.parse().map_err(|_| CoreError::invalid(field, format!("`{s}` is not {what}")))
}

fn check_ordered_range(field: &str, r: InclusiveRange, min: i32, max: i32, what: &str) -> Result<(), CoreError> {
    for v in [r.begin, r.end] {
        if v < min || v > max {
            return Err(CoreError::invalid(field, format!("{v} is not {what}: out of range")));
        }
    }
    if r.begin > r.end {
        return Err(CoreError::invalid(field, "the start of the range comes after its end"));
    }
    Ok(())
}

/// `monday`, `monday:friday` (case-insensitive). Ranges do not wrap:
/// `saturday:sunday` is an error, write `saturday` and `sunday`.
pub fn parse_weekday_range(field: &str, s: &str) -> Result<InclusiveRange, CoreError> {
    let (a, b) = split_range(field, s)?;
    let day =
        |name: &str| {
            let lower = name.to_ascii_lowercase();
            WEEKDAYS.iter().position(|d| *d == lower).and_then(|i| i32::try_from(i).ok()).ok_or_else(|| {
                CoreError::invalid(field, format!("`{name}` is not a weekday; write for example `monday`"))
            })
        };
    let range = InclusiveRange { begin: day(a)?, end: day(b)? };
    check_ordered_range(field, range, 0, 6, "a weekday")?;
    Ok(range)
}

/// `january`, `1`, `january:march`, `1:3` (names case-insensitive).
pub fn parse_month_range(field: &str, s: &str) -> Result<InclusiveRange, CoreError> {
    let (a, b) = split_range(field, s)?;
    let month = |name: &str| {
        let lower = name.to_ascii_lowercase();
        match MONTHS.iter().position(|m| *m == lower) {
            Some(i) => Ok(i32::try_from(i).unwrap_or(0) + 1),
            None => parse_int(field, name, "a month; write for example `january` or `1`"),
        }
    };
    let range = InclusiveRange { begin: month(a)?, end: month(b)? };
    check_ordered_range(field, range, 1, 12, "a month")?;
    Ok(range)
}

/// `2026`, `2026:2027`.
pub fn parse_year_range(field: &str, s: &str) -> Result<InclusiveRange, CoreError> {
    let (a, b) = split_range(field, s)?;
    let range = InclusiveRange { begin: parse_int(field, a, "a year")?, end: parse_int(field, b, "a year")? };
    check_ordered_range(field, range, 1, 9_999, "a year")?;
    Ok(range)
}

/// `1`, `-1` (the last day), `1:5`, `-3:-1`, `25:-1`.
pub fn parse_day_of_month_range(field: &str, s: &str) -> Result<InclusiveRange, CoreError> {
    let (a, b) = split_range(field, s)?;
    let range = InclusiveRange {
        begin: parse_int(field, a, "a day of the month")?,
        end: parse_int(field, b, "a day of the month")?,
    };
    check_day_of_month_range(field, range)?;
    Ok(range)
}

/// Alertmanager's rules: each end in `1..=31` or `-31..=-1`; a negative
/// start needs a negative end; and the range must not be empty in every
/// month (checked against a 28-day month, the one length all months reach).
fn check_day_of_month_range(field: &str, r: InclusiveRange) -> Result<(), CoreError> {
    for v in [r.begin, r.end] {
        if v == 0 || !(-31..=31).contains(&v) {
            return Err(CoreError::invalid(field, format!("{v} is not a day of the month: use 1 to 31, or -31 to -1")));
        }
    }
    if r.begin < 0 && r.end > 0 {
        return Err(CoreError::invalid(field, "a range that starts from the end of the month must end there too"));
    }
    let on_short_month = |d: i32| if d < 0 { 28 + d } else { d };
    if on_short_month(r.begin) > on_short_month(r.end) {
        return Err(CoreError::invalid(field, format!("end day {} is always before start day {}", r.end, r.begin)));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
