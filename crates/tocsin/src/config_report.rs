//! What applying a config file changed, as one line for the start-up log:
//!
//! ```text
//! config applied: 2 services added, 1 changed, 0 removed; 5 integrations added, 0 changed, 0 removed; 1 team, 2 users, 2 schedules, 1 escalation policy declared
//! ```
//!
//! Services and integrations live in the database, so they are compared with
//! what it held before the file was applied; people, schedules and policies
//! are read from the file on every start and only counted.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use tocsin_core::auth::hash_secret;
use tocsin_core::model::{Catalog, IntegrationKind};
use tocsin_store::{Store, StoreError};

use crate::plural;

/// The stored services and integrations a config is about to replace.
#[derive(Debug, Clone, Default)]
pub struct Before {
    /// Active services: (name, description, team) by id.
    services: BTreeMap<String, (String, Option<String>, Option<String>)>,
    /// Enabled integrations: (service, kind) by id.
    integrations: BTreeMap<String, (String, IntegrationKind)>,
    /// Declared integrations whose key already opens that same integration.
    same_key: BTreeSet<String>,
}

/// Reads what [`report`] compares `catalog` with; call it before applying.
pub async fn before(store: &dyn Store, catalog: &Catalog) -> Result<Before, StoreError> {
    let mut before = Before::default();
    for s in store.list_services().await? {
        for i in &s.integrations {
            before.integrations.insert(i.id.clone(), (s.id.clone(), i.kind));
        }
        before.services.insert(s.id, (s.name, s.description, s.team));
    }
    for i in &catalog.integrations {
        if store.find_integration(&hash_secret(&i.key)).await?.is_some_and(|found| found.id == i.id) {
            before.same_key.insert(i.id.clone());
        }
    }
    Ok(before)
}

/// How many entries of one kind appeared, changed or went away.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Diff {
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
}

impl Diff {
    /// Compares ids and values before and after.
    fn of<V: PartialEq>(before: &BTreeMap<String, V>, after: &BTreeMap<String, V>) -> Diff {
        let mut diff = Diff { removed: before.keys().filter(|id| !after.contains_key(*id)).count(), ..Diff::default() };
        for (id, value) in after {
            match before.get(id) {
                None => diff.added += 1,
                Some(old) if old != value => diff.changed += 1,
                Some(_) => {}
            }
        }
        diff
    }
}

/// What applying a config changed and declared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigReport {
    pub services: Diff,
    pub integrations: Diff,
    pub teams: usize,
    pub users: usize,
    pub schedules: usize,
    pub escalation_policies: usize,
}

/// Compares `catalog` with what was stored [`before`] it was applied.
pub fn report(before: &Before, catalog: &Catalog) -> ConfigReport {
    let services = catalog
        .services
        .iter()
        .map(|s| (s.id.clone(), (s.name.clone(), s.description.clone(), s.team.clone())))
        .collect();
    let integrations: BTreeMap<String, (String, IntegrationKind)> =
        catalog.integrations.iter().map(|i| (i.id.clone(), (i.service_id.clone(), i.kind))).collect();
    let mut integration_diff = Diff::of(&before.integrations, &integrations);
    // A new key on an otherwise unchanged integration is a change too.
    integration_diff.changed += catalog
        .integrations
        .iter()
        .filter(|i| before.integrations.get(&i.id) == integrations.get(&i.id) && !before.same_key.contains(&i.id))
        .count();
    ConfigReport {
        services: Diff::of(&before.services, &services),
        integrations: integration_diff,
        teams: catalog.teams.len(),
        users: catalog.users.len(),
        schedules: catalog.schedules.len(),
        escalation_policies: catalog.escalation_policies.len(),
    }
}

impl fmt::Display for ConfigReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let diff = |f: &mut fmt::Formatter<'_>, d: Diff, one: &str, many: &str| {
            write!(f, "{} added, {} changed, {} removed", plural(d.added, one, many), d.changed, d.removed)
        };
        diff(f, self.services, "service", "services")?;
        f.write_str("; ")?;
        diff(f, self.integrations, "integration", "integrations")?;
        write!(
            f,
            "; {}, {}, {}, {} declared",
            plural(self.teams, "team", "teams"),
            plural(self.users, "user", "users"),
            plural(self.schedules, "schedule", "schedules"),
            plural(self.escalation_policies, "escalation policy", "escalation policies"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_reads_as_a_sentence() {
        let report = ConfigReport {
            services: Diff { added: 2, changed: 1, removed: 0 },
            integrations: Diff { added: 1, changed: 0, removed: 3 },
            teams: 1,
            users: 2,
            schedules: 0,
            escalation_policies: 1,
        };
        assert_eq!(
            report.to_string(),
            "2 services added, 1 changed, 0 removed; 1 integration added, 0 changed, 3 removed; \
             1 team, 2 users, 0 schedules, 1 escalation policy declared"
        );
    }

    #[test]
    fn diffs_count_new_changed_and_gone_ids() {
        let map = |pairs: &[(&str, u8)]| pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>();
        let before = map(&[("a", 1), ("b", 1), ("c", 1)]);
        let after = map(&[("a", 1), ("b", 2), ("d", 1)]);
        assert_eq!(Diff::of(&before, &after), Diff { added: 1, changed: 1, removed: 1 });
    }
}
