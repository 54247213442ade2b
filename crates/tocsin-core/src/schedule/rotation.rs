//! One layer resolved in its zone: whose turn it is, whether a restriction
//! window is open, and the instants where either can change.
//!
//! The point answers ([`Rotation::user_at`]) and the change instants
//! ([`Rotation::boundaries`]) are built from the same two functions,
//! [`Rotation::turn_start`] and [`Rotation::window`], so they cannot drift
//! apart.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use super::wall::{add_days, local_date, resolve};
use super::{Layer, Restriction, Turn};

/// How far (in local days) before an instant's date a window containing it
/// can have opened. A window lasts at most seven days (one for daily ones);
/// the slack covers resolution moving a wall time past a gap (up to a day), a
/// fold moving the local date back (up to a day) and [`local_date`]'s
/// fallback at chrono's range limits (up to a day).
const WEEKLY_LOOKBACK_DAYS: i64 = 11;
const DAILY_LOOKBACK_DAYS: i64 = 4;
/// How far after an instant's date a window containing it can have opened:
/// a fold, or the fallback, can put the instant's date a day early each.
const LOOKAHEAD_DAYS: i64 = 2;

/// How turn starts step from the anchor.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Absolute seconds (`Hours` turns).
    Seconds(i64),
    /// Calendar days at the anchor's wall time (`Days` and `Weeks` turns).
    WallDays(i64),
}

impl Step {
    fn of(turn: Turn) -> Self {
        match turn {
            Turn::Hours(n) => Step::Seconds(i64::from(n) * 3600),
            Turn::Days(n) => Step::WallDays(i64::from(n)),
            Turn::Weeks(n) => Step::WallDays(i64::from(n) * 7),
        }
    }
}

/// A layer that can put someone on call, with its zone and anchor instant.
#[derive(Debug, Clone)]
pub(super) struct Rotation<'a> {
    layer: &'a Layer,
    tz: Tz,
    step: Step,
    anchor: DateTime<Utc>,
}

impl<'a> Rotation<'a> {
    /// `None` for a layer that can never put anyone on call: no users, a
    /// zero-length turn, or an anchor outside chrono's range.
    pub(super) fn new(layer: &'a Layer, tz: Tz) -> Option<Self> {
        if layer.users.is_empty() || layer.turn.is_zero() {
            return None;
        }
        let anchor = resolve(tz, layer.start)?;
        Some(Rotation { layer, tz, step: Step::of(layer.turn), anchor })
    }

    /// The user this layer puts on call at `t`, if it is active then.
    pub(super) fn user_at(&self, t: DateTime<Utc>) -> Option<&'a str> {
        if t < self.anchor || self.layer.end.is_some_and(|end| end <= t) || !self.open_at(t) {
            return None;
        }
        let turn = self.turn_at(t)?;
        let len = i64::try_from(self.layer.users.len()).ok()?;
        let index = usize::try_from(turn.rem_euclid(len)).ok()?;
        self.layer.users.get(index).map(String::as_str)
    }

    /// Pushes every instant in `(from, to)` at which [`Self::user_at`] can
    /// change: the anchor, the end, turn starts and window edges. Instants
    /// outside the range may be pushed too; the caller filters.
    pub(super) fn boundaries(&self, from: DateTime<Utc>, to: DateTime<Utc>, out: &mut Vec<DateTime<Utc>>) {
        out.push(self.anchor);
        out.extend(self.layer.end);
        // With one user, a new turn never changes who is on call.
        if self.layer.users.len() > 1 {
            self.turn_starts(from, to, out);
        }
        self.window_edges(from, to, out);
    }

    /// Turn starts in `(from, to)`.
    fn turn_starts(&self, from: DateTime<Utc>, to: DateTime<Utc>, out: &mut Vec<DateTime<Utc>>) {
        let mut k = self.turn_at(from).map_or(0, |k| k.saturating_add(1));
        while let Some(start) = self.turn_start(k).filter(|s| *s < to) {
            out.push(start);
            let Some(next) = k.checked_add(1) else { return };
            k = next;
        }
    }

    /// Restriction window edges in `(from, to)` (and a few just outside).
    fn window_edges(&self, from: DateTime<Utc>, to: DateTime<Utc>, out: &mut Vec<DateTime<Utc>>) {
        let first = add_days(local_date(self.tz, from), -WEEKLY_LOOKBACK_DAYS).unwrap_or(NaiveDate::MIN);
        let last = add_days(local_date(self.tz, to), LOOKAHEAD_DAYS + 1).unwrap_or(NaiveDate::MAX);
        for date in first.iter_days().take_while(|d| *d <= last) {
            for r in &self.layer.restrictions {
                out.extend(self.window(r, date).into_iter().flat_map(|(open, close)| [open, close]));
            }
        }
    }

    /// The number of turns begun before the one running at `t`: the largest
    /// `k` whose turn has started by `t`, or `None` before the anchor. Turn
    /// starts never decrease with `k` (see [`resolve`]), so stepping from a
    /// guess to the right `k` is exact; the guess is within a turn or so.
    fn turn_at(&self, t: DateTime<Utc>) -> Option<i64> {
        if t < self.anchor {
            return None;
        }
        let mut k = self.guess_turn(t).max(0);
        while k > 0 && !self.started_by(k, t) {
            k -= 1;
        }
        while k.checked_add(1).is_some_and(|next| self.started_by(next, t)) {
            k += 1;
        }
        Some(k)
    }

    fn guess_turn(&self, t: DateTime<Utc>) -> i64 {
        match self.step {
            Step::Seconds(secs) => (t - self.anchor).num_seconds() / secs,
            Step::WallDays(days) => (local_date(self.tz, t) - self.layer.start.date()).num_days().div_euclid(days),
        }
    }

    fn started_by(&self, k: i64, t: DateTime<Utc>) -> bool {
        self.turn_start(k).is_some_and(|start| start <= t)
    }

    /// The instant turn `k` (`k >= 0`) begins; `None` outside chrono's range.
    fn turn_start(&self, k: i64) -> Option<DateTime<Utc>> {
        match self.step {
            Step::Seconds(secs) => self.anchor.checked_add_signed(TimeDelta::try_seconds(secs.checked_mul(k)?)?),
            Step::WallDays(days) => {
                let date = add_days(self.layer.start.date(), days.checked_mul(k)?)?;
                resolve(self.tz, NaiveDateTime::new(date, self.layer.start.time()))
            }
        }
    }

    /// Whether the layer's restrictions let it be active at `t`.
    fn open_at(&self, t: DateTime<Utc>) -> bool {
        let restrictions = &self.layer.restrictions;
        restrictions.is_empty() || restrictions.iter().any(|r| self.window_contains(r, t))
    }

    fn window_contains(&self, r: &Restriction, t: DateTime<Utc>) -> bool {
        let lookback = match r {
            Restriction::Daily { .. } => DAILY_LOOKBACK_DAYS,
            Restriction::Weekly { .. } => WEEKLY_LOOKBACK_DAYS,
        };
        let date = local_date(self.tz, t);
        // Clamped at chrono's range limits, like the enumeration in `window_edges`.
        let first = add_days(date, -lookback).unwrap_or(NaiveDate::MIN);
        let last = add_days(date, LOOKAHEAD_DAYS).unwrap_or(NaiveDate::MAX);
        first
            .iter_days()
            .take_while(|d| *d <= last)
            .filter_map(|d| self.window(r, d))
            .any(|(open, close)| open <= t && t < close)
    }

    /// The window of `r` that opens on local `date`, as `[open, close)`
    /// instants; `None` if none opens that day or it is empty (e.g. both edges
    /// inside one DST gap, or `from == to`).
    fn window(&self, r: &Restriction, date: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let (from, to, days) = match *r {
            // `to` before `from` wraps midnight; `to == from` is an empty window.
            Restriction::Daily { from, to } => (from, to, i64::from(to < from)),
            Restriction::Weekly { from: (from_day, from), to: (to_day, to) } => {
                if date.weekday() != from_day {
                    return None;
                }
                let days = (i64::from(to_day.num_days_from_monday()) - i64::from(from_day.num_days_from_monday()))
                    .rem_euclid(7);
                // The same weekday with `to` before `from` wraps the whole week.
                (from, to, if days == 0 && to < from { 7 } else { days })
            }
        };
        let open = resolve(self.tz, NaiveDateTime::new(date, from))?;
        let close = resolve(self.tz, NaiveDateTime::new(add_days(date, days)?, to))?;
        (open < close).then_some((open, close))
    }
}
