//! Client commands of the `tocsin` binary: they call a running server's API
//! through `tocsin-client` and print tables for people or JSON for scripts.

mod alerts;
mod audit;
mod catalog;
mod config;
mod db;
mod engine;
mod heartbeats;
mod incidents;
mod notifications;
mod oncall;
mod password;
mod people;
mod send;
mod silences;
mod table;
mod tokens;

use std::io::{self, Write};

use chrono::{DateTime, SecondsFormat, Utc};
use tocsin_client::{Client, ClientError};
use tocsin_core::notify::render::text::{is_invisible, visible};

pub use alerts::{AlertsCmd, run_alerts};
pub use audit::{AuditCmd, run_audit};
pub use catalog::{PoliciesCmd, SchedulesCmd, ServicesCmd, run_policies, run_schedules, run_services};
pub use config::{run_config_apply, run_config_plan, run_validate};
pub use db::{run_backup, run_db_stats};
pub use engine::{EngineCmd, run_engine};
pub use heartbeats::{HeartbeatsCmd, run_heartbeats};
pub use incidents::{IncidentsCmd, run_incidents};
pub use notifications::{NotificationsCmd, run_notifications};
pub use oncall::{OncallArgs, run_oncall};
pub use people::{TeamsCmd, UsersCmd, run_teams, run_users, run_whoami};
pub use send::{SendArgs, run_send};
pub use silences::{SilenceCmd, run_silence};
pub use tokens::{TokensCmd, run_tokens};

/// Where the server is and who we are; shared by all client commands.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Server options")]
pub struct ClientOpts {
    /// Base URL of the Tocsin server.
    #[arg(long, env = "TOCSIN_URL", default_value = "http://127.0.0.1:8080", global = true)]
    pub url: String,
    /// API token (sent as `Authorization: Bearer`).
    #[arg(long, env = "TOCSIN_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "table", global = true)]
    pub output: Output,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Aligned columns for people.
    Table,
    /// Pretty-printed JSON for scripts.
    Json,
}

impl ClientOpts {
    fn client(&self) -> anyhow::Result<Client> {
        Client::new(&self.url, self.token.as_deref()).map_err(|e| anyhow::anyhow!("{e} (check --url or TOCSIN_URL)"))
    }

    /// Turns a client error into a one-line anyhow error, with a hint when a
    /// 401 is explained by a missing token.
    fn fail(&self, e: ClientError) -> anyhow::Error {
        let no_token = self.token.as_deref().is_none_or(|t| t.trim().is_empty());
        if e.status() == Some(401) && no_token {
            anyhow::anyhow!("{e} (no token given: set TOCSIN_TOKEN or pass --token)")
        } else {
            anyhow::Error::new(e)
        }
    }
}

/// Text from outside (alert titles, actors, summaries) on one line, with
/// no control characters: it can neither move the cursor or recolour the
/// terminal nor fake a line of output.
fn one_line(s: &str) -> String {
    table::clean(s)
}

/// Writes to stdout; a closed pipe (`tocsin … | head`) is not an error.
/// Control characters other than newline and tab never reach the terminal,
/// whatever a caller forgot to clean.
fn emit(text: &str) -> anyhow::Result<()> {
    let text = printable(text);
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(anyhow::anyhow!("cannot write output: {e}")),
        _ => Ok(()),
    }
}

/// `text` without control characters other than newline and tab, and with
/// bidirectional and zero-width characters shown as `[U+202E]`, as in
/// everything else Tocsin shows people.
fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let allowed = |c: char| !c.is_control() || matches!(c, '\n' | '\t');
    if text.chars().all(|c| allowed(c) && !is_invisible(c)) {
        return text.into();
    }
    visible(&text.chars().filter(|c| allowed(*c)).collect::<String>()).into()
}

fn emit_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let mut text =
        serde_json::to_string_pretty(value).map_err(|e| anyhow::anyhow!("cannot encode JSON output: {e}"))?;
    text.push('\n');
    emit(&text)
}

/// `2026-11-27T16:27:55Z`: UTC, to the second, pastable into `--since`.
fn fmt_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn fmt_opt_time(t: Option<&DateTime<Utc>>, none: &str) -> String {
    t.map(fmt_time).unwrap_or_else(|| none.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fmt_time_is_rfc3339_seconds() {
        let t = DateTime::parse_from_rfc3339("2026-11-27T17:27:55.123+01:00").unwrap().with_timezone(&Utc);
        assert_eq!(fmt_time(&t), "2026-11-27T16:27:55Z");
        assert_eq!(fmt_opt_time(None, "-"), "-");
    }

    #[test]
    fn terminal_control_never_reaches_stdout() {
        assert_eq!(printable("a\tb\nc"), "a\tb\nc");
        assert_eq!(printable("x\x1b[2J\ry\x07\u{9b}z\n"), "x[2Jyz\n");
        assert_eq!(printable("Refund \u{202E}10$\u{202C} ok\u{200B}"), "Refund [U+202E]10$[U+202C] ok[U+200B]");
        assert_eq!(one_line("title\r\nINCIDENT 9 resolved\x1b[0m"), "title  INCIDENT 9 resolved [0m");
    }

    #[test]
    fn plurals_agree_with_their_counts() {
        use tocsin::plural;
        assert_eq!(plural(0usize, "incident", "incidents"), "0 incidents");
        assert_eq!(plural(1usize, "incident", "incidents"), "1 incident");
        assert_eq!(plural(2i64, "escalation policy", "escalation policies"), "2 escalation policies");
    }
}
