//! Routing, grouping and inhibition compared with Alertmanager.
//!
//! One table of cases, each written from a rule in Alertmanager's
//! documentation: a route list, `group_by` per service, inhibition rules,
//! and alerts with what should become of each (the services it is routed
//! to, the group labels it lands in there, whether it is inhibited). The
//! same table is checked against
//! - Tocsin's pure functions (`routing::route`, `grouping::group_labels` and
//!   `group_key`, `inhibit::inhibited_by`): [`tocsin`];
//! - a real Alertmanager (Debian's 0.25) given an equivalent config and the
//!   same alerts, read back from `/api/v2/alerts/groups` and `/api/v2/alerts`:
//!   [`alertmanager`]. Skipped with a notice when the binary is missing,
//!   unless `TOCSIN_REQUIRE_PROMETHEUS` is set (CI);
//! - Tocsin's intake: a server per case, configured from it (services,
//!   a routed Prometheus integration, inhibition rules), given the alerts
//!   over `POST /integrations/prometheus/{key}/api/v2/alerts` and read back
//!   from `GET /api/v1/alerts`: [`over_http`].
//!
//! Each side is a function from a case to [`Outcomes`].
//!
//! Deliberate differences, encoded here rather than papered over:
//! - Tocsin's route list hangs under an implicit root that routes nowhere;
//!   Alertmanager's root needs a receiver. The root gets the receiver
//!   [`UNROUTED`], and an alert no route takes, or whose route names no
//!   service anywhere up the tree, is [`Destination::Unrouted`] on both sides.
//! - Tocsin groups per service, Alertmanager per route. The Alertmanager
//!   config gives every route the `group_by` of the service it routes to, and
//!   outcomes compare per alert (service and group labels), which is the same
//!   on both sides even when two routes lead to one service.
//! - Routes here set no labels or severity (`set`): Alertmanager has no such thing.
//! - Tocsin judges inhibition once, when an alert arrives, against the
//!   alerts firing then; Alertmanager judges it continuously, so a source
//!   that arrives after its target still mutes it. Over HTTP, possible
//!   sources are pushed first ([`pushes`]); the table states what holds once
//!   every alert is in.
//! - Over HTTP, groups are incidents, and an inhibited alert shares a quiet
//!   incident with the inhibited alerts of its group, not the group's paging
//!   incident; group labels are mapped from incidents ([`outcomes`]).

use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tocsin_core::grouping::{self, GroupBy, Grouping};
use tocsin_core::inhibit::{self, InhibitRuleSpec};
use tocsin_core::routing::{self, RouteSet, RouteSpec};
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::harness::{Options, TestServer};

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";
/// The Alertmanager receiver that stands for Tocsin's implicit root.
const UNROUTED: &str = "tocsin-parity-unrouted";
/// A label no case uses: it marks the two alerts that tell when
/// Alertmanager has taken in everything before them.
const SENTINEL: &str = "tocsin_parity_sentinel";
/// Per case: start, take the alerts, settle. Alertmanager starts in ~0.2 s.
const WITHIN: Duration = Duration::from_secs(15);
/// Alertmanagers running at once.
const PARALLEL: usize = 4;

type Labels = BTreeMap<String, String>;

/// Where an alert goes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Destination {
    /// Tocsin: no route took it, or the one that did names no service.
    /// Alertmanager: the root route's receiver, [`UNROUTED`].
    Unrouted,
    /// To `service` (Alertmanager: the receiver of that name), in the group
    /// with these labels.
    Group { service: String, labels: Labels },
}

/// What becomes of one alert.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub destinations: BTreeSet<Destination>,
    pub inhibited: bool,
}

/// Per alert, keyed by its labels as both sides keep them (a label with an
/// empty value dropped, as Alertmanager's API and Tocsin's ingestion do).
pub type Outcomes = BTreeMap<Labels, Outcome>;

/// One row of the table.
struct Case {
    name: &'static str,
    /// The documented rule the case shows.
    rule: &'static str,
    routes: Vec<RouteSpec>,
    /// `group_by` per service; a service not listed has none (one group),
    /// Alertmanager's default.
    group_by: Vec<(&'static str, &'static [&'static str])>,
    inhibit_rules: Vec<InhibitRuleSpec>,
    alerts: Vec<Alert>,
}

/// An alert as sent (values may be empty) and what the table says of it.
struct Alert {
    labels: Labels,
    expected: Outcome,
}

impl Case {
    fn group_by_of(&self, service: &str) -> &'static [&'static str] {
        self.group_by.iter().find(|(s, _)| *s == service).map_or(&[], |(_, names)| names)
    }

    fn grouping_of(&self, service: &str) -> Grouping {
        let names: Vec<String> = self.group_by_of(service).iter().map(|s| s.to_string()).collect();
        let group_by = GroupBy::parse("group_by", &names).unwrap_or_else(|e| panic!("{}: {e}", self.name));
        Grouping { group_by, ..Grouping::default() }
    }
}

// ---- The table's vocabulary ------------------------------------------------

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The labels both sides keep of an alert as sent.
fn received(sent: &Labels) -> Labels {
    sent.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn alert(pairs: &[(&str, &str)]) -> Alert {
    Alert { labels: labels(pairs), expected: Outcome::default() }
}

impl Alert {
    /// Routed to `service`, in the group of these of its labels.
    fn to(mut self, service: &str, group: &[&str]) -> Self {
        let kept = received(&self.labels);
        let labels = group
            .iter()
            .map(|name| {
                let value = kept.get(*name).unwrap_or_else(|| panic!("{:?} has no label {name}", self.labels));
                (name.to_string(), value.clone())
            })
            .collect();
        self.expected.destinations.insert(Destination::Group { service: service.into(), labels });
        self
    }

    /// Routed to `service`, in the group of all its labels (`...`).
    fn by_all_labels(mut self, service: &str) -> Self {
        let labels = received(&self.labels);
        self.expected.destinations.insert(Destination::Group { service: service.into(), labels });
        self
    }

    fn unrouted(mut self) -> Self {
        self.expected.destinations.insert(Destination::Unrouted);
        self
    }

    fn muted(mut self) -> Self {
        self.expected.inhibited = true;
        self
    }
}

fn strings(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|s| s.to_string()).collect()
}

/// A route to `service`.
fn to(service: &str, matchers: &[&str]) -> RouteSpec {
    RouteSpec { service: Some(service.into()), matchers: strings(matchers), ..RouteSpec::default() }
}

/// A route that names no service (it inherits its parent's).
fn bare(matchers: &[&str]) -> RouteSpec {
    RouteSpec { matchers: strings(matchers), ..RouteSpec::default() }
}

trait Tree {
    fn cont(self) -> Self;
    fn with(self, routes: Vec<RouteSpec>) -> Self;
}

impl Tree for RouteSpec {
    fn cont(mut self) -> Self {
        self.continue_ = true;
        self
    }

    fn with(mut self, routes: Vec<RouteSpec>) -> Self {
        self.routes = routes;
        self
    }
}

fn rule(source: &[&str], target: &[&str], equal: &[&str]) -> InhibitRuleSpec {
    InhibitRuleSpec { source_matchers: strings(source), target_matchers: strings(target), equal: strings(equal) }
}

// ---- The table -------------------------------------------------------------

/// Alertmanager's documented inhibition example.
fn critical_mutes_warning() -> InhibitRuleSpec {
    rule(&[r#"severity="critical""#], &[r#"severity="warning""#], &["alertname", "cluster", "service"])
}

fn cases() -> Vec<Case> {
    let blank = || Case {
        name: "",
        rule: "",
        routes: Vec::new(),
        group_by: Vec::new(),
        inhibit_rules: Vec::new(),
        alerts: Vec::new(),
    };
    let every = |service: &str| vec![to(service, &[])];
    let cases = vec![
        // ---- Routing ----
        Case {
            name: "docs_example_tree",
            rule: "the example tree of Alertmanager's docs: an alert takes the deepest matching route; a matching \
                   route none of whose children match keeps it; siblings are tried in order",
            routes: vec![
                to("team-x-mails", &[r#"service=~"foo1|foo2|baz""#])
                    .with(vec![to("team-x-pager", &[r#"severity="critical""#])]),
                to("team-y-mails", &[r#"service="files""#]).with(vec![to("team-y-pager", &[r#"severity="critical""#])]),
                to("team-db-pager", &[r#"service="database""#]).with(vec![
                    to("team-x-pager", &[r#"owner="team-X""#]).cont(),
                    to("team-y-pager", &[r#"owner="team-Y""#]),
                ]),
            ],
            group_by: vec![
                ("team-x-mails", &["alertname", "cluster", "service"]),
                ("team-x-pager", &["alertname", "cluster", "service"]),
                ("team-y-mails", &["alertname", "cluster", "service"]),
                ("team-y-pager", &["alertname", "cluster", "service"]),
                ("team-db-pager", &["alertname", "cluster", "database"]),
            ],
            alerts: vec![
                alert(&[("alertname", "Latency"), ("service", "foo1"), ("cluster", "eu")])
                    .to("team-x-mails", &["alertname", "cluster", "service"]),
                alert(&[("alertname", "Latency"), ("service", "foo2"), ("cluster", "eu"), ("severity", "critical")])
                    .to("team-x-pager", &["alertname", "cluster", "service"]),
                alert(&[("alertname", "DiskFull"), ("service", "files"), ("severity", "warning")])
                    .to("team-y-mails", &["alertname", "service"]),
                alert(&[("alertname", "DiskFull"), ("service", "files"), ("severity", "critical")])
                    .to("team-y-pager", &["alertname", "service"]),
                alert(&[("alertname", "Lag"), ("service", "database"), ("owner", "team-X"), ("database", "orders")])
                    .to("team-x-pager", &["alertname", "service"]),
                alert(&[("alertname", "Lag"), ("service", "database"), ("owner", "team-Y"), ("cluster", "us")])
                    .to("team-y-pager", &["alertname", "cluster", "service"]),
                alert(&[("alertname", "Lag"), ("service", "database"), ("owner", "team-Z"), ("database", "billing")])
                    .to("team-db-pager", &["alertname", "database"]),
                alert(&[("alertname", "Lag"), ("service", "foo10")]).unrouted(),
            ],
            ..blank()
        },
        Case {
            name: "first_matching_sibling_wins",
            rule: "without continue, the first sibling that matches ends the walk; no matchers match everything",
            routes: vec![to("a", &[r#"team="x""#]), to("b", &[r#"team="x""#]), to("c", &[])],
            alerts: vec![alert(&[("team", "x")]).to("a", &[]), alert(&[("team", "y")]).to("c", &[])],
            ..blank()
        },
        Case {
            name: "continue_tries_later_siblings",
            rule: "a matching route with continue lets later siblings match too; continue on a route that does not \
                   match changes nothing; an alert only a continue route takes stays there, not at the root",
            routes: vec![
                to("audit", &[]).cont(),
                to("never", &[r#"team="z""#]).cont(),
                to("a", &[r#"team="x""#]),
                to("b", &[r#"team="x""#]),
            ],
            alerts: vec![
                alert(&[("team", "x")]).to("audit", &[]).to("a", &[]),
                alert(&[("team", "y")]).to("audit", &[]),
            ],
            ..blank()
        },
        Case {
            name: "continue_inside_a_subtree",
            rule: "continue works among the children of any route, so one alert can end on several descendants",
            routes: vec![
                to("team-x", &[r#"team="x""#]).with(vec![
                    to("chat", &[]).cont(),
                    to("crit", &[r#"severity="critical""#]).with(vec![to("sms", &[]).cont(), to("call", &[])]),
                ]),
                to("other", &[]),
            ],
            alerts: vec![
                alert(&[("team", "x"), ("severity", "critical")]).to("chat", &[]).to("sms", &[]).to("call", &[]),
                alert(&[("team", "x"), ("severity", "info")]).to("chat", &[]),
                alert(&[("team", "y")]).to("other", &[]),
            ],
            ..blank()
        },
        Case {
            name: "continue_on_a_parent",
            rule: "continue on a route with children: the alert ends on its deepest match there and then tries the \
                   next siblings",
            routes: vec![
                to("team-x", &[r#"team="x""#]).cont().with(vec![to("team-x-prod", &[r#"env="prod""#])]),
                to("everyone", &[]),
            ],
            alerts: vec![
                alert(&[("team", "x"), ("env", "prod")]).to("team-x-prod", &[]).to("everyone", &[]),
                alert(&[("team", "x"), ("env", "dev")]).to("team-x", &[]).to("everyone", &[]),
                alert(&[("team", "y")]).to("everyone", &[]),
            ],
            ..blank()
        },
        Case {
            name: "receiver_is_inherited",
            rule: "a route without a receiver uses its parent's; a route with none anywhere above it uses the \
                   root's, which in Tocsin is nowhere",
            routes: vec![
                to("team-x", &[r#"team="x""#])
                    .with(vec![bare(&[r#"severity="critical""#]).with(vec![to("team-x-pager", &[r#"env="prod""#])])]),
                bare(&[r#"team="y""#]).with(vec![bare(&[r#"env="prod""#])]),
            ],
            alerts: vec![
                alert(&[("team", "x")]).to("team-x", &[]),
                alert(&[("team", "x"), ("severity", "critical")]).to("team-x", &[]),
                alert(&[("team", "x"), ("severity", "critical"), ("env", "prod")]).to("team-x-pager", &[]),
                alert(&[("team", "y"), ("env", "prod")]).unrouted(),
                alert(&[("team", "y")]).unrouted(),
                alert(&[("team", "z")]).unrouted(),
            ],
            ..blank()
        },
        Case {
            name: "regex_is_anchored",
            rule: "regular expressions match the whole value, alternation included",
            routes: vec![to("foo", &[r#"service=~"foo1|foo2""#]), to("db", &[r#"service=~"db.*""#])],
            alerts: vec![
                alert(&[("service", "foo1")]).to("foo", &[]),
                alert(&[("service", "foo2")]).to("foo", &[]),
                alert(&[("service", "foo10")]).unrouted(),
                alert(&[("service", "xfoo1")]).unrouted(),
                alert(&[("service", "foo2x")]).unrouted(),
                alert(&[("service", "db-main")]).to("db", &[]),
                alert(&[("service", "main-db")]).unrouted(),
            ],
            ..blank()
        },
        Case {
            name: "missing_label_is_the_empty_string",
            rule: "a missing label and a label with an empty value are the same thing: env=\"\" selects both, \
                   =~\".*\" matches a missing label, =~\".+\" does not",
            routes: vec![
                to("no-env", &[r#"env="""#]),
                to("prod", &[r#"env="prod""#, r#"region=~".*""#]),
                to("some-env", &[r#"env=~".+""#]),
            ],
            alerts: vec![
                alert(&[("alertname", "A")]).to("no-env", &[]),
                alert(&[("alertname", "B"), ("env", "")]).to("no-env", &[]),
                alert(&[("alertname", "C"), ("env", "prod")]).to("prod", &[]),
                alert(&[("alertname", "D"), ("env", "dev")]).to("some-env", &[]),
            ],
            ..blank()
        },
        Case {
            name: "negative_matchers_on_missing_labels",
            rule: "!= and !~ compare a missing label as the empty string, so they match it; env!=\"\" asks for the \
                   label to be there",
            routes: vec![
                to("not-prod", &[r#"env!="prod""#]).cont(),
                to("not-prod-or-staging", &[r#"env!~"prod|staging""#]).cont(),
                to("has-env", &[r#"env!="""#]),
            ],
            alerts: vec![
                alert(&[("alertname", "A")]).to("not-prod", &[]).to("not-prod-or-staging", &[]),
                alert(&[("alertname", "B"), ("env", "staging")]).to("not-prod", &[]).to("has-env", &[]),
                alert(&[("alertname", "C"), ("env", "prod")]).to("has-env", &[]),
                alert(&[("alertname", "D"), ("env", "dev")])
                    .to("not-prod", &[])
                    .to("not-prod-or-staging", &[])
                    .to("has-env", &[]),
            ],
            ..blank()
        },
        Case {
            name: "all_matchers_must_match",
            rule: "a route's matchers are a conjunction",
            routes: vec![to("both", &[r#"team="x""#, r#"severity=~"critical|error""#]), to("rest", &[])],
            alerts: vec![
                alert(&[("team", "x"), ("severity", "error")]).to("both", &[]),
                alert(&[("team", "x"), ("severity", "warning")]).to("rest", &[]),
                alert(&[("team", "y"), ("severity", "critical")]).to("rest", &[]),
            ],
            ..blank()
        },
        // ---- Grouping ----
        Case {
            name: "group_by_a_subset_of_labels",
            rule: "alerts sharing the group_by labels share a group; other labels do not matter; a group_by label \
                   the alert lacks (or has empty) is left out of its group's labels",
            routes: every("web"),
            group_by: vec![("web", &["alertname", "cluster"])],
            alerts: vec![
                alert(&[("alertname", "Latency"), ("cluster", "eu"), ("instance", "a")])
                    .to("web", &["alertname", "cluster"]),
                alert(&[("alertname", "Latency"), ("cluster", "eu"), ("instance", "b")])
                    .to("web", &["alertname", "cluster"]),
                alert(&[("alertname", "Latency"), ("cluster", "us"), ("instance", "a")])
                    .to("web", &["alertname", "cluster"]),
                alert(&[("alertname", "Latency"), ("instance", "c")]).to("web", &["alertname"]),
                alert(&[("alertname", "Latency"), ("cluster", ""), ("instance", "d")]).to("web", &["alertname"]),
            ],
            ..blank()
        },
        Case {
            name: "group_by_all_labels",
            rule: "group_by: ['...'] groups by every label, so only identical label sets share a group",
            routes: every("web"),
            group_by: vec![("web", &["..."])],
            alerts: vec![
                alert(&[("alertname", "Latency"), ("instance", "a")]).by_all_labels("web"),
                alert(&[("alertname", "Latency"), ("instance", "b")]).by_all_labels("web"),
                alert(&[("alertname", "Latency"), ("instance", "c"), ("env", "")]).by_all_labels("web"),
            ],
            ..blank()
        },
        Case {
            name: "no_group_by_is_one_group",
            rule: "without group_by every alert of a receiver lands in one group with no labels",
            routes: vec![to("web", &[r#"team="web""#]), to("db", &[r#"team="db""#])],
            alerts: vec![
                alert(&[("alertname", "A"), ("team", "web")]).to("web", &[]),
                alert(&[("alertname", "B"), ("team", "web")]).to("web", &[]),
                alert(&[("alertname", "A"), ("team", "db")]).to("db", &[]),
                alert(&[("alertname", "A"), ("team", "ops")]).unrouted(),
            ],
            ..blank()
        },
        Case {
            name: "each_receiver_groups_by_its_own_labels",
            rule: "an alert routed to two receivers (continue) lands in one group of each, by that receiver's \
                   group_by",
            routes: vec![to("chat", &[]).cont(), to("pager", &[r#"severity="critical""#])],
            group_by: vec![("chat", &["alertname"]), ("pager", &["cluster"])],
            alerts: vec![
                alert(&[("alertname", "Down"), ("cluster", "eu"), ("severity", "critical")])
                    .to("chat", &["alertname"])
                    .to("pager", &["cluster"]),
                alert(&[("alertname", "Down"), ("cluster", "us"), ("severity", "warning")]).to("chat", &["alertname"]),
            ],
            ..blank()
        },
        // ---- Inhibition ----
        Case {
            name: "docs_inhibition_example",
            rule: "the docs' rule: a critical alert mutes warnings with the same alertname, cluster and service; \
                   muted alerts are still routed and grouped",
            routes: every("ops"),
            inhibit_rules: vec![critical_mutes_warning()],
            alerts: vec![
                alert(&[("alertname", "Latency"), ("cluster", "eu"), ("service", "api"), ("severity", "critical")])
                    .to("ops", &[]),
                alert(&[("alertname", "Latency"), ("cluster", "eu"), ("service", "api"), ("severity", "warning")])
                    .to("ops", &[])
                    .muted(),
                alert(&[("alertname", "Latency"), ("cluster", "us"), ("service", "api"), ("severity", "warning")])
                    .to("ops", &[]),
                alert(&[("alertname", "Errors"), ("cluster", "eu"), ("service", "api"), ("severity", "warning")])
                    .to("ops", &[]),
                alert(&[("alertname", "Latency"), ("cluster", "eu"), ("service", "api"), ("severity", "info")])
                    .to("ops", &[]),
            ],
            ..blank()
        },
        Case {
            name: "equal_labels_missing_on_both_sides_are_equal",
            rule: "if the equal labels are missing from both the source and the target, they are equal and the \
                   rule applies; missing on one side only, they differ",
            routes: every("ops"),
            inhibit_rules: vec![rule(&[r#"alertname="Outage""#], &[r#"severity="warning""#], &["cluster"])],
            alerts: vec![
                alert(&[("alertname", "Outage")]).to("ops", &[]),
                alert(&[("alertname", "Outage"), ("cluster", "b")]).to("ops", &[]),
                alert(&[("alertname", "Slow"), ("severity", "warning")]).to("ops", &[]).muted(),
                alert(&[("alertname", "Lag"), ("severity", "warning"), ("cluster", "")]).to("ops", &[]).muted(),
                alert(&[("alertname", "Slow"), ("severity", "warning"), ("cluster", "b")]).to("ops", &[]).muted(),
                alert(&[("alertname", "Slow"), ("severity", "warning"), ("cluster", "a")]).to("ops", &[]),
            ],
            ..blank()
        },
        Case {
            name: "every_equal_label_must_agree",
            rule: "all the equal labels must have the same value on both; the first rule that mutes is enough",
            routes: every("ops"),
            inhibit_rules: vec![
                rule(&[r#"alertname="NeverFires""#], &[], &[]),
                rule(&[r#"alertname="Outage""#], &[r#"severity="warning""#], &["cluster", "zone"]),
            ],
            alerts: vec![
                alert(&[("alertname", "Outage"), ("cluster", "a"), ("zone", "1")]).to("ops", &[]),
                alert(&[("alertname", "T1"), ("severity", "warning"), ("cluster", "a"), ("zone", "1")])
                    .to("ops", &[])
                    .muted(),
                alert(&[("alertname", "T2"), ("severity", "warning"), ("cluster", "a"), ("zone", "2")]).to("ops", &[]),
                alert(&[("alertname", "T3"), ("severity", "warning"), ("cluster", "a")]).to("ops", &[]),
            ],
            ..blank()
        },
        Case {
            name: "alerts_matching_both_sides",
            rule: "an alert matching both sides of a rule is not muted by alerts for which the same is true, but is \
                   by a source-only alert, and itself mutes target-only alerts (Alertmanager 0.25 looks at every \
                   source; later versions index one source per equal-label set)",
            routes: every("ops"),
            inhibit_rules: vec![rule(
                &[r#"severity=~"critical|page""#],
                &[r#"severity=~"warning|page""#],
                &["cluster"],
            )],
            alerts: vec![
                // c1: two alerts matching both sides leave each other alone.
                alert(&[("alertname", "A"), ("severity", "page"), ("cluster", "c1")]).to("ops", &[]),
                alert(&[("alertname", "B"), ("severity", "page"), ("cluster", "c1")]).to("ops", &[]),
                // c2: a source-only alert mutes the two-sided one.
                alert(&[("alertname", "C"), ("severity", "page"), ("cluster", "c2")]).to("ops", &[]).muted(),
                alert(&[("alertname", "D"), ("severity", "critical"), ("cluster", "c2")]).to("ops", &[]),
                // c3: the two-sided alert mutes a target-only one.
                alert(&[("alertname", "E"), ("severity", "warning"), ("cluster", "c3")]).to("ops", &[]).muted(),
                alert(&[("alertname", "F"), ("severity", "page"), ("cluster", "c3")]).to("ops", &[]),
            ],
            ..blank()
        },
        Case {
            name: "an_alert_never_inhibits_itself",
            rule: "with the same matchers on both sides, every alert is source and target, and none is muted, \
                   not even by itself",
            routes: every("ops"),
            inhibit_rules: vec![rule(&[r#"team="x""#], &[r#"team="x""#], &["team"])],
            alerts: vec![
                alert(&[("alertname", "A"), ("team", "x")]).to("ops", &[]),
                alert(&[("alertname", "B"), ("team", "x")]).to("ops", &[]),
            ],
            ..blank()
        },
        Case {
            name: "empty_equal_mutes_across_everything",
            rule: "without equal labels, one source mutes every target anywhere (but not itself)",
            routes: every("ops"),
            inhibit_rules: vec![rule(&[r#"alertname="Maintenance""#], &[], &[])],
            alerts: vec![
                alert(&[("alertname", "Maintenance")]).to("ops", &[]),
                alert(&[("alertname", "Anything"), ("cluster", "z")]).to("ops", &[]).muted(),
                alert(&[("alertname", "Else"), ("severity", "critical")]).to("ops", &[]).muted(),
            ],
            ..blank()
        },
        Case {
            name: "without_a_firing_source_nothing_is_muted",
            rule: "a rule mutes only while an alert matching its source fires",
            routes: every("ops"),
            inhibit_rules: vec![critical_mutes_warning()],
            alerts: vec![
                alert(&[("alertname", "Latency"), ("cluster", "eu"), ("service", "api"), ("severity", "warning")])
                    .to("ops", &[]),
                alert(&[("alertname", "Latency"), ("cluster", "eu"), ("service", "api"), ("severity", "error")])
                    .to("ops", &[]),
            ],
            ..blank()
        },
    ];
    for case in &cases {
        check_table(case);
    }
    cases
}

/// Mistakes in the table, caught before anything is compared.
fn check_table(case: &Case) {
    let mut seen = BTreeSet::new();
    for a in &case.alerts {
        assert!(!a.expected.destinations.is_empty(), "{}: {:?} says nowhere; use .unrouted()", case.name, a.labels);
        assert!(seen.insert(received(&a.labels)), "{}: two alerts with the labels {:?}", case.name, a.labels);
        assert!(!a.labels.contains_key(SENTINEL), "{}: {SENTINEL} is the comparison's own label", case.name);
    }
    let mut services = Vec::new();
    collect_services(&case.routes, &mut services);
    assert!(!services.contains(&UNROUTED), "{}: {UNROUTED} is the comparison's own receiver", case.name);
}

fn collect_services<'a>(routes: &'a [RouteSpec], out: &mut Vec<&'a str>) {
    for r in routes {
        if let Some(s) = &r.service {
            out.push(s);
        }
        collect_services(&r.routes, out);
    }
}

// ---- The sides -------------------------------------------------------------

/// What the table says.
fn documented(case: &Case) -> Outcomes {
    case.alerts.iter().map(|a| (received(&a.labels), a.expected.clone())).collect()
}

/// What Tocsin's pure functions give, from the config-shaped specs and the
/// alerts as sent (empty values included: the functions treat them as
/// missing labels themselves).
fn tocsin(case: &Case) -> Outcomes {
    let routes = routing::compile(&case.routes).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let rules = inhibit::compile(&case.inhibit_rules).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let firing: Vec<&Labels> = case.alerts.iter().map(|a| &a.labels).collect();
    case.alerts
        .iter()
        .map(|a| {
            let matches = routing::route(&routes, &a.labels);
            let mut destinations: BTreeSet<Destination> = matches
                .into_iter()
                .map(|m| match m.service {
                    None => Destination::Unrouted,
                    Some(service) => {
                        let grouping = case.grouping_of(&service);
                        let labels = grouping::group_labels(&a.labels, &grouping.group_by)
                            .into_iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect();
                        Destination::Group { service, labels }
                    }
                })
                .collect();
            if destinations.is_empty() {
                destinations.insert(Destination::Unrouted);
            }
            let inhibited = inhibit::inhibited_by(&a.labels, &firing, &rules).is_some();
            (received(&a.labels), Outcome { destinations, inhibited })
        })
        .collect()
}

/// Within a service, two alerts share a group key exactly when they share
/// group labels: the key the intake uses says what the labels say.
fn group_key_disagreements(case: &Case) -> Vec<String> {
    let mut members: Vec<(String, Labels, grouping::GroupKey, &Labels)> = Vec::new();
    for (a, (_, outcome)) in case.alerts.iter().zip(tocsin(case)) {
        for d in outcome.destinations {
            if let Destination::Group { service, labels } = d {
                let key = grouping::group_key(&service, &a.labels, &case.grouping_of(&service));
                members.push((service, labels, key, &a.labels));
            }
        }
    }
    let mut out = Vec::new();
    for (i, x) in members.iter().enumerate() {
        for y in &members[i + 1..] {
            if x.0 == y.0 && (x.1 == y.1) != (x.2 == y.2) {
                out.push(format!(
                    "{}: {:?} and {:?} in {}: group labels and group key disagree",
                    case.name, x.3, y.3, x.0
                ));
            }
        }
    }
    out
}

// ---- A real Alertmanager ---------------------------------------------------

fn available() -> bool {
    let present = Path::new(ALERTMANAGER).exists();
    if !present {
        assert!(
            std::env::var_os("TOCSIN_REQUIRE_PROMETHEUS").is_none(),
            "TOCSIN_REQUIRE_PROMETHEUS is set but {ALERTMANAGER} is missing"
        );
        eprintln!("skipped: {ALERTMANAGER} is not installed (apt-get install prometheus-alertmanager)");
    }
    present
}

/// An Alertmanager config equivalent to the case: a root that stands for
/// Tocsin's implicit one, receivers named after the services (no notifiers,
/// and `group_wait` long enough that nothing is ever sent), the case's rules
/// kept off the sentinel alerts, and one rule for the sentinels.
fn alertmanager_config(case: &Case) -> Value {
    let mut services = Vec::new();
    collect_services(&case.routes, &mut services);
    let receivers: BTreeSet<&str> = services.into_iter().chain([UNROUTED]).collect();
    let not_sentinel = format!("{SENTINEL}=\"\"");
    let mut rules: Vec<Value> = case
        .inhibit_rules
        .iter()
        .map(|r| {
            let side = |m: &[String]| m.iter().cloned().chain([not_sentinel.clone()]).collect::<Vec<_>>();
            json!({
                "source_matchers": side(&r.source_matchers),
                "target_matchers": side(&r.target_matchers),
                "equal": r.equal,
            })
        })
        .collect();
    rules.push(json!({
        "source_matchers": [format!("{SENTINEL}=\"source\"")],
        "target_matchers": [format!("{SENTINEL}=\"target\"")],
    }));
    json!({
        "route": {
            "receiver": UNROUTED,
            "group_wait": "1h",
            "group_interval": "1h",
            "repeat_interval": "24h",
            "routes": case.routes.iter().map(|r| alertmanager_route(case, r, None, &[])).collect::<Vec<_>>(),
        },
        "receivers": receivers.into_iter().map(|name| json!({ "name": name })).collect::<Vec<_>>(),
        "inhibit_rules": rules,
    })
}

fn alertmanager_route(case: &Case, spec: &RouteSpec, parent: Option<&str>, parent_group_by: &[&str]) -> Value {
    assert_eq!(spec.set, RouteSet::default(), "{}: Alertmanager routes cannot set labels or severity", case.name);
    let service = spec.service.as_deref().or(parent);
    let group_by = service.map_or(&[][..], |s| case.group_by_of(s));
    // Alertmanager 0.25 reads `group_by: []` as "inherit the parent's".
    assert!(
        !group_by.is_empty() || parent_group_by.is_empty(),
        "{}: a service without group_by under one with it cannot be said to Alertmanager 0.25",
        case.name
    );
    let mut route = json!({
        "matchers": spec.matchers,
        "continue": spec.continue_,
        "group_by": group_by,
        "routes": spec.routes.iter().map(|r| alertmanager_route(case, r, service, group_by)).collect::<Vec<_>>(),
    });
    if let Some(s) = &spec.service {
        route["receiver"] = json!(s);
    }
    route
}

#[derive(Deserialize)]
struct AmGroup {
    labels: Labels,
    receiver: AmReceiver,
    alerts: Vec<AmAlert>,
}

#[derive(Deserialize)]
struct AmReceiver {
    name: String,
}

#[derive(Deserialize)]
struct AmAlert {
    labels: Labels,
    status: AmStatus,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AmStatus {
    inhibited_by: Vec<String>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An Alertmanager on a free loopback port, ready; it is killed on drop.
struct Running {
    _child: Child,
    base: String,
}

async fn start(config: &Path, dir: &Path, log: &Path) -> Result<Running, String> {
    let http = reqwest::Client::new();
    // A port free a moment ago may be taken by the time Alertmanager binds:
    // try another.
    for _ in 0..3 {
        let port = free_port();
        let mut child = Command::new(ALERTMANAGER)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).map_err(|e| e.to_string())?)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {ALERTMANAGER}: {e}"))?;
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            if child.try_wait().map_err(|e| e.to_string())?.is_some() {
                break;
            }
            if http.get(format!("{base}/-/ready")).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok(Running { _child: child, base });
            }
            if started.elapsed() > WITHIN {
                return Err(format!("not ready within {WITHIN:?}"));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    Err("exited before it was ready, three times".into())
}

/// What a real Alertmanager makes of the case's alerts.
async fn alertmanager(case: &Case) -> Result<Outcomes, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let config = dir.path().join("alertmanager.yml");
    // JSON is YAML: no quoting to get wrong in matchers.
    std::fs::write(&config, serde_json::to_vec_pretty(&alertmanager_config(case)).unwrap())
        .map_err(|e| e.to_string())?;
    let log = dir.path().join("alertmanager.log");
    let with_log =
        |e: String| format!("{e}\n--- alertmanager.log\n{}", std::fs::read_to_string(&log).unwrap_or_default());
    let am = start(&config, dir.path(), &log).await.map_err(with_log)?;
    let http = reqwest::Client::new();

    // The case's alerts as sent, then the sentinels: Alertmanager's
    // dispatcher and inhibitor each take alerts in order, so once the
    // sentinel target is grouped and inhibited, both have taken every alert.
    let mut body: Vec<Value> = case.alerts.iter().map(|a| json!({ "labels": a.labels })).collect();
    body.push(json!({ "labels": { SENTINEL: "source" } }));
    body.push(json!({ "labels": { SENTINEL: "target" } }));
    let posted = http.post(format!("{}/api/v2/alerts", am.base)).json(&body).send().await.map_err(|e| e.to_string())?;
    if !posted.status().is_success() {
        let status = posted.status();
        return Err(with_log(format!("POST /api/v2/alerts: {status} {}", posted.text().await.unwrap_or_default())));
    }

    let get = |path: &'static str| {
        let (http, base) = (&http, &am.base);
        async move { http.get(format!("{base}{path}")).send().await?.error_for_status()?.bytes().await }
    };
    let groups = |bytes: &[u8]| serde_json::from_slice::<Vec<AmGroup>>(bytes).map_err(|e| e.to_string());
    let started = Instant::now();
    loop {
        let settled = match get("/api/v2/alerts/groups").await {
            Ok(bytes) => groups(&bytes)?
                .iter()
                .flat_map(|g| &g.alerts)
                .any(|a| a.labels.get(SENTINEL).is_some_and(|v| v == "target") && !a.status.inhibited_by.is_empty()),
            Err(_) => false,
        };
        if settled {
            break;
        }
        if started.elapsed() > WITHIN {
            return Err(with_log(format!("the sentinel alerts were not taken in within {WITHIN:?}")));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // Read again: statuses in the answer that showed the sentinel settled may
    // have been computed before it was.
    let groups = groups(&get("/api/v2/alerts/groups").await.map_err(|e| e.to_string())?)?;
    let alerts: Vec<AmAlert> =
        serde_json::from_slice(&get("/api/v2/alerts").await.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let mut out = Outcomes::new();
    for a in alerts.iter().filter(|a| !a.labels.contains_key(SENTINEL)) {
        out.entry(a.labels.clone()).or_default().inhibited = !a.status.inhibited_by.is_empty();
    }
    for g in &groups {
        let destination = if g.receiver.name == UNROUTED {
            Destination::Unrouted
        } else {
            Destination::Group { service: g.receiver.name.clone(), labels: g.labels.clone() }
        };
        for a in g.alerts.iter().filter(|a| !a.labels.contains_key(SENTINEL)) {
            out.entry(a.labels.clone()).or_default().destinations.insert(destination.clone());
        }
    }
    Ok(out)
}

// ---- Tocsin over HTTP ------------------------------------------------------

/// The routed Prometheus integration's key in every generated config.
const PARITY_KEY: &str = "tocsin-parity-0123456789abcdef";
/// The id of the one top-level route the integration enters the tree at.
const ENTRY: &str = "tocsin-parity-entry";
/// Servers running at once: a server mostly waits on its database (on
/// PostgreSQL, creating one per server), not on the CPU.
const SERVERS_AT_ONCE: usize = 6;

/// A Tocsin config equivalent to the case: one service per service the
/// routes name, grouping by the case's `group_by` (none: `group_by: []`,
/// one group, as in Alertmanager) with storm and flap limits off; one
/// routed Prometheus integration; the case's inhibition rules.
///
/// An integration enters the tree at ONE top-level route, so the case's
/// list hangs under an entry route with no matchers and no service. That is
/// the implicit root of `routing::route` made explicit: it matches every
/// alert; its children are walked exactly as the top-level list is
/// (siblings in order, `continue`, deepest match); when none of them match,
/// the entry itself is the result, and it names no service, which is what
/// "no top-level route matched" means; and a child without a service
/// inherits nothing from it, as from the implicit root.
fn tocsin_config(case: &Case) -> Value {
    let mut named = Vec::new();
    collect_services(&case.routes, &mut named);
    let services: BTreeSet<&str> = named.into_iter().collect();
    let entry = RouteSpec { id: Some(ENTRY.into()), routes: case.routes.clone(), ..RouteSpec::default() };
    json!({
        "services": services
            .iter()
            .map(|s| json!({
                "id": s,
                "name": s,
                "grouping": { "group_by": case.group_by_of(s) },
                "storm": "off",
                "flapping": "off",
            }))
            .collect::<Vec<_>>(),
        "integrations": [{ "kind": "prometheus", "key": PARITY_KEY, "route": ENTRY }],
        "routes": [entry],
        "inhibit_rules": case.inhibit_rules,
    })
}

/// The case's alerts in the pushes they are sent in: alerts that can only
/// inhibit (they match some rule's source and no rule's target), then those
/// on both sides, then the rest. Tocsin judges inhibition once, when an
/// alert arrives, against the alerts firing then; Alertmanager judges it
/// continuously, against every alert it holds. Sending possible sources
/// first gives Tocsin the alerts Alertmanager would look at. (Within one
/// push, alerts are taken in order: a case whose two-sided alerts mute each
/// other through different rules would need a finer order.)
fn pushes(case: &Case) -> Vec<Vec<&Alert>> {
    let rules = inhibit::compile(&case.inhibit_rules).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let mut out: Vec<Vec<&Alert>> = vec![Vec::new(), Vec::new(), Vec::new()];
    for a in &case.alerts {
        let source = rules.iter().any(|r| r.source_matchers.matches(&a.labels));
        let target = rules.iter().any(|r| r.target_matchers.matches(&a.labels));
        out[match (source, target) {
            (true, false) => 0,
            (true, true) => 1,
            _ => 2,
        }]
        .push(a);
    }
    out.retain(|p| !p.is_empty());
    out
}

#[derive(Deserialize)]
struct ApiPage {
    items: Vec<ApiAlert>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct ApiAlert {
    service_id: String,
    incident_id: Option<i64>,
    labels: Labels,
    held_back: Vec<ApiHeldBack>,
}

#[derive(Deserialize)]
struct ApiHeldBack {
    kind: String,
}

impl ApiAlert {
    fn inhibited(&self) -> bool {
        self.held_back.iter().any(|h| h.kind == "inhibited")
    }
}

/// An incident and what its alerts share: service, inhibited or not.
type IncidentOf<'a> = (&'a str, bool, Option<i64>);

/// What Tocsin makes of the case's alerts through its HTTP intake.
async fn over_http(case: &Case) -> Result<Outcomes, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let config = dir.path().join("tocsin.yaml");
    // JSON is YAML.
    std::fs::write(&config, serde_json::to_vec_pretty(&tocsin_config(case)).unwrap()).map_err(|e| e.to_string())?;
    let server = TestServer::start_with(Options { config: Some(config), ..Options::default() }).await;
    let result = pushed_and_read(&server, case).await;
    server.stop().await;
    Ok(outcomes(case, &result?))
}

async fn pushed_and_read(server: &TestServer, case: &Case) -> Result<Vec<ApiAlert>, String> {
    let path = format!("/integrations/prometheus/{PARITY_KEY}/api/v2/alerts");
    for push in pushes(case) {
        let body: Vec<Value> = push.iter().map(|a| json!({ "labels": a.labels })).collect();
        let (status, answer) = server.post(&path, serde_json::to_vec(&body).unwrap()).await;
        if status != 200 {
            return Err(format!("POST {path}: {status} {answer}"));
        }
    }
    let mut alerts = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = cursor.as_ref().map_or(String::new(), |c| format!("&cursor={c}"));
        let (status, page) = server.get(&format!("/alerts?limit=100{query}")).await;
        if status != 200 {
            return Err(format!("GET /api/v1/alerts: {status} {page}"));
        }
        let page: ApiPage = serde_json::from_value(page).map_err(|e| e.to_string())?;
        alerts.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(alerts),
        }
    }
}

/// Per alert: the services it landed in (none: unrouted), its group in
/// each, inhibited or not.
///
/// The API shows groups as incidents, not labels: alerts of one service
/// sharing an incident are one group. An incident is given the group labels
/// the table expects for its alerts when they all expect the same ones and
/// no other incident of that kind (see below) in the service does; else its
/// alerts get the labels `{incident: <id>}`, which no table row has, so a
/// group split or merged shows as a difference.
///
/// Held alerts of a group share an incident of their own that pages
/// nobody, apart from the group's paging incident (README, "Noise control
/// settings"): an inhibited alert is in one group with the inhibited alerts
/// of its group, the others with the others. Incidents of both kinds may
/// carry the same group labels.
fn outcomes(case: &Case, alerts: &[ApiAlert]) -> Outcomes {
    let want = documented(case);
    let expected_labels = |service: &str, labels: &Labels| -> Option<Labels> {
        want.get(labels)?.destinations.iter().find_map(|d| match d {
            Destination::Group { service: s, labels } if s == service => Some(labels.clone()),
            _ => None,
        })
    };
    // Per incident, the group labels its alerts expect (`None`: the table
    // does not send the alert to that service).
    let mut incidents: BTreeMap<IncidentOf, BTreeSet<Option<Labels>>> = BTreeMap::new();
    for a in alerts {
        incidents
            .entry((a.service_id.as_str(), a.inhibited(), a.incident_id))
            .or_default()
            .insert(expected_labels(&a.service_id, &a.labels));
    }
    let claims = |service: &str, inhibited: bool, labels: &Labels| {
        incidents
            .iter()
            .filter(|((s, i, _), expected)| {
                *s == service && *i == inhibited && expected.contains(&Some(labels.clone()))
            })
            .count()
    };
    let mut out = Outcomes::new();
    for a in alerts {
        let key = (a.service_id.as_str(), a.inhibited(), a.incident_id);
        let expected = &incidents[&key];
        let labels = match expected.iter().next() {
            Some(Some(labels)) if expected.len() == 1 && claims(key.0, key.1, labels) == 1 => labels.clone(),
            _ => labels(&[("incident", &a.incident_id.map_or("none".to_string(), |id| id.to_string()))]),
        };
        let outcome = out.entry(a.labels.clone()).or_default();
        outcome.destinations.insert(Destination::Group { service: a.service_id.clone(), labels });
        outcome.inhibited |= a.inhibited();
    }
    // An alert no route took is stored nowhere.
    for a in &case.alerts {
        let kept = received(&a.labels);
        out.entry(kept)
            .or_insert_with(|| Outcome { destinations: BTreeSet::from([Destination::Unrouted]), inhibited: false });
    }
    out
}

// ---- Comparing -------------------------------------------------------------

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Unrouted => f.write_str("unrouted"),
            Destination::Group { service, labels } => write!(f, "{service}{labels:?}"),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let to: Vec<String> = self.destinations.iter().map(ToString::to_string).collect();
        write!(f, "[{}]{}", to.join(", "), if self.inhibited { " inhibited" } else { "" })
    }
}

/// Every alert on which `side` differs from the table, with Tocsin's pure
/// answer beside another side's.
fn differences(case: &Case, side: &str, got: &Outcomes) -> Vec<String> {
    let want = documented(case);
    let ours = tocsin(case);
    let show = |o: Option<&Outcome>| o.map_or_else(|| "(absent)".to_string(), ToString::to_string);
    want.keys()
        .chain(got.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|labels| got.get(*labels) != want.get(*labels))
        .map(|labels| {
            let mut line = format!(
                "{} ({}):\n    alert {labels:?}\n    table: {}\n    {side}: {}",
                case.name,
                case.rule,
                show(want.get(labels)),
                show(got.get(labels)),
            );
            if side != "Tocsin" {
                line += &format!("\n    Tocsin: {}", show(ours.get(labels)));
            }
            line
        })
        .collect()
}

#[test]
fn tocsin_agrees_with_the_table() {
    let cases = cases();
    let mut failures = Vec::new();
    for case in &cases {
        failures.extend(differences(case, "Tocsin", &tocsin(case)));
        failures.extend(group_key_disagreements(case));
    }
    assert!(failures.is_empty(), "{} disagreements:\n{}", failures.len(), failures.join("\n"));
    let alerts: usize = cases.iter().map(|c| c.alerts.len()).sum();
    eprintln!("{} cases, {alerts} alerts: Tocsin's routing, grouping and inhibition agree with the table", cases.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_alertmanager_agrees_with_the_table() {
    if !available() {
        return;
    }
    let started = Instant::now();
    let cases = Arc::new(cases());
    let permits = Arc::new(Semaphore::new(PARALLEL));
    let mut runs = JoinSet::new();
    for i in 0..cases.len() {
        let (cases, permits) = (cases.clone(), permits.clone());
        runs.spawn(async move {
            let _permit = permits.acquire_owned().await.unwrap();
            (i, alertmanager(&cases[i]).await)
        });
    }
    let mut failures = Vec::new();
    while let Some(run) = runs.join_next().await {
        let (i, got) = run.unwrap();
        match got {
            Ok(got) => {
                failures.extend(differences(&cases[i], "Alertmanager", &got));
                failures.extend(differences(&cases[i], "Tocsin", &tocsin(&cases[i])));
            }
            Err(e) => failures.push(format!("{}: {e}", cases[i].name)),
        }
    }
    assert!(failures.is_empty(), "{} disagreements:\n{}", failures.len(), failures.join("\n"));
    let alerts: usize = cases.iter().map(|c| c.alerts.len()).sum();
    eprintln!(
        "{} cases, {alerts} alerts: Alertmanager agrees with the table (and Tocsin) in {:?}",
        cases.len(),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tocsin_over_http_agrees_with_the_table() {
    let started = Instant::now();
    let cases = Arc::new(cases());
    let permits = Arc::new(Semaphore::new(SERVERS_AT_ONCE));
    let mut runs = JoinSet::new();
    for i in 0..cases.len() {
        let (cases, permits) = (cases.clone(), permits.clone());
        runs.spawn(async move {
            let _permit = permits.acquire_owned().await.unwrap();
            (i, over_http(&cases[i]).await)
        });
    }
    let mut failures = Vec::new();
    while let Some(run) = runs.join_next().await {
        let (i, got) = run.unwrap();
        match got {
            Ok(got) => failures.extend(differences(&cases[i], "Tocsin over HTTP", &got)),
            Err(e) => failures.push(format!("{}: {e}", cases[i].name)),
        }
    }
    assert!(failures.is_empty(), "{} disagreements:\n{}", failures.len(), failures.join("\n"));
    let alerts: usize = cases.iter().map(|c| c.alerts.len()).sum();
    eprintln!(
        "{} cases, {alerts} alerts: Tocsin over HTTP agrees with the table in {:?}",
        cases.len(),
        started.elapsed()
    );
}
