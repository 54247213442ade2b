//! The noise-control sections: the example's values, and each rule's error
//! with its exact place, path and message.

use super::{error, errors};

#[test]
fn dependencies_name_declared_services_and_never_form_a_cycle() {
    let text = "services:\n  - { id: a, name: A, depends_on: [b] }\n  - { id: b, name: B, depends_on: [c] }\n  - { id: c, name: C, depends_on: [a, c, ghost, b, b] }\n";
    assert_eq!(
        errors(text),
        [
            error(4, 36, "services[2].depends_on[0]", "services depend on each other in a cycle: a → b → c → a"),
            error(4, 39, "services[2].depends_on[1]", "a service cannot depend on itself"),
            error(4, 42, "services[2].depends_on[2]", "service `ghost` is not declared under `services`"),
            error(4, 49, "services[2].depends_on[3]", "services depend on each other in a cycle: b → c → b"),
            error(4, 52, "services[2].depends_on[4]", "`b` is listed twice"),
        ]
    );
}

#[test]
fn routes_check_matchers_services_severities_and_ids() {
    let text = "services:\n  - { id: a, name: A }\nroutes:\n  - id: r1\n    matchers: ['team payments', \"x=~\\\"(\\\"\"]\n    service: ghost\n    set: { severity: urgent, labels: { tier: \"1\" } }\n    routes:\n      - { id: r1, matchers: [a=\"b\"], service: a, colour: red }\nintegrations:\n  - { kind: prometheus, key: prom-routed-0123456789abcdef, route: r2 }\n";
    let operator = "invalid matcher: column 6: expected an operator ('=', '!=', '=~' or '!~') after label \"team\", \
                    found \"payments\"";
    assert_eq!(
        errors(text),
        [
            // The column inside the matcher maps onto the file: `p` of `payments`.
            error(5, 22, "routes[0].matchers[0]", operator),
            // Escapes break the mapping: the error points at the string.
            error(
                5,
                33,
                "routes[0].matchers[1]",
                "invalid matcher: invalid regular expression for label \"x\": error: unclosed group"
            ),
            error(6, 14, "routes[0].service", "service `ghost` is not declared under `services`"),
            error(
                7,
                22,
                "routes[0].set.severity",
                "unknown variant `urgent`, expected one of critical, error, warning, info"
            ),
            error(9, 15, "routes[0].routes[0].id", "duplicate route id `r1` (first defined at line 4)"),
            error(
                9,
                50,
                "routes[0].routes[0].colour",
                "unknown field `colour`, expected one of id, matchers, service, set, continue, routes"
            ),
            error(11, 67, "integrations[0].route", "route `r2` is not the id of a top-level entry of `routes`"),
        ]
    );
}

#[test]
fn the_route_tree_passes_the_domain_rules() {
    // Checked by `routing::validate` once the entries themselves are valid.
    let text = "routes:\n  - id: r1\n    set:\n      labels: { \"\": x }\n";
    assert_eq!(errors(text), [error(4, 17, "routes[0].set.labels.", "label name must be 1 to 256 bytes")]);
}

#[test]
fn routed_integrations_share_ids_and_keys_with_services() {
    let text = "services:\n  - id: a\n    name: A\n    integrations: [{ kind: generic, key: shared-key-0123456789 }]\nroutes:\n  - { id: a }\nintegrations:\n  - { kind: generic, key: shared-key-0123456789, route: a }\n  - { kind: pagerduty, key: bad/key-0123456789, route: a, id: a-generic }\n";
    assert_eq!(
        errors(text),
        [
            error(
                8,
                5,
                "integrations[0]",
                "duplicate integration id `a-generic` (first used by services[0].integrations[0] at line 4); this is \
                 the default id of this integration, set a unique `id`"
            ),
            error(8, 27, "integrations[0].key", "duplicate integration key (also used by services[0].integrations[0])"),
            error(
                9,
                29,
                "integrations[1].key",
                "integration key has a character that is not allowed at position 4; keys are printable ASCII without \
                 spaces or `/`, because they appear in URL paths"
            ),
            error(
                9,
                63,
                "integrations[1].id",
                "duplicate integration id `a-generic` (first used by services[0].integrations[0] at line 4)"
            ),
        ]
    );
}

#[test]
fn maintenance_windows_are_one_off_or_recurring_and_valid() {
    let text = "services:\n  - id: a\n    name: A\n    maintenance_windows:\n      - { id: w1, weekdays: [tuesdy] }\n      - { id: w2, start: \"2026-04-05T02:00:00Z\", end: \"2026-04-04T22:00:00Z\" }\n      - { id: w3, start: \"2026-04-05T02:00:00Z\", weekdays: [monday] }\n      - { id: w2, start: \"2026-04-05\", end: \"2026-04-04T22:00:00Z\" }\n      - { id: w5, times: [{ start: \"14:00\", end: \"25:00\" }], time_zone: Mars/Olympus }\n";
    let found = errors(text);
    let messages: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            "t.yaml:5:30: services[0].maintenance_windows[0].weekdays[0]: `tuesdy` is not a weekday; write for \
             example `monday`",
            "t.yaml:6:55: services[0].maintenance_windows[1].end: must be after start",
            "t.yaml:7:50: services[0].maintenance_windows[2].weekdays: a maintenance window is either one-off \
             (`start` and `end`) or recurring (`times`, `weekdays`, `days_of_month`, `months`, `years`, \
             `time_zone`), not both",
            "t.yaml:8:15: services[0].maintenance_windows[3].id: duplicate maintenance window id `w2` (first defined \
             at line 6)",
            "t.yaml:8:26: services[0].maintenance_windows[3].start: expected an RFC 3339 instant with an offset, \
             like `2026-03-06T18:00:00Z`, found `2026-04-05`",
            // A time interval stops at its first problem, as the domain parses it.
            "t.yaml:9:73: services[0].maintenance_windows[4].time_zone: unknown time zone `Mars/Olympus`; use an \
             IANA name such as `Europe/Berlin`",
        ]
    );
}

#[test]
fn service_limits_grouping_and_heartbeats_name_their_fields() {
    let text = "services:\n  - id: a\n    name: A\n    grouping: { group_by: ['...', x], group_wait: 30s, colour: red }\n    storm: { max_new_alerts: 0 }\n    flapping: { max_changes: 4, within: 2d }\n    integrations:\n      - { kind: generic, key: shared-key-0123456789 }\nheartbeats:\n  - { id: hb, service: ghost, key: shared-key-0123456789, interval: 0s }\n  - { id: hb, service: a, key: short, interval: 1h, grace: -1m }\n";
    assert_eq!(
        errors(text),
        [
            error(
                4,
                27,
                "services[0].grouping.group_by",
                "`...` groups by all labels and cannot be combined with names"
            ),
            error(
                4,
                56,
                "services[0].grouping.colour",
                "unknown field `colour`, expected one of group_by, group_wait, group_interval, alertmanager_group_key"
            ),
            error(5, 30, "services[0].storm.max_new_alerts", "must be between 1 and 10000"),
            error(6, 41, "services[0].flapping.within", "must be greater than zero and at most 1d"),
            error(10, 24, "heartbeats[0].service", "service `ghost` is not declared under `services`"),
            error(10, 36, "heartbeats[0].key", "duplicate heartbeat key (also used by services[0].integrations[0])"),
            error(10, 69, "heartbeats[0].interval", "duration must be greater than zero, got `0s`"),
            error(11, 11, "heartbeats[1].id", "duplicate heartbeat id `hb` (first defined at line 10)"),
            error(11, 32, "heartbeats[1].key", "heartbeat key is 5 characters long; it must be 16–128 characters"),
            error(11, 60, "heartbeats[1].grace", "negative duration `-1m`; durations count forward, drop the `-`"),
        ]
    );
}

#[test]
fn inhibit_rules_parse_their_matchers_and_label_names() {
    let text = "inhibit_rules:\n  - { source_matchers: ['alertname=\"DatacenterDown\"'], target_matchers: ['severity!=critical}'], equal: [datacenter, ''] }\n  - { source_matchers: [], targets: [] }\n";
    assert_eq!(
        errors(text),
        [
            // Column 19 of the matcher is the stray `}`.
            error(
                2,
                93,
                "inhibit_rules[0].target_matchers[0]",
                "invalid matcher: column 19: '}' without an opening '{'"
            ),
            error(2, 118, "inhibit_rules[0].equal[1]", "label name must be 1 to 256 bytes"),
            error(
                3,
                28,
                "inhibit_rules[1].targets",
                "unknown field `targets`, expected one of source_matchers, target_matchers, equal"
            ),
        ]
    );
}

#[test]
fn absent_sections_keep_todays_behaviour() {
    let catalog = super::catalog("services:\n  - { id: a, name: A }\n");
    let service = &catalog.services[0];
    assert_eq!((service.grouping.as_ref(), service.storm, service.flapping), (None, None, None));
    assert!(service.depends_on.is_empty() && service.maintenance_windows.is_empty());
    // Storm and flapping limits apply with the domain's defaults.
    assert_eq!(service.storm_policy(), StormPolicy::default());
    assert_eq!(service.flap_policy(), FlapPolicy::default());
    assert!(catalog.routes.is_empty() && catalog.routed_integrations.is_empty());
    assert!(catalog.inhibit_rules.is_empty() && catalog.heartbeats.is_empty());
}

#[test]
fn empty_sections_take_the_domain_defaults() {
    let catalog = super::catalog(
        "services:\n  - { id: a, name: A, grouping: {}, storm: {}, flapping: { within: 5m } }\nheartbeats:\n  - { id: hb, service: a, key: hb-key-0123456789abcdef, interval: 1h }\n",
    );
    let service = &catalog.services[0];
    assert_eq!(service.grouping, Some(Grouping::default()));
    assert_eq!(service.storm, Some(StormPolicy::default()));
    assert_eq!(service.flapping, Some(FlapPolicy { within: Duration::minutes(5), ..FlapPolicy::default() }));
    assert_eq!(catalog.heartbeats[0].grace, Duration::zero());
    let shown = format!("{:?}", catalog.heartbeats);
    assert!(!shown.contains("hb-key-0123456789abcdef"), "heartbeat keys are secrets: {shown}");
}

#[test]
fn storm_and_flapping_can_be_turned_off() {
    let catalog = super::catalog("services:\n  - { id: a, name: A, storm: off, flapping: off }\n");
    let service = &catalog.services[0];
    assert_eq!((service.storm, service.flapping), (Some(StormPolicy::OFF), Some(FlapPolicy::OFF)));
    let rules =
        tocsin_core::noise::NoiseRules::from_directory(&tocsin_core::directory::Directory::from_catalog(&catalog));
    let a = rules.service("a").unwrap();
    assert_eq!((a.storm, a.flap), (None, None), "off means no storm or flap rule at all");
}

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use tocsin_core::event::Severity;
use tocsin_core::flapping::FlapPolicy;
use tocsin_core::grouping::{GroupBy, Grouping};
use tocsin_core::inhibit::InhibitRule;
use tocsin_core::maintenance::{InclusiveRange, MaintenanceWindow, TimeInterval, TimeRange, WindowKind};
use tocsin_core::matchers::Matchers;
use tocsin_core::model::{HeartbeatSpec, IntegrationKind, RoutedIntegrationSpec, Service};
use tocsin_core::routing::Route;
use tocsin_core::storm::StormPolicy;

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn matchers(text: &str) -> Matchers {
    Matchers::parse(text).unwrap()
}

pub(super) fn example_receipts() -> Service {
    let tuesday_deploys = TimeInterval {
        times: vec![TimeRange { start_minute: 14 * 60, end_minute: 15 * 60 }],
        // 0 is Sunday, as in Alertmanager.
        weekdays: vec![InclusiveRange { begin: 2, end: 2 }],
        days_of_month: vec![],
        months: vec![],
        years: vec![],
        time_zone: Tz::Europe__Berlin,
    };
    Service {
        id: "receipts".into(),
        name: "Receipts".into(),
        description: Some("Emails receipts for checkout's orders.".into()),
        team: Some("payments".into()),
        depends_on: vec!["checkout".into()],
        grouping: Some(Grouping {
            group_by: GroupBy::Labels(vec!["alertname".into(), "cluster".into()]),
            group_wait: Duration::seconds(30),
            group_interval: Duration::minutes(5),
            alertmanager_group_key: false,
        }),
        storm: Some(StormPolicy { max_new_alerts: 20, within: Duration::minutes(1) }),
        flapping: Some(FlapPolicy { max_changes: 4, within: Duration::minutes(10) }),
        maintenance_windows: vec![
            MaintenanceWindow { id: "tuesday-deploys".into(), kind: WindowKind::Recurring(tuesday_deploys) },
            MaintenanceWindow {
                id: "mail-migration".into(),
                kind: WindowKind::OneOff {
                    start: instant("2026-04-04T22:00:00Z"),
                    end: instant("2026-04-05T02:00:00Z"),
                },
            },
        ],
        ..Service::default()
    }
}

pub(super) fn example_routed_integrations() -> Vec<RoutedIntegrationSpec> {
    vec![RoutedIntegrationSpec {
        id: "payments-prometheus".into(),
        kind: IntegrationKind::Prometheus,
        key: "prom-routed-0123456789abcdef".into(),
        route: "payments".into(),
    }]
}

pub(super) fn example_routes() -> Vec<Route> {
    vec![Route {
        id: Some("payments".into()),
        matchers: matchers(r#"team="payments""#),
        service: Some("checkout".into()),
        routes: vec![
            Route {
                id: Some("payments-receipts".into()),
                matchers: matchers(r#"job=~"receipts|mailer""#),
                service: Some("receipts".into()),
                ..Route::default()
            },
            Route {
                matchers: matchers(r#"severity="page""#),
                set_severity: Some(Severity::Critical),
                ..Route::default()
            },
        ],
        ..Route::default()
    }]
}

pub(super) fn example_inhibit_rules() -> Vec<InhibitRule> {
    vec![InhibitRule {
        source_matchers: matchers(r#"alertname="DatacenterDown""#),
        target_matchers: matchers(r#"severity!="critical""#),
        equal: vec!["datacenter".into()],
    }]
}

pub(super) fn example_heartbeats() -> Vec<HeartbeatSpec> {
    vec![HeartbeatSpec {
        id: "nightly-receipts".into(),
        service: "receipts".into(),
        key: "hb-receipts-0123456789abcdef".into(),
        interval: Duration::days(1),
        grace: Duration::hours(1),
    }]
}
