//! What a principal may do, asked ahead of time so pages show only the
//! buttons that work (the answer comes from the one authorisation rule and
//! the incident's state, never from the page), and acknowledging many
//! incidents at once.

use tocsin_core::access::{Action, Principal, Resource, authorize};
use tocsin_core::incident::{Incident, IncidentStatus};

use crate::App;
use crate::error::{AppError, Result};

/// Most incidents one bulk acknowledgement takes.
pub const MAX_BULK_IDS: usize = 100;

/// The incident actions that would succeed now for one principal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IncidentActions {
    /// Only a triggered incident.
    pub acknowledge: bool,
    /// Any open incident.
    pub resolve: bool,
    /// An open incident whose service pages someone.
    pub escalate: bool,
    /// An open incident whose service pages someone.
    pub reassign: bool,
    /// Any incident, resolved ones included.
    pub add_note: bool,
}

impl App {
    /// Whether `who` may do `action` to `resource`: for pages that show or
    /// hide a control (overrides, audit log, contact details).
    pub fn can(&self, who: &Principal, action: Action, resource: Resource<'_>) -> bool {
        authorize(who, action, resource).is_ok()
    }

    /// What `who` can do to `incident` in the state it is in. Escalating and
    /// reassigning need an escalation to act on, so a service without a
    /// policy offers neither.
    pub fn incident_actions(&self, who: &Principal, incident: &Incident) -> IncidentActions {
        let allowed = |action| self.can(who, action, Resource::Incident(incident.id));
        let open = incident.status.is_open();
        let pages = self.directory().service_policy(&incident.service_id).is_some();
        IncidentActions {
            acknowledge: incident.status == IncidentStatus::Triggered && allowed(Action::Acknowledge),
            resolve: open && allowed(Action::Resolve),
            escalate: open && pages && allowed(Action::Escalate),
            reassign: open && pages && allowed(Action::Reassign),
            add_note: allowed(Action::AddNote),
        }
    }

    /// Acknowledges each of `ids` as [`App::acknowledge`] would, in the order
    /// given (a repeated id counts once), and reports each one's outcome:
    /// one already acknowledged or resolved, unknown or not allowed reports
    /// its error and the rest go ahead.
    pub async fn acknowledge_many(
        &self,
        who: &Principal,
        ids: &[i64],
    ) -> Result<Vec<(i64, Result<Incident, AppError>)>> {
        if ids.is_empty() || ids.len() > MAX_BULK_IDS {
            return Err(AppError::invalid("ids", format!("between 1 and {MAX_BULK_IDS} incident ids")));
        }
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids.iter().filter(|id| seen.insert(**id)) {
            out.push((id, self.acknowledge(who, id).await));
        }
        Ok(out)
    }
}
