//! Who is on call now and next, as the home, policy and profile pages show
//! it: from the schedules in force with their stored overrides, over a
//! bounded horizon so no page computes more than two weeks of rotations.

use chrono::{DateTime, TimeDelta, Utc};
use std::sync::Arc;
use tocsin_core::directory::Directory;
use tocsin_core::schedule::{Schedule, final_schedule};
use tocsin_store::merge_overrides;

use crate::App;
use crate::error::Result;

/// How far ahead on-call answers look, in days.
pub const HORIZON_DAYS: i64 = 14;

/// Who a schedule has on call at an instant, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnCallNow {
    pub schedule: String,
    /// `None` in a gap: nobody is on call.
    pub user: Option<String>,
    /// When this changes: the end of the current final-schedule segment (or,
    /// in a gap, when someone comes on). `None` when that is beyond the
    /// horizon.
    pub until: Option<DateTime<Utc>>,
}

/// One stretch of a person's on-call time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    pub schedule: String,
    /// A shift under way starts at the instant asked about.
    pub start: DateTime<Utc>,
    /// `None` when the shift lasts beyond the horizon.
    pub end: Option<DateTime<Utc>>,
}

fn horizon(now: DateTime<Utc>) -> DateTime<Utc> {
    now + TimeDelta::days(HORIZON_DAYS)
}

/// Who `schedule` has on call at `now` and until when.
pub(crate) fn on_call_now(schedule: &Schedule, now: DateTime<Utc>) -> OnCallNow {
    let end = horizon(now);
    let segments = final_schedule(schedule, now, end).unwrap_or_default();
    let within = |t: DateTime<Utc>| (t < end).then_some(t);
    match segments.first() {
        Some(s) if s.start == now => {
            OnCallNow { schedule: schedule.id.clone(), user: Some(s.user.clone()), until: within(s.end) }
        }
        first => OnCallNow { schedule: schedule.id.clone(), user: None, until: first.map(|s| s.start) },
    }
}

/// `user`'s shifts on every schedule from `now` over the horizon, soonest
/// first, at most `limit`.
pub(crate) fn shifts(schedules: &[Schedule], user: &str, now: DateTime<Utc>, limit: usize) -> Vec<Shift> {
    let end = horizon(now);
    let mut out: Vec<Shift> =
        schedules
            .iter()
            .flat_map(|s| {
                final_schedule(s, now, end).unwrap_or_default().into_iter().filter(|seg| seg.user == user).map(|seg| {
                    Shift { schedule: s.id.clone(), start: seg.start, end: (seg.end < end).then_some(seg.end) }
                })
            })
            .collect();
    out.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.schedule.cmp(&b.schedule)));
    out.truncate(limit);
    out
}

impl App {
    /// Every schedule in force with the stored overrides that still matter
    /// at `now`, and the directory they come from (one config version).
    pub(crate) async fn schedules_at(&self, now: DateTime<Utc>) -> Result<(Arc<Directory>, Vec<Schedule>)> {
        let directory = self.directory();
        let stored = self.store.list_overrides(None, now).await?;
        let schedules = directory.schedules.iter().map(|s| merge_overrides(s, &stored)).collect();
        Ok((directory, schedules))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};
    use tocsin_core::schedule::{Layer, Override, Turn};

    fn daily(id: &str, users: &[&str]) -> Schedule {
        let start = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap().and_hms_opt(9, 0, 0).unwrap();
        Schedule {
            id: id.into(),
            time_zone: chrono_tz::UTC,
            layers: vec![Layer {
                id: "l".into(),
                users: users.iter().map(|u| u.to_string()).collect(),
                time_zone: None,
                start,
                turn: Turn::Days(1),
                handoff: start.time(),
                restrictions: vec![],
                end: None,
            }],
            overrides: vec![],
        }
    }

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).single().unwrap()
    }

    #[test]
    fn on_call_until_the_segment_ends_or_beyond_the_horizon() {
        let s = daily("primary", &["alice", "bob"]);
        let now = on_call_now(&s, at(2, 12));
        assert_eq!((now.user.as_deref(), now.until), (Some("alice"), Some(at(3, 9))));
        let alone = daily("solo", &["carol"]);
        assert_eq!(on_call_now(&alone, at(2, 12)).until, None, "carol's one segment runs past 14 days");
        let before = on_call_now(&s, at(1, 12));
        assert_eq!((before.user, before.until), (None, Some(at(2, 9))), "a gap until the rotation starts");
    }

    #[test]
    fn shifts_are_soonest_first_across_schedules_and_bounded() {
        let mut night = daily("night", &["bob", "alice"]);
        night.overrides.push(Override { user: "alice".into(), start: at(2, 13), end: at(2, 14), created_seq: 1 });
        let schedules = [daily("primary", &["alice", "bob"]), night];
        let got = shifts(&schedules, "alice", at(2, 12), 3);
        assert_eq!(
            got,
            [
                Shift { schedule: "primary".into(), start: at(2, 12), end: Some(at(3, 9)) },
                Shift { schedule: "night".into(), start: at(2, 13), end: Some(at(2, 14)) },
                Shift { schedule: "night".into(), start: at(3, 9), end: Some(at(4, 9)) },
            ]
        );
        assert_eq!(shifts(&schedules, "alice", at(2, 12), 100).len(), 16, "8 turns on each, the override one of them");
    }
}
