//! `tocsin send`: fire a test event at an ingestion endpoint, in any of the
//! wire formats Tocsin accepts, exactly as a real sender would.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::{ClientOpts, Output, emit, emit_json};

const DEFAULT_SUMMARY: &str = "Test alert from tocsin send";
/// `alertname` used when the summary is the default one.
const DEFAULT_ALERTNAME: &str = "TocsinTest";
/// Alertmanager's "not set" time, which firing webhook alerts carry as `endsAt`.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendKind {
    /// PagerDuty Events API v2 (`POST /v2/enqueue`).
    Pagerduty,
    /// Alertmanager webhook, version 4.
    Alertmanager,
    /// Prometheus → Alertmanager API v2 (`…/api/v2/alerts`).
    Prometheus,
    /// Tocsin's generic JSON webhook.
    Generic,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendAction {
    Trigger,
    /// PagerDuty only.
    Acknowledge,
    Resolve,
}

#[derive(clap::Args, Debug, Clone)]
pub struct SendArgs {
    /// Wire format to send.
    #[arg(long, value_enum, default_value = "pagerduty")]
    pub kind: SendKind,
    /// Integration key (the PagerDuty routing_key, or the key in the integration URL).
    #[arg(long, value_name = "KEY", required_unless_present = "file")]
    pub key: Option<String>,
    /// What the event does.
    #[arg(long, value_enum, default_value = "trigger")]
    pub action: SendAction,
    /// Identity of the alert; repeat it to acknowledge or resolve. Alertmanager and
    /// Prometheus have no dedup key: it is sent as a `dedup_key` label instead.
    #[arg(long)]
    pub dedup_key: Option<String>,
    /// Summary (for Alertmanager/Prometheus also the source of `alertname`).
    #[arg(long, default_value = DEFAULT_SUMMARY)]
    pub summary: String,
    /// Severity (PagerDuty: critical, error, warning or info).
    #[arg(long, default_value = "critical")]
    pub severity: String,
    /// Source of the event [default: this host's name, or "tocsin-cli"].
    #[arg(long)]
    pub source: Option<String>,
    /// Extra label, NAME=VALUE; repeatable (PagerDuty: sent as custom_details).
    #[arg(long = "label", value_name = "NAME=VALUE", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
    /// Send this file's bytes verbatim as the body instead ("-" for stdin).
    #[arg(
        long,
        value_name = "PATH",
        conflicts_with_all = ["action", "dedup_key", "summary", "severity", "source", "labels"]
    )]
    pub file: Option<PathBuf>,
}

pub async fn run_send(opts: &ClientOpts, args: SendArgs) -> anyhow::Result<()> {
    let (path, body) = match &args.file {
        Some(file) => (endpoint(args.kind, args.key.as_deref())?, read_body(file)?),
        None => {
            let source = args.source.clone().unwrap_or_else(default_source);
            let (path, body) = build_event(&args, &source, Utc::now())?;
            let bytes = serde_json::to_vec(&body).map_err(|e| anyhow::anyhow!("cannot encode event: {e}"))?;
            (path, bytes)
        }
    };
    let client = opts.client()?;
    // Ingestion is authorised by the key, so a 401 here is not about --token.
    let (status, body) = client.send_raw_bytes(&path, body).await.map_err(anyhow::Error::new)?;

    match opts.output {
        Output::Json => emit_json(&json!({ "status": status, "body": body }))?,
        Output::Table => emit(&render_response(args.kind, status, &body))?,
    }
    if (200..300).contains(&status) { Ok(()) } else { Err(anyhow::anyhow!("{}", failure_line(status, &body))) }
}

/// The ingestion path for a kind; `key` is percent-encoded into it.
fn endpoint(kind: SendKind, key: Option<&str>) -> anyhow::Result<String> {
    if kind == SendKind::Pagerduty {
        return Ok("/v2/enqueue".to_string());
    }
    let kind_name = match kind {
        SendKind::Alertmanager => "alertmanager",
        SendKind::Prometheus => "prometheus",
        SendKind::Generic | SendKind::Pagerduty => "generic",
    };
    let key =
        key.filter(|k| !k.is_empty()).ok_or_else(|| anyhow::anyhow!("--key is required for --kind {kind_name}"))?;
    let key = encode_segment(key);
    Ok(match kind {
        SendKind::Prometheus => format!("/integrations/prometheus/{key}/api/v2/alerts"),
        _ => format!("/integrations/{kind_name}/{key}"),
    })
}

/// Builds the path and JSON body a real sender of `args.kind` would send.
fn build_event(args: &SendArgs, source: &str, now: DateTime<Utc>) -> anyhow::Result<(String, Value)> {
    let path = endpoint(args.kind, args.key.as_deref())?;
    if args.action == SendAction::Acknowledge && args.kind != SendKind::Pagerduty {
        anyhow::bail!("--action acknowledge exists only for --kind pagerduty");
    }
    let resolve = args.action == SendAction::Resolve;
    let ts = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);

    let body = match args.kind {
        SendKind::Pagerduty => {
            let action = match args.action {
                SendAction::Trigger => "trigger",
                SendAction::Acknowledge => "acknowledge",
                SendAction::Resolve => "resolve",
            };
            let mut ev = json!({
                "routing_key": args.key.as_deref().unwrap_or_default(),
                "event_action": action,
            });
            if let Some(k) = &args.dedup_key {
                ev["dedup_key"] = json!(k);
            } else if args.action != SendAction::Trigger {
                anyhow::bail!("--action {action} needs --dedup-key (the dedup_key printed by the trigger)");
            }
            if args.action == SendAction::Trigger {
                let mut payload = json!({
                    "summary": args.summary,
                    "source": source,
                    "severity": args.severity,
                    "timestamp": ts(now),
                });
                if !args.labels.is_empty() {
                    payload["custom_details"] = json!(label_map(args, false));
                }
                ev["payload"] = payload;
                ev["client"] = json!("tocsin-cli");
            }
            ev
        }
        SendKind::Alertmanager => {
            let labels = label_map(args, true);
            let annotations = json!({ "summary": args.summary, "source": source });
            let status = if resolve { "resolved" } else { "firing" };
            let alertname = labels.get("alertname").cloned().unwrap_or_default();
            json!({
                "version": "4",
                "groupKey": format!("{{}}:{{alertname={}}}", go_quote(&alertname)),
                "truncatedAlerts": 0,
                "status": status,
                "receiver": "tocsin-cli",
                "groupLabels": { "alertname": alertname },
                "commonLabels": labels,
                "commonAnnotations": annotations,
                "externalURL": "",
                "alerts": [{
                    "status": status,
                    "labels": labels,
                    "annotations": annotations,
                    "startsAt": ts(now),
                    "endsAt": if resolve { ts(now) } else { ZERO_TIME.to_string() },
                    "generatorURL": "",
                    "fingerprint": fingerprint(&labels),
                }],
            })
        }
        SendKind::Prometheus => {
            let ends = if resolve { now } else { now + Duration::minutes(5) };
            json!([{
                "labels": label_map(args, true),
                "annotations": { "summary": args.summary, "source": source },
                "startsAt": ts(now),
                "endsAt": ts(ends),
                "generatorURL": "",
            }])
        }
        SendKind::Generic => {
            let mut ev = json!({
                "summary": args.summary,
                "severity": args.severity,
                "action": if resolve { "resolve" } else { "trigger" },
                "source": source,
            });
            if let Some(k) = &args.dedup_key {
                ev["dedup_key"] = json!(k);
            }
            if !args.labels.is_empty() {
                ev["labels"] = json!(label_map(args, false));
            }
            ev
        }
    };
    Ok((path, body))
}

/// `--label`s, and for Alertmanager/Prometheus the identity labels first:
/// `alertname` (from the summary), `severity`, `dedup_key`. `--label` wins.
fn label_map(args: &SendArgs, alert_labels: bool) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    if alert_labels {
        m.insert("alertname".to_string(), alertname_from(&args.summary));
        m.insert("severity".to_string(), args.severity.clone());
        if let Some(k) = &args.dedup_key {
            m.insert("dedup_key".to_string(), k.clone());
        }
    }
    for (k, v) in &args.labels {
        m.insert(k.clone(), v.clone());
    }
    m
}

/// "disk full on db-1" → "DiskFullOnDb1"; the default summary → "TocsinTest".
/// Deterministic, so a resolve with the same summary hits the same alert.
fn alertname_from(summary: &str) -> String {
    if summary == DEFAULT_SUMMARY {
        return DEFAULT_ALERTNAME.to_string();
    }
    let mut name = String::new();
    for word in summary.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            name.push(first.to_ascii_uppercase());
            name.extend(chars);
        }
    }
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert_str(0, DEFAULT_ALERTNAME);
    }
    name.truncate(64);
    name
}

/// Alertmanager's label-set fingerprint: FNV-1a 64 over the labels sorted by
/// name, each as `name 0xFF value 0xFF`, rendered `%016x`.
fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    let mut add = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    };
    for (name, value) in labels {
        add(name.as_bytes());
        add(&[0xff]);
        add(value.as_bytes());
        add(&[0xff]);
    }
    format!("{h:016x}")
}

/// Go's `%q` for the characters that matter in a group key.
fn go_quote(s: &str) -> String {
    let mut out = String::from('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    let (name, value) = s.split_once('=').ok_or_else(|| format!("{s:?} is not NAME=VALUE"))?;
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!("label name {name:?} must match [a-zA-Z_][a-zA-Z0-9_]*"));
    }
    Ok((name.to_string(), value.to_string()))
}

fn read_body(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).map_err(|e| anyhow::anyhow!("cannot read stdin: {e}"))?;
        return Ok(buf);
    }
    std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

fn default_source() -> String {
    let from_env = std::env::var("HOSTNAME").ok();
    let from_fs =
        || ["/proc/sys/kernel/hostname", "/etc/hostname"].iter().find_map(|p| std::fs::read_to_string(p).ok());
    from_env
        .or_else(from_fs)
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "tocsin-cli".to_string())
}

/// `202 Accepted`, the body, and for PagerDuty the dedup key on its own line.
fn render_response(kind: SendKind, status: u16, body: &Value) -> String {
    let mut out = format!("{status} {}\n", reason(status));
    match raw_text(body) {
        Some("") => {}
        Some(text) => {
            out.push_str(text.trim_end());
            out.push('\n');
        }
        None => {
            out.push_str(&serde_json::to_string_pretty(body).unwrap_or_default());
            out.push('\n');
        }
    }
    if kind == SendKind::Pagerduty
        && let Some(k) = body.get("dedup_key").and_then(Value::as_str)
    {
        out.push_str(&format!("dedup_key: {k}\n"));
    }
    out
}

/// One line saying why the server refused the event.
fn failure_line(status: u16, body: &Value) -> String {
    let detail = if let Some(e) = body.get("error") {
        // /api/v1-style {"error":{"code","message","field"}}
        let msg = e.get("message").and_then(Value::as_str).unwrap_or("");
        match e.get("field").and_then(Value::as_str) {
            Some(f) => format!("{msg} (field: {f})"),
            None => msg.to_string(),
        }
    } else if let Some(msg) = body.get("message").and_then(Value::as_str) {
        // PagerDuty-style {"status","message","errors":[…]}
        let errors: Vec<&str> = body
            .get("errors")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if errors.is_empty() { msg.to_string() } else { format!("{msg} ({})", errors.join("; ")) }
    } else if let Some(text) = raw_text(body) {
        text.to_string()
    } else {
        body.to_string()
    };
    let detail: String = detail.split_whitespace().collect::<Vec<_>>().join(" ");
    let detail: String = match detail.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &detail[..i]),
        None => detail,
    };
    let mut line = format!("event rejected: {status} {}", reason(status));
    if !detail.is_empty() {
        line.push_str(": ");
        line.push_str(&detail);
    }
    line
}

/// The text of a `{"raw": "…"}` body (what the client returns for non-JSON).
fn raw_text(body: &Value) -> Option<&str> {
    match body.as_object() {
        Some(m) if m.len() == 1 => m.get("raw").and_then(Value::as_str),
        _ => None,
    }
}

fn reason(status: u16) -> &'static str {
    axum::http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser, Debug)]
    struct T {
        #[command(flatten)]
        args: SendArgs,
    }

    fn args(argv: &[&str]) -> SendArgs {
        let mut v = vec!["send"];
        v.extend_from_slice(argv);
        T::try_parse_from(v).unwrap().args
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-27T16:27:55.5Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn pagerduty_trigger() {
        let a = args(&["--key", "R0UTING", "--label", "team=payments"]);
        let (path, body) = build_event(&a, "web-1", now()).unwrap();
        assert_eq!(path, "/v2/enqueue");
        assert_eq!(
            body,
            json!({
                "routing_key": "R0UTING",
                "event_action": "trigger",
                "payload": {
                    "summary": "Test alert from tocsin send",
                    "source": "web-1",
                    "severity": "critical",
                    "timestamp": "2026-11-27T16:27:55.500Z",
                    "custom_details": {"team": "payments"},
                },
                "client": "tocsin-cli",
            })
        );
    }

    #[test]
    fn pagerduty_ack_and_resolve_need_dedup_key() {
        let a = args(&["--key", "k", "--action", "acknowledge"]);
        let err = build_event(&a, "h", now()).unwrap_err();
        assert!(err.to_string().contains("needs --dedup-key"), "{err}");

        let a = args(&["--key", "k", "--action", "resolve", "--dedup-key", "d1"]);
        let (_, body) = build_event(&a, "h", now()).unwrap();
        assert_eq!(body, json!({"routing_key": "k", "event_action": "resolve", "dedup_key": "d1"}));
    }

    #[test]
    fn acknowledge_is_pagerduty_only() {
        for kind in ["alertmanager", "prometheus", "generic"] {
            let a = args(&["--kind", kind, "--key", "k", "--action", "acknowledge"]);
            let err = build_event(&a, "h", now()).unwrap_err();
            assert_eq!(err.to_string(), "--action acknowledge exists only for --kind pagerduty");
        }
    }

    #[test]
    fn alertmanager_firing_and_resolved() {
        let a = args(&["--kind", "alertmanager", "--key", "a/b", "--summary", "Disk full on db-1"]);
        let (path, body) = build_event(&a, "web-1", now()).unwrap();
        assert_eq!(path, "/integrations/alertmanager/a%2Fb");
        let labels = json!({"alertname": "DiskFullOnDb1", "severity": "critical"});
        let annotations = json!({"summary": "Disk full on db-1", "source": "web-1"});
        assert_eq!(
            body,
            json!({
                "version": "4",
                "groupKey": "{}:{alertname=\"DiskFullOnDb1\"}",
                "truncatedAlerts": 0,
                "status": "firing",
                "receiver": "tocsin-cli",
                "groupLabels": {"alertname": "DiskFullOnDb1"},
                "commonLabels": labels,
                "commonAnnotations": annotations,
                "externalURL": "",
                "alerts": [{
                    "status": "firing",
                    "labels": labels,
                    "annotations": annotations,
                    "startsAt": "2026-11-27T16:27:55.500Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "",
                    "fingerprint": fingerprint(&label_map(&a, true)),
                }],
            })
        );

        let a = args(&[
            "--kind",
            "alertmanager",
            "--key",
            "k",
            "--action",
            "resolve",
            "--label",
            "alertname=Custom",
            "--dedup-key",
            "x1",
        ]);
        let (_, body) = build_event(&a, "web-1", now()).unwrap();
        assert_eq!(body["status"], "resolved");
        let alert = &body["alerts"][0];
        assert_eq!(alert["status"], "resolved");
        assert_eq!(alert["endsAt"], "2026-11-27T16:27:55.500Z");
        assert_eq!(alert["labels"], json!({"alertname": "Custom", "severity": "critical", "dedup_key": "x1"}));
        assert_eq!(body["groupKey"], "{}:{alertname=\"Custom\"}");
    }

    #[test]
    fn prometheus_firing_and_resolved() {
        let a = args(&["--kind", "prometheus", "--key", "k1", "--severity", "warning"]);
        let (path, body) = build_event(&a, "web-1", now()).unwrap();
        assert_eq!(path, "/integrations/prometheus/k1/api/v2/alerts");
        assert_eq!(
            body,
            json!([{
                "labels": {"alertname": "TocsinTest", "severity": "warning"},
                "annotations": {"summary": "Test alert from tocsin send", "source": "web-1"},
                "startsAt": "2026-11-27T16:27:55.500Z",
                "endsAt": "2026-11-27T16:32:55.500Z",
                "generatorURL": "",
            }])
        );
        let a = args(&["--kind", "prometheus", "--key", "k1", "--action", "resolve"]);
        let (_, body) = build_event(&a, "web-1", now()).unwrap();
        assert_eq!(body[0]["endsAt"], "2026-11-27T16:27:55.500Z");
    }

    #[test]
    fn generic_body() {
        let a = args(&[
            "--kind",
            "generic",
            "--key",
            "g",
            "--dedup-key",
            "d",
            "--action",
            "resolve",
            "--label",
            "env=prod",
        ]);
        let (path, body) = build_event(&a, "h", now()).unwrap();
        assert_eq!(path, "/integrations/generic/g");
        assert_eq!(
            body,
            json!({
                "summary": "Test alert from tocsin send",
                "severity": "critical",
                "action": "resolve",
                "dedup_key": "d",
                "source": "h",
                "labels": {"env": "prod"},
            })
        );
    }

    #[test]
    fn fingerprint_matches_alertmanager() {
        // From fixtures/alertmanager/webhook-v4-firing.json.
        let labels: BTreeMap<String, String> =
            [("alertname", "HighErrorRate"), ("instance", "web-1"), ("service", "checkout"), ("severity", "critical")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(fingerprint(&labels), "b1c11497b32ce15e");
    }

    #[test]
    fn alertnames() {
        assert_eq!(alertname_from(DEFAULT_SUMMARY), "TocsinTest");
        assert_eq!(alertname_from("disk full on db-1"), "DiskFullOnDb1");
        assert_eq!(alertname_from("5xx > 2%"), "TocsinTest5xx2");
        assert_eq!(alertname_from("!!!"), "TocsinTest");
        assert_eq!(alertname_from(&"a".repeat(100)).len(), 64);
    }

    #[test]
    fn argument_rules() {
        // --file needs no --key (PagerDuty carries it in the body)…
        let a = args(&["--file", "x.json"]);
        assert_eq!(a.key, None);
        assert_eq!(endpoint(a.kind, None).unwrap(), "/v2/enqueue");
        // …but the URL-keyed kinds do.
        let err = endpoint(SendKind::Generic, None).unwrap_err();
        assert_eq!(err.to_string(), "--key is required for --kind generic");
        // Without --file, --key is required.
        assert!(T::try_parse_from(["send"]).is_err());
        // --file excludes the event-building options.
        assert!(T::try_parse_from(["send", "--file", "x", "--summary", "s"]).is_err());
        assert!(T::try_parse_from(["send", "--file", "x", "--label", "a=b"]).is_err());
        // Labels.
        let a = args(&["--key", "k", "--label", "a=b=c", "--label", "_x="]);
        assert_eq!(a.labels, vec![("a".into(), "b=c".into()), ("_x".into(), String::new())]);
        for bad in ["novalue", "=v", "1a=v", "a-b=v"] {
            assert!(T::try_parse_from(["send", "--key", "k", "--label", bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn response_rendering() {
        let body = json!({"status": "success", "message": "Event processed", "dedup_key": "abc"});
        assert_eq!(
            render_response(SendKind::Pagerduty, 202, &body),
            "202 Accepted\n{\n  \"dedup_key\": \"abc\",\n  \"message\": \"Event processed\",\n  \"status\": \"success\"\n}\ndedup_key: abc\n"
        );
        assert_eq!(render_response(SendKind::Prometheus, 200, &json!({"raw": ""})), "200 OK\n");
        assert_eq!(
            render_response(SendKind::Generic, 502, &json!({"raw": "bad gateway\n"})),
            "502 Bad Gateway\nbad gateway\n"
        );
    }

    #[test]
    fn failure_lines() {
        let pd = json!({"status": "invalid event", "message": "Event object is invalid",
            "errors": ["'payload.summary' is missing"]});
        assert_eq!(
            failure_line(400, &pd),
            "event rejected: 400 Bad Request: Event object is invalid ('payload.summary' is missing)"
        );
        let api = json!({"error": {"code": "not_found", "message": "unknown integration key",
            "field": null}});
        assert_eq!(failure_line(404, &api), "event rejected: 404 Not Found: unknown integration key");
        assert_eq!(
            failure_line(503, &json!({"raw": "down\nfor maintenance"})),
            "event rejected: 503 Service Unavailable: down for maintenance"
        );
        assert_eq!(failure_line(500, &json!({"raw": ""})), "event rejected: 500 Internal Server Error");
    }

    #[test]
    fn segment_encoding() {
        assert_eq!(encode_segment("abc-DEF_1.2~"), "abc-DEF_1.2~");
        assert_eq!(encode_segment("a/b c?é"), "a%2Fb%20c%3F%C3%A9");
    }
}
