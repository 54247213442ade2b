//! `tocsin whoami`, `tocsin users list|show|set-password|invite`,
//! `tocsin teams list|show`.

use tocsin_client::{ContactKind, Invitation, Me, Person, Team};

use super::table::Table;
use super::{ClientOpts, Output, emit, emit_json, fmt_time};

#[derive(clap::Subcommand, Debug, Clone)]
pub enum UsersCmd {
    /// List every account: `admin` and the users config declares.
    List,
    /// Show one user; contact addresses only to that user, managers and admins.
    Show {
        /// The user's id (as `users list` shows it).
        id: String,
    },
    /// Set a user's password for the web pages (admin); their login
    /// sessions end. Reads the password from standard input (one line), or
    /// asks twice at a terminal.
    SetPassword {
        /// The user's id.
        id: String,
    },
    /// Print a one-time link, valid 24 hours, with which a user sets their
    /// password (admin); their older unused links stop working.
    Invite {
        /// The user's id.
        id: String,
    },
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum TeamsCmd {
    /// List the teams config declares.
    List,
    /// Show one team: its members and services.
    Show {
        /// The team's id (as `teams list` shows it).
        id: String,
    },
}

pub async fn run_whoami(opts: &ClientOpts) -> anyhow::Result<()> {
    let me = opts.client()?.me().await.map_err(|e| opts.fail(e))?;
    match opts.output {
        Output::Json => emit_json(&me),
        Output::Table => emit(&whoami_text(&me)),
    }
}

pub async fn run_users(opts: &ClientOpts, cmd: UsersCmd) -> anyhow::Result<()> {
    let client = opts.client()?;
    match cmd {
        UsersCmd::List => {
            let users = client.list_users().await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&users),
                Output::Table => emit(&users_table(&users).render()),
            }
        }
        UsersCmd::Show { id } => {
            let user = client.get_user(&id).await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&user),
                Output::Table => emit(&person_text(&user)),
            }
        }
        UsersCmd::SetPassword { id } => {
            let password = super::password::read_new_password(&id)?;
            client.set_password(&id, &password).await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&serde_json::json!({ "user": id, "password_set": true })),
                Output::Table => emit(&format!("Password set for {id}; their login sessions have ended.\n")),
            }
        }
        UsersCmd::Invite { id } => {
            let invitation = client.invite_user(&id).await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&invitation),
                Output::Table => emit(&invitation_text(&invitation)),
            }
        }
    }
}

fn invitation_text(i: &Invitation) -> String {
    format!(
        "Invitation for {} (shown only once; it works once):\n\n    {}\n\nValid until {}.\n",
        i.user,
        i.url,
        fmt_time(&i.expires_at)
    )
}

pub async fn run_teams(opts: &ClientOpts, cmd: TeamsCmd) -> anyhow::Result<()> {
    let client = opts.client()?;
    match cmd {
        TeamsCmd::List => {
            let teams = client.list_teams().await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&teams),
                Output::Table if teams.is_empty() => emit("No teams.\n"),
                Output::Table => emit(&teams_table(&teams).render()),
            }
        }
        TeamsCmd::Show { id } => {
            let team = client.get_team(&id).await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&team),
                Output::Table => emit(&team_text(&team)),
            }
        }
    }
}

/// `-` for an empty list, else the items joined with commas.
fn list(items: &[String]) -> String {
    if items.is_empty() { "-".to_string() } else { items.join(", ") }
}

fn whoami_text(me: &Me) -> String {
    let mut out = person_text(&me.person);
    if me.acting_role != me.person.role {
        // A token may carry less than its owner's role.
        out.push_str(&format!("This token acts as {}.\n", me.acting_role.as_str()));
    }
    out
}

fn person_text(p: &Person) -> String {
    let mut fields = Table::plain();
    fields.row(["User:", &format!("{} ({})", p.id, p.name)]);
    fields.row(["Role:", p.role.as_str()]);
    fields.row(["Teams:", &list(&p.teams)]);
    fields.row(["Time zone:", p.time_zone.as_deref().unwrap_or("-")]);
    if let Some(email) = &p.email {
        fields.row(["Email:", email]);
    }
    for m in p.contact_methods.iter().flatten() {
        let (kind, to) = match &m.kind {
            ContactKind::Webhook { url } => ("webhook", url),
            ContactKind::Slack { url } => ("slack", url),
            ContactKind::Email { address } => ("email", address),
        };
        fields.row(["Contact:", &format!("{} ({kind}) {to}", m.id)]);
    }
    fields.render()
}

fn users_table(users: &[Person]) -> Table {
    let mut t = Table::new(["ID", "NAME", "ROLE", "TEAMS"]);
    for u in users {
        t.row([u.id.clone(), u.name.clone(), u.role.as_str().to_string(), list(&u.teams)]);
    }
    t
}

fn teams_table(teams: &[Team]) -> Table {
    let mut t = Table::new(["ID", "NAME", "MEMBERS", "SERVICES"]);
    for team in teams {
        t.row([team.id.clone(), team.name.clone(), list(&team.members), list(&team.services)]);
    }
    t
}

fn team_text(team: &Team) -> String {
    let mut fields = Table::plain();
    fields.row(["Team:", &format!("{} ({})", team.id, team.name)]);
    fields.row(["Members:", &list(&team.members)]);
    fields.row(["Services:", &list(&team.services)]);
    fields.render()
}

#[cfg(test)]
mod tests {
    use tocsin_client::{ContactMethod, Role};

    use super::*;

    fn bob() -> Person {
        Person {
            id: "bob".into(),
            name: "Bob Example".into(),
            role: Role::Responder,
            teams: vec!["payments".into()],
            time_zone: None,
            email: Some("bob@example.com".into()),
            contact_methods: Some(vec![ContactMethod {
                id: "bob-mail".into(),
                kind: ContactKind::Email { address: "bob@example.com".into() },
            }]),
        }
    }

    #[test]
    fn whoami_says_when_a_token_carries_less() {
        let me = Me { person: bob(), acting_role: Role::Viewer };
        assert_eq!(
            whoami_text(&me),
            "User:       bob (Bob Example)\n\
             Role:       responder\n\
             Teams:      payments\n\
             Time zone:  -\n\
             Email:      bob@example.com\n\
             Contact:    bob-mail (email) bob@example.com\n\
             This token acts as viewer.\n"
        );
        let full = Me { person: Person { email: None, contact_methods: None, ..bob() }, acting_role: Role::Responder };
        assert!(!whoami_text(&full).contains("acts as") && !whoami_text(&full).contains("Email"));
    }

    #[test]
    fn tables() {
        assert_eq!(
            users_table(&[
                bob(),
                Person { id: "admin".into(), name: "Administrator".into(), role: Role::Admin, teams: vec![], ..bob() }
            ])
            .render(),
            "ID     NAME           ROLE       TEAMS\n\
             bob    Bob Example    responder  payments\n\
             admin  Administrator  admin      -\n"
        );
        let team = Team {
            id: "payments".into(),
            name: "Payments".into(),
            members: vec!["alice".into(), "bob".into()],
            services: vec![],
        };
        assert_eq!(
            teams_table(std::slice::from_ref(&team)).render(),
            "ID        NAME      MEMBERS     SERVICES\npayments  Payments  alice, bob  -\n"
        );
        assert_eq!(team_text(&team), "Team:      payments (Payments)\nMembers:   alice, bob\nServices:  -\n");
    }
}
