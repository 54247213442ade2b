//! Wall-clock times in an IANA zone, mapped to instants by one rule: a wall
//! time denotes the earliest instant whose local time is at or after it.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// Every UTC offset in the tz database (local mean times included) lies
/// strictly within this many seconds of zero, so the instant a wall time
/// denotes lies within it of the wall time read as UTC.
const MAX_OFFSET_SECS: i64 = 16 * 3600;

/// The instant `local` denotes in `tz`: the time itself, the first occurrence
/// of an ambiguous time, or the end of the gap a nonexistent time falls in.
/// `None` only outside chrono's range.
pub(super) fn resolve(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Some(a.min(b).with_timezone(&Utc)),
        LocalResult::None => gap_end(tz, local),
    }
}

/// The calendar date in `tz` at instant `t`. Within a day of chrono's range
/// limits, where the local time may not be representable, the UTC date (at
/// most a day off) stands in; callers leave a day of slack for it.
pub(super) fn local_date(tz: Tz, t: DateTime<Utc>) -> NaiveDate {
    local_time(tz, t).map_or_else(|| t.date_naive(), |local| local.date())
}

/// The wall time in `tz` at instant `t`; `None` when it is outside chrono's
/// range (chrono's own `naive_local` panics there).
fn local_time(tz: Tz, t: DateTime<Utc>) -> Option<NaiveDateTime> {
    let utc = t.naive_utc();
    utc.checked_add_offset(tz.offset_from_utc_datetime(&utc).fix())
}

/// `date` moved by `days` (either sign); `None` outside chrono's range.
pub(super) fn add_days(date: NaiveDate, days: i64) -> Option<NaiveDate> {
    date.checked_add_signed(TimeDelta::try_days(days)?)
}

/// The first instant whose local time is at or after the nonexistent `local`:
/// the transition that jumps over it. tz transitions fall on whole seconds,
/// so a bisection over whole seconds within the offset bound finds it
/// exactly. A crossing from "before `local`" to "at or after `local`" where
/// `local` does not exist can only be such a jump.
fn gap_end(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let guess = local.and_utc().timestamp();
    let mut before = guess.checked_sub(MAX_OFFSET_SECS)?;
    let mut after = guess.checked_add(MAX_OFFSET_SECS)?;
    if reached(tz, before, local)? || !reached(tz, after, local)? {
        return None;
    }
    while after - before > 1 {
        let mid = before + (after - before) / 2;
        if reached(tz, mid, local)? {
            after = mid;
        } else {
            before = mid;
        }
    }
    DateTime::from_timestamp(after, 0)
}

/// Whether the local time at Unix second `secs` is at or after `local`.
fn reached(tz: Tz, secs: i64, local: NaiveDateTime) -> Option<bool> {
    Some(local_time(tz, DateTime::from_timestamp(secs, 0)?)? >= local)
}
