//! Run-time schedule overrides ("take my shift Friday 18:00–Monday 09:00").
//! They rank above the ones config declares; among themselves the one
//! created last wins.

use chrono::{DateTime, TimeDelta, Utc};
use tocsin_core::access::{Action, Principal, Resource};
use tocsin_core::schedule::{MAX_RANGE_DAYS, Override};
use tocsin_store::{NewOverride, ScheduleOverride};

use crate::App;
use crate::error::{AppError, Result};

/// Longest override, in days: the longest range one segments query answers,
/// so an override is always visible whole.
pub const MAX_OVERRIDE_DAYS: i64 = MAX_RANGE_DAYS;

/// A schedule's overrides by where they come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideList {
    /// Declared in config; changed only by applying a new version.
    pub declared: Vec<Override>,
    /// Created at run time (API, CLI); these rank above the declared ones.
    pub stored: Vec<ScheduleOverride>,
}

fn check_interval(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<()> {
    if end <= start {
        return Err(AppError::invalid("end", "must be after `start`"));
    }
    if end - start > TimeDelta::days(MAX_OVERRIDE_DAYS) {
        return Err(AppError::invalid("end", format!("an override may last at most {MAX_OVERRIDE_DAYS} days")));
    }
    Ok(())
}

impl App {
    fn known_schedule(&self, id: &str) -> Result<()> {
        self.directory().schedule(id).map(|_| ()).ok_or(AppError::NotFound("schedule"))
    }

    /// Responders create overrides for themselves; managers and admins for
    /// anyone (see [`tocsin_core::access`]).
    pub async fn create_override(&self, who: &Principal, new: NewOverride) -> Result<ScheduleOverride> {
        let target = Resource::Override { schedule: &new.schedule_id, user: &new.user_id };
        self.allow(who, Action::ManageOverride, target)?;
        self.known_schedule(&new.schedule_id)?;
        if self.directory().user(&new.user_id).is_none() {
            return Err(AppError::invalid("user", format!("unknown user `{}`", new.user_id)));
        }
        check_interval(new.start, new.end)?;
        Ok(self.store.create_override(&new, &who.actor(), self.now()).await?)
    }

    /// A schedule's overrides that have not ended yet (or, with
    /// `include_past`, all of them), lowest precedence first: those declared
    /// in config in file order, then the run-time ones in creation order.
    pub async fn list_overrides(&self, who: &Principal, schedule_id: &str, include_past: bool) -> Result<OverrideList> {
        self.allow(who, Action::Read, Resource::Schedule(schedule_id))?;
        let directory = self.directory();
        let schedule = directory.schedule(schedule_id).ok_or(AppError::NotFound("schedule"))?;
        let ending_after = if include_past { DateTime::<Utc>::MIN_UTC } else { self.now() };
        let declared = schedule.overrides.iter().filter(|o| o.end > ending_after).cloned().collect();
        let stored = self.store.list_overrides(Some(schedule_id), ending_after).await?;
        Ok(OverrideList { declared, stored })
    }

    /// Responders delete overrides that put themselves on call; managers and
    /// admins anyone's.
    pub async fn delete_override(&self, who: &Principal, schedule_id: &str, id: i64) -> Result<()> {
        // Whoever may not change even their own overrides learns nothing
        // about which exist.
        let me = who.user_id().unwrap_or_default();
        self.allow(who, Action::ManageOverride, Resource::Override { schedule: schedule_id, user: me })?;
        self.known_schedule(schedule_id)?;
        let stored = self.store.list_overrides(Some(schedule_id), DateTime::<Utc>::MIN_UTC).await?;
        let found = stored.into_iter().find(|o| o.id == id).ok_or(AppError::NotFound("override"))?;
        self.allow(who, Action::ManageOverride, Resource::Override { schedule: schedule_id, user: &found.user_id })?;
        if self.store.delete_override(schedule_id, id, &who.actor(), self.now()).await? {
            Ok(())
        } else {
            Err(AppError::NotFound("override"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn field(r: Result<()>) -> Option<String> {
        match r {
            Err(AppError::Invalid { field, .. }) => Some(field),
            _ => None,
        }
    }

    #[test]
    fn intervals_name_end() {
        let t = |d: u32| Utc.with_ymd_and_hms(2026, 3, d, 0, 0, 0).single().unwrap_or_default();
        assert!(check_interval(t(2), t(3)).is_ok());
        assert_eq!(field(check_interval(t(3), t(3))).as_deref(), Some("end"));
        assert_eq!(field(check_interval(t(3), t(2))).as_deref(), Some("end"));
        let long = t(1) + TimeDelta::days(MAX_OVERRIDE_DAYS) + TimeDelta::seconds(1);
        assert_eq!(field(check_interval(t(1), long)).as_deref(), Some("end"));
        assert!(check_interval(t(1), t(1) + TimeDelta::days(MAX_OVERRIDE_DAYS)).is_ok());
    }
}
