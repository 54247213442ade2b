//! End-to-end tests of `parse` and `load`: each rule gets an input that
//! breaks it, and the assertions pin the exact file, line, column, path and
//! message.

use tocsin_core::model::{Catalog, IntegrationKind, IntegrationSpec, Service, Team, User};

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
        teams: vec![Team { id: "payments".into(), name: "Payments".into() }],
        users: vec![
            User { id: "alice".into(), name: "Alice Example".into(), email: "alice@example.com".into() },
            User { id: "bob".into(), name: "Bob Example".into(), email: "bob@example.com".into() },
        ],
        services: vec![
            Service {
                id: "checkout".into(),
                name: "Checkout API".into(),
                description: Some("Takes payment for baskets and confirms orders.".into()),
                team: Some("payments".into()),
            },
            Service { id: "search".into(), name: "Search".into(), description: None, team: None },
        ],
        integrations: vec![
            integration("checkout-pagerduty", "checkout", Pagerduty, "6f1d3c0e9b2a4f7c8d5e1a2b3c4d5e6f"),
            integration("checkout-alertmanager", "checkout", Alertmanager, "am-checkout-0123456789abcdef"),
            integration("checkout-prometheus", "checkout", Prometheus, "prom-checkout-0123456789abcdef"),
            integration("checkout-generic", "checkout", Generic, "generic-checkout-0123456789ab"),
            integration("search-pagerduty", "search", Pagerduty, "0a1b2c3d4e5f60718293a4b5c6d7e8f9"),
        ],
    }
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
fn empty_files_declare_nothing() {
    assert_eq!(catalog(""), Catalog::default());
    assert_eq!(catalog("# nothing yet\n"), Catalog::default());
    assert_eq!(catalog("teams:\nusers: ~\nservices: []\n"), Catalog::default());
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
            error(4, 5, "teams[0].colour", "unknown field `colour`, expected one of id, name"),
            error(5, 1, "owners", "unknown field `owners`, expected one of teams, users, services"),
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
