//! `tocsin incidents …`

use chrono::{DateTime, Duration, Utc};
use tocsin_client::{Alert, Escalation, Incident, IncidentDetail, IncidentQuery, Notification};

use super::table::Table;
use super::{ClientOpts, Output, emit, emit_json, fmt_opt_time, fmt_time, one_line};

#[derive(clap::Subcommand, Debug, Clone)]
pub enum IncidentsCmd {
    /// List incidents.
    List {
        /// Only incidents in this state (triggered, acknowledged, resolved).
        #[arg(long)]
        status: Option<String>,
        /// Only incidents of this service (id).
        #[arg(long)]
        service: Option<String>,
        /// Only incidents created since: RFC 3339 time, or an age such as 30m, 12h, 7d.
        #[arg(long, value_parser = parse_since)]
        since: Option<String>,
        /// Page size.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        limit: Option<u32>,
        /// Continue from the cursor printed by a previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one incident with its alerts and timeline.
    Show {
        /// The incident's id (as `incidents list` shows it).
        id: i64,
    },
    /// Acknowledge an incident.
    Ack {
        /// The incident's id (as `incidents list` shows it).
        id: i64,
    },
    /// Resolve an incident.
    Resolve {
        /// The incident's id (as `incidents list` shows it).
        id: i64,
    },
    /// Add a note to an incident's timeline.
    Note {
        /// The incident's id (as `incidents list` shows it).
        id: i64,
        /// The note (quote it).
        text: String,
    },
    /// Page the next escalation level now instead of waiting.
    Escalate {
        /// The incident's id (as `incidents list` shows it).
        id: i64,
    },
    /// Page these people (or whoever these schedules have on call) in place
    /// of the current escalation level.
    #[command(group(clap::ArgGroup::new("targets").required(true).multiple(true).args(["user", "schedule"])))]
    Reassign {
        /// The incident's id (as `incidents list` shows it).
        id: i64,
        /// A user id; repeat for several.
        #[arg(long)]
        user: Vec<String>,
        /// A schedule id; repeat for several.
        #[arg(long)]
        schedule: Vec<String>,
    },
    /// Show the notifications sent (or tried) for an incident.
    Notifications {
        /// The incident's id (as `incidents list` shows it).
        id: i64,
    },
}

pub async fn run_incidents(opts: &ClientOpts, cmd: IncidentsCmd) -> anyhow::Result<()> {
    let client = opts.client()?;
    match cmd {
        IncidentsCmd::List { status, service, since, limit, cursor } => {
            let q = IncidentQuery { status, service, since, cursor, limit };
            let page = client.list_incidents(&q).await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&page),
                Output::Table => {
                    if page.items.is_empty() {
                        emit("No incidents.\n")?;
                    } else {
                        emit(&incidents_table(&page.items).render())?;
                    }
                    if let Some(c) = &page.next_cursor {
                        eprintln!("More incidents: add --cursor {c}");
                    }
                    Ok(())
                }
            }
        }
        IncidentsCmd::Show { id } => {
            let detail = client.get_incident(id).await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&detail),
                Output::Table => emit(&render_detail(&detail)),
            }
        }
        IncidentsCmd::Ack { id } => {
            let incident = client.acknowledge(id).await.map_err(|e| opts.fail(e))?;
            done(opts, &incident)
        }
        IncidentsCmd::Resolve { id } => {
            let incident = client.resolve(id).await.map_err(|e| opts.fail(e))?;
            done(opts, &incident)
        }
        IncidentsCmd::Escalate { id } => {
            let answer = client.escalate(id).await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&answer),
                Output::Table => {
                    emit(&format!("Escalation of incident {id} requested: the next level is paged now.\n"))
                }
            }
        }
        IncidentsCmd::Reassign { id, user, schedule } => {
            let answer = client.reassign(id, &user, &schedule).await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&answer),
                Output::Table => {
                    let names: Vec<String> =
                        user.iter().cloned().chain(schedule.iter().map(|s| format!("schedule {s}"))).collect();
                    emit(&format!("Incident {id} reassigned to {}: paging them now.\n", names.join(", ")))
                }
            }
        }
        IncidentsCmd::Notifications { id } => {
            let items = client.notifications(id).await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&items),
                Output::Table if items.is_empty() => emit("No notifications.\n"),
                Output::Table => emit(&notifications_table(&items).render()),
            }
        }
        IncidentsCmd::Note { id, text } => {
            let entry = client.add_note(id, &text).await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&entry),
                Output::Table => {
                    emit(&format!("Added note to incident {} (timeline entry {}).\n", entry.incident_id, entry.id))
                }
            }
        }
    }
}

fn done(opts: &ClientOpts, i: &Incident) -> anyhow::Result<()> {
    match opts.output {
        Output::Json => emit_json(i),
        Output::Table => emit(&format!("{}\n", state_line(i))),
    }
}

/// "Incident 42 acknowledged by alice at 2026-…" (or "… is triggered").
fn state_line(i: &Incident) -> String {
    let (at, by) = match i.status.as_str() {
        "acknowledged" => (i.acknowledged_at.as_ref(), i.acknowledged_by.as_deref()),
        "resolved" => (i.resolved_at.as_ref(), i.resolved_by.as_deref()),
        _ => return format!("Incident {} is {}.", i.id, i.status.as_str()),
    };
    let mut line = format!("Incident {} {}", i.id, i.status.as_str());
    if let Some(by) = by {
        line.push_str(&format!(" by {}", one_line(by)));
    }
    if let Some(at) = at {
        line.push_str(&format!(" at {}", fmt_time(at)));
    }
    line.push('.');
    line
}

fn notifications_table(items: &[Notification]) -> Table {
    let mut t = Table::new(["ID", "USER", "METHOD", "CHANNEL", "STATUS", "ATTEMPTS", "DUE", "SENT", "LAST ERROR"]);
    for n in items {
        t.row(vec![
            n.id.to_string(),
            n.user_id.clone(),
            n.contact_method.clone(),
            n.channel.clone(),
            n.status.clone(),
            n.attempts.to_string(),
            fmt_time(&n.due_at),
            fmt_opt_time(n.sent_at.as_ref(), "-"),
            n.last_error.clone().unwrap_or_default(),
        ]);
    }
    t
}

fn incidents_table(items: &[Incident]) -> Table {
    let mut t = Table::new(["ID", "STATUS", "SEVERITY", "SERVICE", "CREATED", "TITLE"]);
    for i in items {
        t.row([
            i.id.to_string(),
            i.status.as_str().to_string(),
            i.severity.as_str().to_string(),
            i.service_id.clone(),
            fmt_time(&i.created_at),
            i.title.clone(),
        ]);
    }
    t
}

fn render_detail(d: &IncidentDetail) -> String {
    let i = &d.incident;
    let mut out = format!("Incident {}: {}\n\n", i.id, one_line(&i.title));

    let mut fields = Table::plain();
    fields.row(["Status:", i.status.as_str()]);
    fields.row(["Severity:", i.severity.as_str()]);
    fields.row(["Service:", &i.service_id]);
    fields.row(["Created:", &fmt_time(&i.created_at)]);
    fields.row(["Acknowledged:", &who_when(i.acknowledged_at.as_ref(), i.acknowledged_by.as_deref())]);
    fields.row(["Resolved:", &who_when(i.resolved_at.as_ref(), i.resolved_by.as_deref())]);
    fields.row(["Alerts:", &i.alert_count.to_string()]);
    for (n, h) in i.held_back.iter().enumerate() {
        fields.row([if n == 0 { "Pages nobody:" } else { "" }, &h.text]);
    }
    if let Some(e) = &d.escalation {
        fields.row(["Escalation:", &escalation_line(e)]);
    }
    out.push_str(&fields.render());

    out.push_str("\nALERTS\n");
    if d.alerts.is_empty() {
        out.push_str("(none)\n");
    } else {
        out.push_str(&alerts_table(&d.alerts).render());
        for a in d.alerts.iter().filter(|a| !a.held_back.is_empty()) {
            let reasons: Vec<&str> = a.held_back.iter().map(|h| h.text.as_str()).collect();
            out.push_str(&format!("alert {}: {}\n", a.id, reasons.join("; ")));
        }
    }

    out.push_str("\nTIMELINE\n");
    if d.timeline.is_empty() {
        out.push_str("(empty)\n");
    } else {
        let mut t = Table::plain();
        for e in &d.timeline {
            t.row([
                fmt_time(&e.at),
                e.actor.clone(),
                e.kind.clone(),
                tocsin_core::timeline::describe(&e.kind, &e.payload),
            ]);
        }
        out.push_str(&t.render());
    }
    out
}

/// Alerts as `incidents show` and `alerts list` print them.
pub(super) fn alerts_table(alerts: &[Alert]) -> Table {
    let mut t = Table::new(["ID", "STATUS", "SEVERITY", "KIND", "DEDUP KEY", "COUNT", "LAST SEEN", "SUMMARY"]);
    for a in alerts {
        t.row([
            a.id.to_string(),
            a.status.as_str().to_string(),
            a.severity.as_str().to_string(),
            a.kind.as_str().to_string(),
            a.dedup_key.clone(),
            a.occurrences.to_string(),
            fmt_time(&a.last_seen),
            a.summary.clone(),
        ]);
    }
    t
}

fn escalation_line(e: &Escalation) -> String {
    // The API counts levels and passes from 1, as people do.
    let step = format!("{}, level {} of {}, pass {} of {}", e.status.as_str(), e.level, e.levels, e.pass, e.passes);
    let next = match e.next_step_at {
        Some(at) => format!("; next step at {}", fmt_time(&at)),
        None => String::new(),
    };
    format!("{step} ({}){next}", e.policy)
}

fn who_when(at: Option<&DateTime<Utc>>, by: Option<&str>) -> String {
    match (at, by) {
        (None, None) => "-".to_string(),
        (at, by) => {
            let mut s = fmt_opt_time(at, "-");
            if let Some(by) = by {
                s.push_str(&format!(" by {by}"));
            }
            s
        }
    }
}

/// `--since`: an RFC 3339 time (normalised to UTC) or an age like `90s`,
/// `30m`, `12h`, `7d`, `2w`, counted back from now.
fn parse_since(s: &str) -> Result<String, String> {
    parse_since_at(s, Utc::now())
}

fn parse_since_at(s: &str, now: DateTime<Utc>) -> Result<String, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(fmt_time(&t.with_timezone(&Utc)));
    }
    let bad = || format!("{s:?} is neither an RFC 3339 time nor an age like 30m, 12h or 7d");
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let age = match unit {
        "s" => Duration::try_seconds(n),
        "m" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        "w" => Duration::try_weeks(n),
        _ => None,
    }
    .ok_or_else(bad)?;
    let at = now.checked_sub_signed(age).ok_or_else(bad)?;
    Ok(fmt_time(&at))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use tocsin_client::{Alert, AlertStatus, IncidentStatus, IntegrationKind, Severity, TimelineEntry};

    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn incident(id: i64, status: &str, title: &str) -> Incident {
        Incident {
            id,
            service_id: "checkout".into(),
            title: title.into(),
            severity: Severity::Critical,
            status: IncidentStatus::parse(status).unwrap(),
            created_at: t("2026-11-27T16:27:55Z"),
            acknowledged_at: None,
            acknowledged_by: None,
            resolved_at: None,
            resolved_by: None,
            alert_count: 1,
            held_back: Vec::new(),
        }
    }

    #[test]
    fn list_table() {
        let items = [incident(7, "triggered", "5xx ratio above 2%"), incident(1234, "acknowledged", "Disk full")];
        assert_eq!(
            incidents_table(&items).render(),
            "ID    STATUS        SEVERITY  SERVICE   CREATED               TITLE\n\
             7     triggered     critical  checkout  2026-11-27T16:27:55Z  5xx ratio above 2%\n\
             1234  acknowledged  critical  checkout  2026-11-27T16:27:55Z  Disk full\n"
        );
    }

    #[test]
    fn outside_text_stays_on_its_line() {
        let hostile = "Disk full\x1b[2J\r\nIncident 1 resolved.";
        let detail = IncidentDetail {
            incident: incident(1, "triggered", hostile),
            alerts: vec![],
            timeline: vec![],
            escalation: None,
        };
        let first = render_detail(&detail).lines().next().unwrap_or_default().to_string();
        assert_eq!(first, "Incident 1: Disk full [2J  Incident 1 resolved.");
        let acked = Incident {
            acknowledged_at: Some(t("2026-11-27T16:30:00Z")),
            acknowledged_by: Some("user:eve\x1b]0;pwned\x07\n".into()),
            ..incident(1, "acknowledged", "x")
        };
        assert_eq!(state_line(&acked), "Incident 1 acknowledged by user:eve ]0;pwned   at 2026-11-27T16:30:00Z.");
    }

    #[test]
    fn detail_rendering() {
        let mut i = incident(42, "acknowledged", "5xx ratio above 2%");
        i.acknowledged_at = Some(t("2026-11-27T16:30:00Z"));
        i.acknowledged_by = Some("alice".into());
        let alert = Alert {
            id: 9,
            service_id: "checkout".into(),
            integration_id: "am".into(),
            kind: IntegrationKind::Alertmanager,
            dedup_key: "b1c11497b32ce15e".into(),
            status: AlertStatus::Triggered,
            summary: "5xx ratio above 2%".into(),
            severity: Severity::Critical,
            source: None,
            labels: Default::default(),
            details: Value::Null,
            links: vec![],
            first_seen: t("2026-11-27T16:27:55Z"),
            last_seen: t("2026-11-27T16:28:55Z"),
            occurrences: 2,
            acknowledged_at: None,
            resolved_at: None,
            expires_at: None,
            incident_id: Some(42),
            held_back: Vec::new(),
        };
        let entry = |id, kind: &str, actor: &str, payload| TimelineEntry {
            id,
            incident_id: 42,
            at: t("2026-11-27T16:30:00Z"),
            kind: kind.into(),
            actor: actor.into(),
            payload,
        };
        let d = IncidentDetail {
            incident: i,
            alerts: vec![alert],
            timeline: vec![
                entry(1, "triggered", "system", json!({})),
                entry(2, "acknowledged", "alice", Value::Null),
                entry(3, "note", "alice", json!({"text": "rolling back\ndeploy 41"})),
                entry(4, "paged", "system", json!({"user": "alice", "level": 1, "pass": 1, "via_schedule": "primary"})),
                entry(
                    5,
                    "notified",
                    "system",
                    json!({"user": "alice", "contact_method": "alice-mail", "channel": "email", "attempts": 1, "bundled": false}),
                ),
                entry(6, "custom", "system", json!({"channel": "slack"})),
            ],
            escalation: Some(Escalation {
                policy: "checkout-primary".into(),
                status: tocsin_client::EscState::Acknowledged,
                level: 2,
                pass: 1,
                passes: 3,
                levels: 2,
                next_step_at: Some(t("2026-11-27T17:00:00Z")),
            }),
        };
        assert_eq!(
            render_detail(&d),
            "Incident 42: 5xx ratio above 2%\n\
             \n\
             Status:        acknowledged\n\
             Severity:      critical\n\
             Service:       checkout\n\
             Created:       2026-11-27T16:27:55Z\n\
             Acknowledged:  2026-11-27T16:30:00Z by alice\n\
             Resolved:      -\n\
             Alerts:        1\n\
             Escalation:    acknowledged, level 2 of 2, pass 1 of 3 (checkout-primary); next step at 2026-11-27T17:00:00Z\n\
             \n\
             ALERTS\n\
             ID  STATUS     SEVERITY  KIND          DEDUP KEY         COUNT  LAST SEEN             SUMMARY\n\
             9   triggered  critical  alertmanager  b1c11497b32ce15e  2      2026-11-27T16:28:55Z  5xx ratio above 2%\n\
             \n\
             TIMELINE\n\
             2026-11-27T16:30:00Z  system  triggered\n\
             2026-11-27T16:30:00Z  alice   acknowledged\n\
             2026-11-27T16:30:00Z  alice   note          rolling back deploy 41\n\
             2026-11-27T16:30:00Z  system  paged         alice, on call in primary (level 1, pass 1)\n\
             2026-11-27T16:30:00Z  system  notified      alice via email (alice-mail)\n\
             2026-11-27T16:30:00Z  system  custom        {\"channel\":\"slack\"}\n"
        );
    }

    #[test]
    fn state_lines() {
        let mut i = incident(42, "acknowledged", "x");
        assert_eq!(state_line(&i), "Incident 42 acknowledged.");
        i.acknowledged_by = Some("alice".into());
        i.acknowledged_at = Some(t("2026-11-27T16:30:00Z"));
        assert_eq!(state_line(&i), "Incident 42 acknowledged by alice at 2026-11-27T16:30:00Z.");
        i.status = IncidentStatus::Triggered;
        assert_eq!(state_line(&i), "Incident 42 is triggered.");
    }

    #[test]
    fn since_parsing() {
        let now = t("2026-11-27T16:00:00Z");
        assert_eq!(parse_since_at("2026-11-27T17:00:00+01:00", now).unwrap(), "2026-11-27T16:00:00Z");
        assert_eq!(parse_since_at("30m", now).unwrap(), "2026-11-27T15:30:00Z");
        assert_eq!(parse_since_at("2d", now).unwrap(), "2026-11-25T16:00:00Z");
        assert_eq!(parse_since_at("1w", now).unwrap(), "2026-11-20T16:00:00Z");
        for bad in ["", "m", "10", "10x", "-5m", "yesterday", "99999999999999999999d"] {
            assert!(parse_since_at(bad, now).is_err(), "{bad}");
        }
    }
}
