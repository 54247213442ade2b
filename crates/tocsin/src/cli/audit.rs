//! `tocsin audit list`: the hash-chained audit log (admin).

use tocsin_client::AuditEntry;

use super::table::Table;
use super::{ClientOpts, Output, emit, emit_json, fmt_time};

#[derive(clap::Subcommand, Debug, Clone)]
pub enum AuditCmd {
    /// List audit entries, oldest first.
    List {
        /// Only entries after this id (the last one already seen).
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// At most this many entries.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=500))]
        limit: Option<u32>,
    },
}

pub async fn run_audit(opts: &ClientOpts, cmd: AuditCmd) -> anyhow::Result<()> {
    let AuditCmd::List { after, limit } = cmd;
    let entries = opts.client()?.audit_log(after, limit).await.map_err(|e| opts.fail(e))?;
    match opts.output {
        Output::Json => emit_json(&entries),
        Output::Table if entries.is_empty() => emit("No audit entries.\n"),
        Output::Table => {
            let mut out = audit_table(&entries).render();
            if let Some(last) = entries.last() {
                out.push_str(&format!("Next: --after {}\n", last.id));
            }
            emit(&out)
        }
    }
}

fn audit_table(entries: &[AuditEntry]) -> Table {
    let mut t = Table::new(["ID", "AT", "ACTOR", "ACTION", "TARGET", "DETAILS"]);
    for e in entries {
        let r = &e.record;
        let details =
            if r.details.as_object().is_some_and(|o| o.is_empty()) { String::new() } else { r.details.to_string() };
        t.row([e.id.to_string(), fmt_time(&r.at), r.actor.clone(), r.action.clone(), r.target.clone(), details]);
    }
    t
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use serde_json::json;
    use tocsin_client::AuditRecord;

    use super::*;

    #[test]
    fn entries_one_per_line() {
        let at = DateTime::parse_from_rfc3339("2026-03-04T15:00:00Z").unwrap().with_timezone(&Utc);
        let entry = |id, action: &str, details| AuditEntry {
            id,
            record: AuditRecord {
                at,
                actor: "user:alice".into(),
                action: action.into(),
                target: "incident:7".into(),
                details,
            },
            prev_hash: String::new(),
            hash: String::new(),
        };
        assert_eq!(
            audit_table(&[entry(3, "incident.acknowledge", json!({})), entry(4, "incident.note", json!({"len": 3}))])
                .render(),
            "ID  AT                    ACTOR       ACTION                TARGET      DETAILS\n\
             3   2026-03-04T15:00:00Z  user:alice  incident.acknowledge  incident:7\n\
             4   2026-03-04T15:00:00Z  user:alice  incident.note         incident:7  {\"len\":3}\n"
        );
    }
}
