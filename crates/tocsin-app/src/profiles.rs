//! A person's page: who they are, their teams, the schedules they take part
//! in, where they are on call now and next, and (for themselves, managers
//! and admins) how they are reached and whether the last test page arrived.

use tocsin_core::access::{Action, Principal, Resource, authorize};
use tocsin_core::schedule::Schedule;

use crate::App;
use crate::error::Result;
use crate::home::{ContactMethodView, contact_methods};
use crate::oncall::{OnCallNow, Shift, on_call_now, shifts};
use crate::people::{Person, TeamInfo};

/// Most shifts a person's page lists.
pub const PROFILE_SHIFTS: usize = 10;

#[derive(Debug, Clone)]
pub struct UserDetail {
    pub person: Person,
    pub teams: Vec<TeamInfo>,
    /// Schedules whose rotations or overrides (not ended yet) name them.
    pub schedules: Vec<String>,
    /// Where they are on call now, and until when.
    pub on_call_now: Vec<OnCallNow>,
    pub next_shifts: Vec<Shift>,
    /// `None` unless the reader may see their contact details.
    pub contact_methods: Option<Vec<ContactMethodView>>,
}

fn takes_part(schedule: &Schedule, user: &str) -> bool {
    schedule.layers.iter().any(|l| l.users.iter().any(|u| u == user))
        || schedule.overrides.iter().any(|o| o.user == user)
}

impl App {
    pub async fn user_detail(&self, who: &Principal, id: &str) -> Result<UserDetail> {
        let person = self.user(who, id).await?;
        let now = self.now();
        let (directory, schedules) = self.schedules_at(now).await?;
        let teams = person
            .teams
            .iter()
            .filter_map(|t| directory.team(t))
            .map(|t| crate::people::team_info(&directory, t))
            .collect();
        let on_call_now =
            schedules.iter().map(|s| on_call_now(s, now)).filter(|o| o.user.as_deref() == Some(id)).collect();
        let contact_methods = match (authorize(who, Action::ReadContactDetails, Resource::User(id)), directory.user(id))
        {
            (Ok(()), Some(user)) => Some(contact_methods(user, &self.store.latest_test_pages(id).await?)),
            (Ok(()), None) => Some(Vec::new()),
            (Err(_), _) => None,
        };
        Ok(UserDetail {
            teams,
            schedules: schedules.iter().filter(|s| takes_part(s, id)).map(|s| s.id.clone()).collect(),
            on_call_now,
            next_shifts: shifts(&schedules, id, now, PROFILE_SHIFTS),
            contact_methods,
            person,
        })
    }
}
