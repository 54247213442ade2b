//! Shapes that are easy to get wrong by one attribute.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::*;

fn token() -> Token {
    Token {
        id: 5,
        name: "ci".into(),
        role: Role::Viewer,
        user_id: "bob".into(),
        created_at: "2026-03-01T12:00:00Z".parse().unwrap(),
        created_by: "user:admin".into(),
        revoked_at: None,
        expires_at: None,
        last_used_at: None,
    }
}

#[test]
fn flattened_answers_are_one_object() {
    let issued = IssuedToken { info: token(), token: "tcs_x".into() };
    let v = serde_json::to_value(&issued).unwrap();
    assert_eq!((v["id"].clone(), v["role"].clone(), v["token"].clone()), (json!(5), json!("viewer"), json!("tcs_x")));
    assert_eq!(serde_json::from_value::<IssuedToken>(v).unwrap(), issued);

    let method =
        ContactMethod { id: "bob-mail".into(), kind: ContactKind::Email { address: "bob@example.com".into() } };
    let v = serde_json::to_value(&method).unwrap();
    assert_eq!(v, json!({"id": "bob-mail", "kind": "email", "address": "bob@example.com"}));
    assert_eq!(serde_json::from_value::<ContactMethod>(v).unwrap(), method);
}

#[test]
fn requests_leave_out_what_is_not_set() {
    let request = TokenRequest { name: "ci".into(), role: Role::Viewer, user: None, expires_in: None };
    assert_eq!(serde_json::to_string(&request).unwrap(), r#"{"name":"ci","role":"viewer"}"#);
    let reassign = ReassignRequest { targets: vec![Target::User("carol".into()), Target::Schedule("db".into())] };
    assert_eq!(serde_json::to_value(&reassign).unwrap(), json!({"targets": [{"user": "carol"}, {"schedule": "db"}]}));
    let link = Link { href: "http://x".into(), text: None };
    assert_eq!(serde_json::to_value(&link).unwrap(), json!({"href": "http://x"}));
}

#[test]
fn reading_ignores_unknown_fields_and_takes_absent_options_as_null() {
    let v = json!({"error": {"code": "not_found", "message": "no such service", "added_later": 1}});
    let body: ErrorBody = serde_json::from_value(v).unwrap();
    assert_eq!(body.error.field, None);
    let escalated: Escalated = serde_json::from_value(json!({"incident": 7, "escalation": "requested"})).unwrap();
    assert_eq!(escalated.escalation, Requested::Requested);
    let page: Page<Value> = serde_json::from_value(json!({"items": []})).unwrap();
    assert_eq!(page.next_cursor, None);
}

#[test]
fn request_instants_are_rfc3339_only() {
    let read = |start: &str| {
        serde_json::from_value::<OverrideRequest>(json!({"user": "bob", "start": start, "end": "2026-03-03T18:00:00Z"}))
    };
    assert_eq!(
        read(" 2026-03-03T15:00:00+01:00 ").unwrap().start,
        "2026-03-03T14:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    for bad in ["2026-03-03", "friday 18:00", "1772546400"] {
        let err = read(bad).unwrap_err().to_string();
        assert!(err.contains("RFC 3339"), "{bad}: {err}");
    }
}

#[test]
fn reassign_targets_are_one_user_or_one_schedule() {
    let read = |v: Value| serde_json::from_value::<ReassignRequest>(v).map_err(|e| e.to_string());
    let ok = read(json!({"targets": [{"user": "carol"}, {"schedule": "db", "note": "ignored"}]})).unwrap();
    assert_eq!(ok.targets, [Target::User("carol".into()), Target::Schedule("db".into())]);
    for bad in [json!({"user": "a", "schedule": "b"}), json!({"team": "x"}), json!({})] {
        let err = read(json!({"targets": [bad]})).unwrap_err();
        assert!(err.contains("exactly one of `user` or `schedule`"), "{err}");
    }
}

#[test]
fn a_heartbeat_states_its_state_in_lowercase_and_its_periods_as_written() {
    let hb = Heartbeat {
        id: "nightly-backup".into(),
        service: "checkout".into(),
        interval: "1h".into(),
        grace: "5m".into(),
        key_hint: "…cdef".into(),
        last_ping_at: None,
        deadline: Some("2026-03-01T13:05:00Z".parse().unwrap()),
        state: HeartbeatStatus::Waiting,
        open_incident: None,
    };
    let v = serde_json::to_value(&hb).unwrap();
    assert_eq!((v["state"].clone(), v["interval"].clone()), (json!("waiting"), json!("1h")));
    assert_eq!(v["deadline"], "2026-03-01T13:05:00Z");
    assert_eq!(serde_json::from_value::<Heartbeat>(v).unwrap(), hb);
    assert_eq!(serde_json::to_value(IntegrationKind::Heartbeat).unwrap(), json!("heartbeat"));
}
