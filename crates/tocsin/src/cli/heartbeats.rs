//! `tocsin heartbeats list`: the heartbeat monitors, when each last got a
//! ping, when it is due again, and the incident a missed deadline opened.

use tocsin_client::Heartbeat;

use super::table::Table;
use super::{ClientOpts, Output, emit, emit_json, fmt_opt_time};

#[derive(clap::Subcommand, Debug, Clone)]
pub enum HeartbeatsCmd {
    /// List the heartbeat monitors with their state (waiting, up, overdue).
    List,
}

pub async fn run_heartbeats(opts: &ClientOpts, cmd: HeartbeatsCmd) -> anyhow::Result<()> {
    let client = opts.client()?;
    match cmd {
        HeartbeatsCmd::List => {
            let all = client.list_heartbeats().await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&all),
                Output::Table if all.is_empty() => emit("No heartbeats.\n"),
                Output::Table => emit(&heartbeats_table(&all).render()),
            }
        }
    }
}

fn heartbeats_table(items: &[Heartbeat]) -> Table {
    let mut t = Table::new(["ID", "SERVICE", "STATE", "INTERVAL", "GRACE", "LAST PING", "DEADLINE", "INCIDENT"]);
    for h in items {
        t.row([
            h.id.clone(),
            h.service.clone(),
            h.state.as_str().to_string(),
            h.interval.clone(),
            h.grace.clone(),
            fmt_opt_time(h.last_ping_at.as_ref(), "never"),
            fmt_opt_time(h.deadline.as_ref(), "-"),
            h.open_incident.map_or_else(|| "-".to_string(), |id| id.to_string()),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use tocsin_client::HeartbeatStatus;

    use super::*;

    #[test]
    fn one_monitor_per_line_with_its_state_and_incident() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let waiting = Heartbeat {
            id: "hourly-sync".into(),
            service: "search".into(),
            interval: "1h".into(),
            grace: "0s".into(),
            key_hint: "…0001".into(),
            last_ping_at: None,
            deadline: Some(at("2026-03-04T16:00:00Z")),
            state: HeartbeatStatus::Waiting,
            open_incident: None,
        };
        let overdue = Heartbeat {
            id: "nightly-backup".into(),
            service: "checkout".into(),
            interval: "1d".into(),
            grace: "1h".into(),
            last_ping_at: Some(at("2026-03-03T02:00:00Z")),
            deadline: Some(at("2026-03-04T03:00:00Z")),
            state: HeartbeatStatus::Overdue,
            open_incident: Some(42),
            ..waiting.clone()
        };
        assert_eq!(
            heartbeats_table(&[waiting, overdue]).render(),
            "ID              SERVICE   STATE    INTERVAL  GRACE  LAST PING             DEADLINE              INCIDENT\n\
             hourly-sync     search    waiting  1h        0s     never                 2026-03-04T16:00:00Z  -\n\
             nightly-backup  checkout  overdue  1d        1h     2026-03-03T02:00:00Z  2026-03-04T03:00:00Z  42\n"
        );
    }
}
