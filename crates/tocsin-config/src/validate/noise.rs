//! The noise-control sections: services' dependencies, grouping, storm and
//! flapping limits and maintenance windows; the routing tree and the
//! integrations it routes; inhibition rules; heartbeat monitors. Values go
//! through the domain's own parsers and checks (`tocsin_core::grouping`,
//! `storm`, `flapping`, `maintenance`, `routing`, `inhibit`, `heartbeat`,
//! `matchers`), whose field names are mapped back onto config places.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::Duration;
use tocsin_core::CoreError;
use tocsin_core::duration::{parse_duration, parse_positive_duration};
use tocsin_core::event::Severity;
use tocsin_core::flapping::FlapPolicy;
use tocsin_core::grouping::{DEFAULT_GROUP_INTERVAL, DEFAULT_GROUP_WAIT, GroupBy, Grouping};
use tocsin_core::heartbeat::Heartbeat;
use tocsin_core::inhibit::{self, InhibitRule};
use tocsin_core::maintenance::{MaintenanceWindow, TimeInterval, TimeIntervalSpec, TimeRangeSpec, WindowKind};
use tocsin_core::matchers::{MAX_NAME_LEN, Matcher, Matchers};
use tocsin_core::model::{HeartbeatSpec, IntegrationKind, RoutedIntegrationSpec};
use tocsin_core::routing::{self, Route};
use tocsin_core::storm::StormPolicy;

use super::{Checker, CoreErrorParts, Integrations, Known, Registry, domain_errors};
use crate::error::{Pos, Problem};
use crate::path::Path;
use crate::schema::{self, Entry, MatcherText, Section, Text, Texts, WindowShape};
use crate::values::{check_id, default_integration_id, parse_instant, whole_number};

const SEVERITIES: [Severity; 4] = [Severity::Critical, Severity::Error, Severity::Warning, Severity::Info];

impl Checker<'_> {
    /// Reports each of the domain's problems at the place `places` knows for
    /// its field (or the nearest enclosing one), else at `fallback`.
    fn domain(&mut self, result: Result<(), CoreError>, places: &Places, fallback: (&Path, Pos)) {
        for CoreErrorParts { field, message } in domain_errors(result) {
            let (path, pos) = match places.find(&field) {
                Some(pos) if !field.is_empty() => (Path::root().join(&field), pos),
                _ => (fallback.0.clone(), fallback.1),
            };
            self.diagnostics.report(&path, pos, Problem::Domain(message));
        }
    }

    fn duration_or(&mut self, path: &Path, text: Option<&Text>, default: Duration) -> Option<Duration> {
        match text {
            None => Some(default),
            Some(text) => self.parsed(path, text, |s| parse_duration(s).map_err(Problem::Duration)),
        }
    }

    /// Parses each matcher, reporting every bad one where the parser points
    /// when that maps onto the file; `None` when any was bad.
    fn matchers(&mut self, list: &Path, entries: &[Entry<MatcherText>]) -> Option<Matchers> {
        let mut parsed = Vec::with_capacity(entries.len());
        let mut ok = true;
        for Entry { path, value, .. } in entries {
            match Matcher::parse(&value.text.value) {
                Ok(matcher) => parsed.push(matcher),
                Err(error) => {
                    let pos = match (value.content, error.column()) {
                        (Some(start), Some(column)) => {
                            Pos { line: start.line, column: start.column.map(|c| c + column.saturating_sub(1)) }
                        }
                        _ => value.text.pos,
                    };
                    self.diagnostics.report(path, pos, Problem::Matcher(error.to_string()));
                    ok = false;
                }
            }
        }
        match Matchers::new(parsed) {
            Ok(matchers) => ok.then_some(matchers),
            Err(error) => {
                let pos = entries.first().map_or(Pos::NONE, |entry| entry.pos);
                self.diagnostics.report(list, pos, Problem::Matcher(error.to_string()));
                None
            }
        }
    }

    /// A service's `depends_on`: declared services, not itself, each once.
    pub(super) fn depends_on(&mut self, path: &Path, service: &schema::Service, known: &Known<'_>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let Some(texts) = &service.depends_on else {
            return out;
        };
        for (index, text) in texts.items.iter().enumerate() {
            let item = path.key("depends_on").index(index);
            if text.value == service.id.value {
                self.diagnostics.report(&item, text.pos, Problem::SelfDependency);
                continue;
            }
            self.reference("service", "services", known.services.as_ref(), &item, text);
            if out.contains(&text.value) {
                self.diagnostics.report(&item, text.pos, Problem::ListedTwice { id: text.value.clone() });
            } else {
                out.push(text.value.clone());
            }
        }
        out
    }

    /// Reports every dependency cycle once, at the entry that closes it,
    /// naming the services around it.
    pub(super) fn dependency_cycles(&mut self, section: &Section<schema::Service>) {
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, entry) in section.entries.iter().enumerate() {
            index.entry(entry.value.id.value.as_str()).or_insert(i);
        }
        // 0: not visited, 1: on the current path, 2: done.
        let mut state = vec![0u8; section.entries.len()];
        for start in 0..section.entries.len() {
            if state.get(start) == Some(&0) {
                let mut stack = Vec::new();
                self.visit(section, &index, &mut state, &mut stack, start);
            }
        }
    }

    fn visit(
        &mut self,
        section: &Section<schema::Service>,
        index: &HashMap<&str, usize>,
        state: &mut [u8],
        stack: &mut Vec<usize>,
        at: usize,
    ) {
        let Some(entry) = section.entries.get(at) else { return };
        if let Some(slot) = state.get_mut(at) {
            *slot = 1;
        }
        stack.push(at);
        let texts = entry.value.depends_on.as_ref().map_or(&[][..], |texts| texts.items.as_slice());
        for (j, text) in texts.iter().enumerate() {
            let Some(&next) = index.get(text.value.as_str()) else { continue };
            let repeated = texts.get(..j).is_some_and(|before| before.iter().any(|t| t.value == text.value));
            if next == at || repeated {
                continue; // reported as a self-dependency, or as listed twice
            }
            match state.get(next) {
                Some(0) => self.visit(section, index, state, stack, next),
                Some(1) => {
                    let from = stack.iter().position(|&s| s == next).unwrap_or(0);
                    let mut names: Vec<&str> = stack
                        .get(from..)
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|&s| section.entries.get(s).map(|e| e.value.id.value.as_str()))
                        .collect();
                    names.push(text.value.as_str());
                    let problem = Problem::DependencyCycle { cycle: names.join(" → ") };
                    self.diagnostics.report(&entry.path.key("depends_on").index(j), text.pos, problem);
                }
                _ => {}
            }
        }
        stack.pop();
        if let Some(slot) = state.get_mut(at) {
            *slot = 2;
        }
    }

    pub(super) fn grouping(&mut self, Entry { path, pos, value }: &Entry<schema::Grouping>) -> Option<Grouping> {
        let mut places = Places::default();
        places.add(path, *pos);
        let by_path = path.key("group_by");
        places.add_texts(&by_path, value.group_by.as_ref());
        let names: Vec<String> =
            value.group_by.as_ref().map(|t| t.items.iter().map(|i| i.value.clone()).collect()).unwrap_or_default();
        let group_by = match GroupBy::parse(&by_path.to_string(), &names) {
            Ok(group_by) => Some(group_by),
            Err(error) => {
                self.domain(Err(error), &places, (&by_path, *pos));
                None
            }
        };
        let wait_path = path.key("group_wait");
        let interval_path = path.key("group_interval");
        let group_wait = self.duration_or(&wait_path, value.group_wait.as_ref(), DEFAULT_GROUP_WAIT);
        let group_interval = self.duration_or(&interval_path, value.group_interval.as_ref(), DEFAULT_GROUP_INTERVAL);
        for (field, text) in [(&wait_path, &value.group_wait), (&interval_path, &value.group_interval)] {
            if let Some(text) = text {
                places.add(field, text.pos);
            }
        }
        let grouping = Grouping {
            group_by: group_by?,
            group_wait: group_wait?,
            group_interval: group_interval?,
            alertmanager_group_key: value.alertmanager_group_key.unwrap_or(false),
        };
        let before = self.diagnostics.count();
        self.domain(grouping.validate(&path.to_string()), &places, (path, *pos));
        (self.diagnostics.count() == before).then_some(grouping)
    }

    /// A count and a window, checked by `validate`; absent fields take
    /// `default`'s values.
    fn limit(
        &mut self,
        Entry { path, pos, value }: &Entry<schema::Limit>,
        count_field: &'static str,
        default: (u32, Duration),
        validate: impl FnOnce(u32, Duration, &str) -> Result<(), CoreError>,
    ) -> Option<(u32, Duration)> {
        let mut places = Places::default();
        places.add(path, *pos);
        let count = match &value.count {
            None => Some(default.0),
            Some(text) => {
                places.add(&path.key(count_field), text.pos);
                self.parsed(&path.key(count_field), text, |s| {
                    whole_number(s, 0, u32::MAX.into()).map(|n| u32::try_from(n).unwrap_or(u32::MAX))
                })
            }
        };
        if let Some(text) = &value.within {
            places.add(&path.key("within"), text.pos);
        }
        let within = self.duration_or(&path.key("within"), value.within.as_ref(), default.1);
        let (count, within) = (count?, within?);
        let before = self.diagnostics.count();
        self.domain(validate(count, within, &path.to_string()), &places, (path, *pos));
        (self.diagnostics.count() == before).then_some((count, within))
    }

    pub(super) fn storm(&mut self, entry: &Entry<schema::Limit>) -> Option<StormPolicy> {
        if entry.value.off {
            return Some(StormPolicy::OFF);
        }
        let default = StormPolicy::default();
        let (max_new_alerts, within) =
            self.limit(entry, "max_new_alerts", (default.max_new_alerts, default.within), |count, within, field| {
                StormPolicy { max_new_alerts: count, within }.validate(field)
            })?;
        Some(StormPolicy { max_new_alerts, within })
    }

    pub(super) fn flapping(&mut self, entry: &Entry<schema::Limit>) -> Option<FlapPolicy> {
        if entry.value.off {
            return Some(FlapPolicy::OFF);
        }
        let default = FlapPolicy::default();
        let (max_changes, within) =
            self.limit(entry, "max_changes", (default.max_changes, default.within), |count, within, field| {
                FlapPolicy { max_changes: count, within }.validate(field)
            })?;
        Some(FlapPolicy { max_changes, within })
    }

    /// A service's maintenance windows; ids unique within the service.
    pub(super) fn windows(&mut self, section: &Section<schema::Window>) -> Vec<MaintenanceWindow> {
        let mut ids = Registry::default();
        let mut windows = Vec::with_capacity(section.entries.len());
        for Entry { path, pos, value } in &section.entries {
            let id_ok = self.entity_id("maintenance window", &mut ids, path, &value.id);
            let mut places = Places::default();
            places.add(path, *pos);
            places.add(&path.key("id"), value.id.pos);
            let kind = match &value.kind {
                WindowShape::OneOff { start, end } => {
                    places.add(&path.key("start"), start.pos);
                    places.add(&path.key("end"), end.pos);
                    let start = self.parsed(&path.key("start"), start, parse_instant);
                    let end = self.parsed(&path.key("end"), end, parse_instant);
                    match (start, end) {
                        (Some(start), Some(end)) => Some(WindowKind::OneOff { start, end }),
                        _ => None,
                    }
                }
                WindowShape::Recurring(recurring) => {
                    let spec = interval_spec(path, recurring, &mut places);
                    match TimeInterval::parse(&path.to_string(), &spec) {
                        Ok(interval) => Some(WindowKind::Recurring(interval)),
                        Err(error) => {
                            self.domain(Err(error), &places, (path, *pos));
                            None
                        }
                    }
                }
            };
            let Some(kind) = kind else { continue };
            let window = MaintenanceWindow { id: value.id.value.clone(), kind };
            if id_ok {
                let before = self.diagnostics.count();
                self.domain(window.validate(&path.to_string()), &places, (path, *pos));
                if self.diagnostics.count() != before {
                    continue;
                }
            }
            windows.push(window);
        }
        windows
    }

    /// The top-level `routes`: ids unique across the tree, services
    /// declared, matchers and severities valid, then the domain's tree rules.
    pub(super) fn routes(&mut self, section: &Section<schema::Route>, known: &Known<'_>) -> Vec<Route> {
        let before = self.diagnostics.count();
        let mut ids = Registry::default();
        let mut places = Places::default();
        places.add(&Path::root().key("routes"), section.pos);
        let routes = self.route_level(&section.entries, known, &mut ids, &mut places);
        if self.diagnostics.count() == before && section.complete {
            let result = routing::validate(&routes)
                .map_err(|error| CoreError::Invalid { field: error.path, message: error.message });
            self.domain(result, &places, (&Path::root().key("routes"), section.pos));
        }
        routes
    }

    fn route_level(
        &mut self,
        entries: &[Entry<schema::Route>],
        known: &Known<'_>,
        ids: &mut Registry,
        places: &mut Places,
    ) -> Vec<Route> {
        let mut routes = Vec::with_capacity(entries.len());
        for Entry { path, pos, value } in entries {
            places.add(path, *pos);
            if let Some(id) = &value.id {
                self.entity_id("route", ids, path, id);
                places.add(&path.key("id"), id.pos);
            }
            if let Some(service) = &value.service {
                self.reference("service", "services", known.services.as_ref(), &path.key("service"), service);
                places.add(&path.key("service"), service.pos);
            }
            let matchers = self.matchers(&path.key("matchers"), &value.matchers).unwrap_or_default();
            let severity_path = path.key("set").key("severity");
            let set_severity = value.severity.as_ref().and_then(|text| {
                let parsed = Severity::parse(&text.value);
                if parsed.is_none() {
                    let expected = SEVERITIES.map(Severity::as_str).to_vec();
                    let problem = Problem::UnknownVariant { found: text.value.clone(), expected };
                    self.diagnostics.report(&severity_path, text.pos, problem);
                }
                parsed
            });
            let mut add_labels = BTreeMap::new();
            for (name, label) in &value.labels {
                places.add(&path.key("set").key("labels").key(&name.value), name.pos);
                add_labels.insert(name.value.clone(), label.value.clone());
            }
            let children = self.route_level(&value.routes.entries, known, ids, places);
            routes.push(Route {
                id: value.id.as_ref().map(|id| id.value.clone()),
                matchers,
                service: value.service.as_ref().map(|s| s.value.clone()),
                set_severity,
                add_labels,
                continue_: value.continue_,
                routes: children,
            });
        }
        routes
    }

    /// The top-level `integrations`: each names a top-level route; ids and
    /// keys are unique together with services' integrations. A default id
    /// is `<route>-<kind>` (then `-2`, `-3` …).
    pub(super) fn routed_integrations(
        &mut self,
        section: &Section<schema::RoutedIntegration>,
        routes: &Section<schema::Route>,
        all: &mut Integrations,
    ) -> Vec<RoutedIntegrationSpec> {
        let top: Option<HashSet<&str>> = routes
            .complete
            .then(|| routes.entries.iter().filter_map(|r| r.value.id.as_ref().map(|id| id.value.as_str())).collect());
        let mut per_kind: HashMap<(&str, IntegrationKind), usize> = HashMap::new();
        let mut specs = Vec::with_capacity(section.entries.len());
        for Entry { path, pos, value } in &section.entries {
            let route = &value.route;
            let route_ok = check_id(&route.value).is_ok();
            if let Some(top) = &top
                && !top.contains(route.value.as_str())
            {
                self.diagnostics.report(
                    &path.key("route"),
                    route.pos,
                    Problem::UnknownRoute { id: route.value.clone() },
                );
            }
            let ordinal = per_kind.entry((route.value.as_str(), value.kind)).or_insert(0);
            *ordinal += 1;
            let id = match &value.id {
                Some(id) => self.written_integration_id(all, id, path),
                None => {
                    let id = default_integration_id(&route.value, value.kind, *ordinal);
                    if route_ok {
                        self.integration_id(all, &id, path, *pos, true);
                    }
                    id
                }
            };
            self.key(all, path, &value.key, "integration");
            specs.push(RoutedIntegrationSpec {
                id,
                kind: value.kind,
                key: value.key.value.clone(),
                route: route.value.clone(),
            });
        }
        specs
    }

    pub(super) fn inhibit_rules(&mut self, section: &Section<schema::InhibitRule>) -> Vec<InhibitRule> {
        if section.entries.len() > inhibit::MAX_RULES {
            let problem = Problem::Domain(format!("more than {} rules", inhibit::MAX_RULES));
            self.diagnostics.report(&Path::root().key("inhibit_rules"), section.pos, problem);
        }
        let mut rules = Vec::with_capacity(section.entries.len());
        for Entry { path, pos, value } in &section.entries {
            let source = self.matchers(&path.key("source_matchers"), &value.source_matchers);
            let target = self.matchers(&path.key("target_matchers"), &value.target_matchers);
            let equal = self.equal(&path.key("equal"), value.equal.as_ref(), *pos);
            if let (Some(source_matchers), Some(target_matchers), Some(equal)) = (source, target, equal) {
                rules.push(InhibitRule { source_matchers, target_matchers, equal });
            }
        }
        rules
    }

    /// Label names of an inhibition rule's `equal`, as the domain bounds them.
    fn equal(&mut self, path: &Path, texts: Option<&Texts>, pos: Pos) -> Option<Vec<String>> {
        let Some(texts) = texts else { return Some(Vec::new()) };
        let mut ok = true;
        if texts.items.len() > inhibit::MAX_EQUAL {
            let problem = Problem::Domain(format!("more than {} label names", inhibit::MAX_EQUAL));
            let at = if texts.pos == Pos::NONE { pos } else { texts.pos };
            self.diagnostics.report(path, at, problem);
            ok = false;
        }
        for (index, name) in texts.items.iter().enumerate() {
            if name.value.is_empty() || name.value.len() > MAX_NAME_LEN {
                let problem = Problem::Domain(format!("label name must be 1 to {MAX_NAME_LEN} bytes"));
                self.diagnostics.report(&path.index(index), name.pos, problem);
                ok = false;
            }
        }
        ok.then(|| texts.items.iter().map(|t| t.value.clone()).collect())
    }

    /// Heartbeat monitors: ids unique, service declared, keys like
    /// integration keys, `interval` more than zero, `grace` (0s when left
    /// out) not negative.
    pub(super) fn heartbeats(
        &mut self,
        entries: &[Entry<schema::Heartbeat>],
        known: &Known<'_>,
        all: &mut Integrations,
    ) -> Vec<HeartbeatSpec> {
        let mut ids = Registry::default();
        let mut specs = Vec::with_capacity(entries.len());
        for Entry { path, pos, value } in entries {
            self.entity_id("heartbeat", &mut ids, path, &value.id);
            self.reference("service", "services", known.services.as_ref(), &path.key("service"), &value.service);
            self.key(all, path, &value.key, "heartbeat");
            let interval = self.parsed(&path.key("interval"), &value.interval, |s| {
                parse_positive_duration(s).map_err(Problem::Duration)
            });
            let grace = self.duration_or(&path.key("grace"), value.grace.as_ref(), Duration::zero());
            let (Some(interval), Some(grace)) = (interval, grace) else { continue };
            let spec = HeartbeatSpec {
                id: value.id.value.clone(),
                service: value.service.value.clone(),
                key: value.key.value.clone(),
                interval,
                grace,
            };
            let mut places = Places::default();
            places.add(path, *pos);
            places.add(&path.key("interval"), value.interval.pos);
            if let Some(grace) = &value.grace {
                places.add(&path.key("grace"), grace.pos);
            }
            let monitor: Heartbeat = spec.heartbeat();
            self.domain(monitor.validate(&path.to_string()), &places, (path, *pos));
            specs.push(spec);
        }
        specs
    }
}

/// The domain's form of a recurring window, recording where each value was
/// written in `places`.
fn interval_spec(path: &Path, recurring: &schema::Recurring, places: &mut Places) -> TimeIntervalSpec {
    let mut texts = |name: &str, list: Option<&Texts>| -> Vec<String> {
        places.add_texts(&path.key(name), list);
        list.map(|t| t.items.iter().map(|i| i.value.clone()).collect()).unwrap_or_default()
    };
    let weekdays = texts("weekdays", recurring.weekdays.as_ref());
    let days_of_month = texts("days_of_month", recurring.days_of_month.as_ref());
    let months = texts("months", recurring.months.as_ref());
    let years = texts("years", recurring.years.as_ref());
    let times = recurring
        .times
        .iter()
        .map(|Entry { path, pos, value: (start, end) }| {
            places.add(path, *pos);
            places.add(&path.key("start"), start.pos);
            places.add(&path.key("end"), end.pos);
            TimeRangeSpec { start: start.value.clone(), end: end.value.clone() }
        })
        .collect();
    if let Some(zone) = &recurring.time_zone {
        places.add(&path.key("time_zone"), zone.pos);
    }
    TimeIntervalSpec {
        times,
        weekdays,
        days_of_month,
        months,
        years,
        time_zone: recurring.time_zone.as_ref().map(|z| z.value.clone()),
    }
}

/// Where each field of an entry was written, by its full path, to place the
/// problems the domain's checks name by field.
#[derive(Default)]
struct Places(Vec<(String, Pos)>);

impl Places {
    fn add(&mut self, path: &Path, pos: Pos) {
        self.0.push((path.to_string(), pos));
    }

    fn add_texts(&mut self, path: &Path, texts: Option<&schema::Texts>) {
        if let Some(texts) = texts {
            self.add(path, texts.pos);
            for (index, text) in texts.items.iter().enumerate() {
                self.add(&path.index(index), text.pos);
            }
        }
    }

    /// The place of `field`, or of the nearest enclosing field known.
    fn find(&self, field: &str) -> Option<Pos> {
        let mut field = field;
        loop {
            if let Some((_, pos)) = self.0.iter().find(|(name, _)| name == field) {
                return Some(*pos);
            }
            field = field.get(..field.rfind(['.', '['])?)?;
        }
    }
}
