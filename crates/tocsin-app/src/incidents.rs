//! Incidents and alerts: reads, acknowledge, resolve, notes, escalate now
//! and reassign.

use tocsin_core::access::{Action, Principal, Resource};
use tocsin_core::alert::Alert;
use tocsin_core::escalation::{EscalationState, NextStep, Target, upcoming};
use tocsin_core::incident::Incident;
use tocsin_core::oncall::{Responder, level_responders};
use tocsin_core::timeline::TimelineEntry;
use tocsin_core::work::WorkKind;
use tocsin_store::{AlertFilter, EscalationRow, IncidentFilter, NotificationRow, Page};

use crate::App;
use crate::error::{AppError, Result, or_not_found};

/// Longest note accepted on a timeline, in characters.
pub const MAX_NOTE_CHARS: usize = 10_000;
/// Most targets one reassignment may page.
pub const MAX_REASSIGN_TARGETS: usize = 20;
/// Most alerts an incident's detail carries; a storm's incident counts the
/// rest in `alerts_total`.
pub const MAX_DETAIL_ALERTS: i64 = 100;
/// How far a count of incidents goes before it says "more than".
pub const MAX_COUNTED: i64 = 1_000;

/// One incident with everything a responder reads about it.
#[derive(Debug, Clone)]
pub struct IncidentDetail {
    pub incident: Incident,
    /// The first [`MAX_DETAIL_ALERTS`] alerts, oldest first.
    pub alerts: Vec<Alert>,
    /// How many alerts the incident has in all.
    pub alerts_total: i64,
    pub timeline: Vec<TimelineEntry>,
    /// Where paging stands; `None` when the service has no policy.
    pub escalation: Option<EscalationRow>,
    /// What paging does next and when, unless someone acts first.
    pub next_step: Option<NextStep>,
    /// Whom `next_step` would page at its instant as the schedules stand
    /// now (schedule targets resolved; overrides made later may change it).
    pub next_responders: Vec<Responder>,
    /// The paging trail: every notification sent or tried, newest last.
    pub notifications: Vec<NotificationRow>,
}

/// How many incidents match a filter, up to [`MAX_COUNTED`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncidentCount {
    pub count: i64,
    /// More than `count` match ("more than 1,000").
    pub more: bool,
}

impl App {
    pub async fn list_incidents(&self, who: &Principal, filter: &IncidentFilter) -> Result<Page<Incident>> {
        self.allow(who, Action::Read, Resource::All)?;
        Ok(self.store.list_incidents(filter).await?)
    }

    /// How many incidents match `filter` (its cursor and limit ignored),
    /// counted up to [`MAX_COUNTED`].
    pub async fn count_incidents(&self, who: &Principal, filter: &IncidentFilter) -> Result<IncidentCount> {
        self.allow(who, Action::Read, Resource::All)?;
        let n = self.store.count_incidents(filter, MAX_COUNTED).await?;
        Ok(IncidentCount { count: n.min(MAX_COUNTED), more: n > MAX_COUNTED })
    }

    pub async fn incident(&self, who: &Principal, id: i64) -> Result<IncidentDetail> {
        self.allow(who, Action::Read, Resource::Incident(id))?;
        let incident = self.store.get_incident(id).await?.ok_or(AppError::NotFound("incident"))?;
        let alerts = self.store.incident_alerts_first(id, MAX_DETAIL_ALERTS).await?;
        let timeline = self.store.incident_timeline(id).await?;
        let escalation = self.store.get_escalation(id).await?;
        let notifications = self.store.incident_notifications(id).await?;
        // A state this version cannot read shows no next step rather than
        // failing the whole page.
        let state = escalation.as_ref().and_then(|e| serde_json::from_value::<EscalationState>(e.state.clone()).ok());
        let next_step = state.as_ref().and_then(upcoming);
        let next_responders = match (&next_step, &state) {
            (Some(step), Some(state)) => match state.policy.levels.get(step.level) {
                Some(level) => level_responders(level, &self.schedules_at(step.at).await?.1, step.at),
                None => Vec::new(),
            },
            _ => Vec::new(),
        };
        Ok(IncidentDetail {
            alerts_total: incident.alert_count.max(i64::try_from(alerts.len()).unwrap_or(i64::MAX)),
            incident,
            alerts,
            timeline,
            escalation,
            next_step,
            next_responders,
            notifications,
        })
    }

    /// Stops paging for the incident; its acknowledgement timeout starts.
    pub async fn acknowledge(&self, who: &Principal, id: i64) -> Result<Incident> {
        self.allow(who, Action::Acknowledge, Resource::Incident(id))?;
        self.store.acknowledge_incident(id, &who.actor(), self.now()).await.map_err(or_not_found("incident"))
    }

    /// Resolves the incident and every alert in it that is still open.
    pub async fn resolve(&self, who: &Principal, id: i64) -> Result<Incident> {
        self.allow(who, Action::Resolve, Resource::Incident(id))?;
        self.store.resolve_incident(id, &who.actor(), self.now()).await.map_err(or_not_found("incident"))
    }

    pub async fn add_note(&self, who: &Principal, id: i64, text: &str) -> Result<TimelineEntry> {
        self.allow(who, Action::AddNote, Resource::Incident(id))?;
        let text = text.trim();
        if text.is_empty() {
            return Err(AppError::invalid("text", "must not be empty"));
        }
        if text.chars().count() > MAX_NOTE_CHARS {
            return Err(AppError::invalid("text", format!("longer than {MAX_NOTE_CHARS} characters")));
        }
        self.store.add_note(id, &who.actor(), text, self.now()).await.map_err(or_not_found("incident"))
    }

    /// "Escalate now": the engine pages the next level at once.
    pub async fn escalate(&self, who: &Principal, id: i64) -> Result<()> {
        self.allow(who, Action::Escalate, Resource::Incident(id))?;
        let kind = WorkKind::IncidentEscalate;
        self.store
            .request_incident_work(id, kind, serde_json::json!({}), &who.actor(), kind.as_str(), self.now())
            .await
            .map_err(or_not_found("incident"))
    }

    /// Pages `targets` in place of the current level. Each must be a
    /// declared user or schedule; errors name `targets[i].user|schedule`.
    pub async fn reassign(&self, who: &Principal, id: i64, targets: Vec<Target>) -> Result<Vec<Target>> {
        self.allow(who, Action::Reassign, Resource::Incident(id))?;
        if targets.is_empty() || targets.len() > MAX_REASSIGN_TARGETS {
            return Err(AppError::invalid("targets", format!("between 1 and {MAX_REASSIGN_TARGETS} targets")));
        }
        let directory = self.directory();
        for (i, target) in targets.iter().enumerate() {
            match target {
                Target::User(u) if directory.user(u).is_none() => {
                    return Err(AppError::invalid(format!("targets[{i}].user"), "no such user"));
                }
                Target::Schedule(s) if directory.schedule(s).is_none() => {
                    return Err(AppError::invalid(format!("targets[{i}].schedule"), "no such schedule"));
                }
                _ => {}
            }
        }
        let kind = WorkKind::IncidentReassign;
        let payload = serde_json::json!({ "targets": targets });
        self.store
            .request_incident_work(id, kind, payload, &who.actor(), kind.as_str(), self.now())
            .await
            .map_err(or_not_found("incident"))?;
        Ok(targets)
    }

    /// Every notification sent (or tried) for the incident, oldest first.
    pub async fn incident_notifications(&self, who: &Principal, id: i64) -> Result<Vec<NotificationRow>> {
        self.allow(who, Action::Read, Resource::Incident(id))?;
        self.store.get_incident(id).await?.ok_or(AppError::NotFound("incident"))?;
        Ok(self.store.incident_notifications(id).await?)
    }

    pub async fn list_alerts(&self, who: &Principal, filter: &AlertFilter) -> Result<Page<Alert>> {
        self.allow(who, Action::Read, Resource::All)?;
        Ok(self.store.list_alerts(filter).await?)
    }

    pub async fn alert(&self, who: &Principal, id: i64) -> Result<Alert> {
        self.allow(who, Action::Read, Resource::All)?;
        self.store.get_alert(id).await?.ok_or(AppError::NotFound("alert"))
    }
}
