//! The routing tree: which service an event from a global integration (one
//! not bound to a service) belongs to, with Alertmanager's route semantics.
//!
//! - A route matches when all its matchers match the event's labels.
//! - Routes are walked depth-first. When a matching route has children, the
//!   matching descendants are the result; the route itself is the result only
//!   when none of its children match.
//! - Siblings are tried in order, and the walk stops at the first sibling that
//!   matches unless that sibling sets `continue: true`.
//! - A route inherits `service` and the severity override from its parent when
//!   it does not set them; `labels` to add merge down the tree, a child's value
//!   winning over its parent's for the same name.
//!
//! Alertmanager has one root route that matches everything. Tocsin's config
//! has a top-level *list*: it is treated as the children of an implicit root
//! that matches everything and routes nowhere. So an event no top-level route
//! matches yields no [`RouteMatch`] at all, and the caller decides what an
//! unrouted event means.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::event::{Event, Severity};
use crate::matchers::{MAX_NAME_LEN, MAX_VALUE_LEN, Matcher, Matchers};

/// Deepest nesting of routes (a top-level route is depth 1).
pub const MAX_DEPTH: usize = 16;
/// Most routes in one tree, counting every node.
pub const MAX_ROUTES: usize = 1000;
/// Most labels one route may add.
pub const MAX_ADD_LABELS: usize = 32;
/// Longest route id or service id, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// One node of the routing tree, with its matchers already compiled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// Optional name, unique in the tree, so a match can say which route won.
    pub id: Option<String>,
    pub matchers: Matchers,
    /// The service events on this route go to; inherited when `None`.
    pub service: Option<String>,
    /// Severity forced on events on this route; inherited when `None`.
    pub set_severity: Option<Severity>,
    /// Labels added to events on this route, on top of the parent's.
    pub add_labels: BTreeMap<String, String>,
    /// Keep trying later siblings after this route matched.
    pub continue_: bool,
    pub routes: Vec<Route>,
}

/// One route an event ended on, with the settings it inherited on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// Indexes from the top-level list down to the route: `[0, 2]` is
    /// `routes[0].routes[2]`.
    pub path: Vec<usize>,
    /// The id of the route itself (ids are not inherited).
    pub id: Option<String>,
    pub service: Option<String>,
    pub severity: Option<Severity>,
    pub add_labels: BTreeMap<String, String>,
}

impl RouteMatch {
    /// The route's place in the config, such as `routes[0].routes[2]`.
    pub fn path_string(&self) -> String {
        path_string(&self.path)
    }
}

fn path_string(path: &[usize]) -> String {
    path.iter().map(|i| format!("routes[{i}]")).collect::<Vec<_>>().join(".")
}

/// The settings a route passes to its children.
#[derive(Default, Clone)]
struct Inherited {
    service: Option<String>,
    severity: Option<Severity>,
    add_labels: BTreeMap<String, String>,
}

impl Inherited {
    fn under(&self, route: &Route) -> Inherited {
        let mut add_labels = self.add_labels.clone();
        add_labels.extend(route.add_labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        Inherited {
            service: route.service.clone().or_else(|| self.service.clone()),
            severity: route.set_severity.or(self.severity),
            add_labels,
        }
    }
}

/// Every route the labels end on, in tree order. Empty when no top-level
/// route matches (the implicit root routes nowhere).
pub fn route(routes: &[Route], labels: &BTreeMap<String, String>) -> Vec<RouteMatch> {
    let mut out = Vec::new();
    let mut path = Vec::new();
    walk_children(routes, labels, &Inherited::default(), &mut path, &mut out);
    out
}

fn walk_children(
    routes: &[Route],
    labels: &BTreeMap<String, String>,
    inherited: &Inherited,
    path: &mut Vec<usize>,
    out: &mut Vec<RouteMatch>,
) {
    for (i, child) in routes.iter().enumerate() {
        path.push(i);
        let matched = walk(child, labels, inherited, path, out);
        path.pop();
        if matched && !child.continue_ {
            break;
        }
    }
}

/// Where an event on an integration that enters the tree at the top-level
/// route `entry` goes: one copy per service, changed as its route says
/// (severity set, labels set), the first route naming a service winning.
/// Empty when `entry` does not exist or does not match, or no matching route
/// names a service.
pub fn routed_events(routes: &[Route], entry: &str, event: &Event) -> Vec<(String, Event)> {
    let Some(entry) = routes.iter().find(|r| r.id.as_deref() == Some(entry)) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Event)> = Vec::new();
    for m in route(std::slice::from_ref(entry), &event.labels) {
        let Some(service) = m.service else { continue };
        if out.iter().any(|(s, _)| *s == service) {
            continue;
        }
        let mut routed = event.clone();
        if let Some(severity) = m.severity {
            routed.severity = severity;
        }
        routed.labels.extend(m.add_labels);
        out.push((service, routed));
    }
    out
}

/// Walks one route; returns whether it matched (whether it or its
/// descendants were the result).
fn walk(
    route: &Route,
    labels: &BTreeMap<String, String>,
    inherited: &Inherited,
    path: &mut Vec<usize>,
    out: &mut Vec<RouteMatch>,
) -> bool {
    if !route.matchers.matches(labels) {
        return false;
    }
    let here = inherited.under(route);
    let before = out.len();
    walk_children(&route.routes, labels, &here, path, out);
    if out.len() == before {
        out.push(RouteMatch {
            path: path.clone(),
            id: route.id.clone(),
            service: here.service,
            severity: here.severity,
            add_labels: here.add_labels,
        });
    }
    true
}

/// A route entry that breaks a rule; `path` names it as the config does,
/// such as `routes[0].routes[2].matchers[1]`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{path}: {message}")]
pub struct RouteError {
    pub path: String,
    pub message: String,
}

impl RouteError {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        RouteError { path: path.into(), message: message.into() }
    }
}

/// Checks a tree's shape and sizes: depth, node count, unique non-empty ids,
/// non-empty service ids, bounded labels to add.
pub fn validate(routes: &[Route]) -> Result<(), RouteError> {
    let mut seen_ids = BTreeSet::new();
    let mut count = 0;
    validate_level(routes, &mut Vec::new(), &mut seen_ids, &mut count)
}

fn validate_level<'a>(
    routes: &'a [Route],
    path: &mut Vec<usize>,
    seen_ids: &mut BTreeSet<&'a str>,
    count: &mut usize,
) -> Result<(), RouteError> {
    for (i, r) in routes.iter().enumerate() {
        path.push(i);
        let here = path_string(path);
        *count += 1;
        if *count > MAX_ROUTES {
            return Err(RouteError::new(here, format!("more than {MAX_ROUTES} routes in the tree")));
        }
        if path.len() > MAX_DEPTH {
            return Err(RouteError::new(here, format!("routes nest deeper than {MAX_DEPTH} levels")));
        }
        if let Some(id) = &r.id {
            check_id(&format!("{here}.id"), id)?;
            if !seen_ids.insert(id.as_str()) {
                return Err(RouteError::new(format!("{here}.id"), format!("route id {id:?} is used twice")));
            }
        }
        if let Some(service) = &r.service {
            check_id(&format!("{here}.service"), service)?;
        }
        if r.add_labels.len() > MAX_ADD_LABELS {
            return Err(RouteError::new(format!("{here}.set.labels"), format!("more than {MAX_ADD_LABELS} labels")));
        }
        for (name, value) in &r.add_labels {
            let field = format!("{here}.set.labels.{name}");
            if name.is_empty() || name.len() > MAX_NAME_LEN {
                return Err(RouteError::new(field, format!("label name must be 1 to {MAX_NAME_LEN} bytes")));
            }
            if value.len() > MAX_VALUE_LEN {
                return Err(RouteError::new(field, format!("label value is longer than {MAX_VALUE_LEN} bytes")));
            }
        }
        validate_level(&r.routes, path, seen_ids, count)?;
        path.pop();
    }
    Ok(())
}

fn check_id(field: &str, id: &str) -> Result<(), RouteError> {
    if id.trim().is_empty() {
        return Err(RouteError::new(field, "must not be empty"));
    }
    if id.len() > MAX_ID_LEN {
        return Err(RouteError::new(field, format!("longer than {MAX_ID_LEN} bytes")));
    }
    Ok(())
}

/// A route as the config file writes it (matchers still text):
///
/// ```yaml
/// routes:
///   - id: default
///     matchers: ['team="payments"']
///     service: checkout
///     set: { severity: critical, labels: { tier: "1" } }
///     continue: false
///     routes: [ ... ]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub matchers: Vec<String>,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub set: RouteSet,
    #[serde(default, rename = "continue")]
    pub continue_: bool,
    #[serde(default)]
    pub routes: Vec<RouteSpec>,
}

/// What a route changes on the events it routes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSet {
    #[serde(default)]
    pub severity: Option<Severity>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// Compiles the config's route list, naming the first bad entry by its path,
/// then [`validate`]s the tree.
pub fn compile(specs: &[RouteSpec]) -> Result<Vec<Route>, RouteError> {
    let routes = compile_level(specs, &mut Vec::new())?;
    validate(&routes)?;
    Ok(routes)
}

fn compile_level(specs: &[RouteSpec], path: &mut Vec<usize>) -> Result<Vec<Route>, RouteError> {
    // Stop before recursing into absurd trees; `validate` reports the limits
    // precisely on what is left.
    if path.len() > MAX_DEPTH || specs.len() > MAX_ROUTES {
        let here = if path.is_empty() { "routes".to_string() } else { path_string(path) };
        return Err(RouteError::new(here, format!("tree exceeds {MAX_DEPTH} levels or {MAX_ROUTES} routes")));
    }
    let mut out = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        path.push(i);
        let here = path_string(path);
        let matchers = spec
            .matchers
            .iter()
            .enumerate()
            .map(|(j, text)| {
                Matcher::parse(text).map_err(|e| RouteError::new(format!("{here}.matchers[{j}]"), e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let matchers =
            Matchers::new(matchers).map_err(|e| RouteError::new(format!("{here}.matchers"), e.to_string()))?;
        out.push(Route {
            id: spec.id.clone(),
            matchers,
            service: spec.service.clone(),
            set_severity: spec.set.severity,
            add_labels: spec.set.labels.clone(),
            continue_: spec.continue_,
            routes: compile_level(&spec.routes, path)?,
        });
        path.pop();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn r(id: &str, matchers: &str) -> Route {
        Route { id: Some(id.into()), matchers: Matchers::parse(matchers).unwrap(), ..Route::default() }
    }

    fn with(mut route: Route, children: Vec<Route>) -> Route {
        route.routes = children;
        route
    }

    fn cont(mut route: Route) -> Route {
        route.continue_ = true;
        route
    }

    fn svc(mut route: Route, service: &str) -> Route {
        route.service = Some(service.into());
        route
    }

    fn ids(matches: &[RouteMatch]) -> Vec<&str> {
        matches.iter().map(|m| m.id.as_deref().unwrap_or("-")).collect()
    }

    /// A tree shaped like the example in Alertmanager's configuration docs:
    /// team routes under one root, database alerts split by owner, and a
    /// catch-all for anything with a `service` label.
    fn doc_tree() -> Vec<Route> {
        vec![
            with(
                svc(r("frontend", r#"service=~"foo1|foo2|baz""#), "team-x"),
                vec![svc(r("frontend-critical", r#"severity="critical""#), "team-x-pager")],
            ),
            with(
                svc(r("files", r#"service="files""#), "team-y"),
                vec![svc(r("files-critical", r#"severity="critical""#), "team-y-pager")],
            ),
            with(
                svc(r("database", r#"service="database""#), "team-db"),
                vec![
                    svc(r("db-mysql", r#"owner="team-X""#), "team-x-pager"),
                    svc(r("db-postgres", r#"owner="team-Y""#), "team-y-pager"),
                ],
            ),
        ]
    }

    #[test]
    fn routes_to_the_deepest_matching_route() {
        let tree = doc_tree();
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], Option<&'a str>);
        let cases: &[Case] = &[
            (&[("service", "foo1")], &["frontend"], Some("team-x")),
            (&[("service", "foo2"), ("severity", "critical")], &["frontend-critical"], Some("team-x-pager")),
            (&[("service", "baz"), ("severity", "warning")], &["frontend"], Some("team-x")),
            (&[("service", "files"), ("severity", "critical")], &["files-critical"], Some("team-y-pager")),
            (&[("service", "database"), ("owner", "team-Y")], &["db-postgres"], Some("team-y-pager")),
            (&[("service", "database"), ("owner", "team-Z")], &["database"], Some("team-db")),
            // The regex is anchored: "foo10" is not "foo1".
            (&[("service", "foo10")], &[], None),
            (&[("alertname", "Unrelated")], &[], None),
        ];
        for (l, expected_ids, service) in cases {
            let got = route(&tree, &labels(l));
            assert_eq!(ids(&got), *expected_ids, "{l:?}");
            assert_eq!(got.first().and_then(|m| m.service.as_deref()), *service, "{l:?}");
        }
    }

    #[test]
    fn the_first_matching_sibling_wins_without_continue() {
        let tree = vec![r("a", "team=x"), r("b", "team=x"), r("c", "")];
        assert_eq!(ids(&route(&tree, &labels(&[("team", "x")]))), ["a"]);
        // An empty matcher list matches everything: the catch-all at the end.
        assert_eq!(ids(&route(&tree, &labels(&[("team", "y")]))), ["c"]);
    }

    #[test]
    fn continue_keeps_trying_later_siblings() {
        let tree = vec![cont(r("audit", "")), r("a", "team=x"), r("b", "team=x"), r("c", "")];
        assert_eq!(ids(&route(&tree, &labels(&[("team", "x")]))), ["audit", "a"]);
        assert_eq!(ids(&route(&tree, &labels(&[("team", "y")]))), ["audit", "c"]);
        // `continue` on a route that does not match changes nothing.
        let tree = vec![cont(r("never", "team=z")), r("a", "team=x"), r("b", "")];
        assert_eq!(ids(&route(&tree, &labels(&[("team", "x")]))), ["a"]);
    }

    #[test]
    fn a_matching_parent_with_no_matching_child_is_the_match_itself() {
        let tree = vec![with(r("parent", "team=x"), vec![r("child", "env=prod")]), r("after", "")];
        assert_eq!(ids(&route(&tree, &labels(&[("team", "x"), ("env", "prod")]))), ["child"]);
        // The parent matched, so the walk stops there even though its child did not.
        assert_eq!(ids(&route(&tree, &labels(&[("team", "x"), ("env", "dev")]))), ["parent"]);
    }

    #[test]
    fn continue_inside_a_subtree_collects_several_descendants() {
        let tree = vec![
            with(
                r("team", "team=x"),
                vec![
                    cont(r("chat", "")),
                    with(r("crit", "severity=critical"), vec![cont(r("sms", "")), r("call", "")]),
                ],
            ),
            r("other", ""),
        ];
        assert_eq!(ids(&route(&tree, &labels(&[("team", "x"), ("severity", "critical")]))), ["chat", "sms", "call"]);
        assert_eq!(ids(&route(&tree, &labels(&[("team", "x"), ("severity", "info")]))), ["chat"]);
        // A top-level route with continue lets the next top-level route match too.
        let mut tree = tree;
        tree[0].continue_ = true;
        assert_eq!(ids(&route(&tree, &labels(&[("team", "x"), ("severity", "info")]))), ["chat", "other"]);
    }

    #[test]
    fn settings_are_inherited_and_labels_merge() {
        let mut parent = svc(r("parent", "team=x"), "checkout");
        parent.set_severity = Some(Severity::Error);
        parent.add_labels = labels(&[("tier", "1"), ("owner", "payments")]);
        let mut child = r("child", "env=prod");
        child.add_labels = labels(&[("owner", "payments-prod")]);
        let mut grandchild = svc(r("grandchild", "region=eu"), "checkout-eu");
        grandchild.set_severity = Some(Severity::Critical);
        let tree = vec![with(parent, vec![with(child, vec![grandchild])])];

        let got = route(&tree, &labels(&[("team", "x"), ("env", "prod")]));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].id.as_deref(), Some("child"));
        assert_eq!(got[0].service.as_deref(), Some("checkout"));
        assert_eq!(got[0].severity, Some(Severity::Error));
        assert_eq!(got[0].add_labels, labels(&[("tier", "1"), ("owner", "payments-prod")]));
        assert_eq!(got[0].path, vec![0, 0]);
        assert_eq!(got[0].path_string(), "routes[0].routes[0]");

        let got = route(&tree, &labels(&[("team", "x"), ("env", "prod"), ("region", "eu")]));
        assert_eq!(got[0].service.as_deref(), Some("checkout-eu"));
        assert_eq!(got[0].severity, Some(Severity::Critical));
        assert_eq!(got[0].path_string(), "routes[0].routes[0].routes[0]");
    }

    #[test]
    fn a_route_without_a_service_anywhere_routes_nowhere() {
        let tree = vec![r("bare", "team=x")];
        let got = route(&tree, &labels(&[("team", "x")]));
        assert_eq!(ids(&got), ["bare"]);
        assert_eq!(got[0].service, None);
        assert!(route(&[], &labels(&[("team", "x")])).is_empty());
    }

    #[test]
    fn missing_labels_match_as_empty_in_routes() {
        let tree = vec![r("no-env", r#"env="""#), r("any", "")];
        assert_eq!(ids(&route(&tree, &labels(&[("team", "x")]))), ["no-env"]);
        assert_eq!(ids(&route(&tree, &labels(&[("env", "prod")]))), ["any"]);
    }

    fn spec(matchers: &[&str]) -> RouteSpec {
        RouteSpec { matchers: matchers.iter().map(|s| s.to_string()).collect(), ..RouteSpec::default() }
    }

    #[test]
    fn compile_names_the_path_of_a_bad_matcher() {
        let mut top = spec(&["team=x"]);
        top.routes = vec![spec(&[]), spec(&[]), spec(&["a=b", "severity"])];
        let err = compile(&[top]).unwrap_err();
        assert_eq!(err.path, "routes[0].routes[2].matchers[1]");
        assert!(err.message.contains("expected an operator"), "{err}");
        assert!(err.to_string().starts_with("routes[0].routes[2].matchers[1]: "));
    }

    #[test]
    fn validate_names_the_path_of_a_bad_entry() {
        let dup = vec![r("a", ""), with(r("b", ""), vec![r("a", "")])];
        let err = validate(&dup).unwrap_err();
        assert_eq!(err.path, "routes[1].routes[0].id");

        let empty_service = vec![svc(r("a", ""), " ")];
        assert_eq!(validate(&empty_service).unwrap_err().path, "routes[0].service");

        let mut long_label = r("a", "");
        long_label.add_labels = labels(&[("k", &"v".repeat(MAX_VALUE_LEN + 1))]);
        assert_eq!(validate(&[long_label]).unwrap_err().path, "routes[0].set.labels.k");

        let mut deep = r("leaf", "");
        for i in 0..MAX_DEPTH {
            deep = with(r(&format!("n{i}"), ""), vec![deep]);
        }
        let err = validate(&[deep]).unwrap_err();
        assert!(err.message.contains("deeper"), "{err}");

        let wide: Vec<Route> = (0..=MAX_ROUTES).map(|_| Route::default()).collect();
        assert!(validate(&wide).unwrap_err().message.contains("more than"));
        assert!(validate(&doc_tree()).is_ok());
    }

    #[test]
    fn the_config_shape_deserialises_and_routes() {
        let json = r#"[
            {"id": "default", "matchers": ["team=\"payments\""], "service": "checkout",
             "set": {"severity": "critical", "labels": {"tier": "1"}}, "continue": false,
             "routes": [{"matchers": ["env=~\"prod|live\""], "service": "checkout-prod"}]}
        ]"#;
        let specs: Vec<RouteSpec> = serde_json::from_str(json).unwrap();
        let tree = compile(&specs).unwrap();
        let got = route(&tree, &labels(&[("team", "payments"), ("env", "live")]));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].service.as_deref(), Some("checkout-prod"));
        assert_eq!(got[0].severity, Some(Severity::Critical));
        assert_eq!(got[0].add_labels, labels(&[("tier", "1")]));
        assert_eq!(got[0].id, None);
        let unknown = serde_json::from_str::<Vec<RouteSpec>>(r#"[{"mathcers": []}]"#).unwrap_err();
        assert!(unknown.to_string().contains("unknown field"), "{unknown}");
    }
}
