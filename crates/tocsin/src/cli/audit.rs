//! `tocsin audit list|verify`: the hash-chained audit log (admin).

use std::process::ExitCode;

use tocsin_client::{AuditBrokenLink, AuditEntry, AuditVerification};

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
    /// Check every hash chain of the audit log; exits 1 and names the first
    /// broken link if one is broken.
    Verify,
}

pub async fn run_audit(opts: &ClientOpts, cmd: AuditCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCmd::List { after, limit } => list(opts, after, limit).await.map(|()| ExitCode::SUCCESS),
        AuditCmd::Verify => {
            let v = opts.client()?.verify_audit().await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&v)?,
                Output::Table => emit(&verify_report(&v))?,
            }
            if let Some(b) = &v.first_broken {
                eprintln!("error: {}", broken_link(b));
            }
            Ok(if v.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}

async fn list(opts: &ClientOpts, after: i64, limit: Option<u32>) -> anyhow::Result<()> {
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

fn broken_link(b: &AuditBrokenLink) -> String {
    let place = match b.id {
        Some(id) => format!("shard {}, entry {id}", b.shard),
        None => format!("shard {}, its head (entries deleted from the end)", b.shard),
    };
    format!("audit chain broken at {place}: {} expected {}, found {}", b.field, b.expected, b.found)
}

fn verify_report(v: &AuditVerification) -> String {
    let mut t = Table::new(["SHARD", "CHECKED", "STATUS"]);
    for s in &v.shards {
        t.row([s.shard.to_string(), s.checked.to_string(), if s.broken { "BROKEN" } else { "ok" }.to_string()]);
    }
    let mut out = t.render();
    let total: u64 = v.shards.iter().map(|s| s.checked).sum();
    match &v.first_broken {
        None => out.push_str(&format!("Audit log verified: {total} entries in {} chains.\n", v.shards.len())),
        Some(b) => {
            out.push_str(&broken_link(b));
            out.push('\n');
        }
    }
    out
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
            shard: 0,
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

    #[test]
    fn a_broken_chain_is_named() {
        use tocsin_client::AuditShardCheck;
        let broken =
            AuditBrokenLink { shard: 3, id: Some(42), field: "hash".into(), expected: "aa".into(), found: "bb".into() };
        let v = AuditVerification {
            ok: false,
            shards: vec![AuditShardCheck { shard: 3, checked: 7, broken: true }],
            first_broken: Some(broken),
        };
        assert_eq!(
            verify_report(&v),
            "SHARD  CHECKED  STATUS\n\
             3      7        BROKEN\n\
             audit chain broken at shard 3, entry 42: hash expected aa, found bb\n"
        );
    }
}
