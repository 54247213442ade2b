//! `tocsin services|schedules|policies list|show`: the catalog as the
//! applied config declares it, with who is on call now.

use tocsin_client::{EscalationPolicy, PolicyOnCall, Responder, Schedule, Service, ServiceOnCall, Target};

use super::table::Table;
use super::{ClientOpts, Output, emit, emit_json, fmt_time};

#[derive(clap::Subcommand, Debug, Clone)]
pub enum ServicesCmd {
    /// List the services config declares, with their open incidents.
    List,
    /// Show one service: integrations, team, policy and who it pages first now.
    Show {
        /// The service's id (as `services list` shows it).
        id: String,
    },
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum SchedulesCmd {
    /// List the schedules config declares.
    List,
    /// Show one schedule's layers and who is on call now.
    Show {
        /// The schedule's id (as `schedules list` shows it).
        id: String,
    },
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum PoliciesCmd {
    /// List the escalation policies config declares.
    List,
    /// Show one policy's levels and whom each would page now.
    Show {
        /// The policy's id (as `policies list` shows it).
        id: String,
    },
}

pub async fn run_services(opts: &ClientOpts, cmd: ServicesCmd) -> anyhow::Result<()> {
    let client = opts.client()?;
    match cmd {
        ServicesCmd::List => {
            let services = client.list_services().await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&services),
                Output::Table if services.is_empty() => emit("No services.\n"),
                Output::Table => emit(&services_table(&services).render()),
            }
        }
        ServicesCmd::Show { id } => {
            let service = client.get_service(&id).await.map_err(|e| opts.fail(e))?;
            let oncall = client.service_oncall(&id, None).await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&serde_json::json!({"service": service, "oncall": oncall})),
                Output::Table => emit(&service_text(&service, &oncall)),
            }
        }
    }
}

pub async fn run_schedules(opts: &ClientOpts, cmd: SchedulesCmd) -> anyhow::Result<()> {
    let client = opts.client()?;
    match cmd {
        SchedulesCmd::List => {
            let schedules = client.list_schedules().await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&schedules),
                Output::Table if schedules.is_empty() => emit("No schedules.\n"),
                Output::Table => emit(&schedules_table(&schedules).render()),
            }
        }
        SchedulesCmd::Show { id } => {
            let schedule = client.get_schedule(&id).await.map_err(|e| opts.fail(e))?;
            let oncall = client.oncall(&id, None).await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&serde_json::json!({"schedule": schedule, "oncall": oncall})),
                Output::Table => emit(&schedule_text(&schedule, &oncall.users, &fmt_time(&oncall.at))),
            }
        }
    }
}

pub async fn run_policies(opts: &ClientOpts, cmd: PoliciesCmd) -> anyhow::Result<()> {
    let client = opts.client()?;
    match cmd {
        PoliciesCmd::List => {
            let policies = client.list_policies().await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&policies),
                Output::Table if policies.is_empty() => emit("No escalation policies.\n"),
                Output::Table => emit(&policies_table(&policies).render()),
            }
        }
        PoliciesCmd::Show { id } => {
            let policy = client.get_policy(&id).await.map_err(|e| opts.fail(e))?;
            let oncall = client.policy_oncall(&id, None).await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&serde_json::json!({"escalation_policy": policy, "oncall": oncall})),
                Output::Table => emit(&policy_text(&policy, &oncall)),
            }
        }
    }
}

fn or_dash(items: Vec<String>) -> String {
    if items.is_empty() { "-".to_string() } else { items.join(", ") }
}

/// `alice (via primary)` or `bob`.
fn responders(users: &[Responder]) -> String {
    if users.is_empty() {
        return "nobody".to_string();
    }
    let each = users.iter().map(|r| match &r.via_schedule {
        Some(schedule) => format!("{} (via {schedule})", r.user),
        None => r.user.clone(),
    });
    each.collect::<Vec<_>>().join(", ")
}

fn target(t: &Target) -> String {
    match t {
        Target::User(id) => format!("user {id}"),
        Target::Schedule(id) => format!("schedule {id}"),
    }
}

fn services_table(services: &[Service]) -> Table {
    let mut t = Table::new(["ID", "NAME", "TEAM", "OPEN INCIDENTS", "INTEGRATIONS"]);
    for s in services {
        t.row([
            s.id.clone(),
            s.name.clone(),
            s.team.clone().unwrap_or_else(|| "-".into()),
            s.open_incidents.to_string(),
            s.integrations.len().to_string(),
        ]);
    }
    t
}

fn service_text(s: &Service, oncall: &ServiceOnCall) -> String {
    let mut fields = Table::plain();
    fields.row(["Service:", &format!("{} ({})", s.id, s.name)]);
    if let Some(description) = &s.description {
        fields.row(["Description:", description]);
    }
    fields.row(["Team:", s.team.as_deref().unwrap_or("-")]);
    fields.row(["Open incidents:", &s.open_incidents.to_string()]);
    if !s.depends_on.is_empty() {
        fields.row(["Depends on:", &s.depends_on.join(", ")]);
    }
    if !s.dependents.is_empty() {
        fields.row(["Dependents:", &s.dependents.join(", ")]);
    }
    fields.row(["Policy:", oncall.escalation_policy.as_deref().unwrap_or("- (pages nobody)")]);
    fields.row(["Pages first:", &responders(&oncall.users)]);
    for i in &s.integrations {
        // The key itself is never shown after config declares it.
        fields.row(["Integration:", &format!("{} ({}, key {})", i.id, i.kind.as_str(), i.key_hint)]);
    }
    fields.render()
}

fn schedules_table(schedules: &[Schedule]) -> Table {
    let mut t = Table::new(["ID", "TIME ZONE", "LAYERS"]);
    for s in schedules {
        t.row([s.id.clone(), s.time_zone.clone(), or_dash(s.layers.iter().map(|l| l.id.clone()).collect())]);
    }
    t
}

fn schedule_text(s: &Schedule, on_call: &[String], at: &str) -> String {
    let mut fields = Table::plain();
    fields.row(["Schedule:", &s.id]);
    fields.row(["Time zone:", &s.time_zone]);
    for l in &s.layers {
        fields.row(["Layer:", &format!("{}: {}", l.id, or_dash(l.users.clone()))]);
    }
    let who = if on_call.is_empty() { "nobody".to_string() } else { on_call.join(", ") };
    fields.row(["On call:", &format!("{who} (at {at})")]);
    fields.render()
}

fn policies_table(policies: &[EscalationPolicy]) -> Table {
    let mut t = Table::new(["ID", "LEVELS", "REPEAT", "SERVICES"]);
    for p in policies {
        t.row([p.id.clone(), p.levels.len().to_string(), p.repeat.to_string(), or_dash(p.services.clone())]);
    }
    t
}

fn policy_text(p: &EscalationPolicy, oncall: &PolicyOnCall) -> String {
    let mut out = format!(
        "Escalation policy {}: {} {}, repeated {} more {}; used by {}\n\n",
        p.id,
        p.levels.len(),
        if p.levels.len() == 1 { "level" } else { "levels" },
        p.repeat,
        if p.repeat == 1 { "time" } else { "times" },
        or_dash(p.services.clone())
    );
    let mut t = Table::new(["LEVEL", "TARGETS", "ESCALATE AFTER", "PAGES NOW"]);
    for (i, level) in p.levels.iter().enumerate() {
        let now = oncall.levels.get(i).map(|l| responders(&l.users)).unwrap_or_default();
        t.row([
            (i + 1).to_string(),
            level.targets.iter().map(target).collect::<Vec<_>>().join(", "),
            level.escalate_after.clone(),
            now,
        ]);
    }
    out.push_str(&t.render());
    out
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use tocsin_client::{IntegrationKind, IntegrationSummary, LevelOnCall, PolicyLevel, ScheduleLayer};

    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn service_shows_integrations_by_hint_and_who_is_paged() {
        let s = Service {
            id: "checkout".into(),
            name: "Checkout API".into(),
            description: None,
            team: Some("payments".into()),
            integrations: vec![IntegrationSummary {
                id: "checkout-pagerduty".into(),
                kind: IntegrationKind::Pagerduty,
                key_hint: "…5e6f".into(),
            }],
            open_incidents: 2,
            depends_on: vec!["postgres".into()],
            dependents: Vec::new(),
        };
        let oncall = ServiceOnCall {
            service: "checkout".into(),
            escalation_policy: Some("checkout-primary".into()),
            at: t("2026-03-04T15:00:00Z"),
            users: vec![Responder { user: "bob".into(), via_schedule: Some("primary".into()) }],
        };
        assert_eq!(
            service_text(&s, &oncall),
            "Service:         checkout (Checkout API)\n\
             Team:            payments\n\
             Open incidents:  2\n\
             Depends on:      postgres\n\
             Policy:          checkout-primary\n\
             Pages first:     bob (via primary)\n\
             Integration:     checkout-pagerduty (pagerduty, key …5e6f)\n"
        );
        assert_eq!(
            services_table(&[s]).render(),
            "ID        NAME          TEAM      OPEN INCIDENTS  INTEGRATIONS\n\
             checkout  Checkout API  payments  2               1\n"
        );
    }

    #[test]
    fn schedule_and_policy_text() {
        let s = Schedule {
            id: "primary".into(),
            time_zone: "America/New_York".into(),
            layers: vec![ScheduleLayer { id: "weekdays".into(), users: vec!["alice".into(), "bob".into()] }],
        };
        assert_eq!(
            schedule_text(&s, &[], "2026-03-04T01:00:00Z"),
            "Schedule:   primary\n\
             Time zone:  America/New_York\n\
             Layer:      weekdays: alice, bob\n\
             On call:    nobody (at 2026-03-04T01:00:00Z)\n"
        );
        let p = EscalationPolicy {
            id: "checkout-primary".into(),
            repeat: 1,
            levels: vec![
                PolicyLevel { targets: vec![Target::Schedule("primary".into())], escalate_after: "5m".into() },
                PolicyLevel { targets: vec![Target::User("alice".into())], escalate_after: "10m".into() },
            ],
            services: vec!["checkout".into()],
        };
        let oncall = PolicyOnCall {
            escalation_policy: "checkout-primary".into(),
            at: t("2026-03-04T15:00:00Z"),
            levels: vec![
                LevelOnCall { level: 1, escalate_after: "5m".into(), users: vec![] },
                LevelOnCall {
                    level: 2,
                    escalate_after: "10m".into(),
                    users: vec![Responder { user: "alice".into(), via_schedule: None }],
                },
            ],
        };
        assert_eq!(
            policy_text(&p, &oncall),
            "Escalation policy checkout-primary: 2 levels, repeated 1 more time; used by checkout\n\
             \n\
             LEVEL  TARGETS           ESCALATE AFTER  PAGES NOW\n\
             1      schedule primary  5m              nobody\n\
             2      user alice        10m             alice\n"
        );
    }
}
