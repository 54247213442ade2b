//! The OpenAPI 3.1 description of `/api/v1`, built from the same route
//! table and limits the handlers use.

use axum::Json;
use serde_json::{Value, json};
use tocsin_store::MAX_PAGE;

use crate::auth::Caller;

pub async fn document(_caller: Caller) -> Json<Value> {
    Json(build())
}

fn op(summary: &str, role: &str, params: Value, body: Option<Value>, ok: (&str, Value)) -> Value {
    let mut o = json!({
        "summary": summary,
        "description": format!("Requires role `{role}` or higher."),
        "security": [{"bearer": []}],
        "parameters": params,
        "responses": {
            ok.0: {"description": "success", "content": {"application/json": {"schema": ok.1}}},
            "400": {"$ref": "#/components/responses/Error"},
            "401": {"$ref": "#/components/responses/Error"},
            "403": {"$ref": "#/components/responses/Error"},
            "404": {"$ref": "#/components/responses/Error"},
        }
    });
    if let Some(schema) = body {
        o["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": schema}}});
    }
    o
}

fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn page_of(name: &str) -> Value {
    json!({"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": r(name)}, "next_cursor": {"type": ["string", "null"]}}})
}

fn q(name: &str, schema: Value, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": schema, "description": description})
}

fn path_id(description: &str) -> Value {
    json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}, "description": description})
}

fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}, "description": description})
}

/// An iCalendar feed: authenticated by the `token` query parameter, not a
/// bearer token; every failure is a 404.
fn feed_op(summary: &str, id_description: &str) -> Value {
    json!({
        "summary": summary,
        "description": "Authenticated by a calendar feed token (`POST /users/{id}/ical-token`) in the `token` query parameter. A missing or wrong token is a 404, like an unknown id. Cache-Control: private, max-age=300.",
        "security": [{"feed_token": []}],
        "parameters": [path_id(id_description), {"name": "token", "in": "query", "required": true, "schema": {"type": "string"}}],
        "responses": {
            "200": {"description": "RFC 5545 calendar", "content": {"text/calendar": {"schema": {"type": "string"}}}},
            "404": {"$ref": "#/components/responses/Error"},
        }
    })
}

fn status_enum() -> Value {
    json!({"type": "string", "enum": ["triggered", "acknowledged", "resolved"]})
}

pub fn build() -> Value {
    let ts = json!({"type": "string", "format": "date-time"});
    let ots = json!({"type": ["string", "null"], "format": "date-time"});
    let paging = [
        q("cursor", json!({"type": "string"}), "next_cursor from the previous page"),
        q("limit", json!({"type": "integer", "minimum": 1, "maximum": MAX_PAGE}), "page size (default 50)"),
    ];
    let mut incident_params = vec![
        q("status", status_enum(), "only incidents in this status"),
        q("service", json!({"type": "string"}), "only incidents of this service id"),
        q("since", ts.clone(), "only incidents created at or after this instant"),
    ];
    incident_params.extend(paging.iter().cloned());
    let mut alert_params = vec![
        q("status", status_enum(), "only alerts in this status"),
        q("service", json!({"type": "string"}), "only alerts of this service id"),
        q("dedup_key", json!({"type": "string"}), "only alerts with this dedup key or fingerprint"),
    ];
    alert_params.extend(paging.iter().cloned());
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Tocsin API", "version": env!("CARGO_PKG_VERSION")},
        "servers": [{"url": "/api/v1"}],
        "paths": {
            "/incidents": {"get": op("List incidents, newest first", "viewer", Value::Array(incident_params), None, ("200", page_of("Incident")))},
            "/incidents/{id}": {"get": op("An incident with its alerts and timeline", "viewer", json!([path_id("incident id")]), None, ("200", r("IncidentDetail")))},
            "/incidents/{id}/acknowledge": {"post": op("Acknowledge a triggered incident (409 otherwise)", "responder", json!([path_id("incident id")]), None, ("200", r("Incident")))},
            "/incidents/{id}/resolve": {"post": op("Resolve an open incident and its open alerts (409 otherwise)", "responder", json!([path_id("incident id")]), None, ("200", r("Incident")))},
            "/incidents/{id}/notes": {"post": op("Add a note to the timeline", "responder", json!([path_id("incident id")]),
                Some(json!({"type": "object", "required": ["text"], "properties": {"text": {"type": "string", "minLength": 1, "maxLength": 10000}}})),
                ("201", r("TimelineEntry")))},
            "/incidents/{id}/escalate": {"post": op("Escalate now: page the next level at once (202; the engine pages). 409 when resolved", "responder", json!([path_id("incident id")]), None, ("202", json!({"type": "object"})))},
            "/incidents/{id}/reassign": {"post": op("Page these users or schedules in place of the current level (202). 409 when resolved", "responder", json!([path_id("incident id")]),
                Some(json!({"type": "object", "required": ["targets"], "properties": {"targets": {"type": "array", "minItems": 1, "maxItems": 20, "items": {"type": "object", "description": "exactly one of user or schedule", "properties": {"user": {"type": "string"}, "schedule": {"type": "string"}}}}}})),
                ("202", json!({"type": "object"})))},
            "/incidents/{id}/notifications": {"get": op("Notifications sent or tried for the incident, oldest first", "viewer", json!([path_id("incident id")]), None,
                ("200", json!({"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": r("Notification")}}})))},
            "/alerts": {"get": op("List alerts, newest first", "viewer", Value::Array(alert_params), None, ("200", page_of("Alert")))},
            "/alerts/{id}": {"get": op("One alert", "viewer", json!([path_id("alert id")]), None, ("200", r("Alert")))},
            "/services": {"get": op("Services declared in config", "viewer", json!([]), None, ("200", page_of("Service")))},
            "/services/{id}": {"get": op("One service", "viewer", json!([path_id("service id")]), None, ("200", r("Service")))},
            "/services/{id}/changes": {"get": op("Change events recorded for a service", "viewer", json!([path_id("service id")]), None, ("200", json!({"type": "object"})))},
            "/services/{id}/oncall": {"get": op("Who the service's escalation policy pages first at an instant (default now)", "viewer",
                json!([path_id("service id"), q("at", ts.clone(), "the instant (default now)")]), None, ("200", json!({"type": "object"})))},
            "/escalation_policies": {"get": op("Escalation policies declared in config, with the services that use them", "viewer", json!([]), None, ("200", json!({"type": "object"})))},
            "/escalation_policies/{id}/oncall": {"get": op("For every level of the policy (`level` counted from 1), whom it would page at an instant (default now)", "viewer",
                json!([path_id("policy id"), q("at", json!({"type": "string", "format": "date-time"}), "instant (RFC 3339)")]), None, ("200", json!({"type": "object"})))},
            "/schedules": {"get": op("Schedules declared in config", "viewer", json!([]), None, ("200", json!({"type": "object"})))},
            "/schedules/{id}/oncall": {"get": op("Users on call at an instant (default now); empty in a gap", "viewer",
                json!([path_id("schedule id"), q("at", ts.clone(), "the instant (default now)")]), None,
                ("200", json!({"type": "object", "properties": {"schedule": {"type": "string"}, "at": ts, "users": {"type": "array", "items": {"type": "string"}}}})))},
            "/schedules/{id}/segments": {"get": op("Who is on call across [from, to); gaps are absent", "viewer",
                json!([path_id("schedule id"), q("from", ts.clone(), "range start (required)"), q("to", ts.clone(), "range end (required, at most 400 days after from)")]), None,
                ("200", json!({"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object", "properties": {"start": ts, "end": ts, "user": {"type": "string"}}}}}})))},
            "/schedules/{id}/overrides": {
                "get": op("Overrides created at run time that have not ended, oldest first", "viewer",
                    json!([path_id("schedule id"), q("include_past", json!({"type": "boolean"}), "also overrides that have ended")]), None,
                    ("200", page_of("Override"))),
                "post": op("Create an override: `user` takes the schedule during [start, end); the latest override wins overlaps. A responder may name only themselves as `user`; a manager anyone", "responder",
                    json!([path_id("schedule id")]),
                    Some(json!({"type": "object", "required": ["user", "start", "end"], "properties": {
                        "user": {"type": "string", "description": "a user id from config"},
                        "start": ts, "end": {"type": "string", "format": "date-time", "description": "after start, at most 400 days later"}}})),
                    ("201", r("Override")))
            },
            "/schedules/{id}/overrides/{override_id}": {"delete": op("Delete an override. A responder may delete only overrides that put themselves on call; a manager anyone's", "responder",
                json!([path_id("schedule id"), path_param("override_id", "override id")]), None, ("204", json!({})))},
            "/schedules/{id}/ical": {"get": feed_op("Everyone's shifts on one schedule as iCalendar (any user's feed token)", "schedule id")},
            "/users/{id}/ical": {"get": feed_op("One user's shifts across all schedules as iCalendar (that user's feed token)", "user id")},
            "/users/{id}/ical-token": {"post": op("Issue the user's calendar feed token, replacing (and invalidating) any previous one; shown once", "admin",
                json!([path_id("user id")]), None,
                ("201", json!({"type": "object", "properties": {"user": {"type": "string"}, "token": {"type": "string"},
                    "urls": {"type": "object", "properties": {"user": {"type": "string"},
                        "schedules": {"type": "object", "additionalProperties": {"type": "string"}}}}}})))},
            "/tokens": {
                "get": op("List API tokens (never their secrets)", "admin", json!([]), None, ("200", page_of("Token"))),
                "post": op("Create an API token; the secret is returned once", "admin", json!([]),
                    Some(json!({"type": "object", "required": ["name", "role"], "properties": {"name": {"type": "string", "maxLength": 100}, "role": {"type": "string", "enum": ["viewer", "responder", "manager", "admin"]}}})),
                    ("201", json!({"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "role": {"type": "string"}, "token": {"type": "string"}}})))
            },
            "/tokens/{id}": {"delete": op("Revoke a token", "admin", json!([path_id("token id")]), None, ("204", json!({})))},
            "/notifications/webhook-secret": {"get": op("The key webhook deliveries are signed with (`notifications.webhook_secret`, or the one the server generated), so receivers can verify `Tocsin-Signature`. Every read is audited as `secret.read`", "admin", json!([]), None,
                ("200", json!({"type": "object", "required": ["secret", "source"], "properties": {
                    "secret": {"type": "string", "description": "HMAC-SHA256 key: its UTF-8 bytes"},
                    "source": {"type": "string", "enum": ["config", "generated"]},
                    "header": {"type": "string"}, "scheme": {"type": "string"}}})))},
            "/notifications/ack-key/rotate": {"post": op("Replace the key that signs one-click acknowledge links: every link sent so far is refused, on every node. Audited as `secret.rotate` on `secret:ack_link`", "admin", json!([]), None,
                ("204", json!({})))},
            "/audit": {"get": op("Hash-chained audit log, oldest first", "admin", json!([q("after", json!({"type": "integer"}), "last id already seen")]), None, ("200", json!({"type": "object"})))},
            "/openapi.json": {"get": op("This document", "viewer", json!([]), None, ("200", json!({"type": "object"})))}
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "feed_token": {"type": "apiKey", "in": "query", "name": "token"}
            },
            "responses": {"Error": {"description": "error", "content": {"application/json": {"schema": r("Error")}}}},
            "schemas": {
                "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": ["string", "null"]}}}}},
                "Notification": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "incident_id": {"type": "integer"}, "user_id": {"type": "string"},
                    "contact_method": {"type": "string"}, "channel": {"type": "string", "enum": ["webhook", "slack", "email"]},
                    "status": {"type": "string", "enum": ["pending", "held", "sent", "failed", "cancelled"]},
                    "attempts": {"type": "integer"}, "idempotency_key": {"type": "string"},
                    "due_at": {"type": "string", "format": "date-time"}, "created_at": {"type": "string", "format": "date-time"},
                    "sent_at": {"type": ["string", "null"], "format": "date-time"}, "last_error": {"type": ["string", "null"]}}},
                "Incident": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "service_id": {"type": "string"}, "title": {"type": "string"},
                    "severity": {"type": "string", "enum": ["critical", "error", "warning", "info"]}, "status": status_enum(),
                    "created_at": ts, "acknowledged_at": ots, "acknowledged_by": {"type": ["string", "null"]},
                    "resolved_at": ots, "resolved_by": {"type": ["string", "null"]}, "alert_count": {"type": "integer"}}},
                "IncidentDetail": {"allOf": [r("Incident"), {"type": "object", "properties": {
                    "alerts": {"type": "array", "items": r("Alert")}, "timeline": {"type": "array", "items": r("TimelineEntry")},
                    "escalation": {"type": ["object", "null"], "description": "where paging stands; null without a policy", "properties": {
                        "policy": {"type": "string"}, "status": {"type": "string", "enum": ["active", "acknowledged", "resolved", "exhausted"]},
                        "level": {"type": "integer", "minimum": 1, "description": "the level paged most recently in the current pass, counted from 1 (level 1 is the policy's first level), as in timeline payloads"},
                        "pass": {"type": "integer", "minimum": 1, "description": "the current pass, counted from 1"},
                        "passes": {"type": "integer", "description": "passes in all (repeat + 1)"}, "levels": {"type": "integer", "description": "levels per pass"},
                        "next_step_at": {"type": ["string", "null"], "format": "date-time"}}}}}]},
                "Alert": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "service_id": {"type": "string"}, "integration_id": {"type": "string"},
                    "kind": {"type": "string", "enum": ["pagerduty", "alertmanager", "prometheus", "generic"]},
                    "dedup_key": {"type": "string"}, "status": status_enum(), "summary": {"type": "string"},
                    "severity": {"type": "string"}, "source": {"type": ["string", "null"]},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}}, "details": {},
                    "links": {"type": "array", "items": {"type": "object", "properties": {"href": {"type": "string"}, "text": {"type": "string"}}}},
                    "first_seen": ts, "last_seen": ts, "occurrences": {"type": "integer"}, "acknowledged_at": ots,
                    "resolved_at": ots, "expires_at": ots, "incident_id": {"type": ["integer", "null"]}}},
                "TimelineEntry": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "incident_id": {"type": "integer"}, "at": ts, "kind": {"type": "string"},
                    "actor": {"type": "string"}, "payload": {"description": "details of the entry; escalation entries (paged, escalated, nobody_paged) carry `level` and `pass`, counted from 1"}}},
                "Service": {"type": "object", "properties": {
                    "id": {"type": "string"}, "name": {"type": "string"}, "description": {"type": ["string", "null"]},
                    "team": {"type": ["string", "null"]}, "open_incidents": {"type": "integer"},
                    "integrations": {"type": "array", "items": {"type": "object", "properties": {
                        "id": {"type": "string"}, "kind": {"type": "string"}, "key_hint": {"type": "string"}}}}}},
                "Override": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "schedule": {"type": "string"}, "user": {"type": "string"},
                    "start": ts, "end": ts, "created_at": ts, "created_by": {"type": "string"}}},
                "Token": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "name": {"type": "string"}, "role": {"type": "string"},
                    "created_at": ts, "created_by": {"type": "string"}, "revoked_at": ots}}
            }
        }
    })
}
