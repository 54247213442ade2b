//! The noise-control sections of the file: top-level routes, routed
//! integrations, inhibit rules and heartbeats, and each service's grouping,
//! storm and flapping limits and maintenance windows.

use super::*;

const ROUTED_INTEGRATION_FIELDS: &[&str] = &["kind", "key", "id", "route"];

/// One-off windows take `start` and `end`; recurring ones the rest, as
/// Alertmanager's time intervals write them.
const WINDOW_FIELDS: &[&str] =
    &["id", "start", "end", "times", "weekdays", "days_of_month", "months", "years", "time_zone"];

const WINDOW_RECURRING_FIELDS: &[&str] = &["times", "weekdays", "days_of_month", "months", "years", "time_zone"];

const TIME_RANGE_FIELDS: &[&str] = &["start", "end"];

const ROUTE_FIELDS: &[&str] = &["id", "matchers", "service", "set", "continue", "routes"];

const ROUTE_SET_FIELDS: &[&str] = &["severity", "labels"];

const INHIBIT_FIELDS: &[&str] = &["source_matchers", "target_matchers", "equal"];

const HEARTBEAT_FIELDS: &[&str] = &["id", "service", "key", "interval", "grace"];

/// A matcher string, and where its first character is in the text when
/// every character of the value is written as is on one line (so a column
/// in the matcher maps onto a column in the file).
#[derive(Debug)]
pub(crate) struct MatcherText {
    pub(crate) text: Text,
    pub(crate) content: Option<Pos>,
}

/// A top-level integration: routed by `routes`, starting at `route`.
#[derive(Debug)]
pub(crate) struct RoutedIntegration {
    pub(crate) kind: IntegrationKind,
    pub(crate) key: Text,
    pub(crate) id: Option<Text>,
    pub(crate) route: Text,
}

#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) id: Option<Text>,
    pub(crate) matchers: Vec<Entry<MatcherText>>,
    pub(crate) service: Option<Text>,
    pub(crate) severity: Option<Text>,
    /// Labels to add, in the order written.
    pub(crate) labels: Vec<(Text, Text)>,
    pub(crate) continue_: bool,
    pub(crate) routes: Section<Route>,
}

#[derive(Debug)]
pub(crate) struct InhibitRule {
    pub(crate) source_matchers: Vec<Entry<MatcherText>>,
    pub(crate) target_matchers: Vec<Entry<MatcherText>>,
    pub(crate) equal: Option<Texts>,
}

#[derive(Debug)]
pub(crate) struct Heartbeat {
    pub(crate) id: Text,
    pub(crate) service: Text,
    /// A secret: only its place is ever reported, never its text.
    pub(crate) key: Text,
    pub(crate) interval: Text,
    pub(crate) grace: Option<Text>,
}

/// A service's `grouping`; absent fields take Alertmanager's defaults.
#[derive(Debug)]
pub(crate) struct Grouping {
    pub(crate) group_by: Option<Texts>,
    pub(crate) group_wait: Option<Text>,
    pub(crate) group_interval: Option<Text>,
    pub(crate) alertmanager_group_key: Option<bool>,
}

/// `storm` (`max_new_alerts`, `within`) or `flapping` (`max_changes`,
/// `within`); absent fields take the domain's defaults. `off` turns the
/// rule off for the service.
#[derive(Debug)]
pub(crate) struct Limit {
    pub(crate) count: Option<Text>,
    pub(crate) within: Option<Text>,
    pub(crate) off: bool,
}

#[derive(Debug)]
pub(crate) struct Window {
    pub(crate) id: Text,
    pub(crate) kind: WindowShape,
}

#[derive(Debug)]
pub(crate) enum WindowShape {
    OneOff { start: Text, end: Text },
    Recurring(Recurring),
}

#[derive(Debug, Default)]
pub(crate) struct Recurring {
    pub(crate) times: Vec<Entry<(Text, Text)>>,
    pub(crate) weekdays: Option<Texts>,
    pub(crate) days_of_month: Option<Texts>,
    pub(crate) months: Option<Texts>,
    pub(crate) years: Option<Texts>,
    pub(crate) time_zone: Option<Text>,
}

impl Reader<'_> {
    pub(super) fn routed_integration(&mut self, node: &Spanned<Node>, path: Path) -> Option<RoutedIntegration> {
        let fields = self.mapping(node, path, ROUTED_INTEGRATION_FIELDS)?;
        let kind = self.required_text(&fields, "kind");
        let key = self.required_text(&fields, "key");
        let id = self.optional_text(&fields, "id");
        let route = self.required_text(&fields, "route");
        let kind = kind?;
        let Some(parsed) = IntegrationKind::parse_declarable(&kind.value) else {
            let expected = IntegrationKind::DECLARABLE.map(IntegrationKind::as_str).to_vec();
            self.unknown_variant(&fields.path.key("kind"), &kind, expected);
            return None;
        };
        Some(RoutedIntegration { kind: parsed, key: key?, id, route: route? })
    }

    /// A list of matcher strings; absent and `null` are empty. Elements
    /// that are not strings are reported and left out.
    pub(super) fn matchers(&mut self, fields: &Fields<'_>, name: &'static str) -> Vec<Entry<MatcherText>> {
        let Some(node) = fields.non_null(name) else {
            return Vec::new();
        };
        let path = fields.path.key(name);
        let Node::Seq(items) = &node.value else {
            self.wrong_type(node, &path, "a sequence");
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let path = path.index(index);
            if let Some(text) = self.text(item, &path) {
                let content = content_pos(item, &text, self.source);
                out.push(Entry { path, pos: text.pos, value: MatcherText { text, content } });
            }
        }
        out
    }

    pub(super) fn route(&mut self, node: &Spanned<Node>, path: Path) -> Option<Route> {
        let fields = self.mapping(node, path, ROUTE_FIELDS)?;
        let id = self.optional_text(&fields, "id");
        let matchers = self.matchers(&fields, "matchers");
        let service = self.optional_text(&fields, "service");
        let mut severity = None;
        let mut labels = Vec::new();
        if let Some(set) = fields.non_null("set")
            && let Some(set) = self.mapping(set, fields.path.key("set"), ROUTE_SET_FIELDS)
        {
            severity = self.optional_text(&set, "severity");
            labels = self.string_map(&set, "labels");
        }
        let continue_ = self.optional_bool(&fields, "continue").unwrap_or(false);
        let routes = self.list(&fields, "routes", Reader::route);
        Some(Route { id, matchers, service, severity, labels, continue_, routes })
    }

    /// A mapping of strings to strings (`labels: { tier: "1" }`); entries
    /// whose value is not a string are reported and left out.
    pub(super) fn string_map(&mut self, fields: &Fields<'_>, name: &'static str) -> Vec<(Text, Text)> {
        let Some(node) = fields.non_null(name) else {
            return Vec::new();
        };
        let path = fields.path.key(name);
        let Node::Map(entries) = &node.value else {
            self.wrong_type(node, &path, "a mapping");
            return Vec::new();
        };
        let mut out = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            if let Some(text) = self.text(value, &path.key(&key.value)) {
                out.push((Text { value: key.value.clone(), pos: pos(&key.referenced) }, text));
            }
        }
        out
    }

    pub(super) fn inhibit_rule(&mut self, node: &Spanned<Node>, path: Path) -> Option<InhibitRule> {
        let fields = self.mapping(node, path, INHIBIT_FIELDS)?;
        let source_matchers = self.matchers(&fields, "source_matchers");
        let target_matchers = self.matchers(&fields, "target_matchers");
        let equal = self.optional_texts(&fields, "equal");
        Some(InhibitRule { source_matchers, target_matchers, equal })
    }

    pub(super) fn heartbeat(&mut self, node: &Spanned<Node>, path: Path) -> Option<Heartbeat> {
        let fields = self.mapping(node, path, HEARTBEAT_FIELDS)?;
        let id = self.required_text(&fields, "id");
        let service = self.required_text(&fields, "service");
        let key = self.required_text(&fields, "key");
        let interval = self.required_text(&fields, "interval");
        let grace = self.optional_text(&fields, "grace");
        Some(Heartbeat { id: id?, service: service?, key: key?, interval: interval?, grace })
    }

    /// A one-off window (`start`, `end`) or a recurring one (the time
    /// interval fields); not both.
    pub(super) fn window(&mut self, node: &Spanned<Node>, path: Path) -> Option<Window> {
        let fields = self.mapping(node, path, WINDOW_FIELDS)?;
        let id = self.required_text(&fields, "id");
        let one_off = fields.get("start").is_some() || fields.get("end").is_some();
        if one_off {
            if let Some(other) = WINDOW_RECURRING_FIELDS.iter().find(|name| fields.get(name).is_some()) {
                let key_pos = fields.key_pos(other).unwrap_or(fields.pos);
                self.diagnostics.report(&fields.path.key(other), key_pos, Problem::WindowShape);
                return None;
            }
            let start = self.required_text(&fields, "start");
            let end = self.required_text(&fields, "end");
            return Some(Window { id: id?, kind: WindowShape::OneOff { start: start?, end: end? } });
        }
        let times = self.list(&fields, "times", Reader::time_range);
        let recurring = Recurring {
            times: times.entries,
            weekdays: self.optional_texts(&fields, "weekdays"),
            days_of_month: self.optional_texts(&fields, "days_of_month"),
            months: self.optional_texts(&fields, "months"),
            years: self.optional_texts(&fields, "years"),
            time_zone: self.optional_text(&fields, "time_zone"),
        };
        // A broken range would widen the window to times the file does not say.
        if !times.complete {
            return None;
        }
        Some(Window { id: id?, kind: WindowShape::Recurring(recurring) })
    }

    pub(super) fn time_range(&mut self, node: &Spanned<Node>, path: Path) -> Option<(Text, Text)> {
        let fields = self.mapping(node, path, TIME_RANGE_FIELDS)?;
        let start = self.required_text(&fields, "start");
        let end = self.required_text(&fields, "end");
        Some((start?, end?))
    }
}
