//! `tocsin oncall`: who is on call now, or at `--at`, per schedule;
//! `oncall override …` manages overrides created at run time and
//! `oncall ical-token` issues a user's calendar feed links.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tocsin_client::{Client, OnCall, Override};

use super::table::Table;
use super::{ClientOpts, Output, emit, emit_json, fmt_time};

#[derive(clap::Args, Debug)]
pub struct OncallArgs {
    #[command(subcommand)]
    pub command: Option<OncallCmd>,
    /// The instant to ask about (RFC 3339, e.g. 2026-03-06T18:00:00Z); default now.
    #[arg(long, value_parser = parse_instant)]
    pub at: Option<DateTime<Utc>>,
    /// Only this schedule; default every schedule.
    #[arg(long)]
    pub schedule: Option<String>,
}

#[derive(clap::Subcommand, Debug)]
pub enum OncallCmd {
    /// Add, list and remove schedule overrides (someone takes a shift).
    #[command(subcommand)]
    Override(OverrideCmd),
    /// Issue a user's calendar feed token and print the feed URLs (admin).
    /// Issuing again invalidates the previous links.
    IcalToken {
        /// The user whose shifts the feed shows.
        #[arg(long)]
        user: String,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum OverrideCmd {
    /// Put --user on call for --schedule from --start to --end; the newest
    /// override wins where overrides overlap.
    Add {
        /// The schedule's id.
        #[arg(long)]
        schedule: String,
        /// The user who takes the shift.
        #[arg(long)]
        user: String,
        /// RFC 3339, e.g. 2026-03-06T18:00:00Z.
        #[arg(long, value_parser = parse_instant)]
        start: DateTime<Utc>,
        /// RFC 3339, after --start.
        #[arg(long, value_parser = parse_instant)]
        end: DateTime<Utc>,
    },
    /// Overrides of a schedule that have not ended yet.
    List {
        /// The schedule's id.
        #[arg(long)]
        schedule: String,
        /// Also overrides that have ended.
        #[arg(long)]
        include_past: bool,
    },
    /// Remove an override by id.
    Remove {
        /// The schedule's id.
        #[arg(long)]
        schedule: String,
        /// The override's id (as `oncall override list` shows it).
        id: i64,
    },
}

fn parse_instant(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("`{s}` is not an RFC 3339 instant such as 2026-03-06T18:00:00Z"))
}

pub async fn run_oncall(opts: &ClientOpts, args: OncallArgs) -> anyhow::Result<()> {
    // Checked here rather than by clap, whose check would also refuse the
    // client options (--url, --token, --output) before a subcommand.
    if args.command.is_some() && (args.at.is_some() || args.schedule.is_some()) {
        anyhow::bail!(
            "--at and --schedule ask who is on call; they go with `tocsin oncall` alone (`oncall override` takes its own --schedule after the subcommand)"
        );
    }
    let client = opts.client()?;
    match args.command {
        Some(OncallCmd::Override(cmd)) => run_override(opts, &client, cmd).await,
        Some(OncallCmd::IcalToken { user }) => run_ical_token(opts, &client, &user).await,
        None => run_who(opts, &client, args.at, args.schedule).await,
    }
}

async fn run_who(
    opts: &ClientOpts,
    client: &Client,
    at: Option<DateTime<Utc>>,
    schedule: Option<String>,
) -> anyhow::Result<()> {
    let ids = match schedule {
        Some(id) => vec![id],
        None => client.list_schedules().await.map_err(|e| opts.fail(e))?.into_iter().map(|s| s.id).collect(),
    };
    let mut answers = Vec::with_capacity(ids.len());
    for id in &ids {
        answers.push(client.oncall(id, at).await.map_err(|e| opts.fail(e))?);
    }
    match opts.output {
        Output::Json => emit_json(&answers),
        Output::Table if answers.is_empty() => emit("No schedules.\n"),
        Output::Table => emit(&oncall_table(&answers).render()),
    }
}

async fn run_override(opts: &ClientOpts, client: &Client, cmd: OverrideCmd) -> anyhow::Result<()> {
    match cmd {
        OverrideCmd::Add { schedule, user, start, end } => {
            let o = client.create_override(&schedule, &user, start, end).await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&o),
                Output::Table => emit(&format!(
                    "Created override {}: {} on call for {} from {} to {}.\n",
                    o.id.unwrap_or_default(),
                    o.user,
                    o.schedule,
                    fmt_time(&o.start),
                    fmt_time(&o.end)
                )),
            }
        }
        OverrideCmd::List { schedule, include_past } => {
            let items = client.list_overrides(&schedule, include_past).await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&items),
                Output::Table if items.is_empty() => emit("No overrides.\n"),
                Output::Table => emit(&overrides_table(&items).render()),
            }
        }
        OverrideCmd::Remove { schedule, id } => {
            client.delete_override(&schedule, id).await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&serde_json::json!({ "schedule": schedule, "id": id, "removed": true })),
                Output::Table => emit(&format!("Removed override {id} from {schedule}.\n")),
            }
        }
    }
}

async fn run_ical_token(opts: &ClientOpts, client: &Client, user: &str) -> anyhow::Result<()> {
    let issued = client.issue_ical_token(user).await.map_err(|e| opts.fail(e))?;
    let absolute = |path: &str| client.absolute_url(path).map_err(anyhow::Error::new);
    let user_url = absolute(&issued.urls.user)?;
    let schedules = issued
        .urls
        .schedules
        .iter()
        .map(|(id, path)| Ok((id.clone(), absolute(path)?)))
        .collect::<anyhow::Result<BTreeMap<String, String>>>()?;
    match opts.output {
        Output::Json => emit_json(&serde_json::json!({
            "user": issued.user,
            "token": issued.token,
            "urls": {"user": user_url, "schedules": schedules},
        })),
        Output::Table => {
            eprintln!(
                "Calendar feed links for {}. They hold a secret shown only now; issuing again invalidates them.",
                issued.user
            );
            emit(&feed_urls_text(&issued.user, &user_url, &schedules))
        }
    }
}

fn feed_urls_text(user: &str, user_url: &str, schedules: &BTreeMap<String, String>) -> String {
    let mut t = Table::new(["FEED", "URL"]);
    t.row([format!("shifts of {user}"), user_url.to_string()]);
    for (id, url) in schedules {
        t.row([format!("schedule {id}"), url.clone()]);
    }
    t.render()
}

fn overrides_table(items: &[Override]) -> Table {
    let mut t = Table::new(["ID", "USER", "START", "END", "FROM"]);
    for o in items {
        let id = o.id.map_or_else(|| "-".to_string(), |id| id.to_string());
        let from = o.created_by.clone().unwrap_or_else(|| o.source.as_str().to_string());
        t.row([id, o.user.clone(), fmt_time(&o.start), fmt_time(&o.end), from]);
    }
    t
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

    #[derive(clap::Parser, Debug)]
    struct TestCli {
        #[command(subcommand)]
        command: TestCommand,
    }

    #[derive(clap::Subcommand, Debug)]
    enum TestCommand {
        Oncall(OncallArgs),
    }

    fn parse(args: &[&str]) -> Result<OncallArgs, clap::Error> {
        use clap::Parser;
        let mut all = vec!["tocsin", "oncall"];
        all.extend_from_slice(args);
        TestCli::try_parse_from(all).map(|c| match c.command {
            TestCommand::Oncall(a) => a,
        })
    }

    #[test]
    fn subcommands_and_the_plain_question_parse() {
        use clap::CommandFactory;
        TestCli::command().debug_assert();
        let a = parse(&["--at", "2026-03-07T12:00:00Z", "--schedule", "primary"]).unwrap();
        assert!(a.command.is_none() && a.schedule.as_deref() == Some("primary") && a.at.is_some());
        let a = parse(&[
            "override",
            "add",
            "--schedule",
            "primary",
            "--user",
            "bob",
            "--start",
            "2026-03-06T18:00:00Z",
            "--end",
            "2026-03-09T09:00:00+01:00",
        ])
        .unwrap();
        match a.command {
            Some(OncallCmd::Override(OverrideCmd::Add { schedule, user, start, end })) => {
                assert_eq!((schedule.as_str(), user.as_str()), ("primary", "bob"));
                assert_eq!(fmt_time(&start), "2026-03-06T18:00:00Z");
                assert_eq!(fmt_time(&end), "2026-03-09T08:00:00Z");
            }
            other => panic!("{other:?}"),
        }
        let a = parse(&["override", "remove", "--schedule", "primary", "7"]).unwrap();
        assert!(matches!(a.command, Some(OncallCmd::Override(OverrideCmd::Remove { id: 7, .. }))));
        let a = parse(&["ical-token", "--user", "alice"]).unwrap();
        assert!(matches!(a.command, Some(OncallCmd::IcalToken { ref user }) if user == "alice"));
        let err = parse(&["override", "add", "--schedule", "p", "--user", "u", "--start", "friday", "--end", "x"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("RFC 3339"), "{err}");
    }

    #[test]
    fn override_table_and_feed_urls() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let declared = Override {
            id: None,
            schedule: "primary".into(),
            user: "alice".into(),
            start: t("2026-03-02T09:00:00Z"),
            end: t("2026-03-02T17:00:00Z"),
            source: tocsin_client::OverrideSource::Config,
            created_at: None,
            created_by: None,
        };
        let o = Override {
            id: Some(3),
            user: "bob".into(),
            start: t("2026-03-06T18:00:00Z"),
            end: t("2026-03-09T09:00:00Z"),
            source: tocsin_client::OverrideSource::Api,
            created_at: Some(t("2026-03-01T12:00:00Z")),
            created_by: Some("user:bob".into()),
            ..declared.clone()
        };
        assert_eq!(
            overrides_table(&[declared, o]).render(),
            "ID  USER   START                 END                   FROM\n\
             -   alice  2026-03-02T09:00:00Z  2026-03-02T17:00:00Z  config\n\
             3   bob    2026-03-06T18:00:00Z  2026-03-09T09:00:00Z  user:bob\n"
        );
        let schedules =
            BTreeMap::from([("primary".to_string(), "http://h/api/v1/schedules/primary/ical?token=x".into())]);
        assert_eq!(
            feed_urls_text("bob", "http://h/api/v1/users/bob/ical?token=x", &schedules),
            "FEED              URL\n\
             shifts of bob     http://h/api/v1/users/bob/ical?token=x\n\
             schedule primary  http://h/api/v1/schedules/primary/ical?token=x\n"
        );
    }

    #[test]
    fn at_must_be_an_instant() {
        assert!(parse_instant("2026-03-07T12:00:00Z").is_ok());
        assert!(parse_instant("tomorrow").unwrap_err().contains("RFC 3339"));
    }
}
