//! Alertmanager webhook, payload version 4
//! (`POST /integrations/alertmanager/{key}`).
//!
//! One [`Event`] per alert in the notification, identified by the alert's
//! label-set fingerprint. Alertmanager reports resolution explicitly
//! (`status: resolved`), so events carry no expiry.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tocsin_core::event::{Event, EventAction};
use tocsin_core::fingerprint::fingerprint_hex;

use super::{
    FieldError, LabelNames, MAX_ALERTS_PER_REQUEST, alert_links, alert_severity, alert_summary, decode_body,
    index_path, key_path, opt_str, opt_time, parse_annotations, parse_labels, render_time, type_name, wrong_type,
};

/// Largest accepted notification: 4 MiB.
///
/// Alertmanager sends a whole alert group in one request and, unless the
/// receiver sets `max_alerts`, never truncates it; a typical alert is
/// 0.5–1 KiB on the wire, so 4 MiB carries several thousand alerts (a
/// cluster-wide outage) while bounding the memory one request can pin.
/// A rejected notification is retried by Alertmanager and then dropped, so
/// erring large is the safer side; operators with bigger groups should set
/// `max_alerts` on the webhook receiver.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// Parses a version 4 webhook notification into one event per alert.
///
/// - `version` must be `"4"` when present (absent is accepted).
/// - dedup key: the alert's `fingerprint` when it is 16 hex digits,
///   otherwise [`fingerprint_hex`] of its labels (the same value for
///   Alertmanager-built payloads).
/// - `status`: `firing` → trigger, `resolved` → resolve.
/// - summary: `annotations.summary`, else `annotations.description`, else
///   `labels.alertname`, else `alert <fingerprint>`; severity from
///   `labels.severity` via [`Severity::from_label`](tocsin_core::event::Severity::from_label).
/// - details: `annotations`, `generator_url`, `group_key`, `receiver`,
///   `external_url`, `starts_at`, `ends_at`; links: `generatorURL`
///   ("Source") and `annotations.runbook_url` ("Runbook").
/// - `startsAt` is the occurrence time; Go's zero time means unset.
///
/// An empty `alerts` array yields no events.
pub fn parse_webhook(body: &[u8], _now: DateTime<Utc>) -> Result<Vec<Event>, FieldError> {
    let value = decode_body(body, MAX_BODY)?;
    let Value::Object(top) = &value else {
        return Err(FieldError::new("body", format!("must be a JSON object, not {}", type_name(&value))));
    };
    match opt_str(top, "version", "version")? {
        None | Some("4") => {}
        Some(other) => {
            let shown: String = other.chars().take(16).collect();
            return Err(FieldError::new("version", format!("unsupported webhook version {shown:?}; expected \"4\"")));
        }
    }
    let group = GroupContext {
        group_key: opt_str(top, "groupKey", "groupKey")?,
        receiver: opt_str(top, "receiver", "receiver")?,
        external_url: opt_str(top, "externalURL", "externalURL")?,
    };
    let alerts = match top.get("alerts") {
        None | Some(Value::Null) => return Err(FieldError::new("alerts", "is required")),
        Some(Value::Array(a)) => a,
        Some(other) => return Err(wrong_type("alerts", "an array", other)),
    };
    if alerts.len() > MAX_ALERTS_PER_REQUEST {
        return Err(FieldError::new(
            "alerts",
            format!("must hold at most {MAX_ALERTS_PER_REQUEST} alerts (got {})", alerts.len()),
        ));
    }
    alerts.iter().enumerate().map(|(i, alert)| parse_alert(alert, &index_path("alerts", i), &group)).collect()
}

/// Notification-level fields copied into every alert's details.
struct GroupContext<'a> {
    group_key: Option<&'a str>,
    receiver: Option<&'a str>,
    external_url: Option<&'a str>,
}

fn parse_alert(alert: &Value, path: &str, group: &GroupContext<'_>) -> Result<Event, FieldError> {
    let Value::Object(obj) = alert else {
        return Err(wrong_type(path, "an object", alert));
    };
    let status_path = key_path(path, "status");
    let action = match opt_str(obj, "status", &status_path)? {
        Some("firing") => EventAction::Trigger,
        Some("resolved") => EventAction::Resolve,
        None => {
            return Err(FieldError::new(&status_path, "is required; must be one of firing, resolved"));
        }
        Some(_) => {
            return Err(FieldError::new(&status_path, "must be one of firing, resolved"));
        }
    };
    let labels = parse_labels(obj.get("labels"), &key_path(path, "labels"), LabelNames::AnyUtf8)?;
    let annotations = parse_annotations(obj, &key_path(path, "annotations"))?;
    let starts_at = opt_time(obj, "startsAt", &key_path(path, "startsAt"))?;
    let ends_at = opt_time(obj, "endsAt", &key_path(path, "endsAt"))?;
    let generator_url = opt_str(obj, "generatorURL", &key_path(path, "generatorURL"))?.filter(|s| !s.trim().is_empty());
    let fingerprint = match opt_str(obj, "fingerprint", &key_path(path, "fingerprint"))? {
        Some(fp) if fp.len() == 16 && fp.bytes().all(|b| b.is_ascii_hexdigit()) => fp.to_ascii_lowercase(),
        _ => fingerprint_hex(&labels),
    };

    let summary = alert_summary(&annotations, &labels, &fingerprint);
    let severity = alert_severity(&labels);
    let links = alert_links(generator_url, &annotations);
    let details = json!({
        "annotations": Value::Object(annotations),
        "generator_url": generator_url,
        "group_key": group.group_key,
        "receiver": group.receiver,
        "external_url": group.external_url,
        "starts_at": render_time(starts_at),
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
        occurred_at: starts_at,
        expires_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use std::collections::BTreeMap;
    use tocsin_core::event::{Link, Severity};

    const FIRING: &[u8] =
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/alertmanager/webhook-v4-firing.json"));
    const FIRING_SECOND: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/alertmanager/webhook-v4-firing-second-instance.json"
    ));
    const RESOLVED: &[u8] =
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/alertmanager/webhook-v4-resolved.json"));

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 16, 30, 0).unwrap()
    }

    fn labels(instance: &str) -> BTreeMap<String, String> {
        [("alertname", "HighErrorRate"), ("instance", instance), ("service", "checkout"), ("severity", "critical")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn starts_at(nanos: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 16, 27, 55).unwrap() + Duration::nanoseconds(nanos)
    }

    #[test]
    fn firing_fixture() {
        let events = parse_webhook(FIRING, now()).unwrap();
        assert_eq!(
            events,
            vec![Event {
                action: EventAction::Trigger,
                dedup_key: "b1c11497b32ce15e".into(),
                summary: "5xx ratio above 2%".into(),
                severity: Severity::Critical,
                source: None,
                labels: labels("web-1"),
                details: json!({
                    "annotations": {
                        "runbook_url": "https://runbooks.example/checkout-5xx",
                        "summary": "5xx ratio above 2%"
                    },
                    "generator_url": "http://prometheus:9090/graph",
                    "group_key": "{}:{alertname=\"HighErrorRate\", instance=\"web-1\"}",
                    "receiver": "sink",
                    "external_url": "http://vm:9093",
                    "starts_at": "2026-11-27T16:27:55.630764172Z",
                    "ends_at": null,
                }),
                links: vec![
                    Link { href: "http://prometheus:9090/graph".into(), text: Some("Source".into()) },
                    Link { href: "https://runbooks.example/checkout-5xx".into(), text: Some("Runbook".into()) },
                ],
                occurred_at: Some(starts_at(630_764_172)),
                expires_at: None,
            }]
        );
    }

    #[test]
    fn second_instance_fixture() {
        let events = parse_webhook(FIRING_SECOND, now()).unwrap();
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e.action, EventAction::Trigger);
        assert_eq!(e.dedup_key, "5308e11450d376b3");
        assert_eq!(e.summary, "5xx ratio above 2%");
        assert_eq!(e.severity, Severity::Critical);
        assert_eq!(e.labels, labels("web-2"));
        // Empty generatorURL and no runbook: no links.
        assert!(e.links.is_empty());
        assert_eq!(e.details["generator_url"], Value::Null);
        assert_eq!(e.occurred_at, Some(starts_at(660_556_665)));
        assert_eq!(e.expires_at, None);
    }

    #[test]
    fn resolved_fixture() {
        let events = parse_webhook(RESOLVED, now()).unwrap();
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e.action, EventAction::Resolve);
        assert_eq!(e.dedup_key, "b1c11497b32ce15e");
        assert_eq!(e.summary, "5xx ratio above 2%");
        assert_eq!(e.labels, labels("web-1"));
        assert!(e.links.is_empty());
        assert_eq!(e.details["ends_at"], json!("2026-11-27T16:27:57Z"));
        assert_eq!(e.occurred_at, Some(starts_at(630_764_172)));
        assert_eq!(e.expires_at, None);
    }

    #[test]
    fn fixture_fingerprints_match_computed_ones() {
        for body in [FIRING, FIRING_SECOND, RESOLVED] {
            let v: Value = serde_json::from_slice(body).unwrap();
            let sent = v["alerts"][0]["fingerprint"].as_str().unwrap();
            let labels = parse_labels(Some(&v["alerts"][0]["labels"]), "l", LabelNames::AnyUtf8).unwrap();
            assert_eq!(fingerprint_hex(&labels), sent);
        }
    }

    fn one_alert(alert: Value) -> Result<Vec<Event>, FieldError> {
        let body = json!({"version": "4", "status": "firing", "alerts": [alert]});
        parse_webhook(body.to_string().as_bytes(), now())
    }

    #[test]
    fn fingerprint_falls_back_to_labels() {
        let l = json!({"alertname": "X", "job": "api"});
        let computed = fingerprint_hex(&parse_labels(Some(&l), "l", LabelNames::AnyUtf8).unwrap());
        for fp in [Value::Null, json!(""), json!("not-hex-not-hex!"), json!("abc")] {
            let e = one_alert(json!({"status": "firing", "labels": l, "fingerprint": fp})).unwrap();
            assert_eq!(e[0].dedup_key, computed);
        }
        let e = one_alert(json!({"status": "firing", "labels": l})).unwrap();
        assert_eq!(e[0].dedup_key, computed);
        let e = one_alert(json!({"status": "firing", "labels": l, "fingerprint": "B1C11497B32CE15E"})).unwrap();
        assert_eq!(e[0].dedup_key, "b1c11497b32ce15e");
    }

    #[test]
    fn summary_fallbacks_and_severity() {
        let e = one_alert(json!({"status": "firing", "labels": {"alertname": "A"},
            "annotations": {"summary": "", "description": "desc"}}))
        .unwrap();
        assert_eq!(e[0].summary, "desc");
        assert_eq!(e[0].severity, Severity::Warning);
        let e = one_alert(json!({"status": "firing", "labels": {"alertname": "A", "severity": "page"}})).unwrap();
        assert_eq!(e[0].summary, "A");
        assert_eq!(e[0].severity, Severity::Critical);
        let e = one_alert(json!({"status": "firing", "labels": {"job": "x"}})).unwrap();
        assert_eq!(e[0].summary, format!("alert {}", e[0].dedup_key));
        let e = one_alert(json!({"status": "firing", "labels": {"job": "x"},
            "annotations": {"summary": "s".repeat(2000)}}))
        .unwrap();
        assert_eq!(e[0].summary.len(), 1024);
    }

    #[test]
    fn version_checks() {
        let ok = parse_webhook(br#"{"alerts": []}"#, now()).unwrap();
        assert!(ok.is_empty());
        let e = parse_webhook(br#"{"version": "3", "alerts": []}"#, now()).unwrap_err();
        assert_eq!(e.to_string(), r#"version: unsupported webhook version "3"; expected "4""#);
        let e = parse_webhook(br#"{"version": 4, "alerts": []}"#, now()).unwrap_err();
        assert_eq!(e.to_string(), "version: must be a string, not a number");
    }

    #[test]
    fn rejects_malformed_alerts() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({"version": "4"}), "alerts: is required"),
            (json!({"alerts": {}}), "alerts: must be an array, not an object"),
            (json!({"alerts": [1]}), "alerts[0]: must be an object, not a number"),
            (
                json!({"alerts": [{"labels": {"a": "b"}}]}),
                "alerts[0].status: is required; must be one of firing, resolved",
            ),
            (
                json!({"alerts": [{"status": "pending", "labels": {"a": "b"}}]}),
                "alerts[0].status: must be one of firing, resolved",
            ),
            (json!({"alerts": [{"status": "firing"}]}), "alerts[0].labels: is required"),
            (
                json!({"alerts": [{"status": "firing", "labels": {}}]}),
                "alerts[0].labels: must contain at least one label with a non-empty value",
            ),
            (
                json!({"alerts": [{"status": "firing", "labels": ["a"]}]}),
                "alerts[0].labels: must be an object of strings, not an array",
            ),
            (
                json!({"alerts": [{"status": "firing", "labels": {"a": "b"}, "annotations": {"x": 1}}]}),
                "alerts[0].annotations.x: must be a string, not a number",
            ),
            (
                json!({"alerts": [{"status": "firing", "labels": {"a": "b"}}, {"status": "firing", "labels": {"a": "b"}, "startsAt": "soon"}]}),
                "alerts[1].startsAt: must be an RFC 3339 timestamp",
            ),
            (json!({"groupKey": 3, "alerts": []}), "groupKey: must be a string, not a number"),
            (json!([]), "body: must be a JSON object, not an array"),
        ];
        for (body, expected) in cases {
            let e = parse_webhook(body.to_string().as_bytes(), now()).unwrap_err();
            assert_eq!(e.to_string(), expected, "{body}");
        }
    }

    #[test]
    fn too_many_alerts() {
        let alert = json!({"status": "firing", "labels": {"a": "b"}});
        let alerts = vec![alert; MAX_ALERTS_PER_REQUEST + 1];
        let body = json!({"alerts": alerts}).to_string();
        let e = parse_webhook(body.as_bytes(), now()).unwrap_err();
        assert_eq!(e.field, "alerts");
    }

    #[test]
    fn every_prefix_is_handled() {
        for body in [FIRING, FIRING_SECOND, RESOLVED] {
            for end in 0..body.len() {
                let prefix = body.get(..end).unwrap();
                assert!(parse_webhook(prefix, now()).is_err());
            }
        }
    }
}
