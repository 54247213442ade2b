//! `tocsin silence add|list|expire`: silences through Tocsin's Alertmanager
//! API v2, the same as `amtool` would.

use chrono::Utc;
use tocsin_client::{GettableSilence, PostableSilence, SilenceMatcher};
use tocsin_core::duration::parse_positive_duration;
use tocsin_core::matchers::{MatchOp, Matchers};

use super::table::Table;
use super::{ClientOpts, Output, emit, emit_json, fmt_time};

#[derive(clap::Subcommand, Debug, Clone)]
pub enum SilenceCmd {
    /// Add a silence; prints its id.
    Add {
        /// Matchers in Alertmanager's syntax, each an argument or several in
        /// one: `alertname=DiskFull 'service=~"check.*"'`.
        #[arg(required = true)]
        matchers: Vec<String>,
        /// Why (shown with the silence and in the audit log).
        #[arg(long)]
        comment: String,
        /// How long from now (`2h`, `30m`, `1d`).
        #[arg(long, default_value = "1h")]
        duration: String,
        /// Who (default: the user the token acts as).
        #[arg(long)]
        author: Option<String>,
    },
    /// List silences: active and pending ones, or with --expired all.
    List {
        #[arg(long)]
        expired: bool,
    },
    /// End a silence now.
    Expire {
        /// The silence's id (as `silence list` shows it).
        id: String,
    },
}

fn wire(matchers: &Matchers) -> Vec<SilenceMatcher> {
    matchers
        .iter()
        .map(|m| SilenceMatcher {
            name: m.name().to_string(),
            value: m.value().to_string(),
            is_regex: matches!(m.op(), MatchOp::Re | MatchOp::NotRe),
            is_equal: matches!(m.op(), MatchOp::Eq | MatchOp::Re),
        })
        .collect()
}

/// `name="value"` forms of a silence's matchers, for the table.
fn shown(matchers: &[SilenceMatcher]) -> String {
    let op = |m: &SilenceMatcher| match (m.is_regex, m.is_equal) {
        (false, true) => "=",
        (false, false) => "!=",
        (true, true) => "=~",
        (true, false) => "!~",
    };
    matchers.iter().map(|m| format!("{}{}{:?}", m.name, op(m), m.value)).collect::<Vec<_>>().join(", ")
}

pub async fn run_silence(opts: &ClientOpts, cmd: SilenceCmd) -> anyhow::Result<()> {
    let client = opts.client()?;
    match cmd {
        SilenceCmd::Add { matchers, comment, duration, author } => {
            let parsed = Matchers::parse(&matchers.join(", ")).map_err(|e| anyhow::anyhow!("matchers: {e}"))?;
            let duration = parse_positive_duration(&duration).map_err(|e| anyhow::anyhow!("--duration: {e}"))?;
            let author = match author {
                Some(a) => a,
                None => client.me().await.map_err(|e| opts.fail(e))?.person.id,
            };
            let now = Utc::now();
            let silence = PostableSilence {
                id: None,
                matchers: wire(&parsed),
                starts_at: now,
                ends_at: now + duration,
                created_by: author,
                comment,
            };
            let created = client.put_silence(&silence).await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&created),
                Output::Table => emit(&format!("{}\n", created.silence_id)),
            }
        }
        SilenceCmd::List { expired } => {
            let mut all = client.silences().await.map_err(|e| opts.fail(e))?;
            if !expired {
                all.retain(|s| s.status.state != "expired");
            }
            match opts.output {
                Output::Json => emit_json(&all),
                Output::Table if all.is_empty() => emit("No silences.\n"),
                Output::Table => emit(&silences_table(&all).render()),
            }
        }
        SilenceCmd::Expire { id } => {
            client.expire_silence(&id).await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&serde_json::json!({ "id": id, "expired": true })),
                Output::Table => emit(&format!("Expired silence {id}.\n")),
            }
        }
    }
}

fn silences_table(silences: &[GettableSilence]) -> Table {
    let mut t = Table::new(["ID", "STATE", "MATCHERS", "STARTS", "ENDS", "BY", "COMMENT"]);
    for s in silences {
        t.row([
            s.id.clone(),
            s.status.state.clone(),
            shown(&s.matchers),
            fmt_time(&s.starts_at),
            fmt_time(&s.ends_at),
            s.created_by.clone(),
            s.comment.clone(),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_go_out_with_alertmanagers_flags_and_come_back_readable() {
        let parsed = Matchers::parse(r#"alertname=DiskFull, service=~"check.*", env!="dev", team!~"a|b""#).unwrap();
        let sent = wire(&parsed);
        let flags: Vec<(bool, bool)> = sent.iter().map(|m| (m.is_regex, m.is_equal)).collect();
        assert_eq!(flags, [(false, true), (true, true), (false, false), (true, false)]);
        assert_eq!(shown(&sent), r#"alertname="DiskFull", service=~"check.*", env!="dev", team!~"a|b""#);
    }
}
