//! What applying one catalog over another changes, section by section: the
//! answer `config plan` prints before anything is applied, and the summary
//! `config apply` records.

use serde::Serialize;

use crate::model::Catalog;

/// Ids added, changed and removed in one section of the catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SectionDiff {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

impl SectionDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }

    /// Compares two lists of entities by id, keeping the new list's order
    /// for additions and changes and the old list's for removals.
    fn of<T: PartialEq>(old: &[T], new: &[T], id: impl Fn(&T) -> &str) -> Self {
        let find = |list: &'_ [T], wanted: &str| list.iter().position(|e| id(e) == wanted);
        let mut diff = Self::default();
        for entity in new {
            match find(old, id(entity)) {
                None => diff.added.push(id(entity).to_string()),
                Some(i) if old.get(i) != Some(entity) => diff.changed.push(id(entity).to_string()),
                Some(_) => {}
            }
        }
        diff.removed = old.iter().filter(|e| find(new, id(e)).is_none()).map(|e| id(e).to_string()).collect();
        diff
    }
}

/// Every section's changes. Integration keys are compared but never shown:
/// a changed key shows as a changed integration id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CatalogDiff {
    pub teams: SectionDiff,
    pub users: SectionDiff,
    pub services: SectionDiff,
    pub integrations: SectionDiff,
    pub schedules: SectionDiff,
    pub escalation_policies: SectionDiff,
    /// Integrations under the top-level `integrations`, by id.
    pub routed_integrations: SectionDiff,
    pub heartbeats: SectionDiff,
    /// The routing tree differs. Route ids are optional, so the tree is
    /// compared whole rather than by id.
    pub routes_changed: bool,
    /// The inhibition rules differ; they have no ids either.
    pub inhibit_rules_changed: bool,
    /// Server-wide notification settings (SMTP relay, public URL, signing
    /// secret, link lifetime, rate limit) differ.
    pub notifications_changed: bool,
    /// How long data of resolved incidents is kept differs.
    pub retention_changed: bool,
}

impl CatalogDiff {
    pub fn between(old: &Catalog, new: &Catalog) -> Self {
        Self {
            teams: SectionDiff::of(&old.teams, &new.teams, |t| &t.id),
            users: SectionDiff::of(&old.users, &new.users, |u| &u.id),
            services: SectionDiff::of(&old.services, &new.services, |s| &s.id),
            integrations: SectionDiff::of(&old.integrations, &new.integrations, |i| &i.id),
            schedules: SectionDiff::of(&old.schedules, &new.schedules, |s| &s.id),
            escalation_policies: SectionDiff::of(&old.escalation_policies, &new.escalation_policies, |p| &p.id),
            routed_integrations: SectionDiff::of(&old.routed_integrations, &new.routed_integrations, |i| &i.id),
            heartbeats: SectionDiff::of(&old.heartbeats, &new.heartbeats, |h| &h.id),
            routes_changed: old.routes != new.routes,
            inhibit_rules_changed: old.inhibit_rules != new.inhibit_rules,
            notifications_changed: old.notifications != new.notifications,
            retention_changed: old.retention != new.retention,
        }
    }

    /// The sections by name, in the order people read them.
    pub fn sections(&self) -> [(&'static str, &SectionDiff); 8] {
        [
            ("teams", &self.teams),
            ("users", &self.users),
            ("services", &self.services),
            ("integrations", &self.integrations),
            ("routed_integrations", &self.routed_integrations),
            ("schedules", &self.schedules),
            ("escalation_policies", &self.escalation_policies),
            ("heartbeats", &self.heartbeats),
        ]
    }

    /// The sections compared whole, by name, with whether they differ.
    fn flags(&self) -> [(&'static str, bool); 4] {
        [
            ("routes", self.routes_changed),
            ("inhibit_rules", self.inhibit_rules_changed),
            ("notifications", self.notifications_changed),
            ("retention", self.retention_changed),
        ]
    }

    pub fn is_empty(&self) -> bool {
        self.flags().iter().all(|(_, changed)| !changed) && self.sections().iter().all(|(_, s)| s.is_empty())
    }

    /// One line for logs and audit: `services: 1 added, 2 changed; users: 1 removed`.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self
            .sections()
            .iter()
            .filter(|(_, s)| !s.is_empty())
            .map(|(name, s)| {
                let counts: Vec<String> = [("added", &s.added), ("changed", &s.changed), ("removed", &s.removed)]
                    .iter()
                    .filter(|(_, ids)| !ids.is_empty())
                    .map(|(verb, ids)| format!("{} {verb}", ids.len()))
                    .collect();
                format!("{name}: {}", counts.join(", "))
            })
            .collect();
        parts.extend(self.flags().iter().filter(|(_, changed)| *changed).map(|(name, _)| format!("{name}: changed")));
        if parts.is_empty() { "no changes".into() } else { parts.join("; ") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{IntegrationKind, IntegrationSpec, Service, Team, User};

    fn user(id: &str, name: &str) -> User {
        User { id: id.into(), name: name.into(), ..User::default() }
    }

    fn catalog(users: Vec<User>) -> Catalog {
        Catalog { users, ..Catalog::default() }
    }

    #[test]
    fn added_changed_removed_by_id() {
        let old = catalog(vec![user("alice", "Alice"), user("bob", "Bob"), user("carol", "Carol")]);
        let new = catalog(vec![user("bob", "Robert"), user("alice", "Alice"), user("dave", "Dave")]);
        let diff = CatalogDiff::between(&old, &new);
        assert_eq!(
            diff.users,
            SectionDiff { added: vec!["dave".into()], changed: vec!["bob".into()], removed: vec!["carol".into()] }
        );
        assert!(diff.teams.is_empty());
        assert_eq!(diff.summary(), "users: 1 added, 1 changed, 1 removed");
        assert!(CatalogDiff::between(&new, &new).is_empty());
        assert_eq!(CatalogDiff::between(&new, &new).summary(), "no changes");
    }

    #[test]
    fn a_new_key_changes_its_integration_and_notifications_are_flagged() {
        let spec = |key: &str| IntegrationSpec {
            id: "api-pd".into(),
            service_id: "api".into(),
            kind: IntegrationKind::Pagerduty,
            key: key.into(),
        };
        let old = Catalog {
            teams: vec![Team { id: "ops".into(), name: "Ops".into(), members: vec![] }],
            services: vec![Service { id: "api".into(), ..Service::default() }],
            integrations: vec![spec("old-key-0123456789")],
            ..Catalog::default()
        };
        let mut new = Catalog { integrations: vec![spec("new-key-0123456789")], ..old.clone() };
        new.notifications.public_url = Some("https://tocsin.example".into());
        let diff = CatalogDiff::between(&old, &new);
        assert_eq!(diff.integrations.changed, ["api-pd"]);
        assert!(diff.notifications_changed);
        let summary = diff.summary();
        assert_eq!(summary, "integrations: 1 changed; notifications: changed");
        assert!(!summary.contains("key"), "keys are never shown");
    }

    #[test]
    fn a_retention_change_is_a_change() {
        let old = Catalog::default();
        let new = Catalog { retention: crate::retention::Retention::OFF, ..Catalog::default() };
        let diff = CatalogDiff::between(&old, &new);
        assert!(diff.retention_changed && !diff.is_empty());
        assert_eq!(diff.summary(), "retention: changed");
    }

    #[test]
    fn noise_control_sections_are_reported_by_name() {
        use crate::inhibit::InhibitRule;
        use crate::matchers::Matchers;
        use crate::model::{HeartbeatSpec, RoutedIntegrationSpec};
        use crate::routing::Route;
        use crate::storm::StormPolicy;
        use chrono::Duration;

        let heartbeat = |id: &str, key: &str| HeartbeatSpec {
            id: id.into(),
            service: "api".into(),
            key: key.into(),
            interval: Duration::hours(1),
            grace: Duration::zero(),
        };
        let routed = |key: &str| RoutedIntegrationSpec {
            id: "edge-prometheus".into(),
            kind: IntegrationKind::Prometheus,
            key: key.into(),
            route: "edge".into(),
        };
        let old = Catalog {
            services: vec![Service { id: "api".into(), ..Service::default() }],
            heartbeats: vec![heartbeat("nightly", "hb-key-0123456789abc"), heartbeat("hourly", "hb-key-0123456789xyz")],
            routed_integrations: vec![routed("routed-key-0123456789")],
            routes: vec![Route { id: Some("edge".into()), service: Some("api".into()), ..Route::default() }],
            ..Catalog::default()
        };
        let unchanged = CatalogDiff::between(&old, &old.clone());
        assert!(unchanged.is_empty(), "{unchanged:?}");

        let mut new = old.clone();
        new.services[0].storm = Some(StormPolicy { max_new_alerts: 5, ..StormPolicy::default() });
        new.heartbeats[0].key = "hb-key-rotated-0123456789".into();
        new.heartbeats.remove(1);
        new.heartbeats.push(heartbeat("weekly", "hb-key-weekly-0123456789"));
        new.routed_integrations[0].key = "routed-key-rotated-0123456789".into();
        new.routes[0].matchers = Matchers::parse(r#"team="edge""#).unwrap();
        new.inhibit_rules.push(InhibitRule::default());
        let diff = CatalogDiff::between(&old, &new);
        assert_eq!(
            diff.heartbeats,
            SectionDiff {
                added: vec!["weekly".into()],
                changed: vec!["nightly".into()],
                removed: vec!["hourly".into()]
            }
        );
        assert!(diff.routes_changed && diff.inhibit_rules_changed);
        let summary = diff.summary();
        assert_eq!(
            summary,
            "services: 1 changed; routed_integrations: 1 changed; heartbeats: 1 added, 1 changed, 1 removed; \
             routes: changed; inhibit_rules: changed"
        );
        assert!(!summary.contains("key"), "keys are never shown");
    }
}
