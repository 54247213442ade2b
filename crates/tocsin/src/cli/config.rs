//! `tocsin config plan|apply FILE`: config as code against a running server.
//! The file is validated here first, so every error points at file:line:column
//! before anything is sent; then the server diffs it against the version in
//! force (`plan`) or stores it as the next version (`apply`, admin).

use std::fmt::Write as _;
use std::path::Path;

use tocsin_client::{ConfigChanges, ConfigPlan};

use super::{ClientOpts, Output, emit, emit_json};

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
    fn changes_read_as_marked_lines() {
        let changes = ConfigChanges {
            users: SectionChanges { added: vec!["dave".into()], changed: vec!["bob".into()], removed: vec![] },
            schedules: SectionChanges { removed: vec!["old".into()], ..SectionChanges::default() },
            notifications_changed: true,
            ..ConfigChanges::default()
        };
        assert_eq!(render_changes(&changes), "  + users/dave\n  ~ users/bob\n  - schedules/old\n  ~ notifications\n");
    }
}
