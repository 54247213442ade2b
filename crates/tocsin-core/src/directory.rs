//! The on-call directory: who exists, how to reach them, which schedules and
//! policies page whom, as declared in the applied config. The HTTP API and
//! the engine read the same value, so an answer to "who is on call" and the
//! page that follows never disagree.

use std::sync::{Arc, RwLock};

use crate::escalation::Policy;
use crate::heartbeat::Heartbeat;
use crate::inhibit::InhibitRule;
use crate::model::{Catalog, Notifications, Service, Team, User};
use crate::retention::Retention;
use crate::routing::Route;
use crate::schedule::{Override, Schedule};

#[derive(Debug, Clone, Default)]
pub struct Directory {
    /// The version of the applied config this was built from; 0 before any.
    pub version: i64,
    pub teams: Vec<Team>,
    pub users: Vec<User>,
    pub services: Vec<Service>,
    pub schedules: Vec<Schedule>,
    pub policies: Vec<Policy>,
    pub notifications: Notifications,
    pub retention: Retention,
    /// The routing tree for routed (top-level) integrations.
    pub routes: Vec<Route>,
    pub inhibit_rules: Vec<InhibitRule>,
    /// Heartbeat monitors without their keys: like integration keys, those
    /// are for the store to keep hashed, not for every reader.
    pub heartbeats: Vec<Heartbeat>,
    /// [`Directory::noise_rules`], built on first use (a directory is not
    /// changed once it is in force).
    pub(crate) noise: std::sync::OnceLock<std::sync::Arc<crate::noise::NoiseRules>>,
}

impl Directory {
    pub fn from_catalog(catalog: &Catalog) -> Self {
        Self {
            version: 0,
            teams: catalog.teams.clone(),
            users: catalog.users.clone(),
            services: catalog.services.clone(),
            schedules: catalog.schedules.clone(),
            policies: catalog.escalation_policies.clone(),
            notifications: catalog.notifications.clone(),
            retention: catalog.retention,
            routes: catalog.routes.clone(),
            inhibit_rules: catalog.inhibit_rules.clone(),
            heartbeats: catalog.heartbeats.iter().map(|h| h.heartbeat()).collect(),
            noise: Default::default(),
        }
    }

    /// The noise rules intake judges new alerts by, shared by every batch
    /// written under this directory.
    pub fn noise_rules(&self) -> std::sync::Arc<crate::noise::NoiseRules> {
        self.noise.get_or_init(|| std::sync::Arc::new(crate::noise::NoiseRules::from_directory(self))).clone()
    }

    /// The same directory, marked as built from config version `version`.
    pub fn at_version(mut self, version: i64) -> Self {
        self.version = version;
        self
    }

    pub fn team(&self, id: &str) -> Option<&Team> {
        self.teams.iter().find(|t| t.id == id)
    }

    /// Ids of the teams `user_id` is a member of, in config order.
    pub fn teams_of(&self, user_id: &str) -> Vec<String> {
        self.teams.iter().filter(|t| t.members.iter().any(|m| m == user_id)).map(|t| t.id.clone()).collect()
    }

    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    pub fn service(&self, id: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.id == id)
    }

    pub fn schedule(&self, id: &str) -> Option<&Schedule> {
        self.schedules.iter().find(|s| s.id == id)
    }

    pub fn policy(&self, id: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| p.id == id)
    }

    pub fn heartbeat(&self, id: &str) -> Option<&Heartbeat> {
        self.heartbeats.iter().find(|h| h.id == id)
    }

    /// The escalation policy that pages for `service_id`, if any.
    pub fn service_policy(&self, service_id: &str) -> Option<&Policy> {
        self.service(service_id).and_then(|s| s.escalation_policy.as_deref()).and_then(|p| self.policy(p))
    }

    /// The services that declare `depends_on: [service_id]`, in config order.
    pub fn dependents(&self, service_id: &str) -> Vec<String> {
        self.services.iter().filter(|s| s.depends_on.iter().any(|d| d == service_id)).map(|s| s.id.clone()).collect()
    }
}

/// The directory in force, replaced whole when a new config version is
/// applied (on this node or another) while readers keep the snapshot they
/// took: a request or an engine step sees one version from start to end.
#[derive(Debug, Clone, Default)]
pub struct LiveDirectory(Arc<RwLock<Arc<Directory>>>);

impl LiveDirectory {
    pub fn new(directory: Directory) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(directory))))
    }

    /// A snapshot of the directory in force now.
    pub fn current(&self) -> Arc<Directory> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Puts `directory` in force for every later [`LiveDirectory::current`].
    pub fn replace(&self, directory: Directory) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(directory);
    }
}

/// `schedule` with overrides created at run time (API, CLI) added after the
/// ones declared in config. Where overrides overlap, the one created last
/// wins: config overrides rank in list order, stored ones after all of them
/// in the order the store assigned their ids.
pub fn with_stored_overrides(schedule: &Schedule, stored: impl IntoIterator<Item = StoredOverride>) -> Schedule {
    let mut merged = schedule.clone();
    let base = merged.overrides.iter().map(|o| o.created_seq).max().map_or(0, |m| m.saturating_add(1));
    merged.overrides.extend(stored.into_iter().map(|o| Override {
        user: o.user,
        start: o.start,
        end: o.end,
        created_seq: base.saturating_add(o.id.max(0) as u64),
    }));
    merged
}

/// An override as the store keeps it: its id orders creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOverride {
    pub id: i64,
    pub user: String,
    pub start: chrono::DateTime<chrono::Utc>,
    pub end: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::model::HeartbeatSpec;
    use crate::routing::Route;

    #[test]
    fn carries_the_noise_control_sections_without_heartbeat_keys() {
        let catalog = Catalog {
            routes: vec![Route { id: Some("edge".into()), ..Route::default() }],
            inhibit_rules: vec![crate::inhibit::InhibitRule::default()],
            heartbeats: vec![HeartbeatSpec {
                id: "nightly".into(),
                service: "api".into(),
                key: "hb-key-0123456789abc".into(),
                interval: Duration::hours(1),
                grace: Duration::minutes(5),
            }],
            ..Catalog::default()
        };
        let directory = Directory::from_catalog(&catalog);
        assert_eq!(directory.routes, catalog.routes);
        assert_eq!(directory.inhibit_rules, catalog.inhibit_rules);
        let nightly = directory.heartbeat("nightly").unwrap();
        assert_eq!((nightly.service.as_str(), nightly.grace), ("api", Duration::minutes(5)));
        assert!(!format!("{directory:?}").contains("hb-key-0123456789abc"), "keys stay with the store");
    }
}
