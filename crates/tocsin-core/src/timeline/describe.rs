//! Timeline entries as sentences for people (the CLI's tables and the web
//! pages read them the same way).

use serde_json::Value;

/// A timeline entry's details as a sentence for people. Kinds this version
/// does not know fall back to [`payload_text`].
pub fn describe(kind: &str, payload: &Value) -> String {
    let text = |key: &str| payload.get(key).and_then(Value::as_str);
    let number = |key: &str| payload.get(key).and_then(Value::as_i64);
    // "level 1, pass 1": the engine counts both from 1.
    let step = || match (number("level"), number("pass")) {
        (Some(level), Some(pass)) => Some(format!("level {level}, pass {pass}")),
        (Some(level), None) => Some(format!("level {level}")),
        _ => None,
    };
    let method = || {
        let channel = text("channel").unwrap_or("contact method");
        match text("contact_method") {
            Some(id) => format!("{channel} ({id})"),
            None => channel.to_string(),
        }
    };
    let user = text("user").unwrap_or("someone");
    let line = match kind {
        "released" => "nothing holds it back any more; paging starts".to_string(),
        "group_update" => match number("alerts") {
            Some(n) => format!("the group holds {} now", alerts(n)),
            None => payload_text(payload),
        },
        "opened" => match (text("summary"), text("severity")) {
            (Some(summary), Some(severity)) => format!("{summary} ({severity})"),
            _ => payload_text(payload),
        },
        "alert_added" | "alert_acknowledged" | "alert_resolved" => match (number("alert_id"), text("dedup_key")) {
            (Some(id), Some(key)) => format!("alert {id} ({key})"),
            (Some(id), None) => format!("alert {id}"),
            _ => payload_text(payload),
        },
        "paged" => {
            let mut line = user.to_string();
            if let Some(schedule) = text("via_schedule") {
                line.push_str(&format!(", on call in {schedule}"));
            }
            if let Some(step) = step() {
                line.push_str(&format!(" ({step})"));
            }
            line
        }
        "escalated" => step().map_or_else(|| payload_text(payload), |step| format!("to {step}")),
        "nobody_paged" => {
            let reason = match (text("reason"), text("schedule")) {
                (Some(reason), Some(schedule)) => format!("{reason} in {schedule}"),
                (Some(reason), None) => reason.to_string(),
                (None, _) => "nobody was paged".to_string(),
            };
            step().map_or(reason.clone(), |step| format!("{step}: {reason}"))
        }
        "notified" => {
            let mut line = format!("{user} via {}", method());
            if let Some(n) = number("attempts").filter(|n| *n > 1) {
                line.push_str(&format!(" after {}", plural(n)));
            }
            if payload.get("bundled").and_then(Value::as_bool) == Some(true) {
                line.push_str(", in a summary of several pages");
            }
            line
        }
        "notification_failed" => {
            let mut line = match text("contact_method") {
                Some(_) => format!("{user} via {}", method()),
                None => user.to_string(),
            };
            if let Some(n) = number("attempts").filter(|n| *n > 0) {
                line.push_str(&format!(" after {}", plural(n)));
            }
            if let Some(reason) = text("reason") {
                line.push_str(&format!(": {reason}"));
            }
            if let Some(next) = text("fallback") {
                line.push_str(&format!("; trying {next} next"));
            }
            line
        }
        "ack_timeout" => "the acknowledgement timed out; paging again".to_string(),
        "escalation_exhausted" => "every level was paged and nobody acknowledged".to_string(),
        "escalated_by_hand" | "reassigned" if payload.get("applied").and_then(Value::as_bool) == Some(false) => {
            format!("not applied: {}", text("reason").unwrap_or("nothing to do"))
        }
        "escalated_by_hand" => "the next level is paged now".to_string(),
        "reassigned" => {
            let targets: Vec<String> = payload
                .get("targets")
                .and_then(Value::as_array)
                .map(|targets| {
                    targets
                        .iter()
                        .filter_map(|t| match (t.get("user"), t.get("schedule")) {
                            (Some(Value::String(u)), _) => Some(u.clone()),
                            (_, Some(Value::String(s))) => Some(format!("whoever is on call in {s}")),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            if targets.is_empty() { payload_text(payload) } else { format!("to {}", targets.join(", ")) }
        }
        "resolved" => text("reason").map_or_else(|| payload_text(payload), str::to_string),
        _ => payload_text(payload),
    };
    // Why an opened incident or an added alert did not page.
    let held: Vec<String> = payload
        .get("held_back")
        .and_then(|h| serde_json::from_value::<Vec<crate::holdback::HeldBack>>(h.clone()).ok())
        .unwrap_or_default()
        .iter()
        .map(|h| h.describe(&crate::holdback::Facts::new(chrono_tz::UTC)))
        .collect();
    let storm = payload.get("storm").and_then(Value::as_bool) == Some(true);
    match (held.is_empty(), storm) {
        (false, _) => format!("{line}; {}", held.join("; ")),
        (true, true) => format!("{line}; an alert storm: later alerts join this incident"),
        (true, false) => line,
    }
}

/// `1 alert`, `3 alerts`.
fn alerts(n: i64) -> String {
    if n == 1 { "1 alert".to_string() } else { format!("{n} alerts") }
}

/// The human part of a timeline payload: its `text`, `message` or `summary`
/// if it has one, otherwise compact JSON (nothing for null or `{}`).
fn payload_text(payload: &Value) -> String {
    match payload {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Object(m) => {
            for key in ["text", "message", "summary"] {
                if let Some(Value::String(s)) = m.get(key) {
                    return s.clone();
                }
            }
            if m.is_empty() { String::new() } else { payload.to_string() }
        }
        other => other.to_string(),
    }
}

/// `1 attempt`, `3 attempts`.
fn plural(n: i64) -> String {
    if n == 1 { "1 attempt".to_string() } else { format!("{n} attempts") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timeline_details_read_as_sentences() {
        let cases = [
            (
                "opened",
                json!({"alert_id": 1, "dedup_key": "disk", "summary": "Disk full", "severity": "critical"}),
                "Disk full (critical)",
            ),
            ("alert_resolved", json!({"alert_id": 3, "dedup_key": "disk-db-1"}), "alert 3 (disk-db-1)"),
            ("paged", json!({"user": "bob", "level": 2, "pass": 1, "via_schedule": null}), "bob (level 2, pass 1)"),
            ("escalated", json!({"level": 1, "pass": 2}), "to level 1, pass 2"),
            (
                "nobody_paged",
                json!({"level": 1, "pass": 1, "schedule": "primary", "reason": "nobody is on call"}),
                "level 1, pass 1: nobody is on call in primary",
            ),
            (
                "notified",
                json!({"user": "alice", "contact_method": "alice-hook", "channel": "webhook", "attempts": 3, "bundled": true}),
                "alice via webhook (alice-hook) after 3 attempts, in a summary of several pages",
            ),
            (
                "notification_failed",
                json!({"user": "alice", "contact_method": "alice-hook", "channel": "webhook", "attempts": 1,
                       "reason": "HTTP 410", "fallback": "alice-mail"}),
                "alice via webhook (alice-hook) after 1 attempt: HTTP 410; trying alice-mail next",
            ),
            (
                "notification_failed",
                json!({"user": "dave", "reason": "the user has no contact methods"}),
                "dave: the user has no contact methods",
            ),
            ("ack_timeout", json!({}), "the acknowledgement timed out; paging again"),
            ("escalation_exhausted", json!({}), "every level was paged and nobody acknowledged"),
            ("escalated_by_hand", json!({"applied": true}), "the next level is paged now"),
            (
                "escalated_by_hand",
                json!({"applied": false, "reason": "nothing left to escalate to"}),
                "not applied: nothing left to escalate to",
            ),
            (
                "reassigned",
                json!({"applied": true, "targets": [{"user": "carol"}, {"schedule": "primary"}]}),
                "to carol, whoever is on call in primary",
            ),
            ("resolved", json!({"reason": "all alerts resolved"}), "all alerts resolved"),
            ("acknowledged", json!({}), ""),
            ("note", json!({"text": "looking"}), "looking"),
        ];
        for (kind, payload, expected) in cases {
            assert_eq!(describe(kind, &payload), expected, "{kind} {payload}");
        }
    }
}
