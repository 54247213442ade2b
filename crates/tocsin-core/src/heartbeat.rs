//! Heartbeats (dead-man monitors): a job pings every `interval`; when no
//! ping arrives for `interval + grace`, the monitor opens an incident on its
//! service, and the next ping resolves it.
//!
//! The grace period absorbs jitter (a nightly backup that takes a little
//! longer tonight) without paging; the interval is what the job promises.
//!
//! A monitor that has never been pinged counts from when it was created: it
//! is overdue `interval + grace` after creation. Treating "never pinged" as
//! fine forever would hide a job that was never set up, and paging at once
//! would page for every new monitor before its job had a chance to run.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::CoreError;
use crate::duration::format_duration;
use crate::event::{Event, EventAction, Severity};

/// Longest heartbeat id.
pub const MAX_ID_LEN: usize = 128;

/// Longest `interval` and longest `grace`: a yearly job with slack. Bounding
/// them keeps every deadline a plain number of microseconds in storage.
pub const MAX_PERIOD: Duration = Duration::days(400);

/// The label that names the monitor on the alert it opens.
pub const LABEL: &str = "heartbeat";

/// A monitor as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    pub id: String,
    /// The service whose incident the monitor opens.
    pub service: String,
    /// How often the job promises to ping.
    pub interval: Duration,
    /// Extra slack after a missed ping before it counts as missing.
    pub grace: Duration,
}

/// What the store remembers about a monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatState {
    pub last_ping: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Whether the monitor's incident is open now.
    pub open_incident: bool,
}

/// What [`check`] asks the engine to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatAction {
    None,
    /// Open the monitor's incident; pings have been missing since
    /// `overdue_since` (the last ping, or creation, plus interval and grace).
    Open {
        overdue_since: DateTime<Utc>,
    },
    /// Resolve the open incident: pings are back on time.
    Resolve,
}

impl HeartbeatState {
    /// A monitor created at `at`, never pinged, nothing open.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self { last_ping: None, created_at: at, open_incident: false }
    }

    /// Records a ping at `at`. A ping older than the latest one (a delayed
    /// request) does not move the deadline back.
    pub fn ping(&mut self, at: DateTime<Utc>) {
        self.last_ping = Some(self.last_ping.map_or(at, |last| last.max(at)));
    }
}

impl Heartbeat {
    /// `field` (for example `heartbeats[0]`) prefixes the names in errors.
    pub fn validate(&self, field: &str) -> Result<(), CoreError> {
        for (name, value) in [("id", &self.id), ("service", &self.service)] {
            if value.is_empty() {
                return Err(CoreError::invalid(format!("{field}.{name}"), "must not be empty"));
            }
            if value.len() > MAX_ID_LEN {
                return Err(CoreError::invalid(
                    format!("{field}.{name}"),
                    format!("must be at most {MAX_ID_LEN} bytes"),
                ));
            }
        }
        if self.interval <= Duration::zero() {
            return Err(CoreError::invalid(format!("{field}.interval"), "must be greater than zero"));
        }
        if self.grace < Duration::zero() {
            return Err(CoreError::invalid(format!("{field}.grace"), "must not be negative"));
        }
        for (name, value) in [("interval", self.interval), ("grace", self.grace)] {
            if value > MAX_PERIOD {
                return Err(CoreError::invalid(
                    format!("{field}.{name}"),
                    format!("must be at most {}", format_duration(MAX_PERIOD)),
                ));
            }
        }
        Ok(())
    }

    /// The dedup key of the monitor's alert on its service: every missed
    /// deadline and every resolving ping name the same alert.
    pub fn dedup_key(&self) -> String {
        dedup_key(&self.id)
    }

    /// The trigger event for a missed deadline, as [`check`] reported it:
    /// critical, labelled `heartbeat=<id>`, its summary saying since when no
    /// ping came.
    pub fn missed_event(&self, state: &HeartbeatState, overdue_since: DateTime<Utc>) -> Event {
        let (interval, grace) = (format_duration(self.interval), format_duration(self.grace));
        let since = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        let summary = match state.last_ping {
            Some(last) => {
                format!(
                    "Heartbeat {} missed: no ping since {} (interval {interval}, grace {grace})",
                    self.id,
                    since(last)
                )
            }
            None => format!(
                "Heartbeat {} missed: never pinged since it was set up at {} (interval {interval}, grace {grace})",
                self.id,
                since(state.created_at)
            ),
        };
        Event {
            action: EventAction::Trigger,
            dedup_key: self.dedup_key(),
            summary,
            severity: Severity::Critical,
            source: None,
            labels: BTreeMap::from([(LABEL.to_string(), self.id.clone())]),
            details: serde_json::json!({
                "heartbeat": self.id,
                "interval": interval,
                "grace": grace,
                "last_ping_at": state.last_ping.map(since),
                "overdue_since": since(overdue_since),
            }),
            links: Vec::new(),
            occurred_at: Some(overdue_since),
            expires_at: None,
        }
    }

    /// The resolve event a ping sends for the monitor's open alert.
    pub fn resolve_event(&self) -> Event {
        Event::resolve(self.dedup_key())
    }
}

/// See [`Heartbeat::dedup_key`].
pub fn dedup_key(id: &str) -> String {
    format!("heartbeat:{id}")
}

/// How a monitor stands, for people.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeartbeatStatus {
    /// Never pinged, and its first deadline has not come yet.
    Waiting,
    /// Pinged, and the next ping is not late yet.
    Up,
    /// Its deadline has passed without a ping.
    Overdue,
}

impl HeartbeatStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HeartbeatStatus::Waiting => "waiting",
            HeartbeatStatus::Up => "up",
            HeartbeatStatus::Overdue => "overdue",
        }
    }
}

/// How the monitor stands at `now`: overdue from its deadline on (pinged
/// or not), else waiting until the first ping, then up.
pub fn status(hb: &Heartbeat, state: &HeartbeatState, now: DateTime<Utc>) -> HeartbeatStatus {
    match deadline(hb, state) {
        Some(deadline) if now >= deadline => HeartbeatStatus::Overdue,
        _ if state.last_ping.is_none() => HeartbeatStatus::Waiting,
        _ => HeartbeatStatus::Up,
    }
}

/// The instant the monitor becomes overdue without another ping: the last
/// ping (or creation) plus interval and grace. `None` only past chrono's range.
pub fn deadline(hb: &Heartbeat, state: &HeartbeatState) -> Option<DateTime<Utc>> {
    state.last_ping.unwrap_or(state.created_at).checked_add_signed(hb.interval)?.checked_add_signed(hb.grace)
}

/// What to do at `now`: open when the deadline has been reached (at the
/// deadline itself the ping is already missing), resolve an open incident
/// once a ping has moved the deadline into the future. Call it on every ping
/// and at [`next_check_at`].
pub fn check(hb: &Heartbeat, state: &HeartbeatState, now: DateTime<Utc>) -> HeartbeatAction {
    let Some(deadline) = deadline(hb, state) else {
        return HeartbeatAction::None;
    };
    match (state.open_incident, now >= deadline) {
        (false, true) => HeartbeatAction::Open { overdue_since: deadline },
        (true, false) => HeartbeatAction::Resolve,
        _ => HeartbeatAction::None,
    }
}

/// When the engine should call [`check`] next: the deadline while nothing is
/// open; `None` while the incident is open, since only a ping (which the
/// intake checks at once) can resolve it.
pub fn next_check_at(hb: &Heartbeat, state: &HeartbeatState) -> Option<DateTime<Utc>> {
    if state.open_incident { None } else { deadline(hb, state) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn backup() -> Heartbeat {
        Heartbeat {
            id: "nightly-backup".into(),
            service: "checkout".into(),
            interval: Duration::hours(1),
            grace: Duration::minutes(5),
        }
    }

    #[test]
    fn never_pinged_is_overdue_interval_plus_grace_after_creation() {
        let hb = backup();
        let state = HeartbeatState::new(utc("2026-05-01T10:00:00Z"));
        assert_eq!(next_check_at(&hb, &state), Some(utc("2026-05-01T11:05:00Z")));
        assert_eq!(check(&hb, &state, utc("2026-05-01T11:04:59Z")), HeartbeatAction::None);
        assert_eq!(
            check(&hb, &state, utc("2026-05-01T11:05:00Z")),
            HeartbeatAction::Open { overdue_since: utc("2026-05-01T11:05:00Z") }
        );
    }

    #[test]
    fn pings_move_the_deadline() {
        let hb = backup();
        let mut state = HeartbeatState::new(utc("2026-05-01T10:00:00Z"));
        state.ping(utc("2026-05-01T10:30:00Z"));
        assert_eq!(next_check_at(&hb, &state), Some(utc("2026-05-01T11:35:00Z")));
        assert_eq!(check(&hb, &state, utc("2026-05-01T11:34:59Z")), HeartbeatAction::None);
        assert_eq!(
            check(&hb, &state, utc("2026-05-01T11:35:00Z")),
            HeartbeatAction::Open { overdue_since: utc("2026-05-01T11:35:00Z") }
        );
        // A delayed, older ping does not move it back.
        state.ping(utc("2026-05-01T10:10:00Z"));
        assert_eq!(state.last_ping, Some(utc("2026-05-01T10:30:00Z")));
    }

    #[test]
    fn an_open_incident_waits_for_a_ping_and_the_ping_resolves_it() {
        let hb = backup();
        let mut state = HeartbeatState::new(utc("2026-05-01T10:00:00Z"));
        state.open_incident = true;
        assert_eq!(next_check_at(&hb, &state), None);
        assert_eq!(check(&hb, &state, utc("2026-05-01T12:00:00Z")), HeartbeatAction::None);
        state.ping(utc("2026-05-01T12:00:00Z"));
        assert_eq!(check(&hb, &state, utc("2026-05-01T12:00:00Z")), HeartbeatAction::Resolve);
        state.open_incident = false;
        assert_eq!(check(&hb, &state, utc("2026-05-01T12:00:00Z")), HeartbeatAction::None);
        assert_eq!(next_check_at(&hb, &state), Some(utc("2026-05-01T13:05:00Z")));
    }

    #[test]
    fn an_overdue_monitor_opens_once() {
        let hb = backup();
        let mut state = HeartbeatState::new(utc("2026-05-01T10:00:00Z"));
        assert!(matches!(check(&hb, &state, utc("2026-05-01T12:00:00Z")), HeartbeatAction::Open { .. }));
        state.open_incident = true;
        assert_eq!(check(&hb, &state, utc("2026-05-01T13:00:00Z")), HeartbeatAction::None);
    }

    #[test]
    fn zero_grace_is_due_exactly_one_interval_later() {
        let hb = Heartbeat { grace: Duration::zero(), ..backup() };
        let mut state = HeartbeatState::new(utc("2026-05-01T10:00:00Z"));
        state.ping(utc("2026-05-01T10:00:00Z"));
        assert_eq!(check(&hb, &state, utc("2026-05-01T10:59:59Z")), HeartbeatAction::None);
        assert!(matches!(check(&hb, &state, utc("2026-05-01T11:00:00Z")), HeartbeatAction::Open { .. }));
    }

    #[test]
    fn validation_names_the_field() {
        let field = |hb: Heartbeat| match hb.validate("heartbeats[0]") {
            Err(CoreError::Invalid { field, .. }) => field,
            other => format!("{other:?}"),
        };
        assert_eq!(backup().validate("heartbeats[0]"), Ok(()));
        assert_eq!(field(Heartbeat { id: String::new(), ..backup() }), "heartbeats[0].id");
        assert_eq!(field(Heartbeat { service: "s".repeat(MAX_ID_LEN + 1), ..backup() }), "heartbeats[0].service");
        assert_eq!(field(Heartbeat { interval: Duration::zero(), ..backup() }), "heartbeats[0].interval");
        assert_eq!(field(Heartbeat { grace: Duration::seconds(-1), ..backup() }), "heartbeats[0].grace");
        assert_eq!(
            field(Heartbeat { interval: MAX_PERIOD + Duration::seconds(1), ..backup() }),
            "heartbeats[0].interval"
        );
        assert_eq!(field(Heartbeat { grace: MAX_PERIOD + Duration::seconds(1), ..backup() }), "heartbeats[0].grace");
        assert_eq!(Heartbeat { interval: MAX_PERIOD, grace: MAX_PERIOD, ..backup() }.validate("h"), Ok(()));
    }

    #[test]
    fn status_is_waiting_then_up_and_overdue_from_the_deadline() {
        let hb = backup();
        let mut state = HeartbeatState::new(utc("2026-05-01T10:00:00Z"));
        assert_eq!(status(&hb, &state, utc("2026-05-01T11:04:59Z")), HeartbeatStatus::Waiting);
        assert_eq!(status(&hb, &state, utc("2026-05-01T11:05:00Z")), HeartbeatStatus::Overdue, "never pinged");
        state.ping(utc("2026-05-01T11:10:00Z"));
        assert_eq!(status(&hb, &state, utc("2026-05-01T11:10:00Z")), HeartbeatStatus::Up);
        assert_eq!(status(&hb, &state, utc("2026-05-01T12:14:59Z")), HeartbeatStatus::Up);
        assert_eq!(status(&hb, &state, utc("2026-05-01T12:15:00Z")), HeartbeatStatus::Overdue);
        let wire: Vec<String> = [HeartbeatStatus::Waiting, HeartbeatStatus::Up, HeartbeatStatus::Overdue]
            .iter()
            .map(|s| serde_json::to_string(s).unwrap())
            .collect();
        assert_eq!(wire, [r#""waiting""#, r#""up""#, r#""overdue""#]);
    }

    #[test]
    fn the_missed_event_says_since_when_and_the_ping_resolves_the_same_alert() {
        let hb = backup();
        let mut state = HeartbeatState::new(utc("2026-05-01T10:00:00Z"));
        let never = hb.missed_event(&state, utc("2026-05-01T11:05:00Z"));
        assert_eq!(
            never.summary,
            "Heartbeat nightly-backup missed: never pinged since it was set up at 2026-05-01T10:00:00Z \
             (interval 1h, grace 5m)"
        );
        state.ping(utc("2026-05-01T10:30:00Z"));
        let missed = hb.missed_event(&state, utc("2026-05-01T11:35:00Z"));
        assert_eq!(
            missed.summary,
            "Heartbeat nightly-backup missed: no ping since 2026-05-01T10:30:00Z (interval 1h, grace 5m)"
        );
        assert_eq!((missed.action, missed.severity), (EventAction::Trigger, Severity::Critical));
        assert_eq!(missed.dedup_key, "heartbeat:nightly-backup");
        assert_eq!(missed.labels, BTreeMap::from([("heartbeat".to_string(), "nightly-backup".to_string())]));
        assert_eq!(missed.details["overdue_since"], "2026-05-01T11:35:00Z");
        assert_eq!(missed.occurred_at, Some(utc("2026-05-01T11:35:00Z")));
        assert_eq!(missed.check_storable(), Ok(()));
        let resolve = hb.resolve_event();
        assert_eq!((resolve.action, resolve.dedup_key.as_str()), (EventAction::Resolve, "heartbeat:nightly-backup"));
    }
}
