//! People and teams as the applied config declares them, plus the `admin`
//! account every installation has. Contact addresses (email included) are
//! shown only to their owner and to managers and admins.

use tocsin_core::access::{Action, Principal, Resource, authorize};
use tocsin_core::auth::Role;
use tocsin_core::directory::Directory;
use tocsin_core::model::{ADMIN_USER, User};
use tocsin_core::notify::rules::ContactMethod;

use crate::App;
use crate::error::{AppError, Result};

/// A user account as others see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// Teams this person is a member of.
    pub teams: Vec<String>,
    pub time_zone: Option<String>,
    /// `None` unless the reader is this person, a manager or an admin.
    pub email: Option<String>,
    /// `None` unless the reader is this person, a manager or an admin.
    pub contact_methods: Option<Vec<ContactMethod>>,
}

/// The caller: their account, and the role this request acts with (a token
/// may carry less than the account's role).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    pub person: Person,
    pub acting_role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamInfo {
    pub id: String,
    pub name: String,
    pub members: Vec<String>,
    /// Services the team owns.
    pub services: Vec<String>,
}

/// The built-in account when config does not declare it.
fn builtin_admin() -> User {
    User { id: ADMIN_USER.into(), name: "Administrator".into(), role: Role::Admin, ..User::default() }
}

/// Every account: the declared users, and `admin` first unless declared.
fn accounts(directory: &Directory) -> Vec<User> {
    let mut users = Vec::with_capacity(directory.users.len() + 1);
    if directory.user(ADMIN_USER).is_none() {
        users.push(builtin_admin());
    }
    users.extend(directory.users.iter().cloned());
    users
}

fn account(directory: &Directory, id: &str) -> Option<User> {
    directory.user(id).cloned().or_else(|| (id == ADMIN_USER).then(builtin_admin))
}

fn person(directory: &Directory, user: User, reader: &Principal) -> Person {
    let visible = authorize(reader, Action::ReadContactDetails, Resource::User(&user.id)).is_ok();
    Person {
        teams: directory.teams_of(&user.id),
        time_zone: user.time_zone.map(|z| z.name().to_string()),
        email: (visible && !user.email.is_empty()).then_some(user.email),
        contact_methods: visible.then_some(user.contact_methods),
        id: user.id,
        name: user.name,
        role: user.role,
    }
}

impl App {
    /// The principal a signed link acts as: `user_id` with their account's
    /// role, as long as the account exists. `None` once it is gone, so a
    /// link outlives nobody's account.
    pub fn account(&self, user_id: &str) -> Option<Principal> {
        account(&self.directory(), user_id).map(|user| Principal::user(user.id, user.role))
    }

    pub async fn me(&self, who: &Principal) -> Result<Me> {
        self.allow(who, Action::Read, Resource::All)?;
        let id = who.user_id().ok_or(AppError::NotFound("user"))?;
        let directory = self.directory();
        let user = account(&directory, id).ok_or(AppError::NotFound("user"))?;
        Ok(Me { person: person(&directory, user, who), acting_role: who.role() })
    }

    pub async fn users(&self, who: &Principal) -> Result<Vec<Person>> {
        self.allow(who, Action::Read, Resource::All)?;
        let directory = self.directory();
        Ok(accounts(&directory).into_iter().map(|u| person(&directory, u, who)).collect())
    }

    pub async fn user(&self, who: &Principal, id: &str) -> Result<Person> {
        self.allow(who, Action::Read, Resource::User(id))?;
        let directory = self.directory();
        let user = account(&directory, id).ok_or(AppError::NotFound("user"))?;
        Ok(person(&directory, user, who))
    }

    pub async fn teams(&self, who: &Principal) -> Result<Vec<TeamInfo>> {
        self.allow(who, Action::Read, Resource::All)?;
        let directory = self.directory();
        Ok(directory.teams.iter().map(|t| team_info(&directory, t)).collect())
    }

    pub async fn team(&self, who: &Principal, id: &str) -> Result<TeamInfo> {
        self.allow(who, Action::Read, Resource::All)?;
        let directory = self.directory();
        directory.team(id).map(|t| team_info(&directory, t)).ok_or(AppError::NotFound("team"))
    }
}

pub(crate) fn team_info(directory: &Directory, team: &tocsin_core::model::Team) -> TeamInfo {
    TeamInfo {
        id: team.id.clone(),
        name: team.name.clone(),
        members: team.members.clone(),
        services: directory
            .services
            .iter()
            .filter(|s| s.team.as_deref() == Some(team.id.as_str()))
            .map(|s| s.id.clone())
            .collect(),
    }
}
