//! The shape of the file: which fields exist, which are required, and their
//! types.
//!
//! This step walks the node tree and reports every structural problem (wrong
//! type, unknown field, missing field, unknown integration kind) with its
//! place, without stopping at the first. Entries that lack a required field
//! are left out of the [`Document`]; the rules about values (id syntax,
//! duplicates, references) are `validate`'s job.

use serde_saphyr::Spanned;
use tocsin_core::model::IntegrationKind;

use crate::error::{Diagnostics, Pos, Problem};
use crate::path::Path;
use crate::yaml::{ImplicitKind, Node, pos, text_of};

mod noise;

pub(crate) use noise::*;

const DOCUMENT_FIELDS: &[&str] = &[
    "teams",
    "users",
    "services",
    "schedules",
    "escalation_policies",
    "notifications",
    "retention",
    "integrations",
    "routes",
    "inhibit_rules",
    "heartbeats",
];
const TEAM_FIELDS: &[&str] = &["id", "name", "members"];
const USER_FIELDS: &[&str] = &["id", "name", "email", "role", "time_zone", "contact_methods", "notification_rules"];
const CONTACT_METHOD_FIELDS: &[&str] = &["id", "kind", "url", "address"];
const RULE_FIELDS: &[&str] = &["contact_method", "after"];
const SERVICE_FIELDS: &[&str] = &[
    "id",
    "name",
    "description",
    "team",
    "integrations",
    "escalation_policy",
    "ack_timeout",
    "depends_on",
    "grouping",
    "storm",
    "flapping",
    "maintenance_windows",
];
const INTEGRATION_FIELDS: &[&str] = &["kind", "key", "id"];
const GROUPING_FIELDS: &[&str] = &["group_by", "group_wait", "group_interval", "alertmanager_group_key"];
const STORM_FIELDS: &[&str] = &["max_new_alerts", "within"];
const FLAPPING_FIELDS: &[&str] = &["max_changes", "within"];
const SCHEDULE_FIELDS: &[&str] = &["id", "time_zone", "layers", "overrides"];
const LAYER_FIELDS: &[&str] = &["id", "users", "time_zone", "start", "turn", "handoff", "restrictions", "end"];
const RESTRICTION_FIELDS: &[&str] = &["kind", "from", "to"];
const OVERRIDE_FIELDS: &[&str] = &["user", "start", "end"];
const POLICY_FIELDS: &[&str] = &["id", "repeat", "levels"];
const LEVEL_FIELDS: &[&str] = &["targets", "escalate_after"];
const TARGET_FIELDS: &[&str] = &["user", "schedule"];
const NOTIFICATIONS_FIELDS: &[&str] = &["smtp", "public_url", "webhook_secret", "ack_link_ttl", "rate_limit"];
const RATE_LIMIT_FIELDS: &[&str] = &["messages", "window"];
const RETENTION_FIELDS: &[&str] = &["alert_payloads", "delivery_attempts"];
const SMTP_FIELDS: &[&str] = &["host", "port", "from", "username", "password", "starttls"];

/// A string value and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Text {
    pub(crate) value: String,
    pub(crate) pos: Pos,
}

/// One element of a sequence, with its path and place.
#[derive(Debug)]
pub(crate) struct Entry<T> {
    pub(crate) path: Path,
    pub(crate) pos: Pos,
    pub(crate) value: T,
}

/// The entries of one list.
#[derive(Debug)]
pub(crate) struct Section<T> {
    pub(crate) entries: Vec<Entry<T>>,
    /// False when an entry (or the whole list) was rejected: checks that need
    /// to know every id, like dangling references, are then skipped rather
    /// than report errors that are only echoes of the structural one.
    pub(crate) complete: bool,
    /// Where the list was written; [`Pos::NONE`] when it is absent.
    pub(crate) pos: Pos,
}

impl<T> Default for Section<T> {
    fn default() -> Self {
        Self { entries: Vec::new(), complete: true, pos: Pos::NONE }
    }
}

impl<T> Section<T> {
    /// The ids of a complete section, to check references against; `None`
    /// when an entry was rejected and a reference may name it.
    pub(crate) fn ids(&self, id: impl Fn(&T) -> &Text) -> Option<std::collections::HashSet<&str>> {
        self.complete.then(|| self.entries.iter().map(|entry| id(&entry.value).value.as_str()).collect())
    }
}

/// A sequence of strings (a layer's users) and where it was written.
#[derive(Debug)]
pub(crate) struct Texts {
    pub(crate) items: Vec<Text>,
    pub(crate) pos: Pos,
}

#[derive(Debug, Default)]
pub(crate) struct Document {
    pub(crate) teams: Section<Team>,
    pub(crate) users: Section<User>,
    pub(crate) services: Section<Service>,
    pub(crate) schedules: Section<Schedule>,
    pub(crate) escalation_policies: Section<Policy>,
    pub(crate) notifications: Notifications,
    pub(crate) retention: Retention,
    pub(crate) integrations: Section<RoutedIntegration>,
    pub(crate) routes: Section<Route>,
    pub(crate) inhibit_rules: Section<InhibitRule>,
    pub(crate) heartbeats: Section<Heartbeat>,
}

#[derive(Debug)]
pub(crate) struct Team {
    pub(crate) id: Text,
    pub(crate) name: Text,
    /// User ids; absent means no members.
    pub(crate) members: Option<Texts>,
}

#[derive(Debug)]
pub(crate) struct User {
    pub(crate) id: Text,
    pub(crate) name: Text,
    pub(crate) email: Text,
    /// `viewer`, `responder`, `manager` or `admin`; absent means responder.
    pub(crate) role: Option<Text>,
    pub(crate) time_zone: Option<Text>,
    pub(crate) contact_methods: Section<ContactMethod>,
    pub(crate) notification_rules: Section<NotificationRule>,
}

/// The channel of a contact method, as spelled in config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MethodKind {
    Webhook,
    Slack,
    Email,
}

impl MethodKind {
    const ALL: [MethodKind; 3] = [MethodKind::Webhook, MethodKind::Slack, MethodKind::Email];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            MethodKind::Webhook => "webhook",
            MethodKind::Slack => "slack",
            MethodKind::Email => "email",
        }
    }

    /// The field that says where to send: `url` for webhooks, `address` for
    /// email.
    pub(crate) fn field(self) -> &'static str {
        match self {
            MethodKind::Webhook | MethodKind::Slack => "url",
            MethodKind::Email => "address",
        }
    }
}

#[derive(Debug)]
pub(crate) struct ContactMethod {
    pub(crate) id: Text,
    pub(crate) kind: MethodKind,
    /// The `url` of a webhook or Slack method, the `address` of an email one.
    pub(crate) destination: Text,
}

#[derive(Debug)]
pub(crate) struct NotificationRule {
    pub(crate) contact_method: Text,
    pub(crate) after: Text,
}

#[derive(Debug)]
pub(crate) struct Service {
    pub(crate) id: Text,
    pub(crate) name: Text,
    pub(crate) description: Option<Text>,
    pub(crate) team: Option<Text>,
    pub(crate) integrations: Vec<Entry<Integration>>,
    pub(crate) escalation_policy: Option<Text>,
    pub(crate) ack_timeout: Option<Text>,
    pub(crate) depends_on: Option<Texts>,
    pub(crate) grouping: Option<Entry<Grouping>>,
    pub(crate) storm: Option<Entry<Limit>>,
    pub(crate) flapping: Option<Entry<Limit>>,
    pub(crate) maintenance_windows: Section<Window>,
}

#[derive(Debug)]
pub(crate) struct Integration {
    pub(crate) kind: IntegrationKind,
    pub(crate) key: Text,
    pub(crate) id: Option<Text>,
}

#[derive(Debug)]
pub(crate) struct Schedule {
    pub(crate) id: Text,
    pub(crate) time_zone: Text,
    pub(crate) layers: Section<Layer>,
    pub(crate) overrides: Section<Override>,
}

#[derive(Debug)]
pub(crate) struct Layer {
    pub(crate) id: Text,
    pub(crate) users: Texts,
    pub(crate) time_zone: Option<Text>,
    pub(crate) start: Text,
    pub(crate) turn: Text,
    pub(crate) handoff: Option<Text>,
    pub(crate) restrictions: Section<Restriction>,
    pub(crate) end: Option<Text>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RestrictionKind {
    Daily,
    Weekly,
}

impl RestrictionKind {
    const ALL: [RestrictionKind; 2] = [RestrictionKind::Daily, RestrictionKind::Weekly];

    fn as_str(self) -> &'static str {
        match self {
            RestrictionKind::Daily => "daily",
            RestrictionKind::Weekly => "weekly",
        }
    }
}

#[derive(Debug)]
pub(crate) struct Restriction {
    pub(crate) kind: RestrictionKind,
    pub(crate) from: Text,
    pub(crate) to: Text,
}

#[derive(Debug)]
pub(crate) struct Override {
    pub(crate) user: Text,
    pub(crate) start: Text,
    pub(crate) end: Text,
}

#[derive(Debug)]
pub(crate) struct Policy {
    pub(crate) id: Text,
    /// A number's spelling; `validate` checks its range.
    pub(crate) repeat: Option<Text>,
    pub(crate) levels: Section<Level>,
}

#[derive(Debug)]
pub(crate) struct Level {
    pub(crate) targets: Section<Target>,
    pub(crate) escalate_after: Text,
}

#[derive(Debug)]
pub(crate) enum Target {
    User(Text),
    Schedule(Text),
}

#[derive(Debug, Default)]
pub(crate) struct Notifications {
    pub(crate) smtp: Option<Entry<Smtp>>,
    pub(crate) public_url: Option<Text>,
    /// A secret: only its place is ever reported, never its text.
    pub(crate) webhook_secret: Option<Text>,
    pub(crate) ack_link_ttl: Option<Text>,
    pub(crate) rate_limit: Option<Entry<RateLimit>>,
}

/// The optional `retention` mapping: an age (a duration, or `off`) per kind
/// of data; absent fields keep their defaults.
#[derive(Debug, Default)]
pub(crate) struct Retention {
    pub(crate) alert_payloads: Option<Text>,
    pub(crate) delivery_attempts: Option<Text>,
}

#[derive(Debug)]
pub(crate) struct RateLimit {
    pub(crate) messages: Text,
    pub(crate) window: Text,
}

#[derive(Debug)]
pub(crate) struct Smtp {
    pub(crate) host: Text,
    /// A number's spelling; `validate` checks its range.
    pub(crate) port: Text,
    pub(crate) from: Text,
    pub(crate) username: Option<Text>,
    /// A secret: only its place is ever reported, never its text.
    pub(crate) password: Option<Text>,
    pub(crate) starttls: Option<bool>,
}

/// Reads the document in `root`, reporting structural problems to `diagnostics`.
pub(crate) fn read(root: &Spanned<Node>, source: &str, diagnostics: &mut Diagnostics) -> Document {
    let mut reader = Reader { source, diagnostics };
    if let Node::Null = root.value {
        // An empty file (or one with only comments) declares nothing.
        return Document::default();
    }
    let Some(fields) = reader.mapping(root, Path::root(), DOCUMENT_FIELDS) else {
        return Document::default();
    };
    Document {
        teams: reader.list(&fields, "teams", Reader::team),
        users: reader.list(&fields, "users", Reader::user),
        services: reader.list(&fields, "services", Reader::service),
        schedules: reader.list(&fields, "schedules", Reader::schedule),
        escalation_policies: reader.list(&fields, "escalation_policies", Reader::policy),
        notifications: reader.notifications(&fields),
        retention: reader.retention(&fields),
        integrations: reader.list(&fields, "integrations", Reader::routed_integration),
        routes: reader.list(&fields, "routes", Reader::route),
        inhibit_rules: reader.list(&fields, "inhibit_rules", Reader::inhibit_rule),
        heartbeats: reader.list(&fields, "heartbeats", Reader::heartbeat),
    }
}

/// Where the first character of `text`'s value is, when the value is
/// written character for character on one line: plain, or quoted without
/// escapes. `None` otherwise (the caller then points at the value).
fn content_pos(node: &Spanned<Node>, text: &Text, source: &str) -> Option<Pos> {
    let span = node.referenced.span();
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let written = source.get(start..)?;
    let value = text.value.as_str();
    if value.contains('\n') {
        return None;
    }
    let (quote, rest) = match written.chars().next()? {
        quote @ ('\'' | '"') => (Some(quote), written.get(1..)?),
        _ => (None, written),
    };
    let escapes = match quote {
        Some('"') => value.contains(['"', '\\']),
        Some(_) => value.contains('\''),
        None => false,
    };
    if escapes || !rest.starts_with(value) {
        return None;
    }
    let column = text.pos.column?.checked_add(usize::from(quote.is_some()))?;
    Some(Pos { line: text.pos.line, column: Some(column) })
}

/// The entries of a mapping being read into a struct.
struct Fields<'t> {
    path: Path,
    pos: Pos,
    entries: &'t [(Spanned<String>, Spanned<Node>)],
}

impl<'t> Fields<'t> {
    fn get(&self, name: &str) -> Option<&'t Spanned<Node>> {
        self.entries.iter().find(|(key, _)| key.value == name).map(|(_, value)| value)
    }

    /// Where the key `name` was written, if it was.
    fn key_pos(&self, name: &str) -> Option<Pos> {
        self.entries.iter().find(|(key, _)| key.value == name).map(|(key, _)| pos(&key.referenced))
    }

    /// The value of `name` unless it is absent or `null`.
    fn non_null(&self, name: &str) -> Option<&'t Spanned<Node>> {
        self.get(name).filter(|node| !matches!(node.value, Node::Null))
    }
}

struct Reader<'a> {
    source: &'a str,
    diagnostics: &'a mut Diagnostics,
}

impl Reader<'_> {
    fn wrong_type(&mut self, node: &Spanned<Node>, path: &Path, expected: &'static str) {
        let found = node.value.describe();
        self.diagnostics.report(path, pos(&node.referenced), Problem::WrongType { expected, found });
    }

    /// Opens `node` as a mapping with the given fields, reporting any other key.
    fn mapping<'t>(
        &mut self,
        node: &'t Spanned<Node>,
        path: Path,
        known: &'static [&'static str],
    ) -> Option<Fields<'t>> {
        let Node::Map(entries) = &node.value else {
            self.wrong_type(node, &path, "a mapping");
            return None;
        };
        for (key, _) in entries {
            if !known.contains(&key.value.as_str()) {
                self.diagnostics.report(
                    &path.key(&key.value),
                    pos(&key.referenced),
                    Problem::UnknownField { field: key.value.clone(), expected: known },
                );
            }
        }
        Some(Fields { path, pos: pos(&node.referenced), entries })
    }

    fn text(&mut self, node: &Spanned<Node>, path: &Path) -> Option<Text> {
        match text_of(node, self.source) {
            Some(value) => Some(Text { value, pos: pos(&node.referenced) }),
            None => {
                self.wrong_type(node, path, "a string");
                None
            }
        }
    }

    fn required_text(&mut self, fields: &Fields<'_>, name: &'static str) -> Option<Text> {
        let Some(node) = fields.get(name) else {
            self.diagnostics.report(&fields.path, fields.pos, Problem::MissingField(name));
            return None;
        };
        self.text(node, &fields.path.key(name))
    }

    /// An optional string: absent and `null` both mean "not set".
    fn optional_text(&mut self, fields: &Fields<'_>, name: &'static str) -> Option<Text> {
        match fields.get(name) {
            None => None,
            Some(node) if matches!(node.value, Node::Null) => None,
            Some(node) => self.text(node, &fields.path.key(name)),
        }
    }

    /// Reads the optional list `name` with `read_one`. `null` counts as empty,
    /// so `teams:` with nothing under it is fine.
    fn list<T>(
        &mut self,
        fields: &Fields<'_>,
        name: &'static str,
        read_one: fn(&mut Self, &Spanned<Node>, Path) -> Option<T>,
    ) -> Section<T> {
        let path = fields.path.key(name);
        let mut section = Section::default();
        let Some(node) = fields.get(name) else {
            return section;
        };
        section.pos = pos(&node.referenced);
        let items = match &node.value {
            Node::Null => return section,
            Node::Seq(items) => items,
            _ => {
                self.wrong_type(node, &path, "a sequence");
                section.complete = false;
                return section;
            }
        };
        for (index, item) in items.iter().enumerate() {
            let path = path.index(index);
            match read_one(self, item, path.clone()) {
                Some(value) => section.entries.push(Entry { path, pos: pos(&item.referenced), value }),
                None => section.complete = false,
            }
        }
        section
    }

    /// Like [`Reader::list`], but the list must be present (it may be empty
    /// or `null`; whether empty is allowed is `validate`'s rule). An absent
    /// list is reported and leaves the section incomplete.
    fn required_list<T>(
        &mut self,
        fields: &Fields<'_>,
        name: &'static str,
        read_one: fn(&mut Self, &Spanned<Node>, Path) -> Option<T>,
    ) -> Section<T> {
        if fields.get(name).is_none() {
            self.diagnostics.report(&fields.path, fields.pos, Problem::MissingField(name));
            return Section { complete: false, ..Section::default() };
        }
        self.list(fields, name, read_one)
    }

    /// A required sequence of strings; `null` counts as empty. `None` when it
    /// is absent or any element is not a string (each such element is
    /// reported).
    fn required_texts(&mut self, fields: &Fields<'_>, name: &'static str) -> Option<Texts> {
        if fields.get(name).is_none() {
            self.diagnostics.report(&fields.path, fields.pos, Problem::MissingField(name));
            return None;
        }
        self.optional_texts(fields, name)
    }

    /// An optional sequence of strings; absent and `null` are both empty.
    /// `None` when it is absent or any element is not a string (each such
    /// element is reported).
    fn optional_texts(&mut self, fields: &Fields<'_>, name: &'static str) -> Option<Texts> {
        let node = fields.get(name)?;
        let path = fields.path.key(name);
        let items = match &node.value {
            Node::Null => &Vec::new(),
            Node::Seq(items) => items,
            _ => {
                self.wrong_type(node, &path, "a sequence");
                return None;
            }
        };
        let mut texts = Vec::with_capacity(items.len());
        let mut ok = true;
        for (index, item) in items.iter().enumerate() {
            match self.text(item, &path.index(index)) {
                Some(text) => texts.push(text),
                None => ok = false,
            }
        }
        ok.then(|| Texts { items: texts, pos: pos(&node.referenced) })
    }

    /// A number, kept as written (`validate` checks its range). Strings are
    /// not numbers here: `port: "25"` is reported, not guessed at.
    fn number(&mut self, node: &Spanned<Node>, path: &Path) -> Option<Text> {
        if let Node::Implicit { kind: ImplicitKind::Number, .. } = node.value {
            return text_of(node, self.source).map(|value| Text { value, pos: pos(&node.referenced) });
        }
        self.wrong_type(node, path, "a number");
        None
    }

    fn required_number(&mut self, fields: &Fields<'_>, name: &'static str) -> Option<Text> {
        let Some(node) = fields.get(name) else {
            self.diagnostics.report(&fields.path, fields.pos, Problem::MissingField(name));
            return None;
        };
        self.number(node, &fields.path.key(name))
    }

    fn optional_number(&mut self, fields: &Fields<'_>, name: &'static str) -> Option<Text> {
        let node = fields.non_null(name)?;
        self.number(node, &fields.path.key(name))
    }

    /// An optional `true` or `false`; absent and `null` mean "not set".
    fn optional_bool(&mut self, fields: &Fields<'_>, name: &'static str) -> Option<bool> {
        let node = fields.non_null(name)?;
        if let Node::Implicit { kind: ImplicitKind::Bool, text } = &node.value {
            return Some(text == "true");
        }
        self.wrong_type(node, &fields.path.key(name), "a boolean");
        None
    }

    /// Reports an unknown spelling of a closed set of words.
    fn unknown_variant(&mut self, path: &Path, found: &Text, expected: Vec<&'static str>) {
        let problem = Problem::UnknownVariant { found: found.value.clone(), expected };
        self.diagnostics.report(path, found.pos, problem);
    }

    // Each reader below reads every field before giving up on a missing one,
    // so all of an entry's problems are reported together.

    fn team(&mut self, node: &Spanned<Node>, path: Path) -> Option<Team> {
        let fields = self.mapping(node, path, TEAM_FIELDS)?;
        let id = self.required_text(&fields, "id");
        let name = self.required_text(&fields, "name");
        let members = self.optional_texts(&fields, "members");
        Some(Team { id: id?, name: name?, members })
    }

    fn user(&mut self, node: &Spanned<Node>, path: Path) -> Option<User> {
        let fields = self.mapping(node, path, USER_FIELDS)?;
        let id = self.required_text(&fields, "id");
        let name = self.required_text(&fields, "name");
        let email = self.required_text(&fields, "email");
        let role = self.optional_text(&fields, "role");
        let time_zone = self.optional_text(&fields, "time_zone");
        let contact_methods = self.list(&fields, "contact_methods", Reader::contact_method);
        let notification_rules = self.list(&fields, "notification_rules", Reader::notification_rule);
        Some(User { id: id?, name: name?, email: email?, role, time_zone, contact_methods, notification_rules })
    }

    fn contact_method(&mut self, node: &Spanned<Node>, path: Path) -> Option<ContactMethod> {
        let fields = self.mapping(node, path, CONTACT_METHOD_FIELDS)?;
        let id = self.required_text(&fields, "id");
        let kind = self.required_text(&fields, "kind")?;
        let Some(kind) = MethodKind::ALL.into_iter().find(|k| k.as_str() == kind.value) else {
            self.unknown_variant(&fields.path.key("kind"), &kind, MethodKind::ALL.map(MethodKind::as_str).to_vec());
            return None;
        };
        // `url` and `address` are both known fields; each kind takes one.
        for other in ["url", "address"] {
            if other != kind.field()
                && let Some(key_pos) = fields.key_pos(other)
            {
                let problem = Problem::FieldNotForKind { field: other, kind: kind.as_str(), expected: kind.field() };
                self.diagnostics.report(&fields.path.key(other), key_pos, problem);
            }
        }
        let destination = self.required_text(&fields, kind.field());
        Some(ContactMethod { id: id?, kind, destination: destination? })
    }

    fn notification_rule(&mut self, node: &Spanned<Node>, path: Path) -> Option<NotificationRule> {
        let fields = self.mapping(node, path, RULE_FIELDS)?;
        let contact_method = self.required_text(&fields, "contact_method");
        let after = self.required_text(&fields, "after");
        Some(NotificationRule { contact_method: contact_method?, after: after? })
    }

    fn service(&mut self, node: &Spanned<Node>, path: Path) -> Option<Service> {
        let fields = self.mapping(node, path, SERVICE_FIELDS)?;
        let id = self.required_text(&fields, "id");
        let name = self.required_text(&fields, "name");
        let description = self.optional_text(&fields, "description");
        let team = self.optional_text(&fields, "team");
        let integrations = self.list(&fields, "integrations", Reader::integration);
        // A service whose integrations list is broken is still a service; its
        // integration problems were reported above.
        let escalation_policy = self.optional_text(&fields, "escalation_policy");
        let ack_timeout = self.optional_text(&fields, "ack_timeout");
        let depends_on = self.optional_texts(&fields, "depends_on");
        let grouping = self.optional_mapping(&fields, "grouping", GROUPING_FIELDS, |reader, fields| {
            Some(Grouping {
                group_by: reader.optional_texts(fields, "group_by"),
                group_wait: reader.optional_text(fields, "group_wait"),
                group_interval: reader.optional_text(fields, "group_interval"),
                alertmanager_group_key: reader.optional_bool(fields, "alertmanager_group_key"),
            })
        });
        let storm = self.off_or_mapping(&fields, "storm", STORM_FIELDS, |reader, fields| {
            Some(Limit {
                count: reader.optional_number(fields, "max_new_alerts"),
                within: reader.optional_text(fields, "within"),
                off: false,
            })
        });
        let flapping = self.off_or_mapping(&fields, "flapping", FLAPPING_FIELDS, |reader, fields| {
            Some(Limit {
                count: reader.optional_number(fields, "max_changes"),
                within: reader.optional_text(fields, "within"),
                off: false,
            })
        });
        let maintenance_windows = self.list(&fields, "maintenance_windows", Reader::window);
        Some(Service {
            id: id?,
            name: name?,
            description,
            team,
            integrations: integrations.entries,
            escalation_policy,
            ack_timeout,
            depends_on,
            grouping,
            storm,
            flapping,
            maintenance_windows,
        })
    }

    /// The optional mapping `name` read with `read` (`null` means not set).
    fn optional_mapping<T>(
        &mut self,
        fields: &Fields<'_>,
        name: &'static str,
        known: &'static [&'static str],
        read: impl FnOnce(&mut Self, &Fields<'_>) -> Option<T>,
    ) -> Option<Entry<T>> {
        let node = fields.non_null(name)?;
        let path = fields.path.key(name);
        let inner = self.mapping(node, path.clone(), known)?;
        let value = read(self, &inner)?;
        Some(Entry { path, pos: pos(&node.referenced), value })
    }

    /// [`Reader::optional_mapping`] for a limit that can also be `off`.
    fn off_or_mapping(
        &mut self,
        fields: &Fields<'_>,
        name: &'static str,
        known: &'static [&'static str],
        read: impl FnOnce(&mut Self, &Fields<'_>) -> Option<Limit>,
    ) -> Option<Entry<Limit>> {
        let node = fields.non_null(name)?;
        if !matches!(node.value, Node::Map(_)) {
            let path = fields.path.key(name);
            let text = self.text(node, &path)?;
            if text.value == "off" {
                let value = Limit { count: None, within: None, off: true };
                return Some(Entry { path, pos: pos(&node.referenced), value });
            }
        }
        self.optional_mapping(fields, name, known, read)
    }

    fn integration(&mut self, node: &Spanned<Node>, path: Path) -> Option<Integration> {
        let fields = self.mapping(node, path, INTEGRATION_FIELDS)?;
        let kind = self.required_text(&fields, "kind");
        let key = self.required_text(&fields, "key");
        let id = self.optional_text(&fields, "id");
        let kind = kind?;
        let Some(parsed) = IntegrationKind::parse_declarable(&kind.value) else {
            self.diagnostics.report(
                &fields.path.key("kind"),
                kind.pos,
                Problem::UnknownVariant {
                    found: kind.value,
                    expected: IntegrationKind::DECLARABLE.map(IntegrationKind::as_str).to_vec(),
                },
            );
            return None;
        };
        Some(Integration { kind: parsed, key: key?, id })
    }

    fn schedule(&mut self, node: &Spanned<Node>, path: Path) -> Option<Schedule> {
        let fields = self.mapping(node, path, SCHEDULE_FIELDS)?;
        let id = self.required_text(&fields, "id");
        let time_zone = self.required_text(&fields, "time_zone");
        let layers = self.list(&fields, "layers", Reader::layer);
        let overrides = self.list(&fields, "overrides", Reader::schedule_override);
        Some(Schedule { id: id?, time_zone: time_zone?, layers, overrides })
    }

    fn layer(&mut self, node: &Spanned<Node>, path: Path) -> Option<Layer> {
        let fields = self.mapping(node, path, LAYER_FIELDS)?;
        let id = self.required_text(&fields, "id");
        let users = self.required_texts(&fields, "users");
        let time_zone = self.optional_text(&fields, "time_zone");
        let start = self.required_text(&fields, "start");
        let turn = self.required_text(&fields, "turn");
        let handoff = self.optional_text(&fields, "handoff");
        let restrictions = self.list(&fields, "restrictions", Reader::restriction);
        let end = self.optional_text(&fields, "end");
        // A broken restriction leaves `restrictions` incomplete; `validate`
        // still checks the others, but does not build the layer, which would
        // be active at times the file does not say.
        Some(Layer { id: id?, users: users?, time_zone, start: start?, turn: turn?, handoff, restrictions, end })
    }

    fn restriction(&mut self, node: &Spanned<Node>, path: Path) -> Option<Restriction> {
        let fields = self.mapping(node, path, RESTRICTION_FIELDS)?;
        let kind = self.required_text(&fields, "kind");
        let from = self.required_text(&fields, "from");
        let to = self.required_text(&fields, "to");
        let kind = kind?;
        let Some(parsed) = RestrictionKind::ALL.into_iter().find(|k| k.as_str() == kind.value) else {
            let expected = RestrictionKind::ALL.map(RestrictionKind::as_str).to_vec();
            self.unknown_variant(&fields.path.key("kind"), &kind, expected);
            return None;
        };
        Some(Restriction { kind: parsed, from: from?, to: to? })
    }

    fn schedule_override(&mut self, node: &Spanned<Node>, path: Path) -> Option<Override> {
        let fields = self.mapping(node, path, OVERRIDE_FIELDS)?;
        let user = self.required_text(&fields, "user");
        let start = self.required_text(&fields, "start");
        let end = self.required_text(&fields, "end");
        Some(Override { user: user?, start: start?, end: end? })
    }

    fn policy(&mut self, node: &Spanned<Node>, path: Path) -> Option<Policy> {
        let fields = self.mapping(node, path, POLICY_FIELDS)?;
        let id = self.required_text(&fields, "id");
        let repeat = self.optional_number(&fields, "repeat");
        let levels = self.required_list(&fields, "levels", Reader::level);
        Some(Policy { id: id?, repeat, levels })
    }

    fn level(&mut self, node: &Spanned<Node>, path: Path) -> Option<Level> {
        let fields = self.mapping(node, path, LEVEL_FIELDS)?;
        let targets = self.required_list(&fields, "targets", Reader::target);
        let escalate_after = self.required_text(&fields, "escalate_after");
        Some(Level { targets, escalate_after: escalate_after? })
    }

    /// `{ user: carol }` or `{ schedule: primary }`: exactly one of the two.
    fn target(&mut self, node: &Spanned<Node>, path: Path) -> Option<Target> {
        let fields = self.mapping(node, path, TARGET_FIELDS)?;
        let given = TARGET_FIELDS.iter().filter(|name| fields.non_null(name).is_some()).count();
        let user = self.optional_text(&fields, "user");
        let schedule = self.optional_text(&fields, "schedule");
        if given != 1 {
            self.diagnostics.report(&fields.path, fields.pos, Problem::TargetShape);
            return None;
        }
        user.map(Target::User).or(schedule.map(Target::Schedule))
    }

    /// The optional `notifications` mapping; `null` means not set.
    fn notifications(&mut self, document: &Fields<'_>) -> Notifications {
        let Some(node) = document.non_null("notifications") else {
            return Notifications::default();
        };
        let Some(fields) = self.mapping(node, document.path.key("notifications"), NOTIFICATIONS_FIELDS) else {
            return Notifications::default();
        };
        let smtp = fields.non_null("smtp").and_then(|node| {
            let path = fields.path.key("smtp");
            let value = self.smtp(node, path.clone())?;
            Some(Entry { path, pos: pos(&node.referenced), value })
        });
        let rate_limit = fields.non_null("rate_limit").and_then(|node| {
            let path = fields.path.key("rate_limit");
            let limit = self.mapping(node, path.clone(), RATE_LIMIT_FIELDS)?;
            let messages = self.required_number(&limit, "messages");
            let window = self.required_text(&limit, "window");
            Some(Entry { path, pos: pos(&node.referenced), value: RateLimit { messages: messages?, window: window? } })
        });
        Notifications {
            smtp,
            public_url: self.optional_text(&fields, "public_url"),
            webhook_secret: self.optional_text(&fields, "webhook_secret"),
            ack_link_ttl: self.optional_text(&fields, "ack_link_ttl"),
            rate_limit,
        }
    }

    /// The optional `retention` mapping; `null` means not set.
    fn retention(&mut self, document: &Fields<'_>) -> Retention {
        let Some(node) = document.non_null("retention") else {
            return Retention::default();
        };
        let Some(fields) = self.mapping(node, document.path.key("retention"), RETENTION_FIELDS) else {
            return Retention::default();
        };
        Retention {
            alert_payloads: self.optional_text(&fields, "alert_payloads"),
            delivery_attempts: self.optional_text(&fields, "delivery_attempts"),
        }
    }

    fn smtp(&mut self, node: &Spanned<Node>, path: Path) -> Option<Smtp> {
        let fields = self.mapping(node, path, SMTP_FIELDS)?;
        let host = self.required_text(&fields, "host");
        let port = self.required_number(&fields, "port");
        let from = self.required_text(&fields, "from");
        let username = self.optional_text(&fields, "username");
        let password = self.optional_text(&fields, "password");
        let starttls = self.optional_bool(&fields, "starttls");
        Some(Smtp { host: host?, port: port?, from: from?, username, password, starttls })
    }
}
