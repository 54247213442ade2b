//! `tocsin config validate|plan|apply FILE`. `validate` checks a file
//! without a server. `plan` and `apply` validate here first, so every error
//! points at file:line:column before anything is sent; then the server diffs
//! the file against the version in force (`plan`) or stores it as the next
//! version (`apply`, admin).

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};
use tocsin::plural;
use tocsin_client::{ConfigChanges, ConfigPlan};
use tocsin_config::{ConfigError, ConfigWarning};
use tocsin_core::model::Catalog;

use super::{ClientOpts, Output, emit, emit_json};

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
                    "routed_integrations": catalog.routed_integrations.len(),
                    "routes": catalog.routes.len(),
                    "inhibit_rules": catalog.inhibit_rules.len(),
                    "heartbeats": catalog.heartbeats.len(),
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

/// `1 team, 2 users, 2 services, …`; the noise-control sections only when
/// the file has them.
fn declared(c: &Catalog) -> String {
    let mut parts = vec![
        plural(c.teams.len(), "team", "teams"),
        plural(c.users.len(), "user", "users"),
        plural(c.services.len(), "service", "services"),
        plural(c.integrations.len(), "integration", "integrations"),
        plural(c.schedules.len(), "schedule", "schedules"),
        plural(c.escalation_policies.len(), "escalation policy", "escalation policies"),
    ];
    let optional = [
        (c.routed_integrations.len(), "routed integration", "routed integrations"),
        (c.routes.len(), "top-level route", "top-level routes"),
        (c.inhibit_rules.len(), "inhibit rule", "inhibit rules"),
        (c.heartbeats.len(), "heartbeat", "heartbeats"),
    ];
    parts.extend(optional.into_iter().filter(|(n, _, _)| *n > 0).map(|(n, one, many)| plural(n, one, many)));
    parts.join(", ")
}

fn error_json(e: &ConfigError) -> Value {
    json!({"file": e.file, "line": e.line, "column": e.column, "path": e.path, "message": e.message})
}

fn warning_json(w: &ConfigWarning) -> Value {
    json!({"file": w.file, "line": w.line, "column": w.column, "path": w.path, "message": w.message})
}

/// The file's text after local validation, or the validation errors.
fn validated_source(file: &Path) -> anyhow::Result<Result<String, tocsin_config::ConfigErrors>> {
    let text = match tocsin_config::read_source(file) {
        Ok(text) => text,
        Err(errors) => return Ok(Err(errors)),
    };
    Ok(tocsin_config::parse(&file.display().to_string(), &text).map(|_| text))
}

/// `teams: + ops; users: ~ alice, - carol` as lines a person reads.
fn render_changes(changes: &ConfigChanges) -> String {
    let sections = [
        ("teams", &changes.teams),
        ("users", &changes.users),
        ("services", &changes.services),
        ("integrations", &changes.integrations),
        ("schedules", &changes.schedules),
        ("escalation policies", &changes.escalation_policies),
        ("routed integrations", &changes.routed_integrations),
        ("heartbeats", &changes.heartbeats),
    ];
    let mut out = String::new();
    for (name, section) in sections {
        for (mark, ids) in [("+", &section.added), ("~", &section.changed), ("-", &section.removed)] {
            for id in ids {
                let _ = writeln!(out, "  {mark} {name}/{id}");
            }
        }
    }
    if changes.notifications_changed {
        out.push_str("  ~ notifications\n");
    }
    if changes.retention_changed {
        out.push_str("  ~ retention\n");
    }
    if changes.routes_changed {
        out.push_str("  ~ routes\n");
    }
    if changes.inhibit_rules_changed {
        out.push_str("  ~ inhibit rules\n");
    }
    out
}

fn render_plan(plan: &ConfigPlan) -> String {
    let mut out = format!("against version {}: {}\n", plan.current_version, plan.summary);
    out.push_str(&render_changes(&plan.changes));
    for warning in &plan.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    out
}

/// Returns false when the file does not validate (errors already printed).
pub async fn run_config_plan(opts: &ClientOpts, file: &Path) -> anyhow::Result<bool> {
    let source = match validated_source(file)? {
        Ok(source) => source,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(false);
        }
    };
    let client = opts.client()?;
    let plan = client.plan_config(&file.display().to_string(), &source).await.map_err(|e| opts.fail(e))?;
    match opts.output {
        Output::Json => emit_json(&plan)?,
        Output::Table => emit(&render_plan(&plan))?,
    }
    Ok(true)
}

/// Returns false when the file does not validate (errors already printed);
/// the running version then stays.
pub async fn run_config_apply(opts: &ClientOpts, file: &Path) -> anyhow::Result<bool> {
    let source = match validated_source(file)? {
        Ok(source) => source,
        Err(errors) => {
            eprintln!("{errors}\nnothing was applied");
            return Ok(false);
        }
    };
    let client = opts.client()?;
    let applied = client.apply_config(&file.display().to_string(), &source).await.map_err(|e| opts.fail(e))?;
    match opts.output {
        Output::Json => emit_json(&applied)?,
        Output::Table => {
            let mut out = if applied.created {
                format!("applied version {}: {}\n", applied.version.version, applied.version.summary)
            } else {
                format!("unchanged: version {} is this file already\n", applied.version.version)
            };
            out.push_str(&render_changes(&applied.changes));
            for warning in &applied.warnings {
                let _ = writeln!(out, "warning: {warning}");
            }
            emit(&out)?;
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_client::SectionChanges;

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
            "1 team, 2 users, 3 services, 5 integrations, 2 schedules, 1 escalation policy, 1 routed integration, \
             1 top-level route, 1 inhibit rule, 1 heartbeat"
        );
    }

    #[test]
    fn changes_read_as_marked_lines() {
        let changes = ConfigChanges {
            users: SectionChanges { added: vec!["dave".into()], changed: vec!["bob".into()], removed: vec![] },
            schedules: SectionChanges { removed: vec!["old".into()], ..SectionChanges::default() },
            notifications_changed: true,
            ..ConfigChanges::default()
        };
        assert_eq!(render_changes(&changes), "  + users/dave\n  ~ users/bob\n  - schedules/old\n  ~ notifications\n");
        let noise = ConfigChanges {
            heartbeats: SectionChanges { added: vec!["nightly-backup".into()], ..SectionChanges::default() },
            routes_changed: true,
            inhibit_rules_changed: true,
            ..ConfigChanges::default()
        };
        assert_eq!(render_changes(&noise), "  + heartbeats/nightly-backup\n  ~ routes\n  ~ inhibit rules\n");
    }
}
