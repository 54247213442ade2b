//! Catalog entities declared as code: teams, users (with their contact
//! methods and notification rules), services, integrations, schedules,
//! escalation policies and the notification settings.
//!
//! The catalog is an in-process value handed from config to the store and
//! the engine; wire formats live in the adapters. [`Catalog`] and [`User`]
//! therefore do not implement serde: schedules, time zones and notification
//! rules have no serde form in the domain, and the SMTP password must not
//! leak into a serialized catalog by accident.

use chrono::Duration;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::auth::Role;
use crate::escalation::Policy;
use crate::flapping::FlapPolicy;
use crate::grouping::Grouping;
use crate::heartbeat::Heartbeat;
use crate::inhibit::InhibitRule;
use crate::maintenance::MaintenanceWindow;
use crate::notify::rules::{ContactMethod, Rule};
use crate::retention::Retention;
use crate::routing::Route;
use crate::schedule::Schedule;
use crate::storm::StormPolicy;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    pub id: String,
    pub name: String,
    /// Ids of the users in this team, in declaration order.
    #[serde(default)]
    pub members: Vec<String>,
}

/// The id of the account every installation has from its first start. It
/// owns the bootstrap admin token (and tokens that predate accounts), keeps
/// the admin role, and may also be declared in config to give it contact
/// methods.
pub const ADMIN_USER: &str = "admin";

/// A person who can be paged and can act: an account with a role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: String,
    /// What the account may do; tokens act with at most this role.
    pub role: Role,
    /// The zone the user reads times in (display, iCal); `None` when not
    /// declared.
    pub time_zone: Option<Tz>,
    /// Ways to reach the user, in declaration order. Ids are unique across
    /// the whole catalog.
    pub contact_methods: Vec<ContactMethod>,
    /// The rules as declared, in declaration order; each names one of this
    /// user's `contact_methods`. The engine follows
    /// [`effective_rules`](crate::notify::rules::effective_rules) of them
    /// (firing order, and one rule per method at 0 s when none are declared).
    pub notification_rules: Vec<Rule>,
}

/// The acknowledgement timeout a service gets when its config does not set
/// one: an acknowledged incident re-triggers after 30 minutes.
pub const DEFAULT_ACK_TIMEOUT: Duration = Duration::minutes(30);

/// Something that has incidents.
///
/// `Default` gives empty strings, no policy and [`DEFAULT_ACK_TIMEOUT`], the
/// same values config produces when the optional keys are absent.
///
/// The noise-control settings (`depends_on` … `maintenance_windows`) are
/// config only: they have no wire form (`serde(skip)`), and a stored config
/// version keeps them in its source text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub team: Option<String>,
    /// Id of the escalation policy that pages for this service's incidents;
    /// `None` pages nobody.
    pub escalation_policy: Option<String>,
    /// How long an acknowledgement holds before the incident returns to
    /// triggered and paging starts over. `None` means off (config:
    /// `ack_timeout: off`); an absent key means [`DEFAULT_ACK_TIMEOUT`].
    /// Passed as is to [`escalation::start`](crate::escalation::start).
    pub ack_timeout: Option<Duration>,
    /// Ids of the services this one depends on (no cycles): while one of
    /// them has an open incident, this service's pages can be held back.
    #[serde(skip)]
    pub depends_on: Vec<String>,
    /// `None` keeps one incident per alert, paged at once.
    #[serde(skip)]
    pub grouping: Option<Grouping>,
    /// `None` means the default policy ([`StormPolicy::default`]);
    /// [`StormPolicy::OFF`] is `storm: off`. Read it through
    /// [`Service::storm_policy`].
    #[serde(skip)]
    pub storm: Option<StormPolicy>,
    /// `None` means the default policy ([`FlapPolicy::default`]);
    /// [`FlapPolicy::OFF`] is `flapping: off`. Read it through
    /// [`Service::flap_policy`].
    #[serde(skip)]
    pub flapping: Option<FlapPolicy>,
    /// Windows in which this service's alerts are recorded but do not page.
    #[serde(skip)]
    pub maintenance_windows: Vec<MaintenanceWindow>,
}

impl Default for Service {
    fn default() -> Self {
        Self {
            id: String::new(),
            name: String::new(),
            description: None,
            team: None,
            escalation_policy: None,
            ack_timeout: Some(DEFAULT_ACK_TIMEOUT),
            depends_on: Vec::new(),
            grouping: None,
            storm: None,
            flapping: None,
            maintenance_windows: Vec::new(),
        }
    }
}

impl Service {
    /// The storm policy in force: the declared one, else the default.
    pub fn storm_policy(&self) -> StormPolicy {
        self.storm.unwrap_or_default()
    }

    /// The flapping policy in force: the declared one, else the default.
    pub fn flap_policy(&self) -> FlapPolicy {
        self.flapping.unwrap_or_default()
    }
}

/// Where an alert came from: the wire format of the integration key that
/// sent it, or a heartbeat monitor whose pings stopped.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationKind {
    Pagerduty,
    Alertmanager,
    Prometheus,
    Generic,
    /// Alerts a heartbeat monitor opens (their integration id is the
    /// monitor's id). Config declares these under `heartbeats`, never as an
    /// integration.
    Heartbeat,
}

impl IntegrationKind {
    pub const ALL: [IntegrationKind; 5] = [
        IntegrationKind::Pagerduty,
        IntegrationKind::Alertmanager,
        IntegrationKind::Prometheus,
        IntegrationKind::Generic,
        IntegrationKind::Heartbeat,
    ];

    /// The kinds an integration can be declared with: the wire formats.
    pub const DECLARABLE: [IntegrationKind; 4] = [
        IntegrationKind::Pagerduty,
        IntegrationKind::Alertmanager,
        IntegrationKind::Prometheus,
        IntegrationKind::Generic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationKind::Pagerduty => "pagerduty",
            IntegrationKind::Alertmanager => "alertmanager",
            IntegrationKind::Prometheus => "prometheus",
            IntegrationKind::Generic => "generic",
            IntegrationKind::Heartbeat => "heartbeat",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// A kind an integration can be declared with (see [`Self::DECLARABLE`]).
    pub fn parse_declarable(s: &str) -> Option<Self> {
        Self::DECLARABLE.into_iter().find(|k| k.as_str() == s)
    }
}

/// An inbound key bound to a service, as declared in config. The key is a
/// secret: storage keeps only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationSpec {
    pub id: String,
    pub service_id: String,
    pub kind: IntegrationKind,
    pub key: String,
}

/// An inbound key declared under the top-level `integrations`: it belongs
/// to no service, and the routing tree decides the service of each event,
/// starting at the top-level route `route`. Ids and keys share one namespace
/// with services' integrations; the key is a secret like theirs.
#[derive(Clone, PartialEq, Eq)]
pub struct RoutedIntegrationSpec {
    pub id: String,
    pub kind: IntegrationKind,
    pub key: String,
    /// Id of a top-level route.
    pub route: String,
}

impl std::fmt::Debug for RoutedIntegrationSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoutedIntegrationSpec")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("key", &"<redacted>")
            .field("route", &self.route)
            .finish()
    }
}

/// A heartbeat monitor as declared: a job pings with `key` at least every
/// `interval` (plus `grace`), or `service` gets an incident. The key is a
/// secret handled like an integration key (unique across all keys, stored
/// hashed); `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct HeartbeatSpec {
    pub id: String,
    pub service: String,
    pub key: String,
    pub interval: Duration,
    pub grace: Duration,
}

impl HeartbeatSpec {
    /// The monitor the domain's heartbeat rules work on.
    pub fn heartbeat(&self) -> Heartbeat {
        Heartbeat { id: self.id.clone(), service: self.service.clone(), interval: self.interval, grace: self.grace }
    }
}

impl std::fmt::Debug for HeartbeatSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeartbeatSpec")
            .field("id", &self.id)
            .field("service", &self.service)
            .field("key", &"<redacted>")
            .field("interval", &self.interval)
            .field("grace", &self.grace)
            .finish()
    }
}

/// Server-wide settings for delivering notifications. `Debug` never shows
/// the webhook secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Notifications {
    /// The relay email contact methods are sent through; `None` when email
    /// is not configured.
    pub smtp: Option<Smtp>,
    /// Where people reach this server (acknowledge links in pages), without
    /// a trailing slash; `None` means the listen address.
    pub public_url: Option<String>,
    /// Key of the `Tocsin-Signature` HMAC on outgoing webhooks; `None` means
    /// a secret the server generates and keeps.
    pub webhook_secret: Option<String>,
    /// How long a one-click acknowledge link stays valid.
    pub ack_link_ttl: Duration,
    /// Per contact method: pages beyond this are bundled.
    pub rate_limit: RateLimit,
}

/// At most `messages` notifications per `window` through one contact method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub messages: u32,
    pub window: Duration,
}

/// Acknowledge links last a day: long enough for a page read in the
/// morning, short enough that an old email is not a standing credential.
pub const DEFAULT_ACK_LINK_TTL: Duration = Duration::hours(24);
/// Ten messages per ten minutes per contact method, then bundles.
pub const DEFAULT_RATE_LIMIT: RateLimit = RateLimit { messages: 10, window: Duration::minutes(10) };

impl Default for Notifications {
    fn default() -> Self {
        Self {
            smtp: None,
            public_url: None,
            webhook_secret: None,
            ack_link_ttl: DEFAULT_ACK_LINK_TTL,
            rate_limit: DEFAULT_RATE_LIMIT,
        }
    }
}

impl std::fmt::Debug for Notifications {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifications")
            .field("smtp", &self.smtp)
            .field("public_url", &self.public_url)
            .field("webhook_secret", &self.webhook_secret.as_ref().map(|_| "<redacted>"))
            .field("ack_link_ttl", &self.ack_link_ttl)
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}

/// An SMTP relay. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    /// The sender address of every email.
    pub from: String,
    /// Credentials, both set or both unset.
    pub username: Option<String>,
    /// A secret: never echoed in errors or debug output.
    pub password: Option<String>,
    /// Upgrade the connection with STARTTLS; `false` when not set.
    pub starttls: bool,
}

impl std::fmt::Debug for Smtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smtp")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("from", &self.from)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("starttls", &self.starttls)
            .finish()
    }
}

/// Everything config-as-code declares, validated and ready to apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    pub teams: Vec<Team>,
    pub users: Vec<User>,
    pub services: Vec<Service>,
    pub integrations: Vec<IntegrationSpec>,
    /// Every schedule passes [`schedule::validate`](crate::schedule::validate);
    /// layer users and override users are declared users.
    pub schedules: Vec<Schedule>,
    /// Every policy passes [`escalation::validate`](crate::escalation::validate);
    /// targets name declared users and schedules.
    pub escalation_policies: Vec<Policy>,
    pub notifications: Notifications,
    /// How long data of resolved incidents is kept.
    pub retention: Retention,
    /// Integrations under the top-level `integrations`, routed by `routes`.
    pub routed_integrations: Vec<RoutedIntegrationSpec>,
    /// The routing tree (top-level list), matchers compiled; passes
    /// [`routing::validate`](crate::routing::validate) and every `service`
    /// names a declared service.
    pub routes: Vec<Route>,
    pub inhibit_rules: Vec<InhibitRule>,
    pub heartbeats: Vec<HeartbeatSpec>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_debug_hides_the_password() {
        let smtp = Smtp {
            host: "127.0.0.1".into(),
            port: 2525,
            from: "tocsin@example.com".into(),
            username: Some("tocsin".into()),
            password: Some("hunter2".into()),
            starttls: false,
        };
        let shown = format!(
            "{:?}",
            Catalog {
                notifications: Notifications { smtp: Some(smtp), ..Notifications::default() },
                ..Catalog::default()
            }
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn a_default_service_has_the_default_ack_timeout() {
        assert_eq!(Service::default().ack_timeout, Some(Duration::seconds(1800)));
    }
}
