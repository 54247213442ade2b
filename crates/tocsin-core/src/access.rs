//! Who may do what: one function of principal × action × resource, so a
//! rule is written once and holds for the API, the web pages, chat commands
//! and one-click links alike. Private incidents and incident roles will add
//! resources here, not checks in handlers.

use crate::auth::Role;
use crate::timeline::actor;

/// Whoever is acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A person, acting through a token, a signed link or (later) a session.
    User(Account),
    /// Tocsin itself: config applied at start, the engine, timeouts.
    System,
}

/// A person as authorisation sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    /// The role this request acts with: the account's role, or less when the
    /// token carries less.
    pub role: Role,
}

impl Principal {
    pub fn user(id: impl Into<String>, role: Role) -> Self {
        Principal::User(Account { id: id.into(), role })
    }

    /// How this principal appears in timelines and the audit log.
    pub fn actor(&self) -> String {
        match self {
            Principal::User(account) => actor::user(&account.id),
            Principal::System => actor::SYSTEM.to_string(),
        }
    }

    /// The acting user's id; `None` for the system.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Principal::User(account) => Some(&account.id),
            Principal::System => None,
        }
    }

    /// The role this principal acts with (the system acts as admin).
    pub fn role(&self) -> Role {
        match self {
            Principal::User(account) => account.role,
            Principal::System => Role::Admin,
        }
    }
}

/// Something a principal can ask to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Incidents, alerts, services, schedules, policies, people, teams and
    /// heartbeat monitors.
    Read,
    Acknowledge,
    Resolve,
    AddNote,
    Escalate,
    Reassign,
    /// Create or delete a run-time schedule override: responders for
    /// themselves ([`Resource::Override`] naming them), managers and admins
    /// for anyone.
    ManageOverride,
    /// A user's contact addresses: one's own, or anyone's for managers and
    /// admins (who look after the people they schedule).
    ReadContactDetails,
    /// Send a test page through one of a user's contact methods: one's own,
    /// or anyone's for managers and admins (helping set someone up).
    SendTestPage,
    /// Issue a token carrying `role` to the user the resource names.
    CreateToken {
        role: Role,
    },
    /// See the tokens of the user the resource names (or everyone's).
    ListTokens,
    RevokeToken,
    /// Issue (and so invalidate the previous) calendar feed token of a user.
    RotateFeedToken,
    ApplyConfig,
    ReadAudit,
    /// Read a server secret that receivers need (the webhook signing key).
    ReadSecret,
    /// Replace a server secret with a fresh one (the acknowledge-link key),
    /// so that everything signed with the old one is refused.
    RotateSecret,
    /// Create, change and expire silences.
    ManageSilences,
    /// See the engine's dead letters (work that failed too often, with its
    /// payload) and put them back to be tried again.
    ManageEngine,
    /// Set a user's password or invite them to set one.
    ManageAccounts,
    /// End a login session of the user the resource names.
    EndSession,
}

impl Action {
    /// How a denial names the action.
    fn describe(self) -> &'static str {
        match self {
            Action::Read => "read this",
            Action::Acknowledge => "acknowledge incidents",
            Action::Resolve => "resolve incidents",
            Action::AddNote => "add notes",
            Action::Escalate => "escalate incidents",
            Action::Reassign => "reassign incidents",
            Action::ManageOverride => "change schedule overrides",
            Action::ReadContactDetails => "read other people's contact details",
            Action::SendTestPage => "send test pages to other people",
            Action::CreateToken { .. } => "create tokens",
            Action::ListTokens => "list other people's tokens",
            Action::RevokeToken => "revoke other people's tokens",
            Action::RotateFeedToken => "issue other people's calendar feed tokens",
            Action::ApplyConfig => "apply config",
            Action::ReadAudit => "read the audit log",
            Action::ReadSecret => "read server secrets",
            Action::RotateSecret => "rotate server secrets",
            Action::ManageEngine => "manage the engine's failed work",
            Action::ManageSilences => "manage silences",
            Action::ManageAccounts => "set passwords or invite users",
            Action::EndSession => "end other people's sessions",
        }
    }
}

/// What an action is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource<'a> {
    /// The whole installation, or a collection.
    All,
    Incident(i64),
    Schedule(&'a str),
    /// A run-time override of `schedule` that puts `user` on call.
    Override {
        schedule: &'a str,
        user: &'a str,
    },
    /// A user account: its tokens, contact details or feed.
    User(&'a str),
}

/// Why an action was refused; the message tells the person what is missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

/// The one authorisation rule. `Ok` when `principal` may do `action` to
/// `resource`.
pub fn authorize(principal: &Principal, action: Action, resource: Resource<'_>) -> Result<(), Denied> {
    let Principal::User(account) = principal else { return Ok(()) };
    let own = matches!(resource, Resource::User(id) if id == account.id);
    let needs = |required: Role| {
        if account.role.allows(required) {
            Ok(())
        } else {
            Err(Denied(format!(
                "role {} cannot {}; it needs {}",
                account.role.as_str(),
                action.describe(),
                required.as_str()
            )))
        }
    };
    match action {
        Action::Read => needs(Role::Viewer),
        // Muting alerts is part of responding (a known cause, a deploy).
        Action::Acknowledge
        | Action::Resolve
        | Action::AddNote
        | Action::Escalate
        | Action::Reassign
        | Action::ManageSilences => needs(Role::Responder),
        // Taking or handing over one's own shifts is a responder's; moving
        // other people around the schedule is what managers are for.
        Action::ManageOverride => {
            needs(Role::Responder)?;
            match resource {
                Resource::Override { user, .. } if user == account.id => Ok(()),
                _ if account.role.allows(Role::Manager) => Ok(()),
                _ => Err(Denied(format!(
                    "role {} changes only its own schedule overrides; overrides for other people need manager",
                    account.role.as_str()
                ))),
            }
        }
        Action::ApplyConfig
        | Action::ReadAudit
        | Action::ReadSecret
        | Action::RotateSecret
        | Action::ManageEngine
        | Action::ManageAccounts => needs(Role::Admin),
        // Reaching people is what managers arrange, so they see and test
        // everyone's contact methods; others only their own.
        Action::ReadContactDetails | Action::SendTestPage => {
            if own {
                needs(Role::Viewer)
            } else {
                needs(Role::Manager)
            }
        }
        // Looking after one's own account needs no more than reading.
        Action::ListTokens | Action::RevokeToken | Action::RotateFeedToken | Action::EndSession => {
            if own {
                needs(Role::Viewer)
            } else {
                needs(Role::Admin)
            }
        }
        Action::CreateToken { role } => {
            if account.role == Role::Admin {
                return Ok(());
            }
            needs(Role::Responder)?;
            if !own {
                return Err(Denied("only admins create tokens for other users".into()));
            }
            if !account.role.allows(role) {
                return Err(Denied(format!(
                    "a token cannot carry more than its owner's role ({}); asked for {}",
                    account.role.as_str(),
                    role.as_str()
                )));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, role: Role) -> Principal {
        Principal::user(id, role)
    }

    #[test]
    fn roles_gate_incident_actions() {
        for action in [Action::Acknowledge, Action::Resolve, Action::AddNote, Action::Escalate, Action::Reassign] {
            assert!(authorize(&user("v", Role::Viewer), action, Resource::Incident(1)).is_err());
            assert!(authorize(&user("r", Role::Responder), action, Resource::Incident(1)).is_ok());
        }
        assert!(authorize(&user("v", Role::Viewer), Action::Read, Resource::All).is_ok());
    }

    #[test]
    fn only_admins_manage_the_engine() {
        for role in [Role::Viewer, Role::Responder, Role::Manager] {
            let denied = authorize(&user("u", role), Action::ManageEngine, Resource::All).unwrap_err();
            assert!(denied.0.ends_with("it needs admin"), "{denied}");
        }
        assert!(authorize(&user("root", Role::Admin), Action::ManageEngine, Resource::All).is_ok());
    }

    #[test]
    fn denial_names_the_missing_role() {
        let err = authorize(&user("v", Role::Viewer), Action::Acknowledge, Resource::Incident(1)).unwrap_err();
        assert_eq!(err.0, "role viewer cannot acknowledge incidents; it needs responder");
    }

    #[test]
    fn tokens_for_oneself_at_most_ones_role() {
        let alice = user("alice", Role::Responder);
        let create = |role| Action::CreateToken { role };
        assert!(authorize(&alice, create(Role::Responder), Resource::User("alice")).is_ok());
        assert!(authorize(&alice, create(Role::Viewer), Resource::User("alice")).is_ok());
        let above = authorize(&alice, create(Role::Manager), Resource::User("alice")).unwrap_err();
        assert!(above.0.contains("more than its owner's role"), "{above}");
        let other = authorize(&alice, create(Role::Viewer), Resource::User("bob")).unwrap_err();
        assert!(other.0.contains("only admins"), "{other}");
        let viewer = authorize(&user("v", Role::Viewer), create(Role::Viewer), Resource::User("v")).unwrap_err();
        assert!(viewer.0.contains("needs responder"), "{viewer}");
        let admin = user("root", Role::Admin);
        assert!(authorize(&admin, create(Role::Admin), Resource::User("bob")).is_ok());
    }

    #[test]
    fn contact_methods_are_ones_own_or_a_managers() {
        for action in [Action::ReadContactDetails, Action::SendTestPage] {
            assert!(authorize(&user("alice", Role::Viewer), action, Resource::User("alice")).is_ok(), "{action:?}");
            let denied = authorize(&user("alice", Role::Responder), action, Resource::User("bob")).unwrap_err();
            assert!(denied.0.ends_with("it needs manager"), "{denied}");
            for role in [Role::Manager, Role::Admin] {
                assert!(authorize(&user("carol", role), action, Resource::User("bob")).is_ok(), "{action:?}");
            }
        }
    }

    #[test]
    fn own_account_versus_others() {
        let alice = user("alice", Role::Viewer);
        for action in [
            Action::ReadContactDetails,
            Action::ListTokens,
            Action::RevokeToken,
            Action::RotateFeedToken,
            Action::EndSession,
        ] {
            assert!(authorize(&alice, action, Resource::User("alice")).is_ok(), "{action:?}");
            assert!(authorize(&alice, action, Resource::User("bob")).is_err(), "{action:?}");
            assert!(authorize(&alice, action, Resource::All).is_err(), "{action:?}");
            assert!(authorize(&user("root", Role::Admin), action, Resource::User("bob")).is_ok());
        }
    }

    #[test]
    fn responders_override_only_themselves_managers_anyone() {
        let mine = Resource::Override { schedule: "primary", user: "bob" };
        let theirs = Resource::Override { schedule: "primary", user: "alice" };
        let bob = user("bob", Role::Responder);
        assert!(authorize(&bob, Action::ManageOverride, mine).is_ok());
        let denied = authorize(&bob, Action::ManageOverride, theirs).unwrap_err();
        assert_eq!(
            denied.0,
            "role responder changes only its own schedule overrides; overrides for other people need manager"
        );
        // Without a user named, only someone who may change anyone's passes.
        assert!(authorize(&bob, Action::ManageOverride, Resource::Schedule("primary")).is_err());
        for role in [Role::Manager, Role::Admin] {
            let boss = user("carol", role);
            for resource in [mine, theirs, Resource::Schedule("primary")] {
                assert!(authorize(&boss, Action::ManageOverride, resource).is_ok(), "{role:?} {resource:?}");
            }
        }
        let viewer = authorize(&user("bob", Role::Viewer), Action::ManageOverride, mine).unwrap_err();
        assert_eq!(viewer.0, "role viewer cannot change schedule overrides; it needs responder");
        assert!(authorize(&Principal::System, Action::ManageOverride, theirs).is_ok());
    }

    #[test]
    fn admin_only_actions_and_the_system() {
        for action in
            [Action::ApplyConfig, Action::ReadAudit, Action::ReadSecret, Action::RotateSecret, Action::ManageAccounts]
        {
            assert!(authorize(&user("m", Role::Manager), action, Resource::All).is_err());
            assert!(authorize(&user("a", Role::Admin), action, Resource::All).is_ok());
            assert!(authorize(&Principal::System, action, Resource::All).is_ok());
        }
        assert_eq!(Principal::System.actor(), "system");
        assert_eq!(user("alice", Role::Viewer).actor(), "user:alice");
    }
}
