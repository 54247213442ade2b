//! `tocsin engine dead-letters|retry`: work the engine gave up on after too
//! many failures, and putting it back once the cause is fixed (admin).

use tocsin_client::{DeadLetter, DeadLettersQuery};

use super::table::Table;
use super::{ClientOpts, Output, emit, emit_json, fmt_opt_time, fmt_time, one_line};

#[derive(clap::Subcommand, Debug, Clone)]
pub enum EngineCmd {
    /// List dead letters, newest first: work that failed too often.
    DeadLetters {
        /// Page size.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=500))]
        limit: Option<u32>,
        /// Continue from the cursor printed by a previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Put a dead letter back: it is due now, with its attempts reset.
    Retry {
        /// The dead letter's id (as `engine dead-letters` shows it).
        id: i64,
    },
}

pub async fn run_engine(opts: &ClientOpts, cmd: EngineCmd) -> anyhow::Result<()> {
    let client = opts.client()?;
    match cmd {
        EngineCmd::DeadLetters { limit, cursor } => {
            let page = client.dead_letters(&DeadLettersQuery { cursor, limit }).await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&page),
                Output::Table if page.items.is_empty() => emit("No dead letters.\n"),
                Output::Table => {
                    let mut out = dead_letters_table(&page.items).render();
                    if let Some(next) = &page.next_cursor {
                        out.push_str(&format!("More: --cursor {next}\n"));
                    }
                    emit(&out)
                }
            }
        }
        EngineCmd::Retry { id } => {
            let item = client.retry_dead_letter(id).await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&item),
                Output::Table => emit(&format!("Dead letter {} ({}) is due again.\n", item.id, item.kind)),
            }
        }
    }
}

fn dead_letters_table(items: &[DeadLetter]) -> Table {
    let mut t = Table::new(["ID", "KIND", "LANE", "ATTEMPTS", "QUEUED", "DIED", "LAST ERROR"]);
    for d in items {
        t.row([
            d.id.to_string(),
            one_line(&d.kind),
            one_line(&d.lane),
            d.attempts.to_string(),
            fmt_time(&d.queued_at),
            fmt_opt_time(d.dead_at.as_ref(), "-"),
            one_line(d.last_error.as_deref().unwrap_or("-")),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use serde_json::json;

    use super::*;

    #[test]
    fn dead_letters_one_per_line_with_their_last_error() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let item = DeadLetter {
            id: 12,
            kind: "escalation.timer".into(),
            lane: "checkout".into(),
            payload: json!({"incident_id": 3}),
            attempts: 10,
            last_error: Some("stored data is corrupt:\nno timer".into()),
            queued_at: at("2026-03-04T15:00:00Z"),
            dead_at: Some(at("2026-03-04T15:08:31Z")),
        };
        assert_eq!(
            dead_letters_table(&[item]).render(),
            "ID  KIND              LANE      ATTEMPTS  QUEUED                DIED                  LAST ERROR\n\
             12  escalation.timer  checkout  10        2026-03-04T15:00:00Z  2026-03-04T15:08:31Z  stored data is corrupt: no timer\n"
        );
    }
}
