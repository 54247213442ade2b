//! The home page of whoever signs in: their open incidents, who is on call
//! for their teams, their next shifts and how they are reached.

use chrono::{DateTime, Utc};
use std::collections::BTreeSet;
use tocsin_core::access::{Action, Principal, Resource};
use tocsin_core::directory::Directory;
use tocsin_core::escalation::{EscState, EscalationState, Target};
use tocsin_core::incident::Incident;
use tocsin_core::model::User;
use tocsin_core::notify::rules::{ContactKind, ContactMethod};
use tocsin_core::oncall::level_responders;
use tocsin_core::paging::channel_of;
use tocsin_core::schedule::Schedule;
use tocsin_store::TestPage;

use crate::App;
use crate::error::{AppError, Result};
use crate::oncall::{OnCallNow, Shift, on_call_now, shifts};

/// Most incidents the home page lists.
pub const HOME_INCIDENTS: usize = 50;
/// Most shifts the home page lists.
pub const HOME_SHIFTS: usize = 10;
/// Escalations under way looked at for whom they target now; beyond this
/// many (a storm), the incidents the person was paged about still show.
const ESCALATIONS_SCANNED: i64 = 500;

/// The signed-in person's page.
#[derive(Debug, Clone)]
pub struct Home {
    pub user_id: String,
    /// Open incidents this person was paged about, acknowledged, or whose
    /// escalation targets them now; newest first.
    pub my_incidents: Vec<Incident>,
    /// Per team of theirs, in config order.
    pub on_call: Vec<TeamOnCall>,
    pub next_shifts: Vec<Shift>,
    pub contact_methods: Vec<ContactMethodView>,
}

/// Who is on call now for one team's schedules: those its services'
/// policies page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamOnCall {
    pub team: String,
    pub team_name: String,
    pub schedules: Vec<OnCallNow>,
}

/// A contact method as config declares it, and its latest test page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactMethodView {
    pub method: ContactMethod,
    /// `webhook`, `slack` or `email`.
    pub channel: &'static str,
    /// The URL or address, as config has it.
    pub address: String,
    pub last_test: Option<TestPage>,
}

pub(crate) fn contact_methods(user: &User, tests: &[TestPage]) -> Vec<ContactMethodView> {
    user.contact_methods
        .iter()
        .map(|m| ContactMethodView {
            channel: channel_of(&m.kind),
            address: match &m.kind {
                ContactKind::Webhook { url } | ContactKind::Slack { url } => url.clone(),
                ContactKind::Email { address } => address.clone(),
            },
            last_test: tests.iter().find(|t| t.contact_method == m.id).cloned(),
            method: m.clone(),
        })
        .collect()
}

/// The schedules a team's services page through their policies, each once,
/// in the order the policies name them.
fn team_schedules(directory: &Directory, team: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let policies = directory
        .services
        .iter()
        .filter(|s| s.team.as_deref() == Some(team))
        .filter_map(|s| s.escalation_policy.as_deref().and_then(|p| directory.policy(p)));
    for target in policies.flat_map(|p| p.levels.iter().flat_map(|l| l.targets.iter())) {
        if let Target::Schedule(id) = target
            && !out.contains(id)
        {
            out.push(id.clone());
        }
    }
    out
}

impl App {
    pub async fn home(&self, who: &Principal) -> Result<Home> {
        self.allow(who, Action::Read, Resource::All)?;
        let user_id = who.user_id().ok_or(AppError::NotFound("user"))?;
        let now = self.now();
        let (directory, schedules) = self.schedules_at(now).await?;
        let on_call = directory
            .teams
            .iter()
            .filter(|t| t.members.iter().any(|m| m == user_id))
            .map(|t| TeamOnCall {
                team: t.id.clone(),
                team_name: t.name.clone(),
                schedules: team_schedules(&directory, &t.id)
                    .iter()
                    .filter_map(|id| schedules.iter().find(|s| &s.id == id))
                    .map(|s| on_call_now(s, now))
                    .collect(),
            })
            .collect();
        let contact_methods = match directory.user(user_id) {
            Some(user) => contact_methods(user, &self.store.latest_test_pages(user_id).await?),
            None => Vec::new(),
        };
        Ok(Home {
            user_id: user_id.to_string(),
            my_incidents: self.my_incidents(user_id, &schedules, now).await?,
            on_call,
            next_shifts: shifts(&schedules, user_id, now, HOME_SHIFTS),
            contact_methods,
        })
    }

    /// Open incidents `user_id` was paged about or acknowledged, and those
    /// whose escalation's current level reaches them now, newest first.
    async fn my_incidents(&self, user_id: &str, schedules: &[Schedule], now: DateTime<Utc>) -> Result<Vec<Incident>> {
        let limit = i64::try_from(HOME_INCIDENTS).unwrap_or(i64::MAX);
        let mut incidents = self.store.user_open_incidents(user_id, limit).await?;
        let known: BTreeSet<i64> = incidents.iter().map(|i| i.id).collect();
        let oldest_listed = if incidents.len() >= HOME_INCIDENTS { incidents.last().map(|i| i.id) } else { None };
        let mut added = 0;
        for row in self.store.open_escalations(ESCALATIONS_SCANNED).await? {
            // Rows come newest first: once older than a full list, or than
            // a full list's worth of additions, none could be shown.
            if added >= HOME_INCIDENTS || oldest_listed.is_some_and(|oldest| row.incident_id < oldest) {
                break;
            }
            if known.contains(&row.incident_id) {
                continue;
            }
            let Ok(state) = serde_json::from_value::<EscalationState>(row.state) else { continue };
            let Some(level) = state.policy.levels.get(state.level) else { continue };
            if state.status == EscState::Resolved
                || !level_responders(level, schedules, now).iter().any(|r| r.user == user_id)
            {
                continue;
            }
            if let Some(incident) = self.store.get_incident(row.incident_id).await?
                && incident.status.is_open()
            {
                incidents.push(incident);
                added += 1;
            }
        }
        incidents.sort_by_key(|i| std::cmp::Reverse(i.id));
        incidents.truncate(HOME_INCIDENTS);
        Ok(incidents)
    }
}
