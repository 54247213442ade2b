//! What a new alert does instead of opening an incident that pages on its
//! own: the noise rules of the applied config (grouping, storms, flapping,
//! maintenance windows, dependencies, inhibition) and the silences, judged
//! against the facts the store read for the batch.
//!
//! Two kinds of outcome, decided in this order:
//!
//! 1. **Holds** make an alert quiet: an active silence, a maintenance window
//!    of its service, an inhibiting firing alert, or flapping after it has
//!    already paged within the flap window. A held alert opens (or, with
//!    grouping, joins) a *quiet* incident that pages nobody and says why.
//! 2. Otherwise an alert **joins** an open incident rather than paging on its
//!    own: the incident of a service it depends on (likely cause), the open
//!    incident of its group, or the service's storm incident. Only when none
//!    applies does it open an incident that pages (after `group_wait` when
//!    the service groups; the alert that starts a storm opens the storm
//!    incident, which pages once and says so).
//!
//! Every decision carries [`HeldBack`] reasons, stored on the alert and the
//! incident, so no quiet page leaves anyone guessing.

use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, HashMap};

use crate::directory::Directory;
use crate::flapping::FlapPolicy;
use crate::grouping::{Grouping, group_key_with_external};
use crate::holdback::HeldBack;
use crate::inhibit::{InhibitRule, inhibited_by};
use crate::maintenance::{MaintenanceWindow, window_at};
use crate::routing::Route;
use crate::silence::Silence;
use crate::storm::StormPolicy;

/// The noise settings of one service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceRules {
    pub grouping: Option<Grouping>,
    /// `None`: `storm: off`.
    pub storm: Option<StormPolicy>,
    /// `None`: `flapping: off`.
    pub flap: Option<FlapPolicy>,
    pub windows: Vec<MaintenanceWindow>,
    /// The services this one depends on, directly or through others,
    /// nearest first.
    pub upstream: Vec<String>,
}

/// The noise sections of one applied config. A service it does not know
/// (a batch written with [`NoiseRules::default`]) gets no noise control.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NoiseRules {
    pub services: HashMap<String, ServiceRules>,
    pub inhibit: Vec<InhibitRule>,
    pub routes: Vec<Route>,
}

impl NoiseRules {
    pub fn from_directory(d: &Directory) -> Self {
        let depends: HashMap<&str, &[String]> =
            d.services.iter().map(|s| (s.id.as_str(), s.depends_on.as_slice())).collect();
        let services = d
            .services
            .iter()
            .map(|s| {
                let rules = ServiceRules {
                    grouping: s.grouping.clone(),
                    storm: Some(s.storm_policy()).filter(|p| !p.is_off()),
                    flap: Some(s.flap_policy()).filter(|p| !p.is_off()),
                    windows: s.maintenance_windows.clone(),
                    upstream: upstream_of(&s.id, &depends),
                };
                (s.id.clone(), rules)
            })
            .collect();
        Self { services, inhibit: d.inhibit_rules.clone(), routes: d.routes.clone() }
    }

    pub fn service(&self, id: &str) -> Option<&ServiceRules> {
        self.services.get(id)
    }

    /// The group key a new alert of `service` with `labels` would have;
    /// `sender_group` is the group its sender put it in (Alertmanager's
    /// `groupKey`), used when the service's grouping says so.
    pub fn group_key(
        &self,
        service: &str,
        labels: &BTreeMap<String, String>,
        sender_group: Option<&str>,
    ) -> Option<String> {
        let grouping = self.service(service)?.grouping.as_ref()?;
        let external = sender_group.filter(|_| grouping.alertmanager_group_key);
        Some(group_key_with_external(service, labels, grouping, external).as_str().to_string())
    }
}

/// Breadth-first over `depends_on`, nearest first, each service once (the
/// config refuses cycles; the visited set keeps a bad graph finite anyway).
fn upstream_of(service: &str, depends: &HashMap<&str, &[String]>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut queue: std::collections::VecDeque<&str> = std::collections::VecDeque::from([service]);
    while let Some(s) = queue.pop_front() {
        for up in depends.get(s).copied().unwrap_or_default() {
            if up != service && !out.iter().any(|o| o == up) {
                out.push(up.clone());
                queue.push_back(up);
            }
        }
    }
    out
}

/// What the stored labels (JSON objects) of a possible inhibition source
/// must contain, one text per rule: its first `name="value"` source matcher
/// as JSON (`"name":"value"`), so the store reads only firing alerts that
/// can be sources. `None` when a rule has no such matcher (every firing
/// alert may be one). The rules themselves still decide.
pub fn inhibition_source_texts(rules: &NoiseRules) -> Option<Vec<String>> {
    rules
        .inhibit
        .iter()
        .map(|rule| {
            rule.source_matchers
                .iter()
                .find(|m| m.op() == crate::matchers::MatchOp::Eq && !m.value().is_empty())
                .map(|m| format!("{}:{}", json_string(m.name()), json_string(m.value())))
        })
        .collect()
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The key under which quiet incidents of a group are found, apart from the
/// group's paging incident.
pub fn quiet_group_key(group_key: &str) -> String {
    format!("quiet/{group_key}")
}

/// A firing alert that may inhibit others.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    pub alert_id: i64,
    pub labels: BTreeMap<String, String>,
}

/// What the store knows about a service's recent new alerts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StormFacts {
    /// When its latest new alerts arrived (at most `max_new_alerts + 1` of
    /// them are needed), any order.
    pub recent: Vec<DateTime<Utc>>,
    /// Its open storm incident.
    pub incident: Option<i64>,
}

/// What the store knows about one alert identity's recent history.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlapFacts {
    /// Every fire and resolve of this (service, dedup key) within the flap
    /// window.
    pub changes: Vec<DateTime<Utc>>,
    /// The latest time one of its alerts opened an incident that paged.
    pub last_paged: Option<DateTime<Utc>>,
}

/// The facts a batch is judged on, read by the store in the batch's
/// transaction and kept current by the planner as the batch goes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NoiseFacts {
    /// Silences not yet expired, shared with the store's cache (a commit
    /// reads them, it does not copy a thousand of them).
    pub silences: std::sync::Arc<Vec<Silence>>,
    /// Open incidents new alerts can join, by (service, group key); quiet
    /// ones under [`quiet_group_key`].
    pub groups: HashMap<(String, String), i64>,
    /// Per service: its oldest open incident that pages (for the services
    /// that depend on it).
    pub open_incidents: HashMap<String, i64>,
    pub storms: HashMap<String, StormFacts>,
    pub flaps: HashMap<(String, String), FlapFacts>,
    /// Firing alerts, for inhibition (only read when there are rules).
    pub firing: Vec<Firing>,
}

/// A new alert, as the rules see it.
#[derive(Debug, Clone, Copy)]
pub struct NewAlert<'a> {
    pub service: &'a str,
    pub dedup_key: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    /// The group its sender put it in (Alertmanager's `groupKey`), if any.
    pub sender_group: Option<&'a str>,
    pub at: DateTime<Utc>,
}

/// What a new alert does.
#[derive(Debug, Clone, PartialEq)]
pub enum Disposition {
    /// It opens an incident that pages at `page_at`; `storm` when it is the
    /// alert that started a storm.
    Page { page_at: DateTime<Utc>, group_key: Option<String>, storm: bool },
    /// It opens an incident that pages nobody, for `reasons`.
    Quiet { reasons: Vec<HeldBack>, group_key: Option<String> },
    /// It joins open incident `incident_id` and does not page on its own,
    /// for `reasons`.
    Join { incident_id: i64, reasons: Vec<HeldBack> },
}

/// The holds on a new alert: why it must not page, whatever else happens.
pub fn holds(alert: &NewAlert<'_>, rules: &NoiseRules, facts: &NoiseFacts) -> Vec<HeldBack> {
    holds_on(alert, rules, facts, 1)
}

/// The holds on an alert that fires on (a re-send of an open alert): its
/// quiet incident starts paging once there are none. A re-send is no
/// change, so it does not count towards flapping.
pub fn holds_on_resend(alert: &NewAlert<'_>, rules: &NoiseRules, facts: &NoiseFacts) -> Vec<HeldBack> {
    holds_on(alert, rules, facts, 0)
}

fn holds_on(alert: &NewAlert<'_>, rules: &NoiseRules, facts: &NoiseFacts, changes_now: usize) -> Vec<HeldBack> {
    let mut reasons = Vec::new();
    if let Some(s) = facts.silences.iter().find(|s| s.silences(alert.labels, alert.at)) {
        reasons.push(HeldBack::Silenced { silence_id: s.id.clone() });
    }
    let service = rules.service(alert.service);
    if let Some(window) = service.and_then(|s| window_at(&s.windows, alert.at)) {
        reasons.push(HeldBack::Maintenance { window_id: window.to_string() });
    }
    if !rules.inhibit.is_empty() {
        let sources: Vec<&BTreeMap<String, String>> = facts.firing.iter().map(|f| &f.labels).collect();
        if let Some(i) = inhibited_by(alert.labels, &sources, &rules.inhibit) {
            reasons.push(HeldBack::Inhibited { rule: i.rule, by_alert: facts.firing[i.source].alert_id });
        }
    }
    if let Some(policy) = service.and_then(|s| s.flap.as_ref())
        && let Some(until) = flapping_until(alert, policy, facts, changes_now)
    {
        reasons.push(HeldBack::Flapping { until });
    }
    reasons
}

/// When the alert is flapping and one of its identity has already paged
/// within the window: until when it stays held back.
fn flapping_until(
    alert: &NewAlert<'_>,
    policy: &FlapPolicy,
    facts: &NoiseFacts,
    changes_now: usize,
) -> Option<DateTime<Utc>> {
    let flaps = facts.flaps.get(&(alert.service.to_string(), alert.dedup_key.to_string()))?;
    let since = alert.at - policy.within;
    // A new fire is a change too.
    let changes = flaps.changes.iter().filter(|t| **t > since).count() + changes_now;
    let paged = flaps.last_paged.filter(|t| *t > since)?;
    (changes > policy.max_changes as usize).then(|| paged + policy.within)
}

/// Decides what a new alert does (see the module docs for the order).
pub fn decide(alert: &NewAlert<'_>, rules: &NoiseRules, facts: &NoiseFacts) -> Disposition {
    let Some(service) = rules.service(alert.service) else {
        return Disposition::Page { page_at: alert.at, group_key: None, storm: false };
    };
    let group = rules.group_key(alert.service, alert.labels, alert.sender_group);
    let reasons = holds(alert, rules, facts);
    if !reasons.is_empty() {
        if let Some(key) = &group
            && let Some(&incident_id) = facts.groups.get(&(alert.service.to_string(), quiet_group_key(key)))
        {
            return Disposition::Join { incident_id, reasons };
        }
        return Disposition::Quiet { reasons, group_key: group.as_deref().map(quiet_group_key) };
    }
    for up in &service.upstream {
        if let Some(&incident_id) = facts.open_incidents.get(up) {
            return Disposition::Join {
                incident_id,
                reasons: vec![HeldBack::DependsOn { service: up.clone(), incident_id }],
            };
        }
    }
    if let Some(key) = &group
        && let Some(&incident_id) = facts.groups.get(&(alert.service.to_string(), key.clone()))
    {
        return Disposition::Join {
            incident_id,
            reasons: vec![HeldBack::Grouped { incident_id, next_update_at: None }],
        };
    }
    let storm = facts.storms.get(alert.service);
    let limit = service.storm.unwrap_or(StormPolicy::OFF);
    let since = alert.at - limit.within;
    let recent = storm.map_or(0, |s| s.recent.iter().filter(|t| **t > since).count()) + 1;
    if service.storm.is_some() && recent > limit.max_new_alerts as usize {
        if let Some(incident_id) = storm.and_then(|s| s.incident) {
            return Disposition::Join { incident_id, reasons: vec![HeldBack::Storm { incident_id }] };
        }
        return Disposition::Page { page_at: alert.at, group_key: None, storm: true };
    }
    let wait = service.grouping.as_ref().filter(|_| group.is_some()).map_or(Duration::zero(), |g| g.group_wait);
    Disposition::Page { page_at: alert.at + wait, group_key: group, storm: false }
}

impl NoiseFacts {
    /// Records new alert `alert_id` and what it did, so later alerts of the
    /// batch are judged with it. `incident_id` is the incident it opened or
    /// joined.
    pub fn record(
        &mut self,
        alert: &NewAlert<'_>,
        alert_id: i64,
        d: &Disposition,
        incident_id: i64,
        rules: &NoiseRules,
    ) {
        let service = alert.service.to_string();
        let storm = self.storms.entry(service.clone()).or_default();
        storm.recent.push(alert.at);
        // Keep the window bounded: only the latest `max + 1` instants matter.
        if let Some(limit) = rules.service(alert.service).and_then(|s| s.storm).map(|p| p.max_new_alerts as usize + 1)
            && storm.recent.len() > limit.saturating_mul(2)
        {
            storm.recent.sort_unstable();
            storm.recent.drain(..storm.recent.len() - limit);
        }
        let flaps = self.flaps.entry((service.clone(), alert.dedup_key.to_string())).or_default();
        flaps.changes.push(alert.at);
        match d {
            Disposition::Page { group_key, storm: is_storm, .. } => {
                flaps.last_paged = Some(alert.at);
                self.open_incidents.entry(service.clone()).or_insert(incident_id);
                if let Some(key) = group_key {
                    self.groups.insert((service.clone(), key.clone()), incident_id);
                }
                if *is_storm {
                    self.storms.entry(service).or_default().incident = Some(incident_id);
                }
            }
            Disposition::Quiet { group_key: Some(key), .. } => {
                self.groups.insert((service, key.clone()), incident_id);
            }
            Disposition::Quiet { .. } | Disposition::Join { .. } => {}
        }
        if !rules.inhibit.is_empty() {
            self.firing.push(Firing { alert_id, labels: alert.labels.clone() });
        }
    }

    /// An alert of this identity resolved: a change for flapping, and no
    /// longer a source of inhibition.
    pub fn record_resolve(&mut self, service: &str, dedup_key: &str, alert_id: i64, at: DateTime<Utc>) {
        if let Some(flaps) = self.flaps.get_mut(&(service.to_string(), dedup_key.to_string())) {
            flaps.changes.push(at);
        }
        self.firing.retain(|f| f.alert_id != alert_id);
    }

    /// An incident resolved: nothing joins it any more.
    pub fn forget_incident(&mut self, incident_id: i64) {
        self.groups.retain(|_, id| *id != incident_id);
        self.open_incidents.retain(|_, id| *id != incident_id);
        for s in self.storms.values_mut() {
            if s.incident == Some(incident_id) {
                s.incident = None;
            }
        }
    }
}

#[cfg(test)]
mod tests;
