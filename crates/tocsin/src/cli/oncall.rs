//! `tocsin oncall`: who is on call now, or at `--at`, per schedule.

use chrono::{DateTime, Utc};
use tocsin_client::OnCall;

use super::table::Table;
use super::{ClientOpts, Output, emit, emit_json, fmt_time};

#[derive(clap::Args, Debug)]
pub struct OncallArgs {
    /// The instant to ask about (RFC 3339, e.g. 2026-03-06T18:00:00Z); default now.
    #[arg(long, value_parser = parse_instant)]
    pub at: Option<DateTime<Utc>>,
    /// Only this schedule; default every schedule.
    #[arg(long)]
    pub schedule: Option<String>,
}

fn parse_instant(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("`{s}` is not an RFC 3339 instant such as 2026-03-06T18:00:00Z"))
}

pub async fn run_oncall(opts: &ClientOpts, args: OncallArgs) -> anyhow::Result<()> {
    let client = opts.client()?;
    let ids = match args.schedule {
        Some(id) => vec![id],
        None => client.list_schedules().await.map_err(|e| opts.fail(e))?.into_iter().map(|s| s.id).collect(),
    };
    let mut answers = Vec::with_capacity(ids.len());
    for id in &ids {
        answers.push(client.oncall(id, args.at).await.map_err(|e| opts.fail(e))?);
    }
    match opts.output {
        Output::Json => emit_json(&answers),
        Output::Table if answers.is_empty() => emit("No schedules.\n"),
        Output::Table => emit(&oncall_table(&answers).render()),
    }
}

fn oncall_table(answers: &[OnCall]) -> Table {
    let mut t = Table::new(["SCHEDULE", "ON CALL", "AT"]);
    for a in answers {
        let who = if a.users.is_empty() { "(nobody)".to_string() } else { a.users.join(", ") };
        t.row([a.schedule.clone(), who, fmt_time(&a.at)]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn table_names_nobody_in_a_gap() {
        let at = Utc.with_ymd_and_hms(2026, 3, 7, 12, 0, 0).single().unwrap();
        let rows = [
            OnCall { schedule: "primary".into(), at, users: vec!["bob".into()] },
            OnCall { schedule: "db".into(), at, users: vec![] },
        ];
        assert_eq!(
            oncall_table(&rows).render(),
            "SCHEDULE  ON CALL   AT\nprimary   bob       2026-03-07T12:00:00Z\ndb        (nobody)  2026-03-07T12:00:00Z\n"
        );
    }

    #[test]
    fn at_must_be_an_instant() {
        assert!(parse_instant("2026-03-07T12:00:00Z").is_ok());
        assert!(parse_instant("tomorrow").unwrap_err().contains("RFC 3339"));
    }
}
