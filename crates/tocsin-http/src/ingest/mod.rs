//! Pure parsers for the inbound alert wire formats (design §5).
//!
//! Each parser takes the raw request body and the current instant and
//! returns domain [`Event`](tocsin_core::event::Event)s or a
//! [`FieldError`] naming the offending JSON path. Nothing here does IO or
//! knows about axum; the HTTP handlers call these and map errors onto each
//! format's response shape.
//!
//! Every parser first checks the body as a whole — size, UTF-8, nesting
//! depth, JSON syntax — reporting problems under the field `body`, then
//! walks a [`serde_json::Value`] by hand so that a wrong type anywhere is
//! reported with its exact path.

pub mod alertmanager;
pub mod error;
pub mod generic;
pub mod pagerduty;
pub mod prometheus;

pub use error::FieldError;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use tocsin_core::event::{Link, Severity};

/// Deepest nesting of arrays/objects accepted in any body.
pub const MAX_DEPTH: usize = 64;
/// Most labels one alert may carry.
pub const MAX_LABELS: usize = 128;
/// Longest label name, in characters.
pub const MAX_LABEL_NAME_CHARS: usize = 256;
/// Longest label value, in characters.
pub const MAX_LABEL_VALUE_CHARS: usize = 4096;
/// Most alerts in one Alertmanager webhook or Prometheus push.
pub const MAX_ALERTS_PER_REQUEST: usize = 10_000;
/// Longest summary, in characters (PagerDuty's limit).
pub const MAX_SUMMARY_CHARS: usize = 1024;
/// Longest dedup key, in characters (PagerDuty's limit).
pub const MAX_DEDUP_KEY_CHARS: usize = 255;

/// Longest object key echoed back inside a field path.
const MAX_KEY_IN_PATH: usize = 64;

/// `Go`'s `time.Time{}` (`0001-01-01T00:00:00Z`) as Unix seconds; Prometheus
/// and Alertmanager send it for "unset".
const GO_ZERO_TIME_UNIX: i64 = -62_135_596_800;

// ---------------------------------------------------------------------------
// Body decoding

/// Checks size, UTF-8, nesting depth and JSON syntax, in that order, and
/// returns the parsed document. Every failure names the field `body`.
fn decode_body(body: &[u8], max_body: usize) -> Result<Value, FieldError> {
    if body.len() > max_body {
        return Err(FieldError::new("body", format!("larger than {max_body} bytes")));
    }
    let text = std::str::from_utf8(body)
        .map_err(|e| FieldError::new("body", format!("not valid UTF-8 (at byte {})", e.valid_up_to())))?;
    check_depth(text.as_bytes())?;
    serde_json::from_str(text).map_err(|e| FieldError::new("body", json_error_message(&e)))
}

/// `invalid JSON at line L column C (what went wrong)`.
fn json_error_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    let cause = full.strip_suffix(position.as_str()).unwrap_or(full.as_str());
    format!("invalid JSON at line {} column {} ({cause})", e.line(), e.column())
}

/// Rejects bodies whose arrays/objects nest deeper than [`MAX_DEPTH`],
/// scanning brackets outside string literals. Cheap, and it runs before the
/// recursive parser so pathological inputs never reach it.
fn check_depth(bytes: &[u8]) -> Result<(), FieldError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(FieldError::new("body", format!("nested deeper than {MAX_DEPTH} levels")));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Field paths

/// `parent.key`, or `parent["key"]` when the key is not a plain identifier.
/// Very long keys are shortened so error messages stay small.
fn key_path(parent: &str, key: &str) -> String {
    let is_ident = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if is_ident && key.len() <= MAX_KEY_IN_PATH {
        if parent.is_empty() { key.to_owned() } else { format!("{parent}.{key}") }
    } else {
        let mut shown: String = key.chars().take(MAX_KEY_IN_PATH).collect();
        if shown.len() < key.len() {
            shown.push('…');
        }
        let quoted = Value::String(shown).to_string();
        format!("{parent}[{quoted}]")
    }
}

/// `parent[i]`.
fn index_path(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

// ---------------------------------------------------------------------------
// Field extraction

/// JSON type name for messages.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(path: &str, expected: &str, got: &Value) -> FieldError {
    FieldError::new(path, format!("must be {expected}, not {}", type_name(got)))
}

/// An optional string member: absent and `null` are `None`.
fn opt_str<'a>(obj: &'a Map<String, Value>, key: &str, path: &str) -> Result<Option<&'a str>, FieldError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.contains('\0') => Err(FieldError::new(path, "must not contain NUL characters")),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(other) => Err(wrong_type(path, "a string", other)),
    }
}

/// An optional string member, with a blank (all-whitespace) value treated as
/// absent.
fn opt_nonblank_str<'a>(obj: &'a Map<String, Value>, key: &str, path: &str) -> Result<Option<&'a str>, FieldError> {
    Ok(opt_str(obj, key, path)?.filter(|s| !s.trim().is_empty()))
}

/// A required, non-blank string member of at most `max` characters.
fn required_text<'a>(obj: &'a Map<String, Value>, key: &str, path: &str, max: usize) -> Result<&'a str, FieldError> {
    let s = opt_nonblank_str(obj, key, path)?.ok_or_else(|| FieldError::new(path, "is required"))?;
    check_max_chars(s, path, max)?;
    Ok(s)
}

fn check_max_chars(s: &str, path: &str, max: usize) -> Result<(), FieldError> {
    // Fast path: byte length bounds character count from above.
    if s.len() <= max {
        return Ok(());
    }
    let n = s.chars().count();
    if n > max {
        return Err(FieldError::new(path, format!("must be at most {max} characters (got {n})")));
    }
    Ok(())
}

/// Keeps at most `max` characters.
fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => s.get(..cut).unwrap_or(s).to_owned(),
        None => s.to_owned(),
    }
}

/// An optional member that must be an object when present.
fn opt_object<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, FieldError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) => Err(wrong_type(path, "an object", other)),
    }
}

/// An optional member that must be an array when present.
fn opt_array<'a>(obj: &'a Map<String, Value>, key: &str, path: &str) -> Result<Option<&'a Vec<Value>>, FieldError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(other) => Err(wrong_type(path, "an array", other)),
    }
}

/// A `links` array: `[{href, text?}]`.
fn parse_links(items: &[Value], path: &str) -> Result<Vec<Link>, FieldError> {
    let mut links = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let item_path = index_path(path, i);
        let Value::Object(obj) = item else {
            return Err(wrong_type(&item_path, "an object", item));
        };
        let href_path = key_path(&item_path, "href");
        let href =
            opt_nonblank_str(obj, "href", &href_path)?.ok_or_else(|| FieldError::new(&href_path, "is required"))?;
        let text = opt_nonblank_str(obj, "text", &key_path(&item_path, "text"))?;
        links.push(Link { href: href.to_owned(), text: text.map(str::to_owned) });
    }
    Ok(links)
}

/// Severity from the exact wire spelling.
fn parse_severity(s: &str, path: &str) -> Result<Severity, FieldError> {
    Severity::parse(s).ok_or_else(|| FieldError::new(path, "must be one of critical, error, warning, info"))
}

// ---------------------------------------------------------------------------
// Time

/// Parses the timestamp spellings senders actually use: RFC 3339 (what
/// Go's `time.Time` and most libraries emit), ISO 8601 with a colon-less
/// offset (`2015-07-17T08:42:58.315+0000`, PagerDuty's own example), and
/// ISO 8601 without an offset, read as UTC. A space may replace the `T`.
fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    None
}

/// An optional timestamp member. Absent, `null`, `""` and Go's zero time
/// are all `None`.
fn opt_time(obj: &Map<String, Value>, key: &str, path: &str) -> Result<Option<DateTime<Utc>>, FieldError> {
    let Some(s) = opt_nonblank_str(obj, key, path)? else {
        return Ok(None);
    };
    let t = parse_timestamp(s).ok_or_else(|| FieldError::new(path, "must be an RFC 3339 timestamp"))?;
    Ok((t.timestamp() > GO_ZERO_TIME_UNIX).then_some(t))
}

/// RFC 3339 with as many fractional digits as needed, `Z` for UTC.
fn render_time(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)))
}

// ---------------------------------------------------------------------------
// Alertmanager-style alerts (shared by the webhook and the API v2 push)

/// How strictly label names are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LabelNames {
    /// Prometheus' classic `[a-zA-Z_][a-zA-Z0-9_]*`.
    Classic,
    /// Any non-empty UTF-8 string (Alertmanager already validated them).
    AnyUtf8,
}

fn is_classic_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A required `labels` object of strings, within the label limits. Labels
/// with an empty value are dropped (Prometheus and Alertmanager treat them
/// as absent); at least one must remain.
fn parse_labels(value: Option<&Value>, path: &str, names: LabelNames) -> Result<BTreeMap<String, String>, FieldError> {
    let obj = match value {
        None | Some(Value::Null) => return Err(FieldError::new(path, "is required")),
        Some(Value::Object(m)) => m,
        Some(other) => return Err(wrong_type(path, "an object of strings", other)),
    };
    if obj.len() > MAX_LABELS {
        return Err(FieldError::new(path, format!("must have at most {MAX_LABELS} labels (got {})", obj.len())));
    }
    let mut labels = BTreeMap::new();
    for (name, value) in obj {
        let name_path = key_path(path, name);
        if name.is_empty() {
            return Err(FieldError::new(path, "label names must not be empty"));
        }
        check_max_chars(name, &name_path, MAX_LABEL_NAME_CHARS).map_err(|_| {
            FieldError::new(&name_path, format!("label name must be at most {MAX_LABEL_NAME_CHARS} characters"))
        })?;
        if names == LabelNames::Classic && !is_classic_label_name(name) {
            return Err(FieldError::new(&name_path, "label name must match [a-zA-Z_][a-zA-Z0-9_]*"));
        }
        let Value::String(v) = value else {
            return Err(wrong_type(&name_path, "a string", value));
        };
        check_max_chars(v, &name_path, MAX_LABEL_VALUE_CHARS)?;
        if !v.is_empty() {
            labels.insert(name.clone(), v.clone());
        }
    }
    if labels.is_empty() {
        return Err(FieldError::new(path, "must contain at least one label with a non-empty value"));
    }
    Ok(labels)
}

/// An optional `annotations` object of strings, returned verbatim.
fn parse_annotations(obj: &Map<String, Value>, path: &str) -> Result<Map<String, Value>, FieldError> {
    let Some(annotations) = opt_object(obj, "annotations", path)? else {
        return Ok(Map::new());
    };
    for (name, value) in annotations {
        if !value.is_string() {
            return Err(wrong_type(&key_path(path, name), "a string", value));
        }
    }
    Ok(annotations.clone())
}

fn annotation<'a>(annotations: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    annotations.get(name).and_then(Value::as_str).filter(|s| !s.trim().is_empty())
}

/// `annotations.summary`, else `annotations.description`, else
/// `labels.alertname`, else `alert <fingerprint>`; at most
/// [`MAX_SUMMARY_CHARS`] characters (the annotations stay whole in details).
fn alert_summary(annotations: &Map<String, Value>, labels: &BTreeMap<String, String>, fingerprint: &str) -> String {
    let chosen = annotation(annotations, "summary")
        .or_else(|| annotation(annotations, "description"))
        .or_else(|| labels.get("alertname").map(String::as_str));
    match chosen {
        Some(s) => truncate_chars(s, MAX_SUMMARY_CHARS),
        None => format!("alert {fingerprint}"),
    }
}

/// `Severity::from_label(labels.severity)`, warning when absent.
fn alert_severity(labels: &BTreeMap<String, String>) -> Severity {
    labels.get("severity").map_or(Severity::Warning, |s| Severity::from_label(s))
}

/// The generator URL ("Source") and `annotations.runbook_url` ("Runbook").
fn alert_links(generator_url: Option<&str>, annotations: &Map<String, Value>) -> Vec<Link> {
    let mut links = Vec::new();
    if let Some(href) = generator_url.filter(|s| !s.trim().is_empty()) {
        links.push(Link { href: href.to_owned(), text: Some("Source".to_owned()) });
    }
    if let Some(href) = annotation(annotations, "runbook_url") {
        links.push(Link { href: href.to_owned(), text: Some("Runbook".to_owned()) });
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_scan_counts_only_outside_strings() {
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert_eq!(check_depth(deep.as_bytes()).unwrap_err().field, "body".to_owned());
        let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(check_depth(ok.as_bytes()).is_ok());
        let in_string = format!("[\"{}\\\"{}\"]", "[".repeat(100), "{".repeat(100));
        assert!(check_depth(in_string.as_bytes()).is_ok());
        let v = decode_body(in_string.as_bytes(), 1 << 20).unwrap();
        assert!(v.is_array());
    }

    #[test]
    fn decode_reports_body_errors() {
        let e = decode_body(b"{\"a\": [1, 2", 100).unwrap_err();
        assert_eq!(e.field, "body");
        assert!(e.message.starts_with("invalid JSON at line 1 column 11 ("), "{e}");
        let e = decode_body(b"{\"a\": \"\xff\"}", 100).unwrap_err();
        assert_eq!(e.to_string(), "body: not valid UTF-8 (at byte 7)");
        let e = decode_body(b"[]", 1).unwrap_err();
        assert_eq!(e.to_string(), "body: larger than 1 bytes");
    }

    #[test]
    fn key_paths() {
        assert_eq!(key_path("", "payload"), "payload");
        assert_eq!(key_path("payload", "summary"), "payload.summary");
        assert_eq!(key_path("[0].labels", "a b"), "[0].labels[\"a b\"]");
        assert_eq!(key_path("x", "1st"), "x[\"1st\"]");
        let long = "a".repeat(100);
        assert_eq!(key_path("x", &long), format!("x[\"{}…\"]", "a".repeat(64)));
        assert_eq!(index_path("alerts", 3), "alerts[3]");
    }

    #[test]
    fn timestamps() {
        let expect = "2015-07-17T08:42:58.315Z";
        for s in [
            "2015-07-17T08:42:58.315Z",
            "2015-07-17T08:42:58.315+00:00",
            "2015-07-17T08:42:58.315+0000",
            "2015-07-17T10:42:58.315+0200",
            "2015-07-17T08:42:58.315",
            "2015-07-17 08:42:58.315Z",
        ] {
            let t = parse_timestamp(s).unwrap_or_else(|| panic!("{s}"));
            assert_eq!(render_time(Some(t)), Value::String(expect.into()), "{s}");
        }
        assert!(parse_timestamp("yesterday").is_none());
        assert!(parse_timestamp("2015-07-17").is_none());
        let obj: Map<String, Value> = serde_json::from_str(r#"{"z":"0001-01-01T00:00:00Z","e":"","n":null}"#).unwrap();
        assert_eq!(opt_time(&obj, "z", "z").unwrap(), None);
        assert_eq!(opt_time(&obj, "e", "e").unwrap(), None);
        assert_eq!(opt_time(&obj, "n", "n").unwrap(), None);
        assert_eq!(opt_time(&obj, "missing", "m").unwrap(), None);
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_chars("héllo", 2), "hé");
        assert_eq!(truncate_chars("hé", 5), "hé");
    }

    #[test]
    fn label_validation() {
        let v: Value = serde_json::json!({"a": "1", "empty": ""});
        let l = parse_labels(Some(&v), "[0].labels", LabelNames::Classic).unwrap();
        assert_eq!(l.len(), 1);
        let v: Value = serde_json::json!({"empty": ""});
        let e = parse_labels(Some(&v), "[0].labels", LabelNames::Classic).unwrap_err();
        assert_eq!(e.field, "[0].labels");
        let v: Value = serde_json::json!({"a-b": "1"});
        let e = parse_labels(Some(&v), "[0].labels", LabelNames::Classic).unwrap_err();
        assert_eq!(e.field, "[0].labels[\"a-b\"]");
        assert!(parse_labels(Some(&v), "l", LabelNames::AnyUtf8).is_ok());
        let v: Value = serde_json::json!({"a": 1});
        let e = parse_labels(Some(&v), "l", LabelNames::Classic).unwrap_err();
        assert_eq!(e.to_string(), "l.a: must be a string, not a number");
        let many: Map<String, Value> = (0..=MAX_LABELS).map(|i| (format!("l{i}"), Value::String("v".into()))).collect();
        let e = parse_labels(Some(&Value::Object(many)), "l", LabelNames::Classic).unwrap_err();
        assert_eq!(e.field, "l");
        let v: Value = serde_json::json!({"a": "x".repeat(MAX_LABEL_VALUE_CHARS + 1)});
        assert_eq!(parse_labels(Some(&v), "l", LabelNames::Classic).unwrap_err().field, "l.a");
        let v: Value = serde_json::json!({"a".repeat(MAX_LABEL_NAME_CHARS + 1): "x"});
        assert!(parse_labels(Some(&v), "l", LabelNames::AnyUtf8).is_err());
        let e = parse_labels(None, "l", LabelNames::Classic).unwrap_err();
        assert_eq!(e.to_string(), "l: is required");
    }
}
