//! Schedules: who is on call when, as a pure function of configuration and
//! a time range.
//!
//! The API, the UI, the engine and the iCalendar feed all ask the same two
//! questions, [`final_schedule`] (segments in `[from, to)`) and
//! [`on_call_at`] (one instant), so the rules below live here once. Both are
//! answered by one point rule ([`on_call_at`]); [`final_schedule`] only finds
//! the instants where the answer can change and asks the point rule once per
//! interval between them. That is why a range's segments always agree with
//! the point answers and splitting a range never changes the result.
//!
//! # Rules
//!
//! **Wall times.** Every wall-clock value (`start`, restriction edges) is read
//! in the layer's zone (its own `time_zone`, else the schedule's) with the
//! IANA database embedded in `chrono-tz`, so answers do not depend on the
//! machine's tzdata. A wall time denotes *the earliest instant whose local
//! time is at or after it*. For an ordinary time that is the time itself; for
//! a time that exists twice (fall-back overlap) it is the **first**
//! occurrence; for a time that does not exist (spring-forward gap) it is the
//! instant the gap ends (02:30 on 2026-03-08 in New York is 03:00 EDT). One
//! definition covers all three cases and is monotonic, so later wall times
//! never map to earlier instants.
//!
//! **Rotation.** A layer's `start` is its anchor and first handoff; before it
//! the layer is inactive. The user on call is `users[k % users.len()]` where
//! `k` is the number of turns that have begun since the anchor, excluding the
//! anchor's own turn.
//! - `Days(n)` / `Weeks(n)`: turn `k` begins at `start`'s time of day on
//!   `start`'s date plus `k·n` (or `7·k·n`) calendar days, in the layer's zone.
//!   Handoffs therefore stay at the same wall time across DST; such a turn
//!   lasts 23 or 25 hours (23.5 or 24.5 on Lord Howe) when it spans a
//!   transition.
//! - `Hours(n)`: turn `k` begins `k·n` **absolute** hours after the anchor.
//!   Sub-day turns have no natural wall-clock grid (a 12-hour rotation in a
//!   23-hour day cannot keep both of its handoffs), so they keep their length
//!   and their wall-clock handoff moves by the DST shift instead.
//! - `handoff` must equal `start`'s time of day ([`validate`] checks it). The
//!   config contract carries both; requiring agreement keeps one source of
//!   truth instead of inventing a partial first turn.
//!
//! **Restrictions.** A layer with restrictions is active only inside their
//! windows (their union, when there are several). A window opens at the `from`
//! wall time and closes at the next `to` wall time: a daily window whose `to`
//! is not after `from` wraps past midnight (22:00–06:00), a weekly one wraps
//! the week (fri 17:00–mon 09:00; the same weekday with `to` before `from`
//! spans seven days). Outside its windows a layer is a hole through which
//! earlier layers show. Restrictions never shift whose turn it is: the
//! rotation keeps turning through restricted time.
//!
//! **Stacking.** A layer listed later overrides the layers before it wherever
//! it is active. A layer with an `end` is inactive from `end` on.
//!
//! **Overrides** (`[start, end)`, UTC) beat every layer. Where overrides
//! overlap, the one with the higher `created_seq` wins; on a tie the one
//! listed later wins.
//!
//! **Gaps.** Nobody on call is reported as the absence of a segment, never
//! filled in.
//!
//! **Invalid input.** Resolution does not re-validate: a layer [`validate`]
//! would reject for no users or a zero-length turn contributes nothing, an
//! empty restriction window is never open and an override whose end is not
//! after its start covers nothing. Nothing panics on any input; arithmetic
//! that would leave chrono's range simply yields no boundary.
//!
//! **Cost bound.** [`final_schedule`] refuses ranges longer than
//! [`MAX_RANGE_DAYS`] days with a typed error rather than clamping, because a
//! silently shortened answer would read as a gap. The bound caps the work at
//! about 9,600 boundaries per hourly layer.

mod rotation;
mod validation;
mod wall;

#[cfg(test)]
mod tests;

use chrono::{DateTime, NaiveDateTime, NaiveTime, TimeDelta, Utc, Weekday};
use chrono_tz::Tz;

use crate::CoreError;
use rotation::Rotation;

pub use validation::{problems, validate};

/// The longest range [`final_schedule`] answers for, in days: a year plus
/// room for a calendar view that straddles year ends.
pub const MAX_RANGE_DAYS: i64 = 400;

/// An on-call schedule: ordered layers plus overrides, in an IANA zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub id: String,
    /// The zone of layers that do not name their own.
    pub time_zone: Tz,
    /// Later layers override earlier ones wherever they are active.
    pub layers: Vec<Layer>,
    pub overrides: Vec<Override>,
}

/// One rotation: users taking turns, optionally only inside restriction
/// windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub id: String,
    /// In rotation order; the first user has the anchor's turn.
    pub users: Vec<String>,
    /// Defaults to the schedule's zone.
    pub time_zone: Option<Tz>,
    /// Local wall time in the layer's zone: the rotation's anchor and first
    /// handoff.
    pub start: NaiveDateTime,
    pub turn: Turn,
    /// Wall-clock handoff time in the layer's zone; must equal `start`'s time
    /// of day.
    pub handoff: NaiveTime,
    /// Empty means always active.
    pub restrictions: Vec<Restriction>,
    /// The layer is inactive from this instant on.
    pub end: Option<DateTime<Utc>>,
}

/// Turn length: `12h`, `1d`, `1w` in config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Turn {
    /// Absolute hours: the wall-clock handoff shifts across DST.
    Hours(u32),
    /// Calendar days: the handoff stays at the same wall time.
    Days(u32),
    /// Calendar weeks: the handoff stays at the same wall time.
    Weeks(u32),
}

impl Turn {
    fn is_zero(self) -> bool {
        matches!(self, Turn::Hours(0) | Turn::Days(0) | Turn::Weeks(0))
    }
}

/// A window, in the layer's zone, in which the layer is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Restriction {
    /// Every day from `from` to the next `to`; wraps midnight when `to` is not
    /// after `from`.
    Daily { from: NaiveTime, to: NaiveTime },
    /// Every week from `from` to the next `to`; may wrap the week.
    Weekly { from: (Weekday, NaiveTime), to: (Weekday, NaiveTime) },
}

/// Someone taking `[start, end)` regardless of the layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub user: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Creation order: where overrides overlap, the higher one wins.
    pub created_seq: u64,
}

/// `user` is on call during `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Segment {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub user: String,
}

/// Who is on call during `[from, to)`: sorted, non-overlapping, non-empty
/// segments inside the range, adjacent segments of the same user merged, gaps
/// absent. An empty or reversed range has no segments.
///
/// # Errors
/// [`CoreError::Invalid`] naming `to` when the range spans more than
/// [`MAX_RANGE_DAYS`] days.
pub fn final_schedule(s: &Schedule, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Segment>, CoreError> {
    if to <= from {
        return Ok(Vec::new());
    }
    if to - from > TimeDelta::days(MAX_RANGE_DAYS) {
        return Err(CoreError::invalid("to", format!("a range may span at most {MAX_RANGE_DAYS} days")));
    }
    let rotations = rotations(s);
    // Overrides outside the range cannot cover any instant in it.
    let overrides: Vec<&Override> = s.overrides.iter().filter(|o| o.start < to && from < o.end).collect();

    let mut cuts = vec![from, to];
    for r in &rotations {
        r.boundaries(from, to, &mut cuts);
    }
    cuts.extend(overrides.iter().flat_map(|o| [o.start, o.end]));
    cuts.retain(|c| from <= *c && *c <= to);
    cuts.sort_unstable();
    cuts.dedup();

    let mut segments: Vec<Segment> = Vec::new();
    for pair in cuts.windows(2) {
        let &[start, end] = pair else { continue };
        if let Some(user) = who(&rotations, &overrides, start) {
            push_merged(&mut segments, start, end, user);
        }
    }
    Ok(segments)
}

/// The user on call at `at`, or `None` in a gap.
pub fn on_call_at(s: &Schedule, at: DateTime<Utc>) -> Option<String> {
    let overrides: Vec<&Override> = s.overrides.iter().collect();
    who(&rotations(s), &overrides, at).map(str::to_owned)
}

/// The point rule both entry points share: overrides first, then layers from
/// the last to the first.
fn who<'a>(rotations: &'a [Rotation<'a>], overrides: &[&'a Override], at: DateTime<Utc>) -> Option<&'a str> {
    override_at(overrides, at).or_else(|| rotations.iter().rev().find_map(|r| r.user_at(at)))
}

/// The winning override covering `at`: highest `created_seq`, then the one
/// listed later (`max_by_key` keeps the last maximum).
fn override_at<'a>(overrides: &[&'a Override], at: DateTime<Utc>) -> Option<&'a str> {
    overrides.iter().filter(|o| o.start <= at && at < o.end).max_by_key(|o| o.created_seq).map(|o| o.user.as_str())
}

/// The layers that can put someone on call, in order.
fn rotations(s: &Schedule) -> Vec<Rotation<'_>> {
    s.layers.iter().filter_map(|l| Rotation::new(l, l.time_zone.unwrap_or(s.time_zone))).collect()
}

/// Appends `[start, end)` for `user`, extending the previous segment when it
/// is the same user and touches.
fn push_merged(segments: &mut Vec<Segment>, start: DateTime<Utc>, end: DateTime<Utc>, user: &str) {
    if let Some(last) = segments.last_mut()
        && last.end == start
        && last.user == user
    {
        last.end = end;
        return;
    }
    segments.push(Segment { start, end, user: user.to_owned() });
}
