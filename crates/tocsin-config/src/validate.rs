//! The rules about values: id and key syntax, lengths, uniqueness and
//! references. Runs on the [`Document`] the schema step produced and builds
//! the [`Catalog`]; the catalog is only handed out if no rule was broken.

use std::collections::{HashMap, HashSet};

use tocsin_core::model::{Catalog, IntegrationKind, IntegrationSpec, Service, Team, User};

use crate::error::{Diagnostics, Pos, Problem};
use crate::path::Path;
use crate::schema::{self, Document, Entry, Text};

const ID_MAX_CHARS: usize = 64;
const NAME_MAX_CHARS: usize = 200;
const DESCRIPTION_MAX_CHARS: usize = 2000;
const KEY_MIN_CHARS: usize = 16;
const KEY_MAX_CHARS: usize = 128;

/// Checks every rule, reporting each broken one, and returns the catalog the
/// document declares (meaningful only if nothing was reported).
pub(crate) fn validate(document: &Document, diagnostics: &mut Diagnostics) -> Catalog {
    let mut check = Checker { diagnostics };
    let teams = check.teams(&document.teams.entries);
    let users = check.users(&document.users.entries);
    // Only a complete team list can prove a reference dangling.
    let known_teams =
        document.teams.complete.then(|| teams.iter().map(|team| team.id.as_str()).collect::<HashSet<_>>());
    let (services, integrations) = check.services(&document.services.entries, known_teams);
    Catalog { teams, users, services, integrations }
}

/// The first place an id (or key) was seen, to point at in duplicate errors.
struct FirstSeen {
    path: Path,
    pos: Pos,
}

/// Remembers ids of one kind and reports repeats.
#[derive(Default)]
struct Registry {
    seen: HashMap<String, FirstSeen>,
}

impl Registry {
    /// Records `id` at `path`/`pos`; returns where it was first seen if this is
    /// a repeat.
    fn record(&mut self, id: &str, path: &Path, pos: Pos) -> Option<&FirstSeen> {
        if self.seen.contains_key(id) {
            return self.seen.get(id);
        }
        self.seen.insert(id.to_owned(), FirstSeen { path: path.clone(), pos });
        None
    }
}

struct Checker<'a> {
    diagnostics: &'a mut Diagnostics,
}

impl Checker<'_> {
    /// Checks an entity id's syntax and uniqueness among `registry`; true when
    /// both hold.
    fn entity_id(&mut self, what: &'static str, registry: &mut Registry, entry_path: &Path, id: &Text) -> bool {
        let path = entry_path.key("id");
        let mut ok = true;
        if let Err(problem) = check_id(&id.value) {
            self.diagnostics.report(&path, id.pos, problem);
            ok = false;
        }
        if let Some(first) = registry.record(&id.value, &path, id.pos) {
            let problem = Problem::DuplicateId { what, id: id.value.clone(), first_line: first.pos.line };
            self.diagnostics.report(&path, id.pos, problem);
            ok = false;
        }
        ok
    }

    fn name(&mut self, entry_path: &Path, name: &Text) {
        let len = name.value.chars().count();
        let problem = if name.value.trim().is_empty() {
            Problem::NameEmpty
        } else if len > NAME_MAX_CHARS {
            Problem::NameTooLong { len, max: NAME_MAX_CHARS }
        } else {
            return;
        };
        self.diagnostics.report(&entry_path.key("name"), name.pos, problem);
    }

    fn teams(&mut self, entries: &[Entry<schema::Team>]) -> Vec<Team> {
        let mut ids = Registry::default();
        entries
            .iter()
            .map(|Entry { path, value, .. }| {
                self.entity_id("team", &mut ids, path, &value.id);
                self.name(path, &value.name);
                Team { id: value.id.value.clone(), name: value.name.value.clone() }
            })
            .collect()
    }

    fn users(&mut self, entries: &[Entry<schema::User>]) -> Vec<User> {
        let mut ids = Registry::default();
        entries
            .iter()
            .map(|Entry { path, value, .. }| {
                self.entity_id("user", &mut ids, path, &value.id);
                self.name(path, &value.name);
                if !is_email(&value.email.value) {
                    let problem = Problem::Email { email: value.email.value.clone() };
                    self.diagnostics.report(&path.key("email"), value.email.pos, problem);
                }
                User { id: value.id.value.clone(), name: value.name.value.clone(), email: value.email.value.clone() }
            })
            .collect()
    }

    fn services(
        &mut self,
        entries: &[Entry<schema::Service>],
        known_teams: Option<HashSet<&str>>,
    ) -> (Vec<Service>, Vec<IntegrationSpec>) {
        let mut ids = Registry::default();
        let mut integrations = Integrations::default();
        let mut services = Vec::with_capacity(entries.len());
        for Entry { path, value, .. } in entries {
            let id_ok = self.entity_id("service", &mut ids, path, &value.id);
            self.name(path, &value.name);
            if let Some(description) = &value.description {
                let len = description.value.chars().count();
                if len > DESCRIPTION_MAX_CHARS {
                    let problem = Problem::DescriptionTooLong { len, max: DESCRIPTION_MAX_CHARS };
                    self.diagnostics.report(&path.key("description"), description.pos, problem);
                }
            }
            if let (Some(team), Some(known)) = (&value.team, &known_teams)
                && !known.contains(team.value.as_str())
            {
                let problem = Problem::UnknownTeam { team: team.value.clone() };
                self.diagnostics.report(&path.key("team"), team.pos, problem);
            }
            self.integrations(&mut integrations, &value.id.value, id_ok, &value.integrations);
            services.push(Service {
                id: value.id.value.clone(),
                name: value.name.value.clone(),
                description: value.description.as_ref().map(|d| d.value.clone()),
                team: value.team.as_ref().map(|t| t.value.clone()),
            });
        }
        (services, integrations.specs)
    }

    /// Checks the integrations of the service `service_id` and adds them to
    /// `all`. `service_id_ok` is false when the service id is itself invalid
    /// or a duplicate: default ids derived from it would only repeat that
    /// error, so they are not checked.
    fn integrations(
        &mut self,
        all: &mut Integrations,
        service_id: &str,
        service_id_ok: bool,
        entries: &[Entry<schema::Integration>],
    ) {
        let mut per_kind: HashMap<IntegrationKind, usize> = HashMap::new();
        for Entry { path, pos, value } in entries {
            let ordinal = per_kind.entry(value.kind).or_insert(0);
            *ordinal += 1;
            let id = match &value.id {
                Some(id) => {
                    let id_path = path.key("id");
                    if let Err(problem) = check_id(&id.value) {
                        self.diagnostics.report(&id_path, id.pos, problem);
                    }
                    self.integration_id(all, &id.value, &id_path, id.pos, false);
                    id.value.clone()
                }
                None => {
                    let id = default_integration_id(service_id, value.kind, *ordinal);
                    if service_id_ok {
                        let len = id.chars().count();
                        if len > ID_MAX_CHARS {
                            let problem = Problem::DefaultIdTooLong { id: id.clone(), len, max: ID_MAX_CHARS };
                            self.diagnostics.report(path, *pos, problem);
                        }
                        self.integration_id(all, &id, path, *pos, true);
                    }
                    id
                }
            };
            self.key(all, path, &value.key);
            all.specs.push(IntegrationSpec {
                id,
                service_id: service_id.to_owned(),
                kind: value.kind,
                key: value.key.value.clone(),
            });
        }
    }

    fn integration_id(&mut self, all: &mut Integrations, id: &str, path: &Path, pos: Pos, defaulted: bool) {
        if let Some(first) = all.ids.record(id, path, pos) {
            let problem = Problem::DuplicateIntegrationId {
                id: id.to_owned(),
                first: first.path.clone(),
                first_line: first.pos.line,
                defaulted,
            };
            self.diagnostics.report(path, pos, problem);
        }
    }

    fn key(&mut self, all: &mut Integrations, entry_path: &Path, key: &Text) {
        let path = entry_path.key("key");
        let len = key.value.chars().count();
        if !(KEY_MIN_CHARS..=KEY_MAX_CHARS).contains(&len) {
            let problem = Problem::KeyLength { len, min: KEY_MIN_CHARS, max: KEY_MAX_CHARS };
            self.diagnostics.report(&path, key.pos, problem);
        }
        if let Some(index) = key.value.chars().position(|ch| !is_key_char(ch)) {
            let problem = Problem::KeyCharacter { position: index + 1 };
            self.diagnostics.report(&path, key.pos, problem);
        }
        // Keyed by the integration, not the entry: the message names the
        // integration, never the secret key.
        if let Some(first) = all.keys.record(&key.value, entry_path, key.pos) {
            let problem = Problem::DuplicateKey { first: first.path.clone() };
            self.diagnostics.report(&path, key.pos, problem);
        }
    }
}

/// Integration ids and keys are unique across the whole file, not per service.
#[derive(Default)]
struct Integrations {
    ids: Registry,
    keys: Registry,
    specs: Vec<IntegrationSpec>,
}

/// Ids are stable, URL- and shell-safe handles: 1–64 characters of
/// `[a-z0-9][a-z0-9_-]*`.
fn check_id(id: &str) -> Result<(), Problem> {
    let len = id.chars().count();
    let mut chars = id.chars();
    let Some(first) = chars.next() else {
        return Err(Problem::IdEmpty);
    };
    if len > ID_MAX_CHARS {
        return Err(Problem::IdTooLong { len, max: ID_MAX_CHARS });
    }
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Err(Problem::IdBadStart { id: id.to_owned() });
    }
    if let Some(ch) = chars.find(|&ch| !(ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_' || ch == '-')) {
        return Err(Problem::IdBadChar { id: id.to_owned(), ch });
    }
    Ok(())
}

/// `<service>-<kind>`, then `-2`, `-3` … for the second and later
/// integrations of a kind. The ordinal counts every integration of the kind,
/// explicit ids included, so giving one integration an id never renames
/// another.
fn default_integration_id(service_id: &str, kind: IntegrationKind, ordinal: usize) -> String {
    if ordinal <= 1 {
        format!("{service_id}-{}", kind.as_str())
    } else {
        format!("{service_id}-{}-{ordinal}", kind.as_str())
    }
}

/// Deliberately loose: exactly one `@` with something on both sides. Real
/// validation is delivering a message.
fn is_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => !local.is_empty() && !domain.is_empty() && !domain.contains('@'),
        None => false,
    }
}

/// Keys travel in URL paths (`/integrations/alertmanager/{key}`): printable
/// ASCII, no space, no `/`.
fn is_key_char(ch: char) -> bool {
    ch.is_ascii_graphic() && ch != '/'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_rules() {
        assert!(check_id("payments").is_ok());
        assert!(check_id("0-a_b").is_ok());
        assert!(check_id(&"a".repeat(64)).is_ok());
        let message = |id: &str| check_id(id).unwrap_err().to_string();
        assert_eq!(message(""), "id must not be empty");
        assert_eq!(message(&"a".repeat(65)), "id is 65 characters long; the limit is 64");
        assert_eq!(message("-a"), "id `-a` must start with a lowercase letter or a digit");
        assert_eq!(message("Pay"), "id `Pay` must start with a lowercase letter or a digit");
        assert_eq!(message("pay ments"), "id `pay ments` contains ` `; ids use only a-z, 0-9, `_` and `-`");
        assert_eq!(message("pay\nments"), "id `pay\\nments` contains `\\n`; ids use only a-z, 0-9, `_` and `-`");
    }

    #[test]
    fn email_rules() {
        assert!(is_email("alice@example.com"));
        assert!(!is_email("alice"));
        assert!(!is_email("@example.com"));
        assert!(!is_email("alice@"));
        assert!(!is_email("a@b@c"));
    }

    #[test]
    fn default_ids_number_repeats_of_a_kind() {
        let kind = IntegrationKind::Pagerduty;
        assert_eq!(default_integration_id("checkout", kind, 1), "checkout-pagerduty");
        assert_eq!(default_integration_id("checkout", kind, 2), "checkout-pagerduty-2");
        assert_eq!(default_integration_id("checkout", kind, 3), "checkout-pagerduty-3");
    }

    #[test]
    fn key_characters() {
        assert!("am-checkout-0123456789abcdef".chars().all(is_key_char));
        assert!(!is_key_char(' '));
        assert!(!is_key_char('/'));
        assert!(!is_key_char('é'));
        assert!(!is_key_char('\t'));
    }
}
