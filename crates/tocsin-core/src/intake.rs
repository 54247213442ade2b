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
use std::collections::{BTreeMap, HashMap};

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

    /// The group its sender put it in: an Alertmanager webhook's `groupKey`,
    /// which its parser keeps in the details.
    pub fn sender_group(&self) -> Option<&str> {
        match self.kind {
            IntegrationKind::Alertmanager => self.event.details.get("group_key").and_then(serde_json::Value::as_str),
            _ => None,
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

impl AlertRow {
    /// The working row of stored alert `a` before anything changes it:
    /// nothing added, its content kept, last seen at `seen`. `identity` is
    /// (service, integration, kind, dedup key).
    fn stored(a: OpenAlert, identity: (&str, &str, IntegrationKind, &str), seen: DateTime<Utc>) -> Self {
        let (service_id, integration_id, kind, dedup_key) = identity;
        AlertRow {
            id: a.id,
            is_new: false,
            service_id: service_id.to_string(),
            integration_id: integration_id.to_string(),
            kind,
            dedup_key: dedup_key.to_string(),
            incident_id: a.incident_id,
            status: a.status,
            first_seen: seen,
            last_seen: seen,
            occurrences: 0,
            acknowledged_at: None,
            resolved_at: None,
            content_from: None,
            held_back: Vec::new(),
            released: false,
        }
    }
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

/// An open alert of a quiet incident, as stored: what [`plan_releases`]
/// judges when no sender re-sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct QuietAlert {
    pub alert_id: i64,
    pub incident_id: i64,
    pub service_id: String,
    pub integration_id: String,
    pub kind: IntegrationKind,
    pub dedup_key: String,
    pub labels: BTreeMap<String, String>,
    pub status: AlertStatus,
    pub last_seen: DateTime<Utc>,
}

/// Releases the quiet incidents that nothing holds back any more at `at`
/// although no sender re-sent their alerts (a PagerDuty trigger is sent
/// once): their silence ended, their maintenance window closed, the alert
/// that inhibited them resolved, their flap window passed. As with a
/// re-send, the first of an incident's open alerts free of every hold
/// releases it, and it pages from then on; the system is the actor.
/// `incidents` holds the stored state of each alert's incident.
pub fn plan_releases(
    quiet: &[QuietAlert],
    incidents: &HashMap<i64, IncidentState>,
    rules: &NoiseRules,
    facts: NoiseFacts,
    at: DateTime<Utc>,
) -> Plan {
    let ids = NewIds::default();
    let mut p = Planner {
        incoming: &[],
        rules,
        facts,
        open: HashMap::new(),
        stored_incidents: incidents,
        alerts: Vec::new(),
        alert_index: HashMap::new(),
        incidents: Vec::new(),
        incident_index: HashMap::new(),
        ids: &ids,
        opened: 0,
        plan: Plan::default(),
    };
    for q in quiet {
        let still_quiet =
            incidents.get(&q.incident_id).is_some_and(|s| s.quiet && s.status == IncidentStatus::Triggered);
        let done = p.incident_index.contains_key(&q.incident_id);
        if !still_quiet || done || q.status == AlertStatus::Resolved || rules.service(&q.service_id).is_none() {
            continue;
        }
        let alert =
            NewAlert { service: &q.service_id, dedup_key: &q.dedup_key, labels: &q.labels, sender_group: None, at };
        if !noise::holds_on_resend(&alert, rules, &p.facts).is_empty() {
            continue;
        }
        p.alert_index.insert(q.alert_id, p.alerts.len());
        let stored = OpenAlert { id: q.alert_id, status: q.status, incident_id: Some(q.incident_id) };
        p.alerts.push(AlertRow::stored(stored, (&q.service_id, &q.integration_id, q.kind, &q.dedup_key), q.last_seen));
        let payload = json!({"alert_id": q.alert_id, "dedup_key": q.dedup_key, "holds_ended": true});
        p.release(q.incident_id, &q.service_id, q.alert_id, actor::SYSTEM.to_string(), payload, at);
    }
    p.plan.alerts = p.alerts;
    p.plan.incidents = p.incidents;
    p.plan
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
            sender_group: inc.sender_group(),
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
        self.facts.record(&alert, alert_id, &disposition, incident_id, self.rules);
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
            sender_group: inc.sender_group(),
            at: inc.at,
        };
        if !noise::holds_on_resend(&alert, self.rules, &self.facts).is_empty() {
            return;
        }
        let payload = json!({"alert_id": a.id, "dedup_key": inc.event.dedup_key});
        self.release(incident_id, inc.service_id, a.id, actor::integration(inc.integration_id), payload, inc.at);
    }

    /// Releases quiet incident `incident_id` through its alert `alert_id`
    /// (a row of the plan already): it and the alert lose their reasons,
    /// the timeline and audit log say who released it, and paging starts.
    fn release(
        &mut self,
        incident_id: i64,
        service_id: &str,
        alert_id: i64,
        who: String,
        payload: serde_json::Value,
        at: DateTime<Utc>,
    ) {
        let Some(i) = self.incident_row(incident_id, service_id) else { return };
        let row = &mut self.incidents[i];
        row.held_back.clear();
        row.released = true;
        let service_id = row.service_id.clone();
        if let Some(&ai) = self.alert_index.get(&alert_id) {
            self.alerts[ai].held_back.clear();
            self.alerts[ai].released = true;
        }
        self.timeline(incident_id, at, TimelineKind::Released, &who, payload.clone());
        self.plan.audit.push(AuditRecord {
            at,
            actor: who,
            action: "incident.release".to_string(),
            target: format!("incident:{incident_id}"),
            details: payload,
        });
        self.plan.outbox.push(OutboxDraft {
            kind: WorkKind::IncidentOpened,
            service_id,
            payload: json!({"incident_id": incident_id}),
            due_at: at,
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
                let identity = (inc.service_id, inc.integration_id, inc.kind, inc.event.dedup_key.as_str());
                self.alerts.push(AlertRow::stored(a, identity, inc.at));
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
mod tests;
