//! The test page a person sends themselves ("send me a test page") to see
//! that a contact method reaches them: every format says plainly that it is
//! a test from Tocsin, for whom, and that nothing needs doing, so nobody
//! mistakes it for an incident.
//!
//! The webhook body has its own event name, `test.page`, and no `incident`
//! object, so a receiver that routes incidents cannot take it for one:
//!
//! ```json
//! {
//!   "event": "test.page",
//!   "version": 1,
//!   "idempotency_key": "tct_7",
//!   "test": { "id": 7, "user": { "id": "alice", "name": "Alice" },
//!             "contact_method": "alice-hook", "requested_at": "…", "requested_by": "user:alice" },
//!   "message": "Test page from Tocsin for Alice (alice): no action is needed."
//! }
//! ```

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::{Email, human_time, text, webhook::VERSION};

/// What a test page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestMessage {
    pub id: i64,
    pub user_id: String,
    pub user_name: String,
    pub contact_method: String,
    pub requested_at: DateTime<Utc>,
    /// Who asked (`user:alice`); a manager may test someone else's method.
    pub requested_by: String,
}

impl TestMessage {
    /// The one line every format leads with.
    fn headline(&self) -> String {
        let name = text::one_line(if self.user_name.is_empty() { &self.user_id } else { &self.user_name });
        format!("Test page from Tocsin for {name} ({}): no action is needed.", text::one_line(&self.user_id))
    }

    fn details(&self) -> String {
        format!(
            "Contact method {} was tested at {} at the request of {}. If you read this, pages reach you here.",
            text::one_line(&self.contact_method),
            human_time(self.requested_at),
            text::one_line(&self.requested_by)
        )
    }
}

/// The generic webhook's body for a test page.
pub fn webhook(m: &TestMessage, idempotency_key: &str) -> Value {
    json!({
        "event": "test.page",
        "version": VERSION,
        "idempotency_key": idempotency_key,
        "test": {
            "id": m.id,
            "user": { "id": m.user_id, "name": text::visible(&m.user_name) },
            "contact_method": m.contact_method,
            "requested_at": m.requested_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            "requested_by": m.requested_by,
        },
        "message": m.headline(),
    })
}

/// The Slack-compatible message for a test page.
pub fn slack(m: &TestMessage) -> Value {
    let headline = text::slack(&m.headline());
    json!({
        "text": headline,
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn", "text": format!("*{headline}*\n{}", text::slack(&m.details())) } },
        ],
    })
}

/// The email for a test page.
pub fn email(m: &TestMessage) -> Email {
    let headline = m.headline();
    let subject = format!("[Tocsin] {headline}");
    let text = format!("{headline}\n\n{}\n", m.details());
    let html = format!(
        "<!DOCTYPE html>\n<html>\n<body>\n<h2>{}</h2>\n<p>{}</p>\n</body>\n</html>\n",
        text::html(&headline),
        text::html(&m.details())
    );
    Email { subject, text, html }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn message() -> TestMessage {
        TestMessage {
            id: 7,
            user_id: "alice".into(),
            user_name: "Alice <b>".into(),
            contact_method: "alice-hook".into(),
            requested_at: Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).single().unwrap(),
            requested_by: "user:carol".into(),
        }
    }

    #[test]
    fn every_format_says_test_for_whom_and_no_action() {
        let m = message();
        let hook = webhook(&m, "tct_7");
        assert_eq!(hook["event"], "test.page");
        assert_eq!(hook["idempotency_key"], "tct_7");
        assert_eq!(hook["test"]["user"]["id"], "alice");
        assert_eq!(hook["test"]["requested_by"], "user:carol");
        assert_eq!(hook["message"], "Test page from Tocsin for Alice <b> (alice): no action is needed.");
        assert!(hook.get("incident").is_none(), "never mistaken for an incident");

        let chat = slack(&m);
        assert_eq!(chat["text"], "Test page from Tocsin for Alice &lt;b&gt; (alice): no action is needed.");
        let body = chat["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(body.contains("Contact method alice-hook was tested at 2026-03-02T09:00:00Z"), "{body}");

        let mail = email(&m);
        assert_eq!(mail.subject, "[Tocsin] Test page from Tocsin for Alice <b> (alice): no action is needed.");
        assert!(mail.text.contains("at the request of user:carol"), "{}", mail.text);
        assert!(mail.html.contains("for Alice &lt;b&gt; (alice)"), "{}", mail.html);
        assert!(!mail.html.contains("<b>"));
    }

    #[test]
    fn names_cannot_break_the_subject_line() {
        let m = TestMessage { user_name: "Eve\r\nBcc: x@evil.example".into(), ..message() };
        assert!(!email(&m).subject.contains(['\r', '\n']));
    }
}
