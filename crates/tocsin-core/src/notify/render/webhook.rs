//! The generic webhook's JSON body.
//!
//! # Wire format (version 1)
//!
//! One incident:
//!
//! ```json
//! {
//!   "event": "incident.triggered",
//!   "version": 1,
//!   "idempotency_key": "<same as the Idempotency-Key header>",
//!   "incident": {
//!     "id": 42,
//!     "title": "Checkout latency high",
//!     "severity": "critical",            // critical | error | warning | info
//!     "status": "triggered",             // triggered | acknowledged | resolved
//!     "created_at": "2026-03-02T09:00:00Z",
//!     "service": { "id": "checkout", "name": "Checkout" },
//!     "summary": ["p99 2.4s > 1s"]
//!   },
//!   "links": { "acknowledge": "https://…" | null, "incident": "https://…" | null }
//! }
//! ```
//!
//! A rate-limited bundle has `"event": "incidents.triggered"`, the same
//! `version` and `idempotency_key`, a human `"summary"` line, and
//! `"incidents": [{ "incident": {…}, "links": {…} }, …]` with exactly the
//! objects above, so a receiver parses both with the same code. Values are
//! as sent (JSON-escaped only), except that the fields meant for display
//! (`title`, `service.name`, `summary`) show invisible formatting characters
//! (bidirectional overrides, zero-width characters) as `[U+202E]`; receivers
//! that display values must still escape them for their medium. Fields may
//! be added; none will be renamed.

use chrono::SecondsFormat;
use serde_json::{Value, json};

use super::{PageMessage, bundle_headline, text};

/// Version of the payload shape, bumped only for incompatible changes.
pub const VERSION: u32 = 1;

/// The body for one incident's page. `idempotency_key` is the notification's
/// id, also sent as the `Idempotency-Key` header; it is repeated in the body
/// so that it survives proxies that drop unknown headers.
pub fn webhook_payload(m: &PageMessage, idempotency_key: &str) -> Value {
    json!({
        "event": "incident.triggered",
        "version": VERSION,
        "idempotency_key": idempotency_key,
        "incident": incident(m),
        "links": links(m),
    })
}

pub(super) fn bundle(messages: &[PageMessage], unlisted: usize, idempotency_key: &str) -> Value {
    let items: Vec<Value> = messages.iter().map(|m| json!({ "incident": incident(m), "links": links(m) })).collect();
    let mut body = json!({
        "event": "incidents.triggered",
        "version": VERSION,
        "idempotency_key": idempotency_key,
        "summary": bundle_headline(messages, unlisted),
        "incidents": items,
    });
    // Only a storm's bundle has incidents it counts without listing them.
    if unlisted > 0 {
        body["unlisted_incidents"] = json!(unlisted);
    }
    body
}

fn incident(m: &PageMessage) -> Value {
    json!({
        "id": m.incident_id,
        "title": text::visible(&m.title),
        "severity": m.severity.as_str(),
        "status": m.status.as_str(),
        "created_at": m.created_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        "service": { "id": m.service_id, "name": text::visible(&m.service_name) },
        "summary": m.summary_lines.iter().map(|l| text::visible(l)).collect::<Vec<_>>(),
    })
}

fn links(m: &PageMessage) -> Value {
    json!({ "acknowledge": m.ack_url, "incident": m.incident_url })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::event::Severity;

    #[test]
    fn single_incident_shape() {
        let got = webhook_payload(&message(), "ntf_1");
        let want = json!({
            "event": "incident.triggered",
            "version": 1,
            "idempotency_key": "ntf_1",
            "incident": {
                "id": 42,
                "title": "Checkout latency high",
                "severity": "critical",
                "status": "triggered",
                "created_at": "2026-03-02T09:00:00Z",
                "service": { "id": "checkout", "name": "Checkout" },
                "summary": ["p99 2.4s > 1s", "region=eu-west-1"]
            },
            "links": {
                "acknowledge": "https://tocsin.example/ack/42?token=42.61.1.ab",
                "incident": "https://tocsin.example/incidents/42"
            }
        });
        assert_eq!(got, want);
    }

    #[test]
    fn hostile_values_are_carried_verbatim_and_missing_links_are_null() {
        let got = webhook_payload(&hostile(), "k");
        assert_eq!(
            got["incident"]["title"],
            "<script>alert(1)</script> & <!channel>\r\nAcknowledge: https://evil.example"
        );
        assert_eq!(got["links"]["incident"], Value::Null);
        let text = serde_json::to_string(&got).unwrap();
        assert!(
            text.contains(r#""title":"<script>alert(1)</script> & <!channel>\r\nAcknowledge: https://evil.example""#)
        );
    }

    #[test]
    fn a_storm_bundle_counts_what_it_does_not_list() {
        let got = bundle(&[message()], 9_999, "ntf_s");
        assert_eq!(got["summary"], "10000 incidents (1 listed) for Checkout");
        assert_eq!(got["unlisted_incidents"], 9_999);
        assert_eq!(got["incidents"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn bundle_shape_reuses_the_incident_objects() {
        let ms = [message(), with(43, "Search down", Severity::Error, "Search")];
        let got = bundle(&ms, 0, "ntf_b");
        assert_eq!(got.get("unlisted_incidents"), None);
        assert_eq!(got["event"], "incidents.triggered");
        assert_eq!(got["version"], 1);
        assert_eq!(got["idempotency_key"], "ntf_b");
        assert_eq!(got["summary"], "2 incidents for Checkout, Search");
        assert_eq!(got["incidents"][0]["incident"], webhook_payload(&ms[0], "x")["incident"]);
        assert_eq!(got["incidents"][0]["links"], webhook_payload(&ms[0], "x")["links"]);
        assert_eq!(
            got["incidents"][1],
            json!({
                "incident": {
                    "id": 43,
                    "title": "Search down",
                    "severity": "error",
                    "status": "triggered",
                    "created_at": "2026-03-02T09:00:00Z",
                    "service": { "id": "search", "name": "Search" },
                    "summary": []
                },
                "links": {
                    "acknowledge": "https://tocsin.example/ack/43",
                    "incident": "https://tocsin.example/incidents/43"
                }
            })
        );
    }
}
