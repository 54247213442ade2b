//! Config as code: reads the YAML file that declares teams, users (with
//! their contact methods and notification rules), services, integrations,
//! on-call schedules, escalation policies and notification settings, checks
//! it, and produces a [`Catalog`].
//!
//! Every problem is reported with the file, line and column, and a path such
//! as `services[1].integrations[0].key`, and all problems are reported at
//! once, so `tocsin config validate` can point at each of them:
//!
//! ```text
//! examples/tocsin.yaml:12:9: services[1].integrations[0].kind: unknown variant `pagerdty`, expected one of pagerduty, alertmanager, prometheus, generic
//! ```
//!
//! The work happens in three steps, one module each: `yaml` parses the text
//! into a tree of located nodes, `schema` checks its shape (types, known and
//! required fields), and `validate` checks the values (ids, keys,
//! uniqueness, references, zones, durations, times) and builds the catalog.
//! Schedules and escalation policies also pass the domain's own checks
//! (`tocsin_core::schedule::problems`, `tocsin_core::escalation::validate`),
//! reported at the config path they concern.
//!
//! ```yaml
//! teams:
//!   - { id: payments, name: Payments }
//! users:
//!   - id: alice
//!     name: Alice Example
//!     email: alice@example.com
//!     time_zone: Europe/Berlin        # optional IANA zone
//!     contact_methods:                # ids unique across the file
//!       - { id: alice-hook, kind: webhook, url: "http://127.0.0.1:9000/hook" }   # webhook | slack: http(s) url
//!       - { id: alice-mail, kind: email, address: alice@example.com }
//!     notification_rules:             # only this user's methods; none = every method at 0s
//!       - { contact_method: alice-hook, after: 0s }
//!       - { contact_method: alice-mail, after: 2m }
//! schedules:
//!   - id: primary
//!     time_zone: America/New_York     # required, IANA
//!     layers:                         # later layers win where they are active
//!       - id: weekly
//!         users: [alice]              # at least one; declared users
//!         start: "2026-03-02T09:00:00"  # local time in the layer's zone, no offset
//!         time_zone: America/Chicago  # optional; default the schedule's
//!         turn: 1w                    # one unit: 12h (absolute), 1d or 1w (calendar)
//!         handoff: "09:00"            # optional; must equal start's time of day
//!         restrictions:               # optional windows; `from` and `to` differ
//!           - { kind: weekly, from: "mon 09:00", to: "fri 17:00" }  # ONE window, nights included
//!           - { kind: daily, from: "22:00", to: "06:00" }       # every day, across midnight
//!         end: "2026-12-31T00:00:00Z" # optional RFC 3339 instant
//!     overrides:                      # RFC 3339 instants; the later entry wins
//!       - { user: alice, start: "2026-03-06T18:00:00Z", end: "2026-03-09T09:00:00Z" }
//! escalation_policies:
//!   - id: checkout-primary
//!     repeat: 2                       # extra passes; default 0
//!     levels:                         # at least one
//!       - { targets: [{ schedule: primary }, { user: alice }], escalate_after: 5m }   # > 0
//! services:
//!   - id: checkout
//!     name: Checkout API
//!     description: Takes money        # optional
//!     team: payments                  # optional, must name a team above
//!     escalation_policy: checkout-primary  # optional, must name a policy above
//!     ack_timeout: 30m                # optional: > 0, or `off`; default 30m
//!     integrations:
//!       - kind: pagerduty             # pagerduty | alertmanager | prometheus | generic
//!         key: 6f1d3c0e9b2a4f7c8d5e1a2b3c4d5e6f
//!         id: checkout-pd             # optional; default "<service id>-<kind>"
//! notifications:
//!   smtp:                             # optional; username and password together
//!     { host: 127.0.0.1, port: 2525, from: tocsin@example.com, username: u, password: p, starttls: false }
//! ```
//!
//! The noise-control sections (top-level `integrations`, `routes`,
//! `inhibit_rules`, `heartbeats`; services' `depends_on`, `grouping`,
//! `storm`, `flapping`, `maintenance_windows`) are optional and shown in
//! `examples/tocsin.yaml`; their values go through the domain's parsers.
//!
//! Durations are `<number><unit>` parts with units s, m, h, d, w (`30s`,
//! `1h30m`), as `tocsin_core::duration` parses them. Time zones, durations
//! and references are checked wherever they appear; the SMTP password is
//! never shown in an error.

mod error;
mod path;
mod schema;
mod validate;
mod values;
mod yaml;

#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::Read;

pub use error::{ConfigError, ConfigErrors, ConfigWarning};
use error::{Diagnostics, Pos, Problem};
use path::Path;
use tocsin_core::model::Catalog;

/// The largest config file accepted, in bytes. Far above any real catalog;
/// it bounds the memory a mistaken or hostile file can claim.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// Parses and validates the config `text`; `file_label` (normally the file's
/// path) is used only to label errors.
///
/// Returns the catalog, or every problem found. Text longer than
/// [`MAX_FILE_BYTES`] is rejected without being parsed.
pub fn parse(file_label: &str, text: &str) -> Result<Catalog, ConfigErrors> {
    let mut diagnostics = Diagnostics::new(file_label);
    if text.len() > MAX_FILE_BYTES {
        let problem = Problem::TooLarge { limit: MAX_FILE_BYTES };
        diagnostics.report(&Path::root(), Pos::NONE, problem);
        return diagnostics.finish(Catalog::default());
    }
    let Some(tree) = yaml::parse_tree(text, &mut diagnostics) else {
        return diagnostics.finish(Catalog::default());
    };
    let document = schema::read(&tree, text, &mut diagnostics);
    let catalog = validate::validate(&document, &mut diagnostics);
    diagnostics.finish(catalog)
}

/// The text of the config file at `path`, within [`MAX_FILE_BYTES`] and
/// valid UTF-8, or the error that says why not (labelled with the path).
pub fn read_source(path: &std::path::Path) -> Result<String, ConfigErrors> {
    read_limited(path).map_err(|(pos, problem)| {
        let mut diagnostics = Diagnostics::new(&path.display().to_string());
        diagnostics.report(&Path::root(), pos, problem);
        match diagnostics.finish(()) {
            Err(errors) => errors,
            Ok(()) => ConfigErrors(Vec::new()),
        }
    })
}

/// Reads the config file at `path` and [`parse`]s it, labelling errors with
/// the path.
///
/// Files larger than [`MAX_FILE_BYTES`] are rejected without being read in
/// full, as are files that are not UTF-8 (the error points at the first bad
/// byte).
pub fn load(path: &std::path::Path) -> Result<Catalog, ConfigErrors> {
    parse(&path.display().to_string(), &read_source(path)?)
}

/// What is valid in a parsed catalog but probably not meant; `file_label`
/// labels them as in [`parse`].
///
/// A file that declares nothing (empty, or only comments) is valid, but
/// applied to a server it deactivates every service and integration, so it
/// gets a warning.
pub fn warnings(file_label: &str, catalog: &Catalog) -> Vec<ConfigWarning> {
    let mut warnings = Vec::new();
    let declares_nothing = catalog.teams.is_empty()
        && catalog.users.is_empty()
        && catalog.services.is_empty()
        && catalog.schedules.is_empty()
        && catalog.escalation_policies.is_empty();
    if declares_nothing {
        warnings.push(ConfigWarning {
            file: file_label.to_owned(),
            line: None,
            column: None,
            path: String::new(),
            message: "nothing is declared: no teams, users, services, schedules or escalation policies \
                      (applied to a server, this deactivates every service and integration)"
                .to_owned(),
        });
    }
    warnings
}

/// Reads at most one byte more than the limit, so an oversized (or endless)
/// file is detected without being loaded.
fn read_limited(path: &std::path::Path) -> Result<String, (Pos, Problem)> {
    let read_error = |error| (Pos::NONE, Problem::Read(error));
    let file = File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    let cap = u64::try_from(MAX_FILE_BYTES).map_or(u64::MAX, |limit| limit.saturating_add(1));
    file.take(cap).read_to_end(&mut bytes).map_err(read_error)?;
    if bytes.len() > MAX_FILE_BYTES {
        let problem = Problem::TooLarge { limit: MAX_FILE_BYTES };
        return Err((Pos::NONE, problem));
    }
    String::from_utf8(bytes).map_err(|error| {
        let valid = error.utf8_error().valid_up_to();
        let prefix = error.as_bytes().get(..valid).unwrap_or_default();
        (position_after(prefix), Problem::NotUtf8)
    })
}

/// The line and column just after `prefix`, which is valid UTF-8 text.
fn position_after(prefix: &[u8]) -> Pos {
    let text = String::from_utf8_lossy(prefix);
    let line_start = text.rfind('\n').map_or(0, |newline| newline + 1);
    Pos {
        line: Some(text.matches('\n').count() + 1),
        column: Some(text.get(line_start..).unwrap_or_default().chars().count() + 1),
    }
}
