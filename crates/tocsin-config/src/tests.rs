//! End-to-end tests of `parse` and `load`: each rule gets an input that
//! breaks it, and the assertions pin the exact file, line, column, path and
//! message.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use tocsin_core::auth::Role;
use tocsin_core::escalation::{Level, Policy, Target};
use tocsin_core::model::{Catalog, IntegrationKind, IntegrationSpec, Notifications, Service, Smtp, Team, User};
use tocsin_core::notify::rules::{ContactKind, ContactMethod, Rule};
use tocsin_core::schedule::{self, Layer, Override, Restriction, Schedule, Turn};

use crate::{ConfigError, ConfigErrors, MAX_FILE_BYTES, load, parse};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/tocsin.yaml");

fn errors(text: &str) -> Vec<ConfigError> {
    match parse("t.yaml", text) {
        Ok(catalog) => panic!("expected errors, got {catalog:?}"),
        Err(ConfigErrors(errors)) => errors,
    }
}

fn error(line: usize, column: usize, path: &str, message: &str) -> ConfigError {
    ConfigError {
        file: "t.yaml".to_owned(),
        line: Some(line),
        column: Some(column),
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

fn catalog(text: &str) -> Catalog {
    match parse("t.yaml", text) {
        Ok(catalog) => catalog,
        Err(errors) => panic!("unexpected errors:\n{errors}"),
    }
}

fn integration(id: &str, service: &str, kind: IntegrationKind, key: &str) -> IntegrationSpec {
    IntegrationSpec { id: id.to_owned(), service_id: service.to_owned(), kind, key: key.to_owned() }
}

/// A file with one service, `checkout`, whose integrations list (starting
/// on line 5) is `integrations`.
fn with_integrations(integrations: &str) -> String {
    format!("services:\n  - id: checkout\n    name: Checkout API\n    integrations:\n{integrations}")
}

// --- the example ----------------------------------------------------------

fn example_catalog() -> Catalog {
    use IntegrationKind::*;
    Catalog {
        teams: vec![Team {
            id: "payments".into(),
            name: "Payments".into(),
            members: vec!["alice".into(), "bob".into()],
        }],
        users: vec![
            User {
                id: "alice".into(),
                name: "Alice Example".into(),
                email: "alice@example.com".into(),
                role: Role::Manager,
                time_zone: Some(Tz::Europe__Berlin),
                contact_methods: vec![
                    webhook("alice-hook", "http://127.0.0.1:9000/hook"),
                    email_method("alice-mail", "alice@example.com"),
                ],
                notification_rules: vec![rule("alice-hook", 0), rule("alice-mail", 120)],
            },
            User {
                id: "bob".into(),
                name: "Bob Example".into(),
                email: "bob@example.com".into(),
                contact_methods: vec![email_method("bob-mail", "bob@example.com")],
                ..User::default()
            },
        ],
        services: vec![
            Service {
                id: "checkout".into(),
                name: "Checkout API".into(),
                description: Some("Takes payment for baskets and confirms orders.".into()),
                team: Some("payments".into()),
                escalation_policy: Some("checkout-primary".into()),
                ack_timeout: Some(Duration::minutes(30)),
                ..Service::default()
            },
            noise::example_receipts(),
            Service { id: "search".into(), name: "Search".into(), description: None, team: None, ..Service::default() },
        ],
        integrations: vec![
            integration("checkout-pagerduty", "checkout", Pagerduty, "6f1d3c0e9b2a4f7c8d5e1a2b3c4d5e6f"),
            integration("checkout-alertmanager", "checkout", Alertmanager, "am-checkout-0123456789abcdef"),
            integration("checkout-prometheus", "checkout", Prometheus, "prom-checkout-0123456789abcdef"),
            integration("checkout-generic", "checkout", Generic, "generic-checkout-0123456789ab"),
            integration("search-pagerduty", "search", Pagerduty, "0a1b2c3d4e5f60718293a4b5c6d7e8f9"),
        ],
        schedules: vec![example_primary(), example_weekend()],
        escalation_policies: vec![checkout_policy("bob")],
        notifications: smtp_on_2525(),
        retention: tocsin_core::retention::Retention::default(),
        routed_integrations: noise::example_routed_integrations(),
        routes: noise::example_routes(),
        inhibit_rules: noise::example_inhibit_rules(),
        heartbeats: noise::example_heartbeats(),
    }
}

/// The example's `primary`: the contract's schedule, but only in office
/// hours, one weekly window per weekday.
fn example_primary() -> Schedule {
    let mut primary = primary_schedule("bob");
    primary.layers[0].restrictions = [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri]
        .into_iter()
        .map(|day| Restriction::Weekly { from: (day, hm(9, 0)), to: (day, hm(17, 0)) })
        .collect();
    primary
}

/// The example's `weekend`: one continuous weekly window.
fn example_weekend() -> Schedule {
    Schedule {
        id: "weekend".into(),
        time_zone: Tz::America__New_York,
        layers: vec![Layer {
            id: "weekend".into(),
            users: vec!["bob".into()],
            time_zone: None,
            start: NaiveDate::from_ymd_opt(2026, 3, 6).unwrap().and_hms_opt(17, 0, 0).unwrap(),
            turn: Turn::Weeks(1),
            handoff: hm(17, 0),
            restrictions: vec![Restriction::Weekly { from: (Weekday::Fri, hm(17, 0)), to: (Weekday::Mon, hm(9, 0)) }],
            end: None,
        }],
        overrides: vec![],
    }
}

fn webhook(id: &str, url: &str) -> ContactMethod {
    ContactMethod { id: id.into(), kind: ContactKind::Webhook { url: url.into() } }
}

fn email_method(id: &str, address: &str) -> ContactMethod {
    ContactMethod { id: id.into(), kind: ContactKind::Email { address: address.into() } }
}

fn rule(method: &str, after_seconds: i64) -> Rule {
    Rule { contact_method: method.into(), after: Duration::seconds(after_seconds) }
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn hm(hour: u32, minute: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(hour, minute, 0).unwrap()
}

/// The contract's `primary` schedule; `substitute` takes the override.
fn primary_schedule(substitute: &str) -> Schedule {
    Schedule {
        id: "primary".into(),
        time_zone: Tz::America__New_York,
        layers: vec![Layer {
            id: "weekly".into(),
            users: vec!["alice".into(), "bob".into()],
            time_zone: None,
            start: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap().and_hms_opt(9, 0, 0).unwrap(),
            turn: Turn::Weeks(1),
            handoff: hm(9, 0),
            restrictions: vec![Restriction::Weekly { from: (Weekday::Mon, hm(9, 0)), to: (Weekday::Fri, hm(17, 0)) }],
            end: None,
        }],
        overrides: vec![Override {
            user: substitute.into(),
            start: utc("2026-03-06T18:00:00Z"),
            end: utc("2026-03-09T09:00:00Z"),
            created_seq: 0,
        }],
    }
}

/// The contract's `checkout-primary` policy; `second` is the second level.
fn checkout_policy(second: &str) -> Policy {
    Policy {
        id: "checkout-primary".into(),
        repeat: 2,
        levels: vec![
            Level { targets: vec![Target::Schedule("primary".into())], escalate_after: Duration::minutes(5) },
            Level { targets: vec![Target::User(second.into())], escalate_after: Duration::minutes(10) },
        ],
    }
}

fn smtp_on_2525() -> Notifications {
    Notifications {
        smtp: Some(Smtp {
            host: "127.0.0.1".into(),
            port: 2525,
            from: "tocsin@example.com".into(),
            username: None,
            password: None,
            starttls: false,
        }),
        ..Notifications::default()
    }
}

#[test]
fn smtp_passwords_need_starttls_unless_the_relay_is_local() {
    let remote = "notifications:\n  smtp: { host: smtp.example.com, port: 587, from: a@example.com, username: u, password: hunter2hunter2 }\n";
    let err = crate::parse("t.yaml", remote).unwrap_err().to_string();
    assert!(err.contains("notifications.smtp.starttls") && err.contains("in clear"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let secured = remote.replace("password: hunter2hunter2", "password: hunter2hunter2, starttls: true");
    assert!(crate::parse("t.yaml", &secured).is_ok());
    for host in ["127.0.0.1", "localhost", "::1"] {
        let local = remote.replace("smtp.example.com", &format!("\"{host}\""));
        assert!(crate::parse("t.yaml", &local).is_ok(), "{host}");
    }
}

#[test]
fn notification_settings_parse_and_errors_name_the_field() {
    let yaml = "notifications:\n  public_url: \"https://tocsin.example.com/\"\n  webhook_secret: \"0123456789abcdef0123\"\n  ack_link_ttl: 2h\n  rate_limit: { messages: 3, window: 5m }\n";
    let catalog = crate::parse("t.yaml", yaml).unwrap();
    let n = &catalog.notifications;
    assert_eq!(n.public_url.as_deref(), Some("https://tocsin.example.com"));
    assert_eq!(n.webhook_secret.as_deref(), Some("0123456789abcdef0123"));
    assert_eq!(n.ack_link_ttl, Duration::hours(2));
    assert_eq!(n.rate_limit, tocsin_core::model::RateLimit { messages: 3, window: Duration::minutes(5) });
    assert!(!format!("{n:?}").contains("0123456789abcdef"), "the secret stays out of debug output");

    let bad = "notifications:\n  public_url: ftp://x\n  webhook_secret: short\n  ack_link_ttl: 0s\n  rate_limit: { messages: 0, window: 5m }\n";
    let err = crate::parse("t.yaml", bad).unwrap_err().to_string();
    for field in [
        "notifications.public_url",
        "notifications.webhook_secret",
        "notifications.ack_link_ttl",
        "notifications.rate_limit.messages",
    ] {
        assert!(err.contains(field), "{field} missing from:\n{err}");
    }
    assert!(!err.contains("short"), "the secret is not echoed:\n{err}");
}

#[test]
fn example_file_parses_to_the_expected_catalog() {
    let text = std::fs::read_to_string(EXAMPLE).unwrap();
    assert_eq!(catalog(&text), example_catalog());
}

#[test]
fn load_reads_the_example_file() {
    let loaded = load(std::path::Path::new(EXAMPLE)).unwrap();
    assert_eq!(loaded, example_catalog());
}

#[test]
fn the_example_primary_schedule_is_weekday_office_hours() {
    let loaded = load(std::path::Path::new(EXAMPLE)).unwrap();
    let primary = loaded.schedules.iter().find(|s| s.id == "primary").unwrap();
    let weekend = loaded.schedules.iter().find(|s| s.id == "weekend").unwrap();
    let new_york = |text: &str| {
        let local = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap();
        local.and_local_timezone(Tz::America__New_York).single().unwrap().with_timezone(&Utc)
    };
    // Wednesday 2026-03-11 is in bob's week (alice has the weeks of the 2nd and the 16th).
    for (at, expected) in [
        ("2026-03-11 08:59", None),
        ("2026-03-11 09:00", Some("bob")),
        ("2026-03-11 10:00", Some("bob")),
        ("2026-03-11 16:59", Some("bob")),
        ("2026-03-11 17:00", None),
        ("2026-03-11 20:00", None),
        ("2026-03-12 03:00", None),
        ("2026-03-16 10:00", Some("alice")),
        ("2026-03-14 12:00", None),
    ] {
        assert_eq!(schedule::on_call_at(primary, new_york(at)).as_deref(), expected, "primary at {at} New York time");
    }
    // The weekend schedule's single window runs through the nights.
    for (at, expected) in [
        ("2026-03-13 16:59", None),
        ("2026-03-13 17:00", Some("bob")),
        ("2026-03-14 03:00", Some("bob")),
        ("2026-03-16 08:59", Some("bob")),
        ("2026-03-16 09:00", None),
        ("2026-03-11 20:00", None),
    ] {
        assert_eq!(schedule::on_call_at(weekend, new_york(at)).as_deref(), expected, "weekend at {at} New York time");
    }
}

#[test]
fn empty_files_declare_nothing() {
    assert_eq!(catalog(""), Catalog::default());
    assert_eq!(catalog("# nothing yet\n"), Catalog::default());
    assert_eq!(catalog("teams:\nusers: ~\nservices: []\n"), Catalog::default());
}

#[test]
fn a_file_that_declares_nothing_is_valid_with_a_warning() {
    let expected = "t.yaml: warning: nothing is declared: no teams, users, services, schedules or escalation \
                    policies (applied to a server, this deactivates every service and integration)";
    for text in ["", "# nothing yet\n# still nothing\n", "teams:\nusers: ~\nservices: []\n", "notifications: {}\n"] {
        let shown: Vec<String> = crate::warnings("t.yaml", &catalog(text)).iter().map(ToString::to_string).collect();
        assert_eq!(shown, [expected], "{text:?}");
    }
    assert_eq!(crate::warnings("t.yaml", &catalog("teams:\n  - { id: payments, name: Payments }\n")), []);
    assert_eq!(crate::warnings(EXAMPLE, &load(std::path::Path::new(EXAMPLE)).unwrap()), []);
}

#[test]
fn optional_fields_may_be_null_or_absent() {
    let parsed = catalog("services:\n  - id: a\n    name: A\n    description: ~\n    team:\n  - { id: b, name: B }\n");
    assert_eq!(parsed.services[0].description, None);
    assert_eq!(parsed.services[0].team, None);
    assert!(parsed.integrations.is_empty());
}

#[test]
fn scalars_yaml_reads_as_numbers_or_booleans_keep_their_spelling() {
    let parsed = catalog(&with_integrations(
        "      - kind: generic\n        key: 0012345678901234567890\n    description: 1e3\n  - { id: '2024', name: yes }\n",
    ));
    assert_eq!(parsed.integrations[0].key, "0012345678901234567890");
    assert_eq!(parsed.services[0].description.as_deref(), Some("1e3"));
    assert_eq!(parsed.services[1].name, "yes");
}

#[test]
fn merge_keys_byte_order_mark_and_crlf_are_accepted() {
    let text = "\u{feff}teams:\r\n  - &base { id: a, name: 007 }\r\n  - <<: *base\r\n    id: b\r\n";
    let parsed = catalog(text);
    let teams: Vec<(&str, &str)> = parsed.teams.iter().map(|team| (team.id.as_str(), team.name.as_str())).collect();
    assert_eq!(teams, [("a", "007"), ("b", "007")]);
}

#[test]
fn aliases_within_limits_are_allowed() {
    let parsed = catalog("teams:\n  - { id: payments, name: &n Payments }\n  - { id: billing, name: *n }\n");
    assert_eq!(parsed.teams[1].name, "Payments");
}

// --- YAML-level problems --------------------------------------------------

#[test]
fn syntax_error_has_place_and_path() {
    assert_eq!(
        errors("teams:\n  - id: payments\n    name: [Payments\n"),
        [error(3, 11, "teams[0].name[0]", "unclosed bracket '['")]
    );
}

#[test]
fn duplicate_mapping_key_is_reported_where_it_repeats() {
    assert_eq!(
        errors("teams:\n  - id: payments\n    id: billing\n    name: Payments\n"),
        [error(3, 5, "teams[0]", "duplicate mapping key `id` is not allowed here")]
    );
}

#[test]
fn a_second_document_is_rejected() {
    assert_eq!(
        errors("teams: []\n---\nusers: []\n"),
        [error(3, 1, "", "a config file holds a single YAML document, but a second one starts here")]
    );
}

#[test]
fn alias_bomb_is_rejected() {
    let mut text =
        String::from("a: &a [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n");
    for (name, previous) in
        ["b", "c", "d", "e", "f", "g", "h", "i"].into_iter().zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        let refs = vec![format!("*{previous}"); 9].join(", ");
        text.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    let found = errors(&text);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].to_string(),
        "t.yaml:1:43: e[0][0][7][7][5]: YAML document too large or too complex: total_replayed_events=10001 > 10000"
    );
}

#[test]
fn deep_nesting_is_rejected() {
    let text = format!("teams: {}{}\n", "[".repeat(40), "]".repeat(40));
    let found = errors(&text);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].line, Some(1));
    assert!(found[0].message.starts_with("YAML document too large or too complex"), "{}", found[0]);
}

#[test]
fn oversized_text_is_rejected_unparsed() {
    let text = format!("# {}\n", "x".repeat(MAX_FILE_BYTES));
    let found = errors(&text);
    assert_eq!(
        found,
        [ConfigError {
            file: "t.yaml".to_owned(),
            line: None,
            column: None,
            path: String::new(),
            message: format!("the file is larger than the {MAX_FILE_BYTES}-byte limit"),
        }]
    );
}

// --- shape: types, fields, variants --------------------------------------

#[test]
fn document_must_be_a_mapping() {
    assert_eq!(errors("- payments\n"), [error(1, 1, "", "expected a mapping, found a sequence")]);
}

#[test]
fn wrong_types_are_reported_with_path() {
    assert_eq!(
        errors("teams: {}\nusers:\n  - id: alice\n    name: [Alice]\n    email: alice@example.com\n"),
        [
            error(1, 8, "teams", "expected a sequence, found a mapping"),
            error(4, 11, "users[0].name", "expected a string, found a sequence"),
        ]
    );
}

#[test]
fn unknown_fields_are_reported_at_the_key() {
    assert_eq!(
        errors("teams:\n  - id: payments\n    name: Payments\n    colour: blue\nowners: []\n"),
        [
            error(4, 5, "teams[0].colour", "unknown field `colour`, expected one of id, name, members"),
            error(
                5,
                1,
                "owners",
                "unknown field `owners`, expected one of teams, users, services, schedules, escalation_policies, notifications, retention, \
                 integrations, routes, inhibit_rules, heartbeats"
            ),
        ]
    );
}

#[test]
fn missing_fields_are_reported_at_the_entry() {
    assert_eq!(
        errors("users:\n  - id: alice\n    name: Alice\n  - {}\n"),
        [
            error(2, 5, "users[0]", "missing field `email`"),
            error(4, 5, "users[1]", "missing field `id`"),
            error(4, 5, "users[1]", "missing field `name`"),
            error(4, 5, "users[1]", "missing field `email`"),
        ]
    );
}

#[test]
fn null_is_not_a_string() {
    assert_eq!(
        errors("teams:\n  - id: payments\n    name:\n"),
        [error(3, 9, "teams[0].name", "expected a string, found null")]
    );
}

#[test]
fn unknown_integration_kind_lists_the_kinds() {
    let text = "teams:\n  - { id: payments, name: Payments }\nservices:\n  - id: checkout\n    name: Checkout API\n    integrations:\n      - kind: pagerduty\n        key: 6f1d3c0e9b2a4f7c8d5e1a2b3c4d5e6f\n  - id: search\n    name: Search\n    integrations:\n      - kind: pagerdty\n        key: 0a1b2c3d4e5f60718293a4b5c6d7e8f9\n";
    let found = errors(text);
    assert_eq!(
        found,
        [error(
            12,
            15,
            "services[1].integrations[0].kind",
            "unknown variant `pagerdty`, expected one of pagerduty, alertmanager, prometheus, generic"
        )]
    );
    assert_eq!(
        found[0].to_string(),
        "t.yaml:12:15: services[1].integrations[0].kind: unknown variant `pagerdty`, expected one of pagerduty, alertmanager, prometheus, generic"
    );
}

#[test]
fn heartbeat_is_no_integration_kind() {
    // Alerts of heartbeat monitors carry the kind `heartbeat`; keys for them
    // are declared under `heartbeats`, never as an integration.
    let text = "services:\n  - id: checkout\n    name: Checkout\n    integrations:\n      - { kind: heartbeat, key: hb-0000000000000001 }\n";
    assert_eq!(
        errors(text),
        [error(
            5,
            17,
            "services[0].integrations[0].kind",
            "unknown variant `heartbeat`, expected one of pagerduty, alertmanager, prometheus, generic"
        )]
    );
}

// --- values ---------------------------------------------------------------

#[test]
fn invalid_ids_are_reported_everywhere() {
    let text = "teams:\n  - { id: Payments, name: Payments }\nusers:\n  - { id: al ice, name: Alice, email: a@b }\nservices:\n  - id: ''\n    name: Checkout\n    integrations:\n      - { kind: generic, key: generic-checkout-0123456789ab, id: -x }\n";
    assert_eq!(
        errors(text),
        [
            error(2, 11, "teams[0].id", "id `Payments` must start with a lowercase letter or a digit"),
            error(4, 11, "users[0].id", "id `al ice` contains ` `; ids use only a-z, 0-9, `_` and `-`"),
            error(6, 9, "services[0].id", "id must not be empty"),
            error(9, 66, "services[0].integrations[0].id", "id `-x` must start with a lowercase letter or a digit"),
        ]
    );
}

#[test]
fn ids_longer_than_64_characters_are_rejected() {
    let text = format!("teams:\n  - id: {}\n    name: Payments\n", "a".repeat(65));
    assert_eq!(errors(&text), [error(2, 9, "teams[0].id", "id is 65 characters long; the limit is 64")]);
}

#[test]
fn names_must_be_non_empty_and_at_most_200_characters() {
    let text = format!("teams:\n  - {{ id: a, name: '  ' }}\n  - {{ id: b, name: {} }}\n", "n".repeat(201));
    assert_eq!(
        errors(&text),
        [
            error(2, 20, "teams[0].name", "name must not be empty"),
            error(3, 20, "teams[1].name", "name is 201 characters long; the limit is 200"),
        ]
    );
}

#[test]
fn descriptions_are_at_most_2000_characters() {
    let text = format!("services:\n  - id: a\n    name: A\n    description: {}\n", "d".repeat(2001));
    assert_eq!(
        errors(&text),
        [error(4, 18, "services[0].description", "description is 2001 characters long; the limit is 2000")]
    );
}

#[test]
fn emails_need_one_at_sign_with_text_on_both_sides() {
    let text = "users:\n  - { id: a, name: A, email: alice.example.com }\n  - { id: b, name: B, email: b@ }\n  - { id: c, name: C, email: c@d@e }\n";
    assert_eq!(
        errors(text),
        [
            error(
                2,
                30,
                "users[0].email",
                "invalid email `alice.example.com`: expected one `@` with text on both sides"
            ),
            error(3, 30, "users[1].email", "invalid email `b@`: expected one `@` with text on both sides"),
            error(4, 30, "users[2].email", "invalid email `c@d@e`: expected one `@` with text on both sides"),
        ]
    );
}

#[test]
fn integration_keys_have_length_limits() {
    let long = "k".repeat(129);
    let text = with_integrations(&format!(
        "      - kind: generic\n        key: short-key\n      - kind: generic\n        key: {long}\n      - kind: generic\n        key: {}\n",
        "k".repeat(128)
    ));
    let found = errors(&text);
    assert_eq!(
        found,
        [
            error(
                6,
                14,
                "services[0].integrations[0].key",
                "integration key is 9 characters long; it must be 16–128 characters"
            ),
            error(
                8,
                14,
                "services[0].integrations[1].key",
                "integration key is 129 characters long; it must be 16–128 characters"
            ),
        ]
    );
    assert!(found.iter().all(|e| !e.message.contains("short-key")));
}

#[test]
fn integration_keys_are_url_safe_printable_ascii() {
    let text = with_integrations(
        "      - kind: generic\n        key: 'secret key 0123456789'\n      - kind: alertmanager\n        key: secret/key/0123456789\n      - kind: prometheus\n        key: secret-kéy-0123456789\n",
    );
    let message = |position: usize| {
        format!(
            "integration key has a character that is not allowed at position {position}; keys are printable ASCII without spaces or `/`, because they appear in URL paths"
        )
    };
    let found = errors(&text);
    assert_eq!(
        found,
        [
            error(6, 14, "services[0].integrations[0].key", &message(7)),
            error(8, 14, "services[0].integrations[1].key", &message(7)),
            error(10, 14, "services[0].integrations[2].key", &message(9)),
        ]
    );
    assert!(found.iter().all(|e| !e.message.contains("secret")));
}

#[test]
fn duplicate_entity_ids_name_the_first_line() {
    let text = "teams:\n  - { id: payments, name: Payments }\n  - { id: payments, name: Payments again }\nusers:\n  - { id: alice, name: Alice, email: a@example.com }\n  - { id: alice, name: Alice 2, email: a2@example.com }\nservices:\n  - { id: checkout, name: Checkout }\n  - { id: search, name: Search }\n  - { id: checkout, name: Checkout 2 }\n";
    assert_eq!(
        errors(text),
        [
            error(3, 11, "teams[1].id", "duplicate team id `payments` (first defined at line 2)"),
            error(6, 11, "users[1].id", "duplicate user id `alice` (first defined at line 5)"),
            error(10, 11, "services[2].id", "duplicate service id `checkout` (first defined at line 8)"),
        ]
    );
}

#[test]
fn ids_of_different_kinds_may_coincide() {
    let parsed = catalog(
        "teams:\n  - { id: checkout, name: Checkout team }\nusers:\n  - { id: checkout, name: Checkout bot, email: bot@example.com }\nservices:\n  - { id: checkout, name: Checkout, team: checkout }\n",
    );
    assert_eq!(parsed.services[0].team.as_deref(), Some("checkout"));
}

#[test]
fn default_integration_ids_number_repeated_kinds() {
    let parsed = catalog(&with_integrations(
        "      - { kind: pagerduty, key: pd-0000000000000001 }\n      - { kind: generic, key: gen-000000000000001 }\n      - { kind: pagerduty, key: pd-0000000000000002, id: pd-main }\n      - { kind: pagerduty, key: pd-0000000000000003 }\n",
    ));
    let ids: Vec<&str> = parsed.integrations.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["checkout-pagerduty", "checkout-generic", "pd-main", "checkout-pagerduty-3"]);
    assert!(parsed.integrations.iter().all(|i| i.service_id == "checkout"));
}

#[test]
fn duplicate_integration_ids_span_services_and_defaults() {
    let text = "services:\n  - id: checkout\n    name: Checkout\n    integrations:\n      - { kind: pagerduty, key: pd-0000000000000001, id: shared }\n  - id: search\n    name: Search\n    integrations:\n      - { kind: generic, key: gen-000000000000001, id: shared }\n      - { kind: generic, key: gen-000000000000002, id: checkout-pagerduty }\n  - id: checkout-x\n    name: Checkout X\n    integrations:\n      - { kind: pagerduty, key: pd-0000000000000002, id: checkout-x-pagerduty }\n      - { kind: pagerduty, key: pd-0000000000000003 }\n      - { kind: pagerduty, key: pd-0000000000000004 }\n";
    let found = errors(text);
    assert_eq!(
        found,
        [error(
            9,
            56,
            "services[1].integrations[0].id",
            "duplicate integration id `shared` (first used by services[0].integrations[0].id at line 5)"
        )]
    );

    let text = "services:\n  - id: checkout\n    name: Checkout\n    integrations:\n      - { kind: pagerduty, key: pd-0000000000000001, id: checkout-generic }\n      - { kind: generic, key: gen-000000000000001 }\n";
    assert_eq!(
        errors(text),
        [error(
            6,
            9,
            "services[0].integrations[1]",
            "duplicate integration id `checkout-generic` (first used by services[0].integrations[0].id at line 5); this is the default id of this integration, set a unique `id`"
        )]
    );
}

#[test]
fn default_integration_ids_must_fit_the_id_limit() {
    let service = "s".repeat(60);
    let text = format!(
        "services:\n  - id: {service}\n    name: Long\n    integrations:\n      - kind: generic\n        key: gen-000000000000001\n"
    );
    assert_eq!(
        errors(&text),
        [error(
            5,
            9,
            "services[0].integrations[0]",
            &format!("the default id `{service}-generic` is 68 characters long (the limit is 64); set a shorter `id`")
        )]
    );
}

#[test]
fn duplicate_keys_name_the_other_integration_not_the_key() {
    let text = "services:\n  - id: checkout\n    name: Checkout\n    integrations:\n      - kind: pagerduty\n        key: 6f1d3c0e9b2a4f7c8d5e1a2b3c4d5e6f\n      - kind: generic\n        key: generic-checkout-0123456789ab\n  - id: search\n    name: Search\n    integrations:\n      - kind: generic\n        key: generic-checkout-0123456789ab\n";
    let found = errors(text);
    assert_eq!(
        found,
        [error(
            13,
            14,
            "services[1].integrations[0].key",
            "duplicate integration key (also used by services[0].integrations[1])"
        )]
    );
    assert!(!found[0].to_string().contains("generic-checkout-0123456789ab"));
}

#[test]
fn service_team_must_reference_a_declared_team() {
    let text = "teams:\n  - { id: payments, name: Payments }\nservices:\n  - { id: checkout, name: Checkout, team: paymnts }\n";
    assert_eq!(errors(text), [error(4, 43, "services[0].team", "team `paymnts` is not declared under `teams`")]);
}

#[test]
fn references_are_not_checked_when_the_team_list_is_broken() {
    // The second team lacks a name; `billing` may well be meant to exist, so
    // only the structural error is reported.
    let text = "teams:\n  - { id: payments, name: Payments }\n  - { id: billing }\nservices:\n  - { id: checkout, name: Checkout, team: billing }\n";
    assert_eq!(errors(text), [error(3, 5, "teams[1]", "missing field `name`")]);
}

// --- collecting ----------------------------------------------------------

#[test]
fn all_errors_are_collected_in_text_order() {
    let text = "\
teams:
  - { id: payments, name: Payments }
  - { id: payments, name: '' }
users:
  - { id: alice, name: Alice, email: nowhere, phone: 555 }
services:
  - id: checkout
    name: Checkout
    team: billing
    integrations:
      - { kind: pagerduty, key: 6f1d3c0e9b2a4f7c8d5e1a2b3c4d5e6f }
      - { kind: sms, key: sms-0123456789abcdef }
  - id: search
    name: Search
    integrations:
      - { kind: pagerduty, key: 6f1d3c0e9b2a4f7c8d5e1a2b3c4d5e6f }
";
    let found = errors(text);
    let summary: Vec<(usize, &str)> = found.iter().map(|e| (e.line.unwrap(), e.path.as_str())).collect();
    assert_eq!(
        summary,
        [
            (3, "teams[1].id"),
            (3, "teams[1].name"),
            (5, "users[0].email"),
            (5, "users[0].phone"),
            (9, "services[0].team"),
            (12, "services[0].integrations[1].kind"),
            (16, "services[1].integrations[0].key"),
        ]
    );
    let rendered = ConfigErrors(found).to_string();
    assert_eq!(rendered.lines().count(), 7);
    assert_eq!(
        rendered.lines().nth(4),
        Some("t.yaml:9:11: services[0].team: team `billing` is not declared under `teams`")
    );
}

// --- on-call: the issue-3 contract ------------------------------------------

/// The config contract of issue 3, verbatim. It is an excerpt: it names
/// `bob` and `carol` without declaring them, and its service has no `name`.
const CONTRACT: &str = r#"users:
  - id: alice
    name: Alice Example
    email: alice@example.com
    time_zone: Europe/Berlin
    contact_methods:
      - { id: alice-hook, kind: webhook, url: "http://127.0.0.1:9000/hook" }
      - { id: alice-mail, kind: email, address: alice@example.com }
    notification_rules:
      - { contact_method: alice-hook, after: 0s }
      - { contact_method: alice-mail, after: 2m }
schedules:
  - id: primary
    time_zone: America/New_York
    layers:
      - id: weekly
        users: [alice, bob]
        start: "2026-03-02T09:00:00"     # local time in the layer's zone (a layer may carry its own time_zone)
        turn: 1w                          # 12h, 1d, 1w ...
        handoff: "09:00"
        restrictions: [{ kind: weekly, from: "mon 09:00", to: "fri 17:00" }]   # or { kind: daily, from: "22:00", to: "06:00" }
    overrides:
      - { user: carol, start: "2026-03-06T18:00:00Z", end: "2026-03-09T09:00:00Z" }
escalation_policies:
  - id: checkout-primary
    repeat: 2
    levels:
      - { targets: [{ schedule: primary }], escalate_after: 5m }
      - { targets: [{ user: carol }], escalate_after: 10m }
services:
  - id: checkout
    escalation_policy: checkout-primary
    ack_timeout: 30m
notifications:
  smtp: { host: 127.0.0.1, port: 2525, from: "tocsin@example.com" }
"#;

/// [`CONTRACT`] with only what it leaves out added: users `bob` and `carol`
/// and the service's name.
fn contract_completed() -> String {
    let users_end = "      - { contact_method: alice-mail, after: 2m }\n";
    let service = "  - id: checkout\n";
    assert!(CONTRACT.contains(users_end) && CONTRACT.contains(service));
    CONTRACT
        .replace(
            users_end,
            &format!(
                "{users_end}  - {{ id: bob, name: Bob Example, email: bob@example.com }}\n  - {{ id: carol, name: Carol Example, email: carol@example.com }}\n"
            ),
        )
        .replace(service, &format!("{service}    name: Checkout API\n"))
}

#[test]
fn the_contract_excerpt_fails_only_on_what_it_leaves_out() {
    assert_eq!(
        errors(CONTRACT),
        [
            error(17, 24, "schedules[0].layers[0].users[1]", "user `bob` is not declared under `users`"),
            error(23, 17, "schedules[0].overrides[0].user", "user `carol` is not declared under `users`"),
            error(
                29,
                29,
                "escalation_policies[0].levels[1].targets[0].user",
                "user `carol` is not declared under `users`"
            ),
            error(31, 5, "services[0]", "missing field `name`"),
        ]
    );
}

#[test]
fn the_contract_parses_to_domain_values() {
    let user = |id: &str, name: &str| User {
        id: id.into(),
        name: name.into(),
        email: format!("{id}@example.com"),
        ..User::default()
    };
    let expected = Catalog {
        users: vec![
            User {
                time_zone: Some(Tz::Europe__Berlin),
                contact_methods: vec![
                    webhook("alice-hook", "http://127.0.0.1:9000/hook"),
                    email_method("alice-mail", "alice@example.com"),
                ],
                notification_rules: vec![rule("alice-hook", 0), rule("alice-mail", 120)],
                ..user("alice", "Alice Example")
            },
            user("bob", "Bob Example"),
            user("carol", "Carol Example"),
        ],
        services: vec![Service {
            id: "checkout".into(),
            name: "Checkout API".into(),
            escalation_policy: Some("checkout-primary".into()),
            ack_timeout: Some(Duration::minutes(30)),
            ..Service::default()
        }],
        schedules: vec![primary_schedule("carol")],
        escalation_policies: vec![checkout_policy("carol")],
        notifications: smtp_on_2525(),
        ..Catalog::default()
    };
    let parsed = catalog(&contract_completed());
    assert_eq!(parsed, expected);
    // The values are what the domain takes: the schedule resolves. Alice has
    // the first week until carol's override (Friday 13:00 EST to Monday
    // 05:00 EDT, across the DST change); then a gap until the weekly window
    // opens at 09:00 EDT with bob's turn.
    let primary = &parsed.schedules[0];
    assert_eq!(schedule::on_call_at(primary, utc("2026-03-06T17:59:00Z")).as_deref(), Some("alice"));
    assert_eq!(schedule::on_call_at(primary, utc("2026-03-07T12:00:00Z")).as_deref(), Some("carol"));
    assert_eq!(schedule::on_call_at(primary, utc("2026-03-09T12:00:00Z")), None);
    assert_eq!(schedule::on_call_at(primary, utc("2026-03-09T13:00:00Z")).as_deref(), Some("bob"));
    assert!(tocsin_core::escalation::validate(&parsed.escalation_policies[0]).is_ok());
}

/// Users `alice` and `bob` (with contact methods), then `rest` from line 9.
fn on_call(rest: &str) -> String {
    format!(
        "users:\n  - id: alice\n    name: Alice\n    email: alice@example.com\n    contact_methods: [{{ id: alice-hook, kind: webhook, url: 'https://hooks.example.com/a' }}]\n  - id: bob\n    name: Bob\n    email: bob@example.com\n{rest}"
    )
}

/// A schedule `primary` in New York whose single layer `weekly` (line 13
/// on) has `layer` appended.
fn with_layer(layer: &str) -> String {
    on_call(&format!(
        "schedules:\n  - id: primary\n    time_zone: America/New_York\n    layers:\n      - id: weekly\n{layer}"
    ))
}

const LAYER_OK: &str = "        users: [alice, bob]\n        start: '2026-03-02T09:00:00'\n        turn: 1w\n";

#[test]
fn unknown_time_zones_name_the_path_and_the_value() {
    let text = on_call(
        "    time_zone: Europe/Berlln\nschedules:\n  - id: primary\n    time_zone: Mars/Olympus\n    layers:\n      - { id: a, users: [alice], start: '2026-03-02T09:00:00', turn: 1d, time_zone: america/new_york }\n",
    );
    assert_eq!(
        errors(&text),
        [
            error(
                9,
                16,
                "users[1].time_zone",
                "unknown time zone `Europe/Berlln`; expected an IANA name such as `America/New_York` or `UTC`"
            ),
            error(
                12,
                16,
                "schedules[0].time_zone",
                "unknown time zone `Mars/Olympus`; expected an IANA name such as `America/New_York` or `UTC`"
            ),
            error(
                14,
                85,
                "schedules[0].layers[0].time_zone",
                "unknown time zone `america/new_york`; expected an IANA name such as `America/New_York` or `UTC`"
            ),
        ]
    );
}

#[test]
fn references_to_users_and_schedules_must_be_declared() {
    let text = on_call(
        "schedules:\n  - id: primary\n    time_zone: UTC\n    layers:\n      - { id: a, users: [alice, dave], start: '2026-03-02T09:00:00', turn: 1d }\n    overrides:\n      - { user: erin, start: '2026-03-06T18:00:00Z', end: '2026-03-09T09:00:00Z' }\nescalation_policies:\n  - id: p\n    levels:\n      - { targets: [{ user: frank }, { schedule: secondary }, { schedule: primary }], escalate_after: 5m }\nservices:\n  - { id: checkout, name: Checkout, escalation_policy: checkout-primary }\n",
    );
    assert_eq!(
        errors(&text),
        [
            error(13, 33, "schedules[0].layers[0].users[1]", "user `dave` is not declared under `users`"),
            error(15, 17, "schedules[0].overrides[0].user", "user `erin` is not declared under `users`"),
            error(
                19,
                29,
                "escalation_policies[0].levels[0].targets[0].user",
                "user `frank` is not declared under `users`"
            ),
            error(
                19,
                50,
                "escalation_policies[0].levels[0].targets[1].schedule",
                "schedule `secondary` is not declared under `schedules`"
            ),
            error(
                21,
                56,
                "services[0].escalation_policy",
                "escalation policy `checkout-primary` is not declared under `escalation_policies`"
            ),
        ]
    );
}

#[test]
fn an_empty_rotation_is_rejected_but_overlapping_layers_are_fine() {
    assert_eq!(
        errors(&with_layer("        users: []\n        start: '2026-03-02T09:00:00'\n        turn: 1w\n")),
        [error(14, 16, "schedules[0].layers[0].users", "a rotation needs at least one user")]
    );
    // Two always-active layers over the same time, and two overlapping
    // overrides: later layers and later overrides win.
    let parsed = catalog(&with_layer(&format!(
        "{LAYER_OK}      - {{ id: days, users: [bob], start: '2026-03-02T09:00:00', turn: 1d }}\n    overrides:\n      - {{ user: alice, start: '2026-03-05T00:00:00Z', end: '2026-03-07T00:00:00Z' }}\n      - {{ user: bob, start: '2026-03-06T00:00:00Z', end: '2026-03-08T00:00:00Z' }}\n"
    )));
    let primary = &parsed.schedules[0];
    assert_eq!(primary.layers.len(), 2);
    assert_eq!(primary.overrides.iter().map(|o| o.created_seq).collect::<Vec<_>>(), [0, 1]);
    assert_eq!(schedule::on_call_at(primary, utc("2026-03-03T12:00:00Z")).as_deref(), Some("bob"));
    assert_eq!(schedule::on_call_at(primary, utc("2026-03-05T12:00:00Z")).as_deref(), Some("alice"));
    assert_eq!(schedule::on_call_at(primary, utc("2026-03-06T12:00:00Z")).as_deref(), Some("bob"));
}

#[test]
fn turns_keep_their_unit() {
    let turn = |turn: &str| {
        let text =
            with_layer(&format!("        users: [alice]\n        start: '2026-03-02T09:00'\n        turn: {turn}\n"));
        catalog(&text).schedules[0].layers[0].turn
    };
    assert_eq!(turn("12h"), Turn::Hours(12));
    assert_eq!(turn("24h"), Turn::Hours(24));
    assert_eq!(turn("1d"), Turn::Days(1));
    assert_eq!(turn("2w"), Turn::Weeks(2));
}

#[test]
fn layer_values_are_checked() {
    let text = with_layer(
        "        users: [alice]\n        start: '2026-03-02T09:00:00Z'\n        turn: 90m\n        handoff: 9am\n        end: '2026-06-01'\n      - id: weekly\n        users: [bob]\n        start: '2026-03-02T09:00:00'\n        turn: 0d\n        handoff: '10:00'\n        end: '2026-03-01T00:00:00Z'\n",
    );
    assert_eq!(
        errors(&text),
        [
            error(
                15,
                16,
                "schedules[0].layers[0].start",
                "expected a local date and time like `2026-03-02T09:00:00` (no offset: it is read in the layer's time zone), found `2026-03-02T09:00:00Z`"
            ),
            error(
                16,
                15,
                "schedules[0].layers[0].turn",
                "a turn is a whole number of hours, days or weeks, like `12h`, `1d` or `1w`; found `90m`"
            ),
            error(17, 18, "schedules[0].layers[0].handoff", "expected a time of day like `09:00`, found `9am`"),
            error(
                18,
                14,
                "schedules[0].layers[0].end",
                "expected an RFC 3339 instant with an offset, like `2026-03-06T18:00:00Z`, found `2026-06-01`"
            ),
            error(19, 13, "schedules[0].layers[1].id", "duplicate layer id `weekly` (first defined at line 13)"),
            error(22, 15, "schedules[0].layers[1].turn", "a turn must be longer than zero"),
            error(
                23,
                18,
                "schedules[0].layers[1].handoff",
                "must equal the time of day of start (09:00:00), the rotation's first handoff"
            ),
            error(24, 14, "schedules[0].layers[1].end", "must be after the layer's start"),
        ]
    );
}

#[test]
fn restrictions_are_spelled_as_documented() {
    let text = with_layer(&format!(
        "{LAYER_OK}        restrictions:\n          - {{ kind: weekly, from: mon 9am, to: 'fri 17:00' }}\n          - {{ kind: daily, from: '9:00', to: '17:00' }}\n          - {{ kind: hourly, from: '09:00', to: '10:00' }}\n          - {{ kind: daily, from: '22:00', to: '22:00' }}\n          - {{ kind: weekly, from: 'funday 09:00', to: 'fri 17:00' }}\n"
    ));
    assert_eq!(
        errors(&text),
        [
            error(
                18,
                35,
                "schedules[0].layers[0].restrictions[0].from",
                "expected a weekday and a time of day like `mon 09:00`, found `mon 9am`"
            ),
            error(
                19,
                34,
                "schedules[0].layers[0].restrictions[1].from",
                "expected a time of day like `09:00`, found `9:00`"
            ),
            error(
                20,
                21,
                "schedules[0].layers[0].restrictions[2].kind",
                "unknown variant `hourly`, expected one of daily, weekly"
            ),
            error(
                22,
                35,
                "schedules[0].layers[0].restrictions[4].from",
                "expected a weekday and a time of day like `mon 09:00`, found `funday 09:00`"
            ),
        ]
    );
    // With the spelling fixed, the domain's rule about empty windows applies.
    let text = with_layer(&format!(
        "{LAYER_OK}        restrictions:\n          - {{ kind: daily, from: '22:00', to: '06:00' }}\n          - {{ kind: daily, from: '22:00', to: '22:00' }}\n"
    ));
    assert_eq!(errors(&text), [error(19, 13, "schedules[0].layers[0].restrictions[1]", "from and to must differ")]);
    let parsed = catalog(&with_layer(&format!(
        "{LAYER_OK}        restrictions: [{{ kind: daily, from: '22:00', to: '06:00' }}, {{ kind: weekly, from: 'Saturday 10:00', to: 'sun 10:00:30' }}]\n"
    )));
    assert_eq!(
        parsed.schedules[0].layers[0].restrictions,
        [
            Restriction::Daily { from: hm(22, 0), to: hm(6, 0) },
            Restriction::Weekly {
                from: (Weekday::Sat, hm(10, 0)),
                to: (Weekday::Sun, NaiveTime::from_hms_opt(10, 0, 30).unwrap())
            },
        ]
    );
}

#[test]
fn overrides_are_instants_that_end_after_they_start() {
    let text = with_layer(&format!(
        "{LAYER_OK}    overrides:\n      - {{ user: bob, start: '2026-03-06 18:00', end: '2026-03-09T09:00:00Z' }}\n      - {{ user: bob, start: '2026-03-09T09:00:00+01:00', end: '2026-03-09T08:00:00Z' }}\n"
    ));
    assert_eq!(
        errors(&text),
        [
            error(
                18,
                29,
                "schedules[0].overrides[0].start",
                "expected an RFC 3339 instant with an offset, like `2026-03-06T18:00:00Z`, found `2026-03-06 18:00`"
            ),
            error(19, 63, "schedules[0].overrides[1].end", "must be after the override's start"),
        ]
    );
}

#[test]
fn escalate_after_must_be_greater_than_zero() {
    let text = on_call(
        "escalation_policies:\n  - id: p\n    levels:\n      - { targets: [{ user: alice }], escalate_after: 0s }\n      - { targets: [], escalate_after: 0m }\n  - { id: q, levels: [] }\n",
    );
    assert_eq!(
        errors(&text),
        [
            error(
                12,
                55,
                "escalation_policies[0].levels[0].escalate_after",
                "duration must be greater than zero, got `0s`"
            ),
            error(13, 20, "escalation_policies[0].levels[1].targets", "needs at least one user or schedule to page"),
            error(
                13,
                40,
                "escalation_policies[0].levels[1].escalate_after",
                "duration must be greater than zero, got `0m`"
            ),
            error(
                14,
                22,
                "escalation_policies[1].levels",
                "a policy needs at least one level, or nobody would be paged"
            ),
        ]
    );
}

#[test]
fn policy_shapes_are_checked() {
    let text = on_call(
        "escalation_policies:\n  - id: p\n    repeat: -1\n    levels:\n      - { targets: [{ user: alice, schedule: primary }, {}], escalate_after: 5m }\n      - { targets: [{ user: alice }] }\n  - { id: p, repeat: 'two', levels: [{ targets: [{ user: bob }], escalate_after: 1m }] }\n",
    );
    assert_eq!(
        errors(&text),
        [
            error(11, 13, "escalation_policies[0].repeat", "expected a whole number from 0 to 4294967295, found `-1`"),
            error(
                13,
                21,
                "escalation_policies[0].levels[0].targets[0]",
                "a target names exactly one of `user` or `schedule`"
            ),
            error(
                13,
                57,
                "escalation_policies[0].levels[0].targets[1]",
                "a target names exactly one of `user` or `schedule`"
            ),
            error(14, 9, "escalation_policies[0].levels[1]", "missing field `escalate_after`"),
            error(15, 11, "escalation_policies[1].id", "duplicate escalation policy id `p` (first defined at line 10)"),
            error(15, 22, "escalation_policies[1].repeat", "expected a number, found a string"),
        ]
    );
}

#[test]
fn durations_must_be_well_formed() {
    let text = on_call(
        "    notification_rules: [{ contact_method: bob-hook, after: -5m }]\n    contact_methods: [{ id: bob-hook, kind: slack, url: 'https://hooks.example.com/b' }]\nescalation_policies:\n  - { id: p, levels: [{ targets: [{ user: alice }], escalate_after: 5 min }] }\nservices:\n  - { id: a, name: A, ack_timeout: 0s }\n  - { id: b, name: B, ack_timeout: soon }\nschedules:\n  - { id: s, time_zone: UTC, layers: [{ id: l, users: [alice], start: '2026-03-02T09:00:00', turn: 1.5h }] }\n",
    );
    assert_eq!(
        errors(&text),
        [
            error(
                9,
                61,
                "users[1].notification_rules[0].after",
                "negative duration `-5m`; durations count forward, drop the `-`"
            ),
            error(
                12,
                69,
                "escalation_policies[0].levels[0].escalate_after",
                "unknown unit ` min` in `5 min`; use s, m, h, d or w"
            ),
            error(
                14,
                36,
                "services[0].ack_timeout",
                "duration must be greater than zero, got `0s`; or write `off` for no acknowledgement timeout"
            ),
            error(
                15,
                36,
                "services[1].ack_timeout",
                "expected a number at `soon` in `soon`; write for example `5m`; or write `off` for no acknowledgement timeout"
            ),
            error(
                17,
                100,
                "schedules[0].layers[0].turn",
                "fractional amount in `1.5h`; use whole numbers, for example `1h30m` instead of `1.5h`"
            ),
        ]
    );
}

#[test]
fn ack_timeout_defaults_to_30_minutes_and_may_be_off() {
    let parsed = catalog(
        "services:\n  - { id: a, name: A }\n  - { id: b, name: B, ack_timeout: off }\n  - { id: c, name: C, ack_timeout: 90s }\n",
    );
    let timeouts: Vec<Option<Duration>> = parsed.services.iter().map(|s| s.ack_timeout).collect();
    assert_eq!(timeouts, [Some(Duration::minutes(30)), None, Some(Duration::seconds(90))]);
}

#[test]
fn retention_defaults_may_be_changed_or_turned_off() {
    use tocsin_core::retention::Retention;
    assert_eq!(catalog("teams: []\n").retention, Retention::default());
    let parsed = catalog("retention:\n  alert_payloads: 7d\n  delivery_attempts: off\n");
    assert_eq!(parsed.retention, Retention { alert_payloads: Some(Duration::days(7)), delivery_attempts: None });
    let parsed = catalog("retention: { delivery_attempts: 12h }\n");
    assert_eq!(parsed.retention.alert_payloads, Retention::default().alert_payloads);
    assert_eq!(parsed.retention.delivery_attempts, Some(Duration::hours(12)));
}

#[test]
fn retention_ages_are_positive_durations_or_off() {
    let text = "retention:\n  alert_payloads: 0d\n  delivery_attempts: forever\n  audit: 1d\n";
    assert_eq!(
        errors(text),
        [
            error(
                2,
                19,
                "retention.alert_payloads",
                "duration must be greater than zero, got `0d`; or write `off` to keep it forever"
            ),
            error(
                3,
                22,
                "retention.delivery_attempts",
                "expected a number at `forever` in `forever`; write for example `5m`; or write `off` to keep it forever"
            ),
            error(4, 3, "retention.audit", "unknown field `audit`, expected one of alert_payloads, delivery_attempts"),
        ]
    );
}

#[test]
fn rules_may_only_use_the_users_own_contact_methods() {
    let text = on_call(
        "    contact_methods: [{ id: bob-mail, kind: email, address: bob@example.com }]\n    notification_rules:\n      - { contact_method: alice-hook, after: 0s }\n      - { contact_method: bob-pager, after: 1m }\n      - { contact_method: bob-mail, after: 2m }\n      - { contact_method: bob-mail, after: 120s }\n",
    );
    assert_eq!(
        errors(&text),
        [
            error(
                11,
                27,
                "users[1].notification_rules[0].contact_method",
                "contact method `alice-hook` belongs to user `alice`; a notification rule may only use its own user's contact methods"
            ),
            error(
                12,
                27,
                "users[1].notification_rules[1].contact_method",
                "contact method `bob-pager` is not declared under this user's `contact_methods`"
            ),
            error(
                14,
                9,
                "users[1].notification_rules[3]",
                "repeats users[1].notification_rules[2] (same contact method, same delay)"
            ),
        ]
    );
}

#[test]
fn contact_methods_are_checked() {
    let text = "users:\n  - id: alice\n    name: Alice\n    email: alice@example.com\n    contact_methods:\n      - { id: hook, kind: webhook, url: 'ftp://secret.example.com/x' }\n      - { id: slack, kind: slack, url: 'https://' }\n      - { id: mail, kind: email, address: alice.example.com }\n      - { id: mail2, kind: email, url: 'https://x.example.com' }\n      - { id: pager, kind: pager, number: 5 }\n  - id: bob\n    name: Bob\n    email: bob@example.com\n    contact_methods: [{ id: hook, kind: webhook, url: 'http://127.0.0.1:9000/hook' }]\n";
    let found = errors(text);
    assert_eq!(
        found,
        [
            error(
                6,
                41,
                "users[0].contact_methods[0].url",
                "invalid URL: expected `http://` or `https://` followed by a host"
            ),
            error(
                7,
                40,
                "users[0].contact_methods[1].url",
                "invalid URL: expected `http://` or `https://` followed by a host"
            ),
            error(
                8,
                43,
                "users[0].contact_methods[2].address",
                "invalid email `alice.example.com`: expected one `@` with text on both sides"
            ),
            error(9, 9, "users[0].contact_methods[3]", "missing field `address`"),
            error(
                9,
                35,
                "users[0].contact_methods[3].url",
                "`url` does not apply to email contact methods, which take `address`"
            ),
            error(
                10,
                28,
                "users[0].contact_methods[4].kind",
                "unknown variant `pager`, expected one of webhook, slack, email"
            ),
            error(
                10,
                35,
                "users[0].contact_methods[4].number",
                "unknown field `number`, expected one of id, kind, url, address"
            ),
            error(
                14,
                29,
                "users[1].contact_methods[0].id",
                "duplicate contact method id `hook` (first defined at line 6)"
            ),
        ]
    );
    assert!(found.iter().all(|e| !e.message.contains("secret")));
}

#[test]
fn smtp_settings_are_checked_and_the_password_is_never_shown() {
    let text = "notifications:\n  smtp:\n    host: ''\n    port: 70000\n    from: tocsin\n    password: hunter2\n    starttls: 'yes'\n";
    let found = errors(text);
    assert_eq!(
        found,
        [
            error(3, 5, "notifications.smtp", "`username` and `password` go together: set both or neither"),
            error(3, 11, "notifications.smtp.host", "host must not be empty or contain spaces"),
            error(4, 11, "notifications.smtp.port", "expected a whole number from 1 to 65535, found `70000`"),
            error(5, 11, "notifications.smtp.from", "invalid email `tocsin`: expected one `@` with text on both sides"),
            error(7, 15, "notifications.smtp.starttls", "expected a boolean, found a string"),
        ]
    );
    assert!(found.iter().all(|e| !e.to_string().contains("hunter2")));
    let parsed = catalog(
        "notifications:\n  smtp: { host: mail.example.com, port: 587, from: tocsin@example.com, username: tocsin, password: hunter2, starttls: true }\n",
    );
    let smtp = parsed.notifications.smtp.unwrap();
    assert_eq!((smtp.port, smtp.starttls, smtp.password.as_deref()), (587, true, Some("hunter2")));
    assert!(!format!("{smtp:?}").contains("hunter2"));
    assert_eq!(catalog("notifications:\n").notifications, Notifications::default());
}

#[test]
fn on_call_ids_are_checked_and_unique() {
    let text = on_call(
        "schedules:\n  - { id: Primary, time_zone: UTC }\n  - { id: s, time_zone: UTC }\n  - { id: s, time_zone: UTC }\n",
    );
    assert_eq!(
        errors(&text),
        [
            error(10, 11, "schedules[0].id", "id `Primary` must start with a lowercase letter or a digit"),
            error(12, 11, "schedules[2].id", "duplicate schedule id `s` (first defined at line 11)"),
        ]
    );
}

#[test]
fn references_are_not_checked_when_the_user_list_is_broken() {
    let text = "users:\n  - { id: alice, name: Alice }\nschedules:\n  - { id: s, time_zone: UTC, layers: [{ id: l, users: [alice], start: '2026-03-02T09:00:00', turn: 1d }] }\n";
    assert_eq!(errors(text), [error(2, 5, "users[0]", "missing field `email`")]);
}

// --- load -----------------------------------------------------------------

#[test]
fn load_rejects_oversized_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.yaml");
    std::fs::write(&path, vec![b'#'; MAX_FILE_BYTES + 1]).unwrap();
    let ConfigErrors(found) = load(&path).unwrap_err();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].file, path.display().to_string());
    assert_eq!((found[0].line, found[0].column), (None, None));
    assert_eq!(found[0].message, format!("the file is larger than the {MAX_FILE_BYTES}-byte limit"));
}

#[test]
fn load_accepts_a_file_of_exactly_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.yaml");
    let mut text = b"teams: []\n".to_vec();
    text.resize(MAX_FILE_BYTES, b'\n');
    std::fs::write(&path, text).unwrap();
    assert_eq!(load(&path).unwrap(), Catalog::default());
}

#[test]
fn load_points_at_invalid_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.yaml");
    std::fs::write(&path, b"teams:\n  - { id: a, name: Caf\xe9 }\n").unwrap();
    let ConfigErrors(found) = load(&path).unwrap_err();
    assert_eq!(
        found,
        [ConfigError {
            file: path.display().to_string(),
            line: Some(2),
            column: Some(23),
            path: String::new(),
            message: "the file is not valid UTF-8".to_owned(),
        }]
    );
}

#[test]
fn load_reports_unreadable_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.yaml");
    let ConfigErrors(found) = load(&path).unwrap_err();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].line, None);
    assert!(found[0].message.starts_with("cannot read the file: "), "{}", found[0]);
}

// --- accounts: roles and team members ------------------------------------

#[test]
fn roles_default_to_responder_and_admin_stays_admin() {
    let c = catalog(
        "users:\n  - { id: alice, name: A, email: a@x.io, role: viewer }\n  - { id: bob, name: B, email: b@x.io }\n  - { id: admin, name: Root, email: r@x.io }\n",
    );
    let roles: Vec<_> = c.users.iter().map(|u| (u.id.as_str(), u.role)).collect();
    assert_eq!(roles, [("alice", Role::Viewer), ("bob", Role::Responder), ("admin", Role::Admin)]);
}

#[test]
fn bad_roles_are_reported_at_the_role() {
    assert_eq!(
        errors(
            "users:\n  - { id: alice, name: A, email: a@x.io, role: owner }\n  - { id: admin, name: R, email: r@x.io, role: viewer }\n"
        ),
        [
            error(2, 48, "users[0].role", "unknown variant `owner`, expected one of viewer, responder, manager, admin"),
            error(
                3,
                48,
                "users[1].role",
                "the `admin` account always has the admin role; remove `role` or set it to `admin`"
            ),
        ]
    );
}

#[test]
fn team_members_are_declared_users_listed_once() {
    let users = "users:\n  - { id: alice, name: A, email: a@x.io }\n";
    let c = catalog(&format!("{users}teams:\n  - {{ id: ops, name: Ops, members: [alice] }}\n"));
    assert_eq!(c.teams[0].members, ["alice"]);
    assert_eq!(
        errors(&format!("{users}teams:\n  - id: ops\n    name: Ops\n    members: [alice, carol, alice]\n")),
        [
            error(6, 22, "teams[0].members[1]", "user `carol` is not declared under `users`"),
            error(6, 29, "teams[0].members[2]", "user `alice` is listed twice in this team"),
        ]
    );
}

mod noise;
