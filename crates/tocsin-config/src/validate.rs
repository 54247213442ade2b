//! The rules about values: id and key syntax, lengths, uniqueness,
//! references, time zones, durations and wall-clock times. Runs on the
//! [`Document`] the schema step produced and builds the [`Catalog`]; the
//! catalog is only handed out if no rule was broken.
//!
//! Schedules and escalation policies are also put through the domain's own
//! checks ([`schedule::problems`], [`escalation::validate`]) so config and the
//! API enforce one set of rules; the fields those name (`layers[1].users`)
//! are mapped back onto config paths and places.

use std::collections::{HashMap, HashSet};

use chrono_tz::Tz;
use tocsin_core::CoreError;
use tocsin_core::auth::Role;
use tocsin_core::duration::{DurationError, parse_duration, parse_positive_duration};
use tocsin_core::escalation::{self, Level, Policy, Target};
use tocsin_core::model::ADMIN_USER;
use tocsin_core::model::{
    Catalog, DEFAULT_ACK_TIMEOUT, IntegrationKind, IntegrationSpec, Notifications, RateLimit, Service, Smtp, Team, User,
};
use tocsin_core::notify::rules::{ContactKind, ContactMethod, Rule, RuleError, effective_rules};
use tocsin_core::retention::Retention;
use tocsin_core::schedule::{self, Layer, Override, Restriction, Schedule};

use crate::error::{Diagnostics, Pos, Problem};
use crate::path::Path;
use crate::schema::{self, Document, Entry, MethodKind, RestrictionKind, Section, Text};
use crate::values::*;

mod noise;

const NAME_MAX_CHARS: usize = 200;
const DESCRIPTION_MAX_CHARS: usize = 2000;
const KEY_MIN_CHARS: usize = 16;
const KEY_MAX_CHARS: usize = 128;
/// `ack_timeout: off`: acknowledgements hold until resolve.
const ACK_TIMEOUT_OFF: &str = "off";
/// A retention age of `off`: kept forever.
const RETENTION_OFF: &str = "off";
/// The id of the one-level policies built to run the domain's level checks
/// on each level separately (the policy's own id is checked on its own).
const PROBE_POLICY_ID: &str = "probe";

/// Checks every rule, reporting each broken one, and returns the catalog the
/// document declares (meaningful only if nothing was reported).
pub(crate) fn validate(document: &Document, diagnostics: &mut Diagnostics) -> Catalog {
    let mut check = Checker { diagnostics };
    // Only a complete list can prove a reference dangling.
    let known = Known {
        teams: document.teams.ids(|team| &team.id),
        users: document.users.ids(|user| &user.id),
        schedules: document.schedules.ids(|schedule| &schedule.id),
        policies: document.escalation_policies.ids(|policy| &policy.id),
        services: document.services.ids(|service| &service.id),
    };
    let teams = check.teams(&document.teams.entries, &known);
    let users = check.users(&document.users);
    let schedules = check.schedules(&document.schedules.entries, &known);
    let escalation_policies = check.policies(&document.escalation_policies.entries, &known);
    // Integration and heartbeat keys share one namespace, as do integration ids.
    let mut keys = Integrations::default();
    let services = check.services(&document.services.entries, &known, &mut keys);
    check.dependency_cycles(&document.services);
    let routes = check.routes(&document.routes, &known);
    let routed_integrations = check.routed_integrations(&document.integrations, &document.routes, &mut keys);
    let inhibit_rules = check.inhibit_rules(&document.inhibit_rules);
    let heartbeats = check.heartbeats(&document.heartbeats.entries, &known, &mut keys);
    let notifications = check.notifications(&document.notifications);
    let retention = check.retention(&document.retention);
    Catalog {
        teams,
        users,
        services,
        integrations: keys.specs,
        schedules,
        escalation_policies,
        notifications,
        retention,
        routed_integrations,
        routes,
        inhibit_rules,
        heartbeats,
    }
}

/// The ids each kind of reference may name; `None` when the list they come
/// from had a rejected entry, so a reference cannot be proven dangling.
struct Known<'d> {
    teams: Option<HashSet<&'d str>>,
    users: Option<HashSet<&'d str>>,
    schedules: Option<HashSet<&'d str>>,
    policies: Option<HashSet<&'d str>>,
    services: Option<HashSet<&'d str>>,
}

/// The first place an id (or key) was seen, to point at in duplicate errors.
struct FirstSeen {
    path: Path,
    pos: Pos,
}

/// Remembers ids of one kind and reports repeats.
#[derive(Default)]
struct Registry {
    seen: HashMap<String, FirstSeen>,
}

impl Registry {
    /// Records `id` at `path`/`pos`; returns where it was first seen if this is
    /// a repeat.
    fn record(&mut self, id: &str, path: &Path, pos: Pos) -> Option<&FirstSeen> {
        if self.seen.contains_key(id) {
            return self.seen.get(id);
        }
        self.seen.insert(id.to_owned(), FirstSeen { path: path.clone(), pos });
        None
    }
}

struct Checker<'a> {
    diagnostics: &'a mut Diagnostics,
}

impl Checker<'_> {
    /// Checks an entity id's syntax and uniqueness among `registry`; true when
    /// both hold.
    fn entity_id(&mut self, what: &'static str, registry: &mut Registry, entry_path: &Path, id: &Text) -> bool {
        let path = entry_path.key("id");
        let mut ok = true;
        if let Err(problem) = check_id(&id.value) {
            self.diagnostics.report(&path, id.pos, problem);
            ok = false;
        }
        if let Some(first) = registry.record(&id.value, &path, id.pos) {
            let problem = Problem::DuplicateId { what, id: id.value.clone(), first_line: first.pos.line };
            self.diagnostics.report(&path, id.pos, problem);
            ok = false;
        }
        ok
    }

    fn name(&mut self, entry_path: &Path, name: &Text) {
        let len = name.value.chars().count();
        let problem = if name.value.trim().is_empty() {
            Problem::NameEmpty
        } else if len > NAME_MAX_CHARS {
            Problem::NameTooLong { len, max: NAME_MAX_CHARS }
        } else {
            return;
        };
        self.diagnostics.report(&entry_path.key("name"), name.pos, problem);
    }

    fn teams(&mut self, entries: &[Entry<schema::Team>], known: &Known<'_>) -> Vec<Team> {
        let mut ids = Registry::default();
        entries
            .iter()
            .map(|Entry { path, value, .. }| {
                self.entity_id("team", &mut ids, path, &value.id);
                self.name(path, &value.name);
                let mut members: Vec<String> = Vec::new();
                for (index, member) in value.members.iter().flat_map(|m| &m.items).enumerate() {
                    let member_path = path.key("members").index(index);
                    self.reference("user", "users", known.users.as_ref(), &member_path, member);
                    if members.contains(&member.value) {
                        let problem = Problem::DuplicateMember { user: member.value.clone() };
                        self.diagnostics.report(&member_path, member.pos, problem);
                    } else {
                        members.push(member.value.clone());
                    }
                }
                Team { id: value.id.value.clone(), name: value.name.value.clone(), members }
            })
            .collect()
    }

    /// The account's role; absent means responder. The bootstrap `admin`
    /// account keeps the admin role whatever config says, so config may not
    /// say otherwise.
    fn role(&mut self, path: &Path, id: &Text, role: Option<&Text>) -> Role {
        let Some(text) = role else {
            return if id.value == ADMIN_USER { Role::Admin } else { Role::default() };
        };
        let Some(parsed) = Role::parse(&text.value) else {
            let problem =
                Problem::UnknownVariant { found: text.value.clone(), expected: Role::ALL.map(Role::as_str).to_vec() };
            self.diagnostics.report(&path.key("role"), text.pos, problem);
            return Role::default();
        };
        if id.value == ADMIN_USER && parsed != Role::Admin {
            self.diagnostics.report(&path.key("role"), text.pos, Problem::AdminRole);
        }
        parsed
    }

    /// Reports `problem` at `text` unless `parse` accepts it.
    fn parsed<T>(&mut self, path: &Path, text: &Text, parse: impl FnOnce(&str) -> Result<T, Problem>) -> Option<T> {
        match parse(&text.value) {
            Ok(value) => Some(value),
            Err(problem) => {
                self.diagnostics.report(path, text.pos, problem);
                None
            }
        }
    }

    /// Reports `id` if it is not among `known` (and `known` is complete).
    fn reference(
        &mut self,
        what: &'static str,
        section: &'static str,
        known: Option<&HashSet<&str>>,
        path: &Path,
        id: &Text,
    ) {
        if let Some(known) = known
            && !known.contains(id.value.as_str())
        {
            let problem = Problem::Undeclared { what, id: id.value.clone(), section };
            self.diagnostics.report(path, id.pos, problem);
        }
    }

    fn email(&mut self, path: &Path, email: &Text) {
        if !is_email(&email.value) {
            self.diagnostics.report(path, email.pos, Problem::Email { email: email.value.clone() });
        }
    }

    fn users(&mut self, section: &Section<schema::User>) -> Vec<User> {
        let mut ids = Registry::default();
        // Contact method ids are unique across the file, so a delivery or an
        // incident's timeline can name a method without its user.
        let mut method_ids = Registry::default();
        // Who declared each contact method id (the first, if repeated).
        let mut owners: HashMap<&str, &str> = HashMap::new();
        let mut users = Vec::with_capacity(section.entries.len());
        for Entry { path, value, .. } in &section.entries {
            self.entity_id("user", &mut ids, path, &value.id);
            self.name(path, &value.name);
            self.email(&path.key("email"), &value.email);
            let role = self.role(path, &value.id, value.role.as_ref());
            let time_zone =
                value.time_zone.as_ref().and_then(|zone| self.parsed(&path.key("time_zone"), zone, parse_zone));
            let mut contact_methods = Vec::with_capacity(value.contact_methods.entries.len());
            for method in &value.contact_methods.entries {
                self.entity_id("contact method", &mut method_ids, &method.path, &method.value.id);
                owners.entry(method.value.id.value.as_str()).or_insert(value.id.value.as_str());
                contact_methods.push(self.contact_method(method));
            }
            users.push(User {
                id: value.id.value.clone(),
                name: value.name.value.clone(),
                email: value.email.value.clone(),
                role,
                time_zone,
                contact_methods,
                notification_rules: Vec::new(),
            });
        }
        // Rules second: a rule naming another user's method is told whose it is.
        for (Entry { value, .. }, user) in section.entries.iter().zip(&mut users) {
            user.notification_rules = self.notification_rules(value, &user.contact_methods, &owners);
        }
        users
    }

    fn contact_method(&mut self, Entry { path, value, .. }: &Entry<schema::ContactMethod>) -> ContactMethod {
        let destination = &value.destination;
        let path = path.key(value.kind.field());
        let kind = match value.kind {
            MethodKind::Webhook | MethodKind::Slack => {
                if !is_http_url(&destination.value) {
                    self.diagnostics.report(&path, destination.pos, Problem::Url);
                }
                let url = destination.value.clone();
                if value.kind == MethodKind::Webhook {
                    ContactKind::Webhook { url }
                } else {
                    ContactKind::Slack { url }
                }
            }
            MethodKind::Email => {
                self.email(&path, destination);
                ContactKind::Email { address: destination.value.clone() }
            }
        };
        ContactMethod { id: value.id.value.clone(), kind }
    }

    /// Checks a user's rules against their own `methods` (every rule must
    /// name one of them) and with [`effective_rules`]; returns the rules as
    /// declared.
    fn notification_rules(
        &mut self,
        user: &schema::User,
        methods: &[ContactMethod],
        owners: &HashMap<&str, &str>,
    ) -> Vec<Rule> {
        let entries = &user.notification_rules.entries;
        let mut rules = Vec::with_capacity(entries.len());
        // The entry behind each rule in `rules`.
        let mut sources = Vec::with_capacity(entries.len());
        for entry in entries {
            let Entry { path, value, .. } = entry;
            let method = &value.contact_method;
            if !methods.iter().any(|m| m.id == method.value) {
                let method_path = path.key("contact_method");
                match owners.get(method.value.as_str()) {
                    Some(owner) if *owner != user.id.value => {
                        let problem =
                            Problem::ForeignContactMethod { method: method.value.clone(), owner: (*owner).to_owned() };
                        self.diagnostics.report(&method_path, method.pos, problem);
                    }
                    // Declared by nobody; with a rejected method entry it may
                    // be that one.
                    None if user.contact_methods.complete => {
                        let problem = Problem::UnknownContactMethod { method: method.value.clone() };
                        self.diagnostics.report(&method_path, method.pos, problem);
                    }
                    _ => {}
                }
            }
            let after = self.parsed(&path.key("after"), &value.after, |s| parse_duration(s).map_err(Problem::Duration));
            if let Some(after) = after {
                rules.push(Rule { contact_method: method.value.clone(), after });
                sources.push(entry);
            }
        }
        // Unknown methods were reported above with more to say, duplicate
        // method ids by `users`, and a negative delay does not parse; what
        // is left for the domain to find is a repeated rule.
        if let Err(errors) = effective_rules(methods, &rules) {
            for error in errors {
                let RuleError::DuplicateRule { rule } = error else { continue };
                let (Some(repeat), Some(entry)) = (rules.get(rule), sources.get(rule)) else { continue };
                let Some(first) = rules.iter().position(|r| r == repeat).and_then(|i| sources.get(i)) else { continue };
                let problem = Problem::DuplicateRule { first: first.path.clone() };
                self.diagnostics.report(&entry.path, entry.pos, problem);
            }
        }
        rules
    }

    fn schedules(&mut self, entries: &[Entry<schema::Schedule>], known: &Known<'_>) -> Vec<Schedule> {
        let mut ids = Registry::default();
        let mut schedules = Vec::with_capacity(entries.len());
        for Entry { path, pos, value } in entries {
            self.entity_id("schedule", &mut ids, path, &value.id);
            let zone = self.parsed(&path.key("time_zone"), &value.time_zone, parse_zone);
            let mut layer_ids = Registry::default();
            let layers: Vec<BuiltLayer> =
                value.layers.entries.iter().filter_map(|entry| self.layer(entry, &mut layer_ids, known)).collect();
            let overrides: Vec<BuiltOverride> = value
                .overrides
                .entries
                .iter()
                .enumerate()
                .filter_map(|(seq, entry)| self.schedule_override(entry, seq, known))
                .collect();
            let built = Schedule {
                id: value.id.value.clone(),
                // With an unknown zone the domain checks still run (UTC
                // stands in); the one check that depends on the zone is then
                // skipped below.
                time_zone: zone.unwrap_or(Tz::UTC),
                layers: layers.iter().map(|l| l.layer.clone()).collect(),
                overrides: overrides.iter().map(|o| o.value.clone()).collect(),
            };
            for problem in schedule::problems(&built) {
                let CoreError::Invalid { field, message } = problem else { continue };
                let place = match field_in_list(&field, "layers") {
                    Some((index, rest)) => layers.get(index).and_then(|layer| {
                        let zone_known = zone.is_some() || layer.layer.time_zone.is_some();
                        (zone_known || rest != "end").then(|| (layer.path.join_opt(rest), layer.place(rest)))
                    }),
                    None => field_in_list(&field, "overrides")
                        .and_then(|(index, rest)| overrides.get(index).map(|o| (o.path.join_opt(rest), o.place(rest)))),
                };
                // A field the mapping does not know still gets reported,
                // at the schedule.
                if let Some((path, pos)) = place.or_else(|| zone.map(|_| (path.join(&field), *pos))) {
                    self.diagnostics.report(&path, pos, Problem::Domain(message));
                }
            }
            if zone.is_some() {
                schedules.push(built);
            }
        }
        schedules
    }

    /// Checks one layer; returns it built when every value parsed.
    fn layer(
        &mut self,
        Entry { path, pos, value }: &Entry<schema::Layer>,
        ids: &mut Registry,
        known: &Known<'_>,
    ) -> Option<BuiltLayer> {
        self.entity_id("layer", ids, path, &value.id);
        let users_path = path.key("users");
        for (index, user) in value.users.items.iter().enumerate() {
            self.reference("user", "users", known.users.as_ref(), &users_path.index(index), user);
        }
        let zone = value.time_zone.as_ref().map(|zone| self.parsed(&path.key("time_zone"), zone, parse_zone));
        let start = self.parsed(&path.key("start"), &value.start, parse_local_datetime);
        let turn = self.parsed(&path.key("turn"), &value.turn, parse_turn);
        let handoff = value.handoff.as_ref().map(|h| self.parsed(&path.key("handoff"), h, parse_time_of_day));
        let mut places = vec![("users".to_owned(), value.users.pos), ("turn".to_owned(), value.turn.pos)];
        places.push(("handoff".to_owned(), value.handoff.as_ref().unwrap_or(&value.start).pos));
        let mut restrictions = Vec::with_capacity(value.restrictions.entries.len());
        let mut restrictions_ok = value.restrictions.complete;
        for (index, entry) in value.restrictions.entries.iter().enumerate() {
            places.push((format!("restrictions[{index}]"), entry.pos));
            match self.restriction(entry) {
                Some(restriction) => restrictions.push(restriction),
                None => restrictions_ok = false,
            }
        }
        let end = value.end.as_ref().map(|end| {
            places.push(("end".to_owned(), end.pos));
            self.parsed(&path.key("end"), end, parse_instant)
        });
        let time_zone = match zone {
            Some(zone) => Some(zone?),
            None => None,
        };
        let start = start?;
        let handoff = match handoff {
            Some(handoff) => handoff?,
            // Absent: the handoff is the start's time of day, the only value
            // the domain accepts.
            None => start.time(),
        };
        let end = match end {
            Some(end) => Some(end?),
            None => None,
        };
        let layer = Layer {
            id: value.id.value.clone(),
            users: value.users.items.iter().map(|user| user.value.clone()).collect(),
            time_zone,
            start,
            turn: turn?,
            handoff,
            restrictions: restrictions_ok.then_some(restrictions)?,
            end,
        };
        Some(BuiltLayer { layer, path: path.clone(), pos: *pos, places })
    }

    fn restriction(&mut self, Entry { path, value, .. }: &Entry<schema::Restriction>) -> Option<Restriction> {
        let (from_path, to_path) = (path.key("from"), path.key("to"));
        match value.kind {
            RestrictionKind::Daily => {
                let from = self.parsed(&from_path, &value.from, parse_time_of_day);
                let to = self.parsed(&to_path, &value.to, parse_time_of_day);
                Some(Restriction::Daily { from: from?, to: to? })
            }
            RestrictionKind::Weekly => {
                let from = self.parsed(&from_path, &value.from, parse_weekday_time);
                let to = self.parsed(&to_path, &value.to, parse_weekday_time);
                Some(Restriction::Weekly { from: from?, to: to? })
            }
        }
    }

    /// `seq` is the override's place in the list: where overrides overlap,
    /// the one listed later wins.
    fn schedule_override(
        &mut self,
        Entry { path, pos, value }: &Entry<schema::Override>,
        seq: usize,
        known: &Known<'_>,
    ) -> Option<BuiltOverride> {
        self.reference("user", "users", known.users.as_ref(), &path.key("user"), &value.user);
        let start = self.parsed(&path.key("start"), &value.start, parse_instant);
        let end = self.parsed(&path.key("end"), &value.end, parse_instant);
        let end_pos = value.end.pos;
        let value = Override {
            user: value.user.value.clone(),
            start: start?,
            end: end?,
            created_seq: u64::try_from(seq).unwrap_or(u64::MAX),
        };
        Some(BuiltOverride { value, path: path.clone(), pos: *pos, end_pos })
    }

    fn services(
        &mut self,
        entries: &[Entry<schema::Service>],
        known: &Known<'_>,
        integrations: &mut Integrations,
    ) -> Vec<Service> {
        let mut ids = Registry::default();
        let mut services = Vec::with_capacity(entries.len());
        for Entry { path, value, .. } in entries {
            let id_ok = self.entity_id("service", &mut ids, path, &value.id);
            self.name(path, &value.name);
            if let Some(description) = &value.description {
                let len = description.value.chars().count();
                if len > DESCRIPTION_MAX_CHARS {
                    let problem = Problem::DescriptionTooLong { len, max: DESCRIPTION_MAX_CHARS };
                    self.diagnostics.report(&path.key("description"), description.pos, problem);
                }
            }
            if let (Some(team), Some(known)) = (&value.team, &known.teams)
                && !known.contains(team.value.as_str())
            {
                let problem = Problem::UnknownTeam { team: team.value.clone() };
                self.diagnostics.report(&path.key("team"), team.pos, problem);
            }
            if let Some(policy) = &value.escalation_policy {
                let policy_path = path.key("escalation_policy");
                self.reference(
                    "escalation policy",
                    "escalation_policies",
                    known.policies.as_ref(),
                    &policy_path,
                    policy,
                );
            }
            let ack_timeout = match &value.ack_timeout {
                None => Some(DEFAULT_ACK_TIMEOUT),
                Some(off) if off.value == ACK_TIMEOUT_OFF => None,
                Some(timeout) => self.parsed(&path.key("ack_timeout"), timeout, |s| {
                    parse_positive_duration(s).map_err(Problem::AckTimeout)
                }),
            };
            self.integrations(integrations, &value.id.value, id_ok, &value.integrations);
            let depends_on = self.depends_on(path, value, known);
            let grouping = value.grouping.as_ref().and_then(|entry| self.grouping(entry));
            let storm = value.storm.as_ref().and_then(|entry| self.storm(entry));
            let flapping = value.flapping.as_ref().and_then(|entry| self.flapping(entry));
            let maintenance_windows = self.windows(&value.maintenance_windows);
            services.push(Service {
                id: value.id.value.clone(),
                name: value.name.value.clone(),
                description: value.description.as_ref().map(|d| d.value.clone()),
                team: value.team.as_ref().map(|t| t.value.clone()),
                escalation_policy: value.escalation_policy.as_ref().map(|p| p.value.clone()),
                ack_timeout,
                depends_on,
                grouping,
                storm,
                flapping,
                maintenance_windows,
            });
        }
        services
    }

    fn policies(&mut self, entries: &[Entry<schema::Policy>], known: &Known<'_>) -> Vec<Policy> {
        let mut ids = Registry::default();
        let mut policies = Vec::with_capacity(entries.len());
        for Entry { path, pos, value } in entries {
            self.entity_id("escalation policy", &mut ids, path, &value.id);
            let repeat = match &value.repeat {
                None => Some(0),
                Some(repeat) => self.parsed(&path.key("repeat"), repeat, |s| {
                    whole_number(s, 0, u32::MAX.into()).map(|n| u32::try_from(n).unwrap_or(u32::MAX))
                }),
            };
            let levels_path = path.key("levels");
            if value.levels.complete && value.levels.entries.is_empty() {
                let probe = Policy { id: PROBE_POLICY_ID.to_owned(), repeat: 0, levels: Vec::new() };
                let levels_pos = if value.levels.pos == Pos::NONE { *pos } else { value.levels.pos };
                for CoreErrorParts { field, message } in domain_errors(escalation::validate(&probe)) {
                    let place = field.strip_prefix("levels").map_or_else(|| path.join(&field), |_| levels_path.clone());
                    self.diagnostics.report(&place, levels_pos, Problem::Domain(message));
                }
            }
            let mut levels = Vec::with_capacity(value.levels.entries.len());
            let mut complete = value.levels.complete;
            for entry in &value.levels.entries {
                match self.level(entry, known) {
                    Some(level) => levels.push(level),
                    None => complete = false,
                }
            }
            if let (true, Some(repeat)) = (complete, repeat) {
                policies.push(Policy { id: value.id.value.clone(), repeat, levels });
            }
        }
        policies
    }

    /// Checks one level (references, delay syntax, then the domain's rules
    /// for a level); returns it built when it is complete.
    fn level(&mut self, Entry { path, pos, value }: &Entry<schema::Level>, known: &Known<'_>) -> Option<Level> {
        let mut targets = Vec::with_capacity(value.targets.entries.len());
        for Entry { path, value: target, .. } in &value.targets.entries {
            match target {
                schema::Target::User(user) => {
                    self.reference("user", "users", known.users.as_ref(), &path.key("user"), user);
                    targets.push(Target::User(user.value.clone()));
                }
                schema::Target::Schedule(id) => {
                    let schedules = known.schedules.as_ref();
                    self.reference("schedule", "schedules", schedules, &path.key("schedule"), id);
                    targets.push(Target::Schedule(id.value.clone()));
                }
            }
        }
        let delay = &value.escalate_after;
        let escalate_after =
            self.parsed(&path.key("escalate_after"), delay, |s| parse_duration(s).map_err(Problem::Duration))?;
        let level = Level { targets, escalate_after };
        // A broken target list was reported already; "no targets" would
        // only echo it.
        if !value.targets.complete {
            return None;
        }
        for CoreErrorParts { field, message } in level_problems(&level) {
            // The probe policy has this level at index 0.
            let rest = field.strip_prefix("levels[0]").map(|rest| rest.trim_start_matches('.'));
            let (place, pos, problem) = match rest {
                // The domain's message shows the delay normalized (`0s`);
                // quote it as written (`0m`) instead.
                Some("escalate_after") => {
                    let problem = Problem::Duration(DurationError::NotPositive { input: delay.value.clone() });
                    (path.key("escalate_after"), delay.pos, problem)
                }
                Some(rest) if rest.starts_with("targets") => {
                    let targets_pos = if value.targets.pos == Pos::NONE { *pos } else { value.targets.pos };
                    (path.join_opt(rest), targets_pos, Problem::Domain(message))
                }
                _ => (path.clone(), *pos, Problem::Domain(message)),
            };
            self.diagnostics.report(&place, pos, problem);
        }
        Some(level)
    }

    fn notifications(&mut self, notifications: &schema::Notifications) -> Notifications {
        let base = Path::root().key("notifications");
        let mut out = Notifications { smtp: self.smtp(notifications), ..Notifications::default() };
        if let Some(url) = &notifications.public_url {
            if is_http_url(&url.value) {
                out.public_url = Some(url.value.trim_end_matches('/').to_string());
            } else {
                self.diagnostics.report(&base.key("public_url"), url.pos, Problem::Url);
            }
        }
        if let Some(secret) = &notifications.webhook_secret {
            if secret.value.chars().count() < 16 {
                self.diagnostics.report(&base.key("webhook_secret"), secret.pos, Problem::ShortSecret);
            } else {
                out.webhook_secret = Some(secret.value.clone());
            }
        }
        if let Some(ttl) = &notifications.ack_link_ttl
            && let Some(ttl) =
                self.parsed(&base.key("ack_link_ttl"), ttl, |s| parse_positive_duration(s).map_err(Problem::Duration))
        {
            out.ack_link_ttl = ttl;
        }
        if let Some(Entry { path, value, .. }) = &notifications.rate_limit {
            let messages = self.parsed(&path.key("messages"), &value.messages, |s| whole_number(s, 1, 10_000));
            let window = self
                .parsed(&path.key("window"), &value.window, |s| parse_positive_duration(s).map_err(Problem::Duration));
            if let (Some(messages), Some(window)) = (messages, window) {
                out.rate_limit = RateLimit { messages: u32::try_from(messages).unwrap_or(u32::MAX), window };
            }
        }
        out
    }

    /// Each age is a positive duration or `off`; an absent one keeps its default.
    fn retention(&mut self, retention: &schema::Retention) -> Retention {
        let base = Path::root().key("retention");
        let mut out = Retention::default();
        let fields = [
            ("alert_payloads", &retention.alert_payloads, &mut out.alert_payloads),
            ("delivery_attempts", &retention.delivery_attempts, &mut out.delivery_attempts),
        ];
        for (name, text, age) in fields {
            match text {
                None => {}
                Some(off) if off.value == RETENTION_OFF => *age = None,
                Some(text) => {
                    if let Some(parsed) = self
                        .parsed(&base.key(name), text, |s| parse_positive_duration(s).map_err(Problem::RetentionAge))
                    {
                        *age = Some(parsed);
                    }
                }
            }
        }
        out
    }

    fn smtp(&mut self, notifications: &schema::Notifications) -> Option<Smtp> {
        let Entry { path, pos, value } = notifications.smtp.as_ref()?;
        let host = &value.host;
        if host.value.is_empty() || host.value.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
            self.diagnostics.report(&path.key("host"), host.pos, Problem::Host);
        }
        let port = self
            .parsed(&path.key("port"), &value.port, |s| whole_number(s, 1, u16::MAX.into()))
            .map_or(0, |port| u16::try_from(port).unwrap_or_default());
        self.email(&path.key("from"), &value.from);
        if value.username.is_some() != value.password.is_some() {
            self.diagnostics.report(path, *pos, Problem::Credentials);
        }
        let credentials = value.username.is_some() && value.password.is_some();
        if credentials && !value.starttls.unwrap_or(false) && !is_loopback(&host.value) {
            self.diagnostics.report(&path.key("starttls"), *pos, Problem::CleartextCredentials);
        }
        Some(Smtp {
            host: host.value.clone(),
            port,
            from: value.from.value.clone(),
            username: value.username.as_ref().map(|u| u.value.clone()),
            password: value.password.as_ref().map(|p| p.value.clone()),
            starttls: value.starttls.unwrap_or(false),
        })
    }

    /// Checks the integrations of the service `service_id` and adds them to
    /// `all`. `service_id_ok` is false when the service id is itself invalid
    /// or a duplicate: default ids derived from it would only repeat that
    /// error, so they are not checked.
    fn integrations(
        &mut self,
        all: &mut Integrations,
        service_id: &str,
        service_id_ok: bool,
        entries: &[Entry<schema::Integration>],
    ) {
        let mut per_kind: HashMap<IntegrationKind, usize> = HashMap::new();
        for Entry { path, pos, value } in entries {
            let ordinal = per_kind.entry(value.kind).or_insert(0);
            *ordinal += 1;
            let id = match &value.id {
                Some(id) => self.written_integration_id(all, id, path),
                None => {
                    let id = default_integration_id(service_id, value.kind, *ordinal);
                    if service_id_ok {
                        let len = id.chars().count();
                        if len > ID_MAX_CHARS {
                            let problem = Problem::DefaultIdTooLong { id: id.clone(), len, max: ID_MAX_CHARS };
                            self.diagnostics.report(path, *pos, problem);
                        }
                        self.integration_id(all, &id, path, *pos, true);
                    }
                    id
                }
            };
            self.key(all, path, &value.key, "integration");
            all.specs.push(IntegrationSpec {
                id,
                service_id: service_id.to_owned(),
                kind: value.kind,
                key: value.key.value.clone(),
            });
        }
    }

    /// An integration id written in the file: its syntax checked and
    /// recorded against duplicates; returned.
    fn written_integration_id(&mut self, all: &mut Integrations, id: &Text, entry_path: &Path) -> String {
        let id_path = entry_path.key("id");
        if let Err(problem) = check_id(&id.value) {
            self.diagnostics.report(&id_path, id.pos, problem);
        }
        self.integration_id(all, &id.value, &id_path, id.pos, false);
        id.value.clone()
    }

    fn integration_id(&mut self, all: &mut Integrations, id: &str, path: &Path, pos: Pos, defaulted: bool) {
        if let Some(first) = all.ids.record(id, path, pos) {
            let problem = Problem::DuplicateIntegrationId {
                id: id.to_owned(),
                first: first.path.clone(),
                first_line: first.pos.line,
                defaulted,
            };
            self.diagnostics.report(path, pos, problem);
        }
    }

    /// Checks an inbound key; `what` (`integration`, `heartbeat`) names its
    /// kind in messages. Keys are unique across integrations and heartbeats.
    fn key(&mut self, all: &mut Integrations, entry_path: &Path, key: &Text, what: &'static str) {
        let path = entry_path.key("key");
        let len = key.value.chars().count();
        if !(KEY_MIN_CHARS..=KEY_MAX_CHARS).contains(&len) {
            let problem = Problem::KeyLength { what, len, min: KEY_MIN_CHARS, max: KEY_MAX_CHARS };
            self.diagnostics.report(&path, key.pos, problem);
        }
        if let Some(index) = key.value.chars().position(|ch| !is_key_char(ch)) {
            let problem = Problem::KeyCharacter { what, position: index + 1 };
            self.diagnostics.report(&path, key.pos, problem);
        }
        // Keyed by the integration, not the entry: the message names the
        // integration, never the secret key.
        if let Some(first) = all.keys.record(&key.value, entry_path, key.pos) {
            let problem = Problem::DuplicateKey { what, first: first.path.clone() };
            self.diagnostics.report(&path, key.pos, problem);
        }
    }
}

/// A layer that parsed, with where its fields were written, to place the
/// domain's problems.
struct BuiltLayer {
    layer: Layer,
    path: Path,
    pos: Pos,
    /// Field (relative to the layer, as the domain names it) and place.
    places: Vec<(String, Pos)>,
}

impl BuiltLayer {
    fn place(&self, field: &str) -> Pos {
        self.places.iter().find(|(name, _)| name == field).map_or(self.pos, |(_, pos)| *pos)
    }
}

struct BuiltOverride {
    value: Override,
    path: Path,
    pos: Pos,
    end_pos: Pos,
}

impl BuiltOverride {
    fn place(&self, field: &str) -> Pos {
        if field == "end" { self.end_pos } else { self.pos }
    }
}

/// Splits a domain field such as `layers[2].users` into the index in `list`
/// and the rest (`users`; empty for the element itself).
fn field_in_list<'f>(field: &'f str, list: &str) -> Option<(usize, &'f str)> {
    let inside = field.strip_prefix(list)?.strip_prefix('[')?;
    let (index, rest) = inside.split_once(']')?;
    Some((index.parse().ok()?, rest.trim_start_matches('.')))
}

/// The field and message of a domain validation error.
struct CoreErrorParts {
    field: String,
    message: String,
}

fn domain_errors(result: Result<(), CoreError>) -> Vec<CoreErrorParts> {
    match result {
        Ok(()) => Vec::new(),
        Err(CoreError::Invalid { field, message }) => vec![CoreErrorParts { field, message }],
        Err(other) => vec![CoreErrorParts { field: String::new(), message: other.to_string() }],
    }
}

/// Every problem [`escalation::validate`] finds in `level`, as level 0 of a
/// one-level policy. The domain stops at a level's first problem; a level
/// with no targets is checked a second time with a stand-in target so a bad
/// delay is reported too.
fn level_problems(level: &Level) -> Vec<CoreErrorParts> {
    let probe = |level: Level| Policy { id: PROBE_POLICY_ID.to_owned(), repeat: 0, levels: vec![level] };
    let mut problems = domain_errors(escalation::validate(&probe(level.clone())));
    if level.targets.is_empty() {
        let stand_in = Level { targets: vec![Target::User(PROBE_POLICY_ID.to_owned())], ..level.clone() };
        problems.extend(domain_errors(escalation::validate(&probe(stand_in))));
    }
    problems
}

/// Integration ids (services' and routed ones) and inbound keys (theirs and
/// heartbeats') are unique across the whole file, not per service.
#[derive(Default)]
struct Integrations {
    ids: Registry,
    keys: Registry,
    specs: Vec<IntegrationSpec>,
}
