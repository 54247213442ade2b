//! `tocsin config validate FILE`: checks a config file without a server.

use std::path::Path;

use serde_json::{Value, json};
use tocsin::plural;
use tocsin_config::{ConfigError, ConfigWarning};
use tocsin_core::model::Catalog;

use super::{Output, emit, emit_json};

/// Checks `file`; `Ok(false)` when it has errors (reported on stderr for
/// people, in the JSON on stdout for scripts).
pub fn run_validate(file: &Path, output: Output) -> anyhow::Result<bool> {
    let label = file.display().to_string();
    match (tocsin_config::load(file), output) {
        (Ok(catalog), Output::Table) => {
            for warning in tocsin_config::warnings(&label, &catalog) {
                eprintln!("{warning}");
            }
            emit(&format!("{label}: ok ({})\n", declared(&catalog)))?;
            Ok(true)
        }
        (Ok(catalog), Output::Json) => {
            let warnings: Vec<Value> = tocsin_config::warnings(&label, &catalog).iter().map(warning_json).collect();
            emit_json(&json!({
                "valid": true,
                "file": label,
                "warnings": warnings,
                "declared": {
                    "teams": catalog.teams.len(),
                    "users": catalog.users.len(),
                    "services": catalog.services.len(),
                    "integrations": catalog.integrations.len(),
                    "schedules": catalog.schedules.len(),
                    "escalation_policies": catalog.escalation_policies.len(),
                },
            }))?;
            Ok(true)
        }
        (Err(errors), Output::Table) => {
            eprintln!("{errors}");
            Ok(false)
        }
        (Err(errors), Output::Json) => {
            let errors: Vec<Value> = errors.0.iter().map(error_json).collect();
            emit_json(&json!({"valid": false, "file": label, "errors": errors, "warnings": []}))?;
            Ok(false)
        }
    }
}

/// `1 team, 2 users, 2 services, …`
fn declared(c: &Catalog) -> String {
    [
        plural(c.teams.len(), "team", "teams"),
        plural(c.users.len(), "user", "users"),
        plural(c.services.len(), "service", "services"),
        plural(c.integrations.len(), "integration", "integrations"),
        plural(c.schedules.len(), "schedule", "schedules"),
        plural(c.escalation_policies.len(), "escalation policy", "escalation policies"),
    ]
    .join(", ")
}

fn error_json(e: &ConfigError) -> Value {
    json!({"file": e.file, "line": e.line, "column": e.column, "path": e.path, "message": e.message})
}

fn warning_json(w: &ConfigWarning) -> Value {
    json!({"file": w.file, "line": w.line, "column": w.column, "path": w.path, "message": w.message})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_agree_with_their_nouns() {
        let one = "teams:\n  - { id: payments, name: Payments }\nusers:\n  - { id: alice, name: Alice, email: a@example.com }\n";
        assert_eq!(
            declared(&tocsin_config::parse("t.yaml", one).unwrap()),
            "1 team, 1 user, 0 services, 0 integrations, 0 schedules, 0 escalation policies"
        );
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/tocsin.yaml");
        assert_eq!(
            declared(&tocsin_config::load(Path::new(example)).unwrap()),
            "1 team, 2 users, 2 services, 5 integrations, 2 schedules, 1 escalation policy"
        );
    }
}
