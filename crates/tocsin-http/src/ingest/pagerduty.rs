//! PagerDuty Events API v2: `POST /v2/enqueue` (alert events) and
//! `POST /v2/change/enqueue` (change events).
//!
//! Field rules follow PagerDuty's published contract; where PagerDuty's
//! behaviour is undocumented the choices are noted on the item. Unknown
//! members are ignored, as PagerDuty ignores them. All field problems are
//! collected, so a sender sees every mistake in one 400 response.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use tocsin_core::event::{ChangeEvent, Event, EventAction, Link, Severity};

use super::{
    FieldError, MAX_DEDUP_KEY_CHARS, MAX_SUMMARY_CHARS, check_max_chars, decode_body, index_path, key_path, opt_array,
    opt_nonblank_str, opt_object, opt_str, parse_links, parse_severity, parse_timestamp, required_text, wrong_type,
};

/// PagerDuty's documented body limit.
pub const MAX_BODY: usize = 512 * 1024;
/// Longest routing key accepted. PagerDuty's keys are 32 characters; Tocsin
/// keys may be longer, so allow some room.
pub const MAX_ROUTING_KEY_CHARS: usize = 128;
/// Longest `payload.source` (and other short identifying strings).
pub const MAX_SOURCE_CHARS: usize = 255;

/// A parsed alert event.
#[derive(Debug, Clone, PartialEq)]
pub struct PdEvent {
    pub routing_key: String,
    /// The sender's dedup key; `None` only for a trigger that omitted it, in
    /// which case `event.dedup_key` is `""` and the handler generates one.
    pub dedup_key: Option<String>,
    pub event: Event,
}

/// A parsed change event.
#[derive(Debug, Clone, PartialEq)]
pub struct PdChange {
    pub routing_key: String,
    pub change: ChangeEvent,
}

/// Parses an Events API v2 alert event (`trigger`, `acknowledge` or
/// `resolve`).
///
/// For `trigger`, `payload.{summary, source, severity}` are required;
/// `payload.{component, group, class}` and `source` become labels of the
/// same names, `payload.custom_details` becomes the details (wrapped as
/// `{"details": …}` when it is not an object), `payload.timestamp` the
/// occurrence time, and `links`, `images` (with `href`, else `src`) and
/// `client`/`client_url` become links. For `acknowledge` and `resolve` the
/// `dedup_key` is required and everything else is ignored.
///
/// `now` is unused: PagerDuty events carry no expiry.
pub fn parse_event(body: &[u8], _now: DateTime<Utc>) -> Result<PdEvent, Vec<FieldError>> {
    let value = decode_body(body, MAX_BODY).map_err(|e| vec![e])?;
    let top = top_object(&value)?;
    let mut errors = Vec::new();

    let routing_key = collect(&mut errors, routing_key(top));
    let action = collect(&mut errors, event_action(top));
    let dedup_key = match dedup_key(top) {
        Ok(Some(k)) => Some(k),
        Ok(None) => {
            if matches!(action, Some(EventAction::Acknowledge | EventAction::Resolve)) {
                errors.push(FieldError::new("dedup_key", "is required for acknowledge and resolve"));
            }
            None
        }
        Err(e) => {
            errors.push(e);
            None
        }
    };

    let event = match action {
        Some(EventAction::Trigger) => trigger(top, &mut errors).map(|t| Event {
            action: EventAction::Trigger,
            dedup_key: dedup_key.clone().unwrap_or_default(),
            ..t
        }),
        Some(action) => Some(Event {
            action,
            dedup_key: dedup_key.clone().unwrap_or_default(),
            summary: String::new(),
            severity: Severity::Warning,
            source: None,
            labels: BTreeMap::new(),
            details: Value::Object(Map::new()),
            links: Vec::new(),
            occurred_at: None,
            expires_at: None,
        }),
        None => None,
    };

    match (routing_key, event) {
        (Some(routing_key), Some(event)) if errors.is_empty() => Ok(PdEvent { routing_key, dedup_key, event }),
        _ => Err(errors),
    }
}

/// Parses an Events API v2 change event: `routing_key`, `payload.summary`
/// (required), `payload.source`, `payload.timestamp`,
/// `payload.custom_details` and `links`.
pub fn parse_change(body: &[u8], _now: DateTime<Utc>) -> Result<PdChange, Vec<FieldError>> {
    let value = decode_body(body, MAX_BODY).map_err(|e| vec![e])?;
    let top = top_object(&value)?;
    let mut errors = Vec::new();

    let routing_key = collect(&mut errors, routing_key(top));
    let change = match collect(&mut errors, required_payload(top)) {
        Some(payload) => {
            let summary = collect(&mut errors, required_text(payload, "summary", "payload.summary", MAX_SUMMARY_CHARS));
            let source = collect(&mut errors, source(payload, false)).flatten();
            let occurred_at = collect(&mut errors, timestamp(payload)).flatten();
            let details = custom_details(payload);
            let links = collect(&mut errors, links(top));
            match (summary, links) {
                (Some(summary), Some(links)) => {
                    Some(ChangeEvent { summary: summary.to_owned(), source, occurred_at, details, links })
                }
                _ => None,
            }
        }
        None => {
            // Still report link problems alongside the missing payload.
            collect(&mut errors, links(top));
            None
        }
    };

    match (routing_key, change) {
        (Some(routing_key), Some(change)) if errors.is_empty() => Ok(PdChange { routing_key, change }),
        _ => Err(errors),
    }
}

/// 202 body for an accepted alert event.
pub fn accepted_body(dedup_key: &str) -> Value {
    json!({
        "status": "success",
        "message": "Event processed",
        "dedup_key": dedup_key,
    })
}

/// 202 body for an accepted change event.
pub fn change_accepted_body() -> Value {
    json!({
        "status": "success",
        "message": "Change event processed",
    })
}

/// 400 body listing every problem as `field: message`.
pub fn invalid_body(errors: &[FieldError]) -> Value {
    json!({
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

// ---------------------------------------------------------------------------

fn collect<T>(errors: &mut Vec<FieldError>, r: Result<T, FieldError>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(e);
            None
        }
    }
}

fn top_object(value: &Value) -> Result<&Map<String, Value>, Vec<FieldError>> {
    match value {
        Value::Object(m) => Ok(m),
        other => Err(vec![FieldError::new("body", format!("must be a JSON object, not {}", super::type_name(other)))]),
    }
}

/// 1–128 printable ASCII characters.
/// The `routing_key` of an Events API v2 body, found without building the
/// event: serde skims the document and keeps only that string (borrowed
/// unless it has escapes). `None` when the body is not a JSON object with a
/// well-formed `routing_key`; only the full parse then says what is wrong.
pub fn peek_routing_key(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow, default)]
        routing_key: Option<std::borrow::Cow<'a, str>>,
    }
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    let key = serde_json::from_slice::<Envelope<'_>>(body).ok()?.routing_key?;
    well_formed_routing_key(&key).then(|| key.into_owned())
}

/// 1 to [`MAX_ROUTING_KEY_CHARS`] printable ASCII characters.
fn well_formed_routing_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_ROUTING_KEY_CHARS && key.bytes().all(|b| b.is_ascii_graphic())
}

fn routing_key(top: &Map<String, Value>) -> Result<String, FieldError> {
    let key = opt_str(top, "routing_key", "routing_key")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| FieldError::new("routing_key", "is required"))?;
    if !well_formed_routing_key(key) {
        return Err(FieldError::new(
            "routing_key",
            format!("must be 1 to {MAX_ROUTING_KEY_CHARS} printable ASCII characters"),
        ));
    }
    Ok(key.to_owned())
}

fn event_action(top: &Map<String, Value>) -> Result<EventAction, FieldError> {
    const ONE_OF: &str = "must be one of trigger, acknowledge, resolve";
    match opt_str(top, "event_action", "event_action")? {
        None => Err(FieldError::new("event_action", format!("is required; {ONE_OF}"))),
        Some("trigger") => Ok(EventAction::Trigger),
        Some("acknowledge") => Ok(EventAction::Acknowledge),
        Some("resolve") => Ok(EventAction::Resolve),
        Some(_) => Err(FieldError::new("event_action", ONE_OF)),
    }
}

/// At most 255 characters; absent, `null` or blank is `None`.
fn dedup_key(top: &Map<String, Value>) -> Result<Option<String>, FieldError> {
    let Some(key) = opt_nonblank_str(top, "dedup_key", "dedup_key")? else {
        return Ok(None);
    };
    check_max_chars(key, "dedup_key", MAX_DEDUP_KEY_CHARS)?;
    Ok(Some(key.to_owned()))
}

fn required_payload(top: &Map<String, Value>) -> Result<&Map<String, Value>, FieldError> {
    opt_object(top, "payload", "payload")?.ok_or_else(|| FieldError::new("payload", "is required"))
}

fn source(payload: &Map<String, Value>, required: bool) -> Result<Option<String>, FieldError> {
    let path = "payload.source";
    match opt_nonblank_str(payload, "source", path)? {
        Some(s) => {
            check_max_chars(s, path, MAX_SOURCE_CHARS)?;
            Ok(Some(s.to_owned()))
        }
        None if required => Err(FieldError::new(path, "is required")),
        None => Ok(None),
    }
}

/// An ISO 8601 timestamp; invalid spellings are rejected rather than
/// silently dropped so the sender learns its clock field is broken.
fn timestamp(payload: &Map<String, Value>) -> Result<Option<DateTime<Utc>>, FieldError> {
    let path = "payload.timestamp";
    match opt_nonblank_str(payload, "timestamp", path)? {
        None => Ok(None),
        Some(s) => parse_timestamp(s).map(Some).ok_or_else(|| FieldError::new(path, "must be an ISO 8601 timestamp")),
    }
}

/// Any JSON; an object is kept as is, anything else wrapped as
/// `{"details": value}`, absent or `null` is `{}`.
fn custom_details(payload: &Map<String, Value>) -> Value {
    match payload.get("custom_details") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(other) => json!({ "details": other }),
    }
}

fn links(top: &Map<String, Value>) -> Result<Vec<Link>, FieldError> {
    match opt_array(top, "links", "links")? {
        Some(items) => parse_links(items, "links"),
        None => Ok(Vec::new()),
    }
}

/// `images: [{src, href?, alt?}]` as links: to `href` when the image is
/// clickable, else to the image itself; `alt` is the text.
fn images(top: &Map<String, Value>) -> Result<Vec<Link>, FieldError> {
    let Some(items) = opt_array(top, "images", "images")? else {
        return Ok(Vec::new());
    };
    let mut links = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = index_path("images", i);
        let Value::Object(obj) = item else {
            return Err(wrong_type(&path, "an object", item));
        };
        let src_path = key_path(&path, "src");
        let src = opt_nonblank_str(obj, "src", &src_path)?.ok_or_else(|| FieldError::new(&src_path, "is required"))?;
        let href = opt_nonblank_str(obj, "href", &key_path(&path, "href"))?;
        let alt = opt_nonblank_str(obj, "alt", &key_path(&path, "alt"))?;
        links.push(Link { href: href.unwrap_or(src).to_owned(), text: alt.map(str::to_owned) });
    }
    Ok(links)
}

/// `client_url` (with `client` as its text) as a link.
fn client_link(top: &Map<String, Value>) -> Result<Option<Link>, FieldError> {
    let client = opt_nonblank_str(top, "client", "client")?;
    let url = opt_nonblank_str(top, "client_url", "client_url")?;
    Ok(url.map(|href| Link { href: href.to_owned(), text: client.map(str::to_owned) }))
}

/// The trigger-only parts of an alert event; `None` when any failed (the
/// failures are in `errors`). Action and dedup key are filled by the caller.
fn trigger(top: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<Event> {
    let payload = collect(errors, required_payload(top));
    let mut links_out = Vec::new();
    let mut links_ok = true;
    for r in [links(top), images(top)] {
        match collect(errors, r) {
            Some(l) => links_out.extend(l),
            None => links_ok = false,
        }
    }
    let client = collect(errors, client_link(top));
    let payload = payload?;

    let summary = collect(errors, required_text(payload, "summary", "payload.summary", MAX_SUMMARY_CHARS));
    let source = collect(errors, source(payload, true)).flatten();
    let severity = collect(
        errors,
        opt_str(payload, "severity", "payload.severity").and_then(|s| match s {
            None => {
                Err(FieldError::new("payload.severity", "is required; must be one of critical, error, warning, info"))
            }
            Some(s) => parse_severity(s, "payload.severity"),
        }),
    );
    let occurred_at = collect(errors, timestamp(payload)).flatten();
    let mut labels = BTreeMap::new();
    for name in ["component", "group", "class"] {
        let path = key_path("payload", name);
        let value = opt_nonblank_str(payload, name, &path).and_then(|v| match v {
            Some(s) => check_max_chars(s, &path, MAX_SOURCE_CHARS).map(|()| Some(s)),
            None => Ok(None),
        });
        if let Some(Some(v)) = collect(errors, value) {
            labels.insert(name.to_owned(), v.to_owned());
        }
    }
    let details = custom_details(payload);

    let (summary, source, severity, client) = (summary?, source?, severity?, client?);
    if !links_ok {
        return None;
    }
    labels.insert("source".to_owned(), source.clone());
    links_out.extend(client);
    Some(Event {
        action: EventAction::Trigger,
        dedup_key: String::new(),
        summary: summary.to_owned(),
        severity,
        source: Some(source),
        labels,
        details,
        links: links_out,
        occurred_at,
        expires_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 16, 30, 0).unwrap()
    }

    #[test]
    fn the_routing_key_is_found_without_building_the_event() {
        let body = br#"{"payload": {"summary": "x", "custom_details": {"deep": [1, {"routing_key": "inner"}]}},
                        "routing_key": "R0ut\u0069ng", "event_action": "trigger"}"#;
        assert_eq!(peek_routing_key(body).as_deref(), Some("R0uting"));
        // Whatever the full parse would reject is left to it.
        for body in [
            &br#"{"event_action": "trigger"}"#[..],
            br#"{"routing_key": ""}"#,
            br#"{"routing_key": "has space"}"#,
            br#"{"routing_key": 42}"#,
            br#"["routing_key"]"#,
            br#"{"routing_key": "k", "routing_key": "k"}"#,
            br#"{"routing_key": "k""#,
            b"not json",
        ] {
            assert_eq!(peek_routing_key(body), None, "{}", String::from_utf8_lossy(body));
        }
        let long = format!(r#"{{"routing_key": "{}"}}"#, "k".repeat(MAX_ROUTING_KEY_CHARS + 1));
        assert_eq!(peek_routing_key(long.as_bytes()), None);
    }

    fn parse(v: Value) -> Result<PdEvent, Vec<FieldError>> {
        parse_event(v.to_string().as_bytes(), now())
    }

    fn errors(v: Value) -> Vec<String> {
        parse(v).unwrap_err().iter().map(ToString::to_string).collect()
    }

    fn minimal_trigger() -> Value {
        json!({
            "routing_key": "R0123456789abcdef0123456789abcd",
            "event_action": "trigger",
            "payload": {"summary": "disk full", "source": "db-1", "severity": "error"}
        })
    }

    /// PagerDuty's own documented trigger example, every field set.
    const FULL_TRIGGER: &str = r#"{
      "payload": {
        "summary": "Example alert on host1.example.com",
        "timestamp": "2015-07-17T08:42:58.315+0000",
        "source": "monitoringtool:cloudvendor:central-region-dc-01:852559987:cluster/api-stats-prod-003",
        "severity": "info",
        "component": "postgres",
        "group": "prod-datapipe",
        "class": "deploy",
        "custom_details": {"ping time": "1500ms", "load avg": 0.75}
      },
      "routing_key": "samplekeyhere",
      "dedup_key": "samplekeyhere",
      "images": [
        {"src": "https://www.pagerduty.com/wp-content/uploads/2016/05/pagerduty-logo-green.png",
         "href": "https://example.com/", "alt": "Example text"},
        {"src": "https://img.example/graph.png"}
      ],
      "links": [{"href": "https://example.com/", "text": "Link text"}, {"href": "https://b.example/"}],
      "event_action": "trigger",
      "client": "Sample Monitoring Service",
      "client_url": "https://monitoring.example.com",
      "unknown_top_level": {"ignored": true}
    }"#;

    #[test]
    fn full_trigger() {
        let pd = parse_event(FULL_TRIGGER.as_bytes(), now()).unwrap();
        let source = "monitoringtool:cloudvendor:central-region-dc-01:852559987:cluster/api-stats-prod-003";
        let labels: BTreeMap<String, String> =
            [("class", "deploy"), ("component", "postgres"), ("group", "prod-datapipe"), ("source", source)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        let link = |href: &str, text: Option<&str>| Link { href: href.to_owned(), text: text.map(str::to_owned) };
        assert_eq!(
            pd,
            PdEvent {
                routing_key: "samplekeyhere".into(),
                dedup_key: Some("samplekeyhere".into()),
                event: Event {
                    action: EventAction::Trigger,
                    dedup_key: "samplekeyhere".into(),
                    summary: "Example alert on host1.example.com".into(),
                    severity: Severity::Info,
                    source: Some(source.into()),
                    labels,
                    details: json!({"ping time": "1500ms", "load avg": 0.75}),
                    links: vec![
                        link("https://example.com/", Some("Link text")),
                        link("https://b.example/", None),
                        link("https://example.com/", Some("Example text")),
                        link("https://img.example/graph.png", None),
                        link("https://monitoring.example.com", Some("Sample Monitoring Service")),
                    ],
                    occurred_at: Some(
                        Utc.with_ymd_and_hms(2015, 7, 17, 8, 42, 58).unwrap() + chrono::Duration::milliseconds(315)
                    ),
                    expires_at: None,
                },
            }
        );
    }

    #[test]
    fn minimal_trigger_without_dedup_key() {
        let pd = parse(minimal_trigger()).unwrap();
        assert_eq!(pd.dedup_key, None);
        assert_eq!(pd.event.dedup_key, "");
        assert_eq!(pd.event.action, EventAction::Trigger);
        assert_eq!(pd.event.severity, Severity::Error);
        assert_eq!(pd.event.source.as_deref(), Some("db-1"));
        assert_eq!(pd.event.details, json!({}));
        assert!(pd.event.links.is_empty());
        assert_eq!(pd.event.occurred_at, None);
        assert_eq!(pd.event.labels.len(), 1);
        // Blank and null dedup keys count as omitted.
        for key in [json!(""), json!("  "), Value::Null] {
            let mut v = minimal_trigger();
            v["dedup_key"] = key;
            assert_eq!(parse(v).unwrap().dedup_key, None);
        }
    }

    #[test]
    fn custom_details_that_are_not_objects_are_wrapped() {
        let mut v = minimal_trigger();
        v["payload"]["custom_details"] = json!("free text");
        assert_eq!(parse(v).unwrap().event.details, json!({"details": "free text"}));
        let mut v = minimal_trigger();
        v["payload"]["custom_details"] = json!([1, 2]);
        assert_eq!(parse(v).unwrap().event.details, json!({"details": [1, 2]}));
    }

    #[test]
    fn missing_routing_key() {
        let mut v = minimal_trigger();
        v.as_object_mut().unwrap().remove("routing_key");
        assert_eq!(errors(v), ["routing_key: is required"]);
        let mut v = minimal_trigger();
        v["routing_key"] = json!("");
        assert_eq!(errors(v), ["routing_key: is required"]);
        let mut v = minimal_trigger();
        v["routing_key"] = json!("has space");
        assert_eq!(errors(v), ["routing_key: must be 1 to 128 printable ASCII characters"]);
        let mut v = minimal_trigger();
        v["routing_key"] = json!("k".repeat(129));
        assert_eq!(errors(v).len(), 1);
        let mut v = minimal_trigger();
        v["routing_key"] = json!("k".repeat(128));
        assert!(parse(v).is_ok());
    }

    #[test]
    fn bad_severity() {
        let mut v = minimal_trigger();
        v["payload"]["severity"] = json!("CRITICAL");
        assert_eq!(errors(v), ["payload.severity: must be one of critical, error, warning, info"]);
        let mut v = minimal_trigger();
        v["payload"].as_object_mut().unwrap().remove("severity");
        assert_eq!(errors(v), ["payload.severity: is required; must be one of critical, error, warning, info"]);
    }

    #[test]
    fn summary_limit() {
        let mut v = minimal_trigger();
        v["payload"]["summary"] = json!("é".repeat(1024));
        assert_eq!(parse(v).unwrap().event.summary.chars().count(), 1024);
        let mut v = minimal_trigger();
        v["payload"]["summary"] = json!("s".repeat(1025));
        assert_eq!(errors(v), ["payload.summary: must be at most 1024 characters (got 1025)"]);
        let mut v = minimal_trigger();
        v["payload"]["summary"] = json!("   ");
        assert_eq!(errors(v), ["payload.summary: is required"]);
    }

    #[test]
    fn dedup_key_limit() {
        let mut v = minimal_trigger();
        v["dedup_key"] = json!("d".repeat(255));
        assert_eq!(parse(v).unwrap().event.dedup_key.len(), 255);
        let mut v = minimal_trigger();
        v["dedup_key"] = json!("d".repeat(256));
        assert_eq!(errors(v), ["dedup_key: must be at most 255 characters (got 256)"]);
    }

    #[test]
    fn acknowledge_and_resolve() {
        let e = errors(json!({"routing_key": "rk", "event_action": "acknowledge"}));
        assert_eq!(e, ["dedup_key: is required for acknowledge and resolve"]);
        let e = errors(json!({"routing_key": "rk", "event_action": "resolve", "dedup_key": ""}));
        assert_eq!(e, ["dedup_key: is required for acknowledge and resolve"]);
        for (name, action) in [("acknowledge", EventAction::Acknowledge), ("resolve", EventAction::Resolve)] {
            // The payload, even a broken one, is ignored.
            let pd = parse(json!({
                "routing_key": "rk", "event_action": name, "dedup_key": "k1",
                "payload": {"severity": "nope", "summary": 3}, "links": "nope"
            }))
            .unwrap();
            assert_eq!(pd.routing_key, "rk");
            assert_eq!(pd.dedup_key.as_deref(), Some("k1"));
            assert_eq!(pd.event.action, action);
            assert_eq!(pd.event.dedup_key, "k1");
            assert_eq!(pd.event.summary, "");
        }
    }

    #[test]
    fn bad_event_action() {
        let mut v = minimal_trigger();
        v["event_action"] = json!("escalate");
        assert_eq!(errors(v), ["event_action: must be one of trigger, acknowledge, resolve"]);
        let mut v = minimal_trigger();
        v.as_object_mut().unwrap().remove("event_action");
        assert_eq!(errors(v), ["event_action: is required; must be one of trigger, acknowledge, resolve"]);
    }

    #[test]
    fn wrong_types_name_their_fields() {
        let e = errors(json!({
            "routing_key": 42,
            "event_action": "trigger",
            "dedup_key": ["x"],
            "payload": {"summary": 1, "source": true, "severity": null,
                        "timestamp": 5, "component": {}, "group": "g", "class": []},
            "links": {"href": "x"},
            "images": [{"href": "https://x"}],
            "client_url": 3
        }));
        assert_eq!(
            e,
            [
                "routing_key: must be a string, not a number",
                "dedup_key: must be a string, not an array",
                "links: must be an array, not an object",
                "images[0].src: is required",
                "client_url: must be a string, not a number",
                "payload.summary: must be a string, not a number",
                "payload.source: must be a string, not a boolean",
                "payload.severity: is required; must be one of critical, error, warning, info",
                "payload.timestamp: must be a string, not a number",
                "payload.component: must be a string, not an object",
                "payload.class: must be a string, not an array",
            ]
        );
        let e = errors(json!({"routing_key": "rk", "event_action": "trigger", "payload": "x"}));
        assert_eq!(e, ["payload: must be an object, not a string"]);
        let e = errors(json!({"routing_key": "rk", "event_action": "trigger"}));
        assert_eq!(e, ["payload: is required"]);
        let mut v = minimal_trigger();
        v["links"] = json!([{"href": "https://ok"}, {"text": "no href"}]);
        assert_eq!(errors(v), ["links[1].href: is required"]);
    }

    #[test]
    fn bad_timestamp() {
        let mut v = minimal_trigger();
        v["payload"]["timestamp"] = json!("last tuesday");
        assert_eq!(errors(v), ["payload.timestamp: must be an ISO 8601 timestamp"]);
    }

    #[test]
    fn multiple_errors_collected() {
        let e = errors(json!({
            "event_action": "trigger",
            "dedup_key": "d".repeat(300),
            "payload": {"summary": "", "severity": "sev1"}
        }));
        assert_eq!(
            e,
            [
                "routing_key: is required",
                "dedup_key: must be at most 255 characters (got 300)",
                "payload.summary: is required",
                "payload.source: is required",
                "payload.severity: must be one of critical, error, warning, info",
            ]
        );
    }

    #[test]
    fn body_level_errors() {
        let body = minimal_trigger().to_string();
        let truncated = body.get(..16).unwrap();
        let e = parse_event(truncated.as_bytes(), now()).unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].field, "body");
        assert!(e[0].message.starts_with("invalid JSON at line 1 column 16 ("), "{}", e[0]);
        let e = parse_event(b"{\"routing_key\": \"\xc3\x28\"}", now()).unwrap_err();
        assert_eq!(e, [FieldError::new("body", "not valid UTF-8 (at byte 17)")]);
        let e = parse_event(b"not json", now()).unwrap_err();
        assert_eq!(e[0].field, "body");
        let e = parse_event(b"", now()).unwrap_err();
        assert_eq!(e[0].field, "body");
        let e = parse_event(b"[1]", now()).unwrap_err();
        assert_eq!(e, [FieldError::new("body", "must be a JSON object, not an array")]);
        let e = parse_event(b"\"x\"", now()).unwrap_err();
        assert_eq!(e, [FieldError::new("body", "must be a JSON object, not a string")]);
        let mut v = minimal_trigger();
        let mut deep = json!(1);
        for _ in 0..70 {
            deep = json!([deep]);
        }
        v["payload"]["custom_details"] = deep;
        let e = parse(v).unwrap_err();
        assert_eq!(e, [FieldError::new("body", "nested deeper than 64 levels")]);
        let big = vec![b' '; MAX_BODY + 1];
        let e = parse_event(&big, now()).unwrap_err();
        assert_eq!(e, [FieldError::new("body", "larger than 524288 bytes")]);
    }

    #[test]
    fn change_events() {
        let body = r#"{
          "routing_key": "samplekeyhere",
          "payload": {
            "summary": "Build Success: Increase snapshot create timeout to 30 seconds",
            "timestamp": "2020-07-17T08:42:58.315+0000",
            "source": "acme-build-pipeline-tool-default-i-9999",
            "custom_details": {"build_state": "passed", "build_number": "2", "run_time": "1236s"}
          },
          "links": [{"href": "https://acme.pagerduty.dev/build/2", "text": "View more details in Acme!"}]
        }"#;
        let c = parse_change(body.as_bytes(), now()).unwrap();
        assert_eq!(
            c,
            PdChange {
                routing_key: "samplekeyhere".into(),
                change: ChangeEvent {
                    summary: "Build Success: Increase snapshot create timeout to 30 seconds".into(),
                    source: Some("acme-build-pipeline-tool-default-i-9999".into()),
                    occurred_at: Some(
                        Utc.with_ymd_and_hms(2020, 7, 17, 8, 42, 58).unwrap() + chrono::Duration::milliseconds(315)
                    ),
                    details: json!({"build_state": "passed", "build_number": "2", "run_time": "1236s"}),
                    links: vec![Link {
                        href: "https://acme.pagerduty.dev/build/2".into(),
                        text: Some("View more details in Acme!".into()),
                    }],
                },
            }
        );
        let minimal = parse_change(br#"{"routing_key":"rk","payload":{"summary":"deployed"}}"#, now()).unwrap();
        assert_eq!(minimal.change.source, None);
        assert_eq!(minimal.change.details, json!({}));

        let e: Vec<String> =
            parse_change(br#"{"payload":{"summary":"","source":1,"timestamp":"x"},"links":[3]}"#, now())
                .unwrap_err()
                .iter()
                .map(ToString::to_string)
                .collect();
        assert_eq!(
            e,
            [
                "routing_key: is required",
                "payload.summary: is required",
                "payload.source: must be a string, not a number",
                "payload.timestamp: must be an ISO 8601 timestamp",
                "links[0]: must be an object, not a number",
            ]
        );
        let e = parse_change(br#"{"routing_key":"rk"}"#, now()).unwrap_err();
        assert_eq!(e, [FieldError::new("payload", "is required")]);
        let long = json!({"routing_key": "rk", "payload": {"summary": "s".repeat(1025)}});
        let e = parse_change(long.to_string().as_bytes(), now()).unwrap_err();
        assert_eq!(e[0].field, "payload.summary");
    }

    #[test]
    fn response_bodies() {
        assert_eq!(
            accepted_body("abc").to_string(),
            r#"{"dedup_key":"abc","message":"Event processed","status":"success"}"#
        );
        assert_eq!(
            accepted_body("abc"),
            json!({"status": "success", "message": "Event processed", "dedup_key": "abc"})
        );
        assert_eq!(change_accepted_body(), json!({"status": "success", "message": "Change event processed"}));
        assert_eq!(
            invalid_body(&[
                FieldError::new("routing_key", "is required"),
                FieldError::new("payload.severity", "must be one of critical, error, warning, info"),
            ]),
            json!({
                "status": "invalid event",
                "message": "Event object is invalid",
                "errors": [
                    "routing_key: is required",
                    "payload.severity: must be one of critical, error, warning, info"
                ]
            })
        );
    }

    #[test]
    fn every_prefix_is_handled() {
        for body in [FULL_TRIGGER.as_bytes(), minimal_trigger().to_string().as_bytes()] {
            for end in 0..=body.len() {
                let prefix = body.get(..end).unwrap();
                let _ = parse_event(prefix, now());
                let _ = parse_change(prefix, now());
            }
        }
    }
}
