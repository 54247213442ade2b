//! Planning what a batch of events does, as one pure function.
//!
//! The store reads the open alerts the batch names and the incidents they
//! belong to, asks [`plan`] for the resulting rows, and writes them with a
//! handful of bulk statements. Keeping the decisions here makes them
//! testable without a database and keeps both backends identical.
//!
//! Events apply in order: a trigger, resolve and trigger of one key in one
//! batch open an alert, resolve it, and open a new one.

use chrono::{DateTime, Utc};
use serde_json::json;
use std::collections::HashMap;

use crate::alert::AlertStatus;
use crate::audit::AuditRecord;
use crate::dedup::{Fold, fold};
use crate::event::Event;
use crate::holdback::HeldBack;
use crate::incident::{IncidentStatus, resolves_with_alerts};
use crate::model::IntegrationKind;
use crate::noise::{self, Disposition, NewAlert, NoiseFacts, NoiseRules};
use crate::timeline::{TimelineKind, actor};
use crate::work::WorkKind;

/// One event with where and when it arrived.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub service_id: &'a str,
    pub integration_id: &'a str,
    pub kind: IntegrationKind,
    pub event: &'a Event,
    pub at: DateTime<Utc>,
}

impl Incoming<'_> {
    /// Who the event acts as in timelines and the audit log: its
    /// integration, or the heartbeat monitor that missed its pings.
    pub fn actor(&self) -> String {
        match self.kind {
            IntegrationKind::Heartbeat => actor::heartbeat(self.integration_id),
            _ => actor::integration(self.integration_id),
        }
    }
}

/// The open alert stored for a (service, dedup key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenAlert {
    pub id: i64,
    pub status: AlertStatus,
    pub incident_id: Option<i64>,
}

/// The parts of a stored incident that alert changes can move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentState {
    pub service_id: String,
    pub status: IncidentStatus,
    pub open_alerts: i64,
    /// It pages nobody (held back when it opened).
    pub quiet: bool,
    /// When its pending group update is due, if one is.
    pub next_update_at: Option<DateTime<Utc>>,
}

impl IncidentState {
    /// An open incident of `service` that pages, with no update pending.
    pub fn new(service_id: &str, status: IncidentStatus, open_alerts: i64) -> Self {
        Self { service_id: service_id.to_string(), status, open_alerts, quiet: false, next_update_at: None }
    }
}

/// Ids for the incidents and alerts a batch opens, in the order it opens
/// them; [`openings`] says how many it needs. The store reserves them: from
/// the identity sequences on PostgreSQL, where several nodes write at once,
/// and after the largest stored id on SQLite, which has one writer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewIds {
    pub incidents: Vec<i64>,
    pub alerts: Vec<i64>,
}

impl NewIds {
    /// `n` ids of each kind, counting up from the given first ones.
    pub fn consecutive(incident: i64, alert: i64, n: usize) -> Self {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        Self {
            incidents: (incident..incident.saturating_add(n)).collect(),
            alerts: (alert..alert.saturating_add(n)).collect(),
        }
    }
}

/// The store reserved fewer ids than the batch opens alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the batch opens more alerts than ids were reserved for ({reserved})")]
pub struct TooFewIds {
    pub reserved: usize,
}

/// How many alerts (each with its incident) a batch opens, so the store can
/// reserve exactly that many ids before planning.
pub fn openings(incoming: &[Incoming<'_>], open: &HashMap<(String, String), OpenAlert>) -> usize {
    let mut state: HashMap<(&str, &str), Option<AlertStatus>> = HashMap::new();
    let mut n = 0;
    for inc in incoming {
        let key = (inc.service_id, inc.event.dedup_key.as_str());
        let current =
            *state.entry(key).or_insert_with(|| open.get(&(key.0.to_string(), key.1.to_string())).map(|a| a.status));
        let next = match fold(current, inc.event.action) {
            Fold::Open => {
                n += 1;
                Some(AlertStatus::Triggered)
            }
            Fold::Acknowledge => Some(AlertStatus::Acknowledged),
            Fold::Resolve => None,
            Fold::Repeat | Fold::Ignore(_) => current,
        };
        state.insert(key, next);
    }
    n
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Opened,
    Repeated,
    Acknowledged,
    Resolved,
    Ignored,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Opened => "opened",
            Effect::Repeated => "repeated",
            Effect::Acknowledged => "acknowledged",
            Effect::Resolved => "resolved",
            Effect::Ignored => "ignored",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub effect: Effect,
    pub alert_id: Option<i64>,
    pub incident_id: Option<i64>,
}

/// The final state of an alert row touched by the batch. `content_from`
/// is the index of the latest trigger whose summary, labels and details the
/// row carries (always set for new alerts).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    pub id: i64,
    pub is_new: bool,
    pub service_id: String,
    pub integration_id: String,
    pub kind: IntegrationKind,
    pub dedup_key: String,
    pub incident_id: Option<i64>,
    pub status: AlertStatus,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Total for new rows; added to the stored count for existing ones.
    pub occurrences: i64,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub content_from: Option<usize>,
    /// Why it did not page on its own (new rows only; empty when it paged).
    pub held_back: Vec<HeldBack>,
    /// Its quiet incident was released: its reasons no longer hold.
    pub released: bool,
}

/// The final state of an incident row touched by the batch.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRow {
    pub id: i64,
    pub is_new: bool,
    pub service_id: String,
    /// Index of the event that opened it (new rows only).
    pub opened_by: Option<usize>,
    pub status: IncidentStatus,
    pub created_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    /// Alerts added by this batch (new rows: all of them).
    pub alerts_added: i64,
    pub open_alerts: i64,
    /// Why it pages nobody (new rows only; empty when it pages).
    pub held_back: Vec<HeldBack>,
    /// The group it collects alerts for (new rows only).
    pub group_key: Option<String>,
    /// It is a service's storm incident (new rows only).
    pub storm: bool,
    /// Its title when it is not the opening alert's summary (storms).
    pub title: Option<String>,
    /// A group update this batch scheduled, due then.
    pub next_update_at: Option<DateTime<Utc>>,
    /// When it pages (new rows that page only).
    pub page_at: Option<DateTime<Utc>>,
    /// It paged nobody and pages from now on (stored rows).
    pub released: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TimelineDraft {
    pub incident_id: i64,
    pub at: DateTime<Utc>,
    pub kind: TimelineKind,
    pub actor: String,
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutboxDraft {
    pub kind: WorkKind,
    /// The service of the incident the work is about (the engine shares its
    /// work between services).
    pub service_id: String,
    pub payload: serde_json::Value,
    pub due_at: DateTime<Utc>,
}

/// Everything a batch writes, in the order it happened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub outcomes: Vec<Outcome>,
    pub alerts: Vec<AlertRow>,
    pub incidents: Vec<IncidentRow>,
    pub timeline: Vec<TimelineDraft>,
    pub audit: Vec<AuditRecord>,
    pub outbox: Vec<OutboxDraft>,
}

/// Working state while planning: rows by id, open alerts by key.
struct Planner<'a> {
    incoming: &'a [Incoming<'a>],
    rules: &'a NoiseRules,
    facts: NoiseFacts,
    open: HashMap<(&'a str, &'a str), OpenAlert>,
    stored_incidents: &'a HashMap<i64, IncidentState>,
    alerts: Vec<AlertRow>,
    alert_index: HashMap<i64, usize>,
    incidents: Vec<IncidentRow>,
    incident_index: HashMap<i64, usize>,
    ids: &'a NewIds,
    opened: usize,
    plan: Plan,
}

/// Plans a batch. `open` holds the stored open alert for every (service,
/// dedup key) in the batch that has one; `incidents` the stored state of
/// every incident those alerts belong to; `ids` at least [`openings`] ids.
pub fn plan(
    incoming: &[Incoming<'_>],
    open: &HashMap<(String, String), OpenAlert>,
    incidents: &HashMap<i64, IncidentState>,
    ids: &NewIds,
) -> Result<Plan, TooFewIds> {
    plan_with_noise(incoming, open, incidents, ids, &NoiseRules::default(), NoiseFacts::default())
}

/// [`plan`] with noise control: new alerts are judged by `rules` against
/// `facts` ([`noise::decide`]); `incidents` must also hold every incident
/// `facts` names.
pub fn plan_with_noise(
    incoming: &[Incoming<'_>],
    open: &HashMap<(String, String), OpenAlert>,
    incidents: &HashMap<i64, IncidentState>,
    ids: &NewIds,
    rules: &NoiseRules,
    facts: NoiseFacts,
) -> Result<Plan, TooFewIds> {
    let reserved = ids.incidents.len().min(ids.alerts.len());
    if openings(incoming, open) > reserved {
        return Err(TooFewIds { reserved });
    }
    let open = incoming
        .iter()
        .filter_map(|i| {
            open.get(&(i.service_id.to_string(), i.event.dedup_key.clone()))
                .map(|a| ((i.service_id, i.event.dedup_key.as_str()), *a))
        })
        .collect();
    let mut p = Planner {
        incoming,
        rules,
        facts,
        open,
        stored_incidents: incidents,
        alerts: Vec::new(),
        alert_index: HashMap::new(),
        incidents: Vec::new(),
        incident_index: HashMap::new(),
        ids,
        opened: 0,
        plan: Plan::default(),
    };
    for idx in 0..incoming.len() {
        let outcome = p.apply(idx);
        p.plan.outcomes.push(outcome);
    }
    p.plan.alerts = p.alerts;
    p.plan.incidents = p.incidents;
    Ok(p.plan)
}

impl<'a> Planner<'a> {
    fn apply(&mut self, idx: usize) -> Outcome {
        let inc = self.incoming[idx];
        let key = (inc.service_id, inc.event.dedup_key.as_str());
        let open = self.open.get(&key).copied();
        match (fold(open.map(|a| a.status), inc.event.action), open) {
            (Fold::Open, _) => self.open_alert(idx),
            (Fold::Repeat, Some(a)) => {
                let row = self.alert_row(a, &inc);
                row.occurrences += 1;
                row.last_seen = inc.at;
                row.content_from = Some(idx);
                self.release_if_free(a, idx);
                Outcome { effect: Effect::Repeated, alert_id: Some(a.id), incident_id: a.incident_id }
            }
            (Fold::Acknowledge, Some(a)) => {
                let who = inc.actor();
                let row = self.alert_row(a, &inc);
                row.status = AlertStatus::Acknowledged;
                row.acknowledged_at = Some(inc.at);
                row.last_seen = inc.at;
                self.open.insert(key, OpenAlert { status: AlertStatus::Acknowledged, ..a });
                if let Some(incident_id) = a.incident_id {
                    self.timeline(incident_id, inc.at, TimelineKind::AlertAcknowledged, &who, alert_ref(a.id, key.1));
                    if let Some(i) = self.incident_row(incident_id, inc.service_id)
                        && let Ok(next) = self.incidents[i].status.acknowledge()
                    {
                        let row = &mut self.incidents[i];
                        row.status = next;
                        row.acknowledged_at = Some(inc.at);
                        row.acknowledged_by = Some(who.clone());
                        self.incident_changed(incident_id, inc.at, &who, TimelineKind::Acknowledged, json!({}));
                    }
                }
                Outcome { effect: Effect::Acknowledged, alert_id: Some(a.id), incident_id: a.incident_id }
            }
            (Fold::Resolve, Some(a)) => {
                let who = inc.actor();
                let row = self.alert_row(a, &inc);
                row.status = AlertStatus::Resolved;
                row.resolved_at = Some(inc.at);
                row.last_seen = inc.at;
                self.open.remove(&key);
                self.facts.record_resolve(inc.service_id, key.1, a.id, inc.at);
                if let Some(incident_id) = a.incident_id {
                    self.timeline(incident_id, inc.at, TimelineKind::AlertResolved, &who, alert_ref(a.id, key.1));
                    if let Some(i) = self.incident_row(incident_id, inc.service_id) {
                        let row = &mut self.incidents[i];
                        row.open_alerts = (row.open_alerts - 1).max(0);
                        if resolves_with_alerts(row.status, row.open_alerts)
                            && let Ok(next) = row.status.resolve()
                        {
                            row.status = next;
                            row.resolved_at = Some(inc.at);
                            row.resolved_by = Some(who.clone());
                            self.facts.forget_incident(incident_id);
                            let reason = json!({"reason": "all alerts resolved"});
                            self.incident_changed(incident_id, inc.at, &who, TimelineKind::Resolved, reason);
                        }
                    }
                }
                Outcome { effect: Effect::Resolved, alert_id: Some(a.id), incident_id: a.incident_id }
            }
            _ => Outcome { effect: Effect::Ignored, alert_id: None, incident_id: None },
        }
    }

    /// A new alert: the noise rules decide whether it opens an incident
    /// that pages, opens a quiet one, or joins an open one.
    fn open_alert(&mut self, idx: usize) -> Outcome {
        let inc = self.incoming[idx];
        let who = inc.actor();
        // `plan` checked that there are enough ids.
        let (alert_id, new_incident) = (self.ids.alerts[self.opened], self.ids.incidents[self.opened]);
        self.opened += 1;
        let alert = NewAlert {
            service: inc.service_id,
            dedup_key: &inc.event.dedup_key,
            labels: &inc.event.labels,
            at: inc.at,
        };
        let disposition = self.decide(&alert);
        let (incident_id, held_back) = match &disposition {
            Disposition::Join { incident_id, reasons } => (*incident_id, reasons.clone()),
            Disposition::Page { page_at, group_key, storm } => {
                self.new_incident(new_incident, idx, Vec::new(), group_key.clone(), *storm, Some(*page_at));
                (new_incident, Vec::new())
            }
            Disposition::Quiet { reasons, group_key } => {
                self.new_incident(new_incident, idx, reasons.clone(), group_key.clone(), false, None);
                (new_incident, reasons.clone())
            }
        };
        self.alert_index.insert(alert_id, self.alerts.len());
        self.alerts.push(AlertRow {
            id: alert_id,
            is_new: true,
            service_id: inc.service_id.to_string(),
            integration_id: inc.integration_id.to_string(),
            kind: inc.kind,
            dedup_key: inc.event.dedup_key.clone(),
            incident_id: Some(incident_id),
            status: AlertStatus::Triggered,
            first_seen: inc.at,
            last_seen: inc.at,
            occurrences: 1,
            acknowledged_at: None,
            resolved_at: None,
            content_from: Some(idx),
            held_back: held_back.clone(),
            released: false,
        });
        self.open.insert(
            (inc.service_id, inc.event.dedup_key.as_str()),
            OpenAlert { id: alert_id, status: AlertStatus::Triggered, incident_id: Some(incident_id) },
        );
        self.facts.record(&alert, &disposition, incident_id, self.rules);
        self.facts.set_last_firing_id(alert_id);
        let mut payload = json!({
            "alert_id": alert_id,
            "dedup_key": inc.event.dedup_key,
            "summary": inc.event.summary,
            "severity": inc.event.severity.as_str(),
            "integration": inc.integration_id,
        });
        if !held_back.is_empty() {
            payload["held_back"] = json!(held_back);
        }
        match disposition {
            Disposition::Join { .. } => {
                let grouped = held_back.iter().any(|h| matches!(h, HeldBack::Grouped { .. }));
                self.join(incident_id, alert_id, inc.at, &who, payload, grouped);
                Outcome { effect: Effect::Opened, alert_id: Some(alert_id), incident_id: Some(incident_id) }
            }
            Disposition::Page { storm, .. } => {
                if storm {
                    payload["storm"] = json!(true);
                }
                self.incident_changed(incident_id, inc.at, &who, TimelineKind::Opened, payload);
                Outcome { effect: Effect::Opened, alert_id: Some(alert_id), incident_id: Some(incident_id) }
            }
            Disposition::Quiet { .. } => {
                self.incident_changed(incident_id, inc.at, &who, TimelineKind::Opened, payload);
                Outcome { effect: Effect::Opened, alert_id: Some(alert_id), incident_id: Some(incident_id) }
            }
        }
    }

    /// A re-sent alert of a quiet incident that nothing holds back any more
    /// (its silence ended, its window closed, its inhibiting source
    /// resolved) releases the incident: paging starts now.
    fn release_if_free(&mut self, a: OpenAlert, idx: usize) {
        let inc = self.incoming[idx];
        let Some(incident_id) = a.incident_id else { return };
        if self.rules.service(inc.service_id).is_none() {
            return;
        }
        // Look without taking a working row: an incident row in the plan is
        // rewritten, and most re-sends change nothing about their incident.
        let (quiet, status) = match self.incident_index.get(&incident_id).map(|&i| &self.incidents[i]) {
            Some(row) if row.is_new => (!row.held_back.is_empty(), row.status),
            Some(row) => {
                (self.stored_incidents.get(&incident_id).is_some_and(|s| s.quiet) && !row.released, row.status)
            }
            None => match self.stored_incidents.get(&incident_id) {
                Some(stored) => (stored.quiet, stored.status),
                None => return,
            },
        };
        if !quiet || status != IncidentStatus::Triggered {
            return;
        }
        let alert = NewAlert {
            service: inc.service_id,
            dedup_key: &inc.event.dedup_key,
            labels: &inc.event.labels,
            at: inc.at,
        };
        if !noise::holds_on_resend(&alert, self.rules, &self.facts).is_empty() {
            return;
        }
        let Some(i) = self.incident_row(incident_id, inc.service_id) else { return };
        let row = &mut self.incidents[i];
        row.held_back.clear();
        row.released = true;
        let service_id = row.service_id.clone();
        if let Some(&ai) = self.alert_index.get(&a.id) {
            self.alerts[ai].held_back.clear();
            self.alerts[ai].released = true;
        }
        let who = actor::integration(inc.integration_id);
        let payload = json!({"alert_id": a.id, "dedup_key": inc.event.dedup_key});
        self.timeline(incident_id, inc.at, TimelineKind::Released, &who, payload.clone());
        self.plan.audit.push(AuditRecord {
            at: inc.at,
            actor: who,
            action: "incident.release".to_string(),
            target: format!("incident:{incident_id}"),
            details: payload,
        });
        self.plan.outbox.push(OutboxDraft {
            kind: WorkKind::IncidentOpened,
            service_id,
            payload: json!({"incident_id": incident_id}),
            due_at: inc.at,
        });
    }

    /// [`noise::decide`], passing over incidents that are gone or resolved
    /// (earlier in this batch, or by a person since the facts were read).
    fn decide(&mut self, alert: &NewAlert<'_>) -> Disposition {
        loop {
            let d = noise::decide(alert, self.rules, &self.facts);
            let Disposition::Join { incident_id, .. } = &d else { return d };
            let joinable = self
                .incident_row(*incident_id, alert.service)
                .is_some_and(|i| self.incidents[i].status != IncidentStatus::Resolved);
            if joinable {
                return d;
            }
            self.facts.forget_incident(*incident_id);
        }
    }

    fn new_incident(
        &mut self,
        id: i64,
        idx: usize,
        held_back: Vec<HeldBack>,
        group_key: Option<String>,
        storm: bool,
        page_at: Option<DateTime<Utc>>,
    ) {
        let inc = self.incoming[idx];
        let title = storm.then(|| {
            let policy = self.rules.service(inc.service_id).and_then(|s| s.storm).unwrap_or_default();
            format!(
                "Alert storm on {}: more than {} new alerts within {}; first: {}",
                inc.service_id,
                policy.max_new_alerts,
                crate::duration::format_duration(policy.within),
                inc.event.summary
            )
        });
        self.incident_index.insert(id, self.incidents.len());
        self.incidents.push(IncidentRow {
            id,
            is_new: true,
            service_id: inc.service_id.to_string(),
            opened_by: Some(idx),
            status: IncidentStatus::Triggered,
            created_at: inc.at,
            acknowledged_at: None,
            acknowledged_by: None,
            resolved_at: None,
            resolved_by: None,
            alerts_added: 1,
            open_alerts: 1,
            held_back,
            group_key,
            storm,
            title,
            next_update_at: None,
            page_at,
            released: false,
        });
    }

    /// A new alert joins an open incident: counted, on its timeline, and,
    /// for a group that pages, summarised in the group's next update.
    fn join(
        &mut self,
        incident_id: i64,
        alert_id: i64,
        at: DateTime<Utc>,
        who: &str,
        mut payload: serde_json::Value,
        grouped: bool,
    ) {
        let Some(i) = self.incident_row(incident_id, "") else { return };
        let service_id = self.incidents[i].service_id.clone();
        let interval = self.rules.service(&service_id).and_then(|s| s.grouping.as_ref()).map(|g| g.group_interval);
        let row = &mut self.incidents[i];
        row.alerts_added += 1;
        row.open_alerts += 1;
        let quiet = !row.held_back.is_empty() || self.stored_incidents.get(&incident_id).is_some_and(|s| s.quiet);
        let pending =
            row.next_update_at.or_else(|| self.stored_incidents.get(&incident_id).and_then(|s| s.next_update_at));
        let due = match (grouped && !quiet, pending, interval) {
            (true, Some(due), _) => Some(due),
            (true, None, Some(interval)) => {
                let due = at + interval;
                row.next_update_at = Some(due);
                self.plan.outbox.push(OutboxDraft {
                    kind: WorkKind::IncidentGroupUpdate,
                    service_id: service_id.clone(),
                    payload: json!({"incident_id": incident_id}),
                    due_at: due,
                });
                Some(due)
            }
            _ => None,
        };
        if let Some(due) = due {
            if let Some(held) = payload.get_mut("held_back").and_then(|h| h.as_array_mut()) {
                for h in held.iter_mut().filter(|h| h.get("kind").and_then(|k| k.as_str()) == Some("grouped")) {
                    h["next_update_at"] = json!(due);
                }
            }
            if let Some(&a) = self.alert_index.get(&alert_id) {
                for h in &mut self.alerts[a].held_back {
                    if let HeldBack::Grouped { next_update_at, .. } = h {
                        *next_update_at = Some(due);
                    }
                }
            }
        }
        self.timeline(incident_id, at, TimelineKind::AlertAdded, who, payload);
    }

    /// The working row for a stored (or earlier in this batch) alert.
    fn alert_row(&mut self, a: OpenAlert, inc: &Incoming<'_>) -> &mut AlertRow {
        let i = match self.alert_index.get(&a.id) {
            Some(i) => *i,
            None => {
                self.alert_index.insert(a.id, self.alerts.len());
                self.alerts.push(AlertRow {
                    id: a.id,
                    is_new: false,
                    service_id: inc.service_id.to_string(),
                    integration_id: inc.integration_id.to_string(),
                    kind: inc.kind,
                    dedup_key: inc.event.dedup_key.clone(),
                    incident_id: a.incident_id,
                    status: a.status,
                    first_seen: inc.at,
                    last_seen: inc.at,
                    occurrences: 0,
                    acknowledged_at: None,
                    resolved_at: None,
                    content_from: None,
                    held_back: Vec::new(),
                    released: false,
                });
                self.alerts.len() - 1
            }
        };
        &mut self.alerts[i]
    }

    /// The working row for an incident, loaded from the stored state on
    /// first touch; `None` if the store did not supply it.
    fn incident_row(&mut self, id: i64, service_id: &str) -> Option<usize> {
        if let Some(i) = self.incident_index.get(&id) {
            return Some(*i);
        }
        let stored = self.stored_incidents.get(&id)?;
        self.incident_index.insert(id, self.incidents.len());
        let service_id = if stored.service_id.is_empty() { service_id } else { &stored.service_id };
        self.incidents.push(IncidentRow {
            id,
            is_new: false,
            service_id: service_id.to_string(),
            opened_by: None,
            status: stored.status,
            created_at: DateTime::<Utc>::MIN_UTC,
            acknowledged_at: None,
            acknowledged_by: None,
            resolved_at: None,
            resolved_by: None,
            alerts_added: 0,
            open_alerts: stored.open_alerts,
            held_back: Vec::new(),
            group_key: None,
            storm: false,
            title: None,
            next_update_at: None,
            page_at: None,
            released: false,
        });
        Some(self.incidents.len() - 1)
    }

    fn timeline(
        &mut self,
        incident_id: i64,
        at: DateTime<Utc>,
        kind: TimelineKind,
        who: &str,
        payload: serde_json::Value,
    ) {
        self.plan.timeline.push(TimelineDraft { incident_id, at, kind, actor: who.to_string(), payload });
    }

    /// A lifecycle change: timeline, audit and engine work, together.
    fn incident_changed(
        &mut self,
        id: i64,
        at: DateTime<Utc>,
        who: &str,
        kind: TimelineKind,
        payload: serde_json::Value,
    ) {
        let (action, work) = match kind {
            TimelineKind::Opened => ("incident.open", WorkKind::IncidentOpened),
            TimelineKind::Acknowledged => ("incident.acknowledge", WorkKind::IncidentAcknowledged),
            _ => ("incident.resolve", WorkKind::IncidentResolved),
        };
        self.timeline(id, at, kind, who, payload.clone());
        self.plan.audit.push(AuditRecord {
            at,
            actor: who.to_string(),
            action: action.to_string(),
            target: format!("incident:{id}"),
            details: payload,
        });
        let row = self.incident_index.get(&id).map(|&i| &self.incidents[i]);
        let service_id = row.map(|r| r.service_id.clone()).unwrap_or_default();
        // A new incident pages when the noise rules say (after `group_wait`),
        // and a quiet one not at all.
        let due_at = match row {
            Some(r) if r.is_new && kind == TimelineKind::Opened => match r.page_at {
                Some(page_at) => page_at,
                None => return,
            },
            _ => at,
        };
        self.plan.outbox.push(OutboxDraft { kind: work, service_id, payload: json!({"incident_id": id}), due_at });
    }
}

fn alert_ref(alert_id: i64, dedup_key: &str) -> serde_json::Value {
    json!({"alert_id": alert_id, "dedup_key": dedup_key})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventAction, Severity};
    use chrono::TimeZone;
    use std::collections::BTreeMap;

    fn ev(key: &str, action: EventAction) -> Event {
        Event {
            action,
            dedup_key: key.into(),
            summary: format!("{key} {action:?}"),
            severity: Severity::Critical,
            source: None,
            labels: BTreeMap::new(),
            details: json!({}),
            links: vec![],
            occurred_at: None,
            expires_at: None,
        }
    }

    fn incoming(events: &[Event]) -> Vec<Incoming<'_>> {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap();
        events
            .iter()
            .map(|event| Incoming {
                service_id: "svc",
                integration_id: "svc-pd",
                kind: IntegrationKind::Pagerduty,
                event,
                at,
            })
            .collect()
    }

    fn ids() -> NewIds {
        NewIds::consecutive(10, 100, 8)
    }

    fn effects(p: &Plan) -> Vec<Effect> {
        p.outcomes.iter().map(|o| o.effect).collect()
    }

    fn rules_with(service: crate::noise::ServiceRules) -> NoiseRules {
        let mut rules = NoiseRules::default();
        rules.services.insert("svc".into(), service);
        rules
    }

    #[test]
    fn grouped_alerts_join_one_incident_that_pages_after_group_wait_with_one_update() {
        use EventAction::*;
        let grouping = crate::grouping::Grouping {
            group_by: crate::grouping::GroupBy::Labels(Vec::new()),
            group_wait: chrono::Duration::seconds(30),
            group_interval: chrono::Duration::minutes(5),
        };
        let rules = rules_with(crate::noise::ServiceRules { grouping: Some(grouping), ..Default::default() });
        let events = [ev("a", Trigger), ev("b", Trigger), ev("c", Trigger), ev("a", Resolve)];
        let inc = incoming(&events);
        let p = plan_with_noise(&inc, &HashMap::new(), &HashMap::new(), &ids(), &rules, NoiseFacts::default()).unwrap();
        let at = inc[0].at;
        assert_eq!(p.incidents.len(), 1);
        assert_eq!(p.alerts.iter().map(|a| a.incident_id).collect::<Vec<_>>(), [Some(10); 3]);
        assert_eq!((p.incidents[0].alerts_added, p.incidents[0].open_alerts), (3, 2));
        assert_eq!(p.incidents[0].status, IncidentStatus::Triggered, "two alerts of the group are still open");
        let due = at + chrono::Duration::minutes(5);
        assert_eq!(p.incidents[0].next_update_at, Some(due));
        let outbox: Vec<_> = p.outbox.iter().map(|o| (o.kind, o.due_at)).collect();
        assert_eq!(
            outbox,
            [(WorkKind::IncidentOpened, at + chrono::Duration::seconds(30)), (WorkKind::IncidentGroupUpdate, due)]
        );
        for a in &p.alerts[1..] {
            assert_eq!(a.held_back, [HeldBack::Grouped { incident_id: 10, next_update_at: Some(due) }]);
        }
        assert!(p.alerts[0].held_back.is_empty(), "the first alert paged");
        let kinds: Vec<_> = p.timeline.iter().map(|t| t.kind).collect();
        assert_eq!(
            kinds,
            [TimelineKind::Opened, TimelineKind::AlertAdded, TimelineKind::AlertAdded, TimelineKind::AlertResolved]
        );
    }

    #[test]
    fn a_held_alert_opens_a_quiet_incident_that_queues_no_paging() {
        use EventAction::*;
        let window = crate::maintenance::MaintenanceWindow {
            id: "deploys".into(),
            kind: crate::maintenance::WindowKind::OneOff {
                start: DateTime::<Utc>::MIN_UTC,
                end: DateTime::<Utc>::MAX_UTC,
            },
        };
        let rules = rules_with(crate::noise::ServiceRules { windows: vec![window], ..Default::default() });
        let events = [ev("a", Trigger), ev("a", Resolve)];
        let p = plan_with_noise(
            &incoming(&events),
            &HashMap::new(),
            &HashMap::new(),
            &ids(),
            &rules,
            NoiseFacts::default(),
        )
        .unwrap();
        let held = vec![HeldBack::Maintenance { window_id: "deploys".into() }];
        assert_eq!(p.incidents[0].held_back, held);
        assert_eq!(p.alerts[0].held_back, held);
        assert_eq!(p.incidents[0].status, IncidentStatus::Resolved);
        assert_eq!(
            p.outbox.iter().map(|o| o.kind).collect::<Vec<_>>(),
            [WorkKind::IncidentResolved],
            "no incident.opened: nobody is paged"
        );
        assert_eq!(p.timeline[0].payload["held_back"][0]["kind"], "maintenance");
    }

    #[test]
    fn a_storm_opens_one_titled_incident_and_the_rest_join_it() {
        use EventAction::*;
        let storm = crate::storm::StormPolicy { max_new_alerts: 2, within: chrono::Duration::minutes(1) };
        let rules = rules_with(crate::noise::ServiceRules { storm: Some(storm), ..Default::default() });
        let events: Vec<Event> = (0..6).map(|n| ev(&format!("k{n}"), Trigger)).collect();
        let p = plan_with_noise(
            &incoming(&events),
            &HashMap::new(),
            &HashMap::new(),
            &ids(),
            &rules,
            NoiseFacts::default(),
        )
        .unwrap();
        assert_eq!(p.incidents.len(), 3, "two alerts page on their own, the third starts the storm");
        assert!(p.incidents[2].storm);
        assert_eq!(
            p.incidents[2].title.as_deref(),
            Some("Alert storm on svc: more than 2 new alerts within 1m; first: k2 Trigger")
        );
        assert_eq!((p.incidents[2].alerts_added, p.incidents[2].open_alerts), (4, 4));
        let storm_id = p.incidents[2].id;
        for a in &p.alerts[3..] {
            assert_eq!(a.held_back, [HeldBack::Storm { incident_id: storm_id }]);
        }
        let opened = p.outbox.iter().filter(|o| o.kind == WorkKind::IncidentOpened).count();
        assert_eq!(opened, 3, "one page for the storm, not one per alert");
    }

    #[test]
    fn a_resend_that_nothing_holds_back_any_more_releases_its_quiet_incident() {
        use EventAction::*;
        let open = HashMap::from([(
            ("svc".to_string(), "k".to_string()),
            OpenAlert { id: 7, status: AlertStatus::Triggered, incident_id: Some(3) },
        )]);
        let mut quiet = IncidentState::new("svc", IncidentStatus::Triggered, 1);
        quiet.quiet = true;
        let incidents = HashMap::from([(3, quiet)]);
        let rules = rules_with(crate::noise::ServiceRules::default());
        let events = [ev("k", Trigger), ev("k", Trigger)];
        let p = plan_with_noise(&incoming(&events), &open, &incidents, &ids(), &rules, NoiseFacts::default()).unwrap();
        assert_eq!(effects(&p), [Effect::Repeated, Effect::Repeated]);
        assert!(p.incidents[0].released && p.alerts[0].released);
        assert_eq!(p.timeline.iter().map(|t| t.kind).collect::<Vec<_>>(), [TimelineKind::Released], "released once");
        assert_eq!(p.outbox.iter().map(|o| o.kind).collect::<Vec<_>>(), [WorkKind::IncidentOpened]);

        // Still silenced: nothing changes.
        let silence = crate::silence::Silence {
            id: "s".into(),
            matchers: crate::matchers::Matchers::parse("{}").unwrap(),
            starts_at: DateTime::<Utc>::MIN_UTC,
            ends_at: DateTime::<Utc>::MAX_UTC,
            created_by: "alice".into(),
            comment: String::new(),
            updated_at: DateTime::<Utc>::MIN_UTC,
        };
        let facts = NoiseFacts { silences: std::sync::Arc::new(vec![silence]), ..NoiseFacts::default() };
        let p = plan_with_noise(&incoming(&events[..1]), &open, &incidents, &ids(), &rules, facts).unwrap();
        assert!(p.incidents.is_empty(), "a re-send that releases nothing leaves its incident row alone");
        assert!(p.timeline.is_empty() && p.outbox.is_empty());
    }

    #[test]
    fn a_join_target_resolved_earlier_in_the_batch_is_not_joined() {
        use EventAction::*;
        let rules = rules_with(crate::noise::ServiceRules {
            grouping: Some(crate::grouping::Grouping::default()),
            ..Default::default()
        });
        let events = [ev("a", Trigger), ev("a", Resolve), ev("b", Trigger)];
        let p = plan_with_noise(
            &incoming(&events),
            &HashMap::new(),
            &HashMap::new(),
            &ids(),
            &rules,
            NoiseFacts::default(),
        )
        .unwrap();
        assert_eq!(p.incidents.len(), 2);
        assert_eq!(p.incidents[0].status, IncidentStatus::Resolved);
        assert_eq!(p.alerts[1].incident_id, Some(p.incidents[1].id));
    }

    #[test]
    fn trigger_resolve_trigger_in_one_batch() {
        use EventAction::*;
        let events = [ev("k", Trigger), ev("k", Trigger), ev("k", Resolve), ev("k", Trigger)];
        let p = plan(&incoming(&events), &HashMap::new(), &HashMap::new(), &ids()).unwrap();
        assert_eq!(effects(&p), [Effect::Opened, Effect::Repeated, Effect::Resolved, Effect::Opened]);
        assert_eq!(p.alerts.len(), 2);
        assert_eq!((p.alerts[0].id, p.alerts[0].occurrences, p.alerts[0].status), (100, 2, AlertStatus::Resolved));
        assert_eq!(p.alerts[0].content_from, Some(1));
        assert_eq!((p.alerts[1].id, p.alerts[1].status), (101, AlertStatus::Triggered));
        assert_eq!(p.incidents[0].status, IncidentStatus::Resolved);
        assert_eq!(p.incidents[1].status, IncidentStatus::Triggered);
        let kinds: Vec<_> = p.timeline.iter().map(|t| t.kind).collect();
        assert_eq!(
            kinds,
            [TimelineKind::Opened, TimelineKind::AlertResolved, TimelineKind::Resolved, TimelineKind::Opened]
        );
        assert_eq!(p.audit.len(), 3);
        assert_eq!(
            p.outbox.iter().map(|o| o.kind.as_str()).collect::<Vec<_>>(),
            ["incident.opened", "incident.resolved", "incident.opened"]
        );
    }

    #[test]
    fn acknowledging_a_stored_alert_acknowledges_its_incident_once() {
        use EventAction::*;
        let open = HashMap::from([(
            ("svc".to_string(), "k".to_string()),
            OpenAlert { id: 7, status: AlertStatus::Triggered, incident_id: Some(3) },
        )]);
        let incidents = HashMap::from([(3, IncidentState::new("svc", IncidentStatus::Triggered, 1))]);
        let events = [ev("k", Acknowledge), ev("k", Acknowledge), ev("other", Resolve)];
        let p = plan(&incoming(&events), &open, &incidents, &ids()).unwrap();
        assert_eq!(effects(&p), [Effect::Acknowledged, Effect::Ignored, Effect::Ignored]);
        assert_eq!(p.alerts.len(), 1);
        assert!(!p.alerts[0].is_new);
        assert_eq!(p.alerts[0].occurrences, 0, "acknowledging is not an occurrence");
        assert_eq!(p.incidents[0].status, IncidentStatus::Acknowledged);
        assert_eq!(p.incidents[0].acknowledged_by.as_deref(), Some("integration:svc-pd"));
        assert_eq!(p.audit.len(), 1);
    }

    #[test]
    fn incident_with_other_open_alerts_stays_open() {
        use EventAction::*;
        let open = HashMap::from([(
            ("svc".to_string(), "k".to_string()),
            OpenAlert { id: 7, status: AlertStatus::Triggered, incident_id: Some(3) },
        )]);
        let incidents = HashMap::from([(3, IncidentState::new("svc", IncidentStatus::Acknowledged, 2))]);
        let p = plan(&incoming(&[ev("k", Resolve)]), &open, &incidents, &ids()).unwrap();
        assert_eq!(effects(&p), [Effect::Resolved]);
        assert_eq!((p.incidents[0].status, p.incidents[0].open_alerts), (IncidentStatus::Acknowledged, 1));
        assert!(p.audit.is_empty());
    }

    #[test]
    fn a_heartbeat_acts_as_itself_not_as_an_integration() {
        use EventAction::*;
        let events = [ev("heartbeat:nightly", Trigger), ev("heartbeat:nightly", Resolve)];
        let mut incoming = incoming(&events);
        for i in &mut incoming {
            (i.integration_id, i.kind) = ("nightly", IntegrationKind::Heartbeat);
        }
        let p = plan(&incoming, &HashMap::new(), &HashMap::new(), &ids()).unwrap();
        assert_eq!(p.alerts[0].kind, IntegrationKind::Heartbeat);
        assert_eq!(p.incidents[0].resolved_by.as_deref(), Some("heartbeat:nightly"));
        assert!(p.audit.iter().all(|a| a.actor == "heartbeat:nightly"), "{:?}", p.audit);
    }

    #[test]
    fn too_few_ids_is_an_error_not_a_guess() {
        use EventAction::*;
        let events = [ev("a", Trigger), ev("b", Trigger), ev("a", Trigger)];
        assert_eq!(openings(&incoming(&events), &HashMap::new()), 2);
        let short = NewIds::consecutive(1, 1, 1);
        assert_eq!(plan(&incoming(&events), &HashMap::new(), &HashMap::new(), &short), Err(TooFewIds { reserved: 1 }));
    }

    #[test]
    fn reserved_ids_need_not_be_consecutive() {
        use EventAction::*;
        let events = [ev("a", Trigger), ev("b", Trigger)];
        let ids = NewIds { incidents: vec![5, 9], alerts: vec![40, 77] };
        let p = plan(&incoming(&events), &HashMap::new(), &HashMap::new(), &ids).unwrap();
        assert_eq!(p.incidents.iter().map(|i| i.id).collect::<Vec<_>>(), [5, 9]);
        assert_eq!(p.alerts.iter().map(|a| (a.id, a.incident_id)).collect::<Vec<_>>(), [(40, Some(5)), (77, Some(9))]);
    }

    mod model {
        //! The batch planner agrees with applying events one at a time.
        use super::*;
        use crate::event::EventAction;
        use proptest::prelude::*;

        #[derive(Default)]
        struct Model {
            open: HashMap<u8, i64>,
            alerts: HashMap<i64, (AlertStatus, i64, i64)>, // status, occurrences, incident
            incidents: HashMap<i64, (IncidentStatus, i64)>, // status, open alerts
            next: i64,
            changes: usize,
        }

        impl Model {
            fn apply(&mut self, key: u8, action: EventAction) -> Effect {
                let current = self.open.get(&key).map(|id| self.alerts[id].0);
                match fold(current, action) {
                    Fold::Open => {
                        let id = self.next;
                        self.next += 1;
                        self.open.insert(key, id);
                        self.alerts.insert(id, (AlertStatus::Triggered, 1, id));
                        self.incidents.insert(id, (IncidentStatus::Triggered, 1));
                        self.changes += 1;
                        Effect::Opened
                    }
                    Fold::Repeat => {
                        self.alerts.get_mut(&self.open[&key]).unwrap().1 += 1;
                        Effect::Repeated
                    }
                    Fold::Acknowledge => {
                        let a = self.alerts.get_mut(&self.open[&key]).unwrap();
                        a.0 = AlertStatus::Acknowledged;
                        let inc = self.incidents.get_mut(&a.2).unwrap();
                        if inc.0 == IncidentStatus::Triggered {
                            inc.0 = IncidentStatus::Acknowledged;
                            self.changes += 1;
                        }
                        Effect::Acknowledged
                    }
                    Fold::Resolve => {
                        let id = self.open.remove(&key).unwrap();
                        let a = self.alerts.get_mut(&id).unwrap();
                        a.0 = AlertStatus::Resolved;
                        let inc = self.incidents.get_mut(&a.2).unwrap();
                        inc.1 -= 1;
                        if inc.1 == 0 {
                            inc.0 = IncidentStatus::Resolved;
                            self.changes += 1;
                        }
                        Effect::Resolved
                    }
                    Fold::Ignore(_) => Effect::Ignored,
                }
            }
        }

        fn action() -> impl Strategy<Value = EventAction> {
            prop_oneof![Just(EventAction::Trigger), Just(EventAction::Acknowledge), Just(EventAction::Resolve)]
        }

        proptest! {
            #[test]
            fn plan_matches_one_at_a_time(steps in proptest::collection::vec((0u8..3, action()), 0..40)) {
                let events: Vec<Event> = steps.iter().map(|(k, a)| ev(&format!("k{k}"), *a)).collect();
                let ids = NewIds::consecutive(1, 1, events.len());
                let p = plan(&incoming(&events), &HashMap::new(), &HashMap::new(), &ids).unwrap();
                prop_assert_eq!(openings(&incoming(&events), &HashMap::new()), p.alerts.iter().filter(|a| a.is_new).count());
                let mut m = Model { next: 1, ..Model::default() };
                let want: Vec<Effect> = steps.iter().map(|(k, a)| m.apply(*k, *a)).collect();
                prop_assert_eq!(effects(&p), want);
                prop_assert_eq!(p.alerts.len(), m.alerts.len());
                for row in &p.alerts {
                    let (status, occurrences, incident) = m.alerts[&row.id];
                    prop_assert_eq!((row.status, row.occurrences, row.incident_id), (status, occurrences, Some(incident)));
                }
                for row in &p.incidents {
                    let (status, open) = m.incidents[&row.id];
                    prop_assert_eq!((row.status, row.open_alerts), (status, open));
                }
                prop_assert_eq!(p.audit.len(), m.changes);
                prop_assert_eq!(p.outbox.len(), m.changes);
            }
        }
    }
}
