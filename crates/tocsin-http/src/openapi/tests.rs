//! The document against the router it is generated with.

use std::collections::{BTreeMap, BTreeSet};

use axum::Router;
use serde_json::Value;

use crate::state::AppState;

/// `(METHOD, path)` pairs, paths as axum spells them (`/api/v1/incidents/{id}`).
type Routes = BTreeSet<(String, String)>;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn document() -> Value {
    serde_json::to_value(crate::api::routes().into_openapi()).unwrap()
}

/// What `router` serves. axum has no public listing of its routes, so this
/// reads its `Debug` output: the path table (`RouteId(3): "/path"`) and each
/// route's `Allow` list (`allow_header: Bytes(b"GET,HEAD")`), the one axum
/// answers a 405 with. If axum's output changes, this fails loudly instead
/// of finding nothing.
fn served(router: &Router<AppState>) -> Routes {
    let debug = format!("{router:?}");
    let main = debug.split("fallback_router:").next().unwrap();
    let (endpoints, table) = main.split_once("node: Node { paths: {").expect("axum's router Debug output changed");
    let route_id = |chunk: &str| chunk.split_once(')').map(|(id, rest)| (id.parse::<u64>().unwrap(), rest.to_string()));
    let paths: BTreeMap<u64, String> = table
        .split("RouteId(")
        .skip(1)
        .filter_map(route_id)
        .map(|(id, rest)| (id, rest.split('"').nth(1).unwrap().to_string()))
        .collect();
    let allowed: BTreeMap<u64, String> = endpoints
        .split("RouteId(")
        .skip(1)
        .filter_map(route_id)
        .map(|(id, rest)| {
            let allow = rest.split_once("allow_header: Bytes(b\"").map(|(_, tail)| tail.split('"').next().unwrap());
            (id, allow.unwrap_or_else(|| panic!("route {:?} has no method list", paths.get(&id))).to_string())
        })
        .collect();
    assert!(paths.len() > 10, "found only {paths:?} in {debug}");
    assert_eq!(paths.keys().collect::<Vec<_>>(), allowed.keys().collect::<Vec<_>>(), "{debug}");
    let mut routes = Routes::new();
    for (id, path) in &paths {
        let methods: BTreeSet<&str> = allowed[id].split(',').collect();
        for method in &methods {
            // axum answers HEAD wherever it answers GET.
            if *method != "HEAD" || !methods.contains("GET") {
                routes.insert((method.to_string(), path.clone()));
            }
        }
    }
    routes
}

/// What `doc` documents, as served under its server URL.
fn documented(doc: &Value) -> Routes {
    let base = doc["servers"][0]["url"].as_str().unwrap();
    let mut routes = Routes::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS.iter().filter(|m| item.get(**m).is_some()) {
            routes.insert((method.to_uppercase(), format!("{base}{path}")));
        }
    }
    routes
}

/// Every operation of the document, with its path.
fn operations(doc: &Value) -> Vec<(String, &Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS.iter().filter(|m| item.get(**m).is_some()) {
            ops.push((format!("{} {path}", method.to_uppercase()), &item[*method]));
        }
    }
    ops
}

#[test]
fn every_api_route_served_is_documented_and_every_documented_one_served() {
    let doc = document();
    let base = format!("{}/", doc["servers"][0]["url"].as_str().unwrap());
    let served_api: Routes = served(&crate::routes()).into_iter().filter(|(_, path)| path.starts_with(&base)).collect();
    let documented = documented(&doc);
    let undocumented: Vec<_> = served_api.difference(&documented).collect();
    assert!(undocumented.is_empty(), "served but missing from the OpenAPI document: {undocumented:?}");
    let unserved: Vec<_> = documented.difference(&served_api).collect();
    assert!(unserved.is_empty(), "documented but not served: {unserved:?}");
    assert!(served_api.contains(&("GET".to_string(), "/api/v1/incidents/{id}".to_string())), "{served_api:?}");
}

#[test]
fn operations_are_named_once_and_document_their_errors() {
    let doc = document();
    let mut ids = BTreeSet::new();
    for (op, spec) in operations(&doc) {
        let id = spec["operationId"].as_str().unwrap_or_else(|| panic!("{op} has no operationId"));
        assert!(ids.insert(id.to_string()), "{op}: operationId {id} is used twice");
        assert!(spec["summary"].as_str().is_some_and(|s| !s.contains('\n')), "{op}: one-line summary");
        let responses = spec["responses"].as_object().unwrap();
        let feed = spec.get("security") == Some(&serde_json::json!([{"feed_token": []}]));
        assert!(feed || responses.contains_key("401"), "{op}: bearer operations answer 401");
        assert!(!op.contains('{') || responses.contains_key("404"), "{op}: an id in the path can be unknown");
        let query = spec["parameters"].as_array().is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
        let input = spec.get("requestBody").is_some() || (query && !feed);
        assert_eq!(input, responses.contains_key("400"), "{op}: 400 exactly where there is input to check");
        for (status, response) in responses.iter().filter(|(status, _)| status.starts_with('4')) {
            assert_eq!(
                response["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
                "{op} {status}"
            );
        }
    }
}

#[test]
fn every_reference_resolves() {
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let doc = document();
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 50);
    for r in found {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(doc["components"]["schemas"].get(name).is_some(), "{r} does not resolve");
    }
}

/// The limits the document states are the ones the server enforces.
#[test]
fn limits_are_the_servers() {
    let doc = document();
    let schema = |name: &str| doc["components"]["schemas"][name].clone();
    assert_eq!(schema("NoteRequest")["properties"]["text"]["maxLength"], tocsin_app::MAX_NOTE_CHARS);
    assert_eq!(schema("TokenRequest")["properties"]["name"]["maxLength"], tocsin_app::MAX_TOKEN_NAME_CHARS);
    assert_eq!(schema("ReassignRequest")["properties"]["targets"]["maxItems"], tocsin_app::MAX_REASSIGN_TARGETS);
    for (op, spec) in operations(&doc) {
        for p in spec["parameters"].as_array().into_iter().flatten().filter(|p| p["name"] == "limit") {
            assert_eq!(p["schema"]["maximum"], tocsin_store::MAX_PAGE, "{op}");
        }
    }
}
