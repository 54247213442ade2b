//! Tocsin's generic JSON webhook, for senders with no better-known format:
//!
//! ```json
//! {"summary": "disk full on db-1", "severity": "error", "dedup_key": "db-1/disk",
//!  "action": "trigger", "details": {"free": "0B"}, "source": "db-1",
//!  "links": [{"href": "https://grafana.example/d/1", "text": "Dashboard"}]}
//! ```

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use tocsin_core::event::{Event, EventAction, Severity};

use super::{
    FieldError, MAX_DEDUP_KEY_CHARS, MAX_SUMMARY_CHARS, check_max_chars, decode_body, opt_array, opt_nonblank_str,
    opt_object, opt_str, parse_links, parse_severity, type_name,
};

/// Largest accepted body.
pub const MAX_BODY: usize = 256 * 1024;
/// Longest `source`, in characters.
pub const MAX_SOURCE_CHARS: usize = 255;

/// Parses a generic webhook body.
///
/// - `summary`: required for `trigger` (non-blank, ≤ 1024 characters);
///   optional for `resolve`, where it defaults to `""`.
/// - `severity`: `critical|error|warning|info`, default `warning`.
/// - `dedup_key`: ≤ 255 characters; absent or blank gives `""` (the
///   handler generates one), but `resolve` requires it.
/// - `action`: `trigger|resolve`, default `trigger`.
/// - `details`: an object (default `{}`); `source`: ≤ 255 characters, also
///   recorded as the `source` label; `links`: `[{href, text?}]`.
///
/// `now` is unused: generic events carry no expiry.
pub fn parse(body: &[u8], _now: DateTime<Utc>) -> Result<Event, FieldError> {
    let value = decode_body(body, MAX_BODY)?;
    let Value::Object(top) = &value else {
        return Err(FieldError::new("body", format!("must be a JSON object, not {}", type_name(&value))));
    };

    let action = match opt_str(top, "action", "action")? {
        None | Some("trigger") => EventAction::Trigger,
        Some("resolve") => EventAction::Resolve,
        Some(_) => return Err(FieldError::new("action", "must be one of trigger, resolve")),
    };
    let summary = match opt_nonblank_str(top, "summary", "summary")? {
        Some(s) => {
            check_max_chars(s, "summary", MAX_SUMMARY_CHARS)?;
            s.to_owned()
        }
        None if action == EventAction::Resolve => String::new(),
        None => return Err(FieldError::new("summary", "is required")),
    };
    let severity = match opt_str(top, "severity", "severity")? {
        None => Severity::Warning,
        Some(s) => parse_severity(s, "severity")?,
    };
    let dedup_key = match opt_nonblank_str(top, "dedup_key", "dedup_key")? {
        Some(k) => {
            check_max_chars(k, "dedup_key", MAX_DEDUP_KEY_CHARS)?;
            k.to_owned()
        }
        None if action == EventAction::Resolve => {
            return Err(FieldError::new("dedup_key", "is required for resolve"));
        }
        None => String::new(),
    };
    let details = opt_object(top, "details", "details")?.cloned().unwrap_or_else(Map::new);
    let source = match opt_nonblank_str(top, "source", "source")? {
        Some(s) => {
            check_max_chars(s, "source", MAX_SOURCE_CHARS)?;
            Some(s.to_owned())
        }
        None => None,
    };
    let links = match opt_array(top, "links", "links")? {
        Some(items) => parse_links(items, "links")?,
        None => Vec::new(),
    };
    let labels: BTreeMap<String, String> = source.iter().map(|s| ("source".to_owned(), s.clone())).collect();

    Ok(Event {
        action,
        dedup_key,
        summary,
        severity,
        source,
        labels,
        details: Value::Object(details),
        links,
        occurred_at: None,
        expires_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;
    use tocsin_core::event::Link;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 16, 30, 0).unwrap()
    }

    fn run(v: Value) -> Result<Event, FieldError> {
        parse(v.to_string().as_bytes(), now())
    }

    const FULL: &str = r#"{"summary": "disk full on db-1", "severity": "error", "dedup_key": "db-1/disk",
        "action": "trigger", "details": {"free": "0B"}, "source": "db-1",
        "links": [{"href": "https://grafana.example/d/1", "text": "Dashboard"}], "extra": 1}"#;

    #[test]
    fn happy_path() {
        let e = parse(FULL.as_bytes(), now()).unwrap();
        assert_eq!(
            e,
            Event {
                action: EventAction::Trigger,
                dedup_key: "db-1/disk".into(),
                summary: "disk full on db-1".into(),
                severity: Severity::Error,
                source: Some("db-1".into()),
                labels: [("source".to_owned(), "db-1".to_owned())].into(),
                details: json!({"free": "0B"}),
                links: vec![Link { href: "https://grafana.example/d/1".into(), text: Some("Dashboard".into()) }],
                occurred_at: None,
                expires_at: None,
            }
        );
    }

    #[test]
    fn defaults() {
        let e = run(json!({"summary": "x"})).unwrap();
        assert_eq!(e.action, EventAction::Trigger);
        assert_eq!(e.severity, Severity::Warning);
        assert_eq!(e.dedup_key, "");
        assert_eq!(e.source, None);
        assert!(e.labels.is_empty());
        assert_eq!(e.details, json!({}));
        assert!(e.links.is_empty());
        let e = run(json!({"summary": "x", "severity": null, "dedup_key": " ", "action": null})).unwrap();
        assert_eq!(e.dedup_key, "");
        assert_eq!(e.action, EventAction::Trigger);
    }

    #[test]
    fn resolve_needs_dedup_key() {
        let e = run(json!({"summary": "x", "action": "resolve"})).unwrap_err();
        assert_eq!(e.to_string(), "dedup_key: is required for resolve");
        let e = run(json!({"action": "resolve", "dedup_key": "k"})).unwrap();
        assert_eq!(e.action, EventAction::Resolve);
        assert_eq!(e.dedup_key, "k");
        assert_eq!(e.summary, "");
    }

    #[test]
    fn bad_action() {
        for action in [json!("acknowledge"), json!("TRIGGER")] {
            let e = run(json!({"summary": "x", "action": action})).unwrap_err();
            assert_eq!(e.to_string(), "action: must be one of trigger, resolve");
        }
        let e = run(json!({"summary": "x", "action": 1})).unwrap_err();
        assert_eq!(e.to_string(), "action: must be a string, not a number");
    }

    #[test]
    fn field_errors() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({}), "summary: is required"),
            (json!({"summary": ""}), "summary: is required"),
            (json!({"summary": 5}), "summary: must be a string, not a number"),
            (json!({"summary": "s".repeat(1025)}), "summary: must be at most 1024 characters (got 1025)"),
            (json!({"summary": "x", "severity": "high"}), "severity: must be one of critical, error, warning, info"),
            (
                json!({"summary": "x", "dedup_key": "d".repeat(256)}),
                "dedup_key: must be at most 255 characters (got 256)",
            ),
            (json!({"summary": "x", "details": "text"}), "details: must be an object, not a string"),
            (json!({"summary": "x", "source": "s".repeat(256)}), "source: must be at most 255 characters (got 256)"),
            (
                json!({"summary": "x", "links": [{"href": "https://a"}, {"href": 1}]}),
                "links[1].href: must be a string, not a number",
            ),
            (json!(["summary"]), "body: must be a JSON object, not an array"),
        ];
        for (body, expected) in cases {
            assert_eq!(run(body.clone()).unwrap_err().to_string(), expected, "{body}");
        }
        let e = parse(b"{\"summary\": ", now()).unwrap_err();
        assert_eq!(e.field, "body");
        let e = parse(b"\xff", now()).unwrap_err();
        assert_eq!(e.to_string(), "body: not valid UTF-8 (at byte 0)");
    }

    #[test]
    fn every_prefix_is_handled() {
        let body = FULL.as_bytes();
        for end in 0..body.len() {
            assert!(parse(body.get(..end).unwrap(), now()).is_err());
        }
    }
}
