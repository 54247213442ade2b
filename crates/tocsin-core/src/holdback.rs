//! Why a page was held back: one vocabulary for every rule that can stop a
//! page (silences, maintenance windows, inhibition, dependencies, storms,
//! flapping, grouping), stored with the incident and shown to people, so no
//! quiet incident leaves anyone guessing.
//!
//! The variants hold ids only, so a stored explanation stays small and
//! points at the thing itself; [`HeldBack::describe`] takes the facts worth
//! showing (who made a silence, until when a window runs) as arguments.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Longest piece of a silence comment quoted in a sentence.
const MAX_QUOTED_COMMENT: usize = 120;

/// One reason a page was not sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HeldBack {
    Silenced {
        silence_id: String,
    },
    Maintenance {
        window_id: String,
    },
    Inhibited {
        /// Zero-based position of the rule in the service's inhibition rules.
        rule: usize,
        by_alert: i64,
    },
    DependsOn {
        service: String,
        incident_id: i64,
    },
    Storm {
        incident_id: i64,
    },
    Flapping {
        until: DateTime<Utc>,
    },
    Grouped {
        incident_id: i64,
        /// When the group's next summary goes out; `None` when nothing is
        /// pending.
        next_update_at: Option<DateTime<Utc>>,
    },
}

/// What is known about a silence beyond its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SilenceFacts<'a> {
    pub created_by: &'a str,
    pub comment: &'a str,
    pub ends_at: DateTime<Utc>,
}

/// Facts for [`HeldBack::describe`]; leave out what is not at hand and the
/// sentence gets shorter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts<'a> {
    /// The zone the reader sees times in.
    pub time_zone: Tz,
    pub silence: Option<SilenceFacts<'a>>,
    /// When the maintenance window closes.
    pub window_ends_at: Option<DateTime<Utc>>,
    /// How many alerts the storm incident holds.
    pub storm_alerts: Option<u64>,
}

impl<'a> Facts<'a> {
    /// No facts beyond the ids, times in `time_zone`.
    pub fn new(time_zone: Tz) -> Self {
        Self { time_zone, silence: None, window_ends_at: None, storm_alerts: None }
    }
}

impl HeldBack {
    /// A sentence for people, such as `held back: silence 7 by alice
    /// ("deploy") is active until 2026-05-01 15:00 CEST`.
    pub fn describe(&self, facts: &Facts<'_>) -> String {
        let time = |t: DateTime<Utc>| t.with_timezone(&facts.time_zone).format("%Y-%m-%d %H:%M %Z").to_string();
        let text = match self {
            HeldBack::Silenced { silence_id } => match facts.silence {
                Some(s) => format!(
                    "silence {silence_id} by {} ({:?}) is active until {}",
                    s.created_by,
                    shorten(s.comment),
                    time(s.ends_at)
                ),
                None => format!("silence {silence_id} is active"),
            },
            HeldBack::Maintenance { window_id } => match facts.window_ends_at {
                Some(end) => format!("maintenance window {window_id} is active until {}", time(end)),
                None => format!("maintenance window {window_id} is active"),
            },
            HeldBack::Inhibited { rule, by_alert } => {
                format!("alert {by_alert} inhibits it (inhibition rule #{})", rule.saturating_add(1))
            }
            HeldBack::DependsOn { service, incident_id } => {
                format!("it depends on service {service}, which has incident {incident_id} open")
            }
            HeldBack::Storm { incident_id } => match facts.storm_alerts {
                Some(n) => format!("it is part of the alert storm in incident {incident_id} ({n} alerts so far)"),
                None => format!("it is part of the alert storm in incident {incident_id}"),
            },
            HeldBack::Flapping { until } => {
                format!("the alert is flapping until {} and has already paged in this window", time(*until))
            }
            HeldBack::Grouped { incident_id, next_update_at } => match next_update_at {
                Some(at) => format!("grouped into incident {incident_id}; its next update goes out at {}", time(*at)),
                None => format!("grouped into incident {incident_id}, which has already paged"),
            },
        };
        format!("held back: {text}")
    }
}

/// The comment cut to a readable length at a character boundary.
fn shorten(comment: &str) -> String {
    match comment.char_indices().nth(MAX_QUOTED_COMMENT) {
        Some((cut, _)) => format!("{}…", &comment[..cut]),
        None => comment.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const BERLIN: Tz = Tz::Europe__Berlin;

    #[test]
    fn serializes_as_snake_case_tagged() {
        let cases = [
            (HeldBack::Silenced { silence_id: "7".into() }, r#"{"kind":"silenced","silence_id":"7"}"#),
            (
                HeldBack::Maintenance { window_id: "tuesday-deploys".into() },
                r#"{"kind":"maintenance","window_id":"tuesday-deploys"}"#,
            ),
            (HeldBack::Inhibited { rule: 0, by_alert: 42 }, r#"{"kind":"inhibited","rule":0,"by_alert":42}"#),
            (
                HeldBack::DependsOn { service: "payments".into(), incident_id: 12 },
                r#"{"kind":"depends_on","service":"payments","incident_id":12}"#,
            ),
            (HeldBack::Storm { incident_id: 31 }, r#"{"kind":"storm","incident_id":31}"#),
            (
                HeldBack::Flapping { until: utc("2026-05-01T13:00:00Z") },
                r#"{"kind":"flapping","until":"2026-05-01T13:00:00Z"}"#,
            ),
            (
                HeldBack::Grouped { incident_id: 5, next_update_at: None },
                r#"{"kind":"grouped","incident_id":5,"next_update_at":null}"#,
            ),
        ];
        for (value, json) in cases {
            assert_eq!(serde_json::to_string(&value).unwrap(), json);
            assert_eq!(serde_json::from_str::<HeldBack>(json).unwrap(), value);
        }
    }

    #[test]
    fn describes_a_silence_with_and_without_facts() {
        let held = HeldBack::Silenced { silence_id: "7".into() };
        let mut facts = Facts::new(BERLIN);
        assert_eq!(held.describe(&facts), "held back: silence 7 is active");
        facts.silence =
            Some(SilenceFacts { created_by: "alice", comment: "deploy", ends_at: utc("2026-05-01T13:00:00Z") });
        assert_eq!(
            held.describe(&facts),
            r#"held back: silence 7 by alice ("deploy") is active until 2026-05-01 15:00 CEST"#
        );
    }

    #[test]
    fn quotes_comments_safely_and_briefly() {
        let long = "x".repeat(500);
        let facts = |comment| Facts {
            silence: Some(SilenceFacts { created_by: "bob", comment, ends_at: utc("2026-01-01T00:00:00Z") }),
            ..Facts::new(Tz::UTC)
        };
        let text = HeldBack::Silenced { silence_id: "1".into() }.describe(&facts("two\nlines \"quoted\""));
        assert!(text.contains(r#"("two\nlines \"quoted\"")"#), "{text}");
        assert!(!text.contains('\n'));
        let text = HeldBack::Silenced { silence_id: "1".into() }.describe(&facts(&long));
        assert!(text.contains(&format!("{}…", "x".repeat(120))) && !text.contains(&"x".repeat(121)), "{text}");
    }

    #[test]
    fn describes_every_reason() {
        let mut facts = Facts::new(BERLIN);
        let maintenance = HeldBack::Maintenance { window_id: "tuesday-deploys".into() };
        assert_eq!(maintenance.describe(&facts), "held back: maintenance window tuesday-deploys is active");
        facts.window_ends_at = Some(utc("2026-01-06T14:00:00Z"));
        assert_eq!(
            maintenance.describe(&facts),
            "held back: maintenance window tuesday-deploys is active until 2026-01-06 15:00 CET"
        );
        assert_eq!(
            HeldBack::Inhibited { rule: 0, by_alert: 42 }.describe(&facts),
            "held back: alert 42 inhibits it (inhibition rule #1)"
        );
        assert_eq!(
            HeldBack::DependsOn { service: "payments".into(), incident_id: 12 }.describe(&facts),
            "held back: it depends on service payments, which has incident 12 open"
        );
        let storm = HeldBack::Storm { incident_id: 31 };
        assert_eq!(storm.describe(&facts), "held back: it is part of the alert storm in incident 31");
        facts.storm_alerts = Some(57);
        assert_eq!(
            storm.describe(&facts),
            "held back: it is part of the alert storm in incident 31 (57 alerts so far)"
        );
        assert_eq!(
            HeldBack::Flapping { until: utc("2026-05-01T13:00:00Z") }.describe(&facts),
            "held back: the alert is flapping until 2026-05-01 15:00 CEST and has already paged in this window"
        );
        assert_eq!(
            HeldBack::Grouped { incident_id: 5, next_update_at: Some(utc("2026-05-01T13:05:30Z")) }.describe(&facts),
            "held back: grouped into incident 5; its next update goes out at 2026-05-01 15:05 CEST"
        );
        assert_eq!(
            HeldBack::Grouped { incident_id: 5, next_update_at: None }.describe(&facts),
            "held back: grouped into incident 5, which has already paged"
        );
    }
}
