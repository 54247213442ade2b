//! Alertmanager API v2 alert push, as Prometheus sends it
//! (`POST …/api/v2/alerts`), so Prometheus can notify Tocsin directly.
//!
//! Identity is the label-set fingerprint. Prometheus resends firing alerts
//! (every `resend_delay`, 1m by default) with `endsAt` pushed forward, and
//! resolved ones for 15 minutes with `endsAt` in the past, so every push is
//! a full restatement and parsing it twice yields the same events.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tocsin_core::event::{Event, EventAction};
use tocsin_core::fingerprint::fingerprint_hex;

use super::{
    FieldError, LabelNames, MAX_ALERTS_PER_REQUEST, alert_links, alert_severity, alert_summary, decode_body,
    index_path, key_path, opt_str, opt_time, parse_annotations, parse_labels, render_time, type_name, wrong_type,
};

/// Largest accepted push: 4 MiB.
///
/// Prometheus batches up to `max_alerts_per_request` alerts (64 by
/// default, but operators raise it) per POST; 4 MiB leaves room for
/// thousands of alerts with large annotations while bounding the memory one
/// request can pin.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// How long a firing alert without `endsAt` stays open without a resend:
/// Alertmanager's default `resolve_timeout`.
pub const RESOLVE_TIMEOUT: chrono::Duration = chrono::Duration::minutes(5);

/// Parses a JSON array of `{labels, annotations, startsAt, endsAt,
/// generatorURL}` into one event per alert.
///
/// - `labels` is required and must hold at least one non-empty value; label
///   names must match `[a-zA-Z_][a-zA-Z0-9_]*`; empty values are dropped.
/// - dedup key: [`fingerprint_hex`] of the labels.
/// - `endsAt` missing or Go's zero time → trigger expiring at
///   `now + RESOLVE_TIMEOUT`; `endsAt > now` → trigger expiring at `endsAt`;
///   `endsAt <= now` → resolve.
/// - `startsAt` missing → `now`; it is the occurrence time.
/// - summary, severity and links as for the Alertmanager webhook; details
///   hold `annotations`, `generator_url`, `starts_at`, `ends_at`.
///
/// An empty array is a no-op.
pub fn parse_alerts(body: &[u8], now: DateTime<Utc>) -> Result<Vec<Event>, FieldError> {
    let value = decode_body(body, MAX_BODY)?;
    let Value::Array(alerts) = &value else {
        return Err(FieldError::new("body", format!("must be a JSON array, not {}", type_name(&value))));
    };
    if alerts.len() > MAX_ALERTS_PER_REQUEST {
        return Err(FieldError::new(
            "body",
            format!("must hold at most {MAX_ALERTS_PER_REQUEST} alerts (got {})", alerts.len()),
        ));
    }
    alerts.iter().enumerate().map(|(i, alert)| parse_alert(alert, &index_path("", i), now)).collect()
}

fn parse_alert(alert: &Value, path: &str, now: DateTime<Utc>) -> Result<Event, FieldError> {
    let Value::Object(obj) = alert else {
        return Err(wrong_type(path, "an object", alert));
    };
    let labels = parse_labels(obj.get("labels"), &key_path(path, "labels"), LabelNames::Classic)?;
    let annotations = parse_annotations(obj, &key_path(path, "annotations"))?;
    let starts_at = opt_time(obj, "startsAt", &key_path(path, "startsAt"))?.unwrap_or(now);
    let ends_at = opt_time(obj, "endsAt", &key_path(path, "endsAt"))?;
    let generator_url = opt_str(obj, "generatorURL", &key_path(path, "generatorURL"))?.filter(|s| !s.trim().is_empty());

    let (action, expires_at) = match ends_at {
        None => (EventAction::Trigger, Some(now.checked_add_signed(RESOLVE_TIMEOUT).unwrap_or(now))),
        Some(end) if end > now => (EventAction::Trigger, Some(end)),
        Some(_) => (EventAction::Resolve, None),
    };
    let fingerprint = fingerprint_hex(&labels);
    let summary = alert_summary(&annotations, &labels, &fingerprint);
    let severity = alert_severity(&labels);
    let links = alert_links(generator_url, &annotations);
    let details = json!({
        "annotations": Value::Object(annotations),
        "generator_url": generator_url,
        "starts_at": render_time(Some(starts_at)),
        "ends_at": render_time(ends_at),
    });
    Ok(Event {
        action,
        dedup_key: fingerprint,
        summary,
        severity,
        source: None,
        labels,
        details,
        links,
        occurred_at: Some(starts_at),
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{MAX_LABEL_VALUE_CHARS, MAX_LABELS};
    use super::*;
    use chrono::{Duration, TimeZone};
    use std::collections::BTreeMap;
    use tocsin_core::event::{Link, Severity};

    const FIRING: &[u8] =
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/prometheus/api-v2-alerts-firing.json"));
    const RESOLVED: &[u8] =
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/prometheus/api-v2-alerts-resolved.json"));
    const GENERATOR_URL: &str = "http://vm:19090/graph?g0.expr=label_replace%28vector%28time%28%29%29%2C+%22service%22%2C+%22checkout%22%2C+%22%22%2C+%22%22%29+%3C+1.79579738e%2B09&g0.tab=1";
    const FIXTURE_FINGERPRINT: &str = "86818cd2f66d417d";

    /// `2026-11-27T16:36:SS.mmmZ`
    fn at(secs: u32, millis: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 16, 36, secs).unwrap() + Duration::milliseconds(millis)
    }

    fn fixture_labels() -> BTreeMap<String, String> {
        [
            ("alertname", "CheckoutErrorBudgetBurn"),
            ("cluster", "eu-1"),
            ("service", "checkout"),
            ("severity", "critical"),
            ("team", "payments"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn fixture_event(action: EventAction, ends_at: &str, expires_at: Option<DateTime<Utc>>) -> Event {
        Event {
            action,
            dedup_key: FIXTURE_FINGERPRINT.into(),
            summary: "checkout is burning its error budget 14x".into(),
            severity: Severity::Critical,
            source: None,
            labels: fixture_labels(),
            details: json!({
                "annotations": {
                    "runbook_url": "https://runbooks.example/checkout-burn",
                    "summary": "checkout is burning its error budget 14x"
                },
                "generator_url": GENERATOR_URL,
                "starts_at": "2026-11-27T16:36:12.667Z",
                "ends_at": ends_at,
            }),
            links: vec![
                Link { href: GENERATOR_URL.into(), text: Some("Source".into()) },
                Link { href: "https://runbooks.example/checkout-burn".into(), text: Some("Runbook".into()) },
            ],
            occurred_at: Some(at(12, 667)),
            expires_at,
        }
    }

    #[test]
    fn fixture_fingerprint_is_the_label_fingerprint() {
        assert_eq!(fingerprint_hex(&fixture_labels()), FIXTURE_FINGERPRINT);
    }

    #[test]
    fn firing_fixture_before_ends_at_triggers() {
        let events = parse_alerts(FIRING, at(15, 0)).unwrap();
        assert_eq!(events, vec![fixture_event(EventAction::Trigger, "2026-11-27T16:36:22.667Z", Some(at(22, 667)))]);
    }

    #[test]
    fn resolved_fixture_after_ends_at_resolves() {
        let events = parse_alerts(RESOLVED, at(21, 0)).unwrap();
        assert_eq!(events, vec![fixture_event(EventAction::Resolve, "2026-11-27T16:36:20.667Z", None)]);
    }

    #[test]
    fn firing_fixture_after_ends_at_resolves() {
        let events = parse_alerts(FIRING, at(30, 0)).unwrap();
        assert_eq!(events, vec![fixture_event(EventAction::Resolve, "2026-11-27T16:36:22.667Z", None)]);
        // endsAt exactly now counts as resolved.
        let events = parse_alerts(FIRING, at(22, 667)).unwrap();
        assert_eq!(events[0].action, EventAction::Resolve);
    }

    #[test]
    fn parsing_is_idempotent() {
        let now = at(15, 0);
        assert_eq!(parse_alerts(FIRING, now), parse_alerts(FIRING, now));
        assert_eq!(
            parse_alerts(FIRING, now).unwrap()[0].dedup_key,
            parse_alerts(RESOLVED, at(21, 0)).unwrap()[0].dedup_key
        );
    }

    #[test]
    fn missing_times_default() {
        let now = at(0, 0);
        for ends in [None, Some(json!("0001-01-01T00:00:00Z")), Some(Value::Null)] {
            let mut alert = json!({"labels": {"alertname": "A"}});
            if let Some(ends) = ends {
                alert["endsAt"] = ends;
            }
            let events = parse_alerts(json!([alert]).to_string().as_bytes(), now).unwrap();
            let e = &events[0];
            assert_eq!(e.action, EventAction::Trigger);
            assert_eq!(e.expires_at, Some(now + RESOLVE_TIMEOUT));
            assert_eq!(e.occurred_at, Some(now));
            assert_eq!(e.summary, "A");
            assert_eq!(e.severity, Severity::Warning);
            assert!(e.links.is_empty());
            assert_eq!(
                e.details,
                json!({"annotations": {}, "generator_url": null,
                       "starts_at": "2026-11-27T16:36:00Z", "ends_at": null})
            );
        }
        assert_eq!(RESOLVE_TIMEOUT, Duration::minutes(5));
    }

    #[test]
    fn empty_array_is_a_no_op() {
        assert_eq!(parse_alerts(b"[]", at(0, 0)).unwrap(), vec![]);
        assert_eq!(parse_alerts(b" [ ]\n", at(0, 0)).unwrap(), vec![]);
    }

    #[test]
    fn rejects_malformed_alerts() {
        let long_value = "v".repeat(MAX_LABEL_VALUE_CHARS + 1);
        let cases: Vec<(Value, &str)> = vec![
            (json!({"labels": {"a": "b"}}), "body: must be a JSON array, not an object"),
            (json!([null]), "[0]: must be an object, not null"),
            (json!([{"annotations": {}}]), "[0].labels: is required"),
            (
                json!([{"labels": {"a": "b"}}, {"labels": {}}]),
                "[1].labels: must contain at least one label with a non-empty value",
            ),
            (json!([{"labels": {"a": ""}}]), "[0].labels: must contain at least one label with a non-empty value"),
            (json!([{"labels": {"0abc": "x"}}]), "[0].labels[\"0abc\"]: label name must match [a-zA-Z_][a-zA-Z0-9_]*"),
            (
                json!([{"labels": {"service.name": "x"}}]),
                "[0].labels[\"service.name\"]: label name must match [a-zA-Z_][a-zA-Z0-9_]*",
            ),
            (json!([{"labels": {"a": 1}}]), "[0].labels.a: must be a string, not a number"),
            (json!([{"labels": {"a": long_value}}]), "[0].labels.a: must be at most 4096 characters (got 4097)"),
            (json!([{"labels": {"a": "b"}, "annotations": "x"}]), "[0].annotations: must be an object, not a string"),
            (json!([{"labels": {"a": "b"}, "startsAt": 5}]), "[0].startsAt: must be a string, not a number"),
            (json!([{"labels": {"a": "b"}, "endsAt": "tomorrow"}]), "[0].endsAt: must be an RFC 3339 timestamp"),
            (
                json!([{"labels": {"a": "b"}, "generatorURL": false}]),
                "[0].generatorURL: must be a string, not a boolean",
            ),
        ];
        for (body, expected) in cases {
            let e = parse_alerts(body.to_string().as_bytes(), at(0, 0)).unwrap_err();
            assert_eq!(e.to_string(), expected, "{body}");
        }
        let many: serde_json::Map<String, Value> = (0..=MAX_LABELS).map(|i| (format!("l{i}"), json!("v"))).collect();
        let e = parse_alerts(json!([{"labels": many}]).to_string().as_bytes(), at(0, 0)).unwrap_err();
        assert_eq!(e.to_string(), "[0].labels: must have at most 128 labels (got 129)");
    }

    #[test]
    fn body_level_limits() {
        let alerts = vec![json!({"labels": {"a": "b"}}); MAX_ALERTS_PER_REQUEST + 1];
        let e = parse_alerts(json!(alerts).to_string().as_bytes(), at(0, 0)).unwrap_err();
        assert_eq!(e.to_string(), "body: must hold at most 10000 alerts (got 10001)");
        let alerts = vec![json!({"labels": {"a": "b"}}); MAX_ALERTS_PER_REQUEST];
        assert_eq!(parse_alerts(json!(alerts).to_string().as_bytes(), at(0, 0)).unwrap().len(), MAX_ALERTS_PER_REQUEST);
        let deep = format!("[{{\"labels\":{{\"a\":\"b\"}},\"annotations\":{}1{}}}]", "[".repeat(70), "]".repeat(70));
        let e = parse_alerts(deep.as_bytes(), at(0, 0)).unwrap_err();
        assert_eq!(e.to_string(), "body: nested deeper than 64 levels");
        let e = parse_alerts(b"[{\"labels\":{\"a\":\"\xfe\"}}]", at(0, 0)).unwrap_err();
        assert_eq!(e.field, "body");
    }

    #[test]
    fn every_prefix_is_handled() {
        for body in [FIRING, RESOLVED] {
            for end in 0..body.len() {
                let prefix = body.get(..end).unwrap();
                assert!(parse_alerts(prefix, at(15, 0)).is_err());
            }
        }
    }
}
