//! Placeholder for what pages may show; replaced by the incidents module's.

use tocsin_core::access::Principal;

use crate::App;
use crate::error::{AppError, Result};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IncidentActions {
    pub acknowledge: bool,
    pub resolve: bool,
    pub escalate: bool,
    pub reassign: bool,
    pub add_note: bool,
}

impl App {
    pub fn can(
        &self,
        who: &Principal,
        action: tocsin_core::access::Action,
        resource: tocsin_core::access::Resource<'_>,
    ) -> bool {
        tocsin_core::access::authorize(who, action, resource).is_ok()
    }

    pub fn incident_actions(&self, who: &Principal, incident: &tocsin_core::incident::Incident) -> IncidentActions {
        use tocsin_core::access::{Action, Resource};
        use tocsin_core::incident::IncidentStatus;
        let r = Resource::Incident(incident.id);
        let open = incident.status.is_open();
        IncidentActions {
            acknowledge: incident.status == IncidentStatus::Triggered && self.can(who, Action::Acknowledge, r),
            resolve: open && self.can(who, Action::Resolve, r),
            escalate: open && self.can(who, Action::Escalate, r),
            reassign: open && self.can(who, Action::Reassign, r),
            add_note: self.can(who, Action::AddNote, r),
        }
    }
}

impl App {
    pub async fn acknowledge_many(
        &self,
        who: &Principal,
        ids: &[i64],
    ) -> Result<Vec<(i64, Result<tocsin_core::incident::Incident, AppError>)>> {
        let mut out = Vec::new();
        for id in ids {
            out.push((*id, self.acknowledge(who, *id).await));
        }
        Ok(out)
    }
}
