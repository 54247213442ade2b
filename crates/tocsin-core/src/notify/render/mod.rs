//! What a page looks like in each channel: webhook JSON, a Slack incoming
//! webhook message, and an email, for one incident or a bundle of several.
//!
//! Input is a small, already-resolved [`PageMessage`] (the engine looks up
//! names and builds links), so rendering is a pure function with exact
//! expected output in the tests. Values from alert senders are untrusted:
//! each format escapes them for its own syntax (HTML for email, Slack's
//! `&<>` for mrkdwn) and human formats keep single-line values on one line.
//! The webhook JSON carries values verbatim; its receivers are programs.
//! Everywhere, the webhook's display fields included, invisible formatting
//! characters (bidirectional overrides, zero-width characters) are shown as
//! `[U+202E]` ([`text::visible`]), so no page reads differently from what
//! it says.

mod email;
mod slack;
pub mod test_page;
pub mod text;
mod webhook;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use crate::event::Severity;
use crate::incident::IncidentStatus;

pub use email::email;
pub use slack::slack_payload;
pub use webhook::webhook_payload;

/// Everything a notification about one incident shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageMessage {
    pub incident_id: i64,
    pub title: String,
    pub severity: Severity,
    pub service_id: String,
    pub service_name: String,
    pub status: IncidentStatus,
    pub created_at: DateTime<Utc>,
    /// The one-click acknowledgement link (see [`super::ack_link`]).
    pub ack_url: Option<String>,
    /// The incident's page in the UI.
    pub incident_url: Option<String>,
    /// A few lines of context (alert summaries, key details), shown in order.
    pub summary_lines: Vec<String>,
}

/// An email's parts; the SMTP adapter sends `text` and `html` as
/// `multipart/alternative`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// One line, no control characters, so it is safe as a header value.
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// One message summarising several incidents, in every format, for a
/// rate-limited contact method (see [`super::ratelimit`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    pub webhook: Value,
    pub slack: Value,
    pub email: Email,
}

/// Renders `messages` as one bundle; `None` when there is nothing to send.
/// `unlisted` more incidents are in the bundle without being listed (a
/// storm's bundle lists its oldest incidents and counts the rest). The
/// webhook form uses `idempotency_key` for the bundle as a whole.
pub fn bundle(messages: &[PageMessage], unlisted: usize, idempotency_key: &str) -> Option<Bundle> {
    if messages.is_empty() {
        return None;
    }
    Some(Bundle {
        webhook: webhook::bundle(messages, unlisted, idempotency_key),
        slack: slack::bundle(messages, unlisted),
        email: email::bundle(messages, unlisted),
    })
}

/// Longest title shown in human formats (Slack headers allow 150).
const TITLE_MAX: usize = 140;

/// Severity as shown to people: upper case, so it stands out in a subject.
fn severity_label(s: Severity) -> String {
    s.as_str().to_ascii_uppercase()
}

/// The title as one trimmed line.
fn title_line(m: &PageMessage) -> String {
    text::truncate(&text::one_line(&m.title), TITLE_MAX)
}

fn service_line(m: &PageMessage) -> String {
    text::one_line(&m.service_name)
}

fn human_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The most severe level among `messages` (Critical first in [`Severity`]'s order).
fn most_severe(messages: &[PageMessage]) -> Severity {
    messages.iter().map(|m| m.severity).min().unwrap_or(Severity::Info)
}

/// How many services are named before "and N more".
const SERVICES_NAMED: usize = 3;

/// "3 incidents for Checkout", "2 incidents for Checkout, Search", or
/// "6 incidents for A, B, C and 2 more services", distinct services in
/// first-seen order. With `unlisted` incidents beyond those listed, the
/// count is the total and the services are the listed ones':
/// "5000 incidents (100 listed) for Checkout".
fn bundle_headline(messages: &[PageMessage], unlisted: usize) -> String {
    let mut names: Vec<String> = Vec::new();
    for m in messages {
        let name = service_line(m);
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let shown = names.iter().take(SERVICES_NAMED).cloned().collect::<Vec<_>>().join(", ");
    let rest = names.len().saturating_sub(SERVICES_NAMED);
    let total = messages.len() + unlisted;
    let noun = if total == 1 { "incident" } else { "incidents" };
    let count =
        if unlisted == 0 { format!("{total} {noun}") } else { format!("{total} {noun} ({} listed)", messages.len()) };
    match rest {
        0 => format!("{count} for {shown}"),
        1 => format!("{count} for {shown} and 1 more service"),
        n => format!("{count} for {shown} and {n} more services"),
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use chrono::TimeZone;

    pub fn message() -> PageMessage {
        PageMessage {
            incident_id: 42,
            title: "Checkout latency high".into(),
            severity: Severity::Critical,
            service_id: "checkout".into(),
            service_name: "Checkout".into(),
            status: IncidentStatus::Triggered,
            created_at: Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).single().unwrap(),
            ack_url: Some("https://tocsin.example/ack/42?token=42.61.1.ab".into()),
            incident_url: Some("https://tocsin.example/incidents/42".into()),
            summary_lines: vec!["p99 2.4s > 1s".into(), "region=eu-west-1".into()],
        }
    }

    pub fn hostile() -> PageMessage {
        PageMessage {
            incident_id: 7,
            title: "<script>alert(1)</script> & <!channel>\r\nAcknowledge: https://evil.example".into(),
            severity: Severity::Warning,
            service_id: "web".into(),
            service_name: "Web <b>&</b>".into(),
            status: IncidentStatus::Triggered,
            created_at: Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).single().unwrap(),
            ack_url: Some("https://tocsin.example/ack/7?a=1&b=\"2\"".into()),
            incident_url: None,
            summary_lines: vec!["<@U123> \"quoted\" 'single'".into()],
        }
    }

    pub fn with(id: i64, title: &str, severity: Severity, service: &str) -> PageMessage {
        PageMessage {
            incident_id: id,
            title: title.into(),
            severity,
            service_id: service.to_ascii_lowercase(),
            service_name: service.into(),
            ack_url: Some(format!("https://tocsin.example/ack/{id}")),
            incident_url: Some(format!("https://tocsin.example/incidents/{id}")),
            summary_lines: vec![],
            ..message()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn headline_names_distinct_services() {
        let one = [with(1, "a", Severity::Info, "Checkout")];
        assert_eq!(bundle_headline(&one, 0), "1 incident for Checkout");
        let same = [with(1, "a", Severity::Info, "Checkout"), with(2, "b", Severity::Info, "Checkout")];
        assert_eq!(bundle_headline(&same, 0), "2 incidents for Checkout");
        let four: Vec<_> =
            ["A", "B", "A", "C", "D"].iter().enumerate().map(|(i, s)| with(i as i64, "t", Severity::Info, s)).collect();
        assert_eq!(bundle_headline(&four, 0), "5 incidents for A, B, C and 1 more service");
        let five: Vec<_> =
            ["A", "B", "C", "D", "E"].iter().enumerate().map(|(i, s)| with(i as i64, "t", Severity::Info, s)).collect();
        assert_eq!(bundle_headline(&five, 0), "5 incidents for A, B, C and 2 more services");
        assert_eq!(bundle_headline(&same, 4998), "5000 incidents (2 listed) for Checkout");
    }

    #[test]
    fn bundle_of_nothing_is_nothing() {
        assert_eq!(bundle(&[], 0, "k"), None);
        assert_eq!(bundle(&[], 10, "k"), None);
        let b = bundle(&[message()], 0, "k").unwrap();
        assert_eq!(b.email.subject, "[Tocsin] CRITICAL: 1 incident for Checkout");
    }

    #[test]
    fn no_channel_carries_invisible_formatting_characters() {
        let sly = PageMessage {
            title: "Refund \u{202E}000,01$\u{202C} approved\u{200B}".into(),
            service_name: "Pay\u{2066}ments\u{2069}".into(),
            summary_lines: vec!["see https://bank.example/\u{202E}moc.live\u{FEFF}".into()],
            ..message()
        };
        let single = [
            serde_json::to_string(&webhook_payload(&sly, "k")).unwrap(),
            serde_json::to_string(&slack_payload(&sly)).unwrap(),
            format!("{:?}", email(&sly)),
        ];
        let bundled = bundle(&[sly.clone(), message()], 0, "k").unwrap();
        let bundles = [
            serde_json::to_string(&bundled.webhook).unwrap(),
            serde_json::to_string(&bundled.slack).unwrap(),
            format!("{:?}", bundled.email),
        ];
        for out in single.iter().chain(&bundles) {
            // JSON and Debug output keep these characters as they are, so
            // any that slipped through would show up here.
            assert!(!out.chars().any(text::is_invisible), "{out}");
            assert!(out.contains("[U+202E]"), "{out}");
        }
        let hook = webhook_payload(&sly, "k");
        assert_eq!(hook["incident"]["title"], "Refund [U+202E]000,01$[U+202C] approved[U+200B]");
        assert_eq!(hook["incident"]["service"]["name"], "Pay[U+2066]ments[U+2069]");
        assert_eq!(hook["incident"]["summary"][0], "see https://bank.example/[U+202E]moc.live[U+FEFF]");
        assert!(email(&sly).subject.contains("Refund [U+202E]000,01$[U+202C] approved[U+200B]"));
    }

    #[test]
    fn most_severe_wins() {
        let ms = [with(1, "a", Severity::Warning, "A"), with(2, "b", Severity::Error, "A")];
        assert_eq!(most_severe(&ms), Severity::Error);
    }
}
